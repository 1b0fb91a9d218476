//! `kubeplex serve`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

use kubeplex::admin::token::AdminToken;
use kubeplex::control_plane::{ControlPlane, KubeconfigSource, Settings};
use kubeplex::remote_kubeconfig::{RemoteKubeconfig, RemoteSettings};
use kubeplex::server::{self, Listeners};
use kubeplex::translate::{Options, WasmModule};

use crate::{DEFAULT_ADMIN_ADDR, DEFAULT_XDS_ADDR, existing_file, parse_addr};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  # The control plane of a deployed gateway (Envoys connect to --xds-addr; the kubelet's
  # probes and Prometheus to --probe-addr; the admin API stays on loopback)
  kubeplex serve --kubeconfig /etc/kubeplex/clusters.yaml --config /etc/kubeplex/gateway.yaml --xds-addr 0.0.0.0:18000 --probe-addr 0.0.0.0:18002

  # The clusters from a kubeconfig server (polled every minute, with a token)
  kubeplex serve --kubeconfig https://configs.example.com/clusters.yaml --kubeconfig-ca-file ca.pem \\
    --kubeconfig-token-file /var/run/secrets/kubeconfig-token --kubeconfig-poll-interval 1m --config gateway.yaml")]
pub struct ServeArgs {
    /// The clusters: one gateway route per context. A file (reloaded when
    /// it changes) or an https:// URL (polled; inline data only).
    #[arg(long, value_parser = kubeconfig_arg)]
    pub kubeconfig: KubeconfigArg,
    #[command(flatten)]
    pub remote: RemoteKubeconfigArgs,
    /// The gateway config (listener, issuers, revocations, policy, audit).
    #[arg(long, value_parser = existing_file)]
    pub config: PathBuf,
    /// Where Envoy connects for ADS.
    #[arg(long, default_value = DEFAULT_XDS_ADDR, value_parser = parse_addr)]
    pub xds_addr: SocketAddr,
    /// Admin API (gRPC: revoke, audit; /status, /metrics, /healthz, /readyz). It has no
    /// authentication: keep it on loopback (a warning is logged otherwise) and reach it with
    /// kubectl port-forward or exec.
    #[arg(long, default_value = DEFAULT_ADMIN_ADDR, value_parser = parse_addr)]
    pub admin_addr: SocketAddr,
    #[command(flatten)]
    pub admin_access: AdminAccessArgs,
    /// The filter's .wasm as Envoy sees it (hashed when readable here).
    #[arg(
        long,
        env = "KUBEPLEX_FILTER_WASM",
        default_value = "/etc/kubeplex/kubeplex_filter.wasm"
    )]
    pub filter_wasm: PathBuf,
    /// The control plane's own files: the SQLite audit store (unless the
    /// gateway config's `audit.store` names another), the audit spill folder.
    #[arg(long, default_value = "/var/lib/kubeplex")]
    pub state_dir: PathBuf,
}

/// The probe port and the admin API's token: the same flags for `serve`
/// and `up`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AdminAccessArgs {
    /// Also serve /healthz, /readyz and /metrics (nothing else) here: the address the
    /// kubelet's probes and Prometheus reach (e.g. 0.0.0.0:18002 in a pod).
    #[arg(long, value_parser = parse_addr)]
    pub probe_addr: Option<SocketAddr>,
    /// Ask every admin API request for the bearer token in this file (read at each request,
    /// never logged; clients: --admin-token-file or KUBEPLEX_ADMIN_TOKEN_FILE). The probe port
    /// never asks for it.
    #[arg(long, value_parser = existing_file)]
    pub admin_token_file: Option<PathBuf>,
}

impl AdminAccessArgs {
    /// `listeners` with the probe port bound and the admin token set, as
    /// asked (`server::start` warns about an admin API off loopback).
    pub async fn apply(&self, mut listeners: Listeners) -> anyhow::Result<Listeners> {
        if let Some(probes) = self.probe_addr {
            listeners = listeners.with_probes(probes).await?;
        }
        if let Some(path) = &self.admin_token_file {
            let token = AdminToken::from_file(path).context("--admin-token-file")?;
            listeners = listeners.with_admin_token(token);
        }
        Ok(listeners)
    }
}

/// `--kubeconfig`: a file or a URL.
#[derive(Debug, Clone)]
pub enum KubeconfigArg {
    /// An existing file.
    File(PathBuf),
    /// `https://…` (or `http://…`, refused later unless allowed).
    Url(String),
}

/// A URL when it starts with a scheme, else a file that must exist.
pub fn kubeconfig_arg(s: &str) -> Result<KubeconfigArg, crate::ArgError> {
    if s.starts_with("https://") || s.starts_with("http://") {
        return Ok(KubeconfigArg::Url(s.to_string()));
    }
    existing_file(s).map(KubeconfigArg::File)
}

