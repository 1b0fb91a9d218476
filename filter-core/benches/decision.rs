//! Decision cost, natively: RequestInfo parsing + a 100-role policy, and
//! the whole pipeline on a cached token. Prints ns per decision.
//!
//! `cargo bench -p kubeplex-filter-core --bench decision`

use std::hint::black_box;
use std::time::Instant;

use kubeplex_filter_core::config::Config;
use kubeplex_filter_core::config_pb as pb;
use kubeplex_filter_core::decision::{self, Outcome, RequestView};
use kubeplex_filter_core::identity::Identity;
use kubeplex_filter_core::policy::{Policy, Verdict};
use kubeplex_filter_core::request_info;
use kubeplex_filter_core::signature::{Hash, SignatureVerifier, VerifyError};
use kubeplex_filter_core::token_cache::TokenCache;

#[path = "../test_support/mint.rs"]
mod mint;

const PATHS: &[(&str, &str)] = &[
    ("GET", "/api/v1/namespaces/team-42/pods"),
    (
        "GET",
        "/api/v1/namespaces/team-42/pods/web-0/log?follow=true",
    ),
    ("GET", "/apis/apps/v1/namespaces/team-42/deployments/web"),
    ("PATCH", "/apis/apps/v1/namespaces/team-42/deployments/web"),
    ("GET", "/api/v1/namespaces/team-7/secrets/db"),
    ("GET", "/api/v1/pods?watch=1&resourceVersion=100"),
    ("DELETE", "/api/v1/namespaces/team-42/configmaps"),
    ("GET", "/version"),
];

/// 100 roles of 2 rules each; user `u` holds 5 of them through groups.
fn policy_pb() -> pb::Policy {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let roles = (0..100)
        .map(|i| pb::Role {
            name: format!("role-{i}"),
            rules: vec![
                pb::Rule {
                    clusters: vec![format!("cluster-{i}-*"), "dev-*".into()],
                    namespaces: vec![format!("team-{i}"), format!("team-{i}-*")],
                    verbs: s(&["get", "list", "watch"]),
                    resources: s(&["pods", "pods/log", "services", "apps/deployments"]),
                    ..Default::default()
                },
                pb::Rule {
                    clusters: vec![format!("cluster-{i}-*")],
                    namespaces: s(&["*"]),
                    verbs: s(&["*"]),
                    resources: s(&["configmaps", "secrets"]),
                    resource_names: vec![format!("cm-{i}")],
                    ..Default::default()
                },
            ],
        })
        .collect();
    let bindings = (0..100)
        .map(|i| pb::Binding {
            role: format!("role-{i}"),
            users: vec![format!("user-{i}")],
            groups: vec![format!("group-{}", i % 20)],
        })
        .collect();
    pb::Policy {
        roles,
        bindings,
        restrict_non_resource_urls: false,
    }
}

fn time<F: FnMut(usize) -> bool>(label: &str, iterations: usize, mut f: F) -> f64 {
    // warm up
    for i in 0..iterations / 10 {
        black_box(f(i));
    }
    let start = Instant::now();
    let mut allowed = 0usize;
    for i in 0..iterations {
        allowed += usize::from(black_box(f(i)));
    }
    let ns = start.elapsed().as_nanos() as f64 / iterations as f64;
    println!("{label}: {ns:.0} ns per decision ({allowed} of {iterations} allowed)");
    ns
}

fn main() {
    let policy = Policy::compile(&policy_pb()).unwrap();
    let who = Identity {
        user: "u".into(),
        groups: (0..5).map(|g| format!("group-{g}")).collect(),
        ..Identity::default()
    };
    let n = 200_000;
    time("RequestInfo parse", n, |i| {
        let (m, p) = PATHS[i % PATHS.len()];
        request_info::parse(m, p, false)
            .unwrap()
            .is_resource_request
    });
    time("RequestInfo parse + 100-role policy", n, |i| {
        let (m, p) = PATHS[i % PATHS.len()];
        let info = request_info::parse(m, p, false).unwrap();
        policy.decide(&who, "dev-a", &info) == Verdict::Allow
    });

    // The whole pipeline on a cached token (what a request costs after the
    // first one): headers → token (cache hit) → revocation → route →
    // RequestInfo → policy → header mutations + audit record.
    let mut config_pb = mint::config();
    config_pb.policy = Some(policy_pb());
    config_pb.policy.as_mut().unwrap().bindings[0]
        .users
        .push("alice".into());
    config_pb.policy.as_mut().unwrap().roles[0].rules[0]
        .namespaces
        .push("*".into());
    let config = Config::compile(&config_pb).unwrap();
    let mut cache = TokenCache::new(config.token_cache_size);
    let mut claims = mint::claims();
    let now = mint::NOW;
    claims["exp"] = serde_json::json!(now + 3600);
    let token = format!(
        "Bearer {}",
        mint::mint(mint::Signer::Rsa, Some("rsa"), &claims)
    );
    let header_sets: Vec<Vec<(String, String)>> = PATHS
        .iter()
        .map(|(m, p)| {
            vec![
                (":method".to_string(), m.to_string()),
                (":path".to_string(), format!("/clusters/dev-a{p}")),
                (":authority".to_string(), "gw:8443".to_string()),
                ("authorization".to_string(), token.clone()),
                ("user-agent".to_string(), "kubectl/v1.32.0".to_string()),
                ("x-request-id".to_string(), "b3a1".to_string()),
            ]
        })
        .collect();
    time(
        "full decision, cached RS256 token, 100-role policy",
        n,
        |i| {
            let view = RequestView::from_headers(&header_sets[i % header_sets.len()]);
            let d = decision::decide(&config, &mut cache, &mint::RustCryptoVerifier, now, &view);
            black_box(d.audit.to_fragment(&config.version));
            matches!(d.outcome, Outcome::Allow(_))
        },
    );
    time(
        "first sight of a token: RS256 verify (RustCrypto, native)",
        2_000,
        |_| {
            let mut cold = TokenCache::new(4);
            let view = RequestView::from_headers(&header_sets[0]);
            let d = decision::decide(&config, &mut cold, &mint::RustCryptoVerifier, now, &view);
            matches!(d.outcome, Outcome::Allow(_))
        },
    );
    // What the filter itself does on first sight (in wasm, before and
    // after Envoy's native check): JWS parsing, claim checks, identity.
    time(
        "first sight of a token, host check stubbed: parse + claims + identity",
        n / 4,
        |_| {
            let mut cold = TokenCache::new(4);
            let view = RequestView::from_headers(&header_sets[0]);
            let d = decision::decide(&config, &mut cold, &HostSaysYes, now, &view);
            matches!(d.outcome, Outcome::Allow(_))
        },
    );
}

/// Stands in for Envoy's check (native, outside the filter's own cost).
struct HostSaysYes;

impl SignatureVerifier for HostSaysYes {
    fn verify(&self, _: Hash, _: &[u8], _: &[u8], _: &[u8]) -> Result<(), VerifyError> {
        Ok(())
    }
}
