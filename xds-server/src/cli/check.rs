//! `kubeplex check`: validate the inputs the way `serve` would load them.

use std::path::{Path, PathBuf};

use anyhow::bail;
use kubeplex::error_chain::error_chain;
use kubeplex::inputs::gateway_config::{GatewayConfig, RevocationStoreConfig};
use kubeplex::inputs::kubeconfig::LoadedKubeconfig;
use kubeplex::inputs::{InputErrors, gateway_config, kubeconfig, policy, revocations};
use kubeplex::preflight;
use kubeplex::remote_kubeconfig::{self, RemoteError};

use super::serve::{KubeconfigArg, KubeconfigFetchArgs};
use crate::existing_file;

#[cfg(test)]
mod tests;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  # Every problem of both files, with its line
  kubeplex check --kubeconfig clusters.yaml --config gateway.yaml

  # A kubeconfig server's answer, fetched once the way serve fetches it
  kubeplex check --config gateway.yaml --kubeconfig https://configs.example.com/clusters.yaml \\
    --kubeconfig-ca-file ca.pem --kubeconfig-token-file token

  # Also ask each cluster whether the gateway's identity may impersonate there
  kubeplex check --kubeconfig clusters.yaml --config gateway.yaml --clusters")]
pub struct CheckArgs {
    /// The clusters: one gateway route per context. A file, or an https://
    /// URL fetched once and checked as `serve` would (inline data only).
    #[arg(long, value_parser = super::serve::kubeconfig_arg)]
    pub kubeconfig: KubeconfigArg,
    #[command(flatten)]
    pub remote: KubeconfigFetchArgs,
    /// The gateway config.
    #[arg(long, value_parser = existing_file)]
    pub config: PathBuf,
    /// Also connect to every cluster as the gateway and ask it (access
    /// reviews) whether the gateway may do what this config needs there;
    /// print a table and the RBAC to add; exit 1 when something is missing.
    #[arg(long)]
    pub clusters: bool,
}

pub fn run(args: CheckArgs) -> anyhow::Result<()> {
    let problems = check(&args)?;
    if problems.is_empty() {
        println!("ok");
        return Ok(());
    }
    for p in &problems {
        eprintln!("{p}");
    }
    bail!("{} problem(s) found", problems.len())
}

/// Every problem found (each input's, then the clusters' with
/// `--clusters`); what loaded is printed on the way.
fn check(args: &CheckArgs) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let kubeconfig = match &args.kubeconfig {
        KubeconfigArg::File(path) => check_kubeconfig(path, &mut problems),
        KubeconfigArg::Url(url) => {
            let fetched = fetch_kubeconfig(url, &args.remote)?;
            fetched
                .map_err(|problem| problems.extend(problem))
                .ok()
                .map(|k| report_kubeconfig(url, k))
        }
    };
    let gateway = check_gateway_config(&args.config, &mut problems);
    if let (true, Some(k), Some(g)) = (args.clusters, &kubeconfig, &gateway) {
        let report = crate::cli::runtime()?.block_on(preflight::run(&k.clusters, g));
        print!("\n{}", report.render());
        let missing = report.problems().count();
        if missing > 0 {
            problems.push(format!("{missing} cluster check(s) failed"));
        }
    }
    Ok(problems)
}

/// Every error of a rejected input, one problem each.
fn each(errors: InputErrors) -> impl Iterator<Item = String> {
    errors.0.into_iter().map(|e| e.to_string())
}

fn check_kubeconfig(path: &Path, problems: &mut Vec<String>) -> Option<LoadedKubeconfig> {
    let k = kubeconfig::load(path)
        .map_err(|e| problems.extend(each(e)))
        .ok()?;
    Some(report_kubeconfig(&path.display().to_string(), k))
}

/// One fetch of `url` with `serve`'s options (no polling), validated like
/// a polled body; the problems when that fails: the settings refused, the
/// fetch failed (its status or TLS error), or each problem of the body.
fn fetch_kubeconfig(
    url: &str,
    fetch: &KubeconfigFetchArgs,
) -> anyhow::Result<Result<LoadedKubeconfig, Vec<String>>> {
    let remote = match fetch.remote(url, remote_kubeconfig::DEFAULT_INTERVAL) {
        Ok(remote) => remote,
        Err(refused) => return Ok(Err(vec![format!("{refused:#}")])),
    };
    let loaded = crate::cli::runtime()?.block_on(remote.load_once());
    Ok(loaded.map_err(|error| match error {
        RemoteError::Invalid { errors, .. } => each(errors).collect(),
        other => vec![format!(
            "--kubeconfig: cannot fetch: {}",
            error_chain(&other)
        )],
    }))
}

/// Print the warnings and contexts of a kubeconfig that loaded.
fn report_kubeconfig(source: &str, k: LoadedKubeconfig) -> LoadedKubeconfig {
    for w in &k.warnings {
        println!("warning: {w}");
    }
    let names: Vec<&str> = k.clusters.iter().map(|c| c.context.as_str()).collect();
    println!(
        "kubeconfig {source}: {} context(s): {}",
        names.len(),
        names.join(", ")
    );
    k
}

/// The gateway config, then the policy and revocation files it names.
fn check_gateway_config(path: &Path, problems: &mut Vec<String>) -> Option<GatewayConfig> {
    let g = gateway_config::load(path)
        .map_err(|e| problems.extend(each(e)))
        .ok()?;
    println!(
        "gateway config {}: listener {}:{}, {} issuer(s){}",
        path.display(),
        g.listener.address,
        g.listener.port,
        g.issuers.len(),
        if g.listener.client_ca_pem.is_some() {
            ", client certificates required"
        } else {
            ""
        }
    );
    match &g.policy_file {
        Some(p) => match policy::load(p) {
            Ok(pol) => println!(
                "policy {}: {} role(s), {} binding(s)",
                p.display(),
                pol.roles.len(),
                pol.bindings.len()
            ),
            Err(e) => problems.extend(each(e)),
        },
        None => println!("policy: none (each cluster's own RBAC decides)"),
    }
    match &g.revocation {
        Some(RevocationStoreConfig::File(p)) => match revocations::load(p) {
            Ok(list) => println!(
                "revocations {}: {} token(s) revoked",
                p.display(),
                list.len()
            ),
            Err(e) => problems.extend(each(e)),
        },
        Some(RevocationStoreConfig::Kubernetes(k)) => println!(
            "revocations in configmap {}/{} (store: kubernetes, through {}): read by the control planes, not checked here",
            k.namespace.as_deref().unwrap_or("<own namespace>"),
            k.config_map,
            k.kubeconfig
                .as_ref()
                .map_or("the in-cluster configuration".to_string(), |p| p
                    .display()
                    .to_string())
        ),
        None => println!("revocations: none (no token is revoked; kubeplex revoke refuses)"),
    }
    Some(g)
}
