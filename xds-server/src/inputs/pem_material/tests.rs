use std::path::PathBuf;

use super::*;

fn key_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("test_data/keys")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn keys_match_their_certificates() {
    for (key, cert) in [
        ("rsa.key.pem", "rsa.cert.pem"),
        ("rsa.pkcs1.key.pem", "rsa.cert.pem"),
        ("p256.key.pem", "p256.cert.pem"),
        ("p256.sec1.key.pem", "p256.cert.pem"),
        ("p521.key.pem", "p521.cert.pem"),
        ("ed25519.key.pem", "ed25519.cert.pem"),
    ] {
        let k = check_private_key(&key_file(key)).unwrap_or_else(|e| panic!("{key}: {e}"));
        let c = check_certificates(&key_file(cert)).unwrap_or_else(|e| panic!("{cert}: {e}"));
        assert_ne!(k, PublicHalf::Unknown, "{key}");
        assert!(matches(&k, &c), "{key} vs {cert}");
    }
}

#[test]
fn mismatched_pairs_are_detected() {
    let pairs = [
        ("rsa1024.key.pem", "rsa.cert.pem"),
        ("p384.key.pem", "p256.cert.pem"),
        ("p256.key.pem", "p521.cert.pem"),
    ];
    for (key, cert) in pairs {
        let k = check_private_key(&key_file(key)).unwrap();
        let c = check_certificates(&key_file(cert)).unwrap();
        assert!(!matches(&k, &c), "{key} vs {cert}");
    }
}

#[test]
fn broken_material_is_named() {
    assert_eq!(
        check_certificates("hello"),
        Err("no PEM CERTIFICATE block found".to_string())
    );
    assert_eq!(
        check_certificates(&key_file("p256.key.pem")),
        Err("PEM block 1 is a PRIVATE KEY, expected only CERTIFICATE blocks".to_string())
    );
    assert_eq!(
        check_private_key(&key_file("p256.cert.pem")),
        Err(
            "PEM block is a CERTIFICATE, expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY"
                .to_string()
        )
    );
    let two = format!("{}{}", key_file("p256.key.pem"), key_file("p384.key.pem"));
    assert_eq!(
        check_private_key(&two),
        Err("expected one private key block, found 2 PEM blocks".to_string())
    );
    let garbled = key_file("rsa.cert.pem").replacen("MII", "AAA", 1);
    let err = check_certificates(&garbled).unwrap_err();
    assert!(
        err.starts_with("PEM block 1 is not an X.509 certificate"),
        "{err}"
    );
}
