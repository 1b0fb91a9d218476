//! Method + path (+ query, upgrade) → Kubernetes `RequestInfo`, mirroring
//! kube-apiserver's `RequestInfoFactory.NewRequestInfo`
//! (k8s.io/apiserver pkg/endpoints/request/requestinfo.go) with
//! `APIPrefixes = {api, apis}` and `GrouplessAPIPrefixes = {api}`, so the
//! gateway authorizes exactly what the cluster's authorizer would see.

use crate::path_encoding::percent_decode;

/// What the apiserver's authorizer sees of a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// An API object request (`/api`, `/apis`), not a non-resource URL.
    pub is_resource_request: bool,
    /// The URL path (percent-decoded, like Go's `URL.Path`), no query.
    pub path: String,
    /// Kubernetes verb for resource requests; lower-case HTTP method otherwise.
    pub verb: String,
    /// `api` or `apis`.
    pub api_prefix: String,
    /// The API group (empty for the core group).
    pub api_group: String,
    /// The API version.
    pub api_version: String,
    /// The namespace (empty when cluster-scoped).
    pub namespace: String,
    /// The resource (plural).
    pub resource: String,
    /// The subresource (`log`, `exec`, `scale`…).
    pub subresource: String,
    /// The object's name (empty for collections).
    pub name: String,
}

/// The one request shape the apiserver refuses to parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestInfoError {
    /// `/api/v1/watch` or `/api/v1/proxy` with nothing after the verb.
    #[error("unable to determine kind and namespace from url {0:?}")]
    NoKind(String),
}

/// `specialVerbs`: verbs carried in the path (deprecated forms).
const SPECIAL_VERBS: [&str; 2] = ["proxy", "watch"];
/// `namespaceSubresources`: `/namespaces/<ns>/status` is the namespace's.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];
/// Pod subresources whose upgrade (WebSocket/SPDY GET) is authorized as
/// `create` (KEP-4006, `AuthorizePodWebsocketUpgradeCreatePermission`).
const CONNECT_SUBRESOURCES: [&str; 3] = ["exec", "attach", "portforward"];

/// Parse a request. `upgrade`: the request asks for a protocol upgrade
/// (`Upgrade:` header, WebSocket or SPDY).
pub fn parse(
    method: &str,
    path_and_query: &str,
    upgrade: bool,
) -> Result<RequestInfo, RequestInfoError> {
    let (raw_path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path_and_query, ""),
    };
    let path = percent_decode(raw_path);

    // start with a non-resource request until proven otherwise
    let mut info = RequestInfo {
        is_resource_request: false,
        path: path.to_string(),
        ..RequestInfo::default()
    };
    let non_resource = |mut info: RequestInfo| {
        info.verb = method.to_ascii_lowercase();
        Ok(info)
    };

    let trimmed = path.trim_matches('/');
    let all: Vec<&str> = if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    };
    // the parts not consumed yet (a slice: no shifting, no copies)
    let mut parts: &[&str] = &all;
    if parts.len() < 3 {
        return non_resource(info);
    }
    let prefix = parts[0];
    if prefix != "api" && prefix != "apis" {
        return non_resource(info);
    }
    parts = &parts[1..];
    if prefix == "apis" {
        // one part (APIPrefix) has already been consumed, so this is
        // actually "do we have four parts?"
        if parts.len() < 3 {
            return non_resource(info);
        }
        info.api_group = parts[0].to_string();
        parts = &parts[1..];
    }
    info.api_prefix = prefix.to_string();
    info.is_resource_request = true;
    info.api_version = parts[0].to_string();
    parts = &parts[1..];

    // handle input of form /{specialVerb}/*
    let mut verb: &'static str = match SPECIAL_VERBS.iter().find(|v| **v == parts[0]) {
        Some(special) => {
            if parts.len() < 2 {
                return Err(RequestInfoError::NoKind(path_and_query.to_string()));
            }
            parts = &parts[1..];
            special
        }
        None => match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        },
    };

    // URL forms: /namespaces/{namespace}/{kind}/*, where parts are adjusted
    // to be relative to kind
    if parts[0] == "namespaces" && parts.len() > 1 {
        info.namespace = parts[1].to_string();
        // another step that is not a namespace subresource is a resource
        // in its own right
        if parts.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&parts[2]) {
            parts = &parts[2..];
        }
    }

    // parts look like: resource/resourceName/subresource/other/stuff
    if parts.len() >= 3 && verb != "proxy" {
        info.subresource = parts[2].to_string();
    }
    if parts.len() >= 2 {
        info.name = parts[1].to_string();
    }
    if !parts.is_empty() {
        info.resource = parts[0].to_string();
    }

    // no name and a get: the actual verb is list or watch
    if info.name.is_empty() && verb == "get" {
        let watch = query_value(query, "watch")
            .is_some_and(|v| !(v == "0" || v.eq_ignore_ascii_case("false")));
        verb = if watch { "watch" } else { "list" };
        // fieldSelector=metadata.name=<n> names the object
        if let Some(name) = query_value(query, "fieldSelector").and_then(|s| exact_name(&s)) {
            info.name = name;
        }
    }
    // no name and a delete: deletecollection
    if info.name.is_empty() && verb == "delete" {
        verb = "deletecollection";
    }

    // A WebSocket/SPDY upgrade to exec/attach/portforward arrives as GET;
    // the apiserver also requires `create` for it, so the gateway
    // authorizes it as `create`.
    if upgrade
        && verb == "get"
        && info.api_group.is_empty()
        && info.resource == "pods"
        && CONNECT_SUBRESOURCES.contains(&info.subresource.as_str())
    {
        verb = "create";
    }
    info.verb = verb.to_string();
    Ok(info)
}

/// First value of `key` in a query string, form-decoded.
fn query_value(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        // decode (allocate) only keys that need it
        let matches = if k.contains(['%', '+']) {
            form_decode(k) == key
        } else {
            k == key
        };
        matches.then(|| form_decode(v))
    })
}

fn form_decode(s: &str) -> String {
    if s.contains('+') {
        percent_decode(&s.replace('+', " ")).into_owned()
    } else {
        percent_decode(s).into_owned()
    }
}

/// `fields.Selector.RequiresExactMatch("metadata.name")` plus
/// `path.IsValidPathSegmentName`.
fn exact_name(selector: &str) -> Option<String> {
    // A term without an operator makes the whole selector invalid, and an
    // invalid selector names nothing.
    if selector.split(',').any(|term| {
        let term = term.trim();
        term.find('=')
            .is_none_or(|i| i == 0 || term[..i].trim_end_matches('!').is_empty())
    }) {
        return None;
    }
    selector.split(',').find_map(|term| {
        let term = term.trim();
        let value = term
            .strip_prefix("metadata.name==")
            .or_else(|| term.strip_prefix("metadata.name="))?;
        let valid = !value.is_empty()
            && value != "."
            && value != ".."
            && !value.contains('/')
            && !value.contains('%');
        valid.then(|| value.to_string())
    })
}

#[cfg(test)]
mod tests;
