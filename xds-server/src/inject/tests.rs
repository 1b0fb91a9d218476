use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::sidecar_config::{SidecarPaths, SidecarPorts, bootstrap};
use super::*;

/// The workload kinds with a golden file each (`golden/<kind>.in.yaml` →
/// `golden/<kind>.out.yaml`). `KUBEPLEX_UPDATE_GOLDEN=1` rewrites the outputs.
const GOLDEN: &[&str] = &[
    "pod",
    "deployment",
    "statefulset",
    "daemonset",
    "job",
    "cronjob",
    "list",
];

const PORTS: SidecarPorts = SidecarPorts {
    api: 6443,
    health: 16443,
};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/inject/golden")
}

fn config() -> InjectConfig {
    InjectConfig {
        gateway: GatewayAddress::parse("https://kubeplex.kubeplex.svc:8443").unwrap(),
        gateway_ca_pem: std::fs::read_to_string(golden_dir().join("gateway-ca.pem")).unwrap(),
        audience: "kubeplex".into(),
        default_cluster: "home".into(),
        sidecar_image: "envoyproxy/envoy:v1.40-latest".into(),
        init_image: "kubeplex:0.1.0".into(),
        token_expiration_seconds: 3600,
        force: false,
    }
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap()
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n"}, "spec": spec})
}

fn container<'a>(spec: &'a Value, list: &str, name: &str) -> &'a Value {
    spec[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {list} {name}: {spec}"))
}

/// The sidecar's Envoy bootstrap, decoded from its `--config-yaml` argument.
fn sidecar_bootstrap(spec: &Value) -> Value {
    let args = container(spec, "initContainers", SIDECAR_CONTAINER)["args"]
        .as_array()
        .unwrap();
    assert_eq!(args[0], "--config-yaml");
    serde_json::from_str(args[1].as_str().unwrap()).unwrap()
}

