use super::*;
use crate::identity::Identity;
use crate::request_info::parse;

fn rule(clusters: &[&str], namespaces: &[&str], verbs: &[&str], resources: &[&str]) -> pb::Rule {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
    pb::Rule {
        clusters: v(clusters),
        namespaces: v(namespaces),
        verbs: v(verbs),
        resources: v(resources),
        resource_names: vec![],
        non_resource_urls: vec![],
    }
}

fn role(name: &str, rules: Vec<pb::Rule>) -> pb::Role {
    pb::Role {
        name: name.into(),
        rules,
    }
}

fn bind(role: &str, users: &[&str], groups: &[&str]) -> pb::Binding {
    pb::Binding {
        role: role.into(),
        users: users.iter().map(|s| s.to_string()).collect(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
    }
}

fn who(user: &str, groups: &[&str]) -> Identity {
    Identity {
        user: user.into(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
        ..Identity::default()
    }
}

fn policy() -> Policy {
    Policy::compile(&pb::Policy {
        roles: vec![
            role(
                "developer",
                vec![rule(
                    &["dev-*"],
                    &["*"],
                    &["get", "list", "watch", "create"],
                    &[
                        "pods",
                        "pods/log",
                        "pods/exec",
                        "services",
                        "apps/deployments",
                    ],
                )],
            ),
            role(
                "viewer",
                vec![rule(&["*"], &["*"], &["get", "list"], &["*"])],
            ),
            role(
                "team-a",
                vec![rule(&["prod"], &["team-a", "team-a-*"], &["*"], &["*"])],
            ),
            role(
                "secret-db",
                vec![pb::Rule {
                    resource_names: vec!["db".into()],
                    ..rule(&["dev-a"], &["default"], &["get"], &["secrets"])
                }],
            ),
            role(
                "scaler",
                vec![rule(&["*"], &["*"], &["update"], &["*/scale"])],
            ),
        ],
        bindings: vec![
            bind("developer", &["alice"], &["devs"]),
            bind("viewer", &[], &["auditors"]),
            bind("team-a", &["bob"], &[]),
            bind("secret-db", &["carol"], &[]),
            bind("scaler", &["dave"], &[]),
        ],
        restrict_non_resource_urls: false,
    })
    .unwrap()
}

fn decide(p: &Policy, who: &Identity, cluster: &str, method: &str, url: &str) -> Verdict {
    p.decide(who, cluster, &parse(method, url, false).unwrap())
}

#[test]
fn globs() {
    assert!(Glob::new("*").matches(""));
    assert!(Glob::new("dev-*").matches("dev-a"));
    assert!(Glob::new("dev-*").matches("dev-"));
    assert!(!Glob::new("dev-*").matches("prod"));
    assert!(Glob::new("*-prod").matches("eu-prod"));
    assert!(Glob::new("a*b*c").matches("a-x-b-y-c"));
    assert!(!Glob::new("a*b*c").matches("a-x-c"));
    assert!(!Glob::new("ab*ba").matches("aba"));
    assert!(Glob::new("exact").matches("exact"));
    assert!(!Glob::new("exact").matches("exactly"));
}

#[test]
fn user_binding_allows_matching_rules() {
    let p = policy();
    let alice = who("alice", &[]);
    assert_eq!(
        decide(&p, &alice, "dev-a", "GET", "/api/v1/namespaces/x/pods"),
        Verdict::Allow
    );
    assert_eq!(
        decide(
            &p,
            &alice,
            "dev-b",
            "GET",
            "/api/v1/namespaces/x/pods/p/log"
        ),
        Verdict::Allow
    );
    assert_eq!(
        decide(
            &p,
            &alice,
            "dev-a",
            "GET",
            "/apis/apps/v1/namespaces/x/deployments"
        ),
        Verdict::Allow
    );
    // verb not granted
    assert_eq!(
        decide(&p, &alice, "dev-a", "DELETE", "/api/v1/namespaces/x/pods/p"),
        Verdict::Deny
    );
    // `pods` does not cover pods/status
    assert_eq!(
        decide(
            &p,
            &alice,
            "dev-a",
            "GET",
            "/api/v1/namespaces/x/pods/p/status"
        ),
        Verdict::Deny
    );
    // `apps/deployments` does not cover core "deployments"... nor other groups
    assert_eq!(
        decide(
            &p,
            &alice,
            "dev-a",
            "GET",
            "/apis/extensions/v1beta1/namespaces/x/deployments"
        ),
        Verdict::Deny
    );
    // cluster not matched at all
    assert_eq!(
        decide(&p, &alice, "prod", "GET", "/api/v1/namespaces/x/pods"),
        Verdict::NoClusterAccess
    );
}

#[test]
fn group_bindings() {
    let p = policy();
    let eve = who("eve", &["devs"]);
    assert_eq!(
        decide(&p, &eve, "dev-a", "GET", "/api/v1/namespaces/x/services"),
        Verdict::Allow
    );
    let aud = who("zed", &["auditors"]);
    assert_eq!(
        decide(&p, &aud, "prod", "GET", "/api/v1/secrets"),
        Verdict::Allow
    );
    assert_eq!(
        decide(&p, &aud, "prod", "POST", "/api/v1/namespaces/x/pods"),
        Verdict::Deny
    );
    let nobody = who("nobody", &["strangers"]);
    assert_eq!(
        decide(&p, &nobody, "dev-a", "GET", "/api/v1/pods"),
        Verdict::NoClusterAccess
    );
}

#[test]
fn namespace_globs_and_cluster_scope() {
    let p = policy();
    let bob = who("bob", &[]);
    assert_eq!(
        decide(
            &p,
            &bob,
            "prod",
            "DELETE",
            "/api/v1/namespaces/team-a/pods/x"
        ),
        Verdict::Allow
    );
    assert_eq!(
        decide(
            &p,
            &bob,
            "prod",
            "GET",
            "/api/v1/namespaces/team-a-dev/pods"
        ),
        Verdict::Allow
    );
    assert_eq!(
        decide(&p, &bob, "prod", "GET", "/api/v1/namespaces/team-b/pods"),
        Verdict::Deny
    );
    // cluster-scoped: only `*` matches, so team-a's glob does not reach nodes
    assert_eq!(
        decide(&p, &bob, "prod", "GET", "/api/v1/nodes"),
        Verdict::Deny
    );
    // cross-namespace list is cluster-scoped too
    assert_eq!(
        decide(&p, &bob, "prod", "GET", "/api/v1/pods"),
        Verdict::Deny
    );
    // the namespace object itself is "in" that namespace, as in Kubernetes
    assert_eq!(
        decide(&p, &bob, "prod", "GET", "/api/v1/namespaces/team-a"),
        Verdict::Allow
    );
}

#[test]
fn resource_names() {
    let p = policy();
    let carol = who("carol", &[]);
    assert_eq!(
        decide(
            &p,
            &carol,
            "dev-a",
            "GET",
            "/api/v1/namespaces/default/secrets/db"
        ),
        Verdict::Allow
    );
    assert_eq!(
        decide(
            &p,
            &carol,
            "dev-a",
            "GET",
            "/api/v1/namespaces/default/secrets/other"
        ),
        Verdict::Deny
    );
    // a list has no name: resource_names never match it
    assert_eq!(
        decide(
            &p,
            &carol,
            "dev-a",
            "GET",
            "/api/v1/namespaces/default/secrets"
        ),
        Verdict::Deny
    );
}

#[test]
fn wildcard_subresource_patterns() {
    let p = policy();
    let dave = who("dave", &[]);
    assert_eq!(
        decide(
            &p,
            &dave,
            "prod",
            "PUT",
            "/apis/apps/v1/namespaces/x/deployments/web/scale"
        ),
        Verdict::Allow
    );
    assert_eq!(
        decide(
            &p,
            &dave,
            "prod",
            "PUT",
            "/apis/apps/v1/namespaces/x/deployments/web"
        ),
        Verdict::Deny
    );
}

#[test]
fn resource_pattern_forms() {
    let m = |pat: &str, g: &str, r: &str, s: &str| {
        ResourcePattern::parse(pat).unwrap().matches(g, r, s)
    };
    assert!(m("*", "apps", "deployments", "scale"));
    assert!(m("pods", "", "pods", ""));
    assert!(!m("pods", "", "pods", "log"));
    assert!(!m("pods", "metrics.k8s.io", "pods", ""));
    assert!(m("pods/log", "", "pods", "log"));
    assert!(m("pods/*", "", "pods", "exec"));
    assert!(!m("pods/*", "", "pods", ""));
    assert!(m("apps/deployments", "apps", "deployments", ""));
    assert!(m("example.com/widgets", "example.com", "widgets", ""));
    assert!(m("apps/deployments/scale", "apps", "deployments", "scale"));
    assert!(m("apps/*", "apps", "statefulsets", "status"));
    assert!(!m("apps/*", "", "pods", ""));
    assert!(m("*/scale", "apps", "deployments", "scale"));
    assert!(m("*/deployments/scale", "apps", "deployments", "scale"));
    assert!(ResourcePattern::parse("a//b").is_none());
    assert!(ResourcePattern::parse("a/b/c/d").is_none());
}

#[test]
fn bad_resource_patterns_are_refused() {
    let err = Policy::compile(&pb::Policy {
        roles: vec![role("r", vec![rule(&["*"], &["*"], &["*"], &["a/b/c/d"])])],
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("\"a/b/c/d\""), "{err}");
    let dup = Policy::compile(&pb::Policy {
        roles: vec![role("r", vec![]), role("r", vec![])],
        ..Default::default()
    });
    assert_eq!(dup.unwrap_err(), PolicyError::DuplicateRole("r".into()));
}

#[test]
fn non_resource_urls() {
    let mut pb_policy = pb::Policy {
        roles: vec![
            role("dev", vec![rule(&["dev-*"], &["*"], &["get"], &["pods"])]),
            role(
                "discovery",
                vec![pb::Rule {
                    non_resource_urls: vec!["/version".into(), "/apis*".into(), "/api".into()],
                    ..rule(&["*"], &[], &["get"], &[])
                }],
            ),
        ],
        bindings: vec![
            bind("dev", &["alice"], &[]),
            bind("discovery", &["bob"], &[]),
        ],
        restrict_non_resource_urls: false,
    };
    let alice = who("alice", &[]);
    let bob = who("bob", &[]);
    let open = Policy::compile(&pb_policy).unwrap();
    // open: any reachable cluster answers /version to its users
    assert_eq!(
        decide(&open, &alice, "dev-a", "GET", "/version"),
        Verdict::Allow
    );
    assert_eq!(
        decide(&open, &alice, "prod", "GET", "/version"),
        Verdict::NoClusterAccess
    );

    pb_policy.restrict_non_resource_urls = true;
    let strict = Policy::compile(&pb_policy).unwrap();
    assert_eq!(
        decide(&strict, &alice, "dev-a", "GET", "/version"),
        Verdict::Deny
    );
    assert_eq!(
        decide(&strict, &bob, "prod", "GET", "/version"),
        Verdict::Allow
    );
    assert_eq!(
        decide(&strict, &bob, "prod", "GET", "/apis/apps/v1"),
        Verdict::Allow
    );
    assert_eq!(decide(&strict, &bob, "prod", "GET", "/api"), Verdict::Allow);
    assert_eq!(
        decide(&strict, &bob, "prod", "GET", "/api/v1"),
        Verdict::Deny
    );
    assert_eq!(
        decide(&strict, &bob, "prod", "POST", "/version"),
        Verdict::Deny
    );
    assert_eq!(
        decide(&strict, &bob, "prod", "GET", "/healthz"),
        Verdict::Deny
    );
}

#[test]
fn system_authenticated_binds_everyone() {
    let p = Policy::compile(&pb::Policy {
        roles: vec![role(
            "all",
            vec![rule(&["dev-a"], &["*"], &["get"], &["*"])],
        )],
        bindings: vec![bind("all", &[], &["system:authenticated"])],
        restrict_non_resource_urls: false,
    })
    .unwrap();
    assert_eq!(
        decide(&p, &who("anyone", &[]), "dev-a", "GET", "/api/v1/nodes/n"),
        Verdict::Allow
    );
}

#[test]
fn exec_over_websocket_needs_create() {
    let p = Policy::compile(&pb::Policy {
        roles: vec![role(
            "ro",
            vec![rule(&["*"], &["*"], &["get"], &["pods/exec"])],
        )],
        bindings: vec![bind("ro", &["alice"], &[])],
        restrict_non_resource_urls: false,
    })
    .unwrap();
    let info = parse("GET", "/api/v1/namespaces/x/pods/p/exec?command=sh", true).unwrap();
    assert_eq!(p.decide(&who("alice", &[]), "dev-a", &info), Verdict::Deny);
}
