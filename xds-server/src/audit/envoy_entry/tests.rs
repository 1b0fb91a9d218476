use envoy_types::pb::envoy::config::core::v3::{SocketAddress, socket_address};
use envoy_types::pb::envoy::data::accesslog::v3::{
    AccessLogCommon, HttpRequestProperties, HttpResponseProperties, response_flags,
};
use envoy_types::pb::google::protobuf::{Timestamp, UInt32Value};

use super::*;

fn any_of(type_name: &str, value: Vec<u8>) -> Any {
    Any {
        type_url: format!("type.googleapis.com/{type_name}"),
        value,
    }
}

fn entry(filter_state: Option<Any>) -> HttpAccessLogEntry {
    let mut common = AccessLogCommon {
        start_time: Some(Timestamp {
            seconds: 1_779_271_872,
            nanos: 345_999_999,
        }),
        downstream_remote_address: Some(Address {
            address: Some(address::Address::SocketAddress(SocketAddress {
                address: "127.0.0.1".into(),
                port_specifier: Some(socket_address::PortSpecifier::PortValue(50123)),
                ..Default::default()
            })),
        }),
        duration: Some(PbDuration {
            seconds: 1,
            nanos: 999_999_999,
        }),
        response_flags: Some(ResponseFlags {
            upstream_connection_failure: true,
            upstream_retry_limit_exceeded: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    if let Some(any) = filter_state {
        common
            .filter_state_objects
            .insert(FILTER_STATE_KEY.to_string(), any);
    }
    HttpAccessLogEntry {
        common_properties: Some(common),
        request: Some(HttpRequestProperties {
            request_id: "envoy-id".into(),
            request_body_bytes: 17,
            ..Default::default()
        }),
        response: Some(HttpResponseProperties {
            response_code: Some(UInt32Value { value: 503 }),
            response_body_bytes: 311,
            ..Default::default()
        }),
        ..Default::default()
    }
}

const FRAGMENT: &str = r#""request_id":"r-1","user":"alice","groups":["dev"],"decision":"allow","#;

#[test]
fn envoy_fields_are_written_like_the_file_line() {
    let bytes = BytesValue {
        value: FRAGMENT.as_bytes().to_vec(),
    };
    let r = record(&entry(Some(any_of(
        "google.protobuf.BytesValue",
        bytes.encode_to_vec(),
    ))))
    .unwrap();
    assert_eq!(r.request_id, "r-1", "the filter's id, not the entry's");
    assert_eq!(
        (r.user.as_str(), r.groups.as_slice()),
        ("alice", &["dev".to_string()][..])
    );
    assert_eq!(r.time, "2026-05-20T10:11:12.345Z", "cut to milliseconds");
    assert_eq!(r.source, "127.0.0.1:50123");
    assert_eq!(r.code, 503);
    assert_eq!(r.flags, "UF,URX", "Envoy's order and names");
    assert_eq!(r.duration_ms, 1999);
    assert_eq!((r.bytes_in, r.bytes_out), (17, 311));
}

#[test]
fn a_string_filter_state_works_too() {
    let text = StringValue {
        value: FRAGMENT.to_string(),
    };
    let r = record(&entry(Some(any_of(
        "google.protobuf.StringValue",
        text.encode_to_vec(),
    ))))
    .unwrap();
    assert_eq!(r.user, "alice");
}

#[test]
fn without_the_filter_the_record_has_envoys_fields_and_request_id() {
    let r = record(&entry(None)).unwrap();
    assert_eq!(r.request_id, "envoy-id");
    assert_eq!(r.user, "");
    assert_eq!(r.code, 503);
    assert_eq!(
        flags_text(&ResponseFlags::default()),
        "-",
        "as Envoy prints none"
    );
}

#[test]
fn other_filter_state_is_refused() {
    let wrong = any_of("google.protobuf.Struct", Vec::new());
    assert!(matches!(
        record(&entry(Some(wrong))),
        Err(EntryError::FilterStateType(_))
    ));
    let broken = any_of(
        "google.protobuf.BytesValue",
        BytesValue {
            value: b"\"user\":".to_vec(),
        }
        .encode_to_vec(),
    );
    assert!(matches!(
        record(&entry(Some(broken))),
        Err(EntryError::Fragment(_))
    ));
}

#[test]
fn ipv6_sources_are_bracketed_and_every_flag_has_its_name() {
    let v6 = Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: "::1".into(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(8443)),
            ..Default::default()
        })),
    };
    assert_eq!(address_text(&v6), "[::1]:8443");
    let all = ResponseFlags {
        failed_local_healthcheck: true,
        no_healthy_upstream: true,
        upstream_request_timeout: true,
        local_reset: true,
        upstream_remote_reset: true,
        upstream_connection_failure: true,
        upstream_connection_termination: true,
        upstream_overflow: true,
        no_route_found: true,
        delay_injected: true,
        fault_injected: true,
        rate_limited: true,
        unauthorized_details: Some(response_flags::Unauthorized::default()),
        rate_limit_service_error: true,
        downstream_connection_termination: true,
        upstream_retry_limit_exceeded: true,
        stream_idle_timeout: true,
        invalid_envoy_request_headers: true,
        downstream_protocol_error: true,
        upstream_max_stream_duration_reached: true,
        response_from_cache_filter: true,
        no_filter_config_found: true,
        duration_timeout: true,
        upstream_protocol_error: true,
        no_cluster_found: true,
        overload_manager: true,
        dns_resolution_failure: true,
        downstream_remote_reset: true,
    };
    assert_eq!(
        flags_text(&all),
        "LH,UH,UT,LR,UR,UF,UC,UO,NR,DI,FI,RL,UAEX,RLSE,DC,URX,SI,IH,DPE,UMSDR,RFCF,NFCF,DT,UPE,NC,OM,DF,DR"
    );
}
