use std::rc::Rc;

use serde_json::{Value, json};

use super::*;
use crate::identity::Identity;
use crate::reason::DenyReason;
use crate::request_info::parse;

/// The fragment inside the control plane's access-log format, as Envoy
/// prints it (Envoy's own members after the filter's).
fn line(fragment: &str) -> String {
    format!("{{{fragment}\"time\":\"2026-11-23T12:00:00.000Z\",\"code\":200}}")
}

fn parse_line(fragment: &str) -> Value {
    let text = line(fragment);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn allowed_record_has_every_field() {
    let token = VerifiedToken {
        identity: Identity {
            user: "alice".into(),
            groups: vec!["dev".into(), "ops".into()],
            uid: Some("u1".into()),
            extra: vec![],
        },
        issuer: "https://issuer.example".into(),
        jti: Some("j1".into()),
        ctx: None,
        exp: 0,
    };
    let path = "/clusters/dev-a/apis/apps/v1/namespaces/ns/deployments/web/scale";
    let record = AuditRecord {
        token: Some(Rc::new(token)),
        cluster: "dev-a".into(),
        info: Some(
            parse(
                "GET",
                "/apis/apps/v1/namespaces/ns/deployments/web/scale",
                false,
            )
            .unwrap(),
        ),
        ..AuditRecord::new("rid-1", "kubectl/v1.32.0", "GET", path, Decision::Allow)
    };
    let fragment = record.to_fragment("v7");
    assert!(fragment.ends_with(','), "{fragment}");
    assert!(!fragment.contains('\n'));
    assert_eq!(
        parse_line(&fragment),
        json!({
            "request_id": "rid-1", "user_agent": "kubectl/v1.32.0", "method": "GET",
            "path": path, "decision": "allow", "reason": "ok", "message": "",
            "user": "alice", "groups": ["dev", "ops"], "uid": "u1",
            "issuer": "https://issuer.example", "jti": "j1", "cluster": "dev-a",
            "verb": "get", "api_group": "apps", "api_version": "v1",
            "resource": "deployments", "subresource": "scale", "namespace": "ns",
            "name": "web", "config_version": "v7",
            "time": "2026-11-23T12:00:00.000Z", "code": 200
        })
    );
}

#[test]
fn unauthenticated_record_is_mostly_empty() {
    let record = AuditRecord {
        message: "no bearer token".into(),
        ..AuditRecord::new("", "", "GET", "/", Decision::Deny(DenyReason::NoToken))
    };
    let v = parse_line(&record.to_fragment("v1"));
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["reason"], "no_token");
    assert_eq!(v["groups"], json!([]));
    assert_eq!(v["user"], "");
    assert_eq!(v["message"], "no bearer token");
}

#[test]
fn hostile_client_strings_stay_inside_their_values() {
    // quotes, backslashes, a fake member, control characters (C0, DEL, C1),
    // a line break and non-ASCII text
    let nasty = [
        "\"",
        "\\",
        "a\"b\\c",
        "x\",\"decision\":\"allow",
        "tab\there",
        "nl\nand\rcr",
        "\u{0}\u{1}\u{1b}[31m\u{1f}\u{7f}\u{80}\u{9b}\u{9f}",
        "\\u0022",
        "ünïcødé ✓ \u{2028}",
        "ends with backslash\\",
    ];
    for s in nasty {
        let record = AuditRecord {
            message: format!("context {s:?} not found"),
            cluster: s.to_string(),
            ..AuditRecord::new(s, s, s, s, Decision::Deny(DenyReason::UnknownContext))
        };
        let fragment = record.to_fragment(s);
        assert!(
            !fragment.chars().any(|c| c.is_control()),
            "raw control character in {fragment:?}"
        );
        let v = parse_line(&fragment);
        for key in ["request_id", "user_agent", "method", "path", "cluster"] {
            assert_eq!(v[key], s, "{key} of {s:?}");
        }
        assert_eq!(v["config_version"], s);
        assert_eq!(v["decision"], "deny", "{s:?} must not inject members");
        assert_eq!(v["message"], format!("context {s:?} not found"));
    }
}

#[test]
fn json_string_escapes() {
    let cases = [
        ("plain", "\"plain\""),
        ("", "\"\""),
        ("a\"b", "\"a\\\"b\""),
        ("a\\b", "\"a\\\\b\""),
        ("\n\r\t", "\"\\n\\r\\t\""),
        ("\u{1}\u{1f}", "\"\\u0001\\u001f\""),
        ("\u{7f}\u{85}", "\"\\u007f\\u0085\""),
        ("é", "\"é\""),
        // 0xC2 lead byte, but not a control: no escape
        ("\u{a0}", "\"\u{a0}\""),
        ("ok\u{9f}", "\"ok\\u009f\""),
    ];
    for (input, want) in cases {
        let mut out = String::new();
        push_json_string(&mut out, input);
        assert_eq!(out, want, "{input:?}");
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, input);
    }
}

#[test]
fn groups_are_an_array_of_escaped_strings() {
    let token = VerifiedToken {
        identity: Identity {
            user: "bob".into(),
            groups: vec!["a\"b".into(), "c\\d".into(), "e".into()],
            uid: None,
            extra: vec![],
        },
        issuer: "i".into(),
        jti: None,
        ctx: None,
        exp: 0,
    };
    let record = AuditRecord {
        token: Some(Rc::new(token)),
        ..AuditRecord::new("r", "ua", "GET", "/", Decision::Allow)
    };
    let v = parse_line(&record.to_fragment("v"));
    assert_eq!(v["groups"], json!(["a\"b", "c\\d", "e"]));
    assert_eq!(v["uid"], "");
    assert_eq!(v["jti"], "");
}

#[test]
fn an_ended_stream_gets_two_more_members() {
    let record = AuditRecord {
        ..AuditRecord::new("r", "ua", "GET", "/api/v1/pods?watch=1", Decision::Allow)
    };
    let fragment = record.to_fragment("v1") + &stream_ended_members("revoked", "v\"2");
    let v = parse_line(&fragment);
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["stream_ended"], "revoked");
    assert_eq!(v["stream_ended_by"], "v\"2");
}
