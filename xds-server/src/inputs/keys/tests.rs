use std::path::PathBuf;

use super::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("test_data/keys")
        .join(name)
}

fn text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

/// What `openssl pkey -pubin -outform DER` printed for the key.
fn openssl_der(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("{name}.pub.der"))).unwrap()
}

#[test]
fn pem_public_keys_match_openssl_der() {
    for (file, der, key_type) in [
        ("rsa.pub.pem", "rsa", pb::KeyType::Rsa),
        ("rsa.pkcs1.pub.pem", "rsa", pb::KeyType::Rsa),
        ("p256.pub.pem", "p256", pb::KeyType::EcP256),
        ("p384.pub.pem", "p384", pb::KeyType::EcP384),
        ("p521.pub.pem", "p521", pb::KeyType::EcP521),
        ("p521.compressed.pub.pem", "p521", pb::KeyType::EcP521),
        ("rsa.cert.pem", "rsa", pb::KeyType::Rsa),
        ("p521.cert.pem", "p521", pb::KeyType::EcP521),
    ] {
        let keys = from_pem(&text(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(keys.len(), 1, "{file}");
        assert_eq!(keys[0].key_type, key_type, "{file}");
        assert_eq!(keys[0].public_key, openssl_der(der), "{file}");
        assert_eq!(
            (keys[0].kid.as_deref(), keys[0].alg.as_deref()),
            (None, None)
        );
    }
}

#[test]
fn ed25519_pem_gives_the_raw_key() {
    let keys = from_pem(&text("ed25519.pub.pem")).unwrap();
    assert_eq!(keys[0].key_type, pb::KeyType::Ed25519);
    let der = openssl_der("ed25519");
    assert_eq!(keys[0].public_key, der[der.len() - 32..]);
    assert_eq!(keys[0].public_key.len(), 32);
}

#[test]
fn every_pem_block_is_used() {
    let bundle = format!(
        "signer bundle\n{}{}",
        text("p256.pub.pem"),
        text("p521.cert.pem")
    );
    let keys = from_pem(&bundle).unwrap();
    let types: Vec<_> = keys.iter().map(|k| k.key_type).collect();
    assert_eq!(types, vec![pb::KeyType::EcP256, pb::KeyType::EcP521]);
}

#[test]
fn pem_problems_are_named() {
    assert_eq!(from_pem("no pem here"), Err(KeyError::NoPem));
    let err = from_pem(&text("p256.key.pem")).unwrap_err();
    assert!(
        matches!(&err, KeyError::BadPem { label, reason } if label == "PRIVATE KEY" && reason.contains("private key does not belong")),
        "{err}"
    );
    let err = from_pem(&text("rsa1024.pub.pem")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad PEM PUBLIC KEY: RSA key of 1024 bits is too small (at least 2048 required)"
    );
    let broken = text("p256.pub.pem").replace("A", "!");
    let err = from_pem(&broken).unwrap_err();
    assert!(
        matches!(&err, KeyError::BadPem { label, .. } if label == "PUBLIC KEY"),
        "{err}"
    );
}

#[test]
fn jwks_keys_match_openssl_der() {
    let keys = from_jwks(&text("jwks.json")).unwrap();
    let summary: Vec<_> = keys
        .iter()
        .map(|k| {
            (
                k.kid.as_deref().unwrap(),
                k.key_type,
                k.alg.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("rsa-1", pb::KeyType::Rsa, "RS256"),
            ("p256-1", pb::KeyType::EcP256, "ES256"),
            ("p384-1", pb::KeyType::EcP384, "ES384"),
            ("p521-1", pb::KeyType::EcP521, "ES512"),
            ("ed-1", pb::KeyType::Ed25519, "EdDSA"),
        ],
        "the `use: enc` key is skipped"
    );
    for (key, der) in keys.iter().zip(["rsa", "p256", "p384", "p521"]) {
        assert_eq!(key.public_key, openssl_der(der), "{der}");
    }
    let ed = openssl_der("ed25519");
    assert_eq!(keys[4].public_key, ed[ed.len() - 32..]);
}

#[test]
fn symmetric_keys_are_refused() {
    let err = from_jwks(&text("jwks-oct.json")).unwrap_err();
    assert_eq!(
        err,
        KeyError::SymmetricKey {
            index: 0,
            kid: Some("hmac".into())
        }
    );
}

#[test]
fn jwk_problems_are_named() {
    let cases = [
        (
            text("jwks-bad-alg.json"),
            "key 0 (kid \"p256-1\"): alg RS256 does not fit the EC P-256 key (expected ES256)",
        ),
        (
            text("jwks-p521-short.json"),
            "key 0 (kid \"p521-1\"): P-521 coordinates must be 66 bytes each, got x 65 and y 66",
        ),
        (
            text("jwks-off-curve.json"),
            "key 0 (kid \"p256-1\"): not a valid P-256 point",
        ),
        (
            r#"{"keys":[{"kty":"EC","crv":"P-192","x":"AA","y":"AA"}]}"#.to_string(),
            "key 0: unsupported key type EC P-192",
        ),
        (
            r#"{"keys":[{"kty":"OKP","crv":"X25519","x":"AA"}]}"#.to_string(),
            "key 0: unsupported key type OKP X25519",
        ),
        (
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AA","d":"AA"}]}"#.to_string(),
            "key 0: holds private key material (`d`); a JWKS for verification must hold public keys only",
        ),
        (
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"***"}]}"#.to_string(),
            "key 0: `x` is not base64url: Invalid symbol 42, offset 0.",
        ),
        (
            r#"{"keys":[{"kty":"RSA","e":"AQAB"}]}"#.to_string(),
            "key 0: `n` is missing",
        ),
        (
            r#"{"kid":"x"}"#.to_string(),
            "not a JWKS document: expected an object with a `keys` list",
        ),
    ];
    for (json, want) in cases {
        let err = from_jwks(&json).unwrap_err();
        assert_eq!(err.to_string(), want, "{json}");
    }
}

#[test]
fn duplicate_kids_are_refused() {
    let doc: serde_json::Value = serde_json::from_str(&text("jwks.json")).unwrap();
    let p256 = doc["keys"][1].clone();
    let twice = serde_json::json!({"keys": [p256.clone(), p256]});
    let err = from_jwks(&twice.to_string()).unwrap_err();
    assert!(err.to_string().contains("duplicate kid"), "{err}");
}

#[test]
fn to_proto_carries_everything() {
    let keys = from_jwks(&text("jwks.json")).unwrap();
    let proto = keys[1].to_proto();
    assert_eq!(proto.kid, "p256-1");
    assert_eq!(proto.key_type, pb::KeyType::EcP256 as i32);
    assert_eq!(proto.public_key, openssl_der("p256"));
    assert_eq!(proto.alg, "ES256");
}
