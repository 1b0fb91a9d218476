//! The in-pod adapter's mutation (`kubeplex inject`, `kubeplex webhook`):
//! a pod template gets a native sidecar (Envoy) on `127.0.0.1:6443` that
//! forwards the app's Kubernetes API calls to the gateway with the pod's own
//! projected ServiceAccount token, and the app containers get
//! `KUBERNETES_SERVICE_HOST/PORT` pointing at it plus a substitute
//! ServiceAccount volume (a token nobody accepts, the sidecar's CA, the
//! namespace).
//!
//! Everything here is a pure function of the object and [`InjectConfig`]:
//! the CLI and the webhook apply the same mutation. The objects are handled
//! as JSON values, not typed, so fields this crate's API types do not know
//! survive untouched.

mod pod;
pub mod pod_start;
pub mod sidecar_config;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

pub use pod::{
    APP_SERVICEACCOUNT_VOLUME, CLUSTER_ANNOTATION, INIT_CONTAINER, SERVICEACCOUNT_PATH,
    SIDECAR_CONTAINER, SIDECAR_HEALTH_PORT, SIDECAR_PORT, SIDECAR_VOLUME, TOKEN_VOLUME,
};

/// What the mutation needs to know about the gateway and the images.
#[derive(Debug, Clone)]
pub struct InjectConfig {
    /// Where the sidecar sends requests.
    pub gateway: GatewayAddress,
    /// The CA (PEM) that signed the gateway's serving certificate.
    pub gateway_ca_pem: String,
    /// The audience the gateway accepts for this cluster's ServiceAccount tokens.
    pub audience: String,
    /// The context behind the gateway used when a pod has no `kubeplex.io/cluster` annotation.
    pub default_cluster: String,
    /// The Envoy image of the sidecar.
    pub sidecar_image: String,
    /// The kubeplex image of the init container (`kubeplex sidecar-init`).
    pub init_image: String,
    /// Lifetime the kubelet asks for the projected token (it rotates at 80 %).
    pub token_expiration_seconds: i64,
    /// Inject even into pods that turned ServiceAccount automount off.
    pub force: bool,
}

/// The gateway's host and port, from an `https://host[:port]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayAddress {
    /// A DNS name or an IP address (without brackets).
    pub host: String,
    /// The TLS port.
    pub port: u16,
}

impl GatewayAddress {
    /// Parse `https://host[:port]` (port 443 when absent; no path).
    pub fn parse(url: &str) -> Result<GatewayAddress, InjectError> {
        let bad = || InjectError::GatewayUrl(url.to_string());
        let uri: http::Uri = url.parse().map_err(|_| bad())?;
        if uri.scheme_str() != Some("https") || !matches!(uri.path(), "" | "/") {
            return Err(bad());
        }
        let host = uri.host().ok_or_else(bad)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Ok(GatewayAddress {
            host: host.to_string(),
            port: uri.port_u16().unwrap_or(443),
        })
    }
}

/// Why an object was not injected.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    /// The input is not YAML or JSON.
    #[error("the input is not YAML")]
    Yaml(#[source] serde_saphyr::Error),
    /// The output could not be written as YAML.
    #[error("cannot write the result as YAML")]
    WriteYaml(#[source] serde_saphyr::SerializeError),
    /// `--gateway` is not an `https://host[:port]` URL.
    #[error("{0:?} is not a gateway URL like https://gateway.example:8443")]
    GatewayUrl(String),
    /// A document is not an object with a `kind`.
    #[error("document {0}: not a Kubernetes object (no kind)")]
    NotAnObject(usize),
    /// A kind that holds no pod template.
    #[error(
        "{object}: kind {kind} holds no pod template (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, List)"
    )]
    UnsupportedKind {
        /// Which object.
        object: String,
        /// Its kind.
        kind: String,
    },
    /// A workload without the pod spec its kind has.
    #[error("{object}: no pod spec at {path}")]
    NoPodSpec {
        /// Which object.
        object: String,
        /// Where the spec should be.
        path: &'static str,
    },
    /// Host network pods share the node's loopback: 127.0.0.1:6443 is not theirs.
    #[error(
        "{object}: hostNetwork pods share the node's 127.0.0.1, the sidecar cannot listen there for this pod alone"
    )]
    HostNetwork {
        /// Which object.
        object: String,
    },
    /// The pod said it wants no API credentials; injecting would give it some.
    #[error(
        "{object}: automountServiceAccountToken is false (the pod asked for no API access); use --force to inject anyway"
    )]
    AutomountDisabled {
        /// Which object.
        object: String,
    },
    /// The `kubeplex.io/cluster` annotation is empty or not a string.
    #[error("{object}: annotation kubeplex.io/cluster must name a context behind the gateway")]
    ClusterAnnotation {
        /// Which object.
        object: String,
    },
}

