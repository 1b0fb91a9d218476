//! The discovery cache: cold `kubectl get pods` (each with an empty
//! `--cache-dir`, as in a CI job or a new container) as 20 different users
//! against one cluster, directly and through three gateways (no cache,
//! `cache.discovery` per caller, `cache.discovery.shared: true`), each in
//! front of a test apiserver of its own, so each gateway's upstream
//! requests are counted alone. Interleaved: user after user, every path in
//! turn. Then the 20 users once more through the per-caller cache (every
//! kubectl still cold): what a repeat caller (a CI identity) gets.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::BenchError;
use super::gateway::{self, KubeplexUp, start_kubeplex_up, write};
use super::keys::{Alg, SigningKeys};
use super::stats::percentile;
use super::tokens;
use crate::apiserver::{ApiServer, ApiServerConfig, RecordedRequest};
use crate::pki::Ca;

/// The context name in the gateways' kubeconfig.
const CONTEXT: &str = "bench";
/// How long a gateway may take to route its first request.
const READY_DEADLINE: Duration = Duration::from_secs(60);

/// How the comparison runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The `kubeplex` binary.
    pub kubeplex: PathBuf,
    /// The Envoy binary it supervises.
    pub envoy: PathBuf,
    /// The filter module.
    pub wasm: PathBuf,
    /// The kubectl to run.
    pub kubectl: PathBuf,
    /// Users (one cold kubectl each, per path).
    pub users: usize,
    /// Envoy worker threads of each gateway.
    pub envoy_concurrency: usize,
}

/// One path's cold kubectls.
#[derive(Clone, Debug, PartialEq)]
pub struct PathResult {
    /// What was measured.
    pub label: String,
    /// Discovery requests (`/api`, `/apis`, group versions, `/openapi`)
    /// that reached the cluster.
    pub upstream_discovery: usize,
    /// Every request that reached the cluster (health checks excluded).
    pub upstream_total: usize,
    /// Each kubectl's wall time, ms.
    pub wall_ms: Vec<f64>,
}

impl PathResult {
    /// Median wall time of one kubectl, ms.
    pub fn median_ms(&self) -> f64 {
        median(&self.wall_ms)
    }

    /// Sum of the kubectls' wall times, s.
    pub fn total_s(&self) -> f64 {
        self.wall_ms.iter().sum::<f64>() / 1000.0
    }
}

/// Every path, in the order of the report.
#[derive(Clone, Debug, Default)]
pub struct DiscoveryCacheResult {
    /// Users (one kubectl each per path).
    pub users: usize,
    /// Direct, no cache, per caller, shared, per caller again.
    pub paths: Vec<PathResult>,
}

/// Whether `r` is a discovery request.
pub fn is_discovery(r: &RecordedRequest) -> bool {
    let segments = r.path.trim_matches('/').split('/').count();
    match r.path.split('/').nth(1) {
        Some("api") => segments <= 2,
        Some("apis") => segments <= 3,
        Some("openapi") => true,
        _ => false,
    }
}

fn is_health_check(r: &RecordedRequest) -> bool {
    matches!(r.path.as_str(), "/readyz" | "/livez" | "/healthz")
}

/// One way to reach the cluster: its server, kubeconfigs per user, and
/// (through a gateway) the running `kubeplex up`.
struct Access {
    label: &'static str,
    server: ApiServer,
    kubeconfigs: Vec<PathBuf>,
    _up: Option<KubeplexUp>,
    result: PathResult,
}

