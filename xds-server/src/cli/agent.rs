//! `kubeplex agent`: an agent next to a cluster's apiserver that dials out
//! to the gateway (reverse tunnels), and `kubeplex token agent`'s helper.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use kubeplex::agent::{self, AgentSettings, ApiserverSource, gateway::Gateway};
use kubeplex::envoy;
use kubeplex::sensitive::Sensitive;

use crate::{existing_file, parse_addr};

#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// The gateway's agent listener, `host:port` (`agents.listener` in its config).
    #[arg(long)]
    pub gateway: String,
    /// The name the gateway's certificate carries (default: the host of --gateway).
    #[arg(long)]
    pub gateway_server_name: Option<String>,
    /// PEM CA of the gateway's certificate (default: the system roots).
    #[arg(long, value_parser = existing_file)]
    pub gateway_ca: Option<PathBuf>,
    /// This cluster's name at the gateway (`agents.clusters[].name`).
    #[arg(long)]
    pub cluster: String,
    /// File holding the pre-shared enrollment token (`kubeplex token agent` makes one).
    #[arg(long, value_parser = existing_file, env = "KUBEPLEX_AGENT_TOKEN_FILE")]
    pub token_file: PathBuf,
    /// Reach the local apiserver with this kubeconfig (default: the pod's
    /// ServiceAccount, in a pod).
    #[arg(long, value_parser = existing_file)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig's context (default: its only one).
    #[arg(long, requires = "kubeconfig")]
    pub context: Option<String>,
    /// Key, certificate, Envoy bootstrap.
    #[arg(long, default_value = ".kubeplex-agent")]
    pub state_dir: PathBuf,
    /// The Envoy binary (default: $KUBEPLEX_ENVOY, ./.venv, $PATH).
    #[arg(long)]
    pub envoy: Option<PathBuf>,
    /// The agent Envoy's admin interface (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0", value_parser = parse_addr)]
    pub envoy_admin_addr: SocketAddr,
    /// Reverse tunnels (TCP connections) kept open to the gateway.
    #[arg(long, default_value_t = 1)]
    pub tunnels: u32,
    #[arg(long, default_value = "warning")]
    pub envoy_log_level: String,
    /// Between heartbeats, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub heartbeat_interval_ms: u64,
}

pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    super::init_logging();
    let token = std::fs::read_to_string(&args.token_file)
        .with_context(|| args.token_file.display().to_string())?
        .trim()
        .to_string();
    let ca_pem = match &args.gateway_ca {
        Some(path) => {
            Some(std::fs::read_to_string(path).with_context(|| path.display().to_string())?)
        }
        None => None,
    };
    let host = args
        .gateway
        .rsplit_once(':')
        .map_or(args.gateway.as_str(), |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| args.state_dir.display().to_string())?;
    let state_dir = args
        .state_dir
        .canonicalize()
        .with_context(|| args.state_dir.display().to_string())?;
    let settings = AgentSettings {
        gateway: Gateway {
            address: args.gateway.clone(),
            server_name: args.gateway_server_name.unwrap_or(host),
            ca_pem,
            cluster: args.cluster,
            token: Sensitive(token),
        },
        apiserver: match args.kubeconfig {
            Some(path) => ApiserverSource::Kubeconfig {
                path,
                context: args.context,
            },
            None => ApiserverSource::InCluster,
        },
        state_dir,
        envoy: envoy::find_binary(args.envoy.as_deref())?,
        envoy_admin: args.envoy_admin_addr,
        tunnels: args.tunnels,
        log_level: args.envoy_log_level,
        heartbeat_interval: Duration::from_millis(args.heartbeat_interval_ms.max(100)),
    };
    agent::run(settings, super::shutdown_signal()).await?;
    Ok(())
}

/// `kubeplex token agent`: a new enrollment token and the digest the
/// gateway config holds.
pub fn new_token(out: Option<PathBuf>) -> anyhow::Result<()> {
    let (token, digest) = agent::new_token();
    match out {
        Some(path) => {
            kubeplex::local_files::write_private(&path, token.expose().as_bytes())
                .with_context(|| path.display().to_string())?;
            println!("token written to {}", path.display());
        }
        None => println!("token: {}", token.expose()),
    }
    println!("tokenSHA256: {digest}");
    Ok(())
}
