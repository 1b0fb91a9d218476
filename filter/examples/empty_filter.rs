//! A proxy-wasm HTTP filter that does nothing: the floor of what any wasm
//! filter costs in Envoy, for the CPU-per-request comparison
//! (`test_data/envoy-bench.yaml`).
//!
//! `cargo build -p kubeplex-filter --target wasm32-wasip1 --profile wasm --example empty_filter`
#![forbid(unsafe_code)]

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| Box::new(EmptyRoot));
}}

struct EmptyRoot;

impl Context for EmptyRoot {}

impl RootContext for EmptyRoot {
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Empty))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Empty;

impl Context for Empty {}

impl HttpContext for Empty {}
