//! Kubernetes RBAC (`rbac.authorization.k8s.io/v1`), as kube-apiserver
//! authorizes with it: the four object kinds, loaded from YAML, the default
//! roles and bindings the apiserver installs at start, ClusterRole
//! aggregation (kube-controller-manager's job on a real cluster), and the
//! authorizer chain `system:masters` first, then RBAC.
//!
//! Modelled on k8s.io/kubernetes:
//! - `staging/src/k8s.io/api/rbac/v1/types.go` (the objects, field names);
//! - `pkg/apis/rbac/v1/evaluation_helpers.go` (`VerbMatches`,
//!   `APIGroupMatches`, `ResourceMatches`, `ResourceNameMatches`,
//!   `NonResourceURLMatches`) and `plugin/pkg/auth/authorizer/rbac/rbac.go`
//!   (`RuleAllows`, the allow reason, the deny reason), in [`rules`];
//! - `pkg/registry/rbac/validation/rule.go` (`VisitRulesFor`, `appliesTo`,
//!   the binding describers), in [`authorize`];
//! - `pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go`
//!   and `metav1.LabelSelectorAsSelector`, in [`aggregation`];
//! - `pkg/apis/rbac/validation/validation.go` and the `Subject` defaulting,
//!   in [`load`];
//! - `plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go` (as its
//!   golden files `testdata/cluster-roles.yaml` and
//!   `cluster-role-bindings.yaml` list it), in `rbac/bootstrap.yaml`;
//! - `pkg/kubeapiserver/authorizer`: `authorizerfactory.NewPrivilegedGroups(
//!   user.SystemPrivilegedGroup)` before every other authorizer.
//!
//! ```
//! use kubeplex_tests::apiserver::{Authorizer, Rbac};
//! let rbac = Rbac::from_yaml(r#"
//! apiVersion: rbac.authorization.k8s.io/v1
//! kind: ClusterRoleBinding
//! metadata: {name: alice-view}
//! roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
//! subjects: [{kind: User, name: alice}]
//! "#).unwrap();
//! let authorizer = Authorizer::Rbac(rbac); // ApiServerConfig::authorizer
//! # let _ = authorizer;
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

mod aggregation;
mod authorize;
mod load;
mod rules;

pub use rules::rule_allows;

/// The group every RBAC object kind belongs to.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// The group whose members are allowed everything before RBAC is asked
/// (`user.SystemPrivilegedGroup`).
pub const PRIVILEGED_GROUP: &str = "system:masters";

/// Reads an absent or `null` field as its default (Kubernetes' JSON
/// decoding does the same for slices and maps: `rules: null` is no rules).
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The part of `metadata` RBAC reads. Other `ObjectMeta` fields (`uid`,
/// `resourceVersion`, `creationTimestamp`, ...) are accepted and ignored,
/// so `kubectl get -o yaml` output loads as is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// `metadata.name` (required).
    #[serde(default)]
    pub name: String,
    /// `metadata.namespace`: required for `Role` and `RoleBinding`, ignored
    /// (cleared, as the apiserver does) for the cluster-scoped kinds.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// `metadata.labels` (what aggregation selectors match).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
}

/// `PolicyRule`: what a role allows. Only `*` is a wildcard (in `verbs`,
/// `apiGroups`, `resources`), plus `*/<subresource>` in `resources` and a
/// trailing `*` in `nonResourceURLs`; an empty `resourceNames` means any
/// name, an empty `apiGroups` matches no group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    /// `verbs`: `get`, `list`, ..., `impersonate`, or `*`.
    #[serde(default, deserialize_with = "null_default")]
    pub verbs: Vec<String>,
    /// `apiGroups`: `""` is the core group, `*` any group.
    #[serde(
        rename = "apiGroups",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub api_groups: Vec<String>,
    /// `resources`: `pods`, `pods/log`, `*/scale`, `*`.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<String>,
    /// `resourceNames`: empty = any name.
    #[serde(
        rename = "resourceNames",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resource_names: Vec<String>,
    /// `nonResourceURLs`: exact paths or `prefix*`.
    #[serde(
        rename = "nonResourceURLs",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

/// `LabelSelectorRequirement`: `key`, `operator` (`In`, `NotIn`, `Exists`,
/// `DoesNotExist`), `values`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// Values for `In` / `NotIn` (must be empty for the others).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub values: Vec<String>,
}

