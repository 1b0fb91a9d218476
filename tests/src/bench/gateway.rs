//! Gateway vs direct: one of our Kubernetes API test servers, reached
//! directly (TLS, client certificate) and through the real gateway
//! (`kubeplex up`: control plane + Envoy + the filter; TLS, bearer token),
//! with the same client, the same request (`GET` the configmaps of
//! `default`) and the same number of connections: one connection (each
//! request alone: the latency the gateway adds) and several (throughput).
//! Interleaved rounds.
//!
//! Three processes share the machine's cores: the load client (this
//! process's current-thread runtime), the test server (its own one-thread
//! runtime in this process) and, through the gateway, Envoy (one worker).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use rustls::pki_types::ServerName;
use serde_json::json;

use super::BenchError;
use super::cpu_time::{self, CpuSample};
use super::envoy_process::{die_with_parent, log_tail};
use super::keys::{AUDIENCE, Alg, SigningKeys};
use super::load::{self, Connections, LoadOutcome, LoadPlan, TokenFeed, Transport};
use super::stats::percentile;
use super::tls_client;
use super::tokens;
use crate::apiserver::{ApiServer, ApiServerConfig};
use crate::pki::Ca;

/// The context name in the gateway's kubeconfig.
const CONTEXT: &str = "bench";
/// The request, relative to the cluster.
const PATH: &str = "/api/v1/namespaces/default/configmaps";
/// Configmaps seeded into `default` (the list the request returns).
const CONFIGMAPS: usize = 5;
/// How long `kubeplex up` may take to serve the first request.
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
    /// The load shapes: concurrent keep-alive connections, e.g. `[1, 4]`.
    pub connection_counts: Vec<usize>,
    /// Measured time per path per round.
    pub duration: Duration,
    /// Warm-up requests on each path, once, before the rounds.
    pub warmup_requests: usize,
    /// Rounds.
    pub repetitions: usize,
    /// Envoy worker threads of the gateway.
    pub envoy_concurrency: usize,
}

/// One measurement of one path.
#[derive(Clone, Debug, PartialEq)]
pub struct PathRun {
    /// Requests per second of wall time.
    pub requests_per_second: f64,
    /// Median latency, µs.
    pub p50_us: u32,
    /// 99th percentile latency, µs.
    pub p99_us: u32,
    /// The gateway's Envoy CPU per request, µs (None for direct).
    pub envoy_cpu_us_per_request: Option<f64>,
}

impl PathRun {
    fn from(outcome: &LoadOutcome, envoy_cpu_seconds: Option<f64>) -> PathRun {
        PathRun {
            requests_per_second: outcome.requests_per_second(),
            p50_us: percentile(&outcome.latencies_us, 50.0).unwrap_or(0),
            p99_us: percentile(&outcome.latencies_us, 99.0).unwrap_or(0),
            envoy_cpu_us_per_request: envoy_cpu_seconds
                .map(|s| s * 1e6 / outcome.requests.max(1) as f64),
        }
    }
}

/// Both paths' runs at one load shape, one per round.
#[derive(Clone, Debug, Default)]
pub struct Shape {
    /// Concurrent connections.
    pub connections: usize,
    /// Straight to the test server.
    pub direct: Vec<PathRun>,
    /// Through `kubeplex up`.
    pub gateway: Vec<PathRun>,
}

/// Every load shape's runs.
#[derive(Clone, Debug, Default)]
pub struct GatewayResult {
    /// One per connection count, in the order asked for.
    pub shapes: Vec<Shape>,
    /// Bytes of one response body (the configmap list).
    pub response_bytes: usize,
}

/// How many configmaps the listed namespace holds.
pub fn seeded_configmaps() -> usize {
    CONFIGMAPS
}

/// A running `kubeplex up`; killed (with its Envoy) on drop.
pub(super) struct KubeplexUp {
    pub(super) child: Child,
    pub(super) log: PathBuf,
    envoy_pid: Option<u32>,
}

