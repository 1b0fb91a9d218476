//! The Envoy pod's behaviour, with the real Envoy and the real control
//! plane on this machine (there is no cluster here): the rendered bootstrap
//! and preStop hook, the Deployment's Envoy arguments. What a cluster would
//! provide is replaced: the headless Service's name by `localhost` (still
//! resolved by Envoy's DNS cluster), the pod's ports by free loopback ones,
//! the drain times by short ones.
//!
//! It shows: Envoy started before any control plane stays not ready, finds
//! the control plane when it appears (ADS retry) and turns ready; a control
//! plane killed and replaced is found again without restarting Envoy; the
//! probe port serves /ready and metrics but not the admin's other
//! endpoints; the preStop hook turns /ready 503, drains, and the gateway
//! listener closes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kubeplex_test_support::{free_port, poll, wait_exit};
use serde_json::Value;

use super::render::{self, find};

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Loopback ports standing in for the pod's and the Service's.
struct Ports {
    xds: u16,
    cp_admin: u16,
    cp_probes: u16,
    envoy_admin: u16,
    probes: u16,
    gateway: u16,
}

/// The status code of `METHOD path` on 127.0.0.1:`port` (HTTP/1.1, as the
/// kubelet asks; Envoy refuses HTTP/1.0), with the body; None when nothing
/// answers.
fn http(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    // what arrived before the connection ended, even by a reset (Envoy
    // closes draining connections right after its answer)
    let mut bytes = Vec::new();
    let _ = s.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let code = text.split(' ').nth(1)?.parse().ok()?;
    Some((
        code,
        text.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default(),
    ))
}

fn code(port: u16, method: &str, path: &str) -> Option<u16> {
    http(port, method, path).map(|(c, _)| c)
}

/// The rendered bootstrap, pointed at this machine's ports.
fn bootstrap(objects: &[Value], p: &Ports) -> Value {
    let mut b: Value = serde_saphyr::from_str(&envoy_file(objects, "bootstrap.yaml")).unwrap();
    b["admin"]["address"]["socket_address"]["port_value"] = p.envoy_admin.into();
    for c in b["static_resources"]["clusters"].as_array_mut().unwrap() {
        let is_xds = c["name"] == "kubeplex-xds";
        let address = &mut c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
            ["socket_address"];
        if is_xds {
            address["address"] = "localhost".into();
            address["port_value"] = p.xds.into();
        } else {
            address["port_value"] = p.envoy_admin.into();
        }
    }
    let probes = &mut b["static_resources"]["listeners"][0]["address"]["socket_address"];
    probes["address"] = "127.0.0.1".into();
    probes["port_value"] = p.probes.into();
    b
}

/// A key of the ConfigMap the Envoy pods mount their bootstrap from.
fn envoy_file(objects: &[Value], key: &str) -> String {
    let pod = &find(objects, "Deployment", "kubeplex-envoy")["spec"]["template"]["spec"];
    let volumes = pod["volumes"].as_array().unwrap();
    let name = &volumes.iter().find(|v| v["name"] == "bootstrap").unwrap()["configMap"]["name"];
    let config = find(objects, "ConfigMap", name.as_str().unwrap());
    config["data"][key].as_str().unwrap().to_string()
}

/// The Deployment's Envoy arguments, with this machine's bootstrap, a node
/// id for `$(POD_NAME)` and a 2 s drain.
fn envoy_args(objects: &[Value], bootstrap: &Path) -> Vec<String> {
    let pod = &find(objects, "Deployment", "kubeplex-envoy")["spec"]["template"]["spec"];
    let envoy = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "envoy")
        .unwrap();
    let args: Vec<&str> = envoy["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let mut out: Vec<String> = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let value = match i.checked_sub(1).map(|j| args[j]) {
            Some("--config-path") => bootstrap.display().to_string(),
            Some("--drain-time-s") => "2".to_string(),
            _ => a.replace("$(POD_NAME)", "kubeplex-envoy-test"),
        };
        out.push(value);
    }
    out
}

