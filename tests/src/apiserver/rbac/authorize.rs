//! The authorizer: `system:masters` first
//! (`authorizerfactory.NewPrivilegedGroups`), then RBAC's
//! `RBACAuthorizer.Authorize` over `DefaultRuleResolver.VisitRulesFor`
//! (`pkg/registry/rbac/validation/rule.go`).

use super::rules::rule_allows;
use super::{PRIVILEGED_GROUP, Rbac, RoleRef, Subject};
use crate::apiserver::authz::{Attributes, Decision};
use crate::apiserver::identity::UserInfo;

/// `serviceaccount.ServiceAccountUsernamePrefix`.
const SA_PREFIX: &str = "system:serviceaccount:";

/// `appliesToUser`: a `User` by name, a `Group` by membership, a
/// `ServiceAccount` as `system:serviceaccount:<ns>:<name>`, its namespace
/// defaulting to the binding's (none for a ClusterRoleBinding).
fn applies_to_user(user: &UserInfo, subject: &Subject, namespace: &str) -> bool {
    match subject.kind.as_str() {
        "User" => user.username == subject.name,
        "Group" => user.groups.contains(&subject.name),
        "ServiceAccount" => {
            let ns = if subject.namespace.is_empty() {
                namespace
            } else {
                &subject.namespace
            };
            !ns.is_empty() && user.username == format!("{SA_PREFIX}{ns}:{}", subject.name)
        }
        _ => false,
    }
}

/// `appliesTo`: the first subject that applies.
fn applies_to<'s>(
    user: &UserInfo,
    subjects: &'s [Subject],
    namespace: &str,
) -> Option<&'s Subject> {
    subjects
        .iter()
        .find(|s| applies_to_user(user, s, namespace))
}

/// `describeSubject`: `User "alice"`, `ServiceAccount "<name>/<namespace>"`.
fn describe_subject(s: &Subject, binding_namespace: &str) -> String {
    if s.kind == "ServiceAccount" {
        let ns = if s.namespace.is_empty() {
            binding_namespace
        } else {
            &s.namespace
        };
        return format!("{} {:?}", s.kind, format!("{}/{ns}", s.name));
    }
    format!("{} {:?}", s.kind, s.name)
}

/// `utilerrors.NewAggregate(errs).Error()`: one message as is, several
/// (duplicates dropped) as `[a, b]`.
fn aggregate(errors: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for e in errors {
        if !seen.contains(&e.as_str()) {
            seen.push(e);
        }
    }
    match seen.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        many => format!("[{}]", many.join(", ")),
    }
}

impl Rbac {
    /// Decides `a` as kube-apiserver's authorizer chain does: members of
    /// `system:masters` are allowed (reason `""`); otherwise RBAC allows with
    /// `RBAC: allowed by <binding>` or has no opinion, the reason then
    /// naming any binding whose role is missing (`RBAC: clusterrole.rbac.
    /// authorization.k8s.io "x" not found`), as the apiserver appends it to
    /// the 403 message.
    pub fn authorize(&self, a: &Attributes<'_>) -> Decision {
        if a.user.groups.iter().any(|g| g == PRIVILEGED_GROUP) {
            return Decision::Allow(String::new());
        }
        let mut errors = Vec::new();
        if let Some(reason) = self.visit_cluster_role_bindings(a, &mut errors) {
            return Decision::Allow(reason);
        }
        if !a.namespace.is_empty()
            && let Some(reason) = self.visit_role_bindings(a, &mut errors)
        {
            return Decision::Allow(reason);
        }
        if errors.is_empty() {
            return Decision::Deny(String::new());
        }
        Decision::Deny(format!("RBAC: {}", aggregate(&errors)))
    }

    fn visit_cluster_role_bindings(
        &self,
        a: &Attributes<'_>,
        errors: &mut Vec<String>,
    ) -> Option<String> {
        for b in self.cluster_role_bindings.values() {
            let Some(subject) = applies_to(a.user, &b.subjects, "") else {
                continue;
            };
            match self.role_ref_rules(&b.role_ref, "") {
                Err(e) => errors.push(e),
                Ok(rules) if rules.iter().any(|r| rule_allows(a, r)) => {
                    return Some(format!(
                        "RBAC: allowed by ClusterRoleBinding {:?} of {} {:?} to {}",
                        b.metadata.name,
                        b.role_ref.kind,
                        b.role_ref.name,
                        describe_subject(subject, "")
                    ));
                }
                Ok(_) => {}
            }
        }
        None
    }

    fn visit_role_bindings(&self, a: &Attributes<'_>, errors: &mut Vec<String>) -> Option<String> {
        let ns = a.namespace;
        for ((_, name), b) in self.role_bindings.iter().filter(|((n, _), _)| n == ns) {
            let Some(subject) = applies_to(a.user, &b.subjects, ns) else {
                continue;
            };
            match self.role_ref_rules(&b.role_ref, ns) {
                Err(e) => errors.push(e),
                Ok(rules) if rules.iter().any(|r| rule_allows(a, r)) => {
                    return Some(format!(
                        "RBAC: allowed by RoleBinding {:?} of {} {:?} to {}",
                        format!("{name}/{ns}"),
                        b.role_ref.kind,
                        b.role_ref.name,
                        describe_subject(subject, ns)
                    ));
                }
                Ok(_) => {}
            }
        }
        None
    }

    /// `GetRoleReferenceRules`, with the listers' NotFound messages.
    fn role_ref_rules(
        &self,
        role_ref: &RoleRef,
        namespace: &str,
    ) -> Result<&[super::PolicyRule], String> {
        match role_ref.kind.as_str() {
            "Role" => self
                .role(namespace, &role_ref.name)
                .map(|r| r.rules.as_slice())
                .ok_or_else(|| {
                    format!(
                        "role.rbac.authorization.k8s.io {:?} not found",
                        role_ref.name
                    )
                }),
            "ClusterRole" => self
                .cluster_role(&role_ref.name)
                .map(|r| r.rules.as_slice())
                .ok_or_else(|| {
                    format!(
                        "clusterrole.rbac.authorization.k8s.io {:?} not found",
                        role_ref.name
                    )
                }),
            other => Err(format!("unsupported role reference kind: {other:?}")),
        }
    }
}
