//! Compact JWS: signing a claim set with an issuer key (header
//! `{"alg","kid"}`, no `typ`, as kube-apiserver's go-jose signer writes it)
//! and splitting a token for verification.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::IssuerError;
use super::authenticator::TokenError;
use super::keys::IssuerKey;

/// The protected header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Signature algorithm.
    pub alg: String,
    /// Key id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kid: String,
}

/// `base64url(header).base64url(claims).base64url(signature)`.
pub fn sign(key: &IssuerKey, claims: &impl Serialize) -> Result<String, IssuerError> {
    let header = Header {
        alg: key.alg().to_string(),
        kid: key.kid().to_string(),
    };
    let signing_input = format!("{}.{}", b64_json(&header)?, b64_json(claims)?);
    let signature = key.sign(signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

fn b64_json(value: &impl Serialize) -> Result<String, IssuerError> {
    serde_json::to_vec(value)
        .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
        .map_err(|e| IssuerError::Signing(e.to_string()))
}

/// A token split into its parts; nothing verified yet.
#[derive(Debug, Clone)]
pub struct Parsed<'a> {
    /// The decoded header.
    pub header: Header,
    /// The decoded payload (JSON bytes).
    pub payload: Vec<u8>,
    /// `header.payload`, the signed bytes.
    pub signing_input: &'a str,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

/// Splits and decodes a compact JWS.
pub fn parse(token: &str) -> Result<Parsed<'_>, TokenError> {
    let (signing_input, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or(TokenError::Malformed)?;
    if payload.contains('.') {
        return Err(TokenError::Malformed);
    }
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| TokenError::Malformed)
    };
    let header: Header =
        serde_json::from_slice(&decode(header)?).map_err(|_| TokenError::Malformed)?;
    Ok(Parsed {
        header,
        payload: decode(payload)?,
        signing_input,
        signature: decode(signature)?,
    })
}
