use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::apiserver::resources;
use crate::apiserver::table::{self, IncludeObject};
use crate::apiserver::timestamps;

fn created(ago: Duration) -> (SystemTime, String) {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    (now, timestamps::format_rfc3339(now - ago))
}

#[test]
fn configmap_rows_count_data_and_age() {
    let (now, ts) = created(Duration::from_secs(75));
    let rt = resources::lookup("configmaps").unwrap();
    let cm = json!({"metadata": {"name": "x", "creationTimestamp": ts}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
    let t = table::table(rt, &[cm], "7", IncludeObject::Metadata, now);
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(t["metadata"]["resourceVersion"], "7");
    let names: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Name", "Data", "Age"]);
    assert_eq!(t["rows"][0]["cells"], json!(["x", 3, "75s"]));
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert!(t["rows"][0]["object"].get("data").is_none());
}

#[test]
fn columns_per_resource() {
    let names = |r: &str| -> Vec<String> {
        table::columns(resources::lookup(r).unwrap())
            .iter()
            .filter(|c| c["priority"] == 0)
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names("pods"),
        ["Name", "Ready", "Status", "Restarts", "Age"]
    );
    assert_eq!(names("namespaces"), ["Name", "Status", "Age"]);
    assert_eq!(names("secrets"), ["Name", "Type", "Data", "Age"]);
    assert_eq!(
        names("deployments"),
        ["Name", "Ready", "Up-to-date", "Available", "Age"]
    );
    assert_eq!(names("serviceaccounts"), ["Name", "Secrets", "Age"]);
}

#[test]
fn pod_and_deployment_cells() {
    let (now, ts) = created(Duration::from_secs(3 * 3600 + 60));
    let pod = json!({
        "metadata": {"name": "p", "creationTimestamp": ts},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
        "status": {"phase": "Running", "containerStatuses": [{"ready": true, "restartCount": 2}, {"ready": false, "restartCount": 1}]},
    });
    let cells = table::cells(resources::lookup("po").unwrap(), &pod, now);
    assert_eq!(
        &cells[..5],
        &[
            json!("p"),
            json!("1/2"),
            json!("Running"),
            json!("3"),
            json!("3h1m")
        ]
    );
    let deploy = json!({
        "metadata": {"name": "d", "creationTimestamp": ts},
        "spec": {"replicas": 3},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    });
    let cells = table::cells(resources::lookup("deploy").unwrap(), &deploy, now);
    assert_eq!(&cells[..4], &[json!("d"), json!("2/3"), json!(3), json!(2)]);
}

#[test]
fn full_object_rows_and_table_accept_detection() {
    let rt = resources::lookup("cm").unwrap();
    let cm = json!({"metadata": {"name": "x"}, "data": {"a": "1"}});
    let row = table::row(rt, &cm, IncludeObject::Object, SystemTime::now());
    assert_eq!(row["object"]["data"]["a"], "1");
    assert!(
        table::row(rt, &cm, IncludeObject::None, SystemTime::now())
            .get("object")
            .is_none()
    );
    assert!(table::wants_table(
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
    ));
    assert!(!table::wants_table("application/json"));
    assert!(!table::wants_table(
        "application/json;as=Table;v=v1beta1;g=meta.k8s.io"
    ));
}

#[test]
fn human_durations_match_kubernetes() {
    let h = |s: u64| timestamps::human_duration(Duration::from_secs(s));
    assert_eq!(h(0), "0s");
    assert_eq!(h(119), "119s");
    assert_eq!(h(120), "2m");
    assert_eq!(h(125), "2m5s");
    assert_eq!(h(600), "10m");
    assert_eq!(h(3 * 3600), "3h");
    assert_eq!(h(8 * 3600), "8h");
    assert_eq!(h(50 * 3600), "2d2h");
    assert_eq!(h(30 * 86400), "30d");
    assert_eq!(h(3 * 365 * 86400 + 86400), "3y1d");
}

#[test]
fn rfc3339_round_trips() {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_251_199); // 2024-02-29T23:59:59Z
    let s = timestamps::format_rfc3339(t);
    assert_eq!(s, "2024-02-29T23:59:59Z");
    assert_eq!(timestamps::parse_rfc3339(&s), Some(t));
    assert_eq!(
        timestamps::parse_rfc3339("2024-03-01T01:59:59.5+02:00"),
        Some(t)
    );
    assert_eq!(timestamps::parse_rfc3339("yesterday"), None);
}
