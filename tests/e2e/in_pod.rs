//! The in-pod adapter (issue 15) on loopback: `kubeplex inject`'s output is
//! taken apart the way a kubelet would run it. The init container's command
//! (`kubeplex sidecar-init`) and the sidecar's Envoy (its generated
//! bootstrap) run as real processes, with the pod's mount paths moved into
//! a temporary directory and 6443 moved to a free port. The projected token
//! is a ServiceAccount token of cluster a in the kubelet's volume layout
//! (`..data` symlink). The app is real kubectl in in-cluster mode: no
//! kubeconfig, `KUBERNETES_SERVICE_HOST/PORT` from the injected env, and the
//! substitute ServiceAccount files bind-mounted at the standard path in a
//! private mount namespace (`unshare`; the test runs as root).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

/// Mount paths in the pod (as `kubeplex inject` writes them).
const POD_SIDECAR_DIR: &str = "/var/run/kubeplex/sidecar";
const POD_TOKEN_DIR: &str = "/var/run/secrets/kubeplex.io/serviceaccount";
const POD_APP_DIR: &str = "/var/run/kubeplex/app-serviceaccount";

/// One injected pod, running on this machine: its files, its sidecar Envoy.
struct LoopbackPod {
    dir: tempfile::TempDir,
    port: u16,
    envoy: Child,
    manifest: Value,
}

impl LoopbackPod {
    /// Inject `manifest` (a Pod) for `gw`, run the init container's command
    /// and the sidecar, with `token` in the projected token volume.
    fn start(gw: &Gateway, manifest: &str, token: &str) -> LoopbackPod {
        let injected = inject(gw, manifest);
        let dir = tempfile::tempdir().unwrap();
        let port = kubeplex_test_support::free_port().expect("a port for the sidecar");
        let health_port = kubeplex_test_support::free_port().expect("a port for its probe");
        let namespace = injected["metadata"]["namespace"]
            .as_str()
            .unwrap()
            .to_string();
        let remap = |arg: &str| {
            arg.replace(POD_SIDECAR_DIR, &path(dir.path(), "sidecar"))
                .replace(POD_TOKEN_DIR, &path(dir.path(), "token"))
                .replace(POD_APP_DIR, &path(dir.path(), "app-sa"))
                .replace("$(POD_NAMESPACE)", &namespace)
                .replace("\"port_value\":6443", &format!("\"port_value\":{port}"))
                .replace(
                    "\"port_value\":16443",
                    &format!("\"port_value\":{health_port}"),
                )
        };
        let args = |name: &str| -> Vec<String> {
            let c = injected["spec"]["initContainers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == name)
                .unwrap_or_else(|| panic!("no init container {name}"));
            c["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| remap(a.as_str().unwrap()))
                .collect()
        };
        write_projected_token(&dir.path().join("token"), token, 1);
        // The kubelet runs the init container to completion first.
        let out = Command::new(kubeplex_bin())
            .args(args("kubeplex-init"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sidecar-init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = std::fs::File::create(dir.path().join("envoy.log")).unwrap();
        let envoy = Command::new(envoy())
            .args(args("kubeplex-sidecar"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let pod = LoopbackPod {
            dir,
            port,
            envoy,
            manifest: injected,
        };
        // What the kubelet's startup probe asks before it starts the app.
        let sidecar = &pod.manifest["spec"]["initContainers"][1];
        assert_eq!(sidecar["name"], "kubeplex-sidecar");
        let probe = &sidecar["startupProbe"]["httpGet"];
        assert_eq!(probe["port"], 16443);
        let ready = format!(
            "http://127.0.0.1:{health_port}{}",
            probe["path"].as_str().unwrap()
        );
        wait_for(
            "the sidecar's startup probe",
            Duration::from_secs(20),
            || http_get(&ready).ok_or_else(|| format!("envoy log: {}", pod.envoy_log())),
        );
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("the API listener is up");
        pod
    }

    fn envoy_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("envoy.log")).unwrap_or_default()
    }

    /// Run kubectl as the app: in-cluster mode, the app container's env, the
    /// substitute ServiceAccount files at the standard path.
    fn kubectl(&self, args: &[&str]) -> std::process::Output {
        let home = self.dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let app = &self.manifest["spec"]["containers"][0];
        let env_of = |name: &str| {
            app["env"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == name)
                .and_then(|e| e["value"].as_str())
                .unwrap_or_else(|| panic!("the app has no {name}"))
                .to_string()
        };
        assert_eq!(env_of("KUBERNETES_SERVICE_HOST"), "127.0.0.1");
        assert_eq!(env_of("KUBERNETES_SERVICE_PORT"), "6443");
        let script = "mount -t tmpfs kubeplex-e2e /run \
            && mkdir -p /run/secrets/kubernetes.io/serviceaccount \
            && mount --bind \"$APP_SA\" /run/secrets/kubernetes.io/serviceaccount \
            && exec \"$KUBECTL_BIN\" \"$@\"";
        Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                "sh",
            ])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("APP_SA", self.dir.path().join("app-sa"))
            .env(
                "KUBECTL_BIN",
                std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into()),
            )
            .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
            .env("KUBERNETES_SERVICE_PORT", self.port.to_string())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} in the pod: {}\nsidecar log: {}",
            String::from_utf8_lossy(&out.stderr),
            self.envoy_log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The kubelet's token rotation: a new timestamped folder, `..data`
    /// swapped atomically, the old folder removed.
    fn rotate_token(&self, token: &str, generation: u32) {
        write_projected_token(&self.dir.path().join("token"), token, generation);
    }

    /// One of the sidecar's memory figures (kB) from /proc: `VmRSS`,
    /// `RssAnon` (its own heap), `RssFile` (the mapped binary, shared).
    fn sidecar_memory_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.envoy.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} in {status}"))
    }
}

