//! Test support shared by unit tests, integration tests, the benchmark and
//! examples: fixture keys (loaded once), token minting with RustCrypto, a
//! RustCrypto [`SignatureVerifier`] standing in for Envoy's
//! `verify_signature`, and config builders.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use kubeplex_filter_core::config_pb as pb;
use kubeplex_filter_core::signature::{Hash, SignatureVerifier, VerifyError};
use rsa::pkcs8::DecodePublicKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _, Verifier as _};
use serde_json::{Value, json};

/// A fixture key file, `filter-core/test_data/keys/<name>`. The path goes
/// through the repository root because this file is also compiled into
/// the wasm filter's integration tests (another `CARGO_MANIFEST_DIR`).
pub fn key_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../filter-core/test_data/keys")
        .join(name)
}

fn pem(name: &str) -> String {
    std::fs::read_to_string(key_file(&format!("{name}.pem"))).expect("fixture key")
}

/// DER SubjectPublicKeyInfo of a fixture key.
pub fn spki(name: &str) -> Vec<u8> {
    std::fs::read(key_file(&format!("{name}.spki.der"))).expect("fixture spki")
}

pub struct Keys {
    pub rsa: rsa::RsaPrivateKey,
    pub rsa_other: rsa::RsaPrivateKey,
    pub p256: p256::ecdsa::SigningKey,
    pub p384: p384::ecdsa::SigningKey,
    pub ed25519: ed25519_dalek::SigningKey,
}

/// The fixture keys, parsed once per test binary.
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa: rsa::RsaPrivateKey::from_pkcs8_pem(&pem("rsa")).unwrap(),
        rsa_other: rsa::RsaPrivateKey::from_pkcs8_pem(&pem("rsa-other")).unwrap(),
        p256: p256::ecdsa::SigningKey::from_pkcs8_pem(&pem("p256")).unwrap(),
        p384: p384::ecdsa::SigningKey::from_pkcs8_pem(&pem("p384")).unwrap(),
        ed25519: ed25519_dalek::SigningKey::from_pkcs8_pem(&pem("ed25519")).unwrap(),
    })
}

/// Which fixture key signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signer {
    Rsa,
    RsaOther,
    P256,
    P384,
    Ed25519,
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Mint a compact JWS with `header` (must contain `alg`) and `claims`.
pub fn mint_with(signer: Signer, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let alg = header["alg"].as_str().unwrap_or("RS256");
    let k = keys();
    let sig: Vec<u8> = match signer {
        Signer::Rsa | Signer::RsaOther => {
            let key = if signer == Signer::Rsa {
                k.rsa.clone()
            } else {
                k.rsa_other.clone()
            };
            match alg {
                "RS384" => rsa::pkcs1v15::SigningKey::<sha2::Sha384>::new(key)
                    .sign(input.as_bytes())
                    .to_vec(),
                "RS512" => rsa::pkcs1v15::SigningKey::<sha2::Sha512>::new(key)
                    .sign(input.as_bytes())
                    .to_vec(),
                _ => rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key)
                    .sign(input.as_bytes())
                    .to_vec(),
            }
        }
        Signer::P256 => {
            let s: p256::ecdsa::Signature = k.p256.sign(input.as_bytes());
            s.to_bytes().to_vec()
        }
        Signer::P384 => {
            let s: p384::ecdsa::Signature = k.p384.sign(input.as_bytes());
            s.to_bytes().to_vec()
        }
        Signer::Ed25519 => k.ed25519.sign(input.as_bytes()).to_bytes().to_vec(),
    };
    format!("{input}.{}", b64(&sig))
}

/// Mint with the natural alg of `signer` and an optional kid.
pub fn mint(signer: Signer, kid: Option<&str>, claims: &Value) -> String {
    let alg = match signer {
        Signer::Rsa | Signer::RsaOther => "RS256",
        Signer::P256 => "ES256",
        Signer::P384 => "ES384",
        Signer::Ed25519 => "EdDSA",
    };
    let mut header = json!({"alg": alg, "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    mint_with(signer, &header, claims)
}

/// A fixed "now" for tests: 2026-11-23T12:00:00Z.
pub const NOW: i64 = 1_795_435_200;
pub const ISSUER: &str = "https://issuer.example";
pub const AUDIENCE: &str = "kubeplex";

/// Claims that pass with [`config`]: alice, groups dev + ops, 1 h left.
pub fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "groups": ["dev", "ops"],
        "jti": "jti-1",
        "iat": NOW - 60,
        "nbf": NOW - 60,
        "exp": NOW + 3600,
    })
}

