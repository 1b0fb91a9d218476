//! The audit store under the gateway's load: the same `kubeplex up` setup
//! as gateway vs direct, once per `audit.store` — `none` (Envoy writes only
//! its audit file), the default SQLite, and a real PostgreSQL (test-support
//! starts one on loopback; skipped when PostgreSQL is not installed) — with
//! the same load, interleaved rounds.
//!
//! Per window: the gateway's requests/s and Envoy CPU per request (what the
//! gRPC access log stream costs Envoy over the file sink alone), and from
//! the control plane's `/metrics` the records stored per second over the
//! window and until the backlog is empty again, the mean batch write time
//! and records per batch.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kubeplex_test_support::postgres::{self, TestPostgres};

use super::BenchError;
use super::cpu_time::{self, CpuSample};
use super::gateway::{self, Cluster, Gateway, Settings};
use super::keys::SigningKeys;
use super::load::{self, Connections, TokenFeed};
use super::plain_http;

/// How long the backlog may take to empty after a window.
const DRAIN_DEADLINE: Duration = Duration::from_secs(60);

/// Where the control plane stores the records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// `audit.store: none`: the file sink only, no gRPC stream.
    FileOnly,
    /// The default: SQLite in the state dir.
    Sqlite,
    /// A PostgreSQL server on loopback.
    Postgres,
}

impl StoreKind {
    /// The report's label.
    pub fn label(self) -> &'static str {
        match self {
            StoreKind::FileOnly => "file only (`store: none`)",
            StoreKind::Sqlite => "file + gRPC stream → SQLite",
            StoreKind::Postgres => "file + gRPC stream → PostgreSQL",
        }
    }
}

/// One window through one gateway.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreRun {
    /// The gateway's requests per second.
    pub requests_per_second: f64,
    /// Its Envoy's CPU per request, µs.
    pub envoy_cpu_us_per_request: f64,
    /// Records stored per second, from the window's start until the
    /// backlog was empty (None without a store).
    pub stored_per_second: Option<f64>,
    /// Mean time of one batch write, ms.
    pub batch_ms: Option<f64>,
    /// Mean records per batch.
    pub records_per_batch: Option<f64>,
    /// What the store could take: records stored per second of batch
    /// writing (the writer's time spent in the store, not the window's).
    pub store_capacity: Option<f64>,
    /// How long after the window every record was in the audit file and,
    /// with a store, stored, ms (Envoy flushes the file and the stream
    /// every second, or sooner when its buffer fills).
    pub drain_ms: Option<f64>,
}

/// Every store's windows.
#[derive(Clone, Debug, Default)]
pub struct AuditResult {
    /// Concurrent connections of the load.
    pub connections: usize,
    /// In the order run, with a window per round.
    pub stores: Vec<(StoreKind, Vec<StoreRun>)>,
    /// Why a store was left out.
    pub skipped: Vec<String>,
}

/// The control plane's audit counters at one moment.
#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    received: u64,
    stored: u64,
    batches: u64,
    batch_micros: u64,
    backlog: u64,
}

impl Counters {
    /// Read `/metrics` of the control plane at `admin`.
    fn read(admin: &str) -> Result<Counters, BenchError> {
        let (status, text) = plain_http::get(admin, "/metrics", Duration::from_secs(5))
            .ok_or_else(|| BenchError::Gateway(format!("no /metrics from {admin}")))?;
        if status != 200 {
            return Err(BenchError::Gateway(format!(
                "/metrics of {admin}: {status}"
            )));
        }
        let sample = |name: &str, label: &str| -> u64 {
            text.lines()
                .filter(|l| l.starts_with(name) && l.contains(label))
                .find_map(|l| l.rsplit(' ').next()?.parse().ok())
                .unwrap_or(0)
        };
        Ok(Counters {
            received: sample("kubeplex_audit_received_total ", ""),
            stored: sample("kubeplex_audit_records_total{", "result=\"stored\""),
            batches: sample("kubeplex_audit_batches_total ", ""),
            batch_micros: sample("kubeplex_audit_batch_microseconds_total ", ""),
            backlog: sample("kubeplex_audit_backlog ", ""),
        })
    }
}

