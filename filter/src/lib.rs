//! kubeplex's proxy-wasm HTTP filter: the module Envoy loads. Only glue
//! lives here; every decision is `kubeplex-filter-core`'s (tested
//! natively). The root context ([`root_context`]) holds the config and the
//! token cache and, when a new config arrives, ends the open streams it no
//! longer authorizes; the HTTP context ([`http_context`]) reads the headers
//! once, calls `decide`, applies the result and registers allowed streams
//! until they end. What must call the host beside them: the audit property
//! and counters ([`telemetry`]) and Envoy's signature check
//! ([`envoy_verifier`]).
#![forbid(unsafe_code)]

mod envoy_verifier;
mod http_context;
mod root_context;
mod telemetry;

use std::cell::{Cell, RefCell};
use std::time::UNIX_EPOCH;

use kubeplex_filter_core::stream_registry::StreamRegistry;
use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|id| Box::new(root_context::Root::new(id)));
}}

thread_local! {
    // Per VM (one per worker), shared by the root contexts of successive
    // configs: streams opened under an old config are ended by a new one.
    static STREAMS: RefCell<StreamRegistry> = RefCell::new(StreamRegistry::default());
    // Unix seconds as of the last tick (0: none yet). Requests read it
    // instead of asking the host every time; at most a tick stale, which
    // only matters against `exp`, already checked with seconds of skew.
    static CLOCK: Cell<i64> = const { Cell::new(0) };
}

fn unix_seconds(t: std::time::SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn log(level: LogLevel, message: &str) {
    let _ = proxy_wasm::hostcalls::log(level, message);
}
