//! One entry of Envoy's gRPC access log (`HTTPAccessLogEntry`) → the audit
//! record, field for field what the file access log (`AUDIT_LINE`) writes
//! for the same request:
//!
//! | record | file line | gRPC entry |
//! |---|---|---|
//! | the filter's fields | `%FILTER_STATE(wasm.kubeplex_audit:PLAIN)%` | `common_properties.filter_state_objects["wasm.kubeplex_audit"]` (the same text, in a `google.protobuf.BytesValue` or `StringValue`) |
//! | `time` | `%START_TIME(%Y-%m-%dT%H:%M:%E3SZ)%` | `start_time`, cut to milliseconds |
//! | `source` | `%DOWNSTREAM_REMOTE_ADDRESS%` | `downstream_remote_address` |
//! | `code` | `%RESPONSE_CODE%` | `response.response_code` |
//! | `flags` | `%RESPONSE_FLAGS%` | `response_flags`, in Envoy's order and short names |
//! | `duration_ms` | `%DURATION%` | `duration`, cut to milliseconds |
//! | `bytes_in`, `bytes_out` | `%BYTES_RECEIVED%`, `%BYTES_SENT%` | `request.request_body_bytes`, `response.response_body_bytes` |
//!
//! Requests Envoy refuses before the filter runs have no filter state:
//! their record takes `request_id` from the entry (`x-request-id`), which
//! the file line does not carry.

use envoy_types::pb::envoy::config::core::v3::{Address, address};
use envoy_types::pb::envoy::data::accesslog::v3::{HttpAccessLogEntry, ResponseFlags};
use envoy_types::pb::google::protobuf::{Any, BytesValue, Duration as PbDuration, StringValue};
use kubeplex_proto::audit::FILTER_STATE_KEY;
use kubeplex_proto::audit::v1::AuditRecord;
use prost::Message;

use super::time_text::format_unix_ms;

/// Why an entry is not an audit record.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The filter state is neither bytes nor a string.
    #[error("filter state {FILTER_STATE_KEY} has type {0}")]
    FilterStateType(String),
    /// Its wrapper does not decode.
    #[error("filter state {FILTER_STATE_KEY} does not decode")]
    FilterStateDecode(#[source] prost::DecodeError),
    /// Its text is not the filter's JSON fragment.
    #[error("filter state {FILTER_STATE_KEY}")]
    Fragment(#[source] kubeplex_proto::audit::LineError),
}

/// The record Envoy's entry describes.
pub fn record(entry: &HttpAccessLogEntry) -> Result<AuditRecord, EntryError> {
    let common = entry.common_properties.clone().unwrap_or_default();
    let mut record = match common.filter_state_objects.get(FILTER_STATE_KEY) {
        Some(any) => AuditRecord::from_fragment(&fragment(any)?).map_err(EntryError::Fragment)?,
        None => AuditRecord::default(),
    };
    let request = entry.request.clone().unwrap_or_default();
    let response = entry.response.clone().unwrap_or_default();
    if record.request_id.is_empty() {
        record.request_id = request.request_id;
    }
    record.time = common
        .start_time
        .map(|t| format_unix_ms(t.seconds * 1000 + i64::from(t.nanos) / 1_000_000))
        .unwrap_or_default();
    record.source = common
        .downstream_remote_address
        .as_ref()
        .map(address_text)
        .unwrap_or_default();
    record.code = response.response_code.map_or(0, |c| c.value);
    record.flags = common
        .response_flags
        .as_ref()
        .map_or_else(|| "-".to_string(), flags_text);
    record.duration_ms = common.duration.as_ref().map_or(0, millis);
    record.bytes_in = request.request_body_bytes;
    record.bytes_out = response.response_body_bytes;
    Ok(record)
}

/// The filter state's text.
fn fragment(any: &Any) -> Result<String, EntryError> {
    let type_name = any.type_url.rsplit('/').next().unwrap_or_default();
    let bytes = match type_name {
        "google.protobuf.BytesValue" => {
            BytesValue::decode(any.value.as_slice())
                .map_err(EntryError::FilterStateDecode)?
                .value
        }
        "google.protobuf.StringValue" => StringValue::decode(any.value.as_slice())
            .map_err(EntryError::FilterStateDecode)?
            .value
            .into_bytes(),
        other => return Err(EntryError::FilterStateType(other.to_string())),
    };
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `%DURATION%`: whole milliseconds.
fn millis(d: &PbDuration) -> u64 {
    (d.seconds.max(0) as u64) * 1000 + (d.nanos.max(0) as u64) / 1_000_000
}

/// `%DOWNSTREAM_REMOTE_ADDRESS%`: `ip:port`, `[ipv6]:port`.
fn address_text(a: &Address) -> String {
    match &a.address {
        Some(address::Address::SocketAddress(s)) => {
            let port = match s.port_specifier {
                Some(
                    envoy_types::pb::envoy::config::core::v3::socket_address::PortSpecifier::PortValue(
                        p,
                    ),
                ) => p,
                _ => 0,
            };
            if s.address.contains(':') {
                format!("[{}]:{port}", s.address)
            } else {
                format!("{}:{port}", s.address)
            }
        }
        Some(address::Address::Pipe(p)) => p.path.clone(),
        _ => String::new(),
    }
}

/// `%RESPONSE_FLAGS%`: the short names, comma-separated, in Envoy's order,
/// `-` when there are none (`DO` and `UDO`, drop-overload flags the entry
/// has no field for, cannot appear: kubeplex configures no drop overload).
fn flags_text(f: &ResponseFlags) -> String {
    let flags = [
        (f.failed_local_healthcheck, "LH"),
        (f.no_healthy_upstream, "UH"),
        (f.upstream_request_timeout, "UT"),
        (f.local_reset, "LR"),
        (f.upstream_remote_reset, "UR"),
        (f.upstream_connection_failure, "UF"),
        (f.upstream_connection_termination, "UC"),
        (f.upstream_overflow, "UO"),
        (f.no_route_found, "NR"),
        (f.delay_injected, "DI"),
        (f.fault_injected, "FI"),
        (f.rate_limited, "RL"),
        (f.unauthorized_details.is_some(), "UAEX"),
        (f.rate_limit_service_error, "RLSE"),
        (f.downstream_connection_termination, "DC"),
        (f.upstream_retry_limit_exceeded, "URX"),
        (f.stream_idle_timeout, "SI"),
        (f.invalid_envoy_request_headers, "IH"),
        (f.downstream_protocol_error, "DPE"),
        (f.upstream_max_stream_duration_reached, "UMSDR"),
        (f.response_from_cache_filter, "RFCF"),
        (f.no_filter_config_found, "NFCF"),
        (f.duration_timeout, "DT"),
        (f.upstream_protocol_error, "UPE"),
        (f.no_cluster_found, "NC"),
        (f.overload_manager, "OM"),
        (f.dns_resolution_failure, "DF"),
        (f.downstream_remote_reset, "DR"),
    ];
    let set: Vec<&str> = flags
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect();
    if set.is_empty() {
        return "-".to_string();
    }
    set.join(",")
}

#[cfg(test)]
mod tests;
