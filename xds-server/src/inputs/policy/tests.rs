use std::path::PathBuf;

use super::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("test_data/policy")
        .join(name)
}

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_documented_policy_compiles() {
    let policy = load(&fixture("good.yaml")).unwrap();
    assert!(policy.restrict_non_resource_urls);
    let names: Vec<_> = policy.roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["developer", "admin"]);
    let dev = &policy.roles[0];
    assert_eq!(dev.rules.len(), 3);
    assert_eq!(
        dev.rules[0],
        pb::Rule {
            clusters: v(&["dev-*"]),
            namespaces: v(&["*"]),
            verbs: v(&["get", "list", "watch"]),
            resources: v(&["pods", "pods/log", "apps/deployments"]),
            resource_names: vec![],
            non_resource_urls: vec![],
        }
    );
    assert_eq!(dev.rules[1].resource_names, v(&["debug"]));
    assert_eq!(dev.rules[2].non_resource_urls, v(&["/version", "/apis/*"]));
    assert!(dev.rules[2].namespaces.is_empty());
    assert_eq!(
        policy.bindings,
        vec![
            pb::Binding {
                role: "developer".into(),
                users: v(&["alice@example.com"]),
                groups: v(&["developers"]),
            },
            pb::Binding {
                role: "admin".into(),
                users: vec![],
                groups: v(&["platform"]),
            },
        ]
    );
}

#[test]
fn non_resource_urls_default_to_allow_authenticated() {
    let text = "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayPolicy\n";
    let policy = parse(text, Path::new("p.yaml")).unwrap();
    assert!(!policy.restrict_non_resource_urls);
    assert!(policy.roles.is_empty());
}

#[test]
fn every_mistake_is_reported_with_a_friendly_reason() {
    let err = load(&fixture("bad.yaml")).unwrap_err();
    let got = err.lines_fields_reasons();
    assert_eq!(
        got,
        [
            "3: nonResourceURLs: `open` is not a mode; use allowAuthenticated or restricted",
            "9: roles[0].rules[0].verbs[1]: unknown verb `logs`; use resource pods/log with verb get",
            "9: roles[0].rules[0].verbs[2]: unknown verb `exec`; use resource pods/exec with verb create",
            "9: roles[0].rules[0].verbs[3]: unknown verb `GET`; verbs are lower-case: get",
            "10: roles[0].rules[0].resources[1]: write the API group first: `apps/deployments`",
            "11: roles[0].rules[1].clusters[0]: cluster pattern `prod/*` contains '/', which no cluster name has",
            "11: roles[0].rules[1]: a rule needs resources or nonResourceURLs",
            "16: roles[0].rules[2]: a rule has resources or nonResourceURLs, not both; split it into two rules",
            "22: roles[0].rules[3].resouces: unknown field `resouces`; did you mean `resources`?",
            "20: roles[0].rules[3].nonResourceURLs[0]: `version` must start with /",
            "20: roles[0].rules[3].nonResourceURLs[1]: `/a*/b`: `*` is only allowed at the end (a prefix match)",
            "24: roles[1].rules: a role needs at least one rule",
            "23: roles[1].name: duplicate role name `developer` (also roles[0])",
            "26: bindings[0].role: role `dev` is not defined in roles",
            "28: bindings[1]: a binding needs users or groups",
        ]
    );
}

#[test]
fn namespace_globs_are_checked() {
    let text = "apiVersion: kubeplex.io/v1alpha1\nkind: GatewayPolicy\nroles:\n- name: r\n  rules:\n  - clusters: ['*']\n    namespaces: [Team-A, '']\n    verbs: [get]\n    resources: [pods]\n";
    let err = parse(text, Path::new("p.yaml")).unwrap_err();
    let got: Vec<String> = err.0.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        got,
        [
            "p.yaml:7: roles[0].rules[0].namespaces[0]: namespace pattern `Team-A` contains 'T', which no namespace name has",
            "p.yaml:7: roles[0].rules[0].namespaces[1]: an empty namespace pattern matches nothing",
        ]
    );
}
