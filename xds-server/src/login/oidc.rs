//! An OpenID Connect client, as small as `kubeplex login` needs: discovery,
//! the token endpoint (authorization code + PKCE, refresh, device code),
//! the device authorization endpoint (RFC 8628) and revocation (RFC 7009).
//! A public client: no secret, PKCE instead.

use serde::Deserialize;

use super::claims::{self, IdTokenClaims};
use super::{LoginError, shorten};
use crate::cluster_http::{self, Credentials};

/// The device grant's `grant_type`.
pub const DEVICE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A provider's endpoints, from its discovery document.
#[derive(Clone)]
pub struct Provider {
    /// The issuer URL.
    pub issuer: String,
    /// Where the browser goes.
    pub authorization_endpoint: String,
    /// Where codes, refresh tokens and device codes become tokens.
    pub token_endpoint: String,
    /// RFC 8628, if the provider supports the device grant.
    pub device_authorization_endpoint: Option<String>,
    /// RFC 7009, if the provider revokes tokens.
    pub revocation_endpoint: Option<String>,
    /// How to reach it (its CA, or the system roots).
    tls: Credentials,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.issuer)
            .field("token_endpoint", &self.token_endpoint)
            .finish()
    }
}

#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    device_authorization_endpoint: Option<String>,
    #[serde(default)]
    revocation_endpoint: Option<String>,
}

/// A token endpoint's success answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The ID token (what the gateway verifies).
    #[serde(default)]
    pub id_token: Option<String>,
    /// A refresh token, if the provider issued one (`offline_access`).
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// An OAuth error answer.
#[derive(Debug, Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// The device authorization answer (RFC 8628 §3.2).
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceAuthorization {
    /// What the CLI polls with.
    pub device_code: String,
    /// What the person types.
    pub user_code: String,
    /// Where the person goes.
    pub verification_uri: String,
    /// The same with the code filled in, if the provider offers it.
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    /// Seconds until the codes expire.
    pub expires_in: u64,
    /// Seconds between polls (default 5).
    #[serde(default = "default_interval")]
    pub interval: u64,
}

fn default_interval() -> u64 {
    5
}

/// One poll of a device grant.
#[derive(Debug)]
pub enum DevicePoll {
    /// Signed in.
    Done(TokenResponse),
    /// Not yet; poll again after the interval.
    Pending,
    /// Not yet; poll again after a longer interval.
    SlowDown,
}

