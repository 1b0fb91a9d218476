//! Rules the apiserver enforces on these kinds (selectors that match their
//! template, names, named ports, volumes), and what makes the objects work
//! together (references, Services and policies that select pods, the
//! security context every pod must have, the Envoy/control-plane wiring).

mod control_plane;
mod envoy;
mod pods;
mod revocations;
mod selection;

use serde_json::Value;

/// Every problem found among `objects` (empty: none).
pub fn check(objects: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    for o in objects {
        let name = o["metadata"]["name"].as_str().unwrap_or("");
        if !is_dns_subdomain(name) {
            problems.push(format!(
                "{}: metadata.name is not a DNS subdomain",
                super::render::id(o)
            ));
        }
    }
    problems.extend(pods::check(objects));
    problems.extend(selection::check(objects));
    problems.extend(envoy::check(objects));
    problems.extend(control_plane::check(objects));
    problems.extend(revocations::check(objects));
    problems
}

/// RFC 1123 label: what container, volume and Service port names must be.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1123 subdomain: what object names must be.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// IANA service name: what container port names must be (≤ 15, a letter,
/// no `--`).
pub fn is_port_name(s: &str) -> bool {
    is_dns_label(s)
        && s.len() <= 15
        && s.bytes().any(|b| b.is_ascii_lowercase())
        && !s.contains("--")
}

/// `matchLabels` ⊆ `labels`.
pub fn selects(match_labels: &Value, labels: &Value) -> bool {
    match (match_labels.as_object(), labels.as_object()) {
        (Some(m), Some(l)) => !m.is_empty() && m.iter().all(|(k, v)| l.get(k) == Some(v)),
        _ => false,
    }
}

/// The Deployments' pod templates.
pub fn templates(objects: &[Value]) -> impl Iterator<Item = (&Value, &Value)> {
    super::render::of_kind(objects, "Deployment").map(|d| (d, &d["spec"]["template"]))
}

/// Every container of a pod spec, init containers first.
pub fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
    let list = |k: &str| pod[k].as_array().into_iter().flatten();
    list("initContainers").chain(list("containers"))
}

/// The value of `--flag=value` or `--flag value` in a container's args.
pub fn flag<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    let args: Vec<&str> = container["args"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let prefix = format!("{name}=");
    args.iter()
        .enumerate()
        .find_map(|(i, a)| match a.strip_prefix(prefix.as_str()) {
            Some(value) => Some(value),
            None if *a == name => args.get(i + 1).copied(),
            None => None,
        })
}

/// A container's environment variable (literal values only).
pub fn env<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?["value"]
        .as_str()
}

/// The container port named `name`.
pub fn container_port(container: &Value, name: &str) -> Option<i64> {
    container["ports"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)?["containerPort"]
        .as_i64()
}