/// Inject into every document of a YAML stream (`---`-separated); the
/// result is the same documents, mutated, as YAML.
pub fn inject_yaml(input: &str, config: &InjectConfig) -> Result<String, InjectError> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(input).map_err(InjectError::Yaml)?;
    let mut out = Vec::new();
    for (i, document) in documents.into_iter().enumerate() {
        if document.is_null() {
            continue;
        }
        if !document.is_object() {
            return Err(InjectError::NotAnObject(i + 1));
        }
        out.push(inject_object(&document, config)?);
    }
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    serde_saphyr::to_string_multiple_with_options(&out, options).map_err(InjectError::WriteYaml)
}

/// The object with the sidecar injected into its pod template (a `List`:
/// into each item). Injecting into an injected object changes nothing.
pub fn inject_object(object: &Value, config: &InjectConfig) -> Result<Value, InjectError> {
    let mut object = object.clone();
    let kind = object["kind"].as_str().unwrap_or_default().to_string();
    let name = describe(&object);
    // Where the pod template's metadata and spec are, per kind.
    let template: &[&str] = match kind.as_str() {
        "List" => {
            if let Some(items) = object.get_mut("items").and_then(Value::as_array_mut) {
                for item in items.iter_mut() {
                    *item = inject_object(item, config)?;
                }
            }
            return Ok(object);
        }
        "Pod" => &[],
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController" => &["spec", "template"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template"],
        "" => return Err(InjectError::NotAnObject(0)),
        _ => return Err(InjectError::UnsupportedKind { object: name, kind }),
    };
    let path = spec_path(&kind);
    let mut at = &mut object;
    for key in template {
        at = at.get_mut(*key).ok_or_else(|| InjectError::NoPodSpec {
            object: name.clone(),
            path,
        })?;
    }
    let pod = at.as_object_mut().ok_or_else(|| InjectError::NoPodSpec {
        object: name.clone(),
        path,
    })?;
    let annotations = pod
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .cloned()
        .unwrap_or(Value::Null);
    let spec = pod
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| InjectError::NoPodSpec {
            object: name.clone(),
            path,
        })?;
    pod::inject_pod_spec(&name, &annotations, spec, config)?;
    Ok(object)
}

/// Where a kind keeps its pod spec (for error messages).
fn spec_path(kind: &str) -> &'static str {
    match kind {
        "Pod" => "spec",
        "CronJob" => "spec.jobTemplate.spec.template.spec",
        _ => "spec.template.spec",
    }
}

/// `Kind namespace/name` for messages.
fn describe(object: &Value) -> String {
    let field = |k: &str| object["metadata"][k].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or("object");
    match (field("namespace"), field("name")) {
        ("", "") => kind.to_string(),
        ("", name) => format!("{kind} {name}"),
        (ns, name) => format!("{kind} {ns}/{name}"),
    }
}

/// `map[key]` as a mutable array, created empty when absent.
fn array_at<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let slot = map.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    slot.as_array_mut().expect("just made an array")
}