fn route_prefix(spec: &Value) -> String {
    let b = sidecar_bootstrap(spec);
    let hcm =
        &b["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"];
    hcm["route_config"]["virtual_hosts"][0]["routes"][0]["route"]["prefix_rewrite"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn every_workload_kind_matches_its_golden_file_and_injecting_twice_is_once() {
    let update = std::env::var_os("KUBEPLEX_UPDATE_GOLDEN").is_some();
    for kind in GOLDEN {
        let input = std::fs::read_to_string(golden_dir().join(format!("{kind}.in.yaml"))).unwrap();
        let out = inject_yaml(&input, &config()).unwrap();
        let golden_path = golden_dir().join(format!("{kind}.out.yaml"));
        if update {
            std::fs::write(&golden_path, &out).unwrap();
        }
        let golden = std::fs::read_to_string(&golden_path).unwrap();
        assert_eq!(
            out,
            golden,
            "{kind}: output differs from {}",
            golden_path.display()
        );
        assert_eq!(
            inject_yaml(&out, &config()).unwrap(),
            out,
            "{kind}: twice != once"
        );
    }
}

#[test]
fn the_annotation_chooses_the_cluster_and_its_absence_the_default() {
    let mut p = pod(json!({"containers": [{"name": "app", "image": "x"}]}));
    let injected = inject_object(&p, &config()).unwrap();
    assert_eq!(route_prefix(&injected["spec"]), "/clusters/home/");
    p["metadata"]["annotations"] = json!({CLUSTER_ANNOTATION: "prod eu/1"});
    let injected = inject_object(&p, &config()).unwrap();
    assert_eq!(route_prefix(&injected["spec"]), "/clusters/prod%20eu%2F1/");
    // Re-injection after the annotation changed follows the annotation.
    let mut again = injected.clone();
    again["metadata"]["annotations"] = json!({CLUSTER_ANNOTATION: "c"});
    assert_eq!(
        route_prefix(&inject_object(&again, &config()).unwrap()["spec"]),
        "/clusters/c/"
    );
    p["metadata"]["annotations"] = json!({CLUSTER_ANNOTATION: " "});
    assert!(matches!(
        inject_object(&p, &config()),
        Err(InjectError::ClusterAnnotation { .. })
    ));
}

#[test]
fn app_containers_see_the_sidecar_and_only_the_substitute_serviceaccount() {
    // What the ServiceAccount admission plugin leaves before a webhook runs:
    // the real token mounted at the standard path.
    let p = pod(json!({
        "containers": [{
            "name": "app", "image": "x",
            "env": [{"name": "KUBERNETES_SERVICE_PORT", "value": "443"}, {"name": "A", "value": "1"}],
            "volumeMounts": [
                {"name": "data", "mountPath": "/data"},
                {"name": "kube-api-access-x7k2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount/", "readOnly": true},
            ],
        }],
        "volumes": [{"name": "data", "emptyDir": {}}, {"name": "kube-api-access-x7k2p", "projected": {"sources": []}}],
    }));
    let injected = inject_object(&p, &config()).unwrap();
    let app = container(&injected["spec"], "containers", "app");
    assert_eq!(
        app["env"],
        json!([
            {"name": "KUBERNETES_SERVICE_PORT", "value": "6443"},
            {"name": "A", "value": "1"},
            {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
        ])
    );
    assert_eq!(
        app["volumeMounts"],
        json!([
            {"name": "data", "mountPath": "/data"},
            {"name": APP_SERVICEACCOUNT_VOLUME, "mountPath": SERVICEACCOUNT_PATH, "readOnly": true},
        ])
    );
    // The gateway-audience token is the sidecar's alone.
    let mounts_token = |c: &Value| {
        c["volumeMounts"]
            .as_array()
            .is_some_and(|ms| ms.iter().any(|m| m["name"] == TOKEN_VOLUME))
    };
    let spec = &injected["spec"];
    assert!(mounts_token(container(
        spec,
        "initContainers",
        SIDECAR_CONTAINER
    )));
    assert!(!mounts_token(container(
        spec,
        "initContainers",
        INIT_CONTAINER
    )));
    assert!(!mounts_token(app));
    let sidecar = container(spec, "initContainers", SIDECAR_CONTAINER);
    assert_eq!(sidecar["restartPolicy"], "Always");
    let names: Vec<&str> = spec["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [INIT_CONTAINER, SIDECAR_CONTAINER]);
}

#[test]
fn refusals_name_the_object_and_the_reason() {
    let host = pod(json!({"hostNetwork": true, "containers": [{"name": "a", "image": "x"}]}));
    let err = inject_object(&host, &config()).unwrap_err();
    assert!(matches!(err, InjectError::HostNetwork { .. }));
    assert!(err.to_string().starts_with("Pod n/p: hostNetwork"), "{err}");

    let no_token = pod(
        json!({"automountServiceAccountToken": false, "containers": [{"name": "a", "image": "x"}]}),
    );
    let err = inject_object(&no_token, &config()).unwrap_err();
    assert!(err.to_string().contains("--force"), "{err}");
    let forced = InjectConfig {
        force: true,
        ..config()
    };
    let injected = inject_object(&no_token, &forced).unwrap();
    // Once injected, re-injection without --force keeps it (idempotence).
    assert_eq!(inject_object(&injected, &config()).unwrap(), injected);

    let service = yaml("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {}\n");
    let err = inject_object(&service, &config()).unwrap_err();
    assert!(
        matches!(err, InjectError::UnsupportedKind { ref kind, .. } if kind == "Service"),
        "{err}"
    );
    let hollow = yaml("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n");
    let err = inject_object(&hollow, &config()).unwrap_err();
    assert!(err.to_string().contains("spec.template.spec"), "{err}");
    assert!(matches!(
        inject_yaml("- a\n", &config()),
        Err(InjectError::NotAnObject(1))
    ));
}

#[test]
fn gateway_urls_are_https_host_and_port() {
    assert_eq!(
        GatewayAddress::parse("https://[::1]:8443").unwrap(),
        GatewayAddress {
            host: "::1".into(),
            port: 8443
        }
    );
    assert_eq!(
        GatewayAddress::parse("https://gw.example").unwrap().port,
        443
    );
    for bad in ["http://gw:80", "https://gw:8443/clusters/a", "gw:8443"] {
        assert!(GatewayAddress::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_pod_start_files_and_the_sidecar_bootstrap_pass_envoys_validation() {
    let dir = tempfile::tempdir().unwrap();
    let paths = SidecarPaths {
        sidecar_dir: dir.path().join("sidecar").display().to_string(),
        token_dir: dir.path().join("token").display().to_string(),
    };
    std::fs::create_dir_all(&paths.token_dir).unwrap();
    std::fs::write(paths.token(), "header.payload.signature").unwrap();
    let app = dir.path().join("app");
    pod_start::write_pod_files(&paths, &app, "team-a").unwrap();
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
    assert_eq!(read(app.join("namespace")), "team-a");
    assert_eq!(read(app.join("token")), pod_start::SUBSTITUTE_TOKEN);
    assert_eq!(read(app.join("ca.crt")), read(PathBuf::from(paths.cert())));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(paths.key()).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the key is private: {mode:o}");
    // A second pod start: a new certificate.
    let first = read(PathBuf::from(paths.cert()));
    pod_start::write_pod_files(&paths, &app, "team-a").unwrap();
    assert_ne!(read(PathBuf::from(paths.cert())), first);

    let mut config = config();
    config.gateway = GatewayAddress::parse("https://127.0.0.1:8443").unwrap();
    for config in [config, self::config()] {
        let file = dir.path().join("bootstrap.json");
        std::fs::write(&file, bootstrap(&paths, "b", &config, PORTS).to_string()).unwrap();
        kubeplex_test_support::assert_envoy_accepts(&file, "the sidecar's bootstrap");
    }
}
