//! Fetching issuers' verification keys: a JWKS URL, OIDC discovery
//! (`<issuer>/.well-known/openid-configuration` → `jwks_uri`), or a
//! kubeconfig cluster's ServiceAccount issuer (fetched from that cluster
//! with its kubeconfig credentials). TLS is always verified (the configured
//! CA, the cluster's CA, or the system roots). Keys refresh on the
//! server's `Cache-Control: max-age` (within bounds) and, rate-limited, when
//! a token names an unknown `kid`. A failed fetch keeps the last good keys.
//!
//! Key fetching owns the [`KeyStore`]; the control plane reads it when it
//! builds a snapshot. The fetcher works from the last good inputs the
//! control plane publishes ([`LastGood`]) and calls back when keys changed.

mod remote;
mod store;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use tracing::warn;

use crate::error_chain::error_chain;
use crate::inputs::LastGood;
use crate::inputs::gateway_config::{KeySource, RemoteKeySource};
use crate::inputs::keys::VerificationKey;
use crate::inputs::kubeconfig::ClusterTarget;
use crate::issuers::key_origin;
pub use remote::{FetchError, parse_max_age, refresh_after};
pub use store::{FetchStatus, KeyStore};

/// Lower bound on the refresh interval, whatever the server's `max-age`.
pub const MIN_REFRESH: Duration = Duration::from_secs(5);
/// Upper bound on the refresh interval, whatever the server's `max-age`.
pub const MAX_REFRESH: Duration = Duration::from_secs(3600);
/// Refresh interval when the server says nothing.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// At most one on-demand (unknown `kid`) fetch per issuer this often.
pub const ON_DEMAND_INTERVAL: Duration = Duration::from_secs(5);
/// How often the fetch loop looks for due issuers when nobody wakes it.
const POLL: Duration = Duration::from_millis(500);

/// One issuer whose keys are fetched.
#[derive(Debug, Clone)]
struct RemoteIssuer {
    url: String,
    source: RemoteKeySource,
    /// The source in words, for the status API (a changed one starts over).
    origin: String,
}

#[derive(Debug)]
struct Schedule {
    next_due: Instant,
    last_on_demand: Option<Instant>,
    failures: u32,
    /// The source this schedule is for (a changed source starts over).
    source: String,
}

impl Schedule {
    fn new(source: &str, now: Instant) -> Schedule {
        Schedule {
            next_due: now,
            last_on_demand: None,
            failures: 0,
            source: source.to_string(),
        }
    }

    /// After a failure: back off exponentially, up to [`DEFAULT_REFRESH`].
    fn back_off(&mut self) -> Duration {
        self.failures += 1;
        let backoff =
            Duration::from_secs(2u64.saturating_pow(self.failures.min(8))).min(DEFAULT_REFRESH);
        self.next_due = Instant::now() + backoff;
        backoff
    }
}

/// Called when fetched keys changed (to publish them); runs on a blocking
/// thread.
pub type OnKeysChanged = Arc<dyn Fn() + Send + Sync>;

/// Keeps every remote issuer's keys fresh.
pub struct KeyFetcher {
    store: Arc<KeyStore>,
    inputs: watch::Receiver<Option<LastGood>>,
    on_change: OnKeysChanged,
    schedules: Mutex<BTreeMap<String, Schedule>>,
    wake: Notify,
}

impl KeyFetcher {
    /// A fetcher filling `store` for the remote issuers of `inputs`.
    pub fn new(
        store: Arc<KeyStore>,
        inputs: watch::Receiver<Option<LastGood>>,
        on_change: OnKeysChanged,
    ) -> Arc<KeyFetcher> {
        Arc::new(KeyFetcher {
            store,
            inputs,
            on_change,
            schedules: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
        })
    }

    fn schedules(&self) -> MutexGuard<'_, BTreeMap<String, Schedule>> {
        self.schedules.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A token named an unknown `kid` of `issuer`: refetch now, unless that
    /// happened less than [`ON_DEMAND_INTERVAL`] ago. True when scheduled.
    pub fn request_refresh(&self, issuer: &str) -> bool {
        let mut schedules = self.schedules();
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

    /// Fetch everything that is due, once; when keys changed, call back
    /// and wait for it (so the next configuration already has them).
    pub async fn fetch_due(&self) {
        if self.fetch_due_quietly().await {
            let on_change = self.on_change.clone();
            let _ = tokio::task::spawn_blocking(move || on_change()).await;
        }
    }

    /// Fetch everything that is due, once. Returns true when keys changed.
    async fn fetch_due_quietly(&self) -> bool {
        let (issuers, clusters) = self.targets();
        let due = self.due(&issuers);
        if due.is_empty() {
            return false;
        }
        let results = futures::future::join_all(
            due.iter()
                .map(|i| remote::fetch(&i.url, &i.source, &clusters)),
        )
        .await;
        self.record(due, results)
    }

    /// Remote issuers and the clusters (for `cluster:` issuers), from the
    /// last good inputs.
    fn targets(&self) -> (Vec<RemoteIssuer>, Vec<ClusterTarget>) {
        let inputs = self.inputs.borrow();
        let Some(inputs) = inputs.as_ref() else {
            return (Vec::new(), Vec::new());
        };
        let issuers = inputs
            .gateway
            .issuers
            .iter()
            .filter_map(|i| match &i.keys {
                KeySource::Static { .. } => None,
                KeySource::Remote(source) => Some(RemoteIssuer {
                    url: i.url.clone(),
                    source: source.clone(),
                    origin: key_origin(&i.keys),
                }),
            })
            .collect();
        (issuers, inputs.kubeconfig.clusters.clone())
    }

    /// The issuers due now; schedules follow the issuers configured.
    fn due(&self, issuers: &[RemoteIssuer]) -> Vec<RemoteIssuer> {
        let now = Instant::now();
        let mut schedules = self.schedules();
        schedules.retain(|url, _| issuers.iter().any(|i| &i.url == url));
        issuers
            .iter()
            .filter(|i| {
                let s = schedules
                    .entry(i.url.clone())
                    .or_insert_with(|| Schedule::new(&i.origin, now));
                if s.source != i.origin {
                    *s = Schedule::new(&i.origin, now);
                }
                s.next_due <= now
            })
            .cloned()
            .collect()
    }

    /// Store each result and schedule the next fetch. True when keys changed.
    fn record(
        &self,
        fetched: Vec<RemoteIssuer>,
        results: Vec<Result<(Vec<VerificationKey>, Duration), FetchError>>,
    ) -> bool {
        let mut changed = false;
        let mut schedules = self.schedules();
        for (issuer, result) in fetched.into_iter().zip(results) {
            let Some(s) = schedules.get_mut(&issuer.url) else {
                continue;
            };
            let keys = match result {
                Ok((keys, refresh)) => {
                    s.failures = 0;
                    s.next_due = Instant::now() + refresh;
                    Ok(keys)
                }
                Err(e) => {
                    let retry_in = s.back_off();
                    let error = error_chain(&e);
                    warn!(
                        issuer = issuer.url,
                        ?retry_in,
                        "key fetch failed; keeping the last good keys: {error}"
                    );
                    Err(e)
                }
            };
            changed |= self.store.record(&issuer.url, &issuer.origin, &keys);
        }
        changed
    }

    /// Fetch until the runtime stops: whenever an issuer is due, or a
    /// token asked for an unknown key.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                me.fetch_due().await;
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = me.wake.notified() => {}
                }
            }
        })
    }
}