impl Drop for KubeplexUp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Envoy gets SIGTERM from the kernel when kubeplex dies; wait for it
        // so the next measurement has the cores to itself.
        if let Some(pid) = self.envoy_pid {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The cluster the gateway fronts: one of our Kubernetes API test servers,
/// on a runtime of its own, seeded with the configmaps the request lists.
pub struct Cluster {
    runtime: tokio::runtime::Runtime,
    server: ApiServer,
    ca: Ca,
    /// The user's own certificate, for the direct path.
    user_cert: crate::pki::CertKey,
    /// The gateway's client certificate (its kubeconfig user).
    gateway_client: crate::pki::CertKey,
}

impl Cluster {
    /// Start the server and seed it.
    pub fn start() -> Result<Cluster, BenchError> {
        let setup = |e: &dyn std::fmt::Display| BenchError::Gateway(e.to_string());
        let ca = Ca::new("bench-cluster-ca");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bench-apiserver")
            .enable_all()
            .build()
            .map_err(|e| BenchError::io("start the test server's runtime", e))?;
        let server = runtime
            .block_on(ApiServer::start(ApiServerConfig::with_ca(CONTEXT, &ca)))
            .map_err(|e| setup(&format!("start the test apiserver: {e}")))?;
        for i in 0..CONFIGMAPS {
            let data: serde_json::Map<String, serde_json::Value> = (0..8)
                .map(|k| {
                    (
                        format!("key-{k}"),
                        json!(format!("value {k} of configmap {i}")),
                    )
                })
                .collect();
            server
                .store()
                .create(
                    "configmaps",
                    json!({"metadata": {"name": format!("bench-{i}"), "namespace": "default"}, "data": data}),
                )
                .map_err(|e| setup(&format!("seed configmap: {e}")))?;
        }
        Ok(Cluster {
            user_cert: ca.client_cert(tokens::SUBJECT, &tokens::GROUPS),
            gateway_client: ca.client_cert("kubeplex-gateway", &["kubeplex:gateways"]),
            runtime,
            server,
            ca,
        })
    }

    /// The load straight to the server (TLS, the user's certificate).
    fn direct_plan(&self, duration: Duration) -> Result<LoadPlan, BenchError> {
        Ok(LoadPlan {
            label: "direct".to_string(),
            addr: self.server.addr(),
            transport: Transport::Tls {
                config: tls_client::client_config(self.ca.cert_pem(), Some(&self.user_cert))?,
                server_name: ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
            },
            path: PATH.to_string(),
            host: self.server.addr().to_string(),
            tokens: TokenFeed::None,
            connections: 1,
            duration,
            expect_status: 200,
        })
    }

    /// Stop the server.
    pub fn shutdown(self) {
        self.runtime.block_on(self.server.shutdown());
    }
}

/// One `kubeplex up` in front of the cluster, answering requests; stopped
/// (with its Envoy) and its files removed on drop.
pub struct Gateway {
    up: KubeplexUp,
    /// The load through it (TLS, one token).
    pub plan: LoadPlan,
    /// Its token (warm-up feeds).
    pub token: String,
    /// The control plane's admin address (`/metrics`).
    pub admin: String,
    /// Its Envoy's pid, for CPU time.
    pub envoy_pid: Option<u32>,
    /// The audit file Envoy writes (one line per request).
    pub audit_log: PathBuf,
    _dir: tempfile::TempDir,
}

/// The files of a `kubeplex up` in front of one context (`CONTEXT`):
/// the gateway's serving certificate, the ES256 issuer key, an empty
/// revocation list, the gateway config and the clusters kubeconfig.
pub struct GatewayFiles {
    /// The listener's port.
    pub port: u16,
    /// The gateway config.
    pub config: PathBuf,
    /// The clusters kubeconfig.
    pub kubeconfig: PathBuf,
}

impl GatewayFiles {
    /// Write them in `d`; `audit` is appended to the gateway config's
    /// `audit:` section (after `path: audit.log`), and may add top-level
    /// sections after it (e.g. `cache:`).
    pub fn write(
        d: &Path,
        gateway_ca: &Ca,
        keys: &SigningKeys,
        server_url: &str,
        cluster_ca: &Ca,
        gateway_client: &crate::pki::CertKey,
        audit: &str,
    ) -> Result<GatewayFiles, BenchError> {
        let gateway_serving = gateway_ca.server_cert(&["127.0.0.1", "localhost"]);
        let (cert, key) = gateway_serving
            .write_to(d, "gateway")
            .map_err(|e| BenchError::io("write the gateway certificate", e))?;
        let issuer_pem = keys
            .public_key_pem(Alg::Es256)
            .ok_or_else(|| BenchError::Gateway("no ES256 public key".into()))?;
        write(&d.join("issuer.pub.pem"), &issuer_pem)?;
        write(&d.join("revoked.yaml"), "revoked: []\n")?;
        let port = free_port()?;
        let config = d.join("gateway.yaml");
        write(
            &config,
            &format!(
                "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener:\n  address: 127.0.0.1\n  port: {port}\n  \
                 certificateFile: {}\n  keyFile: {}\njwt:\n- issuer:\n    url: {}\n    audiences: [{AUDIENCE}]\n    \
                 publicKeyFile: issuer.pub.pem\nrevocation:\n  file: revoked.yaml\naudit:\n  path: audit.log\n{audit}",
                cert.display(),
                key.display(),
                Alg::Es256.issuer(),
            ),
        )?;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let kubeconfig = d.join("clusters.yaml");
        write(
            &kubeconfig,
            &format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: {CONTEXT}\n  cluster:\n    server: {server_url}\n    \
                 certificate-authority-data: {}\nusers:\n- name: gateway\n  user:\n    client-certificate-data: {}\n    \
                 client-key-data: {}\ncontexts:\n- name: {CONTEXT}\n  context:\n    cluster: {CONTEXT}\n    user: gateway\n\
                 current-context: {CONTEXT}\n",
                b64(cluster_ca.cert_pem()),
                b64(&gateway_client.cert_pem),
                b64(&gateway_client.key_pem),
            ),
        )?;
        Ok(GatewayFiles {
            port,
            config,
            kubeconfig,
        })
    }
}

