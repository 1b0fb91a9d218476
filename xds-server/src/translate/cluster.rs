//! One kubeconfig context → two Envoy clusters: a pooled HTTP/2 cluster for
//! ordinary requests and an HTTP/1.1 one for upgrades (the apiserver accepts
//! SPDY/WebSocket upgrades only over HTTP/1.1; FACTS.md). Both carry the
//! context's upstream mTLS identity and verify the apiserver's certificate
//! (the certificate and CA as SDS secrets shared by every cluster of the
//! same kubeconfig entry: `secret`),
//! and everything else that is the context's rather than the request's:
//! the `Host` the apiserver gets (the endpoint's hostname; the routes say
//! `auto_host_rewrite`) and the kubeconfig user's bearer token (an upstream
//! filter, `upstream`), so the routes are the same for every context.

use std::collections::HashMap;
use std::net::IpAddr;

use envoy_types::pb::envoy::config::cluster::v3::{
    CircuitBreakers, Cluster, UpstreamConnectionOptions,
    circuit_breakers::Thresholds,
    cluster::{ClusterDiscoveryType, DiscoveryType, DnsLookupFamily},
};
use envoy_types::pb::envoy::config::core::v3::{
    Address, DataSource, Http1ProtocolOptions, Http2ProtocolOptions, KeepaliveSettings, Metadata,
    SocketAddress, TcpKeepalive, TransportSocket, address, data_source, socket_address,
    transport_socket,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, SubjectAltNameMatcher, TlsCertificate,
    TlsParameters, UpstreamTlsContext, certificate_validation_context::TrustChainVerification,
    common_tls_context::CombinedCertificateValidationContext,
    common_tls_context::ValidationContextType, subject_alt_name_matcher::SanType,
    tls_parameters::TlsProtocol,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions, http_protocol_options::ExplicitHttpConfig,
    http_protocol_options::UpstreamProtocolOptions,
    http_protocol_options::explicit_http_config::ProtocolConfig,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};
use envoy_types::pb::google::protobuf::UInt32Value;

use super::{Options, names, pack, seconds, secret};
use crate::inputs::gateway_config::HealthChecks;
use crate::inputs::kubeconfig::ClusterTarget;

pub mod health;
pub mod upstream;

/// Streams Envoy opens on one upstream HTTP/2 connection before it opens
/// another. kube-apiserver advertises `SETTINGS_MAX_CONCURRENT_STREAMS`
/// 100 (`--http2-max-streams-per-connection`; measured on v1.36). Envoy's
/// own default is 2^31-1: with it, a burst of 1,100 watches went onto 2
/// connections, the server refused 692 streams (`REFUSED_STREAM`), and
/// without retries those were the 503s (flag `UR`) users saw. At 100,
/// Envoy opens another connection instead (11 for that burst).
pub const MAX_STREAMS_PER_CONNECTION: u32 = 100;

/// The namespace of the cluster metadata that names the context.
pub const METADATA_NAMESPACE: &str = "kubeplex";

/// Curves offered upstream. P-521 is off by default in Envoy, but multikube's
/// TLS guide makes secp521r1 keys, so apiservers with them are common.
pub const ECDH_CURVES: [&str; 4] = ["X25519", "P-256", "P-384", "P-521"];

/// Signature algorithms offered upstream: Envoy's defaults plus
/// `ecdsa_secp521r1_sha512` (TLS 1.3 with a P-521 server key) and Ed25519.
pub const SIGNATURE_ALGORITHMS: [&str; 10] = [
    "ecdsa_secp256r1_sha256",
    "ecdsa_secp384r1_sha384",
    "ecdsa_secp521r1_sha512",
    "ed25519",
    "rsa_pss_rsae_sha256",
    "rsa_pss_rsae_sha384",
    "rsa_pss_rsae_sha512",
    "rsa_pkcs1_sha256",
    "rsa_pkcs1_sha384",
    "rsa_pkcs1_sha512",
];

/// Which wire protocol a cluster speaks to the apiserver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Pooled, multiplexed: everything but upgrades.
    Http2,
    /// Upgrades (exec, attach, port-forward) only.
    Http1,
}

/// The two clusters of one context.
pub fn clusters_for(
    target: &ClusterTarget,
    options: &Options,
    checks: &HealthChecks,
) -> [Cluster; 2] {
    [
        cluster(target, options, checks, Protocol::Http2),
        cluster(target, options, checks, Protocol::Http1),
    ]
}

