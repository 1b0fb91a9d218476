//! Agent clusters on Envoy's reverse tunnels (the gateway is the
//! "responder"): a second listener where agents connect out to the gateway,
//! one reverse-connection cluster that sends a request down the tunnel of
//! the agent named by `x-kubeplex-agent`, and per agent cluster the same
//! route kinds as a kubeconfig context.
//!
//! The agent listener has two filter chains, told apart by ALPN:
//! - `h2`: the reverse tunnel handshake. The client certificate must come
//!   from the agents' CA, and the node and cluster ids the agent claims must
//!   both equal the certificate's DNS name, so an agent can only ever offer
//!   a tunnel for its own cluster (403 otherwise). Envoy refuses such a
//!   handshake itself, so the listener writes the audit line for it
//!   (`agent_tunnel_refused`, from the filter's dynamic metadata).
//! - anything else (`http/1.1`): the agent API (enrollment, heartbeats),
//!   forwarded to the control plane over the bootstrap's xDS cluster, so an
//!   agent needs one address only. Nothing else is reachable there.

use std::collections::HashMap;

use envoy_types::pb::envoy::config::accesslog::v3::{
    AccessLog, AccessLogFilter, MetadataFilter, access_log, access_log_filter,
};
use envoy_types::pb::envoy::config::cluster::v3::{
    Cluster, Filter as ClusterFilter, cluster::ClusterDiscoveryType, cluster::CustomClusterType,
    cluster::LbPolicy,
};
use envoy_types::pb::envoy::config::core::v3::{
    Http2ProtocolOptions, SubstitutionFormatString, TransportSocket, substitution_format_string,
    transport_socket,
};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener, ListenerFilter, filter, listener_filter,
};
use envoy_types::pb::envoy::config::route::v3::{
    DirectResponseAction, Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost,
    route::Action, route_action::ClusterSpecifier, route_match::PathSpecifier,
};
use envoy_types::pb::envoy::extensions::access_loggers::file::v3::{
    FileAccessLog, file_access_log,
};
use envoy_types::pb::envoy::extensions::access_loggers::stream::v3::{
    StdoutAccessLog, stdout_access_log,
};
use envoy_types::pb::envoy::extensions::clusters::reverse_connection::v3::ReverseConnectionClusterConfig;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, http_connection_manager::RouteSpecifier,
    http_filter::ConfigType,
};
use envoy_types::pb::envoy::extensions::filters::network::reverse_tunnel::v3::{
    ReverseTunnel, Validation,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, TlsCertificate,
    TlsParameters, common_tls_context::ValidationContextType, tls_parameters::TlsProtocol,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions, http_protocol_options::ExplicitHttpConfig,
    http_protocol_options::UpstreamProtocolOptions,
    http_protocol_options::explicit_http_config::ProtocolConfig,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{
    MetadataMatcher, StringMatcher, ValueMatcher, metadata_matcher, string_matcher, value_matcher,
};
use envoy_types::pb::google::protobuf::{BoolValue, Empty, UInt32Value};

use super::{Resource, cluster::socket_address, digest, pack, seconds};
use crate::inputs::gateway_config::{AgentsConfig, AuditConfig, GatewayConfig};

/// Names the agent resources share with the agent and the control plane.
pub mod names {
    /// The agent listener.
    pub const LISTENER: &str = "kubeplex-agents";
    /// The reverse-connection cluster every agent route sends to.
    pub const CLUSTER: &str = "kubeplex-agents";
    /// The bootstrap's cluster to the control plane (`envoy/bootstrap.yaml`).
    pub const XDS_CLUSTER: &str = "kubeplex-xds";
    /// Set by an agent route: the agent (tunnel node id) to send to.
    pub const AGENT_HEADER: &str = "x-kubeplex-agent";
    /// Set by an agent route: the sentence a 503 says when that agent has
    /// no tunnel (see `access_log::local_reply_config`).
    pub const AGENT_STATUS_HEADER: &str = "x-kubeplex-agent-status";
    /// Path prefix of the control plane's agent API.
    pub const API_PREFIX: &str = "/kubeplex.agent.v1/";
    /// ALPN of the tunnel handshake (the agent API uses `http/1.1`).
    pub const TUNNEL_ALPN: &str = "h2";
}

/// How often the gateway pings an idle tunnel.
const TUNNEL_PING_SECONDS: u64 = 2;

/// One agent cluster as the routes need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRoute {
    /// The cluster (and context) name.
    pub name: String,
    /// What a request to it is told while its agent has no tunnel.
    pub not_connected_message: String,
}

