//! The agent's Envoy (the reverse tunnel "initiator"), as a binary
//! protobuf bootstrap: Envoy dials the gateway's agent listener with the
//! agent's client certificate, keeps the tunnel(s) open, and serves what
//! the gateway sends down them by forwarding it to the local apiserver with
//! the agent's credential (the gateway's identity at this cluster).
//!
//! The certificate and the apiserver token come by file-based SDS from
//! `<state>/sds/`, so the agent can renew them without restarting Envoy.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use envoy_types::pb::envoy::config::bootstrap::v3::{Admin, Bootstrap, bootstrap::StaticResources};
use envoy_types::pb::envoy::config::cluster::v3::{
    Cluster,
    cluster::{ClusterDiscoveryType, DiscoveryType, DnsLookupFamily},
};
use envoy_types::pb::envoy::config::core::v3::{
    Address, ConfigSource, DataSource, Http2ProtocolOptions, HttpProtocolOptions as CoreHttp,
    Node, PathConfigSource, SocketAddress, TransportSocket, TypedExtensionConfig, WatchedDirectory,
    address, config_source, data_source, socket_address, transport_socket,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::config::listener::v3::{Filter, FilterChain, Listener, filter};
use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost,
    header_matcher::HeaderMatchSpecifier, route::Action, route_action::ClusterSpecifier,
    route_action::HostRewriteSpecifier, route_match::PathSpecifier,
};
use envoy_types::pb::envoy::extensions::bootstrap::reverse_tunnel::downstream_socket_interface::v3::DownstreamReverseConnectionSocketInterface;
use envoy_types::pb::envoy::extensions::filters::http::credential_injector::v3::CredentialInjector;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter,
    http_connection_manager::{CodecType, RouteSpecifier, UpgradeConfig},
    http_filter::ConfigType,
};
use envoy_types::pb::envoy::extensions::http::injected_credentials::generic::v3::Generic;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, SdsSecretConfig, SubjectAltNameMatcher,
    UpstreamTlsContext, common_tls_context::ValidationContextType,
    subject_alt_name_matcher::SanType,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions, http_protocol_options::ExplicitHttpConfig,
    http_protocol_options::UpstreamProtocolOptions,
    http_protocol_options::explicit_http_config::ProtocolConfig,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};

use crate::inputs::kubeconfig::ClusterTarget;
use crate::translate::agents::names as gateway_names;
use crate::translate::{Options, cluster as upstream, names, pack, seconds};

/// SDS name of the agent's client certificate.
pub const CERTIFICATE_SECRET: &str = "kubeplex-agent-certificate";
/// SDS name of the apiserver bearer token.
pub const TOKEN_SECRET: &str = "kubeplex-apiserver-token";
/// The listener's stat prefix: `listener.<it>.downstream_cx_active` counts
/// established tunnels.
pub const TUNNEL_STAT_PREFIX: &str = "kubeplex_tunnel";
/// The static cluster of the gateway's agent listener.
const GATEWAY_CLUSTER: &str = "kubeplex-gateway";

/// What the agent's Envoy is built from.
#[derive(Debug, Clone)]
pub struct AgentEnvoy<'a> {
    /// The agent cluster's name (the tunnel's node and cluster id).
    pub cluster: &'a str,
    /// The gateway's agent listener.
    pub gateway_host: &'a str,
    /// Its port.
    pub gateway_port: u16,
    /// The name the gateway's certificate must carry (and SNI).
    pub gateway_server_name: &'a str,
    /// CA of the gateway's certificate; None = `options.system_ca_file`.
    pub gateway_ca_pem: Option<&'a str>,
    /// The local apiserver, and how to trust it (`context` = the cluster).
    pub apiserver: &'a ClusterTarget,
    /// Whether a bearer token for the apiserver comes by SDS.
    pub apiserver_token: bool,
    /// Where the SDS files are.
    pub sds_dir: &'a Path,
    /// Envoy's admin address.
    pub admin: SocketAddr,
    /// Tunnels kept open to the gateway.
    pub tunnels: u32,
    /// The system CA bundle and timeouts.
    pub options: &'a Options,
}

