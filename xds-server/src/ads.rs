//! The xDS protocol: a plain state machine per Envoy stream ([`protocol`])
//! and the tonic service that feeds it ([`service`]), plus what every
//! connected Envoy has accepted ([`registry`]), and an Envoy's own listener
//! address ([`listener_address`]).

pub mod listener_address;
pub mod protocol;
pub mod registry;
pub mod service;
