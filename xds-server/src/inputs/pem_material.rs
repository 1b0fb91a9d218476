//! TLS material in PEM: certificate chains and private keys, checked before
//! they reach Envoy so that a broken file is rejected with a precise error.
//!
//! Keys are only parsed, never used: P-521 keys (multikube's guide) must
//! load although no RustCrypto P-521 crate is in the tree. A key's public
//! half is compared with its certificate where that needs no curve math
//! (RSA modulus, the EC public point SEC1 keys carry, Ed25519 derivation).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use pkcs8::PrivateKeyInfo;
use spki::der::asn1::{BitString, ContextSpecific, OctetStringRef};
use spki::der::{Decode, Reader, SliceReader, TagNumber};
use spki::{ObjectIdentifier, SubjectPublicKeyInfoOwned};

use super::keys::pem_keys::{block_label, pem_blocks};
use super::keys::public_key_der::{ID_EC_PUBLIC_KEY, ID_ED25519, RSA_ENCRYPTION};

/// The public half of a key, in a form a certificate can be compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicHalf {
    /// RSA modulus, big-endian without leading zeros.
    Rsa(Vec<u8>),
    /// SEC1 point as stored (normally uncompressed).
    Ec(Vec<u8>),
    Ed25519(Vec<u8>),
    /// Present but not derivable without curve arithmetic.
    Unknown,
}

/// Check a PEM certificate bundle: at least one `CERTIFICATE` block, every
/// block a parseable X.509 certificate. Returns the first (leaf)
/// certificate's public half.
pub fn check_certificates(pem: &str) -> Result<PublicHalf, String> {
    let blocks = pem_blocks(pem);
    if blocks.is_empty() {
        return Err("no PEM CERTIFICATE block found".to_string());
    }
    let mut leaf = None;
    for (i, block) in blocks.iter().enumerate() {
        let (label, der) = spki::der::pem::decode_vec(block.as_bytes())
            .map_err(|e| format!("PEM block {} ({}): {e}", i + 1, block_label(block)))?;
        if label != "CERTIFICATE" {
            return Err(format!(
                "PEM block {} is a {label}, expected only CERTIFICATE blocks",
                i + 1
            ));
        }
        let cert = x509_cert::Certificate::from_der(&der)
            .map_err(|e| format!("PEM block {} is not an X.509 certificate: {e}", i + 1))?;
        if leaf.is_none() {
            leaf = Some(spki_public_half(
                &cert.tbs_certificate.subject_public_key_info,
            ));
        }
    }
    Ok(leaf.unwrap_or(PublicHalf::Unknown))
}

/// Check a PEM private key: exactly one unencrypted `PRIVATE KEY` (PKCS#8),
/// `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC1) block. Returns its
/// public half. Error messages never quote key material.
pub fn check_private_key(pem: &str) -> Result<PublicHalf, String> {
    let blocks: Vec<&str> = pem_blocks(pem)
        .into_iter()
        // `openssl ecparam -genkey` writes the curve first; harmless.
        .filter(|b| block_label(b) != "EC PARAMETERS")
        .collect();
    let block = match blocks.as_slice() {
        [] => return Err("no PEM private key block found".to_string()),
        [one] => *one,
        more => {
            return Err(format!(
                "expected one private key block, found {} PEM blocks",
                more.len()
            ));
        }
    };
    let (label, der) = spki::der::pem::decode_vec(block.as_bytes())
        .map_err(|e| format!("PEM {}: {e}", block_label(block)))?;
    match label {
        "PRIVATE KEY" => pkcs8_public_half(&der),
        "RSA PRIVATE KEY" => pkcs1_public_half(&der),
        "EC PRIVATE KEY" => sec1_public_half(&der),
        "ENCRYPTED PRIVATE KEY" => {
            Err("encrypted private keys are not supported; decrypt it first".to_string())
        }
        other => Err(format!(
            "PEM block is a {other}, expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY"
        )),
    }
}

/// The checks of one load, and those of the load before to reuse: a
/// reload parses only PEM text it has not seen in the last load (10,000
/// contexts, each with its CA inline: 10,000 X.509 parses otherwise). The
/// checks are pure, so a result is the same whether reused or not.
#[derive(Debug, Default)]
pub struct Checks {
    /// Two keyed hashes of the text (keys random per process: no text can
    /// be made to collide on purpose); only public halves are kept.
    hashers: (RandomState, RandomState),
    now: HashMap<CheckKey, Result<PublicHalf, String>>,
    before: HashMap<CheckKey, Result<PublicHalf, String>>,
}

/// Which check, two hashes of the text, its length.
type CheckKey = (bool, u64, u64, usize);

impl Checks {
    /// A new load begins: what the last one did not check is forgotten.
    pub fn next_load(&mut self) {
        self.before = std::mem::take(&mut self.now);
    }

