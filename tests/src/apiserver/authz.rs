//! Authorization: allow everything, or RBAC-like rules; denials carry the
//! apiserver's exact `Forbidden` message.

use serde_json::json;

use super::identity::UserInfo;
use super::status::ApiError;

/// The authorizer of a test cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Authorizer {
    /// Every authenticated request is allowed.
    #[default]
    AllowAll,
    /// Allowed when any rule matches. Every authenticated user may also read
    /// non-resource URLs (discovery, `/version`, OpenAPI) and create
    /// `selfsubjectaccessreviews` and `selfsubjectreviews`, as the default
    /// `system:discovery` / `system:basic-user` roles grant.
    Rules(Vec<AuthzRule>),
}

/// One allow rule. Lists name what matches; `"*"` matches anything.
///
/// - `users` / `groups`: the subjects (either may match);
/// - `verbs`: `get`, `list`, `watch`, `create`, `update`, `patch`,
///   `delete`, `deletecollection`, `impersonate`, ...;
/// - `api_groups`: empty means any group;
/// - `resources`: `configmaps`, `pods/log`, `pods/*`, `*`;
/// - `resource_names`: empty means any name;
/// - `namespaces`: empty means every namespace and the cluster scope (like
///   a ClusterRoleBinding); otherwise only those namespaces (like
///   RoleBindings);
/// - `non_resource_urls`: paths, `/foo/*` prefixes, or `*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthzRule {
    /// Users the rule applies to.
    pub users: Vec<String>,
    /// Groups the rule applies to.
    pub groups: Vec<String>,
    /// Verbs allowed.
    pub verbs: Vec<String>,
    /// API groups (empty = any).
    pub api_groups: Vec<String>,
    /// Resources (`resource` or `resource/subresource`).
    pub resources: Vec<String>,
    /// Object names (empty = any).
    pub resource_names: Vec<String>,
    /// Namespaces (empty = all and cluster scope).
    pub namespaces: Vec<String>,
    /// Non-resource URLs.
    pub non_resource_urls: Vec<String>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

impl AuthzRule {
    /// An empty rule (matches nothing until filled).
    pub fn new() -> AuthzRule {
        AuthzRule::default()
    }
    /// Sets `users`.
    pub fn users(mut self, v: &[&str]) -> Self {
        self.users = strings(v);
        self
    }
    /// Sets `groups`.
    pub fn groups(mut self, v: &[&str]) -> Self {
        self.groups = strings(v);
        self
    }
    /// Sets `verbs`.
    pub fn verbs(mut self, v: &[&str]) -> Self {
        self.verbs = strings(v);
        self
    }
    /// Sets `api_groups`.
    pub fn api_groups(mut self, v: &[&str]) -> Self {
        self.api_groups = strings(v);
        self
    }
    /// Sets `resources`.
    pub fn resources(mut self, v: &[&str]) -> Self {
        self.resources = strings(v);
        self
    }
    /// Sets `resource_names`.
    pub fn resource_names(mut self, v: &[&str]) -> Self {
        self.resource_names = strings(v);
        self
    }
    /// Sets `namespaces`.
    pub fn namespaces(mut self, v: &[&str]) -> Self {
        self.namespaces = strings(v);
        self
    }
    /// Sets `non_resource_urls`.
    pub fn non_resource_urls(mut self, v: &[&str]) -> Self {
        self.non_resource_urls = strings(v);
        self
    }

