//! The gateway RBAC policy file (the mk8s model): roles with rules, and
//! bindings of users and groups to roles. Strictly validated, compiled into
//! the filter's `Policy` message.

use std::path::Path;

use kubeplex_proto::filter::v1 as pb;

use super::InputErrors;
use super::problems::{Fields, Problems, items};

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
    let restrict_non_resource_urls = match top.str(&mut p, "nonResourceURLs").as_deref() {
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
    };

    let mut roles: Vec<pb::Role> = Vec::new();
    if let Some(node) = top.get("roles") {
        for (path, item) in items(&mut p, node, "roles") {
            let f = Fields::new(&mut p, item, &path, &["name", "rules"]);
            let name = f.req_str(&mut p, "name");
            let mut rules = Vec::new();
            match f.get("rules") {
                Some(list) => {
                    let list = items(&mut p, list, &f.path_of("rules"));
                    if list.is_empty() {
                        p.add(
                            f.line_of("rules"),
                            &f.path_of("rules"),
                            "a role needs at least one rule",
                        );
                    }
                    for (rule_path, rule_node) in list {
                        if let Some(rule) = rule::read(&mut p, rule_node, &rule_path) {
                            rules.push(rule);
                        }
                    }
                }
                None => f.missing(&mut p, "rules"),
            }
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
    }

    let mut bindings = Vec::new();
    if let Some(node) = top.get("bindings") {
        for (path, item) in items(&mut p, node, "bindings") {
            let f = Fields::new(&mut p, item, &path, &["role", "users", "groups"]);
            let role = f.req_str(&mut p, "role");
            let users = strings(&mut p, &f, "users");
            let groups = strings(&mut p, &f, "groups");
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
    }
    p.finish(pb::Policy {
        roles,
        bindings,
        restrict_non_resource_urls,
    })
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
