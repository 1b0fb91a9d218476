//! Signing keys: ES256 (a fresh P-256 key each time) or RS256 (2048-bit
//! fixture keys from `rsa_pool/`, handed to one live server at a time); the
//! `kid` kube-apiserver derives (base64url SHA-256 of the PKIX public key
//! DER); signing, verifying, and the public JWK as go-jose writes it.

use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::DecodePrivateKey;
use rcgen::{KeyPair, PKCS_RSA_SHA256, PublicKeyData, SigningKey as _};
use rustls_pki_types::{SignatureVerificationAlgorithm, alg_id};
use serde::Serialize;
use sha2::{Digest, Sha256};
use x509_cert::der::asn1::UintRef;
use x509_cert::der::{Decode, Reader, SliceReader};

use super::{IssuerError, SigningAlgorithm};

/// The RS256 fixture keys (PKCS#8 PEM, generated once with
/// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`).
const RSA_POOL: [&str; 12] = [
    include_str!("rsa_pool/rsa-0.pem"),
    include_str!("rsa_pool/rsa-1.pem"),
    include_str!("rsa_pool/rsa-2.pem"),
    include_str!("rsa_pool/rsa-3.pem"),
    include_str!("rsa_pool/rsa-4.pem"),
    include_str!("rsa_pool/rsa-5.pem"),
    include_str!("rsa_pool/rsa-6.pem"),
    include_str!("rsa_pool/rsa-7.pem"),
    include_str!("rsa_pool/rsa-8.pem"),
    include_str!("rsa_pool/rsa-9.pem"),
    include_str!("rsa_pool/rsa-10.pem"),
    include_str!("rsa_pool/rsa-11.pem"),
];

/// Which pool keys a live [`IssuerKey`] holds: two servers never share
/// key material (a token from one must not verify at another).
static RSA_IN_USE: Mutex<[bool; RSA_POOL.len()]> = Mutex::new([false; RSA_POOL.len()]);

fn rsa_slots() -> std::sync::MutexGuard<'static, [bool; RSA_POOL.len()]> {
    RSA_IN_USE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A public key as a JWKS lists it; field order as go-jose writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Jwk {
    /// `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// `EC` or `RSA`.
    pub kty: String,
    /// Key id.
    pub kid: String,
    /// `P-256` for EC keys.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub crv: Option<String>,
    /// `ES256` or `RS256`.
    pub alg: String,
    /// EC x coordinate (32 bytes, base64url).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x: Option<String>,
    /// EC y coordinate (32 bytes, base64url).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub y: Option<String>,
    /// RSA modulus (big-endian, no leading zeros, base64url).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n: Option<String>,
    /// RSA public exponent (base64url).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub e: Option<String>,
}

enum Material {
    Es256(SigningKey),
    Rs256 {
        /// The pool slot, released on drop.
        slot: usize,
        // Boxed: the ring key pair is much larger than a P-256 key.
        pair: Box<KeyPair>,
        /// `RSAPublicKey` DER (the SPKI's subjectPublicKey).
        public: Vec<u8>,
    },
}

/// One signing key with its public parts. `Debug` shows the `kid` only.
pub struct IssuerKey {
    kid: String,
    spki_der: Vec<u8>,
    material: Material,
}

impl std::fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg())
            .finish()
    }
}

impl Drop for IssuerKey {
    fn drop(&mut self) {
        if let Material::Rs256 { slot, .. } = self.material {
            rsa_slots()[slot] = false;
        }
    }
}

/// kube-apiserver's `keyIDFromPublicKey`: base64url(SHA-256(PKIX DER)).
pub fn key_id(spki_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(spki_der))
}

fn key_err(e: impl std::fmt::Display) -> IssuerError {
    IssuerError::Key(e.to_string())
}

