//! The translated resources, checked by the real Envoy: they are encoded
//! into a binary bootstrap (`.pb`) and run through `envoy --mode validate`,
//! which also loads the built wasm filter with the pushed `FilterConfig`.
//! Needs the Envoy binary (`make setup`) and the built filter (`make build`).

use envoy_types::pb::envoy::config::bootstrap::v3::{
    Bootstrap,
    bootstrap::{DynamicResources, StaticResources},
};
use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::core::v3::TypedExtensionConfig;
use envoy_types::pb::envoy::config::core::v3::{
    ApiConfigSource, GrpcService, api_config_source::ApiType, grpc_service,
};
use envoy_types::pb::envoy::config::listener::v3::{Listener, filter};
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier, http_filter::ConfigType,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::Secret;
use prost::Message;

use super::fixtures::{gateway, target};
use super::*;

fn decode<T: Message + Default>(r: &Resource) -> T {
    T::decode(r.body.value.as_slice()).unwrap()
}

/// `cluster` with its SDS secrets looked up among the bootstrap's static
/// secrets instead of on the ADS stream: `envoy --mode validate` crashes
/// (1.40) on static clusters whose secrets come by ADS, which it never
/// connects to. The secrets themselves are validated as static ones.
fn with_static_secrets(mut cluster: Cluster) -> Cluster {
    use envoy_types::pb::envoy::config::core::v3::transport_socket::ConfigType;
    use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
        UpstreamTlsContext, common_tls_context::ValidationContextType,
    };
    let Some(socket) = cluster.transport_socket.as_mut() else {
        return cluster;
    };
    let Some(ConfigType::TypedConfig(any)) = &socket.config_type else {
        panic!("{}: no typed TLS config", cluster.name)
    };
    let mut tls = UpstreamTlsContext::decode(any.value.as_slice()).unwrap();
    let common = tls.common_tls_context.as_mut().unwrap();
    for sds in &mut common.tls_certificate_sds_secret_configs {
        assert!(sds.sds_config.take().is_some(), "{}: not by ADS", sds.name);
    }
    if let Some(ValidationContextType::CombinedValidationContext(c)) =
        common.validation_context_type.as_mut()
    {
        let sds = c.validation_context_sds_secret_config.as_mut().unwrap();
        assert!(sds.sds_config.take().is_some(), "{}: not by ADS", sds.name);
    }
    socket.config_type = Some(ConfigType::TypedConfig(pack(&tls)));
    cluster
}

