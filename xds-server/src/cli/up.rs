//! `kubeplex up`: the control plane plus a supervised local Envoy.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kubeplex::control_plane::{ControlPlane, Settings};
use kubeplex::envoy::{self, Launch};
use kubeplex::server::{self, Listeners};
use kubeplex::translate::Options;
use kubeplex::{demo, local_setup};
use tracing::{error, info};

use crate::{DEFAULT_ADMIN_ADDR, DEFAULT_XDS_ADDR, existing_file, parse_addr};

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// The clusters; omit to run in front of two built-in demo clusters.
    #[arg(long, value_parser = existing_file)]
    pub kubeconfig: Option<PathBuf>,
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
    /// Where generated files (certificates, kubeconfigs, Envoy bootstrap) go.
    #[arg(long, default_value = ".kubeplex")]
    pub state_dir: PathBuf,
    #[arg(long, default_value = DEFAULT_XDS_ADDR, value_parser = parse_addr)]
    pub xds_addr: SocketAddr,
    #[arg(long, default_value = DEFAULT_ADMIN_ADDR, value_parser = parse_addr)]
    pub admin_addr: SocketAddr,
    /// Envoy's admin interface (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:9901", value_parser = parse_addr)]
    pub envoy_admin_addr: SocketAddr,
    /// Envoy worker threads.
    #[arg(long, default_value_t = 2)]
    pub concurrency: usize,
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
}

/// The built filter module: the flag/env, else the workspace's build output.
pub fn find_wasm(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(format!("filter module {}: no such file", p.display()))
        };
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
        .ok_or_else(|| {
            "the filter module is not built: run `make build` (cargo build -p kubeplex-filter \
             --target wasm32-wasip1 --profile wasm) or pass --filter-wasm"
                .to_string()
        })
}

