//! `kubeplex up`: the control plane plus a supervised local Envoy.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use kubeplex::control_plane::{ControlPlane, Settings};
use kubeplex::envoy::{self, Launch, RunningEnvoy};
use kubeplex::local_setup::{self, LocalGateway};
use kubeplex::server::{self, Listeners, Running};
use kubeplex::translate::Options;
use tracing::{error, info};

use super::serve::{AdminAccessArgs, KubeconfigArg, RemoteKubeconfigArgs};
use crate::{DEFAULT_ADMIN_ADDR, DEFAULT_XDS_ADDR, existing_file, parse_addr};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  # A gateway in front of two demo clusters, with a demo identity provider
  kubeplex up

  # In front of your clusters (one route per kubeconfig context)
  kubeplex up --kubeconfig ~/.kube/config

  # With your own gateway config (listener, issuers, policy, login)
  kubeplex up --kubeconfig clusters.yaml --config gateway.yaml

  # The admin API behind a token, the probes and metrics on a port of their own
  kubeplex up --kubeconfig clusters.yaml --admin-token-file admin-token --probe-addr 127.0.0.1:18002")]
pub struct UpArgs {
    /// The clusters; omit to run in front of two built-in demo clusters.
    /// A file or an https:// URL (see `kubeplex serve`).
    #[arg(long, value_parser = super::serve::kubeconfig_arg)]
    pub kubeconfig: Option<KubeconfigArg>,
    #[command(flatten)]
    pub remote: RemoteKubeconfigArgs,
    /// The gateway config; omit to generate one (gateway certificate,
    /// token issuer key) in the state directory.
    #[arg(long, value_parser = existing_file, requires = "kubeconfig")]
    pub config: Option<PathBuf>,
    /// The Envoy binary (default: $KUBEPLEX_ENVOY, ./.venv from `make setup`, $PATH).
    #[arg(long)]
    pub envoy: Option<PathBuf>,
    /// The filter's .wasm (default: $KUBEPLEX_FILTER_WASM, the workspace build output).
    #[arg(long, env = "KUBEPLEX_FILTER_WASM")]
    pub filter_wasm: Option<PathBuf>,
    /// Where generated files (certificates, kubeconfigs, Envoy bootstrap)
    /// and the audit store (`audit.db`, unless the gateway config names
    /// another) go.
    #[arg(long, default_value = ".kubeplex")]
    pub state_dir: PathBuf,
    /// Where Envoy connects for ADS.
    #[arg(long, default_value = DEFAULT_XDS_ADDR, value_parser = parse_addr)]
    pub xds_addr: SocketAddr,
    /// The control plane's admin API (status, metrics, revocations).
    #[arg(long, default_value = DEFAULT_ADMIN_ADDR, value_parser = parse_addr)]
    pub admin_addr: SocketAddr,
    #[command(flatten)]
    pub admin_access: AdminAccessArgs,
    /// Envoy's admin interface (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:9901", value_parser = parse_addr)]
    pub envoy_admin_addr: SocketAddr,
    /// Envoy speaks state-of-the-world ADS (every cluster resent on each
    /// change) instead of incremental (delta) ADS; for comparison.
    #[arg(long)]
    pub state_of_the_world_xds: bool,
    /// Envoy worker threads.
    #[arg(long, default_value_t = 2)]
    pub concurrency: usize,
    /// Envoy's log level (trace, debug, info, warning, error, critical, off).
    #[arg(long, default_value = "warning")]
    pub envoy_log_level: String,
    /// Listener port of a generated gateway config.
    #[arg(long, default_value_t = 8443)]
    pub port: u16,
    /// The user of the generated token (default: $USER).
    #[arg(long)]
    pub user: Option<String>,
    /// Groups of the generated token; repeat for several.
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// Demo mode: where the demo identity provider (for `kubeplex login`)
    /// listens; default 127.0.0.1 on the gateway's port + 1.
    #[arg(long, value_parser = parse_addr)]
    pub idp_addr: Option<SocketAddr>,
}

