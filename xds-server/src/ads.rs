//! The xDS protocol: a plain state machine per Envoy stream, state of the
//! world ([`protocol`]) or incremental ([`delta`], what `kubeplex up`'s
//! Envoy uses)
//! and the tonic service that feeds it ([`service`]), plus what every
//! connected Envoy has accepted ([`registry`]), and what a stream knows of
//! its Envoy ([`node`]: its id, its own listener address, [`listener_address`]).

pub mod delta;
pub mod listener_address;
pub mod node;
pub mod protocol;
pub mod registry;
pub mod service;
