use std::path::Path;

use envoy_types::pb::envoy::config::core::v3::{address, socket_address};

use super::bootstrap::{AgentEnvoy, bootstrap};
use super::*;
use crate::inputs::kubeconfig::ClusterTarget;
use crate::translate::fixtures::target;

#[test]
fn the_token_digest_is_what_the_gateway_config_holds() {
    let (token, digest) = new_token();
    assert_eq!(token.expose().len(), 64);
    assert_eq!(digest, token_digest(token.expose()));
    // Surrounding whitespace (a trailing newline in a file) does not count.
    assert_eq!(token_digest(" abc\n"), token_digest("abc"));
    assert_eq!(
        token_digest("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn gateway_addresses_split_into_host_and_port() {
    assert_eq!(
        (
            host_of("gw.example.com:8444"),
            port_of("gw.example.com:8444")
        ),
        ("gw.example.com", 8444)
    );
    assert_eq!((host_of("[::1]:9"), port_of("[::1]:9")), ("::1", 9));
    assert_eq!(port_of("gw.example.com"), 443);
}

/// The bootstrap of agent `edge` (gateway `gw.example.com:8444`, no
/// token to its apiserver) opening `tunnels` reverse tunnels.
fn edge_agent_bootstrap(
    apiserver: &ClusterTarget,
    options: &Options,
    tunnels: u32,
) -> envoy_types::pb::envoy::config::bootstrap::v3::Bootstrap {
    bootstrap(&AgentEnvoy {
        cluster: "edge",
        gateway_host: "gw.example.com",
        gateway_port: 8444,
        gateway_server_name: "gw.example.com",
        gateway_ca_pem: None,
        apiserver,
        apiserver_token: false,
        sds_dir: Path::new("/state/sds"),
        admin: "127.0.0.1:0".parse().unwrap(),
        tunnels,
        options,
    })
}

#[test]
fn the_agent_envoy_opens_the_requested_tunnels_as_its_cluster() {
    let apiserver = target("edge", "10.0.0.1", 6443);
    let options = Options::default();
    let boot = edge_agent_bootstrap(&apiserver, &options, 3);
    let listener = &boot.static_resources.as_ref().unwrap().listeners[0];
    let Some(address::Address::SocketAddress(a)) = &listener.address.as_ref().unwrap().address
    else {
        panic!("no socket address");
    };
    assert_eq!(a.address, "rc://edge:edge:kubeplex@kubeplex-gateway:3");
    assert_eq!(a.resolver_name, "envoy.resolvers.reverse_connection");
    assert_eq!(
        a.port_specifier,
        Some(socket_address::PortSpecifier::PortValue(0))
    );
    assert_eq!(
        boot.bootstrap_extensions[0].name,
        "envoy.bootstrap.reverse_tunnel.downstream_socket_interface"
    );
    // Without a token, no credential injector: the client certificate of
    // the apiserver cluster authenticates.
    let names: Vec<_> = boot
        .static_resources
        .unwrap()
        .clusters
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert!(names.contains(&"kubeplex-gateway".to_string()), "{names:?}");
}

/// The agent's Envoy has no ADS stream: the apiserver's CA and client
/// certificate are in its clusters even when they come from kubeconfig
/// entries (which the gateway sends as SDS secrets).
#[test]
fn the_agent_envoy_has_the_apiservers_tls_material_inline() {
    use prost::Message;
    let apiserver = target("edge", "10.0.0.1", 6443);
    assert!(apiserver.cluster_entry.is_some() && apiserver.user_entry.is_some());
    let options = Options::default();
    let boot = edge_agent_bootstrap(&apiserver, &options, 1);
    let clusters = boot.static_resources.unwrap().clusters;
    let apiserver_clusters: Vec<_> = clusters
        .iter()
        .filter(|c| c.name.starts_with("ctx/"))
        .collect();
    assert_eq!(apiserver_clusters.len(), 2);
    let pem_of = |s: &Option<std::sync::Arc<str>>| s.as_deref().unwrap().as_bytes().to_vec();
    for c in apiserver_clusters {
        let bytes = c.encode_to_vec();
        let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(has(&pem_of(&apiserver.ca_pem)), "{}: CA inline", c.name);
        assert!(has(&pem_of(&apiserver.client_cert_pem)), "{}", c.name);
        assert!(!has(b"user/user-edge") && !has(b"cluster/cluster-edge"));
    }
}
