//! Server-side printing: `meta.k8s.io/v1` `Table` objects with the column
//! definitions and cells the real apiserver prints for each resource.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::resources::ResourceType;
use super::timestamps;

/// What a row's `object` holds (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object.
    None,
    /// `PartialObjectMetadata` (the default).
    #[default]
    Metadata,
    /// The full object.
    Object,
}

impl IncludeObject {
    /// Reads the `includeObject` query parameter.
    pub fn parse(v: Option<&str>) -> IncludeObject {
        match v {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// Whether an `Accept` header asks for `as=Table;v=v1;g=meta.k8s.io`.
pub fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let params: Vec<&str> = range.split(';').map(str::trim).collect();
        params.contains(&"as=Table")
            && params.contains(&"g=meta.k8s.io")
            && params.contains(&"v=v1")
    })
}

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

fn col(name: &str, ty: &str, format: &str, desc: &str, priority: u8) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": desc, "priority": priority})
}

/// The column definitions for `rt`.
pub fn columns(rt: &ResourceType) -> Vec<Value> {
    let name = col("Name", "string", "name", NAME_DESC, 0);
    let age = col("Age", "string", "", AGE_DESC, 0);
    match rt.kind {
        "ConfigMap" => vec![
            name,
            col(
                "Data",
                "integer",
                "",
                "Data contains the configuration data.",
                0,
            ),
            age,
        ],
        "Secret" => vec![
            name,
            col("Type", "string", "", "The type of the secret", 0),
            col("Data", "integer", "", "Data contains the secret data.", 0),
            age,
        ],
        "Namespace" => vec![
            name,
            col("Status", "string", "", "The status of the namespace", 0),
            age,
        ],
        "Pod" => vec![
            name,
            col(
                "Ready",
                "string",
                "",
                "The aggregate readiness state of this pod for accepting traffic.",
                0,
            ),
            col(
                "Status",
                "string",
                "",
                "The aggregate status of the containers in this pod.",
                0,
            ),
            col(
                "Restarts",
                "string",
                "",
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
                0,
            ),
            age,
            col(
                "IP",
                "string",
                "",
                "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
                1,
            ),
            col(
                "Node",
                "string",
                "",
                "NodeName is a request to schedule this pod onto a specific node.",
                1,
            ),
            col(
                "Nominated Node",
                "string",
                "",
                "nominatedNodeName is set only when this pod preempts other pods on the node.",
                1,
            ),
            col(
                "Readiness Gates",
                "string",
                "",
                "If specified, all readiness gates will be evaluated for pod readiness.",
                1,
            ),
        ],
        "Deployment" => vec![
            name,
            col(
                "Ready",
                "string",
                "",
                "Number of the pod with ready state",
                0,
            ),
            col(
                "Up-to-date",
                "integer",
                "",
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
                0,
            ),
            col(
                "Available",
                "integer",
                "",
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
                0,
            ),
            age,
            col(
                "Containers",
                "string",
                "",
                "Names of each container in the template.",
                1,
            ),
            col(
                "Images",
                "string",
                "",
                "Images referenced by each container in the template.",
                1,
            ),
            col(
                "Selector",
                "string",
                "",
                "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
                1,
            ),
        ],
        "Service" => vec![
            name,
            col(
                "Type",
                "string",
                "",
                "type determines how the Service is exposed.",
                0,
            ),
            col(
                "Cluster-IP",
                "string",
                "",
                "clusterIP is the IP address of the service.",
                0,
            ),
            col(
                "External-IP",
                "string",
                "",
                "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
                0,
            ),
            col(
                "Port(s)",
                "string",
                "",
                "The list of ports that are exposed by this service.",
                0,
            ),
            age,
            col(
                "Selector",
                "string",
                "",
                "Route service traffic to pods with label keys and values matching this selector.",
                1,
            ),
        ],
        "ServiceAccount" => vec![
            name,
            col(
                "Secrets",
                "integer",
                "",
                "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
                0,
            ),
            age,
        ],
        "Event" => vec![
            col(
                "Last Seen",
                "string",
                "",
                "Time when this Event was last observed.",
                0,
            ),
            col(
                "Type",
                "string",
                "",
                "Type of this event (Normal, Warning), new types could be added in the future.",
                0,
            ),
            col(
                "Reason",
                "string",
                "",
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
                0,
            ),
            col(
                "Object",
                "string",
                "",
                "The object that this event is about.",
                0,
            ),
            col(
                "Message",
                "string",
                "",
                "A human-readable description of the status of this operation.",
                0,
            ),
        ],
        _ => vec![name, age],
    }
}

