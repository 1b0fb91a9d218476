//! The end-to-end harness: real `kubeplex up` (control plane + supervised
//! real Envoy + the built wasm filter), real `kubectl`, and our Kubernetes
//! API test servers as the clusters. Every wait is bounded; every process
//! is killed when its owner drops.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine;
use kubeplex_tests::apiserver::{ApiServer, ApiServerConfig};
use kubeplex_tests::pki::{Ca, CertKey};

/// Where the binaries under test are, and the one bounded wait: shared
/// with every test crate.
pub use kubeplex_test_support::{envoy, filter_wasm, kubeplex_bin, wait_exit, wait_for};

/// What the gateway forwarded to a test cluster: requests that passed
/// through Envoy (which sets `x-request-id` on every one), not the control
/// plane's own preflight and key fetches, which talk to clusters directly.
pub trait Forwarded {
    /// The recorded requests that came through Envoy, in order.
    fn forwarded(&self) -> Vec<kubeplex_tests::apiserver::RecordedRequest>;
}

impl Forwarded for ApiServer {
    fn forwarded(&self) -> Vec<kubeplex_tests::apiserver::RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.header("x-request-id").is_some())
            .collect()
    }
}

/// GET over plain HTTP/1.1 (the admin endpoints); the body on 200.
pub fn http_get(url: &str) -> Option<String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut conn = std::net::TcpStream::connect(host).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    conn.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// POST with no body over plain HTTP/1.1 (Envoy's admin); true on 200.
pub fn http_post(url: &str) -> Option<()> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
    let mut conn = std::net::TcpStream::connect(host).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        conn,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    let _ = conn.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200").then_some(())
}

/// Every token the tests handed to a client, to prove no log holds one.
static SECRETS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Remember `token` as a secret that must appear in no log; returns it.
pub fn secret(token: String) -> String {
    SECRETS.lock().unwrap().push(token.clone());
    token
}

/// Files under `dir` that hold a token the tests used (whole, or its
/// signature: a log that cut a token short still leaked it), as
/// `(file, token prefix)`. Logs: every file whose name says `log`
/// (`kubeplex-up.log` with Envoy's output, `audit.log`, rotated copies).
pub fn leaked_secrets(dir: &Path) -> Vec<(PathBuf, String)> {
    let secrets = SECRETS.lock().unwrap().clone();
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.contains("kubeconfig") || !name.contains("log") {
                continue;
            }
            let Ok(text) = std::fs::read(&path) else {
                continue;
            };
            let text = String::from_utf8_lossy(&text);
            for token in &secrets {
                let signature = token.rsplit('.').next().unwrap_or(token);
                let needle = if signature.len() >= 16 {
                    signature
                } else {
                    token
                };
                if text.contains(needle) {
                    found.push((path.clone(), token.chars().take(12).collect()));
                }
            }
        }
    }
    found
}

/// `kubeplex token mint --key KEY <args>`: a signed JWT.
pub fn mint_token(key: &Path, args: &[&str]) -> String {
    let out = Command::new(kubeplex_bin())
        .args(["token", "mint", "--key"])
        .arg(key)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "token mint failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    secret(String::from_utf8(out.stdout).unwrap().trim().to_string())
}

/// The test PKI: a CA for the clusters (serving certs, and the gateway's
/// client certificate), and a CA for the gateway's own serving cert.
pub struct Pki {
    pub cluster_ca: Ca,
    pub gateway_client: CertKey,
    pub gateway_ca: Ca,
    pub gateway_serving: CertKey,
}

impl Pki {
    pub fn new() -> Pki {
        let cluster_ca = Ca::new("test-clusters-ca");
        let gateway_client = cluster_ca.client_cert("kubeplex-gateway", &["kubeplex:gateways"]);
        let gateway_ca = Ca::new("test-gateway-ca");
        let gateway_serving =
            gateway_ca.server_cert(&["127.0.0.1", "localhost", &format!("*.{SERVER_NAME_SUFFIX}")]);
        Pki {
            cluster_ca,
            gateway_client,
            gateway_ca,
            gateway_serving,
        }
    }

