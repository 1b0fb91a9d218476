//! kubeplex's request decisions, as plain Rust: the pushed config, the
//! bearer token (parse, verify, cache), the identity it maps to, the
//! cluster a request goes to, the apiserver's reading of the request, the
//! gateway RBAC, and the audit record. [`decision::decide`] runs them in
//! order for one request.
//!
//! No proxy-wasm here: the wasm filter (`kubeplex-filter`) reads Envoy's
//! headers, calls [`decision::decide`] and applies the result; the host's
//! signature check comes in through [`signature::SignatureVerifier`]. So
//! everything is tested natively, and the control plane runs the same code
//! (identity mapping, policy) to answer what the gateway would.
//!
//! The modules form no cycle; each imports only modules listed before it:
//! `signature`, `time`, `path_encoding`, `status`, `key_refresh`, `json`
//! (leaves); `alg`; `issuer`; `identity`; `discovery_cache`; `prepared`;
//! `request_info`; `policy`; `config`; `token`; `token_cache`,
//! `query_credentials`, `route`, `audit`,
//! `stream_registry`, `clusters_api`; `decision` (all of them).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// The config schema the control plane pushes (`kubeplex.filter.v1`).
pub use kubeplex_proto::filter::v1 as config_pb;

pub mod alg;
pub mod audit;
pub mod clusters_api;
pub mod config;
pub mod deadline;
pub mod decision;
pub mod discovery_cache;
pub mod identity;
pub mod issuer;
pub mod json;
pub mod key_refresh;
pub mod path_encoding;
pub mod policy;
pub mod prepared;
pub mod query_credentials;
pub mod reason;
pub mod request_info;
pub mod route;
pub mod signature;
pub mod status;
pub mod stream_registry;
pub mod time;
pub mod token;
pub mod token_cache;

// Unit tests share the integration tests' minting helpers, which name the
// crate by its external name.
#[cfg(test)]
extern crate self as kubeplex_filter_core;
#[cfg(test)]
#[path = "../test_support/mint.rs"]
mod mint;