/// Run the comparison.
pub fn run(
    settings: &Settings,
    keys: &SigningKeys,
    mut progress: impl FnMut(&str),
) -> Result<DiscoveryCacheResult, BenchError> {
    let dir = tempfile::Builder::new()
        .prefix("kubeplex-bench-cache-")
        .tempdir()
        .map_err(|e| BenchError::io("create a temporary directory", e))?;
    let d = dir.path();
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-apiserver")
        .enable_all()
        .build()
        .map_err(|e| BenchError::io("start the test servers' runtime", e))?;
    let cluster_ca = Ca::new("bench-cluster-ca");
    let ca_file = cluster_ca
        .write_cert_to(d, "cluster-ca")
        .map_err(|e| BenchError::io("write the cluster CA", e))?;
    let start_server = |name: &str| {
        server_rt
            .block_on(ApiServer::start(ApiServerConfig::with_ca(
                name,
                &cluster_ca,
            )))
            .map_err(|e| BenchError::Gateway(format!("start a test apiserver: {e}")))
    };
    let users: Vec<String> = (0..settings.users).map(|i| format!("user-{i}")).collect();
    let now = tokens::unix_now();

    // direct: one client certificate per user
    let direct_server = start_server("direct")?;
    let mut direct_kubeconfigs = Vec::new();
    for user in &users {
        let cert = cluster_ca.client_cert(user, &["dev"]);
        let (crt, key) = cert
            .write_to(d, user)
            .map_err(|e| BenchError::io("write a user certificate", e))?;
        let file = d.join(format!("direct-{user}.kubeconfig"));
        write(
            &file,
            &user_kubeconfig(&direct_server.url(), &ca_file, Credential::Cert(&crt, &key)),
        )?;
        direct_kubeconfigs.push(file);
    }
    let mut paths = vec![Access {
        label: "direct (client certificate)",
        server: direct_server,
        kubeconfigs: direct_kubeconfigs,
        _up: None,
        result: empty("direct"),
    }];

    let gateway_ca = Ca::new("bench-gateway-ca");
    let gateway_ca_file = gateway_ca
        .write_cert_to(d, "gateway-ca")
        .map_err(|e| BenchError::io("write the gateway CA", e))?;
    let gateway_client = cluster_ca.client_cert("kubeplex-gateway", &["kubeplex:gateways"]);
    let user_tokens = users
        .iter()
        .map(|u| tokens::mint_for(keys, Alg::Es256, u, &format!("{u}-jti"), now))
        .collect::<Result<Vec<_>, _>>()?;
    for (label, cache) in [
        ("gateway, no cache", None),
        ("gateway, cache per caller", Some(false)),
        ("gateway, cache shared: true", Some(true)),
    ] {
        let server = start_server(label)?;
        let gw_dir = d.join(format!("gateway-{}", paths.len()));
        std::fs::create_dir_all(gw_dir.join("cache"))
            .map_err(|e| BenchError::io("create the gateway's directory", e))?;
        let (port, up) = start_gateway(
            settings,
            &gw_dir,
            &server,
            &cluster_ca,
            &gateway_client,
            &gateway_ca,
            keys,
            cache,
        )?;
        let url = format!("https://127.0.0.1:{port}/clusters/{CONTEXT}");
        let mut kubeconfigs = Vec::new();
        for (user, token) in users.iter().zip(&user_tokens) {
            let file = gw_dir.join(format!("{user}.kubeconfig"));
            write(
                &file,
                &user_kubeconfig(&url, &gateway_ca_file, Credential::Token(token)),
            )?;
            kubeconfigs.push(file);
        }
        wait_routed(settings, &kubeconfigs[0], d, &up)?;
        server.clear_requests();
        progress(&format!("discovery cache: {label} on port {port}"));
        paths.push(Access {
            label,
            server,
            kubeconfigs,
            _up: Some(up),
            result: empty(label),
        });
    }

    for (i, user) in users.iter().enumerate() {
        for p in &mut paths {
            let ms = cold_get_pods(settings, &p.kubeconfigs[i], d)?;
            p.result.wall_ms.push(ms);
        }
        progress(&format!(
            "discovery cache: {user}: {}",
            paths
                .iter()
                .map(|p| format!("{:.0} ms", p.result.wall_ms[i]))
                .collect::<Vec<_>>()
                .join(" / ")
        ));
    }
    let mut result = DiscoveryCacheResult {
        users: settings.users,
        paths: Vec::new(),
    };
    for p in &mut paths {
        count_upstream(&p.server, &mut p.result);
        p.result.label = p.label.to_string();
    }
    // the same users again, still cold kubectls, through the per-caller cache
    let per_caller = &paths[2];
    per_caller.server.clear_requests();
    let mut again = empty("gateway, cache per caller, the same 20 users again");
    for kubeconfig in &per_caller.kubeconfigs {
        again.wall_ms.push(cold_get_pods(settings, kubeconfig, d)?);
    }
    count_upstream(&per_caller.server, &mut again);
    result.paths = paths.iter().map(|p| p.result.clone()).collect();
    result.paths.push(again);
    drop(paths);
    Ok(result)
}

fn empty(label: &str) -> PathResult {
    PathResult {
        label: label.to_string(),
        upstream_discovery: 0,
        upstream_total: 0,
        wall_ms: Vec::new(),
    }
}

fn count_upstream(server: &ApiServer, result: &mut PathResult) {
    let requests = server.requests();
    result.upstream_discovery = requests.iter().filter(|r| is_discovery(r)).count();
    result.upstream_total = requests.iter().filter(|r| !is_health_check(r)).count();
}

