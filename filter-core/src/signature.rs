//! The signature-check seam. RSA and ECDSA signatures are checked by the
//! host (Envoy's native `verify_signature` foreign function, BoringSSL):
//! pure-Rust RSA inside V8 costs ~0.8 ms per request. The filter only
//! prepares the inputs (hash name, DER SubjectPublicKeyInfo, DER signature),
//! so everything except the final host call is tested natively against a
//! RustCrypto implementation of [`SignatureVerifier`].

/// The digest the signature was computed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Hash {
    /// The name Envoy's `verify_signature` expects in `hash_function`.
    pub fn envoy_name(self) -> &'static str {
        match self {
            Hash::Sha256 => "sha256",
            Hash::Sha384 => "sha384",
            Hash::Sha512 => "sha512",
        }
    }
}

/// Why a signature check did not succeed.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// The signature does not verify with this key: the token's fault
    /// (401 `bad_signature` when no other key verifies it).
    #[error("the signature does not verify")]
    Invalid,
    /// The check itself failed (the host call returned an error or an
    /// answer that is not one): nothing is known about the signature, so
    /// the request gets a 503, not a 401, and the glue logs it.
    #[error("the signature check failed: {0}")]
    Host(String),
}

/// Checks an RSA PKCS#1 v1.5 or ECDSA signature.
pub trait SignatureVerifier {
    /// `spki_der` is a DER SubjectPublicKeyInfo; `signature` is PKCS#1 v1.5
    /// for RSA keys and a DER `ECDSA-Sig-Value` for EC keys.
    fn verify(
        &self,
        hash: Hash,
        spki_der: &[u8],
        signature: &[u8],
        text: &[u8],
    ) -> Result<(), VerifyError>;
}

/// A JWS ECDSA signature is the raw `r ‖ s`, each `field_len` bytes
/// (RFC 7518 §3.4); BoringSSL wants the DER `ECDSA-Sig-Value`
/// `SEQUENCE { r INTEGER, s INTEGER }`. `None` when the length is wrong.
pub fn ecdsa_raw_to_der(raw: &[u8], field_len: usize) -> Option<Vec<u8>> {
    if raw.len() != 2 * field_len {
        return None;
    }
    let (r, s) = raw.split_at(field_len);
    let mut body = Vec::with_capacity(raw.len() + 8);
    der_unsigned_integer(r, &mut body);
    der_unsigned_integer(s, &mut body);
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(0x30);
    der_length(body.len(), &mut out);
    out.extend_from_slice(&body);
    Some(out)
}

/// A big-endian unsigned integer as a DER INTEGER: minimal, with a leading
/// zero when the high bit would make it negative.
fn der_unsigned_integer(bytes: &[u8], out: &mut Vec<u8>) {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let digits = &bytes[first..];
    out.push(0x02);
    if digits.is_empty() {
        out.extend_from_slice(&[0x01, 0x00]);
        return;
    }
    let pad = digits[0] & 0x80 != 0;
    der_length(digits.len() + usize::from(pad), out);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(digits);
}

fn der_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
}

#[cfg(test)]
mod tests;
