//! The Envoy pods and the control planes must agree: Envoy's bootstrap
//! finds the control planes through the headless Service, both see the
//! filter module at the same path, the drain fits in the grace period, and
//! every file a process is told to read is a key of what is mounted there.

use std::path::Path;

use serde_json::Value;

use super::super::USER_SECRETS;
use super::{container_port, containers, env, flag, templates};

/// What a path inside a container is.
#[derive(Debug, PartialEq)]
enum Mounted {
    /// A key of a rendered ConfigMap, with its text.
    ConfigMapKey(String),
    /// A key of a Secret the user creates.
    UserSecretKey,
    /// A file in an emptyDir volume: (volume, path inside it).
    EmptyDir(String, String),
}

pub fn check(objects: &[Value]) -> Vec<String> {
    let Some(envoy) = pod_with(objects, "envoy") else {
        return vec!["no pod template has an `envoy` container".into()];
    };
    let Some(cp) = pod_with(objects, "control-plane") else {
        return vec!["no pod template has a `control-plane` container".into()];
    };
    let mut p = Vec::new();
    let bootstrap = match file_text(
        objects,
        envoy,
        "envoy",
        flag(container(envoy, "envoy"), "--config-path"),
    ) {
        Ok(text) => {
            serde_saphyr::from_str::<Value>(&text).unwrap_or_else(|e| panic!("bootstrap: {e}"))
        }
        Err(e) => return vec![format!("envoy --config-path: {e}")],
    };
    xds(objects, &bootstrap, cp, &mut p);
    probes_and_admin(&bootstrap, envoy, &mut p);
    memory_settings(&bootstrap, &mut p);
    filter_module(envoy, cp, &mut p);
    drain(objects, envoy, &mut p);
    control_plane_files(objects, cp, envoy, &mut p);
    p
}

fn pod_with<'a>(objects: &'a [Value], container: &str) -> Option<&'a Value> {
    templates(objects)
        .map(|(_, t)| &t["spec"])
        .find(|pod| containers(pod).any(|c| c["name"] == container))
}

fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    containers(pod)
        .find(|c| c["name"] == name)
        .expect("container")
}

/// What `path` is in `container` of `pod`.
fn mounted(
    objects: &[Value],
    pod: &Value,
    container_name: &str,
    path: &str,
) -> Result<Mounted, String> {
    let c = container(pod, container_name);
    let mount = c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            Some((
                m,
                Path::new(path)
                    .strip_prefix(m["mountPath"].as_str()?)
                    .ok()?,
            ))
        })
        .max_by_key(|(m, _)| m["mountPath"].as_str().map(str::len));
    let Some((m, rel)) = mount else {
        return Err(format!("{path} is on no volume of {container_name}"));
    };
    let rel = rel.to_string_lossy().to_string();
    let volume = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == m["name"])
        .ok_or("no such volume")?;
    if let Some(cm) = volume["configMap"]["name"].as_str() {
        let data = super::super::render::find(objects, "ConfigMap", cm)["data"][&rel].as_str();
        return data
            .map(|t| Mounted::ConfigMapKey(t.to_string()))
            .ok_or(format!("{path}: ConfigMap {cm} has no key {rel}"));
    }
    if let Some(secret) = volume["secret"]["secretName"].as_str() {
        return match USER_SECRETS.iter().find(|(n, _)| *n == secret) {
            Some((_, keys)) if keys.contains(&rel.as_str()) => Ok(Mounted::UserSecretKey),
            _ => Err(format!("{path}: Secret {secret} has no key {rel} (README)")),
        };
    }
    if volume["emptyDir"].is_object() {
        return Ok(Mounted::EmptyDir(
            m["name"].as_str().unwrap_or("").into(),
            rel,
        ));
    }
    Err(format!(
        "{path}: volume {} is of an unexpected type",
        m["name"]
    ))
}

fn file_text(
    objects: &[Value],
    pod: &Value,
    c: &str,
    path: Option<&str>,
) -> Result<String, String> {
    match mounted(objects, pod, c, path.ok_or("not set")?)? {
        Mounted::ConfigMapKey(text) => Ok(text),
        other => Err(format!("{path:?} is {other:?}, not a ConfigMap key")),
    }
}

