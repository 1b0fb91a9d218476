use serde_json::json;

use super::*;
use crate::decision::{Outcome, RequestView, decide};
use crate::mint::{self, NOW, RustCryptoVerifier, Signer, mint};
use crate::token_cache::TokenCache;

fn ask(pb: &pb::FilterConfig, method: &str, path: &str, claims: &serde_json::Value) -> Outcome {
    let config = Config::compile(pb).unwrap();
    let mut cache = TokenCache::new(4);
    let headers = vec![
        (":method".to_string(), method.to_string()),
        (":path".to_string(), path.to_string()),
        (
            "authorization".to_string(),
            format!("Bearer {}", mint(Signer::Rsa, Some("rsa"), claims)),
        ),
    ];
    let view = RequestView::from_headers(&headers);
    decide(&config, &mut cache, &RustCryptoVerifier, NOW, &view).outcome
}

fn list(outcome: Outcome) -> ClusterList {
    match outcome {
        Outcome::Respond(json) => serde_json::from_str(&json).unwrap(),
        other => panic!("expected the cluster list, got {other:?}"),
    }
}

fn dev_policy() -> pb::FilterConfig {
    let mut pb = mint::config();
    let rule = pb::Rule {
        clusters: vec!["dev-*".into()],
        namespaces: vec!["default".into()],
        verbs: vec!["get".into(), "list".into()],
        resources: vec!["pods".into()],
        ..Default::default()
    };
    let prod_rule = pb::Rule {
        clusters: vec!["prod".into()],
        verbs: vec!["get".into()],
        resources: vec!["*".into()],
        ..Default::default()
    };
    pb.policy = Some(pb::Policy {
        roles: vec![
            pb::Role {
                name: "dev".into(),
                rules: vec![rule],
            },
            pb::Role {
                name: "ops".into(),
                rules: vec![prod_rule],
            },
        ],
        bindings: vec![
            pb::Binding {
                role: "dev".into(),
                users: vec!["alice".into()],
                groups: vec![],
            },
            pb::Binding {
                role: "ops".into(),
                users: vec![],
                groups: vec!["sre".into()],
            },
        ],
        restrict_non_resource_urls: false,
    });
    pb
}

#[test]
fn the_list_names_the_caller_and_only_the_clusters_the_policy_lets_them_reach() {
    let answer = list(ask(
        &dev_policy(),
        "GET",
        "/.kubeplex/v1/clusters",
        &mint::claims(),
    ));
    assert_eq!(answer.kind, KIND);
    assert_eq!(answer.user.username, "alice");
    assert_eq!(answer.user.groups, ["dev", "ops"]);
    assert_eq!(answer.user.issuer, mint::ISSUER);
    assert_eq!(answer.user.expires_at, NOW + 3600);
    assert!(answer.policy);
    let names: Vec<&str> = answer.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["dev-a", "dev-b"], "prod is only for group sre");
    assert_eq!(answer.clusters[0].rules[0].verbs, ["get", "list"]);
    assert_eq!(answer.clusters[0].rules[0].namespaces, ["default"]);

    let mut sre = mint::claims();
    sre["groups"] = json!(["sre"]);
    sre["sub"] = json!("bob");
    let answer = list(ask(
        &dev_policy(),
        "GET",
        "/.kubeplex/v1/clusters?x=1",
        &sre,
    ));
    let names: Vec<&str> = answer.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["prod"]);
    assert_eq!(answer.clusters[0].rules[0].resources, ["*"]);
}

#[test]
fn without_a_policy_every_cluster_is_listed_and_a_ctx_bound_token_sees_its_own() {
    let answer = list(ask(
        &mint::config(),
        "GET",
        "/.kubeplex/v1/clusters",
        &mint::claims(),
    ));
    assert!(!answer.policy);
    let names: Vec<&str> = answer.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["dev-a", "dev-b", "prod"]);
    assert!(answer.clusters.iter().all(|c| c.rules.is_empty()));

    let mut bound = mint::claims();
    bound["ctx"] = json!("prod");
    let answer = list(ask(
        &mint::config(),
        "GET",
        "/.kubeplex/v1/clusters",
        &bound,
    ));
    assert_eq!(answer.clusters.len(), 1);
    assert_eq!(answer.clusters[0].name, "prod");
}

#[test]
fn only_an_authenticated_get_of_the_exact_path_is_answered() {
    // Another method, or a longer path, is an ordinary request (no context: 404).
    for (method, path) in [
        ("POST", "/.kubeplex/v1/clusters"),
        ("GET", "/.kubeplex/v1/clusters/x"),
        ("GET", "/.kubeplex/v1/cluster"),
    ] {
        assert!(
            matches!(
                ask(&mint::config(), method, path, &mint::claims()),
                Outcome::Deny(_)
            ),
            "{method} {path}"
        );
    }
    // No token, or an expired one: refused like any request.
    let mut expired = mint::claims();
    expired["exp"] = json!(NOW - 3600);
    let Outcome::Deny(status) = ask(&mint::config(), "GET", "/.kubeplex/v1/clusters", &expired)
    else {
        panic!("an expired token was answered")
    };
    assert_eq!(status.code(), 401);
}