impl Provider {
    /// Read `<issuer>/.well-known/openid-configuration`; TLS verified
    /// against `ca_pem` (or the system roots).
    pub async fn discover(issuer: &str, ca_pem: Option<&str>) -> Result<Provider, LoginError> {
        let tls = Credentials::with_ca(ca_pem.map(str::to_string));
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let what = format!("the identity provider's discovery document ({url})");
        let reply = cluster_http::get(&url, "application/json", &tls)
            .await
            .map_err(|source| LoginError::Http {
                what: what.clone(),
                source,
            })?;
        let doc: Discovery = json_answer(&what, reply.status, &reply.body)?;
        if doc.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(LoginError::Answer {
                what,
                status: reply.status,
                body: format!("it names issuer {:?}, not {issuer:?}", doc.issuer),
            });
        }
        Ok(Provider {
            issuer: issuer.to_string(),
            authorization_endpoint: doc.authorization_endpoint,
            token_endpoint: doc.token_endpoint,
            device_authorization_endpoint: doc.device_authorization_endpoint,
            revocation_endpoint: doc.revocation_endpoint,
            tls,
        })
    }

    /// Trade an authorization code (and its PKCE verifier) for tokens.
    pub async fn exchange_code(
        &self,
        client_id: &str,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<TokenResponse, LoginError> {
        let form = encode_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ]);
        self.token_request("the authorization code", &form).await
    }

    /// Trade a refresh token for new tokens.
    pub async fn refresh(
        &self,
        client_id: &str,
        refresh_token: &str,
    ) -> Result<TokenResponse, LoginError> {
        let form = encode_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", refresh_token),
        ]);
        self.token_request("the refresh", &form).await
    }

    /// Start a device grant (RFC 8628 §3.1), bound to a PKCE challenge
    /// (providers that do not know PKCE here ignore it; Keycloak can
    /// require it).
    pub async fn start_device(
        &self,
        client_id: &str,
        scopes: &[String],
        code_challenge: &str,
    ) -> Result<DeviceAuthorization, LoginError> {
        let Some(url) = &self.device_authorization_endpoint else {
            return Err(LoginError::Refused {
                what: "the device sign-in".into(),
                error: "unsupported".into(),
                description: format!(
                    "{} has no device_authorization_endpoint; sign in with a browser (drop --device)",
                    self.issuer
                ),
            });
        };
        let form = encode_form(&[
            ("client_id", client_id),
            ("scope", &scopes.join(" ")),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
        ]);
        let what = "the device sign-in";
        let reply = cluster_http::post_form(url, &form, &self.tls)
            .await
            .map_err(|source| LoginError::Http {
                what: what.into(),
                source,
            })?;
        if reply.status != 200 {
            return Err(oauth_refusal(what, reply.status, &reply.body));
        }
        json_answer(what, reply.status, &reply.body)
    }

    /// Poll the token endpoint once for a device grant.
    pub async fn poll_device(
        &self,
        client_id: &str,
        device_code: &str,
        code_verifier: &str,
    ) -> Result<DevicePoll, LoginError> {
        let form = encode_form(&[
            ("grant_type", DEVICE_GRANT_TYPE),
            ("client_id", client_id),
            ("device_code", device_code),
            ("code_verifier", code_verifier),
        ]);
        match self.token_request("the device sign-in", &form).await {
            Ok(tokens) => Ok(DevicePoll::Done(tokens)),
            Err(LoginError::Refused { error, .. }) if error == "authorization_pending" => {
                Ok(DevicePoll::Pending)
            }
            Err(LoginError::Refused { error, .. }) if error == "slow_down" => {
                Ok(DevicePoll::SlowDown)
            }
            Err(e) => Err(e),
        }
    }

    /// Revoke a refresh token (RFC 7009), when the provider can; Ok(false)
    /// when it has no revocation endpoint.
    pub async fn revoke(&self, client_id: &str, refresh_token: &str) -> Result<bool, LoginError> {
        let Some(url) = &self.revocation_endpoint else {
            return Ok(false);
        };
        let form = encode_form(&[
            ("client_id", client_id),
            ("token", refresh_token),
            ("token_type_hint", "refresh_token"),
        ]);
        let what = "revoking the refresh token";
        let reply = cluster_http::post_form(url, &form, &self.tls)
            .await
            .map_err(|source| LoginError::Http {
                what: what.into(),
                source,
            })?;
        if reply.status != 200 {
            return Err(oauth_refusal(what, reply.status, &reply.body));
        }
        Ok(true)
    }

    async fn token_request(&self, what: &str, form: &str) -> Result<TokenResponse, LoginError> {
        let reply = cluster_http::post_form(&self.token_endpoint, form, &self.tls)
            .await
            .map_err(|source| LoginError::Http {
                what: what.to_string(),
                source,
            })?;
        if reply.status != 200 {
            return Err(oauth_refusal(what, reply.status, &reply.body));
        }
        json_answer(what, reply.status, &reply.body)
    }
}

impl TokenResponse {
    /// The ID token and its claims, checked against what was asked for.
    pub fn id_token(
        &self,
        issuer: &str,
        client_id: &str,
        nonce: Option<&str>,
    ) -> Result<(String, IdTokenClaims), LoginError> {
        let token = self.id_token.clone().ok_or_else(|| {
            LoginError::BadIdToken(
                "the provider sent no id_token (is the openid scope granted to this client?)"
                    .into(),
            )
        })?;
        let claims = claims::decode(&token)?;
        claims.check(issuer, client_id, nonce)?;
        Ok((token, claims))
    }
}

fn json_answer<T: serde::de::DeserializeOwned>(
    what: &str,
    status: u16,
    body: &[u8],
) -> Result<T, LoginError> {
    if status != 200 {
        return Err(LoginError::Answer {
            what: what.to_string(),
            status,
            body: shorten(body),
        });
    }
    serde_json::from_slice(body).map_err(|e| LoginError::Answer {
        what: what.to_string(),
        status,
        body: format!("not the expected JSON ({e}): {}", shorten(body)),
    })
}

fn oauth_refusal(what: &str, status: u16, body: &[u8]) -> LoginError {
    match serde_json::from_slice::<OAuthError>(body) {
        Ok(e) => LoginError::Refused {
            what: what.to_string(),
            error: e.error,
            description: e.error_description,
        },
        Err(_) => LoginError::Answer {
            what: what.to_string(),
            status,
            body: shorten(body),
        },
    }
}

/// Kept as they are in a form or query value: RFC 3986's unreserved
/// characters; everything else is percent-encoded.
const FORM_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `application/x-www-form-urlencoded` (also a URL's query).
pub fn encode_form(pairs: &[(&str, &str)]) -> String {
    use percent_encoding::utf8_percent_encode;
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, FORM_VALUE),
                utf8_percent_encode(v, FORM_VALUE)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}
