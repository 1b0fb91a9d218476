use crate::apiserver::authz::{Attributes, Authorizer, AuthzRule, Decision, forbidden};
use crate::apiserver::identity::UserInfo;
use crate::apiserver::rbac::RbacObject;
use crate::apiserver::tests::resource_attributes as attrs;

#[test]
fn forbidden_messages() {
    let alice = UserInfo::authenticated("alice", &[]);
    let cases = [
        (
            attrs(&alice, "get", "", "configmaps", "", "default", "x"),
            r#"configmaps "x" is forbidden: User "alice" cannot get resource "configmaps" in API group "" in the namespace "default""#,
        ),
        (
            attrs(&alice, "list", "", "configmaps", "", "default", ""),
            r#"configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" in the namespace "default""#,
        ),
        (
            attrs(&alice, "list", "", "namespaces", "", "", ""),
            r#"namespaces is forbidden: User "alice" cannot list resource "namespaces" in API group "" at the cluster scope"#,
        ),
        (
            attrs(&alice, "create", "", "pods", "exec", "ns", "p"),
            r#"pods "p" is forbidden: User "alice" cannot create resource "pods/exec" in API group "" in the namespace "ns""#,
        ),
        (
            attrs(&alice, "watch", "apps", "deployments", "", "ns", ""),
            r#"deployments.apps is forbidden: User "alice" cannot watch resource "deployments" in API group "apps" in the namespace "ns""#,
        ),
    ];
    for (a, message) in cases {
        let e = forbidden(&a, "");
        assert_eq!(e.code, 403);
        assert_eq!(e.reason, "Forbidden");
        assert_eq!(e.message, message);
    }
    let e = forbidden(
        &attrs(&alice, "get", "apps", "deployments", "", "ns", "web"),
        "",
    );
    assert_eq!(
        e.details.unwrap(),
        serde_json::json!({"name": "web", "group": "apps", "kind": "deployments"})
    );
    let non_resource = Attributes {
        is_resource: false,
        path: "/metrics",
        ..attrs(&alice, "get", "", "", "", "", "")
    };
    assert_eq!(
        forbidden(&non_resource, "").message,
        r#"forbidden: User "alice" cannot get path "/metrics""#
    );
    // The authorizer's reason follows a colon; the message part is
    // sanitized like `responsewriters` does (`&`, `<`, `>`).
    let odd = Attributes {
        path: "/a<b>&c",
        ..non_resource
    };
    assert_eq!(
        forbidden(&odd, "RBAC: x").message,
        r#"forbidden: User "alice" cannot get path "/a&lt;b&gt;&amp;c": RBAC: x"#
    );
}

#[test]
fn rules_match_subjects_verbs_resources_and_namespaces() {
    let alice = UserInfo::authenticated("alice", &["dev".to_string()]);
    let bob = UserInfo::authenticated("bob", &[]);
    let authz = Authorizer::Rules(vec![
        AuthzRule::new()
            .groups(&["dev"])
            .verbs(&["get", "list"])
            .api_groups(&[""])
            .resources(&["configmaps", "pods/log"])
            .namespaces(&["team"]),
        // `*/scale`, not `deployments/*`: RBAC knows no other wildcard.
        AuthzRule::new()
            .users(&["bob"])
            .verbs(&["*"])
            .api_groups(&["apps"])
            .resources(&["*/scale"])
            .resource_names(&["web"]),
    ]);
    let allowed = |a: Attributes<'_>| authz.decide(&a).allowed();
    assert!(allowed(attrs(
        &alice,
        "get",
        "",
        "configmaps",
        "",
        "team",
        "x"
    )));
    assert!(!allowed(attrs(
        &alice,
        "get",
        "",
        "configmaps",
        "",
        "other",
        "x"
    )));
    assert!(!allowed(attrs(
        &alice,
        "delete",
        "",
        "configmaps",
        "",
        "team",
        "x"
    )));
    assert!(allowed(attrs(
        &alice, "get", "", "pods", "log", "team", "p"
    )));
    assert!(!allowed(attrs(&alice, "get", "", "pods", "", "team", "p")));
    // Namespaced rules never grant cluster scope.
    assert!(!allowed(attrs(
        &alice,
        "list",
        "",
        "configmaps",
        "",
        "",
        ""
    )));
    assert!(allowed(attrs(
        &bob,
        "update",
        "apps",
        "deployments",
        "scale",
        "any",
        "web"
    )));
    assert!(!allowed(attrs(
        &bob,
        "update",
        "apps",
        "deployments",
        "",
        "any",
        "web"
    )));
    assert!(!allowed(attrs(
        &bob,
        "update",
        "apps",
        "deployments",
        "scale",
        "any",
        "api"
    )));
    assert!(!allowed(attrs(
        &bob,
        "update",
        "",
        "deployments",
        "scale",
        "any",
        "web"
    )));
    // Built-in: reviews and discovery for everyone authenticated.
    assert!(allowed(attrs(
        &bob,
        "create",
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        "",
        "",
        ""
    )));
    let discovery = Attributes {
        is_resource: false,
        path: "/apis/apps/v1",
        ..attrs(&bob, "get", "", "", "", "", "")
    };
    assert!(allowed(discovery));
    let metrics = Attributes {
        is_resource: false,
        path: "/metrics",
        ..attrs(&bob, "get", "", "", "", "", "")
    };
    assert!(!allowed(metrics));
    assert!(matches!(
        Authorizer::AllowAll.decide(&metrics),
        Decision::Allow(_)
    ));
}

/// `Rules` match through RBAC's own code: an empty `api_groups` grants
/// nothing, `pods/*` is no wildcard, and a rule becomes a ClusterRole plus
/// a ClusterRoleBinding or RoleBindings.
#[test]
fn rules_are_rbac_objects() {
    let alice = UserInfo::authenticated("alice", &[]);
    let lenient = Authorizer::Rules(vec![
        AuthzRule::new()
            .users(&["alice"])
            .verbs(&["*"])
            .resources(&["*", "pods/*"]),
    ]);
    assert_eq!(
        lenient.decide(&attrs(&alice, "get", "", "pods", "log", "ns", "p")),
        Decision::Deny(String::new())
    );
    let exact = Authorizer::Rules(vec![
        AuthzRule::new()
            .users(&["alice"])
            .verbs(&["get"])
            .api_groups(&[""])
            .resources(&["pods/*"]),
    ]);
    assert!(
        !exact
            .decide(&attrs(&alice, "get", "", "pods", "log", "ns", "p"))
            .allowed()
    );
    assert_eq!(
        exact.decide(&attrs(&alice, "get", "", "pods", "*", "ns", "p")),
        Decision::Allow(
            r#"RBAC: allowed by ClusterRoleBinding "kubeplex-tests:rule-0" of ClusterRole "kubeplex-tests:rule-0" to User "alice""#
                .into()
        )
    );
    let objects = AuthzRule::new()
        .groups(&["dev"])
        .verbs(&["get"])
        .api_groups(&[""])
        .resources(&["configmaps"])
        .non_resource_urls(&["/metrics"])
        .namespaces(&["a", "b"])
        .to_rbac(3);
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| match o {
            RbacObject::ClusterRole(r) => {
                assert_eq!(r.rules.len(), 2, "resource and non-resource rules apart");
                "ClusterRole"
            }
            RbacObject::RoleBinding(b) => {
                assert_eq!(b.role_ref.name, "kubeplex-tests:rule-3");
                "RoleBinding"
            }
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["ClusterRole", "RoleBinding", "RoleBinding"]);
}
