use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kubeplex_proto::filter::v1 as pb;
use rsa::signature::Verifier;
use spki::DecodePublicKey;

use super::*;
use crate::inputs::keys;

fn key_pem(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("test_data/keys")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn request() -> MintRequest {
    MintRequest {
        issuer: "https://kubeplex.example.com".into(),
        subject: "alice@example.com".into(),
        groups: vec!["developers".into(), "oncall".into()],
        audience: vec!["kubeplex".into()],
        context: Some("dev-a".into()),
        ttl: Duration::from_secs(900),
        jti: Some("jti-1".into()),
        key_id: Some("k1".into()),
        extra_claims: Map::new(),
        now: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    }
}

fn parts(token: &str) -> (Value, Value, Vec<u8>, String) {
    let segments: Vec<&str> = token.split('.').collect();
    assert_eq!(segments.len(), 3, "{token}");
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).unwrap();
    (
        serde_json::from_slice(&decode(segments[0])).unwrap(),
        serde_json::from_slice(&decode(segments[1])).unwrap(),
        decode(segments[2]),
        format!("{}.{}", segments[0], segments[1]),
    )
}

/// Verify with RustCrypto, using the key exactly as the filter receives it:
/// `public_jwk` → `keys::from_jwks` → SPKI (or raw Ed25519).
fn verify_as_the_filter_would(key: &SigningKey, token: &str) -> pb::KeyType {
    let jwks = json!({"keys": [public_jwk(key, Some("k1"))]}).to_string();
    let vk = keys::from_jwks(&jwks).unwrap().remove(0);
    let (_, _, sig, input) = parts(token);
    let msg = input.as_bytes();
    match vk.key_type {
        pb::KeyType::Rsa => {
            let public = rsa::RsaPublicKey::from_public_key_der(&vk.public_key).unwrap();
            let verifier = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public);
            let sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice()).unwrap();
            verifier.verify(msg, &sig).unwrap();
        }
        pb::KeyType::EcP256 => {
            let verifier = p256::ecdsa::VerifyingKey::from_public_key_der(&vk.public_key).unwrap();
            let sig = p256::ecdsa::Signature::from_slice(&sig).unwrap();
            verifier.verify(msg, &sig).unwrap();
        }
        pb::KeyType::EcP384 => {
            let verifier = p384::ecdsa::VerifyingKey::from_public_key_der(&vk.public_key).unwrap();
            let sig = p384::ecdsa::Signature::from_slice(&sig).unwrap();
            verifier.verify(msg, &sig).unwrap();
        }
        pb::KeyType::Ed25519 => {
            let raw: [u8; 32] = vk.public_key.as_slice().try_into().unwrap();
            let verifier = ed25519_dalek::VerifyingKey::from_bytes(&raw).unwrap();
            let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
            verifier.verify(msg, &sig).unwrap();
        }
        other => panic!("unexpected {other:?}"),
    }
    // The PEM helper gives the same key the filter would get from a file.
    let from_pem = keys::from_pem(&public_key_pem(key).unwrap())
        .unwrap()
        .remove(0);
    assert_eq!(from_pem.public_key, vk.public_key);
    vk.key_type
}

