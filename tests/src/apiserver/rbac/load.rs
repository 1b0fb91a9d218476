//! Reading RBAC objects from YAML and refusing what kube-apiserver would
//! refuse: strict fields, `Subject.apiGroup` defaulting
//! (`pkg/apis/rbac/v1/defaults.go` `SetDefaults_Subject`), and the checks
//! of `pkg/apis/rbac/validation/validation.go` (`ValidatePolicyRule`,
//! `ValidateRoleBinding*`, `ValidateRoleBindingSubject`, the aggregation
//! rule's label selectors).

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{
    ClusterRole, LabelSelector, PolicyRule, RBAC_GROUP, RbacError, RbacObject, RoleRef, Subject,
};

const API_VERSION: &str = "rbac.authorization.k8s.io/v1";

/// Every object of a multi-document YAML text (`List` items flattened),
/// validated.
pub(super) fn parse(yaml: &str) -> Result<Vec<RbacObject>, RbacError> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(yaml).map_err(|e| RbacError::Yaml(e.to_string()))?;
    let mut flat = Vec::new();
    for doc in docs {
        let is_list = doc.get("kind").and_then(Value::as_str) == Some("List")
            || doc
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && doc.get("apiVersion").and_then(Value::as_str) == Some(API_VERSION);
        match doc.get("items").and_then(Value::as_array) {
            Some(items) if is_list => flat.extend(items.iter().cloned()),
            _ => flat.push(doc),
        }
    }
    let mut out = Vec::new();
    for (i, doc) in flat.into_iter().enumerate() {
        out.push(validated(i + 1, object(i + 1, doc)?)?);
    }
    Ok(out)
}

