//! Real Envoy for the filter's integration tests: a recording upstream that
//! echoes request heads (and streams to watches), Envoy started from a
//! bootstrap template under `test_data/`, ECDS by file, curl.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Bound of every wait in these tests.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How long the upstream keeps a watch open at most.
pub const STREAM_LIFETIME: Duration = Duration::from_secs(30);
/// Interval between the upstream's watch events.
pub const STREAM_INTERVAL: Duration = Duration::from_millis(100);

use kubeplex_test_support::{filter_wasm, wait_for};

/// `filter/test_data/<rel>`: the Envoy bootstrap templates.
pub fn test_data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(rel)
}

/// One request the upstream received.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Request line and headers, as received.
    pub head: String,
    /// The body (chunked bodies decoded).
    pub body: Vec<u8>,
}

/// The upstream: answers every request with its request head as text,
/// except watches (`watch=1` in the query), which get a chunked stream of
/// `event <n>` lines every [`STREAM_INTERVAL`] until the client goes away
/// (or [`STREAM_LIFETIME`]). Records what it received.
pub struct Echo {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Echo {
    pub fn start() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = Arc::clone(&log);
                std::thread::spawn(move || serve_connection(stream, &log));
            }
        });
        Echo { port, requests }
    }

    /// The recorded requests whose request line starts with `prefix`.
    pub fn received(&self, prefix: &str) -> Vec<Recorded> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.head.starts_with(prefix))
            .cloned()
            .collect()
    }
}

fn serve_connection(stream: TcpStream, log: &Mutex<Vec<Recorded>>) {
    // idle keep-alive connections close after 10 s; under valgrind (Envoy
    // ~50 times slower) a pooled connection idles longer between requests
    let idle = if callgrind() {
        30 * DEADLINE
    } else {
        Duration::from_secs(10)
    };
    stream.set_read_timeout(Some(idle)).ok();
    stream.set_nodelay(true).ok();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            match read_chunked(&mut reader) {
                Some(b) => b,
                None => return,
            }
        } else {
            let len = header("content-length")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            body
        };
        let watch = head.lines().next().is_some_and(|l| l.contains("watch=1"));
        log.lock().unwrap().push(Recorded {
            head: head.clone(),
            body,
        });
        if watch {
            stream_events(&mut writer);
            return;
        }
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{}",
            head.len(),
            head
        );
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn read_chunked(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).ok()?;
        let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
        if size == 0 {
            // trailers until the empty line
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
                    return Some(body);
                }
            }
        }
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).ok()?;
        body.extend_from_slice(&chunk[..size]);
    }
}

