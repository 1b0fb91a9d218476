//! `kubeplex inject`'s golden outputs (`xds-server/src/inject/golden/`,
//! one per workload kind, kept equal to the mutation's output by the
//! kubeplex crate's unit tests) decode strictly into the API's types: what
//! the in-pod adapter adds is valid Kubernetes, native sidecar included.

use std::path::PathBuf;

use super::schema;

fn golden_outputs() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../xds-server/src/inject/golden");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".out.yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn injected_workloads_are_valid_kubernetes() {
    let files = golden_outputs();
    assert!(files.len() >= 7, "golden outputs: {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let object: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let problems = schema::check_workload(&object);
        assert!(
            problems.is_empty(),
            "{}:\n{}",
            file.display(),
            problems.join("\n")
        );
    }
}

/// The check fails on what the API would refuse: a field a container does
/// not have, a wrong type in the sidecar.
#[test]
fn the_workload_check_can_fail() {
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"initContainers": [{"name": "s", "restartPolicy": "Always", "sidecar": true}],
                 "containers": [{"name": "a", "ports": [{"containerPort": "8080"}]}]},
    });
    let problems = schema::check_workload(&pod);
    assert!(!problems.is_empty(), "{problems:?}");
    let unknown = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"initContainers": [{"name": "s", "restartPolicy": "Always", "sidecar": true}],
                 "containers": [{"name": "a"}]},
    });
    assert_eq!(
        schema::check_workload(&unknown),
        vec!["unknown field \"spec.initContainers[0].sidecar\"".to_string()]
    );
}
