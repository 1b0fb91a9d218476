//! JWKS documents (RFC 7517) with RSA, EC and OKP keys (RFC 7518, RFC 8037).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kubeplex_proto::filter::v1 as pb;
use serde_json::{Map, Value};

use super::public_key_der::{self, SECP256R1, SECP384R1, SECP521R1};
use super::{KeyError, VerificationKey};

pub fn from_jwks(json: &str) -> Result<Vec<VerificationKey>, KeyError> {
    let doc: Value = serde_json::from_str(json).map_err(|e| KeyError::NotJwks(e.to_string()))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| KeyError::NotJwks("expected an object with a `keys` list".to_string()))?;
    let mut out: Vec<VerificationKey> = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        let Some(key) = key.as_object() else {
            return Err(KeyError::BadJwk {
                index,
                kid: None,
                reason: "a JWK must be a JSON object".to_string(),
            });
        };
        let Some(parsed) = from_jwk(index, key)? else {
            continue;
        };
        if let Some(kid) = &parsed.kid
            && out.iter().any(|k| k.kid.as_ref() == Some(kid))
        {
            return Err(KeyError::BadJwk {
                index,
                kid: Some(kid.clone()),
                reason: "duplicate kid: a token's kid must select exactly one key".to_string(),
            });
        }
        out.push(parsed);
    }
    Ok(out)
}

/// One JWK; `None` when it is not a signing key (`use` other than `sig`).
fn from_jwk(index: usize, key: &Map<String, Value>) -> Result<Option<VerificationKey>, KeyError> {
    let jwk = Jwk {
        index,
        key,
        kid: optional_string(index, None, key, "kid")?,
    };
    let kid = jwk.kid.clone();
    if let Some(usage) = jwk.optional("use")?
        && usage != "sig"
    {
        return Ok(None);
    }
    let alg = jwk.optional("alg")?;
    let kty = jwk.required("kty")?;
    if kty == "oct" {
        return Err(KeyError::SymmetricKey { index, kid });
    }
    if key.contains_key("d") {
        return Err(jwk.bad(
            "holds private key material (`d`); a JWKS for verification must hold public keys only",
        ));
    }
    let (key_type, public_key) = match kty.as_str() {
        "RSA" => {
            let n = jwk.bytes("n")?;
            let e = jwk.bytes("e")?;
            let der = public_key_der::rsa_spki(&n, &e).map_err(|r| jwk.bad(&r))?;
            (pb::KeyType::Rsa, der)
        }
        "EC" => ec_public_key(&jwk, &kty)?,
        "OKP" => {
            let crv = jwk.required("crv")?;
            if crv != "Ed25519" {
                return Err(jwk.unsupported(&kty, &crv));
            }
            let x = jwk.bytes("x")?;
            let raw = public_key_der::ed25519_raw(&x).map_err(|r| jwk.bad(&r))?;
            (pb::KeyType::Ed25519, raw)
        }
        other => return Err(jwk.unsupported(other, "")),
    };
    if let Some(alg) = &alg {
        check_alg(key_type, alg).map_err(|r| jwk.bad(&r))?;
    }
    Ok(Some(VerificationKey {
        kid,
        key_type,
        public_key,
        alg,
    }))
}

/// An `EC` JWK: the curve, and `x`/`y` of its size → (key type, SPKI DER).
fn ec_public_key(jwk: &Jwk<'_>, kty: &str) -> Result<(pb::KeyType, Vec<u8>), KeyError> {
    let crv = jwk.required("crv")?;
    let (curve, size) = match crv.as_str() {
        "P-256" => (SECP256R1, 32),
        "P-384" => (SECP384R1, 48),
        "P-521" => (SECP521R1, 66),
        other => return Err(jwk.unsupported(kty, other)),
    };
    let x = jwk.bytes("x")?;
    let y = jwk.bytes("y")?;
    if x.len() != size || y.len() != size {
        return Err(jwk.bad(&format!(
            "{crv} coordinates must be {size} bytes each, got x {} and y {}",
            x.len(),
            y.len()
        )));
    }
    let mut point = Vec::with_capacity(1 + 2 * size);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    public_key_der::ec_spki(curve, &point).map_err(|r| jwk.bad(&r))
}

/// The JWS algorithms the filter verifies, per key type.
pub fn algs_for(key_type: pb::KeyType) -> &'static [&'static str] {
    match key_type {
        pb::KeyType::Rsa => &["RS256", "RS384", "RS512"],
        pb::KeyType::EcP256 => &["ES256"],
        pb::KeyType::EcP384 => &["ES384"],
        pb::KeyType::EcP521 => &["ES512"],
        // `Ed25519` is RFC 9864's fully specified name for the same thing.
        pb::KeyType::Ed25519 => &["EdDSA", "Ed25519"],
        pb::KeyType::Unspecified => &[],
    }
}

fn check_alg(key_type: pb::KeyType, alg: &str) -> Result<(), String> {
    let allowed = algs_for(key_type);
    if allowed.contains(&alg) {
        Ok(())
    } else {
        Err(format!(
            "alg {alg} does not fit the {} key (expected {})",
            key_type_name(key_type),
            allowed.join(" or ")
        ))
    }
}

/// Human name of a key type, for messages.
pub fn key_type_name(key_type: pb::KeyType) -> &'static str {
    match key_type {
        pb::KeyType::Rsa => "RSA",
        pb::KeyType::EcP256 => "EC P-256",
        pb::KeyType::EcP384 => "EC P-384",
        pb::KeyType::EcP521 => "EC P-521",
        pb::KeyType::Ed25519 => "Ed25519",
        pb::KeyType::Unspecified => "unspecified",
    }
}

fn optional_string(
    index: usize,
    kid: Option<&String>,
    key: &Map<String, Value>,
    member: &str,
) -> Result<Option<String>, KeyError> {
    match key.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(KeyError::BadJwk {
            index,
            kid: kid.cloned(),
            reason: format!("`{member}` must be a string"),
        }),
    }
}

/// One JWK being read, for precise errors.
struct Jwk<'a> {
    index: usize,
    key: &'a Map<String, Value>,
    kid: Option<String>,
}

impl Jwk<'_> {
    fn bad(&self, reason: &str) -> KeyError {
        KeyError::BadJwk {
            index: self.index,
            kid: self.kid.clone(),
            reason: reason.to_string(),
        }
    }

    fn unsupported(&self, kty: &str, crv: &str) -> KeyError {
        KeyError::UnsupportedKeyType {
            index: self.index,
            kid: self.kid.clone(),
            kty: kty.to_string(),
            crv: if crv.is_empty() {
                String::new()
            } else {
                format!(" {crv}")
            },
        }
    }

    fn optional(&self, member: &str) -> Result<Option<String>, KeyError> {
        optional_string(self.index, self.kid.as_ref(), self.key, member)
    }

    fn required(&self, member: &str) -> Result<String, KeyError> {
        self.optional(member)?
            .ok_or_else(|| self.bad(&format!("`{member}` is missing")))
    }

    /// A base64url member (RFC 7515: no padding; trailing `=` tolerated).
    fn bytes(&self, member: &str) -> Result<Vec<u8>, KeyError> {
        let text = self.required(member)?;
        URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|e| self.bad(&format!("`{member}` is not base64url: {e}")))
    }
}
