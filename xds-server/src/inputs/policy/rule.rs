//! One policy rule: which clusters, namespaces, verbs and resources (or
//! non-resource URLs) it allows.

use kubeplex_proto::filter::v1 as pb;

use crate::inputs::problems::{Fields, Problems};
use crate::inputs::yaml_tree::Node;

const VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "proxy",
    "impersonate",
    "bind",
    "escalate",
    "use",
    "*",
];

const KEYS: &[&str] = &[
    "clusters",
    "namespaces",
    "verbs",
    "resources",
    "resourceNames",
    "nonResourceURLs",
];

/// A problem at `key[i]` for each item of `key` that `check` refuses.
fn check_each(
    p: &mut Problems,
    f: &Fields<'_>,
    key: &str,
    items: &[(String, Option<u64>)],
    check: impl Fn(&str) -> Result<(), String>,
) {
    for (i, (item, line)) in items.iter().enumerate() {
        if let Err(reason) = check(item) {
            p.add(*line, &format!("{}[{i}]", f.path_of(key)), reason);
        }
    }
}

/// A rule about resources: namespaces required, each a namespace glob;
/// each resource a resource pattern.
fn check_resource_rule(
    p: &mut Problems,
    f: &Fields<'_>,
    namespaces: &[(String, Option<u64>)],
    resources: &[(String, Option<u64>)],
) {
    if !f.has("namespaces") {
        f.missing(p, "namespaces");
    }
    check_each(p, f, "namespaces", namespaces, |ns| {
        check_glob(ns, "namespace", |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
        })
    });
    check_each(p, f, "resources", resources, check_resource);
}

/// A rule about non-resource URLs: no namespaces or resource names.
fn check_non_resource_rule(p: &mut Problems, f: &Fields<'_>, urls: &[(String, Option<u64>)]) {
    for key in ["namespaces", "resourceNames"] {
        if f.has(key) {
            p.add(
                f.line_of(key),
                &f.path_of(key),
                format!("{key} does not apply to nonResourceURLs"),
            );
        }
    }
    check_each(p, f, "nonResourceURLs", urls, check_non_resource_url);
}

/// One rule of a role; None when it has a problem (each one is in `p`).
pub fn read(p: &mut Problems, node: &Node, path: &str) -> Option<pb::Rule> {
    let errors_before = p.len();
    let f = Fields::new(p, node, path, KEYS);
    let clusters = required_list(p, &f, "clusters");
    let verbs = required_list(p, &f, "verbs");
    let resources = list(p, &f, "resources");
    let non_resource_urls = list(p, &f, "nonResourceURLs");
    let namespaces = list(p, &f, "namespaces");
    let resource_names = list(p, &f, "resourceNames");

    check_each(p, &f, "clusters", &clusters, |cluster| {
        check_glob(cluster, "cluster", |c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':' | '+' | '~')
        })
    });
    check_each(p, &f, "verbs", &verbs, check_verb);
    match (f.has("resources"), f.has("nonResourceURLs")) {
        (true, true) => p.add(
            f.line_of("nonResourceURLs"),
            path,
            "a rule has resources or nonResourceURLs, not both; split it into two rules",
        ),
        (false, false) => p.add(f.line, path, "a rule needs resources or nonResourceURLs"),
        (true, false) => check_resource_rule(p, &f, &namespaces, &resources),
        (false, true) => check_non_resource_rule(p, &f, &non_resource_urls),
    }
    if p.len() > errors_before {
        return None;
    }
    let strings = |v: Vec<(String, Option<u64>)>| v.into_iter().map(|(s, _)| s).collect();
    Some(pb::Rule {
        clusters: strings(clusters),
        namespaces: strings(namespaces),
        verbs: strings(verbs),
        resources: strings(resources),
        resource_names: strings(resource_names),
        non_resource_urls: strings(non_resource_urls),
    })
}

fn list(p: &mut Problems, f: &Fields<'_>, key: &str) -> Vec<(String, Option<u64>)> {
    f.str_list(p, key).unwrap_or_default()
}

fn required_list(p: &mut Problems, f: &Fields<'_>, key: &str) -> Vec<(String, Option<u64>)> {
    match f.str_list(p, key) {
        Some(v) if !v.is_empty() => v,
        Some(_) => {
            p.add(
                f.line_of(key),
                &f.path_of(key),
                "must list at least one entry",
            );
            Vec::new()
        }
        None => {
            if !f.has(key) {
                f.missing(p, key);
            }
            Vec::new()
        }
    }
}

/// mk8s and kubectl habits, translated into Kubernetes verbs.
fn check_verb(verb: &str) -> Result<(), String> {
    if VERBS.contains(&verb) {
        return Ok(());
    }
    let hint = match verb {
        "logs" | "log" => "use resource pods/log with verb get".to_string(),
        "exec" => "use resource pods/exec with verb create".to_string(),
        "attach" => "use resource pods/attach with verb create".to_string(),
        "port-forward" | "portforward" => {
            "use resource pods/portforward with verb create".to_string()
        }
        "read" | "view" => "use verbs get, list, watch".to_string(),
        "write" | "edit" => "use verbs create, update, patch, delete".to_string(),
        "apply" => "kubectl apply uses get, create and patch".to_string(),
        "scale" => {
            "use resource deployments/scale (or */scale) with verb update or patch".to_string()
        }
        "all" => "use `*`".to_string(),
        v if VERBS.contains(&v.to_lowercase().as_str()) => {
            format!("verbs are lower-case: {}", v.to_lowercase())
        }
        _ => format!("expected one of: {}", VERBS.join(" ")),
    };
    Err(format!("unknown verb `{verb}`; {hint}"))
}

/// `*` may stand anywhere; everything else must be `allowed`.
fn check_glob(glob: &str, what: &str, allowed: impl Fn(char) -> bool) -> Result<(), String> {
    if glob.is_empty() {
        return Err(format!("an empty {what} pattern matches nothing"));
    }
    match glob.chars().find(|c| *c != '*' && !allowed(*c)) {
        Some(c) => Err(format!(
            "{what} pattern `{glob}` contains {c:?}, which no {what} name has"
        )),
        None => Ok(()),
    }
}

/// `*`, `resource`, `resource/sub`, `group/resource`, `group/resource/sub`.
fn check_resource(resource: &str) -> Result<(), String> {
    if resource == "*" {
        return Ok(());
    }
    let segments: Vec<&str> = resource.split('/').collect();
    if segments.len() > 3 || segments.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "`{resource}` is not resource, resource/subresource, group/resource or group/resource/subresource"
        ));
    }
    if let [single] = segments.as_slice()
        && let Some((name, group)) = single.split_once('.')
    {
        return Err(format!("write the API group first: `{group}/{name}`"));
    }
    for segment in &segments {
        let ok = *segment == "*"
            || segment
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-'));
        if !ok {
            return Err(format!(
                "`{resource}`: resource names are lower-case (`*` stands for a whole segment)"
            ));
        }
    }
    Ok(())
}

/// `*`, or a path starting with `/`; `*` only at the end (prefix match).
fn check_non_resource_url(url: &str) -> Result<(), String> {
    if url == "*" {
        return Ok(());
    }
    if !url.starts_with('/') {
        return Err(format!("`{url}` must start with /"));
    }
    if url.trim_end_matches('*').contains('*') || url.matches('*').count() > 1 {
        return Err(format!(
            "`{url}`: `*` is only allowed at the end (a prefix match)"
        ));
    }
    Ok(())
}
