//! Fetching issuers' verification keys: a JWKS URL, OIDC discovery
//! (`<issuer>/.well-known/openid-configuration` → `jwks_uri`), or a
//! kubeconfig cluster's ServiceAccount issuer (fetched from that cluster
//! with its kubeconfig credentials). TLS is always verified (the configured
//! CA, the cluster's CA, or the system roots). Keys refresh on the
//! server's `Cache-Control: max-age` (within bounds) and, rate-limited, when
//! a token names an unknown `kid`. A failed fetch keeps the last good keys.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tracing::{info, warn};

use crate::cluster_http::{self, Credentials, HttpError};
use crate::control_plane::{ControlPlane, unix_now};
use crate::inputs::gateway_config::KeySource;
use crate::inputs::keys::{self, VerificationKey};
use crate::inputs::kubeconfig::ClusterTarget;

/// Refresh bounds around the server's `max-age`.
pub const MIN_REFRESH: Duration = Duration::from_secs(5);
pub const MAX_REFRESH: Duration = Duration::from_secs(3600);
/// Refresh interval when the server says nothing.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// At most one on-demand (unknown `kid`) fetch per issuer this often.
pub const ON_DEMAND_INTERVAL: Duration = Duration::from_secs(5);

/// What the status API and metrics report per remote issuer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchStatus {
    pub source: String,
    pub fetches_ok: u64,
    pub fetches_failed: u64,
    pub last_error: Option<String>,
    /// Unix seconds of the last successful fetch.
    pub last_success_at: i64,
    pub keys: usize,
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL cannot be used (not https, unparsable).
    #[error("{0}")]
    BadUrl(String),
    /// TLS setup (CA bundle, client certificate) failed.
    #[error("TLS setup: {0}")]
    Tls(String),
    /// Connecting, or the request itself, failed or timed out.
    #[error("GET {url}: {reason}")]
    Http { url: String, reason: String },
    /// The server answered with an error status.
    #[error("GET {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    /// The discovery document is not what OIDC requires.
    #[error("discovery document {url}: {reason}")]
    Discovery { url: String, reason: String },
    /// The JWKS could not be used.
    #[error("JWKS {url}: {source}")]
    Jwks { url: String, source: keys::KeyError },
    /// A `cluster:` issuer names a context the kubeconfig does not have.
    #[error("cluster {0:?} is not a context of the kubeconfig")]
    UnknownCluster(String),
}

/// GET a JSON document over verified TLS; (body, max-age).
async fn get(url: &str, creds: &Credentials) -> Result<(Vec<u8>, Option<Duration>), FetchError> {
    let reply = cluster_http::get(url, "application/json, application/jwk-set+json", creds)
        .await
        .map_err(|e| match e {
            HttpError::BadUrl(reason) => FetchError::BadUrl(reason),
            HttpError::Tls(reason) => FetchError::Tls(reason),
            HttpError::Transport { reason, .. } => FetchError::Http {
                url: url.to_string(),
                reason,
            },
        })?;
    if reply.status != 200 {
        return Err(FetchError::Status {
            url: url.to_string(),
            status: reply.status,
        });
    }
    let max_age = reply
        .headers
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_max_age);
    Ok((reply.body, max_age))
}

/// `max-age` from a Cache-Control header (`no-store`/`no-cache` → 0).
pub fn parse_max_age(header: &str) -> Option<Duration> {
    let mut age = None;
    for directive in header.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-store" || directive == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(v) = directive.strip_prefix("max-age=") {
            age = v
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    age
}

/// When to refresh next, given the server's `max-age`.
pub fn refresh_after(max_age: Option<Duration>) -> Duration {
    max_age
        .map(|a| a.clamp(MIN_REFRESH, MAX_REFRESH))
        .unwrap_or(DEFAULT_REFRESH)
}

#[derive(serde::Deserialize)]
struct DiscoveryDoc {
    issuer: String,
    jwks_uri: String,
}

