//! An Envoy may ask for the gateway listener on an address of its own, in
//! its node metadata: `kubeplex.io/listener-address: "IP:port"`. Every
//! other Envoy gets the gateway config's `listener.address`/`port`. For
//! several Envoys on one host, which cannot all bind one port: host-network
//! pods, a machine running a small fleet, and the fleet test (three Envoys
//! on loopback, each on its own port, like three pods with their own IPs).

use std::net::SocketAddr;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::google::protobuf::Any;
use envoy_types::pb::google::protobuf::value::Kind;
use prost::Message;

use crate::translate::cluster::socket_address;

/// The node metadata key.
pub const METADATA_KEY: &str = "kubeplex.io/listener-address";

/// The address `node` asks for: None without the key; an error naming the
/// value when it is not `IP:port`.
pub fn requested(node: &Node) -> Result<Option<SocketAddr>, String> {
    let Some(value) = node
        .metadata
        .as_ref()
        .and_then(|m| m.fields.get(METADATA_KEY))
    else {
        return Ok(None);
    };
    match &value.kind {
        Some(Kind::StringValue(text)) => text
            .parse()
            .map(Some)
            .map_err(|_| format!("{METADATA_KEY}: `{text}` is not IP:port")),
        _ => Err(format!("{METADATA_KEY}: not a string")),
    }
}

/// The listener in `body` with its address replaced by `addr`; `body`
/// itself when it is not a listener.
pub fn rebind(body: &Any, addr: SocketAddr) -> Any {
    let Ok(mut listener) = Listener::decode(body.value.as_slice()) else {
        return body.clone();
    };
    listener.address = Some(socket_address(&addr.ip().to_string(), addr.port()));
    Any {
        type_url: body.type_url.clone(),
        value: listener.encode_to_vec(),
    }
}

#[cfg(test)]
mod tests;
