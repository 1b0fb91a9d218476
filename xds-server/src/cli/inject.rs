//! `kubeplex inject` (manifests on stdin → stdout) and `kubeplex
//! sidecar-init` (the injected init container).

use std::io::{Read as _, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use kubeplex::inject::sidecar_config::SidecarPaths;
use kubeplex::inject::{GatewayAddress, InjectConfig, inject_yaml, pod_start};

use crate::existing_file;

/// What every injection needs (shared with `kubeplex webhook`).
#[derive(clap::Args, Debug, Clone)]
pub struct InjectOptions {
    /// The gateway's URL as pods reach it, e.g. https://kubeplex.kubeplex.svc:8443
    #[arg(long)]
    pub gateway: String,
    /// PEM CA that signed the gateway's serving certificate (embedded in the sidecar's config).
    #[arg(long, value_parser = existing_file)]
    pub gateway_ca: PathBuf,
    /// The audience the gateway accepts for this cluster's ServiceAccount tokens.
    #[arg(long, default_value = "kubeplex")]
    pub audience: String,
    /// The context (behind the gateway) of pods without a `kubeplex.io/cluster` annotation:
    /// usually the pod's own cluster.
    #[arg(long)]
    pub default_cluster: String,
    /// The sidecar's Envoy image.
    #[arg(long, default_value = "envoyproxy/envoy:v1.40-latest")]
    pub sidecar_image: String,
    /// The image with the kubeplex binary (the init container).
    #[arg(long, default_value = "kubeplex:0.1.0")]
    pub init_image: String,
    /// Lifetime of the projected token (the kubelet renews it at 80 %).
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(i64).range(600..))]
    pub token_expiration_seconds: i64,
    /// Inject into pods with automountServiceAccountToken: false too.
    #[arg(long)]
    pub force: bool,
}

impl InjectOptions {
    /// The mutation's configuration (reads the CA file).
    pub fn config(&self) -> anyhow::Result<InjectConfig> {
        let gateway_ca_pem = std::fs::read_to_string(&self.gateway_ca)
            .with_context(|| self.gateway_ca.display().to_string())?;
        Ok(InjectConfig {
            gateway: GatewayAddress::parse(&self.gateway)?,
            gateway_ca_pem,
            audience: self.audience.clone(),
            default_cluster: self.default_cluster.clone(),
            sidecar_image: self.sidecar_image.clone(),
            init_image: self.init_image.clone(),
            token_expiration_seconds: self.token_expiration_seconds,
            force: self.force,
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct InjectArgs {
    #[command(flatten)]
    pub options: InjectOptions,
}

pub fn run(args: InjectArgs) -> anyhow::Result<()> {
    let config = args.options.config()?;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("cannot read stdin")?;
    let output = inject_yaml(&input, &config)?;
    std::io::stdout()
        .write_all(output.as_bytes())
        .context("cannot write stdout")?;
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct SidecarInitArgs {
    /// The sidecar's private directory (certificate, key, SDS file).
    #[arg(long)]
    pub sidecar_dir: String,
    /// The projected token's directory.
    #[arg(long)]
    pub token_dir: String,
    /// Where the app's substitute ServiceAccount files go.
    #[arg(long)]
    pub app_serviceaccount_dir: PathBuf,
    /// The pod's namespace.
    #[arg(long)]
    pub namespace: String,
}

pub fn sidecar_init(args: SidecarInitArgs) -> anyhow::Result<()> {
    let paths = SidecarPaths {
        sidecar_dir: args.sidecar_dir,
        token_dir: args.token_dir,
    };
    pod_start::write_pod_files(&paths, &args.app_serviceaccount_dir, &args.namespace)?;
    Ok(())
}