/// One cluster of a context.
pub fn cluster(
    target: &ClusterTarget,
    options: &Options,
    checks: &HealthChecks,
    protocol: Protocol,
) -> Cluster {
    let name = match protocol {
        Protocol::Http2 => names::cluster(&target.context),
        Protocol::Http1 => names::upgrade_cluster(&target.context),
    };
    let host = target.server.host.clone();
    let discovery = if host.parse::<IpAddr>().is_ok() {
        DiscoveryType::Static
    } else {
        DiscoveryType::StrictDns
    };
    let endpoint = LbEndpoint {
        host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
            address: Some(socket_address(&host, target.server.port)),
            // The routes' auto_host_rewrite sends exactly this as `Host`
            // (STATIC and STRICT_DNS clusters alike; checked in Envoy 1.40
            // by tests/e2e).
            hostname: host_header(target),
            ..Default::default()
        })),
        ..Default::default()
    };
    let mut http = protocol_options(protocol);
    http.http_filters = upstream::credential_filters(target);
    let mut typed_extension_protocol_options = HashMap::new();
    typed_extension_protocol_options.insert(
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions".to_string(),
        pack(&http),
    );
    let transport_socket = (target.server.scheme == "https").then(|| TransportSocket {
        name: "envoy.transport_sockets.tls".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(pack(
            &upstream_tls(target, options, protocol),
        ))),
    });
    Cluster {
        name,
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(discovery as i32)),
        connect_timeout: Some(seconds(5)),
        dns_lookup_family: DnsLookupFamily::V4Preferred as i32,
        load_assignment: Some(ClusterLoadAssignment {
            cluster_name: names::cluster(&target.context),
            endpoints: vec![LocalityLbEndpoints {
                lb_endpoints: vec![endpoint],
                ..Default::default()
            }],
            ..Default::default()
        }),
        typed_extension_protocol_options,
        transport_socket,
        circuit_breakers: Some(circuit_breakers()),
        upstream_connection_options: Some(tcp_keepalive()),
        metadata: Some(context_metadata(&target.context)),
        // Upgrades are rare and go to the same apiserver: the HTTP/2
        // cluster's checks are enough (a check costs every Envoy a request).
        health_checks: match protocol {
            Protocol::Http2 => health::readyz_check(target, checks).into_iter().collect(),
            Protocol::Http1 => Vec::new(),
        },
        common_lb_config: Some(health::no_panic_routing()),
        ..Default::default()
    }
}

/// The `Host` a client of the server URL would send: the host, with the
/// port when it is not the scheme's default (an IPv6 literal in brackets).
pub fn host_header(target: &ClusterTarget) -> String {
    let server = &target.server;
    let default_port = if server.scheme == "http" { 80 } else { 443 };
    if server.port == default_port {
        server.host.clone()
    } else if server.host.contains(':') {
        format!("[{}]:{}", server.host, server.port)
    } else {
        format!("{}:{}", server.host, server.port)
    }
}

/// The context a cluster serves, for Envoy's own replies about it
/// (`%CLUSTER_METADATA(kubeplex:context)%`): the cluster's name is ours,
/// the context's is the user's.
fn context_metadata(context: &str) -> Metadata {
    let context = super::access_log::to_struct(&serde_json::json!({ "context": context }));
    Metadata {
        filter_metadata: HashMap::from([(METADATA_NAMESPACE.to_string(), context)]),
        ..Default::default()
    }
}

/// HTTP/2 with keepalive pings (a dead apiserver is found under a quiet
/// watch), or plain HTTP/1.1.
pub(super) fn protocol_options(protocol: Protocol) -> HttpProtocolOptions {
    let protocol_config = match protocol {
        Protocol::Http2 => ProtocolConfig::Http2ProtocolOptions(Http2ProtocolOptions {
            connection_keepalive: Some(KeepaliveSettings {
                interval: Some(seconds(30)),
                timeout: Some(seconds(10)),
                ..Default::default()
            }),
            max_concurrent_streams: Some(UInt32Value {
                value: MAX_STREAMS_PER_CONNECTION,
            }),
            ..Default::default()
        }),
        Protocol::Http1 => ProtocolConfig::HttpProtocolOptions(Http1ProtocolOptions::default()),
    };
    HttpProtocolOptions {
        upstream_protocol_options: Some(UpstreamProtocolOptions::ExplicitHttpConfig(
            ExplicitHttpConfig {
                protocol_config: Some(protocol_config),
            },
        )),
        ..Default::default()
    }
}

