//! What the identity provider remembers between requests, with no HTTP in
//! it: authorization codes (bound to a PKCE challenge and a redirect URI),
//! device grants waiting for approval, and refresh tokens (one use each:
//! every refresh returns a new one and retires the old one).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::ScriptedUser;

/// How long an authorization code, and a device grant, may wait.
const CODE_LIFETIME: Duration = Duration::from_secs(120);

/// Why a grant was refused: the OAuth 2.0 `error` codes (RFC 6749 §5.2,
/// RFC 8628 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// Unknown, used, expired or revoked code or refresh token; a PKCE
    /// verifier or redirect URI that does not match.
    #[error("invalid_grant")]
    InvalidGrant,
    /// The device grant is not approved yet: poll again.
    #[error("authorization_pending")]
    AuthorizationPending,
    /// Polled faster than the interval: wait longer.
    #[error("slow_down")]
    SlowDown,
    /// The user refused the device grant.
    #[error("access_denied")]
    AccessDenied,
    /// The device grant was not approved in time.
    #[error("expired_token")]
    ExpiredToken,
    /// A required parameter is missing or malformed.
    #[error("invalid_request")]
    InvalidRequest,
}

/// What a code was issued for.
#[derive(Debug, Clone)]
struct PendingCode {
    user: ScriptedUser,
    redirect_uri: String,
    code_challenge: String,
    nonce: Option<String>,
    offline: bool,
    issued: Instant,
}

/// A device grant (RFC 8628) between `device_authorization` and the
/// token it ends in.
#[derive(Debug, Clone)]
struct DeviceGrant {
    user_code: String,
    approved: Option<Result<ScriptedUser, ()>>,
    last_poll: Option<Instant>,
    offline: bool,
    issued: Instant,
}

/// The grants of one identity provider.
#[derive(Debug, Default)]
pub struct Grants {
    codes: HashMap<String, PendingCode>,
    devices: HashMap<String, DeviceGrant>,
    refresh_tokens: HashMap<String, ScriptedUser>,
}

/// What a successful grant hands to the token endpoint.
#[derive(Debug, Clone)]
pub struct Granted {
    /// Whose tokens to issue.
    pub user: ScriptedUser,
    /// The `nonce` of the authorization request, for the ID token.
    pub nonce: Option<String>,
    /// Whether `offline_access` was asked for: only then is a refresh
    /// token issued (as Dex and Okta do).
    pub offline: bool,
}

/// A fresh random value, base64url (`bytes` random bytes).
pub fn random_token(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(raw)
}

/// PKCE S256: `base64url(SHA-256(verifier)) == challenge` (RFC 7636 §4.6).
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let valid_verifier = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    valid_verifier && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

impl Grants {
    /// A code for `user`, to be redeemed once, with the PKCE verifier of
    /// `code_challenge`, at the same `redirect_uri`.
    pub fn issue_code(
        &mut self,
        user: ScriptedUser,
        redirect_uri: &str,
        code_challenge: &str,
        nonce: Option<String>,
        offline: bool,
    ) -> String {
        let code = random_token(24);
        self.codes.insert(
            code.clone(),
            PendingCode {
                user,
                redirect_uri: redirect_uri.to_string(),
                code_challenge: code_challenge.to_string(),
                nonce,
                offline,
                issued: Instant::now(),
            },
        );
        code
    }