#[test]
fn every_key_type_round_trips() {
    for (file, alg, key_type) in [
        ("rsa.key.pem", "RS256", pb::KeyType::Rsa),
        ("rsa.pkcs1.key.pem", "RS256", pb::KeyType::Rsa),
        ("p256.key.pem", "ES256", pb::KeyType::EcP256),
        ("p256.sec1.key.pem", "ES256", pb::KeyType::EcP256),
        ("p384.key.pem", "ES384", pb::KeyType::EcP384),
        ("p384.sec1.key.pem", "ES384", pb::KeyType::EcP384),
        ("ed25519.key.pem", "EdDSA", pb::KeyType::Ed25519),
    ] {
        let key = load_signing_key(&key_pem(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let token = mint(&key, &request()).unwrap();
        let (header, claims, _, _) = parts(&token);
        assert_eq!(
            header,
            json!({"alg": alg, "typ": "JWT", "kid": "k1"}),
            "{file}"
        );
        assert_eq!(
            claims,
            json!({
                "iss": "https://kubeplex.example.com",
                "sub": "alice@example.com",
                "aud": "kubeplex",
                "iat": 1_800_000_000u64,
                "nbf": 1_800_000_000u64,
                "exp": 1_800_000_900u64,
                "jti": "jti-1",
                "groups": ["developers", "oncall"],
                "ctx": "dev-a",
            }),
            "{file}"
        );
        assert_eq!(verify_as_the_filter_would(&key, &token), key_type, "{file}");
    }
}

#[test]
fn the_jwk_matches_the_openssl_public_key() {
    for (file, der) in [
        ("rsa.key.pem", "rsa"),
        ("p256.key.pem", "p256"),
        ("p384.key.pem", "p384"),
    ] {
        let key = load_signing_key(&key_pem(file)).unwrap();
        let jwks = json!({"keys": [public_jwk(&key, None)]}).to_string();
        let got = keys::from_jwks(&jwks).unwrap().remove(0);
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("test_data/keys/{der}.pub.der"));
        assert_eq!(got.public_key, std::fs::read(path).unwrap(), "{file}");
        assert_eq!(got.alg.as_deref(), Some(key.alg()));
        assert_eq!(got.kid, None);
    }
}

#[test]
fn extra_claims_win_and_defaults_fill_in() {
    let key = load_signing_key(&key_pem("ed25519.key.pem")).unwrap();
    let mut req = request();
    req.jti = None;
    req.key_id = None;
    req.context = None;
    req.groups.clear();
    req.audience = vec!["a".into(), "b".into()];
    req.extra_claims.insert("exp".into(), json!(5));
    req.extra_claims.insert("tenant".into(), json!("blue"));
    let (header, claims, _, _) = parts(&mint(&key, &req).unwrap());
    assert_eq!(header, json!({"alg": "EdDSA", "typ": "JWT"}));
    assert_eq!(claims["exp"], json!(5));
    assert_eq!(claims["tenant"], json!("blue"));
    assert_eq!(claims["aud"], json!(["a", "b"]));
    assert!(claims.get("groups").is_none() && claims.get("ctx").is_none());
    let jti = claims["jti"].as_str().unwrap();
    assert_eq!(jti.len(), 32);
    assert!(jti.chars().all(|c| c.is_ascii_hexdigit()));
    let (_, again, _, _) = parts(&mint(&key, &req).unwrap());
    assert_ne!(again["jti"], claims["jti"], "random jti per token");
}

#[test]
fn unusable_keys_and_requests_are_refused() {
    let err = load_signing_key(&key_pem("p521.key.pem")).unwrap_err();
    assert!(matches!(err, MintError::UnsupportedKey(_)), "{err}");
    assert!(matches!(
        load_signing_key(&key_pem("p256.pub.pem")),
        Err(MintError::NoKey)
    ));
    let garbled = key_pem("p256.key.pem").replacen("MI", "AA", 1);
    assert!(matches!(
        load_signing_key(&garbled),
        Err(MintError::BadKey { .. })
    ));
    let key = load_signing_key(&key_pem("p256.key.pem")).unwrap();
    assert!(!format!("{key:?}").contains("PRIVATE"));
    assert_eq!(format!("{key:?}"), "SigningKey(ES256 <redacted>)");
    let mut req = request();
    req.audience.clear();
    assert!(matches!(mint(&key, &req), Err(MintError::BadRequest(_))));
}

#[test]
fn durations() {
    for (text, secs) in [
        ("90s", 90),
        ("15m", 900),
        ("1h", 3600),
        ("7d", 604_800),
        ("1h30m", 5400),
    ] {
        assert_eq!(
            parse_duration(text).unwrap(),
            Duration::from_secs(secs),
            "{text}"
        );
    }
    for (text, reason) in [
        ("", "empty; use e.g. 90s, 15m, 1h or 7d"),
        ("15", "a unit (s, m, h or d) must follow the number"),
        ("1w", "units are s, m, h and d"),
        ("h", "a number must come before each unit"),
        ("0s", "must be longer than zero"),
        (
            "99999999999999999999d",
            "a number must come before each unit",
        ),
    ] {
        match parse_duration(text) {
            Err(MintError::BadDuration { input, reason: got }) => {
                assert_eq!((input.as_str(), got.as_str()), (text, reason));
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}
