//! Inputs the control plane's tests share: a minimal valid gateway config
//! and a one-context kubeconfig.

use std::path::{Path, PathBuf};

/// A minimal valid gateway config (and the files it names) in `d`.
pub fn write_gateway_config(d: &Path) -> PathBuf {
    let gateway = d.join("gateway.yaml");
    let jwt = "- issuer:\n    url: https://idp.example\n    audiences: [k]\n    publicKeyFile: issuer.pub.pem\n";
    std::fs::write(&gateway, gateway_config_text(d, jwt)).unwrap();
    gateway
}

/// A gateway config with a listener (its certificate and key written in
/// `d`, with `issuer.pub.pem` for a `publicKeyFile`) and `jwt` as its
/// `jwt:` list (YAML).
pub fn gateway_config_text(d: &Path, jwt: &str) -> String {
    let ca = kubeplex_tests::pki::Ca::new("t");
    let (cert, key) = ca.server_cert(&["localhost"]).write_to(d, "gw").unwrap();
    std::fs::write(
        d.join("issuer.pub.pem"),
        rcgen::KeyPair::generate().unwrap().public_key_pem(),
    )
    .unwrap();
    format!(
        "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener:\n  certificateFile: {}\n  keyFile: {}\njwt:\n{jwt}",
        cert.display(),
        key.display()
    )
}

/// A kubeconfig of one context `a` (a token user; nothing listens there).
pub const ONE_CONTEXT_KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: 'https://127.0.0.1:6443'}
users:
- name: gw
  user: {token: t}
contexts:
- name: a
  context: {cluster: a, user: gw}
";
