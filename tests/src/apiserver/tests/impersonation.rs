//! Impersonation as kube-apiserver 1.36 decides it
//! (`staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation/`
//! `constrained_impersonation.go`, `mode.go`).

use crate::apiserver::authz::{Attributes, Authorizer};
use crate::apiserver::identity::UserInfo;
use crate::apiserver::impersonation::{
    ImpersonationError, ImpersonationRequest, ModeIndexCache, impersonate,
};
use crate::apiserver::rbac::Rbac;
use crate::apiserver::status::ApiError;

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn wanted(pairs: &[(&str, &str)]) -> ImpersonationRequest {
    ImpersonationRequest::from_headers(&h(pairs))
        .unwrap()
        .expect("a user is impersonated")
}

/// `processImpersonationHeaders`: the first user and uid, every group,
/// extra keys lower-cased and then unescaped (`unescapeExtraKey`), so
/// `%41` becomes an upper-case `A`.
#[test]
fn parses_every_impersonation_header() {
    let req = wanted(&[
        ("impersonate-user", "alice"),
        ("impersonate-user", "mallory"),
        ("impersonate-group", "dev"),
        ("accept", "application/json"),
        ("impersonate-group", "ops"),
        ("impersonate-uid", "u-1"),
        ("impersonate-extra-scopes%2fview", "a"),
        ("impersonate-extra-scopes%2fview", "b"),
        ("impersonate-extra-x%41", "c"),
        ("impersonate-extra-bad%zz", "d"),
    ]);
    assert_eq!(req.user, "alice");
    assert_eq!(
        req.groups.as_deref(),
        Some(&["dev".to_string(), "ops".into()][..])
    );
    assert_eq!(req.uid, "u-1");
    let extra = req.extra.unwrap();
    assert_eq!(extra["scopes/view"], ["a", "b"]);
    assert_eq!(extra["xA"], ["c"]);
    assert_eq!(extra["bad%zz"], ["d"]);
}

#[test]
fn no_user_means_no_impersonation() {
    assert_eq!(
        ImpersonationRequest::from_headers(&h(&[("accept", "*/*")])),
        Ok(None)
    );
    assert_eq!(
        ImpersonationRequest::from_headers(&h(&[("impersonate-user", "")])),
        Ok(None)
    );
}

/// 1.36 answers a group, uid or extra without a user 400 BadRequest with
/// Go's `%#v` of the wanted user (the legacy filter's 500 is gone).
#[test]
fn groups_uid_or_extra_without_a_user_are_a_bad_request() {
    let err = ImpersonationRequest::from_headers(&h(&[("impersonate-group", "dev")])).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"requested &user.DefaultInfo{Name:"", UID:"", Groups:[]string{"dev"}, Extra:map[string][]string(nil)} without impersonating a user name"#
    );
    let err = ImpersonationRequest::from_headers(&h(&[
        ("impersonate-user", ""),
        ("impersonate-uid", "1"),
        ("impersonate-extra-a%2fb", "x"),
    ]))
    .unwrap_err();
    assert_eq!(
        err,
        ImpersonationError::WithoutUser(
            r#"&user.DefaultInfo{Name:"", UID:"1", Groups:[]string(nil), Extra:map[string][]string{"a/b":[]string{"x"}}}"#
                .into()
        )
    );
}

const GATEWAY: &str = "kubeplex-gateway";

fn rbac(rules: &str) -> Authorizer {
    let yaml = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: gw}}\nrules:\n{rules}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: gw}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: gw}}\nsubjects: [{{kind: User, name: {GATEWAY}}}]\n"
    );
    Authorizer::Rbac(Rbac::from_yaml(&yaml).unwrap())
}

/// The README's impersonator rules (legacy `impersonate` only).
const LEGACY: &str = "- {apiGroups: [\"\"], resources: [users, groups, serviceaccounts], verbs: [impersonate]}\n- {apiGroups: [authentication.k8s.io], resources: [uids, userextras/*], verbs: [impersonate]}";

/// Runs the modes for the gateway listing configmaps in `default`.
fn as_gateway(
    authz: &Authorizer,
    cache: &ModeIndexCache,
    headers: &[(&str, &str)],
) -> Result<UserInfo, ApiError> {
    let gw = UserInfo::authenticated(GATEWAY, &["kubeplex:gateways".to_string()]);
    let request = Attributes {
        user: &gw,
        verb: "list",
        is_resource: true,
        api_group: "",
        resource: "configmaps",
        subresource: "",
        namespace: "default",
        name: "",
        path: "/api/v1/namespaces/default/configmaps",
    };
    impersonate(authz, cache, &request, &wanted(headers))
}

