//! Each cluster's health as the control plane sees it: `GET /readyz` with
//! the gateway's credentials every `healthChecks.intervalSeconds` (at most
//! [`MAX_CHECKS_PER_SECOND`]: a round of many contexts takes longer), for `/status`,
//! `kubeplex status` and the metric `kubeplex_cluster_healthy{cluster}`.
//!
//! Envoy runs its own health checks on the same path (see
//! `translate::cluster::health`) and refuses requests to an unhealthy
//! cluster at once; this view is what an operator reads to learn why.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use tokio::sync::watch;

use crate::clock::unix_now;
use crate::cluster_http::{self, Credentials};
use crate::inputs::LastGood;
use crate::inputs::kubeconfig::ClusterTarget;
use crate::preflight::reachable;

#[cfg(test)]
mod tests;

/// How often to look again whether there is anything to check.
const INTERVAL: Duration = Duration::from_secs(5);
/// A check that takes longer failed.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Clusters asked at once.
const CONCURRENCY: usize = 16;

/// One cluster's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterHealth {
    /// Whether the last check passed.
    pub healthy: bool,
    /// Since when (Unix seconds) it has been in this state.
    pub since: i64,
    /// When (Unix seconds) it was last checked.
    pub last_check: i64,
    /// What the last check saw: `/readyz 200`, or why it failed.
    pub detail: String,
}

/// The latest health of every context, by context name.
#[derive(Debug, Default)]
pub struct Health {
    by_context: Mutex<BTreeMap<String, ClusterHealth>>,
}

impl Health {
    /// Every context's latest health.
    pub fn all(&self) -> BTreeMap<String, ClusterHealth> {
        self.by_context
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Read every context's latest health in place (the lock is held
    /// while `f` runs: keep it short).
    pub fn read<R>(&self, f: impl FnOnce(&BTreeMap<String, ClusterHealth>) -> R) -> R {
        f(&self.by_context.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Record this round's results for exactly these contexts (a removed
    /// context disappears); `since` moves only when the state flips.
    pub fn record(&self, results: Vec<(String, Result<(), String>)>, now: i64) {
        let mut map = self.by_context.lock().unwrap_or_else(|e| e.into_inner());
        let previous = std::mem::take(&mut *map);
        for (context, result) in results {
            let healthy = result.is_ok();
            let since = match previous.get(&context) {
                Some(p) if p.healthy == healthy => p.since,
                Some(_) | None => now,
            };
            let detail = result.err().unwrap_or_else(|| "/readyz 200".into());
            if let Some(p) = previous.get(&context).filter(|p| p.healthy != healthy) {
                log_flip(&context, healthy, &detail, now - p.since);
            } else if !previous.contains_key(&context) && !healthy {
                tracing::warn!(context, "cluster unavailable: {detail}");
            }
            let health = ClusterHealth {
                healthy,
                since,
                last_check: now,
                detail,
            };
            map.insert(context, health);
        }
    }
}

fn log_flip(context: &str, healthy: bool, detail: &str, after_seconds: i64) {
    if healthy {
        tracing::info!(context, "cluster available again after {after_seconds} s");
    } else {
        tracing::warn!(context, "cluster unavailable: {detail}");
    }
}

/// Check every context of the last good kubeconfig, a round every
/// `healthChecks.intervalSeconds` of the gateway config (none when 0), at
/// most [`MAX_CHECKS_PER_SECOND`].
pub fn spawn(
    inputs: watch::Receiver<Option<LastGood>>,
    health: Arc<Health>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let last_good = inputs.borrow().clone();
            let interval = last_good
                .as_ref()
                .map_or(0, |g| g.gateway.health_checks.interval_seconds);
            let Some(last_good) = last_good.filter(|_| interval > 0) else {
                tokio::time::sleep(INTERVAL).await;
                continue;
            };
            let started = tokio::time::Instant::now();
            let results = check_all(&last_good.kubeconfig.clusters).await;
            health.record(results, unix_now());
            let round = Duration::from_secs(interval);
            tokio::time::sleep_until(started + round).await;
        }
    })
}

/// Checks started per second at most. Each check is a new TLS connection
/// with the gateway's client certificate (a few milliseconds of CPU): a
/// round of 10,000 contexts takes 200 s instead of keeping the control
/// plane's cores busy.
pub const MAX_CHECKS_PER_SECOND: usize = 50;

async fn check_all(clusters: &[ClusterTarget]) -> Vec<(String, Result<(), String>)> {
    let mut results = Vec::with_capacity(clusters.len());
    for batch in clusters.chunks(MAX_CHECKS_PER_SECOND) {
        let second = tokio::time::Instant::now() + Duration::from_secs(1);
        // Owned: a stream of borrows does not satisfy the spawned task's
        // lifetime bounds.
        let checked: Vec<_> = futures::stream::iter(batch.to_vec())
            .map(|target| async move {
                let base = cluster_http::base_url(&target);
                let creds = Credentials::for_cluster(&target);
                let result = match tokio::time::timeout(TIMEOUT, reachable(&base, &creds)).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("/readyz: no answer in {} s", TIMEOUT.as_secs())),
                };
                (target.context.clone(), result)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        results.extend(checked);
        if batch.len() == MAX_CHECKS_PER_SECOND {
            tokio::time::sleep_until(second).await;
        }
    }
    results
}
