//! Authorization: allow everything, or Kubernetes RBAC (loaded from YAML,
//! or built from [`AuthzRule`] shorthands), decided by one implementation
//! of the apiserver's matching ([`super::rbac`]); denials carry the
//! apiserver's exact `Forbidden` message.

use serde_json::json;

use super::identity::UserInfo;
use super::rbac::{
    ClusterRole, ClusterRoleBinding, ObjectMeta, PolicyRule, RBAC_GROUP, Rbac, RbacObject,
    RoleBinding, RoleRef, Subject,
};
use super::status::ApiError;

/// The authorizer of a test cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Authorizer {
    /// Every authenticated request is allowed (impersonation included).
    #[default]
    AllowAll,
    /// A shorthand for tests: the bootstrap RBAC policy plus, per rule, a
    /// ClusterRole and a ClusterRoleBinding (or RoleBindings in the rule's
    /// namespaces). Matched by the same code as [`Authorizer::Rbac`], so
    /// with RBAC's exact semantics (see [`AuthzRule`]).
    Rules(Vec<AuthzRule>),
    /// Kubernetes RBAC, e.g. [`Rbac::from_yaml`].
    Rbac(Rbac),
}

/// One allow rule, converted to a `PolicyRule` plus bindings (see
/// [`AuthzRule::to_rbac`]), so its lists mean what RBAC says:
///
/// - `users` / `groups`: exact names (`*` is not a wildcard here either;
///   bind `system:authenticated` for everyone);
/// - `verbs`: `get`, `list`, ..., `impersonate`, or `*`;
/// - `api_groups`: `""` is the core group, `*` any; **empty matches
///   nothing** (the apiserver would refuse to store such a rule);
/// - `resources`: `configmaps`, `pods/log`, `*/scale`, `*`; `pods/*` and
///   `userextras/*` are literal strings, not wildcards;
/// - `resource_names`: empty means any name;
/// - `namespaces`: empty means a ClusterRoleBinding (every namespace and
///   the cluster scope); otherwise a RoleBinding in each;
/// - `non_resource_urls`: exact paths, `/foo/*` prefixes, or `*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthzRule {
    /// Users the rule applies to.
    pub users: Vec<String>,
    /// Groups the rule applies to.
    pub groups: Vec<String>,
    /// Verbs allowed.
    pub verbs: Vec<String>,
    /// API groups (empty = none).
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

    /// The RBAC objects this rule stands for (the `i`-th rule of a list):
    /// a ClusterRole `kubeplex-tests:rule-<i>` holding a resource rule
    /// and/or a non-resource rule (RBAC keeps them apart), bound to the
    /// users and groups by a ClusterRoleBinding, or by a RoleBinding in
    /// each of `namespaces`.
    pub fn to_rbac(&self, i: usize) -> Vec<RbacObject> {
        let name = format!("kubeplex-tests:rule-{i}");
        let mut rules = Vec::new();
        if !self.api_groups.is_empty() || !self.resources.is_empty() {
            rules.push(PolicyRule {
                verbs: self.verbs.clone(),
                api_groups: self.api_groups.clone(),
                resources: self.resources.clone(),
                resource_names: self.resource_names.clone(),
                non_resource_urls: Vec::new(),
            });
        }
        if !self.non_resource_urls.is_empty() {
            rules.push(PolicyRule {
                verbs: self.verbs.clone(),
                non_resource_urls: self.non_resource_urls.clone(),
                ..PolicyRule::default()
            });
        }
        let meta = |namespace: &str| ObjectMeta {
            name: name.clone(),
            namespace: namespace.to_string(),
            ..ObjectMeta::default()
        };
        let subject = |kind: &str, n: &String| Subject {
            kind: kind.to_string(),
            api_group: RBAC_GROUP.to_string(),
            name: n.clone(),
            namespace: String::new(),
        };
        let subjects: Vec<Subject> = (self.users.iter().map(|u| subject("User", u)))
            .chain(self.groups.iter().map(|g| subject("Group", g)))
            .collect();
        let role_ref = RoleRef {
            api_group: RBAC_GROUP.to_string(),
            kind: "ClusterRole".to_string(),
            name: name.clone(),
        };
        let mut out = vec![RbacObject::ClusterRole(ClusterRole {
            metadata: meta(""),
            aggregation_rule: None,
            rules,
        })];
        if self.namespaces.is_empty() {
            out.push(RbacObject::ClusterRoleBinding(ClusterRoleBinding {
                metadata: meta(""),
                subjects: subjects.clone(),
                role_ref: role_ref.clone(),
            }));
        }
        for ns in &self.namespaces {
            out.push(RbacObject::RoleBinding(RoleBinding {
                metadata: meta(ns),
                subjects: subjects.clone(),
                role_ref: role_ref.clone(),
            }));
        }
        out
    }
}

