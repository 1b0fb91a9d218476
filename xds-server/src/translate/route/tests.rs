use super::*;
use crate::translate::fixtures::target;
use prost::Message as _;

fn action(r: &Route) -> &RouteAction {
    match r.action.as_ref().unwrap() {
        Action::Route(a) => a,
        _ => panic!("{} is not a route action", r.name),
    }
}

fn cluster_of(r: &Route) -> &ClusterSpecifier {
    action(r).cluster_specifier.as_ref().unwrap()
}

fn by_header() -> ClusterSpecifier {
    ClusterSpecifier::ClusterHeader(names::CLUSTER_HEADER.into())
}

#[test]
fn the_routes_do_not_grow_with_the_contexts() {
    let one = route_configuration(&[target("a", "127.0.0.1", 1)], None, &Options::default());
    let many: Vec<ClusterTarget> = (0..1000)
        .map(|i| target(&format!("c{i}"), "127.0.0.1", 1000 + i))
        .collect();
    let thousand = route_configuration(&many, None, &Options::default());
    assert_eq!(one, thousand);
    let names: Vec<&str> = one.virtual_hosts[0]
        .routes
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "upgrade",
            "watchquery",
            "watchpath",
            "followlogs",
            "ordinary",
            "no-context"
        ]
    );
    let routes = &one.virtual_hosts[0].routes;
    for r in &routes[..5] {
        assert_eq!(cluster_of(r), &by_header(), "{}", r.name);
        assert_eq!(
            action(r).host_rewrite_specifier,
            Some(HostRewriteSpecifier::AutoHostRewrite(BoolValue {
                value: true
            })),
            "the cluster's endpoint hostname is the apiserver's Host"
        );
        assert!(r.request_headers_to_add.is_empty(), "nothing per context");
    }
    assert!(matches!(routes[5].action, Some(Action::DirectResponse(ref d)) if d.status == 404));
    assert_eq!(
        one.request_headers_to_remove,
        vec![
            names::CLUSTER_HEADER.to_string(),
            kubeplex_proto::routing::CACHE_KEY_HEADER.to_string(),
            "authorization".to_string()
        ]
    );
}

#[test]
fn only_a_contexts_cluster_name_matches_a_generic_route() {
    // the filter names `ctx/...` clusters only; a value naming the control
    // plane's or the agents' cluster would fall through to the 404
    let rc = route_configuration(&[], None, &Options::default());
    for r in &rc.virtual_hosts[0].routes[..5] {
        let h = &r.r#match.as_ref().unwrap().headers[0];
        assert_eq!(h.name, names::CLUSTER_HEADER);
        assert_eq!(
            h.header_match_specifier,
            Some(HeaderMatchSpecifier::StringMatch(StringMatcher {
                match_pattern: Some(MatchPattern::Prefix("ctx/".into())),
                ..Default::default()
            })),
            "{}",
            r.name
        );
    }
    let upgrade = rc.virtual_hosts[0].routes[0].r#match.as_ref().unwrap();
    assert_eq!(upgrade.headers[1].name, "upgrade");
    assert_eq!(
        upgrade.headers[1].header_match_specifier,
        Some(HeaderMatchSpecifier::PresentMatch(true))
    );
}

#[test]
fn streams_have_no_route_timeout_and_ordinary_requests_do() {
    let options = Options::default();
    let rc = route_configuration(&[target("a", "127.0.0.1", 1)], None, &options);
    let routes = &rc.virtual_hosts[0].routes;
    for r in &routes[..4] {
        assert_eq!(action(r).timeout, Some(seconds(0)), "{}", r.name);
        assert_eq!(
            action(r).idle_timeout,
            Some(seconds(options.stream_idle_timeout_seconds))
        );
    }
    assert_eq!(
        action(&routes[4]).timeout,
        Some(seconds(options.request_timeout_seconds))
    );
    for r in &routes[..5] {
        // The filter's grpc-timeout ends the stream when the token expires.
        let msd = action(r).max_stream_duration.as_ref().unwrap();
        assert_eq!(msd.grpc_timeout_header_max, Some(seconds(0)));
        assert_eq!(
            r.request_headers_to_remove,
            vec!["grpc-timeout".to_string()]
        );
    }
}

#[test]
fn watch_and_follow_match_kubernetes_true_values() {
    let re = regex::Regex::new(TRUE_VALUES).unwrap();
    for v in ["1", "t", "T", "true", "TRUE", "True"] {
        assert!(re.is_match(v), "{v}");
    }
    for v in ["0", "false", "yes", "truee", ""] {
        assert!(!re.is_match(v), "{v}");
    }
    let watch = regex::Regex::new(WATCH_PATH).unwrap();
    assert!(watch.is_match("/api/v1/watch/namespaces/default/configmaps"));
    assert!(watch.is_match("/apis/apps/v1/watch/deployments"));
    assert!(!watch.is_match("/api/v1/namespaces/watch/configmaps"));
}

