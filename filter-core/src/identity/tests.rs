use serde_json::{Map, Value, json};

use super::*;
use crate::config::Config;
use crate::mint;

fn issuer(edit: impl Fn(&mut kubeplex_proto::filter::v1::Issuer)) -> Issuer {
    let mut pb = mint::config();
    edit(&mut pb.issuers[0]);
    Config::compile(&pb).unwrap().issuers[mint::ISSUER].clone()
}

fn claims(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn defaults_sub_and_groups() {
    let id = map(
        &issuer(|_| {}),
        &claims(json!({"sub": "alice", "groups": ["a", "b"]})),
    )
    .unwrap();
    assert_eq!(id.user, "alice");
    assert_eq!(id.groups, vec!["a", "b"]);
    assert_eq!(id.uid, None);
    assert!(id.extra.is_empty());
}

#[test]
fn groups_may_be_a_string_or_missing() {
    let i = issuer(|_| {});
    assert_eq!(
        map(&i, &claims(json!({"sub": "a", "groups": "g"})))
            .unwrap()
            .groups,
        vec!["g"]
    );
    assert!(
        map(&i, &claims(json!({"sub": "a"})))
            .unwrap()
            .groups
            .is_empty()
    );
    assert_eq!(
        map(&i, &claims(json!({"sub": "a", "groups": [1]}))),
        Err(IdentityError::NotStrings {
            claim: "groups".into()
        })
    );
}

#[test]
fn username_must_be_a_non_empty_string() {
    let i = issuer(|_| {});
    for bad in [json!({}), json!({"sub": ""}), json!({"sub": 42})] {
        let err = map(&i, &claims(bad)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "token claim \"sub\" (the username) must be a non-empty string"
        );
    }
}

#[test]
fn mappings_with_prefixes_uid_and_extra() {
    let i = issuer(|pb| {
        pb.claim_mappings = Some(kubeplex_proto::filter::v1::ClaimMappings {
            username: Some(kubeplex_proto::filter::v1::PrefixedClaim {
                claim: "email".into(),
                prefix: "oidc:".into(),
            }),
            groups: Some(kubeplex_proto::filter::v1::PrefixedClaim {
                claim: "roles".into(),
                prefix: "oidc:".into(),
            }),
            uid_claim: "oid".into(),
            extra: vec![kubeplex_proto::filter::v1::ExtraMapping {
                key: "example.com/tenant".into(),
                claim: "tid".into(),
            }],
        })
    });
    let id = map(
        &i,
        &claims(json!({"email": "a@x.io", "roles": ["admin"], "oid": "u-1", "tid": ["t1", "t2"]})),
    )
    .unwrap();
    assert_eq!(id.user, "oidc:a@x.io");
    assert_eq!(id.groups, vec!["oidc:admin"]);
    assert_eq!(id.uid.as_deref(), Some("u-1"));
    assert_eq!(
        id.extra,
        vec![(
            "example.com/tenant".to_string(),
            vec!["t1".to_string(), "t2".to_string()]
        )]
    );
    // a prefix also defuses reserved names
    let id = map(
        &i,
        &claims(json!({"email": "system:admin", "roles": ["system:masters"]})),
    )
    .unwrap();
    assert_eq!(id.user, "oidc:system:admin");
    assert_eq!(
        map(&i, &claims(json!({"email": "a", "oid": 7}))),
        Err(IdentityError::Uid {
            claim: "oid".into()
        })
    );
}

fn problem(r: Result<Identity, IdentityError>) -> (String, NotCanonical) {
    match r {
        Err(IdentityError::NotCanonical { claim, problem, .. }) => (claim, problem),
        other => panic!("expected NotCanonical, got {other:?}"),
    }
}

#[test]
fn control_characters_are_refused() {
    let i = issuer(|_| {});
    assert_eq!(
        problem(map(
            &i,
            &claims(json!({"sub": "alice\r\nimpersonate-user: admin"}))
        )),
        ("sub".into(), NotCanonical::ControlCharacter)
    );
    assert_eq!(
        problem(map(
            &i,
            &claims(json!({"sub": "a", "groups": ["ok", "bad\u{0}"]}))
        )),
        ("groups".into(), NotCanonical::ControlCharacter)
    );
    // a tab inside is a control character too (Go's HTTP/2 server allows
    // it, but it has no place in a name)
    assert_eq!(
        problem(map(&i, &claims(json!({"sub": "a\tb"})))),
        ("sub".into(), NotCanonical::ControlCharacter)
    );
}

/// The privilege escalation a real kube-apiserver showed: Go's HTTP/1.1
/// server (net/textproto `readMIMEHeader`) trims spaces and tabs around a
/// header value, so `" system:masters"` passed the reserved check here and
/// became `system:masters` on the upgrade route. Refused before the
/// reserved rules, on the exact bytes that would be sent.
#[test]
fn surrounding_whitespace_is_refused_before_the_reserved_rules() {
    let i = issuer(|_| {});
    for (c, claim) in [
        (json!({"sub": "a", "groups": [" system:masters"]}), "groups"),
        (json!({"sub": "a", "groups": ["system:masters "]}), "groups"),
        (
            json!({"sub": "a", "groups": ["\tsystem:masters"]}),
            "groups",
        ),
        (json!({"sub": " system:admin"}), "sub"),
        (json!({"sub": "admin "}), "sub"),
    ] {
        let (got_claim, p) = problem(map(&i, &claims(c.clone())));
        assert_eq!(got_claim, claim, "{c}");
        assert!(
            matches!(
                p,
                NotCanonical::SurroundingWhitespace | NotCanonical::ControlCharacter
            ),
            "{c}: {p:?}"
        );
    }
    let err = map(
        &i,
        &claims(json!({"sub": "a", "groups": [" system:masters"]})),
    )
    .unwrap_err();
    assert_eq!(err.reason(), "identity_invalid");
    assert_eq!(
        err.to_string(),
        "token claim \"groups\" is not a valid identity: the value \" system:masters\" has leading or trailing whitespace, which a cluster may or may not strip"
    );
    // interior spaces are one value on every route
    assert_eq!(
        map(&i, &claims(json!({"sub": "Ada Lovelace"})))
            .unwrap()
            .user,
        "Ada Lovelace"
    );
}

#[test]
fn the_prefix_is_part_of_the_checked_value() {
    let i = issuer(|pb| {
        let m = pb.claim_mappings.get_or_insert_with(Default::default);
        m.username = Some(kubeplex_proto::filter::v1::PrefixedClaim {
            claim: "email".into(),
            prefix: "system:".into(),
        });
    });
    assert_eq!(
        map(&i, &claims(json!({"email": "masters"}))),
        Err(IdentityError::ReservedUser("system:masters".into()))
    );
}

#[test]
fn non_ascii_and_uid_and_extra_values_are_checked() {
    let i = issuer(|pb| {
        let m = pb.claim_mappings.get_or_insert_with(Default::default);
        m.uid_claim = "oid".into();
        m.extra = vec![kubeplex_proto::filter::v1::ExtraMapping {
            key: "example.com/tenant".into(),
            claim: "tenant".into(),
        }];
    });
    assert_eq!(
        problem(map(&i, &claims(json!({"sub": "jürgen"})))),
        ("sub".into(), NotCanonical::NotAscii)
    );
    assert_eq!(
        problem(map(&i, &claims(json!({"sub": "a", "oid": " u1"})))),
        ("oid".into(), NotCanonical::SurroundingWhitespace)
    );
    assert_eq!(
        problem(map(
            &i,
            &claims(json!({"sub": "a", "tenant": ["blue", "red\n"]}))
        )),
        ("tenant".into(), NotCanonical::ControlCharacter)
    );
    // empty values are refused wherever they appear, before a prefix
    // could make them look like a name (nothing empty is ever sent)
    for (c, claim) in [
        (json!({"sub": "a", "groups": ["", "g"]}), "groups"),
        (json!({"sub": "a", "groups": ""}), "groups"),
        (json!({"sub": "a", "tenant": ["x", ""]}), "tenant"),
        (json!({"sub": "a", "oid": ""}), "oid"),
    ] {
        assert_eq!(
            problem(map(&i, &claims(c.clone()))),
            (claim.into(), NotCanonical::Empty),
            "{c}"
        );
    }
    let id = map(
        &i,
        &claims(json!({"sub": "a", "groups": [], "tenant": ["x"]})),
    )
    .unwrap();
    assert!(id.groups.is_empty());
    assert_eq!(
        id.extra,
        vec![("example.com/tenant".into(), vec!["x".into()])]
    );
}

#[test]
fn service_account_values_are_checked_too() {
    let i = issuer(|pb| pb.service_account_issuer = true);
    let mut c = sa_claims();
    c["kubernetes.io"]["pod"]["name"] = json!("builder-0 ");
    assert_eq!(
        problem(map(&i, &claims(c))),
        (
            "kubernetes.io.pod.name".into(),
            NotCanonical::SurroundingWhitespace
        )
    );
}

#[test]
fn canonical_accepts_exactly_visible_ascii_with_interior_spaces() {
    for ok in ["a", "system:masters", "a b", "a  b", "~!@#$%^&*()", "x=y;z"] {
        assert_eq!(canonical(ok), Ok(()), "{ok:?}");
    }
    for (bad, why) in [
        ("", NotCanonical::Empty),
        (" ", NotCanonical::SurroundingWhitespace),
        (" a", NotCanonical::SurroundingWhitespace),
        ("a ", NotCanonical::SurroundingWhitespace),
        ("\ta", NotCanonical::ControlCharacter),
        ("a\u{7f}", NotCanonical::ControlCharacter),
        ("a\u{85}", NotCanonical::NotAscii),
        ("é", NotCanonical::NotAscii),
    ] {
        assert_eq!(canonical(bad), Err(why), "{bad:?}");
    }
}

#[test]
fn system_identities_are_reserved() {
    let i = issuer(|_| {});
    assert_eq!(
        map(&i, &claims(json!({"sub": "system:admin"})))
            .unwrap_err()
            .to_string(),
        "username \"system:admin\" is reserved: a token issuer may not assert \"system:\" identities"
    );
    assert_eq!(
        map(
            &i,
            &claims(json!({"sub": "bob", "groups": ["dev", "system:masters"]}))
        ),
        Err(IdentityError::ReservedGroup("system:masters".into()))
    );
}

fn sa_claims() -> Value {
    json!({
        "sub": "system:serviceaccount:team-a:builder",
        "jti": "abc",
        "kubernetes.io": {
            "namespace": "team-a",
            "serviceaccount": {"name": "builder", "uid": "sa-uid"},
            "pod": {"name": "builder-0", "uid": "pod-uid"},
            "node": {"name": "node-1", "uid": "node-uid"}
        }
    })
}

#[test]
fn service_accounts_map_like_kubernetes() {
    let i = issuer(|pb| pb.service_account_issuer = true);
    let id = map(&i, &claims(sa_claims())).unwrap();
    assert_eq!(id.user, "system:serviceaccount:team-a:builder");
    assert_eq!(
        id.groups,
        vec!["system:serviceaccounts", "system:serviceaccounts:team-a"]
    );
    assert_eq!(id.uid.as_deref(), Some("sa-uid"));
    let extra: std::collections::HashMap<_, _> = id.extra.into_iter().collect();
    assert_eq!(extra[POD_NAME_KEY], vec!["builder-0"]);
    assert_eq!(extra[POD_UID_KEY], vec!["pod-uid"]);
    assert_eq!(extra[NODE_NAME_KEY], vec!["node-1"]);
    assert_eq!(extra[NODE_UID_KEY], vec!["node-uid"]);
    assert_eq!(extra[CREDENTIAL_ID_KEY], vec!["JTI=abc"]);
}

#[test]
fn service_account_pod_extras_need_name_and_uid() {
    let i = issuer(|pb| pb.service_account_issuer = true);
    let mut c = sa_claims();
    c["kubernetes.io"]["pod"] = json!({"name": "p"});
    c["kubernetes.io"].as_object_mut().unwrap().remove("node");
    c.as_object_mut().unwrap().remove("jti");
    let id = map(&i, &claims(c)).unwrap();
    assert!(id.extra.is_empty(), "{:?}", id.extra);
}

#[test]
fn service_account_subject_is_checked() {
    let i = issuer(|pb| pb.service_account_issuer = true);
    for sub in [
        "alice",
        "system:serviceaccount:ns",
        "system:serviceaccount::x",
        "system:serviceaccount:a:b:c",
    ] {
        let err = map(&i, &claims(json!({"sub": sub}))).unwrap_err();
        assert!(
            matches!(err, IdentityError::ServiceAccountSubject(_)),
            "{sub}: {err}"
        );
    }
    let mut c = sa_claims();
    c["kubernetes.io"]["namespace"] = json!("team-b");
    assert!(matches!(
        map(&i, &claims(c)),
        Err(IdentityError::ServiceAccountMismatch { .. })
    ));
    let mut c = sa_claims();
    c["kubernetes.io"]["serviceaccount"]["name"] = json!("other");
    assert!(matches!(
        map(&i, &claims(c)),
        Err(IdentityError::ServiceAccountMismatch { .. })
    ));
}
