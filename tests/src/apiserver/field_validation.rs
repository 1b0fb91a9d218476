//! Server-side field validation (`fieldValidation=Strict|Warn|Ignore`):
//! unknown fields found by walking the object against the API's protobuf
//! message descriptors (the complete field lists of the built-in kinds).

use serde_json::Value;

use super::protobuf;
use super::resources::ResourceType;
use super::status::ApiError;

/// The `fieldValidation` directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    Ignore,
    /// Accept, with a `Warning` header per unknown field (the default).
    Warn,
    /// Reject with 400 BadRequest.
    Strict,
}

impl FieldValidation {
    /// Reads the query parameter.
    pub fn parse(v: Option<&str>) -> Result<FieldValidation, ApiError> {
        match v {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid field validation directive: {other}"
            ))),
        }
    }
}

/// Unknown fields of `obj` (paths like `spec.foo`), in document order.
pub fn unknown_fields(rt: &ResourceType, obj: &Value) -> Vec<String> {
    protobuf::unknown_fields(&rt.api_version(), rt.kind, obj).unwrap_or_default()
}

/// Applies the directive: `Err` for Strict with unknown fields, else the
/// warnings to send (empty for Ignore).
pub fn check(
    rt: &ResourceType,
    obj: &Value,
    directive: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    if directive == FieldValidation::Ignore {
        return Ok(Vec::new());
    }
    let unknown = unknown_fields(rt, obj);
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    let listed: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field {f:?}"))
        .collect();
    match directive {
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
            listed.join(", "),
            kind = rt.kind,
            version = rt.version,
        ))),
        _ => Ok(listed),
    }
}
