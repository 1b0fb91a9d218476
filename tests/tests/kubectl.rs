//! Real `kubectl` 1.32 against the test apiserver, directly (no gateway):
//! proves the server is a credible cluster for the end-to-end tests.

use std::time::Duration;

use kubeplex_test_support::wait_for_async;
use kubeplex_tests::apiserver::{ApiServer, ApiServerConfig, Authorizer, AuthzRule, StaticToken};
use kubeplex_tests::kubectl::{Kubectl, Output};
use kubeplex_tests::pki::Ca;
use serde_json::json;

const T: Duration = Duration::from_secs(30);

struct Cluster {
    server: ApiServer,
    kubectl: Kubectl,
}

async fn cluster_with(name: &str, authorizer: Authorizer) -> Cluster {
    let ca = Ca::new("test-ca");
    let mut config = ApiServerConfig::with_ca(name, &ca);
    config.authorizer = authorizer;
    let server = ApiServer::start(config).await.unwrap();
    let admin = ca.client_cert("admin", &["system:masters"]);
    let kubectl = Kubectl::with_client_cert(&server.url(), ca.cert_pem(), &admin).unwrap();
    Cluster { server, kubectl }
}

async fn cluster(name: &str) -> Cluster {
    cluster_with(name, Authorizer::AllowAll).await
}

impl Cluster {
    async fn run(&self, args: &[&str]) -> Output {
        let out = self.kubectl.run(args, T).await.unwrap();
        eprintln!("$ kubectl {}\n{}{}", args.join(" "), out.stdout, out.stderr);
        out
    }
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(out.success(), "kubectl {args:?} failed: {}", out.stderr);
        out.stdout
    }
}

#[tokio::test]
async fn version_and_api_resources() {
    let c = cluster("alpha").await;
    let out = c.ok(&["version", "-o", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["serverVersion"]["gitVersion"],
        "v1.33.0+kubeplex-test.alpha"
    );
    let out = c.ok(&["api-resources"]).await;
    let line = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from\n{out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        line("configmaps"),
        ["configmaps", "cm", "v1", "true", "ConfigMap"]
    );
    assert_eq!(
        line("namespaces"),
        ["namespaces", "ns", "v1", "false", "Namespace"]
    );
    assert_eq!(
        line("deployments"),
        ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    );
    assert_eq!(
        line("selfsubjectreviews"),
        [
            "selfsubjectreviews",
            "authentication.k8s.io/v1",
            "false",
            "SelfSubjectReview"
        ]
    );
    // Discovery is cached per server under --cache-dir.
    let cache = c.kubectl.cache_dir().join("discovery");
    let host_dir = std::fs::read_dir(&cache)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(
        host_dir.join("v1").join("serverresources.json").exists(),
        "{host_dir:?}"
    );
    assert!(
        host_dir
            .join("apps")
            .join("v1")
            .join("serverresources.json")
            .exists()
    );
}

#[tokio::test]
async fn get_namespaces_prints_a_table() {
    let c = cluster("alpha").await;
    let out = c.ok(&["get", "ns"]).await;
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "STATUS", "AGE"]);
    let names: Vec<&str> = lines
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    for ns in ["default", "kube-system", "kube-public"] {
        assert!(names.contains(&ns), "{ns} missing: {out}");
    }
    assert!(out.contains("Active"));
    // kubectl asked for a server-side Table.
    let list = c
        .server
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v1/namespaces" && r.method == "GET")
        .unwrap();
    assert!(list.header("accept").unwrap().contains("as=Table"));
    assert_eq!(list.status, 200);
}

