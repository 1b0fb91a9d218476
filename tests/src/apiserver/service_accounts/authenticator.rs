//! Authentication with this server's own ServiceAccount tokens, as
//! kube-apiserver's service-account JWT authenticator does: a published
//! key verifies the signature, `iss` is this issuer, `aud` meets the API
//! audiences, `exp`/`nbf`/`iat` hold (one minute of leeway, go-jose's
//! default), and the service account (and bound pod or secret) still
//! exists with the uid in the token. The user is
//! `system:serviceaccount:<ns>:<name>` in `system:serviceaccounts`,
//! `system:serviceaccounts:<ns>` and `system:authenticated`.

use serde_json::Value;

use super::Issuer;
use super::claims::{Claims, ObjectRef, username};
use super::jwt;
use crate::apiserver::identity::UserInfo;
use crate::apiserver::store::Store;

/// Clock skew tolerated on `exp`, `nbf` and `iat` (go-jose `DefaultLeeway`).
pub const LEEWAY_SECS: u64 = 60;

/// Why a bearer token is not a valid ServiceAccount token of this server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWS with a JSON header.
    #[error("malformed token")]
    Malformed,
    /// The payload is not a ServiceAccount claim set.
    #[error("invalid claims: {0}")]
    Claims(String),
    /// Another issuer's token.
    #[error("token issuer {0:?} is not this cluster's issuer")]
    Issuer(String),
    /// No published key with that `kid` and `alg` verifies the signature.
    #[error("invalid signature")]
    Signature,
    /// `exp` (plus leeway) has passed.
    #[error("service account token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("service account token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("service account token is issued in the future")]
    IssuedInTheFuture,
    /// None of the token's audiences is one of the server's.
    #[error("token audiences {token:?} is invalid for the target audiences {accepted:?}")]
    Audience {
        /// The token's `aud`.
        token: Vec<String>,
        /// The server's API audiences.
        accepted: Vec<String>,
    },
    /// The service account, or the bound pod or secret, is gone or was
    /// recreated (another uid).
    #[error("{0}")]
    Invalidated(String),
}

/// The token of `Authorization: Bearer <token>`.
pub fn bearer(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// Validates `token` at Unix time `now`; the user it authenticates.
pub fn authenticate(
    issuer: &Issuer,
    token: &str,
    store: &Store,
    now: u64,
) -> Result<UserInfo, TokenError> {
    let parsed = jwt::parse(token)?;
    let payload: Value =
        serde_json::from_slice(&parsed.payload).map_err(|e| TokenError::Claims(e.to_string()))?;
    let iss = payload["iss"].as_str().unwrap_or("");
    if iss != issuer.issuer() {
        return Err(TokenError::Issuer(iss.to_string()));
    }
    let verified = issuer.published().iter().any(|key| {
        (parsed.header.kid.is_empty() || parsed.header.kid == key.kid())
            && parsed.header.alg == key.alg()
            && key.verify(parsed.signing_input.as_bytes(), &parsed.signature)
    });
    if !verified {
        return Err(TokenError::Signature);
    }
    let claims: Claims =
        serde_json::from_value(payload).map_err(|e| TokenError::Claims(e.to_string()))?;
    check_times(&claims, now)?;
    let accepted = issuer.api_audiences();
    if !claims.aud.iter().any(|a| accepted.contains(a)) {
        return Err(TokenError::Audience {
            token: claims.aud.clone(),
            accepted: accepted.to_vec(),
        });
    }
    check_objects(&claims, store)?;
    Ok(user_info(&claims))
}

fn check_times(claims: &Claims, now: u64) -> Result<(), TokenError> {
    if now > claims.exp.saturating_add(LEEWAY_SECS) {
        return Err(TokenError::Expired);
    }
    if now.saturating_add(LEEWAY_SECS) < claims.nbf {
        return Err(TokenError::NotYetValid);
    }
    if now.saturating_add(LEEWAY_SECS) < claims.iat {
        return Err(TokenError::IssuedInTheFuture);
    }
    Ok(())
}

/// The validator's checks: bound objects exist with the claimed uids.
fn check_objects(claims: &Claims, store: &Store) -> Result<(), TokenError> {
    let k = &claims.kubernetes;
    let sa = &k.serviceaccount;
    let found = store
        .get("serviceaccounts", &k.namespace, &sa.name)
        .ok_or_else(|| {
            TokenError::Invalidated(format!("serviceaccounts {:?} not found", sa.name))
        })?;
    let uid = super::uid_of(&found);
    if uid != sa.uid {
        return Err(TokenError::Invalidated(format!(
            "service account UID ({uid}) does not match claim ({})",
            sa.uid
        )));
    }
    let still_there = |resource: &str, r: &ObjectRef| {
        store
            .get(resource, &k.namespace, &r.name)
            .is_some_and(|o| super::uid_of(&o) == r.uid)
    };
    let bound = [("secrets", &k.secret), ("pods", &k.pod)];
    for (resource, r) in bound {
        if let Some(r) = r
            && !still_there(resource, r)
        {
            return Err(TokenError::Invalidated(
                "service account token has been invalidated".into(),
            ));
        }
    }
    Ok(())
}

/// `ServiceAccountInfo.UserInfo()` plus `system:authenticated`.
fn user_info(claims: &Claims) -> UserInfo {
    let k = &claims.kubernetes;
    let ns = &k.namespace;
    let groups = vec![
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{ns}"),
    ];
    let mut user = UserInfo::authenticated(&username(ns, &k.serviceaccount.name), &groups);
    user.uid = k.serviceaccount.uid.clone();
    let mut extra = |key: &str, value: &str| {
        user.extra.insert(
            format!("authentication.kubernetes.io/{key}"),
            vec![value.to_string()],
        );
    };
    if let Some(pod) = k
        .pod
        .as_ref()
        .filter(|p| !p.name.is_empty() && !p.uid.is_empty())
    {
        extra("pod-name", &pod.name);
        extra("pod-uid", &pod.uid);
    }
    if !claims.jti.is_empty() {
        extra("credential-id", &format!("JTI={}", claims.jti));
    }
    if let Some(node) = k.node.as_ref().filter(|n| !n.name.is_empty()) {
        extra("node-name", &node.name);
        if !node.uid.is_empty() {
            extra("node-uid", &node.uid);
        }
    }
    user
}
