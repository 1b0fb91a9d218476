//! ClusterRole aggregation, as kube-controller-manager's
//! `clusterrole-aggregation` controller does it
//! (`pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go`
//! `syncClusterRole`): for each selector in order, the matching
//! ClusterRoles sorted by name, the role itself skipped, every rule not
//! already present appended; the result replaces the role's rules. Run to
//! a fixed point, since aggregated roles feed others (`view` into `edit`
//! into `admin`).

use std::collections::BTreeMap;

use super::{ClusterRole, LabelSelector, PolicyRule, Rbac};

/// One `matchExpressions` requirement against `labels`
/// (`metav1.LabelSelectorAsSelector`, `labels.Requirement.Matches`).
/// Operators were validated when the role was loaded.
fn requirement_matches(
    labels: &BTreeMap<String, String>,
    key: &str,
    operator: &str,
    values: &[String],
) -> bool {
    let value = labels.get(key);
    match operator {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        _ => false,
    }
}

/// Whether `selector` selects a role with `labels`; an empty selector
/// selects everything (`labels.Everything()`).
pub(super) fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    selector
        .match_labels
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
        && selector
            .match_expressions
            .iter()
            .all(|r| requirement_matches(labels, &r.key, &r.operator, &r.values))
}

/// The rules `role` aggregates from `roles` now.
fn aggregated_rules(role: &ClusterRole, roles: &BTreeMap<String, ClusterRole>) -> Vec<PolicyRule> {
    let mut out: Vec<PolicyRule> = Vec::new();
    let Some(rule) = &role.aggregation_rule else {
        return role.rules.clone();
    };
    for selector in &rule.cluster_role_selectors {
        // BTreeMap order is the controller's sort.Sort(byName(...)).
        for (name, source) in roles {
            if *name == role.metadata.name || !selects(selector, &source.metadata.labels) {
                continue;
            }
            for r in &source.rules {
                if !out.contains(r) {
                    out.push(r.clone());
                }
            }
        }
    }
    out
}

impl Rbac {
    /// Recomputes every aggregated ClusterRole until none changes.
    pub(super) fn aggregate(&mut self) {
        // Each pass can only propagate rules one aggregation level further.
        for _ in 0..=self.cluster_roles.len() {
            let mut changed = false;
            let names: Vec<String> = self
                .cluster_roles
                .iter()
                .filter(|(_, r)| r.aggregation_rule.is_some())
                .map(|(n, _)| n.clone())
                .collect();
            for name in names {
                let rules = aggregated_rules(&self.cluster_roles[&name], &self.cluster_roles);
                let role = self.cluster_roles.get_mut(&name).expect("listed");
                if role.rules != rules {
                    role.rules = rules;
                    changed = true;
                }
            }
            if !changed {
                return;
            }
        }
    }
}
