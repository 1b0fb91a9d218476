//! Verified claims → the Kubernetes identity the gateway impersonates
//! (user, groups, uid, extra), following the issuer's `ClaimMappings`, or
//! Kubernetes' own rules for ServiceAccount tokens.

use serde_json::{Map, Value};

use crate::config::Issuer;

/// Who the request runs as upstream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
    pub uid: Option<String>,
    /// `(lower-case key, values)`, in mapping order.
    pub extra: Vec<(String, Vec<String>)>,
}

/// Why claims do not make an identity.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    /// The username claim is missing, empty or not a string.
    #[error("token claim {claim:?} (the username) must be a non-empty string")]
    Username { claim: String },
    /// A claim that must be a string or a list of strings is something else.
    #[error("token claim {claim:?} must be a string or a list of strings")]
    NotStrings { claim: String },
    /// The uid claim is not a string.
    #[error("token claim {claim:?} (the uid) must be a string")]
    Uid { claim: String },
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
    /// A mapped value with control characters (CR, LF, NUL…) cannot be a
    /// header value; refusing beats forwarding a mangled identity.
    #[error("token claim {claim:?} contains control characters")]
    ControlCharacters { claim: String },
    /// A ServiceAccount token whose `kubernetes.io` claim names another account.
    #[error(
        "service account token subject {sub:?} does not match its kubernetes.io claim ({claim})"
    )]
    ServiceAccountMismatch { sub: String, claim: String },
}

impl IdentityError {
    /// Short machine reason for audit and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            IdentityError::ReservedUser(_) | IdentityError::ReservedGroup(_) => "reserved_identity",
            _ => "identity_invalid",
        }
    }
}

/// Kubernetes' reserved prefix (`system:masters`, `system:serviceaccount:…`).
const RESERVED: &str = "system:";

/// Map verified claims to an identity.
pub fn map(issuer: &Issuer, claims: &Map<String, Value>) -> Result<Identity, IdentityError> {
    let identity = if issuer.service_account {
        map_service_account(claims)?
    } else {
        map_claims(issuer, claims)?
    };
    check_header_safe(issuer, &identity)?;
    Ok(identity)
}

/// Every value becomes an HTTP header value upstream.
fn check_header_safe(issuer: &Issuer, id: &Identity) -> Result<(), IdentityError> {
    let bad = |s: &str| s.chars().any(char::is_control);
    let m = &issuer.claim_mappings;
    let fail = |claim: &str| {
        Err(IdentityError::ControlCharacters {
            claim: claim.to_string(),
        })
    };
    if bad(&id.user) {
        return fail(if issuer.service_account {
            "sub"
        } else {
            &m.username_claim
        });
    }
    if id.groups.iter().any(|g| bad(g)) {
        return fail(&m.groups_claim);
    }
    if id.uid.as_deref().is_some_and(bad) {
        return fail(m.uid_claim.as_deref().unwrap_or("uid"));
    }
    if let Some((key, _)) = id.extra.iter().find(|(_, v)| v.iter().any(|s| bad(s))) {
        let claim = m
            .extra
            .iter()
            .find(|(k, _)| k == key)
            .map_or(key.as_str(), |(_, c)| c.as_str());
        return fail(claim);
    }
    Ok(())
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
    if user.starts_with(RESERVED) {
        return Err(IdentityError::ReservedUser(user));
    }
    let groups: Vec<String> = strings(claims, &m.groups_claim)?
        .into_iter()
        .map(|g| format!("{}{}", m.groups_prefix, g))
        .collect();
    if let Some(g) = groups.iter().find(|g| g.starts_with(RESERVED)) {
        return Err(IdentityError::ReservedGroup(g.clone()));
    }
    let uid = match &m.uid_claim {
        None => None,
        Some(claim) => match claims.get(claim) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
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

/// A string or list of strings; missing or null is empty; empty strings are
/// dropped (Kubernetes ignores them too).
fn strings(claims: &Map<String, Value>, claim: &str) -> Result<Vec<String>, IdentityError> {
    let bad = || IdentityError::NotStrings {
        claim: claim.to_string(),
    };
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .filter(|v| !matches!(v, Value::String(s) if s.is_empty()))
            .map(|v| v.as_str().map(str::to_string).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
    }
}

/// Extra keys Kubernetes sets for ServiceAccount tokens
/// (k8s.io/kubernetes pkg/serviceaccount `UserInfo`).
pub const POD_NAME_KEY: &str = "authentication.kubernetes.io/pod-name";
pub const POD_UID_KEY: &str = "authentication.kubernetes.io/pod-uid";
pub const NODE_NAME_KEY: &str = "authentication.kubernetes.io/node-name";
pub const NODE_UID_KEY: &str = "authentication.kubernetes.io/node-uid";
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