/// The whole bootstrap.
pub fn bootstrap(a: &AgentEnvoy<'_>) -> Bootstrap {
    // This Envoy has no ADS stream to fetch secrets on: the apiserver's CA
    // and client certificate go inline, whatever kubeconfig entry they are.
    let apiserver = ClusterTarget {
        cluster_entry: None,
        user_entry: None,
        ..a.apiserver.clone()
    };
    let mut clusters = upstream::clusters_for(&apiserver, a.options, &Default::default()).to_vec();
    clusters.push(gateway_cluster(a));
    Bootstrap {
        node: Some(Node {
            id: a.cluster.into(),
            cluster: a.cluster.into(),
            ..Default::default()
        }),
        admin: Some(Admin {
            address: Some(address_of(&a.admin.ip().to_string(), a.admin.port())),
            ..Default::default()
        }),
        bootstrap_extensions: vec![TypedExtensionConfig {
            name: "envoy.bootstrap.reverse_tunnel.downstream_socket_interface".into(),
            typed_config: Some(pack(&DownstreamReverseConnectionSocketInterface {
                stat_prefix: "kubeplex_reverse_tunnel".into(),
                // Redial quickly: a restarted gateway Envoy is served again
                // within a couple of seconds.
                maintain_interval: Some(duration_ms(500)),
                max_reconnect_backoff: Some(seconds(2)),
                ..Default::default()
            })),
        }],
        static_resources: Some(StaticResources {
            listeners: vec![tunnel_listener(a)],
            clusters,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn duration_ms(ms: i64) -> envoy_types::pb::google::protobuf::Duration {
    envoy_types::pb::google::protobuf::Duration {
        seconds: ms / 1000,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}

fn address_of(host: &str, port: u16) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: host.into(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port.into())),
            ..Default::default()
        })),
    }
}