/// The bootstrap policy plus every rule's objects (see
/// [`AuthzRule::to_rbac`]). Inserted without the apiserver's validation,
/// so that a rule with no API groups can exist (and match nothing).
pub fn rules_to_rbac(rules: &[AuthzRule]) -> Rbac {
    let mut rbac = Rbac::bootstrap();
    for (i, rule) in rules.iter().enumerate() {
        for object in rule.to_rbac(i) {
            rbac.insert_unvalidated(object);
        }
    }
    rbac
}

/// What is being authorized (the apiserver's `authorizer.Attributes`).
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    /// The user asking.
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

/// An authorization decision, with the authorizer's reason (the allow
/// reason a `SelfSubjectAccessReview` reports; the deny reason the 403
/// message ends with, if not empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow(String),
    /// Not allowed (RBAC has no opinion; the apiserver then forbids).
    Deny(String),
}

impl Decision {
    /// Whether this is [`Decision::Allow`].
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }
}

impl Authorizer {
    /// Decides a request.
    pub fn decide(&self, a: &Attributes<'_>) -> Decision {
        match self {
            Authorizer::AllowAll => Decision::Allow("allowed by AllowAll".into()),
            Authorizer::Rules(rules) => rules_to_rbac(rules).authorize(a),
            Authorizer::Rbac(rbac) => rbac.authorize(a),
        }
    }

    /// The authorizer a server runs: [`Authorizer::Rules`] converted to RBAC
    /// once, and `extra` objects (such as a wider issuer-discovery binding)
    /// added to RBAC.
    pub fn compiled(self, extra: Vec<RbacObject>) -> Authorizer {
        let mut rbac = match self {
            Authorizer::AllowAll => return Authorizer::AllowAll,
            Authorizer::Rules(rules) => rules_to_rbac(&rules),
            Authorizer::Rbac(rbac) => rbac,
        };
        for object in extra {
            rbac.insert_unvalidated(object);
        }
        Authorizer::Rbac(rbac)
    }
}

/// The apiserver's `forbiddenMessage` (`responsewriters`), with its HTML
/// sanitizer (`&`, `<`, `>` escaped): `User "alice" cannot get resource
/// "configmaps" in API group "" in the namespace "default"`.
pub fn forbidden_reason(a: &Attributes<'_>) -> String {
    let user = &a.user.username;
    let message = if !a.is_resource {
        format!("User {user:?} cannot {} path {:?}", a.verb, a.path)
    } else {
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
    };
    message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The 403 `Status` for a denied request: `responsewriters.
/// ForbiddenStatusError(attributes, reason)`, i.e. `apierrors.NewForbidden(
/// {group, resource}, name, "<forbiddenMessage>[: <reason>]")`.
pub fn forbidden(a: &Attributes<'_>, reason: &str) -> ApiError {
    let mut err = forbidden_reason(a);
    if !reason.is_empty() {
        err = format!("{err}: {reason}");
    }
    let (group, resource) = if a.is_resource {
        (a.api_group, a.resource)
    } else {
        ("", "")
    };
    let qualified = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    let message = if qualified.is_empty() {
        format!("forbidden: {err}")
    } else if a.name.is_empty() {
        format!("{qualified} is forbidden: {err}")
    } else {
        format!("{qualified} {:?} is forbidden: {err}", a.name)
    };
    let mut details = json!({});
    if !a.name.is_empty() {
        details["name"] = json!(a.name);
    }
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    if !resource.is_empty() {
        details["kind"] = json!(resource);
    }
    ApiError::new(403, "Forbidden", message).with_details(details)
}