/// The built filter module: the flag/env, else the workspace's build output.
pub fn find_wasm(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        if !p.is_file() {
            bail!("filter module {}: no such file", p.display());
        }
        return Ok(p.to_path_buf());
    }
    let rel = "target/wasm32-wasip1/wasm/kubeplex_filter.wasm";
    let mut candidates = vec![
        std::env::current_dir().unwrap_or_default().join(rel),
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(rel),
    ];
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        candidates.push(dir.join("kubeplex_filter.wasm"));
    }
    candidates.push(PathBuf::from(
        "/usr/local/lib/kubeplex/kubeplex_filter.wasm",
    ));
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .map(|p| p.canonicalize().unwrap_or(p))
        .context(
            "the filter module is not built: run `make build` (cargo build -p kubeplex-filter \
             --target wasm32-wasip1 --profile wasm) or pass --filter-wasm",
        )
}

/// The inputs `up` serves: given, or generated (and the demo clusters
/// they point at, which live as long as this).
struct Inputs {
    kubeconfig: KubeconfigArg,
    config: PathBuf,
    /// Set when the gateway config was generated: a user kubeconfig is too.
    local: Option<LocalGateway>,
    #[cfg(feature = "demo")]
    _demo_clusters: Option<kubeplex::demo::Demo>,
    /// Demo mode: the identity provider `kubeplex login` signs in with.
    #[cfg(feature = "demo")]
    demo_login: Option<kubeplex::demo::DemoIdentityProvider>,
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    super::init_logging();
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| args.state_dir.display().to_string())?;
    let state_dir = args
        .state_dir
        .canonicalize()
        .with_context(|| args.state_dir.display().to_string())?;
    let inputs = inputs(&args, &state_dir).await?;
    let wasm_path = find_wasm(args.filter_wasm.as_deref())?;
    let envoy_bin = envoy::find_binary(args.envoy.as_deref())?;
    let settings = Settings {
        kubeconfig: super::serve::kubeconfig_source(&inputs.kubeconfig, &args.remote).await?,
        gateway_config: super::serve::absolute(&inputs.config)?,
        options: Options {
            wasm: super::serve::wasm_module(&wasm_path),
            ..Options::default()
        },
        state_dir: state_dir.clone(),
    };
    let cp = ControlPlane::start(settings)?;
    let listeners = Listeners::bind(args.xds_addr, args.admin_addr).await?;
    let listeners = args.admin_access.apply(listeners).await?;
    let (xds_addr, admin_addr) = (listeners.xds_addr(), listeners.admin_addr());
    let probe_addr = listeners.probe_addr();
    let running = server::start(cp.clone(), listeners).await?;
    let contexts = cp
        .last_good()
        .borrow()
        .as_ref()
        .map_or(0, |g| g.kubeconfig.clusters.len());
    let mut envoy = start_envoy(&args, &state_dir, envoy_bin, xds_addr, contexts).await?;
    let gateway_url = gateway_url(&cp);
    let probes = probe_addr.map(|a| format!("http://{a}"));
    write_endpoints(
        &state_dir,
        &gateway_url,
        &envoy,
        xds_addr,
        admin_addr,
        &probes,
    )?;
    println!(
        "kubeplex ready: gateway {gateway_url} | envoy admin http://{} | control plane admin http://{admin_addr}{} | xds {xds_addr}",
        envoy.admin_address,
        probes
            .as_ref()
            .map(|p| format!(" | probes {p}"))
            .unwrap_or_default()
    );
    if let Some(local) = &inputs.local {
        welcome_user(&args, &cp, local, &state_dir, admin_addr)?;
        #[cfg(feature = "demo")]
        if let Some(demo) = &inputs.demo_login {
            print_login_path(&args, &gateway_url, local, demo);
        }
    }
    let audit = running.audit.clone();
    let outcome = supervise(&mut envoy, running).await;
    let _ = envoy.child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), envoy.child.wait()).await;
    audit.pipeline.stop(super::serve::AUDIT_STOP_GRACE).await;
    drop(inputs);
    outcome
}

