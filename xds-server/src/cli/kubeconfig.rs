//! `kubeplex kubeconfig`: a kubeconfig for using the gateway.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use kubeplex::inputs::gateway_config::GatewayConfig;
use kubeplex::user_kubeconfig::{UserKubeconfig, render};

use crate::existing_file;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  # A kubeconfig for a minted token: one context per cluster its user may reach
  kubeplex kubeconfig --server https://gateway.example.com:8443 --token-file alice.jwt \\
    --clusters-kubeconfig clusters.yaml --config gateway.yaml --out alice.kubeconfig")]
pub struct KubeconfigArgs {
    /// The gateway's base URL, e.g. https://gateway.example.com:8443
    #[arg(long)]
    pub server: String,
    /// PEM CA that signed the gateway's certificate (embedded); default: system roots.
    #[arg(long, value_parser = existing_file)]
    pub ca: Option<PathBuf>,
    /// The bearer token (JWT) kubectl sends.
    #[arg(
        long,
        conflicts_with = "token_file",
        required_unless_present = "token_file"
    )]
    pub token: Option<String>,
    /// Read the token from a file.
    #[arg(long, value_parser = existing_file)]
    pub token_file: Option<PathBuf>,
    /// A cluster (kubeconfig context at the gateway); repeat for several.
    /// Without it, every cluster the token's user may reach under the
    /// gateway policy (needs --clusters-kubeconfig and --config).
    #[arg(long = "cluster", required_unless_present = "config")]
    pub clusters: Vec<String>,
    /// The gateway's clusters (its kubeconfig), to list reachable clusters.
    #[arg(long, value_parser = existing_file, requires = "config")]
    pub clusters_kubeconfig: Option<PathBuf>,
    /// The gateway config (issuers, policy), to list reachable clusters.
    #[arg(long, value_parser = existing_file)]
    pub config: Option<PathBuf>,
    /// The gateway's `listener.contextServerNameSuffix` (read from --config
    /// when given): each cluster gets a `tls-server-name`, so `kubectl get
    /// --raw` reaches the right cluster too.
    #[arg(long)]
    pub context_server_name_suffix: Option<String>,
    /// The kubeconfig user name.
    #[arg(long, default_value = "kubeplex")]
    pub user: String,
    /// Write here instead of stdout (mode 0600).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: KubeconfigArgs) -> anyhow::Result<()> {
    let ca = match &args.ca {
        Some(p) => Some(std::fs::read_to_string(p).with_context(|| p.display().to_string())?),
        None => None,
    };
    let token = token(&args)?;
    let gateway = match &args.config {
        Some(cfg) => Some(kubeplex::inputs::gateway_config::load(cfg)?),
        None => None,
    };
    let server_name_suffix = args.context_server_name_suffix.clone().or_else(|| {
        gateway
            .as_ref()
            .and_then(|g| g.listener.context_server_name_suffix.clone())
    });
    let contexts = if !args.clusters.is_empty() {
        args.clusters.clone()
    } else {
        let (Some(kc), Some(gw)) = (&args.clusters_kubeconfig, &gateway) else {
            bail!("pass --cluster, or --clusters-kubeconfig and --config");
        };
        reachable(kc, gw, &token)?
    };
    let text = render(&UserKubeconfig {
        gateway: &args.server,
        ca_pem: ca.as_deref(),
        token: &token,
        user: &args.user,
        contexts: &contexts,
        server_name_suffix: server_name_suffix.as_deref(),
    })?;
    match &args.out {
        Some(path) => kubeplex::local_files::write_private(path, text.as_bytes())
            .with_context(|| path.display().to_string()),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// The token, from `--token` or `--token-file`.
fn token(args: &KubeconfigArgs) -> anyhow::Result<String> {
    Ok(match (&args.token, &args.token_file) {
        (Some(t), _) => t.trim().to_string(),
        (None, Some(p)) => std::fs::read_to_string(p)
            .with_context(|| p.display().to_string())?
            .trim()
            .to_string(),
        (None, None) => bail!("pass --token or --token-file"),
    })
}

/// The contexts of the gateway's kubeconfig `kubeconfig` that the gateway
/// policy lets `token`'s user reach.
fn reachable(
    kubeconfig: &Path,
    gateway: &GatewayConfig,
    token: &str,
) -> anyhow::Result<Vec<String>> {
    let kc = kubeplex::inputs::kubeconfig::load(kubeconfig)?;
    let policy = match &gateway.policy_file {
        Some(p) => Some(kubeplex::inputs::policy::load(p)?),
        None => None,
    };
    let reachable =
        kubeplex::reachable::reachable_contexts(&kc.clusters, gateway, policy.as_ref(), token)
            .map_err(anyhow::Error::msg)?;
    if reachable.is_empty() {
        bail!("the gateway policy lets this token's user reach no cluster");
    }
    Ok(reachable)
}