/// A gateway config on loopback with a local issuer key (no fetch leaves
/// this machine), and clusters on a closed local port.
fn control_plane_inputs(dir: &Path, p: &Ports) {
    let ca = kubeplex_tests::pki::Ca::new("gateway");
    let (cert, key) = ca.server_cert(&["localhost"]).write_to(dir, "gw").unwrap();
    std::fs::write(
        dir.join("issuer.pub.pem"),
        rcgen::KeyPair::generate().unwrap().public_key_pem(),
    )
    .unwrap();
    let gateway = format!(
        "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\n\
         listener: {{address: 127.0.0.1, port: {}, certificateFile: {}, keyFile: {}}}\n\
         jwt:\n- issuer: {{url: https://idp.example, audiences: [kubeplex], publicKeyFile: issuer.pub.pem}}\n",
        p.gateway,
        cert.display(),
        key.display()
    );
    std::fs::write(dir.join("gateway.yaml"), gateway).unwrap();
    let closed = free_port().unwrap();
    let clusters = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster: {{server: 'https://127.0.0.1:{closed}'}}\n\
         users:\n- name: gw\n  user: {{token: t}}\ncontexts:\n- name: a\n  context: {{cluster: a, user: gw}}\n"
    );
    std::fs::write(dir.join("clusters.kubeconfig"), clusters).unwrap();
}

fn start_control_plane(dir: &Path, p: &Ports) -> Running {
    let child = Command::new(kubeplex_test_support::kubeplex_bin())
        .arg("serve")
        .arg("--kubeconfig")
        .arg(dir.join("clusters.kubeconfig"))
        .arg("--config")
        .arg(dir.join("gateway.yaml"))
        .arg("--filter-wasm")
        .arg(kubeplex_test_support::filter_wasm())
        .arg(format!("--xds-addr=127.0.0.1:{}", p.xds))
        .arg(format!("--admin-addr=127.0.0.1:{}", p.cp_admin))
        .arg(format!("--probe-addr=127.0.0.1:{}", p.cp_probes))
        .arg("--state-dir")
        .arg(dir.join(format!("state-{}", p.cp_admin)))
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(dir.join(format!("control-plane-{}.log", p.cp_admin))).unwrap(),
        )
        .spawn()
        .expect("kubeplex serve starts");
    Running(child)
}

/// Whether the control plane's /status lists the test's Envoy.
fn envoy_connected(p: &Ports) -> Result<(), String> {
    let (_, body) = http(p.cp_admin, "GET", "/status").ok_or("control plane not answering")?;
    let status: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let nodes = status["envoys"].as_array().cloned().unwrap_or_default();
    nodes
        .iter()
        .any(|n| n["node"] == "kubeplex-envoy-test")
        .then_some(())
        .ok_or(format!("envoys: {}", status["envoys"]))
}

#[test]
#[ignore = "needs Envoy, the filter and the kubeplex binary (make build)"]
fn envoy_finds_replaced_control_planes_turns_ready_and_drains_on_prestop() {
    let objects = render::kustomize("base");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = || free_port().unwrap();
    let p = Ports {
        xds: port(),
        cp_admin: port(),
        cp_probes: port(),
        envoy_admin: port(),
        probes: port(),
        gateway: port(),
    };
    std::fs::write(
        d.join("bootstrap.json"),
        bootstrap(&objects, &p).to_string(),
    )
    .unwrap();
    control_plane_inputs(d, &p);
    let mut envoy = Running(
        Command::new(kubeplex_test_support::envoy())
            .args(envoy_args(&objects, &d.join("bootstrap.json")))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("envoy.log")).unwrap())
            .spawn()
            .expect("envoy starts"),
    );

    stays_unready_without_a_control_plane(&mut envoy, d, &p);
    let first = start_control_plane(d, &p);
    wait_for(
        d,
        "Envoy ready once a control plane appears",
        Duration::from_secs(30),
        || code(p.probes, "GET", "/ready") == Some(200),
    );
    // the control plane's probe port, as its pod's kubelet asks it
    assert_eq!(code(p.cp_probes, "GET", "/readyz"), Some(200));
    assert_eq!(code(p.cp_probes, "GET", "/status"), Some(404));
    probe_port_serves_only_readiness_and_metrics(&p);

    // the control plane dies and another takes its place: Envoy finds it
    drop(first);
    let _second = start_control_plane(d, &p);
    wait_for(
        d,
        "the replacement control plane serves this Envoy",
        Duration::from_secs(30),
        || envoy_connected(&p),
    );

    prestop_drains(&objects, d, &p);
    drop(envoy);
}