/// Fetch one issuer's keys; (keys, refresh interval).
async fn fetch(
    issuer: &str,
    source: &KeySource,
    clusters: &[ClusterTarget],
) -> Result<(Vec<VerificationKey>, Duration), FetchError> {
    let (jwks_url, creds) = match source {
        KeySource::Static { .. } => unreachable!("static keys are not fetched"),
        KeySource::JwksUrl { url, ca_pem } => (url.clone(), Credentials::with_ca(ca_pem.clone())),
        KeySource::Discovery { url, ca_pem } => {
            let creds = Credentials::with_ca(ca_pem.clone());
            (discover(url, issuer, &creds).await?, creds)
        }
        KeySource::Cluster { context } => {
            let target = clusters
                .iter()
                .find(|c| &c.context == context)
                .ok_or_else(|| FetchError::UnknownCluster(context.clone()))?;
            // Keys decide whom the gateway trusts: verified even where the
            // kubeconfig skips verification for ordinary traffic.
            let creds = Credentials {
                skip_verify: false,
                ..Credentials::for_cluster(target)
            };
            let s = &target.server;
            let base = format!("https://{}:{}{}", bracket(&s.host), s.port, s.path);
            // The issuer named in the cluster's discovery document must be the
            // one configured; its keys come from the cluster itself (the
            // document's jwks_uri often names an in-cluster address).
            discover(
                &format!("{base}/.well-known/openid-configuration"),
                issuer,
                &creds,
            )
            .await?;
            (format!("{base}/openid/v1/jwks"), creds)
        }
    };
    let (body, max_age) = get(&jwks_url, &creds).await?;
    let text = String::from_utf8_lossy(&body);
    let keys = keys::from_jwks(&text).map_err(|source| FetchError::Jwks {
        url: jwks_url.clone(),
        source,
    })?;
    Ok((keys, refresh_after(max_age)))
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Read an OIDC discovery document; its `issuer` must be `issuer`. Returns
/// its `jwks_uri`.
async fn discover(url: &str, issuer: &str, creds: &Credentials) -> Result<String, FetchError> {
    let (body, _) = get(url, creds).await?;
    let doc: DiscoveryDoc = serde_json::from_slice(&body).map_err(|e| FetchError::Discovery {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    if doc.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(FetchError::Discovery {
            url: url.to_string(),
            reason: format!(
                "it names issuer {:?}, but the gateway config trusts {issuer:?}",
                doc.issuer
            ),
        });
    }
    Ok(doc.jwks_uri)
}

#[derive(Debug)]
struct Schedule {
    next_due: Instant,
    last_on_demand: Option<Instant>,
    failures: u32,
    /// The source this schedule is for (a changed source starts over).
    source: String,
}

/// Keeps every remote issuer's keys fresh.
pub struct KeyFetcher {
    cp: Arc<ControlPlane>,
    schedules: Mutex<BTreeMap<String, Schedule>>,
    wake: Notify,
}

impl KeyFetcher {
    pub fn new(cp: Arc<ControlPlane>) -> Arc<KeyFetcher> {
        Arc::new(KeyFetcher {
            cp,
            schedules: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
        })
    }

    /// A token named an unknown `kid` of `issuer`: refetch now, unless that
    /// happened less than [`ON_DEMAND_INTERVAL`] ago. True when scheduled.
    pub fn request_refresh(&self, issuer: &str) -> bool {
        let mut schedules = self.schedules.lock().unwrap_or_else(|e| e.into_inner());
        let Some(s) = schedules.get_mut(issuer) else {
            return false;
        };
        let now = Instant::now();
        if s.last_on_demand
            .is_some_and(|t| now.duration_since(t) < ON_DEMAND_INTERVAL)
        {
            return false;
        }
        s.last_on_demand = Some(now);
        s.next_due = now;
        drop(schedules);
        self.wake.notify_one();
        true
    }

    /// Fetch everything that is due, once. Returns true when keys changed.
    pub async fn run_once(&self) -> bool {
        let remote = self.cp.remote_issuers();
        let now = Instant::now();
        let due: Vec<(String, KeySource)> = {
            let mut schedules = self.schedules.lock().unwrap_or_else(|e| e.into_inner());
            schedules.retain(|url, _| remote.iter().any(|(u, _)| u == url));
            remote
                .iter()
                .filter(|(url, source)| {
                    let origin = crate::issuers::key_origin(source);
                    let s = schedules.entry(url.clone()).or_insert(Schedule {
                        next_due: now,
                        last_on_demand: None,
                        failures: 0,
                        source: origin.clone(),
                    });
                    if s.source != origin {
                        *s = Schedule {
                            next_due: now,
                            last_on_demand: None,
                            failures: 0,
                            source: origin,
                        };
                    }
                    s.next_due <= now
                })
                .cloned()
                .collect()
        };
        if due.is_empty() {
            return false;
        }
        let clusters = self.cp.clusters();
        let results = futures::future::join_all(
            due.iter()
                .map(|(url, source)| fetch(url, source, &clusters)),
        )
        .await;
        let mut changed = false;
        let mut schedules = self.schedules.lock().unwrap_or_else(|e| e.into_inner());
        for ((url, source), result) in due.into_iter().zip(results) {
            let Some(s) = schedules.get_mut(&url) else {
                continue;
            };
            match result {
                Ok((keys, refresh)) => {
                    s.failures = 0;
                    s.next_due = Instant::now() + refresh;
                    changed |= self.cp.record_fetched_keys(
                        &url,
                        &crate::issuers::key_origin(&source),
                        Ok(keys),
                    );
                }
                Err(e) => {
                    s.failures += 1;
                    let backoff = Duration::from_secs(2u64.saturating_pow(s.failures.min(8)))
                        .min(DEFAULT_REFRESH);
                    s.next_due = Instant::now() + backoff;
                    warn!(issuer = url, retry_in = ?backoff, "key fetch failed; keeping the last good keys: {e}");
                    self.cp.record_fetched_keys(
                        &url,
                        &crate::issuers::key_origin(&source),
                        Err(e.to_string()),
                    );
                }
            }
        }
        changed
    }

    /// Run until the runtime stops.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                if me.run_once().await {
                    let cp = me.cp.clone();
                    let _ = tokio::task::spawn_blocking(move || cp.reload()).await;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = me.wake.notified() => {}
                }
            }
        })
    }
}