impl Drop for LoopbackPod {
    fn drop(&mut self) {
        let _ = self.envoy.kill();
        let _ = self.envoy.wait();
    }
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// `kubeplex inject` (the binary, stdin → stdout) for this gateway.
fn inject(gw: &Gateway, manifest: &str) -> Value {
    use std::io::Write;
    let mut child = Command::new(kubeplex_bin())
        .args(["inject", "--gateway", &gw.url, "--gateway-ca"])
        .arg(&gw.ca)
        .args(["--default-cluster", "b"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(manifest.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubeplex inject: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_saphyr::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap()
}

/// A projected token volume as the kubelet writes it.
fn write_projected_token(dir: &Path, token: &str, generation: u32) {
    std::fs::create_dir_all(dir).unwrap();
    let folder = format!("..2026_12_04_00_00_{generation:02}.000000000");
    std::fs::create_dir(dir.join(&folder)).unwrap();
    std::fs::write(dir.join(&folder).join("token"), token).unwrap();
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(&folder, &tmp).unwrap();
    let old = std::fs::read_link(dir.join("..data")).ok();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    if !dir.join("token").exists() {
        std::os::unix::fs::symlink("..data/token", dir.join("token")).unwrap();
    }
    if let Some(old) = old {
        std::fs::remove_dir_all(dir.join(old)).unwrap();
    }
}

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: builder-7f9c\n  namespace: team-a\nspec:\n  \
    serviceAccountName: builder\n  containers:\n  - name: app\n    image: registry.example/builder:1\n";

/// The pod-name extra of the requests B saw with an identity.
fn pods_seen(cluster: &kubeplex_tests::apiserver::ApiServer) -> Vec<String> {
    cluster
        .forwarded()
        .iter()
        .filter_map(|r| {
            r.header("impersonate-extra-authentication.kubernetes.io%2fpod-name")
                .map(String::from)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_injected_pod_reaches_another_cluster_as_its_service_account() {
    let pki = Pki::new();
    let (a, b, c) = (
        pki.cluster("a").await,
        pki.cluster("b").await,
        pki.cluster("c").await,
    );
    // The pod lives in cluster a, whose ServiceAccount issuer the gateway trusts.
    let extra_jwt = format!(
        "- issuer:\n    url: {}\n    audiences: [{AUDIENCE}]\n    cluster: a\n",
        a.service_account_issuer()
    );
    let mut spec = GatewaySpec::new(
        &pki,
        vec![
            ClusterEntry::new("a", &a),
            ClusterEntry::new("b", &b),
            ClusterEntry::new("c", &c),
        ],
    );
    spec.extra_jwt = &extra_jwt;
    let gw = Gateway::start(spec);
    let mint = |pod: &str| {
        let token = a.mint_service_account_token(
            "team-a",
            "builder",
            &[AUDIENCE],
            Duration::from_secs(600),
            Some(pod),
        );
        secret(token)
    };

    // No annotation: the default cluster (b).
    let pod = LoopbackPod::start(&gw, POD, &mint("builder-7f9c"));
    let listed = pod.kubectl_ok(&["get", "configmaps", "-o", "name"]);
    let whoami = pod.kubectl_ok(&["auth", "whoami"]);
    assert!(
        whoami.contains("system:serviceaccount:team-a:builder"),
        "{whoami}"
    );
    let at_b = b.forwarded();
    let seen = at_b
        .iter()
        .find(|r| r.path.contains("/configmaps"))
        .unwrap_or_else(|| {
            let paths: Vec<&str> = at_b.iter().map(|r| r.path.as_str()).collect();
            panic!("b saw no configmaps request ({listed}): {paths:?}")
        });
    assert_eq!(
        seen.path, "/api/v1/namespaces/team-a/configmaps",
        "the namespace came from the substitute ServiceAccount volume"
    );
    assert_eq!(
        seen.header("impersonate-user"),
        Some("system:serviceaccount:team-a:builder")
    );
    assert_eq!(
        pods_seen(&b).last().map(String::as_str),
        Some("builder-7f9c")
    );
    assert!(c.forwarded().is_empty(), "c was not asked");

    // The kubelet rotates the token: the running sidecar sends the new one.
    let envoy_pid = pod.envoy.id();
    pod.rotate_token(&mint("builder-rotated"), 2);
    wait_for(
        "the rotated token to reach b",
        Duration::from_secs(20),
        || {
            let out = pod.kubectl(&["get", "configmaps"]);
            let last = pods_seen(&b).last().cloned();
            (out.status.success() && last.as_deref() == Some("builder-rotated"))
                .then_some(())
                .ok_or(format!("last pod-name at b: {last:?}"))
        },
    );
    assert_eq!(pod.envoy.id(), envoy_pid);
    let [rss, anon, file] = ["VmRSS", "RssAnon", "RssFile"].map(|f| pod.sidecar_memory_kb(f));
    eprintln!("sidecar Envoy after requests: RSS {rss} KiB (anon {anon}, file {file})");
    // Within the limit `kubeplex inject` sets for the sidecar (128Mi).
    assert!(rss < 128 * 1024, "sidecar RSS {rss} KiB");

    // The annotation switches the cluster.
    let annotated = POD.replace(
        "  namespace: team-a\n",
        "  namespace: team-a\n  annotations:\n    kubeplex.io/cluster: c\n",
    );
    let to_c = LoopbackPod::start(&gw, &annotated, &mint("builder-7f9c"));
    let before_b = b.forwarded().len();
    to_c.kubectl_ok(&["get", "configmaps"]);
    assert!(
        c.forwarded()
            .iter()
            .any(|r| r.header("impersonate-user") == Some("system:serviceaccount:team-a:builder")),
        "c was reached as the ServiceAccount"
    );
    assert_eq!(b.forwarded().len(), before_b, "b was not asked");
}

/// What the app holds is not a credential: the substitute token sent to the
/// gateway directly is refused, and the real token is not in the app's files.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_app_holds_no_credential() {
    let pki = Pki::new();
    let (a, b) = (pki.cluster("a").await, pki.cluster("b").await);
    let extra_jwt = format!(
        "- issuer:\n    url: {}\n    audiences: [{AUDIENCE}]\n    cluster: a\n",
        a.service_account_issuer()
    );
    let mut spec = GatewaySpec::new(
        &pki,
        vec![ClusterEntry::new("a", &a), ClusterEntry::new("b", &b)],
    );
    spec.extra_jwt = &extra_jwt;
    let gw = Gateway::start(spec);
    let token = secret(a.mint_service_account_token(
        "team-a",
        "builder",
        &[AUDIENCE],
        Duration::from_secs(600),
        None,
    ));
    let pod = LoopbackPod::start(&gw, POD, &token);
    let app_files: Vec<PathBuf> = std::fs::read_dir(pod.dir.path().join("app-sa"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for file in &app_files {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            !text.contains(&token),
            "{} holds the real token",
            file.display()
        );
    }
    let substitute = std::fs::read_to_string(pod.dir.path().join("app-sa/token")).unwrap();
    let err = gw
        .kubectl(&substitute, &["b"])
        .fails(&["get", "configmaps"]);
    assert!(err.contains("logged in"), "{err}");
}
