//! From Envoy's stream to the store without losing a record: received
//! records queue in memory (bounded); one writer stores them in batches;
//! when the store is slow or down and the queue is full, records spill to
//! a local file ([`Spill`]), replayed once the store takes writes again. A
//! failed write is retried (backoff) until it succeeds or the control
//! plane stops, when what is still in memory goes to the spill file.
//! Counters: `kubeplex_audit_records_total{store,result}`,
//! `kubeplex_audit_backlog`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use kubeplex_proto::audit::v1::AuditRecord;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use super::spill::{Spill, SpillError};
use super::store::Store;
use crate::error_chain::error_chain;

/// How long each last write may take when stopping.
const FINAL_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Knobs of the pipeline (the gateway config sets the store, not these).
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// Records held in memory before spilling.
    pub queue: usize,
    /// Records per write.
    pub batch: usize,
    /// The spill folder.
    pub spill_dir: PathBuf,
    /// Longest pause between two write attempts while the store fails.
    pub max_retry_delay: Duration,
    /// Longest a write may take before it counts as failed.
    pub write_timeout: Duration,
}

impl PipelineSettings {
    /// The defaults, spilling to `spill_dir`.
    pub fn new(spill_dir: PathBuf) -> PipelineSettings {
        PipelineSettings {
            queue: 20_000,
            batch: 1000,
            spill_dir,
            max_retry_delay: Duration::from_secs(2),
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// What happened to the records, for `/metrics`.
#[derive(Debug, Default)]
pub struct AuditCounters {
    /// Records received from Envoy.
    pub received: AtomicU64,
    /// Records stored (new rows).
    pub stored: AtomicU64,
    /// Records already in the store (a retried batch, a replayed spill).
    pub duplicates: AtomicU64,
    /// Records written to the spill file.
    pub spilled: AtomicU64,
    /// Records that could not be read or stored (no request id, bad time).
    pub invalid: AtomicU64,
    /// Records lost: the spill file could not be written either.
    pub dropped: AtomicU64,
    /// Failed store writes.
    pub store_errors: AtomicU64,
    /// Successful batch writes, and their total time in microseconds.
    pub batches: AtomicU64,
    /// See `batches`.
    pub batch_micros: AtomicU64,
    /// Records received and not yet stored (in memory or spilled).
    pub backlog: AtomicI64,
    /// Records deleted by retention.
    pub pruned: AtomicU64,
}

/// The store records go to now (it changes when the gateway config does).
#[derive(Default)]
pub struct StoreSlot(RwLock<Option<Arc<Store>>>);

impl StoreSlot {
    /// The store now, if one is configured.
    pub fn current(&self) -> Option<Arc<Store>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replace the store.
    pub fn set(&self, store: Option<Arc<Store>>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = store;
    }
}

/// The running pipeline.
pub struct AuditPipeline {
    queue: mpsc::Sender<AuditRecord>,
    spill: Arc<Spill>,
    /// The counters.
    pub counters: Arc<AuditCounters>,
    /// The store in use.
    pub store: Arc<StoreSlot>,
    stop: watch::Sender<bool>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl AuditPipeline {
    /// Start the writer (it replays what an earlier run spilled first).
    pub fn start(
        settings: PipelineSettings,
        store: Arc<StoreSlot>,
    ) -> Result<Arc<AuditPipeline>, SpillError> {
        let (spill, left) = Spill::open(&settings.spill_dir)?;
        let spill = Arc::new(spill);
        let counters = Arc::new(AuditCounters::default());
        counters.backlog.store(left as i64, Relaxed);
        if left > 0 {
            info!(records = left, dir = %settings.spill_dir.display(), "audit: replaying records an earlier run spilled");
        }
        let (queue, records) = mpsc::channel(settings.queue.max(1));
        let (stop, stopped) = watch::channel(false);
        let writer = Writer {
            records,
            spill: spill.clone(),
            counters: counters.clone(),
            store: store.clone(),
            stopped,
            settings,
            failing: false,
        };
        let handle = tokio::spawn(writer.run());
        Ok(Arc::new(AuditPipeline {
            queue,
            spill,
            counters,
            store,
            stop,
            writer: Mutex::new(Some(handle)),
        }))
    }

    /// Take one record; never waits (a full queue spills).
    pub fn submit(&self, record: AuditRecord) {
        self.counters.received.fetch_add(1, Relaxed);
        self.counters.backlog.fetch_add(1, Relaxed);
        if let Err(e) = self.queue.try_send(record) {
            let record = match e {
                mpsc::error::TrySendError::Full(r) | mpsc::error::TrySendError::Closed(r) => r,
            };
            spill(&self.spill, &self.counters, std::slice::from_ref(&record));
        }
    }

    /// A record that could not even be read (counted, not stored).
    pub fn invalid(&self) {
        self.counters.invalid.fetch_add(1, Relaxed);
    }

    /// Stop the writer: one last attempt to store what is in memory
    /// (bounded by `grace`), the rest to the spill file.
    pub async fn stop(&self, grace: Duration) {
        let _ = self.stop.send(true);
        let handle = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle
            && tokio::time::timeout(grace, handle).await.is_err()
        {
            warn!("audit: the writer did not finish in time");
        }
    }
}

/// Write `records` to the spill file, counting.
fn spill(spill: &Spill, counters: &AuditCounters, records: &[AuditRecord]) {
    let n = records.len() as u64;
    match spill.append(records) {
        Ok(()) => {
            counters.spilled.fetch_add(n, Relaxed);
        }
        Err(e) => {
            counters.dropped.fetch_add(n, Relaxed);
            counters.backlog.fetch_sub(n as i64, Relaxed);
            error!(
                records = n,
                error = error_chain(&e),
                "audit: records LOST: the store is behind and the spill file cannot be written (Envoy's audit log file still has them)"
            );
        }
    }
}

/// The one task that writes to the store.
struct Writer {
    records: mpsc::Receiver<AuditRecord>,
    spill: Arc<Spill>,
    counters: Arc<AuditCounters>,
    store: Arc<StoreSlot>,
    stopped: watch::Receiver<bool>,
    settings: PipelineSettings,
    /// The last write failed (logged once per outage).
    failing: bool,
}

impl Writer {
    async fn run(mut self) {
        loop {
            let mut batch = Vec::new();
            if self.take_queued(&mut batch) == 0 {
                if self.spill.has_pending() {
                    if !self.replay_chunk().await {
                        break;
                    }
                    continue;
                }
                tokio::select! {
                    r = self.records.recv() => match r {
                        Some(r) => batch.push(r),
                        None => break,
                    },
                    _ = self.stopped.wait_for(|s| *s) => break,
                }
                self.take_queued(&mut batch);
            }
            if !self.store_batch(batch).await {
                break;
            }
        }
        self.finish().await;
    }

    /// Move queued records into `batch` (up to the batch size).
    fn take_queued(&mut self, batch: &mut Vec<AuditRecord>) -> usize {
        let before = batch.len();
        while batch.len() < self.settings.batch {
            match self.records.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        batch.len() - before
    }

    /// Store one chunk of the spill file. False when stopping.
    async fn replay_chunk(&mut self) -> bool {
        match self.spill.next_chunk(self.settings.batch) {
            Ok(Some(chunk)) => self.store_batch(chunk).await,
            Ok(None) => true,
            Err(e) => {
                error!(error = error_chain(&e), "audit: cannot read the spill file");
                self.pause(self.settings.max_retry_delay).await
            }
        }
    }

    /// Write `batch` until the store takes it. False when stopping first
    /// (the batch then goes to the spill file).
    async fn store_batch(&mut self, batch: Vec<AuditRecord>) -> bool {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.write_once(&batch, self.settings.write_timeout).await {
                Ok(()) => return true,
                Err(reason) => {
                    self.counters.store_errors.fetch_add(1, Relaxed);
                    if !self.failing {
                        warn!(reason, spill = %self.settings.spill_dir.display(), "audit store unavailable: records wait in memory, then in the spill folder, and are stored when it is back");
                        self.failing = true;
                    }
                }
            }
            if !self.pause(delay).await {
                spill(&self.spill, &self.counters, &batch);
                return false;
            }
            delay = (delay * 2).min(self.settings.max_retry_delay);
        }
    }

    /// One write attempt (at most `timeout`), counted.
    async fn write_once(&mut self, batch: &[AuditRecord], timeout: Duration) -> Result<(), String> {
        let store = self
            .store
            .current()
            .ok_or_else(|| "no audit store is configured (audit.store)".to_string())?;
        let started = Instant::now();
        let written = tokio::time::timeout(timeout, store.write(batch))
            .await
            .map_err(|_| format!("a write took over {timeout:?}"))?
            .map_err(|e| error_chain(&e))?;
        let c = &self.counters;
        c.batches.fetch_add(1, Relaxed);
        c.batch_micros
            .fetch_add(started.elapsed().as_micros() as u64, Relaxed);
        c.stored.fetch_add(written.stored, Relaxed);
        c.duplicates.fetch_add(written.duplicates, Relaxed);
        c.invalid.fetch_add(written.invalid, Relaxed);
        c.backlog.fetch_sub(batch.len() as i64, Relaxed);
        if self.failing {
            info!(
                store = store.kind(),
                "audit store is back: storing the backlog"
            );
            self.failing = false;
        }
        Ok(())
    }

    /// Wait `delay`; false if stopping first.
    async fn pause(&mut self, delay: Duration) -> bool {
        let woken = tokio::select! {
            _ = tokio::time::sleep(delay) => false,
            _ = self.stopped.wait_for(|s| *s) => true,
        };
        !woken && !*self.stopped.borrow()
    }

    /// Stopping: what is queued is stored if the store answers at once
    /// (one short attempt per batch while it works), else spilled.
    async fn finish(&mut self) {
        self.records.close();
        let mut rest = Vec::new();
        while let Ok(r) = self.records.try_recv() {
            rest.push(r);
        }
        for batch in rest.chunks(self.settings.batch) {
            if self.failing || self.write_once(batch, FINAL_WRITE_TIMEOUT).await.is_err() {
                self.failing = true;
                spill(&self.spill, &self.counters, batch);
            }
        }
    }
}

#[cfg(test)]
mod tests;