#[tokio::test]
async fn configmap_lifecycle() {
    let c = cluster("alpha").await;
    let out = c
        .ok(&["create", "configmap", "x", "--from-literal=a=b"])
        .await;
    assert_eq!(out.trim(), "configmap/x created");
    let stored = c.server.store().get("configmaps", "default", "x").unwrap();
    assert_eq!(stored["data"], json!({"a": "b"}));

    let yaml = c.ok(&["get", "cm", "x", "-o", "yaml"]).await;
    assert!(yaml.contains("kind: ConfigMap"), "{yaml}");
    assert!(yaml.contains("  a: b"), "{yaml}");
    assert!(yaml.contains(&format!(
        "uid: {}",
        stored["metadata"]["uid"].as_str().unwrap()
    )));

    let table = c.ok(&["get", "cm"]).await;
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "DATA", "AGE"]);
    let row = rows.iter().find(|r| r[0] == "x").unwrap();
    assert_eq!(row[1], "1");
    assert!(row[2].ends_with('s'), "age {row:?}");

    let out = c
        .run(&["create", "configmap", "x", "--from-literal=a=c"])
        .await;
    assert!(!out.success());
    assert!(
        out.stderr.contains(r#"configmaps "x" already exists"#),
        "{}",
        out.stderr
    );

    let out = c
        .ok(&["patch", "cm", "x", "-p", r#"{"data":{"c":"d"}}"#])
        .await;
    assert_eq!(out.trim(), "configmap/x patched");
    let out = c
        .ok(&[
            "patch",
            "cm",
            "x",
            "--type",
            "json",
            "-p",
            r#"[{"op":"remove","path":"/data/a"}]"#,
        ])
        .await;
    assert_eq!(out.trim(), "configmap/x patched");
    let stored = c.server.store().get("configmaps", "default", "x").unwrap();
    assert_eq!(stored["data"], json!({"c": "d"}));

    let out = c.ok(&["delete", "cm", "x"]).await;
    assert_eq!(out.trim(), r#"configmap "x" deleted"#);
    assert!(c.server.store().get("configmaps", "default", "x").is_none());
    let out = c.run(&["get", "cm", "x"]).await;
    assert!(
        out.stderr
            .contains(r#"Error from server (NotFound): configmaps "x" not found"#),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn apply_client_side_and_server_side() {
    let c = cluster("alpha").await;
    let manifest = c.kubectl.dir().join("cm.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  labels:\n    app: web\ndata:\n  k: v1\n",
    )
    .unwrap();
    let path = manifest.to_str().unwrap();
    assert_eq!(
        c.ok(&["apply", "-f", path]).await.trim(),
        "configmap/cfg created"
    );
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  labels:\n    app: web\ndata:\n  k: v2\n",
    )
    .unwrap();
    assert_eq!(
        c.ok(&["apply", "-f", path]).await.trim(),
        "configmap/cfg configured"
    );
    let stored = c.server.store().get("cm", "default", "cfg").unwrap();
    assert_eq!(stored["data"]["k"], "v2");
    assert!(
        stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .unwrap()
            .contains("v2")
    );
    assert_eq!(
        c.ok(&["apply", "-f", path]).await.trim(),
        "configmap/cfg unchanged"
    );

    let ssa = c.kubectl.dir().join("ssa.yaml");
    std::fs::write(
        &ssa,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: z\ndata:\n  s: one\n",
    )
    .unwrap();
    let ssa_path = ssa.to_str().unwrap();
    assert_eq!(
        c.ok(&["apply", "--server-side", "-f", ssa_path])
            .await
            .trim(),
        "configmap/z serverside-applied"
    );
    let req = c
        .server
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH" && r.path.ends_with("/configmaps/z"))
        .unwrap();
    assert_eq!(
        req.header("content-type"),
        Some("application/apply-patch+yaml")
    );
    assert!(req.query.contains("fieldManager=kubectl"), "{}", req.query);
    assert_eq!(
        c.server.store().get("cm", "default", "z").unwrap()["data"]["s"],
        "one"
    );

    // Strict validation is done by the server (kubectl sends fieldValidation=Strict).
    let bad = c.kubectl.dir().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\nbogus: 1\ndata:\n  a: b\n",
    )
    .unwrap();
    let out = c
        .run(&["create", "--validate=strict", "-f", bad.to_str().unwrap()])
        .await;
    assert!(!out.success());
    assert!(
        out.stderr.contains(r#"unknown field "bogus""#),
        "{}",
        out.stderr
    );
    assert!(c.server.store().get("cm", "default", "bad").is_none());
}

#[tokio::test]
async fn watch_receives_an_event_created_afterwards() {
    let c = cluster("alpha").await;
    let mut child = c.kubectl.command(&["get", "cm", "-w"]).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    // Wait until kubectl's watch is open on the server.
    let watch = c
        .server
        .wait_for_request(|r| r.query.contains("watch=true"), T)
        .await
        .expect("kubectl opened a watch");
    assert_eq!(watch.status, 200);
    wait_for_async("the watch to become active", T, || {
        c.server.active_watches() > 0
    })
    .await;
    c.server
        .store()
        .create(
            "configmaps",
            json!({"metadata": {"name": "late", "namespace": "default"}, "data": {"x": "y"}}),
        )
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let found = tokio::time::timeout(T, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            eprintln!("watch: {line}");
            if line.split_whitespace().next() == Some("late") {
                return line;
            }
        }
        panic!("kubectl exited before the event");
    })
    .await
    .expect("event printed before the deadline");
    assert_eq!(found.split_whitespace().nth(1), Some("1"), "{found}");
    child.kill().await.unwrap();
    // The server notices the client went away and ends the watch.
    wait_for_async("the watch to end after kubectl was killed", T, || {
        c.server.active_watches() == 0
    })
    .await;
}

#[tokio::test]
async fn whoami_shows_the_impersonated_user() {
    let c = cluster("alpha").await;
    let out = c
        .ok(&[
            "auth",
            "whoami",
            "--as",
            "alice",
            "--as-group",
            "dev",
            "-o",
            "json",
        ])
        .await;
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"]["userInfo"]["username"], "alice");
    assert_eq!(
        v["status"]["userInfo"]["groups"],
        json!(["dev", "system:authenticated"])
    );
    let req = c
        .server
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/selfsubjectreviews"))
        .unwrap();
    assert_eq!(req.header("impersonate-user"), Some("alice"));
    assert_eq!(req.header_all("impersonate-group"), ["dev"]);
    assert_eq!(req.client_cert_subject.as_deref(), Some("admin"));
    assert_eq!(req.authenticated_user.as_deref(), Some("admin"));
    assert_eq!(req.effective_user.as_ref().unwrap().username, "alice");
    let table = c
        .ok(&["auth", "whoami", "--as", "alice", "--as-group", "dev"])
        .await;
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["ATTRIBUTE", "VALUE"]);
    assert_eq!(rows[1], ["Username", "alice"]);
    assert_eq!(rows[2], ["Groups", "[dev", "system:authenticated]"]);
}

#[tokio::test]
async fn rbac_rules_apply_to_the_impersonated_user() {
    let rules = vec![
        AuthzRule::new()
            .users(&["admin"])
            .verbs(&["*"])
            .api_groups(&["*"])
            .resources(&["*"]),
        AuthzRule::new()
            .users(&["alice"])
            .verbs(&["get", "list"])
            .api_groups(&[""])
            .resources(&["configmaps"])
            .namespaces(&["default"]),
    ];
    let c = cluster_with("rbac", Authorizer::Rules(rules)).await;
    let out = c
        .run(&["auth", "can-i", "list", "configmaps", "--as", "alice"])
        .await;
    assert_eq!(out.stdout.trim(), "yes");
    let out = c
        .run(&["auth", "can-i", "delete", "configmaps", "--as", "alice"])
        .await;
    assert_eq!(out.stdout.trim(), "no");
    assert_eq!(out.code, Some(1));
    let out = c
        .run(&[
            "auth",
            "can-i",
            "list",
            "configmaps",
            "-n",
            "kube-system",
            "--as",
            "alice",
        ])
        .await;
    assert_eq!(out.stdout.trim(), "no");
    let out = c
        .run(&["get", "cm", "-n", "kube-system", "--as", "alice"])
        .await;
    assert!(!out.success());
    assert!(
        out.stderr.contains(r#"Error from server (Forbidden): configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" in the namespace "kube-system""#),
        "{}",
        out.stderr
    );
    let out = c.run(&["get", "secret", "s", "--as", "alice"]).await;
    assert!(
        out.stderr.contains(r#"secrets "s" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "default""#),
        "{}",
        out.stderr
    );
    let out = c.run(&["get", "cm", "--as", "alice"]).await;
    assert!(out.success());
    assert_eq!(
        out.stderr.trim(),
        "No resources found in default namespace."
    );
}

#[tokio::test]
async fn explain_uses_the_openapi_v3_documents() {
    let c = cluster("alpha").await;
    let out = c.ok(&["explain", "configmap.data"]).await;
    assert!(out.contains("KIND:       ConfigMap"), "{out}");
    assert!(out.contains("FIELD: data <map[string]string>"), "{out}");
    assert!(
        out.contains("Data contains the configuration data."),
        "{out}"
    );
    let out = c.ok(&["explain", "deployment.spec.replicas"]).await;
    assert!(out.contains("Number of desired pods."), "{out}");
    assert!(
        c.server
            .requests()
            .iter()
            .any(|r| r.path == "/openapi/v3/api/v1" && r.query.starts_with("hash="))
    );
}

#[tokio::test]
async fn deployments_roll_out_and_scale() {
    let c = cluster("alpha").await;
    assert_eq!(
        c.ok(&[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=2"
        ])
        .await
        .trim(),
        "deployment.apps/web created"
    );
    let out = c
        .ok(&["rollout", "status", "deployment/web", "--timeout=20s"])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    assert_eq!(
        c.ok(&["scale", "deployment/web", "--replicas=3"])
            .await
            .trim(),
        "deployment.apps/web scaled"
    );
    let d = c
        .server
        .store()
        .get("deployments.apps", "default", "web")
        .unwrap();
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["status"]["readyReplicas"], 3);
    assert_eq!(d["metadata"]["generation"], 2);
    let out = c.ok(&["get", "deploy"]).await;
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], ["web", "3/3", "3", "3"]);
}

