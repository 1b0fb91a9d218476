//! A kubeconfig from a URL (issue 16): `kubeplex up --kubeconfig https://…`
//! against a local HTTPS server, polled every second. An edit on the server
//! reaches Envoy (kubectl reaches the new context); the server failing keeps
//! the last good clusters serving and shows on `/status`; it recovering
//! clears that.

use std::time::Duration;

use kubeplex_test_support::wait_for;
use kubeplex_tests::config_server::ConfigServer;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edit_on_the_kubeconfig_server_reaches_envoy() {
    let pki = Pki::new();
    let (a, b) = (
        pki.cluster("cluster-a").await,
        pki.cluster("cluster-b").await,
    );
    let only_a = clusters_kubeconfig(&pki, &[ClusterEntry::new("a", &a)]);
    let server = ConfigServer::start("/clusters.yaml", &only_a)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("kubeconfig-server-ca.pem");
    std::fs::write(&ca_file, server.ca_pem()).unwrap();
    let token_file = dir.path().join("kubeconfig-token");
    std::fs::write(&token_file, "remote-kubeconfig-token\n").unwrap();
    let gw = Gateway::start(GatewaySpec {
        kubeconfig_args: vec![
            "--kubeconfig".into(),
            server.url(),
            "--kubeconfig-ca-file".into(),
            ca_file.display().to_string(),
            "--kubeconfig-token-file".into(),
            token_file.display().to_string(),
            "--kubeconfig-poll-interval".into(),
            "1s".into(),
        ],
        ..GatewaySpec::new(&pki, vec![])
    });
    let k = gw.kubectl(&gw.mint(&["--sub", "alice"]), &["a", "b"]);
    k.ok(&["--context", "a", "get", "namespaces"]);
    let refused = k.fails(&["--context", "b", "get", "namespaces"]);
    assert!(refused.contains("b"), "{refused}");
    let kubeconfig_input = || {
        gw.status()["inputs"]
            .as_array()
            .and_then(|inputs| inputs.iter().find(|i| i["kind"] == "kubeconfig").cloned())
            .unwrap_or_default()
    };
    assert_eq!(kubeconfig_input()["path"], server.url());

    let before = gw.version();
    server.set_body(&clusters_kubeconfig(
        &pki,
        &[ClusterEntry::new("a", &a), ClusterEntry::new("b", &b)],
    ));
    gw.wait_applied(&before);
    k.eventually_ok(
        &["--context", "b", "get", "namespaces"],
        Duration::from_secs(10),
    );

    server.set_failing(Some(500));
    let error = wait_for(
        "/status to show the failed fetch",
        Duration::from_secs(10),
        || {
            let input = kubeconfig_input();
            (input["ok"] == false).then(|| input["error"].as_str().unwrap_or_default().to_string())
        },
    );
    assert!(error.contains("HTTP 500"), "{error}");
    k.ok(&["--context", "b", "get", "namespaces"]);

    server.set_failing(None);
    wait_for(
        "/status to show the recovery",
        Duration::from_secs(10),
        || (kubeconfig_input()["ok"] == true).then_some(()),
    );
    let asked = server.asked();
    assert!(
        asked
            .iter()
            .all(|a| a.authorization.as_deref() == Some("Bearer remote-kubeconfig-token")),
        "{asked:?}"
    );
    assert!(asked.iter().any(|a| a.status == 304), "{asked:?}");
    assert!(
        !gw.log().contains("remote-kubeconfig-token"),
        "the token is never logged"
    );
}
