//! The gateway config the install ships loads: the real `kubeplex check`
//! reads the rendered ConfigMap's files laid out as the control plane's pod
//! sees them (its `/etc/kubeplex` under a temp dir, every volume in the
//! kubelet's symlinked layout), with a kubeconfig and a TLS key pair where
//! the README's Secrets put them.

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
/// two Secrets, each volume as the kubelet writes it.
fn lay_out(objects: &[Value], root: &Path) {
    let etc = root.join("etc/kubeplex");
    let config = render::find(objects, "ConfigMap", "kubeplex-config");
    let moved = |text: &Value| {
        let prefix = format!("{}/", etc.display());
        text.as_str().unwrap().replace("/etc/kubeplex/", &prefix)
    };
    let keys: Vec<(String, Vec<u8>)> = config["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), moved(v).into_bytes()))
        .collect();
    kubelet_volume(&etc.join("config"), &keys);
    kubelet_volume(
        &etc.join("clusters"),
        &[("kubeconfig".into(), CLUSTERS.into())],
    );
    let ca = kubeplex_tests::pki::Ca::new("gateway");
    let pair = ca.server_cert(&["kubeplex.example.com"]);
    let (cert, key) = pair.write_to(root, "gw").unwrap();
    let tls = [
        ("tls.crt".to_string(), std::fs::read(cert).unwrap()),
        ("tls.key".to_string(), std::fs::read(key).unwrap()),
    ];
    kubelet_volume(&etc.join("tls"), &tls);
}

/// A ConfigMap or Secret volume as the kubelet writes it: the files in a
/// timestamped folder, `..data` a symlink to it, each key a symlink
/// through `..data` (what the control plane must read and watch).
fn kubelet_volume(dir: &Path, keys: &[(String, Vec<u8>)]) {
    let stamped = dir.join("..2026_01_01_00_00_00.000000001");
    std::fs::create_dir_all(&stamped).unwrap();
    for (key, bytes) in keys {
        std::fs::write(stamped.join(key), bytes).unwrap();
        std::os::unix::fs::symlink(Path::new("..data").join(key), dir.join(key)).unwrap();
    }
    std::os::unix::fs::symlink(stamped.file_name().unwrap(), dir.join("..data")).unwrap();
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