    /// A cluster that requires client certificates from `cluster_ca`.
    pub async fn cluster(&self, name: &str) -> ApiServer {
        ApiServer::start(ApiServerConfig {
            client_ca_pem: Some(self.cluster_ca.cert_pem().to_string()),
            ..ApiServerConfig::new(
                name,
                self.cluster_ca.server_cert(&["127.0.0.1", "localhost"]),
            )
        })
        .await
        .expect("start test apiserver")
    }
}

/// One kubeconfig context for the gateway.
pub struct ClusterEntry<'a> {
    pub context: &'a str,
    pub server: String,
}

impl<'a> ClusterEntry<'a> {
    /// Context `context` for the test cluster `server`.
    pub fn new(context: &'a str, server: &ApiServer) -> Self {
        ClusterEntry {
            context,
            server: server.url(),
        }
    }
}

/// The gateway's view of the clusters: client-certificate auth to each.
pub fn clusters_kubeconfig(pki: &Pki, entries: &[ClusterEntry<'_>]) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut out = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for e in entries {
        out += &format!(
            "- name: {}\n  cluster:\n    server: {}\n    certificate-authority-data: {}\n",
            e.context,
            e.server,
            b64(pki.cluster_ca.cert_pem())
        );
    }
    out += &format!(
        "users:\n- name: gateway\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n",
        b64(&pki.gateway_client.cert_pem),
        b64(&pki.gateway_client.key_pem)
    );
    for e in entries {
        out += &format!(
            "- name: {}\n  context:\n    cluster: {}\n    user: gateway\n",
            e.context, e.context
        );
    }
    out
}

/// Replace a file the way an editor does (write elsewhere, rename over).
pub fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp-edit");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

pub const ISSUER: &str = "https://issuer.kubeplex.test";
/// `listener.contextServerNameSuffix` of test gateways.
pub const SERVER_NAME_SUFFIX: &str = "clusters.kubeplex.test";
pub const AUDIENCE: &str = "kubeplex";

/// A running gateway: `kubeplex up` with real Envoy.
pub struct Gateway {
    pub dir: tempfile::TempDir,
    child: Child,
    pub url: String,
    pub admin: String,
    pub envoy_admin: String,
    pub kubeconfig: PathBuf,
    pub config: PathBuf,
    pub issuer_key: PathBuf,
    pub revocations: PathBuf,
    pub policy: PathBuf,
    pub ca: PathBuf,
    log: PathBuf,
    /// Replace `--kubeconfig <file>` when not empty (a kubeconfig URL).
    kubeconfig_args: Vec<String>,
    /// More `kubeplex up` flags.
    up_args: Vec<String>,
}

/// A gateway's inputs on disk, for [`Gateway::launch`].
pub struct GatewayFiles {
    /// Everything lives under it (the state and logs too).
    pub dir: tempfile::TempDir,
    /// The listener's port (in `config`).
    pub port: u16,
    pub kubeconfig: PathBuf,
    pub config: PathBuf,
    pub issuer_key: PathBuf,
    pub revocations: PathBuf,
    pub policy: PathBuf,
    pub ca: PathBuf,
}

/// What a gateway starts with.
pub struct GatewaySpec<'a> {
    pub pki: &'a Pki,
    pub clusters: Vec<ClusterEntry<'a>>,
    /// Extra top-level YAML appended to the gateway config.
    pub extra_config: &'a str,
    /// Initial revocation file content.
    pub revoked: &'a str,
    /// Initial policy file; None = no policy.
    pub policy: Option<&'a str>,
    /// More `jwt[]` entries (YAML list items, indented as under `jwt:`),
    /// after the default issuer.
    pub extra_jwt: &'a str,
    /// `kubeplex up`'s kubeconfig flags instead of `--kubeconfig <the
    /// written file>` (a kubeconfig URL and how to fetch it).
    pub kubeconfig_args: Vec<String>,
    /// More `kubeplex up` flags (the probe port, the admin token).
    pub up_args: Vec<String>,
}

