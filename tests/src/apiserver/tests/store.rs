use serde_json::json;

use crate::apiserver::resources;
use crate::apiserver::store::{EventType, Store, StoreError};

#[test]
fn seeds_namespaces_and_versions_monotonically() {
    let store = Store::new();
    let names: Vec<String> = store
        .list("namespaces", None)
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    let before = store.resource_version();
    let a = store
        .create("cm", json!({"metadata": {"name": "a"}}))
        .unwrap();
    let b = store
        .create("configmaps", json!({"metadata": {"name": "b"}}))
        .unwrap();
    let rv = |v: &serde_json::Value| {
        v["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(rv(&a), before + 1);
    assert_eq!(rv(&b), before + 2);
    assert_eq!(a["metadata"]["namespace"], "default");
    assert_eq!(a["kind"], "ConfigMap");
    assert_eq!(a["apiVersion"], "v1");
    assert_ne!(a["metadata"]["uid"], b["metadata"]["uid"]);
    assert!(
        a["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
}

#[test]
fn create_errors_are_the_apiserver_ones() {
    let store = Store::new();
    store
        .create("cm", json!({"metadata": {"name": "a"}}))
        .unwrap();
    let err = store
        .create("cm", json!({"metadata": {"name": "a"}}))
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }));
    let err = store
        .create(
            "cm",
            json!({"metadata": {"name": "a", "namespace": "nope"}}),
        )
        .unwrap_err();
    assert_eq!(err, StoreError::NamespaceNotFound("nope".into()));
    let err = store.create("cm", json!({"metadata": {}})).unwrap_err();
    assert_eq!(
        crate::apiserver::ApiError::from(err).message,
        r#"ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required"#
    );
    let err = store
        .create("cm", json!({"metadata": {"name": "Bad_Name"}}))
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }));
    assert!(matches!(
        store.create("widgets", json!({})),
        Err(StoreError::UnknownResource(_))
    ));
}

#[test]
fn update_checks_resource_version_and_keeps_server_metadata() {
    let store = Store::new();
    let created = store
        .create("cm", json!({"metadata": {"name": "a"}, "data": {"k": "1"}}))
        .unwrap();
    let mut next = created.clone();
    next["data"]["k"] = json!("2");
    next["metadata"]["uid"] = json!("forged");
    let updated = store.update("cm", next.clone()).unwrap();
    assert_eq!(updated["metadata"]["uid"], created["metadata"]["uid"]);
    assert_eq!(updated["data"]["k"], "2");
    // `next` still carries the old resourceVersion.
    assert!(matches!(
        store.update("cm", next),
        Err(StoreError::Conflict { .. })
    ));
    // An unchanged update is a no-op: same resourceVersion.
    let again = store.update("cm", updated.clone()).unwrap();
    assert_eq!(
        again["metadata"]["resourceVersion"],
        updated["metadata"]["resourceVersion"]
    );
}

#[test]
fn deployments_get_generation_and_rolled_out_status() {
    let store = Store::new();
    let d = store
        .create("deploy", json!({"metadata": {"name": "web"}, "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": {}}}))
        .unwrap();
    assert_eq!(d["metadata"]["generation"], 1);
    assert_eq!(d["status"]["observedGeneration"], 1);
    assert_eq!(d["status"]["availableReplicas"], 3);
    let conditions: Vec<&str> = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(conditions, ["Available", "Progressing"]);
    let mut next = d.clone();
    next["spec"]["replicas"] = json!(5);
    let d2 = store.update("deployments.apps", next).unwrap();
    assert_eq!(d2["metadata"]["generation"], 2);
    assert_eq!(d2["status"]["observedGeneration"], 2);
    assert_eq!(d2["status"]["readyReplicas"], 5);
    // A metadata-only change keeps the generation.
    let mut labelled = d2.clone();
    labelled["metadata"]["labels"] = json!({"x": "y"});
    assert_eq!(
        store.update("deploy", labelled).unwrap()["metadata"]["generation"],
        2
    );
}

#[test]
fn secrets_fold_string_data_and_default_their_type() {
    let store = Store::new();
    let s = store
        .create(
            "secrets",
            json!({"metadata": {"name": "s"}, "stringData": {"pw": "hunter2"}}),
        )
        .unwrap();
    assert_eq!(s["type"], "Opaque");
    assert_eq!(s["data"]["pw"], "aHVudGVyMg==");
    assert!(s.get("stringData").is_none());
}

#[test]
fn deleting_a_namespace_deletes_its_objects_with_events() {
    let store = Store::new();
    store
        .create("ns", json!({"metadata": {"name": "team"}}))
        .unwrap();
    store
        .create(
            "cm",
            json!({"metadata": {"name": "a", "namespace": "team"}}),
        )
        .unwrap();
    store
        .create(
            "cm",
            json!({"metadata": {"name": "b", "namespace": "default"}}),
        )
        .unwrap();
    let rt = resources::lookup("configmaps").unwrap();
    let (_, _, mut rx) = store
        .watch_from(rt, Some(store.resource_version()))
        .unwrap();
    store.delete("namespaces", "", "team").unwrap();
    assert!(store.get("cm", "team", "a").is_none());
    assert!(store.get("cm", "default", "b").is_some());
    let ev = rx.try_recv().unwrap();
    assert_eq!(ev.event_type, EventType::Deleted);
    assert_eq!(ev.object["metadata"]["name"], "a");
    let ev = rx.try_recv().unwrap();
    assert_eq!(ev.resource.kind, "Namespace");
}

#[test]
fn watch_history_replays_after_a_version_and_expires_when_compacted() {
    let store = Store::new();
    let rt = resources::lookup("cm").unwrap();
    store
        .create("cm", json!({"metadata": {"name": "a"}}))
        .unwrap();
    let rv = store.resource_version();
    store
        .create("cm", json!({"metadata": {"name": "b"}}))
        .unwrap();
    store
        .create("secrets", json!({"metadata": {"name": "s"}}))
        .unwrap();
    let (_, replay, _) = store.watch_from(rt, Some(rv)).unwrap();
    let names: Vec<&str> = replay
        .iter()
        .map(|e| e.object["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b"]);
    let (_, current, _) = store.watch_from(rt, None).unwrap();
    assert_eq!(current.len(), 2);
    assert!(current.iter().all(|e| e.event_type == EventType::Added));
    store.compact();
    assert!(matches!(
        store.watch_from(rt, Some(rv)),
        Err(StoreError::Expired { .. })
    ));
    assert!(store.watch_from(rt, Some(store.resource_version())).is_ok());
}

#[test]
fn dry_run_create_does_not_persist_or_advance_the_version() {
    let store = Store::new();
    let rt = resources::lookup("cm").unwrap();
    let rv = store.resource_version();
    let out = store
        .create_in(
            rt,
            Some("default"),
            json!({"metadata": {"name": "d"}}),
            true,
        )
        .unwrap();
    assert_eq!(out["metadata"]["name"], "d");
    assert!(out["metadata"].get("resourceVersion").is_none());
    assert_eq!(store.resource_version(), rv);
    assert!(store.get("cm", "default", "d").is_none());
}