#[test]
fn a_server_path_gets_its_own_routes_first_with_the_prefix_prepended() {
    let mut rancher = target("rancher", "rancher.example.com", 443);
    rancher.server.path = "/k8s/clusters/c-abc".into();
    let rc = route_configuration(
        &[target("a", "127.0.0.1", 1), rancher],
        None,
        &Options::default(),
    );
    let routes = &rc.virtual_hosts[0].routes;
    let names: Vec<&str> = routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names[..5],
        [
            "ctx/rancher/upgrade/upgrade",
            "ctx/rancher/watchquery",
            "ctx/rancher/watchpath",
            "ctx/rancher/followlogs",
            "ctx/rancher/ordinary",
        ]
    );
    for (r, cluster) in routes[..5].iter().zip([
        "ctx/rancher/upgrade",
        "ctx/rancher",
        "ctx/rancher",
        "ctx/rancher",
        "ctx/rancher",
    ]) {
        assert_eq!(action(r).prefix_rewrite, "/k8s/clusters/c-abc/");
        assert_eq!(
            cluster_of(r),
            &ClusterSpecifier::Cluster(cluster.into()),
            "{}",
            r.name
        );
        // matched on exactly the name the filter sets for this context
        let h = &r.r#match.as_ref().unwrap().headers[0];
        assert_eq!(
            h.header_match_specifier,
            Some(HeaderMatchSpecifier::StringMatch(exact(cluster)))
        );
        assert_eq!(
            action(r).host_rewrite_specifier,
            Some(HostRewriteSpecifier::AutoHostRewrite(BoolValue {
                value: true
            }))
        );
    }
    // then the generic ones, which never rewrite the path
    assert_eq!(names[5], "upgrade");
    assert!(
        routes[5..]
            .iter()
            .filter_map(|r| match &r.action {
                Some(Action::Route(a)) => Some(a),
                _ => None,
            })
            .all(|a| a.prefix_rewrite.is_empty())
    );
}

#[test]
fn agent_routes_come_before_the_generic_ones_and_match_the_agents_names() {
    let agent = AgentRoute {
        name: "edge".into(),
        not_connected_message: "not connected".into(),
    };
    let rc = route_configuration_with_agents(
        &[target("a", "127.0.0.1", 1)],
        &[agent],
        None,
        &Options::default(),
        None,
    );
    let routes = &rc.virtual_hosts[0].routes;
    for (r, named) in routes[..5].iter().zip([
        "ctx/edge/upgrade",
        "ctx/edge",
        "ctx/edge",
        "ctx/edge",
        "ctx/edge",
    ]) {
        let h = &r.r#match.as_ref().unwrap().headers[0];
        assert_eq!(h.name, names::CLUSTER_HEADER);
        assert_eq!(
            h.header_match_specifier,
            Some(HeaderMatchSpecifier::StringMatch(exact(named))),
            "{}",
            r.name
        );
        assert_eq!(
            cluster_of(r),
            &ClusterSpecifier::Cluster(agent_names::CLUSTER.into())
        );
    }
    assert_eq!(routes[5].name, "upgrade");
}

#[test]
fn login_settings_are_answered_by_envoy_on_one_exact_path_without_the_filter() {
    let settings = LoginSettings {
        issuer: "https://idp.example.com".into(),
        client_id: "kubeplex".into(),
        scopes: vec!["openid".into(), "offline_access".into()],
        issuer_certificate_authority: None,
        context_server_name_suffix: None,
        gateway_certificate_authority: None,
        gateway_certificate_authority_fingerprint: None,
    };
    let rc = route_configuration(
        &[target("a", "127.0.0.1", 1)],
        Some(&settings),
        &Options::default(),
    );
    let routes = &rc.virtual_hosts[0].routes;
    let login = &routes[0];
    let m = login.r#match.as_ref().unwrap();
    assert_eq!(
        m.path_specifier,
        Some(PathSpecifier::Path("/.well-known/kubeplex".into()))
    );
    assert_eq!(m.headers[0].name, ":method");
    let Some(Action::DirectResponse(answer)) = &login.action else {
        panic!("not a direct response: {:?}", login.action)
    };
    assert_eq!(answer.status, 200);
    let Some(DataSource {
        specifier: Some(data_source::Specifier::InlineString(body)),
        ..
    }) = &answer.body
    else {
        panic!("no inline body")
    };
    let published: LoginSettings = serde_json::from_str(body).unwrap();
    assert_eq!(published, settings);
    // The filter is off on this route, and on no other.
    let off = &login.typed_per_filter_config[crate::translate::names::FILTER];
    let off = envoy_types::pb::envoy::config::route::v3::FilterConfig::decode(off.value.as_slice())
        .unwrap();
    assert!(off.disabled);
    assert!(
        routes[1..]
            .iter()
            .all(|r| r.typed_per_filter_config.is_empty())
    );
    // Without a login section there is no such route.
    let rc = route_configuration(&[target("a", "127.0.0.1", 1)], None, &Options::default());
    assert!(
        rc.virtual_hosts[0]
            .routes
            .iter()
            .all(|r| r.name != "login-settings")
    );
}

