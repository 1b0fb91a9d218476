//! Hot reload from mounted ConfigMaps and Secrets (issue 11). The kubelet
//! never writes a mounted file: it writes a new timestamped directory and
//! swaps the `..data` symlink (`kubeplex_tests::projected_volume` does
//! exactly what its AtomicWriter does). The gateway's inputs are laid out
//! like the Kubernetes install's pod: the gateway config and policy in a
//! ConfigMap volume, the clusters kubeconfig and the TLS key pair in Secret
//! volumes. Each update must reach Envoy (kubectl sees the new behaviour),
//! several in a row too, and removing the old timestamped directory must
//! never make a reload read a missing file (no rejected edit, ever).

use std::path::Path;
use std::time::Duration;

use kubeplex_tests::projected_volume::ProjectedVolume;

use crate::harness::*;

const T: Duration = Duration::from_secs(20);
const SECOND_ISSUER: &str = "https://second.kubeplex.test";

/// The gateway policy: alice may get and list `resources` everywhere.
fn policy(resources: &str) -> String {
    format!(
        "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayPolicy\nroles:\n- name: reader\n  rules:\n  \
         - clusters: [\"*\"]\n    namespaces: [\"*\"]\n    verbs: [get, list]\n    resources: [{resources}]\n\
         bindings:\n- role: reader\n  users: [alice]\n"
    )
}

/// The gateway config as the pod reads it: TLS from the Secret volume,
/// the policy beside it in the ConfigMap volume, issuer keys in `d`.
fn gateway_config(d: &Path, port: u16, second_issuer: bool) -> String {
    let second = if second_issuer {
        format!(
            "- issuer: {{url: {SECOND_ISSUER}, audiences: [{AUDIENCE}], publicKeyFile: {}}}\n",
            d.join("issuer2.pub.pem").display()
        )
    } else {
        String::new()
    };
    format!(
        "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener:\n  address: 127.0.0.1\n  port: {port}\n  \
         contextServerNameSuffix: {SERVER_NAME_SUFFIX}\n  certificateFile: {tls}/tls.crt\n  keyFile: {tls}/tls.key\n\
         jwt:\n- issuer: {{url: {ISSUER}, audiences: [{AUDIENCE}], publicKeyFile: {}}}\n{second}\
         policy:\n  file: policy.yaml\naudit:\n  path: {}\n",
        d.join("issuer.pub.pem").display(),
        d.join("audit.log").display(),
        tls = d.join("secrets/tls").display(),
    )
}

fn write_issuer(d: &Path, stem: &str) -> std::path::PathBuf {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    std::fs::write(d.join(format!("{stem}.pub.pem")), key.public_key_pem()).unwrap();
    let path = d.join(format!("{stem}-key.pem"));
    std::fs::write(&path, key.serialize_pem()).unwrap();
    path
}

