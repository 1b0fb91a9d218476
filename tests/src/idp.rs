//! A test OpenID Connect identity provider: real HTTPS on 127.0.0.1, the
//! endpoints `kubeplex login` uses with Keycloak, Dex, Okta or Entra, and
//! scripted users instead of a login page.
//!
//! - discovery (`/.well-known/openid-configuration`) and keys (`/jwks`,
//!   ES256);
//! - `/authorize`: authorization code + PKCE (S256 only); approves at once
//!   as the scripted user named by `login_hint` (else the first one) and
//!   redirects to a loopback `redirect_uri` (RFC 8252: any port);
//! - `/device/code` (RFC 8628) and `/device`, where a "person" approves a
//!   user code (`POST user_code=…&user=…`, or [`TestIdp::approve_device`]);
//! - `/token`: `authorization_code` (PKCE verified), `refresh_token`
//!   (rotating: every refresh retires the token it used),
//!   `urn:ietf:params:oauth:grant-type:device_code` (pending, slow_down,
//!   denied, expired);
//! - `/revoke` (RFC 7009) for refresh tokens.
//!
//! It counts what it was asked, so tests can assert "exactly one refresh".

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::apiserver::service_accounts::{IssuerKey, SigningAlgorithm};
use crate::pki::Ca;

mod endpoints;
mod form;
pub mod grants;

/// The OAuth client ID the demo and the tests register.
pub const DEFAULT_CLIENT_ID: &str = "kubeplex";

/// A user the provider signs in without asking anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptedUser {
    /// The `sub` claim, and the `login_hint` / `user` that picks this user.
    pub subject: String,
    /// The `email` claim.
    pub email: String,
    /// The `groups` claim.
    pub groups: Vec<String>,
}

impl ScriptedUser {
    /// `subject` with email `<subject>@example.com` in `groups`.
    pub fn new(subject: &str, groups: &[&str]) -> ScriptedUser {
        ScriptedUser {
            subject: subject.to_string(),
            email: format!("{subject}@example.com"),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }
}

/// How the provider behaves.
#[derive(Debug, Clone)]
pub struct IdpConfig {
    /// Where to listen (port 0: any free port).
    pub bind: SocketAddr,
    /// The only client it knows (a public client: no secret).
    pub client_id: String,
    /// The users; `/authorize` signs in the first unless `login_hint` names another.
    pub users: Vec<ScriptedUser>,
    /// Lifetime of the ID and access tokens.
    pub token_ttl: Duration,
    /// The device flow's polling interval (whole seconds, at least 1).
    pub device_interval: Duration,
}

impl IdpConfig {
    /// Port 0 on 127.0.0.1, client `kubeplex`, tokens for 10 minutes,
    /// polling every second.
    pub fn new(users: Vec<ScriptedUser>) -> IdpConfig {
        IdpConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            client_id: DEFAULT_CLIENT_ID.to_string(),
            users,
            token_ttl: Duration::from_secs(600),
            device_interval: Duration::from_secs(1),
        }
    }
}

/// What the provider was asked, by grant type.
#[derive(Debug, Default)]
pub struct Counters {
    /// Successful `authorization_code` grants.
    pub code_grants: AtomicU64,
    /// Successful `device_code` grants.
    pub device_grants: AtomicU64,
    /// `refresh_token` grants, successful or not.
    pub refresh_attempts: AtomicU64,
    /// Successful `refresh_token` grants.
    pub refreshes: AtomicU64,
    /// Calls of `/revoke`.
    pub revocations: AtomicU64,
}

/// The state the endpoints share.
#[derive(Debug)]
struct Shared {
    issuer: String,
    client_id: String,
    users: Vec<ScriptedUser>,
    token_ttl_ms: AtomicU64,
    device_interval: Duration,
    key: IssuerKey,
    grants: Mutex<grants::Grants>,
    counters: Counters,
}

