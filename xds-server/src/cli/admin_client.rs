//! `kubeplex revoke` and `kubeplex status --admin-addr`: clients of the admin API.

use std::net::SocketAddr;
use std::path::PathBuf;

use kubeplex_proto::admin::v1::{RevokeRequest, admin_client::AdminClient};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::{DEFAULT_ADMIN_ADDR, existing_file, parse_addr};

#[cfg(test)]
mod tests;

/// How to authenticate to the admin API (`revoke`, `status`, `audit`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AdminAuthArgs {
    /// A file holding the admin API's bearer token, when the control plane asks for one
    /// (serve --admin-token-file); never printed.
    #[arg(long, env = "KUBEPLEX_ADMIN_TOKEN_FILE", value_parser = existing_file)]
    pub admin_token_file: Option<PathBuf>,
}

impl AdminAuthArgs {
    /// `Bearer <token>` from the file, marked sensitive; None without a file.
    pub fn authorization(&self) -> Result<Option<http::HeaderValue>, AdminClientError> {
        let Some(path) = &self.admin_token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|source| AdminClientError::TokenFile {
            path: path.clone(),
            source,
        })?;
        let mut value = http::HeaderValue::try_from(format!("Bearer {}", text.trim()))
            .map_err(|_| AdminClientError::BadToken(path.clone()))?;
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

/// Adds the admin token (if any) to every gRPC call.
#[derive(Clone)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// An admin API client that sends the token.
pub type Admin = AdminClient<InterceptedService<Channel, BearerToken>>;

/// Connect to the admin API at `addr`, authenticating with `auth`.
pub async fn connect(addr: SocketAddr, auth: &AdminAuthArgs) -> Result<Admin, AdminClientError> {
    let token = match auth.authorization()? {
        Some(value) => {
            let path = auth.admin_token_file.clone().unwrap_or_default();
            let mut value = MetadataValue::try_from(value.as_bytes())
                .map_err(|_| AdminClientError::BadToken(path))?;
            value.set_sensitive(true);
            Some(value)
        }
        None => None,
    };
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|source| AdminClientError::Connect { addr, source })?
        .connect()
        .await
        .map_err(|source| AdminClientError::Connect { addr, source })?;
    Ok(AdminClient::with_interceptor(channel, BearerToken(token)))
}

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
    #[command(flatten)]
    pub auth: AdminAuthArgs,
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
    pub auth: AdminAuthArgs,
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
    /// The admin token file cannot be read.
    #[error("cannot read the admin token file {}", .path.display())]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The admin token is not something an HTTP header can carry.
    #[error("{}: the admin token must be printable ASCII on one line", .0.display())]
    BadToken(PathBuf),
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
    let mut client = connect(args.admin_addr, &args.auth).await?;
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
pub async fn status(
    admin_addr: SocketAddr,
    all_contexts: bool,
    auth: &AdminAuthArgs,
) -> Result<(), AdminClientError> {
    let view = if all_contexts { "all" } else { "summary" };
    let url = format!("http://{admin_addr}/status?contexts={view}");
    let mut headers = http::HeaderMap::new();
    if let Some(authorization) = auth.authorization()? {
        headers.insert(http::header::AUTHORIZATION, authorization);
    }
    let (code, body) = kubeplex::envoy::http_request_with("GET", &url, headers).await?;
    if code != 200 {
        return Err(AdminClientError::Status { code, body });
    }
    println!("{body}");
    Ok(())
}
