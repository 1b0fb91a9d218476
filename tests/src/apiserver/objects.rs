//! The REST handlers for stored resources: list, get, create, update,
//! patch, delete, deletecollection, watch, and the `status` and `scale`
//! subresources; plus the create-only review resources.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hyper::{HeaderMap, Response};
use serde_json::{Value, json};

use super::Shared;
use super::field_validation::{self, FieldValidation};
use super::http_io::{self, Body};
use super::identity::UserInfo;
use super::patch::{self, PatchType};
use super::query::Query;
use super::request_info::RequestInfo;
use super::resources::ResourceType;
use super::reviews;
use super::selectors::{FieldSelector, LabelSelector};
use super::status::{self, ApiError};
use super::store::{StoreError, name_of, namespace_of};
use super::table::{self, IncludeObject};
use super::watch::{self, WatchRequest};

/// One resource request, body already read.
pub struct ObjectRequest<'a> {
    /// Shared server state.
    pub shared: &'a Arc<Shared>,
    /// The parsed request.
    pub info: &'a RequestInfo,
    /// The resource type.
    pub rt: &'static ResourceType,
    /// Query parameters.
    pub query: &'a Query,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The request body.
    pub body: Bytes,
    /// The effective user.
    pub user: &'a UserInfo,
}

impl ObjectRequest<'_> {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn namespace(&self) -> Option<&str> {
        (self.rt.namespaced && !self.info.namespace.is_empty())
            .then_some(self.info.namespace.as_str())
    }

    fn dry_run(&self) -> Result<bool, ApiError> {
        match self.query.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid dry run directive: {other:?}; supported values: [All]"
            ))),
        }
    }

    fn table(&self) -> Option<IncludeObject> {
        table::wants_table(self.header("accept"))
            .then(|| IncludeObject::parse(self.query.get("includeObject")))
    }

    fn json_body(&self) -> Result<Value, ApiError> {
        let ct = self.header("content-type");
        if ct.split(';').next().unwrap_or("").trim() == super::protobuf::CONTENT_TYPE {
            return super::protobuf::decode_object(&self.body).map_err(|e| {
                ApiError::bad_request(format!(
                    "Object '{}' is invalid: couldn't decode protobuf body: {e}",
                    self.rt.kind
                ))
            });
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::bad_request(format!(
                "Object '{}' is invalid: couldn't decode body as JSON: {e}",
                self.rt.kind
            ))
        })
    }

    fn labels(&self) -> Result<LabelSelector, ApiError> {
        LabelSelector::parse(self.query.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.to_string()))
    }

    fn fields(&self) -> Result<FieldSelector, ApiError> {
        FieldSelector::parse(self.query.get("fieldSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.to_string()))
    }
}

/// Adds `Warning` headers (RFC 7234 `299 - "<text>"`).
fn with_warnings(mut resp: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        let v = format!("299 - {w:?}");
        if let Ok(v) = hyper::header::HeaderValue::from_str(&v) {
            resp.headers_mut().append("warning", v);
        }
    }
    resp
}

