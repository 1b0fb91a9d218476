//! The central audit trail: Envoy streams every audit record to the control
//! plane over its gRPC access log service ([`als`]), which parses it into
//! the same record the file log writes ([`envoy_entry`]) and hands it to a
//! [`pipeline`] that stores it in batches in SQLite or PostgreSQL
//! ([`store`]), spilling to disk ([`spill`]) while the store is slow or
//! down; a background task deletes what is older than the retention.
//! `kubeplex audit` reads the store through the admin API.
//!
//! The store follows the gateway config: a changed `audit.store` opens the
//! new store (records not yet written go there), `audit.retention` applies
//! at the next pruning.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{error, info};

use crate::error_chain::error_chain;
use crate::inputs::LastGood;
use crate::inputs::gateway_config::AuditConfig;

pub mod als;
pub mod envoy_entry;
pub mod pipeline;
pub mod spill;
pub mod store;
pub mod time_text;

use pipeline::{AuditPipeline, PipelineSettings, StoreSlot};
use store::{SqliteStore, Store, StoreConfig, StoreError};

/// The SQLite file when the config names none, in the state directory.
pub const DEFAULT_SQLITE_FILE: &str = "audit.db";
/// The spill folder, in the state directory.
pub const SPILL_DIR: &str = "audit-spill";
/// How often retention deletes old records.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// The audit trail of a running control plane.
pub struct Audit {
    /// Records from Envoy to the store.
    pub pipeline: Arc<AuditPipeline>,
}

impl Audit {
    /// Start the pipeline (spilling under `state_dir`) and follow the
    /// gateway config's `audit` section: open its store, prune by its
    /// retention.
    pub async fn start(
        state_dir: &Path,
        mut inputs: watch::Receiver<Option<LastGood>>,
    ) -> Result<Arc<Audit>, spill::SpillError> {
        let slot = Arc::new(StoreSlot::default());
        let pipeline = AuditPipeline::start(
            PipelineSettings::new(state_dir.join(SPILL_DIR)),
            slot.clone(),
        )?;
        let (retention_tx, retention) = watch::channel(None);
        let state_dir = state_dir.to_path_buf();
        let current = inputs
            .borrow_and_update()
            .as_ref()
            .map(|i| i.gateway.audit.clone());
        let mut open = OpenStore::default();
        if let Some(audit) = &current {
            open.follow(audit, &state_dir, &slot).await;
            let _ = retention_tx.send(Some(audit.retention));
        }
        tokio::spawn(async move {
            while inputs.changed().await.is_ok() {
                let audit = inputs
                    .borrow_and_update()
                    .as_ref()
                    .map(|i| i.gateway.audit.clone());
                if let Some(audit) = audit {
                    open.follow(&audit, &state_dir, &slot).await;
                    retention_tx.send_if_modified(|r| {
                        let changed = *r != Some(audit.retention);
                        *r = Some(audit.retention);
                        changed
                    });
                }
            }
        });
        tokio::spawn(prune_forever(pipeline.clone(), retention, PRUNE_INTERVAL));
        Ok(Arc::new(Audit { pipeline }))
    }

    /// The store queries read, if one is configured.
    pub fn store(&self) -> Option<Arc<Store>> {
        self.pipeline.store.current()
    }
}

/// The store configuration now open.
#[derive(Default)]
struct OpenStore(Option<StoreConfig>);

impl OpenStore {
    /// Open the store `audit` names, unless it is the one open already.
    async fn follow(&mut self, audit: &AuditConfig, state_dir: &Path, slot: &StoreSlot) {
        if self.0.as_ref() == Some(&audit.store) {
            return;
        }
        match open(&audit.store, state_dir).await {
            Ok(store) => {
                match &store {
                    Some(s) => info!(store = s.kind(), "audit store open"),
                    None => info!("no audit store (audit.store: none)"),
                }
                slot.set(store.map(Arc::new));
                self.0 = Some(audit.store.clone());
            }
            Err(e) => error!(
                error = error_chain(&e),
                "audit store cannot be opened: records wait in memory and the spill folder"
            ),
        }
    }
}

/// Open the configured store (None: disabled). SQLite migrates now;
/// PostgreSQL connects and migrates at its first use.
pub async fn open(config: &StoreConfig, state_dir: &Path) -> Result<Option<Store>, StoreError> {
    match config {
        StoreConfig::Disabled => Ok(None),
        StoreConfig::Sqlite { path } => {
            let path: PathBuf = path
                .clone()
                .unwrap_or_else(|| state_dir.join(DEFAULT_SQLITE_FILE));
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
                .await
                .map_err(StoreError::Worker)??;
            Ok(Some(Store::Sqlite(store)))
        }
        StoreConfig::Postgres(settings) => Ok(Some(Store::postgres(settings)?)),
    }
}

/// Every `interval` (and at once), delete records older than the retention.
async fn prune_forever(
    pipeline: Arc<AuditPipeline>,
    mut retention: watch::Receiver<Option<Duration>>,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticks.tick() => {},
            changed = retention.changed() => if changed.is_err() { return },
        }
        let Some(keep) = *retention.borrow_and_update() else {
            continue;
        };
        let Some(store) = pipeline.store.current() else {
            continue;
        };
        match prune(&store, keep).await {
            Ok(0) => {}
            Ok(n) => {
                pipeline.counters.pruned.fetch_add(n, Relaxed);
                info!(records = n, retention = ?keep, "audit: deleted records past the retention");
            }
            Err(e) => error!(error = error_chain(&e), "audit: retention could not prune"),
        }
    }
}

/// Delete what is older than `keep`.
pub async fn prune(store: &Store, keep: Duration) -> Result<u64, StoreError> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    store.prune(now_ms - keep.as_millis() as i64).await
}
