//! The gateway RBAC policy file (the mk8s model): roles with rules, and
//! bindings of users and groups to roles. Strictly validated, compiled into
//! the filter's `Policy` message.

use std::path::Path;

use kubeplex_proto::filter::v1 as pb;

use super::InputErrors;
use super::problems::{Fields, Problems, items};
use super::yaml_tree::Node;

mod rule;

#[cfg(test)]
mod tests;

const API_VERSION: &str = "kubeplex.io/v1alpha1";
const KIND: &str = "GatewayPolicy";

/// Read and validate a policy file.
pub fn load(path: &Path) -> Result<pb::Policy, InputErrors> {
    parse(&super::read(path)?, path)
}

/// Parse policy text; `path` names the file in errors.
pub fn parse(text: &str, path: &Path) -> Result<pb::Policy, InputErrors> {
    let (mut p, root) = Problems::parse_yaml(path, text)?;
    let top = Fields::new(
        &mut p,
        &root,
        "",
        &["apiVersion", "kind", "nonResourceURLs", "roles", "bindings"],
    );
    for (key, want) in [("apiVersion", API_VERSION), ("kind", KIND)] {
        let found = top.req_str(&mut p, key);
        top.expect_value(&mut p, key, found, want);
    }
    let restrict_non_resource_urls = non_resource_urls_mode(&mut p, &top);
    let roles = match top.get("roles") {
        Some(node) => roles(&mut p, node),
        None => Vec::new(),
    };
    let bindings = match top.get("bindings") {
        Some(node) => bindings(&mut p, node, &roles),
        None => Vec::new(),
    };
    p.finish(pb::Policy {
        roles,
        bindings,
        restrict_non_resource_urls,
    })
}

/// `nonResourceURLs`: true for `restricted`.
fn non_resource_urls_mode(p: &mut Problems, top: &Fields<'_>) -> bool {
    match top.str(p, "nonResourceURLs").as_deref() {
        None | Some("allowAuthenticated") => false,
        Some("restricted") => true,
        Some(other) => {
            p.add(
                top.line_of("nonResourceURLs"),
                "nonResourceURLs",
                format!("`{other}` is not a mode; use allowAuthenticated or restricted"),
            );
            false
        }
    }
}

/// `roles`: each named once, each with at least one rule.
fn roles(p: &mut Problems, node: &Node) -> Vec<pb::Role> {
    let mut roles: Vec<pb::Role> = Vec::new();
    for (path, item) in items(p, node, "roles") {
        let f = Fields::new(p, item, &path, &["name", "rules"]);
        let name = f.req_str(p, "name");
        let rules = rules(p, &f);
        let Some(name) = name else { continue };
        if let Some(first) = roles.iter().position(|r| r.name == name) {
            p.add(
                f.line_of("name"),
                &f.path_of("name"),
                format!("duplicate role name `{name}` (also roles[{first}])"),
            );
            continue;
        }
        roles.push(pb::Role { name, rules });
    }
    roles
}

/// A role's `rules`.
fn rules(p: &mut Problems, f: &Fields<'_>) -> Vec<pb::Rule> {
    let Some(list) = f.get("rules") else {
        f.missing(p, "rules");
        return Vec::new();
    };
    let list = items(p, list, &f.path_of("rules"));
    if list.is_empty() {
        p.add(
            f.line_of("rules"),
            &f.path_of("rules"),
            "a role needs at least one rule",
        );
    }
    list.into_iter()
        .filter_map(|(rule_path, rule_node)| rule::read(p, rule_node, &rule_path))
        .collect()
}

/// `bindings`: each of a defined role, to users or groups.
fn bindings(p: &mut Problems, node: &Node, roles: &[pb::Role]) -> Vec<pb::Binding> {
    let mut bindings = Vec::new();
    for (path, item) in items(p, node, "bindings") {
        let f = Fields::new(p, item, &path, &["role", "users", "groups"]);
        let role = f.req_str(p, "role");
        let users = strings(p, &f, "users");
        let groups = strings(p, &f, "groups");
        if users.is_empty() && groups.is_empty() && !f.has("users") && !f.has("groups") {
            p.add(f.line, &path, "a binding needs users or groups");
        }
        let Some(role) = role else { continue };
        if !roles.iter().any(|r| r.name == role) {
            p.add(
                f.line_of("role"),
                &f.path_of("role"),
                format!("role `{role}` is not defined in roles"),
            );
            continue;
        }
        bindings.push(pb::Binding {
            role,
            users,
            groups,
        });
    }
    bindings
}

/// A list of non-empty strings.
fn strings(p: &mut Problems, f: &Fields<'_>, key: &str) -> Vec<String> {
    let list = f.str_list(p, key).unwrap_or_default();
    let mut out = Vec::new();
    for (i, (s, line)) in list.into_iter().enumerate() {
        if s.is_empty() {
            p.add(
                line,
                &format!("{}[{i}]", f.path_of(key)),
                "must not be empty",
            );
        } else {
            out.push(s);
        }
    }
    out
}
