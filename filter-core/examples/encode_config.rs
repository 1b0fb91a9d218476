//! Print the test `FilterConfig` (the one the native tests use: issuer
//! `https://issuer.example` with RSA, P-256, P-384 and Ed25519 keys from
//! `test_data/keys`, contexts dev-a, dev-b, prod) as base64, ready for a
//! `google.protobuf.BytesValue` plugin configuration:
//!
//! `cargo run -p kubeplex-filter-core --example encode_config`

use base64::Engine;
use prost::Message;

#[path = "../test_support/mint.rs"]
mod mint;

fn main() {
    let config = mint::config();
    println!(
        "{}",
        base64::engine::general_purpose::STANDARD.encode(config.encode_to_vec())
    );
}
