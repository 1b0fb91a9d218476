//! The filter micro-benchmark. Every scenario gets its own Envoy, started
//! and warmed up once; then `repetitions` rounds each drive every scenario
//! for a short window, in an order rotated by the round, each window right
//! after a window on the baseline (no filter) Envoy. The load of a shared
//! machine comes and goes within seconds; a scenario is compared with the
//! baseline measured a moment before it, so that load falls on both sides
//! of each difference. Every round sends its own slice of first-sight
//! tokens, so no Envoy ever sees one twice; the kubeplex and `jwt_authn`
//! Envoys get the same slices.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use kubeplex_proto::filter::v1 as pb;

use super::BenchError;
use super::bootstrap::{self, HttpFilter};
use super::cpu_time::{self, CpuSample};
use super::envoy_process::EnvoyProcess;
use super::filter_config::{self, CONTEXT};
use super::keys::{Alg, SigningKeys};
use super::load::{Connections, LoadOutcome, LoadPlan, TokenFeed, Transport};
use super::scenarios::{BASELINE, FilterKind, Scenario, TokenKind};
use super::stats::percentile;
use super::tokens;
use super::verify;

/// The request every scenario sends (what `kubectl get configmaps` sends,
/// through the path-prefix form of the gateway URL).
pub const PATH: &str = "/clusters/bench/api/v1/namespaces/default/configmaps";

/// How the micro-benchmark runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The Envoy binary.
    pub envoy: PathBuf,
    /// The built filter module.
    pub wasm: PathBuf,
    /// The empty proxy-wasm filter, for the `empty-wasm` scenario.
    pub empty_wasm: Option<PathBuf>,
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Measured time of the cached-token scenarios.
    pub duration: Duration,
    /// Requests (= distinct tokens per algorithm) of each first-sight
    /// measurement.
    pub first_sight_requests: usize,
    /// Warm-up requests on each Envoy, once, before the rounds (cached: the
    /// same token; first sight: other fresh tokens of the same algorithm).
    pub warmup_requests: usize,
    /// Rounds.
    pub repetitions: usize,
    /// Whether every scenario writes the gateway's audit access log (the
    /// gateway always does; off only to see what logging costs).
    pub access_log: bool,
}

/// One measurement of one scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// Completed requests.
    pub requests: u64,
    /// Requests per second of wall time.
    pub requests_per_second: f64,
    /// Median latency, µs.
    pub p50_us: u32,
    /// 99th percentile latency, µs.
    pub p99_us: u32,
    /// Envoy CPU per request, µs (thread run time from schedstat).
    pub cpu_us_per_request: f64,
    /// The same from `utime + stime` ticks (coarser; a cross-check).
    pub tick_cpu_us_per_request: f64,
}

impl Run {
    /// Combine a load outcome with the CPU Envoy spent meanwhile.
    pub fn from(outcome: &LoadOutcome, cpu: cpu_time::CpuSpent) -> Run {
        let n = outcome.requests.max(1) as f64;
        Run {
            requests: outcome.requests,
            requests_per_second: outcome.requests_per_second(),
            p50_us: percentile(&outcome.latencies_us, 50.0).unwrap_or(0),
            p99_us: percentile(&outcome.latencies_us, 99.0).unwrap_or(0),
            cpu_us_per_request: cpu.seconds() * 1e6 / n,
            tick_cpu_us_per_request: cpu.ticks_seconds * 1e6 / n,
        }
    }
}

/// A scenario and its runs (one per round, in round order).
#[derive(Clone, Debug)]
pub struct ScenarioResult {
    /// Which scenario.
    pub scenario: Scenario,
    /// Its measurements.
    pub runs: Vec<Run>,
    /// For each run, the baseline's CPU µs/request measured just before it
    /// (empty for the baseline itself).
    pub paired_baseline_cpu: Vec<f64>,
}

/// Keys, configs and tokens, prepared before anything is timed.
pub struct Prepared {
    keys: SigningKeys,
    config: pb::FilterConfig,
    policy_config: pb::FilterConfig,
    cached: Vec<(Alg, String)>,
    /// `repetitions × first_sight_requests` per algorithm.
    first_sight: Vec<(Alg, Vec<String>)>,
    warmup: Vec<(Alg, Vec<String>)>,
}

