//! Which clusters a token's user may reach under the gateway policy — for
//! `kubeplex kubeconfig`, so a user's kubeconfig lists only those. It runs
//! the filter's own code (identity mapping, compiled policy) natively, so
//! the answer is the one the gateway itself would give.

use base64::Engine;
use kubeplex_filter_core::config::Config;
use kubeplex_filter_core::policy::Verdict;
use kubeplex_proto::filter::v1 as pb;

use crate::inputs::gateway_config::GatewayConfig;
use crate::inputs::kubeconfig::ClusterTarget;
use crate::translate::{Inputs, filter_config::filter_config};

/// The contexts `token`'s holder may reach. The token's signature is not
/// checked here (the gateway checks it on every request); its issuer must
/// be trusted and its claims must map to an identity.
pub fn reachable_contexts(
    clusters: &[ClusterTarget],
    gateway: &GatewayConfig,
    policy: Option<&pb::Policy>,
    token: &str,
) -> Result<Vec<String>, String> {
    let issuers: Vec<pb::Issuer> = gateway
        .issuers
        .iter()
        .map(|i| crate::issuers::to_proto(i, &Default::default()))
        .collect();
    let agents = crate::translate::agents::routes(gateway, clusters, |_| String::new());
    let inputs = Inputs {
        clusters,
        gateway,
        issuers: &issuers,
        revocations: &[],
        policy,
        agents: &agents,
    };
    let config = Config::compile(&filter_config(&inputs, &Default::default()))
        .map_err(|e| format!("gateway config: {e}"))?;
    let payload = token.split('.').nth(1).ok_or("the token is not a JWT")?;
    let claims: serde_json::Map<String, serde_json::Value> =
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("the token's payload is not a JSON object")?;
    let iss = claims
        .get("iss")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let issuer = config
        .issuers
        .get(iss)
        .ok_or_else(|| format!("issuer {iss:?} is not trusted by the gateway"))?;
    let who = kubeplex_filter_core::identity::map(issuer, &claims).map_err(|e| e.to_string())?;
    let Some(policy) = &config.policy else {
        // No gateway policy: every cluster is reachable (its RBAC decides).
        return Ok(clusters.iter().map(|c| c.context.clone()).collect());
    };
    let discovery = kubeplex_filter_core::request_info::parse("GET", "/api", false)
        .map_err(|e| e.to_string())?;
    Ok(clusters
        .iter()
        .map(|c| c.context.clone())
        .filter(|ctx| {
            !matches!(
                policy.decide(&who, ctx, &discovery),
                Verdict::NoClusterAccess
            )
        })
        .collect())
}
