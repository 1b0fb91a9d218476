//! Gateway RBAC (the mk8s model), compiled once per config: globs pre-split,
//! resource patterns parsed, roles indexed by user and group, so a decision
//! only walks the rules of the caller's own roles.

use std::collections::HashMap;

use crate::config_pb as pb;
use crate::identity::Identity;
use crate::request_info::RequestInfo;

/// Why a policy does not compile.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// A binding names a role that does not exist.
    #[error("policy binding refers to unknown role {0:?}")]
    UnknownRole(String),
    /// Two roles with one name.
    #[error("policy role {0:?} is defined twice")]
    DuplicateRole(String),
    /// A resource pattern with too many parts or empty parts.
    #[error(
        "policy role {role:?}: resource {pattern:?} is not `resource`, `resource/sub`, `group/resource`, `group/resource/sub`, `*` or `*/sub`"
    )]
    Resource {
        /// The role.
        role: String,
        /// The pattern.
        pattern: String,
    },
}

/// The result of a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Some rule allows the request.
    Allow,
    /// No rule of the caller's roles names this cluster at all.
    NoClusterAccess,
    /// The cluster is reachable, but no rule allows this request.
    Deny,
}

/// A `*`-glob, split once at its stars.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    parts: Vec<String>,
    any: bool,
}

impl Glob {
    /// Split `pattern` at its stars.
    pub fn new(pattern: &str) -> Glob {
        Glob {
            any: pattern == "*",
            parts: pattern.split('*').map(str::to_string).collect(),
        }
    }

    /// Whether the glob is `*` alone.
    pub fn is_any(&self) -> bool {
        self.any
    }

    /// Whether `s` matches.
    pub fn matches(&self, s: &str) -> bool {
        if self.any {
            return true;
        }
        match self.parts.as_slice() {
            [] => s.is_empty(),
            [exact] => s == exact,
            [first, middle @ .., last] => {
                if s.len() < first.len() + last.len()
                    || !s.starts_with(first.as_str())
                    || !s.ends_with(last.as_str())
                {
                    return false;
                }
                let mut rest = &s[first.len()..s.len() - last.len()];
                for m in middle {
                    match rest.find(m.as_str()) {
                        Some(i) => rest = &rest[i + m.len()..],
                        None => return false,
                    }
                }
                true
            }
        }
    }
}

/// `group/resource/sub` with `*` wildcards. `None` group = any group.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ResourcePattern {
    group: Option<String>,
    /// `*` = any resource.
    resource: String,
    /// `None`: only the resource itself (unless `resource` is `*`, which
    /// also covers subresources, as in Kubernetes RBAC); `*` = any subresource.
    sub: Option<String>,
}

/// API groups without a dot: `apps/deployments` is a group and a resource,
/// while `pods/log` is a core resource and a subresource. CRD and aggregated
/// groups always contain a dot.
const DOTLESS_GROUPS: [&str; 5] = ["apps", "batch", "autoscaling", "policy", "extensions"];

impl ResourcePattern {
    fn parse(pattern: &str) -> Option<ResourcePattern> {
        let parts: Vec<&str> = pattern.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        let own = |s: &str| s.to_string();
        Some(match parts.as_slice() {
            ["*"] => ResourcePattern {
                group: None,
                resource: own("*"),
                sub: None,
            },
            [resource] => ResourcePattern {
                group: Some(String::new()),
                resource: own(resource),
                sub: None,
            },
            ["*", sub] => ResourcePattern {
                group: None,
                resource: own("*"),
                sub: Some(own(sub)),
            },
            [group, resource] if group.contains('.') || DOTLESS_GROUPS.contains(group) => {
                ResourcePattern {
                    group: Some(own(group)),
                    resource: own(resource),
                    sub: None,
                }
            }
            [resource, sub] => ResourcePattern {
                group: Some(String::new()),
                resource: own(resource),
                sub: Some(own(sub)),
            },
            [group, resource, sub] => ResourcePattern {
                group: (*group != "*").then(|| own(group)),
                resource: own(resource),
                sub: Some(own(sub)),
            },
            _ => return None,
        })
    }

    fn matches(&self, group: &str, resource: &str, sub: &str) -> bool {
        if self.group.as_deref().is_some_and(|g| g != group) {
            return false;
        }
        let sub_ok = |want: &Option<String>| match want.as_deref() {
            None => sub.is_empty(),
            Some("*") => !sub.is_empty(),
            Some(s) => s == sub,
        };
        if self.resource == "*" {
            // `*` covers everything; `*/scale` only that subresource.
            return self.sub.is_none() || sub_ok(&self.sub);
        }
        self.resource == resource && sub_ok(&self.sub)
    }
}

#[derive(Clone, Debug)]
struct Rule {
    clusters: Vec<Glob>,
    namespaces: Vec<Glob>,
    /// Empty = none; contains `*` = any.
    verbs: Vec<String>,
    resources: Vec<ResourcePattern>,
    resource_names: Vec<String>,
    non_resource_urls: Vec<String>,
}

impl Rule {
    fn matches_cluster(&self, cluster: &str) -> bool {
        self.clusters.iter().any(|g| g.matches(cluster))
    }