/// The bootstrap's `kubeplex-xds` cluster → a headless Service → the
/// control plane's `--xds-addr`.
fn xds(objects: &[Value], bootstrap: &Value, cp: &Value, p: &mut Vec<String>) {
    let clusters = bootstrap["static_resources"]["clusters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Some(cluster) = clusters.iter().find(|c| c["name"] == "kubeplex-xds") else {
        return p.push(
            "bootstrap: no kubeplex-xds cluster (the filter calls it by that name too)".into(),
        );
    };
    if cluster["cluster_type"]["typed_config"]["all_addresses_in_single_endpoint"] != false {
        p.push("bootstrap: kubeplex-xds must be a STRICT_DNS-style DNS cluster".into());
    }
    let address = &cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        ["socket_address"];
    let Some(service) = objects
        .iter()
        .find(|o| o["kind"] == "Service" && o["metadata"]["name"] == address["address"])
    else {
        return p.push(format!(
            "bootstrap: xDS address {} is no rendered Service",
            address["address"]
        ));
    };
    if service["spec"]["clusterIP"] != "None" {
        p.push("the xDS Service must be headless (DNS answers every control plane)".into());
    }
    let ports = service["spec"]["ports"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Some(port) = ports.iter().find(|x| x["port"] == address["port_value"]) else {
        return p.push(format!(
            "the xDS Service has no port {}",
            address["port_value"]
        ));
    };
    let cp_container = container(cp, "control-plane");
    let target = port["targetPort"]
        .as_str()
        .and_then(|n| container_port(cp_container, n));
    let listening =
        flag(cp_container, "--xds-addr").and_then(|a| a.rsplit(':').next()?.parse::<i64>().ok());
    if target.is_none() || target != listening {
        p.push(format!(
            "xDS: Service targets port {target:?}, the control plane listens on {listening:?}"
        ));
    }
}

/// Envoy's arguments in its own syntax; readiness and metrics on the
/// bootstrap's `probes` listener; the admin port (drain, quit) only on
/// loopback, where preStop reaches it.
fn probes_and_admin(bootstrap: &Value, envoy: &Value, p: &mut Vec<String>) {
    let c = container(envoy, "envoy");
    let args = c["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    for a in args.filter(|a| a.starts_with("--") && a.contains('=')) {
        p.push(format!(
            "envoy: {a}: Envoy's command line takes `--flag value`, not `--flag=value`"
        ));
    }
    let listeners = bootstrap["static_resources"]["listeners"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let probes = listeners.iter().find(|l| l["name"] == "probes");
    let probe_port = probes.map(|l| l["address"]["socket_address"]["port_value"].as_i64());
    if probe_port != Some(container_port(c, "probes"))
        || c["readinessProbe"]["httpGet"]["path"] != "/ready"
    {
        p.push(
            "envoy: the readiness probe must GET /ready on the bootstrap's probes listener".into(),
        );
    }
    let admin = &bootstrap["admin"]["address"]["socket_address"];
    let prestop_port = env(c, "ENVOY_ADMIN_PORT").unwrap_or("9901");
    if admin["address"] != "127.0.0.1" || admin["port_value"].as_i64() != prestop_port.parse().ok()
    {
        p.push(format!(
            "envoy: admin must be 127.0.0.1:{prestop_port} (loopback; the preStop hook's port)"
        ));
    }
}

/// The bootstrap parts that set Envoy's memory per kubeconfig context and
/// its stats (README, "10,000 contexts") are the gateway bootstrap's
/// (`envoy/bootstrap.yaml`, which `kubeplex up` and docker-compose run):
/// a Kubernetes install gets the same settings, not a copy that drifted.
fn memory_settings(bootstrap: &Value, p: &mut Vec<String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../envoy/bootstrap.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let gateway: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    for key in MEMORY_SETTINGS {
        if gateway[key].is_null() {
            p.push(format!("envoy/bootstrap.yaml: no {key}"));
        } else if bootstrap[key] != gateway[key] {
            p.push(format!(
                "bootstrap: {key} must equal envoy/bootstrap.yaml's ({} != {})",
                bootstrap[key], gateway[key]
            ));
        }
    }
}

/// The bootstrap keys [`memory_settings`] compares.
const MEMORY_SETTINGS: [&str; 3] = ["cluster_manager", "deferred_stat_options", "stats_config"];

/// The init container copies the module where Envoy reads it, at the path
/// the control plane names in the config it sends.
fn filter_module(envoy: &Value, cp: &Value, p: &mut Vec<String>) {
    let wasm = flag(container(cp, "control-plane"), "--filter-wasm");
    let init = container(envoy, "filter-wasm");
    let cp_args: Vec<&str> = init["command"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let [_, source, destination] = cp_args[..] else {
        return p.push(format!(
            "filter-wasm: expected `cp SRC DST`, got {cp_args:?}"
        ));
    };
    let copied = mount_of(envoy, "filter-wasm", destination);
    let seen_by_envoy = copied.and_then(|(vol, rel)| {
        let m = container(envoy, "envoy")["volumeMounts"]
            .as_array()?
            .iter()
            .find(|m| m["name"] == vol)?;
        Some(format!("{}/{rel}", m["mountPath"].as_str()?))
    });
    if wasm != Some(source) || seen_by_envoy.as_deref() != wasm {
        p.push(format!("filter module: control plane names {wasm:?}, init copies {source} to {destination}, Envoy sees {seen_by_envoy:?}"));
    }
}

fn mount_of(pod: &Value, c: &str, path: &str) -> Option<(String, String)> {
    container(pod, c)["volumeMounts"]
        .as_array()?
        .iter()
        .find_map(|m| {
            let rel = Path::new(path)
                .strip_prefix(m["mountPath"].as_str()?)
                .ok()?;
            Some((
                m["name"].as_str()?.to_string(),
                rel.to_string_lossy().to_string(),
            ))
        })
}

/// preStop is a mounted script; `--drain-time-s` is what it waits; both
/// waits fit in the grace period.
fn drain(objects: &[Value], envoy: &Value, p: &mut Vec<String>) {
    let c = container(envoy, "envoy");
    let script = c["lifecycle"]["preStop"]["exec"]["command"][1].as_str();
    if let Err(e) = file_text(objects, envoy, "envoy", script) {
        p.push(format!("envoy preStop: {e}"));
    }
    let seconds = |v: Option<&str>| v.and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    let drain = seconds(flag(c, "--drain-time-s"));
    let (unready, waited) = (
        seconds(env(c, "UNREADY_SECONDS")),
        seconds(env(c, "DRAIN_SECONDS")),
    );
    let grace = envoy["terminationGracePeriodSeconds"]
        .as_i64()
        .unwrap_or(30);
    if drain == 0 || drain != waited || grace <= unready + waited {
        p.push(format!("envoy drain: --drain-time-s {drain}, DRAIN_SECONDS {waited}, UNREADY_SECONDS {unready}, grace {grace}"));
    }
}

/// The control plane's inputs are mounted keys, and so is every absolute
/// path in its gateway config; the gateway listens where Envoy's port is.
fn control_plane_files(objects: &[Value], cp: &Value, envoy: &Value, p: &mut Vec<String>) {
    let c = container(cp, "control-plane");
    for f in ["--kubeconfig", "--config"] {
        if let Err(e) = flag(c, f)
            .ok_or("not set".to_string())
            .and_then(|path| mounted(objects, cp, "control-plane", path))
        {
            p.push(format!("control plane {f}: {e}"));
        }
    }
    let Ok(text) = file_text(objects, cp, "control-plane", flag(c, "--config")) else {
        return;
    };
    let gateway: Value =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("gateway.yaml: {e}"));
    let mut paths = Vec::new();
    absolute_paths(&gateway, &mut paths);
    for path in paths {
        if let Err(e) = mounted(objects, cp, "control-plane", &path) {
            p.push(format!("gateway config names {path}: {e}"));
        }
    }
    let port = gateway["listener"]["port"].as_i64().unwrap_or(8443);
    if container_port(container(envoy, "envoy"), "https") != Some(port) {
        p.push(format!(
            "the gateway listens on {port}, Envoy's https port differs"
        ));
    }
}

fn absolute_paths(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.starts_with('/') => out.push(s.clone()),
        Value::Object(m) => m.values().for_each(|x| absolute_paths(x, out)),
        Value::Array(a) => a.iter().for_each(|x| absolute_paths(x, out)),
        _ => {}
    }
}
