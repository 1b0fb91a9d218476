//! `kubeplex-bench`: what the gateway costs, measured in one run.
//!
//! Four parts, printed as Markdown tables:
//!
//! - **Filter micro-benchmark** ([`runner`]). One real Envoy per scenario
//!   (static bootstrap, one worker, a plaintext HTTP/1.1 listener whose only
//!   route is a `direct_response` 200, the gateway's audit access log):
//!   no filter, an empty wasm filter, our wasm filter on a cached token and
//!   on tokens it sees for the first time (RS256, ES256, EdDSA), and Envoy's
//!   native `jwt_authn` on the same tokens with and without its
//!   `jwt_cache_config`; interleaved rounds, each window paired with a
//!   baseline window. The headline is Envoy's CPU time per request, read
//!   from `/proc` (steadier than requests/s on a shared machine, and blind
//!   to the load client's cost).
//! - **Gateway vs direct.** `kubeplex up` (control plane + Envoy + filter)
//!   in front of one of our Kubernetes API test servers, against the same
//!   server reached directly: a configmap list over TLS, with a token
//!   through the gateway and a client certificate directly.
//! - **The audit store** ([`audit_store`]). The same gateway with
//!   `audit.store` none, SQLite and PostgreSQL: Envoy CPU per request of the
//!   gRPC access log stream, records stored per second, batch write time.
//! - **The whole gateway** ([`whole_gateway`]). Envoy CPU per request for
//!   a ~16 KB list over TLS and HTTP/2 on 16 connections, through four
//!   gateway-shaped Envoys that differ only by the filter: none,
//!   `jwt_authn` + cache, kubeplex, kubeplex + a 100-role policy.
//!
//! - **Discovery cache** ([`discovery_cache`]). Cold `kubectl get pods` as
//!   20 different users, directly and through gateways without the cache,
//!   with it per caller and with `shared: true`: upstream discovery
//!   requests and wall time.
//!
//! The binary is `src/bin/kubeplex-bench.rs`; `make bench` runs it;
//! `bench/README.md` explains the method and how to read the report.

pub mod audit_store;
pub mod bootstrap;
pub mod cpu_time;
pub mod discovery_cache;
pub mod envoy_process;
pub mod filter_config;
pub mod gateway;
pub mod keys;
pub mod load;
pub mod plain_http;
pub mod report;
pub mod runner;
pub mod scale;
pub mod scenarios;
pub mod stats;
pub mod tls_client;
pub mod tokens;
pub mod tuning;
pub mod verify;
pub mod whole_gateway;

mod error;

pub use error::BenchError;
