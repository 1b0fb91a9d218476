//! The one listener kubectl connects to: TLS with the gateway's
//! certificate, an HTTP connection manager whose routes come by RDS and
//! whose kubeplex filter config comes by ECDS — so neither a route change
//! nor a filter-config change (keys, revocations, policy) rebuilds the
//! listener or drains its connections (FACTS.md).

use envoy_types::pb::envoy::config::core::v3::{
    AggregatedConfigSource, ApiVersion, ConfigSource, ExtensionConfigSource,
    HttpProtocolOptions as CoreHttpProtocolOptions, TransportSocket, config_source,
    http_protocol_options::HeadersWithUnderscoresAction, transport_socket,
};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, Listener, ListenerFilter, filter, listener_filter,
};
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, Rds,
    http_connection_manager::{CodecType, RouteSpecifier, UpgradeConfig},
    http_filter::ConfigType,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, TlsCertificate,
    TlsParameters, common_tls_context::ValidationContextType, tls_parameters::TlsProtocol,
};
use envoy_types::pb::google::protobuf::{BoolValue, UInt32Value};

use super::{
    Resource, access_log, cluster::socket_address, digest, discovery_cache, names, pack, seconds,
};
use crate::inputs::gateway_config::GatewayConfig;

/// Bumped whenever what this module sets independently of the inputs
/// changes (part of the listener version, so that Envoys already running
/// get the new listener from an upgraded control plane: delta xDS skips a
/// resource whose version they already have). "2": the tuned router.
const SHAPE_VERSION: &str = "2";

/// The listener, versioned by its inputs (its JSON log format does not
/// encode deterministically).
pub fn resource(gateway: &GatewayConfig) -> Resource {
    let listener = listener(gateway);
    let l = &gateway.listener;
    let audit = &gateway.audit;
    let version = digest(&[
        l.address.as_bytes(),
        &l.port.to_be_bytes(),
        l.certificate_pem.as_bytes(),
        l.key_pem.expose().as_bytes(),
        l.client_ca_pem.as_deref().unwrap_or("").as_bytes(),
        audit
            .path
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
            .as_bytes(),
        &[audit.stdout as u8],
        &[(audit.store != crate::inputs::gateway_config::StoreConfig::Disabled) as u8],
        access_log::FORMAT_VERSION.as_bytes(),
        SHAPE_VERSION.as_bytes(),
        &discovery_cache::version_parts(gateway.discovery_cache.as_ref()),
    ]);
    Resource {
        name: listener.name.clone(),
        body: std::sync::Arc::new(pack(&listener)),
        version,
    }
}

/// The listener itself.
pub fn listener(gateway: &GatewayConfig) -> Listener {
    let l = &gateway.listener;
    let hcm = http_connection_manager(gateway);
    Listener {
        name: names::LISTENER.into(),
        address: Some(socket_address(&l.address, l.port)),
        // Without it Envoy records no requested server name, and the filter
        // picks a context by TLS server name (`kubectl get --raw` drops the
        // `/clusters/<ctx>` path prefix but keeps `tls-server-name`).
        listener_filters: vec![ListenerFilter {
            name: "envoy.filters.listener.tls_inspector".into(),
            config_type: Some(listener_filter::ConfigType::TypedConfig(pack(
                &TlsInspector::default(),
            ))),
            ..Default::default()
        }],
        filter_chains: vec![FilterChain {
            filters: vec![Filter {
                name: "envoy.filters.network.http_connection_manager".into(),
                config_type: Some(filter::ConfigType::TypedConfig(pack(&hcm))),
            }],
            transport_socket: Some(TransportSocket {
                name: "envoy.transport_sockets.tls".into(),
                config_type: Some(transport_socket::ConfigType::TypedConfig(pack(
                    &downstream_tls(gateway),
                ))),
            }),
            ..Default::default()
        }],
        per_connection_buffer_limit_bytes: Some(UInt32Value { value: 1 << 20 }),
        ..Default::default()
    }
}

fn ads() -> ConfigSource {
    ConfigSource {
        config_source_specifier: Some(config_source::ConfigSourceSpecifier::Ads(
            AggregatedConfigSource {},
        )),
        resource_api_version: ApiVersion::V3 as i32,
        ..Default::default()
    }
}

