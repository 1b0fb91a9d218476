//! The fleet's processes, as the Kubernetes install runs them, on
//! loopback: Envoys with the install's rendered bootstrap, arguments and
//! preStop hook; control planes (`kubeplex serve`), each on its own
//! 127.0.0.x address like a pod IP.
//!
//! What differs from a cluster, and why: the xDS cluster is STATIC with
//! both control planes' addresses instead of the headless Service's DNS
//! name (no DNS server here); each Envoy asks for the gateway listener on
//! its own loopback port (node metadata `kubeplex.io/listener-address`;
//! pods each have their own IP); one worker per Envoy; the preStop hook's
//! 15 s + 20 s become 1 s + 1 s (`UNREADY_SECONDS`, `DRAIN_SECONDS`,
//! `--drain-time-s`), which the 100 ms readiness checks of `endpoints`
//! allow.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{envoy, filter_wasm, http_get, kubeplex_bin, wait_exit, wait_for};

/// The install's Envoy bootstrap, preStop hook and container arguments.
pub struct Install {
    bootstrap: Value,
    pub prestop: PathBuf,
    args: Vec<String>,
}

/// Render `deploy/kubernetes/base` with the real `kubectl kustomize`.
pub fn render(dir: &Path) -> Install {
    let base = kubeplex_test_support::workspace().join("deploy/kubernetes/base");
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(&base)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objects: Vec<Value> =
        serde_saphyr::from_multiple(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let find = |kind: &str, name: &str| {
        objects
            .iter()
            .find(|o| {
                o["kind"] == kind
                    && o["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with(name))
            })
            .unwrap_or_else(|| panic!("{kind} {name} not rendered"))
            .clone()
    };
    let files = find("ConfigMap", "kubeplex-envoy");
    let bootstrap = serde_saphyr::from_str(files["data"]["bootstrap.yaml"].as_str().unwrap())
        .expect("the bootstrap is YAML");
    let prestop = dir.join("prestop.sh");
    std::fs::write(&prestop, files["data"]["prestop.sh"].as_str().unwrap()).unwrap();
    let deployment = find("Deployment", "kubeplex-envoy");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], "envoy");
    let args = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    Install {
        bootstrap,
        prestop,
        args,
    }
}

/// A port free on every address of `ips` (all of 127/8 is loopback).
pub fn port_free_on(ips: &[IpAddr]) -> u16 {
    wait_for(
        "a port free on every control plane address",
        Duration::from_secs(5),
        || {
            let port = kubeplex_test_support::free_port().ok()?;
            ips.iter()
                .all(|ip| std::net::TcpListener::bind((*ip, port)).is_ok())
                .then_some(port)
        },
    )
}

/// A child process, killed when dropped.
pub struct Process {
    pub child: Child,
    pub log: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    fn spawn(mut cmd: Command, log: PathBuf) -> Process {
        let file = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        Process { child, log }
    }

    /// SIGTERM, as the kubelet sends after the preStop hook.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM");
    }

    /// The last lines it printed.
    pub fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// One control plane pod: `kubeplex serve` on `ip`.
pub struct ControlPlane {
    pub ip: IpAddr,
    pub xds_port: u16,
    pub admin_port: u16,
    pub process: Option<Process>,
}

impl ControlPlane {
    pub fn admin(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.admin_port)
    }

    /// Start (or restart) it on its address with the shared inputs.
    pub fn start(&mut self, dir: &Path, generation: u32) {
        let mut cmd = Command::new(kubeplex_bin());
        cmd.arg("serve")
            .arg("--kubeconfig")
            .arg(dir.join("clusters.yaml"))
            .arg("--config")
            .arg(dir.join("gateway.yaml"))
            .arg("--filter-wasm")
            .arg(filter_wasm())
            .arg(format!(
                "--xds-addr={}",
                SocketAddr::new(self.ip, self.xds_port)
            ))
            .arg(format!("--admin-addr={}", self.admin()))
            .env("RUST_LOG", "info");
        let log = dir.join(format!("control-plane-{}-{generation}.log", self.ip));
        let mut process = Process::spawn(cmd, log);
        let (ip, admin) = (self.ip, self.admin());
        wait_for(
            format_args!("control plane {ip} ready"),
            Duration::from_secs(20),
            || {
                if let Ok(Some(status)) = process.child.try_wait() {
                    panic!("control plane {ip} exited ({status}):\n{}", process.tail());
                }
                http_get(&format!("http://{admin}/readyz"))
            },
        );
        self.process = Some(process);
    }

    /// The control plane's `/status`.
    pub fn status(&self) -> Value {
        http_get(&format!("http://{}/status", self.admin()))
            .and_then(|b| serde_json::from_str(&b).ok())
            .unwrap_or(Value::Null)
    }

    /// Node ids of the Envoys connected to it and in sync with it.
    pub fn in_sync(&self) -> Vec<String> {
        let status = self.status();
        status["envoys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["in_sync"] == true)
            .filter_map(|e| e["node"].as_str().map(String::from))
            .collect()
    }
}