    fn matches_verb(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == "*" || v == verb)
    }

    fn allows_resource(&self, info: &RequestInfo) -> bool {
        let ns_ok = if info.namespace.is_empty() {
            // cluster-scoped: only `*` reaches it
            self.namespaces.iter().any(Glob::is_any)
        } else {
            self.namespaces.iter().any(|g| g.matches(&info.namespace))
        };
        ns_ok
            && self.matches_verb(&info.verb)
            && self
                .resources
                .iter()
                .any(|r| r.matches(&info.api_group, &info.resource, &info.subresource))
            && (self.resource_names.is_empty()
                || (!info.name.is_empty() && self.resource_names.contains(&info.name)))
    }

    fn allows_non_resource(&self, info: &RequestInfo) -> bool {
        self.matches_verb(&info.verb)
            && self.non_resource_urls.iter().any(|u| {
                u == "*"
                    || *u == info.path
                    || u.strip_suffix('*')
                        .is_some_and(|p| info.path.starts_with(p))
            })
    }
}

/// The compiled policy.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Rules per role index.
    roles: Vec<Vec<Rule>>,
    /// The rules as pushed, per role index (what `/.kubeplex/v1/clusters`
    /// shows the caller).
    sources: Vec<Vec<pb::Rule>>,
    by_user: HashMap<String, Vec<usize>>,
    by_group: HashMap<String, Vec<usize>>,
    restrict_non_resource_urls: bool,
}

/// Bound to this group = bound to every authenticated caller (Kubernetes
/// puts every authenticated user in it).
const AUTHENTICATED: &str = "system:authenticated";

impl Policy {
    /// Validate and index the pushed policy.
    pub fn compile(pb: &pb::Policy) -> Result<Policy, PolicyError> {
        let mut index = HashMap::with_capacity(pb.roles.len());
        let mut roles = Vec::with_capacity(pb.roles.len());
        for role in &pb.roles {
            if index.insert(role.name.clone(), roles.len()).is_some() {
                return Err(PolicyError::DuplicateRole(role.name.clone()));
            }
            let mut rules = Vec::with_capacity(role.rules.len());
            for r in &role.rules {
                let resources = r
                    .resources
                    .iter()
                    .map(|p| {
                        ResourcePattern::parse(p).ok_or_else(|| PolicyError::Resource {
                            role: role.name.clone(),
                            pattern: p.clone(),
                        })
                    })
                    .collect::<Result<_, _>>()?;
                rules.push(Rule {
                    clusters: r.clusters.iter().map(|g| Glob::new(g)).collect(),
                    namespaces: r.namespaces.iter().map(|g| Glob::new(g)).collect(),
                    verbs: r.verbs.clone(),
                    resources,
                    resource_names: r.resource_names.clone(),
                    non_resource_urls: r.non_resource_urls.clone(),
                });
            }
            roles.push(rules);
        }
        let mut by_user: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_group: HashMap<String, Vec<usize>> = HashMap::new();
        for b in &pb.bindings {
            let &i = index
                .get(&b.role)
                .ok_or_else(|| PolicyError::UnknownRole(b.role.clone()))?;
            for u in &b.users {
                push_unique(by_user.entry(u.clone()).or_default(), i);
            }
            for g in &b.groups {
                push_unique(by_group.entry(g.clone()).or_default(), i);
            }
        }
        Ok(Policy {
            roles,
            sources: pb.roles.iter().map(|role| role.rules.clone()).collect(),
            by_user,
            by_group,
            restrict_non_resource_urls: pb.restrict_non_resource_urls,
        })
    }

    /// The caller's role indices (possibly repeated; harmless).
    fn role_indices<'a>(&'a self, who: &'a Identity) -> impl Iterator<Item = usize> + 'a {
        let user = self.by_user.get(&who.user).into_iter().flatten();
        let groups = who
            .groups
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(AUTHENTICATED))
            .filter_map(|g| self.by_group.get(g))
            .flatten();
        user.chain(groups).copied()
    }

    /// Decide `info` on `cluster` for `who`.
    pub fn decide(&self, who: &Identity, cluster: &str, info: &RequestInfo) -> Verdict {
        let mut reachable = false;
        for i in self.role_indices(who) {
            for rule in &self.roles[i] {
                if !rule.matches_cluster(cluster) {
                    continue;
                }
                reachable = true;
                let allowed = if info.is_resource_request {
                    rule.allows_resource(info)
                } else {
                    !self.restrict_non_resource_urls || rule.allows_non_resource(info)
                };
                if allowed {
                    return Verdict::Allow;
                }
            }
        }
        if reachable {
            Verdict::Deny
        } else {
            Verdict::NoClusterAccess
        }
    }
}

impl Policy {
    /// The rules of `who`'s roles that name `cluster`, as pushed, each
    /// once; empty = `who` cannot reach `cluster`.
    pub fn rules_for(&self, who: &Identity, cluster: &str) -> Vec<&pb::Rule> {
        let mut roles: Vec<usize> = self.role_indices(who).collect();
        roles.sort_unstable();
        roles.dedup();
        roles
            .into_iter()
            .flat_map(|i| self.roles[i].iter().zip(&self.sources[i]))
            .filter(|(rule, _)| rule.matches_cluster(cluster))
            .map(|(_, source)| source)
            .collect()
    }
}

fn push_unique(v: &mut Vec<usize>, i: usize) {
    if !v.contains(&i) {
        v.push(i);
    }
}

#[cfg(test)]
mod tests;
