//! What a request asks for, parsed like the apiserver's `RequestInfoFactory`:
//! verb, API group and version, resource, subresource, namespace, name; or a
//! non-resource path.

use super::query::Query;

/// The parsed request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestInfo {
    /// Whether the path is a resource path (`/api/v1/...`, `/apis/g/v/...`
    /// with a resource) rather than a non-resource URL (`/version`, `/api`).
    pub is_resource: bool,
    /// Kubernetes verb: get, list, watch, create, update, patch, delete,
    /// deletecollection; for non-resource URLs the lower-case HTTP method.
    pub verb: String,
    /// The request path.
    pub path: String,
    /// API group (`""` for core).
    pub api_group: String,
    /// API version.
    pub api_version: String,
    /// Resource (plural).
    pub resource: String,
    /// Subresource, if any.
    pub subresource: String,
    /// Namespace, if any.
    pub namespace: String,
    /// Object name, if any (also taken from a `metadata.name=` field
    /// selector on list and watch, as the apiserver does for authorization).
    pub name: String,
}

impl RequestInfo {
    /// Parses `method` + `path` + query.
    pub fn parse(method: &str, path: &str, query: &Query) -> RequestInfo {
        let mut info = RequestInfo {
            path: path.to_string(),
            verb: method.to_ascii_lowercase(),
            ..RequestInfo::default()
        };
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let rest: &[&str] = match parts.as_slice() {
            ["api", version, rest @ ..] if !rest.is_empty() => {
                info.api_version = version.to_string();
                rest
            }
            ["apis", group, version, rest @ ..] if !rest.is_empty() => {
                info.api_group = group.to_string();
                info.api_version = version.to_string();
                rest
            }
            _ => return info,
        };
        info.is_resource = true;
        let mut rest = rest;
        // Legacy `/watch/` prefix.
        let mut watch_path = false;
        if rest.first() == Some(&"watch") {
            watch_path = true;
            rest = &rest[1..];
        }
        if rest.first() == Some(&"namespaces") && rest.len() > 1 {
            info.namespace = rest[1].to_string();
            if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
                rest = &rest[2..];
            }
        }
        info.resource = rest.first().unwrap_or(&"").to_string();
        if let Some(name) = rest.get(1) {
            info.name = name.to_string();
        }
        if let Some(sub) = rest.get(2) {
            info.subresource = sub.to_string();
        }
        let watch_param = matches!(query.get("watch"), Some("true" | "1"));
        info.verb = match method {
            "GET" | "HEAD" if watch_path || watch_param => "watch".into(),
            "GET" | "HEAD" if info.name.is_empty() => "list".into(),
            "GET" | "HEAD" => "get".into(),
            "POST" => "create".into(),
            "PUT" => "update".into(),
            "PATCH" => "patch".into(),
            "DELETE" if info.name.is_empty() => "deletecollection".into(),
            "DELETE" => "delete".into(),
            other => other.to_ascii_lowercase(),
        };
        if info.name.is_empty()
            && matches!(info.verb.as_str(), "list" | "watch")
            && let Some(selector) = query.get("fieldSelector")
        {
            for term in selector.split(',') {
                if let Some(name) = term.strip_prefix("metadata.name=") {
                    info.name = name.trim_start_matches('=').to_string();
                }
            }
        }
        info
    }
}