    /// [`check_certificates`], reused.
    pub fn certificates(&mut self, pem: &str) -> Result<PublicHalf, String> {
        self.reuse(false, pem, check_certificates)
    }

    /// [`check_private_key`], reused.
    pub fn private_key(&mut self, pem: &str) -> Result<PublicHalf, String> {
        self.reuse(true, pem, check_private_key)
    }

    fn reuse(
        &mut self,
        key_check: bool,
        pem: &str,
        check: fn(&str) -> Result<PublicHalf, String>,
    ) -> Result<PublicHalf, String> {
        let hash = |state: &RandomState| {
            let mut h = state.build_hasher();
            h.write(pem.as_bytes());
            h.finish()
        };
        let key = (
            key_check,
            hash(&self.hashers.0),
            hash(&self.hashers.1),
            pem.len(),
        );
        if let Some(done) = self.now.get(&key) {
            return done.clone();
        }
        let done = self.before.remove(&key).unwrap_or_else(|| check(pem));
        self.now.insert(key, done.clone());
        done
    }
}

/// Whether a key's public half is the certificate's, when both are known.
pub fn matches(key: &PublicHalf, cert: &PublicHalf) -> bool {
    matches!(key, PublicHalf::Unknown) || matches!(cert, PublicHalf::Unknown) || key == cert
}

fn strip_zeros(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[first..].to_vec()
}

fn spki_public_half(spki: &SubjectPublicKeyInfoOwned) -> PublicHalf {
    let Some(bits) = spki.subject_public_key.as_bytes() else {
        return PublicHalf::Unknown;
    };
    let oid = spki.algorithm.oid;
    if oid == RSA_ENCRYPTION {
        match rsa::pkcs1::RsaPublicKey::from_der(bits) {
            Ok(key) => PublicHalf::Rsa(strip_zeros(key.modulus.as_bytes())),
            Err(_) => PublicHalf::Unknown,
        }
    } else if oid == ID_EC_PUBLIC_KEY {
        PublicHalf::Ec(bits.to_vec())
    } else if oid == ID_ED25519 {
        PublicHalf::Ed25519(bits.to_vec())
    } else {
        PublicHalf::Unknown
    }
}

fn pkcs1_public_half(der: &[u8]) -> Result<PublicHalf, String> {
    let key = rsa::pkcs1::RsaPrivateKey::from_der(der)
        .map_err(|e| format!("not a PKCS#1 RSA private key: {e}"))?;
    Ok(PublicHalf::Rsa(strip_zeros(key.modulus.as_bytes())))
}

fn pkcs8_public_half(der: &[u8]) -> Result<PublicHalf, String> {
    let info =
        PrivateKeyInfo::from_der(der).map_err(|e| format!("not a PKCS#8 private key: {e}"))?;
    let oid = info.algorithm.oid;
    if oid == RSA_ENCRYPTION {
        pkcs1_public_half(info.private_key)
    } else if oid == ID_EC_PUBLIC_KEY {
        sec1_public_half(info.private_key)
    } else if oid == ID_ED25519 {
        // The private key is an OCTET STRING holding the 32-byte seed.
        let seed = OctetStringRef::from_der(info.private_key)
            .map_err(|e| format!("not an Ed25519 private key: {e}"))?;
        let seed: [u8; 32] = seed
            .as_bytes()
            .try_into()
            .map_err(|_| "an Ed25519 private key is 32 bytes".to_string())?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        Ok(PublicHalf::Ed25519(key.verifying_key().to_bytes().to_vec()))
    } else {
        Err(format!(
            "unsupported private key algorithm {oid} (RSA, EC and Ed25519 are supported)"
        ))
    }
}

/// SEC1 `ECPrivateKey`: version, privateKey, [0] parameters, [1] publicKey.
fn sec1_public_half(der: &[u8]) -> Result<PublicHalf, String> {
    let parse = || -> spki::der::Result<Option<Vec<u8>>> {
        let mut reader = SliceReader::new(der)?;
        let public = reader.sequence(|r| {
            let _version = u8::decode(r)?;
            let _secret = OctetStringRef::decode(r)?;
            let _curve = ContextSpecific::<ObjectIdentifier>::decode_explicit(r, TagNumber::N0)?;
            let public = ContextSpecific::<BitString>::decode_explicit(r, TagNumber::N1)?;
            Ok(public.and_then(|p| p.value.as_bytes().map(<[u8]>::to_vec)))
        })?;
        reader.finish(public)
    };
    match parse() {
        Ok(Some(point)) => Ok(PublicHalf::Ec(point)),
        Ok(None) => Ok(PublicHalf::Unknown),
        Err(e) => Err(format!("not an EC private key: {e}")),
    }
}

#[cfg(test)]
mod tests;
