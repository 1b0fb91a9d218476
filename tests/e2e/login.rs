//! `kubeplex login` end to end: our test identity provider (real HTTPS on
//! loopback), the gateway trusting it, the `kubeplex` CLI as a user runs it
//! (own HOME, kubeconfig and token cache), and real kubectl running the
//! `kubeplex credential` exec plugin.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kubeplex_tests::apiserver::ApiServer;
use kubeplex_tests::idp::{IdpConfig, ScriptedUser, TestIdp};

use crate::harness::*;

/// How long one `kubeplex` command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Alice may reach the `dev-*` clusters (through her IdP group), not `prod`.
const POLICY: &str = "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayPolicy\nroles:\n- name: dev\n  rules:\n  \
     - clusters: [\"dev-*\"]\n    namespaces: [\"*\"]\n    verbs: [\"*\"]\n    resources: [\"*\"]\n\
     bindings:\n- role: dev\n  groups: [\"oidc:developers\"]\n";

/// A gateway in front of dev-a, dev-b and prod that trusts `idp` and
/// publishes it as its login.
struct Setup {
    idp: TestIdp,
    gw: Gateway,
    /// dev-a, dev-b, prod (in that order); a dropped one stops answering.
    clusters: Vec<ApiServer>,
    _idp_files: tempfile::TempDir,
}

async fn setup(token_ttl: Duration) -> Setup {
    let idp = TestIdp::start(IdpConfig {
        token_ttl,
        ..IdpConfig::new(vec![ScriptedUser::new("alice", &["developers"])])
    })
    .await
    .expect("start the identity provider");
    let idp_files = tempfile::tempdir().unwrap();
    let idp_ca = idp_files.path().join("idp-ca.pem");
    std::fs::write(&idp_ca, idp.ca_pem()).unwrap();
    let pki = Pki::new();
    let mut clusters = Vec::new();
    for name in ["dev-a", "dev-b", "prod"] {
        clusters.push(pki.cluster(name).await);
    }
    let entries = ["dev-a", "dev-b", "prod"]
        .iter()
        .zip(&clusters)
        .map(|(name, server)| ClusterEntry::new(name, server))
        .collect();
    let issuer = idp.issuer();
    let extra_jwt = format!(
        "- issuer:\n    url: {issuer}\n    audiences: [kubeplex]\n    discovery: true\n    certificateAuthorityFile: {}\n  \
         claimMappings:\n    username: {{claim: email, prefix: \"\"}}\n    groups: {{claim: groups, prefix: \"oidc:\"}}\n",
        idp_ca.display()
    );
    let extra_config = format!(
        "login:\n  issuer: {issuer}\n  clientID: kubeplex\n  scopes: [openid, offline_access, email, groups]\n  \
         gatewayCertificateAuthorityFile: gateway-ca.crt\n"
    );
    let gw = Gateway::start(GatewaySpec {
        extra_jwt: &extra_jwt,
        extra_config: &extra_config,
        policy: Some(POLICY),
        ..GatewaySpec::new(&pki, entries)
    });
    wait_for(
        "the gateway to have the identity provider's keys",
        Duration::from_secs(20),
        || {
            let status = gw.status();
            status["remote_keys"]
                .as_array()?
                .iter()
                .any(|k| k["issuer"] == issuer && k["keys"].as_u64() > Some(0))
                .then_some(())
        },
    );
    Setup {
        idp,
        gw,
        clusters,
        _idp_files: idp_files,
    }
}

/// A user of the gateway: own HOME, kubeconfig and token cache; no
/// display, no browser, not over SSH (unless `over_ssh`).
struct User {
    kubectl: Kubectl,
    cache: PathBuf,
    /// Logged in over SSH with X forwarding: `SSH_CONNECTION` and a `DISPLAY`.
    over_ssh: bool,
}

/// A `kubeplex` run: its stderr lines as they arrive.
struct Running {
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    /// Signalled when stderr closes.
    stderr_closed: std::sync::mpsc::Receiver<()>,
    stdout: std::sync::mpsc::Receiver<Vec<u8>>,
}

