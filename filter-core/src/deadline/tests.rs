use super::*;
use crate::config_pb as pb;
use crate::decision::RequestView;
use crate::mint;

const TIMEOUT: u32 = 120;
/// Plenty of token left: only the request decides.
const LONG: i64 = 3600;

fn config(request_timeout_seconds: u32) -> Config {
    Config::compile(&pb::FilterConfig {
        request_timeout_seconds,
        ..mint::config()
    })
    .unwrap()
}

/// A body-less request (Envoy's `end_of_stream` on the headers) with
/// these extra headers.
fn request<'a>(headers: &'a [(&'a str, &'a str)]) -> RequestView<'a> {
    let mut view = RequestView::from_headers(headers);
    view.headers_end_request = true;
    view
}

fn get(path: &str) -> Vec<(&str, &str)> {
    vec![(":method", "GET"), (":path", path)]
}

fn needed_for(headers: &[(&str, &str)]) -> bool {
    needed(
        &config(TIMEOUT),
        request(headers).shape(),
        ClusterKind::Ordinary,
        LONG,
    )
}

#[test]
fn an_ordinary_body_less_request_the_route_timeout_ends_goes_without() {
    for path in [
        "/clusters/dev-a/api/v1/namespaces/default/pods",
        "/clusters/dev-a/api/v1/namespaces/default/pods?limit=500",
        "/clusters/dev-a/apis/apps/v1/deployments?labelSelector=app%3Dweb",
        "/api/v1/namespaces/default/configmaps/watcher",
        "/api/v1/namespaces/default/pods/p/log?container=c&tailLines=10",
        "/apis/example.com/v1/watches",
        "/apis/example.com/v1/watchers?watchdog=1&followers=2",
    ] {
        assert!(!needed_for(&get(path)), "{path}");
    }
}

/// The routes' streaming kinds (`xds-server/src/translate/route.rs`
/// `Kind::{Upgrade, WatchQuery, WatchPath, FollowLogs}`), each with
/// every value and form the routes match, and more.
#[test]
fn every_request_a_streaming_route_could_match_keeps_the_deadline() {
    // WatchQuery and FollowLogs: `^(1|t|T|TRUE|true|True)$`, and any other value
    let values = [
        "1", "t", "T", "TRUE", "true", "True", "false", "0", "", "yes",
    ];
    let mut paths = Vec::new();
    for name in ["watch", "follow", "WATCH", "Follow"] {
        for value in values {
            paths.push(format!("/api/v1/namespaces/ns/pods?{name}={value}"));
            paths.push(format!(
                "/clusters/dev-a/api/v1/pods?limit=1&{name}={value}&x=y"
            ));
        }
        paths.push(format!("/api/v1/pods?{name}"));
        paths.push(format!("/api/v1/pods?a=b&{name}"));
    }
    // WatchPath: `^/(api|apis/[^/]+)/[^/]+/watch(/.*)?$`
    for path in [
        "/api/v1/watch",
        "/api/v1/watch/pods",
        "/api/v1/watch/namespaces/ns/pods/p",
        "/apis/apps/v1/watch/deployments",
        "/clusters/dev-a/api/v1/watch/pods",
        "/clusters/dev-a/apis/apps/v1/watch/namespaces/ns/deployments?limit=5",
        "/api/v1/Watch/pods",
    ] {
        paths.push(path.to_string());
    }
    // encodings and separators that could spell a name the routes match
    for path in [
        "/api/v1/%77atch/pods",
        "/api/v1/pods?%77atch=1",
        "/api/v1/pods?wat%63h=true",
        "/api/v1/pods?+watch=1",
        "/api/v1/pods?a=b;watch=1",
        "/api/v1/pods?follow =1",
    ] {
        paths.push(path.to_string());
    }
    for path in &paths {
        assert!(needed_for(&get(path)), "{path}");
    }
    // Upgrade: any `upgrade` header, whatever its value
    for value in ["SPDY/3.1", "websocket", ""] {
        let mut headers = get("/api/v1/namespaces/ns/pods/p/exec?command=sh");
        headers.push(("upgrade", value));
        assert!(needed_for(&headers), "upgrade: {value:?}");
    }
    // HTTP/2 extended CONNECT
    assert!(needed_for(&[
        (":method", "CONNECT"),
        (":path", "/api/v1/pods")
    ]));
}

#[test]
fn a_request_with_a_body_keeps_the_deadline() {
    // Envoy's route timeout starts only once the whole request arrived: a
    // body trickled in could last past the token
    let headers = [(":method", "POST"), (":path", "/api/v1/namespaces/ns/pods")];
    let view = RequestView::from_headers(&headers);
    assert!(!view.headers_end_request, "the default keeps the deadline");
    assert!(needed(
        &config(TIMEOUT),
        view.shape(),
        ClusterKind::Ordinary,
        LONG
    ));
}

#[test]
fn a_client_grpc_timeout_keeps_the_deadline_that_replaces_it() {
    let mut headers = get("/api/v1/pods");
    headers.push(("grpc-timeout", "99999999H"));
    assert!(needed_for(&headers));
}

#[test]
fn upgrade_and_discovery_clusters_keep_the_deadline() {
    let headers = get("/api/v1/pods");
    for kind in [ClusterKind::Upgrade, ClusterKind::Discovery] {
        assert!(
            needed(&config(TIMEOUT), request(&headers).shape(), kind, LONG),
            "{kind:?}"
        );
    }
}

#[test]
fn a_token_that_expires_before_the_route_timeout_keeps_the_deadline() {
    let headers = get("/api/v1/pods");
    let view = request(&headers);
    let timeout = i64::from(TIMEOUT);
    for remaining in [i64::MIN, -5, 0, 1, timeout, timeout + CLOCK_SLACK_SECONDS] {
        assert!(
            needed(
                &config(TIMEOUT),
                view.shape(),
                ClusterKind::Ordinary,
                remaining
            ),
            "{remaining}"
        );
    }
    let enough = timeout + CLOCK_SLACK_SECONDS + 1;
    assert!(!needed(
        &config(TIMEOUT),
        view.shape(),
        ClusterKind::Ordinary,
        enough
    ));
}

#[test]
fn without_a_known_route_timeout_every_request_keeps_the_deadline() {
    let headers = get("/api/v1/pods");
    assert!(needed(
        &config(0),
        request(&headers).shape(),
        ClusterKind::Ordinary,
        LONG
    ));
    assert!(needed(
        &config(0),
        request(&headers).shape(),
        ClusterKind::Ordinary,
        i64::MAX
    ));
}