impl<'a> GatewaySpec<'a> {
    pub fn new(pki: &'a Pki, clusters: Vec<ClusterEntry<'a>>) -> Self {
        GatewaySpec {
            pki,
            clusters,
            extra_config: "",
            revoked: "revoked: []\n",
            policy: None,
            extra_jwt: "",
            kubeconfig_args: Vec::new(),
            up_args: Vec::new(),
        }
    }
}

impl Gateway {
    pub fn start(spec: GatewaySpec<'_>) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = kubeplex_test_support::free_port().expect("a port for the gateway");
        let pki = spec.pki;
        let (cert, key) = pki.gateway_serving.write_to(d, "gateway").unwrap();
        let ca = pki.gateway_ca.write_cert_to(d, "gateway-ca").unwrap();
        // The token issuer: a P-256 key (the fixture-free, fast choice).
        let issuer = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let issuer_key = d.join("issuer-key.pem");
        std::fs::write(&issuer_key, issuer.serialize_pem()).unwrap();
        std::fs::write(d.join("issuer.pub.pem"), issuer.public_key_pem()).unwrap();
        let revocations = d.join("revoked.yaml");
        std::fs::write(&revocations, spec.revoked).unwrap();
        let policy = d.join("rbac.yaml");
        let policy_line = match spec.policy {
            Some(p) => {
                std::fs::write(&policy, p).unwrap();
                "policy:\n  file: rbac.yaml\n"
            }
            None => "",
        };
        let config = d.join("gateway.yaml");
        std::fs::write(
            &config,
            format!(
                "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener:\n  address: 127.0.0.1\n  port: {port}\n  \
                 contextServerNameSuffix: {SERVER_NAME_SUFFIX}\n  certificateFile: {}\n  keyFile: {}\njwt:\n- issuer:\n    url: {ISSUER}\n    audiences: [{AUDIENCE}]\n    \
                 publicKeyFile: issuer.pub.pem\n{}revocation:\n  file: revoked.yaml\n{policy_line}audit:\n  path: audit.log\n{}",
                cert.display(),
                key.display(),
                spec.extra_jwt,
                spec.extra_config
            ),
        )
        .unwrap();
        let kubeconfig = d.join("clusters.yaml");
        std::fs::write(&kubeconfig, clusters_kubeconfig(pki, &spec.clusters)).unwrap();
        let files = GatewayFiles {
            dir,
            port,
            kubeconfig,
            config,
            issuer_key,
            revocations,
            policy,
            ca,
        };
        Gateway::launch_with(files, spec.kubeconfig_args, spec.up_args)
    }

    /// Start `kubeplex up` on inputs laid out by the caller (e.g. as
    /// mounted ConfigMap and Secret volumes).
    pub fn launch(files: GatewayFiles) -> Gateway {
        Gateway::launch_with(files, Vec::new(), Vec::new())
    }

    /// [`Gateway::launch`] with `kubeconfig_args` instead of `--kubeconfig
    /// <files.kubeconfig>` when not empty, and `up_args` added.
    fn launch_with(
        files: GatewayFiles,
        kubeconfig_args: Vec<String>,
        up_args: Vec<String>,
    ) -> Gateway {
        let log = files.dir.path().join("kubeplex-up.log");
        let args = up_flags(&files.kubeconfig, &kubeconfig_args, &up_args);
        let child = spawn_up(files.dir.path(), &args, &files.config, &log);
        let mut gw = Gateway {
            dir: files.dir,
            child,
            url: format!("https://127.0.0.1:{}", files.port),
            admin: String::new(),
            envoy_admin: String::new(),
            kubeconfig: files.kubeconfig,
            config: files.config,
            issuer_key: files.issuer_key,
            revocations: files.revocations,
            policy: files.policy,
            ca: files.ca,
            log,
            kubeconfig_args,
            up_args,
        };
        gw.wait_ready();
        gw
    }