fn http_connection_manager(gateway: &GatewayConfig) -> HttpConnectionManager {
    HttpConnectionManager {
        codec_type: CodecType::Auto as i32,
        stat_prefix: "kubeplex".into(),
        route_specifier: Some(RouteSpecifier::Rds(Rds {
            config_source: Some(ads()),
            route_config_name: names::ROUTES.into(),
        })),
        http_filters: vec![HttpFilter {
            name: names::FILTER.into(),
            // ECDS: filter-config pushes reach open connections without
            // a listener drain. No default config: until the first
            // config arrives the listener stays warming (fail closed).
            config_type: Some(ConfigType::ConfigDiscovery(ExtensionConfigSource {
                config_source: Some(ads()),
                type_urls: vec![
                    "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm".into(),
                ],
                ..Default::default()
            })),
            ..Default::default()
        }]
        .into_iter()
        // Envoy's discovery cache: after the kubeplex filter (it only sees
        // what the filter allowed), right before the router.
        .chain(
            gateway
                .discovery_cache
                .as_ref()
                .map(discovery_cache::http_filter),
        )
        .chain([HttpFilter {
            name: "envoy.filters.http.router".into(),
            config_type: Some(ConfigType::TypedConfig(pack(&router()))),
            ..Default::default()
        }])
        .collect(),
        // kubectl exec/attach/port-forward: WebSocket (default since 1.31)
        // and SPDY/3.1 (older clients, or KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false).
        upgrade_configs: vec![
            UpgradeConfig {
                upgrade_type: "websocket".into(),
                ..Default::default()
            },
            UpgradeConfig {
                upgrade_type: "spdy/3.1".into(),
                ..Default::default()
            },
        ],
        // The filter authorizes on the path: resolve `..` and `//` first so
        // what it sees is what the apiserver will serve.
        normalize_path: Some(BoolValue { value: true }),
        merge_slashes: true,
        common_http_protocol_options: Some(CoreHttpProtocolOptions {
            // `Impersonate_User` must not slip past the filter's check.
            headers_with_underscores_action: HeadersWithUnderscoresAction::RejectRequest as i32,
            ..Default::default()
        }),
        request_headers_timeout: Some(seconds(30)),
        use_remote_address: Some(BoolValue { value: true }),
        server_name: "kubeplex".into(),
        access_log: access_log::access_logs(&gateway.audit),
        local_reply_config: Some(access_log::local_reply_config()),
        ..Default::default()
    }
}

/// The router, tuned per request (issue 16; each change counted with
/// callgrind on kubectl's request in `filter/tests/envoy_smoke.rs`
/// `gateway_tuning_in_envoy`, README "Benchmarks"): no dynamic stats
/// (−10 k instructions per request: the per-cluster `upstream_rq_<code>`,
/// `upstream_rq_<N>xx`, `upstream_rq_completed`, `upstream_rq_time`
/// stats are named and charged per response; the listener's
/// `downstream_rq_<N>xx` and the audit record keep each request's code
/// and duration), and no `x-envoy-*` headers of its own (−3 k: neither
/// kubectl nor the apiserver reads `x-envoy-upstream-service-time` or
/// `x-envoy-expected-rq-timeout-ms`).
fn router() -> Router {
    Router {
        dynamic_stats: Some(BoolValue { value: false }),
        suppress_envoy_headers: true,
        ..Default::default()
    }
}

fn downstream_tls(gateway: &GatewayConfig) -> DownstreamTlsContext {
    let l = &gateway.listener;
    let inline = |s: &str| super::secret::inline(s.as_bytes());
    DownstreamTlsContext {
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
            alpn_protocols: vec!["h2".into(), "http/1.1".into()],
            validation_context_type: l.client_ca_pem.as_ref().map(|ca| {
                ValidationContextType::ValidationContext(CertificateValidationContext {
                    trusted_ca: Some(inline(ca)),
                    ..Default::default()
                })
            }),
            ..Default::default()
        }),
        require_client_certificate: Some(BoolValue {
            value: l.client_ca_pem.is_some(),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