#[tokio::test]
async fn unauthenticated_and_token_authentication() {
    let ca = Ca::new("test-ca");
    let mut config = ApiServerConfig::with_ca("tokens", &ca);
    config.client_ca_pem = None;
    config.tokens = vec![StaticToken::new("s3cret-token", "tina", &["ops"])];
    let server = ApiServer::start(config).await.unwrap();
    let good = Kubectl::with_token(&server.url(), ca.cert_pem(), "s3cret-token").unwrap();
    let out = good
        .run(&["auth", "whoami", "-o", "json"], T)
        .await
        .unwrap();
    assert!(out.success(), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["status"]["userInfo"]["username"], "tina");
    assert_eq!(
        v["status"]["userInfo"]["groups"],
        json!(["ops", "system:authenticated"])
    );
    let out = good
        .run(&["get", "ns", "default", "-o", "name"], T)
        .await
        .unwrap();
    assert_eq!(out.stdout.trim(), "namespace/default");

    let bad = Kubectl::with_token(&server.url(), ca.cert_pem(), "wrong").unwrap();
    let out = bad.run(&["get", "ns"], T).await.unwrap();
    assert!(!out.success());
    assert!(
        out.stderr
            .contains("error: You must be logged in to the server"),
        "{}",
        out.stderr
    );
    let refused = server
        .requests()
        .into_iter()
        .find(|r| r.status == 401)
        .unwrap();
    assert_eq!(refused.authenticated_user, None);
    assert_eq!(refused.client_cert_subject, None);
}

