//! The 10,000-context benchmark (issue 16): `kubeplex up` in front of a
//! kubeconfig with N contexts (all pointing at one test apiserver, each
//! cluster entry with its CA inline, one client-certificate user), then
//! edits of that kubeconfig (a context added each time), measuring:
//!
//! - time from the file's rename to every Envoy having ACKed the new
//!   version (the control plane's [`STATUS`], polled every [`POLL`]; its
//!   file watcher debounces 150 ms first);
//! - CPU per reload of the control plane and of Envoy (process CPU during
//!   the edit, less what the same time costs when idle: health checks and
//!   the status polling itself);
//! - resident memory of both, and Envoy's per context.
//!
//! What Envoy's health checks cost is part of the idle figure: the gateway
//! config's `healthChecks` are set from the command line and printed.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;

use super::BenchError;
use super::cpu_time::{self, CpuSample};
use super::envoy_process::{die_with_parent, log_tail};
use super::plain_http;
use crate::apiserver::{ApiServer, ApiServerConfig};
use crate::pki::Ca;

/// How often `/status` is asked while waiting for an ACK.
pub const POLL: Duration = Duration::from_millis(25);
/// The status asked: the summary (the version and what each Envoy ACKed,
/// contexts only counted), so that polling does not cost the control plane
/// a listing of every context 40 times a second.
const STATUS: &str = "/status?contexts=summary";
const DEADLINE: Duration = Duration::from_secs(600);

/// What to run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The `kubeplex` binary (a release build: its CPU is measured).
    pub kubeplex: PathBuf,
    /// Envoy.
    pub envoy: PathBuf,
    /// The filter module.
    pub wasm: PathBuf,
    /// Contexts in the kubeconfig.
    pub contexts: usize,
    /// Edits measured.
    pub edits: usize,
    /// `healthChecks.intervalSeconds` (0: none).
    pub health_interval_seconds: u64,
    /// `healthChecks.idleIntervalSeconds`.
    pub health_idle_interval_seconds: u64,
    /// Seconds of the idle window the edits' CPU is corrected by.
    pub idle_seconds: u64,
    /// Envoy on state-of-the-world ADS instead of delta (for comparison).
    pub state_of_the_world: bool,
}

/// One edit's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Edit {
    /// Rename → every Envoy ACKed.
    pub to_ack: Duration,
    /// Control plane CPU seconds, idle cost subtracted.
    pub control_plane_cpu: f64,
    /// Envoy CPU seconds, idle cost subtracted.
    pub envoy_cpu: f64,
}

/// Everything measured.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleResult {
    /// Contexts at the start.
    pub contexts: usize,
    /// Bytes of the kubeconfig.
    pub kubeconfig_bytes: usize,
    /// Start of `kubeplex up` → Envoy ACKed the first configuration.
    pub first_ack: Duration,
    /// Control plane CPU seconds per second while idle.
    pub idle_control_plane_cpu: f64,
    /// Envoy CPU seconds per second while idle.
    pub idle_envoy_cpu: f64,
    /// The edits.
    pub edits: Vec<Edit>,
    /// Control plane resident memory after the edits, bytes.
    pub control_plane_rss: u64,
    /// The most the control plane was resident since it started (its first
    /// load included), bytes.
    pub control_plane_rss_peak: u64,
    /// Envoy resident memory after the edits, bytes.
    pub envoy_rss: u64,
    /// Envoy resident memory of the same Envoy with no context (measured
    /// in a run of 0 contexts by the caller), bytes; None when not known.
    pub envoy_rss_empty: Option<u64>,
}

struct Up {
    child: Child,
    log: PathBuf,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run the benchmark once.
pub fn run(settings: &Settings, mut progress: impl FnMut(&str)) -> Result<ScaleResult, BenchError> {
    let dir = tempfile::Builder::new()
        .prefix("kubeplex-bench-scale-")
        .tempdir()
        .map_err(|e| BenchError::io("create a temporary directory", e))?;
    let d = dir.path();
    let ca = Ca::new("bench-scale-cluster-ca");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| BenchError::io("start the test server's runtime", e))?;
    let server = rt
        .block_on(ApiServer::start(ApiServerConfig::with_ca("scale", &ca)))
        .map_err(|e| BenchError::Gateway(format!("start the test apiserver: {e}")))?;
    let client = ca.client_cert("kubeplex-gateway", &["kubeplex:gateways"]);
    let mut kubeconfig = Kubeconfig::new(&server.url(), &ca, &client);
    let names: Vec<String> = (0..settings.contexts)
        .map(|i| format!("ctx-{i:05}"))
        .collect();
    let config = write_gateway_config(d, settings)?;
    let kubeconfig_path = d.join("clusters.yaml");
    let text = kubeconfig.render(&names);
    write(&kubeconfig_path, &text)?;
    let kubeconfig_bytes = text.len();
    progress(&format!(
        "scale: {} contexts ({:.1} MB kubeconfig), {} xDS, healthChecks interval {} s, idle {} s",
        settings.contexts,
        kubeconfig_bytes as f64 / 1e6,
        xds_name(settings),
        settings.health_interval_seconds,
        settings.health_idle_interval_seconds
    ));

