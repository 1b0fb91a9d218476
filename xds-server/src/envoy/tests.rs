use super::*;

/// The bootstrap `kubeplex up` writes, as JSON.
fn rendered() -> serde_json::Value {
    let xds = "127.0.0.1:18000".parse().unwrap();
    let admin = "127.0.0.1:9901".parse().unwrap();
    let text = render_bootstrap(xds, admin, "kubeplex-gateway", false).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The stats matcher's one exclusion pattern.
fn excluded_stats(bootstrap: &serde_json::Value) -> regex::Regex {
    let patterns = &bootstrap["stats_config"]["stats_matcher"]["exclusion_list"]["patterns"];
    assert_eq!(patterns.as_array().map(Vec::len), Some(1), "{patterns}");
    // RE2 (Envoy) and the regex crate read this syntax alike: classes,
    // groups, alternation, anchors; no look-around or back-references.
    regex::Regex::new(patterns[0]["safe_regex"]["regex"].as_str().unwrap()).unwrap()
}

/// What idle contexts do not use, Envoy does not build (README, "10,000
/// contexts"): the workers' copies of a cluster and its traffic stats
/// wait for its first request.
#[test]
fn the_rendered_bootstrap_defers_what_idle_contexts_do_not_use() {
    let b = rendered();
    assert_eq!(
        b["cluster_manager"]["enable_deferred_cluster_creation"], true,
        "{b:#}"
    );
    assert_eq!(
        b["deferred_stat_options"]["enable_deferred_creation_stats"], true,
        "{b:#}"
    );
}

/// The stats left out are only per-cluster ones that cannot move for the
/// clusters kubeplex makes, and HTTP/2 header size histograms; whatever
/// the README documents, the tests read, or an operator watches stays.
#[test]
fn the_stats_left_out_are_only_ones_that_cannot_move() {
    let excluded = excluded_stats(&rendered());
    for dropped in [
        "cluster.ctx/dev-a.lb_subsets_active",
        "cluster.ctx/dev-a.lb_zone_routing_sampled",
        "cluster.ctx/dev-a.assignment_stale",
        "cluster.ctx/dev-a.original_dst_host_invalid",
        "cluster.ctx/dev-a.upstream_cx_http3_total",
        "cluster.ctx/dev-a.upstream_internal_redirect_failed_total",
        "cluster.ctx/dev-a.ssl.ocsp_staple_requests",
        "cluster.ctx/dev-a.http2.header_list_size",
        "cluster.ctx/dev-a.upstream_rq_per_cx",
        // a context whose name has dots, the upgrade cluster
        "cluster.ctx/arn.aws.eks/upgrade.circuit_breakers.high.rq_open",
    ] {
        assert!(excluded.is_match(dropped), "{dropped} is kept");
    }
    for kept in [
        "decision=.=deny;.;reason=.=token_expired;.;cluster=.=dev-a;.;kubeplex_requests_total",
        "cluster.ctx/dev-a.upstream_rq_total",
        "cluster.ctx/dev-a.upstream_rq_retry",
        "cluster.ctx/dev-a.upstream_rq_pending_overflow",
        "cluster.ctx/dev-a.upstream_rq_time",
        "cluster.ctx/dev-a.upstream_cx_connect_ms",
        "cluster.ctx/dev-a.health_check.success",
        "cluster.ctx/dev-a.circuit_breakers.default.rq_open",
        "cluster.ctx/dev-a.ssl.handshake",
        "cluster.ctx/dev-a.http2.rx_reset",
        "cluster.ctx/dev-a/discovery.upstream_rq_200",
        // a context named like a stat that is left out
        "cluster.ctx/lb_subsets_active.upstream_rq_total",
        "cluster.kubeplex-xds.upstream_cx_active",
        "listener.0.0.0.0_8443.ssl.ocsp_staple_requests",
        "http.kubeplex.downstream_rq_total",
        "reverse_tunnel.handshake.validation_failed",
    ] {
        assert!(!excluded.is_match(kept), "{kept} is left out");
    }
}

/// Envoy itself accepts the bootstrap `kubeplex up` writes.
#[test]
fn envoy_accepts_the_rendered_bootstrap() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bootstrap.json");
    std::fs::write(&file, rendered().to_string()).unwrap();
    kubeplex_test_support::assert_envoy_accepts(&file, "the rendered bootstrap");
}
