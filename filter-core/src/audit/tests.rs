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
    let token = VerifiedToken::new(
        Identity {
            user: "alice".into(),
            groups: vec!["dev".into(), "ops".into()],
            uid: Some("u1".into()),
            extra: vec![],
        },
        "https://issuer.example".into(),
        Some("j1".into()),
        None,
        0,
    );
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
            "kubectl_command": "", "kubectl_session": "",
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
    let token = VerifiedToken::new(
        Identity {
            user: "bob".into(),
            groups: vec!["a\"b".into(), "c\\d".into(), "e".into()],
            uid: None,
            extra: vec![],
        },
        "i".into(),
        None,
        None,
        0,
    );
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

#[test]
fn kubectl_command_keeps_printable_ascii_words_within_bounds() {
    for (raw, want) in [
        ("kubectl exec", "kubectl exec"),
        ("kubectl create configmap", "kubectl create configmap"),
        ("  kubectl   get\tpods ", "kubectl get pods"),
        ("kubectl \"get\" 'x' `y` a\\b", "kubectl get x y ab"),
        ("kubectl\u{1b}[31m exec\r\n", "kubectl[31m exec"),
        ("kubectl ëxec", "kubectl xec"),
        ("", ""),
    ] {
        assert_eq!(kubectl_command(raw), want, "{raw:?}");
    }
    assert!(matches!(kubectl_command("kubectl exec"), Cow::Borrowed(_)));
    let long = format!("kubectl {}", "word ".repeat(100));
    let bounded = kubectl_command(&long);
    assert!(bounded.len() <= MAX_KUBECTL_COMMAND, "{}", bounded.len());
    assert!(bounded.starts_with("kubectl word word"));
    assert!(!bounded.ends_with(' '));
}

#[test]
fn kubectl_session_is_kept_only_when_it_is_a_uuid() {
    let uuid = "0f8e3c4a-1b2c-4d5e-8f90-123456789abc";
    assert_eq!(kubectl_session(uuid), uuid);
    assert_eq!(kubectl_session(&uuid.to_uppercase()), uuid);
    for bad in [
        "",
        "0f8e3c4a1b2c4d5e8f90123456789abc",
        "0f8e3c4a-1b2c-4d5e-8f90-123456789abcd",
        "0f8e3c4a-1b2c-4d5e-8f90-123456789abg",
        "0f8e3c4a-1b2c-4d5e-8f90\n123456789abc",
        "\"injected\":\"x\",\"user\":\"admin\"",
    ] {
        assert_eq!(kubectl_session(bad), "", "{bad:?}");
    }
}

#[test]
fn kubectl_headers_reach_the_record_sanitised() {
    let command = Cow::Borrowed("kubectl exec\u{7}");
    let session = Cow::Owned("0F8E3C4A-1B2C-4D5E-8F90-123456789ABC".to_string());
    let record = AuditRecord::new("r", "", "GET", "/", Decision::Allow)
        .with_kubectl(Some(&command), Some(&session));
    let line = parse_line(&record.to_fragment("v"));
    assert_eq!(line["kubectl_command"], "kubectl exec");
    assert_eq!(
        line["kubectl_session"],
        "0f8e3c4a-1b2c-4d5e-8f90-123456789abc"
    );
}

/// The fragment's members are the fields of the record the control plane
/// stores (`kubeplex_proto::audit::v1::AuditRecord`), by name and type:
/// the line Envoy writes parses into it with every member known.
#[test]
fn every_member_is_a_field_of_the_stored_record() {
    let record = AuditRecord {
        cluster: "dev-a".into(),
        info: Some(parse("GET", "/api/v1/namespaces/ns/pods/p", false).unwrap()),
        ..AuditRecord::new(
            "rid-1",
            "kubectl/v1.33",
            "GET",
            "/clusters/dev-a/api/v1/namespaces/ns/pods/p",
            Decision::Allow,
        )
    }
    .with_kubectl(Some(&Cow::Borrowed("kubectl get")), None);
    let fields = kubeplex_proto::audit::field_names();
    let members: Vec<&str> = record.entries("v").iter().map(|(name, _)| *name).collect();
    for m in &members {
        assert!(
            fields.iter().any(|f| f == m),
            "{m} is not an AuditRecord field"
        );
    }
    let stored =
        kubeplex_proto::audit::v1::AuditRecord::from_line(&line(&record.to_fragment("v"))).unwrap();
    assert_eq!(
        (
            stored.request_id.as_str(),
            stored.namespace.as_str(),
            stored.kubectl_command.as_str(),
            stored.code
        ),
        ("rid-1", "ns", "kubectl get", 200)
    );
    let ended = stream_ended_members("token_expired", "v9");
    let with_end = kubeplex_proto::audit::v1::AuditRecord::from_fragment(&ended).unwrap();
    assert_eq!(
        (
            with_end.stream_ended.as_str(),
            with_end.stream_ended_by.as_str()
        ),
        ("token_expired", "v9")
    );
}

/// The fragment as the generic rendering of `entries` would write it: the
/// reference the hand-written `to_fragment` must equal.
fn fragment_from_entries(record: &AuditRecord<'_>, config_version: &str) -> String {
    let mut out = String::new();
    for (key, value) in record.entries(config_version) {
        out.push_str(&format!("\"{key}\":"));
        match value {
            Field::Str(s) => push_json_string(&mut out, s),
            Field::List(list) => {
                out.push('[');
                for (i, item) in list.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_json_string(&mut out, item);
                }
                out.push(']');
            }
        }
        out.push(',');
    }
    out
}

#[test]
fn the_fragment_is_the_entries_in_order() {
    let token = Rc::new(VerifiedToken::new(
        Identity {
            user: "al\"ice".into(),
            groups: vec!["dev".into(), "o\u{1b}ps".into()],
            uid: Some("u\\1".into()),
            extra: vec![("k".into(), vec!["v".into()])],
        },
        "https://issuer.example/\u{85}".into(),
        Some("j\n1".into()),
        None,
        0,
    ));
    let info = crate::request_info::parse("GET", "/api/v1/namespaces/n\"s/pods/p", false).unwrap();
    let unauthenticated = AuditRecord::new(
        "id\u{7f}",
        "ua \"x\"",
        "GET",
        "/p?q=\u{9b}",
        Decision::Deny(DenyReason::NoToken),
    );
    let allowed = AuditRecord {
        token: Some(token),
        cluster: "c\"1".into(),
        info: Some(info),
        message: "m\r\n".into(),
        kubectl_command: "kubectl get".into(),
        kubectl_session: "0f8e3c4a-1b2c-4d5e-8f90-123456789abc".into(),
        ..AuditRecord::new("r", "ua", "GET", "/x", Decision::Allow)
    };
    for record in [unauthenticated, allowed] {
        for version in ["", "v\"7"] {
            assert_eq!(
                record.to_fragment(version),
                fragment_from_entries(&record, version)
            );
        }
    }
}