    fn matches(&self, a: &Attributes<'_>) -> bool {
        let star = |list: &[String], value: &str| list.iter().any(|x| x == "*" || x == value);
        let subject = star(&self.users, &a.user.username)
            || a.user.groups.iter().any(|g| star(&self.groups, g));
        if !subject || !star(&self.verbs, a.verb) {
            return false;
        }
        if !a.is_resource {
            return self.non_resource_urls.iter().any(|u| {
                u == "*"
                    || u == a.path
                    || u.strip_suffix('*').is_some_and(|p| a.path.starts_with(p))
            });
        }
        if !self.api_groups.is_empty() && !star(&self.api_groups, a.api_group) {
            return false;
        }
        let full = if a.subresource.is_empty() {
            a.resource.to_string()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        let resource_ok = self.resources.iter().any(|r| {
            r == "*"
                || *r == full
                || (a.subresource.is_empty() && r == a.resource)
                || r.strip_suffix("/*")
                    .is_some_and(|base| base == a.resource && !a.subresource.is_empty())
                || r.strip_prefix("*/")
                    .is_some_and(|sub| sub == a.subresource && !sub.is_empty())
        });
        if !resource_ok {
            return false;
        }
        if !self.resource_names.is_empty() && !self.resource_names.iter().any(|n| n == a.name) {
            return false;
        }
        self.namespaces.is_empty()
            || (!a.namespace.is_empty() && star(&self.namespaces, a.namespace))
    }
}

/// What is being authorized (the apiserver's `authorizer.Attributes`).
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    /// The effective user.
    pub user: &'a UserInfo,
    /// Verb.
    pub verb: &'a str,
    /// Whether this is a resource request.
    pub is_resource: bool,
    /// API group.
    pub api_group: &'a str,
    /// Resource.
    pub resource: &'a str,
    /// Subresource.
    pub subresource: &'a str,
    /// Namespace (empty = cluster scope).
    pub namespace: &'a str,
    /// Object name.
    pub name: &'a str,
    /// Request path (non-resource requests).
    pub path: &'a str,
}

/// An authorization decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed, with a reason for reviews.
    Allow(String),
    /// Denied (no rule matched).
    Deny,
}

impl Authorizer {
    /// Decides a request.
    pub fn decide(&self, a: &Attributes<'_>) -> Decision {
        match self {
            Authorizer::AllowAll => Decision::Allow("allowed by AllowAll".into()),
            Authorizer::Rules(rules) => {
                if builtin_allows(a) {
                    return Decision::Allow("allowed by the default discovery roles".into());
                }
                match rules.iter().position(|r| r.matches(a)) {
                    Some(i) => Decision::Allow(format!("allowed by rule #{i}")),
                    None => Decision::Deny,
                }
            }
        }
    }
}

fn builtin_allows(a: &Attributes<'_>) -> bool {
    if !a.is_resource {
        // system:discovery and system:public-info-viewer (issuer discovery
        // is bound to service accounts only: see `well_known::allows`).
        let path = a.path;
        let discovery = [
            "/api", "/apis", "/openapi", "/version", "/healthz", "/livez", "/readyz",
        ]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
        return a.verb == "get" && discovery;
    }
    a.verb == "create"
        && a.subresource.is_empty()
        && matches!(
            (a.api_group, a.resource),
            ("authorization.k8s.io", "selfsubjectaccessreviews")
                | ("authentication.k8s.io", "selfsubjectreviews")
                | ("authorization.k8s.io", "selfsubjectrulesreviews")
        )
}

/// The apiserver's `forbiddenMessage`, without the qualified-resource
/// prefix: `User "alice" cannot get resource "configmaps" in API group ""
/// in the namespace "default"`.
pub fn forbidden_reason(a: &Attributes<'_>) -> String {
    let user = &a.user.username;
    if !a.is_resource {
        return format!("User {user:?} cannot {} path {:?}", a.verb, a.path);
    }
    let mut resource = a.resource.to_string();
    if !a.subresource.is_empty() {
        resource = format!("{resource}/{}", a.subresource);
    }
    if a.namespace.is_empty() {
        format!(
            "User {user:?} cannot {} resource {resource:?} in API group {:?} at the cluster scope",
            a.verb, a.api_group
        )
    } else {
        format!(
            "User {user:?} cannot {} resource {resource:?} in API group {:?} in the namespace {:?}",
            a.verb, a.api_group, a.namespace
        )
    }
}

/// The 403 `Status` for a denied request (`apierrors.NewForbidden`).
pub fn forbidden(a: &Attributes<'_>) -> ApiError {
    let reason = forbidden_reason(a);
    let qualified = if a.api_group.is_empty() {
        a.resource.to_string()
    } else {
        format!("{}.{}", a.resource, a.api_group)
    };
    let message = if !a.is_resource || a.resource.is_empty() {
        format!("forbidden: {reason}")
    } else if a.name.is_empty() {
        format!("{qualified} is forbidden: {reason}")
    } else {
        format!("{qualified} {:?} is forbidden: {reason}", a.name)
    };
    let mut details = json!({});
    if !a.name.is_empty() {
        details["name"] = json!(a.name);
    }
    if !a.api_group.is_empty() {
        details["group"] = json!(a.api_group);
    }
    if a.is_resource && !a.resource.is_empty() {
        details["kind"] = json!(a.resource);
    }
    ApiError::new(403, "Forbidden", message).with_details(details)
}
