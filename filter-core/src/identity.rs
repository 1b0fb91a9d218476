//! Verified claims → the Kubernetes identity the gateway impersonates
//! (user, groups, uid, extra), following the issuer's `ClaimMappings`, or
//! Kubernetes' own rules for ServiceAccount tokens.

use serde_json::{Map, Value};

use crate::issuer::Issuer;
use crate::reason::DenyReason;

/// Who the request runs as upstream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// `Impersonate-User`.
    pub user: String,
    /// `Impersonate-Group`, one header each.
    pub groups: Vec<String>,
    /// `Impersonate-Uid`.
    pub uid: Option<String>,
    /// `(lower-case key, values)`, in mapping order.
    pub extra: Vec<(String, Vec<String>)>,
}

/// Why claims do not make an identity.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    /// The username claim is missing, empty or not a string.
    #[error("token claim {claim:?} (the username) must be a non-empty string")]
    Username {
        /// The username claim.
        claim: String,
    },
    /// A claim that must be a string or a list of strings is something else.
    #[error("token claim {claim:?} must be a string or a list of strings")]
    NotStrings {
        /// The claim.
        claim: String,
    },
    /// The uid claim is not a string.
    #[error("token claim {claim:?} (the uid) must be a string")]
    Uid {
        /// The uid claim.
        claim: String,
    },
    /// A value that would become an `Impersonate-*` header is not in the
    /// one form every HTTP/1.1 and HTTP/2 peer reads byte for byte.
    #[error("token claim {claim:?} is not a valid identity: the value {value} {problem}")]
    NotCanonical {
        /// The claim the value came from.
        claim: String,
        /// The value, quoted and escaped for the message (at most 64 chars).
        value: String,
        /// What is wrong with it.
        problem: NotCanonical,
    },
    /// A non-ServiceAccount issuer asserted a `system:` username.
    #[error("username {0:?} is reserved: a token issuer may not assert \"system:\" identities")]
    ReservedUser(String),
    /// A non-ServiceAccount issuer asserted a `system:` group.
    #[error("group {0:?} is reserved: a token issuer may not assert \"system:\" groups")]
    ReservedGroup(String),
    /// A ServiceAccount token whose `sub` is not `system:serviceaccount:<ns>:<name>`.
    #[error(
        "service account token subject {0:?} is not \"system:serviceaccount:<namespace>:<name>\""
    )]
    ServiceAccountSubject(String),
    /// A ServiceAccount token whose `kubernetes.io` claim names another account.
    #[error(
        "service account token subject {sub:?} does not match its kubernetes.io claim ({claim})"
    )]
    ServiceAccountMismatch {
        /// The token's `sub`.
        sub: String,
        /// What the `kubernetes.io` claim says instead.
        claim: String,
    },
}

/// How a value fails the canonical form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotCanonical {
    /// Nothing at all (an empty header is dropped by some peers, kept by others).
    Empty,
    /// A space or tab at either end: Go's HTTP/1.1 server trims it, HTTP/2
    /// keeps it, so `" system:masters"` is two identities depending on the route.
    SurroundingWhitespace,
    /// A control character (tab, CR, LF, NUL, DEL…): refused or mangled by
    /// HTTP parsers, or a header injection.
    ControlCharacter,
    /// A byte outside ASCII: peers disagree on its encoding.
    NotAscii,
}

impl std::fmt::Display for NotCanonical {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotCanonical::Empty => "is empty",
            NotCanonical::SurroundingWhitespace => {
                "has leading or trailing whitespace, which a cluster may or may not strip"
            }
            NotCanonical::ControlCharacter => "contains a control character",
            NotCanonical::NotAscii => {
                "contains characters outside visible ASCII, which clusters may decode differently"
            }
        })
    }
}

impl IdentityError {
    /// Why, for the audit record and the metrics.
    pub fn reason(&self) -> DenyReason {
        match self {
            IdentityError::ReservedUser(_) | IdentityError::ReservedGroup(_) => {
                DenyReason::ReservedIdentity
            }
            _ => DenyReason::IdentityInvalid,
        }
    }
}

/// Kubernetes' reserved prefix (`system:masters`, `system:serviceaccount:…`).
const RESERVED: &str = "system:";

/// Map verified claims to an identity: the values are checked once, on
/// exactly the bytes that will be sent as `Impersonate-*` headers, then
/// the reserved rules apply to those same bytes.
pub fn map(issuer: &Issuer, claims: &Map<String, Value>) -> Result<Identity, IdentityError> {
    let identity = if issuer.service_account {
        map_service_account(claims)?
    } else {
        map_claims(issuer, claims)?
    };
    check_canonical(issuer, &identity)?;
    if !issuer.service_account {
        check_not_reserved(&identity)?;
    }
    Ok(identity)
}

