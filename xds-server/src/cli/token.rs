//! `kubeplex token mint`, `kubeplex token agent`.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context as _;

use kubeplex::token_mint::{MintRequest, load_signing_key, mint, parse_duration};

use crate::existing_file;

#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Print a signed JWT (RS256, ES256, ES384 or EdDSA, chosen by the key).
    #[command(after_help = "Examples:
  # A token for alice in group dev, valid for 15 minutes
  kubeplex token mint --key issuer-key.pem --issuer https://issuer.example.com --sub alice --group dev --ttl 15m")]
    Mint(Box<MintArgs>),
    /// A new enrollment token for an agent cluster, and the SHA-256 the
    /// gateway config's `agents.clusters[].tokenSHA256` holds.
    Agent {
        /// Write the token to this file (mode 0600) instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
pub struct MintArgs {
    /// PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC) of a trusted issuer.
    #[arg(long, value_parser = existing_file)]
    pub key: PathBuf,
    /// `iss`: the issuer URL, exactly as in the gateway config.
    #[arg(long)]
    pub issuer: String,
    /// `sub`: the user the gateway impersonates.
    #[arg(long)]
    pub sub: String,
    /// A group (`groups` claim); repeat for several.
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// `ctx`: bind the token to one cluster (multikube style).
    #[arg(long)]
    pub ctx: Option<String>,
    /// `aud`; repeat for several.
    #[arg(long = "aud", default_value = "kubeplex")]
    pub audiences: Vec<String>,
    /// Lifetime: 90s, 15m, 1h, 7d, 1h30m.
    #[arg(long, default_value = "1h")]
    pub ttl: String,
    /// `jti` (default: random), the ID `kubeplex revoke` takes.
    #[arg(long)]
    pub jti: Option<String>,
    /// Header `kid`.
    #[arg(long)]
    pub kid: Option<String>,
    /// Extra claims as a JSON object, merged last (may override exp, nbf, iat).
    #[arg(long)]
    pub claims: Option<String>,
}

pub fn run(cmd: TokenCommand) -> anyhow::Result<()> {
    let args = match cmd {
        TokenCommand::Mint(args) => *args,
        TokenCommand::Agent { out } => return super::agent::new_token(out),
    };
    let key_file = || args.key.display().to_string();
    let pem = std::fs::read_to_string(&args.key).with_context(key_file)?;
    let key = load_signing_key(&pem).with_context(key_file)?;
    let extra_claims = match &args.claims {
        Some(json) => match serde_json::from_str::<serde_json::Value>(json).context("--claims")? {
            serde_json::Value::Object(map) => map,
            _ => anyhow::bail!("--claims must be a JSON object"),
        },
        None => Default::default(),
    };
    let token = mint(
        &key,
        &MintRequest {
            issuer: args.issuer,
            subject: args.sub,
            groups: args.groups,
            audience: args.audiences,
            context: args.ctx,
            ttl: parse_duration(&args.ttl).context("--ttl")?,
            jti: args.jti,
            key_id: args.kid,
            extra_claims,
            now: SystemTime::now(),
        },
    )?;
    println!("{token}");
    Ok(())
}
