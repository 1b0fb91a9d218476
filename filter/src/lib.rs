//! kubeplex's proxy-wasm HTTP filter. Every decision is a plain Rust
//! function in the modules below (tested natively); this file is only the
//! proxy-wasm glue: the root context holds the config and the token cache
//! and, when a new config arrives, ends the open streams it no longer
//! authorizes; the HTTP context reads the headers once, calls
//! [`decision::decide`], applies the result, and registers allowed streams
//! until they end.
#![forbid(unsafe_code)]

pub use kubeplex_proto::filter::v1 as config_pb;

pub mod audit;
pub mod config;
pub mod decision;
pub mod identity;
pub mod key_refresh;
pub mod path_encoding;
pub mod policy;
pub mod query_credentials;
pub mod request_info;
pub mod route;
pub mod signature;
pub mod status;
pub mod stream_registry;
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

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use prost::Message;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

use crate::audit::AuditRecord;
use crate::config::Config;
use crate::decision::{Decision, Outcome, RequestView};
use crate::key_refresh::{KeyRefresh, RefreshLimiter};
use crate::signature::{Hash, SignatureVerifier, VerifySignatureArguments, VerifySignatureResult};
use crate::stream_registry::{OpenStream, StreamRegistry};
use crate::token_cache::TokenCache;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|id| Box::new(Root::new(id)));
}}

thread_local! {
    // Per VM (one per worker), shared by the root contexts of successive
    // configs: streams opened under an old config are ended by a new one.
    static STREAMS: RefCell<StreamRegistry> = RefCell::new(StreamRegistry::default());
    static KEY_REFRESH: RefCell<RefreshLimiter> = RefCell::new(RefreshLimiter::default());
    // Unix seconds as of the last tick (0: none yet). Requests read it
    // instead of asking the host every time; at most a tick stale, which
    // only matters against `exp`, already checked with seconds of skew.
    static CLOCK: Cell<i64> = const { Cell::new(0) };
}

/// How often a root context refreshes [`CLOCK`].
const CLOCK_TICK: Duration = Duration::from_secs(1);

/// One per pushed config (Envoy creates a new root context per ECDS push).
struct Root {
    id: u32,
    config: Option<Rc<Config>>,
    cache: Rc<RefCell<TokenCache>>,
}

impl Root {
    fn new(id: u32) -> Self {
        Root {
            id,
            config: None,
            cache: Rc::default(),
        }
    }