/// `metav1.LabelSelector`: every `matchLabels` pair and every expression
/// must hold; an empty selector matches every ClusterRole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSelector {
    /// `matchLabels`.
    #[serde(
        rename = "matchLabels",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub match_labels: BTreeMap<String, String>,
    /// `matchExpressions`.
    #[serde(
        rename = "matchExpressions",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// `AggregationRule`: the ClusterRole's rules are the union of the rules of
/// the ClusterRoles any selector matches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregationRule {
    /// `clusterRoleSelectors`.
    #[serde(
        rename = "clusterRoleSelectors",
        default,
        deserialize_with = "null_default"
    )]
    pub cluster_role_selectors: Vec<LabelSelector>,
}

/// A `ClusterRole`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterRole {
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `aggregationRule`: if set, `rules` are computed (see [`Rbac`]).
    #[serde(
        rename = "aggregationRule",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub aggregation_rule: Option<AggregationRule>,
    /// `rules`.
    #[serde(default, deserialize_with = "null_default")]
    pub rules: Vec<PolicyRule>,
}

/// A `Role` (namespaced).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// `metadata` (with `namespace`).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `rules`.
    #[serde(default, deserialize_with = "null_default")]
    pub rules: Vec<PolicyRule>,
}

/// `Subject`: `User`, `Group` or `ServiceAccount` (which stands for the
/// user `system:serviceaccount:<namespace>:<name>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// `rbac.authorization.k8s.io` for users and groups (defaulted when
    /// empty, as the apiserver does), `""` for service accounts.
    #[serde(rename = "apiGroup", default, skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    /// The user, group or service account name.
    pub name: String,
    /// A service account's namespace (in a RoleBinding, defaults to the
    /// binding's).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// `RoleRef`: the role a binding grants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRef {
    /// Must be `rbac.authorization.k8s.io`.
    #[serde(rename = "apiGroup", default)]
    pub api_group: String,
    /// `ClusterRole`, or `Role` (RoleBindings only).
    pub kind: String,
    /// The role's name.
    pub name: String,
}

/// A `ClusterRoleBinding`: grants a ClusterRole in every namespace and at
/// the cluster scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterRoleBinding {
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `subjects`.
    #[serde(default, deserialize_with = "null_default")]
    pub subjects: Vec<Subject>,
    /// `roleRef`.
    #[serde(rename = "roleRef")]
    pub role_ref: RoleRef,
}

/// A `RoleBinding`: grants a Role of its namespace, or a ClusterRole's
/// rules, in its namespace only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBinding {
    /// `metadata` (with `namespace`).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `subjects`.
    #[serde(default, deserialize_with = "null_default")]
    pub subjects: Vec<Subject>,
    /// `roleRef`.
    #[serde(rename = "roleRef")]
    pub role_ref: RoleRef,
}

/// One RBAC object, as one YAML document holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RbacObject {
    /// `kind: ClusterRole`.
    ClusterRole(ClusterRole),
    /// `kind: Role`.
    Role(Role),
    /// `kind: ClusterRoleBinding`.
    ClusterRoleBinding(ClusterRoleBinding),
    /// `kind: RoleBinding`.
    RoleBinding(RoleBinding),
}

/// Why RBAC YAML was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RbacError {
    /// The text is not YAML (or a document is not a mapping).
    #[error("RBAC YAML does not parse: {0}")]
    Yaml(String),
    /// A document is not an `rbac.authorization.k8s.io/v1` `ClusterRole`,
    /// `Role`, `ClusterRoleBinding` or `RoleBinding` (or a `List` of them).
    #[error(
        "document {document}: unsupported object apiVersion {api_version:?} kind {kind:?}: only rbac.authorization.k8s.io/v1 ClusterRole, Role, ClusterRoleBinding, RoleBinding (or a List of them) are understood"
    )]
    UnsupportedKind {
        /// 1-based document number (items of a `List` count as documents).
        document: usize,
        /// The document's `apiVersion`.
        api_version: String,
        /// The document's `kind`.
        kind: String,
    },
    /// A document does not fit its kind's schema: an unknown or mistyped
    /// field, or a required one missing (the apiserver's strict field
    /// validation refuses the same).
    #[error("document {document} ({kind}): {message}")]
    Schema {
        /// 1-based document number.
        document: usize,
        /// The document's kind.
        kind: String,
        /// What serde found wrong.
        message: String,
    },
    /// The object is well-formed but the apiserver's validation would
    /// refuse it (`<Kind>.rbac.authorization.k8s.io "<name>" is invalid:
    /// <field>: <detail>`).
    #[error(
        "document {document}: {kind}.rbac.authorization.k8s.io {name:?} is invalid: {field}: {detail}"
    )]
    Invalid {
        /// 1-based document number.
        document: usize,
        /// The object's kind.
        kind: String,
        /// The object's name.
        name: String,
        /// The field path, e.g. `rules[0].apiGroups`.
        field: String,
        /// The apiserver's reason, e.g. `Required value: resource rules
        /// must supply at least one api group`.
        detail: String,
    },
}

