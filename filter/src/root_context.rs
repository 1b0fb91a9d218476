//! The root context: one per pushed config (Envoy creates a new one per
//! ECDS push, on each worker). It decodes the config, keeps the token
//! cache, ticks the VM's clock, and ends the open streams a new config no
//! longer authorizes.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use kubeplex_filter_core::audit;
use kubeplex_filter_core::config::Config;
use kubeplex_filter_core::token_cache::TokenCache;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};

use crate::http_context::Request;
use crate::{CLOCK, STREAMS, log, telemetry, unix_seconds};

/// How often a root context refreshes [`CLOCK`].
const CLOCK_TICK: Duration = Duration::from_secs(1);

/// One per pushed config.
pub struct Root {
    id: u32,
    config: Option<Rc<Config>>,
    cache: Rc<RefCell<TokenCache>>,
}

impl Root {
    pub fn new(id: u32) -> Self {
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
        Some(Box::new(Request::new(
            context_id,
            self.id,
            self.config.clone(),
            Rc::clone(&self.cache),
        )))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