/// Start `kubeplex up` in front of `cluster`; `audit` is appended to the
/// gateway config's `audit:` section (after `path: audit.log`), e.g.
/// `  store: none\n`. Returns once a request passes.
pub fn start_gateway(
    settings: &Settings,
    keys: &SigningKeys,
    client_rt: &tokio::runtime::Runtime,
    cluster: &Cluster,
    audit: &str,
) -> Result<Gateway, BenchError> {
    let dir = tempfile::Builder::new()
        .prefix("kubeplex-bench-gateway-")
        .tempdir()
        .map_err(|e| BenchError::io("create a temporary directory", e))?;
    let d = dir.path();
    let gateway_ca = Ca::new("bench-gateway-ca");
    let files = GatewayFiles::write(
        d,
        &gateway_ca,
        keys,
        &cluster.server.url(),
        &cluster.ca,
        &cluster.gateway_client,
        audit,
    )?;
    let (port, config, kubeconfig) = (files.port, files.config, files.kubeconfig);
    let up = start_kubeplex_up(settings, d, &kubeconfig, &config)?;
    let admin = read_admin_address(&d.join("state/endpoints.json"))?;
    let gateway_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let token = tokens::mint(keys, Alg::Es256, "gateway-bench", tokens::unix_now())?;
    let plan = LoadPlan {
        label: "gateway".to_string(),
        addr: gateway_addr,
        transport: Transport::Tls {
            config: tls_client::client_config(gateway_ca.cert_pem(), None)?,
            server_name: ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
        },
        path: format!("/clusters/{CONTEXT}{PATH}"),
        host: gateway_addr.to_string(),
        tokens: TokenFeed::same(&token)?,
        connections: 1,
        duration: settings.duration,
        expect_status: 200,
    };
    let mut gateway = Gateway {
        up,
        plan,
        token,
        admin,
        envoy_pid: None,
        audit_log: d.join("audit.log"),
        _dir: dir,
    };
    wait_until_serving(client_rt, &mut gateway)?;
    gateway.envoy_pid = cpu_time::children_of(gateway.up.child.id())
        .into_iter()
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|c| c.trim() == "envoy")
                .unwrap_or(false)
        });
    gateway.up.envoy_pid = gateway.envoy_pid;
    Ok(gateway)
}

