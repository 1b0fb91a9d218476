//! Streaming subresources with the real `kubectl`, directly against the
//! test apiserver: `logs` (`--tail`, `-f`), `exec`, `attach`, `cp` and
//! `port-forward`, each over WebSocket (kubectl's default) and over SPDY
//! (`KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`,
//! `KUBECTL_PORT_FORWARD_WEBSOCKETS=false`); plus a raw WebSocket TTY
//! session and session accounting.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use kubeplex_tests::apiserver::{
    ApiServer, ApiServerConfig, Authorizer, AuthzRule, RecordedRequest, SEEDED_LOG_LINES,
};
use kubeplex_tests::kubectl::{Kubectl, Output};
use kubeplex_tests::pki::{Ca, CertKey};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const T: Duration = Duration::from_secs(30);
const NS: &str = "default";
const POD: &str = "web-0";

/// How kubectl talks to the streaming endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    WebSocket,
    Spdy,
}

impl Transport {
    fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Transport::WebSocket => &[],
            Transport::Spdy => &[
                ("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false"),
                ("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false"),
            ],
        }
    }

    /// The `Upgrade` header kubectl sends with this transport.
    fn upgrade(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::Spdy => "SPDY/3.1",
        }
    }
}

struct Cluster {
    server: ApiServer,
    kubectl: Kubectl,
    ca: Ca,
    admin: CertKey,
}

async fn cluster_with(f: impl FnOnce(&mut ApiServerConfig)) -> Cluster {
    let ca = Ca::new("streaming-ca");
    let mut config = ApiServerConfig::with_ca("stream", &ca);
    config.log_interval = Duration::from_millis(200);
    f(&mut config);
    let server = ApiServer::start(config).await.unwrap();
    server
        .store()
        .create(
            "pods",
            json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": POD, "namespace": NS},
                "spec": {"containers": [
                    {"name": "app", "image": "nginx", "env": [{"name": "GREETING", "value": "hi there"}]},
                    {"name": "sidecar", "image": "busybox"},
                ]},
            }),
        )
        .unwrap();
    let admin = ca.client_cert("admin", &["system:masters"]);
    let kubectl = Kubectl::with_client_cert(&server.url(), ca.cert_pem(), &admin).unwrap();
    Cluster {
        server,
        kubectl,
        ca,
        admin,
    }
}

async fn cluster() -> Cluster {
    cluster_with(|_| {}).await
}

impl Cluster {
    fn command(&self, transport: Transport, args: &[&str]) -> tokio::process::Command {
        let mut cmd = self.kubectl.command(args);
        for (k, v) in transport.env() {
            cmd.env(k, v);
        }
        cmd
    }

    async fn run(&self, transport: Transport, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd = self.command(transport, args);
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let started = std::time::Instant::now();
        let mut child = cmd.spawn().unwrap();
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input).await.unwrap();
            drop(pipe);
        }
        let out = tokio::time::timeout(T, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish"))
            .unwrap();
        let out = Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let shown: String = out.stdout.chars().take(2000).collect();
        eprintln!(
            "$ kubectl {} ({transport:?}) -> {:?} in {:?}\n{shown}{}",
            args.join(" "),
            out.code,
            started.elapsed(),
            out.stderr
        );
        out
    }

    async fn ok(&self, transport: Transport, args: &[&str]) -> String {
        let out = self.run(transport, args, None).await;
        assert!(out.success(), "kubectl {args:?} failed: {}", out.stderr);
        out.stdout
    }

    /// The recorded upgrade request for `subresource`, checked to have
    /// used `transport` and been switched (101) over HTTP/1.1.
    fn upgraded(&self, subresource: &str, transport: Transport) -> RecordedRequest {
        let path = format!("/api/v1/namespaces/{NS}/pods/{POD}/{subresource}");
        let r = self
            .server
            .requests()
            .into_iter()
            .rfind(|r| r.path == path)
            .unwrap_or_else(|| panic!("no {path} request"));
        assert_eq!(r.status, 101, "{r:?}");
        assert_eq!(r.http_version, "HTTP/1.1");
        assert!(
            r.header("upgrade")
                .is_some_and(|u| u.eq_ignore_ascii_case(transport.upgrade())),
            "{:?}",
            r.header("upgrade")
        );
        assert_eq!(
            r.method,
            if transport == Transport::WebSocket {
                "GET"
            } else {
                "POST"
            }
        );
        r
    }

    async fn no_sessions_left(&self) {
        assert!(
            self.server
                .wait_for_active_streams(0, Duration::from_secs(10))
                .await,
            "{} sessions still open",
            self.server.active_streams()
        );
    }
}

