use super::*;

fn identity() -> Identity {
    Identity {
        user: "alice".into(),
        groups: vec!["dev".into(), "o\"ps".into()],
        uid: Some("u-1".into()),
        extra: vec![
            ("example.com/tenant".into(), vec!["t1".into(), "t 2".into()]),
            ("scopes".into(), vec!["read".into()]),
        ],
    }
}

#[test]
fn every_impersonation_header_in_order() {
    let p = Prepared::new(&identity(), "https://issuer.example", Some("j1"));
    let pairs: Vec<(&str, &str)> = p
        .headers()
        .iter()
        .map(|(n, v)| (n.as_ref(), v.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("impersonate-user", "alice"),
            ("impersonate-uid", "u-1"),
            ("impersonate-group", "dev"),
            ("impersonate-group", "o\"ps"),
            ("impersonate-extra-example.com%2Ftenant", "t1"),
            ("impersonate-extra-example.com%2Ftenant", "t 2"),
            ("impersonate-extra-scopes", "read"),
        ]
    );
}

#[test]
fn no_uid_no_uid_header() {
    let id = Identity {
        uid: None,
        ..identity()
    };
    let p = Prepared::new(&id, "i", None);
    assert!(p.headers().iter().all(|(n, _)| n != "impersonate-uid"));
}

#[test]
fn audit_members_are_escaped_json_members_ending_with_a_comma() {
    let p = Prepared::new(&identity(), "https://issuer.example", Some("j\n1"));
    let members = p.audit_members();
    assert!(members.ends_with(','), "{members}");
    let v: serde_json::Value = serde_json::from_str(&format!("{{{}\"end\":0}}", members)).unwrap();
    assert_eq!(v["user"], "alice");
    assert_eq!(v["groups"], serde_json::json!(["dev", "o\"ps"]));
    assert_eq!(v["uid"], "u-1");
    assert_eq!(v["issuer"], "https://issuer.example");
    assert_eq!(v["jti"], "j\n1");
}

#[test]
fn no_identity_members_name_the_same_members_empty() {
    let empty = Prepared::new(&Identity::default(), "", None);
    assert_eq!(empty.audit_members(), NO_IDENTITY_MEMBERS);
}