/// The RBAC objects of a test cluster and the authorizer over them.
///
/// Aggregated ClusterRoles (those with an `aggregationRule`) always hold
/// the union of the rules of the ClusterRoles their selectors match, as
/// kube-controller-manager's `clusterrole-aggregation` controller keeps
/// them; a test cluster has no controller manager, so it is done on every
/// change here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rbac {
    cluster_roles: BTreeMap<String, ClusterRole>,
    roles: BTreeMap<(String, String), Role>,
    cluster_role_bindings: BTreeMap<String, ClusterRoleBinding>,
    role_bindings: BTreeMap<(String, String), RoleBinding>,
}

impl Default for Rbac {
    /// [`Rbac::bootstrap`].
    fn default() -> Self {
        Rbac::bootstrap()
    }
}

impl Rbac {
    /// No objects at all: nothing is allowed except to `system:masters`.
    pub fn empty() -> Rbac {
        Rbac {
            cluster_roles: BTreeMap::new(),
            roles: BTreeMap::new(),
            cluster_role_bindings: BTreeMap::new(),
            role_bindings: BTreeMap::new(),
        }
    }

    /// What kube-apiserver creates at start (`bootstrappolicy`):
    /// `cluster-admin` (bound to `system:masters`), `system:discovery` and
    /// `system:basic-user` (bound to `system:authenticated`),
    /// `system:public-info-viewer` (bound to `system:authenticated` and
    /// `system:unauthenticated`), `system:service-account-issuer-discovery`
    /// (bound to `system:serviceaccounts`), and the aggregated `admin`,
    /// `edit`, `view` with their `system:aggregate-to-*` sources.
    pub fn bootstrap() -> Rbac {
        static BOOTSTRAP: std::sync::OnceLock<Rbac> = std::sync::OnceLock::new();
        BOOTSTRAP
            .get_or_init(|| {
                let mut rbac = Rbac::empty();
                rbac.apply_yaml(include_str!("rbac/bootstrap.yaml"))
                    .expect("the bootstrap policy loads");
                rbac
            })
            .clone()
    }

    /// The bootstrap policy plus the objects of `yaml` (multi-document, or a
    /// `kind: List`), each replacing an object of the same kind and name.
    pub fn from_yaml(yaml: &str) -> Result<Rbac, RbacError> {
        let mut rbac = Rbac::bootstrap();
        rbac.apply_yaml(yaml)?;
        Ok(rbac)
    }

    /// Applies every object of `yaml`, or none if any is refused.
    pub fn apply_yaml(&mut self, yaml: &str) -> Result<(), RbacError> {
        let objects = load::parse(yaml)?;
        for object in objects {
            self.store(object);
        }
        self.aggregate();
        Ok(())
    }

    /// Applies one object (validated like the apiserver validates it).
    pub fn apply(&mut self, object: RbacObject) -> Result<(), RbacError> {
        let object = load::validated(1, object)?;
        self.insert_unvalidated(object);
        Ok(())
    }

    /// Stores `object` as is (no defaulting, no validation) and
    /// re-aggregates.
    pub(crate) fn insert_unvalidated(&mut self, object: RbacObject) {
        self.store(object);
        self.aggregate();
    }

    fn store(&mut self, object: RbacObject) {
        match object {
            RbacObject::ClusterRole(r) => {
                self.cluster_roles.insert(r.metadata.name.clone(), r);
            }
            RbacObject::Role(r) => {
                let key = (r.metadata.namespace.clone(), r.metadata.name.clone());
                self.roles.insert(key, r);
            }
            RbacObject::ClusterRoleBinding(b) => {
                self.cluster_role_bindings
                    .insert(b.metadata.name.clone(), b);
            }
            RbacObject::RoleBinding(b) => {
                let key = (b.metadata.namespace.clone(), b.metadata.name.clone());
                self.role_bindings.insert(key, b);
            }
        }
    }

    /// A ClusterRole (aggregated rules filled in).
    pub fn cluster_role(&self, name: &str) -> Option<&ClusterRole> {
        self.cluster_roles.get(name)
    }

    /// A Role.
    pub fn role(&self, namespace: &str, name: &str) -> Option<&Role> {
        self.roles.get(&(namespace.to_string(), name.to_string()))
    }
}

#[cfg(test)]
mod tests;
