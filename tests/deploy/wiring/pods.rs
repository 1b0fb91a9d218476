//! Pod templates: the apiserver's rules on names, ports and volumes; the
//! security context; what every pod refers to exists.

use serde_json::Value;

use super::super::USER_SECRETS;
use super::super::render::{id, of_kind};
use super::{containers, is_dns_label, is_port_name, selects, templates};

pub fn check(objects: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    for (d, template) in templates(objects) {
        let pod = &template["spec"];
        let mut p = Vec::new();
        if !selects(
            &d["spec"]["selector"]["matchLabels"],
            &template["metadata"]["labels"],
        ) {
            p.push("selector does not match the template's labels".to_string());
        }
        names_and_ports(pod, &mut p);
        volumes(pod, &mut p);
        security(objects, pod, &mut p);
        references(objects, pod, &mut p);
        problems.extend(p.into_iter().map(|m| format!("{}: {m}", id(d))));
    }
    problems
}

fn names_and_ports(pod: &Value, p: &mut Vec<String>) {
    let mut seen = Vec::new();
    for c in containers(pod) {
        let name = c["name"].as_str().unwrap_or("");
        if !is_dns_label(name) || seen.contains(&name) {
            p.push(format!("container name {name:?} is not a unique DNS label"));
        }
        seen.push(name);
        let ports: Vec<&str> = c["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x["name"].as_str())
            .collect();
        for (i, port) in ports.iter().enumerate() {
            if !is_port_name(port) || ports[..i].contains(port) {
                p.push(format!(
                    "{name}: port name {port:?} is not a unique IANA service name"
                ));
            }
        }
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
            if let Some(port) = c[probe]["httpGet"]["port"].as_str()
                && !ports.contains(&port)
            {
                p.push(format!(
                    "{name}: {probe} names port {port:?}, which it does not have"
                ));
            }
        }
        let requests = &c["resources"]["requests"];
        if requests["cpu"].is_null()
            || requests["memory"].is_null()
            || c["resources"]["limits"]["memory"].is_null()
        {
            p.push(format!(
                "{name}: needs cpu and memory requests and a memory limit"
            ));
        }
    }
}

fn volumes(pod: &Value, p: &mut Vec<String>) {
    let names: Vec<&str> = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .collect();
    for (i, v) in names.iter().enumerate() {
        if !is_dns_label(v) || names[..i].contains(v) {
            p.push(format!("volume name {v:?} is not a unique DNS label"));
        }
    }
    for c in containers(pod) {
        for m in c["volumeMounts"].as_array().into_iter().flatten() {
            let v = m["name"].as_str().unwrap_or("");
            if !names.contains(&v) {
                p.push(format!(
                    "{}: mounts volume {v:?}, which the pod does not have",
                    c["name"]
                ));
            }
            if m["subPath"].is_string() {
                p.push(format!(
                    "{}: subPath mounts never see ConfigMap/Secret updates",
                    c["name"]
                ));
            }
        }
    }
}

fn security(objects: &[Value], pod: &Value, p: &mut Vec<String>) {
    let s = &pod["securityContext"];
    if s["runAsNonRoot"] != true || s["seccompProfile"]["type"] != "RuntimeDefault" {
        p.push("pod securityContext: needs runAsNonRoot and seccompProfile RuntimeDefault".into());
    }
    let account = pod["serviceAccountName"].as_str().unwrap_or("default");
    let granted = super::revocations::granted_rules(objects, account);
    match (pod["automountServiceAccountToken"].as_bool(), granted.is_empty()) {
        (Some(false), true) | (Some(true), false) => {}
        (_, true) => p.push(format!(
            "automountServiceAccountToken must be false (ServiceAccount {account} may do nothing)"
        )),
        (_, false) => p.push(format!(
            "automountServiceAccountToken must be true (ServiceAccount {account} is granted {} rule(s) it needs the token for)",
            granted.len()
        )),
    }
    for c in containers(pod) {
        let s = &c["securityContext"];
        let drops_all = s["capabilities"]["drop"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x == "ALL"));
        for (ok, what) in [
            (
                s["readOnlyRootFilesystem"] == true,
                "readOnlyRootFilesystem: true",
            ),
            (
                s["allowPrivilegeEscalation"] == false,
                "allowPrivilegeEscalation: false",
            ),
            (s["privileged"] != true, "privileged not true"),
            (
                drops_all && s["capabilities"]["add"].is_null(),
                "capabilities: drop ALL, add none",
            ),
        ] {
            if !ok {
                p.push(format!("{}: securityContext needs {what}", c["name"]));
            }
        }
    }
}

fn references(objects: &[Value], pod: &Value, p: &mut Vec<String>) {
    let rendered =
        |kind: &str, name: &str| of_kind(objects, kind).any(|o| o["metadata"]["name"] == name);
    let sa = pod["serviceAccountName"].as_str().unwrap_or("default");
    if !rendered("ServiceAccount", sa) {
        p.push(format!("ServiceAccount {sa:?} is not rendered"));
    }
    for v in pod["volumes"].as_array().into_iter().flatten() {
        if let Some(cm) = v["configMap"]["name"].as_str()
            && !rendered("ConfigMap", cm)
        {
            p.push(format!("ConfigMap {cm:?} is not rendered"));
        }
        if let Some(secret) = v["secret"]["secretName"].as_str()
            && !rendered("Secret", secret)
            && !USER_SECRETS.iter().any(|(n, _)| *n == secret)
        {
            p.push(format!(
                "Secret {secret:?} is neither rendered nor one the README has users create"
            ));
        }
    }
}