/// The agent clusters of `gateway` that no kubeconfig context shadows (a
/// kubeconfig context of the same name wins; the control plane warns),
/// each with the message `status` gives it.
pub fn routes(
    gateway: &GatewayConfig,
    contexts: &[crate::inputs::kubeconfig::ClusterTarget],
    status: impl Fn(&str) -> String,
) -> Vec<AgentRoute> {
    let Some(agents) = &gateway.agents else {
        return Vec::new();
    };
    agents
        .clusters
        .iter()
        .filter(|a| !contexts.iter().any(|c| c.context == a.name))
        .map(|a| AgentRoute {
            name: a.name.clone(),
            not_connected_message: status(&a.name),
        })
        .collect()
}

/// The agent listener, versioned by its inputs.
pub fn listener_resource(gateway: &GatewayConfig, agents: &AgentsConfig) -> Resource {
    let listener = listener(gateway, agents);
    let l = &gateway.listener;
    let version = digest(&[
        agents.address.as_bytes(),
        &agents.port.to_be_bytes(),
        agents.ca_certificate_pem.as_bytes(),
        l.certificate_pem.as_bytes(),
        l.key_pem.expose().as_bytes(),
        &pack(&listener).value,
    ]);
    Resource {
        name: listener.name.clone(),
        body: std::sync::Arc::new(pack(&listener)),
        version,
    }
}

/// The listener agents dial.
pub fn listener(gateway: &GatewayConfig, agents: &AgentsConfig) -> Listener {
    let tunnel_chain = FilterChain {
        name: "tunnel".into(),
        filter_chain_match: Some(FilterChainMatch {
            application_protocols: vec![names::TUNNEL_ALPN.into()],
            ..Default::default()
        }),
        filters: vec![Filter {
            name: "envoy.filters.network.reverse_tunnel".into(),
            config_type: Some(filter::ConfigType::TypedConfig(pack(&reverse_tunnel()))),
        }],
        transport_socket: Some(tls(gateway, Some(agents), names::TUNNEL_ALPN)),
        ..Default::default()
    };
    let api_chain = FilterChain {
        name: "agent-api".into(),
        filters: vec![Filter {
            name: "envoy.filters.network.http_connection_manager".into(),
            config_type: Some(filter::ConfigType::TypedConfig(pack(&agent_api_hcm()))),
        }],
        transport_socket: Some(tls(gateway, None, "http/1.1")),
        ..Default::default()
    };
    Listener {
        name: names::LISTENER.into(),
        address: Some(socket_address(&agents.address, agents.port)),
        listener_filters: vec![ListenerFilter {
            name: "envoy.filters.listener.tls_inspector".into(),
            config_type: Some(listener_filter::ConfigType::TypedConfig(pack(
                &TlsInspector::default(),
            ))),
            ..Default::default()
        }],
        filter_chains: vec![tunnel_chain, api_chain],
        per_connection_buffer_limit_bytes: Some(UInt32Value { value: 1 << 20 }),
        access_log: refused_tunnel_logs(&gateway.audit),
        ..Default::default()
    }
}

/// The reverse tunnel filter's metadata namespace (its default).
const TUNNEL_METADATA: &str = "envoy.filters.network.reverse_tunnel";
/// Its `validation_result` for a refused handshake. Envoy 1.40 writes
/// `validation_failed` / `validation_passed` (seen in the e2e test), not
/// the `denied` / `allowed` its API documentation names.
const TUNNEL_REFUSED: &str = "validation_failed";

