//! Gateway RBAC, audit log and metrics (issue 4): who may do what where,
//! enforced before any cluster is touched, and a record of everything.

use std::process::Command;
use std::time::Duration;

use crate::harness::*;

const POLICY: &str = "apiVersion: kubeplex.io/v1alpha1
kind: GatewayPolicy
roles:
- name: developer
  rules:
  - clusters: [\"dev-*\"]
    namespaces: [\"*\"]
    verbs: [get, list, watch]
    resources: [pods, pods/log]
- name: operator
  rules:
  - clusters: [\"dev-*\"]
    namespaces: [\"*\"]
    verbs: [get, list]
    resources: [pods]
  - clusters: [\"dev-*\"]
    namespaces: [\"*\"]
    verbs: [create]
    resources: [pods/exec]
- name: admin
  rules:
  - clusters: [\"*\"]
    namespaces: [\"*\"]
    verbs: [\"*\"]
    resources: [\"*\"]
bindings:
- role: developer
  groups: [developers]
- role: operator
  users: [olivia]
- role: admin
  users: [root]
";

fn envoy_stats(gw: &Gateway) -> String {
    http_get(&format!("{}/stats/prometheus", gw.envoy_admin)).expect("Envoy's Prometheus endpoint")
}

/// The value of the first sample line starting with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn policy_decides_per_cluster_verb_and_resource_and_refusals_reach_nothing() {
    let pki = Pki::new();
    let (dev, prod) = (pki.cluster("dev-a").await, pki.cluster("prod").await);
    let mut spec = GatewaySpec::new(
        &pki,
        vec![
            ClusterEntry::new("dev-a", &dev),
            ClusterEntry::new("prod", &prod),
        ],
    );
    spec.policy = Some(POLICY);
    let gw = Gateway::start(spec);
    let root = gw.kubectl(&gw.mint(&["--sub", "root"]), &["dev-a", "prod"]);
    root.ok(&["--context", "dev-a", "run", "web", "--image", "nginx"]);
    root.ok(&[
        "--context",
        "dev-a",
        "create",
        "secret",
        "generic",
        "db",
        "--from-literal=password=x",
    ]);
    root.ok(&[
        "--context",
        "dev-a",
        "wait",
        "--for=condition=Ready",
        "pod/web",
        "--timeout=20s",
    ]);
    dev.clear_requests();
    prod.clear_requests();

    let alice = gw.kubectl(
        &gw.mint(&["--sub", "alice", "--group", "developers"]),
        &["dev-a", "prod"],
    );
    let pods = alice.ok(&["--context", "dev-a", "get", "pods"]);
    assert!(pods.contains("web"), "{pods}");
    let err = alice.fails(&["--context", "dev-a", "get", "secrets"]);
    assert!(
        err.contains(r#"secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" in the namespace "default" on cluster "dev-a""#),
        "{err}"
    );
    let err = alice.fails(&["--context", "dev-a", "get", "secret", "db"]);
    assert!(
        err.contains(r#"secrets "db" is forbidden: User "alice" cannot get resource "secrets""#),
        "{err}"
    );
    let err = alice.fails(&["--context", "prod", "get", "pods"]);
    assert!(
        err.contains(r#"User "alice" cannot access cluster "prod""#),
        "{err}"
    );
    assert!(
        dev.forwarded().iter().all(|r| !r.path.contains("secrets")),
        "a refused request reached dev-a"
    );
    assert!(
        prod.forwarded().is_empty(),
        "a refused request reached prod: {:?}",
        prod.forwarded()
    );

    // exec is `create` on pods/exec: olivia may, alice may not.
    let olivia = gw.kubectl(&gw.mint(&["--sub", "olivia"]), &["dev-a"]);
    assert_eq!(olivia.ok(&["exec", "web", "--", "echo", "hi"]).trim(), "hi");
    let err = alice.fails(&["--context", "dev-a", "exec", "web", "--", "echo", "hi"]);
    assert!(
        err.contains(r#"pods "web" is forbidden: User "alice" cannot create resource "pods/exec""#),
        "{err}"
    );
    assert_eq!(
        dev.forwarded()
            .iter()
            .filter(|r| r.path.ends_with("/exec"))
            .count(),
        1,
        "only olivia's exec reached the cluster"
    );

    // `kubeplex kubeconfig` for alice lists only what the policy lets her reach.
    let token = gw.mint(&["--sub", "alice", "--group", "developers"]);
    let out = Command::new(kubeplex_bin())
        .args([
            "kubeconfig",
            "--server",
            &gw.url,
            "--token",
            &token,
            "--clusters-kubeconfig",
        ])
        .arg(&gw.kubeconfig)
        .arg("--config")
        .arg(&gw.config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("/clusters/dev-a") && !text.contains("/clusters/prod"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_request_is_audited_and_counted() {
    let pki = Pki::new();
    let dev = pki.cluster("dev-a").await;
    let mut spec = GatewaySpec::new(&pki, vec![ClusterEntry::new("dev-a", &dev)]);
    spec.policy = Some(POLICY);
    let gw = Gateway::start(spec);
    let token = gw.mint(&[
        "--sub",
        "alice",
        "--group",
        "developers",
        "--jti",
        "alice-1",
    ]);
    let alice = gw.kubectl(&token, &["dev-a"]);
    let before = envoy_stats(&gw);
    alice.ok(&["get", "pods", "-n", "team-x"]);
    alice.fails(&["get", "secret", "db", "-n", "team-x"]);
    gw.kubectl("not-a-jwt", &["dev-a"])
        .fails(&["get", "--raw", "/version"]);

    let lines = wait_for("audit lines", Duration::from_secs(10), || {
        let lines = gw.audit_lines();
        // The unauthenticated request was the last one: once its line is
        // flushed, all of them are.
        lines
            .iter()
            .any(|l| l["reason"] == "token_malformed")
            .then_some(lines)
    });
    let allowed = lines
        .iter()
        .find(|l| l["verb"] == "list" && l["resource"] == "pods")
        .unwrap_or_else(|| panic!("no audit line for the list: {lines:#?}"));
    for (field, value) in [
        ("decision", "allow"),
        ("reason", "ok"),
        ("user", "alice"),
        ("issuer", ISSUER),
        ("jti", "alice-1"),
        ("cluster", "dev-a"),
        ("api_group", ""),
        ("api_version", "v1"),
        ("namespace", "team-x"),
        ("method", "GET"),
    ] {
        assert_eq!(allowed[field], value, "{field} in {allowed:#}");
    }
    assert_eq!(allowed["groups"], serde_json::json!(["developers"]));
    assert_eq!(allowed["code"], 200);
    assert!(
        allowed["path"]
            .as_str()
            .unwrap()
            .starts_with("/clusters/dev-a/api/v1/namespaces/team-x/pods"),
        "{allowed:#}"
    );
    assert!(
        allowed["user_agent"]
            .as_str()
            .unwrap()
            .starts_with("kubectl"),
        "{allowed:#}"
    );
    assert!(
        allowed["source"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{allowed:#}"
    );
    assert!(!allowed["request_id"].as_str().unwrap().is_empty());
    assert!(allowed["time"].as_str().unwrap().ends_with('Z'));
    assert!(
        allowed["duration_ms"].is_number() && allowed["bytes_out"].as_u64() > Some(0),
        "{allowed:#}"
    );

    let denied = lines.iter().find(|l| l["resource"] == "secrets").unwrap();
    for (field, value) in [
        ("decision", "deny"),
        ("reason", "policy_denied"),
        ("verb", "get"),
        ("name", "db"),
        ("user", "alice"),
    ] {
        assert_eq!(denied[field], value, "{field} in {denied:#}");
    }
    assert_eq!(denied["code"], 403);
    let unauthenticated = lines
        .iter()
        .find(|l| l["reason"] == "token_malformed")
        .expect("the unauthenticated request");
    assert_eq!(unauthenticated["decision"], "deny");
    assert_eq!(unauthenticated["code"], 401);
    assert_eq!(unauthenticated["user"], "");

    let raw = std::fs::read_to_string(gw.dir.path().join("audit.log")).unwrap();
    assert!(
        !raw.contains(&token) && !raw.contains("Bearer"),
        "a credential reached the audit log"
    );
    let log = gw.log();
    assert!(
        !log.contains(&token),
        "a credential reached the gateway log"
    );

    // The counters moved.
    let after = envoy_stats(&gw);
    let count = |text: &str, labels: &str| {
        sample(text, &format!("kubeplex_requests_total{{{labels}}}")).unwrap_or(0.0)
    };
    let allow = r#"decision="allow",reason="ok",cluster="dev-a""#;
    let deny = r#"decision="deny",reason="policy_denied",cluster="dev-a""#;
    assert!(
        count(&after, allow) > count(&before, allow),
        "no allow counted:\n{after}"
    );
    assert!(
        count(&after, deny) >= count(&before, deny) + 1.0,
        "no policy denial counted:\n{after}"
    );
    let cp = http_get(&format!("{}/metrics", gw.admin)).unwrap();
    for name in [
        "kubeplex_xds_acks_total",
        "kubeplex_config_reloads_total",
        "kubeplex_xds_connected_envoys 1",
    ] {
        assert!(
            cp.contains(name),
            "{name} missing from the control plane's /metrics:\n{cp}"
        );
    }

    // Log rotation: move the file away, SIGUSR1, and the next line lands in a new file.
    std::fs::rename(
        gw.dir.path().join("audit.log"),
        gw.dir.path().join("audit.log.1"),
    )
    .unwrap();
    let status = Command::new("kill")
        .args(["-USR1", &gw.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for(
        "a line in the new audit file",
        Duration::from_secs(10),
        || {
            alice.ok(&["get", "pods", "-n", "team-y"]);
            gw.audit_lines()
                .iter()
                .any(|l| l["namespace"] == "team-y")
                .then_some(())
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_policy_edit_applies_within_seconds_while_a_watch_stays_open() {
    let pki = Pki::new();
    let dev = pki.cluster("dev-a").await;
    let mut spec = GatewaySpec::new(&pki, vec![ClusterEntry::new("dev-a", &dev)]);
    spec.policy = Some(POLICY);
    let gw = Gateway::start(spec);
    let root = gw.kubectl(&gw.mint(&["--sub", "root"]), &["dev-a"]);
    let alice = gw.kubectl(
        &gw.mint(&["--sub", "alice", "--group", "developers"]),
        &["dev-a"],
    );
    root.ok(&["run", "first", "--image", "nginx"]);
    let mut watch = alice.stream(&["get", "pods", "--watch"]);
    watch.expect_line("first", Duration::from_secs(20));
    alice.fails(&["get", "secrets"]);

    let v1 = gw.version();
    replace_file(
        &gw.policy,
        &POLICY.replace(
            "resources: [pods, pods/log]",
            "resources: [pods, pods/log, secrets]",
        ),
    );
    gw.wait_applied(&v1);
    alice.eventually_ok(&["get", "secrets"], Duration::from_secs(5));
    // The watch opened before the edit is still there and still delivers.
    root.ok(&["run", "second", "--image", "nginx"]);
    watch.expect_line("second", Duration::from_secs(20));
    assert!(!watch.exited());
    // Envoy kept its listener: the edit came by ECDS, not LDS.
    let stats = envoy_stats(&gw);
    assert_eq!(
        sample(&stats, "envoy_listener_manager_listener_modified"),
        Some(0.0),
        "the listener was rebuilt"
    );
}
