//! Time `/status` at scale, in-process: a control plane of N contexts (a
//! token user each, nothing listening), every context with a health and
//! three preflight rows in a mix of states (healthy and granted; refused:
//! an impersonation missing; unreachable: health and every check failed;
//! health not checked yet), then both views built alternately, each timed
//! (wall time; the median of the runs) and sized.
//!
//! Usage: `status_scale [contexts] [runs]` (default 10000 20).

use std::time::{Duration, Instant};

use kubeplex::admin::{status_json, status_summary_json};
use kubeplex::control_plane::{ControlPlane, Settings};
use kubeplex::preflight::{Outcome, Report, Row};
use kubeplex::translate::Options;
use kubeplex_tests::pki::Ca;

fn main() {
    kubeplex_os::heap::tune_allocator();
    let mut args = std::env::args().skip(1);
    let contexts: usize = args.next().map_or(10_000, |a| a.parse().expect("contexts"));
    let runs: usize = args.next().map_or(20, |a| a.parse().expect("runs"));
    let dir = tempfile::tempdir().expect("temporary directory");
    let names: Vec<String> = (0..contexts).map(|i| format!("ctx-{i:05}")).collect();
    let cp = control_plane(dir.path(), &names);
    fill_health_and_checks(&cp, &names);

    let (mut summary, mut full) = (Vec::new(), Vec::new());
    let (mut summary_bytes, mut full_bytes) = (0, 0);
    for _ in 0..runs {
        let t = Instant::now();
        summary_bytes = serde_json::to_string(&status_summary_json(&cp)).map_or(0, |s| s.len());
        summary.push(t.elapsed());
        let t = Instant::now();
        full_bytes = serde_json::to_string(&status_json(&cp)).map_or(0, |s| s.len());
        full.push(t.elapsed());
    }
    println!(
        "{contexts} contexts, {runs} runs each, wall time median: summary {:?} ({summary_bytes} bytes), \
         every context {:?} ({full_bytes} bytes)",
        median(&mut summary),
        median(&mut full)
    );
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// A control plane serving `names`, one context each.
fn control_plane(d: &std::path::Path, names: &[String]) -> std::sync::Arc<ControlPlane> {
    let mut text = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for n in names {
        text += &format!("- name: {n}\n  cluster: {{server: 'https://127.0.0.1:6443'}}\n");
    }
    text += "users:\n- name: gw\n  user: {token: upstream}\ncontexts:\n";
    for n in names {
        text += &format!("- name: {n}\n  context: {{cluster: {n}, user: gw}}\n");
    }
    let kubeconfig = d.join("clusters.yaml");
    std::fs::write(&kubeconfig, text).expect("write kubeconfig");
    let (cert, key) = Ca::new("status-scale")
        .server_cert(&["127.0.0.1"])
        .write_to(d, "gateway")
        .expect("gateway certificate");
    let issuer = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("issuer key");
    std::fs::write(d.join("issuer.pub.pem"), issuer.public_key_pem()).expect("issuer key file");
    let gateway = d.join("gateway.yaml");
    std::fs::write(
        &gateway,
        format!(
            "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener:\n  certificateFile: {}\n  keyFile: {}\n\
             jwt:\n- issuer:\n    url: https://issuer.scale.test\n    audiences: [kubeplex]\n    publicKeyFile: issuer.pub.pem\n",
            cert.display(),
            key.display()
        ),
    )
    .expect("write gateway config");
    ControlPlane::start(Settings {
        kubeconfig: kubeconfig.into(),
        gateway_config: gateway,
        options: Options::default(),
        state_dir: d.join("state"),
    })
    .expect("load")
}

/// Of every four contexts: one healthy and granted, one refused (an
/// impersonation missing), one unreachable, one never health-checked.
fn fill_health_and_checks(cp: &ControlPlane, names: &[String]) {
    let row = |context: &str, check: &str, outcome, detail: &str| Row {
        context: context.into(),
        check: check.into(),
        outcome,
        detail: detail.into(),
        fix: String::new(),
    };
    let mut health = Vec::new();
    let mut rows = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let (reach, users) = match i % 4 {
            1 => (Outcome::Ok, Outcome::Missing),
            2 => (Outcome::Error, Outcome::Error),
            _ => (Outcome::Ok, Outcome::Ok),
        };
        match i % 4 {
            2 => health.push((n.clone(), Err("connection refused".to_string()))),
            3 => {}
            _ => health.push((n.clone(), Ok(()))),
        }
        rows.push(row(n, "reachable", reach, "/readyz"));
        rows.push(row(n, "impersonate users", users.clone(), "forbidden"));
        rows.push(row(n, "impersonate groups", users, "forbidden"));
    }
    cp.cluster_health().record(health, 100);
    cp.cluster_checks().set(Report {
        checked_at: 100,
        rows,
    });
}
