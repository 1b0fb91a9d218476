//! Strict decoding into the API's types. The apiserver decodes a request
//! body into the Go types generated from the same OpenAPI schema as
//! `k8s-openapi`'s, refusing wrong types and, with `fieldValidation=Strict`
//! (`kubectl apply --validate=strict`), unknown fields. Here: a wrong type
//! fails the decode, and a field that does not survive the round trip
//! through the type is one the API does not have.

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::service_monitor::ServiceMonitor;

/// What is wrong with `object` as the API would decode it (empty: nothing).
pub fn check(object: &Value) -> Vec<String> {
    let api_version = object["apiVersion"].as_str().unwrap_or("");
    let kind = object["kind"].as_str().unwrap_or("");
    match (api_version, kind) {
        ("v1", "ConfigMap") => strict::<ConfigMap>(object),
        ("v1", "Secret") => strict::<Secret>(object),
        ("v1", "Service") => strict::<Service>(object),
        ("v1", "ServiceAccount") => strict::<ServiceAccount>(object),
        ("apps/v1", "Deployment") => strict::<Deployment>(object),
        ("autoscaling/v2", "HorizontalPodAutoscaler") => strict::<HorizontalPodAutoscaler>(object),
        ("policy/v1", "PodDisruptionBudget") => strict::<PodDisruptionBudget>(object),
        ("networking.k8s.io/v1", "NetworkPolicy") => strict::<NetworkPolicy>(object),
        ("rbac.authorization.k8s.io/v1", "Role") => strict::<Role>(object),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => strict::<RoleBinding>(object),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => strict::<ClusterRole>(object),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            strict::<ClusterRoleBinding>(object)
        }
        ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration") => {
            strict::<MutatingWebhookConfiguration>(object)
        }
        ("monitoring.coreos.com/v1", "ServiceMonitor") => {
            let mut problems = strict::<ServiceMonitor>(object);
            problems.extend(super::service_monitor::check_values(object));
            problems
        }
        _ => vec![format!(
            "{api_version} {kind}: not a kind this install may render"
        )],
    }
}

/// What is wrong with a workload `kubeplex inject` may write (a kind that
/// holds a pod template, or a `List` of them), as the API would decode it.
pub fn check_workload(object: &Value) -> Vec<String> {
    let api_version = object["apiVersion"].as_str().unwrap_or("");
    let kind = object["kind"].as_str().unwrap_or("");
    match (api_version, kind) {
        ("v1", "Pod") => strict::<Pod>(object),
        ("apps/v1", "Deployment") => strict::<Deployment>(object),
        ("apps/v1", "StatefulSet") => strict::<StatefulSet>(object),
        ("apps/v1", "DaemonSet") => strict::<DaemonSet>(object),
        ("apps/v1", "ReplicaSet") => strict::<ReplicaSet>(object),
        ("batch/v1", "Job") => strict::<Job>(object),
        ("batch/v1", "CronJob") => strict::<CronJob>(object),
        ("v1", "List") => object["items"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .flat_map(|(i, item)| {
                check_workload(item)
                    .into_iter()
                    .map(move |p| format!("items[{i}]: {p}"))
            })
            .collect(),
        _ => vec![format!("{api_version} {kind}: not a workload kind")],
    }
}

fn strict<T: DeserializeOwned + Serialize>(object: &Value) -> Vec<String> {
    let typed: T = match serde_json::from_value(object.clone()) {
        Ok(t) => t,
        Err(e) => return vec![format!("does not decode: {e}")],
    };
    let kept = serde_json::to_value(&typed).expect("a decoded object serializes");
    let mut problems = Vec::new();
    compare(object, &kept, "", &mut problems);
    problems
}

/// Every field of `sent` that `kept` lost or changed.
fn compare(sent: &Value, kept: &Value, path: &str, out: &mut Vec<String>) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (sent, kept) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    Some(w) => compare(v, w, &join(k), out),
                    None if v.is_null() => {}
                    None => out.push(format!("unknown field {:?}", join(k))),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                compare(v, w, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a != b => out.push(format!("{path}: {a} was read as {b}")),
        _ => {}
    }
}
