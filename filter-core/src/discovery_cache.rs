//! Which requests Envoy's discovery cache may answer, and the key that
//! keeps one caller's (or one cluster's) answer from another.
//!
//! Only discovery documents qualify: `/api`, `/api/<v>`, `/apis`,
//! `/apis/<g>`, `/apis/<g>/<v>`, `/openapi/v2`, `/openapi/v3` and its
//! per-group documents, by `GET`. Everything with a `resourceVersion`
//! meaning (lists, gets, watches) has at least one more path segment and
//! never matches. The cache itself (Envoy's) sits after this filter, so it
//! only sees requests the gateway authenticated and its policy allowed.

use sha2::{Digest, Sha256};

use crate::identity::Identity;

/// A context's cache settings, as the control plane pushed them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheScope {
    /// Opaque: changes when the context's cluster (address, credentials)
    /// changes, so entries of a removed or re-pointed context are never
    /// reached again.
    pub scope: String,
    /// Every caller shares one entry (the identity is not in the key).
    pub shared: bool,
}

/// A `GET` of a discovery document (`path` as the cluster will see it:
/// without the `/clusters/<ctx>` prefix; the query does not matter).
pub fn is_discovery(method: &str, path: &str) -> bool {
    if method != "GET" {
        return false;
    }
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let path = path.strip_suffix('/').unwrap_or(path);
    let mut segments = path.split('/').skip(1);
    let first = segments.next();
    let rest: Vec<&str> = segments.collect();
    if rest.iter().any(|s| s.is_empty()) {
        return false;
    }
    match (first, rest.len()) {
        // /api, /api/v1
        (Some("api"), 0 | 1) => true,
        // /apis, /apis/<g>, /apis/<g>/<v>
        (Some("apis"), 0..=2) => true,
        // /openapi/v2, /openapi/v3, /openapi/v3/apis/<g>/<v>, /openapi/v3/api/v1
        (Some("openapi"), 1) => matches!(rest[0], "v2" | "v3"),
        (Some("openapi"), 2..=4) => rest[0] == "v3",
        _ => false,
    }
}

/// The cache key header's value: hex SHA-256 over the scope, the context
/// and (unless shared) the caller's [`identity_digest`], each
/// length-prefixed so no two different inputs encode alike. The digest is
/// computed once per token (`prepared::Prepared`), so a discovery request
/// hashes two blocks, not the whole identity.
pub fn cache_key(scope: &CacheScope, context: &str, identity_digest: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    part(scope.scope.as_bytes());
    part(context.as_bytes());
    if scope.shared {
        part(b"shared");
    } else {
        part(b"identity");
        part(identity_digest);
    }
    hex(&h.finalize())
}

/// SHA-256 over every part of the identity the cluster will act on, each
/// length-prefixed (and counts before lists), so no two different
/// identities encode alike.
pub fn identity_digest(identity: &Identity) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    part(identity.user.as_bytes());
    part(identity.uid.as_deref().unwrap_or("").as_bytes());
    part(&[u8::from(identity.uid.is_some())]);
    part(&(identity.groups.len() as u64).to_be_bytes());
    for group in &identity.groups {
        part(group.as_bytes());
    }
    part(&(identity.extra.len() as u64).to_be_bytes());
    for (key, values) in &identity.extra {
        part(key.as_bytes());
        part(&(values.len() as u64).to_be_bytes());
        for value in values {
            part(value.as_bytes());
        }
    }
    h.finalize().into()
}

/// Lower-case hex, without a `format!` per byte.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests;
