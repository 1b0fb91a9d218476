//! Every kubectl command through the gateway (issue 5): watches and waits,
//! logs (a follow that outlives Envoy's default route timeout), exec (also
//! on a real terminal), attach, cp and port-forward over WebSocket and
//! SPDY/3.1, apply (client- and server-side), diff, edit, patch, delete
//! --wait, discovery, explain, auth, raw paths, and streams that end with
//! the token that opened them.
//!
//! Each test runs the real kubectl (`$KUBECTL`, else `kubectl` on PATH)
//! against a real `kubeplex up` (control plane + Envoy + the built filter)
//! in front of one test cluster `a`, as the token user `alice` (groups
//! `dev`, `ops`), and checks what reached the cluster.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use kubeplex_proto::routing::CLUSTER_PATH_PREFIX;
use kubeplex_tests::apiserver::{
    ApiServer, ApiServerConfig, Authorizer, AuthzRule, RecordedRequest, SEEDED_LOG_LINES,
};
use serde_json::{Value, json};

use crate::harness::*;

const NS: &str = "default";
const POD: &str = "web-0";
const USER: &str = "alice";
const GROUPS: [&str; 2] = ["dev", "ops"];
/// The bound of every single wait.
const T: Duration = Duration::from_secs(20);

/// One cluster `a` (with the pod `web-0`) behind a gateway, and kubectl as
/// alice. Fields drop in order: the cluster, then the gateway.
struct World {
    a: ApiServer,
    gw: Gateway,
    k: Kubectl,
}

async fn world() -> World {
    world_with(|_| {}, "").await
}

/// `cluster` adjusts the test cluster; `extra_config` is appended to the
/// gateway config.
async fn world_with(cluster: impl FnOnce(&mut ApiServerConfig), extra_config: &str) -> World {
    let pki = Pki::new();
    let mut config = ApiServerConfig {
        client_ca_pem: Some(pki.cluster_ca.cert_pem().to_string()),
        ..ApiServerConfig::new(
            "cluster-a",
            pki.cluster_ca.server_cert(&["127.0.0.1", "localhost"]),
        )
    };
    cluster(&mut config);
    let a = ApiServer::start(config)
        .await
        .expect("start test apiserver");
    a.store()
        .create(
            "pods",
            json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": POD, "namespace": NS},
                "spec": {"containers": [
                    {"name": "app", "image": "nginx"},
                    {"name": "sidecar", "image": "busybox"},
                ]},
            }),
        )
        .unwrap();
    let mut spec = GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a)]);
    spec.extra_config = extra_config;
    let gw = Gateway::start(spec);
    let k = gw.kubectl(&alice_token(&gw, &[]), &["a"]);
    World { a, gw, k }
}

fn alice_token(gw: &Gateway, more: &[&str]) -> String {
    let mut args = vec!["--sub", USER];
    for g in GROUPS {
        args.extend(["--group", g]);
    }
    args.extend(more);
    gw.mint(&args)
}

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("test_data/e2e")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

/// The request came from the gateway, as alice, without the token.
fn assert_forwarded_as_alice(r: &RecordedRequest) {
    let what = format!("{} {}?{}", r.method, r.path, r.query);
    assert_eq!(
        r.client_cert_subject.as_deref(),
        Some("kubeplex-gateway"),
        "{what}"
    );
    assert_eq!(r.header("impersonate-user"), Some(USER), "{what}");
    assert_eq!(r.header_all("impersonate-group"), GROUPS, "{what}");
    assert!(
        r.header("authorization").is_none(),
        "{what}: the token reached the cluster"
    );
    assert!(
        !r.path.starts_with(CLUSTER_PATH_PREFIX),
        "{what}: path prefix not stripped"
    );
    assert_eq!(
        r.effective_user.as_ref().map(|u| u.username.as_str()),
        Some(USER),
        "{what}"
    );
}

