//! Legacy (non-aggregated) discovery: `/version`, `/api`, `/api/v1`,
//! `/apis`, `/apis/<group>`, `/apis/<group>/<version>`.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::resources::{self, GROUPS, ResourceType};

/// `/version`; `gitVersion` is `v1.33.0+kubeplex-test.<cluster>`.
pub fn version(cluster: &str) -> Value {
    let build: String = cluster
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": format!("v1.33.0+kubeplex-test.{build}"),
        "gitCommit": "60a317eadfcb839692a5551a598f0d3f0a15b8cc",
        "gitTreeState": "clean",
        "buildDate": "2025-04-22T16:03:15Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/api`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_json(group: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

/// `/apis`, with `user_group` (see [`user_group`]) when discovery is per user.
pub fn api_group_list(user_group: Option<&str>) -> Value {
    let mut groups: Vec<Value> = GROUPS.iter().map(|(g, v)| group_json(g, v)).collect();
    groups.extend(user_group.map(|g| group_json(g, "v1")));
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, if served.
pub fn api_group(group: &str) -> Option<Value> {
    let (g, v) = GROUPS.iter().find(|(g, _)| *g == group)?;
    let mut body = group_json(g, v);
    body["kind"] = json!("APIGroup");
    body["apiVersion"] = json!("v1");
    Some(body)
}

fn storage_version_hash(rt: &ResourceType) -> String {
    use base64::Engine;
    let digest = Sha256::digest(format!("{}/{}/{}", rt.group, rt.version, rt.kind));
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

/// `/api/v1` or `/apis/<group>/<version>`, if served.
pub fn api_resource_list(group: &str, version: &str) -> Option<Value> {
    let list = resources::in_group_version(group, version);
    if list.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for rt in list {
        let mut r = json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": rt.verbs,
        });
        if !rt.short_names.is_empty() {
            r["shortNames"] = json!(rt.short_names);
        }
        if !rt.categories.is_empty() {
            r["categories"] = json!(rt.categories);
        }
        if rt.stored {
            r["storageVersionHash"] = json!(storage_version_hash(rt));
        }
        out.push(r);
        for sub in rt.subresources {
            let mut s = json!({
                "name": format!("{}/{}", rt.plural, sub.name),
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": sub.kind,
                "verbs": sub.verbs,
            });
            if let Some((g, v)) = sub.group_version {
                s["group"] = json!(g);
                s["version"] = json!(v);
            }
            out.push(s);
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut body =
        json!({"kind": "APIResourceList", "groupVersion": group_version, "resources": out});
    if !group.is_empty() {
        body["apiVersion"] = json!("v1");
    }
    Some(body)
}

/// The API group a user sees on a server with per-user discovery:
/// `<user, lower-case, other characters as '-'>.users.discovery.test`.
pub fn user_group(username: &str) -> String {
    let label: String = username
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{}.users.discovery.test", label.trim_matches('-'))
}

/// `/apis/<user group>` and `/apis/<user group>/v1` (no resources).
pub fn user_group_document(user_group: &str, parts: &[&str]) -> Option<Value> {
    match parts {
        ["apis", g] if *g == user_group => {
            let mut body = group_json(g, "v1");
            body["kind"] = json!("APIGroup");
            body["apiVersion"] = json!("v1");
            Some(body)
        }
        ["apis", g, "v1"] if *g == user_group => Some(json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": format!("{g}/v1"),
            "resources": [],
        })),
        _ => None,
    }
}
