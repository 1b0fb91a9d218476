//! Kubeconfigs *for users of the gateway*: one context per cluster, each
//! with its own path-prefix server URL (`https://gw:8443/clusters/<ctx>`),
//! so kubectl keeps one discovery cache per cluster.

use base64::Engine;
use kube::config::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext, Preferences,
};
use kubeplex_proto::routing::CLUSTER_PATH_PREFIX;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters kept as-is in a context's path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The server URL of one cluster behind the gateway.
pub fn cluster_url(gateway: &str, context: &str) -> String {
    format!("{}{}", gateway.trim_end_matches('/'), cluster_path(context))
}

/// The path prefix of one cluster behind the gateway: `/clusters/<ctx>`.
pub fn cluster_path(context: &str) -> String {
    format!(
        "{CLUSTER_PATH_PREFIX}{}",
        utf8_percent_encode(context, SEGMENT)
    )
}

/// What goes into the kubeconfig.
#[derive(Debug, Clone)]
pub struct UserKubeconfig<'a> {
    /// The gateway's base URL, e.g. `https://127.0.0.1:8443`.
    pub gateway: &'a str,
    /// PEM CA that signed the gateway's certificate; None = system roots.
    pub ca_pem: Option<&'a str>,
    /// The bearer token kubectl sends.
    pub token: &'a str,
    /// kubeconfig `users[].name`.
    pub user: &'a str,
    /// One context per cluster.
    pub contexts: &'a [String],
    /// The gateway's `contextServerNameSuffix`: each cluster also gets a
    /// `tls-server-name`, so requests that lose the path prefix
    /// (`kubectl get --raw`) still reach the right cluster.
    pub server_name_suffix: Option<&'a str>,
}

/// The kubeconfig.
pub fn kubeconfig(k: &UserKubeconfig<'_>) -> Kubeconfig {
    let ca_data = k
        .ca_pem
        .map(|ca| base64::engine::general_purpose::STANDARD.encode(ca.as_bytes()));
    let clusters = k
        .contexts
        .iter()
        .map(|ctx| {
            named_cluster(
                ctx,
                Cluster {
                    server: Some(cluster_url(k.gateway, ctx)),
                    tls_server_name: k
                        .server_name_suffix
                        .map(|suffix| crate::translate::server_names::server_name(ctx, suffix)),
                    certificate_authority_data: ca_data.clone(),
                    ..Cluster::default()
                },
            )
        })
        .collect();
    let user = AuthInfo {
        token: Some(k.token.to_string().into()),
        ..AuthInfo::default()
    };
    Kubeconfig {
        clusters,
        auth_infos: vec![named_user(k.user, user)],
        contexts: k
            .contexts
            .iter()
            .map(|ctx| named_context(ctx, ctx, k.user))
            .collect(),
        current_context: k.contexts.first().cloned(),
        preferences: Some(Preferences::default()),
        ..config_v1()
    }
}

/// Render the kubeconfig as YAML.
pub fn render(k: &UserKubeconfig<'_>) -> Result<String, YamlError> {
    to_yaml(&kubeconfig(k))
}

/// An empty `apiVersion: v1`, `kind: Config` kubeconfig.
pub fn config_v1() -> Kubeconfig {
    Kubeconfig {
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        ..Kubeconfig::default()
    }
}

/// A cluster entry.
pub fn named_cluster(name: &str, cluster: Cluster) -> NamedCluster {
    NamedCluster {
        name: name.to_string(),
        cluster: Some(cluster),
        ..NamedCluster::default()
    }
}

/// A user entry.
pub fn named_user(name: &str, user: AuthInfo) -> NamedAuthInfo {
    NamedAuthInfo {
        name: name.to_string(),
        auth_info: Some(user),
        ..NamedAuthInfo::default()
    }
}

/// A context `name` of `cluster` as `user`.
pub fn named_context(name: &str, cluster: &str, user: &str) -> NamedContext {
    NamedContext {
        name: name.to_string(),
        context: Some(Context {
            cluster: cluster.to_string(),
            user: Some(user.to_string()),
            ..Context::default()
        }),
        ..NamedContext::default()
    }
}

/// A kubeconfig could not be written as YAML.
pub type YamlError = serde_saphyr::SerializeError;

/// A kubeconfig as YAML, the way kubectl reads it: every value on one line
/// (no folded block scalars for long certificate data or tokens).
pub fn to_yaml(config: &Kubeconfig) -> Result<String, YamlError> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    serde_saphyr::to_string_with_options(config, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_names_are_percent_encoded_in_the_path() {
        assert_eq!(
            cluster_url("https://gw:8443/", "dev-a"),
            "https://gw:8443/clusters/dev-a"
        );
        assert_eq!(
            cluster_url("https://gw", "arn:aws:eks:eu-west-1:1:cluster/prod"),
            "https://gw/clusters/arn%3Aaws%3Aeks%3Aeu-west-1%3A1%3Acluster%2Fprod"
        );
    }

    #[test]
    fn renders_one_context_per_cluster_with_a_shared_user() {
        let contexts = vec!["a".to_string(), "b\"q".to_string()];
        let text = render(&UserKubeconfig {
            gateway: "https://127.0.0.1:8443",
            ca_pem: Some("PEM"),
            token: "tok",
            user: "alice",
            contexts: &contexts,
            server_name_suffix: Some("clusters.gw.example"),
        })
        .unwrap();
        let kc = kube::config::Kubeconfig::from_yaml(&text).expect("valid kubeconfig");
        assert!(
            text.lines().all(|l| !l.trim_end().ends_with(['>', '|'])),
            "no block scalars:\n{text}"
        );
        assert_eq!(kc.clusters.len(), 2);
        assert_eq!(kc.contexts[1].name, "b\"q");
        assert_eq!(kc.current_context.as_deref(), Some("a"));
        let server = kc.clusters[1]
            .cluster
            .as_ref()
            .unwrap()
            .server
            .clone()
            .unwrap();
        assert_eq!(server, "https://127.0.0.1:8443/clusters/b%22q");
        assert_eq!(kc.auth_infos[0].name, "alice");
        let sni = kc.clusters[0]
            .cluster
            .as_ref()
            .unwrap()
            .tls_server_name
            .clone();
        assert_eq!(sni.as_deref(), Some("a.clusters.gw.example"));
    }
}