/// Run every store's gateway with `connections` connections for
/// `settings.duration` per window, `settings.repetitions` rounds.
pub fn run(
    settings: &Settings,
    connections: usize,
    keys: &SigningKeys,
    client_rt: &tokio::runtime::Runtime,
    mut progress: impl FnMut(&str),
) -> Result<AuditResult, BenchError> {
    let cluster = Cluster::start()?;
    let secrets = tempfile::tempdir().map_err(|e| BenchError::io("a temporary folder", e))?;
    let mut result = AuditResult {
        connections,
        ..Default::default()
    };
    let postgres_server = match postgres::find_bin_dir() {
        Some(_) => Some(TestPostgres::start()),
        None => {
            result
                .skipped
                .push("PostgreSQL: not installed (`scripts/setup.sh --with-postgres`)".to_string());
            None
        }
    };
    let mut gateways: Vec<(StoreKind, Gateway, LineCounter)> = Vec::new();
    for kind in [StoreKind::FileOnly, StoreKind::Sqlite, StoreKind::Postgres] {
        let audit = match (kind, &postgres_server) {
            (StoreKind::FileOnly, _) => "  store: none\n".to_string(),
            (StoreKind::Sqlite, _) => String::new(),
            (StoreKind::Postgres, Some(pg)) => postgres_store(pg, secrets.path())?,
            (StoreKind::Postgres, None) => continue,
        };
        let gw = gateway::start_gateway(settings, keys, client_rt, &cluster, &audit)?;
        progress(&format!("audit store: gateway with {}", kind.label()));
        let mut file = LineCounter::new(&gw.audit_log);
        warm(settings, client_rt, &gw, &mut file, kind, connections)?;
        gateways.push((kind, gw, file));
    }
    result.stores = gateways.iter().map(|(k, ..)| (*k, Vec::new())).collect();
    let ticks = cpu_time::clock_ticks_per_second();
    for round in 0..settings.repetitions {
        let n = gateways.len();
        for i in 0..n {
            // a different store first each round
            let index = (i + round) % n;
            let (kind, gw, file) = &mut gateways[index];
            let run = window(client_rt, gw, file, *kind, connections, ticks)?;
            progress(&format!(
                "round {}/{} {:<32} {:>6.0} req/s  Envoy CPU {:>6.1} µs/req{}",
                round + 1,
                settings.repetitions,
                kind.label(),
                run.requests_per_second,
                run.envoy_cpu_us_per_request,
                match (run.stored_per_second, run.batch_ms, run.records_per_batch) {
                    (Some(s), Some(b), Some(r)) => format!(
                        "  stored {s:.0}/s, batches of {r:.0} records in {b:.2} ms ({:.0} records/s of writing)",
                        run.store_capacity.unwrap_or(f64::NAN)
                    ),
                    _ => String::new(),
                }
            ));
            result.stores[index].1.push(run);
        }
    }
    drop(gateways);
    drop(postgres_server);
    cluster.shutdown();
    Ok(result)
}

/// The `audit.store` lines for `pg`, its password in a file under `dir`.
fn postgres_store(pg: &TestPostgres, dir: &Path) -> Result<String, BenchError> {
    let password = dir.join("pg-password");
    std::fs::write(&password, postgres::PASSWORD)
        .map_err(|e| BenchError::io(format!("write {}", password.display()), e))?;
    Ok(format!(
        "  store:\n    postgres:\n      url: {}\n      passwordFile: {}\n",
        pg.url_without_password("sslmode=disable"),
        password.display()
    ))
}

/// Warm a gateway (V8, connections, the store's first batches), then wait
/// until the warm-up's records are written and stored, so that none of
/// them counts in the first window.
fn warm(
    settings: &Settings,
    client_rt: &tokio::runtime::Runtime,
    gw: &Gateway,
    file: &mut LineCounter,
    kind: StoreKind,
    connections: usize,
) -> Result<(), BenchError> {
    let mut warm = gw.plan.clone();
    warm.connections = connections;
    warm.duration = Duration::from_secs(60);
    warm.tokens = TokenFeed::each_once(&vec![gw.token.clone(); settings.warmup_requests])?;
    client_rt.block_on(load::run(&warm))?;
    written(gw, file, kind, settings.warmup_requests as u64)?;
    Ok(())
}