/// Dispatches a resource request.
pub async fn handle(req: ObjectRequest<'_>) -> Result<Response<Body>, ApiError> {
    let info = req.info;
    let rt = req.rt;
    if rt.namespaced && info.namespace.is_empty() && !matches!(info.verb.as_str(), "list" | "watch")
    {
        return Err(ApiError::path_not_found());
    }
    if !rt.namespaced && !info.namespace.is_empty() && rt.kind != "Namespace" {
        return Err(ApiError::path_not_found());
    }
    if !info.subresource.is_empty() {
        let sub = rt
            .subresource(&info.subresource)
            .ok_or_else(ApiError::path_not_found)?;
        if !sub.verbs.contains(&info.verb.as_str()) {
            return Err(ApiError::method_not_allowed());
        }
        return match sub.name {
            "scale" => scale(&req).await,
            _ => status_like(&req).await,
        };
    }
    if !rt.supports(&info.verb) {
        return Err(ApiError::method_not_allowed());
    }
    if !rt.stored {
        return review(&req);
    }
    match info.verb.as_str() {
        "list" => list(&req),
        "watch" => watch(&req),
        "get" => get(&req),
        "create" => create(&req),
        "update" => update(&req),
        "patch" => patch_object(&req).await,
        "delete" => delete(&req),
        "deletecollection" => delete_collection(&req),
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn review(req: &ObjectRequest<'_>) -> Result<Response<Body>, ApiError> {
    let body = req.json_body()?;
    let out = match req.rt.kind {
        "SelfSubjectAccessReview" => {
            reviews::self_subject_access_review(&body, req.user, &req.shared.authorizer)?
        }
        _ => reviews::self_subject_review(req.user),
    };
    Ok(http_io::json(201, &out))
}

fn strip_type(mut obj: Value) -> Value {
    if let Some(m) = obj.as_object_mut() {
        m.remove("kind");
        m.remove("apiVersion");
    }
    obj
}

fn list(req: &ObjectRequest<'_>) -> Result<Response<Body>, ApiError> {
    let labels = req.labels()?;
    let fields = req.fields()?;
    let (rv, items) = req.shared.store.list_in(req.rt, req.namespace());
    let items: Vec<Value> = items
        .into_iter()
        .filter(|o| labels.matches(o["metadata"].get("labels")) && fields.matches(o))
        .collect();
    let rv = rv.to_string();
    let body = match req.table() {
        Some(include) => table::table(req.rt, &items, &rv, include, SystemTime::now()),
        None => json!({
            "kind": format!("{}List", req.rt.kind),
            "apiVersion": req.rt.api_version(),
            "metadata": {"resourceVersion": rv},
            "items": items.into_iter().map(strip_type).collect::<Vec<_>>(),
        }),
    };
    Ok(http_io::json(200, &body))
}

fn watch(req: &ObjectRequest<'_>) -> Result<Response<Body>, ApiError> {
    let from = match req.query.get("resourceVersion") {
        None | Some("") | Some("0") => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {v:?}")))?,
        ),
    };
    let timeout = match req.query.get("timeoutSeconds") {
        Some(s) => Duration::from_secs(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {s:?}")))?,
        ),
        None => watch::DEFAULT_TIMEOUT,
    };
    let send_initial_events = req.query.flag("sendInitialEvents");
    let wreq = WatchRequest {
        resource: req.rt,
        namespace: req.namespace().map(str::to_string),
        from: if send_initial_events { None } else { from },
        timeout,
        bookmarks: req.query.flag("allowWatchBookmarks"),
        send_initial_events,
        labels: req.labels()?,
        fields: req.fields()?,
        table: req.table(),
    };
    let shared = req.shared;
    let body = watch::start(
        &shared.store,
        wreq,
        shared.watches.clone(),
        shared.bookmark_interval,
        shared.shutdown.clone(),
    );
    use http_body_util::BodyExt;
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(body.boxed_unsync())
        .expect("valid response"))
}

fn get(req: &ObjectRequest<'_>) -> Result<Response<Body>, ApiError> {
    let obj = req
        .shared
        .store
        .get_in(req.rt, &req.info.namespace, &req.info.name)
        .ok_or_else(|| ApiError::not_found(req.rt, &req.info.name))?;
    let body = match req.table() {
        Some(include) => table::table(
            req.rt,
            std::slice::from_ref(&obj),
            obj["metadata"]["resourceVersion"].as_str().unwrap_or(""),
            include,
            SystemTime::now(),
        ),
        None => obj,
    };
    Ok(http_io::json(200, &body))
}

fn check_namespace(req: &ObjectRequest<'_>, obj: &Value) -> Result<(), ApiError> {
    let body_ns = namespace_of(obj);
    if req.rt.namespaced && !body_ns.is_empty() && body_ns != req.info.namespace {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(())
}

fn check_kind(req: &ObjectRequest<'_>, obj: &Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(format!(
            "Object '{}' is invalid: expected a JSON object",
            req.rt.kind
        )));
    }
    if let Some(kind) = obj["kind"].as_str().filter(|k| !k.is_empty())
        && kind != req.rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            req.rt.kind
        )));
    }
    Ok(())
}

fn create(req: &ObjectRequest<'_>) -> Result<Response<Body>, ApiError> {
    let obj = req.json_body()?;
    check_kind(req, &obj)?;
    check_namespace(req, &obj)?;
    let directive = FieldValidation::parse(req.query.get("fieldValidation"))?;
    let warnings = field_validation::check(req.rt, &obj, directive)?;
    let created = req
        .shared
        .store
        .create_in(req.rt, req.namespace(), obj, req.dry_run()?)?;
    Ok(with_warnings(http_io::json(201, &created), &warnings))
}

fn update(req: &ObjectRequest<'_>) -> Result<Response<Body>, ApiError> {
    let obj = req.json_body()?;
    check_kind(req, &obj)?;
    check_namespace(req, &obj)?;
    let body_name = name_of(&obj);
    if !body_name.is_empty() && body_name != req.info.name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            req.info.name
        )));
    }
    let directive = FieldValidation::parse(req.query.get("fieldValidation"))?;
    let warnings = field_validation::check(req.rt, &obj, directive)?;
    let updated = req.shared.store.update_in(
        req.rt,
        &req.info.namespace,
        &req.info.name,
        obj,
        req.dry_run()?,
    )?;
    Ok(with_warnings(http_io::json(200, &updated), &warnings))
}

