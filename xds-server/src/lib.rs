//! kubeplex control plane: inputs → translate → snapshot → xDS protocol.
// The libc calls it needs (malloc tuning and trimming, the parent-death
// signal) are in kubeplex-os, the only crate with unsafe code.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
pub mod admission;
pub mod ads;
pub mod agent;
pub mod agent_api;
pub mod agent_ca;
pub mod agent_registry;
pub mod audit;
pub mod clock;
pub mod cluster_health;
pub mod cluster_http;
pub mod control_plane;
#[cfg(feature = "demo")]
pub mod demo;
pub mod envoy;
pub mod error_chain;
pub mod file_watch;
pub mod inject;
pub mod inputs;
pub mod issuers;
pub mod key_fetch;
pub mod local_files;
pub mod local_setup;
pub mod login;
pub mod preflight;
pub mod reachable;
pub mod remote_kubeconfig;
pub mod revocation_store;
pub mod sensitive;
pub mod server;
pub mod snapshot;
pub mod token_mint;
pub mod translate;
pub mod user_kubeconfig;

#[cfg(test)]
mod test_files;