    /// Stop `kubeplex up` (and its Envoy) and start it again on the same
    /// inputs and listener: what survives is what was on disk.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(self.dir.path().join("state/endpoints.json"));
        // The listener port must be free again before the new Envoy binds it.
        let port: u16 = self.url.rsplit(':').next().unwrap().parse().unwrap();
        wait_for("the old listener to close", Duration::from_secs(10), || {
            std::net::TcpListener::bind(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        });
        let args = up_flags(&self.kubeconfig, &self.kubeconfig_args, &self.up_args);
        self.child = spawn_up(self.dir.path(), &args, &self.config, &self.log);
        self.wait_ready();
    }

    /// Wait for `kubeplex up` to exit on its own, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        wait_exit(&mut self.child, "kubeplex up", timeout)
    }

    /// The `kubeplex up` process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_ready(&mut self) {
        let endpoints_file = self.dir.path().join("state/endpoints.json");
        let endpoints: serde_json::Value =
            wait_for("kubeplex up to be ready", Duration::from_secs(60), || {
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("kubeplex up exited ({status}):\n{}", self.log());
                }
                let text = std::fs::read_to_string(&endpoints_file).ok()?;
                serde_json::from_str(&text).ok()
            });
        self.admin = endpoints["admin"].as_str().unwrap().to_string();
        self.envoy_admin = endpoints["envoy_admin"].as_str().unwrap().to_string();
    }

    /// Everything `kubeplex up` printed (control plane logs, Envoy's output).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The audit log Envoy writes (JSON lines).
    pub fn audit_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("audit.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// `kubeplex token mint` with this gateway's issuer key; `args` add or
    /// override (`--sub`, `--group`, `--ctx`, `--claims`, ...).
    pub fn mint(&self, args: &[&str]) -> String {
        mint_token(
            &self.issuer_key,
            &[&["--issuer", ISSUER][..], args].concat(),
        )
    }

    /// A kubectl whose kubeconfig (`kubeplex kubeconfig`) has one context per
    /// named cluster, using `token`.
    pub fn kubectl(&self, token: &str, contexts: &[&str]) -> Kubectl {
        Kubectl::for_gateway(&self.url, &self.ca, token, contexts)
    }

    /// The control plane's `/status`.
    pub fn status(&self) -> serde_json::Value {
        http_get(&format!("{}/status", self.admin))
            .and_then(|body| serde_json::from_str(&body).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    /// Wait until the control plane serves a version other than `old` and
    /// every Envoy has accepted all of it.
    pub fn wait_applied(&self, old: &str) -> String {
        wait_for(
            "the new configuration to reach Envoy",
            Duration::from_secs(15),
            || {
                let s = self.status();
                let version = s["version"].as_str()?.to_string();
                let envoys = s["envoys"].as_array()?;
                (version != old
                    && !envoys.is_empty()
                    && envoys.iter().all(|e| e["in_sync"] == true))
                .then_some(version)
            },
        )
    }

    /// The version now served (waiting until Envoy has it all).
    pub fn version(&self) -> String {
        wait_for("Envoy in sync", Duration::from_secs(15), || {
            let s = self.status();
            let envoys = s["envoys"].as_array()?;
            (!envoys.is_empty() && envoys.iter().all(|e| e["in_sync"] == true))
                .then(|| s["version"].as_str().map(String::from))
                .flatten()
        })
    }
}

/// `--kubeconfig <file>`, or the flags given instead; then `more`.
fn up_flags(file: &Path, instead: &[String], more: &[String]) -> Vec<std::ffi::OsString> {
    let mut flags: Vec<std::ffi::OsString> = if instead.is_empty() {
        vec!["--kubeconfig".into(), file.into()]
    } else {
        instead.iter().map(Into::into).collect()
    };
    flags.extend(more.iter().map(Into::into));
    flags
}

/// Start `kubeplex up` with `flags` and the inputs in `dir`, logging to
/// `log` (appended).
fn spawn_up(dir: &Path, flags: &[std::ffi::OsString], config: &Path, log: &Path) -> Child {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let state = dir.join("state");
    Command::new(kubeplex_bin())
        .arg("up")
        .args(flags)
        .arg("--config")
        .arg(config)
        .arg("--envoy")
        .arg(envoy())
        .arg("--filter-wasm")
        .arg(filter_wasm())
        .arg("--state-dir")
        .arg(&state)
        .args([
            "--xds-addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
            "--envoy-admin-addr",
            "127.0.0.1:0",
        ])
        .args(["--concurrency", "2", "--envoy-log-level", "warning"])
        .env("RUST_LOG", "info,kubeplex=debug")
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .expect("start kubeplex up")
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- kubeplex up log ({}) ----\n{}",
                self.log.display(),
                self.log()
            );
            return;
        }
        // No token the test used may be in any log this gateway wrote:
        // the control plane's, Envoy's, the audit log.
        let leaks = leaked_secrets(self.dir.path());
        assert!(leaks.is_empty(), "tokens in logs: {leaks:?}");
    }
}

