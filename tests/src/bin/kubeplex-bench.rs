//! `kubeplex-bench`: the kubeplex benchmark (`make bench`). See
//! `kubeplex_tests::bench` for what it measures and how; `--help` for the
//! knobs. Prints a Markdown report and writes it to `--out`.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use kubeplex_test_support::Artifact;
use kubeplex_tests::bench::{
    BenchError, audit_store, discovery_cache, gateway, keys, report, runner, scenarios, tokens,
    whole_gateway,
};

/// The kubeplex benchmark: the filter in real Envoy vs no filter vs Envoy's
/// `jwt_authn` (CPU per request), the gateway vs direct, and the audit
/// store (`--skip-filters --skip-gateway` runs only that part).
#[derive(Parser, Debug)]
#[command(name = "kubeplex-bench")]
struct Args {
    /// The Envoy binary (default: the workspace's .venv from `make setup`).
    #[arg(long, env = "KUBEPLEX_ENVOY")]
    envoy: Option<PathBuf>,
    /// The built filter module.
    #[arg(long, env = "KUBEPLEX_FILTER_WASM")]
    filter_wasm: Option<PathBuf>,
    /// A proxy-wasm filter that does nothing, for the "empty wasm filter"
    /// row (default: the filter crate's `empty_filter` example if built:
    /// `cargo build -p kubeplex-filter --target wasm32-wasip1 --profile
    /// wasm --example empty_filter`).
    #[arg(long)]
    empty_wasm: Option<PathBuf>,
    /// The `kubeplex` binary for gateway vs direct (default: the
    /// workspace's target/debug/kubeplex from `make build`; the control plane is not on the
    /// request path, so a debug build does not skew the numbers).
    #[arg(long, env = "KUBEPLEX_BIN")]
    kubeplex: Option<PathBuf>,
    /// Where the Markdown report goes (also printed).
    #[arg(long, default_value = "target/bench.md")]
    out: PathBuf,
    /// Concurrent keep-alive connections of the filter runs. One: Envoy
    /// then handles every request on a wakeup of its own in every scenario,
    /// so CPU/request does not depend on how requests happen to batch
    /// (which varies with the client's speed and the machine's load).
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Measured milliseconds of each cached-token (and baseline) window.
    #[arg(long, default_value_t = 500)]
    duration_ms: u64,
    /// Requests (distinct tokens) of each first-sight window.
    #[arg(long, default_value_t = 1500)]
    first_sight_requests: usize,
    /// Warm-up requests on each Envoy (and each gateway/direct path), once.
    #[arg(long, default_value_t = 300)]
    warmup_requests: usize,
    /// Rounds (every scenario once per round, interleaved).
    #[arg(long, default_value_t = 7)]
    repetitions: usize,
    /// Measured milliseconds of each gateway/direct window.
    #[arg(long, default_value_t = 1000)]
    gateway_duration_ms: u64,
    /// Load shapes of gateway vs direct: connection counts, comma-separated
    /// (1: the latency a request sees alone; more: throughput).
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    gateway_connections: Vec<usize>,
    /// Envoy worker threads of the gateway (`kubeplex up --concurrency`).
    #[arg(long, default_value_t = 1)]
    gateway_concurrency: usize,
    /// Only these filter scenarios (repeatable; the baseline and the
    /// `jwt_authn` references come along). Ids: see the progress lines.
    #[arg(long = "scenario")]
    scenarios: Vec<String>,
    /// No access log in the filter scenarios (the gateway always logs; this
    /// only shows what the audit line costs).
    #[arg(long)]
    no_access_log: bool,
    /// Skip the filter micro-benchmark.
    #[arg(long)]
    skip_filters: bool,
    /// Skip gateway vs direct.
    #[arg(long)]
    skip_gateway: bool,
    /// Connections of the audit store runs (the gateway's throughput shape).
    #[arg(long, default_value_t = 4)]
    audit_connections: usize,
    /// Measured milliseconds of each audit store window (several of Envoy's
    /// one-second log flushes, so a window's last flush weighs little).
    #[arg(long, default_value_t = 5000)]
    audit_duration_ms: u64,
    /// Skip the audit store runs.
    #[arg(long)]
    skip_audit: bool,
    /// Skip the discovery cache comparison.
    #[arg(long)]
    skip_cache: bool,
    /// Only the discovery cache comparison (skips the others).
    #[arg(long)]
    only_cache: bool,
    /// Users of the discovery cache comparison (one cold kubectl each).
    #[arg(long, default_value_t = 20)]
    cache_users: usize,
    /// The kubectl of the discovery cache comparison.
    #[arg(long, env = "KUBECTL", default_value = "kubectl")]
    kubectl: PathBuf,
    /// Concurrent HTTP/2 connections of the whole-gateway comparison.
    #[arg(long, default_value_t = 16)]
    whole_gateway_connections: usize,
    /// Measured milliseconds of each whole-gateway window.
    #[arg(long, default_value_t = 1000)]
    whole_gateway_duration_ms: u64,
    /// Skip the whole-gateway comparison (kubeplex vs `jwt_authn` + cache
    /// over TLS and HTTP/2).
    #[arg(long)]
    skip_whole_gateway: bool,
    /// The whole gateway's tuning run too: the kubeplex Envoy once more per
    /// configuration change (router stats, Envoy headers, request id,
    /// HTTP/2 limits, buffer limit, log flush, TLS version, …), each alone,
    /// in the same rounds (one Envoy each; a few minutes more).
    #[arg(long)]
    whole_gateway_tuning: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kubeplex-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), BenchError> {
    let started = Instant::now();
    let envoy = locate(args.envoy.clone(), Artifact::Envoy)?;
    let wasm = locate(args.filter_wasm.clone(), Artifact::FilterWasm)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::io("start the client runtime", e))?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let keys = keys::SigningKeys::fixtures()?;

    let mut rows = Vec::new();
    if !args.skip_filters && !args.only_cache {
        let settings = runner::Settings {
            envoy: envoy.clone(),
            wasm: wasm.clone(),
            empty_wasm: args
                .empty_wasm
                .clone()
                .or_else(|| Some(kubeplex_test_support::empty_filter_wasm()))
                .filter(|p| p.is_file()),
            connections: args.connections,
            duration: Duration::from_millis(args.duration_ms),
            first_sight_requests: args.first_sight_requests,
            warmup_requests: args.warmup_requests,
            repetitions: args.repetitions.max(1),
            access_log: !args.no_access_log,
        };
        let mut selected = scenarios::selected(&args.scenarios);
        if settings.empty_wasm.is_none() {
            eprintln!(
                "no empty wasm filter built (--empty-wasm): skipping the {} row",
                scenarios::EMPTY_WASM
            );
            selected.retain(|s| s.id != scenarios::EMPTY_WASM);
        }
        let t = Instant::now();
        let prepared = runner::Prepared::new(&settings, &selected)?;
        eprintln!(
            "minted the tokens in {:.1} s; {} scenarios × {} rounds",
            t.elapsed().as_secs_f64(),
            selected.len(),
            settings.repetitions
        );
        let results = runner::run_all(&settings, &selected, &prepared, &rt, |line| {
            eprintln!("{line}")
        })?;
        rows = report::rows(&results);
    }
    let gateway_settings = || -> Result<gateway::Settings, BenchError> {
        Ok(gateway::Settings {
            kubeplex: locate(args.kubeplex.clone(), Artifact::Kubeplex)?,
            envoy: envoy.clone(),
            wasm: wasm.clone(),
            connection_counts: args.gateway_connections.clone(),
            duration: Duration::from_millis(args.gateway_duration_ms),
            warmup_requests: args.warmup_requests,
            repetitions: args.repetitions.max(1),
            envoy_concurrency: args.gateway_concurrency,
        })
    };
    let gateway = if args.skip_gateway || args.only_cache {
        None
    } else {
        Some(gateway::run(&gateway_settings()?, &keys, &rt, |line| {
            eprintln!("{line}")
        })?)
    };
    let audit = if args.skip_audit || args.only_cache {
        None
    } else {
        Some(audit_store::run(
            &gateway::Settings {
                duration: Duration::from_millis(args.audit_duration_ms),
                ..gateway_settings()?
            },
            args.audit_connections,
            &keys,
            &rt,
            |line| eprintln!("{line}"),
        )?)
    };

    let cache = if args.skip_cache {
        None
    } else {
        let settings = discovery_cache::Settings {
            kubeplex: locate(args.kubeplex.clone(), Artifact::Kubeplex)?,
            envoy: envoy.clone(),
            wasm: wasm.clone(),
            kubectl: args.kubectl.clone(),
            users: args.cache_users.max(1),
            envoy_concurrency: args.gateway_concurrency,
        };
        Some(discovery_cache::run(&settings, &keys, |line| {
            eprintln!("{line}")
        })?)
    };

    let whole = if args.skip_whole_gateway || args.only_cache {
        None
    } else {
        let settings = whole_gateway::Settings {
            envoy: envoy.clone(),
            wasm: wasm.clone(),
            empty_wasm: args
                .empty_wasm
                .clone()
                .or_else(|| Some(kubeplex_test_support::empty_filter_wasm()))
                .filter(|p| p.is_file()),
            connections: args.whole_gateway_connections.max(1),
            duration: Duration::from_millis(args.whole_gateway_duration_ms),
            warmup_requests: args.warmup_requests,
            repetitions: args.repetitions.max(1),
            access_log: !args.no_access_log,
            tuning: args.whole_gateway_tuning,
        };
        Some(whole_gateway::run(&settings, &keys, &rt, |line| {
            eprintln!("{line}")
        })?)
    };

    let info = report::RunInfo {
        date: report::utc_date(tokens::unix_now()),
        cores,
        envoy_version: envoy_version(&envoy),
        commit: git_describe(),
        settings: format!(
            "Load client (hyper, one thread; HTTP/1.1 keep-alive, HTTP/2 for the whole \
             gateway): {} connection(s) for the filter windows, {:?} for gateway vs direct, \
             {} for the whole gateway; {} rounds; windows of {} ms (cached token, baseline) \
             or {} distinct tokens (first sight), {} ms for gateway vs direct and the whole \
             gateway; {} warm-up requests per Envoy first.",
            args.connections,
            args.gateway_connections,
            args.whole_gateway_connections,
            args.repetitions.max(1),
            args.duration_ms,
            args.first_sight_requests,
            args.gateway_duration_ms,
            args.warmup_requests
        ),
        elapsed_seconds: started.elapsed().as_secs_f64(),
        access_log: !args.no_access_log,
    };
    let mut doc = report::document(&info, &rows, gateway.as_ref(), whole.as_ref());
    if let Some(audit) = &audit {
        doc.push_str(&report::audit_section(audit));
    }
    if let Some(cache) = &cache {
        doc.push_str(&report::discovery_cache_section(cache));
    }
    println!("{doc}");
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| BenchError::io(format!("create {}", parent.display()), e))?;
    }
    std::fs::write(&args.out, &doc)
        .map_err(|e| BenchError::io(format!("write {}", args.out.display()), e))?;
    eprintln!("report written to {}", args.out.display());
    Ok(())
}

/// `explicit` (the flag, or its environment variable) if it is a file,
/// else where `make` builds `artifact`.
fn locate(explicit: Option<PathBuf>, artifact: Artifact) -> Result<PathBuf, BenchError> {
    match explicit {
        Some(path) if path.is_file() => Ok(path),
        Some(path) => Err(BenchError::Missing(path)),
        None => Ok(artifact.find()?),
    }
}

fn envoy_version(envoy: &Path) -> String {
    std::process::Command::new(envoy)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| {
            s.lines()
                .find(|l| l.contains("version"))
                .map(|l| l.trim().to_string())
        })
        .map(|l| {
            // "envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL"
            let v = l.rsplit(": ").next().unwrap_or(&l);
            format!(
                "Envoy {}",
                v.split('/').skip(1).collect::<Vec<_>>().join("/")
            )
        })
        .unwrap_or_else(|| "Envoy (version unknown)".into())
}

fn git_describe() -> String {
    std::process::Command::new("git")
        .arg("-C")
        .arg(kubeplex_test_support::workspace())
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}
