//! Gateway-config issuers → the filter's `Issuer` messages, with the keys
//! known right now (static keys, or the last good fetched ones).

use std::collections::BTreeMap;

use kubeplex_proto::filter::v1 as pb;

use crate::inputs::gateway_config::{IssuerConfig, KeySource, RemoteKeySource};
use crate::inputs::keys::VerificationKey;

/// Human-readable origin of an issuer's keys.
pub fn key_origin(source: &KeySource) -> String {
    match source {
        KeySource::Static { origin, .. } => origin.clone(),
        KeySource::Remote(RemoteKeySource::JwksUrl { url, .. }) => format!("JWKS {url}"),
        KeySource::Remote(RemoteKeySource::Discovery { url, .. }) => {
            format!("OIDC discovery {url}")
        }
        KeySource::Remote(RemoteKeySource::Cluster { context }) => {
            format!("ServiceAccount issuer of cluster {context:?}")
        }
    }
}

/// The filter's view of one issuer. `fetched` holds keys fetched for
/// remote sources, by issuer URL.
pub fn to_proto(
    issuer: &IssuerConfig,
    fetched: &BTreeMap<String, Vec<VerificationKey>>,
) -> pb::Issuer {
    let keys: Vec<pb::Key> = match &issuer.keys {
        KeySource::Static { keys, .. } => keys.iter().map(VerificationKey::to_proto).collect(),
        _ => fetched
            .get(&issuer.url)
            .map(|keys| keys.iter().map(VerificationKey::to_proto).collect())
            .unwrap_or_default(),
    };
    let m = &issuer.claim_mappings;
    pb::Issuer {
        url: issuer.url.clone(),
        audiences: issuer.audiences.clone(),
        keys,
        claim_mappings: Some(pb::ClaimMappings {
            username: Some(pb::PrefixedClaim {
                claim: m.username_claim.clone(),
                prefix: m.username_prefix.clone(),
            }),
            groups: Some(pb::PrefixedClaim {
                claim: m.groups_claim.clone(),
                prefix: m.groups_prefix.clone(),
            }),
            uid_claim: m.uid_claim.clone().unwrap_or_default(),
            extra: m
                .extra
                .iter()
                .map(|(key, claim)| pb::ExtraMapping {
                    key: key.clone(),
                    claim: claim.clone(),
                })
                .collect(),
        }),
        claim_validation_rules: issuer
            .claim_validation_rules
            .iter()
            .map(|(claim, value)| pb::ClaimValidationRule {
                claim: claim.clone(),
                required_value: value.clone(),
            })
            .collect(),
        key_source: key_origin(&issuer.keys),
        service_account_issuer: issuer.keys.cluster().is_some(),
        remote_keys: !matches!(issuer.keys, KeySource::Static { .. }),
    }
}