impl ControlPlane {
    /// Issuers whose keys are fetched, from the last good gateway config.
    pub fn remote_issuers(&self) -> Vec<(String, KeySource)> {
        self.with_state(|s| {
            s.gateway
                .last_good
                .as_ref()
                .map(|g| {
                    g.issuers
                        .iter()
                        .filter(|i| !matches!(i.keys, KeySource::Static { .. }))
                        .map(|i| (i.url.clone(), i.keys.clone()))
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// The clusters of the last good kubeconfig.
    pub fn clusters(&self) -> Vec<ClusterTarget> {
        self.with_state(|s| {
            s.kubeconfig
                .last_good
                .as_ref()
                .map(|k| k.clusters.clone())
                .unwrap_or_default()
        })
    }

    /// Record a fetch: new keys replace the last good ones; an error keeps
    /// them. Returns true when the keys changed.
    pub fn record_fetched_keys(
        &self,
        issuer: &str,
        source: &str,
        result: Result<Vec<VerificationKey>, String>,
    ) -> bool {
        self.with_state_mut(|s| {
            let status = s.key_status.entry(issuer.to_string()).or_default();
            status.source = source.to_string();
            match result {
                Ok(keys) => {
                    status.fetches_ok += 1;
                    status.last_error = None;
                    status.last_success_at = unix_now();
                    status.keys = keys.len();
                    let changed = s.fetched_keys.get(issuer) != Some(&keys);
                    if changed {
                        let kids: Vec<String> = keys
                            .iter()
                            .map(|k| k.kid.clone().unwrap_or_else(|| "-".into()))
                            .collect();
                        info!(issuer, keys = ?kids, "issuer keys updated");
                        s.fetched_keys.insert(issuer.to_string(), keys);
                    }
                    changed
                }
                Err(e) => {
                    status.fetches_failed += 1;
                    status.last_error = Some(e);
                    false
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_and_bounded() {
        assert_eq!(
            parse_max_age("public, max-age=3600"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            parse_max_age("max-age=\"60\", must-revalidate"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(parse_max_age("public"), None);
        assert_eq!(
            refresh_after(Some(Duration::from_secs(86400 * 7))),
            MAX_REFRESH
        );
        assert_eq!(refresh_after(Some(Duration::ZERO)), MIN_REFRESH);
        assert_eq!(
            refresh_after(Some(Duration::from_secs(120))),
            Duration::from_secs(120)
        );
        assert_eq!(refresh_after(None), DEFAULT_REFRESH);
    }
}
