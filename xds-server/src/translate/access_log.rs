//! What Envoy writes and answers on its own: the audit access log (one JSON
//! line per request, fed by the filter, to a file and/or stdout; and the
//! same record streamed to the control plane's audit store over Envoy's
//! gRPC access log service) and Kubernetes `Status` bodies for
//! the errors Envoy itself produces (cluster unreachable, timeouts), so
//! kubectl prints a sentence instead of `upstream connect error`.

use envoy_types::pb::envoy::config::accesslog::v3::{
    AccessLog, AccessLogFilter, AndFilter, HeaderFilter, ResponseFlagFilter, access_log,
    access_log_filter,
};
use envoy_types::pb::envoy::config::core::v3::{ApiVersion, GrpcService, grpc_service};
use envoy_types::pb::envoy::config::core::v3::{
    DataSource, HeaderValue, HeaderValueOption, SubstitutionFormatString, data_source,
    substitution_format_string,
};
use envoy_types::pb::envoy::config::route::v3::{HeaderMatcher, header_matcher};
use envoy_types::pb::envoy::extensions::access_loggers::file::v3::{
    FileAccessLog, file_access_log,
};
use envoy_types::pb::envoy::extensions::access_loggers::grpc::v3::{
    CommonGrpcAccessLogConfig, HttpGrpcAccessLogConfig,
};
use envoy_types::pb::envoy::extensions::access_loggers::stream::v3::StdoutAccessLog;
use envoy_types::pb::envoy::extensions::access_loggers::stream::v3::stdout_access_log;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    LocalReplyConfig, ResponseMapper,
};
use envoy_types::pb::google::protobuf::{ListValue, Struct, UInt32Value, Value, value::Kind};
use serde_json::json;

use super::{names, pack};
use crate::inputs::gateway_config::AuditConfig;
use crate::inputs::gateway_config::StoreConfig;

/// Bumped whenever the formats here or `AUDIT_LINE` change (part of the
/// listener version).
pub const FORMAT_VERSION: &str = "3";

pub use kubeplex_proto::audit::AUDIT_LINE;

/// Access logs for the audit config: a file and/or stdout, and the stream
/// to the control plane when there is an audit store.
pub fn access_logs(audit: &AuditConfig) -> Vec<AccessLog> {
    let mut logs = text_logs(audit);
    if audit.store != StoreConfig::Disabled {
        logs.push(AccessLog {
            name: "envoy.access_loggers.http_grpc".into(),
            config_type: Some(access_log::ConfigType::TypedConfig(pack(&grpc_log()))),
            ..Default::default()
        });
    }
    logs
}