#[test]
fn only_refused_streams_are_retried_and_never_an_upgrade() {
    // the discovery route too (a cache miss that Envoy does not fetch itself)
    let routes = generic_routes(&Options::default(), true);
    assert_eq!(routes.len(), 6);
    for r in &routes {
        let retry = action(r).retry_policy.as_ref();
        if r.name == "upgrade" {
            assert!(retry.is_none(), "an upgrade is never sent twice");
        } else {
            let retry = retry.unwrap_or_else(|| panic!("{} retries refused streams", r.name));
            assert_eq!(retry.retry_on, "refused-stream", "{}", r.name);
            assert_eq!(retry.num_retries.map(|n| n.value), Some(3));
        }
    }
}

/// The filter leaves the token-expiry deadline out of ordinary requests the
/// route timeout ends first (`kubeplex_filter_core::deadline`): the timeout
/// it is told is the one the ordinary routes have, and no route without
/// that timeout matches a request of the ordinary kind.
#[test]
fn the_filter_is_told_the_ordinary_routes_timeout() {
    let options = Options {
        request_timeout_seconds: 77,
        ..Options::default()
    };
    let gateway = crate::translate::fixtures::gateway();
    let targets = [target("a", "127.0.0.1", 1)];
    let agents = crate::translate::agents::routes(&gateway, &targets, |_| String::new());
    let inputs = crate::translate::Inputs {
        clusters: &targets,
        gateway: &gateway,
        issuers: &[],
        revocations: &[],
        policy: None,
        agents: &agents,
    };
    let told = crate::translate::filter_config::filter_config(&inputs, &options);
    assert_eq!(told.request_timeout_seconds, 77);
    let rc = route_configuration(&targets, None, &options);
    let ordinary = rc.virtual_hosts[0]
        .routes
        .iter()
        .find(|r| r.name.ends_with("ordinary"))
        .expect("an ordinary route");
    assert_eq!(action(ordinary).timeout, Some(seconds(77)));
}

/// Every route without a timeout matches only what the filter reads as a
/// possible stream and keeps the token-expiry deadline on
/// (`kubeplex_filter_core::deadline::might_stream`): an `upgrade` header, a
/// `watch` or `follow` query parameter, or a path regex about `watch`.
/// Every other route has the timeout the filter is told. A new streaming
/// kind of route fails this test until the filter knows it.
#[test]
fn only_requests_the_filter_treats_as_streams_reach_routes_without_a_timeout() {
    let options = Options::default();
    let mut rancher = target("rancher", "rancher.example.com", 443);
    rancher.server.path = "/k8s/clusters/c-abc".into();
    let agent = AgentRoute {
        name: "edge".into(),
        not_connected_message: "not connected".into(),
    };
    let cache = DiscoveryCacheConfig {
        directory: "/var/cache/kubeplex".into(),
        ttl_seconds: 45,
        max_bytes: 1 << 26,
        max_entries: 500,
        shared: false,
        shared_clusters: Default::default(),
    };
    let rc = route_configuration_with_agents(
        &[target("a", "127.0.0.1", 1), rancher],
        &[agent],
        None,
        &options,
        Some(&cache),
    );
    let mut timed = 0;
    for r in &rc.virtual_hosts[0].routes {
        let Some(Action::Route(action)) = &r.action else {
            continue;
        };
        if action.timeout == Some(seconds(options.request_timeout_seconds)) {
            timed += 1;
            continue;
        }
        assert_eq!(action.timeout, Some(seconds(0)), "{}", r.name);
        let m = r.r#match.as_ref().unwrap();
        let upgrade = m.headers.iter().any(|h| h.name == "upgrade");
        let parameter = m
            .query_parameters
            .iter()
            .any(|q| q.name == "watch" || q.name == "follow");
        let watch_path = matches!(
            &m.path_specifier,
            Some(PathSpecifier::SafeRegex(re)) if re.regex.contains("/watch")
        );
        assert!(
            upgrade || parameter || watch_path,
            "{}: no timeout, but the filter may read it as ordinary",
            r.name
        );
    }
    assert!(
        timed >= 3,
        "ordinary routes of the context, rancher, the agent"
    );
}