#[test]
fn envoy_accepts_every_translated_resource() {
    let mut bearer = target("bearer", "api.example.com", 443);
    bearer.client_cert_pem = None;
    bearer.client_key_pem = None;
    bearer.bearer_token = Some(crate::sensitive::Sensitive("t0ken".into()));
    let mut bearer_direct = bearer.clone();
    bearer_direct.context = "bearer-direct".into();
    bearer.server.path = "/k8s/clusters/c-1".into();
    let targets = vec![target("dev-a", "127.0.0.1", 6443), bearer, bearer_direct];
    let cache_dir = tempfile::tempdir().unwrap();
    let mut gw = gateway();
    gw.listener.client_ca_pem = Some(super::fixtures::cert("clients").0);
    // the discovery cache: its filter, discovery clusters and routes too
    gw.discovery_cache = Some(crate::inputs::gateway_config::DiscoveryCacheConfig {
        directory: cache_dir.path().to_path_buf(),
        ttl_seconds: 60,
        max_bytes: 1 << 26,
        max_entries: 1000,
        shared: false,
        shared_clusters: [("dev-a".to_string(), true)].into_iter().collect(),
    });
    let issuers = vec![];
    let policy = kubeplex_proto::filter::v1::Policy::default();
    let inputs = Inputs {
        clusters: &targets,
        gateway: &gw,
        issuers: &issuers,
        revocations: &[],
        policy: Some(&policy),
        agents: &[],
    };
    let wasm = WasmModule {
        path: kubeplex_test_support::filter_wasm().display().to_string(),
        sha256: Some("00".repeat(32)),
    };
    let resources = translate(
        &inputs,
        &Options {
            wasm,
            ..Options::default()
        },
    );

    let clusters: Vec<Cluster> = resources
        .clusters
        .iter()
        .map(|c| with_static_secrets(decode(c)))
        .collect();
    let secrets: Vec<Secret> = resources.secrets.iter().map(decode).collect();
    assert!(!secrets.is_empty());
    let mut ads_listener: Listener = decode(&resources.listeners[0]);
    let routes: RouteConfiguration = decode(&resources.routes[0]);
    let ecds: TypedExtensionConfig = decode(&resources.extension_configs[0]);

    // A second listener with the routes and the filter inline, so Envoy
    // validates them too (the first one references them by RDS/ECDS).
    let mut inline = ads_listener.clone();
    inline.name = "inline".into();
    inline.address = Some(super::cluster::socket_address("127.0.0.1", 18444));
    let chain = &mut inline.filter_chains[0].filters[0];
    let Some(filter::ConfigType::TypedConfig(any)) = &chain.config_type else {
        panic!()
    };
    let mut hcm = HttpConnectionManager::decode(any.value.as_slice()).unwrap();
    hcm.route_specifier = Some(RouteSpecifier::RouteConfig(routes));
    hcm.http_filters[0].config_type = Some(ConfigType::TypedConfig(ecds.typed_config.unwrap()));
    chain.config_type = Some(filter::ConfigType::TypedConfig(pack(&hcm)));
    ads_listener.name = names::LISTENER.into();

    let mut xds = Cluster {
        name: "kubeplex-xds".into(),
        ..Default::default()
    };
    xds.connect_timeout = Some(seconds(1));
    let bootstrap = Bootstrap {
        node: Some(envoy_types::pb::envoy::config::core::v3::Node {
            id: "validate".into(),
            cluster: "kubeplex".into(),
            ..Default::default()
        }),
        static_resources: Some(StaticResources {
            listeners: vec![ads_listener, inline],
            clusters: clusters.into_iter().chain([xds]).collect(),
            secrets,
        }),
        dynamic_resources: Some(DynamicResources {
            ads_config: Some(ApiConfigSource {
                api_type: ApiType::Grpc as i32,
                transport_api_version: envoy_types::pb::envoy::config::core::v3::ApiVersion::V3
                    as i32,
                grpc_services: vec![GrpcService {
                    target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(
                        grpc_service::EnvoyGrpc {
                            cluster_name: "kubeplex-xds".into(),
                            ..Default::default()
                        },
                    )),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bootstrap.pb");
    std::fs::write(&path, bootstrap.encode_to_vec()).unwrap();
    kubeplex_test_support::assert_envoy_accepts(&path, "the translation");
}

/// Ends the Envoy a test started, whatever the test's outcome.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 request with `headers` to 127.0.0.1:`port`: the status and
/// the body (the connection closes after it).
fn http_get(port: u16, headers: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "GET /api HTTP/1.1\r\nHost: gw\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// Default deny in the route configuration itself, in the real Envoy (the
/// filter never lets a request through without naming a known context's
/// cluster; this is what happens if one got past it, or when the filter's
/// config and the clusters are briefly out of step): no cluster header, or
/// a cluster that is not a context's, reaches no cluster (404 `Status`);
/// a context's cluster Envoy does not have (yet, or any more) is Envoy's
/// 503 `NC`, which kubectl gets as a `ServiceUnavailable` `Status`.
#[test]
fn the_routes_send_nothing_to_a_cluster_the_filter_did_not_name() {
    let mut targets = vec![target("dev-a", "127.0.0.1", 1)];
    // TLS material inline: this Envoy has no ADS stream to fetch it on
    targets[0].cluster_entry = None;
    targets[0].user_entry = None;
    let gw = gateway();
    let inputs = Inputs {
        clusters: &targets,
        gateway: &gw,
        issuers: &[],
        revocations: &[],
        policy: None,
        agents: &[],
    };
    let resources = translate(&inputs, &Options::default());
    let mut listener: Listener = decode(&resources.listeners[0]);
    let port = kubeplex_test_support::free_port().unwrap();
    listener.address = Some(super::cluster::socket_address("127.0.0.1", port));
    // plain HTTP, the router alone (the filter's decisions are not tested
    // here), the translated routes and local replies
    listener.listener_filters.clear();
    let chain = &mut listener.filter_chains[0];
    chain.transport_socket = None;
    let Some(filter::ConfigType::TypedConfig(any)) = &chain.filters[0].config_type else {
        panic!()
    };
    let mut hcm = HttpConnectionManager::decode(any.value.as_slice()).unwrap();
    hcm.route_specifier = Some(RouteSpecifier::RouteConfig(decode(&resources.routes[0])));
    hcm.http_filters
        .retain(|f| f.name == "envoy.filters.http.router");
    hcm.access_log.clear();
    chain.filters[0].config_type = Some(filter::ConfigType::TypedConfig(pack(&hcm)));
    let bootstrap = Bootstrap {
        static_resources: Some(StaticResources {
            listeners: vec![listener],
            clusters: resources.clusters.iter().map(decode).collect(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bootstrap.pb");
    std::fs::write(&path, bootstrap.encode_to_vec()).unwrap();
    let _envoy = Running(
        std::process::Command::new(kubeplex_test_support::envoy())
            .args(["--disable-hot-restart", "--log-level", "warn", "-c"])
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    kubeplex_test_support::wait_for(
        "Envoy's listener",
        std::time::Duration::from_secs(30),
        || std::net::TcpStream::connect(("127.0.0.1", port)),
    );
    let status_of = |body: &str| -> serde_json::Value { serde_json::from_str(body).unwrap() };
    for headers in ["", "x-kubeplex-cluster: kubeplex-xds\r\n"] {
        let (code, body) = http_get(port, headers);
        assert_eq!(code, 404, "{headers:?}: {body}");
        assert_eq!(status_of(&body)["reason"], "NotFound", "{body}");
    }
    let (code, body) = http_get(port, "x-kubeplex-cluster: ctx/removed\r\n");
    assert_eq!(code, 503, "{body}");
    let status = status_of(&body);
    assert_eq!(
        (status["kind"].as_str(), status["reason"].as_str()),
        (Some("Status"), Some("ServiceUnavailable")),
        "{body}"
    );
}