/// How long one kubectl run may take.
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(60);
/// From the end of kubectl's stdout to its exit status and all of stderr.
const PIPE_TO_EXIT: Duration = Duration::from_secs(10);

/// kubectl with its own HOME and kubeconfig.
pub struct Kubectl {
    pub home: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

/// A finished kubectl.
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    /// The exit code (None if killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Kubectl {
    /// A kubectl whose kubeconfig (`kubeplex kubeconfig`) reaches the
    /// gateway at `server` (its CA `ca`), one context per named cluster,
    /// using `token`.
    pub fn for_gateway(server: &str, ca: &Path, token: &str, contexts: &[&str]) -> Kubectl {
        secret(token.to_string());
        let home = tempfile::tempdir().unwrap();
        let kubeconfig = home.path().join("kubeconfig");
        let mut cmd = Command::new(kubeplex_bin());
        cmd.args([
            "kubeconfig",
            "--server",
            server,
            "--context-server-name-suffix",
            SERVER_NAME_SUFFIX,
            "--ca",
        ])
        .arg(ca)
        .args(["--token", token]);
        for c in contexts {
            cmd.args(["--cluster", c]);
        }
        let out = cmd.arg("--out").arg(&kubeconfig).output().unwrap();
        assert!(
            out.status.success(),
            "kubeplex kubeconfig: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Kubectl { home, kubeconfig }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into()));
        cmd.env("HOME", self.home.path())
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .arg("--cache-dir")
            .arg(self.home.path().join("cache"))
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Run to completion (at most [`KUBECTL_TIMEOUT`]).
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[], None)
    }