/// The routes arrive by xDS after Envoy is up: poll until a request passes.
fn wait_until_serving(
    client_rt: &tokio::runtime::Runtime,
    gateway: &mut Gateway,
) -> Result<(), BenchError> {
    let deadline = Instant::now() + READY_DEADLINE;
    let mut probe = gateway.plan.clone();
    probe.connections = 1;
    probe.tokens = TokenFeed::each_once(std::slice::from_ref(&gateway.token))?;
    loop {
        match client_rt.block_on(load::run(&probe)) {
            Ok(o) if o.requests == 1 => return Ok(()),
            other => {
                if let Ok(Some(status)) = gateway.up.child.try_wait() {
                    return Err(BenchError::Exited {
                        what: "kubeplex up".into(),
                        status: status.to_string(),
                        log_tail: log_tail(&gateway.up.log, 30),
                    });
                }
                if Instant::now() >= deadline {
                    return Err(BenchError::Timeout {
                        what: format!(
                            "the gateway to answer 200 (last: {:?}); kubeplex up log:\n{}",
                            other.err().map(|e| e.to_string()),
                            log_tail(&gateway.up.log, 30)
                        ),
                        seconds: READY_DEADLINE.as_secs(),
                    });
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// The control plane's admin address from `kubeplex up`'s `endpoints.json`
/// (`http://127.0.0.1:<port>`): `127.0.0.1:<port>`.
fn read_admin_address(endpoints: &Path) -> Result<String, BenchError> {
    let text = std::fs::read_to_string(endpoints)
        .map_err(|e| BenchError::io(format!("read {}", endpoints.display()), e))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| BenchError::Gateway(format!("{}: {e}", endpoints.display())))?;
    value["admin"]
        .as_str()
        .map(|a| a.trim_start_matches("http://").to_string())
        .ok_or_else(|| BenchError::Gateway(format!("{}: no admin address", endpoints.display())))
}

/// Run the comparison. `client_rt` drives the load; the test server gets a
/// runtime of its own.
pub fn run(
    settings: &Settings,
    keys: &SigningKeys,
    client_rt: &tokio::runtime::Runtime,
    mut progress: impl FnMut(&str),
) -> Result<GatewayResult, BenchError> {
    for p in [&settings.kubeplex, &settings.envoy, &settings.wasm] {
        if !p.is_file() {
            return Err(BenchError::Missing(p.clone()));
        }
    }
    let cluster = Cluster::start()?;
    let up = start_gateway(settings, keys, client_rt, &cluster, "")?;
    progress(&format!(
        "gateway: kubeplex up (Envoy --concurrency {}, audit store: the default SQLite) in front of test apiserver {}",
        settings.envoy_concurrency,
        cluster.server.url()
    ));
    let direct = cluster.direct_plan(settings.duration)?;
    let gateway = up.plan.clone();
    let token = up.token.clone();
    let mut one = direct.clone();
    one.duration = Duration::from_millis(50);
    let sample = client_rt.block_on(load::run(&one))?;
    let response_bytes = (sample.body_bytes / sample.requests.max(1)) as usize;

    // warm both paths once (V8, connection pools, TLS session state)
    for p in [&direct, &gateway] {
        let mut warm = p.clone();
        warm.connections = settings
            .connection_counts
            .iter()
            .copied()
            .max()
            .unwrap_or(1);
        warm.duration = Duration::from_secs(60);
        warm.tokens = match &p.tokens {
            TokenFeed::None => {
                // no feed to end it: a short time instead
                warm.duration = Duration::from_millis(300);
                TokenFeed::None
            }
            _ => TokenFeed::each_once(&vec![token.clone(); settings.warmup_requests])?,
        };
        client_rt.block_on(load::run(&warm))?;
    }

    let ticks = cpu_time::clock_ticks_per_second();
    let mut result = GatewayResult {
        response_bytes,
        shapes: settings
            .connection_counts
            .iter()
            .map(|&connections| Shape {
                connections,
                ..Default::default()
            })
            .collect(),
    };
    for round in 0..settings.repetitions {
        for shape in &mut result.shapes {
            let order: [&LoadPlan; 2] = if round % 2 == 0 {
                [&direct, &gateway]
            } else {
                [&gateway, &direct]
            };
            for p in order {
                let mut p = p.clone();
                p.connections = shape.connections;
                let is_gateway = p.label == "gateway";
                let envoy_pid = up.envoy_pid.filter(|_| is_gateway);
                let run = client_rt.block_on(async {
                    let connections = Connections::open(&p).await?;
                    let before = envoy_pid.map(CpuSample::read).transpose()?;
                    let outcome = connections.drive(&p).await?;
                    let cpu = match (before, envoy_pid) {
                        (Some(b), Some(pid)) => {
                            Some(b.until(&CpuSample::read(pid)?, ticks).seconds())
                        }
                        _ => None,
                    };
                    Ok::<_, BenchError>(PathRun::from(&outcome, cpu))
                })?;
                progress(&format!(
                    "round {}/{} {:<8} ×{} {:>8.0} req/s  p50 {:>5} µs  p99 {:>6} µs{}",
                    round + 1,
                    settings.repetitions,
                    p.label,
                    shape.connections,
                    run.requests_per_second,
                    run.p50_us,
                    run.p99_us,
                    run.envoy_cpu_us_per_request
                        .map(|c| format!("  Envoy CPU {c:.1} µs/req"))
                        .unwrap_or_default()
                ));
                if is_gateway {
                    shape.gateway.push(run);
                } else {
                    shape.direct.push(run);
                }
            }
        }
    }
    drop(up);
    cluster.shutdown();
    Ok(result)
}

/// `kubeplex up` on the generated files, until its endpoints file appears.
pub(super) fn start_kubeplex_up(
    settings: &Settings,
    dir: &Path,
    kubeconfig: &Path,
    config: &Path,
) -> Result<KubeplexUp, BenchError> {
    let log = dir.join("kubeplex-up.log");
    let log_file = std::fs::File::create(&log)
        .map_err(|e| BenchError::io(format!("create {}", log.display()), e))?;
    let log_err = log_file
        .try_clone()
        .map_err(|e| BenchError::io("clone the log file handle", e))?;
    let state = dir.join("state");
    let child = die_with_parent(&settings.kubeplex)
        .args(["up", "--kubeconfig"])
        .arg(kubeconfig)
        .arg("--config")
        .arg(config)
        .arg("--envoy")
        .arg(&settings.envoy)
        .arg("--filter-wasm")
        .arg(&settings.wasm)
        .arg("--state-dir")
        .arg(&state)
        .args(["--xds-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .args(["--envoy-admin-addr", "127.0.0.1:0"])
        .args(["--concurrency", &settings.envoy_concurrency.to_string()])
        .args(["--envoy-log-level", "warning"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .spawn()
        .map_err(|e| BenchError::io(format!("start {}", settings.kubeplex.display()), e))?;
    let mut up = KubeplexUp {
        child,
        log,
        envoy_pid: None,
    };
    let endpoints = state.join("endpoints.json");
    let deadline = Instant::now() + READY_DEADLINE;
    while !endpoints.is_file() {
        if let Ok(Some(status)) = up.child.try_wait() {
            return Err(BenchError::Exited {
                what: "kubeplex up".into(),
                status: status.to_string(),
                log_tail: log_tail(&up.log, 30),
            });
        }
        if Instant::now() >= deadline {
            return Err(BenchError::Timeout {
                what: format!("kubeplex up to write {}", endpoints.display()),
                seconds: READY_DEADLINE.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(up)
}

pub(super) fn write(path: &Path, text: &str) -> Result<(), BenchError> {
    std::fs::write(path, text).map_err(|e| BenchError::io(format!("write {}", path.display()), e))
}

/// A free port for the gateway listener (the gateway config names its
/// port), out of the range `kubeplex up`'s own port-0 listeners draw from.
pub(super) fn free_port() -> Result<u16, BenchError> {
    kubeplex_test_support::free_port().map_err(|e| BenchError::io("find a free port", e))
}