/// The audit records to the control plane (`crate::audit::als`): the
/// filter's part as filter state, Envoy's from the entry's own fields
/// (`crate::audit::envoy_entry` reads them like `AUDIT_LINE` writes them).
pub fn grpc_log() -> HttpGrpcAccessLogConfig {
    HttpGrpcAccessLogConfig {
        common_config: Some(CommonGrpcAccessLogConfig {
            log_name: names::AUDIT_LOG.into(),
            grpc_service: Some(GrpcService {
                target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(
                    grpc_service::EnvoyGrpc {
                        cluster_name: names::CONTROL_PLANE_CLUSTER.into(),
                        ..Default::default()
                    },
                )),
                ..Default::default()
            }),
            transport_api_version: ApiVersion::V3 as i32,
            filter_state_objects_to_log: vec![kubeplex_proto::audit::FILTER_STATE_KEY.into()],
            // Envoy's defaults: sent every second or per 16 KiB
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The JSON-line logs: a file and/or stdout.
fn text_logs(audit: &AuditConfig) -> Vec<AccessLog> {
    let format = SubstitutionFormatString {
        format: Some(substitution_format_string::Format::TextFormatSource(
            DataSource {
                specifier: Some(data_source::Specifier::InlineString(AUDIT_LINE.into())),
                ..Default::default()
            },
        )),
        // A missing value prints as nothing, not `-` (which would break the
        // JSON where the filter's fragment goes).
        omit_empty_values: true,
        ..Default::default()
    };
    let mut logs = Vec::new();
    if let Some(path) = &audit.path {
        let file = FileAccessLog {
            path: path.to_string_lossy().into_owned(),
            access_log_format: Some(file_access_log::AccessLogFormat::LogFormat(format.clone())),
        };
        logs.push(AccessLog {
            name: "envoy.access_loggers.file".into(),
            config_type: Some(access_log::ConfigType::TypedConfig(pack(&file))),
            ..Default::default()
        });
    }
    if audit.stdout {
        let stdout = StdoutAccessLog {
            access_log_format: Some(stdout_access_log::AccessLogFormat::LogFormat(format)),
        };
        logs.push(AccessLog {
            name: "envoy.access_loggers.stdout".into(),
            config_type: Some(access_log::ConfigType::TypedConfig(pack(&stdout))),
            ..Default::default()
        });
    }
    logs
}

fn flags_filter(flags: &[&str]) -> AccessLogFilter {
    AccessLogFilter {
        filter_specifier: Some(access_log_filter::FilterSpecifier::ResponseFlagFilter(
            ResponseFlagFilter {
                flags: flags.iter().map(|f| f.to_string()).collect(),
            },
        )),
    }
}

/// No tunnel for an agent cluster: its route set the agent status header
/// (`translate::agents`), whose text is the whole message.
fn agent_not_connected_filter() -> AccessLogFilter {
    let header = AccessLogFilter {
        filter_specifier: Some(access_log_filter::FilterSpecifier::HeaderFilter(
            HeaderFilter {
                header: Some(HeaderMatcher {
                    name: super::agents::names::AGENT_STATUS_HEADER.into(),
                    header_match_specifier: Some(
                        header_matcher::HeaderMatchSpecifier::PresentMatch(true),
                    ),
                    ..Default::default()
                }),
            },
        )),
    };
    AccessLogFilter {
        filter_specifier: Some(access_log_filter::FilterSpecifier::AndFilter(AndFilter {
            filters: vec![flags_filter(&["UF", "UH", "URX"]), header],
        })),
    }
}

/// Envoy's own failures as Kubernetes `Status` objects. Only these flags
/// are mapped: the filter's replies already carry their `Status`.
pub fn local_reply_config() -> LocalReplyConfig {
    let mapper = |filter: AccessLogFilter, code: u32, reason: &str, message: &str| ResponseMapper {
        filter: Some(filter),
        status_code: Some(UInt32Value { value: code }),
        body_format_override: Some(SubstitutionFormatString {
            format: Some(substitution_format_string::Format::JsonFormat(to_struct(
                &json!({
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": message,
                    "reason": reason,
                    "code": code,
                }),
            ))),
            content_type: "application/json".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    LocalReplyConfig {
        mappers: vec![
            mapper(
                agent_not_connected_filter(),
                503,
                "ServiceUnavailable",
                "%REQ(x-kubeplex-agent-status)%",
            ),
            mapper(
                flags_filter(&["UH"]),
                503,
                "ServiceUnavailable",
                "cluster \"%CLUSTER_METADATA(kubeplex:context)%\" is unavailable (last health check: \
                 failed; `kubeplex status` says why): refused at the gateway",
            ),
            mapper(
                flags_filter(&["UF", "URX", "UC"]),
                503,
                "ServiceUnavailable",
                "cluster \"%CLUSTER_METADATA(kubeplex:context)%\" is unreachable: %RESPONSE_CODE_DETAILS%",
            ),
            mapper(
                flags_filter(&["UT"]),
                504,
                "Timeout",
                "the request to cluster \"%CLUSTER_METADATA(kubeplex:context)%\" timed out at the gateway",
            ),
            mapper(
                flags_filter(&["NC"]),
                503,
                "ServiceUnavailable",
                "the gateway has no route to this cluster yet; retry in a moment",
            ),
            // client-go retries a 429 after its Retry-After, with backoff.
            ResponseMapper {
                headers_to_add: vec![HeaderValueOption {
                    header: Some(HeaderValue {
                        key: "retry-after".into(),
                        value: "1".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..mapper(
                    flags_filter(&["UO"]),
                    429,
                    "TooManyRequests",
                    "too many concurrent requests to cluster \"%CLUSTER_METADATA(kubeplex:context)%\"",
                )
            },
        ],
        ..Default::default()
    }
}

/// serde_json → `google.protobuf.Struct` (numbers stay numbers, so the
/// access log prints `"code": 503`, not `"503"`).
pub fn to_struct(value: &serde_json::Value) -> Struct {
    match to_value(value).kind {
        Some(Kind::StructValue(s)) => s,
        _ => Struct::default(),
    }
}

fn to_value(value: &serde_json::Value) -> Value {
    let kind = match value {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(a) => Kind::ListValue(ListValue {
            values: a.iter().map(to_value).collect(),
        }),
        serde_json::Value::Object(o) => Kind::StructValue(Struct {
            fields: o.iter().map(|(k, v)| (k.clone(), to_value(v))).collect(),
        }),
    };
    Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests;