fn message(r: Result<UserInfo, ApiError>) -> String {
    let e = r.unwrap_err();
    assert_eq!((e.code, e.reason), (403, "Forbidden"));
    e.message
}

/// `getImpersonatedUser`: with only legacy rights and no rule for the extra
/// key, every mode fails and the client gets the first one's error, the
/// user-info mode's `impersonate-on:user-info:<verb>` on the request
/// itself. `userextras/*` does not help.
#[test]
fn legacy_rights_without_the_extra_key_show_the_user_info_error() {
    let authz = rbac(LEGACY);
    let cache = ModeIndexCache::default();
    let alice = [
        ("impersonate-user", "alice"),
        ("impersonate-extra-example.com%2ftenant", "blue"),
    ];
    assert_eq!(
        message(as_gateway(&authz, &cache, &alice)),
        r#"configmaps is forbidden: User "kubeplex-gateway" cannot impersonate-on:user-info:list resource "configmaps" in API group "" in the namespace "default""#
    );
    // Without the extra, legacy impersonation succeeds.
    let user = as_gateway(
        &authz,
        &cache,
        &[("impersonate-user", "alice"), ("impersonate-group", "dev")],
    )
    .unwrap();
    assert_eq!(user.groups, ["dev", "system:authenticated"]);
    // `modeIndexCache`: legacy succeeded last for this requestor, so it is
    // tried first, and its error is the one reported now.
    assert_eq!(
        message(as_gateway(&authz, &cache, &alice)),
        r#"userextras.authentication.k8s.io "blue" is forbidden: User "kubeplex-gateway" cannot impersonate resource "userextras/example.com/tenant" in API group "authentication.k8s.io" at the cluster scope"#
    );
}

/// Legacy `impersonate` on `userextras/<key>` (Subresource = key, Name =
/// value) grants that key.
#[test]
fn a_userextras_key_rule_grants_that_key() {
    let rules = format!(
        "{LEGACY}\n- {{apiGroups: [authentication.k8s.io], resources: [userextras/example.com/tenant], verbs: [impersonate]}}"
    );
    let authz = rbac(&rules);
    let user = as_gateway(
        &authz,
        &ModeIndexCache::default(),
        &[
            ("impersonate-user", "alice"),
            ("impersonate-extra-example.com%2ftenant", "blue"),
        ],
    )
    .unwrap();
    assert_eq!(user.username, "alice");
    assert_eq!(user.groups, ["system:authenticated"]);
    assert_eq!(user.extra["example.com/tenant"], ["blue"]);
}

/// Constrained `user-info` mode: `impersonate-on:user-info:<verb>` plus
/// `impersonate:user-info` in `authentication.k8s.io`, and its sanity
/// checks (`system:masters`, the empty group, extra keys) that legacy
/// impersonation does not have.
#[test]
fn user_info_mode_and_its_sanity_checks() {
    let authz = rbac(
        "- {apiGroups: [\"\"], resources: [configmaps], verbs: [\"impersonate-on:user-info:list\"]}\n- {apiGroups: [authentication.k8s.io], resources: [users, groups, uids, userextras/*, userextras/example.com/tenant], verbs: [\"impersonate:user-info\"]}",
    );
    let cache = ModeIndexCache::default();
    let user = as_gateway(
        &authz,
        &cache,
        &[
            ("impersonate-user", "alice"),
            ("impersonate-group", "dev"),
            ("impersonate-extra-example.com%2ftenant", "blue"),
        ],
    )
    .unwrap();
    assert_eq!(user.groups, ["dev", "system:authenticated"]);
    assert_eq!(
        message(as_gateway(
            &authz,
            &cache,
            &[
                ("impersonate-user", "alice"),
                ("impersonate-group", "system:masters")
            ]
        )),
        r#"groups.authentication.k8s.io "system:masters" is forbidden: User "kubeplex-gateway" cannot impersonate:user-info resource "groups" in API group "authentication.k8s.io" at the cluster scope: impersonating the system:masters group is not allowed"#
    );
    assert_eq!(
        message(as_gateway(
            &authz,
            &cache,
            &[("impersonate-user", "alice"), ("impersonate-group", "")]
        )),
        r#"groups.authentication.k8s.io is forbidden: User "kubeplex-gateway" cannot impersonate:user-info resource "groups" in API group "authentication.k8s.io" at the cluster scope: impersonating the empty string group is not allowed"#
    );
    assert_eq!(
        message(as_gateway(
            &authz,
            &cache,
            &[
                ("impersonate-user", "alice"),
                ("impersonate-extra-scopes", "x")
            ]
        )),
        r#"userextras.authentication.k8s.io is forbidden: User "kubeplex-gateway" cannot impersonate:user-info resource "userextras" in API group "authentication.k8s.io" at the cluster scope: impersonating an invalid key in extra is not allowed: extra.key: Invalid value: "scopes": must be a domain-prefixed path (such as "acme.io/foo")"#
    );
    // Four or more extra values: one `userextras/*` check named `*` first,
    // which the literal `userextras/*` rule matches.
    let many: Vec<(&str, &str)> = [("impersonate-user", "alice")]
        .into_iter()
        .chain(["a", "b", "c", "d"].map(|v| ("impersonate-extra-other.io%2fk", v)))
        .collect();
    assert!(as_gateway(&authz, &cache, &many).is_ok());
    assert!(as_gateway(&authz, &cache, &many[..4]).is_err());
}