    let started = Instant::now();
    let mut up = start_up(settings, d, &kubeconfig_path, &config)?;
    let admin = wait_endpoints(&mut up, d)?;
    let mut version = wait_in_sync(&mut up, &admin, "")?;
    let first_ack = started.elapsed();
    progress(&format!(
        "scale: first configuration ACKed after {first_ack:.2?}"
    ));
    let envoy = cpu_time::children_of(up.child.id())
        .into_iter()
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "envoy")
        })
        .ok_or_else(|| BenchError::Gateway("no Envoy child of kubeplex up".into()))?;
    let cp = up.child.id();
    let ticks = cpu_time::clock_ticks_per_second();

    // Idle: what health checks and the status polling cost with no edit.
    let (cp0, envoy0) = (CpuSample::read(cp)?, CpuSample::read(envoy)?);
    let idle_started = Instant::now();
    while idle_started.elapsed() < Duration::from_secs(settings.idle_seconds) {
        let _ = plain_http::get(&admin, STATUS, Duration::from_secs(5));
        std::thread::sleep(POLL);
    }
    let idle_for = idle_started.elapsed().as_secs_f64();
    let idle_control_plane_cpu = cp0.until(&CpuSample::read(cp)?, ticks).seconds() / idle_for;
    let idle_envoy_cpu = envoy0.until(&CpuSample::read(envoy)?, ticks).seconds() / idle_for;
    progress(&format!(
        "scale: idle CPU: control plane {:.1}%, Envoy {:.1}% of a core",
        idle_control_plane_cpu * 100.0,
        idle_envoy_cpu * 100.0
    ));

    let mut edits = Vec::new();
    let mut names = names;
    for i in 0..settings.edits {
        names.push(format!("added-{i:03}"));
        let text = kubeconfig.render(&names);
        let tmp = d.join("clusters.yaml.edit");
        write(&tmp, &text)?;
        let (cp0, envoy0) = (CpuSample::read(cp)?, CpuSample::read(envoy)?);
        let t0 = Instant::now();
        std::fs::rename(&tmp, &kubeconfig_path)
            .map_err(|e| BenchError::io("rename the edited kubeconfig", e))?;
        version = wait_in_sync(&mut up, &admin, &version)?;
        let to_ack = t0.elapsed();
        let secs = to_ack.as_secs_f64();
        let edit = Edit {
            to_ack,
            control_plane_cpu: cp0.until(&CpuSample::read(cp)?, ticks).seconds()
                - idle_control_plane_cpu * secs,
            envoy_cpu: envoy0.until(&CpuSample::read(envoy)?, ticks).seconds()
                - idle_envoy_cpu * secs,
        };
        progress(&format!(
            "scale: edit {}/{}: ACKed after {:.0} ms; CPU control plane {:.0} ms, Envoy {:.0} ms",
            i + 1,
            settings.edits,
            to_ack.as_secs_f64() * 1e3,
            edit.control_plane_cpu * 1e3,
            edit.envoy_cpu * 1e3
        ));
        edits.push(edit);
    }
    if let Ok(keep) = std::env::var("KUBEPLEX_SCALE_KEEP_LOG") {
        let _ = std::fs::copy(&up.log, keep);
    }
    let result = ScaleResult {
        contexts: settings.contexts,
        kubeconfig_bytes,
        first_ack,
        idle_control_plane_cpu,
        idle_envoy_cpu,
        edits,
        control_plane_rss: rss(cp)?,
        control_plane_rss_peak: status_bytes(cp, "VmHWM:")?,
        envoy_rss: rss(envoy)?,
        envoy_rss_empty: None,
    };
    drop(up);
    rt.block_on(server.shutdown());
    Ok(result)
}

/// The kubeconfig's text: every context its own cluster entry with the CA
/// inline (as a real fleet's kubeconfig has), one user.
struct Kubeconfig {
    server: String,
    ca_b64: String,
    user: String,
}

impl Kubeconfig {
    fn new(server: &str, ca: &Ca, client: &crate::pki::CertKey) -> Kubeconfig {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        Kubeconfig {
            server: server.to_string(),
            ca_b64: b64(ca.cert_pem()),
            user: format!(
                "users:\n- name: gateway\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
                b64(&client.cert_pem),
                b64(&client.key_pem)
            ),
        }
    }

    fn render(&mut self, names: &[String]) -> String {
        let mut out = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
        for n in names {
            out += &format!(
                "- name: {n}\n  cluster:\n    server: {}\n    certificate-authority-data: {}\n",
                self.server, self.ca_b64
            );
        }
        out += &self.user;
        out += "contexts:\n";
        for n in names {
            out += &format!("- name: {n}\n  context:\n    cluster: {n}\n    user: gateway\n");
        }
        out
    }
}

