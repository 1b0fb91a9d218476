use std::rc::Rc;

use serde_json::{Value, json};

use super::*;
use crate::identity::Identity;
use crate::request_info::parse;

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
    let record = AuditRecord {
        request_id: "rid-1".into(),
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
        decision: Decision::Allow,
        reason: "ok",
        message: String::new(),
    };
    let v: Value = serde_json::from_str(&record.to_json("v7")).unwrap();
    assert_eq!(
        v,
        json!({
            "request_id": "rid-1", "decision": "allow", "reason": "ok",
            "user": "alice", "groups": ["dev", "ops"], "uid": "u1",
            "issuer": "https://issuer.example", "jti": "j1", "cluster": "dev-a",
            "verb": "get", "api_group": "apps", "api_version": "v1",
            "resource": "deployments", "subresource": "scale", "namespace": "ns",
            "name": "web", "message": "", "config_version": "v7"
        })
    );
}

#[test]
fn unauthenticated_record_is_mostly_empty() {
    let record = AuditRecord {
        request_id: String::new(),
        token: None,
        cluster: String::new(),
        info: None,
        decision: Decision::Deny,
        reason: "no_token",
        message: "no bearer token".into(),
    };
    let json = record.to_json("v1");
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["reason"], "no_token");
    assert_eq!(v["groups"], json!([]));
    assert_eq!(v["user"], "");
    assert!(!json.contains('\n'));
}