/// The one form of a header value that every compliant peer reads as
/// sent: visible ASCII and interior spaces, nothing at either end. Go's
/// HTTP/1.1 server trims spaces and tabs (net/textproto `readMIMEHeader`),
/// its HTTP/2 server does not, and both refuse most control characters.
pub fn canonical(value: &str) -> Result<(), NotCanonical> {
    let bytes = value.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return Err(NotCanonical::Empty);
    };
    if let Some(&b) = bytes.iter().find(|b| !(0x20..0x7f).contains(*b)) {
        return Err(if b >= 0x80 {
            NotCanonical::NotAscii
        } else {
            NotCanonical::ControlCharacter
        });
    }
    if first == b' ' || last == b' ' {
        return Err(NotCanonical::SurroundingWhitespace);
    }
    Ok(())
}

/// Every value that becomes a header, with the claim it came from.
fn check_canonical(issuer: &Issuer, id: &Identity) -> Result<(), IdentityError> {
    let m = &issuer.claim_mappings;
    let check = |claim: &str, value: &str| {
        canonical(value).map_err(|problem| IdentityError::NotCanonical {
            claim: claim.to_string(),
            value: quoted(value),
            problem,
        })
    };
    let sa = issuer.service_account;
    check(if sa { "sub" } else { &m.username_claim }, &id.user)?;
    for g in &id.groups {
        // a ServiceAccount's groups are built from its namespace, in `sub`
        check(if sa { "sub" } else { &m.groups_claim }, g)?;
    }
    if let Some(uid) = &id.uid {
        let claim = match (sa, m.uid_claim.as_deref()) {
            (true, _) => "kubernetes.io.serviceaccount.uid",
            (false, claim) => claim.unwrap_or("uid"),
        };
        check(claim, uid)?;
    }
    for (key, values) in &id.extra {
        let claim = if sa {
            service_account_claim(key)
        } else {
            m.extra
                .iter()
                .find(|(k, _)| k == key)
                .map_or(key.as_str(), |(_, c)| c.as_str())
        };
        for v in values {
            check(claim, v)?;
        }
    }
    Ok(())
}

/// The token claim a ServiceAccount extra comes from.
fn service_account_claim(key: &str) -> &'static str {
    match key {
        POD_NAME_KEY => "kubernetes.io.pod.name",
        POD_UID_KEY => "kubernetes.io.pod.uid",
        NODE_NAME_KEY => "kubernetes.io.node.name",
        NODE_UID_KEY => "kubernetes.io.node.uid",
        _ => "jti",
    }
}

/// Only a cluster's own ServiceAccount issuer may say `system:`.
fn check_not_reserved(id: &Identity) -> Result<(), IdentityError> {
    if id.user.starts_with(RESERVED) {
        return Err(IdentityError::ReservedUser(id.user.clone()));
    }
    match id.groups.iter().find(|g| g.starts_with(RESERVED)) {
        Some(g) => Err(IdentityError::ReservedGroup(g.clone())),
        None => Ok(()),
    }
}

/// `"value"` escaped to printable ASCII and cut at 64 characters, for a
/// message that travels in a Status and a `Warning` header.
fn quoted(value: &str) -> String {
    const MAX: usize = 64;
    let mut out = String::from("\"");
    for (i, c) in value.chars().enumerate() {
        if i == MAX {
            out.push_str("...");
            break;
        }
        out.extend(c.escape_default());
    }
    out.push('"');
    out
}

fn map_claims(issuer: &Issuer, claims: &Map<String, Value>) -> Result<Identity, IdentityError> {
    let m = &issuer.claim_mappings;
    let user = match claims.get(&m.username_claim) {
        Some(Value::String(s)) if !s.is_empty() => format!("{}{}", m.username_prefix, s),
        _ => {
            return Err(IdentityError::Username {
                claim: m.username_claim.clone(),
            });
        }
    };
    let groups: Vec<String> = strings(claims, &m.groups_claim)?
        .into_iter()
        .map(|g| format!("{}{}", m.groups_prefix, g))
        .collect();
    let uid = match &m.uid_claim {
        None => None,
        Some(claim) => match claims.get(claim) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => return Err(empty(claim)),
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(IdentityError::Uid {
                    claim: claim.clone(),
                });
            }
        },
    };
    let mut extra = Vec::with_capacity(m.extra.len());
    for (key, claim) in &m.extra {
        let values = strings(claims, claim)?;
        if !values.is_empty() {
            extra.push((key.clone(), values));
        }
    }
    Ok(Identity {
        user,
        groups,
        uid,
        extra,
    })
}

