use super::*;
use crate::translate::fixtures::agents;

fn csr_for(names: &[&str]) -> (KeyPair, String) {
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    (key, csr)
}

fn dns_names(chain_pem: &str) -> (Vec<String>, i64) {
    let (_, pem) = x509_parser::pem::parse_x509_pem(chain_pem.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    let names = cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
            _ => None,
        })
        .collect();
    (names, cert.validity().not_after.timestamp())
}

#[test]
fn the_certificate_names_only_the_cluster_the_token_belongs_to() {
    let config = agents(&["edge-1"]);
    // The agent asks for another cluster's name: it is ignored.
    let (_, csr) = csr_for(&["prod", "edge-1"]);
    let issued = issue(&config, "edge-1", &csr, 1_800_000_000).unwrap();
    let (names, not_after) = dns_names(&issued.chain_pem);
    assert_eq!(names, ["edge-1"]);
    assert_eq!(issued.not_after, 1_800_000_000 + 600);
    assert_eq!(not_after, issued.not_after);
    assert!(issued.chain_pem.ends_with(&config.ca_certificate_pem));
}

#[test]
fn a_request_that_is_not_a_csr_is_refused() {
    let config = agents(&["edge-1"]);
    let err = issue(
        &config,
        "edge-1",
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        0,
    )
    .unwrap_err();
    assert!(matches!(err, AgentCaError::BadRequest(_)), "{err:?}");
}
