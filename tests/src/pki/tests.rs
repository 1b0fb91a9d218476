use super::*;
use x509_cert::der::DecodePem;

#[test]
fn client_cert_carries_cn_and_every_organization() {
    let ca = Ca::new("test-ca");
    let ck = ca.client_cert("alice", &["dev", "ops", "system:masters"]);
    let cert = x509_cert::Certificate::from_pem(ck.cert_pem.as_bytes()).unwrap();
    let subject = cert.tbs_certificate.subject.to_string();
    // RFC 4514 display lists RDNs last-first; DER order is O=dev, O=ops, O=system:masters, CN=alice.
    assert_eq!(subject, "CN=alice,O=system:masters,O=ops,O=dev");
    let ca_cert = x509_cert::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap();
    assert_eq!(cert.tbs_certificate.issuer, ca_cert.tbs_certificate.subject);
    assert!(ck.key_pem.contains("PRIVATE KEY"));
}

#[test]
fn debug_never_prints_keys() {
    let ca = Ca::new("test-ca");
    let ck = ca.server_cert(&["127.0.0.1", "localhost"]);
    let shown = format!("{ck:?} {ca:?}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert!(shown.contains("<redacted>"));
}

#[test]
fn write_to_writes_cert_and_private_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test-ca");
    let ck = ca.client_cert("bob", &[]);
    let (cert, key) = ck.write_to(dir.path(), "bob").unwrap();
    assert_eq!(std::fs::read_to_string(cert).unwrap(), ck.cert_pem);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), ck.key_pem);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn server_and_client_certs_verify_with_rustls_against_the_ca() {
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject};
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let ca = Ca::new("test-ca");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap())
        .unwrap();
    let roots = std::sync::Arc::new(roots);
    let server = ca.server_cert(&["127.0.0.1", "localhost"]);
    let server_der = CertificateDer::from_pem_slice(server.cert_pem.as_bytes()).unwrap();
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        roots.clone(),
        provider.clone(),
    )
    .build()
    .unwrap();
    for name in ["127.0.0.1", "localhost"] {
        verifier
            .verify_server_cert(
                &server_der,
                &[],
                &ServerName::try_from(name).unwrap(),
                &[],
                UnixTime::now(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let client = ca.client_cert("alice", &["dev"]);
    let client_der = CertificateDer::from_pem_slice(client.cert_pem.as_bytes()).unwrap();
    let client_verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider)
            .build()
            .unwrap();
    client_verifier
        .verify_client_cert(&client_der, &[], UnixTime::now())
        .unwrap();
    // A certificate from another CA must not verify.
    let other = Ca::new("other").client_cert("mallory", &[]);
    let other_der = CertificateDer::from_pem_slice(other.cert_pem.as_bytes()).unwrap();
    assert!(
        client_verifier
            .verify_client_cert(&other_der, &[], UnixTime::now())
            .is_err()
    );
}