/// Constrained `serviceaccount` and `arbitrary-node` modes: only a user
/// name, checked as `serviceaccounts` in the account's namespace or as
/// `nodes`, with fixed groups.
#[test]
fn service_account_and_node_modes() {
    let authz = rbac(
        "- {apiGroups: [\"\"], resources: [configmaps], verbs: [\"impersonate-on:serviceaccount:list\", \"impersonate-on:arbitrary-node:list\"]}\n- {apiGroups: [authentication.k8s.io], resources: [serviceaccounts], resourceNames: [builder], verbs: [\"impersonate:serviceaccount\"]}\n- {apiGroups: [authentication.k8s.io], resources: [nodes], verbs: [\"impersonate:arbitrary-node\"]}",
    );
    let cache = ModeIndexCache::default();
    let sa = as_gateway(
        &authz,
        &cache,
        &[("impersonate-user", "system:serviceaccount:ci:builder")],
    )
    .unwrap();
    assert_eq!(
        sa.groups,
        [
            "system:serviceaccounts",
            "system:serviceaccounts:ci",
            "system:authenticated"
        ]
    );
    let node = as_gateway(&authz, &cache, &[("impersonate-user", "system:node:n1")]).unwrap();
    assert_eq!(node.groups, ["system:nodes", "system:authenticated"]);
    assert_eq!(
        message(as_gateway(
            &authz,
            &cache,
            &[("impersonate-user", "system:serviceaccount:ci:other")]
        )),
        r#"serviceaccounts.authentication.k8s.io "other" is forbidden: User "kubeplex-gateway" cannot impersonate:serviceaccount resource "serviceaccounts" in API group "authentication.k8s.io" in the namespace "ci""#
    );
    // With groups, only legacy applies to a service account.
    assert_eq!(
        message(as_gateway(
            &authz,
            &cache,
            &[
                ("impersonate-user", "system:serviceaccount:ci:builder"),
                ("impersonate-group", "dev")
            ]
        )),
        r#"serviceaccounts "builder" is forbidden: User "kubeplex-gateway" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "ci""#
    );
}

/// Legacy impersonation of a service account with groups keeps them; of
/// `system:anonymous` adds `system:unauthenticated`, not
/// `system:authenticated`.
#[test]
fn effective_user_groups() {
    let authz = rbac(LEGACY);
    let cache = ModeIndexCache::default();
    let sa = as_gateway(
        &authz,
        &cache,
        &[
            ("impersonate-user", "system:serviceaccount:ci:builder"),
            ("impersonate-group", "dev"),
        ],
    )
    .unwrap();
    assert_eq!(sa.groups, ["dev", "system:authenticated"]);
    let anon = as_gateway(&authz, &cache, &[("impersonate-user", "system:anonymous")]).unwrap();
    assert_eq!(anon.groups, ["system:unauthenticated"]);
    // Not a valid service account name: an ordinary user.
    let odd = as_gateway(
        &authz,
        &cache,
        &[("impersonate-user", "system:serviceaccount:CI:x")],
    )
    .unwrap();
    assert_eq!(odd.groups, ["system:authenticated"]);
}

/// The privileged group may impersonate anyone (the authorizer allows it
/// every check), even `system:masters` through legacy impersonation.
#[test]
fn system_masters_may_impersonate_system_masters_via_legacy() {
    let authz = Authorizer::Rbac(Rbac::bootstrap());
    let root = UserInfo::authenticated("root", &["system:masters".to_string()]);
    let request = Attributes {
        user: &root,
        verb: "get",
        is_resource: false,
        api_group: "",
        resource: "",
        subresource: "",
        namespace: "",
        name: "",
        path: "/api",
    };
    let w = wanted(&[
        ("impersonate-user", "eve"),
        ("impersonate-group", "system:masters"),
    ]);
    let user = impersonate(&authz, &ModeIndexCache::default(), &request, &w).unwrap();
    assert_eq!(user.groups, ["system:masters", "system:authenticated"]);
}
