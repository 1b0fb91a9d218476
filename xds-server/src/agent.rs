//! `kubeplex agent`: runs next to a cluster's apiserver and connects *out*
//! to the gateway, so the gateway needs no inbound path to the cluster.
//!
//! 1. Enroll: the pre-shared token and a CSR (the key stays here) buy a
//!    short-lived client certificate from the gateway's control plane.
//! 2. Run a supervised Envoy (`bootstrap`) that opens reverse tunnels to the
//!    gateway's Envoy with that certificate and forwards what comes down
//!    them to the apiserver with this cluster's credential for the gateway.
//! 3. Heartbeat: a session to the control plane reporting the tunnel state
//!    and version every second; renew the certificate at 2/3 of its life;
//!    re-read a ServiceAccount token every 30 s.
//!
//! If Envoy dies the agent exits non-zero (its Pod restarts); a refused
//! token or certificate is final (exit with the gateway's reason).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use tracing::{info, warn};

use crate::agent_registry::Heartbeat;
use crate::clock::unix_now;
use crate::envoy::{self, EnvoyError, Launch};
use crate::sensitive::Sensitive;
use crate::translate::Options;

pub mod apiserver;
pub mod bootstrap;
pub mod files;
pub mod gateway;

pub use apiserver::ApiserverSource;

/// The agent's version, reported in heartbeats.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A file under the state directory (or a credential file) failed.
    #[error("{}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The agent's key could not be read or made.
    #[error("the agent key {}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rcgen::Error,
    },
    /// The CSR could not be made.
    #[error("cannot make the certificate signing request")]
    Csr(#[source] rcgen::Error),
    /// Not in a pod and no kubeconfig given.
    #[error("KUBERNETES_SERVICE_HOST is not set: outside a pod, pass --kubeconfig (and --context)")]
    NotInCluster,
    /// The kubeconfig does not give an apiserver.
    #[error("kubeconfig {}: {reason}", path.display())]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The gateway could not be reached.
    #[error("the gateway's agent API")]
    Unreachable(#[source] crate::cluster_http::HttpError),
    /// The gateway refused (wrong token, unknown cluster, bad CSR).
    #[error("the gateway refused this agent ({status}): {reason}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The gateway's reason.
        reason: String,
    },
    /// The local Envoy failed.
    #[error(transparent)]
    Envoy(#[from] EnvoyError),
}

/// What `kubeplex agent` is started with.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// The gateway's agent listener, and the cluster and token.
    pub gateway: gateway::Gateway,
    /// The local apiserver.
    pub apiserver: ApiserverSource,
    /// Key, certificate, SDS files, Envoy's bootstrap.
    pub state_dir: PathBuf,
    /// The Envoy binary.
    pub envoy: PathBuf,
    /// Envoy's admin address (loopback; port 0 = any).
    pub envoy_admin: SocketAddr,
    /// Tunnels kept open.
    pub tunnels: u32,
    /// Envoy's log level.
    pub log_level: String,
    /// Between heartbeats.
    pub heartbeat_interval: Duration,
}

/// Run until Envoy dies, the gateway refuses us, or `shutdown` resolves.
pub async fn run(
    settings: AgentSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    let s = &settings;
    std::fs::create_dir_all(&s.state_dir).map_err(|source| AgentError::File {
        path: s.state_dir.clone(),
        source,
    })?;
    let (target, token_source) = apiserver::resolve(&s.apiserver, &s.gateway.cluster)?;
    let key = Arc::new(files::load_or_create_key(&s.state_dir)?);
    let sds = files::sds_dir(&s.state_dir)?;
    let not_after = enroll_until_done(&s.gateway, &key, &sds).await?;
    let token = token_source.read()?;
    if let Some(t) = &token {
        files::write_token(&sds, t)?;
    }
    let options = Options::default();
    let boot = bootstrap::bootstrap(&bootstrap::AgentEnvoy {
        cluster: &s.gateway.cluster,
        gateway_host: host_of(&s.gateway.address),
        gateway_port: port_of(&s.gateway.address),
        gateway_server_name: &s.gateway.server_name,
        gateway_ca_pem: s.gateway.ca_pem.as_deref(),
        apiserver: &target,
        apiserver_token: token.is_some(),
        sds_dir: &sds,
        admin: s.envoy_admin,
        tunnels: s.tunnels,
        options: &options,
    });
    let bootstrap_path = s.state_dir.join("envoy-bootstrap.pb");
    files::write_atomically(&bootstrap_path, &boot.encode_to_vec())?;
    // Spawned from this (the command's) thread: Envoy dies with it.
    let mut running = envoy::spawn(&Launch {
        binary: s.envoy.clone(),
        bootstrap: bootstrap_path,
        admin_address_file: s.state_dir.join("envoy-admin-address"),
        concurrency: 1,
        log_level: s.log_level.clone(),
    })
    .await?;
    info!(
        cluster = s.gateway.cluster,
        gateway = s.gateway.address,
        envoy_admin = running.admin_address,
        "agent running"
    );
    let admin = running.admin_address.clone();
    let tasks = [
        tokio::spawn(heartbeats(s.gateway.clone(), admin, s.heartbeat_interval)),
        tokio::spawn(renewals(s.gateway.clone(), key, sds.clone(), not_after)),
        tokio::spawn(token_refresh(token_source, sds, token)),
    ];
    let outcome = tokio::select! {
        status = running.child.wait() => Err(AgentError::Envoy(running.died(status.ok()))),
        () = shutdown => Ok(()),
        failed = wait_any(tasks) => failed,
    };
    outcome
}

