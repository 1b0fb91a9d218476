use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    UpstreamTlsContext, common_tls_context::ValidationContextType,
    subject_alt_name_matcher::SanType,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions, http_protocol_options::UpstreamProtocolOptions,
    http_protocol_options::explicit_http_config::ProtocolConfig,
};
use prost::Message;

use super::*;
use crate::translate::fixtures::target;
use envoy_types::pb::envoy::config::core::v3::config_source;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpFilter;

fn tls_of(c: &Cluster) -> UpstreamTlsContext {
    let Some(transport_socket::ConfigType::TypedConfig(any)) = c
        .transport_socket
        .as_ref()
        .and_then(|t| t.config_type.clone())
    else {
        panic!("no TLS on {}", c.name)
    };
    UpstreamTlsContext::decode(any.value.as_slice()).unwrap()
}

/// The per-cluster part of the validation context (with the CA from a
/// secret, the combined context's default part).
fn checks_of(tls: &UpstreamTlsContext) -> CertificateValidationContext {
    match tls
        .common_tls_context
        .clone()
        .unwrap()
        .validation_context_type
    {
        Some(ValidationContextType::ValidationContext(v)) => v,
        Some(ValidationContextType::CombinedValidationContext(c)) => {
            c.default_validation_context.unwrap()
        }
        other => panic!("no validation context: {other:?}"),
    }
}

/// The secret the CA comes from, if any.
fn ca_secret_of(tls: &UpstreamTlsContext) -> Option<String> {
    match tls
        .common_tls_context
        .clone()
        .unwrap()
        .validation_context_type
    {
        Some(ValidationContextType::CombinedValidationContext(c)) => {
            let sds = c.validation_context_sds_secret_config.unwrap();
            let source = sds.sds_config.unwrap();
            assert!(matches!(
                source.config_source_specifier,
                Some(config_source::ConfigSourceSpecifier::Ads(_))
            ));
            Some(sds.name)
        }
        _ => None,
    }
}

fn protocol_of(c: &Cluster) -> ProtocolConfig {
    let any = &c.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
    let opts = HttpProtocolOptions::decode(any.value.as_slice()).unwrap();
    let Some(UpstreamProtocolOptions::ExplicitHttpConfig(e)) = opts.upstream_protocol_options
    else {
        panic!("no explicit protocol")
    };
    e.protocol_config.unwrap()
}

#[test]
fn a_context_gets_an_http2_cluster_and_an_http1_upgrade_cluster() {
    let [h2, h1] = clusters_for(
        &target("dev-a", "127.0.0.1", 6443),
        &Options::default(),
        &Default::default(),
    );
    assert_eq!(h2.name, "ctx/dev-a");
    assert_eq!(h1.name, "ctx/dev-a/upgrade");
    assert!(matches!(
        protocol_of(&h2),
        ProtocolConfig::Http2ProtocolOptions(_)
    ));
    assert!(matches!(
        protocol_of(&h1),
        ProtocolConfig::HttpProtocolOptions(_)
    ));
    assert_eq!(
        tls_of(&h2).common_tls_context.unwrap().alpn_protocols,
        vec!["h2"]
    );
    assert_eq!(
        tls_of(&h1).common_tls_context.unwrap().alpn_protocols,
        vec!["http/1.1"]
    );
    assert_eq!(
        h2.cluster_discovery_type,
        Some(ClusterDiscoveryType::Type(DiscoveryType::Static as i32))
    );
}

#[test]
fn hostnames_resolve_by_dns_and_get_sni_and_a_dns_san_check() {
    let c = cluster(
        &target("prod", "api.prod.example.com", 443),
        &Options::default(),
        &Default::default(),
        Protocol::Http2,
    );
    assert_eq!(
        c.cluster_discovery_type,
        Some(ClusterDiscoveryType::Type(DiscoveryType::StrictDns as i32))
    );
    let tls = tls_of(&c);
    assert_eq!(tls.sni, "api.prod.example.com");
    let v = checks_of(&tls);
    assert_eq!(v.match_typed_subject_alt_names.len(), 1);
    assert_eq!(
        v.match_typed_subject_alt_names[0].san_type,
        SanType::Dns as i32
    );
    assert_eq!(v.trusted_ca, None, "the CA comes from the secret");
    assert_eq!(
        ca_secret_of(&tls).as_deref(),
        Some("cluster/cluster-prod"),
        "{tls:?}"
    );
}

#[test]
fn ip_servers_check_an_ip_san_and_send_no_sni() {
    let tls = upstream_tls(
        &target("a", "127.0.0.1", 6443),
        &Options::default(),
        Protocol::Http2,
    );
    assert_eq!(tls.sni, "", "SNI must never be an IP literal");
    let v = checks_of(&tls);
    assert_eq!(
        v.match_typed_subject_alt_names[0].san_type,
        SanType::IpAddress as i32
    );
}