fn text(doc: &Value, field: &str) -> String {
    doc.get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// One document as its kind.
fn object(document: usize, mut doc: Value) -> Result<RbacObject, RbacError> {
    let (api_version, kind) = (text(&doc, "apiVersion"), text(&doc, "kind"));
    let Some(map) = doc.as_object_mut().filter(|_| api_version == API_VERSION) else {
        return Err(RbacError::UnsupportedKind {
            document,
            api_version,
            kind,
        });
    };
    map.remove("apiVersion");
    map.remove("kind");
    fn typed<T: DeserializeOwned>(document: usize, kind: &str, doc: Value) -> Result<T, RbacError> {
        serde_json::from_value(doc).map_err(|e| RbacError::Schema {
            document,
            kind: kind.to_string(),
            message: e.to_string(),
        })
    }
    Ok(match kind.as_str() {
        "ClusterRole" => RbacObject::ClusterRole(typed(document, &kind, doc)?),
        "Role" => RbacObject::Role(typed(document, &kind, doc)?),
        "ClusterRoleBinding" => RbacObject::ClusterRoleBinding(typed(document, &kind, doc)?),
        "RoleBinding" => RbacObject::RoleBinding(typed(document, &kind, doc)?),
        _ => {
            return Err(RbacError::UnsupportedKind {
                document,
                api_version,
                kind,
            });
        }
    })
}

/// An `Invalid` error's field and detail.
type Problem = (String, String);

fn required(field: impl Into<String>, detail: &str) -> Problem {
    let detail = if detail.is_empty() {
        "Required value".to_string()
    } else {
        format!("Required value: {detail}")
    };
    (field.into(), detail)
}

/// Defaults, then validates, like the apiserver on create.
pub(super) fn validated(document: usize, object: RbacObject) -> Result<RbacObject, RbacError> {
    let (kind, name, problem, object) = match object {
        RbacObject::ClusterRole(mut r) => {
            r.metadata.namespace.clear();
            let p = role_problem(&r.metadata.name, "-", &r.rules, false)
                .or_else(|| aggregation_problem(&r));
            (
                "ClusterRole",
                r.metadata.name.clone(),
                p,
                RbacObject::ClusterRole(r),
            )
        }
        RbacObject::Role(r) => {
            let p = role_problem(&r.metadata.name, &r.metadata.namespace, &r.rules, true);
            ("Role", r.metadata.name.clone(), p, RbacObject::Role(r))
        }
        RbacObject::ClusterRoleBinding(mut b) => {
            b.metadata.namespace.clear();
            default_subjects(&mut b.subjects);
            let p = binding_problem(&b.metadata.name, "-", &b.role_ref, &b.subjects, false);
            let name = b.metadata.name.clone();
            (
                "ClusterRoleBinding",
                name,
                p,
                RbacObject::ClusterRoleBinding(b),
            )
        }
        RbacObject::RoleBinding(mut b) => {
            default_subjects(&mut b.subjects);
            let ns = b.metadata.namespace.clone();
            let p = binding_problem(&b.metadata.name, &ns, &b.role_ref, &b.subjects, true);
            (
                "RoleBinding",
                b.metadata.name.clone(),
                p,
                RbacObject::RoleBinding(b),
            )
        }
    };
    match problem {
        None => Ok(object),
        Some((field, detail)) => Err(RbacError::Invalid {
            document,
            kind: kind.to_string(),
            name,
            field,
            detail,
        }),
    }
}

/// `ValidateObjectMeta`'s name and namespace checks (`-` = cluster
/// scoped, namespace not wanted).
fn meta_problem(name: &str, namespace: &str) -> Option<Problem> {
    if name.is_empty() {
        return Some(required(
            "metadata.name",
            "name or generateName is required",
        ));
    }
    if namespace.is_empty() {
        return Some(required("metadata.namespace", ""));
    }
    None
}

fn role_problem(name: &str, ns: &str, rules: &[PolicyRule], namespaced: bool) -> Option<Problem> {
    meta_problem(name, ns).or_else(|| {
        rules
            .iter()
            .enumerate()
            .find_map(|(i, r)| rule_problem(&format!("rules[{i}]"), r, namespaced))
    })
}

/// `ValidatePolicyRule`.
fn rule_problem(path: &str, rule: &PolicyRule, namespaced: bool) -> Option<Problem> {
    if rule.verbs.is_empty() {
        return Some(required(
            format!("{path}.verbs"),
            "verbs must contain at least one value",
        ));
    }
    if !rule.non_resource_urls.is_empty() {
        let field = format!("{path}.nonResourceURLs");
        let urls = go_string_slice(&rule.non_resource_urls);
        if namespaced {
            let detail = "namespaced rules cannot apply to non-resource URLs";
            return Some((field, format!("Invalid value: {urls}: {detail}")));
        }
        if !rule.api_groups.is_empty()
            || !rule.resources.is_empty()
            || !rule.resource_names.is_empty()
        {
            let detail = "rules cannot apply to both regular resources and non-resource URLs";
            return Some((field, format!("Invalid value: {urls}: {detail}")));
        }
        return None;
    }
    if rule.api_groups.is_empty() {
        return Some(required(
            format!("{path}.apiGroups"),
            "resource rules must supply at least one api group",
        ));
    }
    if rule.resources.is_empty() {
        return Some(required(
            format!("{path}.resources"),
            "resource rules must supply at least one resource",
        ));
    }
    None
}

/// Go's `%v` of a `[]string` in a field error: `[]string{"a", "b"}`.
fn go_string_slice(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// `ValidateLabelSelector` for each `aggregationRule.clusterRoleSelectors`.
fn aggregation_problem(role: &ClusterRole) -> Option<Problem> {
    let rule = role.aggregation_rule.as_ref()?;
    rule.cluster_role_selectors
        .iter()
        .enumerate()
        .find_map(|(i, s)| {
            selector_problem(&format!("aggregationRule.clusterRoleSelectors[{i}]"), s)
        })
}

fn selector_problem(path: &str, selector: &LabelSelector) -> Option<Problem> {
    selector
        .match_expressions
        .iter()
        .enumerate()
        .find_map(|(i, r)| {
            let p = format!("{path}.matchExpressions[{i}]");
            match (r.operator.as_str(), r.values.is_empty()) {
                ("In" | "NotIn", true) => Some(required(
                    format!("{p}.values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                )),
                ("Exists" | "DoesNotExist", false) => Some((
                    format!("{p}.values"),
                    "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                        .to_string(),
                )),
                ("In" | "NotIn" | "Exists" | "DoesNotExist", _) => None,
                (op, _) => Some((
                    format!("{p}.operator"),
                    format!("Invalid value: {op:?}: not a valid selector operator"),
                )),
            }
        })
}

/// `SetDefaults_Subject`: users and groups get `rbac.authorization.k8s.io`.
fn default_subjects(subjects: &mut [Subject]) {
    for s in subjects {
        if s.api_group.is_empty() && (s.kind == "User" || s.kind == "Group") {
            s.api_group = RBAC_GROUP.to_string();
        }
    }
}

fn binding_problem(
    name: &str,
    ns: &str,
    role_ref: &RoleRef,
    subjects: &[Subject],
    namespaced: bool,
) -> Option<Problem> {
    meta_problem(name, ns)
        .or_else(|| role_ref_problem(role_ref, namespaced))
        .or_else(|| {
            subjects
                .iter()
                .enumerate()
                .find_map(|(i, s)| subject_problem(&format!("subjects[{i}]"), s, namespaced))
        })
}

fn unsupported(field: String, value: &str, supported: &[&str]) -> Problem {
    let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    (
        field,
        format!(
            "Unsupported value: {value:?}: supported values: {}",
            list.join(", ")
        ),
    )
}

fn role_ref_problem(role_ref: &RoleRef, namespaced: bool) -> Option<Problem> {
    if role_ref.api_group != RBAC_GROUP {
        return Some(unsupported(
            "roleRef.apiGroup".into(),
            &role_ref.api_group,
            &[RBAC_GROUP],
        ));
    }
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !kinds.contains(&role_ref.kind.as_str()) {
        return Some(unsupported("roleRef.kind".into(), &role_ref.kind, kinds));
    }
    if role_ref.name.is_empty() {
        return Some(required("roleRef.name", ""));
    }
    None
}

/// `ValidateRoleBindingSubject`.
fn subject_problem(path: &str, s: &Subject, namespaced: bool) -> Option<Problem> {
    if s.name.is_empty() {
        return Some(required(format!("{path}.name"), ""));
    }
    match s.kind.as_str() {
        "ServiceAccount" => {
            if !s.api_group.is_empty() {
                return Some(unsupported(format!("{path}.apiGroup"), &s.api_group, &[""]));
            }
            if !namespaced && s.namespace.is_empty() {
                return Some(required(format!("{path}.namespace"), ""));
            }
            None
        }
        "User" | "Group" if s.api_group != RBAC_GROUP => Some(unsupported(
            format!("{path}.apiGroup"),
            &s.api_group,
            &[RBAC_GROUP],
        )),
        "User" | "Group" => None,
        other => Some(unsupported(
            format!("{path}.kind"),
            other,
            &["ServiceAccount", "User", "Group"],
        )),
    }
}