pub async fn run(args: UpArgs) -> Result<(), String> {
    super::init_logging();
    std::fs::create_dir_all(&args.state_dir)
        .map_err(|e| format!("{}: {e}", args.state_dir.display()))?;
    let state_dir = args.state_dir.canonicalize().map_err(|e| e.to_string())?;
    // Demo clusters live as long as this function.
    let mut demo_clusters = None;
    let (kubeconfig, config, local) = match (&args.kubeconfig, &args.config) {
        (Some(k), Some(c)) => (k.clone(), c.clone(), None),
        (Some(k), None) => {
            let local =
                local_setup::generate(&state_dir.join("gateway"), "127.0.0.1", args.port, false)?;
            info!(config = %local.config.display(), "generated a gateway config (certificate, token issuer)");
            (k.clone(), local.config.clone(), Some(local))
        }
        (None, _) => {
            let started = demo::start(&state_dir.join("demo")).await?;
            let local =
                local_setup::generate(&state_dir.join("gateway"), "127.0.0.1", args.port, false)?;
            println!(
                "DEMO MODE: no --kubeconfig given, so kubeplex runs in front of {} in-memory demo clusters \
                 (its own Kubernetes API test servers, not real Kubernetes): {}",
                started.servers.len(),
                demo::CLUSTERS.join(", ")
            );
            let kubeconfig = started.kubeconfig.clone();
            demo_clusters = Some(started);
            (kubeconfig, local.config.clone(), Some(local))
        }
    };
    let wasm_path = find_wasm(args.filter_wasm.as_deref())?;
    let envoy_bin = envoy::find_binary(args.envoy.as_deref())?;
    let settings = Settings {
        kubeconfig: super::serve::absolute(&kubeconfig)?,
        gateway_config: super::serve::absolute(&config)?,
        options: Options {
            wasm: super::serve::wasm_module(&wasm_path),
            ..Options::default()
        },
    };
    let cp = ControlPlane::start(settings)?;
    let listeners = Listeners::bind(args.xds_addr, args.admin_addr).await?;
    let (xds_addr, admin_addr) = (listeners.xds_addr(), listeners.admin_addr());
    let mut running = server::start(cp.clone(), listeners).await?;

    let bootstrap = state_dir.join("envoy-bootstrap.json");
    let rendered = envoy::render_bootstrap(xds_addr, args.envoy_admin_addr, "kubeplex-gateway")?;
    std::fs::write(&bootstrap, rendered).map_err(|e| format!("{}: {e}", bootstrap.display()))?;
    let launch = Launch {
        binary: envoy_bin,
        bootstrap,
        admin_address_file: state_dir.join("envoy-admin-address"),
        concurrency: args.concurrency,
        log_level: args.envoy_log_level.clone(),
    };
    let mut envoy = envoy::spawn(&launch).await?;
    info!(binary = %launch.binary.display(), admin = envoy.admin_address, "envoy started");
    tokio::select! {
        ready = envoy::wait_ready(&envoy.admin_address, Duration::from_secs(30)) => ready?,
        status = envoy.child.wait() => return Err(envoy_died(status.ok(), &envoy.stderr_tail)),
    }

    let gateway_url = cp.with_state(|s| {
        s.gateway.last_good.as_ref().map(|g| {
            let host = if g.listener.address == "0.0.0.0" || g.listener.address == "::" {
                "127.0.0.1"
            } else {
                &g.listener.address
            };
            format!("https://{host}:{}", g.listener.port)
        })
    });
    let gateway_url = gateway_url.unwrap_or_default();
    let endpoints = serde_json::json!({
        "gateway": gateway_url,
        "envoy_admin": format!("http://{}", envoy.admin_address),
        "xds": xds_addr.to_string(),
        "admin": format!("http://{admin_addr}"),
    });
    kubeplex::local_files::write_public(
        &state_dir.join("endpoints.json"),
        endpoints.to_string().as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    println!(
        "kubeplex ready: gateway {gateway_url} | envoy admin http://{} | control plane admin http://{admin_addr} | xds {xds_addr}",
        envoy.admin_address
    );
    if let Some(local) = &local {
        let contexts = cp.with_state(|s| {
            s.kubeconfig.last_good.as_ref().map(|k| {
                k.clusters
                    .iter()
                    .map(|c| c.context.clone())
                    .collect::<Vec<_>>()
            })
        });
        let contexts = contexts.unwrap_or_default();
        let user = args
            .user
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "kubeplex-user".into());
        let (path, _) = local_setup::user_kubeconfig(
            local,
            &state_dir,
            &user,
            &args.groups,
            &contexts,
            Duration::from_secs(12 * 3600),
        )?;
        print_welcome(&path, &user, &args.groups, &contexts, local, admin_addr);
    }

    // SIGUSR1 (logrotate's postrotate) reopens Envoy's access logs.
    let mut usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
        .map_err(|e| format!("cannot handle SIGUSR1: {e}"))?;
    let reopen_url = format!("http://{}/reopen_logs", envoy.admin_address);
    let shutdown = super::shutdown_signal();
    tokio::pin!(shutdown);
    let outcome = loop {
        tokio::select! {
            status = envoy.child.wait() => break Err(envoy_died(status.ok(), &envoy.stderr_tail)),
            r = &mut running.xds => break Err(format!("xDS server stopped: {r:?}")),
            r = &mut running.admin => break Err(format!("admin server stopped: {r:?}")),
            _ = usr1.recv() => match envoy::http_request("POST", &reopen_url).await {
                Ok((200, _)) => info!("SIGUSR1: Envoy reopened its log files"),
                other => tracing::warn!("SIGUSR1: Envoy did not reopen its logs: {other:?}"),
            },
            _ = &mut shutdown => {
                info!("shutting down");
                break Ok(());
            }
        }
    };
    let _ = envoy.child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), envoy.child.wait()).await;
    drop(demo_clusters);
    outcome
}

fn print_welcome(
    kubeconfig: &Path,
    user: &str,
    groups: &[String],
    contexts: &[String],
    local: &local_setup::LocalGateway,
    admin: SocketAddr,
) {
    let first = contexts.first().map(String::as_str).unwrap_or("<context>");
    println!(
        "\nkubectl is ready to use the gateway as user {user:?}{}:\n\n  export KUBECONFIG={}\n  kubectl config get-contexts\n  \
         kubectl --context {first} get namespaces\n  kubectl --context {first} create configmap hello --from-literal=from=kubeplex\n  \
         kubectl --context {first} get configmaps --watch\n\nMint a token for someone else:\n  \
         kubeplex token mint --key {} --issuer {} --sub bob --group dev --ttl 1h\n\
         Revoke one:  kubeplex revoke --admin-addr {admin} --jti <jti>\n\
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

fn envoy_died(
    status: Option<std::process::ExitStatus>,
    tail: &std::sync::Mutex<std::collections::VecDeque<String>>,
) -> String {
    let tail = tail.lock().unwrap_or_else(|e| e.into_inner());
    let last: Vec<&String> = tail
        .iter()
        .rev()
        .take(10)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let status = status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "unknown status".into());
    let msg = format!(
        "envoy exited unexpectedly ({status}); the gateway is down. Last envoy output:\n{}",
        last.iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    error!("{msg}");
    msg
}
