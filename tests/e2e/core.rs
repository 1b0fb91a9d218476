//! The end-to-end core: kubectl through the gateway to two clusters, by
//! path prefix and by `ctx` claim; every refusal a `Status` that reaches no
//! cluster; watches; live kubeconfig edits.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use kubeplex_proto::routing::{CLUSTER_HEADER, CLUSTER_PATH_PREFIX};

use crate::harness::*;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubectl_reaches_two_clusters_by_path_prefix_as_the_token_user() {
    let pki = Pki::new();
    let (a, b) = (
        pki.cluster("cluster-a").await,
        pki.cluster("cluster-b").await,
    );
    let gw = Gateway::start(GatewaySpec::new(
        &pki,
        vec![ClusterEntry::new("a", &a), ClusterEntry::new("b", &b)],
    ));
    let token = gw.mint(&["--sub", "alice", "--group", "dev", "--group", "ops"]);
    let k = gw.kubectl(&token, &["a", "b"]);

    k.ok(&[
        "--context",
        "a",
        "create",
        "configmap",
        "only-on-a",
        "--from-literal=k=v",
    ]);
    k.ok(&[
        "--context",
        "b",
        "create",
        "configmap",
        "only-on-b",
        "--from-literal=k=v",
    ]);
    let on_a = k.ok(&["--context", "a", "get", "configmaps", "-o", "name"]);
    let on_b = k.ok(&["--context", "b", "get", "configmaps", "-o", "name"]);
    assert!(
        on_a.contains("configmap/only-on-a") && !on_a.contains("only-on-b"),
        "{on_a}"
    );
    assert!(
        on_b.contains("configmap/only-on-b") && !on_b.contains("only-on-a"),
        "{on_b}"
    );
    let yaml = k.ok(&[
        "--context",
        "a",
        "get",
        "configmap",
        "only-on-a",
        "-o",
        "jsonpath={.data.k}",
    ]);
    assert_eq!(yaml, "v");
    k.ok(&["--context", "a", "delete", "configmap", "only-on-a"]);
    let gone = k.fails(&["--context", "a", "get", "configmap", "only-on-a"]);
    assert!(
        gone.contains(r#"configmaps "only-on-a" not found"#),
        "{gone}"
    );

    // What reached cluster a: the gateway's identity, the user's impersonation, no token.
    let seen = a.forwarded();
    let create = seen
        .iter()
        .find(|r| r.method == "POST" && r.path == "/api/v1/namespaces/default/configmaps")
        .expect("the create reached cluster a");
    assert_eq!(
        create.client_cert_subject.as_deref(),
        Some("kubeplex-gateway")
    );
    assert_eq!(create.header("impersonate-user"), Some("alice"));
    assert_eq!(create.header_all("impersonate-group"), vec!["dev", "ops"]);
    assert_eq!(
        create.http_version, "HTTP/2.0",
        "ordinary requests use the pooled HTTP/2 cluster"
    );
    for r in &seen {
        assert!(
            r.header("authorization").is_none(),
            "Authorization reached the cluster: {r:?}"
        );
        assert!(
            r.header(CLUSTER_HEADER).is_none(),
            "routing header leaked: {r:?}"
        );
        assert!(
            !r.path.starts_with(CLUSTER_PATH_PREFIX),
            "path prefix not stripped: {}",
            r.path
        );
        assert_eq!(r.header("impersonate-user"), Some("alice"));
        // the kubeconfig server's host and port, not the gateway's
        assert_eq!(r.host, Some(a.addr().to_string()), "{r:?}");
    }
    assert!(
        b.forwarded().iter().all(|r| !r.path.contains("only-on-a")),
        "cluster b saw cluster a's traffic"
    );
}

/// The routes are the same for every context: what differs per context
/// comes from its cluster. A server by IP (a STATIC cluster) and by name
/// (STRICT_DNS) each get exactly their own `Host`; a server URL with a
/// path (Rancher's `/k8s/clusters/<id>`) gets it prepended by its own route.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_cluster_gets_its_own_host_and_server_path_through_the_shared_routes() {
    let pki = Pki::new();
    let (a, b) = (
        pki.cluster("cluster-a").await,
        pki.cluster("cluster-b").await,
    );
    let by_name = format!("https://localhost:{}", b.addr().port());
    let gw = Gateway::start(GatewaySpec {
        // (the test server has no /k8s/clusters/c-1/readyz: unchecked)
        extra_config: "healthChecks:\n  intervalSeconds: 0\n",
        ..GatewaySpec::new(
            &pki,
            vec![
                ClusterEntry::new("by-ip", &a),
                ClusterEntry {
                    context: "by-name",
                    server: by_name.clone(),
                },
                ClusterEntry {
                    context: "rancher",
                    server: format!("{by_name}/k8s/clusters/c-1"),
                },
            ],
        )
    });
    let token = gw.mint(&["--sub", "alice"]);
    let k = gw.kubectl(&token, &["by-ip", "by-name", "rancher"]);
    k.ok(&["--context", "by-ip", "get", "configmaps"]);
    k.ok(&["--context", "by-name", "get", "configmaps"]);
    let seen = a.forwarded();
    assert!(!seen.is_empty());
    for r in &seen {
        assert_eq!(r.host, Some(a.addr().to_string()), "{r:?}");
    }
    let port = b.addr().port();
    let seen = b.forwarded();
    assert!(
        seen.iter()
            .any(|r| r.path == "/api/v1/namespaces/default/configmaps")
    );
    for r in &seen {
        assert_eq!(r.host, Some(format!("localhost:{port}")), "{r:?}");
    }
    // (the test server serves no /k8s/... paths: kubectl fails, after the
    // request reached the cluster with the prefix, as the caller)
    b.clear_requests();
    k.run(&["--context", "rancher", "get", "configmaps"]);
    let seen = b.forwarded();
    let r = seen
        .iter()
        .find(|r| r.path.starts_with("/k8s/clusters/c-1/api"))
        .unwrap_or_else(|| panic!("no prefixed request reached the cluster: {seen:?}"));
    assert_eq!(r.host, Some(format!("localhost:{port}")));
    assert_eq!(r.header("impersonate-user"), Some("alice"));
    assert!(r.header("authorization").is_none());
    assert!(r.header(CLUSTER_HEADER).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ctx_claim_routes_a_bare_url_and_binds_the_token_to_its_cluster() {
    let pki = Pki::new();
    let (a, b) = (
        pki.cluster("cluster-a").await,
        pki.cluster("cluster-b").await,
    );
    let gw = Gateway::start(GatewaySpec::new(
        &pki,
        vec![ClusterEntry::new("a", &a), ClusterEntry::new("b", &b)],
    ));
    let token = gw.mint(&["--sub", "bob", "--ctx", "b"]);
    let k = gw.kubectl(&token, &["b", "a"]);
    // multikube style: the bare gateway URL, the token says which cluster.
    let bare = ["--server", gw.url.as_str()];
    k.ok(&[
        &bare[..],
        &["create", "configmap", "via-ctx", "--from-literal=x=y"],
    ]
    .concat());
    assert!(
        b.forwarded()
            .iter()
            .any(|r| r.method == "POST" && r.header("impersonate-user") == Some("bob"))
    );
    assert!(
        a.forwarded().is_empty(),
        "cluster a must not see a token bound to b"
    );
    // The token is bound to b: the path naming a is refused.
    let err = k.fails(&["--context", "a", "get", "configmaps"]);
    assert!(
        err.contains("Forbidden") && err.contains(r#"bound to context "b""#),
        "{err}"
    );
    assert!(a.forwarded().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_refusal_is_a_precise_status_and_reaches_no_cluster() {
    let pki = Pki::new();
    let a = pki.cluster("cluster-a").await;
    let mut spec = GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a)]);
    spec.revoked = "revoked:\n- jti: stolen-laptop\n  reason: laptop stolen\n";
    let gw = Gateway::start(spec);

    let other_key = gw.dir.path().join("other-key.pem");
    std::fs::write(
        &other_key,
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .unwrap()
            .serialize_pem(),
    )
    .unwrap();
    let forged = mint_token(&other_key, &["--issuer", ISSUER, "--sub", "mallory"]);
    let valid = gw.mint(&["--sub", "alice"]);
    let payload = valid.split('.').nth(1).unwrap();
    let alg_none = format!("{}.{payload}.", b64url(br#"{"alg":"none","typ":"JWT"}"#));
    let t = now();
    let expired = gw.mint(&[
        "--sub",
        "alice",
        "--claims",
        &format!(
            r#"{{"exp":{},"iat":{},"nbf":{}}}"#,
            t - 3600,
            t - 7200,
            t - 7200
        ),
    ]);
    let future = gw.mint(&[
        "--sub",
        "alice",
        "--claims",
        &format!(r#"{{"nbf":{}}}"#, t + 3600),
    ]);
    let wrong_issuer = gw.mint(&[
        "--sub",
        "alice",
        "--claims",
        r#"{"iss":"https://evil.example"}"#,
    ]);
    let wrong_audience = gw.mint(&["--sub", "alice", "--aud", "someone-else"]);
    let revoked = gw.mint(&["--sub", "alice", "--jti", "stolen-laptop"]);

    let cases: Vec<(&str, String, Vec<&str>, &str)> = vec![
        ("missing token", String::new(), vec![], "no bearer token"),
        (
            "malformed",
            "not-a-jwt".into(),
            vec![],
            "token is malformed",
        ),
        ("bad signature", forged, vec![], "signature"),
        ("expired", expired, vec![], "token expired at"),
        ("not yet valid", future, vec![], "not valid before"),
        (
            "wrong issuer",
            wrong_issuer,
            vec![],
            r#"issuer "https://evil.example" is not trusted"#,
        ),
        ("wrong audience", wrong_audience, vec![], "audience"),
        (
            "alg none",
            alg_none,
            vec![],
            r#"token algorithm "none" is not allowed"#,
        ),
        (
            "revoked",
            revoked,
            vec![],
            r#"token "stolen-laptop" has been revoked: laptop stolen"#,
        ),
        (
            "spoofed impersonation",
            valid.clone(),
            vec!["--as", "admin"],
            "impersonation headers are not allowed",
        ),
    ];
    for (what, token, extra, expected) in cases {
        let k = gw.kubectl(
            if token.is_empty() {
                "placeholder"
            } else {
                &token
            },
            &["a"],
        );
        if token.is_empty() {
            // A user with a client certificate but no token (with no
            // credentials at all, kubectl would prompt for a password).
            let cert = pki.cluster_ca.client_cert("kubectl-user", &[]);
            let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
            let text = std::fs::read_to_string(&k.kubeconfig).unwrap();
            let mut config: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
            config["users"][0]["user"] = serde_json::json!({
                "client-certificate-data": b64(&cert.cert_pem),
                "client-key-data": b64(&cert.key_pem),
            });
            // JSON is YAML: kubectl reads it as a kubeconfig.
            std::fs::write(&k.kubeconfig, config.to_string()).unwrap();
        }
        let err = k.fails(&[&extra[..], &["get", "configmaps"]].concat());
        // kubectl's discovery step swaps 401/404 bodies for generic texts; the
        // gateway's reason reaches the user as a Kubernetes warning.
        let warning = err
            .lines()
            .find(|l| l.starts_with("Warning:"))
            .unwrap_or_default();
        assert!(
            warning.contains(expected),
            "{what}: expected a warning with {expected:?} in:\n{err}"
        );
        let kind = if what == "spoofed impersonation" {
            "Forbidden"
        } else {
            "You must be logged in to the server"
        };
        assert!(
            err.contains(kind),
            "{what}: kubectl should report {kind:?}:\n{err}"
        );
        assert!(
            a.forwarded().is_empty(),
            "{what}: a refused request reached the cluster: {:?}",
            a.forwarded()
        );
    }

    // Unknown context: 404 naming it.
    let k = gw.kubectl(&valid, &["nope"]);
    let err = k.fails(&["get", "configmaps"]);
    assert!(err.contains(r#"context "nope" not found"#), "{err}");
    assert!(a.forwarded().is_empty());

    // And the valid token still works.
    gw.kubectl(&valid, &["a"]).ok(&["get", "configmaps"]);
    assert!(!a.forwarded().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watch_through_the_gateway_receives_later_events() {
    let pki = Pki::new();
    let a = pki.cluster("cluster-a").await;
    let gw = Gateway::start(GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a)]));
    let k = gw.kubectl(&gw.mint(&["--sub", "alice"]), &["a"]);
    k.ok(&["create", "configmap", "before", "--from-literal=a=1"]);
    let mut watch = k.stream(&["get", "configmaps", "--watch"]);
    watch.expect_line("before", Duration::from_secs(20));
    k.ok(&["create", "configmap", "after", "--from-literal=a=2"]);
    watch.expect_line("after", Duration::from_secs(20));
    assert!(!watch.exited(), "the watch ended early");
    let w = a
        .forwarded()
        .into_iter()
        .find(|r| r.query.contains("watch=true"))
        .expect("the watch reached the cluster");
    assert_eq!(w.header("impersonate-user"), Some("alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubeconfig_edits_change_routes_live_and_broken_edits_change_nothing() {
    let pki = Pki::new();
    let (a1, a2, c) = (
        pki.cluster("a-old").await,
        pki.cluster("a-new").await,
        pki.cluster("c").await,
    );
    let gw = Gateway::start(GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a1)]));
    let token = gw.mint(&["--sub", "alice"]);
    let k = gw.kubectl(&token, &["a", "c"]);
    k.ok(&["--context", "a", "get", "configmaps"]);
    assert!(!a1.forwarded().is_empty());
    let err = k.fails(&["--context", "c", "get", "configmaps"]);
    assert!(err.contains(r#"context "c" not found"#), "{err}");

    // Move a, add c: no restart.
    let v1 = gw.version();
    a1.clear_requests();
    replace_file(
        &gw.kubeconfig,
        &clusters_kubeconfig(
            &pki,
            &[ClusterEntry::new("a", &a2), ClusterEntry::new("c", &c)],
        ),
    );
    let v2 = gw.wait_applied(&v1);
    // Envoy ACKs a filter config before every worker runs it (tens of ms).
    k.eventually_ok(
        &["--context", "c", "create", "configmap", "on-c"],
        Duration::from_secs(5),
    );
    assert!(
        c.forwarded().iter().any(|r| r.method == "POST"),
        "the new cluster c was reached"
    );
    k.ok(&["--context", "a", "create", "configmap", "on-a2"]);
    assert!(
        a2.forwarded().iter().any(|r| r.method == "POST"),
        "a moved to its new server"
    );
    assert!(
        a1.forwarded().is_empty(),
        "the old server of a still got traffic"
    );

    // A broken edit: rejected precisely, the last good routes keep serving.
    replace_file(
        &gw.kubeconfig,
        "apiVersion: v1\nclusters:\n- name: [broken\n",
    );
    wait_for(
        "the rejection on the status API",
        Duration::from_secs(10),
        || {
            let s = gw.status();
            let kc = s["inputs"]
                .as_array()?
                .iter()
                .find(|i| i["kind"] == "kubeconfig")?
                .clone();
            (kc["ok"] == false).then_some(())
        },
    );
    let log = gw.log();
    assert!(
        log.contains("rejected edit") && log.contains("clusters.yaml:3"),
        "no precise rejection in the log:\n{log}"
    );
    assert_eq!(
        gw.status()["version"].as_str(),
        Some(v2.as_str()),
        "a broken edit changed the configuration"
    );
    k.ok(&["--context", "c", "get", "configmap", "on-c"]);
    k.ok(&["--context", "a", "get", "configmap", "on-a2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_envoy_is_reported_not_ignored() {
    let pki = Pki::new();
    let a = pki.cluster("a").await;
    let mut gw = Gateway::start(GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a)]));
    // Envoy exits (as if it crashed or was killed): `kubeplex up` must say
    // so and stop, not keep a control plane running without a gateway.
    http_post(&format!("{}/quitquitquit", gw.envoy_admin)).expect("Envoy's admin answers");
    let status = gw.wait_exit(Duration::from_secs(15));
    assert!(
        !status.success(),
        "kubeplex up exited successfully after losing Envoy"
    );
    let log = gw.log();
    assert!(
        log.contains("envoy exited unexpectedly") && log.contains("the gateway is down"),
        "{log}"
    );
}