impl IssuerKey {
    /// A new key: a fresh P-256 key, or a free RSA pool key.
    pub fn generate(algorithm: SigningAlgorithm) -> Result<IssuerKey, IssuerError> {
        match algorithm {
            SigningAlgorithm::Es256 => {
                let pair = KeyPair::generate().map_err(key_err)?;
                let signing = SigningKey::from_pkcs8_der(pair.serialized_der()).map_err(key_err)?;
                Ok(IssuerKey::new(
                    pair.subject_public_key_info(),
                    Material::Es256(signing),
                ))
            }
            SigningAlgorithm::Rs256 => {
                let slot = {
                    let mut slots = rsa_slots();
                    let slot = slots
                        .iter()
                        .position(|used| !used)
                        .ok_or(IssuerError::RsaPoolExhausted(RSA_POOL.len()))?;
                    slots[slot] = true;
                    slot
                };
                match KeyPair::from_pkcs8_pem_and_sign_algo(RSA_POOL[slot], &PKCS_RSA_SHA256) {
                    Ok(pair) => {
                        let public = pair.der_bytes().to_vec();
                        let spki = pair.subject_public_key_info();
                        Ok(IssuerKey::new(
                            spki,
                            Material::Rs256 {
                                slot,
                                pair: Box::new(pair),
                                public,
                            },
                        ))
                    }
                    Err(e) => {
                        rsa_slots()[slot] = false;
                        Err(key_err(e))
                    }
                }
            }
        }
    }

    fn new(spki_der: Vec<u8>, material: Material) -> IssuerKey {
        IssuerKey {
            kid: key_id(&spki_der),
            spki_der,
            material,
        }
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The PKIX (SubjectPublicKeyInfo) DER of the public key.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// `ES256` or `RS256`.
    pub fn alg(&self) -> &'static str {
        match self.material {
            Material::Es256(_) => SigningAlgorithm::Es256.as_str(),
            Material::Rs256 { .. } => SigningAlgorithm::Rs256.as_str(),
        }
    }

    /// The JWS signature of `message` (ES256: r‖s, 64 bytes).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, IssuerError> {
        match &self.material {
            Material::Es256(key) => {
                let sig: Signature = key.sign(message);
                Ok(sig.to_bytes().to_vec())
            }
            Material::Rs256 { pair, .. } => pair
                .sign(message)
                .map_err(|e| IssuerError::Signing(e.to_string())),
        }
    }

    /// Whether `signature` is this key's JWS signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            Material::Es256(key) => Signature::from_slice(signature)
                .is_ok_and(|sig| VerifyingKey::from(key).verify(message, &sig).is_ok()),
            Material::Rs256 { public, .. } => rsa_pkcs1_sha256()
                .is_some_and(|alg| alg.verify_signature(public, message, signature).is_ok()),
        }
    }

    /// The public JWK (`use: sig`, `kid`, `alg`).
    pub fn jwk(&self) -> Jwk {
        let mut jwk = Jwk {
            use_: "sig".into(),
            kty: String::new(),
            kid: self.kid.clone(),
            crv: None,
            alg: self.alg().into(),
            x: None,
            y: None,
            n: None,
            e: None,
        };
        match &self.material {
            Material::Es256(key) => {
                let point = VerifyingKey::from(key).to_encoded_point(false);
                jwk.kty = "EC".into();
                jwk.crv = Some("P-256".into());
                jwk.x = point.x().map(|x| URL_SAFE_NO_PAD.encode(x));
                jwk.y = point.y().map(|y| URL_SAFE_NO_PAD.encode(y));
            }
            Material::Rs256 { public, .. } => {
                jwk.kty = "RSA".into();
                if let Some((n, e)) = rsa_public_numbers(public) {
                    jwk.n = Some(URL_SAFE_NO_PAD.encode(n));
                    jwk.e = Some(URL_SAFE_NO_PAD.encode(e));
                }
            }
        }
        jwk
    }
}

/// `(n, e)` of a PKCS#1 `RSAPublicKey`, big-endian without leading zeros.
pub fn rsa_public_numbers(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut reader = SliceReader::new(der).ok()?;
    reader
        .sequence(|r| {
            let n = UintRef::decode(r)?;
            let e = UintRef::decode(r)?;
            Ok((n.as_bytes().to_vec(), e.as_bytes().to_vec()))
        })
        .ok()
}

/// RSASSA-PKCS1-v1_5 with SHA-256, from the TLS stack's own `ring`
/// verifiers (no second RSA implementation in the tree).
pub fn rsa_pkcs1_sha256() -> Option<&'static dyn SignatureVerificationAlgorithm> {
    rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all
        .iter()
        .copied()
        .find(|alg| {
            alg.public_key_alg_id() == alg_id::RSA_ENCRYPTION
                && alg.signature_alg_id() == alg_id::RSA_PKCS1_SHA256
        })
}
