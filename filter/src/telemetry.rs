//! Hands each request's audit record and counters to Envoy: the record as
//! filter state `wasm.kubeplex_audit` (one host call; the access log reads
//! it), the counter as a proxy-wasm metric whose name carries its tags in a
//! form Envoy's `stats_tags` can extract.

use std::cell::RefCell;
use std::collections::HashMap;

use proxy_wasm::types::MetricType;

use crate::audit::AuditRecord;

/// The filter-state key (Envoy prefixes `wasm.`).
pub const AUDIT_PROPERTY: &str = "kubeplex_audit";
/// The request counter's base name.
pub const REQUESTS_METRIC: &str = "kubeplex_requests_total";

/// The counter name for one (decision, reason, cluster): tags first, each
/// `<tag>=.=<value>;.;`, then the base name, so the bootstrap `stats_tags`
/// regexes `(<tag>=\.=(.*?);\.;)` strip them into labels and leave
/// `wasmcustom.kubeplex_requests_total`.
pub fn metric_name(decision: &str, reason: &str, cluster: &str) -> String {
    format!(
        "decision=.={decision};.;reason=.={reason};.;cluster=.={};.;{REQUESTS_METRIC}",
        sanitize(cluster)
    )
}

/// Keep a tag value from breaking the tag syntax (context names are
/// config-controlled, so this only guards against odd characters).
fn sanitize(value: &str) -> String {
    value.replace(';', "_")
}

thread_local! {
    // Metric ids are per VM and defining the same name again would leak
    // new ids, so they outlive root contexts.
    static METRICS: RefCell<HashMap<String, u32>> = RefCell::new(HashMap::new());
}

/// Write the audit record and count the request.
pub fn record(audit: &AuditRecord, config_version: &str) {
    let json = audit.to_json(config_version);
    let _ = proxy_wasm::hostcalls::set_property(vec![AUDIT_PROPERTY], Some(json.as_bytes()));

    let name = metric_name(audit.decision.as_str(), audit.reason, &audit.cluster);
    let id = METRICS.with(|m| {
        let mut m = m.borrow_mut();
        if let Some(&id) = m.get(&name) {
            return Some(id);
        }
        let id = proxy_wasm::hostcalls::define_metric(MetricType::Counter, &name).ok()?;
        m.insert(name, id);
        Some(id)
    });
    if let Some(id) = id {
        let _ = proxy_wasm::hostcalls::increment_metric(id, 1);
    }
}

/// Declare the audit property's type (once per root context).
pub fn declare_audit_property() -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests;
