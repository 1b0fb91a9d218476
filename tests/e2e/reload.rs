//! Reloads without harm (issue 5): a watch and two `exec -i cat` sessions
//! (WebSocket and SPDY) open on cluster `a` keep working, with zero drops,
//! through twenty configuration changes that do not touch `a`: clusters
//! added and removed, cluster `b` moved, the issuer key rotated (PEM → JWKS
//! of old + new keys), revocations added, the RBAC policy edited. Each
//! change is waited for (`Gateway::wait_applied`) and checked to be in
//! effect. Then `a` itself moves to another server: new streams reach it.
//! And the reloads that should end streams do: a revocation ends the
//! revoked token's streams, removing a cluster ends the streams on it.

use std::time::{Duration, Instant};

use base64::Engine;
use kubeplex_tests::apiserver::ApiServer;
use serde_json::json;

use crate::harness::*;

const NS: &str = "default";
const POD: &str = "web-0";
const T: Duration = Duration::from_secs(20);
/// How long a change Envoy has acknowledged may take to reach its workers.
const APPLY: Duration = Duration::from_secs(5);
const RELOADS: usize = 20;

fn seed(server: &ApiServer, marker: &str) {
    server
        .store()
        .create(
            "pods",
            json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": POD, "namespace": NS},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            }),
        )
        .unwrap();
    // Tells which server a context reaches.
    server
        .store()
        .create(
            "configmaps",
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": marker, "namespace": NS},
            }),
        )
        .unwrap();
}

/// The gateway policy: everything for alice (and bob when `bob`).
fn policy(bob: bool) -> String {
    let users = if bob { "[alice, bob]" } else { "[alice]" };
    format!(
        "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayPolicy\nroles:\n- name: everything\n  rules:\n  \
         - clusters: [\"*\"]\n    namespaces: [\"*\"]\n    verbs: [\"*\"]\n    resources: [\"*\"]\n\
         bindings:\n- role: everything\n  users: {users}\n"
    )
}

/// A P-256 public key as a JWK (`kid` optional).
fn jwk(key: &rcgen::KeyPair, kid: Option<&str>) -> serde_json::Value {
    let raw = key.public_key_raw();
    assert_eq!(raw.len(), 65, "an uncompressed P-256 point");
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let mut jwk = json!({
        "kty": "EC",
        "crv": "P-256",
        "alg": "ES256",
        "use": "sig",
        "x": b64(&raw[1..33]),
        "y": b64(&raw[33..]),
    });
    if let Some(kid) = kid {
        jwk["kid"] = json!(kid);
    }
    jwk
}

/// Ok when the run succeeded.
fn succeeds(r: Run) -> Result<(), String> {
    if r.ok { Ok(()) } else { Err(r.stderr) }
}