impl Prepared {
    /// Mint what `scenarios` need.
    pub fn new(settings: &Settings, scenarios: &[Scenario]) -> Result<Prepared, BenchError> {
        let keys = SigningKeys::fixtures()?;
        let now = tokens::unix_now();
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let mut cached = Vec::new();
        let mut first_sight = Vec::new();
        let mut warmup = Vec::new();
        for s in scenarios {
            match s.tokens {
                TokenKind::Cached(alg) if !cached.iter().any(|(a, _)| *a == alg) => {
                    cached.push((alg, tokens::mint(&keys, alg, "cached", now)?));
                }
                TokenKind::FirstSight(alg) if !first_sight.iter().any(|(a, _)| *a == alg) => {
                    let count = settings.first_sight_requests * settings.repetitions;
                    let prefix = format!("first-{}", alg.provider());
                    first_sight.push((
                        alg,
                        tokens::mint_many(&keys, alg, &prefix, count, now, threads)?,
                    ));
                    let prefix = format!("warm-{}", alg.provider());
                    let count = settings.warmup_requests;
                    warmup.push((
                        alg,
                        tokens::mint_many(&keys, alg, &prefix, count, now, threads)?,
                    ));
                }
                _ => {}
            }
        }
        Ok(Prepared {
            config: filter_config::filter_config(&keys, false),
            policy_config: filter_config::filter_config(&keys, true),
            keys,
            cached,
            first_sight,
            warmup,
        })
    }

    fn tokens_of(list: &[(Alg, Vec<String>)], alg: Alg) -> &[String] {
        list.iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, t)| t.as_slice())
            .unwrap_or_default()
    }

    fn cached_token(&self, alg: Alg) -> &str {
        self.cached
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, t)| t.as_str())
            .unwrap_or_default()
    }
}

/// A scenario's running, warmed-up Envoy.
struct Live {
    envoy: EnvoyProcess,
    addr: SocketAddr,
    /// Requests it answered (warm-up included), for [`verify`].
    sent: std::cell::Cell<u64>,
    // removed (with the access log) when the run ends
    _dir: tempfile::TempDir,
}

/// Start every scenario's Envoy, run the rounds, stop them all.
/// `progress` hears one line per step.
pub fn run_all(
    settings: &Settings,
    scenarios: &[Scenario],
    prepared: &Prepared,
    rt: &tokio::runtime::Runtime,
    mut progress: impl FnMut(&str),
) -> Result<Vec<ScenarioResult>, BenchError> {
    let ticks_per_second = cpu_time::clock_ticks_per_second();
    let mut live = Vec::with_capacity(scenarios.len());
    for scenario in scenarios {
        let l = start(settings, scenario, prepared)?;
        warm_up(settings, scenario, prepared, &l, rt)?;
        progress(&format!(
            "started {} (Envoy pid {}, port {})",
            scenario.id,
            l.envoy.pid(),
            l.addr.port()
        ));
        live.push(l);
    }
    let mut results: Vec<ScenarioResult> = scenarios
        .iter()
        .map(|&scenario| ScenarioResult {
            scenario,
            runs: Vec::new(),
            paired_baseline_cpu: Vec::new(),
        })
        .collect();
    let baseline = scenarios.iter().position(|s| s.id == BASELINE);
    let others: Vec<usize> = (0..scenarios.len())
        .filter(|&i| Some(i) != baseline)
        .collect();
    let mut window = |i: usize, round: usize| -> Result<Run, BenchError> {
        let run = measure(
            settings,
            &scenarios[i],
            prepared,
            &live[i],
            round,
            rt,
            ticks_per_second,
        )?;
        progress(&format!(
            "round {}/{} {:<26} {:>8.0} req/s  p50 {:>5} µs  p99 {:>6} µs  Envoy CPU {:>6.1} µs/req (ticks: {:.1})",
            round + 1,
            settings.repetitions,
            scenarios[i].id,
            run.requests_per_second,
            run.p50_us,
            run.p99_us,
            run.cpu_us_per_request,
            run.tick_cpu_us_per_request
        ));
        Ok(run)
    };
    for round in 0..settings.repetitions {
        if let Some(b) = baseline.filter(|_| others.is_empty()) {
            let run = window(b, round)?;
            results[b].runs.push(run);
        }
        for k in 0..others.len() {
            let i = others[(k + round) % others.len()];
            if let Some(b) = baseline {
                let base = window(b, round)?;
                results[i].paired_baseline_cpu.push(base.cpu_us_per_request);
                results[b].runs.push(base);
            }
            let run = window(i, round)?;
            results[i].runs.push(run);
        }
    }
    for (scenario, l) in scenarios.iter().zip(&live) {
        let prometheus = l.envoy.admin_get("/stats/prometheus").unwrap_or_default();
        let stats = l.envoy.admin_get("/stats").unwrap_or_default();
        verify::check(scenario, l.sent.get(), &prometheus, &stats)?;
    }
    progress("every filter's own counters agree with the client's");
    for l in live {
        l.envoy.stop();
    }
    Ok(results)
}