fn stream_events(writer: &mut TcpStream) {
    let head =
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    if writer.write_all(head.as_bytes()).is_err() {
        return;
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < STREAM_LIFETIME {
        let event = format!("event {n}\n");
        let chunk = format!("{:x}\r\n{event}\r\n", event.len());
        if writer.write_all(chunk.as_bytes()).is_err() {
            return;
        }
        n += 1;
        std::thread::sleep(STREAM_INTERVAL);
    }
    let _ = writer.write_all(b"0\r\n\r\n");
}

/// A running Envoy; killed (and its directory removed, unless the test
/// failed) when dropped.
pub struct Envoy {
    pub child: Child,
    pub admin: String,
    pub dir: PathBuf,
    ports: HashMap<String, u16>,
}

impl Envoy {
    /// The port of a listener named in [`start_envoy`].
    pub fn port(&self, listener: &str) -> u16 {
        self.ports[listener]
    }

    /// Envoy's own log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("envoy.log")).unwrap_or_default()
    }

    /// `/stats/prometheus` lines mentioning kubeplex.
    pub fn kubeplex_stats(&self) -> Vec<String> {
        let (code, prom) = curl(&[&format!("http://{}/stats/prometheus", self.admin)]);
        assert_eq!(code, 200);
        prom.lines()
            .filter(|l| l.starts_with("kubeplex_"))
            .map(str::to_string)
            .collect()
    }

    /// The access log's lines, once there are at least `n` (bounded wait).
    pub fn access_log_lines(&self, n: usize) -> Vec<String> {
        let path = self.dir.join("access.log");
        wait_for(format_args!("{n} access log lines"), DEADLINE, || {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            if lines.len() >= n {
                Ok(lines)
            } else {
                Err(format!("{} lines:\n{text}", lines.len()))
            }
        })
    }

    /// Replace the ECDS file the `envoy-ecds.yaml` bootstrap watches
    /// (atomically: Envoy reacts to the rename).
    pub fn push_config(&self, version: &str, config_b64: &str) {
        write_ecds(&self.dir, version, config_b64);
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() && std::env::var_os("KUBEPLEX_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// A throwaway serving certificate for a TLS listener.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl req failed");
    (cert, key)
}

/// A fresh directory per Envoy (tests in one binary run in parallel).
pub fn test_dir(label: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kubeplex-filter-{label}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The ECDS `DiscoveryResponse` for the kubeplex filter (the control
/// plane's shape: the config as a `BytesValue`).
pub fn ecds_response(version: &str, wasm: &Path, config_b64: &str) -> String {
    format!(
        r#"version_info: "{version}"
resources:
- "@type": type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig
  name: kubeplex
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
    config:
      name: kubeplex
      root_id: kubeplex
      vm_config:
        vm_id: kubeplex
        runtime: envoy.wasm.runtime.v8
        code: {{local: {{filename: "{}"}}}}
      configuration:
        "@type": type.googleapis.com/google.protobuf.BytesValue
        value: "{config_b64}"
"#,
        wasm.display()
    )
}

fn write_ecds(dir: &Path, version: &str, config_b64: &str) {
    let tmp = dir.join("ecds.yaml.tmp");
    std::fs::write(&tmp, ecds_response(version, &filter_wasm(), config_b64)).unwrap();
    std::fs::rename(&tmp, dir.join("ecds.yaml")).unwrap();
}

/// Start Envoy from `test_data/<template>` with its `{{…}}` placeholders
/// filled (`DIR`, `ACCESS_LOG`, `WASM`, `TLS_CERT`, `TLS_KEY`, `CONFIG_B64`
/// and `replacements`), and wait until every listener in `listeners` has
/// a port and Envoy is ready. For `envoy-ecds.yaml`, `config_b64` is the
/// first ECDS config.
pub fn start_envoy(
    template: &str,
    config_b64: &str,
    replacements: &[(&str, String)],
    listeners: &[&str],
) -> Envoy {
    let wasm = filter_wasm();
    let dir = test_dir(template.trim_end_matches(".yaml"));
    // KUBEPLEX_BOOTSTRAP_TEMPLATE: try a variant (e.g. without the access log)
    let template_path = std::env::var_os("KUBEPLEX_BOOTSTRAP_TEMPLATE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| test_data(template));
    let mut bootstrap = std::fs::read_to_string(template_path).expect("bootstrap template");
    if bootstrap.contains("{{TLS_CERT}}") {
        let (cert, key) = self_signed(&dir);
        bootstrap = bootstrap
            .replace("{{TLS_CERT}}", cert.to_str().unwrap())
            .replace("{{TLS_KEY}}", key.to_str().unwrap());
    }
    bootstrap = bootstrap
        .replace("{{DIR}}", dir.to_str().unwrap())
        .replace("{{ACCESS_LOG}}", dir.join("access.log").to_str().unwrap())
        .replace("{{WASM}}", wasm.to_str().unwrap())
        .replace("{{CONFIG_B64}}", config_b64);
    for (name, value) in replacements {
        bootstrap = bootstrap.replace(&format!("{{{{{name}}}}}"), value);
    }
    let unfilled = bootstrap.match_indices("{{").find(|(i, _)| {
        let rest = &bootstrap[i + 2..];
        rest.find("}}").is_some_and(|end| {
            rest[..end]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'_')
        })
    });
    assert!(
        unfilled.is_none(),
        "unfilled placeholder in {template}: {}",
        &bootstrap[unfilled.unwrap().0..][..20.min(bootstrap.len() - unfilled.unwrap().0)]
    );
    if bootstrap.contains("ecds.yaml") {
        write_ecds(&dir, "1", config_b64);
    }
    let bootstrap_path = dir.join("envoy.yaml");
    std::fs::write(&bootstrap_path, bootstrap).unwrap();
    let admin_path = dir.join("admin.txt");
    let log = std::fs::File::create(dir.join("envoy.log")).unwrap();
    let mut command = if callgrind() {
        let mut c = Command::new("valgrind");
        c.args(["--tool=callgrind", "--smc-check=all-non-file"])
            .arg(format!(
                "--callgrind-out-file={}",
                dir.join("callgrind.out").display()
            ))
            .arg(kubeplex_test_support::envoy());
        c
    } else {
        Command::new(kubeplex_test_support::envoy())
    };
    let child = command
        .arg("-c")
        .arg(&bootstrap_path)
        .arg("--admin-address-path")
        .arg(&admin_path)
        .args(["--disable-hot-restart", "--concurrency", "1", "-l", "info"])
        // flush the access log quickly (default: every 10 s)
        .args(["--file-flush-interval-msec", "100"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start envoy");
    let mut envoy = Envoy {
        child,
        admin: String::new(),
        dir: dir.clone(),
        ports: HashMap::new(),
    };

    // valgrind runs Envoy (and V8 compiling the modules) ~50 times slower;
    // on a loaded 2-core machine (load 12) the bench's four VMs took 10 min
    let deadline = if callgrind() { DEADLINE * 90 } else { DEADLINE };
    let ports = wait_for("Envoy to become ready", deadline, || {
        if let Some(status) = envoy.child.try_wait().unwrap() {
            panic!("Envoy exited with {status}; log:\n{}", envoy.log());
        }
        if envoy.admin.is_empty() {
            envoy.admin = std::fs::read_to_string(&admin_path)
                .unwrap_or_default()
                .trim()
                .to_string();
        }
        ready_listener_ports(&envoy.admin, listeners)
            .ok_or_else(|| format!("log:\n{}", envoy.log()))
    });
    envoy.ports = ports;
    envoy
}

/// Every listener's port, once Envoy's admin at `admin` says it is ready.
fn ready_listener_ports(admin: &str, listeners: &[&str]) -> Option<HashMap<String, u16>> {
    if admin.is_empty() {
        return None;
    }
    let (code, body) = curl(&[&format!("http://{admin}/listeners?format=json")]);
    if code != 200 {
        return None;
    }
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let port_of = |name: &str| {
        v["listener_statuses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["name"] == name)
            .and_then(|l| l["local_address"]["socket_address"]["port_value"].as_u64())
            .unwrap_or(0) as u16
    };
    let ports: HashMap<String, u16> = listeners
        .iter()
        .map(|&name| (name.to_string(), port_of(name)))
        .collect();
    let (ready, _) = curl(&[&format!("http://{admin}/ready")]);
    (ready == 200 && ports.values().all(|&p| p != 0)).then_some(ports)
}

/// `KUBEPLEX_CALLGRIND=1`: run Envoy under valgrind's callgrind, and
/// measure instructions (deterministic) rather than CPU time (noisy on a
/// shared machine).
pub fn callgrind() -> bool {
    std::env::var_os("KUBEPLEX_CALLGRIND").is_some_and(|v| !v.is_empty() && v != "0")
}

impl Envoy {
    /// Under callgrind: the instructions Envoy executed (all threads) since
    /// the previous call (each call dumps and resets the counters).
    pub fn instructions_since_last_call(&self) -> u64 {
        let before = self.callgrind_dumps();
        let out = Command::new("callgrind_control")
            .arg("-d")
            .arg(self.child.id().to_string())
            .output()
            .expect("callgrind_control");
        assert!(out.status.success(), "callgrind_control: {out:?}");
        wait_for("a new callgrind dump", DEADLINE, || {
            let dumps = self.callgrind_dumps();
            let (_, path) = dumps.iter().find(|d| !before.contains(d))?;
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("totals:"))
                .and_then(|v| v.trim().parse().ok())
        })
    }

    /// `callgrind.out.<n>` files so far.
    fn callgrind_dumps(&self) -> Vec<(u32, PathBuf)> {
        std::fs::read_dir(&self.dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| {
                        let name = e.file_name().into_string().ok()?;
                        let n = name.strip_prefix("callgrind.out.")?.parse().ok()?;
                        Some((n, e.path()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Envoy's CPU time (user + system) in seconds, from /proc (10 ms ticks).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // fields after the ")" of the command name; utime and stime are 14 and 15
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// The thread id of Envoy's (only) worker, `wrk:worker_0`.
pub fn worker_tid(pid: u32) -> Option<u32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
        .find(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "wrk:worker_0")
        })?
        .file_name()
        .to_str()?
        .parse()
        .ok()
}

/// A thread's time on CPU in seconds, from its schedstat (nanoseconds,
/// unlike /proc/<pid>/stat's 10 ms ticks).
pub fn thread_cpu_seconds(pid: u32, tid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/schedstat")).unwrap();
    let ns: f64 = text.split_whitespace().next().unwrap().parse().unwrap();
    ns / 1e9
}

/// A thread's user and system CPU (seconds, 10 ms ticks) and minor page
/// faults, from `/proc/<pid>/task/<tid>/stat`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadStat {
    pub user: f64,
    pub system: f64,
    pub minor_faults: u64,
}

impl ThreadStat {
    pub fn read(pid: u32, tid: u32) -> ThreadStat {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).unwrap();
        // fields after the command name's last ')' start at field 3
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        ThreadStat {
            minor_faults: f[7].parse().unwrap(),
            user: f[11].parse::<f64>().unwrap() / 100.0,
            system: f[12].parse::<f64>().unwrap() / 100.0,
        }
    }

    /// What was spent from `earlier` to `self`.
    pub fn since(&self, earlier: &ThreadStat) -> ThreadStat {
        ThreadStat {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
            minor_faults: self.minor_faults - earlier.minor_faults,
        }
    }
}

/// One raw HTTP/1.1 exchange on a fresh connection: the status code and
/// the response text (lossy), read up to its `content-length` (Envoy keeps
/// a connection it closes for a second, waiting for the peer). For bytes
/// curl would refuse to send.
pub fn raw_request(port: u16, request: &[u8]) -> (u16, String) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (&stream).write_all(request).unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = Vec::new();
    let mut len = None;
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line).to_ascii_lowercase();
        if let Some(v) = text.strip_prefix("content-length:") {
            len = v.trim().parse::<usize>().ok();
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" {
            break;
        }
    }
    let mut body = Vec::new();
    match len {
        Some(n) => {
            body.resize(n, 0);
            let _ = reader.read_exact(&mut body);
        }
        None => {
            let _ = reader.read_to_end(&mut body);
        }
    }
    let text = String::from_utf8_lossy(&[head, body].concat()).to_string();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}