/// The `rc://` listener: Envoy's reverse connection resolver turns it into
/// `tunnels` outgoing connections to the gateway cluster, each announced
/// with this cluster's name as node and cluster id.
fn tunnel_listener(a: &AgentEnvoy<'_>) -> Listener {
    let rc = format!(
        "rc://{name}:{name}:kubeplex@{GATEWAY_CLUSTER}:{count}",
        name = a.cluster,
        count = a.tunnels.max(1)
    );
    let hcm = HttpConnectionManager {
        codec_type: CodecType::Http2 as i32,
        stat_prefix: "kubeplex_agent".into(),
        http2_protocol_options: Some(Http2ProtocolOptions {
            allow_connect: true,
            ..Default::default()
        }),
        upgrade_configs: ["websocket", "spdy/3.1"]
            .into_iter()
            .map(|u| UpgradeConfig {
                upgrade_type: u.into(),
                ..Default::default()
            })
            .collect(),
        route_specifier: Some(RouteSpecifier::RouteConfig(routes(a))),
        http_filters: http_filters(a),
        // The gateway bounds streams; this side must not cut them first.
        stream_idle_timeout: Some(seconds(a.options.stream_idle_timeout_seconds)),
        common_http_protocol_options: Some(CoreHttp {
            idle_timeout: Some(seconds(0)),
            ..Default::default()
        }),
        ..Default::default()
    };
    Listener {
        name: "kubeplex-tunnel".into(),
        stat_prefix: TUNNEL_STAT_PREFIX.into(),
        address: Some(Address {
            address: Some(address::Address::SocketAddress(SocketAddress {
                address: rc,
                port_specifier: Some(socket_address::PortSpecifier::PortValue(0)),
                resolver_name: "envoy.resolvers.reverse_connection".into(),
                ..Default::default()
            })),
        }),
        listener_filters_timeout: Some(seconds(0)),
        filter_chains: vec![FilterChain {
            filters: vec![Filter {
                name: "envoy.filters.network.http_connection_manager".into(),
                config_type: Some(filter::ConfigType::TypedConfig(pack(&hcm))),
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Upgrades (extended CONNECT from the gateway, an HTTP/1.1 upgrade again
/// here) to the HTTP/1.1 cluster, the rest to HTTP/2; the gateway's own
/// headers never reach the apiserver.
fn routes(a: &AgentEnvoy<'_>) -> RouteConfiguration {
    let server = &a.apiserver.server;
    let host = if server.host.contains(':') {
        format!("[{}]:{}", server.host, server.port)
    } else {
        format!("{}:{}", server.host, server.port)
    };
    let route = |name: &str, cluster: String, upgrade: bool| Route {
        name: name.into(),
        r#match: Some(RouteMatch {
            path_specifier: Some(PathSpecifier::Prefix("/".into())),
            headers: upgrade
                .then(|| HeaderMatcher {
                    name: "upgrade".into(),
                    header_match_specifier: Some(HeaderMatchSpecifier::PresentMatch(true)),
                    ..Default::default()
                })
                .into_iter()
                .collect(),
            ..Default::default()
        }),
        action: Some(Action::Route(RouteAction {
            cluster_specifier: Some(ClusterSpecifier::Cluster(cluster)),
            timeout: Some(seconds(0)),
            prefix_rewrite: if server.path.is_empty() {
                String::new()
            } else {
                format!("{}/", server.path)
            },
            host_rewrite_specifier: Some(HostRewriteSpecifier::HostRewriteLiteral(host.clone())),
            ..Default::default()
        })),
        ..Default::default()
    };
    RouteConfiguration {
        name: "kubeplex-agent".into(),
        virtual_hosts: vec![VirtualHost {
            name: "apiserver".into(),
            domains: vec!["*".into()],
            routes: vec![
                route("upgrade", names::upgrade_cluster(a.cluster), true),
                route("apiserver", names::cluster(a.cluster), false),
            ],
            ..Default::default()
        }],
        request_headers_to_remove: vec![
            gateway_names::AGENT_HEADER.into(),
            gateway_names::AGENT_STATUS_HEADER.into(),
        ],
        ..Default::default()
    }
}

/// With a token: inject it (replacing anything sent), then route.
fn http_filters(a: &AgentEnvoy<'_>) -> Vec<HttpFilter> {
    let mut filters = Vec::new();
    if a.apiserver_token {
        let generic = Generic {
            credential: Some(sds(TOKEN_SECRET, a.sds_dir, "token.json")),
            header: "authorization".into(),
            header_value_prefix: "Bearer ".into(),
        };
        let injector = CredentialInjector {
            overwrite: true,
            allow_request_without_credential: false,
            credential: Some(TypedExtensionConfig {
                name: "envoy.http.injected_credentials.generic".into(),
                typed_config: Some(pack(&generic)),
            }),
        };
        filters.push(HttpFilter {
            name: "envoy.filters.http.credential_injector".into(),
            config_type: Some(ConfigType::TypedConfig(pack(&injector))),
            ..Default::default()
        });
    }
    filters.push(HttpFilter {
        name: "envoy.filters.http.router".into(),
        config_type: Some(ConfigType::TypedConfig(pack(&Router::default()))),
        ..Default::default()
    });
    filters
}

/// A secret from `<sds_dir>/<file>`, reloaded when a file is moved into
/// the directory (the agent writes each file beside and renames it).
pub fn sds(name: &str, dir: &Path, file: &str) -> SdsSecretConfig {
    SdsSecretConfig {
        name: name.into(),
        sds_config: Some(ConfigSource {
            config_source_specifier: Some(config_source::ConfigSourceSpecifier::PathConfigSource(
                PathConfigSource {
                    path: dir.join(file).to_string_lossy().into_owned(),
                    watched_directory: Some(WatchedDirectory {
                        path: dir.to_string_lossy().into_owned(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )),
            resource_api_version: envoy_types::pb::envoy::config::core::v3::ApiVersion::V3 as i32,
            ..Default::default()
        }),
    }
}

/// The gateway's agent listener: HTTP/2 (the tunnel), the agent's
/// certificate by SDS, the gateway's certificate checked for its name.
fn gateway_cluster(a: &AgentEnvoy<'_>) -> Cluster {
    let is_ip = a.gateway_host.parse::<IpAddr>().is_ok();
    let ca = match a.gateway_ca_pem {
        Some(pem) => DataSource {
            specifier: Some(data_source::Specifier::InlineString(pem.into())),
            ..Default::default()
        },
        None => DataSource {
            specifier: Some(data_source::Specifier::Filename(
                a.options.system_ca_file.clone(),
            )),
            ..Default::default()
        },
    };
    let san_type = if a.gateway_server_name.parse::<IpAddr>().is_ok() {
        SanType::IpAddress
    } else {
        SanType::Dns
    };
    let tls = UpstreamTlsContext {
        sni: a.gateway_server_name.into(),
        common_tls_context: Some(CommonTlsContext {
            alpn_protocols: vec![gateway_names::TUNNEL_ALPN.into()],
            tls_certificate_sds_secret_configs: vec![sds(
                CERTIFICATE_SECRET,
                a.sds_dir,
                "certificate.json",
            )],
            validation_context_type: Some(ValidationContextType::ValidationContext(
                CertificateValidationContext {
                    trusted_ca: Some(ca),
                    match_typed_subject_alt_names: vec![SubjectAltNameMatcher {
                        san_type: san_type as i32,
                        matcher: Some(StringMatcher {
                            match_pattern: Some(MatchPattern::Exact(a.gateway_server_name.into())),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            )),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut typed_extension_protocol_options = HashMap::new();
    typed_extension_protocol_options.insert(
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions".to_string(),
        pack(&HttpProtocolOptions {
            upstream_protocol_options: Some(UpstreamProtocolOptions::ExplicitHttpConfig(
                ExplicitHttpConfig {
                    protocol_config: Some(ProtocolConfig::Http2ProtocolOptions(
                        Http2ProtocolOptions::default(),
                    )),
                },
            )),
            ..Default::default()
        }),
    );
    let discovery = if is_ip {
        DiscoveryType::Static
    } else {
        DiscoveryType::StrictDns
    };
    Cluster {
        name: GATEWAY_CLUSTER.into(),
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(discovery as i32)),
        dns_lookup_family: DnsLookupFamily::V4Preferred as i32,
        connect_timeout: Some(seconds(5)),
        load_assignment: Some(ClusterLoadAssignment {
            cluster_name: GATEWAY_CLUSTER.into(),
            endpoints: vec![LocalityLbEndpoints {
                lb_endpoints: vec![LbEndpoint {
                    host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                        address: Some(address_of(a.gateway_host, a.gateway_port)),
                        ..Default::default()
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
        transport_socket: Some(TransportSocket {
            name: "envoy.transport_sockets.tls".into(),
            config_type: Some(transport_socket::ConfigType::TypedConfig(pack(&tls))),
        }),
        typed_extension_protocol_options,
        ..Default::default()
    }
}
