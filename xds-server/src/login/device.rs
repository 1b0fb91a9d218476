//! Sign in on another device (RFC 8628): the CLI shows a URL and a code,
//! the person approves on any browser, the CLI polls the token endpoint at
//! the provider's interval until it answers.

use std::time::{Duration, Instant};

use super::LoginError;
use super::oidc::{DevicePoll, Provider, TokenResponse};

/// RFC 8628 §3.5: after `slow_down`, poll 5 seconds less often.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// Run the device grant; prompts go to stderr.
pub async fn sign_in(
    provider: &Provider,
    client_id: &str,
    scopes: &[String],
) -> Result<TokenResponse, LoginError> {
    let (verifier, challenge) = super::browser::pkce_pair();
    let grant = provider.start_device(client_id, scopes, &challenge).await?;
    eprintln!(
        "To sign in, open {} on any device and enter the code {}",
        grant.verification_uri, grant.user_code
    );
    if let Some(complete) = &grant.verification_uri_complete {
        eprintln!("(or open {complete})");
    }
    eprintln!("Waiting for you to approve…");
    let expires = Duration::from_secs(grant.expires_in);
    let deadline = Instant::now() + expires;
    let mut interval = Duration::from_secs(grant.interval.max(1));
    loop {
        // The provider's interval is the protocol's pacing, not a guess:
        // polling sooner is refused with slow_down.
        tokio::time::sleep(interval).await;
        if Instant::now() >= deadline {
            return Err(LoginError::TimedOut(expires));
        }
        match provider
            .poll_device(client_id, &grant.device_code, &verifier)
            .await?
        {
            DevicePoll::Done(tokens) => return Ok(tokens),
            DevicePoll::Pending => {}
            DevicePoll::SlowDown => interval += SLOW_DOWN_STEP,
        }
    }
}

/// Whether a browser can be opened here: not over SSH, and (on Linux and
/// the BSDs) only with a display or a `$BROWSER`.
pub fn browser_available() -> bool {
    browser_available_with(|name| std::env::var_os(name))
}

/// [`browser_available`] with the environment given. Over SSH a browser
/// would open on the remote machine (or, with X forwarding, hand the
/// loopback redirect to a browser whose `127.0.0.1` is not this one):
/// the device grant is the flow that works there.
pub fn browser_available_with(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
    if set("SSH_CONNECTION") || set("SSH_CLIENT") || set("SSH_TTY") {
        return false;
    }
    if cfg!(any(target_os = "macos", target_os = "windows")) {
        return true;
    }
    set("BROWSER") || set("DISPLAY") || set("WAYLAND_DISPLAY")
}

#[cfg(test)]
mod tests;