enum Credential<'a> {
    Cert(&'a Path, &'a Path),
    Token(&'a str),
}

fn user_kubeconfig(server: &str, ca: &Path, credential: Credential<'_>) -> String {
    let user = match credential {
        Credential::Cert(crt, key) => format!(
            "    client-certificate: {}\n    client-key: {}\n",
            crt.display(),
            key.display()
        ),
        Credential::Token(token) => format!("    token: {token}\n"),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    \
         certificate-authority: {}\nusers:\n- name: u\n  user:\n{user}contexts:\n- name: c\n  \
         context: {{cluster: c, user: u, namespace: default}}\ncurrent-context: c\n",
        ca.display()
    )
}

/// `kubeplex up` in `dir` in front of `server`; its listener port.
#[allow(clippy::too_many_arguments)]
fn start_gateway(
    settings: &Settings,
    dir: &Path,
    server: &ApiServer,
    cluster_ca: &Ca,
    gateway_client: &crate::pki::CertKey,
    gateway_ca: &Ca,
    keys: &SigningKeys,
    cache: Option<bool>,
) -> Result<(u16, KubeplexUp), BenchError> {
    let cache_section = match cache {
        None => String::new(),
        Some(shared) => format!(
            "cache:\n  discovery:\n    directory: {}\n    ttl: 10m\n    shared: {shared}\n",
            dir.join("cache").display()
        ),
    };
    let files = gateway::GatewayFiles::write(
        dir,
        gateway_ca,
        keys,
        &server.url(),
        cluster_ca,
        gateway_client,
        &cache_section,
    )?;
    let (port, config, kubeconfig) = (files.port, files.config, files.kubeconfig);
    let up = start_kubeplex_up(
        &gateway::Settings {
            kubeplex: settings.kubeplex.clone(),
            envoy: settings.envoy.clone(),
            wasm: settings.wasm.clone(),
            connection_counts: Vec::new(),
            duration: Duration::ZERO,
            warmup_requests: 0,
            repetitions: 1,
            envoy_concurrency: settings.envoy_concurrency,
        },
        dir,
        &kubeconfig,
        &config,
    )?;
    Ok((port, up))
}

/// Until a kubectl gets through (the routes arrive by xDS after Envoy is up).
fn wait_routed(
    settings: &Settings,
    kubeconfig: &Path,
    scratch: &Path,
    up: &KubeplexUp,
) -> Result<(), BenchError> {
    let deadline = Instant::now() + READY_DEADLINE;
    loop {
        // (`--raw` replaces the server URL's path, prefix included)
        let version = format!("/clusters/{CONTEXT}/version");
        let out = kubectl(settings, kubeconfig, scratch, &["get", "--raw", &version])?;
        if out.status.success() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(BenchError::Timeout {
                what: format!(
                    "the gateway to route kubectl ({}); kubeplex up log:\n{}",
                    String::from_utf8_lossy(&out.stderr).trim(),
                    super::envoy_process::log_tail(&up.log, 30)
                ),
                seconds: READY_DEADLINE.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One cold `kubectl get pods`, ms of wall time.
fn cold_get_pods(
    settings: &Settings,
    kubeconfig: &Path,
    scratch: &Path,
) -> Result<f64, BenchError> {
    let started = Instant::now();
    let out = kubectl(settings, kubeconfig, scratch, &["get", "pods"])?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if !out.status.success() {
        return Err(BenchError::Gateway(format!(
            "kubectl get pods ({}): {}",
            kubeconfig.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(ms)
}

/// kubectl with an empty discovery cache of its own.
fn kubectl(
    settings: &Settings,
    kubeconfig: &Path,
    scratch: &Path,
    args: &[&str],
) -> Result<std::process::Output, BenchError> {
    let home = tempfile::Builder::new()
        .prefix("kubectl-")
        .tempdir_in(scratch)
        .map_err(|e| BenchError::io("create a kubectl home", e))?;
    Command::new(&settings.kubectl)
        .env("HOME", home.path())
        .env("KUBECONFIG", kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .arg("--cache-dir")
        .arg(home.path().join("cache"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BenchError::io(format!("run {}", settings.kubectl.display()), e))
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let micros: Vec<u32> = sorted.iter().map(|ms| (ms * 1000.0) as u32).collect();
    percentile(&micros, 50.0).map_or(0.0, |us| f64::from(us) / 1000.0)
}

#[cfg(test)]
mod tests;
