//! Two control planes sharing a revocation ConfigMap in our Kubernetes API
//! test server, reached (like in a pod) with a ServiceAccount's bearer
//! token that has only the RBAC the install ships
//! (`deploy/kubernetes/base/control-plane.yaml`), through a loopback
//! Service that the tests can take away (a dead API server).

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use kubeplex_test_support::wait_for_async;
use kubeplex_tests::apiserver::{ApiServer, ApiServerConfig, Authorizer, Rbac, StaticToken};
use kubeplex_tests::pki::Ca;
use kubeplex_tests::service::Service;
use serde_json::{Value, json};

use crate::admin;
use crate::control_plane::{ControlPlane, Settings};
use crate::revocation_store::StoreError;
use crate::translate::Options;

const NAMESPACE: &str = "kubeplex";
const TOKEN: &str = "control-plane-token";
const SERVICE_ACCOUNT: &str = "system:serviceaccount:kubeplex:kubeplex-control-plane";
/// The clusters behind the gateway: one, never contacted here.
const CLUSTERS: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster: {server: 'https://127.0.0.1:1'}\n\
users:\n- name: gw\n  user: {token: t}\ncontexts:\n- name: a\n  context: {cluster: a, user: gw}\n";

/// The Role and RoleBinding of the shipped install, in `kubeplex` (where
/// kustomize puts them).
fn shipped_rbac() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/kubernetes/base/control-plane.yaml"
    );
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = String::new();
    for mut doc in docs {
        if doc["kind"] != "Role" && doc["kind"] != "RoleBinding" {
            continue;
        }
        doc["metadata"]["namespace"] = NAMESPACE.into();
        let subjects = doc.get_mut("subjects").and_then(Value::as_array_mut);
        for subject in subjects.into_iter().flatten() {
            subject["namespace"] = NAMESPACE.into();
        }
        out += &format!("---\n{doc}\n");
    }
    assert!(out.contains("kubeplex-revocations"), "{out}");
    out
}

