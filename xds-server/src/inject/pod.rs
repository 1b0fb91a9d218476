//! One pod spec: the sidecar, its init container, the volumes, and what
//! each app container sees. Every step replaces what an earlier injection
//! put there (by name or mount path), so injecting twice equals once and a
//! changed annotation or gateway takes effect on re-injection.

use serde_json::{Map, Value, json};

use super::{InjectConfig, InjectError, array_at, pod_start, sidecar_config};

/// The pod annotation naming the context behind the gateway the pod talks to.
pub const CLUSTER_ANNOTATION: &str = "kubeplex.io/cluster";
/// The native sidecar (an init container with `restartPolicy: Always`).
pub const SIDECAR_CONTAINER: &str = "kubeplex-sidecar";
/// Writes the per-pod certificate and the substitute ServiceAccount files.
pub const INIT_CONTAINER: &str = "kubeplex-init";
/// The projected token with the gateway's audience (sidecar only).
pub const TOKEN_VOLUME: &str = "kubeplex-token";
/// The sidecar's private files: its key and certificate, the token's SDS file.
pub const SIDECAR_VOLUME: &str = "kubeplex-sidecar";
/// What the app sees at the standard ServiceAccount path.
pub const APP_SERVICEACCOUNT_VOLUME: &str = "kubeplex-app-serviceaccount";
/// Where Kubernetes clients look for in-cluster credentials.
pub const SERVICEACCOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The port the sidecar listens on, on 127.0.0.1.
pub const SIDECAR_PORT: u16 = 6443;
/// The sidecar's startup probe port (every address; answers only `/ready`).
pub const SIDECAR_HEALTH_PORT: u16 = 16443;

/// Mount paths inside the pod.
const TOKEN_DIR: &str = "/var/run/secrets/kubeplex.io/serviceaccount";
const SIDECAR_DIR: &str = "/var/run/kubeplex/sidecar";
const APP_SERVICEACCOUNT_DIR: &str = "/var/run/kubeplex/app-serviceaccount";
/// The Envoy image's unprivileged user; the init container writes as it too.
const SIDECAR_UID: i64 = 101;

/// Inject into one pod spec; `annotations` are the pod's (or template's).
pub(super) fn inject_pod_spec(
    object: &str,
    annotations: &Value,
    spec: &mut Map<String, Value>,
    config: &InjectConfig,
) -> Result<(), InjectError> {
    let object = || object.to_string();
    if spec.get("hostNetwork") == Some(&Value::Bool(true)) {
        return Err(InjectError::HostNetwork { object: object() });
    }
    let already = has_container(spec, SIDECAR_CONTAINER);
    if spec.get("automountServiceAccountToken") == Some(&Value::Bool(false))
        && !config.force
        && !already
    {
        return Err(InjectError::AutomountDisabled { object: object() });
    }
    let cluster = match annotations.get(CLUSTER_ANNOTATION) {
        None => config.default_cluster.as_str(),
        Some(Value::String(c)) if !c.trim().is_empty() => c.as_str(),
        Some(_) => return Err(InjectError::ClusterAnnotation { object: object() }),
    };

    let volumes = array_at(spec, "volumes");
    upsert_named(volumes, token_volume(config), false);
    upsert_named(volumes, memory_volume(SIDECAR_VOLUME), false);
    upsert_named(volumes, memory_volume(APP_SERVICEACCOUNT_VOLUME), false);

    for key in ["initContainers", "containers"] {
        if let Some(containers) = spec.get_mut(key).and_then(Value::as_array_mut) {
            for container in containers.iter_mut().filter(|c| !is_ours(c)) {
                redirect_app_container(container);
            }
        }
    }
    // Ours first, in this order: the files exist before Envoy starts, and
    // Envoy runs before any other container (app init containers included).
    let init = array_at(spec, "initContainers");
    init.retain(|c| !is_ours(c));
    init.insert(0, sidecar_container(cluster, config));
    init.insert(0, init_container(config));
    Ok(())
}

fn has_container(spec: &Map<String, Value>, name: &str) -> bool {
    spec.get("initContainers")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["name"] == name))
}

fn is_ours(container: &Value) -> bool {
    matches!(
        container["name"].as_str(),
        Some(SIDECAR_CONTAINER | INIT_CONTAINER)
    )
}