/// Ok when the run failed with `needle` in its stderr.
fn fails_with(r: Run, needle: &str) -> Result<(), String> {
    if !r.ok && r.stderr.contains(needle) {
        Ok(())
    } else {
        Err(format!("ok={} stderr={}", r.ok, r.stderr))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_reloads_keep_cluster_a_streams_then_a_moves() {
    let pki = Pki::new();
    let (a1, a2, b1, b2, c) = (
        pki.cluster("a-1").await,
        pki.cluster("a-2").await,
        pki.cluster("b-1").await,
        pki.cluster("b-2").await,
        pki.cluster("c").await,
    );
    for (server, marker) in [
        (&a1, "i-am-a1"),
        (&a2, "i-am-a2"),
        (&b1, "i-am-b1"),
        (&b2, "i-am-b2"),
        (&c, "i-am-c"),
    ] {
        seed(server, marker);
    }
    let kubeconfig = |a: &ApiServer, b: &ApiServer, with_c: bool| {
        let mut entries = vec![ClusterEntry::new("a", a), ClusterEntry::new("b", b)];
        if with_c {
            entries.push(ClusterEntry::new("c", &c));
        }
        clusters_kubeconfig(&pki, &entries)
    };
    let first_policy = policy(false);
    let mut spec = GatewaySpec::new(
        &pki,
        vec![ClusterEntry::new("a", &a1), ClusterEntry::new("b", &b1)],
    );
    spec.policy = Some(&first_policy);
    let gw = Gateway::start(spec);
    let alice = gw.mint(&["--sub", "alice", "--group", "dev"]);
    let bob = gw.mint(&["--sub", "bob"]);
    let k = gw.kubectl(&alice, &["a", "b", "c"]);
    // `--token` overrides the kubeconfig's: other identities, same cache.
    let as_token = |token: &str, args: &[&str]| k.run(&[&["--token", token][..], args].concat());

    // The streams on a.
    let mut watch = k.stream(&["--context", "a", "get", "configmaps", "--watch"]);
    watch.expect_line("i-am-a1", T);
    let cat = [
        "--context",
        "a",
        "exec",
        "-i",
        POD,
        "-c",
        "app",
        "--",
        "cat",
    ];
    let mut sessions = [
        (
            Transport::WebSocket,
            k.stream_with(&cat, Transport::WebSocket.env(), true),
        ),
        (
            Transport::Spdy,
            k.stream_with(&cat, Transport::Spdy.env(), true),
        ),
    ];
    for (t, s) in &mut sessions {
        s.send(&format!("{t:?} opened\n"));
        s.expect_line(&format!("{t:?} opened"), T);
    }
    assert!(a1.wait_for_active_streams(2, T).await);
    assert_eq!(a1.active_watches(), 1);
    let opened = |server: &ApiServer| {
        let reqs = server.forwarded();
        (
            reqs.iter().filter(|r| r.path.ends_with("/exec")).count(),
            reqs.iter()
                .filter(|r| r.query.contains("watch=true"))
                .count(),
        )
    };
    assert_eq!(opened(&a1), (2, 1));

    let mut with_c = false;
    let mut b_moved = false;
    let mut bob_allowed = false;
    // The last rotated key: (kid, a token it signed).
    let mut rotated: Option<(String, String)> = None;
    let issuer = rcgen::KeyPair::from_pem(&std::fs::read_to_string(&gw.issuer_key).unwrap())
        .expect("the harness's issuer key");
    let dir = gw.dir.path().to_path_buf();
    let started = Instant::now();
    for i in 0..RELOADS {
        let before = gw.version();
        let change = match i % 5 {
            0 => {
                with_c = !with_c;
                let b = if b_moved { &b2 } else { &b1 };
                replace_file(&gw.kubeconfig, &kubeconfig(&a1, b, with_c));
                gw.wait_applied(&before);
                if with_c {
                    wait_for("add cluster c", APPLY, || {
                        succeeds(k.run(&["--context", "c", "get", "configmap", "i-am-c"]))
                    });
                    "add cluster c"
                } else {
                    wait_for("remove cluster c", APPLY, || {
                        fails_with(
                            k.run(&["--context", "c", "get", "configmaps"]),
                            r#"context "c" not found"#,
                        )
                    });
                    "remove cluster c"
                }
            }
            1 => {
                b_moved = !b_moved;
                let (b, marker) = if b_moved {
                    (&b2, "i-am-b2")
                } else {
                    (&b1, "i-am-b1")
                };
                replace_file(&gw.kubeconfig, &kubeconfig(&a1, b, with_c));
                gw.wait_applied(&before);
                wait_for("move cluster b", APPLY, || {
                    succeeds(k.run(&["--context", "b", "get", "configmap", marker]))
                });
                "move cluster b"
            }
            2 => {
                let kid = format!("rotated-{i}");
                let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
                let key_file = dir.join(format!("{kid}.pem"));
                std::fs::write(&key_file, key.serialize_pem()).unwrap();
                let jwks = json!({"keys": [jwk(&issuer, None), jwk(&key, Some(&kid))]});
                replace_file(&dir.join("jwks.json"), &jwks.to_string());
                if rotated.is_none() {
                    // From the PEM public key to a JWKS of old + new keys;
                    // later rotations only rewrite the JWKS file.
                    let config = std::fs::read_to_string(&gw.config).unwrap();
                    assert!(config.contains("publicKeyFile: issuer.pub.pem"));
                    replace_file(
                        &gw.config,
                        &config.replace("publicKeyFile: issuer.pub.pem", "jwksFile: jwks.json"),
                    );
                }
                gw.wait_applied(&before);
                let token = mint_token(
                    &key_file,
                    &["--issuer", ISSUER, "--sub", "alice", "--kid", &kid],
                );
                wait_for(format_args!("trust key {kid}"), APPLY, || {
                    succeeds(as_token(&token, &["--context", "a", "get", "configmaps"]))
                });
                // The previous rotated key left the JWKS: its tokens fail.
                if let Some((old_kid, old_token)) = rotated.replace((kid, token)) {
                    wait_for(format_args!("drop key {old_kid}"), APPLY, || {
                        fails_with(
                            as_token(&old_token, &["--context", "a", "get", "configmaps"]),
                            "You must be logged in",
                        )
                    });
                }
                // The original key is still trusted.
                succeeds(as_token(&alice, &["--context", "a", "get", "configmaps"]))
                    .expect("the original key");
                "rotate the issuer key"
            }
            3 => {
                let jti = format!("other-{i}");
                let other = gw.mint(&["--sub", "alice", "--jti", &jti]);
                succeeds(as_token(&other, &["--context", "a", "get", "configmaps"]))
                    .expect("the other token, before its revocation");
                let mut text = std::fs::read_to_string(&gw.revocations).unwrap();
                if text.trim() == "revoked: []" {
                    text = "revoked:\n".into();
                }
                text += &format!("- jti: {jti}\n  reason: reload test {i}\n");
                replace_file(&gw.revocations, &text);
                gw.wait_applied(&before);
                wait_for("revoke another token", APPLY, || {
                    fails_with(
                        as_token(&other, &["--context", "a", "get", "configmaps"]),
                        &format!("token \"{jti}\" has been revoked"),
                    )
                });
                "revoke another token"
            }
            _ => {
                bob_allowed = !bob_allowed;
                replace_file(&gw.policy, &policy(bob_allowed));
                gw.wait_applied(&before);
                let bob_get = || as_token(&bob, &["--context", "a", "get", "configmaps"]);
                if bob_allowed {
                    wait_for("policy: allow bob", APPLY, || succeeds(bob_get()));
                    "policy: allow bob"
                } else {
                    wait_for("policy: deny bob", APPLY, || {
                        fails_with(bob_get(), "Forbidden")
                    });
                    "policy: deny bob"
                }
            }
        };
        check_streams(i, &k, &mut watch, &mut sessions, &a1);
        eprintln!("reload {i}: {change}: streams on a kept working");
    }
    eprintln!("{RELOADS} reloads in {:?}", started.elapsed());

    // Zero drops: every event and every echo exactly once, and cluster a
    // never saw the streams open again.
    for i in 0..RELOADS {
        let name = format!("r-{i}");
        let n = watch
            .seen
            .iter()
            .filter(|l| l.split_whitespace().next() == Some(name.as_str()))
            .count();
        assert_eq!(n, 1, "{name} printed {n} times: {:?}", watch.seen);
        for (t, s) in &sessions {
            let line = format!("{t:?} {i}");
            let n = s.seen.iter().filter(|l| **l == line).count();
            assert_eq!(n, 1, "{line:?} echoed {n} times: {:?}", s.seen);
        }
    }
    assert_eq!(
        opened(&a1),
        (2, 1),
        "a stream on a was re-opened (dropped and retried)"
    );

    // Now a itself moves. Its open streams may end; new ones reach the
    // new server.
    let before = gw.version();
    let b = if b_moved { &b2 } else { &b1 };
    replace_file(&gw.kubeconfig, &kubeconfig(&a2, b, with_c));
    gw.wait_applied(&before);
    wait_for("move cluster a", APPLY, || {
        succeeds(k.run(&["--context", "a", "get", "configmap", "i-am-a2"]))
    });
    let mut new_watch = k.stream(&["--context", "a", "get", "configmaps", "--watch"]);
    new_watch.expect_line("i-am-a2", T);
    k.ok(&[
        "--context",
        "a",
        "create",
        "configmap",
        "after-move",
        "--from-literal=k=v",
    ]);
    new_watch.expect_line("after-move", T);
    assert!(a2.store().get("configmaps", NS, "after-move").is_some());
    let mut new_cat = k.stream_with(&cat, Transport::WebSocket.env(), true);
    new_cat.send("on a2\n");
    new_cat.expect_line("on a2", T);
    assert!(a2.wait_for_active_streams(1, T).await);
    assert!(!new_watch.exited() && !new_cat.exited());
    eprintln!(
        "after moving a: old watch {}, old exec sessions {}/{} ended; a-1 still has {} sessions, {} watches open",
        if watch.exited() { "ended" } else { "alive" },
        sessions
            .iter_mut()
            .filter_map(|(_, s)| s.exited().then_some(()))
            .count(),
        sessions.len(),
        a1.active_streams(),
        a1.active_watches(),
    );
}

/// Cluster a's streams after reload `i`: the watch prints a configmap
/// created now, each exec session echoes a line typed now.
fn check_streams(
    i: usize,
    k: &Kubectl,
    watch: &mut Stream,
    sessions: &mut [(Transport, Stream); 2],
    a1: &ApiServer,
) {
    let name = format!("r-{i}");
    k.ok(&[
        "--context",
        "a",
        "create",
        "configmap",
        &name,
        "--from-literal=k=v",
    ]);
    watch.expect_line(&name, T);
    for (t, s) in sessions.iter_mut() {
        let line = format!("{t:?} {i}");
        s.send(&format!("{line}\n"));
        s.expect_line(&line, T);
    }
    assert!(
        !watch.exited(),
        "reload {i}: the watch ended: {}",
        watch.stderr()
    );
    for (t, s) in sessions.iter_mut() {
        assert!(!s.exited(), "reload {i}: {t:?} exec ended: {}", s.stderr());
    }
    assert_eq!(a1.active_streams(), 2, "reload {i}: exec sessions at a");
    assert_eq!(a1.active_watches(), 1, "reload {i}: watches at a");
}

/// The reloads that should end streams do, and only those: a revocation
/// ends the revoked token's watch and exec sessions (WebSocket and SPDY)
/// and leaves another token's open; removing a cluster ends its streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoking_a_token_or_removing_its_cluster_ends_its_streams() {
    /// Ending is prompt: the push takes milliseconds, Envoy closes an
    /// HTTP/1.1 downstream after its 1 s delayed-close timeout.
    const PROMPT: Duration = Duration::from_secs(5);
    let pki = Pki::new();
    let (a, b) = (pki.cluster("a").await, pki.cluster("b").await);
    seed(&a, "i-am-a");
    let gw = Gateway::start(GatewaySpec::new(
        &pki,
        vec![ClusterEntry::new("b", &b), ClusterEntry::new("a", &a)],
    ));
    let doomed = gw.kubectl(&gw.mint(&["--sub", "alice", "--jti", "doomed"]), &["a"]);
    let other = gw.kubectl(&gw.mint(&["--sub", "alice", "--jti", "other"]), &["a"]);
    let cat = ["exec", "-i", POD, "-c", "app", "--", "cat"];
    let open = |k: &Kubectl, transports: &[Transport]| {
        let mut watch = k.stream(&["get", "configmaps", "--watch"]);
        watch.expect_line("i-am-a", T);
        let mut streams = vec![("watch".to_string(), watch)];
        for t in transports {
            let mut s = k.stream_with(&cat, t.env(), true);
            s.send("hello\n");
            s.expect_line("hello", T);
            streams.push((format!("exec over {t:?}"), s));
        }
        streams
    };
    let mut doomed_streams = open(&doomed, &Transport::BOTH);
    let mut other_streams = open(&other, &[Transport::WebSocket]);
    wait_for("3 sessions and 2 watches at a", T, || {
        (a.active_streams() == 3 && a.active_watches() == 2).then_some(())
    });

    let before = gw.version();
    replace_file(
        &gw.revocations,
        "revoked:\n- jti: doomed\n  reason: laptop stolen\n",
    );
    gw.wait_applied(&before);
    let revoked = Instant::now();
    for (what, s) in &mut doomed_streams {
        s.wait_exit(PROMPT);
        eprintln!("revoked token's {what} ended after {:?}", revoked.elapsed());
    }
    wait_for("only the other token's streams at a", PROMPT, || {
        (a.active_streams() == 1 && a.active_watches() == 1).then_some(())
    });
    let err = doomed.fails(&["get", "configmaps"]);
    assert!(err.contains(r#"token "doomed" has been revoked"#), "{err}");
    // The other token's streams are untouched.
    other.ok(&["create", "configmap", "after-revocation"]);
    other_streams[0].1.expect_line("after-revocation", T);
    other_streams[1].1.send("still here\n");
    other_streams[1].1.expect_line("still here", T);

    let before = gw.version();
    replace_file(
        &gw.kubeconfig,
        &clusters_kubeconfig(&pki, &[ClusterEntry::new("b", &b)]),
    );
    gw.wait_applied(&before);
    let removed = Instant::now();
    for (what, s) in &mut other_streams {
        s.wait_exit(PROMPT);
        eprintln!(
            "removed cluster's {what} ended after {:?}",
            removed.elapsed()
        );
    }
    wait_for("no streams left at a", PROMPT, || {
        (a.active_streams() == 0 && a.active_watches() == 0).then_some(())
    });
    let err = other.fails(&["get", "configmaps"]);
    assert!(err.contains(r#"context "a" not found"#), "{err}");
}

/// `kubeplex_config_reloads_total` from the control plane's /metrics.
fn reloads(gw: &Gateway) -> u64 {
    let text = http_get(&format!("{}/metrics", gw.admin)).expect("control plane /metrics");
    text.lines()
        .find_map(|l| l.strip_prefix("kubeplex_config_reloads_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("kubeplex_config_reloads_total")
}

/// The file watcher reacts to changes, not to reads: opening and reading
/// every input (a `cat`, another instance sharing a CA, the reload's own
/// reads) reloads nothing, and an idle control plane stays idle for 10 s,
/// while Envoy keeps writing the audit log next to the inputs. A write
/// still reloads (the watcher is alive).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_and_idle_time_cause_no_reload_but_a_write_does() {
    let pki = Pki::new();
    let a = pki.cluster("a").await;
    let gw = Gateway::start(GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a)]));
    gw.version();
    let k = gw.kubectl(&gw.mint(&["--sub", "alice"]), &["a"]);
    let before = reloads(&gw);
    let inputs = [&gw.kubeconfig, &gw.config, &gw.revocations];
    let idle_until = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < idle_until {
        for f in inputs {
            std::fs::read(f).unwrap();
        }
        // the audit log, in the same folder, grows meanwhile
        k.ok(&["get", "configmaps"]);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(reloads(&gw), before, "reads or idle time caused reloads");

    let text = std::fs::read_to_string(&gw.revocations).unwrap();
    replace_file(&gw.revocations, &format!("{text}\n# edited\n"));
    wait_for("a reload after a write", Duration::from_secs(10), || {
        (reloads(&gw) > before).then_some(())
    });
}

/// Envoy's counter `name` (exact), from its admin `/stats`.
fn envoy_counter(gw: &Gateway, name: &str) -> Option<u64> {
    let stats = http_get(&format!("{}/stats?filter={name}", gw.envoy_admin))?;
    stats.lines().find_map(|line| {
        let (n, value) = line.split_once(": ")?;
        (n == name).then(|| value.trim().parse().ok()).flatten()
    })
}

/// The client certificate the last exec (a new upstream connection each:
/// an upgraded HTTP/1.1 connection is never reused) presented.
fn exec_subject(k: &Kubectl, server: &ApiServer) -> Option<String> {
    server.clear_requests();
    k.ok(&[
        "--context",
        "a",
        "exec",
        POD,
        "-c",
        "app",
        "--",
        "echo",
        "hi",
    ]);
    let path = format!("/api/v1/namespaces/{NS}/pods/{POD}/exec");
    let exec = server.forwarded().into_iter().rfind(|r| r.path == path);
    exec.expect("the exec reached the cluster")
        .client_cert_subject
}

/// The kubeconfig user's certificate is an SDS secret: replacing it in the
/// kubeconfig changes that secret only. The next connection presents the
/// new certificate, and Envoy's cluster is not re-created (the cluster
/// manager counts no modified cluster; the TLS context was updated by SDS).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotated_client_certificate_is_used_without_recreating_the_cluster() {
    let pki = Pki::new();
    let a = pki.cluster("a").await;
    seed(&a, "i-am-a");
    let gw = Gateway::start(GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a)]));
    let k = gw.kubectl(&gw.mint(&["--sub", "alice"]), &["a"]);
    assert_eq!(exec_subject(&k, &a).as_deref(), Some("kubeplex-gateway"));
    let updates = "cluster.ctx/a/upgrade.client_ssl_socket_factory.ssl_context_update_by_sds";
    let counters = || {
        (
            envoy_counter(&gw, "cluster_manager.cluster_modified"),
            envoy_counter(&gw, updates),
        )
    };
    let (Some(modified), Some(updated)) = counters() else {
        panic!("no Envoy counters: {:?}", counters())
    };

    let old = gw.version();
    let rotated = pki
        .cluster_ca
        .client_cert("kubeplex-gateway-rotated", &["kubeplex:gateways"]);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let text = clusters_kubeconfig(&pki, &[ClusterEntry::new("a", &a)])
        .replace(&b64(&pki.gateway_client.cert_pem), &b64(&rotated.cert_pem))
        .replace(&b64(&pki.gateway_client.key_pem), &b64(&rotated.key_pem));
    replace_file(&gw.kubeconfig, &text);
    gw.wait_applied(&old);
    wait_for("Envoy's TLS context updated by SDS", APPLY, || {
        counters().1.filter(|n| *n > updated)
    });

    assert_eq!(
        exec_subject(&k, &a).as_deref(),
        Some("kubeplex-gateway-rotated")
    );
    assert_eq!(counters().0, Some(modified), "a cluster was re-created");
    assert!(
        k.ok(&["--context", "a", "get", "configmaps"])
            .contains("i-am-a"),
        "the HTTP/2 cluster still serves"
    );
}