/// A control plane metric's value.
fn metric(gw: &Gateway, name: &str) -> u64 {
    let text = http_get(&format!("{}/metrics", gw.admin)).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// The update's old timestamped directory is gone, and it left exactly one.
fn swapped(volume: &ProjectedVolume, update: &kubeplex_tests::projected_volume::Update) {
    let old = update
        .removed_dir
        .as_ref()
        .expect("an update of an existing volume");
    assert!(!old.exists(), "{} still there", old.display());
    assert_eq!(volume.timestamped_dirs().unwrap().len(), 1);
}

fn outcome(r: Run) -> Result<String, String> {
    if r.ok { Ok(r.stdout) } else { Err(r.stderr) }
}

fn forbidden(r: Run) -> Result<(), String> {
    if !r.ok && r.stderr.contains("forbidden") {
        Ok(())
    } else {
        Err(format!("ok={} stderr={}", r.ok, r.stderr))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn configmap_and_secret_updates_by_symlink_swap_reach_envoy() {
    let pki = Pki::new();
    let (a, b) = (pki.cluster("a").await, pki.cluster("b").await);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let port = kubeplex_test_support::free_port().unwrap();
    let issuer_key = write_issuer(&d, "issuer");
    let second_key = write_issuer(&d, "issuer2");
    let tls = ProjectedVolume::new(&d.join("secrets/tls")).unwrap();
    tls.write(&[
        ("tls.crt", &pki.gateway_serving.cert_pem),
        ("tls.key", &pki.gateway_serving.key_pem),
    ])
    .unwrap();
    let clusters = ProjectedVolume::new(&d.join("secrets/clusters")).unwrap();
    let only_a = clusters_kubeconfig(&pki, &[ClusterEntry::new("a", &a)]);
    clusters.write(&[("kubeconfig", &only_a)]).unwrap();
    let config = ProjectedVolume::new(&d.join("config")).unwrap();
    config
        .write(&[
            ("gateway.yaml", &gateway_config(&d, port, false)),
            ("policy.yaml", &policy("configmaps")),
        ])
        .unwrap();
    let gw = Gateway::launch(GatewayFiles {
        port,
        kubeconfig: clusters.path("kubeconfig"),
        config: config.path("gateway.yaml"),
        issuer_key,
        revocations: d.join("revoked.yaml"),
        policy: config.path("policy.yaml"),
        ca: pki.gateway_ca.write_cert_to(&d, "gateway-ca").unwrap(),
        dir,
    });
    let alice = gw.kubectl(&gw.mint(&["--sub", "alice"]), &["a", "b"]);
    alice.ok(&["--context", "a", "get", "configmaps"]);
    let rejected_before = metric(&gw, "kubeplex_config_rejected_edits_total");

    // 1. the ConfigMap: the policy now allows pods, not configmaps
    let version = gw.version();
    let update = config
        .write(&[
            ("gateway.yaml", &gateway_config(&d, port, false)),
            ("policy.yaml", &policy("pods")),
        ])
        .unwrap();
    swapped(&config, &update);
    let version = gw.wait_applied(&version);
    wait_for("configmaps refused by the new policy", T, || {
        forbidden(alice.run(&["--context", "a", "get", "configmaps"]))
    });
    alice.ok(&["--context", "a", "get", "pods"]);

    // 2. the Secret: the kubeconfig gains cluster b
    let with_b = clusters_kubeconfig(
        &pki,
        &[ClusterEntry::new("a", &a), ClusterEntry::new("b", &b)],
    );
    let update = clusters.write(&[("kubeconfig", &with_b)]).unwrap();
    swapped(&clusters, &update);
    let version = gw.wait_applied(&version);
    wait_for("cluster b through the gateway", T, || {
        outcome(alice.run(&["--context", "b", "get", "pods"]))
    });

    // 3. both ConfigMap keys at once: a second issuer, configmaps again
    let update = config
        .write(&[
            ("gateway.yaml", &gateway_config(&d, port, true)),
            ("policy.yaml", &policy("configmaps")),
        ])
        .unwrap();
    swapped(&config, &update);
    let mut version = gw.wait_applied(&version);
    let second = mint_token(
        &second_key,
        &[
            "--issuer",
            SECOND_ISSUER,
            "--aud",
            AUDIENCE,
            "--sub",
            "alice",
        ],
    );
    let alice_second = gw.kubectl(&second, &["a", "b"]);
    wait_for("a token of the second issuer", T, || {
        outcome(alice_second.run(&["--context", "b", "get", "configmaps"]))
    });

    // 4. a burst: five ConfigMap and four Secret updates back to back,
    //    each removing the directory the previous one made
    let reloads_before = metric(&gw, "kubeplex_config_reloads_total");
    for (i, resources) in ["pods", "configmaps", "pods", "configmaps", "secrets"]
        .iter()
        .enumerate()
    {
        let update = config
            .write(&[
                ("gateway.yaml", &gateway_config(&d, port, true)),
                ("policy.yaml", &policy(resources)),
            ])
            .unwrap();
        swapped(&config, &update);
        if i < 4 {
            let kubeconfig = if i % 2 == 0 { &only_a } else { &with_b };
            let update = clusters.write(&[("kubeconfig", kubeconfig)]).unwrap();
            swapped(&clusters, &update);
        }
    }
    version = gw.wait_applied(&version);
    wait_for(
        "the burst's last state: secrets only, clusters a and b",
        T,
        || {
            outcome(alice.run(&["--context", "b", "get", "secrets"]))?;
            forbidden(alice.run(&["--context", "a", "get", "configmaps"]))
        },
    );
    let reloads = metric(&gw, "kubeplex_config_reloads_total") - reloads_before;
    eprintln!("burst of 9 volume updates: {reloads} reload(s), now serving {version}");
    assert!(reloads >= 1, "the burst was never noticed");

    // No reload ever met a missing or half-written input.
    assert_eq!(
        metric(&gw, "kubeplex_config_rejected_edits_total"),
        rejected_before
    );
    let status = gw.status();
    for input in status["inputs"].as_array().unwrap() {
        assert_eq!(input["ok"], true, "{status:#}");
    }
}