#[test]
fn tls_server_name_overrides_sni_and_the_checked_name() {
    let mut t = target("a", "10.0.0.1", 6443);
    t.tls_server_name = Some("kubernetes.default.svc".into());
    let tls = upstream_tls(&t, &Options::default(), Protocol::Http2);
    assert_eq!(tls.sni, "kubernetes.default.svc");
    let v = checks_of(&tls);
    assert_eq!(
        v.match_typed_subject_alt_names[0].san_type,
        SanType::Dns as i32
    );
}

#[test]
fn client_certificate_and_p521_are_offered() {
    let tls = upstream_tls(
        &target("a", "127.0.0.1", 6443),
        &Options::default(),
        Protocol::Http2,
    );
    let common = tls.common_tls_context.unwrap();
    assert_eq!(common.tls_certificates, vec![], "no key inline");
    let sds = &common.tls_certificate_sds_secret_configs;
    assert_eq!(sds.len(), 1);
    assert_eq!(sds[0].name, "user/user-a");
    let params = common.tls_params.unwrap();
    assert!(params.ecdh_curves.contains(&"P-521".to_string()));
    assert!(
        params
            .signature_algorithms
            .contains(&"ecdsa_secp521r1_sha512".to_string())
    );
}

#[test]
fn no_ca_in_kubeconfig_means_system_roots() {
    let mut t = target("a", "api.example.com", 443);
    t.ca_pem = None;
    let tls = upstream_tls(&t, &Options::default(), Protocol::Http2);
    assert_eq!(ca_secret_of(&tls), None, "system roots: no secret");
    let v = checks_of(&tls);
    let ca = v.trusted_ca.unwrap().specifier.unwrap();
    assert_eq!(
        ca,
        data_source::Specifier::Filename(Options::default().system_ca_file)
    );
}

#[test]
fn insecure_skip_tls_verify_accepts_untrusted_but_stays_tls() {
    let mut t = target("a", "api.example.com", 443);
    t.insecure_skip_tls_verify = true;
    let tls = upstream_tls(&t, &Options::default(), Protocol::Http2);
    assert_eq!(ca_secret_of(&tls), None, "nothing to trust: no secret");
    let v = checks_of(&tls);
    assert_eq!(
        v.trust_chain_verification,
        TrustChainVerification::AcceptUntrusted as i32
    );
    assert!(v.match_typed_subject_alt_names.is_empty());
}

#[test]
fn watches_do_not_hit_the_default_circuit_breaker() {
    let c = cluster(
        &target("a", "127.0.0.1", 6443),
        &Options::default(),
        &Default::default(),
        Protocol::Http2,
    );
    let t = &c.circuit_breakers.unwrap().thresholds[0];
    assert!(t.max_requests.unwrap().value > 1024);
}

#[test]
fn http2_pool_stays_within_the_apiservers_stream_limit_and_retries_refused_streams_in_bulk() {
    let [h2, _] = clusters_for(
        &target("a", "127.0.0.1", 6443),
        &Options::default(),
        &Default::default(),
    );
    let ProtocolConfig::Http2ProtocolOptions(http2) = protocol_of(&h2) else {
        panic!("HTTP/2 cluster")
    };
    assert_eq!(http2.max_concurrent_streams.map(|v| v.value), Some(100));
    let limits = &h2.circuit_breakers.as_ref().unwrap().thresholds[0];
    assert_eq!(limits.max_retries.map(|v| v.value), Some(10_000));
    assert_eq!(limits.max_requests.map(|v| v.value), Some(100_000));
}

#[test]
fn the_http2_cluster_checks_readyz_with_the_gateways_credentials_and_never_panic_routes() {
    use envoy_types::pb::envoy::config::core::v3::health_check::HealthChecker;
    let mut t = target("a", "kube.example", 6443);
    t.server.path = "/k8s/clusters/c-1".into();
    t.tls_server_name = Some("api.internal".into());
    t.bearer_token = Some(crate::sensitive::Sensitive("gateway-token".into()));
    let [h2, h1] = clusters_for(&t, &Options::default(), &Default::default());
    assert!(
        h1.health_checks.is_empty(),
        "upgrades share the HTTP/2 cluster's view"
    );
    let [check] = h2.health_checks.as_slice() else {
        panic!("one health check")
    };
    let Some(HealthChecker::HttpHealthCheck(http)) = &check.health_checker else {
        panic!("an HTTP health check")
    };
    assert_eq!(http.path, "/k8s/clusters/c-1/readyz");
    assert_eq!(http.host, "api.internal");
    let headers: Vec<_> = http
        .request_headers_to_add
        .iter()
        .filter_map(|h| h.header.as_ref())
        .map(|h| (h.key.as_str(), h.value.as_str()))
        .collect();
    assert_eq!(headers, [("authorization", "Bearer gateway-token")]);
    assert_eq!(check.unhealthy_threshold.map(|v| v.value), Some(2));
    for c in [&h2, &h1] {
        let panic = c
            .common_lb_config
            .as_ref()
            .and_then(|l| l.healthy_panic_threshold.as_ref())
            .map(|p| p.value);
        assert_eq!(panic, Some(0.0), "{}", c.name);
        let context = &c.metadata.as_ref().unwrap().filter_metadata[METADATA_NAMESPACE];
        assert_eq!(
            crate::translate::fixtures::string_field(context, "context"),
            Some("a")
        );
    }
}

