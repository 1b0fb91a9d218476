//! `SelfSubjectAccessReview` (answered by the same authorizer that decides
//! requests, for the effective identity: so a review for verb
//! `impersonate`, group `authentication.k8s.io`, resource `userextras`,
//! subresource `k` is allowed by a `userextras/k` rule and not by a
//! `userextras/*` one) and `SelfSubjectReview` (the effective identity
//! itself).

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
    // `SubjectAccessReviewStatus`: `reason` omitted when empty.
    let (allowed, reason) = match authorizer.decide(&attrs) {
        Decision::Allow(reason) => (true, reason),
        Decision::Deny(reason) => (false, reason),
    };
    let mut status = json!({ "allowed": allowed });
    if !reason.is_empty() {
        status["reason"] = json!(reason);
    }
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