/// The kubeconfig and gateway config to serve: as given, else a generated
/// gateway config, else (no kubeconfig) the demo clusters too.
async fn inputs(args: &UpArgs, state_dir: &Path) -> anyhow::Result<Inputs> {
    let generate = |login: Option<&local_setup::LocalLogin>| {
        local_setup::generate(
            &state_dir.join("gateway"),
            "127.0.0.1",
            args.port,
            false,
            login,
        )
    };
    match (&args.kubeconfig, &args.config) {
        (Some(k), Some(c)) => Ok(Inputs {
            kubeconfig: k.clone(),
            config: c.clone(),
            local: None,
            #[cfg(feature = "demo")]
            _demo_clusters: None,
            #[cfg(feature = "demo")]
            demo_login: None,
        }),
        (Some(k), None) => {
            let local = generate(None)?;
            info!(config = %local.config.display(), "generated a gateway config (certificate, token issuer)");
            Ok(Inputs {
                kubeconfig: k.clone(),
                config: local.config.clone(),
                local: Some(local),
                #[cfg(feature = "demo")]
                _demo_clusters: None,
                #[cfg(feature = "demo")]
                demo_login: None,
            })
        }
        #[cfg(feature = "demo")]
        (None, _) => {
            use kubeplex::demo;
            let started = demo::start(&state_dir.join("demo")).await?;
            let demo_login = start_demo_login(args, state_dir).await?;
            let local = generate(Some(&demo_login.login))?;
            warn_if_no_login_section(&local.config);
            println!(
                "DEMO MODE: no --kubeconfig given, so kubeplex runs in front of {} in-memory demo clusters \
                 (its own Kubernetes API test servers, not real Kubernetes): {}",
                started.servers.len(),
                demo::CLUSTERS.join(", ")
            );
            Ok(Inputs {
                kubeconfig: KubeconfigArg::File(started.kubeconfig.clone()),
                config: local.config.clone(),
                local: Some(local),
                _demo_clusters: Some(started),
                demo_login: Some(demo_login),
            })
        }
        #[cfg(not(feature = "demo"))]
        (None, _) => bail!(
            "pass --kubeconfig: this kubeplex was built without the demo clusters (cargo feature `demo`)"
        ),
    }
}

/// The demo's identity provider, with `--user` (else `$USER`) as its one
/// user, in the groups given by `--group` (else `developers`).
#[cfg(feature = "demo")]
async fn start_demo_login(
    args: &UpArgs,
    state_dir: &Path,
) -> anyhow::Result<kubeplex::demo::DemoIdentityProvider> {
    let addr = args.idp_addr.unwrap_or_else(|| {
        SocketAddr::from(([127, 0, 0, 1], args.port.checked_add(1).unwrap_or(8444)))
    });
    let groups: Vec<&str> = if args.groups.is_empty() {
        vec!["developers"]
    } else {
        args.groups.iter().map(String::as_str).collect()
    };
    let user = kubeplex_tests::idp::ScriptedUser::new(&user_name(args), &groups);
    kubeplex::demo::start_identity_provider(&state_dir.join("gateway"), addr, user)
        .await
        .context("pass --idp-addr 127.0.0.1:<free port>")
}

/// A gateway config generated by an older kubeplex has no `login`
/// section: the demo's sign-in then needs a fresh one.
#[cfg(feature = "demo")]
fn warn_if_no_login_section(config: &Path) {
    let has_login = std::fs::read_to_string(config)
        .map(|text| text.lines().any(|l| l.starts_with("login:")))
        .unwrap_or(true);
    if !has_login {
        tracing::warn!(
            config = %config.display(),
            "this generated gateway config predates `kubeplex login`: delete it to have it generated again with the demo identity provider"
        );
    }
}

/// `--user`, else `$USER`, else `kubeplex-user`.
fn user_name(args: &UpArgs) -> String {
    args.user
        .clone()
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "kubeplex-user".into())
}

