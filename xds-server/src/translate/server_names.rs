//! Per-context TLS server names. `kubectl get --raw /version` (client-go's
//! `RequestURI`) replaces the server URL's path, so the `/clusters/<ctx>`
//! prefix is lost; the kubeconfig's `tls-server-name` is not. With a suffix
//! configured, context `c` is `<label(c)>.<suffix>` in SNI, and the filter
//! falls back to it when the path has no prefix.

use sha2::{Digest, Sha256};

/// A DNS label for a context: the name itself when it is one (lower-case
/// letters, digits, inner dashes, at most 63), else `x` + 16 hex digits of
/// its SHA-256 (EKS context names contain `:` and `/`).
pub fn label(context: &str) -> String {
    let is_label = !context.is_empty()
        && context.len() <= 63
        && context
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !context.starts_with('-')
        && !context.ends_with('-');
    if is_label {
        context.to_string()
    } else {
        let digest = Sha256::digest(context.as_bytes());
        format!(
            "x{}",
            digest[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    }
}

/// The server name of `context` under `suffix`.
pub fn server_name(context: &str, suffix: &str) -> String {
    format!("{}.{suffix}", label(context))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels_are_kept_and_other_names_hashed() {
        assert_eq!(label("dev-a"), "dev-a");
        assert_eq!(
            server_name("dev-a", "clusters.gw.example"),
            "dev-a.clusters.gw.example"
        );
        let eks = label("arn:aws:eks:eu-west-1:123:cluster/prod");
        assert!(eks.starts_with('x') && eks.len() == 17, "{eks}");
        assert_ne!(eks, label("arn:aws:eks:eu-west-1:123:cluster/dev"));
        assert!(
            label("Prod").starts_with('x'),
            "upper case is not a DNS label in SNI"
        );
        assert!(label(&"a".repeat(64)).starts_with('x'));
    }
}
