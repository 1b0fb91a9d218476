//! `kubeplex token mint`: sign a JWT with a PEM private key. The algorithm
//! follows the key: RSA → RS256, P-256 → ES256, P-384 → ES384,
//! Ed25519 → EdDSA. jwt-compact encodes and signs; it has no ES384, so
//! [`Es384`] adds it through jwt-compact's own `Algorithm` trait.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_compact::alg::{Ed25519, Es256, Rsa};
use jwt_compact::{AlgorithmExt, Claims, CreationError, Header};
use pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding, PrivateKeyInfo};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Map, Value, json};
use spki::ObjectIdentifier;
use spki::der::Decode;

use crate::inputs::keys::public_key_der::{
    ID_EC_PUBLIC_KEY, ID_ED25519, RSA_ENCRYPTION, SECP256R1, SECP384R1,
};

#[cfg(test)]
mod tests;

/// What to put in the token.
#[derive(Debug, Clone)]
pub struct MintRequest {
    /// `iss`: must be an issuer the gateway trusts.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `groups`, omitted when empty.
    pub groups: Vec<String>,
    /// `aud`: a string when one, a list when several.
    pub audience: Vec<String>,
    /// `ctx`: the multikube-style cluster claim.
    pub context: Option<String>,
    /// `exp` = `now` + `ttl`.
    pub ttl: Duration,
    /// `jti`; default a random 128-bit hex string.
    pub jti: Option<String>,
    /// Header `kid`.
    pub key_id: Option<String>,
    /// Merged last, so tests can set `exp`/`nbf`/`iat` (or anything) exactly.
    pub extra_claims: Map<String, Value>,
    /// `iat` and `nbf`.
    pub now: SystemTime,
}

/// A private key that can sign JWTs. `Debug` never shows key material.
#[derive(Clone)]
pub enum SigningKey {
    /// RSA: signs RS256.
    Rsa(Box<rsa::RsaPrivateKey>),
    /// EC P-256: signs ES256.
    P256(p256::ecdsa::SigningKey),
    /// EC P-384: signs ES384.
    P384(p384::ecdsa::SigningKey),
    /// Ed25519: signs EdDSA.
    Ed25519(ed25519_dalek::SigningKey),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({} <redacted>)", self.alg())
    }
}

impl SigningKey {
    /// The JWS `alg` this key signs with.
    pub fn alg(&self) -> &'static str {
        match self {
            SigningKey::Rsa(_) => "RS256",
            SigningKey::P256(_) => "ES256",
            SigningKey::P384(_) => "ES384",
            SigningKey::Ed25519(_) => "EdDSA",
        }
    }
}

