//! The producer: build the API client, then follow the ConfigMap with
//! kube-rs' `runtime::watcher` and hand each complete new list to the
//! control plane (`Shared::listed`), like `file_watch` does for files.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::watcher::{self, Event, ListSemantic};
use rand::Rng;
use tracing::{info, warn};

use super::object::{self, ObjectApi};
use super::{Listed, Shared, connect, kube_error_text, lock};
use crate::error_chain::error_chain;
use crate::inputs::gateway_config::KubernetesStoreConfig;

/// First pause after a failure; doubled after each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Each watch request asks the server to end it after this long; the
/// watcher then resumes. A connection that died silently is noticed at
/// the latest this long (plus 5 s) after, and the list is re-read.
const WATCH_TIMEOUT_SECONDS: u32 = 60;

/// Exponential backoff with jitter: 0.5 s, 1 s, 2 s … 10 s.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The pause before the next attempt.
    pub fn next(&mut self) -> Duration {
        let base = FIRST_BACKOFF.saturating_mul(1 << self.failures.min(5));
        self.failures += 1;
        let capped = base.min(MAX_BACKOFF);
        // up to a quarter less, so control planes that lost the API
        // together do not all come back in the same instant
        let jitter = rand::thread_rng().gen_range(0..=capped.as_millis() as u64 / 4);
        capped - Duration::from_millis(jitter)
    }

    /// After a success: start again from the first pause.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Run until the store is dropped (the task is aborted).
pub async fn run(shared: Arc<Shared>, config: KubernetesStoreConfig) {
    let mut backoff = Backoff::default();
    let api = loop {
        match connect(&config).await {
            Ok(api) => break api,
            Err(e) => {
                let e = Arc::new(e);
                failed(&shared, &error_chain(&*e));
                shared.api.send_replace(Some(Err(e)));
                tokio::time::sleep(backoff.next()).await;
            }
        }
    };
    lock(&shared.status).object = api.object.to_string();
    shared.api.send_replace(Some(Ok(api.clone())));
    info!(object = %api.object, "watching the revocation list");
    loop {
        follow(&shared, &api, &mut backoff).await;
        // A failure ends `follow`: pause, then list afresh (the list in
        // force keeps serving meanwhile).
        tokio::time::sleep(backoff.next()).await;
    }
}

/// List the object, then watch it, until the first failure.
async fn follow(shared: &Shared, api: &ObjectApi, backoff: &mut Backoff) {
    let config = watcher::Config::default()
        .fields(&format!("metadata.name={}", api.object.name))
        .timeout(WATCH_TIMEOUT_SECONDS)
        .list_semantic(ListSemantic::MostRecent);
    let events = watcher::watcher(api.api.clone(), config);
    futures::pin_mut!(events);
    // The object as listed so far: one at most (the name selects it).
    let mut listing: Option<ConfigMap> = None;
    while let Some(event) = events.next().await {
        let complete = matches!(event, Ok(Event::InitDone));
        let object = match event {
            Ok(Event::Init) => {
                listing = None;
                continue;
            }
            Ok(Event::InitApply(cm)) => {
                listing = Some(cm);
                continue;
            }
            Ok(Event::InitDone) => {
                backoff.reset();
                watching(shared);
                listing.take()
            }
            Ok(Event::Apply(cm)) => Some(cm),
            // deleted: no list, as for a missing file
            Ok(Event::Delete(_)) => None,
            Err(e) => {
                failed(shared, &watcher_error_text(&e));
                return;
            }
        };
        let resource_version = object
            .as_ref()
            .and_then(|cm| cm.metadata.resource_version.clone());
        let list = object::decode(&api.object, object.as_ref());
        if let Err(e) = &list {
            warn!(object = %api.object, "the revocation list does not load: {e}");
        }
        shared.listed(Listed {
            resource_version,
            list,
            complete,
        });
    }
}

/// A watcher failure in one line (its messages repeat their causes).
fn watcher_error_text(e: &watcher::Error) -> String {
    match e {
        watcher::Error::InitialListFailed(k) => format!("list: {}", kube_error_text(k)),
        watcher::Error::WatchStartFailed(k) => format!("watch: {}", kube_error_text(k)),
        watcher::Error::WatchFailed(k) => format!("watch stream: {}", kube_error_text(k)),
        watcher::Error::WatchError(status) => format!(
            "watch: {} {}: {}",
            status.code, status.reason, status.message
        ),
        other => other.to_string(),
    }
}

/// The watch has a complete list: the store is up.
fn watching(shared: &Shared) {
    let mut status = lock(&shared.status);
    if status.last_error.is_some() {
        info!(object = %status.object, "revocation list reachable again");
    }
    status.up = true;
    status.last_error = None;
}

/// A failure to reach or follow the object: the list in force stays.
fn failed(shared: &Shared, error: &str) {
    let mut status = lock(&shared.status);
    status.watch_errors += 1;
    if status.last_error.as_deref() != Some(error) {
        warn!(object = %status.object, "revocation list unreachable (the last list stays in force; retrying): {error}");
    }
    status.up = false;
    status.last_error = Some(error.to_string());
}
