//! Demo clusters: two of kubeplex's Kubernetes API test servers (the same
//! library the end-to-end tests use), in-process on 127.0.0.1, each with a
//! little content, and the kubeconfig through which the gateway reaches
//! them with a client certificate. They are *not* real Kubernetes: objects
//! live in memory and vanish when kubeplex stops.

use std::path::{Path, PathBuf};

use base64::Engine;
use kubeplex_tests::apiserver::{ApiServer, ApiServerConfig};
use kubeplex_tests::pki::Ca;
use serde_json::json;

use crate::local_files::write_private;

/// The names of the demo clusters (kubeconfig contexts).
pub const CLUSTERS: [&str; 2] = ["demo-a", "demo-b"];

/// Running demo clusters; dropping this stops them.
pub struct Demo {
    pub servers: Vec<ApiServer>,
    /// The gateway's kubeconfig for them.
    pub kubeconfig: PathBuf,
}

/// Start the demo clusters and write their kubeconfig into `dir`.
pub async fn start(dir: &Path) -> Result<Demo, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let ca = Ca::new("kubeplex demo clusters CA");
    let mut servers = Vec::new();
    for name in CLUSTERS {
        let server = ApiServer::start(ApiServerConfig::with_ca(name, &ca))
            .await
            .map_err(|e| format!("demo cluster {name}: {e}"))?;
        seed(&server, name)?;
        servers.push(server);
    }
    // The gateway's own identity at the demo clusters.
    let gateway = ca.client_cert("kubeplex-gateway", &["kubeplex:gateways"]);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut text = String::from(
        "# Demo clusters (kubeplex's in-process test API servers), as the gateway reaches them.\napiVersion: v1\nkind: Config\nclusters:\n",
    );
    for s in &servers {
        text += &format!(
            "- name: {}\n  cluster:\n    server: {}\n    certificate-authority-data: {}\n",
            s.name(),
            s.url(),
            b64(ca.cert_pem())
        );
    }
    text += &format!(
        "users:\n- name: kubeplex-gateway\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n",
        b64(&gateway.cert_pem),
        b64(&gateway.key_pem)
    );
    for s in &servers {
        text += &format!(
            "- name: {0}\n  context:\n    cluster: {0}\n    user: kubeplex-gateway\n",
            s.name()
        );
    }
    let kubeconfig = dir.join("clusters.kubeconfig");
    write_private(&kubeconfig, text.as_bytes())
        .map_err(|e| format!("{}: {e}", kubeconfig.display()))?;
    Ok(Demo {
        servers,
        kubeconfig,
    })
}

/// A little content, different per cluster, so it is obvious which one
/// answered.
fn seed(server: &ApiServer, name: &str) -> Result<(), String> {
    let store = server.store();
    let team = if name == "demo-a" { "team-a" } else { "team-b" };
    store
        .create(
            "namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team}}),
        )
        .map_err(|e| e.to_string())?;
    store
        .create(
            "configmaps",
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "welcome", "namespace": "default"},
                "data": {"cluster": name, "note": "an in-memory kubeplex demo cluster"}
            }),
        )
        .map_err(|e| e.to_string())?;
    Ok(())
}
