//! After the runs: each filter's own counters must agree with what the
//! client saw, so a row measures the path it claims to (the kubeplex
//! filter allowed every request for context `bench`; `jwt_authn` allowed
//! every one). The route is a catch-all `direct_response`, so a status 200
//! alone would not prove it.

use super::BenchError;
use super::filter_config::CONTEXT;
use super::scenarios::{FilterKind, Scenario};

/// What the filter's counters must show after `sent` requests. `prometheus`
/// is Envoy's `/stats/prometheus`, `stats` its `/stats` text.
pub fn check(
    scenario: &Scenario,
    sent: u64,
    prometheus: &str,
    stats: &str,
) -> Result<(), BenchError> {
    let fail = |reason: String| BenchError::Verification {
        scenario: scenario.id.to_string(),
        reason,
    };
    match scenario.filter {
        FilterKind::Kubeplex { .. } => {
            let allowed = format!(
                "kubeplex_requests_total{{decision=\"allow\",reason=\"ok\",cluster=\"{CONTEXT}\"}}"
            );
            let counted = prometheus_value(prometheus, &allowed).unwrap_or(0);
            if counted != sent {
                return Err(fail(format!(
                    "the filter counted {counted} allowed requests for {CONTEXT:?}, the client sent {sent}"
                )));
            }
            let denied: Vec<&str> = prometheus
                .lines()
                .filter(|l| l.starts_with("kubeplex_requests_total{decision=\"deny\""))
                .filter(|l| !l.ends_with(" 0"))
                .collect();
            if !denied.is_empty() {
                return Err(fail(format!("the filter denied requests: {denied:?}")));
            }
        }
        FilterKind::JwtAuthn { .. } => {
            let allowed = stat_value(stats, "http.bench.jwt_authn.allowed").unwrap_or(0);
            let denied = stat_value(stats, "http.bench.jwt_authn.denied").unwrap_or(0);
            if allowed != sent || denied != 0 {
                return Err(fail(format!(
                    "jwt_authn allowed {allowed} and denied {denied}; the client sent {sent}"
                )));
            }
        }
        FilterKind::None | FilterKind::EmptyWasm => {}
    }
    Ok(())
}

/// The value of a Prometheus sample `name{labels}` (exactly as written).
pub fn prometheus_value(text: &str, sample: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

/// The value of `name: value` in Envoy's `/stats` text.
pub fn stat_value(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests;
