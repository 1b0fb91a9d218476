//! The whole gateway's tuning run (`--whole-gateway-tuning`): the kubeplex
//! variant again, once per [`Change`] to the Envoy configuration the
//! gateway runs ([`super::bootstrap::gateway_bootstrap`], which mirrors
//! `xds-server/src/translate/`), each its own Envoy in the same
//! interleaved rounds, so each change's effect is a same-run ratio.

use serde_json::{Value, json};

/// One change to the gateway's Envoy (its bootstrap, its command line, or
/// the bench client when the gateway cannot choose), applied alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing: the kubeplex Envoy once more, for the noise of a ratio.
    Again,
    /// The router's dynamic stats back on (Envoy's default, the gateway's
    /// before issue 16's tuning): per-request stats named after the
    /// response code (`upstream_rq_200`, `upstream_rq_2xx`,
    /// `upstream_rq_time`, …).
    DynamicStats,
    /// The router's `x-envoy-*` headers back (Envoy's default):
    /// `x-envoy-expected-rq-timeout-ms` to the cluster,
    /// `x-envoy-upstream-service-time` to the client.
    EnvoyHeaders,
    /// The UUID request id without packing the trace decision into it and
    /// without sampling on it (no tracing is configured).
    PlainRequestId,
    /// Envoy's edge recommendations for the client's HTTP/2 connections:
    /// 100 concurrent streams, windows of 64 KiB per stream and 1 MiB per
    /// connection (defaults: 2^31−1 streams, 256 MiB windows).
    H2EdgeLimits,
    /// A 32 KiB per-connection buffer limit (the gateway's: 1 MiB).
    BufferLimit32K,
    /// The access log flushed every 10 s (Envoy's default) instead of 1 s.
    LogFlush10s,
    /// Only TLS 1.2 on the listener: what a TLS 1.2 client costs.
    Tls12Only,
    /// The client's TLS 1.3 cipher preference as Go's (AES-128-GCM first),
    /// not rustls's (AES-256-GCM first): what kubectl negotiates.
    ClientAes128,
    /// No path normalization (`normalize_path`, `merge_slashes` off).
    /// Measured, not a candidate: the filter authorizes on the path.
    NoPathNormalization,
    /// Headers with underscores allowed. Measured, not a candidate: an
    /// `Impersonate_User` must not slip past the filter's check.
    AllowUnderscores,
    /// No `request_headers_timeout` (a timer per stream). Measured, not a
    /// candidate: it bounds slow clients.
    NoRequestHeadersTimeout,
    /// No access log. Measured, not a candidate: it is the audit trail.
    NoAccessLog,
}

impl Change {
    /// Every change, in report order.
    pub const ALL: [Change; 13] = [
        Change::Again,
        Change::DynamicStats,
        Change::EnvoyHeaders,
        Change::PlainRequestId,
        Change::H2EdgeLimits,
        Change::BufferLimit32K,
        Change::LogFlush10s,
        Change::Tls12Only,
        Change::ClientAes128,
        Change::NoPathNormalization,
        Change::AllowUnderscores,
        Change::NoRequestHeadersTimeout,
        Change::NoAccessLog,
    ];

