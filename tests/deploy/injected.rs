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

/// The webhook's install (`deploy/kubernetes/inject-webhook`): valid
/// objects, and they fit: the configuration the webhook writes its CA into
/// is the one it may patch and the one shipped; the Service reaches its pod
/// on the port it listens on; each webhook calls `/mutate` for pod creations.
#[test]
fn the_webhook_install_is_valid_and_fits_together() {
    let objects = super::render::kustomize("inject-webhook");
    let problems: Vec<String> = objects
        .iter()
        .flat_map(|o| {
            schema::check(o)
                .into_iter()
                .map(move |p| format!("{}: {p}", super::render::id(o)))
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let find = |kind: &str| {
        objects
            .iter()
            .find(|o| o["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    };
    let configuration = find("MutatingWebhookConfiguration");
    let name = configuration["metadata"]["name"].as_str().unwrap();
    let deployment = find("Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "webhook");
    assert!(
        args.contains(&format!("--webhook-configuration={name}").as_str()),
        "{args:?}"
    );
    let rule = &find("ClusterRole")["rules"][0];
    assert_eq!(rule["resourceNames"], serde_json::json!([name]));
    assert_eq!(rule["verbs"], serde_json::json!(["get", "patch"]));
    let service = find("Service");
    let service_name = service["metadata"]["name"].as_str().unwrap();
    let namespace = service["metadata"]["namespace"].as_str().unwrap();
    assert!(
        args.contains(&format!("--dns-name={service_name}.{namespace}.svc").as_str()),
        "the certificate names the Service: {args:?}"
    );
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (k, v) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&labels[k], v, "the Service selects the webhook's pod");
    }
    assert_eq!(container["ports"][0]["containerPort"], 8443);
    assert!(args.contains(&"--listen=0.0.0.0:8443"), "{args:?}");
    for webhook in configuration["webhooks"].as_array().unwrap() {
        let client = &webhook["clientConfig"]["service"];
        assert_eq!(client["name"], service_name);
        assert_eq!(client["namespace"], namespace);
        assert_eq!(client["path"], "/mutate");
        assert_eq!(
            webhook["rules"][0]["resources"],
            serde_json::json!(["pods"])
        );
        assert_eq!(
            webhook["rules"][0]["operations"],
            serde_json::json!(["CREATE"])
        );
        assert_eq!(webhook["failurePolicy"], "Fail");
    }
}