/// Replace the item with the same `name`, else append (or prepend).
fn upsert_named(items: &mut Vec<Value>, item: Value, front: bool) {
    match items.iter_mut().find(|i| i["name"] == item["name"]) {
        Some(slot) => *slot = item,
        None if front => items.insert(0, item),
        None => items.push(item),
    }
}

/// The app's API server is the sidecar; its ServiceAccount files are ours.
/// Whatever was mounted at the ServiceAccount path before (the admission
/// plugin's `kube-api-access-*` when the webhook runs) is no longer mounted.
fn redirect_app_container(container: &mut Value) {
    let Some(container) = container.as_object_mut() else {
        return;
    };
    let env = array_at(container, "env");
    let port = SIDECAR_PORT.to_string();
    for (name, value) in [
        ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
        ("KUBERNETES_SERVICE_PORT", port.as_str()),
    ] {
        upsert_named(env, json!({"name": name, "value": value}), false);
    }
    let mounts = array_at(container, "volumeMounts");
    let ours = json!({
        "name": APP_SERVICEACCOUNT_VOLUME,
        "mountPath": SERVICEACCOUNT_PATH,
        "readOnly": true,
    });
    let at_path = |m: &Value| {
        m["mountPath"]
            .as_str()
            .is_some_and(|p| p.trim_end_matches('/') == SERVICEACCOUNT_PATH)
    };
    match mounts.iter().position(at_path) {
        Some(i) => mounts[i] = ours,
        None => mounts.push(ours),
    }
    mounts.retain(|m| !at_path(m) || m["name"] == APP_SERVICEACCOUNT_VOLUME);
}

fn token_volume(config: &InjectConfig) -> Value {
    json!({
        "name": TOKEN_VOLUME,
        "projected": {
            "sources": [{"serviceAccountToken": {
                "audience": config.audience,
                "expirationSeconds": config.token_expiration_seconds,
                "path": "token",
            }}],
        },
    })
}

fn memory_volume(name: &str) -> Value {
    json!({"name": name, "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}})
}

/// Restricted-profile security context for both of our containers.
fn security_context() -> Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": SIDECAR_UID,
        "runAsGroup": SIDECAR_UID,
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

/// The paths inside the pod both containers agree on.
fn pod_paths() -> sidecar_config::SidecarPaths {
    sidecar_config::SidecarPaths {
        sidecar_dir: SIDECAR_DIR.to_string(),
        token_dir: TOKEN_DIR.to_string(),
    }
}

fn init_container(config: &InjectConfig) -> Value {
    let paths = pod_paths();
    json!({
        "name": INIT_CONTAINER,
        "image": config.init_image,
        "command": ["kubeplex"],
        "args": pod_start::args(&paths, APP_SERVICEACCOUNT_DIR, "$(POD_NAMESPACE)"),
        "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
        "volumeMounts": [
            {"name": SIDECAR_VOLUME, "mountPath": SIDECAR_DIR},
            {"name": APP_SERVICEACCOUNT_VOLUME, "mountPath": APP_SERVICEACCOUNT_DIR},
        ],
        "resources": {
            "requests": {"cpu": "10m", "memory": "16Mi"},
            "limits": {"memory": "32Mi"},
        },
        "securityContext": security_context(),
    })
}

fn sidecar_container(cluster: &str, config: &InjectConfig) -> Value {
    let ports = sidecar_config::SidecarPorts {
        api: SIDECAR_PORT,
        health: SIDECAR_HEALTH_PORT,
    };
    let bootstrap = sidecar_config::bootstrap(&pod_paths(), cluster, config, ports);
    json!({
        "name": SIDECAR_CONTAINER,
        "image": config.sidecar_image,
        "restartPolicy": "Always",
        "command": ["envoy"],
        "args": sidecar_config::envoy_args(&bootstrap),
        // The app's containers start once this succeeds (native sidecar).
        "startupProbe": {
            "httpGet": {"path": sidecar_config::READY_PATH, "port": SIDECAR_HEALTH_PORT},
            "periodSeconds": 1,
            "failureThreshold": 30,
        },
        "volumeMounts": [
            {"name": SIDECAR_VOLUME, "mountPath": SIDECAR_DIR, "readOnly": true},
            {"name": TOKEN_VOLUME, "mountPath": TOKEN_DIR, "readOnly": true},
        ],
        "resources": {
            "requests": {"cpu": "10m", "memory": "64Mi"},
            "limits": {"memory": "128Mi"},
        },
        "securityContext": security_context(),
    })
}
