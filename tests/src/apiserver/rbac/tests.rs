//! RBAC as kube-apiserver evaluates it. Each test names the upstream code
//! (k8s.io/kubernetes) whose behaviour it pins down.

use super::*;
use crate::apiserver::authz::{Attributes, Decision};
use crate::apiserver::identity::UserInfo;
use crate::apiserver::tests::resource_attributes as res;

fn user(name: &str, groups: &[&str]) -> UserInfo {
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    UserInfo::authenticated(name, &groups)
}

fn path<'a>(user: &'a UserInfo, verb: &'a str, path: &'a str) -> Attributes<'a> {
    Attributes {
        is_resource: false,
        path,
        ..res(user, verb, "", "", "", "", "")
    }
}

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
    PolicyRule {
        verbs: s(verbs),
        api_groups: s(groups),
        resources: s(resources),
        ..PolicyRule::default()
    }
}

/// `ResourceMatches`: `userextras/*` is the literal resource string
/// `userextras/*`, so an impersonation check of extra key `k` (resource
/// `userextras`, subresource `k`) is not granted by it; `userextras/k`
/// and `*` are. It matches only the constrained modes' wildcard check,
/// whose subresource is the string `*`.
#[test]
fn userextras_star_is_a_literal_string() {
    let gw = user("gw", &[]);
    let check = |sub| {
        res(
            &gw,
            "impersonate",
            "authentication.k8s.io",
            "userextras",
            sub,
            "",
            "v",
        )
    };
    let star = rule(
        &["impersonate"],
        &["authentication.k8s.io"],
        &["userextras/*"],
    );
    assert!(!rule_allows(&check("k"), &star));
    assert!(rule_allows(&check("*"), &star));
    let exact = rule(
        &["impersonate"],
        &["authentication.k8s.io"],
        &["userextras/k"],
    );
    assert!(rule_allows(&check("k"), &exact));
    assert!(!rule_allows(&check("other"), &exact));
    let all = rule(&["impersonate"], &["authentication.k8s.io"], &["*"]);
    assert!(rule_allows(&check("k"), &all));
    let pods_star = rule(&["get"], &[""], &["pods/*"]);
    assert!(!rule_allows(
        &res(&gw, "get", "", "pods", "log", "ns", "p"),
        &pods_star
    ));
    assert!(!rule_allows(
        &res(&gw, "get", "", "pods", "", "ns", "p"),
        &pods_star
    ));
}

/// `ResourceMatches`: `*/<subresource>` is the only subresource wildcard,
/// and it needs a subresource of exactly that name.
#[test]
fn star_slash_subresource_matches_that_subresource_of_anything() {
    let u = user("u", &[]);
    let scale = rule(&["update"], &["apps"], &["*/scale"]);
    for resource in ["deployments", "replicasets", "statefulsets"] {
        let a = res(&u, "update", "apps", resource, "scale", "ns", "web");
        assert!(rule_allows(&a, &scale), "{resource}/scale");
    }
    assert!(!rule_allows(
        &res(&u, "update", "apps", "deployments", "", "ns", "web"),
        &scale
    ));
    assert!(!rule_allows(
        &res(&u, "update", "apps", "deployments", "status", "ns", "web"),
        &scale
    ));
    assert!(!rule_allows(
        &res(&u, "update", "apps", "scale", "", "ns", "web"),
        &scale
    ));
    // `*/scales` is not `*/scale` (the length check of ResourceMatches).
    assert!(!rule_allows(
        &res(&u, "update", "apps", "deployments", "cale", "ns", "w"),
        &scale
    ));
}

/// `APIGroupMatches`: an empty `apiGroups` matches no group, not even the
/// core group `""`; `ValidatePolicyRule` refuses to store such a rule.
#[test]
fn empty_api_groups_match_nothing_and_are_refused() {
    let u = user("u", &[]);
    let no_groups = rule(&["*"], &[], &["*"]);
    assert!(!rule_allows(
        &res(&u, "get", "", "configmaps", "", "ns", "x"),
        &no_groups
    ));
    assert!(!rule_allows(
        &res(&u, "get", "apps", "deployments", "", "ns", "x"),
        &no_groups
    ));
    let core = rule(&["*"], &[""], &["*"]);
    assert!(rule_allows(
        &res(&u, "get", "", "configmaps", "", "ns", "x"),
        &core
    ));
    assert!(!rule_allows(
        &res(&u, "get", "apps", "deployments", "", "ns", "x"),
        &core
    ));
    let err = Rbac::from_yaml(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: x}\nrules:\n- {resources: [pods], verbs: [get]}\n",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"document 1: ClusterRole.rbac.authorization.k8s.io "x" is invalid: rules[0].apiGroups: Required value: resource rules must supply at least one api group"#
    );
}

