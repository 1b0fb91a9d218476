use crate::apiserver::identity::UserInfo;
use crate::apiserver::impersonation::{
    ImpersonationError, ImpersonationPolicy, ImpersonationRequest,
};

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn parses_every_impersonation_header() {
    let req = ImpersonationRequest::from_headers(&h(&[
        ("impersonate-user", "alice"),
        ("impersonate-group", "dev"),
        ("accept", "application/json"),
        ("impersonate-group", "ops"),
        ("impersonate-uid", "u-1"),
        ("impersonate-extra-Scopes%2FView", "a"),
        ("impersonate-extra-scopes%2fview", "b"),
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(req.user, "alice");
    assert_eq!(req.groups, ["dev", "ops"]);
    assert_eq!(req.uid, "u-1");
    assert_eq!(req.extra["scopes/view"], ["a", "b"]);
    let user = req.effective_user();
    assert_eq!(user.groups, ["dev", "ops", "system:authenticated"]);
    assert_eq!(user.uid, "u-1");
}

#[test]
fn no_headers_means_no_impersonation() {
    assert_eq!(
        ImpersonationRequest::from_headers(&h(&[("accept", "*/*")])),
        Ok(None)
    );
}

#[test]
fn groups_without_a_user_are_an_error() {
    let err = ImpersonationRequest::from_headers(&h(&[("impersonate-group", "dev")])).unwrap_err();
    assert!(matches!(err, ImpersonationError::WithoutUser(_)));
    assert!(err.to_string().contains("without impersonating a user"));
    assert!(ImpersonationRequest::from_headers(&h(&[("impersonate-uid", "1")])).is_err());
    assert!(ImpersonationRequest::from_headers(&h(&[("impersonate-extra-x", "1")])).is_err());
}

#[test]
fn service_accounts_get_their_groups() {
    let req = ImpersonationRequest::from_headers(&h(&[(
        "impersonate-user",
        "system:serviceaccount:ci:builder",
    )]))
    .unwrap()
    .unwrap();
    assert_eq!(
        req.effective_user().groups,
        [
            "system:serviceaccounts",
            "system:serviceaccounts:ci",
            "system:authenticated"
        ]
    );
}

#[test]
fn policy_decides_who_may_impersonate() {
    let gw = UserInfo::authenticated("gw", &["gateways".to_string()]);
    let other = UserInfo::authenticated("x", &[]);
    let only = ImpersonationPolicy::Only {
        users: vec![],
        groups: vec!["gateways".into()],
    };
    assert!(only.allows(&gw));
    assert!(!only.allows(&other));
    assert!(ImpersonationPolicy::AnyAuthenticated.allows(&other));
    assert!(!ImpersonationPolicy::Nobody.allows(&gw));
}
