//! The Kubernetes install (`deploy/kubernetes`): every kustomization is
//! rendered by the real `kubectl kustomize`, and every object it renders is
//!   - decoded strictly into the Kubernetes 1.33 API types (`k8s-openapi`,
//!     generated from the API's OpenAPI schema): a field the API does not
//!     have, or a value of the wrong type, fails (`schema`);
//!   - checked against the apiserver's own validation rules that these
//!     objects exercise, and against each other: selectors, named ports,
//!     volumes, references, the security context, the Envoy/control-plane
//!     wiring (`wiring`).
//!
//! The shipped gateway config is loaded by the real `kubeplex check`
//! (`gateway_config`); the rendered Envoy bootstrap and preStop hook run
//! with the real Envoy and control plane (`envoy_pod`).

mod agent;
mod envoy_pod;
mod gateway_config;
mod injected;
mod render;
mod schema;
mod service_monitor;
mod wiring;

/// Every kustomization a user may apply, relative to `deploy/kubernetes`.
pub const KUSTOMIZATIONS: &[&str] = &["base", "examples/production"];

/// Secrets the user creates before installing (README "Install on
/// Kubernetes"), with their keys; any other Secret a pod names must be
/// rendered.
pub const USER_SECRETS: &[(&str, &[&str])] = &[
    ("kubeplex-clusters", &["kubeconfig"]),
    ("kubeplex-gateway-tls", &["tls.crt", "tls.key"]),
];

#[test]
fn every_rendered_object_is_valid_kubernetes() {
    for dir in KUSTOMIZATIONS {
        let objects = render::kustomize(dir);
        assert!(objects.len() >= 10, "{dir}: {} objects", objects.len());
        let problems: Vec<String> = objects
            .iter()
            .flat_map(|o| {
                schema::check(o)
                    .into_iter()
                    .map(move |p| format!("{}: {p}", render::id(o)))
            })
            .collect();
        assert!(problems.is_empty(), "{dir}:\n{}", problems.join("\n"));
    }
}

#[test]
fn the_objects_fit_together() {
    for dir in KUSTOMIZATIONS {
        let objects = render::kustomize(dir);
        let problems = wiring::check(&objects);
        assert!(problems.is_empty(), "{dir}:\n{}", problems.join("\n"));
    }
}

/// The checks can fail: a field the API lacks, a wrong type, a selector
/// that misses its pods, a writable root filesystem are all found.
#[test]
fn the_checks_find_broken_objects() {
    let objects = render::kustomize("base");
    let mut deployment = render::find(&objects, "Deployment", "kubeplex-envoy").clone();
    deployment["spec"]["template"]["spec"]["containers"][0]["bogus"] = "x".into();
    deployment["spec"]["revisionHistoryLimit"] = "five".into();
    let found = schema::check(&deployment).join("\n");
    assert!(found.contains("does not decode"), "{found}");
    deployment["spec"]["revisionHistoryLimit"] = 5.into();
    let found = schema::check(&deployment).join("\n");
    assert!(
        found.contains("spec.template.spec.containers[0].bogus"),
        "{found}"
    );

    let mut broken = objects.clone();
    let d = broken
        .iter_mut()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "kubeplex-control-plane")
        .unwrap();
    d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] = "other".into();
    let c = &mut d["spec"]["template"]["spec"]["containers"][0];
    c["securityContext"]["readOnlyRootFilesystem"] = false.into();
    // the admin API on the pod network again, probed there
    for arg in c["args"].as_array_mut().unwrap() {
        if arg.as_str().is_some_and(|a| a.starts_with("--admin-addr=")) {
            *arg = "--admin-addr=0.0.0.0:18001".into();
        }
    }
    c["livenessProbe"]["httpGet"]["port"] = 18001.into();
    let found = wiring::check(&broken).join("\n");
    assert!(
        found.contains("selector does not match the template's labels"),
        "{found}"
    );
    assert!(found.contains("readOnlyRootFilesystem"), "{found}");
    assert!(
        found.contains("--admin-addr Some(0.0.0.0:18001) must be a loopback address"),
        "{found}"
    );
    assert!(
        found.contains("livenessProbe must GET /healthz on port `probes`"),
        "{found}"
    );

    // More rights than the revocation store needs, a list that `kubectl
    // apply` would reset, a control plane without its token.
    let mut broken = objects.clone();
    for o in broken.iter_mut() {
        match (o["kind"].as_str(), o["metadata"]["name"].as_str()) {
            (Some("Role"), _) => o["rules"][0]["verbs"] = serde_json::json!(["*"]),
            (Some("ConfigMap"), Some("kubeplex-revocations")) => {
                o["data"] = serde_json::json!({"revoked.yaml": "revoked: []"})
            }
            (Some("Deployment"), Some("kubeplex-control-plane")) => {
                o["spec"]["template"]["spec"]["automountServiceAccountToken"] = false.into()
            }
            _ => {}
        }
    }
    // A Kubernetes bootstrap without the gateway's memory settings.
    for o in broken.iter_mut() {
        if o["kind"] == "ConfigMap" && o["data"]["bootstrap.yaml"].is_string() {
            let text = o["data"]["bootstrap.yaml"].as_str().unwrap();
            let mut bootstrap: serde_json::Value = serde_saphyr::from_str(text).unwrap();
            bootstrap["cluster_manager"] = serde_json::json!({});
            // (JSON is YAML)
            o["data"]["bootstrap.yaml"] = bootstrap.to_string().into();
        }
    }
    let found = wiring::check(&broken).join("\n");
    for expected in [
        "bootstrap: cluster_manager must equal envoy/bootstrap.yaml's",
        "must be granted exactly",
        "must ship without data",
        "automountServiceAccountToken must be true",
    ] {
        assert!(found.contains(expected), "{expected}: {found}");
    }
}