fn len_of(v: &Value) -> usize {
    match v {
        Value::Object(m) => m.len(),
        Value::Array(a) => a.len(),
        _ => 0,
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

fn or_none(v: String) -> String {
    if v.is_empty() { "<none>".into() } else { v }
}

/// The cells of one row.
pub fn cells(rt: &ResourceType, obj: &Value, now: SystemTime) -> Vec<Value> {
    let meta = &obj["metadata"];
    let name = json!(meta["name"]);
    let age = json!(timestamps::age(meta["creationTimestamp"].as_str(), now));
    match rt.kind {
        "ConfigMap" => vec![
            name,
            json!(len_of(&obj["data"]) + len_of(&obj["binaryData"])),
            age,
        ],
        "Secret" => vec![
            name,
            json!(s(&obj["type"])),
            json!(len_of(&obj["data"])),
            age,
        ],
        "Namespace" => vec![name, json!(s(&obj["status"]["phase"])), age],
        "Pod" => {
            let total = len_of(&obj["spec"]["containers"]);
            let statuses = obj["status"]["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let ready = statuses
                .iter()
                .filter(|c| c["ready"] == json!(true))
                .count();
            let restarts: i64 = statuses
                .iter()
                .map(|c| c["restartCount"].as_i64().unwrap_or(0))
                .sum();
            let status = if !meta["deletionTimestamp"].is_null() {
                "Terminating".to_string()
            } else if let Some(reason) = obj["status"]["reason"].as_str() {
                reason.to_string()
            } else {
                s(&obj["status"]["phase"])
            };
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(status),
                json!(restarts.to_string()),
                age,
                json!(or_none(s(&obj["status"]["podIP"]))),
                json!(or_none(s(&obj["spec"]["nodeName"]))),
                json!("<none>"),
                json!("<none>"),
            ]
        }
        "Deployment" => {
            let st = &obj["status"];
            let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            let containers = obj["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let join = |field: &str| {
                containers
                    .iter()
                    .map(|c| s(&c[field]))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let selector = obj["spec"]["selector"]["matchLabels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", s(v)))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            vec![
                name,
                json!(format!(
                    "{}/{want}",
                    st["readyReplicas"].as_i64().unwrap_or(0)
                )),
                json!(st["updatedReplicas"].as_i64().unwrap_or(0)),
                json!(st["availableReplicas"].as_i64().unwrap_or(0)),
                age,
                json!(join("name")),
                json!(join("image")),
                json!(or_none(selector)),
            ]
        }
        "Service" => {
            let spec = &obj["spec"];
            let ports = spec["ports"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            let mut out = p["port"].to_string();
                            if let Some(np) = p["nodePort"].as_i64().filter(|np| *np != 0) {
                                out = format!("{out}:{np}");
                            }
                            format!("{out}/{}", p["protocol"].as_str().unwrap_or("TCP"))
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let selector = spec["selector"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", s(v)))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            vec![
                name,
                json!(s(&spec["type"])),
                json!(or_none(s(&spec["clusterIP"]))),
                json!("<none>"),
                json!(or_none(ports)),
                age,
                json!(or_none(selector)),
            ]
        }
        "ServiceAccount" => vec![name, json!(len_of(&obj["secrets"])), age],
        "Event" => {
            let last = obj["lastTimestamp"]
                .as_str()
                .or_else(|| obj["eventTime"].as_str())
                .or_else(|| meta["creationTimestamp"].as_str());
            let involved = &obj["involvedObject"];
            vec![
                json!(timestamps::age(last, now)),
                json!(s(&obj["type"])),
                json!(s(&obj["reason"])),
                json!(format!(
                    "{}/{}",
                    s(&involved["kind"]).to_lowercase(),
                    s(&involved["name"])
                )),
                json!(s(&obj["message"])),
            ]
        }
        _ => vec![name, age],
    }
}

/// `PartialObjectMetadata` for `obj`.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    })
}

/// One row.
pub fn row(rt: &ResourceType, obj: &Value, include: IncludeObject, now: SystemTime) -> Value {
    let mut row = json!({"cells": cells(rt, obj, now)});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => row["object"] = partial_metadata(obj),
        IncludeObject::Object => row["object"] = obj.clone(),
    }
    row
}

/// A `Table` of `objects`.
pub fn table(
    rt: &ResourceType,
    objects: &[Value],
    resource_version: &str,
    include: IncludeObject,
    now: SystemTime,
) -> Value {
    let rows: Vec<Value> = objects.iter().map(|o| row(rt, o, include, now)).collect();
    let mut metadata = json!({});
    if !resource_version.is_empty() {
        metadata["resourceVersion"] = json!(resource_version);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns(rt),
        "rows": rows,
    })
}
