//! The name checks impersonation depends on: which user names are service
//! accounts (`serviceaccount.SplitUsername`) or nodes (`isNodeUsername`),
//! and `utilvalidation.IsDomainPrefixedPath` for extra keys.

/// `serviceaccount.ServiceAccountUsernamePrefix`.
pub const SA_PREFIX: &str = "system:serviceaccount:";
/// The prefix of node user names.
const NODE_PREFIX: &str = "system:node:";

/// `IsDNS1123Label`: 1 to 63 of `[a-z0-9-]`, alphanumeric at both ends.
fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    let end = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    !b.is_empty() && b.len() <= 63 && b.iter().all(inner) && end(b.first()) && end(b.last())
}

/// `IsDNS1123Subdomain`: at most 253 characters of dot-separated labels.
fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(|l| is_dns1123_label(l) && l.len() <= 253)
}

/// `serviceaccount.SplitUsername`: `system:serviceaccount:<ns>:<name>`
/// with a valid namespace (a DNS-1123 label) and service account name (a
/// DNS-1123 subdomain).
pub fn service_account(username: &str) -> Option<(&str, &str)> {
    let rest = username.strip_prefix(SA_PREFIX)?;
    let parts: Vec<&str> = rest.split(':').collect();
    match parts.as_slice() {
        [ns, name] if is_dns1123_label(ns) && is_dns1123_subdomain(name) => Some((ns, name)),
        _ => None,
    }
}

/// `isNodeUsername`: `system:node:<name>` with a DNS-1123 subdomain name.
pub fn node(username: &str) -> Option<&str> {
    username
        .strip_prefix(NODE_PREFIX)
        .filter(|n| is_dns1123_subdomain(n))
}

/// `httpPathFmt` of `IsDomainPrefixedPath`.
fn is_http_path(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"/-._~%!$&'()*+,;=:".contains(&c))
}

/// `IsDomainPrefixedPath(field.NewPath("extra", "key"), key).ToAggregate()`
/// as text, or `None` if the key is a valid `example.com/path`.
pub fn domain_prefixed_path_problem(key: &str) -> Option<String> {
    let invalid =
        |value: &str, detail: &str| format!("extra.key: Invalid value: {value:?}: {detail}");
    let Some((host, path)) = key
        .split_once('/')
        .filter(|(h, p)| !h.is_empty() && !p.is_empty())
    else {
        return Some(invalid(
            key,
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        ));
    };
    let mut errors = Vec::new();
    if host.len() > 253 {
        errors.push(invalid(host, "must be no more than 253 characters"));
    }
    if !host.split('.').all(is_dns1123_label) {
        errors.push(invalid(
            host,
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ));
    }
    if !is_http_path(path) {
        errors.push(invalid(
            path,
            "Invalid path (regex used for validation is '[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')",
        ));
    }
    match errors.len() {
        0 => None,
        1 => errors.pop(),
        _ => Some(format!("[{}]", errors.join(", "))),
    }
}
