//! `kubeplex revoke` and `kubeplex status --admin-addr`: clients of the admin API.

use std::net::SocketAddr;

use kubeplex_proto::admin::v1::{RevokeRequest, admin_client::AdminClient};

use crate::{DEFAULT_ADMIN_ADDR, parse_addr};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  # Refuse a token from now on (its ID is the jti claim)
  kubeplex revoke --jti 5f0c2d --reason \"laptop stolen\"")]
pub struct RevokeArgs {
    /// The token ID (`jti` claim) to revoke.
    #[arg(long)]
    pub jti: String,
    /// Why (kept in the revocation file and shown to the token's holder).
    #[arg(long)]
    pub reason: Option<String>,
    /// The token's own expiry (unix seconds): the entry is pruned after it.
    #[arg(long)]
    pub expires_at: Option<i64>,
    /// The control plane's admin API.
    #[arg(long, default_value = DEFAULT_ADMIN_ADDR, value_parser = parse_addr)]
    pub admin_addr: SocketAddr,
}

/// `kubeplex status`: yours (as a user of a gateway), or with
/// `--admin-addr` / `--control-plane` the control plane's.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  # You: user, groups, token expiry, current cluster, what the gateway policy allows there
  kubeplex status

  # The control plane (an administrator on its host): inputs, keys, Envoys,
  # contexts counted by state and the ones with a problem
  kubeplex status --admin-addr 127.0.0.1:18001

  # Every context with its health and cluster checks (large with many contexts)
  kubeplex status --control-plane --all-contexts")]
pub struct StatusArgs {
    /// Show the control plane's status from its admin API at this address.
    #[arg(long, value_parser = parse_addr, group = "control_plane_status")]
    pub admin_addr: Option<SocketAddr>,
    /// Show the control plane's status from the default admin address (127.0.0.1:18001).
    #[arg(long, group = "control_plane_status")]
    pub control_plane: bool,
    /// With the control plane's status: list every context with its health
    /// and cluster checks (`/status`) instead of counts by state and the
    /// contexts with a problem (`/status?contexts=summary`).
    #[arg(long, requires = "control_plane_status")]
    pub all_contexts: bool,
    #[command(flatten)]
    pub session: super::session::SessionArgs,
}

impl StatusArgs {
    /// The admin address when the control plane's status is asked for.
    pub fn control_plane_addr(&self) -> Option<SocketAddr> {
        match (self.admin_addr, self.control_plane) {
            (Some(addr), _) => Some(addr),
            (None, true) => DEFAULT_ADMIN_ADDR.parse().ok(),
            (None, false) => None,
        }
    }
}

/// Why a request to the admin API failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminClientError {
    /// No connection to the admin port.
    #[error("cannot reach the control plane at {addr}")]
    Connect {
        /// The admin address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// The control plane refused the request; its message says why.
    #[error("{}", .0.message())]
    Refused(tonic::Status),
    /// `/status` could not be read.
    #[error(transparent)]
    Http(#[from] kubeplex::envoy::PlainHttpError),
    /// `/status` answered with an error.
    #[error("status API answered {code}: {body}")]
    Status {
        /// The HTTP status.
        code: u16,
        /// What it said.
        body: String,
    },
}

pub async fn revoke(args: RevokeArgs) -> Result<(), AdminClientError> {
    let mut client = AdminClient::connect(format!("http://{}", args.admin_addr))
        .await
        .map_err(|source| AdminClientError::Connect {
            addr: args.admin_addr,
            source,
        })?;
    let response = client
        .revoke(RevokeRequest {
            jti: args.jti.clone(),
            reason: args.reason.unwrap_or_default(),
            expires_at: args.expires_at.unwrap_or(0),
        })
        .await
        .map_err(AdminClientError::Refused)?
        .into_inner();
    if response.added {
        println!("revoked {} (configuration {})", args.jti, response.version);
    } else {
        println!("{} was already revoked", args.jti);
    }
    Ok(())
}

/// The control plane's `/status`: the summary, or with `all_contexts`
/// every context.
pub async fn status(admin_addr: SocketAddr, all_contexts: bool) -> Result<(), AdminClientError> {
    let view = if all_contexts { "all" } else { "summary" };
    let url = format!("http://{admin_addr}/status?contexts={view}");
    let (code, body) = kubeplex::envoy::http_get(&url).await?;
    if code != 200 {
        return Err(AdminClientError::Status { code, body });
    }
    println!("{body}");
    Ok(())
}
