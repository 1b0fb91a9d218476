//! `kubeplex-scale-bench`: the many-contexts benchmark (`make bench
//! BENCH_SCALE=10000`). See `kubeplex_tests::bench::scale` for what it
//! measures and how. Prints a Markdown table and writes it to `--out`.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kubeplex_test_support::Artifact;
use kubeplex_tests::bench::BenchError;
use kubeplex_tests::bench::scale::{self, ScaleResult, Settings};

/// Load a kubeconfig of N contexts into `kubeplex up`, edit it, and measure
/// edit → Envoy ACK, CPU per reload, memory.
#[derive(Parser, Debug)]
#[command(name = "kubeplex-scale-bench")]
struct Args {
    /// The Envoy binary (default: the workspace's .venv from `make setup`).
    #[arg(long, env = "KUBEPLEX_ENVOY")]
    envoy: Option<PathBuf>,
    /// The built filter module.
    #[arg(long, env = "KUBEPLEX_FILTER_WASM")]
    filter_wasm: Option<PathBuf>,
    /// The `kubeplex` binary; its CPU is measured, so a release build.
    #[arg(long, env = "KUBEPLEX_BIN")]
    kubeplex: Option<PathBuf>,
    /// Contexts in the kubeconfig.
    #[arg(long, default_value_t = 10_000)]
    contexts: usize,
    /// Edits measured (each adds a context).
    #[arg(long, default_value_t = 5)]
    edits: usize,
    /// The gateway config's healthChecks.intervalSeconds (0: none).
    #[arg(long, default_value_t = 5)]
    health_interval: u64,
    /// The gateway config's healthChecks.idleIntervalSeconds.
    #[arg(long, default_value_t = 60)]
    health_idle_interval: u64,
    /// Seconds of the idle window (CPU with no edit, subtracted from each edit's).
    #[arg(long, default_value_t = 10)]
    idle_seconds: u64,
    /// Envoy on state-of-the-world ADS (every cluster resent on each
    /// change) instead of delta: the comparison.
    #[arg(long)]
    state_of_the_world_xds: bool,
    /// Also run with no context, for Envoy's memory per context.
    #[arg(long)]
    no_baseline: bool,
    /// Where the Markdown table goes (also printed).
    #[arg(long, default_value = "target/bench-scale.md")]
    out: PathBuf,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kubeplex-scale-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), BenchError> {
    let locate = |explicit: Option<PathBuf>, artifact: Artifact| match explicit {
        Some(path) if path.is_file() => Ok(path),
        Some(path) => Err(BenchError::Missing(path)),
        None => Ok::<_, BenchError>(artifact.find()?),
    };
    let settings = Settings {
        kubeplex: locate(args.kubeplex, Artifact::Kubeplex)?,
        envoy: locate(args.envoy, Artifact::Envoy)?,
        wasm: locate(args.filter_wasm, Artifact::FilterWasm)?,
        contexts: args.contexts,
        edits: args.edits,
        health_interval_seconds: args.health_interval,
        health_idle_interval_seconds: args.health_idle_interval,
        idle_seconds: args.idle_seconds,
        state_of_the_world: args.state_of_the_world_xds,
    };
    let progress = |line: &str| eprintln!("{line}");
    let empty = if args.no_baseline {
        None
    } else {
        let baseline = Settings {
            contexts: 0,
            edits: 0,
            idle_seconds: 1,
            ..settings.clone()
        };
        Some(scale::run(&baseline, progress)?.envoy_rss)
    };
    let mut result = scale::run(&settings, progress)?;
    result.envoy_rss_empty = empty;
    let table = report(&settings, &result);
    println!("{table}");
    std::fs::write(&args.out, &table)
        .map_err(|e| BenchError::io(format!("write {}", args.out.display()), e))?;
    Ok(())
}

fn report(s: &Settings, r: &ScaleResult) -> String {
    let mb = |b: u64| b as f64 / (1 << 20) as f64;
    let mut acks: Vec<f64> = r
        .edits
        .iter()
        .map(|e| e.to_ack.as_secs_f64() * 1e3)
        .collect();
    acks.sort_by(f64::total_cmp);
    let median = |v: &[f64]| v.get(v.len() / 2).copied().unwrap_or(f64::NAN);
    let max = |v: &[f64]| v.iter().copied().fold(f64::NAN, f64::max);
    let mut cp: Vec<f64> = r.edits.iter().map(|e| e.control_plane_cpu * 1e3).collect();
    cp.sort_by(f64::total_cmp);
    let mut envoy: Vec<f64> = r.edits.iter().map(|e| e.envoy_cpu * 1e3).collect();
    envoy.sort_by(f64::total_cmp);
    let per_context = r.envoy_rss_empty.map(|empty| {
        format!(
            "{:.1} KB",
            (r.envoy_rss.saturating_sub(empty)) as f64 / 1024.0 / r.contexts.max(1) as f64
        )
    });
    let verdict = |ok: bool| if ok { "met" } else { "**missed**" };
    format!(
        "| {} contexts ({:.1} MB kubeconfig; {} xDS; healthChecks every {} s, idle contexts every {} s) | measured | target |\n\
         |---|---:|---|\n\
         | start → first configuration ACKed | {:.1} s | |\n\
         | edit → every Envoy ACKed (median / max of {}) | {:.0} / {:.0} ms | ≤ 1 s: {} |\n\
         | control plane CPU per reload (median) | {:.0} ms | |\n\
         | Envoy CPU per reload (median) | {:.0} ms | |\n\
         | control plane RSS after the edits (peak since start) | {:.0} MB ({:.0} MB) | ≤ 100 MB: {} |\n\
         | Envoy RSS (per context) | {:.0} MB ({}) | |\n\
         | idle CPU: control plane / Envoy (health checks, /status polling) | {:.1}% / {:.1}% of a core | |\n",
        r.contexts,
        r.kubeconfig_bytes as f64 / 1e6,
        scale::xds_name(s),
        s.health_interval_seconds,
        s.health_idle_interval_seconds,
        r.first_ack.as_secs_f64(),
        r.edits.len(),
        median(&acks),
        max(&acks),
        verdict(max(&acks) <= 1000.0),
        median(&cp),
        median(&envoy),
        mb(r.control_plane_rss),
        mb(r.control_plane_rss_peak),
        verdict(r.control_plane_rss <= 100 << 20),
        mb(r.envoy_rss),
        per_context.unwrap_or_else(|| "no baseline run".into()),
        r.idle_control_plane_cpu * 100.0,
        r.idle_envoy_cpu * 100.0,
    )
}
