use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext;
use prost::Message;

use super::*;
use crate::translate::fixtures::gateway;

fn hcm_of(l: &Listener) -> HttpConnectionManager {
    let Some(filter::ConfigType::TypedConfig(any)) = &l.filter_chains[0].filters[0].config_type
    else {
        panic!()
    };
    HttpConnectionManager::decode(any.value.as_slice()).unwrap()
}

fn tls_of(l: &Listener) -> DownstreamTlsContext {
    let Some(transport_socket::ConfigType::TypedConfig(any)) = &l.filter_chains[0]
        .transport_socket
        .as_ref()
        .unwrap()
        .config_type
    else {
        panic!()
    };
    DownstreamTlsContext::decode(any.value.as_slice()).unwrap()
}

#[test]
fn filter_comes_by_ecds_before_the_router_and_routes_by_rds() {
    let hcm = hcm_of(&listener(&gateway()));
    assert_eq!(hcm.http_filters.len(), 2);
    assert_eq!(hcm.http_filters[0].name, names::FILTER);
    assert!(matches!(
        hcm.http_filters[0].config_type,
        Some(ConfigType::ConfigDiscovery(_))
    ));
    assert_eq!(hcm.http_filters[1].name, "envoy.filters.http.router");
    let Some(RouteSpecifier::Rds(rds)) = hcm.route_specifier else {
        panic!()
    };
    assert_eq!(rds.route_config_name, names::ROUTES);
}

#[test]
fn the_router_names_no_per_response_stats_and_adds_no_envoy_headers() {
    let hcm = hcm_of(&listener(&gateway()));
    let router = hcm.http_filters.last().unwrap();
    assert_eq!(router.name, "envoy.filters.http.router");
    let Some(ConfigType::TypedConfig(any)) = &router.config_type else {
        panic!("{router:?}")
    };
    assert!(
        any.type_url
            .ends_with("envoy.extensions.filters.http.router.v3.Router")
    );
    let router = Router::decode(any.value.as_slice()).unwrap();
    assert_eq!(router.dynamic_stats, Some(BoolValue { value: false }));
    assert!(router.suppress_envoy_headers);
}

#[test]
fn upgrades_path_normalization_and_underscore_headers() {
    let hcm = hcm_of(&listener(&gateway()));
    let upgrades: Vec<&str> = hcm
        .upgrade_configs
        .iter()
        .map(|u| u.upgrade_type.as_str())
        .collect();
    assert_eq!(upgrades, ["websocket", "spdy/3.1"]);
    assert_eq!(hcm.normalize_path, Some(BoolValue { value: true }));
    assert!(hcm.merge_slashes);
    assert_eq!(
        hcm.common_http_protocol_options
            .unwrap()
            .headers_with_underscores_action,
        HeadersWithUnderscoresAction::RejectRequest as i32
    );
    let logs: Vec<&str> = hcm.access_log.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        logs,
        [
            "envoy.access_loggers.file",
            "envoy.access_loggers.stdout",
            "envoy.access_loggers.http_grpc"
        ],
        "file and stdout audit logs, and the stream to the audit store"
    );
}

#[test]
fn audit_records_stream_to_the_control_plane_unless_there_is_no_store() {
    use crate::inputs::gateway_config::StoreConfig;
    use envoy_types::pb::envoy::config::core::v3::grpc_service::TargetSpecifier;
    use envoy_types::pb::envoy::extensions::access_loggers::grpc::v3::HttpGrpcAccessLogConfig;
    let with_store = gateway();
    let hcm = hcm_of(&listener(&with_store));
    let grpc = hcm
        .access_log
        .iter()
        .find(|l| l.name == "envoy.access_loggers.http_grpc")
        .expect("a gRPC access log");
    let Some(envoy_types::pb::envoy::config::accesslog::v3::access_log::ConfigType::TypedConfig(
        any,
    )) = &grpc.config_type
    else {
        panic!("typed config")
    };
    let config = HttpGrpcAccessLogConfig::decode(any.value.as_slice()).unwrap();
    let common = config.common_config.unwrap();
    assert_eq!(common.filter_state_objects_to_log, ["wasm.kubeplex_audit"]);
    let Some(TargetSpecifier::EnvoyGrpc(target)) = common.grpc_service.unwrap().target_specifier
    else {
        panic!("Envoy's own gRPC client")
    };
    assert_eq!(target.cluster_name, "kubeplex-xds");

    let mut without = gateway();
    without.audit.store = StoreConfig::Disabled;
    assert_eq!(hcm_of(&listener(&without)).access_log.len(), 2);
    assert_ne!(
        resource(&with_store).version,
        resource(&without).version,
        "Envoy gets the change"
    );
}

#[test]
fn tls_always_and_client_certificates_when_a_client_ca_is_set() {
    let mut g = gateway();
    let tls = tls_of(&listener(&g));
    assert_eq!(
        tls.require_client_certificate,
        Some(BoolValue { value: false })
    );
    assert_eq!(
        tls.common_tls_context.unwrap().alpn_protocols,
        ["h2", "http/1.1"]
    );
    g.listener.client_ca_pem = Some("CA".into());
    let tls = tls_of(&listener(&g));
    assert_eq!(
        tls.require_client_certificate,
        Some(BoolValue { value: true })
    );
}

#[test]
fn tls_inspector_records_the_server_name_the_filter_routes_on() {
    let l = listener(&gateway());
    let names: Vec<&str> = l.listener_filters.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["envoy.filters.listener.tls_inspector"]);
}

#[test]
fn listener_version_follows_inputs_not_encoding() {
    let g = gateway();
    assert_eq!(resource(&g).version, resource(&g.clone()).version);
    let mut g2 = g.clone();
    g2.audit.stdout = false;
    assert_ne!(resource(&g).version, resource(&g2).version);
    let mut g3 = g.clone();
    g3.listener.key_pem = crate::sensitive::Sensitive("other".into());
    assert_ne!(resource(&g).version, resource(&g3).version);
}