/// How a kubeconfig URL is fetched and how often (`serve`, `up`).
#[derive(clap::Args, Debug, Clone)]
pub struct RemoteKubeconfigArgs {
    #[command(flatten)]
    pub fetch: KubeconfigFetchArgs,
    /// With a kubeconfig URL: how often to ask it (conditional GET: If-None-Match,
    /// If-Modified-Since); at least 1s.
    #[arg(long, default_value = "30s", value_parser = poll_interval)]
    pub kubeconfig_poll_interval: std::time::Duration,
}

/// How a kubeconfig URL is fetched (`serve`, `up`, `check`).
#[derive(clap::Args, Debug, Clone)]
pub struct KubeconfigFetchArgs {
    /// With a kubeconfig URL: the PEM CA bundle its server's certificate must chain to
    /// (default: the system roots).
    #[arg(long, value_parser = existing_file)]
    pub kubeconfig_ca_file: Option<PathBuf>,
    /// With a kubeconfig URL: a file holding a bearer token to send (read at every
    /// fetch; never logged).
    #[arg(long, value_parser = existing_file)]
    pub kubeconfig_token_file: Option<PathBuf>,
    /// With a kubeconfig URL: accept plain http:// (INSECURE: the clusters'
    /// credentials travel in clear and can be replaced on the way; never with a token).
    #[arg(long)]
    pub kubeconfig_insecure_http: bool,
}

impl KubeconfigFetchArgs {
    /// `url` fetched this way, every `interval`; the settings are checked
    /// (https, no token over http) and nothing is fetched yet.
    pub fn remote(
        &self,
        url: &str,
        interval: std::time::Duration,
    ) -> anyhow::Result<RemoteKubeconfig> {
        RemoteKubeconfig::new(RemoteSettings {
            url: url.to_string(),
            ca_file: self.kubeconfig_ca_file.clone(),
            token_file: self.kubeconfig_token_file.clone(),
            interval,
            allow_http: self.kubeconfig_insecure_http,
        })
        .context("--kubeconfig")
    }
}

fn poll_interval(s: &str) -> Result<std::time::Duration, kubeplex::token_mint::MintError> {
    kubeplex::token_mint::parse_duration(s)
}

/// The control plane's kubeconfig source. A URL is fetched once here: the
/// control plane only starts on a kubeconfig that loaded.
pub async fn kubeconfig_source(
    arg: &KubeconfigArg,
    remote: &RemoteKubeconfigArgs,
) -> anyhow::Result<KubeconfigSource> {
    let url = match arg {
        KubeconfigArg::File(path) => return Ok(KubeconfigSource::File(absolute(path)?)),
        KubeconfigArg::Url(url) => url,
    };
    let remote = remote.fetch.remote(url, remote.kubeconfig_poll_interval)?;
    remote.poll().await;
    Ok(KubeconfigSource::Url(std::sync::Arc::new(remote)))
}

/// The wasm module reference; its digest when the file is readable here.
pub fn wasm_module(path: &std::path::Path) -> WasmModule {
    use sha2::{Digest, Sha256};
    let sha256 = std::fs::read(path).ok().map(|bytes| {
        Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    });
    WasmModule {
        path: path.display().to_string(),
        sha256,
    }
}

/// The path made absolute without resolving symlinks (a ConfigMap mount's
/// file is a symlink that is swapped on update; it must stay watched).
pub fn absolute(path: &std::path::Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| path.display().to_string())
}

/// How long a stopping control plane may spend storing (or spilling) the
/// audit records still in memory.
pub const AUDIT_STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    super::init_logging();
    let wasm = wasm_module(&args.filter_wasm);
    if wasm.sha256.is_none() {
        tracing::warn!(path = %args.filter_wasm.display(), "filter module not readable here; Envoy must have it at this path");
    }
    let settings = Settings {
        kubeconfig: kubeconfig_source(&args.kubeconfig, &args.remote).await?,
        gateway_config: absolute(&args.config)?,
        options: Options {
            wasm,
            ..Options::default()
        },
        state_dir: absolute(&args.state_dir)?,
    };
    let cp = ControlPlane::start(settings)?;
    let listeners = Listeners::bind(args.xds_addr, args.admin_addr).await?;
    let listeners = args.admin_access.apply(listeners).await?;
    let running = server::start(cp, listeners).await?;
    let audit = running.audit.clone();
    let probes = async {
        match running.probes {
            Some(probes) => probes.await,
            None => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        r = running.xds => r.map_err(anyhow::Error::from).and_then(|r| Ok(r?)),
        r = running.admin => r.map_err(anyhow::Error::from).and_then(|r| Ok(r?)),
        r = probes => r.map_err(anyhow::Error::from).and_then(|r| Ok(r?)),
        _ = super::shutdown_signal() => {
            tracing::info!("shutting down");
            Ok(())
        }
    };
    audit.pipeline.stop(AUDIT_STOP_GRACE).await;
    outcome
}
