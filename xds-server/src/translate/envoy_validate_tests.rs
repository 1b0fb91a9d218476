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
use prost::Message;

use super::fixtures::{gateway, target};
use super::*;

fn decode<T: Message + Default>(r: &Resource) -> T {
    T::decode(r.body.value.as_slice()).unwrap()
}

#[test]
fn envoy_accepts_every_translated_resource() {
    let envoy = kubeplex_test_support::envoy();
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

    let clusters: Vec<Cluster> = resources.clusters.iter().map(decode).collect();
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
            ..Default::default()
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
    let out = std::process::Command::new(envoy)
        .args([
            "--mode",
            "validate",
            "--disable-hot-restart",
            "--log-level",
            "warn",
            "-c",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "envoy rejected the translation:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("OK"), "{stdout}");
}