/// `ResourceNameMatches`: empty = any name (also a list's empty name);
/// otherwise exact names only, so a named rule never allows list.
#[test]
fn resource_names() {
    let u = user("u", &[]);
    let any = rule(&["get", "list"], &[""], &["configmaps"]);
    assert!(rule_allows(
        &res(&u, "get", "", "configmaps", "", "ns", "a"),
        &any
    ));
    assert!(rule_allows(
        &res(&u, "list", "", "configmaps", "", "ns", ""),
        &any
    ));
    let named = PolicyRule {
        resource_names: vec!["a".into()],
        ..any.clone()
    };
    assert!(rule_allows(
        &res(&u, "get", "", "configmaps", "", "ns", "a"),
        &named
    ));
    assert!(!rule_allows(
        &res(&u, "get", "", "configmaps", "", "ns", "b"),
        &named
    ));
    assert!(!rule_allows(
        &res(&u, "list", "", "configmaps", "", "ns", ""),
        &named
    ));
}

/// `VerbMatches` and `NonResourceURLMatches`; `RuleAllows` never mixes
/// resource and non-resource rules.
#[test]
fn verbs_and_non_resource_urls() {
    let u = user("u", &[]);
    let urls = PolicyRule {
        verbs: vec!["get".into()],
        non_resource_urls: vec!["/healthz".into(), "/api*".into(), "/logs/*".into()],
        ..PolicyRule::default()
    };
    assert!(rule_allows(&path(&u, "get", "/healthz"), &urls));
    assert!(!rule_allows(&path(&u, "get", "/healthz/etcd"), &urls));
    assert!(rule_allows(&path(&u, "get", "/apis"), &urls));
    assert!(rule_allows(&path(&u, "get", "/logs/a"), &urls));
    assert!(!rule_allows(&path(&u, "get", "/logs"), &urls));
    assert!(!rule_allows(&path(&u, "post", "/healthz"), &urls));
    let everything = rule(&["*"], &["*"], &["*"]);
    assert!(!rule_allows(&path(&u, "get", "/healthz"), &everything));
    assert!(!rule_allows(
        &res(&u, "get", "", "pods", "", "ns", ""),
        &urls
    ));
    // `impersonate` is not `impersonate:user-info` nor `impersonate-on:...`.
    let imp = rule(&["impersonate"], &[""], &["users"]);
    assert!(rule_allows(
        &res(&u, "impersonate", "", "users", "", "", "a"),
        &imp
    ));
    assert!(!rule_allows(
        &res(&u, "impersonate:user-info", "", "users", "", "", "a"),
        &imp
    ));
    let star = rule(&["*"], &["*"], &["*"]);
    assert!(rule_allows(
        &res(
            &u,
            "impersonate-on:user-info:list",
            "",
            "pods",
            "",
            "ns",
            ""
        ),
        &star
    ));
}

const BINDINGS: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-view, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: User, name: alice}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: cm-writer, namespace: team}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: builder-writes, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm-writer}
subjects: [{kind: ServiceAccount, name: builder}]
"#;

/// `VisitRulesFor`: a RoleBinding applies in its namespace only, even to a
/// ClusterRole; a ServiceAccount subject without a namespace means the
/// binding's. The allow reason is `RBACAuthorizer`'s with
/// `roleBindingDescriber`'s text.
#[test]
fn role_binding_to_a_cluster_role_is_namespaced() {
    let rbac = Rbac::from_yaml(BINDINGS).unwrap();
    let alice = user("alice", &[]);
    assert_eq!(
        rbac.authorize(&res(&alice, "list", "", "pods", "", "team", "")),
        Decision::Allow(
            r#"RBAC: allowed by RoleBinding "alice-view/team" of ClusterRole "view" to User "alice""#
                .into()
        )
    );
    assert!(
        !rbac
            .authorize(&res(&alice, "list", "", "pods", "", "other", ""))
            .allowed()
    );
    assert!(
        !rbac
            .authorize(&res(&alice, "list", "", "pods", "", "", ""))
            .allowed()
    );
    assert!(
        !rbac
            .authorize(&res(&alice, "list", "", "secrets", "", "team", ""))
            .allowed()
    );
    let builder = user(
        "system:serviceaccount:team:builder",
        &["system:serviceaccounts"],
    );
    assert_eq!(
        rbac.authorize(&res(&builder, "create", "", "configmaps", "", "team", "")),
        Decision::Allow(
            r#"RBAC: allowed by RoleBinding "builder-writes/team" of Role "cm-writer" to ServiceAccount "builder/team""#
                .into()
        )
    );
    let elsewhere = user("system:serviceaccount:other:builder", &[]);
    assert!(
        !rbac
            .authorize(&res(&elsewhere, "create", "", "configmaps", "", "team", ""))
            .allowed()
    );
}

