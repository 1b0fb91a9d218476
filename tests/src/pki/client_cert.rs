//! Client certificates with several `O` attributes (Kubernetes groups),
//! signed by the test CA's P-256 key through `x509-cert`'s builder.

use std::str::FromStr;
use std::time::Duration;

use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use rcgen::{KeyPair, PublicKeyData};
use sha2::{Digest, Sha256};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::asn1::{SetOfVec, Utf8StringRef};
use x509_cert::der::{Decode, DecodePem, EncodePem, pem::LineEnding};
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;

use super::CertKey;

/// What can go wrong while issuing a client certificate.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientCertError {
    /// The CA certificate or key PEM did not parse.
    #[error("CA material: {0}")]
    Ca(String),
    /// Generating the leaf key failed.
    #[error("leaf key: {0}")]
    Key(#[from] rcgen::Error),
    /// Building or signing the certificate failed.
    #[error("building certificate: {0}")]
    Build(String),
}

const OID_CN: &str = "2.5.4.3";
const OID_O: &str = "2.5.4.10";
const OID_CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";
/// Ten years: test certificates must outlive any test run.
const VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

pub(crate) fn issue(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    common_name: &str,
    organizations: &[&str],
) -> Result<CertKey, ClientCertError> {
    let ca = x509_cert::Certificate::from_pem(ca_cert_pem.as_bytes())
        .map_err(|e| ClientCertError::Ca(e.to_string()))?;
    let signer =
        SigningKey::from_pkcs8_pem(ca_key_pem).map_err(|e| ClientCertError::Ca(e.to_string()))?;
    let leaf = KeyPair::generate()?;
    let spki = SubjectPublicKeyInfoOwned::from_der(&leaf.subject_public_key_info())
        .map_err(|e| ClientCertError::Build(e.to_string()))?;
    let subject = subject(common_name, organizations)?;
    let validity =
        Validity::from_now(VALIDITY).map_err(|e| ClientCertError::Build(e.to_string()))?;
    let profile = Profile::Leaf {
        issuer: ca.tbs_certificate.subject.clone(),
        enable_key_agreement: false,
        enable_key_encipherment: false,
    };
    let mut builder = CertificateBuilder::new(
        profile,
        serial(common_name),
        validity,
        subject,
        spki,
        &signer,
    )
    .map_err(|e| ClientCertError::Build(e.to_string()))?;
    let client_auth = oid(OID_CLIENT_AUTH)?;
    builder
        .add_extension(&ExtendedKeyUsage(vec![client_auth]))
        .map_err(|e| ClientCertError::Build(e.to_string()))?;
    let cert = builder
        .build::<DerSignature>()
        .map_err(|e| ClientCertError::Build(e.to_string()))?;
    let cert_pem = cert
        .to_pem(LineEnding::LF)
        .map_err(|e| ClientCertError::Build(e.to_string()))?;
    Ok(CertKey {
        cert_pem,
        key_pem: leaf.serialize_pem(),
    })
}

fn oid(dotted: &str) -> Result<x509_cert::der::oid::ObjectIdentifier, ClientCertError> {
    x509_cert::der::oid::ObjectIdentifier::from_str(dotted)
        .map_err(|e| ClientCertError::Build(e.to_string()))
}

/// `O=<org>` RDNs in order, then `CN=<cn>`, each a UTF8String.
fn subject(common_name: &str, organizations: &[&str]) -> Result<Name, ClientCertError> {
    let mut rdns = Vec::new();
    for org in organizations {
        rdns.push(rdn(OID_O, org)?);
    }
    rdns.push(rdn(OID_CN, common_name)?);
    Ok(RdnSequence(rdns))
}

fn rdn(attr: &str, value: &str) -> Result<RelativeDistinguishedName, ClientCertError> {
    let build = |e: x509_cert::der::Error| ClientCertError::Build(e.to_string());
    let value = Utf8StringRef::new(value).map_err(build)?;
    let atv = x509_cert::attr::AttributeTypeAndValue {
        oid: oid(attr)?,
        value: value.into(),
    };
    Ok(RelativeDistinguishedName(
        SetOfVec::try_from(vec![atv]).map_err(build)?,
    ))
}

/// A positive 16-byte serial, unique per call.
fn serial(common_name: &str) -> SerialNumber {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = Sha256::new();
    hasher.update(common_name.as_bytes());
    hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.update(nanos.to_le_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hasher.finalize()[..16]);
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::new(&bytes).expect("16-byte serial is valid")
}
