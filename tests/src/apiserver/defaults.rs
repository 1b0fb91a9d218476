//! Per-kind defaulting and the status a healthy cluster's controllers
//! would write: namespaces are Active, pods Running and Ready, deployments
//! fully rolled out (so `kubectl rollout status` succeeds), services get a
//! cluster IP, secrets fold `stringData` into `data`.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::resources::ResourceType;

/// Fills defaults and status on `obj` (create: `old = None`). `rv` is the
/// version the write will get (used for deterministic cluster IPs).
pub fn apply(rt: &ResourceType, obj: &mut Value, old: Option<&Value>, rv: u64) {
    match rt.kind {
        "Namespace" => namespace(obj),
        "Secret" => secret(obj),
        "Service" => service(obj, old, rv),
        "Pod" => pod(obj),
        "Deployment" => deployment(obj),
        _ => {}
    }
}

fn object<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v[key].is_object() {
        v[key] = json!({});
    }
    v[key].as_object_mut().expect("object")
}

fn namespace(obj: &mut Value) {
    let name = obj["metadata"]["name"].clone();
    object(&mut obj["metadata"], "labels").insert("kubernetes.io/metadata.name".into(), name);
    object(obj, "spec")
        .entry("finalizers")
        .or_insert(json!(["kubernetes"]));
    object(obj, "status").insert("phase".into(), json!("Active"));
}

fn secret(obj: &mut Value) {
    if obj["type"].as_str().unwrap_or("").is_empty() {
        obj["type"] = json!("Opaque");
    }
    if let Some(Value::Object(string_data)) =
        obj.as_object_mut().and_then(|o| o.remove("stringData"))
    {
        let data = object(obj, "data");
        for (k, v) in string_data {
            let text = v.as_str().unwrap_or("").to_string();
            data.insert(
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
    }
}

fn service(obj: &mut Value, old: Option<&Value>, rv: u64) {
    let spec = object(obj, "spec");
    spec.entry("type").or_insert(json!("ClusterIP"));
    spec.entry("sessionAffinity").or_insert(json!("None"));
    let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
    if !headless {
        let ip = old
            .and_then(|o| o["spec"]["clusterIP"].as_str())
            .map(str::to_string)
            .or_else(|| {
                spec.get("clusterIP")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| format!("10.96.{}.{}", (rv / 250) % 250, rv % 250 + 2));
        spec.insert("clusterIP".into(), json!(ip));
        spec.insert("clusterIPs".into(), json!([ip]));
    }
    spec.entry("ipFamilies").or_insert(json!(["IPv4"]));
    spec.entry("ipFamilyPolicy").or_insert(json!("SingleStack"));
    spec.entry("internalTrafficPolicy")
        .or_insert(json!("Cluster"));
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for p in ports {
            if p["protocol"].is_null() {
                p["protocol"] = json!("TCP");
            }
            if p["targetPort"].is_null() {
                p["targetPort"] = p["port"].clone();
            }
            // Protobuf bodies carry an unset node port as 0.
            if p["nodePort"] == json!(0)
                && let Some(m) = p.as_object_mut()
            {
                m.remove("nodePort");
            }
        }
    }
    object(obj, "status")
        .entry("loadBalancer")
        .or_insert(json!({}));
}

fn pod(obj: &mut Value) {
    let containers: Vec<Value> = obj["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let spec = object(obj, "spec");
    spec.entry("restartPolicy").or_insert(json!("Always"));
    spec.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
    spec.entry("schedulerName")
        .or_insert(json!("default-scheduler"));
    spec.entry("serviceAccountName").or_insert(json!("default"));
    spec.entry("terminationGracePeriodSeconds")
        .or_insert(json!(30));
    spec.entry("nodeName").or_insert(json!("node-1"));
    let started = obj["metadata"]["creationTimestamp"].clone();
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            json!({
                "name": c["name"],
                "image": c["image"],
                "imageID": "",
                "ready": true,
                "started": true,
                "restartCount": 0,
                "state": {"running": {"startedAt": started}},
            })
        })
        .collect();
    let status = object(obj, "status");
    if status.get("phase").is_none() {
        status.insert("phase".into(), json!("Running"));
        status.insert("podIP".into(), json!("10.244.0.10"));
        status.insert("hostIP".into(), json!("172.18.0.2"));
        status.insert("startTime".into(), started.clone());
        status.insert("qosClass".into(), json!("BestEffort"));
        status.insert(
            "conditions".into(),
            json!(["Initialized", "Ready", "ContainersReady", "PodScheduled"]
                .iter()
                .map(|t| json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": started}))
                .collect::<Vec<_>>()),
        );
        status.insert("containerStatuses".into(), json!(statuses));
    }
}

fn deployment(obj: &mut Value) {
    let spec = object(obj, "spec");
    spec.entry("replicas").or_insert(json!(1));
    spec.entry("revisionHistoryLimit").or_insert(json!(10));
    spec.entry("progressDeadlineSeconds").or_insert(json!(600));
    // Protobuf bodies carry an unset strategy as an empty message.
    if spec
        .get("strategy")
        .is_none_or(|s| s["type"].as_str().unwrap_or("").is_empty())
    {
        spec.insert(
            "strategy".into(),
            json!({
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            }),
        );
    }
    let replicas = spec["replicas"].as_i64().unwrap_or(1);
    let generation = obj["metadata"]["generation"].as_i64().unwrap_or(1);
    let now = obj["metadata"]["creationTimestamp"].clone();
    object(&mut obj["metadata"], "annotations")
        .entry("deployment.kubernetes.io/revision")
        .or_insert(json!("1"));
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let mut status = json!({
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "lastUpdateTime": now,
                "lastTransitionTime": now,
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
            },
            {
                "type": "Progressing",
                "status": "True",
                "lastUpdateTime": now,
                "lastTransitionTime": now,
                "reason": "NewReplicaSetAvailable",
                "message": format!("ReplicaSet \"{name}-7d4b9c8f5\" has successfully progressed."),
            },
        ],
    });
    if replicas == 0 {
        // The apiserver omits zero counts.
        for k in [
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
        ] {
            status.as_object_mut().expect("status").remove(k);
        }
    }
    obj["status"] = status;
}