/// The clusterrole-aggregation controller: `view` collects the rules of
/// ClusterRoles labelled `aggregate-to-view`, and (being labelled
/// `aggregate-to-edit`) passes them on to `edit` and on to `admin`;
/// `matchExpressions` select like `LabelSelectorAsSelector`.
#[test]
fn aggregated_cluster_roles() {
    let bootstrap = Rbac::bootstrap();
    let view = bootstrap.cluster_role("view").unwrap();
    let configmaps = rule(
        &["get", "list", "watch"],
        &[""],
        &["configmaps", "endpoints"],
    );
    assert!(
        view.rules
            .iter()
            .any(|r| r.resources.contains(&"configmaps".to_string()))
    );
    assert!(!configmaps.resources.is_empty());
    let rbac = Rbac::from_yaml(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: widgets-view
  labels: {rbac.authorization.k8s.io/aggregate-to-view: "true", tier: gold}
rules: [{apiGroups: [example.com], resources: [widgets], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: gold}
aggregationRule:
  clusterRoleSelectors:
  - matchExpressions:
    - {key: tier, operator: In, values: [gold, platinum]}
    - {key: retired, operator: DoesNotExist}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]
"#,
    )
    .unwrap();
    let widgets = rule(&["get"], &["example.com"], &["widgets"]);
    for name in ["view", "edit", "admin", "gold"] {
        let role = rbac.cluster_role(name).unwrap();
        assert!(role.rules.contains(&widgets), "{name}: {:?}", role.rules);
    }
    // An aggregated role's own rules are replaced, as the controller does.
    assert_eq!(
        rbac.cluster_role("gold").unwrap().rules,
        std::slice::from_ref(&widgets)
    );
    assert!(
        !bootstrap
            .cluster_role("edit")
            .unwrap()
            .rules
            .contains(&widgets)
    );
    let admin = rbac.cluster_role("admin").unwrap();
    assert!(
        admin
            .rules
            .iter()
            .any(|r| r.resources.contains(&"rolebindings".to_string()))
    );
    assert!(admin.rules.iter().any(|r| r.verbs == ["impersonate"]));
}

/// `authorizerfactory.NewPrivilegedGroups(user.SystemPrivilegedGroup)` runs
/// before RBAC: `system:masters` may do anything, with no binding at all
/// and an empty reason.
#[test]
fn system_masters_is_allowed_before_rbac() {
    let rbac = Rbac::empty();
    let root = user("root", &["system:masters"]);
    assert_eq!(
        rbac.authorize(&res(&root, "delete", "", "secrets", "", "kube-system", "x")),
        Decision::Allow(String::new())
    );
    assert_eq!(
        rbac.authorize(&path(&root, "get", "/metrics")),
        Decision::Allow(String::new())
    );
    let other = user("root", &[]);
    assert_eq!(
        rbac.authorize(&res(&other, "get", "", "secrets", "", "kube-system", "x")),
        Decision::Deny(String::new())
    );
}

/// `bootstrappolicy`: discovery and the self-reviews for every
/// authenticated user, health and version for everyone, the issuer
/// documents for service accounts only, nothing else.
#[test]
fn bootstrap_policy() {
    let rbac = Rbac::bootstrap();
    let alice = user("alice", &[]);
    let anonymous = UserInfo {
        username: "system:anonymous".into(),
        groups: vec!["system:unauthenticated".into()],
        ..UserInfo::default()
    };
    let sa = user("system:serviceaccount:ns:app", &["system:serviceaccounts"]);
    for p in ["/api", "/apis/apps/v1", "/openapi/v3", "/version"] {
        assert!(rbac.authorize(&path(&alice, "get", p)).allowed(), "{p}");
    }
    assert!(
        rbac.authorize(&path(&anonymous, "get", "/version"))
            .allowed()
    );
    assert!(!rbac.authorize(&path(&anonymous, "get", "/api")).allowed());
    for (group, resource) in [
        ("authorization.k8s.io", "selfsubjectaccessreviews"),
        ("authorization.k8s.io", "selfsubjectrulesreviews"),
        ("authentication.k8s.io", "selfsubjectreviews"),
    ] {
        assert!(
            rbac.authorize(&res(&alice, "create", group, resource, "", "", ""))
                .allowed()
        );
    }
    for p in ["/openid/v1/jwks", "/.well-known/openid-configuration"] {
        assert!(rbac.authorize(&path(&sa, "get", p)).allowed());
        assert!(!rbac.authorize(&path(&alice, "get", p)).allowed());
    }
    assert!(!rbac.authorize(&path(&alice, "get", "/metrics")).allowed());
    assert!(
        !rbac
            .authorize(&res(&alice, "list", "", "pods", "", "default", ""))
            .allowed()
    );
}