/// A string or list of strings; missing or null is none; an empty string
/// is refused.
fn strings(claims: &Map<String, Value>, claim: &str) -> Result<Vec<String>, IdentityError> {
    let bad = || IdentityError::NotStrings {
        claim: claim.to_string(),
    };
    let value = |v: &Value| match v.as_str() {
        Some("") => Err(empty(claim)),
        Some(s) => Ok(s.to_string()),
        None => Err(bad()),
    };
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(value).collect(),
        Some(v) => Ok(vec![value(v)?]),
    }
}

/// An empty value, judged before any prefix makes it look like a name
/// (Kubernetes 1.36 refuses to impersonate the empty group or extra value).
fn empty(claim: &str) -> IdentityError {
    IdentityError::NotCanonical {
        claim: claim.to_string(),
        value: "\"\"".to_string(),
        problem: NotCanonical::Empty,
    }
}

/// Extra keys Kubernetes sets for ServiceAccount tokens
/// (k8s.io/kubernetes pkg/serviceaccount `UserInfo`).
pub const POD_NAME_KEY: &str = "authentication.kubernetes.io/pod-name";
/// The pod's UID (with the pod name).
pub const POD_UID_KEY: &str = "authentication.kubernetes.io/pod-uid";
/// The node a bound token's pod runs on.
pub const NODE_NAME_KEY: &str = "authentication.kubernetes.io/node-name";
/// That node's UID (with its name).
pub const NODE_UID_KEY: &str = "authentication.kubernetes.io/node-uid";
/// `JTI=<jti>`: which credential this is.
pub const CREDENTIAL_ID_KEY: &str = "authentication.kubernetes.io/credential-id";

/// Kubernetes' ServiceAccount mapping: user `system:serviceaccount:<ns>:<name>`,
/// groups `system:serviceaccounts` + `system:serviceaccounts:<ns>`, uid from
/// `kubernetes.io.serviceaccount.uid`, pod/node extras (pod only when both
/// name and uid are present, node-uid only with node-name), and
/// `credential-id` = `JTI=<jti>`.
fn map_service_account(claims: &Map<String, Value>) -> Result<Identity, IdentityError> {
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (namespace, name) = sub
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
        .filter(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains(':'))
        .ok_or_else(|| IdentityError::ServiceAccountSubject(sub.to_string()))?;

    let k8s = claims.get("kubernetes.io");
    let field = |path: &[&str]| -> Option<&str> {
        let mut v = k8s?;
        for p in path {
            v = v.get(p)?;
        }
        v.as_str().filter(|s| !s.is_empty())
    };
    // The private claim must agree with `sub` when present, as Kubernetes
    // derives the user from it.
    if let Some(ns) = field(&["namespace"]).filter(|ns| *ns != namespace) {
        return Err(IdentityError::ServiceAccountMismatch {
            sub: sub.to_string(),
            claim: format!("namespace {ns:?}"),
        });
    }
    if let Some(sa) = field(&["serviceaccount", "name"]).filter(|sa| *sa != name) {
        return Err(IdentityError::ServiceAccountMismatch {
            sub: sub.to_string(),
            claim: format!("serviceaccount {sa:?}"),
        });
    }

    let mut extra = Vec::new();
    if let (Some(pod), Some(pod_uid)) = (field(&["pod", "name"]), field(&["pod", "uid"])) {
        extra.push((POD_NAME_KEY.to_string(), vec![pod.to_string()]));
        extra.push((POD_UID_KEY.to_string(), vec![pod_uid.to_string()]));
    }
    if let Some(jti) = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty())
    {
        extra.push((CREDENTIAL_ID_KEY.to_string(), vec![format!("JTI={jti}")]));
    }
    if let Some(node) = field(&["node", "name"]) {
        extra.push((NODE_NAME_KEY.to_string(), vec![node.to_string()]));
        if let Some(node_uid) = field(&["node", "uid"]) {
            extra.push((NODE_UID_KEY.to_string(), vec![node_uid.to_string()]));
        }
    }
    Ok(Identity {
        user: sub.to_string(),
        groups: vec![
            "system:serviceaccounts".to_string(),
            format!("system:serviceaccounts:{namespace}"),
        ],
        uid: field(&["serviceaccount", "uid"]).map(str::to_string),
        extra,
    })
}

#[cfg(test)]
mod tests;
