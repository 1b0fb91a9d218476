//! `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`: the
//! `authentication.k8s.io/v1` `TokenRequest` subresource, as
//! `pkg/registry/core/serviceaccount/storage/token.go` serves it (what
//! `kubectl create token` and the kubelet call).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hyper::{HeaderMap, Response};
use serde_json::{Value, json};

use super::{BoundObjects, TokenSpec, node_of, uid_of};
use crate::apiserver::Shared;
use crate::apiserver::http_io::{self, Body};
use crate::apiserver::protobuf;
use crate::apiserver::request_info::RequestInfo;
use crate::apiserver::resources;
use crate::apiserver::status::ApiError;
use crate::apiserver::timestamps::format_rfc3339;

/// `spec.expirationSeconds` when unset (v1 defaulting).
pub const DEFAULT_EXPIRATION_SECS: i64 = 3600;
/// The shortest token the apiserver issues.
pub const MIN_EXPIRATION_SECS: i64 = 600;
/// The longest (`1 << 32` seconds).
pub const MAX_EXPIRATION_SECS: i64 = 1 << 32;

const GROUP: &str = "authentication.k8s.io";
const KIND: &str = "TokenRequest";

/// Whether the request is for `serviceaccounts/token`.
pub fn is_token_request(info: &RequestInfo) -> bool {
    info.is_resource
        && info.api_group.is_empty()
        && info.resource == "serviceaccounts"
        && info.subresource == "token"
}

/// `TokenRequest.authentication.k8s.io "<name>" is invalid: <field>: Invalid value: <value>: <detail>`.
fn invalid(name: &str, field: &str, value: &Value, detail: &str) -> ApiError {
    let cause = format!("Invalid value: {value}: {detail}");
    ApiError::new(
        422,
        "Invalid",
        format!("{KIND}.{GROUP} {name:?} is invalid: {field}: {cause}"),
    )
    .with_details(json!({
        "name": name,
        "group": GROUP,
        "kind": KIND,
        "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": field}],
    }))
}

fn body_json(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let decoded = if ct.split(';').next().unwrap_or("").trim() == protobuf::CONTENT_TYPE {
        protobuf::decode_object(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice::<Value>(body).map_err(|e| e.to_string())
    };
    let obj = decoded.map_err(|e| {
        ApiError::bad_request(format!(
            "Object '{KIND}' is invalid: couldn't decode body: {e}"
        ))
    })?;
    if !obj.is_object() {
        return Err(ApiError::bad_request(format!(
            "Object '{KIND}' is invalid: expected a JSON object"
        )));
    }
    if let Some(kind) = obj["kind"].as_str().filter(|k| !k.is_empty() && *k != KIND) {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({KIND})"
        )));
    }
    Ok(obj)
}