fn seeded(container: &str, n: usize) -> String {
    format!("{POD}/{container} line {n}")
}

#[tokio::test]
async fn logs_tail_timestamps_and_errors() {
    let c = cluster().await;
    let t = Transport::WebSocket;
    let all: Vec<String> = (1..=SEEDED_LOG_LINES).map(|n| seeded("app", n)).collect();
    let out = c.ok(t, &["logs", POD, "-c", "app"]).await;
    assert_eq!(out.lines().collect::<Vec<_>>(), all);
    // Without -c kubectl picks the first container (and says so).
    let out = c.run(t, &["logs", POD], None).await;
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), all);
    assert!(
        out.stderr.contains("Defaulted container \"app\""),
        "{}",
        out.stderr
    );
    let out = c.ok(t, &["logs", POD, "-c", "sidecar", "--tail=2"]).await;
    let want: Vec<String> = (SEEDED_LOG_LINES - 1..=SEEDED_LOG_LINES)
        .map(|n| seeded("sidecar", n))
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
    c.server
        .append_log(NS, POD, "app", "appended by the test")
        .unwrap();
    let out = c
        .ok(t, &["logs", POD, "-c", "app", "--timestamps", "--tail=1"])
        .await;
    let (stamp, text) = out.trim_end().split_once(' ').unwrap();
    assert_eq!(text, "appended by the test");
    assert!(stamp.ends_with('Z') && stamp.len() == 30, "{stamp}");
    let out = c
        .ok(t, &["logs", POD, "-c", "app", "--limit-bytes=5"])
        .await;
    assert_eq!(out, &all[0][..5]);
    let out = c.run(t, &["logs", POD, "-c", "nope"], None).await;
    assert!(!out.success());
    assert!(
        out.stderr
            .contains("container nope is not valid for pod web-0"),
        "{}",
        out.stderr
    );
    let out = c
        .run(t, &["logs", POD, "-c", "app", "--previous"], None)
        .await;
    assert!(
        out.stderr
            .contains("previous terminated container \"app\" in pod \"web-0\" not found"),
        "{}",
        out.stderr
    );
    let log = c
        .server
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/pods/web-0/log"))
        .unwrap();
    assert_eq!(log.method, "GET");
    assert_eq!(log.status, 200);
    assert!(log.query.contains("container=app"), "{}", log.query);
    assert_eq!(
        c.server
            .append_log(NS, "missing", "app", "x")
            .unwrap_err()
            .to_string(),
        "pods \"missing\" not found in namespace \"default\""
    );
}

