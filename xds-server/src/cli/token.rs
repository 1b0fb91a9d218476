//! `kubeplex token mint`.

#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Print a signed JWT (RS256, ES256, ES384 or EdDSA, chosen by the key).
    Mint(MintArgs),
}

#[derive(clap::Args, Debug)]
pub struct MintArgs {}

pub fn run(_cmd: TokenCommand) -> Result<(), String> {
    Err("not yet".into())
}