    /// Redeem a code: it is gone afterwards, whatever the outcome.
    pub fn redeem_code(
        &mut self,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<Granted, GrantError> {
        let pending = self.codes.remove(code).ok_or(GrantError::InvalidGrant)?;
        let fresh = pending.issued.elapsed() < CODE_LIFETIME;
        if !fresh
            || pending.redirect_uri != redirect_uri
            || !pkce_matches(verifier, &pending.code_challenge)
        {
            return Err(GrantError::InvalidGrant);
        }
        Ok(Granted {
            user: pending.user,
            nonce: pending.nonce,
            offline: pending.offline,
        })
    }

    /// A new device grant: `(device_code, user_code)`.
    pub fn start_device(&mut self, offline: bool) -> (String, String) {
        let device_code = random_token(24);
        // Eight letters a person can type, as RFC 8628 §6.1 suggests.
        const LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
        let user_code: String = (0..8)
            .map(|i| {
                let letter = LETTERS[rand::random::<usize>() % LETTERS.len()] as char;
                if i == 4 {
                    format!("-{letter}")
                } else {
                    letter.to_string()
                }
            })
            .collect();
        self.devices.insert(
            device_code.clone(),
            DeviceGrant {
                user_code: user_code.clone(),
                approved: None,
                last_poll: None,
                offline,
                issued: Instant::now(),
            },
        );
        (device_code, user_code)
    }

    /// The user behind `user_code` approved (`Some(user)`) or denied
    /// (`None`); false if no pending grant has this code.
    pub fn decide_device(&mut self, user_code: &str, user: Option<ScriptedUser>) -> bool {
        let grant = self
            .devices
            .values_mut()
            .find(|g| g.user_code.eq_ignore_ascii_case(user_code) && g.approved.is_none());
        match grant {
            Some(grant) => {
                grant.approved = Some(user.ok_or(()));
                true
            }
            None => false,
        }
    }

    /// The user codes waiting for a decision.
    pub fn pending_user_codes(&self) -> Vec<String> {
        self.devices
            .values()
            .filter(|g| g.approved.is_none())
            .map(|g| g.user_code.clone())
            .collect()
    }

    /// One poll of the token endpoint for `device_code`.
    pub fn poll_device(
        &mut self,
        device_code: &str,
        interval: Duration,
    ) -> Result<Granted, GrantError> {
        let grant = self
            .devices
            .get_mut(device_code)
            .ok_or(GrantError::InvalidGrant)?;
        if grant.issued.elapsed() > CODE_LIFETIME {
            self.devices.remove(device_code);
            return Err(GrantError::ExpiredToken);
        }
        let now = Instant::now();
        // Half the interval of leeway: a client that sleeps `interval`
        // between polls is never told to slow down.
        let too_soon = grant
            .last_poll
            .is_some_and(|last| now.duration_since(last) < interval / 2);
        grant.last_poll = Some(now);
        if too_soon {
            return Err(GrantError::SlowDown);
        }
        let offline = grant.offline;
        match grant.approved.clone() {
            None => Err(GrantError::AuthorizationPending),
            Some(outcome) => {
                self.devices.remove(device_code);
                outcome
                    .map(|user| Granted {
                        user,
                        nonce: None,
                        offline,
                    })
                    .map_err(|()| GrantError::AccessDenied)
            }
        }
    }

    /// A new refresh token for `user`.
    pub fn issue_refresh_token(&mut self, user: ScriptedUser) -> String {
        let token = random_token(32);
        self.refresh_tokens.insert(token.clone(), user);
        token
    }

    /// Use a refresh token: it is retired, its user returned.
    pub fn redeem_refresh_token(&mut self, token: &str) -> Result<ScriptedUser, GrantError> {
        self.refresh_tokens
            .remove(token)
            .ok_or(GrantError::InvalidGrant)
    }

    /// Revoke one refresh token (RFC 7009: unknown tokens are no error).
    pub fn revoke(&mut self, token: &str) {
        self.refresh_tokens.remove(token);
    }

    /// Revoke every refresh token of `subject`; how many there were.
    pub fn revoke_subject(&mut self, subject: &str) -> usize {
        let before = self.refresh_tokens.len();
        self.refresh_tokens
            .retain(|_, user| user.subject != subject);
        before - self.refresh_tokens.len()
    }

    /// Live refresh tokens.
    pub fn live_refresh_tokens(&self) -> usize {
        self.refresh_tokens.len()
    }
}