/// The scenario's Envoy, ready.
fn start(
    settings: &Settings,
    scenario: &Scenario,
    prepared: &Prepared,
) -> Result<Live, BenchError> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("kubeplex-bench-{}-", scenario.id))
        .tempdir()
        .map_err(|e| BenchError::io("create a temporary directory", e))?;
    let filter = match scenario.filter {
        FilterKind::None => HttpFilter::None,
        FilterKind::EmptyWasm => HttpFilter::EmptyWasm {
            wasm: settings
                .empty_wasm
                .as_deref()
                .ok_or_else(|| BenchError::Missing(PathBuf::from("<empty_filter.wasm>")))?,
        },
        FilterKind::Kubeplex { policy } => HttpFilter::Kubeplex {
            wasm: &settings.wasm,
            config: if policy {
                &prepared.policy_config
            } else {
                &prepared.config
            },
        },
        FilterKind::JwtAuthn { cache } => HttpFilter::JwtAuthn {
            keys: &prepared.keys,
            provider: scenario.tokens.alg(),
            cache,
        },
    };
    let log = dir.path().join("access.log");
    let config = bootstrap::bootstrap(filter, settings.access_log.then_some(log.as_path()));
    let envoy = EnvoyProcess::start(&settings.envoy, &config, dir.path(), bootstrap::LISTENER)?;
    Ok(Live {
        addr: SocketAddr::from(([127, 0, 0, 1], envoy.listener_port())),
        sent: std::cell::Cell::new(0),
        envoy,
        _dir: dir,
    })
}

fn plan(settings: &Settings, scenario: &Scenario, live: &Live, tokens: TokenFeed) -> LoadPlan {
    LoadPlan {
        label: scenario.id.to_string(),
        addr: live.addr,
        transport: Transport::Plain,
        path: PATH.to_string(),
        host: CONTEXT.to_string(),
        tokens,
        connections: settings.connections,
        duration: settings.duration,
        expect_status: 200,
    }
}

/// A run bounded by its token feed still has a deadline.
const FEED_DEADLINE: Duration = Duration::from_secs(120);

/// Warm-up requests (cached: the same token; first sight: tokens of the
/// same algorithm that the measured runs never send), so V8 has compiled
/// the hot paths and the connections' first requests are behind us.
fn warm_up(
    settings: &Settings,
    scenario: &Scenario,
    prepared: &Prepared,
    live: &Live,
    rt: &tokio::runtime::Runtime,
) -> Result<(), BenchError> {
    let feed = match scenario.tokens {
        TokenKind::Cached(alg) => {
            TokenFeed::each_once(&vec![
                prepared.cached_token(alg).to_string();
                settings.warmup_requests
            ])?
        }
        TokenKind::FirstSight(alg) => {
            TokenFeed::each_once(Prepared::tokens_of(&prepared.warmup, alg))?
        }
    };
    let mut warm = plan(settings, scenario, live, feed);
    warm.duration = FEED_DEADLINE;
    let outcome = rt
        .block_on(super::load::run(&warm))
        .map_err(|e| with_log(e, &live.envoy))?;
    live.sent.set(live.sent.get() + outcome.requests);
    Ok(())
}

/// One window of load on the scenario's Envoy, with its CPU time.
fn measure(
    settings: &Settings,
    scenario: &Scenario,
    prepared: &Prepared,
    live: &Live,
    round: usize,
    rt: &tokio::runtime::Runtime,
    ticks_per_second: u64,
) -> Result<Run, BenchError> {
    let measured = match scenario.tokens {
        TokenKind::Cached(alg) => plan(
            settings,
            scenario,
            live,
            TokenFeed::same(prepared.cached_token(alg))?,
        ),
        TokenKind::FirstSight(alg) => {
            let all = Prepared::tokens_of(&prepared.first_sight, alg);
            let n = settings.first_sight_requests;
            let slice = all.get(round * n..(round + 1) * n).unwrap_or_default();
            let mut p = plan(settings, scenario, live, TokenFeed::each_once(slice)?);
            p.duration = FEED_DEADLINE;
            p
        }
    };
    let pid = live.envoy.pid();
    rt.block_on(async {
        let connections = Connections::open(&measured).await?;
        let before = CpuSample::read(pid)?;
        let outcome = connections.drive(&measured).await?;
        let after = CpuSample::read(pid)?;
        live.sent.set(live.sent.get() + outcome.requests);
        Ok::<_, BenchError>(Run::from(&outcome, before.until(&after, ticks_per_second)))
    })
    .map_err(|e| with_log(e, &live.envoy))
}

/// A client error with the end of Envoy's log attached.
fn with_log(e: BenchError, envoy: &EnvoyProcess) -> BenchError {
    match e {
        BenchError::Client(msg) => {
            BenchError::Client(format!("{msg}\nEnvoy log:\n{}", envoy.log_tail()))
        }
        other => other,
    }
}