/// Applies a patch document of `ptype` to `current`.
pub fn apply_patch(ptype: PatchType, current: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let decode = |e: String| ApiError::bad_request(patch::PatchError::Decode(e).to_string());
    let mut out = current.clone();
    match ptype {
        PatchType::Apply => {
            let text = std::str::from_utf8(body).map_err(|e| decode(e.to_string()))?;
            let doc: Value = serde_saphyr::from_str(text).map_err(|e| decode(e.to_string()))?;
            patch::merge_patch(&mut out, &strip_nulls(doc));
        }
        PatchType::Json => {
            let doc: Value = serde_json::from_slice(body).map_err(|e| decode(e.to_string()))?;
            patch::json_patch(&mut out, &doc).map_err(|e| match e {
                patch::PatchError::TestFailed { .. } => {
                    ApiError::new(422, "Invalid", e.to_string())
                }
                other => ApiError::new(422, "Invalid", other.to_string()),
            })?;
        }
        PatchType::Merge => {
            let doc: Value = serde_json::from_slice(body).map_err(|e| decode(e.to_string()))?;
            patch::merge_patch(&mut out, &doc);
        }
        PatchType::Strategic => {
            let doc: Value = serde_json::from_slice(body).map_err(|e| decode(e.to_string()))?;
            patch::strategic_merge_patch(&mut out, &doc);
        }
    }
    Ok(out)
}

/// Apply configurations cannot delete by `null`; drop them.
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

fn patch_type(req: &ObjectRequest<'_>) -> Result<PatchType, ApiError> {
    let ct = req.header("content-type");
    PatchType::from_content_type(ct).ok_or_else(|| ApiError::unsupported_media_type(ct))
}

