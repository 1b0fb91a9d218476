use super::*;
use crate::config::Config;
use crate::mint;

fn config() -> Config {
    Config::compile(&mint::config()).unwrap()
}

#[test]
fn prefix_selects_and_strips() {
    let c = config();
    let r = select(&c, "/clusters/dev-a/api/v1/pods?watch=1", None).unwrap();
    assert_eq!(r.context, "dev-a");
    assert_eq!(r.upstream_path.as_deref(), Some("/api/v1/pods?watch=1"));
    assert_eq!(r.effective_path("ignored"), "/api/v1/pods?watch=1");
}

#[test]
fn empty_rest_becomes_root_and_query_is_kept() {
    let c = config();
    assert_eq!(
        select(&c, "/clusters/dev-a", None)
            .unwrap()
            .upstream_path
            .as_deref(),
        Some("/")
    );
    assert_eq!(
        select(&c, "/clusters/dev-a?timeout=32s", None)
            .unwrap()
            .upstream_path
            .as_deref(),
        Some("/?timeout=32s")
    );
    assert_eq!(
        select(&c, "/clusters/dev-a/", None)
            .unwrap()
            .upstream_path
            .as_deref(),
        Some("/")
    );
}

#[test]
fn segment_is_percent_decoded() {
    let mut pb = mint::config();
    pb.contexts.push(kubeplex_proto::filter::v1::Context {
        name: "kind ctx@x".into(),
        ..Default::default()
    });
    let c = Config::compile(&pb).unwrap();
    let r = select(&c, "/clusters/kind%20ctx%40x/version", None).unwrap();
    assert_eq!(r.context, "kind ctx@x");
    assert_eq!(r.upstream_path.as_deref(), Some("/version"));
}

#[test]
fn ctx_claim_without_prefix() {
    let c = config();
    let r = select(&c, "/api/v1/pods", Some("prod")).unwrap();
    assert_eq!(r.context, "prod");
    assert_eq!(r.upstream_path, None);
    assert_eq!(r.effective_path("/api/v1/pods"), "/api/v1/pods");
}

#[test]
fn ctx_claim_must_agree_with_the_path() {
    let c = config();
    assert!(select(&c, "/clusters/dev-a/api", Some("dev-a")).is_ok());
    let err = select(&c, "/clusters/prod/api", Some("dev-a")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "token is bound to context \"dev-a\", not \"prod\""
    );
    assert_eq!(err.reason(), "context_mismatch");
}

#[test]
fn nothing_selected() {
    let c = config();
    let err = select(&c, "/api/v1/pods", None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no cluster selected: use a server URL ending in /clusters/<context>, or a token with a \"ctx\" claim"
    );
    assert_eq!(
        select(&c, "/clusters//api", None),
        Err(RouteError::NoContext)
    );
    // `/clusters` without the slash is not the prefix
    assert_eq!(select(&c, "/clusters", None), Err(RouteError::NoContext));
}

#[test]
fn unknown_contexts() {
    let c = config();
    let err = select(&c, "/clusters/foo/api", None).unwrap_err();
    assert_eq!(err.to_string(), "context \"foo\" not found");
    assert_eq!(err.reason(), "unknown_context");
    assert_eq!(
        select(&c, "/api", Some("nope")),
        Err(RouteError::UnknownContext("nope".into()))
    );
}

#[test]
fn prefix_mode_can_be_off() {
    let mut pb = mint::config();
    pb.cluster_path_prefix.clear();
    let c = Config::compile(&pb).unwrap();
    // the path is taken literally and the claim decides
    let r = select(&c, "/clusters/dev-a/api", Some("prod")).unwrap();
    assert_eq!(r.context, "prod");
    assert_eq!(r.upstream_path, None);
}

fn config_with_server_names() -> Config {
    let mut pb = mint::config();
    for c in &mut pb.contexts {
        c.server_name = format!("{}.clusters.gw.example", c.name);
    }
    Config::compile(&pb).unwrap()
}

#[test]
fn the_server_name_is_wanted_only_without_a_prefix_and_with_server_names() {
    let c = config_with_server_names();
    assert!(wants_server_name(&c, "/version"));
    assert!(!wants_server_name(&c, "/clusters/dev-a/version"));
    assert!(!wants_server_name(&config(), "/version"));
}

#[test]
fn server_name_selects_when_the_path_has_no_prefix() {
    let c = config_with_server_names();
    let r =
        select_with_server_name(&c, "/version", None, Some("dev-b.clusters.gw.example")).unwrap();
    assert_eq!(r.context, "dev-b");
    assert_eq!(r.upstream_path, None, "path unchanged");
    // DNS names compare case-insensitively
    let r =
        select_with_server_name(&c, "/version", None, Some("DEV-B.Clusters.gw.example")).unwrap();
    assert_eq!(r.context, "dev-b");
    // the path prefix still wins
    let r = select_with_server_name(
        &c,
        "/clusters/dev-a/version",
        None,
        Some("dev-b.clusters.gw.example"),
    )
    .unwrap();
    assert_eq!(r.context, "dev-a");
    // an unknown server name falls back to the ctx claim, then to nothing
    let r = select_with_server_name(&c, "/version", Some("prod"), Some("gw.example")).unwrap();
    assert_eq!(r.context, "prod");
    assert_eq!(
        select_with_server_name(&c, "/version", None, Some("gw.example")),
        Err(RouteError::NoContext)
    );
}

#[test]
fn a_ctx_bound_token_cannot_switch_clusters_by_server_name() {
    let c = config_with_server_names();
    assert_eq!(
        select_with_server_name(
            &c,
            "/version",
            Some("dev-a"),
            Some("prod.clusters.gw.example")
        ),
        Err(RouteError::BoundElsewhere {
            bound: "dev-a".into(),
            requested: "prod".into()
        })
    );
    let r = select_with_server_name(
        &c,
        "/version",
        Some("dev-a"),
        Some("dev-a.clusters.gw.example"),
    )
    .unwrap();
    assert_eq!(r.context, "dev-a");
}

#[test]
fn server_names_are_ignored_without_configured_ones() {
    let c = config();
    assert_eq!(
        select_with_server_name(&c, "/version", None, Some("dev-a")),
        Err(RouteError::NoContext)
    );
}