    /// Reset the open streams `config` no longer authorizes.
    fn end_unauthorized_streams(&self, config: &Config) {
        let now = unix_seconds(self.get_current_time());
        // Collect first: a reset may run the stream's on_log/on_done, which
        // borrows the registry, before it returns.
        let to_end = STREAMS.with(|s| s.borrow().to_end(config, now));
        for (id, reason) in to_end {
            let Some(stream) = STREAMS.with(|s| s.borrow_mut().remove(id)) else {
                continue;
            };
            if hostcalls::set_effective_context(id).is_err() {
                continue; // already gone
            }
            // the access log prints the record when the stream closes: say why
            if let Ok(Some(mut record)) = hostcalls::get_property(vec![telemetry::AUDIT_PROPERTY]) {
                record.extend_from_slice(
                    audit::stream_ended_members(reason.as_str(), &config.version).as_bytes(),
                );
                let _ = hostcalls::set_property(vec![telemetry::AUDIT_PROPERTY], Some(&record));
            }
            let _ = hostcalls::reset_http_request();
            let token = &stream.token;
            log(
                LogLevel::Info,
                &format!(
                    "kubeplex: config {}: ended stream {id} ({} {} on cluster {:?}, user {:?}, issuer {:?}, jti {:?}): {}",
                    config.version,
                    stream.info.verb,
                    stream.info.path,
                    stream.cluster,
                    token.identity.user,
                    token.issuer,
                    token.jti.as_deref().unwrap_or_default(),
                    reason.as_str()
                ),
            );
            telemetry::count_stream_ended(reason.as_str());
        }
        let _ = hostcalls::set_effective_context(self.id);
    }
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
                CLOCK.set(unix_seconds(self.get_current_time()));
                self.set_tick_period(CLOCK_TICK);
                if let Err(e) = telemetry::declare_audit_property() {
                    log(LogLevel::Warn, &format!("kubeplex: {e}"));
                }
                self.end_unauthorized_streams(&config);
                self.config = Some(Rc::new(config));
                true
            }
            Err(e) => {
                log(LogLevel::Error, &format!("kubeplex: config rejected: {e}"));
                false
            }
        }
    }

    fn on_tick(&mut self) {
        CLOCK.set(unix_seconds(self.get_current_time()));
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Request {
            id: context_id,
            root_id: self.id,
            config: self.config.clone(),
            cache: Rc::clone(&self.cache),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Request {
    id: u32,
    root_id: u32,
    config: Option<Rc<Config>>,
    cache: Rc<RefCell<TokenCache>>,
}

impl Request {
    /// Before the first config: fail closed, and still leave a record.
    fn refuse_without_config(&self) -> Action {
        let status = status::Status::new(
            status::Reason::ServiceUnavailable,
            "the kubeplex gateway has no configuration yet",
        );
        let headers = self.get_http_request_headers_bytes();
        let view = RequestView::from_headers(&headers);
        let mut audit = AuditRecord::new(
            view.request_id.clone().unwrap_or_default(),
            view.user_agent.clone().unwrap_or_default(),
            view.method.clone(),
            view.path.clone(),
        );
        audit.reason = "no_config";
        audit.message = status.message.clone();
        telemetry::record(&audit, "");
        self.send_http_response(
            status.code(),
            vec![("content-type", "application/json")],
            Some(status.to_json().as_bytes()),
        );
        Action::Pause
    }

    /// Ask the control plane to refetch an issuer's keys (at most once per
    /// issuer per interval on this VM). The call is made on the root
    /// context: this request is refused at once, and Envoy cancels the
    /// calls a finished request context still has pending.
    fn refresh_keys(&self, refresh: &KeyRefresh) {
        let now_ms = self
            .get_current_time()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        if !KEY_REFRESH.with(|l| l.borrow_mut().allow(&refresh.issuer, now_ms)) {
            return;
        }
        let message = refresh.encode();
        let _ = hostcalls::set_effective_context(self.root_id);
        let call = hostcalls::dispatch_grpc_call(
            key_refresh::UPSTREAM,
            key_refresh::SERVICE,
            key_refresh::METHOD,
            Vec::new(),
            Some(&message),
            Duration::from_millis(key_refresh::TIMEOUT_MS),
        );
        let _ = hostcalls::set_effective_context(self.id);
        match call {
            Ok(_) => log(
                LogLevel::Info,
                &format!(
                    "kubeplex: asked the control plane to refresh the keys of issuer {:?} (unknown kid {:?})",
                    refresh.issuer, refresh.kid
                ),
            ),
            Err(e) => log(
                LogLevel::Warn,
                &format!(
                    "kubeplex: cannot ask cluster {:?} to refresh the keys of issuer {:?}: {e:?}",
                    key_refresh::UPSTREAM,
                    refresh.issuer
                ),
            ),
        }
    }

    fn forget_stream(&self) {
        STREAMS.with(|s| s.borrow_mut().remove(self.id));
    }
}

impl Context for Request {
    fn on_done(&mut self) -> bool {
        self.forget_stream();
        true
    }
}

impl HttpContext for Request {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(config) = self.config.clone() else {
            return self.refuse_without_config();
        };
        // Bytes, not the SDK's String API: it panics (and takes the VM
        // down) on a header value that is not UTF-8.
        let headers = self.get_http_request_headers_bytes();
        let now = match CLOCK.get() {
            0 => unix_seconds(self.get_current_time()),
            ticked => ticked,
        };
        let mut view = RequestView::from_headers(&headers);
        // Envoy knows the TLS server name only with a tls_inspector on the
        // listener.
        if route::wants_server_name(&config, &view.path) {
            view.server_name = self
                .get_property(vec!["connection", "requested_server_name"])
                .map(|b| Cow::Owned(String::from_utf8_lossy(&b).into_owned()));
        }
        let decision = decision::decide(
            &config,
            &mut self.cache.borrow_mut(),
            &EnvoyVerifier,
            now,
            &view,
        );
        telemetry::record(&decision.audit, &config.version);
        let Decision {
            outcome,
            audit,
            refresh_keys,
        } = decision;
        if let Some(refresh) = &refresh_keys {
            self.refresh_keys(refresh);
        }

        match outcome {
            Outcome::Allow(forward) => {
                // One host call per changed header: replacing the whole map
                // in one call (set_http_request_headers) measured ~3 k
                // instructions more per request (Envoy re-adds every header).
                for name in forward.remove {
                    self.set_http_request_header(name, None);
                }
                for (name, value) in &forward.set {
                    self.set_http_request_header(name, Some(value));
                }
                for (name, value) in &forward.add {
                    self.add_http_request_header(name, value);
                }
                if let (Some(token), Some(info)) = (audit.token, audit.info) {
                    let stream = OpenStream {
                        cluster: audit.cluster,
                        token,
                        info,
                    };
                    STREAMS.with(|s| s.borrow_mut().insert(self.id, stream));
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

    fn on_log(&mut self) {
        self.forget_stream();
    }
}

fn unix_seconds(t: std::time::SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
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