/// `RBACAuthorizer.Authorize`: a binding whose role does not exist makes the
/// denial's reason `RBAC: <the listers' NotFound messages>`.
#[test]
fn a_missing_role_is_the_deny_reason() {
    let rbac = Rbac::from_yaml(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ghost}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: nope}
subjects: [{kind: Group, name: "system:authenticated"}]
"#,
    )
    .unwrap();
    let alice = user("alice", &[]);
    assert_eq!(
        rbac.authorize(&res(&alice, "get", "", "pods", "", "default", "p")),
        Decision::Deny(r#"RBAC: clusterrole.rbac.authorization.k8s.io "nope" not found"#.into())
    );
}

/// The README's impersonator ClusterRole, as kube-apiserver evaluates the
/// legacy impersonation checks: users, groups, service accounts and uids
/// are granted; `userextras/*` grants no extra key.
#[test]
fn the_readme_impersonator_role() {
    let rbac = Rbac::from_yaml(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kubeplex-impersonator}
rules:
- apiGroups: [""]
  resources: [users, groups, serviceaccounts]
  verbs: [impersonate]
- apiGroups: [authentication.k8s.io]
  resources: [uids, userextras/*]
  verbs: [impersonate]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kubeplex}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubeplex-impersonator}
subjects: [{kind: User, name: kubeplex-gateway}]
"#,
    )
    .unwrap();
    let gw = user("kubeplex-gateway", &["kubeplex:gateways"]);
    let imp =
        |group, resource, sub, ns, name| res(&gw, "impersonate", group, resource, sub, ns, name);
    assert!(rbac.authorize(&imp("", "users", "", "", "alice")).allowed());
    assert!(rbac.authorize(&imp("", "groups", "", "", "dev")).allowed());
    assert!(
        rbac.authorize(&imp("", "serviceaccounts", "", "ci", "builder"))
            .allowed()
    );
    assert!(
        rbac.authorize(&imp("authentication.k8s.io", "uids", "", "", "1"))
            .allowed()
    );
    let extra = imp(
        "authentication.k8s.io",
        "userextras",
        "example.com/tenant",
        "",
        "blue",
    );
    assert!(!rbac.authorize(&extra).allowed());
}

/// YAML loading: multi-document and `List`, `Subject.apiGroup` defaulting,
/// `kubectl get -o yaml` metadata, and clear errors for anything else.
#[test]
fn yaml_loading_and_errors() {
    let rbac = Rbac::from_yaml(
        r#"
apiVersion: v1
kind: List
items:
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata: {name: devs, uid: 1d1e, resourceVersion: "7", creationTimestamp: null}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
  subjects: [{kind: Group, name: dev}]
"#,
    )
    .unwrap();
    let dev = user("d", &["dev"]);
    assert!(
        rbac.authorize(&res(&dev, "get", "", "pods", "", "x", "p"))
            .allowed()
    );
    let err = |yaml: &str| Rbac::from_yaml(yaml).unwrap_err();
    assert!(matches!(
        err("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"),
        RbacError::UnsupportedKind { document: 1, .. }
    ));
    assert!(matches!(
        err("apiVersion: rbac.authorization.k8s.io/v1beta1\nkind: Role\n"),
        RbacError::UnsupportedKind { .. }
    ));
    let e = err(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: x}\nrule: []\n",
    );
    assert!(
        matches!(&e, RbacError::Schema { kind, .. } if kind == "ClusterRole"),
        "{e}"
    );
    assert!(e.to_string().contains("unknown field `rule`"), "{e}");
    assert!(matches!(err("a: [\n"), RbacError::Yaml(_)));
    let e = err(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: ServiceAccount, name: app}]\n",
    );
    assert_eq!(
        e.to_string(),
        r#"document 1: ClusterRoleBinding.rbac.authorization.k8s.io "b" is invalid: subjects[0].namespace: Required value"#
    );
    let e = err(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\nrules: []\n",
    );
    assert!(
        e.to_string().contains("metadata.namespace: Required value"),
        "{e}"
    );
}

/// The README's ClusterRole for the gateway identity loads as is and lets
/// its subject impersonate users and groups (what every request needs).
#[test]
fn the_readme_cluster_role_loads() {
    let readme = include_str!("../../../../README.md");
    let block = readme
        .split("```yaml")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .find(|b| b.contains("kind: ClusterRole"))
        .expect("the README shows a ClusterRole");
    let binding = "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: gw}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubeplex-impersonator}\nsubjects: [{kind: User, name: gw}]\n";
    let rbac = Rbac::from_yaml(&format!("{block}{binding}")).unwrap();
    let gw = user("gw", &[]);
    let imp = |resource, name| res(&gw, "impersonate", "", resource, "", "", name);
    assert!(rbac.authorize(&imp("users", "alice")).allowed());
    assert!(rbac.authorize(&imp("groups", "dev")).allowed());
}