    /// Run and require success.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(r.ok, "kubectl {args:?} failed:\n{}", r.stderr);
        r.stdout
    }

    /// Retry until it succeeds, at most `timeout` (for changes Envoy has
    /// accepted but its workers apply a moment later).
    pub fn eventually_ok(&self, args: &[&str], timeout: Duration) -> String {
        wait_for(format_args!("kubectl {args:?} to succeed"), timeout, || {
            let r = self.run(args);
            if r.ok { Ok(r.stdout) } else { Err(r.stderr) }
        })
    }

    /// Run and require failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(
            !r.ok,
            "kubectl {args:?} should have failed, printed:\n{}",
            r.stdout
        );
        r.stderr
    }

    /// Start a long-running kubectl (e.g. `get -w`), reading its stdout lines.
    pub fn stream(&self, args: &[&str]) -> Stream {
        Stream::spawn(self.command(args))
    }

    /// Run to completion (at most [`KUBECTL_TIMEOUT`]) with extra environment (e.g.
    /// [`Transport::env`]) and, when given, `stdin` as standard input.
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Run {
        let mut cmd = self.command(args);
        cmd.envs(env.iter().copied())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        // Feed stdin and drain both outputs on threads: a big input and a
        // big output at once would otherwise fill a pipe and stall both sides.
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let input = input.to_vec();
            std::thread::spawn(move || {
                use std::io::Write;
                let _ = pipe.write_all(&input);
            });
        }
        let stdout = read_all_on_thread(child.stdout.take().unwrap());
        let stderr = read_all_on_thread(child.stderr.take().unwrap());
        // The pipes close at exit (kubectl starts no children): stdout's
        // end is the exit, seen at once, with no polling.
        let Ok(stdout) = stdout.recv_timeout(KUBECTL_TIMEOUT) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kubectl {args:?} did not finish in {KUBECTL_TIMEOUT:?}");
        };
        let status = wait_exit(&mut child, format_args!("kubectl {args:?}"), PIPE_TO_EXIT);
        let stderr = stderr.recv_timeout(PIPE_TO_EXIT).unwrap_or_default();
        let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
        Run {
            ok: status.success(),
            code: status.code(),
            stdout: text(stdout),
            stderr: text(stderr),
        }
    }

    /// Start a long-running kubectl with extra environment; `stdin` pipes
    /// its standard input ([`Stream::send`], [`Stream::close_stdin`]).
    pub fn stream_with(&self, args: &[&str], env: &[(&str, &str)], stdin: bool) -> Stream {
        let mut cmd = self.command(args);
        cmd.envs(env.iter().copied());
        if stdin {
            cmd.stdin(Stdio::piped());
        }
        Stream::spawn(cmd)
    }

    /// Start kubectl on a real pseudo-terminal (util-linux `script`), as a
    /// person typing `kubectl exec -it` would; [`Stream::send`] types.
    pub fn tty_stream(&self, args: &[&str], env: &[(&str, &str)]) -> Stream {
        let inner = self.command(args);
        let quote =
            |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"));
        let line = std::iter::once(quote(inner.get_program()))
            .chain(inner.get_args().map(quote))
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = Command::new("script");
        // -q: no banner; -e: kubectl's exit code; -f: flush at once;
        // the typescript itself goes nowhere.
        cmd.args(["-q", "-e", "-f", "-c", &line, "/dev/null"]);
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.envs(env.iter().copied()).stdin(Stdio::piped());
        Stream::spawn(cmd)
    }
}

/// Read a pipe to its end on a thread; the bytes arrive on the channel.
fn read_all_on_thread(mut pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = tx.send(bytes);
    });
    rx
}

/// How kubectl speaks to exec, attach and port-forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// WebSocket: kubectl's default since 1.31.
    WebSocket,
    /// SPDY/3.1, forced by `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false` and
    /// `KUBECTL_PORT_FORWARD_WEBSOCKETS=false`.
    Spdy,
}

impl Transport {
    pub const BOTH: [Transport; 2] = [Transport::WebSocket, Transport::Spdy];

    /// kubectl's environment for this transport.
    pub fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Transport::WebSocket => &[],
            Transport::Spdy => &[
                ("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false"),
                ("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false"),
            ],
        }
    }

    /// The `Upgrade` header kubectl sends (compare case-insensitively).
    pub fn upgrade(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::Spdy => "SPDY/3.1",
        }
    }
}

/// A running kubectl and the lines it printed.
pub struct Stream {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Stream {
    /// Start `cmd`, reading its stdout lines and keeping its stderr.
    fn spawn(mut cmd: Command) -> Stream {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Drained as it comes, so a chatty stderr never blocks the process.
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Stream {
            child,
            lines: rx,
            seen: Vec::new(),
            stderr,
        }
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Write to the process's stdin (started with a piped stdin).
    pub fn send(&mut self, text: &str) {
        use std::io::Write;
        let stdin = self
            .child
            .stdin
            .as_mut()
            .expect("started with a piped stdin");
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Close the process's stdin (end of input).
    pub fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    /// The next line, if one arrives within `timeout` (None also when
    /// stdout has ended).
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        let line = self.lines.recv_timeout(timeout).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Wait for the process to exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        wait_exit(&mut self.child, "the process", timeout)
    }

    /// Wait for a line containing `needle`, at most `timeout`.
    pub fn expect_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line containing {needle:?} within {timeout:?}; saw: {:#?}\nstderr: {}",
                    self.seen,
                    self.stderr()
                ),
            }
        }
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
