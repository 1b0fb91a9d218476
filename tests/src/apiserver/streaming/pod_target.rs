//! Which pod and container a streaming request is for, validated with the
//! apiserver's messages, and the running container's context (environment,
//! filesystem, log).

use serde_json::Value;

use super::super::status::ApiError;
use super::Streaming;
use super::process::PodContext;

/// Every container name in the apiserver's visiting order: init
/// containers, containers, ephemeral containers.
pub fn container_names(pod: &Value) -> Vec<String> {
    ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| pod["spec"][k].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

/// The container a request names, or the only one; the apiserver's
/// `validateContainer`.
pub fn resolve_container(pod: &Value, requested: Option<&str>) -> Result<String, ApiError> {
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    match requested.filter(|c| !c.is_empty()) {
        Some(c) => {
            if container_names(pod).iter().any(|n| n == c) {
                Ok(c.to_string())
            } else {
                Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )))
            }
        }
        None => {
            let containers = pod["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            match containers.as_slice() {
                [only] => Ok(only["name"].as_str().unwrap_or("").to_string()),
                [] => Err(ApiError::bad_request(format!(
                    "pod {name} does not have a container"
                ))),
                _ => Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    container_names(pod).join(" ")
                ))),
            }
        }
    }
}

/// Why a container cannot serve logs or streams yet, if it cannot: the
/// kubelet's "is waiting to start" (from `containerStatuses`).
pub fn waiting_reason(pod: &Value, container: &str) -> Option<String> {
    let statuses = ["initContainerStatuses", "containerStatuses"]
        .iter()
        .flat_map(|k| pod["status"][k].as_array().cloned().unwrap_or_default());
    for s in statuses {
        if s["name"].as_str() == Some(container) {
            let waiting = &s["state"]["waiting"];
            if waiting.is_object() {
                return Some(
                    waiting["reason"]
                        .as_str()
                        .unwrap_or("ContainerCreating")
                        .to_string(),
                );
            }
            return None;
        }
    }
    // No status at all: a pod that has not started.
    match pod["status"]["phase"].as_str() {
        Some("Pending") | None => Some("ContainerCreating".to_string()),
        _ => None,
    }
}

/// The container's spec object.
fn container_spec<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .filter_map(|k| pod["spec"][k].as_array())
        .flatten()
        .find(|c| c["name"].as_str() == Some(container))
}

/// The environment a process in the container sees, in the order a
/// container runtime sets it.
pub fn environment(pod: &Value, container: &str) -> Vec<(String, String)> {
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let mut env: Vec<(String, String)> = vec![
        (
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ),
        ("HOSTNAME".into(), name.into()),
    ];
    if let Some(vars) = container_spec(pod, container).and_then(|c| c["env"].as_array()) {
        for v in vars {
            // Only literal values; valueFrom would need a kubelet.
            if let (Some(k), Some(val)) = (v["name"].as_str(), v["value"].as_str()) {
                env.push((k.into(), val.into()));
            }
        }
    }
    for (k, v) in [
        ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
        ("KUBERNETES_SERVICE_PORT", "443"),
        ("KUBERNETES_SERVICE_PORT_HTTPS", "443"),
        ("KUBERNETES_PORT", "tcp://10.96.0.1:443"),
        ("KUBERNETES_PORT_443_TCP", "tcp://10.96.0.1:443"),
        ("KUBERNETES_PORT_443_TCP_PROTO", "tcp"),
        ("KUBERNETES_PORT_443_TCP_PORT", "443"),
        ("KUBERNETES_PORT_443_TCP_ADDR", "10.96.0.1"),
        ("HOME", "/root"),
    ] {
        env.push((k.into(), v.into()));
    }
    env
}

/// The running container's context.
pub fn context(streaming: &Streaming, pod: &Value, container: &str) -> PodContext {
    let working_dir = container_spec(pod, container)
        .and_then(|c| c["workingDir"].as_str())
        .filter(|d| d.starts_with('/'))
        .unwrap_or("/")
        .to_string();
    PodContext {
        namespace: pod["metadata"]["namespace"].as_str().unwrap_or("").into(),
        pod: pod["metadata"]["name"].as_str().unwrap_or("").into(),
        container: container.into(),
        env: environment(pod, container),
        working_dir,
        fs: streaming.filesystem(pod, container),
        log: streaming.log(pod, container),
    }
}
