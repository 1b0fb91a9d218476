//! The JWS algorithms kubeplex accepts (all asymmetric): their names, the
//! digest each signs, and the shape of their signatures. A leaf: the
//! config (keys pinned to an `alg`) and the token check both read it.

use crate::signature::Hash;

/// A JWS `alg` kubeplex verifies (RFC 7518 §3.1 names).
#[allow(clippy::upper_case_acronyms)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512.
    ES512,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl Alg {
    /// The `alg` name → the algorithm, if supported.
    pub fn from_name(name: &str) -> Option<Alg> {
        Some(match name {
            "RS256" => Alg::RS256,
            "RS384" => Alg::RS384,
            "RS512" => Alg::RS512,
            "ES256" => Alg::ES256,
            "ES384" => Alg::ES384,
            "ES512" => Alg::ES512,
            "EdDSA" => Alg::EdDSA,
            _ => return None,
        })
    }

    /// The `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::ES512 => "ES512",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// The digest the host hashes the signing input with (RS*/ES*).
    pub fn hash(self) -> Hash {
        match self {
            Alg::RS256 | Alg::ES256 | Alg::EdDSA => Hash::Sha256,
            Alg::RS384 | Alg::ES384 => Hash::Sha384,
            Alg::RS512 | Alg::ES512 => Hash::Sha512,
        }
    }

    /// Byte length of r and s in a raw ECDSA signature (RFC 7518 §3.4).
    pub fn ec_field_len(self) -> Option<usize> {
        match self {
            Alg::ES256 => Some(32),
            Alg::ES384 => Some(48),
            Alg::ES512 => Some(66),
            _ => None,
        }
    }
}
