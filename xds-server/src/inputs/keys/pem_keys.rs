//! Verification keys from PEM: `PUBLIC KEY`, `RSA PUBLIC KEY`, `CERTIFICATE`.

use spki::der::{Decode, Encode};

use super::public_key_der;
use super::{KeyError, VerificationKey};

pub fn from_pem(pem: &str) -> Result<Vec<VerificationKey>, KeyError> {
    let mut out = Vec::new();
    for block in pem_blocks(pem) {
        let (label, der) =
            spki::der::pem::decode_vec(block.as_bytes()).map_err(|e| KeyError::BadPem {
                label: block_label(block).to_string(),
                reason: e.to_string(),
            })?;
        let bad = |reason: String| KeyError::BadPem {
            label: label.to_string(),
            reason,
        };
        let spki_der = match label {
            "PUBLIC KEY" => der,
            "RSA PUBLIC KEY" => public_key_der::rsa_spki_from_pkcs1(&der).map_err(bad)?,
            "CERTIFICATE" => {
                let cert = x509_cert::Certificate::from_der(&der)
                    .map_err(|e| bad(format!("not an X.509 certificate: {e}")))?;
                cert.tbs_certificate
                    .subject_public_key_info
                    .to_der()
                    .map_err(|e| bad(e.to_string()))?
            }
            l if l.contains("PRIVATE KEY") => {
                return Err(bad(
                    "a private key does not belong here; give the public key or certificate"
                        .to_string(),
                ));
            }
            // e.g. `EC PARAMETERS` that `openssl ecparam -genkey` writes.
            _ => continue,
        };
        let (key_type, public_key) = public_key_der::from_spki_der(&spki_der).map_err(bad)?;
        out.push(VerificationKey {
            kid: None,
            key_type,
            public_key,
            alg: None,
        });
    }
    if out.is_empty() {
        return Err(KeyError::NoPem);
    }
    Ok(out)
}

/// Each `-----BEGIN …-----` … `-----END …-----` block, text around them ignored.
pub fn pem_blocks(text: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(begin) = rest.find("-----BEGIN ") {
        let from_begin = &rest[begin..];
        let Some(end) = from_begin.find("-----END ") else {
            // An unterminated block: hand it over so the decoder names the problem.
            blocks.push(from_begin);
            break;
        };
        let after_end = &from_begin[end + "-----END ".len()..];
        let close = after_end
            .find("-----")
            .map(|i| end + "-----END ".len() + i + "-----".len())
            .unwrap_or(from_begin.len());
        blocks.push(&from_begin[..close]);
        rest = &from_begin[close..];
    }
    blocks
}

/// The label of a block, for errors when the block does not decode.
pub fn block_label(block: &str) -> &str {
    block
        .strip_prefix("-----BEGIN ")
        .and_then(|s| s.split("-----").next())
        .unwrap_or("")
}