/// Reads lines from `reader` until one satisfies `pred` (bounded).
async fn line_matching<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    pred: impl Fn(&str) -> bool,
    seen: &mut Vec<String>,
) -> String {
    tokio::time::timeout(T, async {
        loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line).await.unwrap();
            assert!(n > 0, "stream ended; saw {seen:?}");
            let line = line.trim_end().to_string();
            seen.push(line.clone());
            if pred(&line) {
                return line;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no matching line; saw {seen:?}"))
}

#[tokio::test]
async fn logs_follow_gets_appended_lines_and_heartbeats_until_killed() {
    let c = cluster().await;
    let mut child = c
        .command(Transport::WebSocket, &["logs", "-f", POD, "-c", "app"])
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let last_seeded = seeded("app", SEEDED_LOG_LINES);
    line_matching(&mut stdout, |l| l == last_seeded, &mut seen).await;
    assert!(c.server.wait_for_active_streams(1, T).await);
    c.server.append_log(NS, POD, "app", "fresh line").unwrap();
    line_matching(&mut stdout, |l| l == "fresh line", &mut seen).await;
    line_matching(&mut stdout, |l| l == "web-0/app heartbeat 2", &mut seen).await;
    let heartbeats: Vec<&String> = seen.iter().filter(|l| l.contains("heartbeat")).collect();
    assert_eq!(heartbeats[0], "web-0/app heartbeat 1", "{seen:?}");
    child.kill().await.unwrap();
    c.no_sessions_left().await;
}

#[tokio::test]
async fn a_pod_created_with_kubectl_runs() {
    let c = cluster().await;
    let t = Transport::WebSocket;
    c.ok(t, &["run", "box", "--image=busybox", "--env=MODE=test"])
        .await;
    let out = c
        .ok(
            t,
            &["wait", "--for=condition=Ready", "pod/box", "--timeout=10s"],
        )
        .await;
    assert_eq!(out.trim(), "pod/box condition met");
    let out = c.ok(t, &["get", "pod", "box", "--no-headers"]).await;
    let cols: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(cols[..4], ["box", "1/1", "Running", "0"]);
    let phase = c
        .ok(
            t,
            &[
                "get",
                "pod",
                "box",
                "-o",
                "jsonpath={.status.phase} {.status.podIP} {.status.containerStatuses[0].started}",
            ],
        )
        .await;
    let parts: Vec<&str> = phase.split(' ').collect();
    assert_eq!(parts[0], "Running");
    assert!(parts[1].parse::<std::net::Ipv4Addr>().is_ok(), "{phase}");
    assert_eq!(parts[2], "true");
    // One container: no -c needed; the spec's env is the process's.
    let out = c.ok(t, &["exec", "box", "--", "printenv", "MODE"]).await;
    assert_eq!(out, "test\n");
    let out = c.ok(t, &["logs", "box"]).await;
    assert_eq!(out.lines().next(), Some("box/box line 1"));
}

#[tokio::test]
async fn exec_echo_over_both_transports() {
    let c = cluster().await;
    for t in [Transport::WebSocket, Transport::Spdy] {
        let out = c
            .ok(t, &["exec", POD, "-c", "app", "--", "echo", "hi"])
            .await;
        assert_eq!(out, "hi\n");
        let r = c.upgraded("exec", t);
        assert!(r.query.contains("command=echo&command=hi"), "{}", r.query);
        let out = c
            .ok(
                t,
                &[
                    "exec",
                    POD,
                    "-c",
                    "app",
                    "--",
                    "sh",
                    "-c",
                    "echo $GREETING from $HOSTNAME",
                ],
            )
            .await;
        assert_eq!(out, "hi there from web-0\n");
        c.no_sessions_left().await;
    }
}

#[tokio::test]
async fn exec_stdin_is_echoed_by_cat() {
    let c = cluster().await;
    // Big enough to need flow in both directions at once (2 MiB).
    let input = b"0123456789abcdef".repeat(128 * 1024);
    for t in [Transport::WebSocket, Transport::Spdy] {
        let out = c
            .run(
                t,
                &["exec", "-i", POD, "-c", "app", "--", "cat"],
                Some(&input),
            )
            .await;
        assert!(out.success(), "{}", out.stderr);
        assert_eq!(out.stdout.as_bytes(), &input[..]);
        let r = c.upgraded("exec", t);
        assert!(r.query.contains("stdin=true"));
        c.no_sessions_left().await;
    }
}

#[tokio::test]
async fn exec_exit_codes_and_stderr() {
    let c = cluster().await;
    for t in [Transport::WebSocket, Transport::Spdy] {
        let out = c
            .run(
                t,
                &["exec", POD, "-c", "app", "--", "sh", "-c", "exit 3"],
                None,
            )
            .await;
        assert_eq!(out.code, Some(3), "{}", out.stderr);
        assert!(
            out.stderr.contains("command terminated with exit code 3"),
            "{}",
            out.stderr
        );
        let out = c
            .run(t, &["exec", POD, "-c", "app", "--", "nosuch", "x"], None)
            .await;
        assert_eq!(out.code, Some(127));
        assert!(
            out.stderr.contains("sh: nosuch: not found"),
            "{}",
            out.stderr
        );
        assert!(out.stdout.is_empty());
        let out = c
            .run(t, &["exec", POD, "-c", "nope", "--", "true"], None)
            .await;
        assert!(!out.success());
        assert!(
            out.stderr
                .contains("container nope is not valid for pod web-0"),
            "{}",
            out.stderr
        );
        c.no_sessions_left().await;
    }
}

#[tokio::test]
async fn attach_echoes_stdin_and_shows_new_log_lines() {
    let c = cluster().await;
    for t in [Transport::WebSocket, Transport::Spdy] {
        let mut child = c
            .command(t, &["attach", "-i", POD, "-c", "app"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut seen = Vec::new();
        stdin.write_all(b"typed by the user\n").await.unwrap();
        line_matching(&mut stdout, |l| l == "typed by the user", &mut seen).await;
        let line = format!("logged during attach over {t:?}");
        c.server.append_log(NS, POD, "app", &line).unwrap();
        line_matching(&mut stdout, |l| l == line, &mut seen).await;
        // End of stdin ends the main process's `cat`: attach returns 0.
        drop(stdin);
        let status = tokio::time::timeout(T, child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "{status:?}; saw {seen:?}");
        c.upgraded("attach", t);
        c.no_sessions_left().await;
    }
}

#[tokio::test]
async fn cp_to_and_from_the_pod() {
    let c = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("notes.txt");
    let content = b"copied with kubectl cp\n\x00\x01binary tail".to_vec();
    std::fs::write(&local, &content).unwrap();
    for t in [Transport::WebSocket, Transport::Spdy] {
        let remote = format!("/tmp/{t:?}.txt");
        let dest = format!("{POD}:{remote}");
        c.ok(t, &["cp", local.to_str().unwrap(), &dest, "-c", "app"])
            .await;
        assert_eq!(c.server.pod_file(NS, POD, "app", &remote).unwrap(), content);
        let back = dir.path().join(format!("back-{t:?}.txt"));
        c.ok(t, &["cp", &dest, back.to_str().unwrap(), "-c", "app"])
            .await;
        assert_eq!(std::fs::read(&back).unwrap(), content);
        c.no_sessions_left().await;
    }
    // A directory from the pod.
    c.server
        .write_pod_file(NS, POD, "app", "/srv/site/index.html", b"<h1>hi</h1>")
        .unwrap();
    c.server
        .write_pod_file(NS, POD, "app", "/srv/site/css/main.css", b"body{}")
        .unwrap();
    let out_dir = dir.path().join("site");
    c.ok(
        Transport::WebSocket,
        &[
            "cp",
            &format!("{POD}:/srv/site"),
            out_dir.to_str().unwrap(),
            "-c",
            "app",
        ],
    )
    .await;
    assert_eq!(
        std::fs::read(out_dir.join("index.html")).unwrap(),
        b"<h1>hi</h1>"
    );
    assert_eq!(
        std::fs::read(out_dir.join("css/main.css")).unwrap(),
        b"body{}"
    );
}

/// Starts `kubectl port-forward` and returns it with the local ports in
/// the order given.
async fn port_forward(
    c: &Cluster,
    t: Transport,
    remote: &[u16],
) -> (tokio::process::Child, Vec<u16>) {
    let specs: Vec<String> = remote.iter().map(|p| format!(":{p}")).collect();
    let mut args = vec!["port-forward", "--address", "127.0.0.1", "pod/web-0"];
    args.extend(specs.iter().map(String::as_str));
    let mut child = c.command(t, &args).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let mut ports = Vec::new();
    for want in remote {
        let suffix = format!(" -> {want}");
        let line = line_matching(
            &mut stdout,
            |l| l.starts_with("Forwarding from 127.0.0.1:") && l.ends_with(&suffix),
            &mut seen,
        )
        .await;
        let port = line["Forwarding from 127.0.0.1:".len()..line.len() - suffix.len()]
            .parse()
            .unwrap();
        ports.push(port);
    }
    // Keep draining kubectl's "Handling connection" lines.
    tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = stdout.read_to_end(&mut sink).await;
    });
    (child, ports)
}

async fn http_get(port: u16) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut resp = String::new();
    tokio::time::timeout(T, s.read_to_string(&mut resp))
        .await
        .unwrap()
        .unwrap();
    resp
}

async fn echo(port: u16, payload: &[u8]) -> Vec<u8> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(payload).await.unwrap();
    s.shutdown().await.unwrap();
    let mut back = Vec::new();
    tokio::time::timeout(T, s.read_to_end(&mut back))
        .await
        .unwrap()
        .unwrap();
    back
}

