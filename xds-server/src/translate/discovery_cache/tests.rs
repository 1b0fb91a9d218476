use envoy_types::pb::envoy::config::common::mutation_rules::v3::{
    HeaderMutation as HeaderOp, header_mutation::Action,
};
use envoy_types::pb::envoy::config::route::v3::{
    RouteConfiguration, header_matcher::HeaderMatchSpecifier, route::Action as RouteAction,
    route_action::ClusterSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::http::header_mutation::v3::HeaderMutation;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
use kubeplex_proto::filter::v1 as pb;
use prost::Message;

use super::*;
use crate::inputs::gateway_config::GatewayConfig;
use crate::translate::fixtures::{gateway, target};
use crate::translate::{Inputs, filter_config, listener, route, translate};

fn cache(shared: bool) -> DiscoveryCacheConfig {
    DiscoveryCacheConfig {
        directory: "/var/cache/kubeplex".into(),
        ttl_seconds: 45,
        max_bytes: 1 << 26,
        max_entries: 500,
        shared,
        shared_clusters: [("b".to_string(), !shared)].into_iter().collect(),
    }
}

fn filter_contexts(targets: &[ClusterTarget], gw: &GatewayConfig) -> Vec<pb::Context> {
    let inputs = Inputs {
        clusters: targets,
        gateway: gw,
        issuers: &[],
        revocations: &[],
        policy: None,
        agents: &[],
    };
    filter_config::filter_config(&inputs, &Default::default()).contexts
}

#[test]
fn without_the_section_nothing_is_cached() {
    let gw = gateway();
    let targets = [target("a", "127.0.0.1", 1)];
    let contexts = filter_contexts(&targets, &gw);
    assert!(contexts.iter().all(|c| c.cache_scope.is_empty()));
    let resources = translate(
        &Inputs {
            clusters: &targets,
            gateway: &gw,
            issuers: &[],
            revocations: &[],
            policy: None,
            agents: &[],
        },
        &Options::default(),
    );
    assert_eq!(resources.clusters.len(), 2, "no discovery cluster");
    let hcm = hcm(&gw);
    assert!(hcm.http_filters.iter().all(|f| f.name != CACHE_FILTER));
}

fn hcm(gw: &GatewayConfig) -> HttpConnectionManager {
    let l = listener::listener(gw);
    let Some(envoy_types::pb::envoy::config::listener::v3::filter::ConfigType::TypedConfig(any)) =
        &l.filter_chains[0].filters[0].config_type
    else {
        panic!("no hcm")
    };
    HttpConnectionManager::decode(any.value.as_slice()).unwrap()
}

#[test]
fn the_cache_filter_sits_off_between_the_kubeplex_filter_and_the_router() {
    let mut gw = gateway();
    gw.discovery_cache = Some(cache(false));
    let names: Vec<_> = hcm(&gw).http_filters.into_iter().collect();
    let order: Vec<&str> = names.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        order,
        [names::FILTER, CACHE_FILTER, "envoy.filters.http.router"]
    );
    assert!(
        !names[1].disabled,
        "a route cannot switch it on after the filter picked it"
    );
    // the listener's version follows the cache's settings
    let before = listener::resource(&gw).version;
    gw.discovery_cache.as_mut().unwrap().max_bytes *= 2;
    assert_ne!(listener::resource(&gw).version, before);
}

#[test]
fn scopes_follow_the_cluster_and_the_shared_setting() {
    let mut gw = gateway();
    gw.discovery_cache = Some(cache(false));
    let mut with_prefix = target("rancher", "127.0.0.1", 3);
    with_prefix.server.path = "/k8s/clusters/c-1".into();
    let targets = [
        target("a", "127.0.0.1", 1),
        target("b", "127.0.0.1", 2),
        with_prefix,
    ];
    let contexts = filter_contexts(&targets, &gw);
    let (a, b, rancher) = (&contexts[0], &contexts[1], &contexts[2]);
    assert!(!a.cache_scope.is_empty() && !a.cache_shared);
    assert!(
        !b.cache_scope.is_empty() && b.cache_shared,
        "per-cluster override"
    );
    assert_ne!(a.cache_scope, b.cache_scope);
    assert!(
        rancher.cache_scope.is_empty(),
        "a server path is not cached"
    );

    // the same context pointed at another apiserver: a new scope, so the
    // old entries are never reached
    let moved = [target("a", "127.0.0.1", 9)];
    assert_ne!(filter_contexts(&moved, &gw)[0].cache_scope, a.cache_scope);
    // unchanged inputs: the same scope (entries survive a reload)
    let mut same = targets[0].clone();
    same.ca_pem = targets[0].ca_pem.clone();
    assert_eq!(
        filter_contexts(std::slice::from_ref(&same), &gw)[0].cache_scope,
        a.cache_scope
    );
}

