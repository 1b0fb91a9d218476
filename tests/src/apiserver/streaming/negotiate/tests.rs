//! Upgrade detection, protocol choice and the 101 answers.

use hyper::HeaderMap;

use super::{Upgrade, choose, detect, spdy_refusal, websocket_response};

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

#[test]
fn websocket_and_spdy_upgrades_are_recognised() {
    let ws = headers(&[
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        (
            "sec-websocket-protocol",
            "v5.channel.k8s.io, v4.channel.k8s.io",
        ),
    ]);
    assert_eq!(
        detect(&ws).unwrap(),
        Some(Upgrade::WebSocket {
            key: "dGhlIHNhbXBsZSBub25jZQ==".into(),
            protocols: vec!["v5.channel.k8s.io".into(), "v4.channel.k8s.io".into()],
        })
    );
    // kubectl repeats the header once per SPDY protocol.
    let spdy = headers(&[
        ("connection", "Upgrade"),
        ("upgrade", "SPDY/3.1"),
        ("x-stream-protocol-version", "v4.channel.k8s.io"),
        ("x-stream-protocol-version", "v3.channel.k8s.io"),
    ]);
    assert_eq!(
        detect(&spdy).unwrap(),
        Some(Upgrade::Spdy {
            protocols: vec!["v4.channel.k8s.io".into(), "v3.channel.k8s.io".into()],
        })
    );
    assert_eq!(detect(&headers(&[("upgrade", "websocket")])).unwrap(), None);
    assert!(
        detect(&headers(&[
            ("connection", "upgrade"),
            ("upgrade", "websocket")
        ]))
        .is_err()
    );
    assert!(detect(&headers(&[("connection", "upgrade"), ("upgrade", "h2c")])).is_err());
}

#[test]
fn the_clients_order_wins() {
    let offered = vec![
        "v3.channel.k8s.io".to_string(),
        "v4.channel.k8s.io".to_string(),
    ];
    assert_eq!(
        choose(&offered, &["v4.channel.k8s.io", "v3.channel.k8s.io"]),
        Some("v3.channel.k8s.io")
    );
    assert_eq!(choose(&offered, &["channel.k8s.io"]), None);
}

#[test]
fn switching_protocols_answers() {
    // RFC 6455's example key.
    let r = websocket_response("dGhlIHNhbXBsZSBub25jZQ==", Some("v5.channel.k8s.io"));
    assert_eq!(r.status(), 101);
    assert_eq!(
        r.headers()["sec-websocket-accept"],
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    assert_eq!(r.headers()["sec-websocket-protocol"], "v5.channel.k8s.io");
    let r = spdy_refusal(&["v9".into()], &["v4.channel.k8s.io", "channel.k8s.io"]);
    assert_eq!(r.status(), 403);
    let accepted: Vec<_> = r
        .headers()
        .get_all("x-accepted-stream-protocol-versions")
        .iter()
        .collect();
    assert_eq!(accepted.len(), 2);
    assert_eq!(spdy_refusal(&[], &["x"]).status(), 400);
}
