use envoy_types::pb::envoy::config::core::v3::address;
use envoy_types::pb::envoy::config::core::v3::socket_address::PortSpecifier;
use envoy_types::pb::google::protobuf::{Struct, Value};

use super::*;
use crate::translate::pack;

fn node(value: Option<Kind>) -> Node {
    let mut fields = std::collections::HashMap::new();
    if let Some(kind) = value {
        fields.insert(METADATA_KEY.to_string(), Value { kind: Some(kind) });
    }
    Node {
        id: "envoy-1".into(),
        metadata: Some(Struct { fields }),
        ..Node::default()
    }
}

#[test]
fn a_node_may_name_its_listener_address() {
    assert_eq!(requested(&node(None)), Ok(None));
    assert_eq!(
        requested(&node(Some(Kind::StringValue("127.0.0.1:20443".into())))),
        Ok(Some("127.0.0.1:20443".parse().unwrap()))
    );
    assert_eq!(
        requested(&node(Some(Kind::StringValue("localhost".into())))),
        Err("kubeplex.io/listener-address: `localhost` is not IP:port".into())
    );
    assert!(requested(&node(Some(Kind::NumberValue(1.0)))).is_err());
}

#[test]
fn rebinding_changes_only_the_address() {
    let listener = Listener {
        name: "kubeplex-https".into(),
        address: Some(socket_address("0.0.0.0", 8443)),
        ..Listener::default()
    };
    let moved = rebind(&pack(&listener), "127.0.0.2:20443".parse().unwrap());
    let decoded = Listener::decode(moved.value.as_slice()).unwrap();
    let Some(address::Address::SocketAddress(sa)) = decoded.address.unwrap().address else {
        panic!("no socket address");
    };
    assert_eq!(
        (sa.address.as_str(), sa.port_specifier),
        ("127.0.0.2", Some(PortSpecifier::PortValue(20443)))
    );
    assert_eq!(decoded.name, "kubeplex-https");
    assert_eq!(moved.type_url, pack(&listener).type_url);
}
