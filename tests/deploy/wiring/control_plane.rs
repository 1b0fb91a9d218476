//! The control plane's ports: the admin API (revoke, status, the audit
//! trail; no authentication) listens on loopback only, where `kubectl
//! exec` and `kubectl port-forward` reach it and no Service, NetworkPolicy
//! gap or CNI without policies can; the kubelet's probes and Prometheus use
//! the probe port, which serves nothing else.

use std::net::SocketAddr;

use serde_json::Value;

use super::{container_port, containers, flag, templates};

pub fn check(objects: &[Value]) -> Vec<String> {
    let mut p = Vec::new();
    let control_planes = templates(objects)
        .flat_map(|(_, t)| containers(&t["spec"]))
        .filter(|c| c["name"] == "control-plane");
    for c in control_planes {
        let addr = |name: &str| flag(c, name).and_then(|a| a.parse::<SocketAddr>().ok());
        match addr("--admin-addr") {
            Some(admin) if admin.ip().is_loopback() => {}
            other => p.push(format!(
                "control-plane: --admin-addr {other:?} must be a loopback address (the admin API has no authentication)"
            )),
        }
        let probes = addr("--probe-addr").map(|a| i64::from(a.port()));
        if probes.is_none() || probes != container_port(c, "probes") {
            p.push(format!(
                "control-plane: --probe-addr port {probes:?} must be the container port `probes`"
            ));
        }
        for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
            let get = &c[probe]["httpGet"];
            if get["path"] != path || get["port"] != "probes" {
                p.push(format!(
                    "control-plane: {probe} must GET {path} on port `probes`, not {get}"
                ));
            }
        }
    }
    p
}
