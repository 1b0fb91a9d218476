//! Hands each request's audit record and counters to Envoy: the record as
//! filter state `wasm.kubeplex_audit` (one `set_property` call), a JSON
//! fragment declared as a string, which the access log's `text_format`
//! prints verbatim with `%FILTER_STATE(wasm.kubeplex_audit:PLAIN)%` (see
//! `kubeplex_filter_core::audit`); the counters as proxy-wasm metrics whose names carry their
//! tags in a form Envoy's `stats_tags` can extract.
//!
//! Measured in Envoy 1.40 (see tests/envoy_smoke.rs, `cpu_per_request`):
//! the same record as a `google.protobuf.Struct` printed with `:TYPED`
//! renders as nested JSON, but Envoy's Any → JSON conversion costs ~90 µs
//! CPU per request on this machine, against ~5 µs for the string. So the
//! record is text the filter escapes itself.

use std::cell::RefCell;
use std::collections::HashMap;

use proxy_wasm::types::MetricType;

use kubeplex_filter_core::audit::{AuditRecord, Decision};

/// The filter-state key (Envoy prefixes `wasm.`).
pub const AUDIT_PROPERTY: &str = "kubeplex_audit";
/// The request counter's base name.
pub const REQUESTS_METRIC: &str = "kubeplex_requests_total";
/// The counter of streams a new config ended (tag `reason`).
pub const STREAMS_ENDED_METRIC: &str = "kubeplex_streams_ended_total";

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

/// The ended-streams counter name for one reason.
pub fn streams_ended_metric_name(reason: &str) -> String {
    format!("reason=.={};.;{STREAMS_ENDED_METRIC}", sanitize(reason))
}

/// Keep a tag value from breaking the tag syntax (context names are
/// config-controlled, so this only guards against odd characters).
fn sanitize(value: &str) -> String {
    value.replace(';', "_")
}

/// Metric ids by cluster, then decision: a hit allocates nothing.
#[derive(Default)]
struct MetricIds {
    ids: HashMap<String, HashMap<Decision, u32>>,
    /// The last request's labels and id.
    last: Option<(String, Decision, u32)>,
}

thread_local! {
    // Metric ids are per VM and defining the same name again would leak
    // new ids, so they outlive root contexts.
    static METRICS: RefCell<MetricIds> = RefCell::new(MetricIds::default());
    static ENDED_METRICS: RefCell<HashMap<&'static str, u32>> = RefCell::new(HashMap::new());
}

/// Write the audit record and count the request.
pub fn record(audit: &AuditRecord<'_>, config_version: &str) {
    let record = audit.to_fragment(config_version);
    let _ = proxy_wasm::hostcalls::set_property(vec![AUDIT_PROPERTY], Some(record.as_bytes()));

    let key = audit.decision;
    let id = METRICS.with(|m| {
        let mut m = m.borrow_mut();
        // Nearly every request repeats the last one's labels: compare
        // before hashing the cluster name twice.
        if let Some((cluster, decision, id)) = &m.last
            && *decision == key
            && *cluster == audit.cluster
        {
            return Some(*id);
        }
        if let Some(&id) = m.ids.get(audit.cluster.as_str()).and_then(|c| c.get(&key)) {
            m.last = Some((audit.cluster.clone(), key, id));
            return Some(id);
        }
        let name = metric_name(key.as_str(), key.reason(), &audit.cluster);
        let id = proxy_wasm::hostcalls::define_metric(MetricType::Counter, &name).ok()?;
        m.ids
            .entry(audit.cluster.clone())
            .or_default()
            .insert(key, id);
        m.last = Some((audit.cluster.clone(), key, id));
        Some(id)
    });
    if let Some(id) = id {
        let _ = proxy_wasm::hostcalls::increment_metric(id, 1);
    }
}

/// Count one stream ended by a new config.
pub fn count_stream_ended(reason: &'static str) {
    let id = ENDED_METRICS.with(|m| {
        let mut m = m.borrow_mut();
        if let Some(&id) = m.get(reason) {
            return Some(id);
        }
        let name = streams_ended_metric_name(reason);
        let id = proxy_wasm::hostcalls::define_metric(MetricType::Counter, &name).ok()?;
        m.insert(reason, id);
        Some(id)
    });
    if let Some(id) = id {
        let _ = proxy_wasm::hostcalls::increment_metric(id, 1);
    }
}

/// Arguments of Envoy's `declare_property` foreign function
/// (`source/extensions/common/wasm/ext/declare_property.proto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeclarePropertyArguments {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(bool, tag = "2")]
    pub readonly: bool,
    /// `WasmType`: Bytes = 0, String = 1, FlatBuffers = 2, Protobuf = 3.
    #[prost(int32, tag = "3")]
    pub r#type: i32,
    /// For Protobuf: the type URL.
    #[prost(bytes = "vec", tag = "4")]
    pub schema: Vec<u8>,
    /// `LifeSpan`: FilterChain = 0, DownstreamRequest = 1, DownstreamConnection = 2.
    #[prost(int32, tag = "5")]
    pub span: i32,
}

/// The declaration of the audit property: a string (JSON text), so CEL
/// and `:PLAIN` see text.
pub fn audit_property_declaration() -> DeclarePropertyArguments {
    DeclarePropertyArguments {
        name: AUDIT_PROPERTY.to_string(),
        readonly: false,
        r#type: 1,
        schema: Vec::new(),
        span: 0,
    }
}

/// Declare the audit property's type. Envoy keeps declarations on the root
/// context, so this runs in every `on_configure`.
pub fn declare_audit_property() -> Result<(), String> {
    use prost::Message;
    let args = audit_property_declaration().encode_to_vec();
    proxy_wasm::hostcalls::call_foreign_function("declare_property", Some(&args))
        .map(drop)
        .map_err(|s| format!("declare_property failed: {s:?}"))
}

#[cfg(test)]
mod tests;