impl User {
    fn new() -> User {
        let home = tempfile::tempdir().unwrap();
        let kubeconfig = home.path().join(".kube").join("config");
        let cache = home.path().join("kubeplex-cache");
        User {
            kubectl: Kubectl { home, kubeconfig },
            cache,
            over_ssh: false,
        }
    }

    /// A user on a machine they reached with `ssh -X`.
    fn over_ssh() -> User {
        User {
            over_ssh: true,
            ..User::new()
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(kubeplex_bin());
        cmd.args(args)
            .env("HOME", self.kubectl.home.path())
            .env("KUBECONFIG", &self.kubectl.kubeconfig)
            .env("KUBEPLEX_CACHE_DIR", &self.cache)
            .env("KUBEPLEX_KUBECTL", kubectl_program())
            .env_remove("KUBERNETES_EXEC_INFO");
        for var in [
            "DISPLAY",
            "WAYLAND_DISPLAY",
            "BROWSER",
            "SSH_CONNECTION",
            "SSH_TTY",
        ] {
            cmd.env_remove(var);
        }
        if self.over_ssh {
            cmd.env("SSH_CONNECTION", "10.0.0.2 51000 10.0.0.1 22")
                .env("DISPLAY", "localhost:10.0");
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn spawn(&self, args: &[&str]) -> Running {
        let mut child = self.command(args).spawn().expect("start kubeplex");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = stderr.clone();
        let pipe = child.stderr.take().unwrap();
        let (closed, stderr_closed) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
            let _ = closed.send(());
        });
        let mut out = child.stdout.take().unwrap();
        let (tx, stdout) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            let _ = tx.send(bytes);
        });
        Running {
            child,
            stderr,
            stderr_closed,
            stdout,
        }
    }

    /// Run `kubeplex args` to its end.
    fn kubeplex(&self, args: &[&str]) -> Run {
        self.spawn(args).finish(args)
    }

    /// Run `kubeplex args`, require success; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let r = self.kubeplex(args);
        assert!(r.ok, "kubeplex {args:?} failed:\n{}", r.stderr);
        r.stdout
    }

    /// kubectl with this user's kubeconfig (the exec plugin finds the cache).
    fn kubectl(&self, args: &[&str]) -> Run {
        let cache = self.cache.to_str().unwrap();
        self.kubectl
            .run_with(args, &[("KUBEPLEX_CACHE_DIR", cache)], None)
    }

    /// Device-flow login, approved at the provider like a person would.
    fn login_with_device(&self, setup: &Setup) -> Run {
        let ca = setup.gw.ca.to_str().unwrap().to_string();
        self.device_login(setup, &["--certificate-authority", &ca])
    }

    /// `kubeplex login --gateway URL trust…` (how it trusts the gateway),
    /// its device code approved at the provider like a person would.
    fn device_login(&self, setup: &Setup, trust: &[&str]) -> Run {
        let mut args = vec!["login", "--gateway", &setup.gw.url];
        args.extend_from_slice(trust);
        let running = self.spawn(&args);
        // The person reads the code from the prompt and approves it.
        let code = wait_for(
            "kubeplex login to show a device code",
            Duration::from_secs(30),
            || {
                let prompt = running.stderr_text();
                setup
                    .idp
                    .pending_user_codes()
                    .into_iter()
                    .find(|code| prompt.contains(&format!("enter the code {code}")))
            },
        );
        assert!(setup.idp.approve_device(&code, "alice"));
        running.finish(&args)
    }

    /// Files in the token cache (tokens and locks).
    fn cached_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.cache.join("tokens"))
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    /// The cached session (the one gateway's).
    fn cached_session(&self) -> serde_json::Value {
        let file = self
            .cached_files()
            .into_iter()
            .find(|p| p.extension().is_some_and(|e| e == "json"))
            .expect("a cached session");
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
    }

    /// Wait until the cached ID token has expired.
    fn wait_until_token_expired(&self) {
        let expires_at = self.cached_session()["tokens"]["expiresAt"]
            .as_i64()
            .unwrap();
        wait_for("the ID token to expire", Duration::from_secs(30), || {
            (unix_now() > expires_at).then_some(())
        });
    }
}