/// A refused tunnel handshake as an audit line to the audit file and/or
/// stdout, shaped like the agent registry's lines: `event`
/// `agent_tunnel_refused`, `cluster` the cluster id the tunnel claimed,
/// `node` its node id, `certificate` the name its certificate carries.
/// JSON-formatted by Envoy, so claimed ids are escaped.
fn refused_tunnel_logs(audit: &AuditConfig) -> Vec<AccessLog> {
    let metadata = |key: &str| format!("%DYNAMIC_METADATA({TUNNEL_METADATA}:{key})%");
    let line = serde_json::json!({
        "time": "%START_TIME(%Y-%m-%dT%H:%M:%SZ)%",
        "event": "agent_tunnel_refused",
        "cluster": metadata("cluster_id"),
        "node": metadata("node_id"),
        "certificate": "%DOWNSTREAM_PEER_DNS_SAN%",
        "source": "%DOWNSTREAM_REMOTE_ADDRESS%",
        "reason": "the tunnel's node and cluster ids are not the name in its certificate",
    });
    let format = SubstitutionFormatString {
        format: Some(substitution_format_string::Format::JsonFormat(
            super::access_log::to_struct(&line),
        )),
        ..Default::default()
    };
    let refused = AccessLogFilter {
        filter_specifier: Some(access_log_filter::FilterSpecifier::MetadataFilter(
            MetadataFilter {
                matcher: Some(MetadataMatcher {
                    filter: TUNNEL_METADATA.into(),
                    path: vec![metadata_matcher::PathSegment {
                        segment: Some(metadata_matcher::path_segment::Segment::Key(
                            "validation_result".into(),
                        )),
                    }],
                    value: Some(ValueMatcher {
                        match_pattern: Some(value_matcher::MatchPattern::StringMatch(
                            StringMatcher {
                                match_pattern: Some(string_matcher::MatchPattern::Exact(
                                    TUNNEL_REFUSED.into(),
                                )),
                                ..Default::default()
                            },
                        )),
                    }),
                    ..Default::default()
                }),
                match_if_key_not_found: Some(BoolValue { value: false }),
            },
        )),
    };
    let mut logs = Vec::new();
    if let Some(path) = &audit.path {
        let file = FileAccessLog {
            path: path.to_string_lossy().into_owned(),
            access_log_format: Some(file_access_log::AccessLogFormat::LogFormat(format.clone())),
        };
        logs.push(AccessLog {
            name: "envoy.access_loggers.file".into(),
            filter: Some(refused.clone()),
            config_type: Some(access_log::ConfigType::TypedConfig(pack(&file))),
        });
    }
    if audit.stdout {
        let stdout = StdoutAccessLog {
            access_log_format: Some(stdout_access_log::AccessLogFormat::LogFormat(format)),
        };
        logs.push(AccessLog {
            name: "envoy.access_loggers.stdout".into(),
            filter: Some(refused),
            config_type: Some(access_log::ConfigType::TypedConfig(pack(&stdout))),
        });
    }
    logs
}