#[test]
fn health_checks_follow_the_gateway_config_or_are_off() {
    let t = target("a", "kube.example", 6443);
    let checks = |interval_seconds, idle_interval_seconds| {
        let [h2, _] = clusters_for(
            &t,
            &Options::default(),
            &HealthChecks {
                interval_seconds,
                idle_interval_seconds,
            },
        );
        h2.health_checks
    };
    let [check] = checks(30, 300).try_into().expect("one health check");
    let seconds = |d: Option<envoy_types::pb::google::protobuf::Duration>| d.unwrap().seconds;
    assert_eq!(seconds(check.interval), 30);
    assert_eq!(seconds(check.no_traffic_interval), 300, "idle contexts");
    assert_eq!(seconds(check.unhealthy_interval), 2);
    let [check] = checks(1, 1).try_into().expect("one health check");
    assert_eq!(
        seconds(check.unhealthy_interval),
        1,
        "never slower than healthy"
    );
    assert!(checks(0, 60).is_empty(), "0: no active health checks");
}

fn endpoint_of(c: &Cluster) -> &Endpoint {
    let lb = &c.load_assignment.as_ref().unwrap().endpoints[0].lb_endpoints[0];
    let Some(lb_endpoint::HostIdentifier::Endpoint(e)) = &lb.host_identifier else {
        panic!("no endpoint in {}", c.name)
    };
    e
}

#[test]
fn the_endpoint_hostname_is_the_host_a_client_of_the_server_url_sends() {
    // the routes' auto_host_rewrite sends it as `Host`
    let options = Options::default();
    let checks = Default::default();
    let mut rancher = target("r", "rancher.example.com", 443);
    rancher.server.path = "/k8s/clusters/c-abc".into();
    let mut plain = target("p", "10.0.0.1", 80);
    plain.server.scheme = "http".into();
    for (t, host) in [
        (target("a", "127.0.0.1", 6443), "127.0.0.1:6443"),
        (target("b", "api.example.com", 6443), "api.example.com:6443"),
        (rancher, "rancher.example.com"),
        (target("v6", "::1", 6443), "[::1]:6443"),
        (plain, "10.0.0.1"),
    ] {
        for c in clusters_for(&t, &options, &checks) {
            assert_eq!(endpoint_of(&c).hostname, host, "{}", c.name);
        }
    }
}

fn upstream_filters_of(c: &Cluster) -> Vec<HttpFilter> {
    let any = &c.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
    HttpProtocolOptions::decode(any.value.as_slice())
        .unwrap()
        .http_filters
}

#[test]
fn a_bearer_token_is_added_by_both_clusters_upstream_filters_and_only_then() {
    use envoy_types::pb::envoy::config::common::mutation_rules::v3::header_mutation::Action;
    use envoy_types::pb::envoy::extensions::filters::http::header_mutation::v3::HeaderMutation;
    use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_filter::ConfigType;
    let options = Options::default();
    let checks = Default::default();
    for c in clusters_for(&target("a", "127.0.0.1", 1), &options, &checks) {
        assert!(upstream_filters_of(&c).is_empty(), "{}", c.name);
    }
    let mut t = target("a", "127.0.0.1", 1);
    t.bearer_token = Some(crate::sensitive::Sensitive("upstream-secret".into()));
    for c in clusters_for(&t, &options, &checks) {
        let filters = upstream_filters_of(&c);
        let names: Vec<&str> = filters.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "envoy.filters.http.header_mutation",
                "envoy.filters.http.upstream_codec"
            ]
        );
        let Some(ConfigType::TypedConfig(any)) = &filters[0].config_type else {
            panic!()
        };
        let m = HeaderMutation::decode(any.value.as_slice())
            .unwrap()
            .mutations
            .unwrap();
        assert!(m.response_mutations.is_empty());
        let [op] = m.request_mutations.as_slice() else {
            panic!("{:?}", m.request_mutations)
        };
        let Some(Action::Append(h)) = &op.action else {
            panic!("{op:?}")
        };
        let header = h.header.as_ref().unwrap();
        assert_eq!(
            (header.key.as_str(), header.value.as_str()),
            ("authorization", "Bearer upstream-secret")
        );
        assert_eq!(
            h.append_action,
            envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
            "replaces whatever came in"
        );
    }
}