/// Write the bootstrap, start Envoy and wait until it serves.
async fn start_envoy(
    args: &UpArgs,
    state_dir: &Path,
    binary: PathBuf,
    xds_addr: SocketAddr,
    contexts: usize,
) -> anyhow::Result<RunningEnvoy> {
    let bootstrap = state_dir.join("envoy-bootstrap.json");
    let rendered = envoy::render_bootstrap(
        xds_addr,
        args.envoy_admin_addr,
        "kubeplex-gateway",
        args.state_of_the_world_xds,
    )?;
    std::fs::write(&bootstrap, rendered).with_context(|| bootstrap.display().to_string())?;
    let launch = Launch {
        binary,
        bootstrap,
        admin_address_file: state_dir.join("envoy-admin-address"),
        concurrency: args.concurrency,
        log_level: args.envoy_log_level.clone(),
    };
    let mut envoy = envoy::spawn(&launch).await?;
    info!(binary = %launch.binary.display(), admin = envoy.admin_address, "envoy started");
    tokio::select! {
        ready = envoy::wait_ready(&envoy.admin_address, envoy_ready_within(contexts)) => ready?,
        status = envoy.child.wait() => return Err(died(&envoy, status.ok())),
    }
    Ok(envoy)
}

/// How long Envoy may take to be ready: it applies clusters on its main
/// thread, ~2.3 ms each here (two per context), and is ready once it has
/// all of them (10,000 contexts: ~46 s).
fn envoy_ready_within(contexts: usize) -> Duration {
    Duration::from_secs(30) + Duration::from_millis(10) * contexts as u32
}

/// `https://<listener>:<port>` (loopback for a wildcard listener).
fn gateway_url(cp: &ControlPlane) -> String {
    let last_good = cp.last_good().borrow().clone();
    let Some(inputs) = last_good else {
        return String::new();
    };
    let listener = &inputs.gateway.listener;
    let host = if listener.address == "0.0.0.0" || listener.address == "::" {
        "127.0.0.1"
    } else {
        &listener.address
    };
    format!("https://{host}:{}", listener.port)
}

/// `endpoints.json` in the state directory: where everything listens.
fn write_endpoints(
    state_dir: &Path,
    gateway_url: &str,
    envoy: &RunningEnvoy,
    xds_addr: SocketAddr,
    admin_addr: SocketAddr,
    probes: &Option<String>,
) -> anyhow::Result<()> {
    let endpoints = serde_json::json!({
        "gateway": gateway_url,
        "envoy_admin": format!("http://{}", envoy.admin_address),
        "xds": xds_addr.to_string(),
        "admin": format!("http://{admin_addr}"),
        "probes": probes,
    });
    let path = state_dir.join("endpoints.json");
    kubeplex::local_files::write_public(&path, endpoints.to_string().as_bytes())
        .with_context(|| path.display().to_string())
}

/// Mint the user a token, write their kubeconfig, and say how to use it.
fn welcome_user(
    args: &UpArgs,
    cp: &ControlPlane,
    local: &LocalGateway,
    state_dir: &Path,
    admin_addr: SocketAddr,
) -> anyhow::Result<()> {
    let contexts: Vec<String> = cp
        .last_good()
        .borrow()
        .iter()
        .flat_map(|i| i.kubeconfig.clusters.iter().map(|c| c.context.clone()))
        .collect();
    let user = user_name(args);
    let (path, _) = local_setup::user_kubeconfig(
        local,
        state_dir,
        &user,
        &args.groups,
        &contexts,
        Duration::from_secs(12 * 3600),
    )?;
    let admin = match &args.admin_access.admin_token_file {
        Some(token) => format!("{admin_addr} --admin-token-file {}", token.display()),
        None => admin_addr.to_string(),
    };
    print_welcome(&path, &user, &args.groups, &contexts, local, &admin);
    Ok(())
}

/// Run until a signal, Envoy's death, or a server's end. SIGUSR1
/// (logrotate's postrotate) reopens Envoy's access logs.
async fn supervise(envoy: &mut RunningEnvoy, mut running: Running) -> anyhow::Result<()> {
    let mut usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
        .context("cannot handle SIGUSR1")?;
    let reopen_url = format!("http://{}/reopen_logs", envoy.admin_address);
    let shutdown = super::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            status = envoy.child.wait() => return Err(died(envoy, status.ok())),
            r = &mut running.xds => bail!("xDS server stopped: {r:?}"),
            r = &mut running.admin => bail!("admin server stopped: {r:?}"),
            r = probes_stopped(&mut running.probes) => bail!("probe server stopped: {r:?}"),
            _ = usr1.recv() => match envoy::http_request("POST", &reopen_url).await {
                Ok((200, _)) => info!("SIGUSR1: Envoy reopened its log files"),
                other => tracing::warn!("SIGUSR1: Envoy did not reopen its logs: {other:?}"),
            },
            _ = &mut shutdown => {
                info!("shutting down");
                return Ok(());
            }
        }
    }
}