#[tokio::test]
async fn port_forward_http_and_echo() {
    let c = cluster().await;
    for t in [Transport::WebSocket, Transport::Spdy] {
        let (mut child, ports) = port_forward(&c, t, &[80, 9000]).await;
        let resp = http_get(ports[0]).await;
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
        assert!(resp.ends_with("\r\n\r\nhello from web-0\n"), "{resp}");
        // Twice, each a new forwarded connection on the same session.
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(echo(ports[1], &payload).await, payload);
        assert_eq!(echo(ports[1], b"again").await, b"again");
        let r = c.upgraded("portforward", t);
        if t == Transport::WebSocket {
            assert_eq!(
                r.header("sec-websocket-protocol"),
                Some("SPDY/3.1+portforward.k8s.io")
            );
        } else {
            assert_eq!(
                r.header("x-stream-protocol-version"),
                Some("portforward.k8s.io")
            );
        }
        assert_eq!(c.server.active_streams(), 1);
        child.kill().await.unwrap();
        c.no_sessions_left().await;
    }
}

#[tokio::test]
async fn exec_needs_create_on_pods_exec() {
    let c = cluster_with(|cfg| {
        cfg.authorizer = Authorizer::Rules(vec![
            AuthzRule::new()
                .users(&["viewer"])
                .verbs(&["get", "list"])
                .api_groups(&[""])
                .resources(&["pods", "pods/log"]),
        ]);
    })
    .await;
    let viewer = c.ca.client_cert("viewer", &[]);
    let kubectl = Kubectl::with_client_cert(&c.server.url(), c.ca.cert_pem(), &viewer).unwrap();
    for t in [Transport::WebSocket, Transport::Spdy] {
        let mut cmd = kubectl.command(&["exec", POD, "-c", "app", "--", "true"]);
        for (k, v) in t.env() {
            cmd.env(k, v);
        }
        let out = tokio::time::timeout(T, cmd.output())
            .await
            .unwrap()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains("cannot create resource \"pods/exec\""),
            "{t:?}: {stderr}"
        );
    }
    let out = tokio::time::timeout(T, kubectl.command(&["logs", POD, "-c", "app"]).output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(c.server.active_streams(), 0);
}

