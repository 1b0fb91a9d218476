//! `kubeplex`: the control plane and its command line.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod cli;

/// kubeplex signs you in to the Kubernetes clusters behind a kubeplex gateway
/// and runs kubectl on them; it also runs that gateway (Envoy and a wasm
/// filter, configured by this control plane).
#[derive(Parser, Debug)]
#[command(name = "kubeplex", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the control plane (ADS for Envoy, admin API) and hot-reload the inputs.
    Serve(cli::serve::ServeArgs),
    /// Run the control plane and a supervised local Envoy: the way to run without Docker.
    /// Without --kubeconfig, in front of two built-in demo clusters.
    Up(cli::up::UpArgs),
    /// Only the demo clusters and their files (for docker-compose).
    #[cfg(feature = "demo")]
    Demo(cli::demo::DemoArgs),
    /// Validate a kubeconfig and a gateway config; print every problem.
    Check(cli::check::CheckArgs),
    /// Tokens for the gateway.
    #[command(subcommand)]
    Token(cli::token::TokenCommand),
    /// Print a kubeconfig for the gateway: one context per cluster, path-prefix server URLs.
    Kubeconfig(cli::kubeconfig::KubeconfigArgs),
    /// Revoke a token ID through the control plane's admin API.
    Revoke(cli::admin_client::RevokeArgs),
    /// Show who you are at the gateway, your cluster and what you may do there.
    /// With --admin-addr, the control plane's status instead.
    Status(cli::admin_client::StatusArgs),
    /// Sign in to a gateway with its identity provider and add its clusters to your kubeconfig.
    Login(cli::login::LoginArgs),
    /// Forget your tokens for a gateway (and revoke the refresh token where the provider can).
    Logout(cli::login::LogoutArgs),
    /// List the clusters you may reach, or pick one.
    #[command(subcommand)]
    Clusters(cli::clusters::ClustersCommand),
    /// Run kubectl on the current cluster (all arguments go to kubectl).
    #[command(
        visible_alias = "k",
        disable_help_flag = true,
        after_help = "Examples:\n  # kubectl on the current cluster, as you\n  kubeplex kubectl get pods\n  kubeplex k apply -f app.yaml"
    )]
    Kubectl {
        /// kubectl's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Print a token for kubectl (an exec credential plugin; kubeconfigs written by login run it).
    #[command(hide = true)]
    Credential(cli::login::CredentialArgs),
    /// Add the in-pod adapter (an Envoy sidecar that sends the pod's Kubernetes API
    /// calls to the gateway as its ServiceAccount) to manifests: stdin → stdout.
    Inject(cli::inject::InjectArgs),
    /// The injected init container: the sidecar's per-pod certificate and the app's
    /// substitute ServiceAccount files.
    SidecarInit(cli::inject::SidecarInitArgs),
    /// The mutating admission webhook that injects the in-pod adapter into labelled pods.
    Webhook(cli::webhook::WebhookArgs),
    /// Run an agent next to a cluster's apiserver: a supervised Envoy that
    /// dials out to the gateway (reverse tunnels), so the gateway needs no
    /// way in to the cluster.
    Agent(cli::agent::AgentArgs),
    /// Who ran what, where, when: the audit store, through the admin API.
    Audit(cli::audit::AuditArgs),
}

/// Defaults shared by several commands.
pub const DEFAULT_XDS_ADDR: &str = "127.0.0.1:18000";
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:18001";

fn main() -> ExitCode {
    kubeplex_os::heap::tune_allocator();
    let matches = cli::help::kubectl_style(Cli::command()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Serve(args) => block_on(cli::serve::run(args)),
        Command::Up(args) => block_on(cli::up::run(args)),
        Command::Check(args) => cli::check::run(args),
        #[cfg(feature = "demo")]
        Command::Demo(args) => block_on(cli::demo::run(args)),
        Command::Token(cmd) => cli::token::run(cmd),
        Command::Kubeconfig(args) => cli::kubeconfig::run(args),
        Command::Revoke(args) => block_on(cli::admin_client::revoke(args)),
        Command::Status(args) => match args.control_plane_addr() {
            Some(addr) => block_on(cli::admin_client::status(
                addr,
                args.all_contexts,
                &args.auth,
            )),
            None => block_on(cli::clusters::user_status(args.session)),
        },
        Command::Login(args) => block_on(cli::login::login(args)),
        Command::Logout(args) => block_on(cli::login::logout(args)),
        Command::Clusters(cmd) => block_on(cli::clusters::run(cmd)),
        Command::Kubectl { args } => return exit_code(cli::clusters::kubectl(args)),
        Command::Credential(args) => block_on(cli::login::credential(args)),
        Command::Inject(args) => cli::inject::run(args),
        Command::SidecarInit(args) => cli::inject::sidecar_init(args),
        Command::Webhook(args) => block_on(cli::webhook::run(args)),
        Command::Agent(args) => block_on(cli::agent::run(args)),
        Command::Audit(args) => block_on(cli::audit::run(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}`: the error and each of its causes, `: `-joined.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A command that sets its own exit code (kubectl's).
fn exit_code(result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        ExitCode::FAILURE
    })
}

/// Run a command on a fresh runtime.
fn block_on<E>(command: impl Future<Output = Result<(), E>>) -> anyhow::Result<()>
where
    anyhow::Error: From<E>,
{
    Ok(cli::runtime()?.block_on(command)?)
}

/// A command-line argument that does not parse.
#[derive(Debug, thiserror::Error)]
pub enum ArgError {
    /// Not a socket address.
    #[error("{0:?} is not an address like 127.0.0.1:18000")]
    NotAnAddress(String),
    /// No file at this path.
    #[error("{0}: no such file")]
    NoSuchFile(String),
}

/// `SocketAddr` argument parser with a readable error.
pub fn parse_addr(s: &str) -> Result<SocketAddr, ArgError> {
    s.parse().map_err(|_| ArgError::NotAnAddress(s.to_string()))
}

/// A path that must exist.
pub fn existing_file(s: &str) -> Result<PathBuf, ArgError> {
    let p = PathBuf::from(s);
    if p.is_file() {
        Ok(p)
    } else {
        Err(ArgError::NoSuchFile(s.to_string()))
    }
}

#[cfg(test)]
#[path = "main/tests.rs"]
mod tests;
