use envoy_types::pb::envoy::config::core::v3::data_source;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext;
use std::path::PathBuf;

use prost::Message;

use super::*;
use crate::translate::fixtures::{agents, gateway, target};

fn decode<T: Message + Default>(any: &envoy_types::pb::google::protobuf::Any) -> T {
    T::decode(any.value.as_slice()).unwrap()
}

fn tls_of(chain: &FilterChain) -> DownstreamTlsContext {
    match &chain.transport_socket.as_ref().unwrap().config_type {
        Some(transport_socket::ConfigType::TypedConfig(any)) => decode(any),
        None => panic!("no TLS"),
    }
}

#[test]
fn a_tunnel_needs_an_agent_certificate_naming_the_node_and_cluster_it_claims() {
    let config = agents(&["edge"]);
    let listener = listener(&gateway(), &config);
    let tunnel = &listener.filter_chains[0];
    assert_eq!(
        tunnel
            .filter_chain_match
            .as_ref()
            .unwrap()
            .application_protocols,
        [names::TUNNEL_ALPN]
    );
    let tls = tls_of(tunnel);
    assert!(tls.require_client_certificate.unwrap().value);
    let Some(ValidationContextType::ValidationContext(validation)) =
        tls.common_tls_context.unwrap().validation_context_type
    else {
        panic!("no validation context");
    };
    assert_eq!(
        validation.trusted_ca.unwrap().specifier,
        Some(data_source::Specifier::InlineBytes(
            config.ca_certificate_pem.as_bytes().to_vec()
        ))
    );
    let Some(filter::ConfigType::TypedConfig(any)) = &tunnel.filters[0].config_type else {
        panic!("no filter config");
    };
    let handshake: ReverseTunnel = decode(any);
    let v = handshake.validation.unwrap();
    assert_eq!(v.node_id_format, "%DOWNSTREAM_PEER_DNS_SAN%");
    assert_eq!(v.cluster_id_format, "%DOWNSTREAM_PEER_DNS_SAN%");

    // The agent API chain asks for no client certificate (the token
    // authenticates enrollment) and reaches only the control plane.
    let api = &listener.filter_chains[1];
    assert!(api.filter_chain_match.is_none());
    assert!(!tls_of(api).require_client_certificate.unwrap().value);
}

#[test]
fn a_kubeconfig_context_of_the_same_name_shadows_an_agent_cluster() {
    let mut gw = gateway();
    gw.agents = Some(agents(&["edge", "dev-a"]));
    let contexts = vec![target("dev-a", "127.0.0.1", 6443)];
    let got = routes(&gw, &contexts, |name| format!("{name} is away"));
    assert_eq!(
        got,
        [AgentRoute {
            name: "edge".into(),
            not_connected_message: "edge is away".into(),
        }]
    );
    gw.agents = None;
    assert!(routes(&gw, &contexts, |_| String::new()).is_empty());
}

#[test]
fn the_agent_cluster_picks_the_tunnel_named_by_the_route() {
    let c = cluster();
    let Some(ClusterDiscoveryType::ClusterType(custom)) = &c.cluster_discovery_type else {
        panic!("not a custom cluster");
    };
    let config: ReverseConnectionClusterConfig = decode(custom.typed_config.as_ref().unwrap());
    assert_eq!(config.host_id_format, "%REQ(x-kubeplex-agent)%");
    assert_eq!(c.lb_policy, LbPolicy::ClusterProvided as i32);
}

#[test]
fn a_refused_tunnel_handshake_is_an_audit_line() {
    let mut gw = gateway();
    gw.audit.path = Some(PathBuf::from("/var/log/kubeplex/audit.log"));
    gw.audit.stdout = true;
    let listener = listener(&gw, &agents(&["edge"]));
    let logs = &listener.access_log;
    assert_eq!(
        logs.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["envoy.access_loggers.file", "envoy.access_loggers.stdout"]
    );
    let Some(access_log::ConfigType::TypedConfig(any)) = &logs[0].config_type else {
        panic!("no file log config");
    };
    let file: FileAccessLog = decode(any);
    assert_eq!(file.path, "/var/log/kubeplex/audit.log");
    let Some(file_access_log::AccessLogFormat::LogFormat(format)) = file.access_log_format else {
        panic!("no format");
    };
    let Some(substitution_format_string::Format::JsonFormat(line)) = format.format else {
        panic!("not a JSON format");
    };
    let text = |key: &str| match &line.fields[key].kind {
        Some(envoy_types::pb::google::protobuf::value::Kind::StringValue(s)) => s.clone(),
        other => panic!("{key}: {other:?}"),
    };
    assert_eq!(text("event"), "agent_tunnel_refused");
    assert_eq!(
        text("cluster"),
        "%DYNAMIC_METADATA(envoy.filters.network.reverse_tunnel:cluster_id)%"
    );
    assert_eq!(text("certificate"), "%DOWNSTREAM_PEER_DNS_SAN%");
    // Only refusals: an accepted tunnel's connection writes nothing.
    let Some(access_log_filter::FilterSpecifier::MetadataFilter(filter)) =
        &logs[0].filter.as_ref().unwrap().filter_specifier
    else {
        panic!("no metadata filter");
    };
    let matcher = filter.matcher.as_ref().unwrap();
    assert_eq!(matcher.filter, "envoy.filters.network.reverse_tunnel");
    assert_eq!(
        matcher.value,
        Some(ValueMatcher {
            match_pattern: Some(value_matcher::MatchPattern::StringMatch(StringMatcher {
                match_pattern: Some(string_matcher::MatchPattern::Exact(
                    "validation_failed".into(),
                )),
                ..Default::default()
            })),
        })
    );
    assert_eq!(
        filter.match_if_key_not_found,
        Some(BoolValue { value: false })
    );

    gw.audit.path = None;
    gw.audit.stdout = false;
    assert!(listener_without_logs(&gw));
}

fn listener_without_logs(gw: &GatewayConfig) -> bool {
    listener(gw, &agents(&["edge"])).access_log.is_empty()
}
