//! One cached-token request's work in the filter, natively and in a loop:
//! headers → decision → audit fragment. For instruction profiles of the
//! hot path (which functions allocate, escape, parse):
//!
//! ```text
//! cargo build --release -p kubeplex-filter-core --example profile_decision
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/decide.cg target/release/examples/profile_decision 20000
//! callgrind_annotate --inclusive=yes /tmp/decide.cg | grep kubeplex_filter_core
//! ```
//!
//! With a second argument `first-sight`, every request sees an empty token
//! cache and the signature check is stubbed (Envoy's native check is not
//! the filter's cost): JWS parsing, claim checks and identity mapping.
//!
//! The wasm build runs the same code ~3 times slower (V8, wasm malloc).
use kubeplex_filter_core::config::Config;
use kubeplex_filter_core::decision::{self, RequestView};
use kubeplex_filter_core::signature::{Hash, SignatureVerifier, VerifyError};
use kubeplex_filter_core::token_cache::TokenCache;
#[path = "../test_support/mint.rs"]
mod mint;
fn main() {
    let config = Config::compile(&mint::config()).unwrap();
    let mut cache = TokenCache::new(16);
    let mut claims = mint::claims();
    claims["uid"] = serde_json::json!("uid-alice");
    let token = format!(
        "Bearer {}",
        mint::mint(mint::Signer::Rsa, Some("rsa"), &claims)
    );
    let headers: Vec<(String, Vec<u8>)> = vec![
        (":authority".into(), b"127.0.0.1:1234".to_vec()),
        (
            ":path".into(),
            b"/clusters/dev-a/api/v1/namespaces/default/pods".to_vec(),
        ),
        (":method".into(), b"GET".to_vec()),
        (":scheme".into(), b"http".to_vec()),
        ("host".into(), b"gw".to_vec()),
        ("authorization".into(), token.into_bytes()),
        ("x-forwarded-proto".into(), b"http".to_vec()),
        (
            "x-request-id".into(),
            b"3674d052-261d-408c-b112-0cdaf8c3e691".to_vec(),
        ),
    ];
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20000);
    let first_sight = std::env::args().nth(2).as_deref() == Some("first-sight");
    let mut allowed = 0;
    for _ in 0..n {
        let view = RequestView::from_headers(&headers);
        if first_sight {
            cache = TokenCache::new(16);
        }
        let verifier: &dyn SignatureVerifier = if first_sight {
            &HostSaysYes
        } else {
            &mint::RustCryptoVerifier
        };
        let d = decision::decide(&config, &mut cache, verifier, mint::NOW, &view);
        let f = d.audit.to_fragment(&config.version);
        allowed += f.len();
        std::hint::black_box(&d);
    }
    println!("{allowed}");
}

/// Stands in for Envoy's check in `first-sight` mode.
struct HostSaysYes;

impl SignatureVerifier for HostSaysYes {
    fn verify(&self, _: Hash, _: &[u8], _: &[u8], _: &[u8]) -> Result<(), VerifyError> {
        Ok(())
    }
}
