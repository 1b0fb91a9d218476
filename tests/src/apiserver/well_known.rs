//! ServiceAccount issuer discovery, as kube-apiserver serves it
//! (`pkg/serviceaccount/openidmetadata.go`, `pkg/routes/openidmetadata.go`):
//! `GET /.well-known/openid-configuration` (the OIDC discovery document)
//! and `GET /openid/v1/jwks` (the currently published public keys,
//! `application/jwk-set+json`), both `Cache-Control: public, max-age=<n>`.
//! Non-resource URLs, absent from the API discovery documents.
//!
//! Access like the default RBAC (`system:service-account-issuer-discovery`
//! bound to `system:serviceaccounts`), widened by
//! [`IssuerDiscoveryAccess`] to all authenticated users or to anonymous
//! requests.

use hyper::Response;
use serde::Serialize;
use serde_json::Value;

use super::authz::Attributes;
use super::http_io::{self, Body};
use super::identity::UserInfo;
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

/// Whether the issuer-discovery role grants `attrs` (checked when the
/// authorizer's own rules did not).
pub fn allows(issuer: &Issuer, attrs: &Attributes<'_>) -> bool {
    !attrs.is_resource
        && owns(attrs.path)
        && is_read(attrs.verb)
        && grants(issuer.access(), attrs.user)
}

fn grants(access: IssuerDiscoveryAccess, user: &UserInfo) -> bool {
    match access {
        IssuerDiscoveryAccess::ServiceAccounts => {
            user.groups.iter().any(|g| g == "system:serviceaccounts")
        }
        IssuerDiscoveryAccess::Authenticated | IssuerDiscoveryAccess::Anonymous => true,
    }
}
