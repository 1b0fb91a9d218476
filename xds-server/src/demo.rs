//! Demo clusters: two of kubeplex's Kubernetes API test servers (the same
//! library the end-to-end tests use), in-process on 127.0.0.1, each with a
//! little content, and the kubeconfig through which the gateway reaches
//! them with a client certificate. They are *not* real Kubernetes: objects
//! live in memory and vanish when kubeplex stops. Only with the `demo`
//! feature (on by default).

use std::path::{Path, PathBuf};

use base64::Engine;
use kube::config::{AuthInfo, Cluster, Kubeconfig};
use kubeplex_tests::apiserver::{ApiServer, ApiServerConfig, StoreError};
use kubeplex_tests::idp::{IdpConfig, IdpError, ScriptedUser, TestIdp};
use kubeplex_tests::pki::{Ca, CertKey};
use serde_json::json;

use crate::local_files::write_private;
use crate::local_setup::LocalLogin;
use crate::user_kubeconfig::{
    YamlError, config_v1, named_cluster, named_context, named_user, to_yaml,
};

/// The names of the demo clusters (kubeconfig contexts).
pub const CLUSTERS: [&str; 2] = ["demo-a", "demo-b"];

/// The gateway's user name at the demo clusters.
const GATEWAY_USER: &str = "kubeplex-gateway";

/// Running demo clusters; dropping this stops them.
pub struct Demo {
    /// The clusters, in [`CLUSTERS`] order.
    pub servers: Vec<ApiServer>,
    /// The gateway's kubeconfig for them.
    pub kubeconfig: PathBuf,
}

/// Why the demo clusters did not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A file or directory could not be written.
    #[error("{}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A cluster's API server did not start.
    #[error("demo cluster {name}")]
    Start {
        /// The cluster.
        name: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A cluster's demo content could not be created.
    #[error("demo cluster {name}: seeding")]
    Seed {
        /// The cluster.
        name: &'static str,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// The kubeconfig could not be written as YAML.
    #[error("the demo clusters' kubeconfig")]
    Yaml(#[source] YamlError),
    /// The demo identity provider did not start (its port is taken?).
    #[error("the demo identity provider on {addr}")]
    IdentityProvider {
        /// Where it was to listen.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: IdpError,
    },
}

/// The demo's OpenID Connect provider (kubeplex's test identity provider):
/// one scripted user, signed in without a password, so `kubeplex login`
/// can be tried against the demo.
pub struct DemoIdentityProvider {
    /// The running provider; dropping it stops it.
    pub idp: TestIdp,
    /// How the gateway config names it.
    pub login: LocalLogin,
}

/// Start the provider on `addr` with `user` as its one user, and write its
/// CA to `<dir>/idp-ca.pem` (a new CA each start: the gateway config names
/// the file, whose change the control plane picks up).
pub async fn start_identity_provider(
    dir: &Path,
    addr: std::net::SocketAddr,
    user: ScriptedUser,
) -> Result<DemoIdentityProvider, DemoError> {
    let config = IdpConfig {
        bind: addr,
        ..IdpConfig::new(vec![user])
    };
    let idp = TestIdp::start(config)
        .await
        .map_err(|source| DemoError::IdentityProvider { addr, source })?;
    std::fs::create_dir_all(dir).map_err(|source| DemoError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let ca_file = dir.join("idp-ca.pem");
    crate::local_files::write_public(&ca_file, idp.ca_pem().as_bytes()).map_err(|source| {
        DemoError::Write {
            path: ca_file.clone(),
            source,
        }
    })?;
    let login = LocalLogin {
        issuer: idp.issuer().to_string(),
        ca_file,
        client_id: idp.client_id().to_string(),
    };
    Ok(DemoIdentityProvider { idp, login })
}

/// Start the demo clusters and write their kubeconfig into `dir`.
pub async fn start(dir: &Path) -> Result<Demo, DemoError> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DemoError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    let ca = Ca::new("kubeplex demo clusters CA");
    let mut servers = Vec::new();
    for name in CLUSTERS {
        let server = ApiServer::start(ApiServerConfig::with_ca(name, &ca))
            .await
            .map_err(|source| DemoError::Start { name, source })?;
        seed(&server, name).map_err(|source| DemoError::Seed { name, source })?;
        servers.push(server);
    }
    // The gateway's own identity at the demo clusters.
    let gateway = ca.client_cert(GATEWAY_USER, &["kubeplex:gateways"]);
    let yaml = to_yaml(&gateway_kubeconfig(&servers, &ca, &gateway)).map_err(DemoError::Yaml)?;
    let text = format!(
        "# Demo clusters (kubeplex's in-process test API servers), as the gateway reaches them.\n{yaml}"
    );
    let kubeconfig = dir.join("clusters.kubeconfig");
    write_private(&kubeconfig, text.as_bytes()).map_err(write_error(&kubeconfig))?;
    Ok(Demo {
        servers,
        kubeconfig,
    })
}

/// One context per demo cluster, all as the gateway's client certificate.
fn gateway_kubeconfig(servers: &[ApiServer], ca: &Ca, gateway: &CertKey) -> Kubeconfig {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let clusters = servers
        .iter()
        .map(|s| {
            named_cluster(
                s.name(),
                Cluster {
                    server: Some(s.url()),
                    certificate_authority_data: Some(b64(ca.cert_pem())),
                    ..Cluster::default()
                },
            )
        })
        .collect();
    let user = AuthInfo {
        client_certificate_data: Some(b64(&gateway.cert_pem)),
        client_key_data: Some(b64(&gateway.key_pem).into()),
        ..AuthInfo::default()
    };
    Kubeconfig {
        clusters,
        auth_infos: vec![named_user(GATEWAY_USER, user)],
        contexts: servers
            .iter()
            .map(|s| named_context(s.name(), s.name(), GATEWAY_USER))
            .collect(),
        ..config_v1()
    }
}

/// A little content, different per cluster, so it is obvious which one
/// answered.
fn seed(server: &ApiServer, name: &str) -> Result<(), StoreError> {
    let store = server.store();
    let team = if name == "demo-a" { "team-a" } else { "team-b" };
    store.create(
        "namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team}}),
    )?;
    store.create(
        "configmaps",
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "welcome", "namespace": "default"},
            "data": {"cluster": name, "note": "an in-memory kubeplex demo cluster"}
        }),
    )?;
    Ok(())
}