/// One measured window through `gw`: Envoy's CPU from the first request
/// until every record of the window is in the audit file and (with a
/// store) received and stored, so both sinks' flushes are counted.
fn window(
    client_rt: &tokio::runtime::Runtime,
    gw: &Gateway,
    file: &mut LineCounter,
    kind: StoreKind,
    connections: usize,
    ticks: u64,
) -> Result<StoreRun, BenchError> {
    let mut plan = gw.plan.clone();
    plan.connections = connections;
    let before = Counters::read(&gw.admin)?;
    let lines_before = file.count()?;
    let (outcome, cpu_before, started) = client_rt.block_on(async {
        let open = Connections::open(&plan).await?;
        let cpu_before = gw.envoy_pid.map(CpuSample::read).transpose()?;
        let started = Instant::now();
        let outcome = open.drive(&plan).await?;
        Ok::<_, BenchError>((outcome, cpu_before, started))
    })?;
    let window_end = Instant::now();
    let after = written(gw, file, kind, lines_before + outcome.requests)?;
    let drained = Instant::now();
    let cpu = match (cpu_before, gw.envoy_pid) {
        (Some(b), Some(pid)) => b.until(&CpuSample::read(pid)?, ticks).seconds(),
        _ => f64::NAN,
    };
    let mut run = StoreRun {
        requests_per_second: outcome.requests_per_second(),
        envoy_cpu_us_per_request: cpu * 1e6 / outcome.requests.max(1) as f64,
        drain_ms: Some((drained - window_end).as_secs_f64() * 1e3),
        ..Default::default()
    };
    if let (StoreKind::FileOnly, _) | (_, None) = (kind, &after) {
        return Ok(run);
    }
    let after = after.unwrap_or_default();
    let batches = after.batches.saturating_sub(before.batches).max(1) as f64;
    let stored = after.stored.saturating_sub(before.stored) as f64;
    let batch_seconds = after.batch_micros.saturating_sub(before.batch_micros) as f64 / 1e6;
    run.stored_per_second = Some(stored / (drained - started).as_secs_f64());
    run.batch_ms = Some(batch_seconds * 1e3 / batches);
    run.records_per_batch = Some(stored / batches);
    run.store_capacity = (batch_seconds > 0.0).then(|| stored / batch_seconds);
    Ok(run)
}

/// Wait until the audit file holds `lines` lines and, with a store, the
/// control plane received as many records as the file has lines and
/// stored them all (bounded by [`DRAIN_DEADLINE`]); the control plane's
/// counters then (None without a store).
fn written(
    gw: &Gateway,
    file: &mut LineCounter,
    kind: StoreKind,
    lines: u64,
) -> Result<Option<Counters>, BenchError> {
    let waited = kubeplex_test_support::poll(DRAIN_DEADLINE, || {
        let in_file = file.count().map_err(|e| e.to_string())?;
        if in_file < lines {
            return Err(format!("{in_file} of {lines} lines in the audit file"));
        }
        if kind == StoreKind::FileOnly {
            return Ok(None);
        }
        let now = Counters::read(&gw.admin).map_err(|e| e.to_string())?;
        if now.received < in_file || now.backlog > 0 {
            return Err(format!(
                "{} of {in_file} records received, {} not stored yet",
                now.received, now.backlog
            ));
        }
        Ok(Some(now))
    });
    waited.map_err(|e| BenchError::Timeout {
        what: format!("the audit records of {}: {e}", kind.label()),
        seconds: DRAIN_DEADLINE.as_secs(),
    })
}

/// Counts the audit file's lines as it grows, reading only what was
/// appended since the last count.
struct LineCounter {
    path: PathBuf,
    read: u64,
    lines: u64,
}

impl LineCounter {
    fn new(path: &Path) -> LineCounter {
        LineCounter {
            path: path.to_path_buf(),
            read: 0,
            lines: 0,
        }
    }

    /// Lines now (0 before Envoy created the file).
    fn count(&mut self) -> Result<u64, BenchError> {
        let mut file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(BenchError::io(format!("open {}", self.path.display()), e)),
        };
        let io = |e| BenchError::io(format!("read {}", self.path.display()), e);
        file.seek(SeekFrom::Start(self.read)).map_err(io)?;
        let mut appended = Vec::new();
        file.read_to_end(&mut appended).map_err(io)?;
        self.read += appended.len() as u64;
        self.lines += appended.iter().filter(|&&b| b == b'\n').count() as u64;
        Ok(self.lines)
    }
}
