use super::*;
use crate::sensitive::Sensitive;
use crate::translate::fixtures::target;
use prost::Message as _;

fn action(r: &Route) -> &RouteAction {
    match r.action.as_ref().unwrap() {
        Action::Route(a) => a,
        _ => panic!("{} is not a route action", r.name),
    }
}

fn cluster_of(r: &Route) -> &str {
    match action(r).cluster_specifier.as_ref().unwrap() {
        ClusterSpecifier::Cluster(c) => c,
        _ => panic!(),
    }
}

#[test]
fn each_context_gets_upgrade_watch_follow_and_ordinary_routes_then_a_fail_closed_route() {
    let rc = route_configuration(
        &[target("a", "127.0.0.1", 1), target("b", "127.0.0.1", 2)],
        None,
        &Options::default(),
    );
    let routes = &rc.virtual_hosts[0].routes;
    let names: Vec<&str> = routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "a/upgrade",
            "a/watchquery",
            "a/watchpath",
            "a/followlogs",
            "a/ordinary",
            "b/upgrade",
            "b/watchquery",
            "b/watchpath",
            "b/followlogs",
            "b/ordinary",
            "no-context"
        ]
    );
    assert_eq!(cluster_of(&routes[0]), "ctx/a/upgrade");
    assert_eq!(cluster_of(&routes[4]), "ctx/a");
    assert!(matches!(routes[10].action, Some(Action::DirectResponse(ref d)) if d.status == 404));
    assert_eq!(
        rc.request_headers_to_remove,
        vec![
            names::CONTEXT_HEADER.to_string(),
            kubeplex_proto::routing::CACHE_KEY_HEADER.to_string(),
            "authorization".to_string()
        ]
    );
}

#[test]
fn every_context_route_matches_the_filter_header_exactly() {
    let rc = route_configuration(
        &[target("dev-a", "127.0.0.1", 1)],
        None,
        &Options::default(),
    );
    for r in &rc.virtual_hosts[0].routes[..5] {
        let m = r.r#match.as_ref().unwrap();
        let h = &m.headers[0];
        assert_eq!(h.name, names::CONTEXT_HEADER);
        assert_eq!(
            h.header_match_specifier,
            Some(HeaderMatchSpecifier::StringMatch(exact("dev-a")))
        );
    }
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
fn upstream_bearer_token_replaces_whatever_came_in() {
    let mut t = target("a", "127.0.0.1", 1);
    t.bearer_token = Some(Sensitive("upstream-secret".into()));
    let rc = route_configuration(&[t], None, &Options::default());
    for r in &rc.virtual_hosts[0].routes[..5] {
        let h = &r.request_headers_to_add[0];
        assert_eq!(h.header.as_ref().unwrap().key, "authorization");
        assert_eq!(h.header.as_ref().unwrap().value, "Bearer upstream-secret");
        assert_eq!(
            h.append_action,
            HeaderAppendAction::OverwriteIfExistsOrAdd as i32
        );
    }
}

#[test]
fn server_path_prefix_is_prepended_and_host_rewritten() {
    let mut t = target("rancher", "rancher.example.com", 443);
    t.server.path = "/k8s/clusters/c-abc".into();
    let rc = route_configuration(&[t], None, &Options::default());
    let a = action(&rc.virtual_hosts[0].routes[4]);
    assert_eq!(a.prefix_rewrite, "/k8s/clusters/c-abc/");
    assert_eq!(
        a.host_rewrite_specifier,
        Some(HostRewriteSpecifier::HostRewriteLiteral(
            "rancher.example.com".into()
        ))
    );
    let rc = route_configuration(&[target("x", "::1", 6443)], None, &Options::default());
    let a = action(&rc.virtual_hosts[0].routes[4]);
    assert_eq!(
        a.host_rewrite_specifier,
        Some(HostRewriteSpecifier::HostRewriteLiteral(
            "[::1]:6443".into()
        ))
    );
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
    let routes = context_routes(&target("a", "127.0.0.1", 6443), &Options::default(), true);
    for r in &routes {
        let retry = action(r).retry_policy.as_ref();
        if r.name == "a/upgrade" {
            assert!(retry.is_none(), "an upgrade is never sent twice");
        } else {
            let retry = retry.unwrap_or_else(|| panic!("{} retries refused streams", r.name));
            assert_eq!(retry.retry_on, "refused-stream", "{}", r.name);
            assert_eq!(retry.num_retries.map(|n| n.value), Some(3));
        }
    }
}
