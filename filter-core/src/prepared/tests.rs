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
fn user_and_uid_are_set_groups_and_extras_appended_in_order() {
    let p = Prepared::new(&identity(), "https://issuer.example", Some("j1"));
    let pairs = |h: &[Header]| -> Vec<(String, String)> {
        h.iter().map(|(n, v)| (n.to_string(), v.clone())).collect()
    };
    let owned = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    };
    assert_eq!(
        pairs(p.set()),
        owned(&[("impersonate-user", "alice"), ("impersonate-uid", "u-1")])
    );
    assert_eq!(
        pairs(p.add()),
        owned(&[
            ("impersonate-group", "dev"),
            ("impersonate-group", "o\"ps"),
            ("impersonate-extra-example.com%2Ftenant", "t1"),
            ("impersonate-extra-example.com%2Ftenant", "t 2"),
            ("impersonate-extra-scopes", "read"),
        ])
    );
}

#[test]
fn no_uid_no_uid_header() {
    let id = Identity {
        uid: None,
        ..identity()
    };
    let p = Prepared::new(&id, "i", None);
    assert!(p.set().iter().all(|(n, _)| n != "impersonate-uid"));
}

#[test]
fn audit_members_are_escaped_json_members_ending_with_a_comma() {
    let p = Prepared::new(&identity(), "https://issuer.example", Some("j\n1"));
    let members = p.audit_members();
    assert!(members.ends_with(','), "{members}");
    let v: serde_json::Value =
        serde_json::from_str(&format!("{{{}\"end\":0}}", members)).unwrap();
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