/// The probe server's end; never without one.
async fn probes_stopped(
    probes: &mut Option<tokio::task::JoinHandle<Result<(), server::ServeError>>>,
) -> Result<Result<(), server::ServeError>, tokio::task::JoinError> {
    match probes {
        Some(probes) => probes.await,
        None => std::future::pending().await,
    }
}

fn print_welcome(
    kubeconfig: &Path,
    user: &str,
    groups: &[String],
    contexts: &[String],
    local: &LocalGateway,
    admin: &str,
) {
    let first = contexts.first().map(String::as_str).unwrap_or("<context>");
    println!(
        "\nkubectl is ready to use the gateway as user {user:?}{}:\n\n  export KUBECONFIG={}\n  kubectl config get-contexts\n  \
         kubectl --context {first} get namespaces\n  kubectl --context {first} create configmap hello --from-literal=from=kubeplex\n  \
         kubectl --context {first} get configmaps --watch\n\nMint a token for someone else:\n  \
         kubeplex token mint --key {} --issuer {} --sub bob --group dev --ttl 1h\n\
         Revoke one:  kubeplex revoke --admin-addr {admin} --jti <jti>\n\
         Who ran what: kubeplex audit sessions --admin-addr {admin}\n\
         Edit the clusters' kubeconfig or {} and the gateway follows within a second.\n",
        if groups.is_empty() {
            String::new()
        } else {
            format!(" (groups {})", groups.join(", "))
        },
        kubeconfig.display(),
        local.issuer_key.display(),
        local_setup::LOCAL_ISSUER,
        local.config.display(),
    );
}

/// How to try `kubeplex login` against the demo's identity provider.
#[cfg(feature = "demo")]
fn print_login_path(
    args: &UpArgs,
    gateway_url: &str,
    local: &LocalGateway,
    demo: &kubeplex::demo::DemoIdentityProvider,
) {
    let me = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "kubeplex".into());
    println!(
        "Or sign in the way users of your identity provider will: the demo identity provider at {} signs in {:?} \
         without a password (browser here, else a link to open: --device):\n\n  \
         export KUBECONFIG={}/login.kubeconfig\n  \
         {me} login --gateway {gateway_url} --certificate-authority {}\n  \
         {me} clusters list\n  {me} kubectl get configmaps\n",
        demo.idp.issuer(),
        user_name(args),
        local.dir.parent().unwrap_or(&local.dir).display(),
        local.ca.display(),
    );
    if let Some(pin) = published_ca_fingerprint(local) {
        println!(
            "On another machine, with no copy of the CA file, pin the gateway's CA by its fingerprint instead:\n\n  \
             kubeplex login --gateway {gateway_url} --ca-fingerprint {pin}\n"
        );
    }
}

/// The fingerprint of the CA the gateway config publishes for login, if
/// it does (a config generated before it did keeps not publishing it).
#[cfg(feature = "demo")]
fn published_ca_fingerprint(local: &LocalGateway) -> Option<String> {
    let config = std::fs::read_to_string(&local.config).ok()?;
    if !config.contains("gatewayCertificateAuthorityFile:") {
        return None;
    }
    let ca = std::fs::read_to_string(&local.ca).ok()?;
    kubeplex::translate::login_settings::bundle_fingerprint(&ca)
}

/// Envoy died: log it loudly (the gateway is down) and return why.
fn died(envoy: &RunningEnvoy, status: Option<std::process::ExitStatus>) -> anyhow::Error {
    let error = envoy.died(status);
    error!("{error}");
    error.into()
}
