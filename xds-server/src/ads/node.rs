//! What a stream learns from its Envoy's first request that names the
//! node: who it is and where it wants the gateway listener. Both protocols
//! ([`super::protocol`], [`super::delta`]) keep one.

use std::net::SocketAddr;

use envoy_types::pb::envoy::config::core::v3::Node;

use super::listener_address;

/// The Envoy at the other end of a stream.
#[derive(Debug, Default)]
pub struct StreamNode {
    id: Option<String>,
    /// Where this Envoy wants the gateway listener (node metadata).
    listener_address: Option<SocketAddr>,
    /// Why its node metadata's listener address was ignored.
    listener_address_error: Option<String>,
}

impl StreamNode {
    /// Learn the node from the first request that carries one (Envoy sends
    /// it once per stream; later copies are ignored).
    pub fn learn(&mut self, node: Option<&Node>) {
        let Some(node) = node.filter(|_| self.id.is_none()) else {
            return;
        };
        self.id = Some(node.id.clone());
        match listener_address::requested(node) {
            Ok(addr) => self.listener_address = addr,
            Err(e) => self.listener_address_error = Some(e),
        }
    }

    /// The Envoy's node id, from its first request.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The listener address it asked for, if a valid one.
    pub fn listener_address(&self) -> Option<SocketAddr> {
        self.listener_address
    }

    /// Why the node's own listener address was ignored, if it was.
    pub fn listener_address_error(&self) -> Option<&str> {
        self.listener_address_error.as_deref()
    }
}
