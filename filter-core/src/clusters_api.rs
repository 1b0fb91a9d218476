//! `GET /.kubeplex/v1/clusters`: the gateway tells a signed-in caller who
//! it takes them for, which clusters they may reach and what the gateway
//! policy lets them do on each (`kubeplex clusters list`, `kubeplex
//! status`). The filter answers it itself: it has the verified identity and
//! the compiled policy, so the answer is the one its decisions follow.
//! The CLI reads the same types.

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::config_pb as pb;
use crate::token::VerifiedToken;

/// The answer's `kind`.
pub const KIND: &str = "ClusterList";
/// The answer's `apiVersion`.
pub const API_VERSION: &str = "kubeplex.io/v1alpha1";

/// The whole answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterList {
    /// [`KIND`].
    pub kind: String,
    /// [`API_VERSION`].
    pub api_version: String,
    /// Who the gateway takes the caller for.
    pub user: UserInfo,
    /// Whether a gateway policy applies (without one, every cluster is
    /// reachable and each cluster's own RBAC decides).
    pub policy: bool,
    /// The clusters the caller may reach, by name.
    pub clusters: Vec<ClusterEntry>,
}

/// The identity the clusters see (impersonated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    /// `Impersonate-User`.
    pub username: String,
    /// `Impersonate-Group`.
    pub groups: Vec<String>,
    /// The token's issuer.
    pub issuer: String,
    /// The token's `exp`, Unix seconds.
    pub expires_at: i64,
}

/// One reachable cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterEntry {
    /// The context name (`/clusters/<name>/…`).
    pub name: String,
    /// The gateway policy's rules for the caller on this cluster; empty
    /// without a policy.
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
    /// The cluster's health where known: not by the filter (it answers
    /// without asking any cluster), but by `kubeplex clusters list`, which
    /// asks each cluster's `/readyz` through the gateway as the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// What a cluster's `/readyz`, asked through the gateway, said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Health {
    /// `/readyz` answered 200.
    Ready,
    /// The apiserver answered, not ready (a 500 listing failed checks).
    NotReady,
    /// No answer from the cluster: the gateway's 502/503/504, or none in time.
    Unreachable,
}

/// A policy rule as `kubectl auth can-i --list` shows one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// Namespace globs (`*` also matches cluster-scoped requests).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Verbs.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// `resource`, `group/resource`, `…/subresource`, `*`.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Object names; empty = any.
    #[serde(default)]
    pub resource_names: Vec<String>,
    /// Non-resource paths.
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
}

impl From<&pb::Rule> for PolicyRule {
    fn from(rule: &pb::Rule) -> PolicyRule {
        PolicyRule {
            namespaces: rule.namespaces.clone(),
            verbs: rule.verbs.clone(),
            resources: rule.resources.clone(),
            resource_names: rule.resource_names.clone(),
            non_resource_urls: rule.non_resource_urls.clone(),
        }
    }
}

/// Whether this request asks for the list: `GET` on exactly the path
/// (any query ignored).
pub fn is_clusters_request(method: &str, path: &str) -> bool {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    method == "GET" && path == kubeplex_proto::routing::CLUSTERS_API_PATH
}

/// The answer for `token`'s holder, as JSON. A token bound to a cluster
/// (`ctx` claim) reaches only that one.
pub fn answer(config: &Config, token: &VerifiedToken) -> String {
    let who = &token.identity;
    let mut names: Vec<&String> = config.contexts.keys().collect();
    names.sort();
    let clusters = names
        .into_iter()
        .filter(|name| token.ctx.as_ref().is_none_or(|bound| bound == *name))
        .filter_map(|name| match &config.policy {
            None => Some(ClusterEntry {
                name: name.clone(),
                rules: Vec::new(),
                health: None,
            }),
            Some(policy) => {
                let rules = policy.rules_for(who, name);
                (!rules.is_empty()).then(|| ClusterEntry {
                    name: name.clone(),
                    rules: rules.into_iter().map(PolicyRule::from).collect(),
                    health: None,
                })
            }
        })
        .collect();
    let list = ClusterList {
        kind: KIND.to_string(),
        api_version: API_VERSION.to_string(),
        user: UserInfo {
            username: who.user.clone(),
            groups: who.groups.clone(),
            issuer: token.issuer.clone(),
            expires_at: token.exp,
        },
        policy: config.policy.is_some(),
        clusters,
    };
    serde_json::to_string(&list).expect("the cluster list serializes")
}

#[cfg(test)]
mod tests;
