//! Profile one reload at scale, in-process: a kubeconfig of N contexts
//! shaped like `kubeplex-scale-bench`'s (each cluster entry with its CA
//! inline, one client-certificate user), loaded by a `ControlPlane`, then
//! edited (a context added) and reloaded, each step timed, with the
//! process's resident memory. For callgrind / massif / heaptrack:
//! `cargo build --release -p kubeplex --example reload_scale`.
//!
//! Usage: `reload_scale [contexts] [edits]` (default 10000 3).

use std::time::Instant;

use base64::Engine;
use kubeplex::control_plane::{ControlPlane, Settings};
use kubeplex::translate::Options;
use kubeplex_tests::pki::Ca;

fn main() {
    kubeplex_os::heap::tune_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let contexts: usize = args.next().map_or(10_000, |a| a.parse().expect("contexts"));
    let edits: usize = args.next().map_or(3, |a| a.parse().expect("edits"));
    let dir = tempfile::tempdir().expect("temporary directory");
    let d = dir.path();
    let ca = Ca::new("scale-cluster-ca");
    let client = ca.client_cert("kubeplex-gateway", &["kubeplex:gateways"]);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let ca_b64 = b64(ca.cert_pem());
    let user = format!(
        "users:\n- name: gateway\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&client.cert_pem),
        b64(&client.key_pem)
    );
    let render = |names: &[String]| {
        let mut out = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
        for n in names {
            out += &format!(
                "- name: {n}\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority-data: {ca_b64}\n"
            );
        }
        out += &user;
        out += "contexts:\n";
        for n in names {
            out += &format!("- name: {n}\n  context:\n    cluster: {n}\n    user: gateway\n");
        }
        out
    };
    let mut names: Vec<String> = (0..contexts).map(|i| format!("ctx-{i:05}")).collect();
    let kubeconfig = d.join("clusters.yaml");
    std::fs::write(&kubeconfig, render(&names)).expect("write kubeconfig");
    let gateway_ca = Ca::new("scale-gateway-ca");
    let (cert, key) = gateway_ca
        .server_cert(&["127.0.0.1"])
        .write_to(d, "gateway")
        .expect("gateway certificate");
    let issuer = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("issuer key");
    std::fs::write(d.join("issuer.pub.pem"), issuer.public_key_pem()).expect("issuer key file");
    let gateway = d.join("gateway.yaml");
    std::fs::write(
        &gateway,
        format!(
            "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener:\n  address: 127.0.0.1\n  port: 8443\n  \
             certificateFile: {}\n  keyFile: {}\njwt:\n- issuer:\n    url: https://issuer.scale.test\n    audiences: [kubeplex]\n    \
             publicKeyFile: issuer.pub.pem\nhealthChecks:\n  intervalSeconds: 5\n  idleIntervalSeconds: 60\n",
            cert.display(),
            key.display()
        ),
    )
    .expect("write gateway config");
    eprintln!("{contexts} contexts; rss {} MB", rss_mb());

    let t = Instant::now();
    let cp = ControlPlane::start(Settings {
        kubeconfig: kubeconfig.clone().into(),
        gateway_config: gateway,
        options: Options::default(),
        state_dir: d.join("state"),
    })
    .expect("first load");
    eprintln!("first load {:?}; rss {} MB", t.elapsed(), rss_mb());
    for i in 0..edits {
        names.push(format!("added-{i:03}"));
        std::fs::write(&kubeconfig, render(&names)).expect("write kubeconfig");
        let t = Instant::now();
        let outcome = cp.reload();
        assert!(
            outcome.changed && outcome.rejected.is_empty(),
            "{outcome:?}"
        );
        eprintln!(
            "edit {}: reload {:?}; rss {} MB",
            i + 1,
            t.elapsed(),
            rss_mb()
        );
    }
    let t = Instant::now();
    let outcome = cp.reload();
    eprintln!(
        "unchanged reload {:?} (changed: {})",
        t.elapsed(),
        outcome.changed
    );
    eprintln!("rss {} MB, peak {} MB", rss_mb(), hwm_mb());
}

fn status_mb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

fn rss_mb() -> u64 {
    status_mb("VmRSS:")
}

fn hwm_mb() -> u64 {
    status_mb("VmHWM:")
}