    /// A short id for progress lines and directory names.
    pub fn id(self) -> &'static str {
        match self {
            Change::Again => "kubeplex-again",
            Change::DynamicStats => "dynamic-stats",
            Change::EnvoyHeaders => "envoy-headers",
            Change::PlainRequestId => "plain-request-id",
            Change::H2EdgeLimits => "h2-edge-limits",
            Change::BufferLimit32K => "buffer-32k",
            Change::LogFlush10s => "log-flush-10s",
            Change::Tls12Only => "tls12-only",
            Change::ClientAes128 => "client-aes128",
            Change::NoPathNormalization => "no-path-normalization",
            Change::AllowUnderscores => "allow-underscores",
            Change::NoRequestHeadersTimeout => "no-headers-timeout",
            Change::NoAccessLog => "no-access-log",
        }
    }

    /// The report's row label.
    pub fn label(self) -> &'static str {
        match self {
            Change::Again => "none (the kubeplex Envoy again: the noise)",
            Change::DynamicStats => {
                "router dynamic stats on (Envoy's default; the gateway's before)"
            }
            Change::EnvoyHeaders => {
                "router `x-envoy-*` headers (Envoy's default; the gateway's before)"
            }
            Change::PlainRequestId => {
                "request id: UUID without `pack_trace_reason` / trace sampling"
            }
            Change::H2EdgeLimits => "HTTP/2: `max_concurrent_streams` 100, windows 64 KiB / 1 MiB",
            Change::BufferLimit32K => "`per_connection_buffer_limit_bytes` 32 KiB (was 1 MiB)",
            Change::LogFlush10s => "access log flushed every 10 s (was 1 s)",
            Change::Tls12Only => "listener TLS 1.2 only (client: TLS 1.2)",
            Change::ClientAes128 => "client prefers AES-128-GCM, as Go (kubectl) does",
            Change::NoPathNormalization => "no path normalization (not a candidate)",
            Change::AllowUnderscores => "headers with underscores allowed (not a candidate)",
            Change::NoRequestHeadersTimeout => "no `request_headers_timeout` (not a candidate)",
            Change::NoAccessLog => "no access log (not a candidate: the audit trail)",
        }
    }

    /// Apply it to a gateway-shaped bootstrap (changes outside the
    /// bootstrap leave it as it is).
    pub fn apply(self, bootstrap: &mut Value) {
        let listener = &mut bootstrap["static_resources"]["listeners"][0];
        let chain = &mut listener["filter_chains"][0];
        let tls = &mut chain["transport_socket"]["typed_config"]["common_tls_context"];
        match self {
            Change::Tls12Only => {
                tls["tls_params"]["tls_maximum_protocol_version"] = json!("TLSv1_2");
                return;
            }
            Change::BufferLimit32K => {
                listener["per_connection_buffer_limit_bytes"] = json!(32 * 1024);
                return;
            }
            _ => {}
        }
        let hcm = &mut chain["filters"][0]["typed_config"];
        let Some(object) = hcm.as_object_mut() else {
            return;
        };
        match self {
            Change::DynamicStats | Change::EnvoyHeaders => {
                let router = object
                    .get_mut("http_filters")
                    .and_then(Value::as_array_mut)
                    .and_then(|f| f.last_mut())
                    .map(|r| &mut r["typed_config"]);
                if let Some(router) = router {
                    let field = if self == Change::DynamicStats {
                        ("dynamic_stats", true)
                    } else {
                        ("suppress_envoy_headers", false)
                    };
                    router[field.0] = json!(field.1);
                }
            }
            Change::PlainRequestId => {
                object.insert(
                    "request_id_extension".into(),
                    json!({"typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig",
                        "pack_trace_reason": false,
                        "use_request_id_for_trace_sampling": false
                    }}),
                );
            }
            Change::H2EdgeLimits => {
                object.insert(
                    "http2_protocol_options".into(),
                    json!({
                        "max_concurrent_streams": 100,
                        "initial_stream_window_size": 65536,
                        "initial_connection_window_size": 1048576
                    }),
                );
            }
            Change::NoPathNormalization => {
                object.insert("normalize_path".into(), json!(false));
                object.insert("merge_slashes".into(), json!(false));
            }
            Change::AllowUnderscores => {
                object.remove("common_http_protocol_options");
            }
            Change::NoRequestHeadersTimeout => {
                object.remove("request_headers_timeout");
            }
            Change::NoAccessLog => {
                object.insert("access_log".into(), json!([]));
            }
            Change::Again
            | Change::Tls12Only
            | Change::BufferLimit32K
            | Change::LogFlush10s
            | Change::ClientAes128 => {}
        }
    }

    /// The audit log's flush interval this change runs Envoy with
    /// (`--file-flush-interval-msec`), if it changes it.
    pub fn log_flush_ms(self) -> Option<u32> {
        (self == Change::LogFlush10s).then_some(10_000)
    }
}

#[cfg(test)]
mod tests;
