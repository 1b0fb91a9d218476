//! `kubeplex webhook`'s decision: an `AdmissionReview` (v1) for a pod in,
//! the same mutation as `kubeplex inject` out, as a JSON Patch. Pure: the
//! HTTPS server and its certificate are in [`serve`].

pub mod json_patch;
pub mod serve;

#[cfg(test)]
mod tests;

use base64::Engine;
use serde_json::{Value, json};

use crate::inject::{InjectConfig, inject_object};

/// The answer to one `AdmissionReview` body (the whole review, as the
/// apiserver expects it back). A request that is not a review at all is
/// the only error: the caller answers it with HTTP 400.
pub fn review(body: &Value, config: &InjectConfig) -> Result<Value, ReviewError> {
    let request = body.get("request").ok_or(ReviewError::NoRequest)?;
    let uid = request["uid"].as_str().ok_or(ReviewError::NoRequest)?;
    let mut response = respond(request, config);
    response.insert("uid".to_string(), json!(uid));
    Ok(json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    }))
}

/// A body that is not an `AdmissionReview` with a request.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// No `request` or no `request.uid`.
    #[error("not an AdmissionReview with a request and its uid")]
    NoRequest,
}

/// The `response` without its uid.
fn respond(request: &Value, config: &InjectConfig) -> serde_json::Map<String, Value> {
    let allowed = |warning: Option<String>| {
        let mut r = json!({"allowed": true});
        if let Some(w) = warning {
            r["warnings"] = json!([w]);
        }
        r
    };
    let kind = &request["kind"];
    let is_pod = kind["group"] == "" && kind["version"] == "v1" && kind["kind"] == "Pod";
    let response = if !is_pod || request["operation"] != "CREATE" {
        // The configuration sends only pod creations; anything else passes.
        allowed(Some(format!(
            "kubeplex webhook: only pod creations are injected, not {} {}",
            request["operation"].as_str().unwrap_or("?"),
            kind["kind"].as_str().unwrap_or("?")
        )))
    } else {
        let original = with_request_identity(&request["object"], request);
        match inject_object(&original, config) {
            Ok(injected) => {
                let patch = json_patch::diff(&original, &injected);
                let mut r = allowed(None);
                if !patch.is_empty() {
                    let bytes = serde_json::to_vec(&patch).expect("a JSON value serializes");
                    r["patchType"] = json!("JSONPatch");
                    r["patch"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
                }
                r
            }
            // The pod asked for injection (its label or its namespace's);
            // admitting it without the sidecar would hand it another API.
            Err(refusal) => json!({
                "allowed": false,
                "status": {"code": 403, "reason": "Forbidden", "message": format!("kubeplex inject: {refusal}")},
            }),
        }
    };
    match response {
        Value::Object(map) => map,
        _ => unreachable!("built as an object"),
    }
}

/// The object with the request's namespace, and a name where the pod has
/// only `generateName` (controllers' pods), filled in for refusal messages.
/// The patch never touches either, so it applies to the object as sent.
fn with_request_identity(object: &Value, request: &Value) -> Value {
    let mut object = object.clone();
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return object;
    };
    if !metadata.contains_key("namespace")
        && let Some(ns) = request["namespace"].as_str()
    {
        metadata.insert("namespace".into(), json!(ns));
    }
    if !metadata.contains_key("name")
        && let Some(prefix) = metadata.get("generateName").and_then(Value::as_str)
    {
        let name = format!("{prefix}<generated>");
        metadata.insert("name".into(), json!(name));
    }
    object
}