#[test]
fn discovery_routes_enable_the_cache_and_go_to_the_discovery_cluster() {
    let c = cache(false);
    let mut rancher = target("rancher", "127.0.0.1", 3);
    rancher.server.path = "/k8s".into();
    let rc: RouteConfiguration = route::route_configuration_with_agents(
        &[target("a", "127.0.0.1", 1), rancher],
        &[],
        None,
        &Options::default(),
        Some(&c),
    );
    let routes = &rc.virtual_hosts[0].routes;
    let names_: Vec<&str> = routes.iter().map(|r| r.name.as_str()).collect();
    // one discovery route for every cached context; none of a context with
    // a server path (its own routes come first)
    assert_eq!(
        names_.iter().filter(|n| n.ends_with("discovery")).count(),
        1
    );
    assert!(
        !names_
            .iter()
            .any(|n| n.starts_with("ctx/rancher/discovery"))
    );
    let pos = |n: &str| names_.iter().position(|x| *x == n).unwrap();
    assert!(pos("ctx/rancher/ordinary") < pos("upgrade"));
    assert!(pos("followlogs") < pos("discovery") && pos("discovery") < pos("ordinary"));
    let discovery = &routes[pos("discovery")];
    // the filter's bypass value of Authorization never reaches a cluster:
    // removed by the route configuration (a cluster's upstream filter adds
    // its own token afterwards)
    assert!(
        rc.request_headers_to_remove
            .contains(&"authorization".to_string())
    );
    let m = discovery.r#match.as_ref().unwrap();
    assert!(m.headers.iter().any(|h| h.name == CACHE_KEY_HEADER
        && h.header_match_specifier == Some(HeaderMatchSpecifier::PresentMatch(true))));
    let Some(RouteAction::Route(action)) = &discovery.action else {
        panic!()
    };
    // the filter names `ctx/<context>/discovery` exactly when it sets the key
    assert_eq!(
        action.cluster_specifier,
        Some(ClusterSpecifier::ClusterHeader(
            kubeplex_proto::routing::CLUSTER_HEADER.into()
        ))
    );
    assert!(
        rc.request_headers_to_remove
            .contains(&CACHE_KEY_HEADER.to_string())
    );
}

fn upstream_rewrites(c: &Cluster) -> HeaderMutation {
    let any = &c.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS];
    let http = HttpProtocolOptions::decode(any.value.as_slice()).unwrap();
    assert_eq!(http.http_filters.len(), 2);
    assert_eq!(
        http.http_filters[1].name,
        "envoy.filters.http.upstream_codec"
    );
    let Some(ConfigType::TypedConfig(any)) = &http.http_filters[0].config_type else {
        panic!()
    };
    HeaderMutation::decode(any.value.as_slice()).unwrap()
}

fn op_text(op: &HeaderOp) -> String {
    match &op.action {
        Some(Action::Remove(name)) => format!("-{name}"),
        Some(Action::Append(h)) => {
            let h = h.header.as_ref().unwrap();
            format!("{}={}", h.key, h.value)
        }
        other => format!("{other:?}"),
    }
}

#[test]
fn the_discovery_cluster_makes_answers_storable_and_strips_gateway_headers() {
    let mut t = target("a", "127.0.0.1", 1);
    t.bearer_token = Some(crate::sensitive::Sensitive("tok".into()));
    let c = cluster_for(&t, &Options::default(), &Default::default(), 45);
    assert_eq!(c.name, "ctx/a/discovery");
    let m = upstream_rewrites(&c).mutations.unwrap();
    let request: Vec<String> = m.request_mutations.iter().map(op_text).collect();
    assert_eq!(
        request,
        [
            "-x-kubeplex-cluster",
            "-x-kubeplex-cache-key",
            "-grpc-timeout",
            "authorization=Bearer tok"
        ]
    );
    let response: Vec<String> = m.response_mutations.iter().map(op_text).collect();
    assert_eq!(
        response,
        [
            "-cache-control",
            "-expires",
            "cache-control=max-age=45",
            "vary=accept, accept-encoding, x-kubeplex-cache-key"
        ]
    );
    // same endpoint, TLS and health checks as the context's HTTP/2 cluster
    let main = cluster(
        &t,
        &Options::default(),
        &Default::default(),
        Protocol::Http2,
    );
    assert_eq!(c.load_assignment, main.load_assignment);
    assert_eq!(c.transport_socket, main.transport_socket);
    assert_eq!(c.health_checks, main.health_checks);
}
