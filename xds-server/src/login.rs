//! The user's side of a gateway: sign in with the gateway's OpenID Connect
//! provider (`kubeplex login`), keep the tokens, hand kubectl a fresh one
//! (`kubeplex credential`, an exec credential plugin), ask the gateway
//! which clusters the user may reach.
//!
//! ```text
//! login:      gateway /.well-known/kubeplex → provider discovery →
//!             browser (code + PKCE, loopback redirect) or device grant →
//!             token cache (0600) → kubeconfig contexts (exec plugin)
//! credential: cache → fresh? print : lock → re-read → refresh → print
//! ```

use std::path::PathBuf;

pub mod browser;
pub mod cache;
pub mod claims;
pub mod credential;
pub mod device;
pub mod gateway_api;
pub mod kubeconfig;
pub mod oidc;

/// Why signing in, refreshing or asking the gateway failed. Messages are
/// for the person at the terminal: they say what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// An HTTPS request to the gateway or the identity provider failed.
    #[error("{what}")]
    Http {
        /// What was being asked, e.g. `the gateway's login settings`.
        what: String,
        /// Why.
        #[source]
        source: crate::cluster_http::HttpError,
    },
    /// A server answered with something else than expected.
    #[error("{what}: HTTP {status}: {body}")]
    Answer {
        /// What was asked.
        what: String,
        /// The HTTP status.
        status: u16,
        /// What it said (shortened).
        body: String,
    },
    /// The identity provider refused (an OAuth error).
    #[error("the identity provider refused {what}: {error}{}", description_suffix(.description))]
    Refused {
        /// What was asked, e.g. `the refresh`.
        what: String,
        /// The OAuth `error` code.
        error: String,
        /// Its `error_description`, if any.
        description: String,
    },
    /// The gateway has no `login` section.
    #[error(
        "{gateway} offers no login (its gateway config has no login section); ask its administrator for a token"
    )]
    NoLogin {
        /// The gateway URL.
        gateway: String,
    },
    /// `--ca-fingerprint` was given but the gateway publishes no CA bundle.
    #[error(
        "{gateway} publishes no CA bundle to check the fingerprint against (its gateway config's login section has no gatewayCertificateAuthorityFile): ask its administrator for the CA file and use --certificate-authority"
    )]
    NoPublishedCa {
        /// The gateway URL.
        gateway: String,
    },
    /// No certificate of the published bundle has the pinned fingerprint.
    #[error(
        "no CA certificate {gateway} presents has the fingerprint {pin}: it is not the gateway you were told about, or someone is between you and it; nothing was trusted or written"
    )]
    FingerprintMismatch {
        /// The gateway URL.
        gateway: String,
        /// The fingerprint the user gave.
        pin: String,
    },
    /// No tokens are cached for this gateway.
    #[error("not logged in to {gateway}: run `kubeplex login --gateway {gateway}`")]
    NotLoggedIn {
        /// The gateway URL.
        gateway: String,
    },
    /// The refresh token no longer works and no one is at a terminal.
    #[error(
        "your session at {gateway} has ended ({why}): run `kubeplex login --gateway {gateway}`"
    )]
    SessionEnded {
        /// The gateway URL.
        gateway: String,
        /// What the identity provider said.
        why: String,
    },
    /// A token the provider issued is not what it must be.
    #[error("the identity provider's ID token is unusable: {0}")]
    BadIdToken(String),
    /// The browser sign-in went wrong at the loopback redirect.
    #[error("the browser sign-in failed: {0}")]
    Browser(String),
    /// Waited too long for the person to sign in.
    #[error("no sign-in within {0:?}")]
    TimedOut(std::time::Duration),
    /// Reading or writing a local file (token cache, kubeconfig) failed.
    #[error("{}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A local file does not parse.
    #[error("{}: {reason}", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Neither `--cache-dir`, `KUBEPLEX_CACHE_DIR`, `XDG_CACHE_HOME` nor `HOME` is set.
    #[error("no place for the token cache: set HOME, XDG_CACHE_HOME or KUBEPLEX_CACHE_DIR")]
    NoCacheDir,
}

fn description_suffix(description: &str) -> String {
    if description.is_empty() {
        String::new()
    } else {
        format!(" ({description})")
    }
}

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A server's body, shortened for a message.
fn shorten(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}