async fn patch_object(req: &ObjectRequest<'_>) -> Result<Response<Body>, ApiError> {
    let ptype = patch_type(req)?;
    let dry_run = req.dry_run()?;
    let directive = FieldValidation::parse(req.query.get("fieldValidation"))?;
    let store = &req.shared.store;
    if ptype == PatchType::Apply && req.query.get("fieldManager").unwrap_or("").is_empty() {
        return Err(ApiError::new(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    }
    // Optimistic concurrency as in the apiserver: retry when another
    // writer got in between our read and write.
    for _ in 0..5 {
        let current = match store.get_in(req.rt, &req.info.namespace, &req.info.name) {
            Some(c) => c,
            None if ptype == PatchType::Apply => {
                let obj = apply_patch(ptype, &json!({}), &req.body)?;
                check_kind(req, &obj)?;
                check_namespace(req, &obj)?;
                let warnings = field_validation::check(req.rt, &obj, directive)?;
                let mut obj = obj;
                obj["metadata"]["name"] = json!(req.info.name);
                let created = store.create_in(req.rt, req.namespace(), obj, dry_run)?;
                return Ok(with_warnings(http_io::json(201, &created), &warnings));
            }
            None => return Err(ApiError::not_found(req.rt, &req.info.name)),
        };
        let patched = apply_patch(ptype, &current, &req.body)?;
        check_kind(req, &patched)?;
        let warnings = field_validation::check(req.rt, &patched, directive)?;
        let client_rv =
            patched["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"];
        match store.update_in(
            req.rt,
            &req.info.namespace,
            &req.info.name,
            patched,
            dry_run,
        ) {
            Ok(updated) => return Ok(with_warnings(http_io::json(200, &updated), &warnings)),
            Err(StoreError::Conflict { .. }) if !client_rv => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(req.rt, &req.info.name))
}

fn delete_response(rt: &ResourceType, mut deleted: Value) -> Value {
    match rt.kind {
        // These return the object, marked for deletion.
        "Namespace" | "Pod" => {
            deleted["metadata"]["deletionTimestamp"] =
                json!(super::timestamps::format_rfc3339(SystemTime::now()));
            if rt.kind == "Namespace" {
                deleted["status"]["phase"] = json!("Terminating");
            } else {
                deleted["metadata"]["deletionGracePeriodSeconds"] = json!(30);
            }
            deleted
        }
        _ => status::success(rt, name_of(&deleted), deleted["metadata"]["uid"].as_str()),
    }
}

fn delete(req: &ObjectRequest<'_>) -> Result<Response<Body>, ApiError> {
    let store = &req.shared.store;
    let current = store
        .get_in(req.rt, &req.info.namespace, &req.info.name)
        .ok_or_else(|| ApiError::not_found(req.rt, &req.info.name))?;
    if !req.body.is_empty() {
        let opts: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let pre = &opts["preconditions"];
        for (field, label) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
            if let Some(want) = pre[field].as_str() {
                let have = current["metadata"][field].as_str().unwrap_or("");
                if want != have {
                    return Err(ApiError::new(
                        409,
                        "Conflict",
                        format!(
                            "Operation cannot be fulfilled on {} \"{}\": Precondition failed: {label} in precondition: {want}, {label} in object meta: {have}",
                            req.rt.qualified(),
                            req.info.name
                        ),
                    )
                    .with_details(status::details(req.rt, &req.info.name)));
                }
            }
        }
    }
    let deleted = store.delete_in(req.rt, &req.info.namespace, &req.info.name, req.dry_run()?)?;
    Ok(http_io::json(200, &delete_response(req.rt, deleted)))
}

fn delete_collection(req: &ObjectRequest<'_>) -> Result<Response<Body>, ApiError> {
    let labels = req.labels()?;
    let fields = req.fields()?;
    let dry_run = req.dry_run()?;
    let store = &req.shared.store;
    let (_, items) = store.list_in(req.rt, req.namespace());
    let mut deleted = Vec::new();
    for obj in items
        .into_iter()
        .filter(|o| labels.matches(o["metadata"].get("labels")) && fields.matches(o))
    {
        match store.delete_in(req.rt, namespace_of(&obj), name_of(&obj), dry_run) {
            Ok(d) => deleted.push(strip_type(d)),
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let body = json!({
        "kind": format!("{}List", req.rt.kind),
        "apiVersion": req.rt.api_version(),
        "metadata": {"resourceVersion": store.resource_version().to_string()},
        "items": deleted,
    });
    Ok(http_io::json(200, &body))
}

/// `status` (and `finalize`): read the object; writes change only the
/// subresource's part of it.
async fn status_like(req: &ObjectRequest<'_>) -> Result<Response<Body>, ApiError> {
    let store = &req.shared.store;
    let current = store
        .get_in(req.rt, &req.info.namespace, &req.info.name)
        .ok_or_else(|| ApiError::not_found(req.rt, &req.info.name))?;
    let field = if req.info.subresource == "finalize" {
        "spec"
    } else {
        "status"
    };
    let incoming = match req.info.verb.as_str() {
        "get" => return Ok(http_io::json(200, &current)),
        "update" => req.json_body()?,
        "patch" => apply_patch(patch_type(req)?, &current, &req.body)?,
        _ => return Err(ApiError::method_not_allowed()),
    };
    let mut next = current.clone();
    next[field] = incoming[field].clone();
    if let Some(rv) = incoming["metadata"]["resourceVersion"].as_str() {
        next["metadata"]["resourceVersion"] = json!(rv);
    }
    let updated = store.update_in(
        req.rt,
        &req.info.namespace,
        &req.info.name,
        next,
        req.dry_run()?,
    )?;
    Ok(http_io::json(200, &updated))
}

fn scale_of(obj: &Value) -> Value {
    let labels = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let meta = &obj["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"]["replicas"]},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": labels},
    })
}

/// `deployments/scale`: an `autoscaling/v1` `Scale` view of `spec.replicas`.
async fn scale(req: &ObjectRequest<'_>) -> Result<Response<Body>, ApiError> {
    let store = &req.shared.store;
    let current = store
        .get_in(req.rt, &req.info.namespace, &req.info.name)
        .ok_or_else(|| ApiError::not_found(req.rt, &req.info.name))?;
    let view = scale_of(&current);
    let wanted = match req.info.verb.as_str() {
        "get" => return Ok(http_io::json(200, &view)),
        "update" => req.json_body()?,
        "patch" => apply_patch(patch_type(req)?, &view, &req.body)?,
        _ => return Err(ApiError::method_not_allowed()),
    };
    let replicas = wanted["spec"]["replicas"].as_i64().ok_or_else(|| {
        ApiError::invalid(req.rt, &req.info.name, "spec.replicas", "Required value")
    })?;
    let mut next = current.clone();
    next["spec"]["replicas"] = json!(replicas);
    let updated = store.update_in(
        req.rt,
        &req.info.namespace,
        &req.info.name,
        next,
        req.dry_run()?,
    )?;
    Ok(http_io::json(200, &scale_of(&updated)))
}