/// Watches hold a request slot for their whole life: Envoy's default of
/// 1024 per cluster would refuse the 1025th open watch. Retries are only
/// of refused streams (see `route`); Envoy's default of 3 at once failed
/// the rest of a burst (measured: 686 of 692 refused streams).
pub(super) fn circuit_breakers() -> CircuitBreakers {
    CircuitBreakers {
        thresholds: vec![Thresholds {
            max_connections: Some(UInt32Value { value: 10_000 }),
            max_pending_requests: Some(UInt32Value { value: 100_000 }),
            max_requests: Some(UInt32Value { value: 100_000 }),
            max_retries: Some(UInt32Value { value: 10_000 }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// TCP keepalive on upstream connections.
fn tcp_keepalive() -> UpstreamConnectionOptions {
    UpstreamConnectionOptions {
        tcp_keepalive: Some(TcpKeepalive {
            keepalive_time: Some(UInt32Value { value: 60 }),
            keepalive_interval: Some(UInt32Value { value: 15 }),
            keepalive_probes: Some(UInt32Value { value: 4 }),
        }),
        ..Default::default()
    }
}

/// The upstream TLS context: the gateway's client certificate from the
/// kubeconfig user, the cluster's CA, and a check that the server
/// certificate names the host (or `tls-server-name`). The certificate and
/// the CA come from the kubeconfig entries' SDS secrets (`secret`), inline
/// only for a target that is not from a kubeconfig.
pub fn upstream_tls(
    target: &ClusterTarget,
    options: &Options,
    protocol: Protocol,
) -> UpstreamTlsContext {
    let server_name = target
        .tls_server_name
        .clone()
        .unwrap_or_else(|| target.server.host.clone());
    let server_name_is_ip = server_name.parse::<IpAddr>().is_ok();
    let (tls_certificates, tls_certificate_sds_secret_configs) =
        match secret::client_certificate_secret(target) {
            Some(name) => (Vec::new(), vec![secret::sds_config(name)]),
            None => (inline_client_certificate(target), Vec::new()),
        };
    let validation = validation_context(target, options, &server_name, server_name_is_ip);
    let validation_context_type = match secret::ca_secret(target) {
        // The per-cluster checks stay here; only `trusted_ca` comes from
        // the secret (Envoy merges the two).
        Some(name) => {
            ValidationContextType::CombinedValidationContext(CombinedCertificateValidationContext {
                default_validation_context: Some(validation),
                validation_context_sds_secret_config: Some(secret::sds_config(name)),
                ..Default::default()
            })
        }
        None => ValidationContextType::ValidationContext(validation),
    };
    UpstreamTlsContext {
        common_tls_context: Some(CommonTlsContext {
            tls_params: Some(TlsParameters {
                tls_minimum_protocol_version: TlsProtocol::TlSv12 as i32,
                ecdh_curves: ECDH_CURVES.iter().map(|s| s.to_string()).collect(),
                signature_algorithms: SIGNATURE_ALGORITHMS.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            }),
            tls_certificates,
            tls_certificate_sds_secret_configs,
            validation_context_type: Some(validation_context_type),
            alpn_protocols: vec![match protocol {
                Protocol::Http2 => "h2".into(),
                Protocol::Http1 => "http/1.1".into(),
            }],
            ..Default::default()
        }),
        // SNI must be a host name, never an IP literal (RFC 6066).
        sni: if server_name_is_ip {
            String::new()
        } else {
            server_name
        },
        ..Default::default()
    }
}

/// The client certificate and key inline (a target not from a kubeconfig).
fn inline_client_certificate(target: &ClusterTarget) -> Vec<TlsCertificate> {
    match (&target.client_cert_pem, &target.client_key_pem) {
        (Some(cert), Some(key)) => vec![TlsCertificate {
            certificate_chain: Some(secret::inline(cert.as_bytes())),
            private_key: Some(secret::inline(key.expose().as_bytes())),
            ..Default::default()
        }],
        _ => Vec::new(),
    }
}

/// Trust the cluster's CA (or the system roots) and require the server
/// name in the certificate; or, with `insecure-skip-tls-verify`, anything.
/// With the CA in a secret, no `trusted_ca` here: the secret's applies.
fn validation_context(
    target: &ClusterTarget,
    options: &Options,
    server_name: &str,
    server_name_is_ip: bool,
) -> CertificateValidationContext {
    if target.insecure_skip_tls_verify {
        // Loudly warned at load time; the connection is still encrypted.
        return CertificateValidationContext {
            trust_chain_verification: TrustChainVerification::AcceptUntrusted as i32,
            ..Default::default()
        };
    }
    let trusted_ca = match (&target.ca_pem, secret::ca_secret(target)) {
        (Some(_), Some(_)) => None,
        (Some(ca), None) => Some(secret::inline(ca.as_bytes())),
        (None, _) => Some(DataSource {
            specifier: Some(data_source::Specifier::Filename(
                options.system_ca_file.clone(),
            )),
            ..Default::default()
        }),
    };
    let san_type = if server_name_is_ip {
        SanType::IpAddress
    } else {
        SanType::Dns
    };
    CertificateValidationContext {
        trusted_ca,
        match_typed_subject_alt_names: vec![SubjectAltNameMatcher {
            san_type: san_type as i32,
            matcher: Some(StringMatcher {
                match_pattern: Some(MatchPattern::Exact(server_name.to_string())),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A TCP socket address.
pub fn socket_address(host: &str, port: u16) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: host.to_string(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port as u32)),
            ..Default::default()
        })),
    }
}

#[cfg(test)]
mod tests;
