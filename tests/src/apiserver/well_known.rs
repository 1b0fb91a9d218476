//! ServiceAccount issuer discovery: `/.well-known/openid-configuration` and
//! `/openid/v1/jwks`. Not served yet (404, like a cluster whose issuer
//! discovery is disabled); phase 3 adds the issuer keys here.

use serde_json::Value;

use super::status::ApiError;

/// Paths this module owns.
pub fn owns(path: &str) -> bool {
    matches!(
        path,
        "/.well-known/openid-configuration" | "/openid/v1/jwks"
    )
}

/// The response body for an owned path.
pub fn handle(_path: &str) -> Result<Value, ApiError> {
    Err(ApiError::path_not_found())
}
