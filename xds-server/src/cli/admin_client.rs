//! `kubeplex revoke` and `kubeplex status`: clients of the admin API.

use std::net::SocketAddr;

use kubeplex_proto::admin::v1::{RevokeRequest, admin_client::AdminClient};

use crate::{DEFAULT_ADMIN_ADDR, parse_addr};

#[derive(clap::Args, Debug)]
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
    #[arg(long, default_value = DEFAULT_ADMIN_ADDR, value_parser = parse_addr)]
    pub admin_addr: SocketAddr,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[arg(long, default_value = DEFAULT_ADMIN_ADDR, value_parser = parse_addr)]
    pub admin_addr: SocketAddr,
}

pub async fn revoke(args: RevokeArgs) -> Result<(), String> {
    let mut client = AdminClient::connect(format!("http://{}", args.admin_addr))
        .await
        .map_err(|e| format!("cannot reach the control plane at {}: {e}", args.admin_addr))?;
    let response = client
        .revoke(RevokeRequest {
            jti: args.jti.clone(),
            reason: args.reason.unwrap_or_default(),
            expires_at: args.expires_at.unwrap_or(0),
        })
        .await
        .map_err(|s| s.message().to_string())?
        .into_inner();
    if response.added {
        println!("revoked {} (configuration {})", args.jti, response.version);
    } else {
        println!("{} was already revoked", args.jti);
    }
    Ok(())
}

pub async fn status(args: StatusArgs) -> Result<(), String> {
    let (code, body) =
        kubeplex::envoy::http_get(&format!("http://{}/status", args.admin_addr)).await?;
    if code != 200 {
        return Err(format!("status API answered {code}: {body}"));
    }
    println!("{body}");
    Ok(())
}