/// The handshake: both ids the agent claims must be its certificate's
/// DNS name (a mismatch is a 403 and no tunnel).
fn reverse_tunnel() -> ReverseTunnel {
    ReverseTunnel {
        ping_interval: Some(seconds(TUNNEL_PING_SECONDS)),
        validation: Some(Validation {
            node_id_format: "%DOWNSTREAM_PEER_DNS_SAN%".into(),
            cluster_id_format: "%DOWNSTREAM_PEER_DNS_SAN%".into(),
            emit_dynamic_metadata: true,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The gateway's serving certificate; with `agents`, a client certificate
/// of the agents' CA is required.
fn tls(gateway: &GatewayConfig, agents: Option<&AgentsConfig>, alpn: &str) -> TransportSocket {
    let inline = |s: &str| super::secret::inline(s.as_bytes());
    let l = &gateway.listener;
    let context = DownstreamTlsContext {
        common_tls_context: Some(CommonTlsContext {
            tls_params: Some(TlsParameters {
                tls_minimum_protocol_version: TlsProtocol::TlSv12 as i32,
                ..Default::default()
            }),
            tls_certificates: vec![TlsCertificate {
                certificate_chain: Some(inline(&l.certificate_pem)),
                private_key: Some(inline(l.key_pem.expose())),
                ..Default::default()
            }],
            alpn_protocols: vec![alpn.into()],
            validation_context_type: agents.map(|a| {
                ValidationContextType::ValidationContext(CertificateValidationContext {
                    trusted_ca: Some(inline(&a.ca_certificate_pem)),
                    ..Default::default()
                })
            }),
            ..Default::default()
        }),
        require_client_certificate: Some(BoolValue {
            value: agents.is_some(),
        }),
        ..Default::default()
    };
    TransportSocket {
        name: "envoy.transport_sockets.tls".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(pack(&context))),
    }
}

/// The agent API chain: only `/kubeplex.agent.v1/…`, to the control plane,
/// without a timeout (a heartbeat session lasts as long as the agent).
fn agent_api_hcm() -> HttpConnectionManager {
    let to_control_plane = Route {
        name: "agent-api".into(),
        r#match: Some(RouteMatch {
            path_specifier: Some(PathSpecifier::Prefix(names::API_PREFIX.into())),
            ..Default::default()
        }),
        action: Some(Action::Route(RouteAction {
            cluster_specifier: Some(ClusterSpecifier::Cluster(names::XDS_CLUSTER.into())),
            timeout: Some(seconds(0)),
            ..Default::default()
        })),
        ..Default::default()
    };
    let elsewhere = Route {
        name: "not-found".into(),
        r#match: Some(RouteMatch {
            path_specifier: Some(PathSpecifier::Prefix("/".into())),
            ..Default::default()
        }),
        action: Some(Action::DirectResponse(DirectResponseAction {
            status: 404,
            ..Default::default()
        })),
        ..Default::default()
    };
    HttpConnectionManager {
        stat_prefix: "kubeplex_agent_api".into(),
        route_specifier: Some(RouteSpecifier::RouteConfig(RouteConfiguration {
            name: "kubeplex-agent-api".into(),
            virtual_hosts: vec![VirtualHost {
                name: "agent-api".into(),
                domains: vec!["*".into()],
                routes: vec![to_control_plane, elsewhere],
                ..Default::default()
            }],
            ..Default::default()
        })),
        http_filters: vec![HttpFilter {
            name: "envoy.filters.http.router".into(),
            config_type: Some(ConfigType::TypedConfig(pack(&Router::default()))),
            ..Default::default()
        }],
        use_remote_address: Some(BoolValue { value: true }),
        request_headers_timeout: Some(seconds(30)),
        ..Default::default()
    }
}

/// The reverse-connection cluster: the host is the tunnel whose node id is
/// the request's `x-kubeplex-agent`; HTTP/2 with extended CONNECT, so
/// exec, attach and port-forward travel down the tunnel too.
pub fn cluster() -> Cluster {
    let mut typed_extension_protocol_options = HashMap::new();
    typed_extension_protocol_options.insert(
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions".to_string(),
        pack(&HttpProtocolOptions {
            upstream_protocol_options: Some(UpstreamProtocolOptions::ExplicitHttpConfig(
                ExplicitHttpConfig {
                    protocol_config: Some(ProtocolConfig::Http2ProtocolOptions(
                        Http2ProtocolOptions {
                            allow_connect: true,
                            ..Default::default()
                        },
                    )),
                },
            )),
            ..Default::default()
        }),
    );
    Cluster {
        name: names::CLUSTER.into(),
        cluster_discovery_type: Some(ClusterDiscoveryType::ClusterType(CustomClusterType {
            name: "envoy.clusters.reverse_connection".into(),
            typed_config: Some(pack(&ReverseConnectionClusterConfig {
                cleanup_interval: Some(seconds(60)),
                host_id_format: format!("%REQ({})%", names::AGENT_HEADER),
                ..Default::default()
            })),
        })),
        lb_policy: LbPolicy::ClusterProvided as i32,
        connect_timeout: Some(seconds(2)),
        filters: vec![ClusterFilter {
            name: "envoy.filters.upstream_network.reverse_tunnel_lifecycle".into(),
            typed_config: Some(pack(&Empty::default())),
            ..Default::default()
        }],
        typed_extension_protocol_options,
        circuit_breakers: Some(super::cluster::circuit_breakers()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