fn write_gateway_config(d: &Path, settings: &Settings) -> Result<PathBuf, BenchError> {
    let gateway_ca = Ca::new("bench-scale-gateway-ca");
    let (cert, key) = gateway_ca
        .server_cert(&["127.0.0.1", "localhost"])
        .write_to(d, "gateway")
        .map_err(|e| BenchError::io("write the gateway certificate", e))?;
    let issuer = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| BenchError::Gateway(format!("issuer key: {e}")))?;
    write(&d.join("issuer.pub.pem"), &issuer.public_key_pem())?;
    let port = kubeplex_test_support::free_port().map_err(|e| BenchError::io("a free port", e))?;
    let config = d.join("gateway.yaml");
    write(
        &config,
        &format!(
            "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener:\n  address: 127.0.0.1\n  port: {port}\n  \
             certificateFile: {}\n  keyFile: {}\njwt:\n- issuer:\n    url: https://issuer.scale.test\n    audiences: [kubeplex]\n    \
             publicKeyFile: issuer.pub.pem\naudit:\n  path: audit.log\nhealthChecks:\n  intervalSeconds: {}\n  idleIntervalSeconds: {}\n",
            cert.display(),
            key.display(),
            settings.health_interval_seconds,
            settings.health_idle_interval_seconds.max(1),
        ),
    )?;
    Ok(config)
}

fn start_up(
    settings: &Settings,
    d: &Path,
    kubeconfig: &Path,
    config: &Path,
) -> Result<Up, BenchError> {
    for p in [&settings.kubeplex, &settings.envoy, &settings.wasm] {
        if !p.is_file() {
            return Err(BenchError::Missing(p.clone()));
        }
    }
    let log = d.join("kubeplex-up.log");
    let log_file =
        std::fs::File::create(&log).map_err(|e| BenchError::io("create the log file", e))?;
    let log_err = log_file
        .try_clone()
        .map_err(|e| BenchError::io("clone the log file handle", e))?;
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
        .arg(d.join("state"))
        .args(["--xds-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .args(["--envoy-admin-addr", "127.0.0.1:0", "--concurrency", "2"])
        .args(["--envoy-log-level", "warning"])
        .args(
            settings
                .state_of_the_world
                .then_some("--state-of-the-world-xds"),
        )
        .env(
            "RUST_LOG",
            std::env::var("KUBEPLEX_SCALE_RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .spawn()
        .map_err(|e| BenchError::io(format!("start {}", settings.kubeplex.display()), e))?;
    Ok(Up { child, log })
}

/// The control plane's admin address, once `up` wrote its endpoints.
fn wait_endpoints(up: &mut Up, d: &Path) -> Result<String, BenchError> {
    let file = d.join("state/endpoints.json");
    wait(up, "kubeplex up to write its endpoints", || {
        let text = std::fs::read_to_string(&file).ok()?;
        let endpoints: serde_json::Value = serde_json::from_str(&text).ok()?;
        let admin = endpoints["admin"].as_str()?;
        Some(admin.trim_start_matches("http://").to_string())
    })
}

/// The version served once it is not `old` and every Envoy ACKed it all.
fn wait_in_sync(up: &mut Up, admin: &str, old: &str) -> Result<String, BenchError> {
    wait(up, "every Envoy to ACK the new version", || {
        let (_, body) = plain_http::get(admin, STATUS, Duration::from_secs(5))?;
        let status: serde_json::Value = serde_json::from_str(&body).ok()?;
        let version = status["version"].as_str()?;
        let envoys = status["envoys"].as_array()?;
        (version != old && !envoys.is_empty() && envoys.iter().all(|e| e["in_sync"] == true))
            .then(|| version.to_string())
    })
}

fn wait<T>(up: &mut Up, what: &str, mut check: impl FnMut() -> Option<T>) -> Result<T, BenchError> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(found) = check() {
            return Ok(found);
        }
        if let Ok(Some(status)) = up.child.try_wait() {
            return Err(BenchError::Exited {
                what: format!("kubeplex up (waiting for {what})"),
                status: status.to_string(),
                log_tail: log_tail(&up.log, 30),
            });
        }
        if Instant::now() >= deadline {
            return Err(BenchError::Timeout {
                what: format!("{what}; log:\n{}", log_tail(&up.log, 30)),
                seconds: DEADLINE.as_secs(),
            });
        }
        std::thread::sleep(POLL);
    }
}

/// The ADS variant, as the report names it.
pub fn xds_name(settings: &Settings) -> &'static str {
    if settings.state_of_the_world {
        "state-of-the-world"
    } else {
        "delta"
    }
}

/// `VmRSS` of a process, in bytes.
pub fn rss(pid: u32) -> Result<u64, BenchError> {
    status_bytes(pid, "VmRSS:")
}

/// A `/proc/<pid>/status` memory field (`VmRSS:`, `VmHWM:`), in bytes.
fn status_bytes(pid: u32, field: &str) -> Result<u64, BenchError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| BenchError::io(format!("/proc/{pid}/status"), e))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| BenchError::Gateway(format!("no {field} for {pid}")))
}

fn write(path: &Path, text: &str) -> Result<(), BenchError> {
    std::fs::write(path, text).map_err(|e| BenchError::io(format!("write {}", path.display()), e))
}
