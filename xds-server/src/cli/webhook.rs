//! `kubeplex webhook`: the mutating admission webhook that injects the
//! in-pod adapter into pods labelled `kubeplex.io/inject=true` (or in
//! namespaces labelled so; the MutatingWebhookConfiguration selects them).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use kubeplex::admission::serve::{Publish, generate_serving_cert, publish_ca_bundle, serve};
use kubeplex::cluster_http::Credentials;

use super::inject::InjectOptions;
use crate::parse_addr;

/// The in-cluster ServiceAccount files of the webhook's own pod.
const IN_CLUSTER_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

#[derive(clap::Args, Debug)]
pub struct WebhookArgs {
    #[command(flatten)]
    pub options: InjectOptions,
    /// Where to serve HTTPS (`POST /mutate`, `GET /healthz`).
    #[arg(long, default_value = "0.0.0.0:8443", value_parser = parse_addr)]
    pub listen: SocketAddr,
    /// Names in the serving certificate (repeat): the Service's
    /// `<name>.<namespace>.svc`; generated with a new CA at every start.
    #[arg(long = "dns-name", required = true)]
    pub dns_names: Vec<String>,
    /// The MutatingWebhookConfiguration whose webhooks get this start's CA as
    /// `caBundle` (through the Kubernetes API, in-cluster credentials).
    /// Without it, nothing is written and --ca-out must say where the CA goes.
    #[arg(long, required_unless_present = "ca_out")]
    pub webhook_configuration: Option<String>,
    /// `Fail` (default: a labelled pod is not created without the sidecar
    /// while the webhook is down) or `Ignore`; written into every webhook
    /// of the configuration.
    #[arg(long, default_value = "Fail", value_parser = ["Fail", "Ignore"])]
    pub failure_policy: String,
    /// Also write the CA (PEM) here.
    #[arg(long)]
    pub ca_out: Option<PathBuf>,
}

pub async fn run(args: WebhookArgs) -> anyhow::Result<()> {
    super::init_logging();
    let config = Arc::new(args.options.config()?);
    let cert = generate_serving_cert(&args.dns_names)?;
    if let Some(path) = &args.ca_out {
        kubeplex::local_files::write_public(path, cert.ca_pem.as_bytes())
            .with_context(|| path.display().to_string())?;
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    if let Some(configuration) = &args.webhook_configuration {
        let publish = in_cluster_publish(configuration, &args.failure_policy)?;
        publish_ca_bundle(&publish, &cert.ca_pem).await?;
        tracing::info!(configuration, failure_policy = %args.failure_policy, "caBundle written");
    }
    tracing::info!(addr = %listener.local_addr()?, "kubeplex webhook serving");
    serve(listener, &cert, config, super::shutdown_signal()).await?;
    Ok(())
}

/// The Kubernetes API as the webhook's pod sees it.
fn in_cluster_publish(configuration: &str, failure_policy: &str) -> anyhow::Result<Publish> {
    let host = std::env::var("KUBERNETES_SERVICE_HOST").context(
        "KUBERNETES_SERVICE_HOST is not set: --webhook-configuration needs in-cluster credentials",
    )?;
    let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let read = |file: &str| {
        let path = format!("{IN_CLUSTER_DIR}/{file}");
        std::fs::read_to_string(&path).with_context(|| path)
    };
    Ok(Publish {
        api_server: format!("https://{host}:{port}"),
        credentials: Credentials {
            bearer_token: Some(read("token")?.trim().to_string()),
            ..Credentials::with_ca(Some(read("ca.crt")?))
        },
        configuration: configuration.to_string(),
        failure_policy: failure_policy.to_string(),
    })
}
