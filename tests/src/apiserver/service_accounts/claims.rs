//! The claims of a Kubernetes ServiceAccount token, exactly as
//! `pkg/serviceaccount/claims.go` builds them and go-jose (v2) writes them:
//! `aud` always a list, `jti` a UUID (1.29+), the private `kubernetes.io`
//! claim with `namespace`, `serviceaccount`, and `pod`/`secret`/`node` when
//! bound. go-jose merges the claim sets through a map, so keys come out
//! sorted at every level; the field order below is that order.

use serde::{Deserialize, Serialize};

use super::{TokenSpec, uid_of, unix};

/// A `{name, uid}` reference (empty members omitted, as Go's `omitempty`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Object name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Object uid.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

impl ObjectRef {
    fn new((name, uid): &(String, String)) -> ObjectRef {
        ObjectRef {
            name: name.clone(),
            uid: uid.clone(),
        }
    }
}

/// The private `kubernetes.io` claim.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaim {
    /// The service account's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The node (pod-bound tokens on a scheduled pod; node-bound tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<ObjectRef>,
    /// The pod the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectRef>,
    /// The secret the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectRef>,
    /// The service account.
    #[serde(default)]
    pub serviceaccount: ObjectRef,
    /// Projected-token extension (`warnafter`); never set by this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnafter: Option<u64>,
}

/// Every claim of a ServiceAccount token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Audiences (always a JSON list: go-jose v2 never collapses it).
    pub aud: Vec<String>,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Issuer.
    pub iss: String,
    /// Token id (a UUID).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jti: String,
    /// The private claim.
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaim,
    /// Not before, Unix seconds (= `iat`).
    pub nbf: u64,
    /// `system:serviceaccount:<namespace>:<name>`.
    pub sub: String,
}

/// `system:serviceaccount:<namespace>:<name>` (`MakeUsername`).
pub fn username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

impl Claims {
    /// The claims of a token issued by `issuer` with id `jti`.
    pub fn build(issuer: &str, jti: &str, spec: &TokenSpec<'_>) -> Claims {
        let meta = &spec.service_account["metadata"];
        let namespace = meta["namespace"].as_str().unwrap_or("").to_string();
        let name = meta["name"].as_str().unwrap_or("").to_string();
        let now = unix(spec.now);
        Claims {
            aud: spec.audiences.to_vec(),
            exp: now + spec.ttl.as_secs(),
            iat: now,
            iss: issuer.to_string(),
            jti: jti.to_string(),
            kubernetes: KubernetesClaim {
                namespace: namespace.clone(),
                node: spec.bound.node.as_ref().map(ObjectRef::new),
                pod: spec.bound.pod.as_ref().map(ObjectRef::new),
                secret: spec.bound.secret.as_ref().map(ObjectRef::new),
                serviceaccount: ObjectRef {
                    name: name.clone(),
                    uid: uid_of(spec.service_account),
                },
                warnafter: None,
            },
            nbf: now,
            sub: username(&namespace, &name),
        }
    }
}