/// The last request for the pod's `subresource`: switched (101) over
/// HTTP/1.1 with `t`'s upgrade, as alice.
fn upgraded(a: &ApiServer, subresource: &str, t: Transport) -> RecordedRequest {
    let path = format!("/api/v1/namespaces/{NS}/pods/{POD}/{subresource}");
    let r = a
        .forwarded()
        .into_iter()
        .rfind(|r| r.path == path)
        .unwrap_or_else(|| panic!("{t:?}: no {path} request reached the cluster"));
    assert_eq!(r.status, 101, "{t:?}: not switched: {r:?}");
    assert_eq!(
        r.http_version, "HTTP/1.1",
        "{t:?}: the apiserver takes upgrades only over HTTP/1.1"
    );
    assert!(
        r.header("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case(t.upgrade())),
        "{t:?}: upgrade header {:?}",
        r.header("upgrade")
    );
    let method = match t {
        Transport::WebSocket => "GET",
        Transport::Spdy => "POST",
    };
    assert_eq!(r.method, method, "{t:?}");
    // the upgrade route's Host: the cluster's endpoint hostname (the
    // kubeconfig's server URL), not the gateway's
    assert_eq!(
        r.host.as_deref(),
        Some(a.addr().to_string().as_str()),
        "{t:?}"
    );
    assert_forwarded_as_alice(&r);
    r
}

async fn no_sessions_left(a: &ApiServer) {
    assert!(
        a.wait_for_active_streams(0, T).await,
        "{} streaming sessions still open at the cluster",
        a.active_streams()
    );
}

fn wait_for_watches(a: &ApiServer, n: usize) {
    wait_for(format_args!("{n} watches open at the cluster"), T, || {
        (a.active_watches() == n).then_some(())
    });
}

fn seeded(container: &str, n: usize) -> String {
    format!("{POD}/{container} line {n}")
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A JWT's `exp` (the payload is not verified here: we minted it).
fn exp_of(token: &str) -> u64 {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["exp"]
        .as_u64()
        .expect("exp")
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watches_wait_and_rollout_status() {
    let w = world().await;
    w.k.ok(&["create", "configmap", "w0", "--from-literal=k=v0"]);
    let mut all = w.k.stream(&["get", "configmaps", "--watch"]);
    let mut only =
        w.k.stream(&["get", "configmaps", "--watch-only", "-o", "name"]);
    all.expect_line("w0", T);
    wait_for_watches(&w.a, 2);
    w.k.ok(&["create", "configmap", "w1", "--from-literal=k=v1"]);
    all.expect_line("w1", T);
    only.expect_line("configmap/w1", T);
    assert!(
        !only.seen.iter().any(|l| l.contains("w0")),
        "--watch-only printed the initial list: {:?}",
        only.seen
    );

    // `wait --for=jsonpath`: not met yet, so it watches until the change.
    let mut waiting = w.k.stream(&[
        "wait",
        "--for=jsonpath={.data.k}=v2",
        "configmap/w1",
        "--timeout=30s",
    ]);
    wait_for_watches(&w.a, 3);
    assert!(!waiting.exited(), "wait returned before the change");
    w.k.ok(&["patch", "configmap", "w1", "-p", r#"{"data":{"k":"v2"}}"#]);
    waiting.expect_line("configmap/w1 condition met", T);
    assert!(waiting.wait_exit(T).success(), "{}", waiting.stderr());

    // `wait --for=delete`: watches until the pod is gone.
    w.k.ok(&["run", "box", "--image=busybox"]);
    assert_eq!(
        w.k.ok(&["wait", "--for=condition=Ready", "pod/box", "--timeout=20s"])
            .trim(),
        "pod/box condition met"
    );
    wait_for_watches(&w.a, 2);
    let mut gone =
        w.k.stream(&["wait", "--for=delete", "pod/box", "--timeout=30s"]);
    wait_for_watches(&w.a, 3);
    assert!(!gone.exited(), "wait --for=delete returned early");
    w.k.ok(&["delete", "pod", "box", "--wait=false"]);
    gone.expect_line("pod/box condition met", T);
    assert!(gone.wait_exit(T).success(), "{}", gone.stderr());

    // A deployment: a watch on an API group, then rollout status.
    w.k.ok(&["create", "deployment", "web", "--image=nginx"]);
    wait_for_watches(&w.a, 2);
    let mut deploy = w.k.stream(&["get", "deployment", "web", "--watch"]);
    deploy.expect_line("1/1", T);
    wait_for_watches(&w.a, 3);
    w.k.ok(&["scale", "deployment/web", "--replicas=3"]);
    deploy.expect_line("3/3", T);
    let out =
        w.k.ok(&["rollout", "status", "deployment/web", "--timeout=20s"]);
    assert!(
        out.contains(r#"deployment "web" successfully rolled out"#),
        "{out}"
    );

    for s in [&mut all, &mut only, &mut deploy] {
        assert!(!s.exited(), "a watch ended: {}", s.stderr());
    }
    let watches: Vec<RecordedRequest> =
        w.a.forwarded()
            .into_iter()
            .filter(|r| r.query.contains("watch=true"))
            .collect();
    assert!(
        watches.len() >= 5,
        "expected the watches of get -w, --watch-only, two waits and get deployment -w: {:?}",
        watches.iter().map(RecordedRequest::uri).collect::<Vec<_>>()
    );
    for r in &watches {
        assert_forwarded_as_alice(r);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logs_and_a_follow_that_outlives_the_default_route_timeout() {
    let w = world().await;
    let all: Vec<String> = (1..=SEEDED_LOG_LINES).map(|n| seeded("app", n)).collect();
    let out = w.k.ok(&["logs", POD, "-c", "app"]);
    assert_eq!(out.lines().collect::<Vec<_>>(), all);
    let out = w.k.ok(&["logs", POD, "-c", "sidecar", "--tail=2"]);
    let want: Vec<String> = (SEEDED_LOG_LINES - 1..=SEEDED_LOG_LINES)
        .map(|n| seeded("sidecar", n))
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want);

    // Envoy's default route timeout is 15 s: follow for longer, with a
    // watch open beside it.
    w.k.ok(&["create", "configmap", "before", "--from-literal=k=v"]);
    let started = Instant::now();
    let mut follow = w.k.stream(&["logs", "-f", POD, "-c", "app"]);
    let mut watch = w.k.stream(&["get", "configmaps", "--watch"]);
    follow.expect_line(all.last().unwrap(), T);
    watch.expect_line("before", T);
    w.a.append_log(NS, POD, "app", "fresh line").unwrap();
    follow.expect_line("fresh line", T);
    // Heartbeats come every second: none may go missing, none may stall.
    let mut beats = Vec::new();
    while started.elapsed() < Duration::from_millis(16_500) {
        let line = follow.next_line(Duration::from_secs(3)).unwrap_or_else(|| {
            panic!(
                "logs -f stalled or ended {:?} after it started; stderr: {}",
                started.elapsed(),
                follow.stderr()
            )
        });
        if let Some(n) = line.strip_prefix(&format!("{POD}/app heartbeat ")) {
            beats.push(n.parse::<u64>().unwrap());
        }
    }
    assert!(
        beats.len() >= 12,
        "{} heartbeats in 16 s: {beats:?}",
        beats.len()
    );
    assert!(
        beats.windows(2).all(|p| p[1] == p[0] + 1),
        "heartbeats went missing: {beats:?}"
    );
    assert!(!follow.exited(), "logs -f ended: {}", follow.stderr());
    w.k.ok(&["create", "configmap", "after-16s", "--from-literal=k=v"]);
    watch.expect_line("after-16s", T);
    assert!(!watch.exited(), "the watch ended: {}", watch.stderr());

    let r =
        w.a.forwarded()
            .into_iter()
            .find(|r| r.path.ends_with("/pods/web-0/log") && r.query.contains("follow=true"))
            .expect("the follow reached the cluster");
    assert_forwarded_as_alice(&r);
    drop(follow);
    no_sessions_left(&w.a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exec_over_websocket_and_spdy() {
    let w = world().await;
    // Enough to need flow control both ways at once (1 MiB).
    let input = b"0123456789abcdef".repeat(64 * 1024);
    for t in Transport::BOTH {
        w.a.clear_requests();
        let r = w.k.run_with(
            &["exec", POD, "-c", "app", "--", "echo", "hi"],
            t.env(),
            None,
        );
        assert!(r.ok, "{t:?}: {}", r.stderr);
        assert_eq!(r.stdout, "hi\n", "{t:?}");
        let req = upgraded(&w.a, "exec", t);
        assert!(
            req.query.contains("command=echo&command=hi"),
            "{}",
            req.query
        );

        let r = w.k.run_with(
            &["exec", "-i", POD, "-c", "app", "--", "cat"],
            t.env(),
            Some(&input),
        );
        assert!(r.ok, "{t:?}: {}", r.stderr);
        assert!(
            r.stdout.as_bytes() == &input[..],
            "{t:?}: cat returned {} of {} bytes",
            r.stdout.len(),
            input.len()
        );
        assert!(upgraded(&w.a, "exec", t).query.contains("stdin=true"));

        let r = w.k.run_with(
            &[
                "exec",
                POD,
                "-c",
                "app",
                "--",
                "sh",
                "-c",
                "echo to-stderr >&2; exit 3",
            ],
            t.env(),
            None,
        );
        assert_eq!(r.code, Some(3), "{t:?}: {}", r.stderr);
        assert!(r.stderr.contains("to-stderr"), "{t:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("command terminated with exit code 3"),
            "{t:?}: {}",
            r.stderr
        );
        no_sessions_left(&w.a).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exec_it_on_a_real_terminal_over_websocket_and_spdy() {
    let w = world().await;
    for t in Transport::BOTH {
        w.a.clear_requests();
        let mut s =
            w.k.tty_stream(&["exec", "-it", POD, "-c", "app", "--", "sh"], t.env());
        assert!(
            w.a.wait_for_active_streams(1, T).await,
            "{t:?}: no session: {:?}",
            s.seen
        );
        // What a person types (Enter is CR on a raw terminal); the shell
        // echoes the line, then prints the value.
        s.send("echo $HOSTNAME\r");
        let line = s.expect_line(POD, T);
        assert_eq!(line.trim_end(), POD, "{t:?}: {:?}", s.seen);
        s.send("exit 7\r");
        let status = s.wait_exit(T);
        assert_eq!(
            status.code(),
            Some(7),
            "{t:?}: the shell's exit code; saw {:?}",
            s.seen
        );
        assert!(
            !s.seen.iter().any(|l| l.contains("Unable to use a TTY")),
            "{t:?}: kubectl had no terminal: {:?}",
            s.seen
        );
        let req = upgraded(&w.a, "exec", t);
        assert!(
            req.query.contains("tty=true") && req.query.contains("stdin=true"),
            "{t:?}: {}",
            req.query
        );
        no_sessions_left(&w.a).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attach_over_websocket_and_spdy() {
    let w = world().await;
    for t in Transport::BOTH {
        w.a.clear_requests();
        let mut s =
            w.k.stream_with(&["attach", "-i", POD, "-c", "app"], t.env(), true);
        s.send("typed by the user\n");
        s.expect_line("typed by the user", T);
        let line = format!("logged during attach over {t:?}");
        w.a.append_log(NS, POD, "app", &line).unwrap();
        s.expect_line(&line, T);
        // End of input ends the main process's `cat`: attach returns 0.
        s.close_stdin();
        let status = s.wait_exit(T);
        assert!(status.success(), "{t:?}: {status:?}: {}", s.stderr());
        upgraded(&w.a, "attach", t);
        no_sessions_left(&w.a).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cp_over_websocket_and_spdy() {
    let w = world().await;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("notes.txt");
    let content = b"copied with kubectl cp\n\x00\x01binary tail".to_vec();
    std::fs::write(&local, &content).unwrap();
    for t in Transport::BOTH {
        w.a.clear_requests();
        let remote = format!("/tmp/{t:?}.txt");
        let dest = format!("{POD}:{remote}");
        let r = w.k.run_with(
            &["cp", local.to_str().unwrap(), &dest, "-c", "app"],
            t.env(),
            None,
        );
        assert!(r.ok, "{t:?}: {}", r.stderr);
        assert_eq!(w.a.pod_file(NS, POD, "app", &remote).unwrap(), content);
        // cp is exec of tar.
        assert!(
            upgraded(&w.a, "exec", t).query.contains("command=tar"),
            "{t:?}"
        );
        let back = dir.path().join(format!("back-{t:?}.txt"));
        let r = w.k.run_with(
            &["cp", &dest, back.to_str().unwrap(), "-c", "app"],
            t.env(),
            None,
        );
        assert!(r.ok, "{t:?}: {}", r.stderr);
        assert_eq!(std::fs::read(&back).unwrap(), content, "{t:?}");
        no_sessions_left(&w.a).await;
    }
}

/// The local port kubectl printed for `remote`.
fn forwarded_port(s: &Stream, remote: u16) -> u16 {
    let suffix = format!(" -> {remote}");
    s.seen
        .iter()
        .find_map(|l| {
            l.strip_prefix("Forwarding from 127.0.0.1:")?
                .strip_suffix(&suffix)?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no forward for {remote}: {:?}", s.seen))
}

/// Send `payload` on a new connection to `port`, half-close, read to the end.
fn exchange(port: u16, payload: &[u8]) -> Vec<u8> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(T)).unwrap();
    conn.write_all(payload).unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    conn.read_to_end(&mut back).unwrap();
    back
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn port_forward_over_websocket_and_spdy() {
    let w = world().await;
    for t in Transport::BOTH {
        w.a.clear_requests();
        let mut s = w.k.stream_with(
            &[
                "port-forward",
                "--address",
                "127.0.0.1",
                "pod/web-0",
                ":80",
                ":9000",
            ],
            t.env(),
            false,
        );
        s.expect_line(" -> 80", T);
        s.expect_line(" -> 9000", T);
        let (http, echo) = (forwarded_port(&s, 80), forwarded_port(&s, 9000));
        let resp = String::from_utf8(exchange(
            http,
            b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        ))
        .unwrap();
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{t:?}: {resp}");
        assert!(
            resp.ends_with("\r\n\r\nhello from web-0\n"),
            "{t:?}: {resp}"
        );
        // Twice: each a new stream on the same forwarding session.
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        assert!(exchange(echo, &payload) == payload, "{t:?}: echo differs");
        assert_eq!(exchange(echo, b"again"), b"again");
        let req = upgraded(&w.a, "portforward", t);
        match t {
            Transport::WebSocket => assert_eq!(
                req.header("sec-websocket-protocol"),
                Some("SPDY/3.1+portforward.k8s.io")
            ),
            Transport::Spdy => assert_eq!(
                req.header("x-stream-protocol-version"),
                Some("portforward.k8s.io")
            ),
        }
        assert_eq!(w.a.active_streams(), 1, "{t:?}: one session for both ports");
        assert!(!s.exited(), "{t:?}: {}", s.stderr());
        drop(s);
        no_sessions_left(&w.a).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_diff_edit_patch_and_delete_wait() {
    let w = world().await;
    let (v1, v2, ssa) = (
        fixture("app-v1.yaml"),
        fixture("app-v2.yaml"),
        fixture("ssa.yaml"),
    );
    let stored = |name: &str| w.a.store().get("configmaps", NS, name);

    assert_eq!(
        w.k.ok(&["apply", "-f", &v1]).trim(),
        "configmap/app created"
    );
    assert!(
        w.a.forwarded()
            .iter()
            .any(|r| r.path.starts_with("/openapi/v") && r.status == 200),
        "client-side apply fetched no OpenAPI document"
    );
    let cm = stored("app").unwrap();
    assert_eq!(cm["data"]["k"], "v1");
    assert!(
        cm["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .is_some_and(|a| a.contains("v1"))
    );

    // diff: a server-side dry run; exit 1 when something differs.
    let r = w.k.run_with(&["diff", "-f", &v2], &[], None);
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("-  k: v1") && r.stdout.contains("+  k: v2"),
        "{}",
        r.stdout
    );
    assert!(
        w.a.forwarded().iter().any(|r| r.method == "PATCH"
            && r.path == "/api/v1/namespaces/default/configmaps/app"
            && r.query.contains("dryRun=All")),
        "diff made no dry-run patch"
    );
    assert_eq!(stored("app").unwrap()["data"]["k"], "v1", "diff changed it");

    assert_eq!(
        w.k.ok(&["apply", "-f", &v2]).trim(),
        "configmap/app configured"
    );
    assert_eq!(stored("app").unwrap()["data"]["k"], "v2");
    assert_eq!(
        w.k.ok(&["apply", "-f", &v2]).trim(),
        "configmap/app unchanged"
    );

    assert_eq!(
        w.k.ok(&["apply", "--server-side", "-f", &ssa]).trim(),
        "configmap/ssa serverside-applied"
    );
    let req =
        w.a.forwarded()
            .into_iter()
            .rfind(|r| r.method == "PATCH" && r.path.ends_with("/configmaps/ssa"))
            .expect("the apply patch reached the cluster");
    assert_eq!(
        req.header("content-type"),
        Some("application/apply-patch+yaml")
    );
    assert!(req.query.contains("fieldManager=kubectl"), "{}", req.query);
    assert_eq!(stored("ssa").unwrap()["data"]["s"], "server-side");

    // edit, with an editor that changes the file.
    let r = w.k.run_with(
        &["edit", "configmap", "app"],
        &[("KUBE_EDITOR", "sed -i s/v2/edited/")],
        None,
    );
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), "configmap/app edited");
    assert_eq!(stored("app").unwrap()["data"]["k"], "edited");

    // patch: strategic merge (the default), then JSON patch.
    assert_eq!(
        w.k.ok(&[
            "patch",
            "configmap",
            "app",
            "-p",
            r#"{"data":{"extra":"1"}}"#
        ])
        .trim(),
        "configmap/app patched"
    );
    w.k.ok(&[
        "patch",
        "configmap",
        "app",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/data/keep"}]"#,
    ]);
    assert_eq!(
        stored("app").unwrap()["data"],
        json!({"k": "edited", "extra": "1"})
    );

    // delete --wait: returns once the object is gone.
    w.k.ok(&["run", "doomed", "--image=busybox"]);
    let out =
        w.k.ok(&["delete", "pod", "doomed", "--wait=true", "--timeout=20s"]);
    assert!(out.contains(r#"pod "doomed" deleted"#), "{out}");
    assert!(w.a.store().get("pods", NS, "doomed").is_none());
    let out = w.k.ok(&["delete", "-f", &v2, "--wait=true"]);
    assert!(out.contains(r#"configmap "app" deleted"#), "{out}");
    let err = w.k.fails(&["get", "configmap", "app"]);
    assert!(err.contains(r#"configmaps "app" not found"#), "{err}");

    for r in w.a.forwarded() {
        assert_forwarded_as_alice(&r);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn discovery_explain_and_auth_as_the_impersonated_user() {
    // The cluster's own RBAC: alice may do anything to configmaps and read
    // pods, nothing else; the gateway may impersonate (the legacy way, as
    // the README's ClusterRole grants it).
    let w = world_with(
        |c| {
            c.authorizer = Authorizer::Rules(vec![
                AuthzRule::new()
                    .users(&[USER])
                    .verbs(&["*"])
                    .api_groups(&[""])
                    .resources(&["configmaps"]),
                AuthzRule::new()
                    .users(&[USER])
                    .verbs(&["get", "list", "watch"])
                    .api_groups(&[""])
                    .resources(&["pods"]),
                AuthzRule::new()
                    .groups(&["kubeplex:gateways"])
                    .verbs(&["impersonate"])
                    .api_groups(&["", "authentication.k8s.io"])
                    .resources(&["users", "groups", "serviceaccounts", "uids"]),
            ])
        },
        "",
    )
    .await;

    let out = w.k.ok(&["api-resources"]);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(
        rows.iter()
            .any(|r| r[..] == ["configmaps", "cm", "v1", "true", "ConfigMap"]),
        "{out}"
    );
    assert!(
        rows.iter()
            .any(|r| r.first() == Some(&"deployments") && r.contains(&"apps/v1")),
        "{out}"
    );

    let out = w.k.ok(&["explain", "configmap.data"]);
    assert!(out.contains("KIND:       ConfigMap"), "{out}");
    assert!(out.contains("FIELD: data <map[string]string>"), "{out}");
    let out = w.k.ok(&["explain", "deployment.spec.replicas"]);
    assert!(out.contains("Number of desired pods."), "{out}");
    assert!(
        w.a.forwarded()
            .iter()
            .any(|r| r.path == "/openapi/v3/api/v1" && r.status == 200),
        "explain did not read OpenAPI v3 from the cluster"
    );

    // can-i: the cluster answers for the impersonated user.
    assert_eq!(
        w.k.ok(&["auth", "can-i", "create", "configmaps"]).trim(),
        "yes"
    );
    let r = w.k.run(&["auth", "can-i", "delete", "pods"]);
    assert_eq!((r.code, r.stdout.trim()), (Some(1), "no"), "{}", r.stderr);
    let ssar =
        w.a.forwarded()
            .into_iter()
            .rfind(|r| r.path.ends_with("/selfsubjectaccessreviews"))
            .expect("can-i asked the cluster");
    assert_eq!(ssar.method, "POST");
    // ... and the cluster's RBAC applies to alice.
    let err = w.k.fails(&["delete", "pod", POD]);
    assert!(
        err.contains(r#"User "alice" cannot delete resource "pods""#),
        "{err}"
    );

    // whoami shows the impersonated user and groups.
    let v = json_of(&w.k.ok(&["auth", "whoami", "-o", "json"]));
    assert_eq!(v["kind"], "SelfSubjectReview");
    assert_eq!(v["status"]["userInfo"]["username"], USER);
    assert_eq!(
        v["status"]["userInfo"]["groups"],
        json!(["dev", "ops", "system:authenticated"])
    );
    let out = w.k.ok(&["auth", "whoami"]);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[1], ["Username", USER], "{out}");
    assert_eq!(
        rows[2],
        ["Groups", "[dev", "ops", "system:authenticated]"],
        "{out}"
    );
    for r in w.a.forwarded() {
        assert_forwarded_as_alice(&r);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn get_raw_paths() {
    let w = world().await;
    // client-go's `RequestURI` (what `get --raw` uses) replaces the server
    // URL's path: the `/clusters/a` prefix is lost. The context's
    // `tls-server-name` (a.clusters.kubeplex.test) still picks cluster a.
    let v = json_of(&w.k.ok(&["get", "--raw", "/api"]));
    assert_eq!(v["kind"], "APIVersions");
    assert!(
        w.a.forwarded().iter().any(|r| r.path == "/api"),
        "cluster a did not see the raw request"
    );
    // A server name that is no context's selects nothing, and nothing
    // reaches a cluster.
    let seen = w.a.forwarded().len();
    let stray = w.gw.kubectl(&alice_token(&w.gw, &[]), &["zz"]);
    let err = stray.fails(&["get", "--raw", "/version"]);
    assert!(
        err.contains("NotFound") && err.contains("no cluster selected"),
        "{err}"
    );
    assert_eq!(
        w.a.forwarded().len(),
        seen,
        "a stray request reached a cluster"
    );
    // Naming the cluster in the raw path works too ...
    let v = json_of(&w.k.ok(&["get", "--raw", "/clusters/a/api"]));
    assert_eq!(v["kind"], "APIVersions");
    // ... and so does a token bound to the cluster (`ctx` claim), for
    // every raw path.
    let k = w.gw.kubectl(&alice_token(&w.gw, &["--ctx", "a"]), &["a"]);
    let v = json_of(&k.ok(&["get", "--raw", "/api"]));
    assert_eq!(v["kind"], "APIVersions");
    assert_eq!(v["versions"], json!(["v1"]));

    let v = json_of(&k.ok(&["get", "--raw", "/apis"]));
    assert_eq!(v["kind"], "APIGroupList");
    assert!(
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "apps"),
        "{v}"
    );

    let v = json_of(&k.ok(&["get", "--raw", "/version"]));
    assert_eq!(v["major"], "1");
    assert!(
        v["gitVersion"]
            .as_str()
            .unwrap()
            .ends_with("kubeplex-test.cluster-a"),
        "{v}"
    );

    let v = json_of(&k.ok(&["get", "--raw", "/openapi/v3"]));
    let core = v["paths"]["api/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    assert!(core.starts_with("/openapi/v3/api/v1?hash="), "{core}");

    // Both watch routes (query and legacy path) run until the cluster ends them.
    k.ok(&["create", "configmap", "raw", "--from-literal=k=v"]);
    for path in [
        "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1",
        "/api/v1/watch/namespaces/default/configmaps?timeoutSeconds=1",
    ] {
        let out = k.ok(&["get", "--raw", path]);
        let events: Vec<Value> = out.lines().map(json_of).collect();
        assert!(
            events
                .iter()
                .any(|e| e["type"] == "ADDED" && e["object"]["metadata"]["name"] == "raw"),
            "{path}: {out}"
        );
    }

    let paths: Vec<String> = w.a.forwarded().iter().map(|r| r.path.clone()).collect();
    for want in ["/api", "/apis", "/version", "/openapi/v3"] {
        assert!(paths.iter().any(|p| p == want), "{want} not in {paths:?}");
    }
    for r in w.a.forwarded() {
        assert_forwarded_as_alice(&r);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streams_end_when_the_token_that_opened_them_expires() {
    const SKEW: u64 = 1;
    let w = world_with(|_| {}, "tokens:\n  clockSkewSeconds: 1\n").await;
    w.k.ok(&["create", "configmap", "seen-by-watch", "--from-literal=k=v"]);
    // Long enough to open three streams on a busy machine, short enough
    // to keep the test quick.
    let short = alice_token(&w.gw, &["--ttl", "8s"]);
    let exp = exp_of(&short);
    let k = w.gw.kubectl(&short, &["a"]);
    let mut streams = [
        ("watch", k.stream(&["get", "configmaps", "--watch"])),
        (
            "exec over WebSocket",
            k.stream_with(
                &["exec", "-i", POD, "-c", "app", "--", "cat"],
                Transport::WebSocket.env(),
                true,
            ),
        ),
        (
            "exec over SPDY",
            k.stream_with(
                &["exec", "-i", POD, "-c", "app", "--", "cat"],
                Transport::Spdy.env(),
                true,
            ),
        ),
    ];
    streams[0].1.expect_line("seen-by-watch", T);
    for (what, s) in &mut streams[1..] {
        s.send("alive\n");
        s.expect_line("alive", T);
        assert!(!s.exited(), "{what}");
    }
    assert!(w.a.wait_for_active_streams(2, T).await);
    w.k.ok(&["create", "configmap", "before-expiry", "--from-literal=k=v"]);
    streams[0].1.expect_line("before-expiry", T);
    assert!(
        unix_now() < exp as f64,
        "the machine was too slow: the streams opened after the token expired"
    );

    // Each must end after `exp`, and soon after. The gateway gives a
    // stream `exp - now + skew` whole seconds from its start (so it ends
    // within [exp + skew, exp + skew + 1)); kubectl exec then takes up to
    // about a second to notice and exit.
    let cluster_latest = exp as f64 + SKEW as f64 + 2.5;
    let latest = exp as f64 + SKEW as f64 + 4.5;
    let mut ended: [Option<f64>; 5] = [None; 5];
    while unix_now() <= latest && ended.iter().any(Option::is_none) {
        let now = unix_now();
        let done = [
            streams[0].1.exited(),
            streams[1].1.exited(),
            streams[2].1.exited(),
            w.a.active_watches() == 0,
            w.a.active_streams() == 0,
        ];
        for (at, done) in ended.iter_mut().zip(done) {
            if at.is_none() && done {
                *at = Some(now);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let names = [
        streams[0].0,
        streams[1].0,
        streams[2].0,
        "the watch at the cluster",
        "both exec sessions at the cluster",
    ];
    for (i, (what, at)) in names.into_iter().zip(ended).enumerate() {
        let bound = if i < 3 { latest } else { cluster_latest } - exp as f64;
        let at =
            at.unwrap_or_else(|| panic!("{what} still open {bound:+.1} s after exp")) - exp as f64;
        eprintln!("{what} ended {at:+.2} s after exp");
        assert!(at >= 0.0, "{what} ended {:.2} s before exp", -at);
        assert!(
            at <= bound,
            "{what} ended {at:+.2} s after exp (bound {bound:+.1} s)"
        );
    }
    no_sessions_left(&w.a).await;
    wait_for_watches(&w.a, 0);
    // The token itself is refused now.
    let err = k.fails(&["get", "configmaps"]);
    assert!(err.contains("token expired at"), "{err}");
}
