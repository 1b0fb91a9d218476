//! How the agent reaches its own apiserver, as the gateway's identity at
//! this cluster: in a pod, the pod's ServiceAccount (the token file the
//! kubelet rotates, re-read every 30 s); otherwise a kubeconfig context.

use std::path::{Path, PathBuf};

use super::AgentError;
use crate::inputs::kubeconfig::{self, ClusterTarget, ServerUrl};

/// Where a pod's ServiceAccount credentials are mounted.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Which apiserver, and with what credential.
#[derive(Debug, Clone)]
pub enum ApiserverSource {
    /// The pod's ServiceAccount and `KUBERNETES_SERVICE_HOST`/`_PORT`.
    InCluster,
    /// A kubeconfig context (`None`: the file must have exactly one).
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// The context.
        context: Option<String>,
    },
}

/// Where the bearer token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// None: a client certificate (or nothing) authenticates.
    None,
    /// A fixed token from the kubeconfig.
    Fixed(String),
    /// A file re-read periodically (a projected ServiceAccount token).
    File(PathBuf),
}

impl TokenSource {
    /// The current token, if any.
    pub fn read(&self) -> Result<Option<String>, AgentError> {
        match self {
            TokenSource::None => Ok(None),
            TokenSource::Fixed(t) => Ok(Some(t.clone())),
            TokenSource::File(path) => std::fs::read_to_string(path)
                .map(|t| Some(t.trim().to_string()))
                .map_err(|source| AgentError::File {
                    path: path.clone(),
                    source,
                }),
        }
    }
}

/// The apiserver as a target named `cluster`, and its token source.
pub fn resolve(
    source: &ApiserverSource,
    cluster: &str,
) -> Result<(ClusterTarget, TokenSource), AgentError> {
    match source {
        ApiserverSource::InCluster => in_cluster(cluster, Path::new(SERVICE_ACCOUNT_DIR)),
        ApiserverSource::Kubeconfig { path, context } => {
            from_kubeconfig(path, context.as_deref(), cluster)
        }
    }
}

fn in_cluster(cluster: &str, dir: &Path) -> Result<(ClusterTarget, TokenSource), AgentError> {
    let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| AgentError::NotInCluster)?;
    let port = std::env::var("KUBERNETES_SERVICE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(443);
    let ca_path = dir.join("ca.crt");
    let ca = std::fs::read_to_string(&ca_path).map_err(|source| AgentError::File {
        path: ca_path,
        source,
    })?;
    let target = ClusterTarget {
        context: cluster.to_string(),
        server: ServerUrl {
            scheme: "https".into(),
            host,
            port,
            path: String::new(),
        },
        ca_pem: Some(ca.into()),
        client_cert_pem: None,
        client_key_pem: None,
        bearer_token: None,
        tls_server_name: None,
        insecure_skip_tls_verify: false,
        // not from a kubeconfig (and the agent's Envoy has no ADS)
        cluster_entry: None,
        user_entry: None,
    };
    Ok((target, TokenSource::File(dir.join("token"))))
}

fn from_kubeconfig(
    path: &Path,
    context: Option<&str>,
    cluster: &str,
) -> Result<(ClusterTarget, TokenSource), AgentError> {
    let loaded = kubeconfig::load(path).map_err(|e| AgentError::Kubeconfig {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let chosen = match context {
        Some(name) => loaded.clusters.into_iter().find(|c| c.context == name),
        None if loaded.clusters.len() == 1 => loaded.clusters.into_iter().next(),
        None => {
            return Err(AgentError::Kubeconfig {
                path: path.to_path_buf(),
                reason: "it has several usable contexts: pass --context".into(),
            });
        }
    };
    let mut target = chosen.ok_or_else(|| AgentError::Kubeconfig {
        path: path.to_path_buf(),
        reason: format!("no usable context {}", context.unwrap_or("")),
    })?;
    target.context = cluster.to_string();
    let token = match target.bearer_token.take() {
        Some(t) => TokenSource::Fixed(t.expose().clone()),
        None => TokenSource::None,
    };
    Ok((target, token))
}