/// A raw WebSocket exec client (rustls + tokio-tungstenite).
async fn websocket(
    c: &Cluster,
    query: &str,
    protocol: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(c.ca.cert_pem().as_bytes()).unwrap())
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![CertificateDer::from_pem_slice(c.admin.cert_pem.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(c.admin.key_pem.as_bytes()).unwrap(),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(c.server.addr())
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    let url = format!(
        "wss://{}/api/v1/namespaces/{NS}/pods/{POD}/exec?{query}",
        c.server.addr()
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().unwrap());
    let (ws, resp) = tokio::time::timeout(T, tokio_tungstenite::client_async(req, tls))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some(protocol)
    );
    ws
}

/// Collects channel messages until the server closes: (stream, bytes).
async fn collect(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    >,
) -> Vec<(u8, Vec<u8>)> {
    let mut got = Vec::new();
    let mut closed = false;
    tokio::time::timeout(T, async {
        while let Some(msg) = ws.next().await {
            let Ok(msg) = msg else { break };
            match msg {
                Message::Binary(b) => got.push((b[0], b[1..].to_vec())),
                // Keep reading after a close: that sends our close reply,
                // then the stream ends.
                Message::Close(frame) => {
                    assert_eq!(frame.map(|f| u16::from(f.code)), Some(1000));
                    closed = true;
                }
                _ => {}
            }
        }
    })
    .await
    .unwrap();
    assert!(closed, "the server closes with a normal close frame");
    got
}

