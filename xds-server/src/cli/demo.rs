//! `kubeplex demo`: only the demo clusters and the files to use them
//! (gateway config, user kubeconfig); for docker-compose, where the control
//! plane and Envoy run in their own containers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use kubeplex::{demo, local_setup};

use crate::parse_addr;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Shared with the control plane: demo kubeconfig, gateway config, keys.
    #[arg(long, default_value = ".kubeplex/demo-state")]
    pub state_dir: PathBuf,
    /// Where the user's kubeconfig (and token) go.
    #[arg(long, default_value = ".kubeplex")]
    pub user_dir: PathBuf,
    /// The gateway listener written into the gateway config.
    #[arg(long, default_value = "127.0.0.1:8443", value_parser = parse_addr)]
    pub listen: SocketAddr,
    /// The user of the generated token.
    #[arg(long, default_value = "demo-user")]
    pub user: String,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    super::init_logging();
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| args.state_dir.display().to_string())?;
    let ready = args.state_dir.join("ready");
    let _ = std::fs::remove_file(&ready);
    let started = demo::start(&args.state_dir).await?;
    // The control plane reads `<state>/gateway.yaml` and `<state>/clusters.kubeconfig`.
    let local = local_setup::generate(
        &args.state_dir,
        &args.listen.ip().to_string(),
        args.listen.port(),
        true,
        None,
    )?;
    let mut local_for_user = local.clone();
    local_for_user.url = format!("https://127.0.0.1:{}", args.listen.port());
    std::fs::create_dir_all(&args.user_dir).with_context(|| args.user_dir.display().to_string())?;
    let contexts: Vec<String> = demo::CLUSTERS.iter().map(|s| s.to_string()).collect();
    let (kubeconfig, _) = local_setup::user_kubeconfig(
        &local_for_user,
        &args.user_dir,
        &args.user,
        &["demo:developers".to_string()],
        &contexts,
        Duration::from_secs(12 * 3600),
    )?;
    std::fs::write(&ready, b"ok").with_context(|| ready.display().to_string())?;
    println!(
        "demo clusters {} running (in-memory kubeplex test API servers, not real Kubernetes)\n\
         user kubeconfig: {}  (try: kubectl --kubeconfig {} --context demo-a get configmaps)",
        demo::CLUSTERS.join(", "),
        kubeconfig.display(),
        kubeconfig.display()
    );
    super::shutdown_signal().await;
    drop(started);
    Ok(())
}
