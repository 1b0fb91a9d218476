//! Token verification keys: JWKS documents, PEM public keys and x509 signer
//! certificates, normalized into what the filter verifies with.

use kubeplex_proto::filter::v1 as pb;

mod jwk;
mod p521;
pub(crate) mod pem_keys;
pub mod public_key_der;

#[cfg(test)]
mod tests;

/// A public key the filter can verify JWS signatures with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationKey {
    /// JWK `kid`; None for PEM keys and certificates.
    pub kid: Option<String>,
    /// RSA, an EC curve, or Ed25519.
    pub key_type: pb::KeyType,
    /// DER SubjectPublicKeyInfo (RSA, EC) or the raw 32-byte key (Ed25519).
    pub public_key: Vec<u8>,
    /// JWK `alg`, when pinned.
    pub alg: Option<String>,
}

/// Why key material could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The document is not valid JSON or not a JWKS (`{"keys": [...]}`).
    #[error("not a JWKS document: {0}")]
    NotJwks(String),
    /// A JWK has a `kty`/`crv` kubeplex cannot verify with (e.g. EC P-192).
    /// `crv` is empty or ` <curve>`.
    #[error("key {index}{}: unsupported key type {kty}{crv}", kid_note(.kid))]
    UnsupportedKeyType {
        /// The key's position in the JWKS.
        index: usize,
        /// Its `kid`.
        kid: Option<String>,
        /// Its `kty`.
        kty: String,
        /// ` <crv>` or empty.
        crv: String,
    },
    /// A symmetric (`oct`) JWK: shared secrets are never accepted, only
    /// public keys.
    #[error("key {index}{}: symmetric (oct) keys are never accepted; publish a public key", kid_note(.kid))]
    SymmetricKey {
        /// The key's position in the JWKS.
        index: usize,
        /// Its `kid`.
        kid: Option<String>,
    },
    /// A JWK member is missing or not valid base64url / a valid point.
    #[error("key {index}{}: {reason}", kid_note(.kid))]
    BadJwk {
        /// The key's position in the JWKS.
        index: usize,
        /// Its `kid`.
        kid: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// No PEM block that holds a public key or certificate.
    #[error("no PEM public key or certificate found")]
    NoPem,
    /// A PEM block that could not be decoded.
    #[error("bad PEM {label}: {reason}")]
    BadPem {
        /// The PEM label.
        label: String,
        /// Why it does not decode.
        reason: String,
    },
}

/// ` (kid "x")` for messages, or nothing.
fn kid_note(kid: &Option<String>) -> String {
    kid.as_ref()
        .map(|k| format!(" (kid {k:?})"))
        .unwrap_or_default()
}

/// Keys from a JWKS document (`{"keys": [...]}`). Keys with `use` other than
/// `sig` are skipped; unsupported key types are errors.
pub fn from_jwks(json: &str) -> Result<Vec<VerificationKey>, KeyError> {
    jwk::from_jwks(json)
}

/// Keys from PEM text: `PUBLIC KEY` (SPKI), `RSA PUBLIC KEY` (PKCS#1) or
/// `CERTIFICATE` (the certificate's subject public key, multikube's
/// `--tls-signer-certificate`). Every block is used.
pub fn from_pem(pem: &str) -> Result<Vec<VerificationKey>, KeyError> {
    pem_keys::from_pem(pem)
}

impl VerificationKey {
    /// The form pushed to the filter.
    pub fn to_proto(&self) -> pb::Key {
        pb::Key {
            kid: self.kid.clone().unwrap_or_default(),
            key_type: self.key_type as i32,
            public_key: self.public_key.clone(),
            alg: self.alg.clone().unwrap_or_default(),
        }
    }
}
