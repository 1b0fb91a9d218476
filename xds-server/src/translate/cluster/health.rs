//! How Envoy learns a cluster is down, and what it does then: active
//! health checks on `/readyz` and no "panic routing" to a host known to be
//! unhealthy, so a dead cluster costs the caller an immediate 503 `Status`
//! instead of a connect timeout.
//!
//! No outlier detection: Envoy counts the streams an apiserver refuses
//! (`REFUSED_STREAM`, over its stream limit, safe to retry) as
//! local-origin failures, and a burst of them ejected the only endpoint
//! (measured: a burst of 1,100 watches without the stream limit, 692
//! refused streams, one ejection). Without it, only a cluster that fails
//! its health checks is refused.

use envoy_types::pb::envoy::config::cluster::v3::cluster::CommonLbConfig;
use envoy_types::pb::envoy::config::core::v3::{HealthCheck, health_check};
use envoy_types::pb::envoy::r#type::v3::{CodecClientType, Percent};
use envoy_types::pb::google::protobuf::UInt32Value;

use crate::inputs::gateway_config::HealthChecks;
use crate::inputs::kubeconfig::ClusterTarget;
use crate::translate::cluster::upstream::cluster_credential;
use crate::translate::seconds as secs;

/// Health check period while it does not answer: a recovered cluster is
/// back within this (or within the configured interval, if shorter).
pub const UNHEALTHY_INTERVAL_SECONDS: u64 = 2;
/// A check that takes longer than this failed.
pub const TIMEOUT_SECONDS: u64 = 2;
/// Failed checks in a row that make a cluster unavailable.
pub const UNHEALTHY_THRESHOLD: u32 = 2;

/// `GET <server path>/readyz` with the gateway's own credentials (its
/// client certificate is the cluster's transport socket; a kubeconfig
/// bearer token is added as a header). kube-apiserver answers 200 once
/// every readiness check passes; `/readyz` is open to everyone through the
/// default `system:public-info-viewer` binding, but a cluster may disable
/// anonymous access, hence the credentials.
///
/// None when the gateway config turns health checks off.
pub fn readyz_check(target: &ClusterTarget, checks: &HealthChecks) -> Option<HealthCheck> {
    if checks.interval_seconds == 0 {
        return None;
    }
    let host = target
        .tls_server_name
        .clone()
        .unwrap_or_else(|| target.server.host.clone());
    let http = health_check::HttpHealthCheck {
        host,
        path: format!("{}/readyz", target.server.path),
        request_headers_to_add: cluster_credential(target).into_iter().collect(),
        codec_client_type: CodecClientType::Http2 as i32,
        ..Default::default()
    };
    Some(HealthCheck {
        timeout: Some(secs(TIMEOUT_SECONDS)),
        interval: Some(secs(checks.interval_seconds)),
        unhealthy_interval: Some(secs(
            UNHEALTHY_INTERVAL_SECONDS.min(checks.interval_seconds),
        )),
        // Envoy's default (60 s until the cluster's first connection) would
        // leave a cluster used soon after a push unchecked for a minute:
        // the next check is scheduled when the previous one ends. Large
        // fleets trade that for fewer checks of idle contexts.
        no_traffic_interval: Some(secs(checks.idle_interval_seconds)),
        unhealthy_threshold: Some(UInt32Value {
            value: UNHEALTHY_THRESHOLD,
        }),
        healthy_threshold: Some(UInt32Value { value: 1 }),
        health_checker: Some(health_check::HealthChecker::HttpHealthCheck(http)),
        ..Default::default()
    })
}

/// A context has one apiserver endpoint: when it is unhealthy there is
/// nothing to fail over to, and Envoy's default panic threshold (50%)
/// would send requests to it anyway. At 0 they get 503 at once.
pub fn no_panic_routing() -> CommonLbConfig {
    CommonLbConfig {
        healthy_panic_threshold: Some(Percent { value: 0.0 }),
        ..Default::default()
    }
}
