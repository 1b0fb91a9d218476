//! What selects or names other objects: Services, PodDisruptionBudgets,
//! NetworkPolicies, the HorizontalPodAutoscaler, RoleBindings and
//! ServiceMonitors must each find what they are meant for.

use serde_json::Value;

use super::super::render::{id, of_kind};
use super::{containers, is_dns_label, selects, templates};

pub fn check(objects: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    for o in objects {
        let mut p = Vec::new();
        match o["kind"].as_str().unwrap_or("") {
            "Service" => service(objects, o, &mut p),
            "PodDisruptionBudget" => {
                pods_of(objects, &o["spec"]["selector"]["matchLabels"], &mut p);
            }
            "NetworkPolicy" => network_policy(objects, o, &mut p),
            "HorizontalPodAutoscaler" => autoscaler(objects, o, &mut p),
            "RoleBinding" => role_binding(objects, o, &mut p),
            "ServiceMonitor" => service_monitor(objects, o, &mut p),
            _ => {}
        }
        problems.extend(p.into_iter().map(|m| format!("{}: {m}", id(o))));
    }
    problems
}

/// The pod templates `match_labels` selects; a problem when none.
fn pods_of<'a>(objects: &'a [Value], match_labels: &Value, p: &mut Vec<String>) -> Vec<&'a Value> {
    let pods: Vec<&Value> = templates(objects)
        .filter(|(_, t)| selects(match_labels, &t["metadata"]["labels"]))
        .map(|(_, t)| &t["spec"])
        .collect();
    if pods.is_empty() {
        p.push(format!("selects no pods ({match_labels})"));
    }
    pods
}

/// Whether every selected pod has a container port named `port`.
fn named_port_everywhere(pods: &[&Value], port: &str) -> bool {
    pods.iter()
        .all(|pod| containers(pod).any(|c| super::container_port(c, port).is_some()))
}

fn service(objects: &[Value], s: &Value, p: &mut Vec<String>) {
    let name = s["metadata"]["name"].as_str().unwrap_or("");
    if !is_dns_label(name) || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        p.push("a Service name must be a DNS-1035 label".into());
    }
    let pods = pods_of(objects, &s["spec"]["selector"], p);
    let ports = s["spec"]["ports"].as_array().cloned().unwrap_or_default();
    for port in &ports {
        let port_name = port["name"].as_str().unwrap_or("");
        if ports.len() > 1 && !is_dns_label(port_name) {
            p.push("every port of a multi-port Service needs a DNS-label name".into());
        }
        if let Some(target) = port["targetPort"].as_str()
            && !named_port_everywhere(&pods, target)
        {
            p.push(format!(
                "targetPort {target:?} is not a port of every selected pod"
            ));
        }
    }
}

fn network_policy(objects: &[Value], np: &Value, p: &mut Vec<String>) {
    let pods = pods_of(objects, &np["spec"]["podSelector"]["matchLabels"], p);
    for rule in np["spec"]["ingress"].as_array().into_iter().flatten() {
        for port in rule["ports"].as_array().into_iter().flatten() {
            if let Some(named) = port["port"].as_str()
                && !named_port_everywhere(&pods, named)
            {
                p.push(format!(
                    "allows port {named:?}, which the selected pods do not have"
                ));
            }
        }
        for from in rule["from"].as_array().into_iter().flatten() {
            if let Some(labels) = from["podSelector"]["matchLabels"].as_object() {
                pods_of(objects, &Value::Object(labels.clone()), p);
            }
        }
    }
}

fn autoscaler(objects: &[Value], hpa: &Value, p: &mut Vec<String>) {
    let target = &hpa["spec"]["scaleTargetRef"];
    let Some((d, _)) = templates(objects).find(|(d, _)| d["metadata"]["name"] == target["name"])
    else {
        return p.push(format!("scales {}, which is not rendered", target["name"]));
    };
    if !d["spec"]["replicas"].is_null() {
        p.push("its Deployment sets replicas, which every `kubectl apply` would reset".into());
    }
    if hpa["spec"]["minReplicas"].as_i64() > hpa["spec"]["maxReplicas"].as_i64() {
        p.push("minReplicas > maxReplicas".into());
    }
}

fn role_binding(objects: &[Value], rb: &Value, p: &mut Vec<String>) {
    let rendered = |kind: &Value, name: &Value| {
        of_kind(objects, kind.as_str().unwrap_or("")).any(|o| o["metadata"]["name"] == *name)
    };
    if !rendered(&rb["roleRef"]["kind"], &rb["roleRef"]["name"]) {
        p.push(format!("roleRef {} is not rendered", rb["roleRef"]["name"]));
    }
    for s in rb["subjects"].as_array().into_iter().flatten() {
        if !rendered(&s["kind"], &s["name"]) {
            p.push(format!("subject {} is not rendered", s["name"]));
        }
    }
}

fn service_monitor(objects: &[Value], sm: &Value, p: &mut Vec<String>) {
    let services: Vec<&Value> = of_kind(objects, "Service")
        .filter(|s| {
            selects(
                &sm["spec"]["selector"]["matchLabels"],
                &s["metadata"]["labels"],
            )
        })
        .collect();
    for e in sm["spec"]["endpoints"].as_array().into_iter().flatten() {
        let port = &e["port"];
        if !services.iter().any(|s| {
            s["spec"]["ports"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|x| x["name"] == *port))
        }) {
            p.push(format!(
                "scrapes port {port}, which no selected Service has"
            ));
        }
    }
}