/// The first task to end; each only ends on a final refusal.
async fn wait_any(
    tasks: [tokio::task::JoinHandle<Result<(), AgentError>>; 3],
) -> Result<(), AgentError> {
    let (result, _, rest) = futures::future::select_all(tasks).await;
    for t in rest {
        t.abort();
    }
    result.unwrap_or(Ok(()))
}

fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

fn port_of(address: &str) -> u16 {
    address
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(443)
}

/// Enroll, retrying while the gateway is unreachable (it may start after
/// us); a refusal is final. The certificate's expiry.
async fn enroll_until_done(
    gateway: &gateway::Gateway,
    key: &rcgen::KeyPair,
    sds: &std::path::Path,
) -> Result<i64, AgentError> {
    let csr = files::csr(key, &gateway.cluster)?;
    loop {
        match gateway.enroll(&csr).await {
            Ok(issued) => {
                files::write_certificate(sds, &issued.certificate, key)?;
                info!(not_after = issued.not_after, "agent certificate issued");
                return Ok(issued.not_after);
            }
            Err(e @ AgentError::Refused { .. }) => return Err(e),
            Err(e) => {
                warn!(
                    "enrollment failed, retrying in 1 s: {}",
                    crate::error_chain::error_chain(&e)
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Renew at 2/3 of the certificate's remaining life (at least every 2 s
/// when it is about to expire).
async fn renewals(
    gateway: gateway::Gateway,
    key: Arc<rcgen::KeyPair>,
    sds: PathBuf,
    mut not_after: i64,
) -> Result<(), AgentError> {
    loop {
        let remaining = (not_after - unix_now()).max(0) as u64;
        let wait = (remaining * 2 / 3).max(1);
        tokio::time::sleep(Duration::from_secs(wait)).await;
        not_after = enroll_until_done(&gateway, &key, &sds).await?;
    }
}

/// Heartbeat sessions, reopened a second after one ends.
async fn heartbeats(
    gateway: gateway::Gateway,
    envoy_admin: String,
    interval: Duration,
) -> Result<(), AgentError> {
    loop {
        let admin = envoy_admin.clone();
        let beat = move || -> futures::future::BoxFuture<'static, Heartbeat> {
            let admin = admin.clone();
            Box::pin(async move {
                Heartbeat {
                    version: VERSION.into(),
                    tunnel: tunnel_up(&admin).await,
                }
            })
        };
        match gateway.session(interval, beat).await {
            Ok(why) => warn!("heartbeat session ended: {why}"),
            Err(e @ AgentError::Refused { .. }) => return Err(e),
            Err(e) => warn!("heartbeat session: {}", crate::error_chain::error_chain(&e)),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Whether the local Envoy has a tunnel established (its `rc://`
/// listener's active connections).
pub async fn tunnel_up(envoy_admin: &str) -> bool {
    let stat = format!(
        "listener.{}.downstream_cx_active",
        bootstrap::TUNNEL_STAT_PREFIX
    );
    let url = format!("http://{envoy_admin}/stats?filter=^{stat}$");
    match envoy::http_get(&url).await {
        Ok((200, body)) => body
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{stat}: ")))
            .any(|v| v.trim().parse::<u64>().is_ok_and(|n| n > 0)),
        _ => false,
    }
}

/// Re-read a ServiceAccount token file every 30 s; rewrite the SDS file
/// when it changed.
async fn token_refresh(
    source: apiserver::TokenSource,
    sds: PathBuf,
    mut current: Option<String>,
) -> Result<(), AgentError> {
    if !matches!(source, apiserver::TokenSource::File(_)) {
        return futures::future::pending().await;
    }
    loop {
        tokio::time::sleep(Duration::from_secs(30)).await;
        match source.read() {
            Ok(token) if token != current => {
                if let Some(t) = &token {
                    files::write_token(&sds, t)?;
                    info!("apiserver token refreshed");
                }
                current = token;
            }
            Ok(_) => {}
            Err(e) => warn!("{}", crate::error_chain::error_chain(&e)),
        }
    }
}

/// A new random token for an agent and its SHA-256 (hex), for
/// `agents.clusters[].tokenSHA256`.
pub fn new_token() -> (Sensitive<String>, String) {
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let digest = token_digest(&token);
    (Sensitive(token), digest)
}

/// Hex SHA-256 of a token, as the gateway config holds it.
pub fn token_digest(token: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests;
