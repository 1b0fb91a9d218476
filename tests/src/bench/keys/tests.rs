use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Verifier as _;
use rsa::pkcs8::DecodePublicKey as _;

use super::*;

fn unb64(v: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(v.as_str().expect("a base64url string"))
        .expect("base64url")
}

/// Verify a JWS signature with the key as the *JWK* describes it, so the
/// JWK (what `jwt_authn` gets) and the signer agree.
fn verify_with_jwk(keys: &SigningKeys, alg: Alg, msg: &[u8], sig: &[u8]) -> bool {
    let jwk = keys.jwk(alg);
    match alg {
        Alg::Rs256 => {
            let n = rsa::BigUint::from_bytes_be(&unb64(&jwk["n"]));
            let e = rsa::BigUint::from_bytes_be(&unb64(&jwk["e"]));
            let public = rsa::RsaPublicKey::new(n, e).unwrap();
            let sig = rsa::pkcs1v15::Signature::try_from(sig).unwrap();
            rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public)
                .verify(msg, &sig)
                .is_ok()
        }
        Alg::Es256 => {
            let mut sec1 = vec![4u8];
            sec1.extend(unb64(&jwk["x"]));
            sec1.extend(unb64(&jwk["y"]));
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
            let sig = p256::ecdsa::Signature::from_slice(sig).unwrap();
            vk.verify(msg, &sig).is_ok()
        }
        Alg::EdDsa => {
            let x: [u8; 32] = unb64(&jwk["x"]).try_into().unwrap();
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
            let sig = ed25519_dalek::Signature::from_slice(sig).unwrap();
            vk.verify_strict(msg, &sig).is_ok()
        }
    }
}

#[test]
fn signatures_verify_against_the_published_jwks() {
    let keys = SigningKeys::fixtures().unwrap();
    for alg in Alg::ALL {
        let sig = keys.sign(alg, b"header.payload").unwrap();
        assert!(
            verify_with_jwk(&keys, alg, b"header.payload", &sig),
            "{alg:?}"
        );
        assert!(
            !verify_with_jwk(&keys, alg, b"header.payload!", &sig),
            "{alg:?}: a changed message must not verify"
        );
        let jwk = keys.jwk(alg);
        assert_eq!(jwk["kid"], alg.kid());
        assert_eq!(jwk["alg"], alg.name());
    }
}

#[test]
fn signature_sizes_are_the_jws_forms() {
    let keys = SigningKeys::fixtures().unwrap();
    // RSA-2048: 256 bytes; ES256 raw r‖s: 64 (not DER); Ed25519: 64
    assert_eq!(keys.sign(Alg::Rs256, b"x").unwrap().len(), 256);
    assert_eq!(keys.sign(Alg::Es256, b"x").unwrap().len(), 64);
    assert_eq!(keys.sign(Alg::EdDsa, b"x").unwrap().len(), 64);
}

#[test]
fn filter_keys_are_the_same_keys() {
    let keys = SigningKeys::fixtures().unwrap();
    // RSA: the SPKI's modulus is the JWK's
    let rsa = rsa::RsaPublicKey::from_public_key_der(&keys.filter_public_key(Alg::Rs256)).unwrap();
    assert_eq!(
        rsa.n().to_bytes_be(),
        unb64(&keys.jwk(Alg::Rs256)["n"]),
        "RSA modulus"
    );
    // P-256: the SPKI verifies a fresh signature
    let vk = p256::ecdsa::VerifyingKey::from_public_key_der(&keys.filter_public_key(Alg::Es256))
        .unwrap();
    let sig = keys.sign(Alg::Es256, b"m").unwrap();
    assert!(
        vk.verify(b"m", &p256::ecdsa::Signature::from_slice(&sig).unwrap())
            .is_ok()
    );
    // Ed25519: raw 32 bytes, equal to the JWK's x
    let ed = keys.filter_public_key(Alg::EdDsa);
    assert_eq!(ed.len(), 32);
    assert_eq!(ed, unb64(&keys.jwk(Alg::EdDsa)["x"]));
}

#[test]
fn public_key_pem_is_the_spki() {
    let keys = SigningKeys::fixtures().unwrap();
    let pem = keys.public_key_pem(Alg::Es256).unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    assert!(pem.lines().all(|l| l.len() <= 64));
    let vk = p256::ecdsa::VerifyingKey::from_public_key_pem(&pem).unwrap();
    let from_der =
        p256::ecdsa::VerifyingKey::from_public_key_der(&keys.filter_public_key(Alg::Es256))
            .unwrap();
    assert_eq!(vk, from_der);
    assert!(keys.public_key_pem(Alg::EdDsa).is_none());
}

#[test]
fn issuers_and_kids_are_distinct_per_algorithm() {
    let issuers: std::collections::HashSet<String> = Alg::ALL.iter().map(|a| a.issuer()).collect();
    let kids: std::collections::HashSet<&str> = Alg::ALL.iter().map(|a| a.kid()).collect();
    assert_eq!(issuers.len(), 3);
    assert_eq!(kids.len(), 3);
    assert_eq!(Alg::Rs256.issuer(), "https://rs256.bench.kubeplex.test");
}

#[test]
fn debug_never_prints_keys() {
    let keys = SigningKeys::fixtures().unwrap();
    assert_eq!(format!("{keys:?}"), "SigningKeys(<redacted>)");
}
