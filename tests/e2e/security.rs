//! The identity a cluster acts on is exactly the identity the gateway
//! judged (issue 9), against test clusters whose RBAC and impersonation
//! behave like a real kube-apiserver 1.36 (`apiserver::rbac`): the
//! whitespace escalation on both routes, the README's RBAC proven on such
//! a cluster, and `kubeplex check --clusters` finding what is missing.

use std::process::Command;
use std::time::Duration;

use kubeplex_tests::apiserver::{ApiServer, ApiServerConfig, Authorizer, Rbac};
use serde_json::json;

use crate::harness::*;

const README: &str = include_str!("../../README.md");

/// The README's RBAC for the gateway (the ```yaml block with the
/// `kubeplex-impersonator` ClusterRole), as a user copies it.
fn readme_rbac() -> String {
    let blocks: Vec<&str> = README
        .split("```yaml\n")
        .skip(1)
        .map(|rest| rest.split("\n```").next().unwrap())
        .filter(|b| b.contains("name: kubeplex-impersonator"))
        .collect();
    assert_eq!(
        blocks.len(),
        1,
        "one README block with the impersonator role"
    );
    blocks[0].to_string()
}

/// What the README said before: `userextras/*`, which real RBAC reads as
/// a literal resource name (only `*` and `*/<sub>` are wildcards).
const OLD_README_ROLE: &str = "\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kubeplex-impersonator}
rules:
- apiGroups: [\"\"]
  resources: [users, groups, serviceaccounts]
  verbs: [impersonate]
- apiGroups: [authentication.k8s.io]
  resources: [uids, userextras/*]
  verbs: [impersonate]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kubeplex-impersonator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubeplex-impersonator}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: kubeplex-gateway}
";

/// Lets `system:serviceaccount:team-a:builder` read configmaps in `default`.
const BUILDER_MAY_READ: &str = "
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: builder-view, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: ServiceAccount, name: builder, namespace: team-a}
";

/// A cluster that requires the test client CA and authorizes with `rbac`
/// (on top of kube-apiserver's bootstrap policy), like a real one.
async fn rbac_cluster(pki: &Pki, name: &str, rbac: &str) -> ApiServer {
    let mut config = ApiServerConfig::new(
        name,
        pki.cluster_ca.server_cert(&["127.0.0.1", "localhost"]),
    );
    config.client_ca_pem = Some(pki.cluster_ca.cert_pem().to_string());
    config.authorizer = Authorizer::Rbac(Rbac::from_yaml(rbac).expect("RBAC YAML loads"));
    ApiServer::start(config)
        .await
        .expect("start test apiserver")
}

/// `curl` over HTTP/1.1 with the headers kubectl sends for exec: Envoy
/// routes any request with `Upgrade` to the HTTP/1.1 upstream. Returns
/// (status, body).
fn curl_upgrade(gw: &Gateway, token: &str, path: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--http1.1", "--max-time", "10", "--cacert"])
        .arg(&gw.ca)
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(["-H", "Connection: Upgrade", "-H", "Upgrade: websocket"])
        .args(["-w", "\n%{http_code}"])
        .arg(format!("{}{path}", gw.url))
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// The escalation a real kube-apiserver showed: `groups: [" system:masters"]`
/// passed the gateway's reserved check, and on the upgrade route Go's
/// HTTP/1.1 header parser trimmed the space: cluster-admin, every Secret.
/// Our test cluster parses headers like Go and honours `system:masters`
/// (see the apiserver's own tests), so on the old filter this test read
/// the Secret; now the token is refused at the gateway on both routes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reserved_group_hidden_by_whitespace_never_reaches_a_cluster() {
    let pki = Pki::new();
    let b = rbac_cluster(&pki, "b", &readme_rbac()).await;
    b.store()
        .create(
            "secrets",
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "crown-jewels", "namespace": "default"},
                   "data": {"k": "c2VjcmV0"}}),
        )
        .unwrap();
    let gw = Gateway::start(GatewaySpec::new(&pki, vec![ClusterEntry::new("b", &b)]));

    // The route works and the cluster judges: an ordinary user reaches b
    // over the upgrade route and b's RBAC refuses the Secrets.
    let dev = gw.mint(&["--sub", "mallory", "--group", "dev"]);
    let (code, body) = curl_upgrade(&gw, &dev, "/clusters/b/api/v1/namespaces/default/secrets");
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("cannot list resource \\\"secrets\\\""),
        "{body}"
    );
    assert!(!body.contains("crown-jewels"));
    b.clear_requests();

    for group in [" system:masters", "system:masters ", "\tsystem:masters"] {
        let claims = json!({"groups": [group]}).to_string();
        let token = gw.mint(&["--sub", "mallory", "--claims", &claims]);
        // HTTP/1.1 upgrade route
        let (code, body) =
            curl_upgrade(&gw, &token, "/clusters/b/api/v1/namespaces/default/secrets");
        assert_eq!(code, 401, "{group:?}: {body}");
        assert!(
            body.contains("token claim \\\"groups\\\" is not a valid identity"),
            "{body}"
        );
        // HTTP/2 route, with kubectl
        let err = gw.kubectl(&token, &["b"]).fails(&["get", "secrets"]);
        assert!(err.contains("is not a valid identity"), "{err}");
    }
    // The same group without disguise: reserved.
    let claims = json!({"groups": ["system:masters"]}).to_string();
    let token = gw.mint(&["--sub", "mallory", "--claims", &claims]);
    let (code, body) = curl_upgrade(&gw, &token, "/clusters/b/api/v1/namespaces/default/secrets");
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("is reserved"), "{body}");

    // Nothing of it reached the cluster.
    assert!(b.forwarded().is_empty(), "{:?}", b.forwarded());
    let reasons = wait_for("five curl audit lines", Duration::from_secs(10), || {
        let reasons: Vec<String> = gw
            .audit_lines()
            .iter()
            .filter(|l| {
                l["user_agent"]
                    .as_str()
                    .is_some_and(|ua| ua.starts_with("curl"))
            })
            .map(|l| l["reason"].as_str().unwrap_or_default().to_string())
            .collect();
        (reasons.len() >= 5).then_some(reasons)
    });
    assert_eq!(
        reasons,
        [
            "ok",
            "identity_invalid",
            "identity_invalid",
            "identity_invalid",
            "reserved_identity"
        ]
    );
}

/// The README's ClusterRole and bindings, applied to clusters that read
/// RBAC like Kubernetes: a pod's ServiceAccount token from cluster a
/// reaches cluster b with its extras (credential-id, pod-name, ...), and a
/// user's mapped extra reaches b too. The old README role (`userextras/*`)
/// on cluster c refuses the same ServiceAccount, and `kubeplex check
/// --clusters` names the missing rule, exits 1, and the control plane
/// reports it on /status and /metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_readme_rbac_works_and_check_clusters_finds_what_is_missing() {
    let pki = Pki::new();
    let readme = readme_rbac();
    let a = rbac_cluster(&pki, "a", &readme).await;
    let b = rbac_cluster(&pki, "b", &format!("{readme}{BUILDER_MAY_READ}")).await;
    let c = rbac_cluster(&pki, "c", &format!("{OLD_README_ROLE}{BUILDER_MAY_READ}")).await;
    let dir = tempfile::tempdir().unwrap();
    let login = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let login_key = dir.path().join("login-key.pem");
    std::fs::write(&login_key, login.serialize_pem()).unwrap();
    let login_pub = dir.path().join("login.pub.pem");
    std::fs::write(&login_pub, login.public_key_pem()).unwrap();
    let extra_jwt = format!(
        "- issuer:\n    url: {}\n    audiences: [kubeplex]\n    cluster: a\n\
         - issuer:\n    url: https://login.example.test\n    audiences: [kubeplex]\n    publicKeyFile: {}\n  \
         claimMappings:\n    username: {{claim: email, prefix: \"\"}}\n    extra:\n    - key: example.com/tenant\n      claim: tenant\n",
        a.service_account_issuer(),
        login_pub.display()
    );
    let mut spec = GatewaySpec::new(
        &pki,
        vec![
            ClusterEntry::new("a", &a),
            ClusterEntry::new("b", &b),
            ClusterEntry::new("c", &c),
        ],
    );
    spec.extra_jwt = &extra_jwt;
    let gw = Gateway::start(spec);

    // A pod of cluster a, as itself, on cluster b.
    let sa = a.mint_service_account_token(
        "team-a",
        "builder",
        &["kubeplex"],
        Duration::from_secs(600),
        Some("builder-0"),
    );
    let k = gw.kubectl(&sa, &["a", "b", "c"]);
    k.ok(&["--context", "b", "get", "configmaps"]);
    let whoami = k.ok(&["--context", "b", "auth", "whoami", "-o", "json"]);
    let info = &serde_json::from_str::<serde_json::Value>(&whoami).unwrap()["status"]["userInfo"];
    assert_eq!(info["username"], "system:serviceaccount:team-a:builder");
    assert_eq!(
        info["extra"]["authentication.kubernetes.io/pod-name"],
        json!(["builder-0"]),
        "{whoami}"
    );
    // A user of the identity provider, with the mapped extra.
    let alice = mint_token(
        &login_key,
        &[
            "--issuer",
            "https://login.example.test",
            "--sub",
            "ignored",
            "--claims",
            r#"{"email":"alice@example.com","tenant":"blue"}"#,
        ],
    );
    let whoami = gw
        .kubectl(&alice, &["b"])
        .ok(&["auth", "whoami", "-o", "json"]);
    assert!(whoami.contains("\"example.com/tenant\""), "{whoami}");

    // The old role: refused by c itself, as a real apiserver refuses it
    // (`--raw`: kubectl's discovery would hide the Status message).
    let err = k.fails(&[
        "--context",
        "c",
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps",
    ]);
    assert!(
        err.contains("cannot impersonate resource \"userextras/authentication.kubernetes.io/"),
        "{err}"
    );

    // The preflight says so, with the rule to add, and fails.
    let out = Command::new(kubeplex_bin())
        .args(["check", "--clusters", "--kubeconfig"])
        .arg(&gw.kubeconfig)
        .arg("--config")
        .arg(&gw.config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let line = |context: &str, check: &str| {
        stdout
            .lines()
            .find(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.first() == Some(&context) && l.contains(&format!(" {check} "))
            })
            .unwrap_or_else(|| panic!("no row {context} {check}:\n{stdout}"))
            .to_string()
    };
    for context in ["a", "b"] {
        for check in [
            "reachable",
            "impersonate users",
            "impersonate serviceaccounts",
            "impersonate userextras/authentication.kubernetes.io/credential-id",
            "impersonate userextras/example.com/tenant",
        ] {
            assert!(
                line(context, check).contains(" ok "),
                "{context} {check}:\n{stdout}"
            );
        }
    }
    assert!(line("a", "read issuer keys").contains(" ok "), "{stdout}");
    let missing = line(
        "c",
        "impersonate userextras/authentication.kubernetes.io/pod-name",
    );
    assert!(missing.contains("MISSING"), "{stdout}");
    assert!(line("c", "impersonate users").contains(" ok "), "{stdout}");
    assert!(
        stdout.contains(
            "To fix c:\n- apiGroups: [\"authentication.k8s.io\"]\n  resources: [\"userextras/authentication.kubernetes.io/credential-id\"]"
        ),
        "{stdout}"
    );

    // The running control plane found the same, and says it once.
    let checks = wait_for(
        "the control plane's cluster checks",
        Duration::from_secs(20),
        || {
            let s = gw.status();
            s["cluster_checks"]["rows"].as_array().cloned()
        },
    );
    let missing: Vec<&serde_json::Value> = checks
        .iter()
        .filter(|r| r["outcome"] == "missing")
        .collect();
    assert!(
        !missing.is_empty() && missing.iter().all(|r| r["context"] == "c"),
        "{checks:?}"
    );
    let metrics = http_get(&format!("{}/metrics", gw.admin)).unwrap();
    assert!(
        metrics.contains(
            "kubeplex_cluster_check_ok{context=\"c\",check=\"impersonate userextras/authentication.kubernetes.io/pod-name\"} 0"
        ),
        "{metrics}"
    );
    // One line for the context, naming each missing check.
    let log = gw.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("cluster checks failed at context"))
        .collect();
    assert_eq!(lines.len(), 1, "the failing context logged once:\n{log}");
    assert!(lines[0].contains("context \"c\""), "{log}");
    for row in &missing {
        let check = row["check"].as_str().unwrap();
        assert!(lines[0].contains(check), "{check} not in {}", lines[0]);
    }
}

/// `kubeplex up --admin-token-file F --probe-addr P`, as `serve`: the
/// admin API answers only with the token (`kubeplex status` sends it from
/// the same file), the probe port serves the probes and metrics without it
/// and nothing else, `endpoints.json` names the probe port, and the token
/// is in no log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn up_guards_its_admin_api_with_a_token_and_serves_probes_apart() {
    let pki = Pki::new();
    let a = pki.cluster("cluster-a").await;
    let token_dir = tempfile::tempdir().unwrap();
    let token_file = token_dir.path().join("admin-token");
    std::fs::write(&token_file, secret("e2e-admin-token-5c1d".into()) + "\n").unwrap();
    let probe_port = kubeplex_test_support::free_port().expect("a port for the probes");
    let gw = Gateway::start(GatewaySpec {
        up_args: vec![
            "--admin-token-file".into(),
            token_file.display().to_string(),
            "--probe-addr".into(),
            format!("127.0.0.1:{probe_port}"),
        ],
        ..GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a)])
    });
    let endpoints: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(gw.dir.path().join("state/endpoints.json")).unwrap(),
    )
    .unwrap();
    let probes = format!("http://127.0.0.1:{probe_port}");
    assert_eq!(endpoints["probes"], json!(probes));
    assert_eq!(
        http_get(&format!("{probes}/healthz")).as_deref(),
        Some("ok")
    );
    let ready = http_get(&format!("{probes}/readyz")).expect("/readyz 200 on the probe port");
    assert!(ready.starts_with("ready\n"), "{ready}");
    assert!(http_get(&format!("{probes}/metrics")).is_some_and(|m| m.contains("kubeplex_")));
    assert_eq!(
        http_get(&format!("{probes}/status")),
        None,
        "the probe port has no /status"
    );
    assert_eq!(
        http_get(&format!("{}/status", gw.admin)),
        None,
        "no token: 401"
    );

    let admin_addr = gw.admin.strip_prefix("http://").unwrap();
    let status = |token: Option<&std::path::Path>| {
        let mut cmd = Command::new(kubeplex_test_support::kubeplex_bin());
        cmd.args(["status", "--admin-addr", admin_addr]);
        if let Some(file) = token {
            cmd.arg("--admin-token-file").arg(file);
        }
        cmd.env_remove("KUBEPLEX_ADMIN_TOKEN_FILE")
            .output()
            .unwrap()
    };
    let with = status(Some(&token_file));
    let stdout = String::from_utf8_lossy(&with.stdout);
    assert!(
        with.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&with.stderr)
    );
    assert!(stdout.contains("\"context_counts\""), "{stdout}");
    let without = status(None);
    assert!(!without.status.success());
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(stderr.contains("401"), "{stderr}");
}
