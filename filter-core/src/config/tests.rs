use prost::Message;

use super::*;
use crate::alg::Alg;
use crate::mint;

#[test]
fn decodes_and_indexes_the_test_config() {
    let c = Config::decode(&mint::config().encode_to_vec()).unwrap();
    assert_eq!(c.version, "test-1");
    let issuer = &c.issuers[mint::ISSUER];
    assert_eq!(issuer.keys.len(), 4);
    assert_eq!(issuer.claim_mappings.username_claim, "sub");
    assert_eq!(issuer.claim_mappings.groups_claim, "groups");
    assert!(c.contexts.contains_key("dev-a"));
    assert_eq!(c.revoked["revoked-jti"], "laptop stolen");
    assert_eq!(c.token_cache_size, 16);
    assert_eq!(c.clock_skew_seconds, 30);
    assert_eq!(c.cluster_path_prefix, "/clusters/");
}

#[test]
fn each_context_s_cluster_names_are_named_once_like_the_routes_expect() {
    let c = Config::decode(&mint::config().encode_to_vec()).unwrap();
    for (context, clusters) in &c.contexts {
        for kind in [
            ClusterKind::Ordinary,
            ClusterKind::Upgrade,
            ClusterKind::Discovery,
        ] {
            assert_eq!(
                &**clusters.get(kind),
                routing::cluster_name(context, kind),
                "{context} {kind:?}"
            );
        }
    }
    let a = &c.contexts["dev-a"];
    assert_eq!(&**a.get(ClusterKind::Upgrade), "ctx/dev-a/upgrade");
}

#[test]
fn garbage_is_refused() {
    let err = Config::decode(&[0xff, 0xff, 0xff]).unwrap_err();
    assert!(matches!(err, ConfigError::Decode(_)), "{err}");
}

#[test]
fn defaults_apply() {
    let mut pb = mint::config();
    pb.token_cache_size = 0;
    pb.cluster_header.clear();
    pb.cluster_path_prefix = "/c".into();
    let c = Config::compile(&pb).unwrap();
    assert_eq!(c.token_cache_size, DEFAULT_TOKEN_CACHE_SIZE);
    assert_eq!(&*c.cluster_header, DEFAULT_CLUSTER_HEADER);
    assert_eq!(c.cluster_path_prefix, "/c/");
    pb.cluster_path_prefix.clear();
    assert_eq!(Config::compile(&pb).unwrap().cluster_path_prefix, "");
}

#[test]
fn invalid_configs_name_the_problem() {
    let check = |edit: &dyn Fn(&mut pb::FilterConfig), want: &str| {
        let mut pb = mint::config();
        edit(&mut pb);
        let err = Config::compile(&pb).expect_err("must be refused");
        assert!(
            err.to_string().contains(want),
            "{err} does not contain {want}"
        );
    };
    check(&|c| c.issuers[0].url.clear(), "empty url");
    check(&|c| c.issuers.push(mint::issuer()), "listed twice");
    check(&|c| c.issuers[0].audiences.clear(), "no audiences");
    check(&|c| c.issuers[0].keys[0].key_type = 0, "no usable key_type");
    check(
        &|c| c.issuers[0].keys[0].key_type = 99,
        "no usable key_type",
    );
    check(
        &|c| c.issuers[0].keys[3].public_key = vec![1; 31],
        "not a valid Ed25519",
    );
    check(
        &|c| c.issuers[0].keys[0].public_key = vec![1, 2, 3],
        "not a valid RSA",
    );
    check(
        &|c| c.issuers[0].keys[0].alg = "ES256".into(),
        "pinned to alg \"ES256\", which a RSA key cannot verify",
    );
    check(&|c| c.issuers[0].keys[0].alg = "HS256".into(), "HS256");
    check(&|c| c.contexts.push(pb::Context::default()), "empty name");
    check(&|c| c.cluster_header = "X-Upper".into(), "lower-case");
    check(
        &|c| c.cluster_path_prefix = "clusters/".into(),
        "must start with",
    );
    check(
        &|c| {
            c.issuers[0]
                .claim_validation_rules
                .push(pb::ClaimValidationRule {
                    claim: String::new(),
                    required_value: "x".into(),
                })
        },
        "empty claim",
    );
    check(
        &|c| {
            c.policy = Some(pb::Policy {
                bindings: vec![pb::Binding {
                    role: "ghost".into(),
                    ..Default::default()
                }],
                ..Default::default()
            })
        },
        "unknown role \"ghost\"",
    );
}