/// The trusted issuer with one key of each kind (kids `rsa`, `p256`,
/// `p384`, `ed`).
pub fn issuer() -> pb::Issuer {
    let ed_public = keys().ed25519.verifying_key().to_bytes().to_vec();
    pb::Issuer {
        url: ISSUER.into(),
        audiences: vec![AUDIENCE.into(), "other".into()],
        keys: vec![
            key("rsa", pb::KeyType::Rsa, spki("rsa")),
            key("p256", pb::KeyType::EcP256, spki("p256")),
            key("p384", pb::KeyType::EcP384, spki("p384")),
            key("ed", pb::KeyType::Ed25519, ed_public),
        ],
        key_source: "inline JWKS".into(),
        ..Default::default()
    }
}

pub fn key(kid: &str, key_type: pb::KeyType, public_key: Vec<u8>) -> pb::Key {
    pb::Key {
        kid: kid.into(),
        key_type: key_type as i32,
        public_key,
        alg: String::new(),
    }
}

/// A config with [`issuer`], contexts `dev-a`, `dev-b`, `prod`, no policy.
pub fn config() -> pb::FilterConfig {
    pb::FilterConfig {
        version: "test-1".into(),
        issuers: vec![issuer()],
        revocations: vec![pb::Revocation {
            jti: "revoked-jti".into(),
            expires_at: 0,
            reason: "laptop stolen".into(),
        }],
        contexts: ["dev-a", "dev-b", "prod"]
            .iter()
            .map(|n| pb::Context {
                name: n.to_string(),
                ..Default::default()
            })
            .collect(),
        policy: None,
        clock_skew_seconds: 30,
        token_cache_size: 16,
        cluster_header: "x-kubeplex-cluster".into(),
        cluster_path_prefix: "/clusters/".into(),
        stream_expiry_grace_seconds: 30,
        // unknown: every request gets the token-expiry deadline
        request_timeout_seconds: 0,
    }
}

/// RustCrypto in place of Envoy's `verify_signature` (RSA PKCS#1 v1.5,
/// P-256, P-384; DER ECDSA signatures, like BoringSSL).
pub struct RustCryptoVerifier;

impl SignatureVerifier for RustCryptoVerifier {
    fn verify(&self, hash: Hash, spki: &[u8], sig: &[u8], text: &[u8]) -> Result<(), VerifyError> {
        // like BoringSSL: whatever fails, the signature does not verify
        rust_crypto_verify(hash, spki, sig, text).map_err(|_| VerifyError::Invalid)
    }
}

fn rust_crypto_verify(hash: Hash, spki: &[u8], sig: &[u8], text: &[u8]) -> Result<(), String> {
    if let Ok(public) = rsa::RsaPublicKey::from_public_key_der(spki) {
        let sig = rsa::pkcs1v15::Signature::try_from(sig).map_err(|e| e.to_string())?;
        let r = match hash {
            Hash::Sha256 => {
                rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public).verify(text, &sig)
            }
            Hash::Sha384 => {
                rsa::pkcs1v15::VerifyingKey::<sha2::Sha384>::new(public).verify(text, &sig)
            }
            Hash::Sha512 => {
                rsa::pkcs1v15::VerifyingKey::<sha2::Sha512>::new(public).verify(text, &sig)
            }
        };
        return r.map_err(|e| e.to_string());
    }
    if let Ok(vk) = p256::ecdsa::VerifyingKey::from_public_key_der(spki) {
        if hash != Hash::Sha256 {
            return Err("P-256 with a non-SHA-256 hash".into());
        }
        let sig = p256::ecdsa::Signature::from_der(sig).map_err(|e| e.to_string())?;
        return vk.verify(text, &sig).map_err(|e| e.to_string());
    }
    if let Ok(vk) = p384::ecdsa::VerifyingKey::from_public_key_der(spki) {
        if hash != Hash::Sha384 {
            return Err("P-384 with a non-SHA-384 hash".into());
        }
        let sig = p384::ecdsa::Signature::from_der(sig).map_err(|e| e.to_string())?;
        return vk.verify(text, &sig).map_err(|e| e.to_string());
    }
    Err("unsupported key".into())
}
