//! Inputs the control plane's tests share: a minimal valid gateway config.

use std::path::{Path, PathBuf};

/// A minimal valid gateway config (and the files it names) in `d`.
pub fn write_gateway_config(d: &Path) -> PathBuf {
    let ca = kubeplex_tests::pki::Ca::new("t");
    let (cert, key) = ca.server_cert(&["localhost"]).write_to(d, "gw").unwrap();
    std::fs::write(
        d.join("issuer.pub.pem"),
        rcgen::KeyPair::generate().unwrap().public_key_pem(),
    )
    .unwrap();
    let gateway = d.join("gateway.yaml");
    std::fs::write(
        &gateway,
        format!(
            "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener:\n  certificateFile: {}\n  keyFile: {}\n\
             jwt:\n- issuer:\n    url: https://idp.example\n    audiences: [k]\n    publicKeyFile: issuer.pub.pem\n",
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    gateway
}
