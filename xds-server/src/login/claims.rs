//! The claims of an ID token, read without checking its signature: the
//! gateway checks that on every request. The CLI reads them to know when
//! the token expires and to check it is the one it asked for (issuer,
//! audience, nonce), so a mixed-up provider answer is caught at login.

use base64::Engine;
use serde::Deserialize;

use super::LoginError;

/// The claims the CLI uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject.
    #[serde(default)]
    pub sub: String,
    /// Audience: one string or a list.
    #[serde(default, deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds (the expiry when absent: no lifetime known).
    #[serde(default)]
    pub iat: Option<i64>,
    /// The login request's nonce (browser flow).
    #[serde(default)]
    pub nonce: Option<String>,
    /// Email, when the provider sends one.
    #[serde(default)]
    pub email: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// Decode the payload of a compact JWS.
pub fn decode(token: &str) -> Result<IdTokenClaims, LoginError> {
    let bad = |why: &str| LoginError::BadIdToken(why.to_string());
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a JWT"));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| bad("its payload is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|e| LoginError::BadIdToken(format!("its claims: {e}")))
}

impl IdTokenClaims {
    /// The token is for `client_id` from `issuer` (and carries `nonce`
    /// when one was sent).
    pub fn check(
        &self,
        issuer: &str,
        client_id: &str,
        nonce: Option<&str>,
    ) -> Result<(), LoginError> {
        if self.iss.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(LoginError::BadIdToken(format!(
                "issued by {:?}, not {issuer:?}",
                self.iss
            )));
        }
        if !self.aud.iter().any(|a| a == client_id) {
            return Err(LoginError::BadIdToken(format!(
                "its audience {:?} does not include the client {client_id:?}",
                self.aud
            )));
        }
        if let Some(nonce) = nonce
            && self.nonce.as_deref() != Some(nonce)
        {
            return Err(LoginError::BadIdToken(
                "its nonce is not the login request's".into(),
            ));
        }
        Ok(())
    }
}
