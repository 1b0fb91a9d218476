//! A fresh token for kubectl: the cached one while it is fresh, else one
//! refresh under the session's lock (whoever waited on the lock reads the
//! token the holder stored), else a new interactive sign-in when someone is
//! at a terminal, else a message that says to log in.

use serde_json::json;

use super::LoginError;
use super::cache::{Cache, Session, SessionKey, Tokens};
use super::oidc::{Provider, TokenResponse};

/// Whether a person can sign in again when the refresh fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    /// kubectl passed a terminal (`interactiveMode: IfAvailable`).
    Allowed,
    /// No one to ask: fail with "run kubeplex login".
    Never,
}

/// How a fresh token was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The cached token was fresh.
    Cached,
    /// Another process refreshed it while this one waited for the lock.
    RefreshedByAnother,
    /// This process refreshed it.
    Refreshed,
    /// This process signed in again.
    SignedIn,
}

/// The session's token, refreshed if it must be. `sign_in` runs a new
/// interactive sign-in (only with [`Interaction::Allowed`]).
pub async fn fresh_tokens<F, Fut>(
    cache: &Cache,
    key: &SessionKey,
    now: impl Fn() -> i64,
    interaction: Interaction,
    sign_in: F,
) -> Result<(Session, Freshness), LoginError>
where
    F: FnOnce(Session, Provider) -> Fut,
    Fut: Future<Output = Result<TokenResponse, LoginError>>,
{
    let not_logged_in = || LoginError::NotLoggedIn {
        gateway: key.gateway.clone(),
    };
    let session = cache.read(key)?.ok_or_else(not_logged_in)?;
    if !session.tokens.needs_refresh(now()) {
        return Ok((session, Freshness::Cached));
    }
    // Blocking: flock waits in the kernel; this process has nothing else to do.
    let _lock = cache.lock(key)?;
    let mut session = cache.read(key)?.ok_or_else(not_logged_in)?;
    if !session.tokens.needs_refresh(now()) {
        return Ok((session, Freshness::RefreshedByAnother));
    }
    let provider = Provider::discover(
        &key.issuer,
        session.settings.issuer_certificate_authority.as_deref(),
    )
    .await?;
    let refreshed = match &session.tokens.refresh_token {
        Some(refresh_token) => provider
            .refresh(&key.client_id, refresh_token)
            .await
            .map(|answer| (answer, Freshness::Refreshed)),
        None => Err(LoginError::Refused {
            what: "the refresh".into(),
            error: "no refresh token".into(),
            description: "the provider issued none (offline_access not granted?)".into(),
        }),
    };
    let (answer, how) = match (refreshed, interaction) {
        (Ok(done), _) => done,
        // The provider answered and said no (revoked, expired, reused):
        // only a new sign-in helps. A transport error is reported as is.
        (Err(refusal @ LoginError::Refused { .. }), Interaction::Allowed) => {
            eprintln!("kubeplex: {refusal}; signing in again");
            (
                sign_in(session.clone(), provider).await?,
                Freshness::SignedIn,
            )
        }
        (
            Err(LoginError::Refused {
                error, description, ..
            }),
            Interaction::Never,
        ) => {
            return Err(LoginError::SessionEnded {
                gateway: key.gateway.clone(),
                why: if description.is_empty() {
                    error
                } else {
                    format!("{error}: {description}")
                },
            });
        }
        (Err(other), _) => return Err(other),
    };
    session.tokens = tokens_from(&answer, key, None, session.tokens.refresh_token.as_deref())?;
    cache.write(&session)?;
    Ok((session, how))
}

/// The cached form of a token answer. A provider that does not rotate
/// refresh tokens sends none on refresh: keep the one that worked.
pub fn tokens_from(
    answer: &TokenResponse,
    key: &SessionKey,
    nonce: Option<&str>,
    previous_refresh_token: Option<&str>,
) -> Result<Tokens, LoginError> {
    let (id_token, claims) = answer.id_token(&key.issuer, &key.client_id, nonce)?;
    Ok(Tokens {
        id_token,
        refresh_token: answer
            .refresh_token
            .clone()
            .or_else(|| previous_refresh_token.map(str::to_string)),
        expires_at: claims.exp,
        issued_at: claims.iat.unwrap_or(claims.exp),
    })
}

/// The `ExecCredential` kubectl reads from the plugin's stdout.
pub fn exec_credential(tokens: &Tokens) -> String {
    let expiry = kubeplex_filter_core::time::rfc3339(tokens.expires_at);
    json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {
            "token": tokens.id_token,
            "expirationTimestamp": expiry,
        }
    })
    .to_string()
}

/// Whether kubectl says a person is at a terminal: `KUBERNETES_EXEC_INFO`'s
/// `spec.interactive`.
pub fn interaction_from_exec_info(exec_info: Option<&str>) -> Interaction {
    let interactive = exec_info
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .and_then(|v| v["spec"]["interactive"].as_bool())
        .unwrap_or(false);
    if interactive {
        Interaction::Allowed
    } else {
        Interaction::Never
    }
}

#[cfg(test)]
mod tests;
