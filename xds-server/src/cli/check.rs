//! `kubeplex check`: validate the inputs the way `serve` would load them.

use std::path::PathBuf;

use kubeplex::inputs::{gateway_config, kubeconfig, policy, revocations};
use kubeplex::preflight;

use crate::existing_file;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    #[arg(long, value_parser = existing_file)]
    pub kubeconfig: PathBuf,
    #[arg(long, value_parser = existing_file)]
    pub config: PathBuf,
    /// Also connect to every cluster as the gateway and ask it (access
    /// reviews) whether the gateway may do what this config needs there;
    /// print a table and the RBAC to add; exit 1 when something is missing.
    #[arg(long)]
    pub clusters: bool,
}

pub fn run(args: CheckArgs) -> Result<(), String> {
    let mut problems = Vec::new();
    let mut loaded = (None, None);
    match kubeconfig::load(&args.kubeconfig) {
        Ok(k) => {
            for w in &k.warnings {
                println!("warning: {w}");
            }
            let names: Vec<&str> = k.clusters.iter().map(|c| c.context.as_str()).collect();
            println!(
                "kubeconfig {}: {} context(s): {}",
                args.kubeconfig.display(),
                names.len(),
                names.join(", ")
            );
            loaded.0 = Some(k);
        }
        Err(e) => problems.extend(e.0.iter().map(|e| e.to_string())),
    }
    match gateway_config::load(&args.config) {
        Ok(g) => {
            println!(
                "gateway config {}: listener {}:{}, {} issuer(s){}",
                args.config.display(),
                g.listener.address,
                g.listener.port,
                g.issuers.len(),
                if g.listener.client_ca_pem.is_some() {
                    ", client certificates required"
                } else {
                    ""
                }
            );
            if let Some(p) = &g.policy_file {
                match policy::load(p) {
                    Ok(pol) => println!(
                        "policy {}: {} role(s), {} binding(s)",
                        p.display(),
                        pol.roles.len(),
                        pol.bindings.len()
                    ),
                    Err(e) => problems.extend(e.0.iter().map(|e| e.to_string())),
                }
            } else {
                println!("policy: none (each cluster's own RBAC decides)");
            }
            if let Some(p) = &g.revocation_file {
                match revocations::load(p) {
                    Ok(list) => println!(
                        "revocations {}: {} token(s) revoked",
                        p.display(),
                        list.len()
                    ),
                    Err(e) => problems.extend(e.0.iter().map(|e| e.to_string())),
                }
            }
            loaded.1 = Some(g);
        }
        Err(e) => problems.extend(e.0.iter().map(|e| e.to_string())),
    }
    if let (true, (Some(k), Some(g))) = (args.clusters, &loaded) {
        let report = crate::cli::runtime()?.block_on(preflight::run(&k.clusters, g));
        print!("\n{}", report.render());
        let missing = report.problems().count();
        if missing > 0 {
            problems.push(format!("{missing} cluster check(s) failed"));
        }
    }
    if problems.is_empty() {
        println!("ok");
        Ok(())
    } else {
        for p in &problems {
            eprintln!("{p}");
        }
        Err(format!("{} problem(s) found", problems.len()))
    }
}
