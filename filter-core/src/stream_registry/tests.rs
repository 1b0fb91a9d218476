use super::*;
use crate::config_pb as pb;
use crate::identity::Identity;
use crate::mint::{self, NOW};
use crate::request_info::parse;

fn token(user: &str, jti: Option<&str>, issuer: &str) -> Rc<VerifiedToken> {
    Rc::new(VerifiedToken::new(
        Identity {
            user: user.into(),
            groups: vec!["dev".into()],
            ..Identity::default()
        },
        issuer.into(),
        jti.map(str::to_string),
        None,
        NOW + 3600,
    ))
}

fn watch(cluster: &str, token: Rc<VerifiedToken>) -> OpenStream {
    OpenStream {
        cluster: cluster.into(),
        token,
        info: parse("GET", "/api/v1/namespaces/team-a/pods?watch=1", false).unwrap(),
    }
}

fn compile(pb: &pb::FilterConfig) -> Config {
    Config::compile(pb).unwrap()
}

/// Three streams: alice on dev-a (jti-a), bob on dev-b (jti-b), carol on
/// prod (no jti).
fn registry() -> StreamRegistry {
    let mut r = StreamRegistry::default();
    r.insert(
        7,
        watch("dev-a", token("alice", Some("jti-a"), mint::ISSUER)),
    );
    r.insert(3, watch("dev-b", token("bob", Some("jti-b"), mint::ISSUER)));
    r.insert(12, watch("prod", token("carol", None, mint::ISSUER)));
    r
}

#[test]
fn the_config_that_opened_them_ends_nothing() {
    let r = registry();
    assert!(r.to_end(&compile(&mint::config()), NOW).is_empty());
}

#[test]
fn a_revoked_jti_ends_only_its_streams() {
    let r = registry();
    let mut pb = mint::config();
    pb.revocations.push(pb::Revocation {
        jti: "jti-b".into(),
        expires_at: 0,
        reason: "stolen".into(),
    });
    assert_eq!(r.to_end(&compile(&pb), NOW), vec![(3, EndReason::Revoked)]);
}

#[test]
fn a_removed_context_ends_its_streams() {
    let r = registry();
    let mut pb = mint::config();
    pb.contexts
        .retain(|c| c.name != "dev-a" && c.name != "prod");
    assert_eq!(
        r.to_end(&compile(&pb), NOW),
        vec![
            (7, EndReason::ContextRemoved),
            (12, EndReason::ContextRemoved)
        ]
    );
}

#[test]
fn an_untrusted_issuer_ends_every_stream_it_opened() {
    let mut r = registry();
    r.insert(
        20,
        watch(
            "dev-a",
            token("dave", Some("jti-d"), "https://other.example"),
        ),
    );
    let mut pb = mint::config();
    let mut other = mint::issuer();
    other.url = "https://other.example".into();
    pb.issuers.push(other);
    assert!(r.to_end(&compile(&pb), NOW).is_empty());
    // the original issuer goes away
    pb.issuers.remove(0);
    assert_eq!(
        r.to_end(&compile(&pb), NOW),
        vec![
            (3, EndReason::IssuerUntrusted),
            (7, EndReason::IssuerUntrusted),
            (12, EndReason::IssuerUntrusted)
        ]
    );
}

#[test]
fn a_narrower_policy_ends_what_it_no_longer_allows() {
    let r = registry();
    let rule = |clusters: &[&str]| pb::Rule {
        clusters: clusters.iter().map(|s| s.to_string()).collect(),
        namespaces: vec!["*".into()],
        verbs: vec!["watch".into(), "list".into()],
        resources: vec!["pods".into()],
        ..Default::default()
    };
    let policy = |clusters: &[&str]| pb::Policy {
        roles: vec![pb::Role {
            name: "watcher".into(),
            rules: vec![rule(clusters)],
        }],
        bindings: vec![pb::Binding {
            role: "watcher".into(),
            groups: vec!["dev".into()],
            ..Default::default()
        }],
        restrict_non_resource_urls: false,
    };
    let mut pb = mint::config();
    pb.policy = Some(policy(&["*"]));
    assert!(r.to_end(&compile(&pb), NOW).is_empty());
    pb.policy = Some(policy(&["dev-*"]));
    assert_eq!(
        r.to_end(&compile(&pb), NOW),
        vec![(12, EndReason::PolicyDenied)]
    );
}

#[test]
fn an_expired_token_ends_its_stream_after_the_grace() {
    let r = registry();
    let config = compile(&mint::config());
    let grace = config.clock_skew_seconds + config.stream_expiry_grace_seconds;
    let exp = NOW + 3600;
    assert!(r.to_end(&config, exp + grace).is_empty());
    let ended = r.to_end(&config, exp + grace + 1);
    assert_eq!(ended.len(), 3);
    assert!(ended.iter().all(|(_, r)| *r == EndReason::TokenExpired));
}

#[test]
fn the_first_reason_wins() {
    // issuer gone and jti revoked and context gone: one entry, one reason
    let r = registry();
    let mut pb = mint::config();
    pb.issuers[0].url = "https://replaced.example".into();
    pb.revocations.push(pb::Revocation {
        jti: "jti-a".into(),
        ..Default::default()
    });
    pb.contexts.clear();
    let ended = r.to_end(&compile(&pb), NOW);
    assert_eq!(ended.len(), 3);
    assert_eq!(ended[1], (7, EndReason::IssuerUntrusted));
}

#[test]
fn removed_streams_are_never_ended() {
    let mut r = registry();
    assert_eq!(r.len(), 3);
    let gone = r.remove(3).unwrap();
    assert_eq!(gone.cluster, "dev-b");
    assert!(r.remove(3).is_none());
    assert!(r.get(3).is_none());
    let mut pb = mint::config();
    pb.contexts.clear();
    let ids: Vec<u32> = r
        .to_end(&compile(&pb), NOW)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, vec![7, 12]);
    assert_eq!(r.len(), 2);
    assert!(!r.is_empty());
}

#[test]
fn reasons_are_metric_tags() {
    for reason in [
        EndReason::ContextRemoved,
        EndReason::Revoked,
        EndReason::IssuerUntrusted,
        EndReason::PolicyDenied,
        EndReason::TokenExpired,
    ] {
        let s = reason.as_str();
        assert!(
            s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{s}"
        );
    }
}