/// The gateway's own cluster: its namespace, the revocation ConfigMap as
/// the install ships it (no data yet), behind a Service.
struct Cluster {
    server: ApiServer,
    service: Service,
    ca: Ca,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Cluster {
        let ca = Ca::new("cluster");
        let server = ApiServer::start(ApiServerConfig {
            tokens: vec![StaticToken::new(
                TOKEN,
                SERVICE_ACCOUNT,
                &["system:serviceaccounts", "system:serviceaccounts:kubeplex"],
            )],
            authorizer: Authorizer::Rbac(Rbac::from_yaml(&shipped_rbac()).unwrap()),
            ..ApiServerConfig::new("home", ca.server_cert(&["127.0.0.1", "localhost"]))
        })
        .await
        .unwrap();
        let store = server.store();
        store
            .create("namespaces", json!({"metadata": {"name": NAMESPACE}}))
            .unwrap();
        store
            .create(
                "configmaps",
                json!({"metadata": {"name": "kubeplex-revocations", "namespace": NAMESPACE}}),
            )
            .unwrap();
        let service = Service::start("127.0.0.1:0".parse().unwrap(), vec![server.addr()])
            .await
            .unwrap();
        Cluster {
            server,
            service,
            ca,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A kubeconfig like a pod's in-cluster configuration: the Service,
    /// the cluster CA, the ServiceAccount token, the namespace.
    fn kubeconfig(&self) -> std::path::PathBuf {
        let path = self.dir.path().join("api.kubeconfig");
        let ca = base64::engine::general_purpose::STANDARD.encode(self.ca.cert_pem());
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: home\n  cluster:\n    server: https://{}\n    certificate-authority-data: {ca}\n\
             users:\n- name: sa\n  user:\n    token: {TOKEN}\ncontexts:\n- name: home\n  context: {{cluster: home, user: sa, namespace: {NAMESPACE}}}\ncurrent-context: home\n",
            self.service.addr()
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The token IDs the ConfigMap lists now.
    fn stored(&self) -> Vec<String> {
        let cm = self
            .server
            .store()
            .get("configmaps", NAMESPACE, "kubeplex-revocations")
            .unwrap();
        let text = cm["data"]["revoked.yaml"].as_str().unwrap_or("revoked: []");
        crate::inputs::revocations::parse(text, std::path::Path::new("cm"))
            .unwrap()
            .into_iter()
            .map(|r| r.jti)
            .collect()
    }

    /// The API server goes away: new connections refused, open ones cut.
    fn go_down(&self) {
        self.service.set_endpoints(vec![]);
        self.service.cut_connections();
    }

    fn come_back(&self) {
        self.service.set_endpoints(vec![self.server.addr()]);
    }
}

/// A control plane whose gateway config keeps revocations in the cluster's
/// ConfigMap (`store: kubernetes`, namespace from the kubeconfig).
fn control_plane(cluster: &Cluster, name: &str) -> Arc<ControlPlane> {
    let d = cluster.dir.path().join(name);
    std::fs::create_dir_all(&d).unwrap();
    let ca = Ca::new("gateway");
    let (cert, key) = ca.server_cert(&["localhost"]).write_to(&d, "gw").unwrap();
    std::fs::write(
        d.join("issuer.pub.pem"),
        rcgen::KeyPair::generate().unwrap().public_key_pem(),
    )
    .unwrap();
    std::fs::write(d.join("clusters.kubeconfig"), CLUSTERS).unwrap();
    let gateway = format!(
        "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener:\n  certificateFile: {}\n  keyFile: {}\n\
         jwt:\n- issuer:\n    url: https://idp.example\n    audiences: [k]\n    publicKeyFile: issuer.pub.pem\n\
         revocation:\n  store: kubernetes\n  kubeconfig: {}\n",
        cert.display(),
        key.display(),
        cluster.kubeconfig().display()
    );
    std::fs::write(d.join("gateway.yaml"), gateway).unwrap();
    ControlPlane::start(Settings {
        kubeconfig: d.join("clusters.kubeconfig").into(),
        gateway_config: d.join("gateway.yaml"),
        options: Options::default(),
        state_dir: d.join("state"),
    })
    .unwrap()
}

/// The audit trail `/metrics` also reports (its own spill folder).
async fn audit_of(cp: &ControlPlane) -> Arc<crate::audit::Audit> {
    let state = tempfile::tempdir().unwrap().keep();
    crate::audit::Audit::start(&state, cp.last_good())
        .await
        .unwrap()
}

fn jtis(cp: &ControlPlane) -> Vec<String> {
    cp.revocations().into_iter().map(|r| r.jti).collect()
}

/// Wait until the control plane serves a configuration (it waits for its
/// first list of the ConfigMap).
async fn wait_published(cp: &ControlPlane) {
    wait_for_async("a first configuration", Duration::from_secs(10), || {
        cp.current().type_urls().next().is_some()
    })
    .await;
}

async fn revoke(cp: &Arc<ControlPlane>, jti: &str) -> Result<bool, StoreError> {
    cp.clone()
        .revoke(jti, Some("test".into()), None)
        .await
        .map(|(added, _)| added)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_through_one_control_plane_reaches_the_other_through_the_api() {
    let cluster = Cluster::start().await;
    let (one, two) = (
        control_plane(&cluster, "one"),
        control_plane(&cluster, "two"),
    );
    wait_published(&one).await;
    wait_published(&two).await;
    let before = two.current().version.clone();

    let started = Instant::now();
    assert!(revoke(&one, "alice-1").await.unwrap());
    assert_eq!(
        jtis(&one),
        ["alice-1"],
        "in force where it was made, at once"
    );
    wait_for_async(
        "the other control plane to see it",
        Duration::from_secs(1),
        || jtis(&two) == ["alice-1"] && two.current().version != before,
    )
    .await;
    eprintln!(
        "revocation through one, in force on the other after {:?}",
        started.elapsed()
    );
    assert_eq!(cluster.stored(), ["alice-1"]);
    assert!(!revoke(&two, "alice-1").await.unwrap(), "already revoked");

    // Both write at once: every write lands, losers of a race re-read.
    let mut conflicts = 0;
    let mut expected = vec!["alice-1".to_string()];
    for round in 0..5 {
        let writes = (0..10).flat_map(|i| {
            let (a, b) = (format!("r{round}-one-{i}"), format!("r{round}-two-{i}"));
            expected.extend([a.clone(), b.clone()]);
            let (one, two) = (one.clone(), two.clone());
            [
                tokio::spawn(async move { revoke(&one, &a).await }),
                tokio::spawn(async move { revoke(&two, &b).await }),
            ]
        });
        for added in futures::future::join_all(writes.collect::<Vec<_>>()).await {
            assert!(added.unwrap().unwrap(), "every write is stored");
        }
        let status = |cp: &ControlPlane| cp.revocation_store_status().unwrap();
        conflicts = status(&one).write_conflicts + status(&two).write_conflicts;
        if conflicts > 0 {
            break;
        }
    }
    assert!(conflicts > 0, "two writers at once never conflicted");
    expected.sort();
    let mut stored = cluster.stored();
    stored.sort();
    assert_eq!(stored, expected, "no write lost to a race");
    wait_for_async(
        "both control planes to have every entry",
        Duration::from_secs(2),
        || {
            let (mut a, mut b) = (jtis(&one), jtis(&two));
            a.sort();
            b.sort();
            a == expected && b == expected
        },
    )
    .await;

    let status = admin::status_json(&one);
    let store = &status["revocation_store"];
    assert_eq!(
        (&store["kind"], &store["object"], &store["up"]),
        (
            &json!("kubernetes"),
            &json!("configmap kubeplex/kubeplex-revocations"),
            &json!(true)
        ),
        "{status:#}"
    );
    assert!(store["writes"].as_u64().unwrap() >= 11, "{store}");
    let metrics = admin::metrics_text(&one, &*audit_of(&one).await);
    assert!(
        metrics.contains("kubeplex_revocation_store_up{store=\"kubernetes\"} 1"),
        "{metrics}"
    );

    // Only what the shipped Role grants was asked for, and never denied.
    let verbs: std::collections::BTreeSet<(String, u16)> = cluster
        .server
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/configmaps"))
        .map(|r| (r.method.clone(), r.status))
        .collect();
    assert!(verbs.iter().all(|(_, status)| *status != 403), "{verbs:?}");
    assert!(
        verbs.contains(&("PUT".to_string(), 409)),
        "a conflict answered 409: {verbs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_api_server_refuses_revocations_keeps_the_list_and_is_followed_again() {
    let cluster = Cluster::start().await;
    let cp = control_plane(&cluster, "one");
    wait_published(&cp).await;
    assert!(revoke(&cp, "kept").await.unwrap());
    let version = cp.current().version.clone();

    cluster.go_down();
    let err = revoke(&cp, "lost").await.unwrap_err();
    let text = crate::error_chain::error_chain(&err);
    assert!(
        text.starts_with("cannot read configmap kubeplex/kubeplex-revocations: "),
        "{text}"
    );
    assert_eq!(jtis(&cp), ["kept"], "the last good list keeps serving");
    assert_eq!(cp.current().version, version);
    assert_eq!(
        cluster.stored(),
        ["kept"],
        "nothing claimed, nothing stored"
    );
    wait_for_async(
        "the store to report the API unreachable",
        Duration::from_secs(5),
        || {
            let s = cp.revocation_store_status().unwrap();
            !s.up && s.last_error.is_some() && s.watch_errors > 0
        },
    )
    .await;
    let metrics = admin::metrics_text(&cp, &*audit_of(&cp).await);
    assert!(
        metrics.contains("kubeplex_revocation_store_up{store=\"kubernetes\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kubeplex_revocation_store_write_errors_total{store=\"kubernetes\"} 1"),
        "{metrics}"
    );
    let status = admin::status_json(&cp);
    assert!(
        status["revocation_store"]["last_error"].is_string(),
        "{status:#}"
    );

    // Another control plane revoked while this one was cut off.
    let mut cm = cluster
        .server
        .store()
        .get("configmaps", NAMESPACE, "kubeplex-revocations")
        .unwrap();
    cm["data"]["revoked.yaml"] = "revoked:\n- jti: kept\n- jti: elsewhere\n".into();
    cluster.server.store().update("configmaps", cm).unwrap();

    let back = Instant::now();
    cluster.come_back();
    wait_for_async(
        "the watch to reconnect and relist",
        Duration::from_secs(15),
        || jtis(&cp) == ["kept", "elsewhere"] && cp.revocation_store_status().unwrap().up,
    )
    .await;
    eprintln!(
        "followed again {:?} after the API came back",
        back.elapsed()
    );
    assert!(revoke(&cp, "after").await.unwrap());
    assert_eq!(cluster.stored(), ["kept", "elsewhere", "after"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_configuration_is_served_before_the_list_is_known() {
    let cluster = Cluster::start().await;
    cluster.go_down();
    let cp = control_plane(&cluster, "one");
    let readiness = |cp: &ControlPlane| {
        let has_config = cp.current().type_urls().next().is_some();
        admin::readiness(&admin::status(cp).inputs, has_config)
    };
    wait_for_async("a failed first list", Duration::from_secs(5), || {
        cp.revocation_store_status().unwrap().watch_errors > 0
    })
    .await;
    let (ready, body) = readiness(&cp);
    assert!(!ready, "{body}");
    assert!(body.contains("revocations: never loaded"), "{body}");
    assert!(
        cp.current().type_urls().next().is_none(),
        "nothing for Envoy yet"
    );
    cluster.come_back();
    wait_published(&cp).await;
    let (ready, body) = readiness(&cp);
    assert!(ready, "{body}");
}
