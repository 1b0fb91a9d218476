//! Kubeconfigs *for users of the gateway*: one context per cluster, each
//! with its own path-prefix server URL (`https://gw:8443/clusters/<ctx>`),
//! so kubectl keeps one discovery cache per cluster.

use base64::Engine;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters kept as-is in a context's path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The server URL of one cluster behind the gateway.
pub fn cluster_url(gateway: &str, context: &str) -> String {
    format!(
        "{}/clusters/{}",
        gateway.trim_end_matches('/'),
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
    pub token: &'a str,
    /// kubeconfig `users[].name`.
    pub user: &'a str,
    pub contexts: &'a [String],
    /// The gateway's `contextServerNameSuffix`: each cluster also gets a
    /// `tls-server-name`, so requests that lose the path prefix
    /// (`kubectl get --raw`) still reach the right cluster.
    pub server_name_suffix: Option<&'a str>,
}

/// A YAML string (double-quoted, JSON escaping is valid YAML).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Render the kubeconfig as YAML.
pub fn render(k: &UserKubeconfig<'_>) -> String {
    let mut out = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for ctx in k.contexts {
        out += &format!(
            "- name: {}\n  cluster:\n    server: {}\n",
            q(ctx),
            q(&cluster_url(k.gateway, ctx))
        );
        if let Some(suffix) = k.server_name_suffix {
            let name = crate::translate::server_names::server_name(ctx, suffix);
            out += &format!("    tls-server-name: {}\n", q(&name));
        }
        if let Some(ca) = k.ca_pem {
            let data = base64::engine::general_purpose::STANDARD.encode(ca.as_bytes());
            out += &format!("    certificate-authority-data: {data}\n");
        }
    }
    out += &format!(
        "users:\n- name: {}\n  user:\n    token: {}\n",
        q(k.user),
        q(k.token)
    );
    out += "contexts:\n";
    for ctx in k.contexts {
        out += &format!(
            "- name: {}\n  context:\n    cluster: {}\n    user: {}\n",
            q(ctx),
            q(ctx),
            q(k.user)
        );
    }
    if let Some(first) = k.contexts.first() {
        out += &format!("current-context: {}\n", q(first));
    }
    out += "preferences: {}\n";
    out
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
        });
        let kc = kube::config::Kubeconfig::from_yaml(&text).expect("valid kubeconfig");
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
