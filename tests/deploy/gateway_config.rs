//! The gateway config the install ships loads: the real `kubeplex check`
//! reads the rendered ConfigMap's files laid out as the control plane's pod
//! sees them (its `/etc/kubeplex` under a temp dir), with a kubeconfig and
//! a TLS key pair where the README's Secrets put them.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::render;

const CLUSTERS: &str = "apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: 'https://prod.example.com:6443'}
users:
- name: gw
  user: {token: t}
contexts:
- name: prod
  context: {cluster: prod, user: gw}
";

/// Lays out `/etc/kubeplex` of the control plane's pod under `root`: the
/// ConfigMap's keys (their `/etc/kubeplex` paths moved under `root`), the
/// two Secrets.
fn lay_out(objects: &[Value], root: &Path) {
    let etc = root.join("etc/kubeplex");
    for dir in ["config", "clusters", "tls"] {
        std::fs::create_dir_all(etc.join(dir)).unwrap();
    }
    let config = render::find(objects, "ConfigMap", "kubeplex-config");
    for (key, text) in config["data"].as_object().unwrap() {
        let text = text
            .as_str()
            .unwrap()
            .replace("/etc/kubeplex/", &format!("{}/", etc.display()));
        std::fs::write(etc.join("config").join(key), text).unwrap();
    }
    std::fs::write(etc.join("clusters/kubeconfig"), CLUSTERS).unwrap();
    let ca = kubeplex_tests::pki::Ca::new("gateway");
    let (cert, key) = ca
        .server_cert(&["kubeplex.example.com"])
        .write_to(&etc.join("tls"), "gw")
        .unwrap();
    std::fs::rename(cert, etc.join("tls/tls.crt")).unwrap();
    std::fs::rename(key, etc.join("tls/tls.key")).unwrap();
}

#[test]
#[ignore = "needs the kubeplex binary (make build)"]
fn the_shipped_gateway_configs_load() {
    for dir in super::KUSTOMIZATIONS {
        let objects = render::kustomize(dir);
        let root = tempfile::tempdir().unwrap();
        lay_out(&objects, root.path());
        let etc = root.path().join("etc/kubeplex");
        let out = Command::new(kubeplex_test_support::kubeplex_bin())
            .arg("check")
            .arg("--kubeconfig")
            .arg(etc.join("clusters/kubeconfig"))
            .arg("--config")
            .arg(etc.join("config/gateway.yaml"))
            .output()
            .expect("kubeplex runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{dir}: kubeplex check:\n{text}");
        // the policy and revocation files it names were found and read
        for loaded in ["policy ", "revocations ", "\nok\n"] {
            assert!(text.contains(loaded), "{dir}: no {loaded:?} in:\n{text}");
        }
    }
}