/// Why a key could not be loaded or a token not minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// No PEM private key block in the text.
    #[error("no PEM private key found (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)")]
    NoKey,
    /// A key block that does not decode; the cause never quotes key bytes.
    #[error("bad {label}")]
    BadKey {
        /// The PEM label, e.g. `PRIVATE KEY`.
        label: String,
        /// Why it does not decode.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A key kubeplex cannot sign with (e.g. P-521, encrypted PKCS#8).
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// A duration like `15m` that does not parse.
    #[error("bad duration `{input}`: {reason}")]
    BadDuration {
        /// The text given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request itself is unusable (e.g. no audience, `now` before 1970).
    #[error("bad mint request: {0}")]
    BadRequest(String),
    /// Encoding the token failed.
    #[error("signing failed")]
    Sign(#[source] CreationError),
    /// The public half could not be encoded as PEM.
    #[error("cannot encode the public key")]
    PublicKey(#[source] spki::Error),
}

/// Load a PEM private key: PKCS#8 (RSA, EC P-256, EC P-384, Ed25519),
/// PKCS#1 RSA or SEC1 EC.
pub fn load_signing_key(pem: &str) -> Result<SigningKey, MintError> {
    let block = crate::inputs::keys::pem_keys::pem_blocks(pem)
        .into_iter()
        .find(|b| crate::inputs::keys::pem_keys::block_label(b).contains("PRIVATE KEY"))
        .ok_or(MintError::NoKey)?;
    let (label, der) =
        spki::der::pem::decode_vec(block.as_bytes()).map_err(|e| MintError::BadKey {
            label: crate::inputs::keys::pem_keys::block_label(block).to_string(),
            // pem-rfc7468's error is not a `std::error::Error` here
            source: e.to_string().into(),
        })?;
    let bad = &|source: Box<dyn std::error::Error + Send + Sync>| MintError::BadKey {
        label: label.to_string(),
        source,
    };
    match label {
        "PRIVATE KEY" => from_pkcs8(&der, bad),
        "RSA PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs1_der(&der)
            .map(|k| SigningKey::Rsa(Box::new(k)))
            .map_err(|e| bad(e.into())),
        "EC PRIVATE KEY" => from_sec1(&der),
        "ENCRYPTED PRIVATE KEY" => Err(MintError::UnsupportedKey(
            "encrypted private key; decrypt it first (openssl pkey -in KEY -out PLAIN)".to_string(),
        )),
        other => Err(MintError::UnsupportedKey(format!("PEM {other}"))),
    }
}

/// A key decoding error, as [`MintError::BadKey`] of the block's label.
type Bad<'a> = &'a dyn Fn(Box<dyn std::error::Error + Send + Sync>) -> MintError;

/// A PKCS#8 `PRIVATE KEY`: RSA, EC P-256 or P-384, or Ed25519.
fn from_pkcs8(der: &[u8], bad: Bad<'_>) -> Result<SigningKey, MintError> {
    let info = PrivateKeyInfo::from_der(der).map_err(|e| bad(e.into()))?;
    let oid = info.algorithm.oid;
    if oid == RSA_ENCRYPTION {
        rsa::RsaPrivateKey::from_pkcs8_der(der)
            .map(|k| SigningKey::Rsa(Box::new(k)))
            .map_err(|e| bad(e.into()))
    } else if oid == ID_EC_PUBLIC_KEY {
        let curve: ObjectIdentifier = info
            .algorithm
            .parameters_oid()
            .map_err(|_| bad("EC key without a named curve".into()))?;
        if curve == SECP256R1 {
            p256::SecretKey::from_pkcs8_der(der)
                .map(|k| SigningKey::P256(k.into()))
                .map_err(|e| bad(e.into()))
        } else if curve == SECP384R1 {
            p384::SecretKey::from_pkcs8_der(der)
                .map(|k| SigningKey::P384(k.into()))
                .map_err(|e| bad(e.into()))
        } else {
            Err(unsupported_curve(curve))
        }
    } else if oid == ID_ED25519 {
        ed25519_dalek::SigningKey::from_pkcs8_der(der)
            .map(SigningKey::Ed25519)
            .map_err(|e| bad(e.into()))
    } else {
        Err(MintError::UnsupportedKey(format!("key algorithm {oid}")))
    }
}

/// A SEC1 `EC PRIVATE KEY` on P-256 or P-384.
fn from_sec1(der: &[u8]) -> Result<SigningKey, MintError> {
    if let Ok(k) = p256::SecretKey::from_sec1_der(der) {
        Ok(SigningKey::P256(k.into()))
    } else if let Ok(k) = p384::SecretKey::from_sec1_der(der) {
        Ok(SigningKey::P384(k.into()))
    } else {
        Err(MintError::UnsupportedKey(
            "EC key on a curve other than P-256 or P-384 (P-521 keys can verify but kubeplex cannot sign with them)".to_string(),
        ))
    }
}

fn unsupported_curve(curve: ObjectIdentifier) -> MintError {
    MintError::UnsupportedKey(format!(
        "EC curve {curve}; kubeplex signs with P-256 or P-384 (P-521 keys can verify but not mint)"
    ))
}

/// Sign a token: header `{alg, typ: JWT, kid?}`, claims `iss sub aud iat nbf
/// exp jti` plus `groups`/`ctx` when given, then `extra_claims`.
pub fn mint(key: &SigningKey, req: &MintRequest) -> Result<String, MintError> {
    if req.audience.is_empty() {
        return Err(MintError::BadRequest(
            "at least one audience is required".to_string(),
        ));
    }
    let now = req
        .now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| MintError::BadRequest("`now` is before 1970".to_string()))?
        .as_secs();
    let mut header = Header::empty().with_token_type("JWT");
    if let Some(kid) = &req.key_id {
        header = header.with_key_id(kid.clone());
    }
    // Every claim is a custom one, so `extra_claims` can override the
    // times too (jwt-compact's typed times would be a second `exp`).
    let claims = Claims::new(claims(req, now));
    match key {
        SigningKey::Rsa(k) => Rsa::rs256().token(&header, &claims, k),
        SigningKey::P256(k) => Es256.token(&header, &claims, k),
        SigningKey::P384(k) => Es384.token(&header, &claims, k),
        SigningKey::Ed25519(k) => Ed25519.token(&header, &claims, k),
    }
    .map_err(MintError::Sign)
}

/// The claims of `req` minted at `now` (unix seconds).
fn claims(req: &MintRequest, now: u64) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), req.issuer.clone().into());
    claims.insert("sub".into(), req.subject.clone().into());
    claims.insert(
        "aud".into(),
        match req.audience.as_slice() {
            [one] => one.clone().into(),
            many => many.to_vec().into(),
        },
    );
    claims.insert("iat".into(), now.into());
    claims.insert("nbf".into(), now.into());
    claims.insert("exp".into(), now.saturating_add(req.ttl.as_secs()).into());
    let jti = req
        .jti
        .clone()
        .unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()));
    claims.insert("jti".into(), jti.into());
    if !req.groups.is_empty() {
        claims.insert("groups".into(), req.groups.clone().into());
    }
    if let Some(ctx) = &req.context {
        claims.insert("ctx".into(), ctx.clone().into());
    }
    for (k, v) in &req.extra_claims {
        claims.insert(k.clone(), v.clone());
    }
    claims
}

