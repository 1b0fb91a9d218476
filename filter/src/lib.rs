//! kubeplex's proxy-wasm HTTP filter. Every decision is a plain Rust
//! function in the modules below (tested natively); this file is only the
//! proxy-wasm glue: the root context holds the config and the token cache,
//! the HTTP context reads the headers once, calls [`decision::decide`],
//! and applies the result.
#![forbid(unsafe_code)]

pub use kubeplex_proto::filter::v1 as config_pb;

pub mod audit;
pub mod config;
pub mod decision;
pub mod identity;
pub mod policy;
pub mod request_info;
pub mod route;
pub mod signature;
pub mod status;
pub mod telemetry;
pub mod time;
pub mod token;
pub mod token_cache;

// Unit tests share the integration tests' minting helpers, which name the
// crate by its external name.
#[cfg(test)]
extern crate self as kubeplex_filter;
#[cfg(test)]
#[path = "../test_support/mint.rs"]
mod mint;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::UNIX_EPOCH;

use prost::Message;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

use crate::config::Config;
use crate::decision::{Outcome, RequestView};
use crate::signature::{Hash, SignatureVerifier, VerifySignatureArguments, VerifySignatureResult};
use crate::token_cache::TokenCache;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| Box::new(Root::default()));
}}

/// One per pushed config (Envoy creates a new root context per ECDS push).
#[derive(Default)]
struct Root {
    config: Option<Rc<Config>>,
    cache: Rc<RefCell<TokenCache>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        match Config::decode(&bytes) {
            Ok(config) => {
                log(
                    LogLevel::Info,
                    &format!("kubeplex: config {} loaded ({config:?})", config.version),
                );
                self.cache = Rc::new(RefCell::new(TokenCache::new(config.token_cache_size)));
                self.config = Some(Rc::new(config));
                if let Err(e) = telemetry::declare_audit_property() {
                    log(LogLevel::Warn, &format!("kubeplex: {e}"));
                }
                true
            }
            Err(e) => {
                log(LogLevel::Error, &format!("kubeplex: config rejected: {e}"));
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Request {
            config: self.config.clone(),
            cache: Rc::clone(&self.cache),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Request {
    config: Option<Rc<Config>>,
    cache: Rc<RefCell<TokenCache>>,
}

impl Context for Request {}

impl HttpContext for Request {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(config) = self.config.clone() else {
            // No accepted config yet: fail closed.
            let status = status::Status::new(
                status::Reason::ServiceUnavailable,
                "the kubeplex gateway has no configuration yet",
            );
            self.send_http_response(
                status.code(),
                vec![("content-type", "application/json")],
                Some(status.to_json().as_bytes()),
            );
            return Action::Pause;
        };
        let headers = self.get_http_request_headers();
        let now = self
            .get_current_time()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let view = RequestView::from_headers(&headers);
        let decision = decision::decide(
            &config,
            &mut self.cache.borrow_mut(),
            &EnvoyVerifier,
            now,
            &view,
        );
        telemetry::record(&decision.audit, &config.version);

        match decision.outcome {
            Outcome::Allow(forward) => {
                for name in forward.remove {
                    self.set_http_request_header(name, None);
                }
                for (name, value) in &forward.set {
                    self.set_http_request_header(name, Some(value));
                }
                for (name, value) in &forward.add {
                    self.add_http_request_header(name, value);
                }
                Action::Continue
            }
            Outcome::Deny(status) => {
                let body = status.to_json();
                let warning = status.warning();
                let mut headers = vec![
                    ("content-type", "application/json"),
                    ("warning", warning.as_str()),
                ];
                if status.code() == 401 {
                    headers.push(("www-authenticate", "Bearer realm=\"kubeplex\""));
                }
                self.send_http_response(status.code(), headers, Some(body.as_bytes()));
                Action::Pause
            }
        }
    }
}

/// RS*/ES* signatures checked by Envoy (BoringSSL) through the
/// `verify_signature` foreign function.
struct EnvoyVerifier;

impl SignatureVerifier for EnvoyVerifier {
    fn verify(
        &self,
        hash: Hash,
        spki_der: &[u8],
        signature: &[u8],
        text: &[u8],
    ) -> Result<(), String> {
        let args = VerifySignatureArguments {
            hash_function: hash.envoy_name().to_string(),
            public_key: spki_der.to_vec(),
            signature: signature.to_vec(),
            text: text.to_vec(),
        }
        .encode_to_vec();
        let reply = proxy_wasm::hostcalls::call_foreign_function("verify_signature", Some(&args))
            .map_err(|s| format!("verify_signature failed: {s:?}"))?
            .unwrap_or_default();
        let result = VerifySignatureResult::decode(reply.as_slice())
            .map_err(|e| format!("verify_signature returned garbage: {e}"))?;
        if result.result {
            Ok(())
        } else {
            Err(result.error)
        }
    }
}

fn log(level: LogLevel, message: &str) {
    let _ = proxy_wasm::hostcalls::log(level, message);
}