/// Serves a `TokenRequest` (201 with `status.token`).
pub fn handle(
    shared: &Arc<Shared>,
    info: &RequestInfo,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response<Body>, ApiError> {
    if info.verb != "create" {
        return Err(ApiError::method_not_allowed());
    }
    let (namespace, name) = (info.namespace.as_str(), info.name.as_str());
    if namespace.is_empty() {
        return Err(ApiError::bad_request("namespace is required"));
    }
    let mut req = body_json(headers, body)?;
    let meta = &req["metadata"];
    let body_name = meta["name"].as_str().unwrap_or("");
    if !body_name.is_empty() && body_name != name {
        return Err(invalid(
            name,
            "metadata.name",
            &json!(body_name),
            "must match the service account name if specified",
        ));
    }
    let body_ns = meta["namespace"].as_str().unwrap_or("");
    if !body_ns.is_empty() && body_ns != namespace {
        return Err(invalid(
            name,
            "metadata.namespace",
            &json!(body_ns),
            "must match the service account namespace if specified",
        ));
    }
    let store = &shared.store;
    let sa_type = resources::find("", "v1", "serviceaccounts").expect("serviceaccounts");
    let sa = store
        .get_in(sa_type, namespace, name)
        .ok_or_else(|| ApiError::not_found(sa_type, name))?;

    let issuer = &shared.service_accounts;
    let spec = &req["spec"];
    let mut audiences: Vec<String> = spec["audiences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if audiences.is_empty() {
        audiences = issuer.api_audiences().to_vec();
    }
    let expiration = match &spec["expirationSeconds"] {
        Value::Null => DEFAULT_EXPIRATION_SECS,
        v => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| invalid("", "spec.expirationSeconds", v, "must be an integer"))?,
    };
    if expiration < MIN_EXPIRATION_SECS {
        return Err(invalid(
            "",
            "spec.expirationSeconds",
            &json!(expiration),
            "may not specify a duration less than 10 minutes",
        ));
    }
    if expiration > MAX_EXPIRATION_SECS {
        return Err(invalid(
            "",
            "spec.expirationSeconds",
            &json!(expiration),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    let bound = bound_objects(shared, namespace, name, &spec["boundObjectRef"])?;

    let now = SystemTime::now();
    let token_spec = TokenSpec {
        service_account: &sa,
        audiences: &audiences,
        ttl: Duration::from_secs(expiration.unsigned_abs()),
        now,
        bound,
    };
    let issued = issuer
        .issue(&token_spec)
        .map_err(|e| ApiError::internal(format!("failed to generate token: {e}")))?;

    // The response is the request, completed (`out := req.DeepCopy()`).
    req["kind"] = json!(KIND);
    req["apiVersion"] = json!(format!("{GROUP}/v1"));
    if !req["metadata"].is_object() {
        req["metadata"] = json!({});
    }
    req["metadata"]["name"] = json!(name);
    req["metadata"]["namespace"] = json!(namespace);
    req["metadata"]["creationTimestamp"] = json!(format_rfc3339(now));
    if !req["spec"].is_object() {
        req["spec"] = json!({});
    }
    req["spec"]["audiences"] = json!(audiences);
    req["spec"]["expirationSeconds"] = json!(expiration);
    if req["spec"]["boundObjectRef"].is_null()
        && let Some(spec) = req["spec"].as_object_mut()
    {
        spec.remove("boundObjectRef");
    }
    req["status"] = json!({
        "token": issued.token,
        "expirationTimestamp": format_rfc3339(now + token_spec.ttl),
    });
    Ok(http_io::json(201, &req))
}

/// Resolves `spec.boundObjectRef` (Pod or Secret in the namespace).
fn bound_objects(
    shared: &Shared,
    namespace: &str,
    sa_name: &str,
    reference: &Value,
) -> Result<BoundObjects, ApiError> {
    if !reference.is_object() {
        return Ok(BoundObjects::default());
    }
    let s = |k: &str| reference[k].as_str().unwrap_or("").to_string();
    let (api_version, kind, name, want_uid) = (s("apiVersion"), s("kind"), s("name"), s("uid"));
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let plural = match (group, kind.as_str()) {
        ("", "Pod") => "pods",
        ("", "Secret") => "secrets",
        _ => {
            let version = api_version.rsplit('/').next().unwrap_or("");
            return Err(ApiError::bad_request(format!(
                "cannot bind token to object of type {group}/{version}, Kind={kind}"
            )));
        }
    };
    let rt = resources::find("", "v1", plural).expect("pods and secrets are served");
    let obj = shared
        .store
        .get_in(rt, namespace, &name)
        .ok_or_else(|| ApiError::not_found(rt, &name))?;
    let uid = uid_of(&obj);
    let mut bound = BoundObjects::default();
    if plural == "pods" {
        let runs_as = obj["spec"]["serviceAccountName"].as_str().unwrap_or("");
        if runs_as != sa_name {
            return Err(ApiError::bad_request(format!(
                "cannot bind token for serviceaccount {sa_name:?} to pod running with different serviceaccount name."
            )));
        }
        bound.pod = Some((name.clone(), uid.clone()));
        bound.node = node_of(&obj);
    } else {
        bound.secret = Some((name.clone(), uid.clone()));
    }
    if !want_uid.is_empty() && want_uid != uid {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {kind} {name:?}: the UID in the bound object reference ({want_uid}) does not match the UID in record. The object might have been deleted and then recreated"
            ),
        )
        .with_details(json!({"name": name, "kind": kind})));
    }
    Ok(bound)
}