/// ES384 (ECDSA on P-384 with SHA-384) for jwt-compact, which ships ES256
/// only. The signature is the fixed-size `r‖s` of RFC 7518 §3.4.
#[derive(Debug, Clone, Copy, Default)]
pub struct Es384;

/// An ES384 signature.
#[derive(Debug, Clone)]
pub struct Es384Signature(p384::ecdsa::Signature);

impl jwt_compact::AlgorithmSignature for Es384Signature {
    const LENGTH: Option<std::num::NonZeroUsize> = std::num::NonZeroUsize::new(96);

    fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
        Ok(Es384Signature(p384::ecdsa::Signature::from_slice(slice)?))
    }

    fn as_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Owned(self.0.to_bytes().to_vec())
    }
}

impl jwt_compact::Algorithm for Es384 {
    type SigningKey = p384::ecdsa::SigningKey;
    type VerifyingKey = p384::ecdsa::VerifyingKey;
    type Signature = Es384Signature;

    fn name(&self) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("ES384")
    }

    fn sign(&self, signing_key: &Self::SigningKey, message: &[u8]) -> Self::Signature {
        use rsa::signature::Signer;
        Es384Signature(signing_key.sign(message))
    }

    fn verify_signature(
        &self,
        signature: &Self::Signature,
        verifying_key: &Self::VerifyingKey,
        message: &[u8],
    ) -> bool {
        use rsa::signature::Verifier;
        verifying_key.verify(message, &signature.0).is_ok()
    }
}

/// `90s`, `15m`, `1h`, `7d`, or combined (`1h30m`).
pub fn parse_duration(s: &str) -> Result<Duration, MintError> {
    let bad = |reason: &str| MintError::BadDuration {
        input: s.to_string(),
        reason: reason.to_string(),
    };
    let text = s.trim();
    if text.is_empty() {
        return Err(bad("empty; use e.g. 90s, 15m, 1h or 7d"));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad("units are s, m, h and d")),
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| bad("a number must come before each unit"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| bad("too long"))?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(bad("a unit (s, m, h or d) must follow the number"));
    }
    if total == 0 {
        return Err(bad("must be longer than zero"));
    }
    Ok(Duration::from_secs(total))
}

/// The public half as a JWK (`use: sig`, `alg` pinned), for a JWKS.
pub fn public_jwk(key: &SigningKey, kid: Option<&str>) -> Value {
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let mut jwk = match key {
        SigningKey::Rsa(k) => json!({
            "kty": "RSA",
            "n": b64(&k.n().to_bytes_be()),
            "e": b64(&k.e().to_bytes_be()),
        }),
        SigningKey::P256(k) => ec_jwk(
            "P-256",
            k.verifying_key().to_encoded_point(false).as_bytes(),
        ),
        SigningKey::P384(k) => ec_jwk(
            "P-384",
            k.verifying_key().to_encoded_point(false).as_bytes(),
        ),
        SigningKey::Ed25519(k) => json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64(k.verifying_key().as_bytes()),
        }),
    };
    jwk["use"] = "sig".into();
    jwk["alg"] = key.alg().into();
    if let Some(kid) = kid {
        jwk["kid"] = kid.into();
    }
    jwk
}

/// An EC JWK from an uncompressed SEC1 point `04‖x‖y`.
fn ec_jwk(crv: &str, point: &[u8]) -> Value {
    let half = (point.len() - 1) / 2;
    json!({
        "kty": "EC",
        "crv": crv,
        "x": URL_SAFE_NO_PAD.encode(&point[1..1 + half]),
        "y": URL_SAFE_NO_PAD.encode(&point[1 + half..]),
    })
}

/// The public half as a PEM `PUBLIC KEY` (SPKI), for `publicKeyFile`.
pub fn public_key_pem(key: &SigningKey) -> Result<String, MintError> {
    let pem = match key {
        SigningKey::Rsa(k) => k.to_public_key().to_public_key_pem(LineEnding::LF),
        SigningKey::P256(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
        SigningKey::P384(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
        SigningKey::Ed25519(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
    };
    pem.map_err(MintError::PublicKey)
}