#[tokio::test]
async fn everyday_commands_behave_like_a_cluster() {
    let c = cluster("alpha").await;
    let rows = |out: &str| -> Vec<Vec<String>> {
        out.lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect()
    };
    assert_eq!(
        c.ok(&["create", "ns", "team"]).await.trim(),
        "namespace/team created"
    );
    c.ok(&[
        "create",
        "secret",
        "generic",
        "s",
        "--from-literal=pw=x",
        "-n",
        "team",
    ])
    .await;
    let secrets = rows(&c.ok(&["get", "secrets", "-n", "team"]).await);
    assert_eq!(secrets[0], ["NAME", "TYPE", "DATA", "AGE"]);
    assert_eq!(secrets[1][..3], ["s", "Opaque", "1"]);
    c.ok(&[
        "create",
        "service",
        "clusterip",
        "web",
        "--tcp=80:8080",
        "-n",
        "team",
    ])
    .await;
    let svc = rows(&c.ok(&["get", "svc", "-n", "team"]).await);
    assert_eq!(svc[1][0..2], ["web", "ClusterIP"]);
    assert!(svc[1][2].starts_with("10.96."), "{svc:?}");
    assert_eq!(svc[1][3..5], ["<none>", "80/TCP"]);
    c.ok(&["create", "deployment", "web", "--image=nginx", "-n", "team"])
        .await;
    let describe = c.ok(&["describe", "deploy", "web", "-n", "team"]).await;
    let strategy = describe
        .lines()
        .find(|l| l.starts_with("StrategyType:"))
        .unwrap();
    assert_eq!(
        strategy.split_whitespace().nth(1),
        Some("RollingUpdate"),
        "{describe}"
    );
    assert!(describe.contains("1 desired | 1 updated | 1 total | 1 available | 0 unavailable"));
    assert_eq!(
        c.ok(&["label", "deploy", "web", "tier=front", "-n", "team"])
            .await
            .trim(),
        "deployment.apps/web labeled"
    );
    c.ok(&["annotate", "deploy", "web", "note=hi", "-n", "team"])
        .await;
    assert_eq!(
        c.ok(&["rollout", "restart", "deploy/web", "-n", "team"])
            .await
            .trim(),
        "deployment.apps/web restarted"
    );
    let d = c.server.store().get("deploy", "team", "web").unwrap();
    assert_eq!(d["metadata"]["labels"]["tier"], "front");
    assert_eq!(d["metadata"]["annotations"]["note"], "hi");
    assert!(
        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string()
    );
    assert_eq!(d["metadata"]["generation"], 2);
    let out = c
        .ok(&[
            "wait",
            "--for=condition=Available",
            "deploy/web",
            "-n",
            "team",
            "--timeout=10s",
        ])
        .await;
    assert_eq!(out.trim(), "deployment.apps/web condition met");
    c.ok(&["run", "p", "--image=busybox", "-n", "team"]).await;
    let pods = rows(&c.ok(&["get", "pods", "-n", "team", "-o", "wide"]).await);
    assert_eq!(pods[0][..5], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert_eq!(pods[1][..4], ["p", "1/1", "Running", "0"]);
    // The pod runs: it has a log (tests/tests/streaming.rs has more).
    let out = c.ok(&["logs", "p", "-n", "team"]).await;
    let log: String = (1..=kubeplex_tests::apiserver::SEEDED_LOG_LINES)
        .map(|n| format!("p/p line {n}\n"))
        .collect();
    assert_eq!(out, log);
    assert_eq!(
        c.ok(&["delete", "ns", "team"]).await.trim(),
        r#"namespace "team" deleted"#
    );
    assert!(c.server.store().get("ns", "", "team").is_none());
    assert!(c.server.store().list("pods", Some("team")).is_empty());
}