impl Running {
    fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    fn finish(mut self, args: &[&str]) -> Run {
        let status = wait_exit(
            &mut self.child,
            format_args!("kubeplex {args:?}"),
            COMMAND_TIMEOUT,
        );
        let stdout = self
            .stdout
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_default();
        let _ = self.stderr_closed.recv_timeout(Duration::from_secs(10));
        Run {
            ok: status.success(),
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: self.stderr_text(),
        }
    }
}

fn kubectl_program() -> String {
    std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// One HTTPS request (HTTP/1.1, `Connection: close`) trusting `ca_pem`:
/// status, head, body.
fn https(method: &str, url: &str, ca_pem: &str, bearer: Option<&str>) -> (u16, String, String) {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
    let rest = url.strip_prefix("https://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(host).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut bytes = Vec::new();
    // A peer that closes without close_notify still sent its answer.
    let _ = stream.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn device_login_lists_uses_and_runs_kubectl_then_logout_leaves_no_token() {
    let mut setup = setup(Duration::from_secs(600)).await;
    let user = User::new();

    let login = user.login_with_device(&setup);
    assert!(login.ok, "login failed:\n{}", login.stderr);
    assert!(
        login.stderr.contains("Logged in to https://127.0.0.1:")
            && login
                .stderr
                .contains("as alice@example.com (groups oidc:developers)"),
        "{}",
        login.stderr
    );
    // Only the clusters the policy lets alice reach became contexts.
    assert_eq!(
        user.ok(&["clusters", "list", "-o", "name"]),
        "cluster/dev-a\ncluster/dev-b\n"
    );
    let table = user.ok(&["clusters", "list"]);
    assert!(
        table.starts_with("CURRENT   NAME    HEALTH   SERVER")
            && table.contains("*         dev-a   Ready    https://127.0.0.1:"),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&user.ok(&["clusters", "list", "-o", "json"])).unwrap();
    assert_eq!(json["user"]["username"], "alice@example.com");
    assert_eq!(json["clusters"][1]["rules"][0]["verbs"][0], "*");
    assert_eq!(json["clusters"][1]["health"], "ready");

    // clusters use → kubectl (and the passthrough) act on that cluster, as alice.
    assert_eq!(
        user.ok(&["clusters", "use", "dev-b"]),
        "Switched to cluster \"dev-b\".\n"
    );
    let whoami = user.kubectl(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    assert!(whoami.ok, "{}", whoami.stderr);
    assert_eq!(whoami.stdout, "alice@example.com");
    let created = user.kubeplex(&["kubectl", "create", "configmap", "from-alice"]);
    assert!(created.ok, "{}", created.stderr);
    let on_b = user.kubectl(&["--context", "dev-b", "get", "configmaps", "-o", "name"]);
    assert!(on_b.stdout.contains("configmap/from-alice"), "{on_b:?}");
    let on_a = user.kubectl(&["--context", "dev-a", "get", "configmaps", "-o", "name"]);
    assert!(on_a.ok && !on_a.stdout.contains("from-alice"), "{on_a:?}");
    // kubectl's exit code comes through the passthrough.
    let missing = user.kubeplex(&["k", "get", "configmap", "no-such-thing"]);
    assert_eq!(missing.code, Some(1), "{missing:?}");
    assert!(missing.stderr.contains("NotFound") || missing.stderr.contains("not found"));
    assert!(
        user.kubeplex(&["clusters", "use", "prod"])
            .stderr
            .contains("no cluster \"prod\"")
    );

    let status = user.ok(&["status"]);
    for line in [
        "User:     alice@example.com",
        "Groups:   oidc:developers",
        &format!("Issuer:   {}", setup.idp.issuer()),
        "Cluster:  dev-b",
        "Resources   Non-Resource URLs   Resource Names   Verbs   Namespaces",
        "*           []                  []               [*]     [*]",
    ] {
        assert!(status.contains(line), "{line:?} missing from:\n{status}");
    }

    // A cluster that stops answering is listed as unreachable.
    drop(setup.clusters.remove(0));
    wait_for(
        "clusters list to show dev-a unreachable",
        Duration::from_secs(20),
        || {
            let table = user.ok(&["clusters", "list"]);
            (table.contains("dev-a   Unreachable") && table.contains("dev-b   Ready")).then_some(())
        },
    );

    // Logout: the refresh token is revoked, no token is left on disk, and
    // kubectl says how to come back.
    assert!(
        user.cached_files()
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "json"))
    );
    assert_eq!(setup.idp.live_refresh_tokens(), 1);
    let logout = user.kubeplex(&["logout"]);
    assert!(logout.ok, "{}", logout.stderr);
    assert_eq!(user.cached_files(), Vec::<PathBuf>::new());
    assert_eq!(
        setup.idp.live_refresh_tokens(),
        0,
        "revoked at the provider"
    );
    let after = user.kubectl(&["get", "configmaps"]);
    assert!(!after.ok);
    assert!(
        after.stderr.contains("not logged in to https://127.0.0.1:")
            && after.stderr.contains("run `kubeplex login --gateway"),
        "{}",
        after.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_tokens_are_refreshed_silently_and_once_for_twenty_concurrent_kubectls() {
    let setup = setup(Duration::from_secs(3)).await;
    let user = User::new();
    let login = user.login_with_device(&setup);
    assert!(login.ok, "login failed:\n{}", login.stderr);
    assert!(user.kubectl(&["get", "configmaps"]).ok);

    // Expired: the next kubectl refreshes without asking anyone (a slow
    // kubectl may outlive the 3 s token and refresh again).
    user.wait_until_token_expired();
    let refreshes = setup.idp.refreshes();
    let run = user.kubectl(&["get", "configmaps"]);
    assert!(run.ok, "{}", run.stderr);
    assert!(!run.stderr.contains("sign in"), "no prompt: {}", run.stderr);
    assert!(setup.idp.refreshes() > refreshes);

    // Twenty kubectl processes at expiry: one refresh between them (the
    // new token lives long enough to outlast them all).
    user.wait_until_token_expired();
    setup.idp.set_token_ttl(Duration::from_secs(600));
    let before = setup.idp.refreshes();
    let attempts_before = setup
        .idp
        .counters()
        .refresh_attempts
        .load(std::sync::atomic::Ordering::SeqCst);
    let runs: Vec<Run> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| s.spawn(|| user.kubectl(&["get", "configmaps", "-o", "name"])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for run in &runs {
        assert!(run.ok, "{}", run.stderr);
    }
    assert_eq!(setup.idp.refreshes(), before + 1, "exactly one refresh");
    assert_eq!(
        setup
            .idp
            .counters()
            .refresh_attempts
            .load(std::sync::atomic::Ordering::SeqCst),
        attempts_before + 1,
        "and no second attempt"
    );
}

/// What an administrator reads off the gateway's CA and hands users:
/// `openssl x509 -noout -fingerprint -sha256`'s `AB:CD:…`.
fn openssl_fingerprint(ca_pem: &str) -> String {
    use rustls_pki_types::pem::PemObject;
    use sha2::Digest;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap();
    sha2::Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_ssh_a_user_with_only_the_ca_fingerprint_signs_in_with_a_device_code() {
    let setup = setup(Duration::from_secs(600)).await;
    let ca_pem = std::fs::read_to_string(&setup.gw.ca).unwrap();
    let pin = openssl_fingerprint(&ca_pem);
    let (_, _, body) = https(
        "GET",
        &format!("{}/.well-known/kubeplex", setup.gw.url),
        &ca_pem,
        None,
    );
    let settings: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        settings["gatewayCertificateAuthorityFingerprint"],
        format!("sha256:{}", pin.replace(':', "").to_lowercase()),
        "the published fingerprint is the one openssl computes"
    );
    assert_eq!(settings["gatewayCertificateAuthority"], ca_pem.as_str());

    // A fingerprint of another CA: nothing is trusted, started or written.
    let user = User::over_ssh();
    let last = if pin.ends_with('0') { "1" } else { "0" };
    let wrong = format!("{}{last}", &pin[..pin.len() - 1]);
    let args = [
        "login",
        "--gateway",
        &setup.gw.url,
        "--ca-fingerprint",
        &wrong,
    ];
    let refused = user.kubeplex(&args);
    assert!(!refused.ok);
    assert!(
        refused.stderr.contains("no CA certificate")
            && refused.stderr.contains("has the fingerprint")
            && refused.stderr.contains("someone is between you and it"),
        "{}",
        refused.stderr
    );
    assert!(setup.idp.pending_user_codes().is_empty());
    assert!(user.cached_files().is_empty());
    assert!(!user.kubectl.kubeconfig.exists());

    // The right one, over SSH with a forwarded display: the device code
    // flow without --device (device_login waits for its prompt).
    let login = user.device_login(&setup, &["--ca-fingerprint", &pin]);
    assert!(login.ok, "{}", login.stderr);
    assert!(!login.stderr.contains("/authorize?"), "{}", login.stderr);
    // kubectl trusts the gateway through the bundle login put in the kubeconfig.
    let kubeconfig = std::fs::read_to_string(&user.kubectl.kubeconfig).unwrap();
    assert!(
        kubeconfig.contains("certificate-authority-data"),
        "{kubeconfig}"
    );
    let whoami = user.kubectl(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    assert_eq!(whoami.stdout, "alice@example.com", "{}", whoami.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_session_tells_kubectl_users_to_log_in_again() {
    let setup = setup(Duration::from_secs(3)).await;
    let user = User::new();
    assert!(user.login_with_device(&setup).ok);
    assert_eq!(setup.idp.revoke_sessions("alice"), 1);
    user.wait_until_token_expired();
    let run = user.kubectl(&["get", "configmaps"]);
    assert!(!run.ok);
    assert!(
        run.stderr.contains("your session at https://127.0.0.1:")
            && run.stderr.contains("has ended (invalid_grant")
            && run.stderr.contains("run `kubeplex login --gateway"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn browser_login_through_the_loopback_redirect() {
    let setup = setup(Duration::from_secs(600)).await;
    let user = User::new();
    let ca = setup.gw.ca.to_str().unwrap().to_string();
    let args = [
        "login",
        "--gateway",
        &setup.gw.url,
        "--certificate-authority",
        &ca,
        "--no-browser",
    ];
    let running = user.spawn(&args);
    let authorize = wait_for(
        "kubeplex login to print the sign-in URL",
        Duration::from_secs(30),
        || {
            let text = running.stderr_text();
            text.lines()
                .map(str::trim)
                .find(|l| l.starts_with(&format!("{}/authorize?", setup.idp.issuer())))
                .map(str::to_string)
        },
    );
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    // The "browser": the provider signs alice in and redirects to the loopback.
    let (status, head, _) = https("GET", &authorize, setup.idp.ca_pem(), None);
    assert_eq!(status, 302);
    let callback = header(&head, "location").unwrap();
    assert!(callback.starts_with("http://127.0.0.1:"), "{callback}");
    let page = http_get(&callback).expect("the loopback answers 200");
    assert!(page.contains("Signed in to kubeplex"), "{page}");
    let login = running.finish(&args);
    assert!(login.ok, "{}", login.stderr);
    assert_eq!(
        setup
            .idp
            .counters()
            .code_grants
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    let whoami = user.kubectl(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    assert_eq!(whoami.stdout, "alice@example.com", "{}", whoami.stderr);
    // A replayed redirect finds no one listening any more.
    assert!(http_get(&callback).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_the_login_settings_are_served_without_a_token() {
    let setup = setup(Duration::from_secs(600)).await;
    let ca = std::fs::read_to_string(&setup.gw.ca).unwrap();
    let url = |path: &str| format!("{}{path}", setup.gw.url);
    let (status, head, body) = https("GET", &url("/.well-known/kubeplex"), &ca, None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        header(&head, "content-type").as_deref(),
        Some("application/json")
    );
    let settings: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(settings["issuer"], setup.idp.issuer());
    assert_eq!(settings["clientID"], "kubeplex");
    assert_eq!(settings["issuerCertificateAuthority"], setup.idp.ca_pem());
    for (method, path) in [
        ("POST", "/.well-known/kubeplex"),
        ("GET", "/.well-known/kubeplex/x"),
        ("GET", "/.well-known/kubeplex2"),
        ("GET", "/.kubeplex/v1/clusters"),
        ("GET", "/clusters/dev-a/api"),
    ] {
        let (status, _, body) = https(method, &url(path), &ca, None);
        assert_eq!(status, 401, "{method} {path}: {body}");
    }
}

/// `kubeplex up` in demo mode; killed on drop.
struct Demo {
    child: Child,
    state: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_readme_login_path_works_against_the_demo() {
    let state = tempfile::tempdir().unwrap();
    let port = kubeplex_test_support::free_port().expect("a port for the gateway");
    let idp_port = kubeplex_test_support::free_port().expect("a port for the identity provider");
    let log = std::fs::File::create(state.path().join("up.log")).unwrap();
    let child = Command::new(kubeplex_bin())
        .arg("up")
        .arg("--state-dir")
        .arg(state.path())
        .args(["--port", &port.to_string()])
        .args(["--idp-addr", &format!("127.0.0.1:{idp_port}")])
        .args(["--xds-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .args(["--envoy-admin-addr", "127.0.0.1:0", "--concurrency", "1"])
        .arg("--envoy")
        .arg(envoy())
        .arg("--filter-wasm")
        .arg(filter_wasm())
        .args(["--user", "alice"])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start kubeplex up");
    let mut demo = Demo { child, state };
    let issuer = format!("https://127.0.0.1:{idp_port}");
    let up_log =
        |demo: &Demo| std::fs::read_to_string(demo.state.path().join("up.log")).unwrap_or_default();
    let admin = wait_for("the demo to be ready", Duration::from_secs(60), || {
        if let Ok(Some(status)) = demo.child.try_wait() {
            panic!("kubeplex up exited ({status}):\n{}", up_log(&demo));
        }
        let text = std::fs::read_to_string(demo.state.path().join("endpoints.json")).ok()?;
        let endpoints: serde_json::Value = serde_json::from_str(&text).ok()?;
        endpoints["admin"].as_str().map(str::to_string)
    });
    wait_for(
        "the demo gateway to have the demo provider's keys",
        Duration::from_secs(20),
        || {
            let status: serde_json::Value =
                serde_json::from_str(&http_get(&format!("{admin}/status"))?).ok()?;
            status["remote_keys"]
                .as_array()?
                .iter()
                .any(|k| k["issuer"] == issuer.as_str() && k["keys"].as_u64() > Some(0))
                .then_some(())
        },
    );
    wait_for(
        "the welcome to show the login path",
        Duration::from_secs(10),
        || up_log(&demo).contains("login --gateway").then_some(()),
    );

    // For users on other machines it prints the fingerprint of its CA.
    let gateway_ca = demo.state.path().join("gateway/gateway-ca.pem");
    let pin = openssl_fingerprint(&std::fs::read_to_string(&gateway_ca).unwrap());
    let printed = format!(
        "--ca-fingerprint sha256:{}",
        pin.replace(':', "").to_lowercase()
    );
    wait_for(
        "the welcome to show the CA fingerprint",
        Duration::from_secs(10),
        || up_log(&demo).contains(&printed).then_some(()),
    );

    // What the README says: login (here with --device: no browser), open the link.
    let user = User::new();
    let args = [
        "login",
        "--gateway",
        &format!("https://127.0.0.1:{port}"),
        "--certificate-authority",
        gateway_ca.to_str().unwrap(),
        "--device",
    ];
    let running = user.spawn(&args);
    let link = wait_for("the device link", Duration::from_secs(30), || {
        running.stderr_text().lines().find_map(|l| {
            l.trim()
                .strip_prefix("(or open ")?
                .strip_suffix(')')
                .map(str::to_string)
        })
    });
    let idp_ca = std::fs::read_to_string(demo.state.path().join("gateway/idp-ca.pem")).unwrap();
    let (status, _, page) = https("GET", &link, &idp_ca, None);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Approved: signed in as alice"), "{page}");
    let login = running.finish(&args);
    assert!(login.ok, "{}\n{}", login.stderr, up_log(&demo));
    assert!(
        login
            .stderr
            .contains("as alice@example.com (groups oidc:developers)"),
        "{}",
        login.stderr
    );
    assert_eq!(
        user.ok(&["clusters", "list", "-o", "name"]),
        "cluster/demo-a\ncluster/demo-b\n"
    );
    user.ok(&["clusters", "use", "demo-b"]);
    let answer = user.kubeplex(&[
        "kubectl",
        "get",
        "cm",
        "welcome",
        "-o",
        "jsonpath={.data.cluster}",
    ]);
    assert_eq!(answer.stdout, "demo-b", "{}", answer.stderr);
    drop(demo);
}
