//! `kubeplex serve`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

use kubeplex::control_plane::{ControlPlane, Settings};
use kubeplex::server::{self, Listeners};
use kubeplex::translate::{Options, WasmModule};

use crate::{DEFAULT_ADMIN_ADDR, DEFAULT_XDS_ADDR, existing_file, parse_addr};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  # The control plane of a deployed gateway (Envoys connect to --xds-addr)
  kubeplex serve --kubeconfig /etc/kubeplex/clusters.yaml --config /etc/kubeplex/gateway.yaml --xds-addr 0.0.0.0:18000")]
pub struct ServeArgs {
    /// The clusters: one gateway route per context.
    #[arg(long, value_parser = existing_file)]
    pub kubeconfig: PathBuf,
    /// The gateway config (listener, issuers, revocations, policy, audit).
    #[arg(long, value_parser = existing_file)]
    pub config: PathBuf,
    /// Where Envoy connects for ADS.
    #[arg(long, default_value = DEFAULT_XDS_ADDR, value_parser = parse_addr)]
    pub xds_addr: SocketAddr,
    /// Admin API (gRPC + /status, /metrics). Keep it on a trusted network: it can revoke tokens.
    #[arg(long, default_value = DEFAULT_ADMIN_ADDR, value_parser = parse_addr)]
    pub admin_addr: SocketAddr,
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
        kubeconfig: absolute(&args.kubeconfig)?,
        gateway_config: absolute(&args.config)?,
        options: Options {
            wasm,
            ..Options::default()
        },
        state_dir: absolute(&args.state_dir)?,
    };
    let cp = ControlPlane::start(settings)?;
    let listeners = Listeners::bind(args.xds_addr, args.admin_addr).await?;
    let running = server::start(cp, listeners).await?;
    let audit = running.audit.clone();
    let outcome = tokio::select! {
        r = running.xds => r.map_err(anyhow::Error::from).and_then(|r| Ok(r?)),
        r = running.admin => r.map_err(anyhow::Error::from).and_then(|r| Ok(r?)),
        _ = super::shutdown_signal() => {
            tracing::info!("shutting down");
            Ok(())
        }
    };
    audit.pipeline.stop(AUDIT_STOP_GRACE).await;
    outcome
}
