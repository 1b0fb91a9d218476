//! The `FilterConfig` the filter scenarios run with: one issuer per
//! algorithm, the context `bench`, settings as the control plane's
//! defaults, and optionally a 100-role gateway policy.

use kubeplex_proto::filter::v1 as pb;

use super::keys::{AUDIENCE, Alg, SigningKeys};

/// The one cluster the bench routes to (`/clusters/bench/...`).
pub const CONTEXT: &str = "bench";
/// How many roles the policy scenario has.
pub const POLICY_ROLES: usize = 100;

/// The filter config. `with_policy`: add [`policy`]; without it the gateway
/// authorizes nothing itself (a cluster's own RBAC decides).
pub fn filter_config(keys: &SigningKeys, with_policy: bool) -> pb::FilterConfig {
    pb::FilterConfig {
        version: "bench".into(),
        issuers: Alg::ALL
            .iter()
            .map(|&alg| pb::Issuer {
                url: alg.issuer(),
                audiences: vec![AUDIENCE.into()],
                keys: vec![pb::Key {
                    kid: alg.kid().into(),
                    key_type: match alg {
                        Alg::Rs256 => pb::KeyType::Rsa,
                        Alg::Es256 => pb::KeyType::EcP256,
                        Alg::EdDsa => pb::KeyType::Ed25519,
                    } as i32,
                    public_key: keys.filter_public_key(alg),
                    alg: String::new(),
                }],
                key_source: "kubeplex-bench fixture".into(),
                ..Default::default()
            })
            .collect(),
        revocations: Vec::new(),
        contexts: vec![pb::Context {
            name: CONTEXT.into(),
            ..Default::default()
        }],
        policy: with_policy.then(policy),
        // the control plane's defaults (gateway config `clockSkewSeconds`,
        // `tokenCacheSize`)
        clock_skew_seconds: 30,
        token_cache_size: 4096,
        cluster_header: kubeplex_proto::routing::CLUSTER_HEADER.into(),
        cluster_path_prefix: kubeplex_proto::routing::CLUSTER_PATH_PREFIX.into(),
        stream_expiry_grace_seconds: 30,
        // the control plane's default ordinary route timeout, as the
        // gateway-shaped bootstrap's route has it
        request_timeout_seconds: 120,
    }
}

/// [`POLICY_ROLES`] roles, every one bound to the bench user's group `dev`
/// (so the filter walks all of them: its index is by user and group), each
/// with two rules; only the last role allows the benchmark's request
/// (`list configmaps` in `default` on `bench`). The worst case for a
/// policy of this size.
pub fn policy() -> pb::Policy {
    let roles = (0..POLICY_ROLES)
        .map(|i| {
            let last = i + 1 == POLICY_ROLES;
            pb::Role {
                name: format!("role-{i}"),
                rules: vec![
                    pb::Rule {
                        clusters: vec![format!("team-{i}-*"), "prod-*".into()],
                        namespaces: vec![format!("team-{i}"), "kube-system".into()],
                        verbs: vec!["get".into(), "list".into(), "watch".into()],
                        resources: vec![
                            "pods".into(),
                            "pods/log".into(),
                            "apps/deployments".into(),
                        ],
                        ..Default::default()
                    },
                    pb::Rule {
                        clusters: vec![if last {
                            CONTEXT.into()
                        } else {
                            format!("lab-{i}")
                        }],
                        namespaces: vec![if last {
                            "default".into()
                        } else {
                            format!("ns-{i}")
                        }],
                        verbs: vec!["list".into()],
                        resources: vec!["configmaps".into()],
                        ..Default::default()
                    },
                ],
            }
        })
        .collect::<Vec<_>>();
    let bindings = roles
        .iter()
        .map(|r| pb::Binding {
            role: r.name.clone(),
            users: Vec::new(),
            groups: vec!["dev".into()],
        })
        .collect();
    pb::Policy {
        roles,
        bindings,
        restrict_non_resource_urls: false,
    }
}
