//! Public keys in the form the filter receives: DER SubjectPublicKeyInfo
//! (RSA, EC, always with an uncompressed point) or the raw 32 bytes
//! (Ed25519). Every key is validated on the way in (RSA size, point on
//! curve), so a broken key rejects the edit instead of failing at request time.

use kubeplex_proto::filter::v1 as pb;
use rsa::BigUint;
use rsa::pkcs8::EncodePublicKey;
use spki::der::asn1::BitString;
use spki::der::{Any, Decode, Encode};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};

use super::p521;

/// `rsaEncryption` (PKCS #1).
pub const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `id-ecPublicKey` (RFC 5480).
pub const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// The P-256 curve.
pub const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// The P-384 curve.
pub const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// The P-521 curve.
pub const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
/// `id-Ed25519` (RFC 8410).
pub const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Smallest RSA modulus accepted: 2048 bits (NIST SP 800-131A).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted.
pub const MAX_RSA_BITS: usize = 16384;

/// A validated RSA key from its modulus and exponent, as SPKI DER.
pub fn rsa_spki(n: &[u8], e: &[u8]) -> Result<Vec<u8>, String> {
    let n = BigUint::from_bytes_be(n);
    let e = BigUint::from_bytes_be(e);
    let bits = n.bits();
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "RSA key of {bits} bits is too small (at least {MIN_RSA_BITS} required)"
        ));
    }
    let key = rsa::RsaPublicKey::new_with_max_size(n, e, MAX_RSA_BITS)
        .map_err(|e| format!("invalid RSA key: {e}"))?;
    key.to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .map_err(|e| format!("cannot encode RSA key: {e}"))
}

/// A validated RSA key from PKCS#1 `RSAPublicKey` DER, as SPKI DER.
pub fn rsa_spki_from_pkcs1(der: &[u8]) -> Result<Vec<u8>, String> {
    let key = rsa::pkcs1::RsaPublicKey::from_der(der)
        .map_err(|e| format!("not a PKCS#1 RSA public key: {e}"))?;
    rsa_spki(key.modulus.as_bytes(), key.public_exponent.as_bytes())
}

/// A validated EC key from its SEC1 point on the named curve, as SPKI DER
/// with an uncompressed point.
pub fn ec_spki(curve: ObjectIdentifier, point: &[u8]) -> Result<(pb::KeyType, Vec<u8>), String> {
    let (key_type, der) = if curve == SECP256R1 {
        let key = p256::PublicKey::from_sec1_bytes(point)
            .map_err(|_| "not a valid P-256 point".to_string())?;
        (pb::KeyType::EcP256, key.to_public_key_der())
    } else if curve == SECP384R1 {
        let key = p384::PublicKey::from_sec1_bytes(point)
            .map_err(|_| "not a valid P-384 point".to_string())?;
        (pb::KeyType::EcP384, key.to_public_key_der())
    } else if curve == SECP521R1 {
        let point = p521::uncompressed_point(point)?;
        return Ok((pb::KeyType::EcP521, p521_spki(&point)?));
    } else {
        return Err(format!(
            "unsupported elliptic curve {curve} (P-256, P-384 and P-521 are supported)"
        ));
    };
    der.map(|d| (key_type, d.as_bytes().to_vec()))
        .map_err(|e| format!("cannot encode EC key: {e}"))
}

/// SPKI DER for an (already validated, uncompressed) P-521 point.
fn p521_spki(point: &[u8]) -> Result<Vec<u8>, String> {
    let spki = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: ID_EC_PUBLIC_KEY,
            parameters: Some(Any::from(SECP521R1)),
        },
        subject_public_key: BitString::from_bytes(point).map_err(|e| e.to_string())?,
    };
    spki.to_der()
        .map_err(|e| format!("cannot encode EC key: {e}"))
}

/// A validated Ed25519 key: the raw 32 bytes.
pub fn ed25519_raw(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let raw: [u8; 32] = bytes
        .try_into()
        .map_err(|_| format!("an Ed25519 key is 32 bytes, got {}", bytes.len()))?;
    ed25519_dalek::VerifyingKey::from_bytes(&raw)
        .map_err(|_| "not a valid Ed25519 public key".to_string())?;
    Ok(raw.to_vec())
}

/// Classify and normalize a DER SubjectPublicKeyInfo by its algorithm.
pub fn from_spki_der(der: &[u8]) -> Result<(pb::KeyType, Vec<u8>), String> {
    let spki = SubjectPublicKeyInfoOwned::from_der(der)
        .map_err(|e| format!("not a SubjectPublicKeyInfo: {e}"))?;
    let key_bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| "public key bit string has unused bits".to_string())?;
    let oid = spki.algorithm.oid;
    if oid == RSA_ENCRYPTION {
        Ok((pb::KeyType::Rsa, rsa_spki_from_pkcs1(key_bits)?))
    } else if oid == ID_EC_PUBLIC_KEY {
        let curve: ObjectIdentifier = spki
            .algorithm
            .parameters
            .as_ref()
            .ok_or_else(|| "EC key without a named curve".to_string())?
            .decode_as()
            .map_err(|_| "EC key parameters are not a named curve".to_string())?;
        ec_spki(curve, key_bits)
    } else if oid == ID_ED25519 {
        Ok((pb::KeyType::Ed25519, ed25519_raw(key_bits)?))
    } else {
        Err(format!(
            "unsupported public key algorithm {oid} (RSA, EC P-256/P-384/P-521 and Ed25519 are supported)"
        ))
    }
}