/// No control plane yet: Envoy waits (it does not exit) and is not ready;
/// its listeners do not even open before it has a configuration.
fn stays_unready_without_a_control_plane(envoy: &mut Running, d: &Path, p: &Ports) {
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if envoy.0.try_wait().unwrap().is_some() {
            panic!("Envoy exited\n{}", logs(d));
        }
        assert_ne!(
            code(p.probes, "GET", "/ready"),
            Some(200),
            "ready without a control plane"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn probe_port_serves_only_readiness_and_metrics(p: &Ports) {
    let (code_, metrics) = http(p.probes, "GET", "/stats/prometheus").unwrap();
    assert_eq!(code_, 200);
    assert!(
        metrics.contains("envoy_server_live"),
        "{}",
        &metrics[..metrics.len().min(300)]
    );
    for (method, path) in [
        ("POST", "/quitquitquit"),
        ("POST", "/healthcheck/fail"),
        ("GET", "/config_dump"),
        ("POST", "/ready"),
    ] {
        assert_eq!(
            code(p.probes, method, path),
            Some(404),
            "{method} {path} on the probe port"
        );
    }
}

/// The rendered preStop hook against this Envoy: /ready turns 503 while it
/// waits, both admin calls succeed, and the gateway listener closes.
fn prestop_drains(objects: &[Value], d: &Path, p: &Ports) {
    assert!(
        TcpStream::connect(("127.0.0.1", p.gateway)).is_ok(),
        "the gateway listener is open"
    );
    std::fs::write(d.join("prestop.sh"), envoy_file(objects, "prestop.sh")).unwrap();
    let mut hook = Running(
        Command::new("bash")
            .arg(d.join("prestop.sh"))
            .env("ENVOY_ADMIN_PORT", p.envoy_admin.to_string())
            .env("UNREADY_SECONDS", "4")
            .env("DRAIN_SECONDS", "2")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_for(
        d,
        "/ready to turn 503 during preStop",
        Duration::from_secs(4),
        || match http(p.probes, "GET", "/ready") {
            Some((503, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    let status = wait_exit(&mut hook.0, "the preStop hook", Duration::from_secs(15));
    let mut out = String::new();
    hook.0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(status.success(), "{out}");
    for call in [
        "POST /healthcheck/fail -> 200",
        "POST /drain_listeners?graceful -> 200",
    ] {
        assert!(out.contains(call), "no {call:?} in:\n{out}");
    }
    wait_for(
        d,
        "the gateway listener to close after the drain",
        Duration::from_secs(10),
        || TcpStream::connect(("127.0.0.1", p.gateway)).is_err(),
    );
}

/// `wait_for`, failing with the last lines of Envoy's and the control
/// planes' logs.
#[track_caller]
fn wait_for<O: kubeplex_test_support::Outcome>(
    d: &Path,
    what: &str,
    timeout: Duration,
    check: impl FnMut() -> O,
) -> O::Value {
    poll(timeout, check).unwrap_or_else(|e| panic!("waiting for {what}: {e}\n{}", logs(d)))
}

/// The last lines of every log in `d` (Envoy's, the control planes').
fn logs(d: &Path) -> String {
    let mut logs = String::new();
    for entry in std::fs::read_dir(d).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "log") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            logs += &format!("--- {}\n", path.display());
            logs += &tail.into_iter().rev().collect::<Vec<_>>().join("\n");
            logs += "\n";
        }
    }
    logs
}