/// One Envoy pod.
pub struct EnvoyPod {
    pub id: String,
    pub admin_port: u16,
    pub probe_port: u16,
    /// Where its gateway listener is (its "pod IP:8443").
    pub gateway: SocketAddr,
    pub process: Process,
}

/// Start Envoy pod `id` with the install's bootstrap, adapted to loopback.
pub fn start_envoy(
    install: &Install,
    dir: &Path,
    id: &str,
    control_planes: &[&ControlPlane],
) -> EnvoyPod {
    let port = || kubeplex_test_support::free_port().unwrap();
    let (admin_port, probe_port) = (port(), port());
    let gateway = SocketAddr::from(([127, 0, 0, 1], port()));
    let mut b = install.bootstrap.clone();
    b["node"]["metadata"] = json!({"kubeplex.io/listener-address": gateway.to_string()});
    b["admin"]["address"]["socket_address"]["port_value"] = admin_port.into();
    for c in b["static_resources"]["clusters"].as_array_mut().unwrap() {
        let endpoints: Vec<Value> = if c["name"] == "kubeplex-xds" {
            // STATIC instead of the headless Service's DNS name
            let cluster = c.as_object_mut().unwrap();
            cluster.remove("cluster_type");
            cluster.insert("type".into(), "STATIC".into());
            control_planes
                .iter()
                .map(|cp| endpoint(&cp.ip.to_string(), cp.xds_port))
                .collect()
        } else {
            vec![endpoint("127.0.0.1", admin_port)]
        };
        c["load_assignment"]["endpoints"] = json!([{"lb_endpoints": endpoints}]);
    }
    let probes = &mut b["static_resources"]["listeners"][0]["address"]["socket_address"];
    probes["address"] = "127.0.0.1".into();
    probes["port_value"] = probe_port.into();
    let bootstrap = dir.join(format!("bootstrap-{id}.json"));
    std::fs::write(&bootstrap, b.to_string()).unwrap();
    let mut cmd = Command::new(envoy());
    let args = &install.args;
    for (i, a) in args.iter().enumerate() {
        let value = match i.checked_sub(1).map(|j| args[j].as_str()) {
            Some("--config-path") => bootstrap.display().to_string(),
            Some("--concurrency") => "1".to_string(),
            Some("--drain-time-s") => "1".to_string(),
            _ => a.replace("$(POD_NAME)", id),
        };
        cmd.arg(value);
    }
    cmd.args(["--log-level", "warning"]);
    let process = Process::spawn(cmd, dir.join(format!("{id}.log")));
    EnvoyPod {
        id: id.to_string(),
        admin_port,
        probe_port,
        gateway,
        process,
    }
}

fn endpoint(address: &str, port: u16) -> Value {
    json!({"endpoint": {"address": {"socket_address": {"address": address, "port_value": port}}}})
}

impl EnvoyPod {
    /// The preStop hook, as the kubelet runs it (1 s unready, 1 s drain).
    pub fn pre_stop(&self, install: &Install) {
        let out = Command::new("bash")
            .arg(&install.prestop)
            .env("ENVOY_ADMIN_PORT", self.admin_port.to_string())
            .env("UNREADY_SECONDS", "1")
            .env("DRAIN_SECONDS", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.matches("-> 200").count() == 2,
            "preStop of {}: {text}{}",
            self.id,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The pod's termination: preStop, then SIGTERM, then its exit.
    pub fn stop(mut self, install: &Install) {
        self.pre_stop(install);
        self.process.terminate();
        wait_exit(
            &mut self.process.child,
            format_args!("{} after SIGTERM", self.id),
            Duration::from_secs(10),
        );
    }
}
