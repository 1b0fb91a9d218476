//! ServiceAccount issuer discovery, as kube-apiserver serves it
//! (`pkg/serviceaccount/openidmetadata.go`, `pkg/routes/openidmetadata.go`):
//! `GET /.well-known/openid-configuration` (the OIDC discovery document)
//! and `GET /openid/v1/jwks` (the currently published public keys,
//! `application/jwk-set+json`), both `Cache-Control: public, max-age=<n>`.
//! Non-resource URLs, absent from the API discovery documents.
//!
//! Access is the authorizer's: under RBAC the default
//! `system:service-account-issuer-discovery` binding to
//! `system:serviceaccounts`, widened by [`IssuerDiscoveryAccess`] (an extra
//! binding, see [`access_bindings`]) to all authenticated users or to
//! anonymous requests, or any binding a test adds.

use hyper::Response;
use serde::Serialize;
use serde_json::Value;

use super::http_io::{self, Body};
use super::rbac::{ClusterRoleBinding, ObjectMeta, RBAC_GROUP, RbacObject, RoleRef, Subject};
use super::service_accounts::{Issuer, IssuerDiscoveryAccess, Jwk};
use super::status::ApiError;

/// The OIDC discovery document path.
pub const OPENID_CONFIG_PATH: &str = "/.well-known/openid-configuration";
/// The JWKS path.
pub const JWKS_PATH: &str = "/openid/v1/jwks";
/// The JWKS media type (RFC 7517 section 8.5.1).
pub const JWKS_CONTENT_TYPE: &str = "application/jwk-set+json";

/// Paths this module owns.
pub fn owns(path: &str) -> bool {
    matches!(path, OPENID_CONFIG_PATH | JWKS_PATH)
}

/// The discovery document (`openIDMetadata`, same field order).
#[derive(Debug, Serialize)]
struct OpenIdMetadata<'a> {
    issuer: &'a str,
    jwks_uri: &'a str,
    response_types_supported: [&'static str; 1],
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: Vec<&'static str>,
}

/// A JSON Web Key Set.
#[derive(Debug, Serialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

fn jwks(issuer: &Issuer) -> Jwks {
    Jwks {
        keys: issuer.published().iter().map(|k| k.jwk()).collect(),
    }
}

/// The JWKS `issuer` publishes now, as JSON.
pub fn jwks_json(issuer: &Issuer) -> Value {
    serde_json::to_value(jwks(issuer)).expect("JWKS serializes")
}

/// The discovery document of `issuer`, as JSON.
#[cfg(test)]
pub fn discovery_json(issuer: &Issuer) -> Value {
    serde_json::to_value(discovery(issuer)).expect("discovery document serializes")
}

fn discovery(issuer: &Issuer) -> OpenIdMetadata<'_> {
    // Sorted and unique, like the apiserver's `sets.String.List()`.
    let mut algs: Vec<&'static str> = issuer.published().iter().map(|k| k.alg()).collect();
    algs.sort_unstable();
    algs.dedup();
    OpenIdMetadata {
        issuer: issuer.issuer(),
        jwks_uri: issuer.jwks_uri(),
        response_types_supported: ["id_token"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: algs,
    }
}

fn respond(issuer: &Issuer, content_type: &'static str, body: Vec<u8>) -> Response<Body> {
    Response::builder()
        .status(200)
        .header("content-type", content_type)
        .header(
            "cache-control",
            format!("public, max-age={}", issuer.max_age().as_secs()),
        )
        .body(http_io::full(body))
        .expect("valid response")
}

/// The response for an owned path (authorization already done).
pub fn handle(issuer: &Issuer, path: &str) -> Result<Response<Body>, ApiError> {
    match path {
        OPENID_CONFIG_PATH => {
            let body = serde_json::to_vec(&discovery(issuer)).expect("serializes");
            Ok(respond(issuer, "application/json", body))
        }
        JWKS_PATH => {
            let body = serde_json::to_vec(&jwks(issuer)).expect("serializes");
            issuer.count_jwks_fetch();
            Ok(respond(issuer, JWKS_CONTENT_TYPE, body))
        }
        _ => Err(ApiError::path_not_found()),
    }
}

fn is_read(method: &str) -> bool {
    method.eq_ignore_ascii_case("get") || method.eq_ignore_ascii_case("head")
}

/// Whether a request without credentials may read `path`.
pub fn serves_anonymously(issuer: &Issuer, method: &str, path: &str) -> bool {
    issuer.access() == IssuerDiscoveryAccess::Anonymous && owns(path) && is_read(method)
}

/// The RBAC objects [`IssuerDiscoveryAccess`] adds to a cluster's
/// authorizer: none for `ServiceAccounts` (the bootstrap binding of
/// `system:service-account-issuer-discovery` to `system:serviceaccounts`
/// already grants that), a ClusterRoleBinding of that role to
/// `system:authenticated` for `Authenticated`, and to
/// `system:unauthenticated` as well for `Anonymous`, as clusters whose
/// issuer is public configure it.
pub fn access_bindings(access: IssuerDiscoveryAccess) -> Vec<RbacObject> {
    let groups: &[&str] = match access {
        IssuerDiscoveryAccess::ServiceAccounts => return Vec::new(),
        IssuerDiscoveryAccess::Authenticated => &["system:authenticated"],
        IssuerDiscoveryAccess::Anonymous => &["system:authenticated", "system:unauthenticated"],
    };
    let role = "system:service-account-issuer-discovery";
    vec![RbacObject::ClusterRoleBinding(ClusterRoleBinding {
        metadata: ObjectMeta {
            name: "kubeplex-tests:issuer-discovery".into(),
            ..ObjectMeta::default()
        },
        subjects: groups
            .iter()
            .map(|g| Subject {
                kind: "Group".into(),
                api_group: RBAC_GROUP.into(),
                name: g.to_string(),
                namespace: String::new(),
            })
            .collect(),
        role_ref: RoleRef {
            api_group: RBAC_GROUP.into(),
            kind: "ClusterRole".into(),
            name: role.into(),
        },
    })]
}
