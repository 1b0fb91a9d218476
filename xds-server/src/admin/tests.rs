use super::*;
use crate::control_plane::Settings;
use crate::translate::Options;

fn input(kind: &str, ok: bool, loaded_at: i64) -> admin::InputStatus {
    admin::InputStatus {
        kind: kind.into(),
        ok,
        loaded_at,
        ..Default::default()
    }
}

#[test]
fn ready_once_every_input_loaded_and_a_config_exists() {
    let inputs = [
        input("kubeconfig", true, 10),
        input("gateway config", true, 10),
    ];
    let (ready, body) = readiness(&inputs, true);
    assert!(ready, "{body}");
    assert_eq!(body, "ready\nkubeconfig: ok\ngateway config: ok\n");
}

#[test]
fn a_rejected_later_edit_keeps_it_ready_and_says_so() {
    let inputs = [input("kubeconfig", true, 10), input("policy", false, 10)];
    let (ready, body) = readiness(&inputs, true);
    assert!(ready, "{body}");
    assert!(
        body.contains("policy: latest edit rejected, serving the last good"),
        "{body}"
    );
}

#[test]
fn not_ready_before_an_input_loaded_or_without_a_config() {
    let (ready, body) = readiness(&[input("kubeconfig", false, 0)], true);
    assert!(!ready);
    assert!(body.starts_with("not ready\n") && body.contains("kubeconfig: never loaded"));
    let (ready, body) = readiness(&[input("kubeconfig", true, 10)], false);
    assert!(!ready);
    assert!(body.contains("no Envoy configuration yet"), "{body}");
}

const KUBECONFIG: &str = "apiVersion: v1
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

/// A control plane started from real files answers 200, and still 200
/// (naming the rejection) after a broken edit of the gateway config.
#[test]
fn a_started_control_plane_is_ready_and_stays_ready_on_a_broken_edit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = kubeplex_tests::pki::Ca::new("t");
    let (cert, key) = ca.server_cert(&["localhost"]).write_to(d, "gw").unwrap();
    std::fs::write(d.join("clusters.kubeconfig"), KUBECONFIG).unwrap();
    let gateway = d.join("gateway.yaml");
    std::fs::write(
        d.join("issuer.pub.pem"),
        rcgen::KeyPair::generate().unwrap().public_key_pem(),
    )
    .unwrap();
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
    let cp = ControlPlane::start(Settings {
        kubeconfig: d.join("clusters.kubeconfig").into(),
        gateway_config: gateway.clone(),
        options: Options::default(),
        state_dir: d.join("state"),
    })
    .unwrap();
    let (code, body) = readiness_now(&cp);
    assert_eq!(code, StatusCode::OK, "{body}");

    std::fs::write(&gateway, "kind: GatewayConfig\nlistener: [\n").unwrap();
    let outcome = cp.reload();
    assert!(!outcome.rejected.is_empty(), "the broken edit is rejected");
    let (code, body) = readiness_now(&cp);
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(
        body.contains("gateway config: latest edit rejected"),
        "{body}"
    );
}