#[test]
fn pinned_alg_is_kept() {
    let mut pb = mint::config();
    pb.issuers[0].keys[0].alg = "RS384".into();
    let c = Config::compile(&pb).unwrap();
    assert_eq!(c.issuers[mint::ISSUER].keys[0].alg, Some(Alg::RS384));
}

fn with_extra_key(key: &str) -> pb::FilterConfig {
    let mut pb = mint::config();
    pb.issuers[0].claim_mappings = Some(pb::ClaimMappings {
        username: Some(pb::PrefixedClaim {
            claim: "email".into(),
            prefix: "oidc:".into(),
        }),
        groups: None,
        uid_claim: "oid".into(),
        extra: vec![pb::ExtraMapping {
            key: key.into(),
            claim: "tid".into(),
        }],
    });
    pb
}

#[test]
fn mappings_are_kept() {
    let c = Config::compile(&with_extra_key("example.com/tenant")).unwrap();
    let m = &c.issuers[mint::ISSUER].claim_mappings;
    assert_eq!(m.username_claim, "email");
    assert_eq!(m.username_prefix, "oidc:");
    assert_eq!(m.groups_claim, "groups");
    assert_eq!(m.uid_claim.as_deref(), Some("oid"));
    assert_eq!(
        m.extra,
        vec![("example.com/tenant".to_string(), "tid".to_string())]
    );
}

/// Kubernetes' AuthenticationConfiguration refuses claim mappings into
/// its own extra domains (`isKubernetesDomainPrefix`), and lower-cases
/// nothing for you: a key in another case would reach the cluster as a
/// different key than the one judged here.
#[test]
fn extra_keys_must_be_lower_case_and_not_kubernetes_own() {
    for bad in [
        "Example.com/Tenant",
        "authentication.kubernetes.io/credential-id",
        "kubernetes.io/x",
        "k8s.io/x",
        "sub.k8s.io/x",
    ] {
        assert!(
            matches!(
                Config::compile(&with_extra_key(bad)),
                Err(ConfigError::Issuer(IssuerError::ExtraKey { .. }))
            ),
            "{bad}"
        );
    }
    for ok in [
        "example.com/tenant",
        "notkubernetes.io/x",
        "k8s.io.example.com/x",
    ] {
        assert!(Config::compile(&with_extra_key(ok)).is_ok(), "{ok}");
    }
}

#[test]
fn debug_output_has_no_key_material() {
    let c = Config::compile(&mint::config()).unwrap();
    let dbg = format!("{c:?}");
    assert!(dbg.contains("issuers: 1"), "{dbg}");
    assert!(!dbg.contains("revoked-jti"), "{dbg}");
}

#[test]
fn two_contexts_cannot_share_a_server_name() {
    let mut pb = mint::config();
    pb.contexts[0].server_name = "x.clusters.example".into();
    pb.contexts[1].server_name = "X.clusters.example".into();
    let e = Config::compile(&pb).err().unwrap();
    assert_eq!(
        e,
        ConfigError::DuplicateServerName {
            server_name: "x.clusters.example".into(),
            first: "dev-a".into(),
            second: "dev-b".into(),
        }
    );
    pb.contexts[1].server_name = "y.clusters.example".into();
    let c = Config::compile(&pb).unwrap();
    assert_eq!(c.contexts_by_server_name["x.clusters.example"], "dev-a");
    assert_eq!(c.contexts_by_server_name.len(), 2);
}
