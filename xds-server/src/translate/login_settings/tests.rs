use sha2::{Digest, Sha256};

use super::*;

/// A self-signed certificate named `cn`: its PEM and DER.
fn certificate(cn: &str) -> (String, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec![cn.to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), cert.der().to_vec())
}

fn login(gateway_ca_pem: Option<String>) -> LoginConfig {
    LoginConfig {
        issuer: "https://idp.example.com".into(),
        client_id: "kubeplex".into(),
        scopes: vec!["openid".into()],
        issuer_ca_pem: None,
        gateway_ca_pem,
    }
}

#[test]
fn the_fingerprint_is_the_sha256_of_the_first_certificate() {
    let (first, first_der) = certificate("first.example.com");
    let (second, _) = certificate("second.example.com");
    let settings = LoginSettings::from_config(&login(Some(format!("{first}{second}"))), None);
    let hex: String = Sha256::digest(&first_der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        settings.gateway_certificate_authority_fingerprint,
        Some(format!("sha256:{hex}"))
    );
    assert_eq!(
        settings.gateway_certificate_authority,
        Some(format!("{first}{second}"))
    );
    let none = LoginSettings::from_config(&login(None), None);
    assert_eq!(none.gateway_certificate_authority_fingerprint, None);
    let json = serde_json::to_value(&settings).unwrap();
    assert!(json["gatewayCertificateAuthorityFingerprint"].is_string());
    assert!(json["gatewayCertificateAuthority"].is_string());
}

#[test]
fn fingerprints_are_read_as_people_paste_them() {
    let (_, der) = certificate("ca.example.com");
    let ours = fingerprint(&der);
    let hex = ours.trim_start_matches("sha256:");
    let openssl = hex
        .as_bytes()
        .chunks(2)
        .map(|pair| std::str::from_utf8(pair).unwrap().to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":");
    for pasted in [
        ours.clone(),
        hex.to_string(),
        format!("sha256 Fingerprint={openssl}"),
        format!("SHA256:{openssl}\n"),
    ] {
        assert_eq!(parse_fingerprint(&pasted), Some(ours.clone()), "{pasted}");
    }
    for bad in ["", "sha256:", "sha256:abc", &format!("{}zz", &hex[..62])] {
        assert_eq!(parse_fingerprint(bad), None, "{bad}");
    }
}

#[test]
fn a_pin_selects_only_its_own_certificate_of_a_bundle() {
    let (first, _) = certificate("first.example.com");
    let (second, second_der) = certificate("second.example.com");
    let bundle = format!("# comment\n{first}\n{second}");
    let pinned = pinned_certificate(&bundle, &fingerprint(&second_der)).unwrap();
    assert_eq!(pinned.trim(), second.trim());
    let (_, other_der) = certificate("other.example.com");
    assert_eq!(pinned_certificate(&bundle, &fingerprint(&other_der)), None);
    assert_eq!(
        pinned_certificate("not pem", &fingerprint(&second_der)),
        None
    );
}