fn stream_bytes(got: &[(u8, Vec<u8>)], stream: u8) -> String {
    let bytes: Vec<u8> = got
        .iter()
        .filter(|(s, _)| *s == stream)
        .flat_map(|(_, b)| b.clone())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test]
async fn raw_websocket_tty_session() {
    let c = cluster().await;
    // stderr=true with a TTY is dropped (not refused), as the kubelet does.
    let query = "command=sh&container=app&stdin=true&stdout=true&stderr=true&tty=true";
    let mut ws = websocket(&c, query, "v5.channel.k8s.io").await;
    // Resize (stream 4), then type two commands and ^D (end of input).
    ws.send(Message::Binary(
        [&[4u8][..], br#"{"Width":100,"Height":30}"#]
            .concat()
            .into(),
    ))
    .await
    .unwrap();
    ws.send(Message::Binary(b"\x00stty size\rnosuch\r".to_vec().into()))
        .await
        .unwrap();
    ws.send(Message::Binary(b"\x00\x04".to_vec().into()))
        .await
        .unwrap();
    let got = collect(&mut ws).await;
    let stdout = stream_bytes(&got, 1);
    // The prompt, the echo of what was typed (all of it at once: typeahead),
    // then the output of each command.
    assert!(
        stdout.starts_with("/ # stty size\r\nnosuch\r\n"),
        "{stdout:?}"
    );
    assert!(stdout.contains("\r\n30 100\r\n"), "{stdout:?}");
    // With a TTY, errors are on stdout and lines end in \r\n.
    assert!(stdout.contains("sh: nosuch: not found\r\n"), "{stdout:?}");
    assert_eq!(stream_bytes(&got, 2), "");
    // The shell exited with the last command's status.
    let status: serde_json::Value = serde_json::from_str(&stream_bytes(&got, 3)).unwrap();
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(
        status["details"]["causes"][0],
        json!({"reason": "ExitCode", "message": "127"})
    );
    c.no_sessions_left().await;
}

#[tokio::test]
async fn raw_websocket_v5_close_signal_and_v4_status() {
    let c = cluster().await;
    let query = "command=cat&container=app&stdin=true&stdout=true&stderr=true";
    let mut ws = websocket(&c, query, "v5.channel.k8s.io").await;
    ws.send(Message::Binary(b"\x00to cat".to_vec().into()))
        .await
        .unwrap();
    // v5: [255, 0] closes stdin, so cat ends.
    ws.send(Message::Binary(vec![255, 0].into())).await.unwrap();
    let got = collect(&mut ws).await;
    assert_eq!(stream_bytes(&got, 1), "to cat");
    assert_eq!(
        stream_bytes(&got, 3),
        r#"{"metadata":{},"status":"Success"}"#
    );
    // v4 has no close signal; exit codes are a Status as well.
    let query = "command=sh&command=-c&command=exit%205&container=app&stdout=true&stderr=true";
    let mut ws = websocket(&c, query, "v4.channel.k8s.io").await;
    let got = collect(&mut ws).await;
    let status: serde_json::Value = serde_json::from_str(&stream_bytes(&got, 3)).unwrap();
    assert_eq!(status["status"], "Failure");
    assert_eq!(
        status["message"],
        "command terminated with non-zero exit code: error executing command [sh -c exit 5], exit code 5"
    );
    assert_eq!(status["details"]["causes"][0]["message"], "5");
    c.no_sessions_left().await;
}

#[tokio::test]
async fn shutdown_ends_open_sessions() {
    let c = cluster().await;
    let mut child = c
        .command(
            Transport::WebSocket,
            &["exec", "-i", POD, "-c", "app", "--", "cat"],
        )
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let _stdin = child.stdin.take().unwrap();
    assert!(c.server.wait_for_active_streams(1, T).await);
    c.server.shutdown().await;
    // kubectl notices the connection ending and exits.
    let status = tokio::time::timeout(T, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.code().is_some());
}
