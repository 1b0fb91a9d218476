//! `SelfSubjectAccessReview` (answered by the authorizer for the effective
//! identity) and `SelfSubjectReview` (the effective identity itself).

use serde_json::{Value, json};

use super::authz::{Attributes, Authorizer, Decision};
use super::identity::UserInfo;
use super::status::ApiError;

/// Answers a `SelfSubjectAccessReview` body.
pub fn self_subject_access_review(
    body: &Value,
    user: &UserInfo,
    authorizer: &Authorizer,
) -> Result<Value, ApiError> {
    let spec = &body["spec"];
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let (is_resource, verb, group, resource, subresource, namespace, name, path) = if let Some(ra) =
        spec.get("resourceAttributes").filter(|v| v.is_object())
    {
        (
            true,
            s(&ra["verb"]),
            s(&ra["group"]),
            s(&ra["resource"]),
            s(&ra["subresource"]),
            s(&ra["namespace"]),
            s(&ra["name"]),
            String::new(),
        )
    } else if let Some(nra) = spec.get("nonResourceAttributes").filter(|v| v.is_object()) {
        let empty = String::new;
        (
            false,
            s(&nra["verb"]),
            empty(),
            empty(),
            empty(),
            empty(),
            empty(),
            s(&nra["path"]),
        )
    } else {
        return Err(ApiError::invalid(
            super::resources::find("authorization.k8s.io", "v1", "selfsubjectaccessreviews")
                .expect("ssar"),
            "",
            "spec.resourceAttributes",
            "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    };
    let attrs = Attributes {
        user,
        verb: &verb,
        is_resource,
        api_group: &group,
        resource: &resource,
        subresource: &subresource,
        namespace: &namespace,
        name: &name,
        path: &path,
    };
    let status = match authorizer.decide(&attrs) {
        Decision::Allow(reason) => json!({"allowed": true, "reason": reason}),
        Decision::Deny => json!({"allowed": false}),
    };
    let mut out = body.clone();
    out["kind"] = json!("SelfSubjectAccessReview");
    out["apiVersion"] = json!("authorization.k8s.io/v1");
    if !out["metadata"].is_object() {
        out["metadata"] = json!({});
    }
    out["metadata"]["creationTimestamp"] = Value::Null;
    out["status"] = status;
    Ok(out)
}

/// Answers a `SelfSubjectReview`.
pub fn self_subject_review(user: &UserInfo) -> Value {
    json!({
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "status": {"userInfo": user.to_json()},
    })
}