impl Shared {
    fn grants(&self) -> MutexGuard<'_, grants::Grants> {
        self.grants.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn user(&self, subject: Option<&str>) -> Option<ScriptedUser> {
        match subject {
            Some(subject) => self.users.iter().find(|u| u.subject == subject).cloned(),
            None => self.users.first().cloned(),
        }
    }
}

/// A running identity provider. Stops on drop.
pub struct TestIdp {
    shared: Arc<Shared>,
    ca: Ca,
    accept: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for TestIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIdp")
            .field("issuer", &self.shared.issuer)
            .finish()
    }
}

/// The provider could not start.
#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    /// Binding or TLS setup failed.
    #[error("cannot listen")]
    Listen(#[source] std::io::Error),
    /// The signing key could not be made.
    #[error("cannot make a signing key")]
    Key(#[source] crate::apiserver::IssuerError),
}

impl TestIdp {
    /// Binds and serves on the current tokio runtime; returns once listening.
    pub async fn start(config: IdpConfig) -> Result<TestIdp, IdpError> {
        let ca = Ca::new("kubeplex test identity provider CA");
        let serving = ca.server_cert(&["127.0.0.1", "localhost"]);
        let tls = crate::apiserver::tls::server_config(&serving, None).map_err(IdpError::Listen)?;
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(IdpError::Listen)?;
        let addr = listener.local_addr().map_err(IdpError::Listen)?;
        let shared = Arc::new(Shared {
            issuer: format!("https://{addr}"),
            client_id: config.client_id,
            users: config.users,
            token_ttl_ms: AtomicU64::new(config.token_ttl.as_millis() as u64),
            device_interval: config.device_interval.max(Duration::from_secs(1)),
            key: IssuerKey::generate(SigningAlgorithm::Es256).map_err(IdpError::Key)?,
            grants: Mutex::default(),
            counters: Counters::default(),
        });
        tracing::info!(issuer = %shared.issuer, "test identity provider listening");
        let accept = tokio::spawn(accept_loop(
            listener,
            TlsAcceptor::from(Arc::new(tls)),
            shared.clone(),
        ));
        Ok(TestIdp { shared, ca, accept })
    }

    /// The issuer URL, `https://127.0.0.1:<port>` (the `iss` of its tokens).
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The CA that signed the provider's certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        self.ca.cert_pem()
    }

    /// The client ID it accepts.
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// What it was asked so far.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// Successful refreshes so far.
    pub fn refreshes(&self) -> u64 {
        self.shared.counters.refreshes.load(Ordering::SeqCst)
    }

    /// Tokens issued from now on live this long.
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.shared
            .token_ttl_ms
            .store(ttl.as_millis() as u64, Ordering::SeqCst);
    }

    /// The user codes of device grants waiting for a person.
    pub fn pending_user_codes(&self) -> Vec<String> {
        self.shared.grants().pending_user_codes()
    }

    /// Approve the device grant of `user_code` as `subject`; false if no
    /// such grant waits or no such user exists.
    pub fn approve_device(&self, user_code: &str, subject: &str) -> bool {
        match self.shared.user(Some(subject)) {
            Some(user) => self.shared.grants().decide_device(user_code, Some(user)),
            None => false,
        }
    }

    /// Revoke every refresh token of `subject` (an administrator ending
    /// the user's sessions); how many there were.
    pub fn revoke_sessions(&self, subject: &str) -> usize {
        self.shared.grants().revoke_subject(subject)
    }

    /// Refresh tokens that would still be honoured.
    pub fn live_refresh_tokens(&self) -> usize {
        self.shared.grants().live_refresh_tokens()
    }
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    // Dropping the set (when the task is aborted) ends every connection.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                connections.spawn(serve_connection(tcp, acceptor.clone(), shared.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(tcp: tokio::net::TcpStream, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
    else {
        return;
    };
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, std::convert::Infallible>(endpoints::serve(&shared, req).await) }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

#[cfg(test)]
mod tests;
