//! Property: for arbitrary claim strings, what a cluster parses out of the
//! `Impersonate-*` headers the gateway sends is byte for byte the identity
//! the gateway judged (policy) and recorded (audit), on both routes: the
//! HTTP/2 route and the HTTP/1.1 upgrade route.
//!
//! Peers modelled:
//! - Go's HTTP/1.1 server (kube-apiserver): net/textproto
//!   `Reader.readMIMEHeader` skips spaces and tabs after the colon and
//!   `readContinuedLineSlice` trims trailing ones; net/http `readRequest`
//!   then refuses a value failing `httpguts.ValidHeaderFieldValue` (a
//!   control character other than tab) with 400.
//! - Go's HTTP/2 server (golang.org/x/net/http2 `Framer.readMetaFrame`):
//!   the value as sent, refused (stream error) when it fails the same
//!   `ValidHeaderFieldValue`.
//! - httparse (hyper's HTTP/1.1 parser, our test apiserver), the real crate.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::config_pb as pb;
use crate::mint::{self, NOW, RustCryptoVerifier, Signer, mint};

/// `httpguts.ValidHeaderFieldValue`: no CTL except HTAB (SP is not a CTL).
fn go_valid_field_value(v: &[u8]) -> bool {
    v.iter().all(|&b| !((b < 0x20 && b != b'\t') || b == 0x7f))
}

/// What Go's HTTP/1.1 server reads from `name: <value>\r\n`.
fn go_http1(value: &[u8]) -> Option<Vec<u8>> {
    // a CR or LF ends the line: the rest is another header (injection)
    if value.iter().any(|&b| b == b'\r' || b == b'\n') {
        return None;
    }
    let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ws(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ws(b))
        .map_or(start, |i| i + 1);
    let v = &value[start..end];
    go_valid_field_value(v).then(|| v.to_vec())
}

/// What Go's HTTP/2 server reads from an HPACK field.
fn go_http2(value: &[u8]) -> Option<Vec<u8>> {
    go_valid_field_value(value).then(|| value.to_vec())
}

/// What httparse reads from `name: <value>\r\n` (None: parse error or the
/// header did not come out as one value).
fn httparse_http1(name: &str, value: &[u8]) -> Option<Vec<u8>> {
    let mut raw = b"GET / HTTP/1.1\r\nhost: c\r\n".to_vec();
    raw.extend_from_slice(name.as_bytes());
    raw.extend_from_slice(b": ");
    raw.extend_from_slice(value);
    raw.extend_from_slice(b"\r\n\r\n");
    let mut headers = [httparse::EMPTY_HEADER; 8];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&raw) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return None,
    }
    let found: Vec<_> = req.headers.iter().filter(|h| h.name == name).collect();
    (found.len() == 1).then(|| found[0].value.to_vec())
}

/// Claim values an attacker would try: whitespace, controls, obs-text,
/// the reserved prefix, ordinary text.
fn claim_value() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just(" ".to_string()),
        Just("\t".to_string()),
        Just("\r\n".to_string()),
        Just("\0".to_string()),
        Just("\u{7f}".to_string()),
        Just("\u{85}".to_string()),
        Just("é".to_string()),
        Just("system:".to_string()),
        Just("masters".to_string()),
        Just(":".to_string()),
        "[a-z0-9@.=-]{1,4}",
    ];
    prop::collection::vec(piece, 0..6).prop_map(|p| p.concat())
}

fn config() -> Config {
    let mut pb = mint::config();
    pb.issuers[0].claim_mappings = Some(pb::ClaimMappings {
        uid_claim: "uid".into(),
        extra: vec![pb::ExtraMapping {
            key: "example.com/tenant".into(),
            claim: "tenant".into(),
        }],
        ..Default::default()
    });
    Config::compile(&pb).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_cluster_reads_exactly_the_identity_the_gateway_judged(
        sub in claim_value(),
        groups in prop::collection::vec(claim_value(), 0..3),
        uid in claim_value(),
        tenant in claim_value(),
        upgrade in any::<bool>(),
    ) {
        let config = config();
        let mut claims = mint::claims();
        claims["sub"] = json!(sub);
        claims["groups"] = json!(groups);
        claims["uid"] = json!(uid);
        claims["tenant"] = json!(tenant);
        let token = format!("Bearer {}", mint(Signer::P256, Some("p256"), &claims));
        let mut headers = vec![
            (":method".to_string(), "GET".to_string()),
            (":path".to_string(), "/clusters/dev-a/api/v1/secrets".to_string()),
            ("authorization".to_string(), token),
        ];
        if upgrade {
            headers.push(("upgrade".to_string(), "websocket".to_string()));
        }
        let view = RequestView::from_headers(&headers);
        let mut cache = TokenCache::new(4);
        let d = decide(&config, &mut cache, &RustCryptoVerifier, NOW, &view);
        let Outcome::Allow(forward) = &d.outcome else {
            // refused: nothing is sent
            prop_assert!(matches!(d.audit.reason(), "identity_invalid" | "reserved_identity" | "token_malformed"), "{}", d.audit.reason());
            return Ok(());
        };
        let judged = &d.audit.token.as_ref().expect("an allowed request has a token").identity;
        let sent: Vec<(&str, &str)> = forward
            .to_set()
            .chain(forward.to_add())
            .filter(|(n, _)| n.starts_with("impersonate-"))
            .collect();
        for (name, value) in &sent {
            let v = value.as_bytes();
            // the upgrade route is HTTP/1.1, the other HTTP/2: both must agree
            let (h1, h2, rust_h1) = (go_http1(v), go_http2(v), httparse_http1(name, v));
            prop_assert_eq!(h1.as_deref(), Some(v), "Go HTTP/1.1 reads {:?} differently", value);
            prop_assert_eq!(h2.as_deref(), Some(v), "Go HTTP/2 reads {:?} differently", value);
            prop_assert_eq!(rust_h1.as_deref(), Some(v), "httparse reads {:?} differently", value);
        }
        // what was sent is what was judged, value for value
        let read = |name: &str| -> Vec<String> {
            sent.iter().filter(|(n, _)| *n == name).map(|(_, v)| v.to_string()).collect()
        };
        prop_assert_eq!(read("impersonate-user"), vec![judged.user.clone()]);
        prop_assert_eq!(read("impersonate-group"), judged.groups.clone());
        prop_assert_eq!(read("impersonate-uid"), judged.uid.clone().into_iter().collect::<Vec<_>>());
        let extra: Vec<String> = judged.extra.iter().flat_map(|(_, v)| v.clone()).collect();
        prop_assert_eq!(read("impersonate-extra-example.com%2Ftenant"), extra);
        // and no reserved identity reaches the cluster, however it parses
        for (name, value) in &sent {
            if *name == "impersonate-user" || *name == "impersonate-group" {
                let parsed = go_http1(value.as_bytes()).unwrap();
                prop_assert!(!parsed.starts_with(b"system:"), "{} {:?}", name, value);
            }
        }
    }
}

/// The models themselves, on the case that escalated to cluster-admin.
#[test]
fn the_models_reproduce_the_escalation() {
    let v = b" system:masters";
    assert_eq!(go_http1(v).as_deref(), Some(&b"system:masters"[..]));
    assert_eq!(
        httparse_http1("impersonate-group", v).as_deref(),
        Some(&b"system:masters"[..])
    );
    assert_eq!(go_http2(v).as_deref(), Some(&v[..]));
    assert_eq!(go_http1(b"a\tb").as_deref(), Some(&b"a\tb"[..]));
    assert_eq!(go_http1(b"a\0b"), None);
}
