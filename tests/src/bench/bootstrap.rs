//! The static Envoy bootstrap of one filter scenario: one plaintext
//! HTTP/1.1 listener on a free port, the filter under test (or none), and a
//! single route answering `direct_response` 200, so the measured CPU is
//! Envoy's own request handling plus the filter, never an upstream's.
//! Every scenario gets the same listener, route and access log.

use std::net::SocketAddr;
use std::path::Path;

use base64::Engine;
use kubeplex_proto::filter::v1 as pb;
use prost::Message;
use serde_json::{Value, json};

use super::keys::{Alg, SigningKeys};

/// The listener's name (the bench looks its port up by it).
pub const LISTENER: &str = "bench";
/// Size of `jwt_authn`'s per-worker token cache when enabled: the same as
/// the filter's (`token_cache_size`).
pub const JWT_AUTHN_CACHE_SIZE: u32 = 4096;

/// The HTTP filter in front of the router.
#[derive(Clone, Copy, Debug)]
pub enum HttpFilter<'a> {
    /// Only the router.
    None,
    /// A wasm module run without configuration (the empty filter).
    EmptyWasm {
        /// The `.wasm`.
        wasm: &'a Path,
    },
    /// The kubeplex wasm filter with this config.
    Kubeplex {
        /// The built `.wasm`.
        wasm: &'a Path,
        /// Its configuration.
        config: &'a pb::FilterConfig,
    },
    /// Envoy's native `jwt_authn`, one provider per algorithm (inline
    /// JWKS, `forward: false`), requiring `provider`'s.
    JwtAuthn {
        /// Whose JWKS.
        keys: &'a SigningKeys,
        /// The provider every request must satisfy.
        provider: Alg,
        /// Whether providers have a `jwt_cache_config`.
        cache: bool,
    },
}

/// Every scenario logs every request with the gateway's own audit line;
/// without our filter its fragment is simply empty (the line Envoy writes
/// for a request the filter never saw).
pub use kubeplex_proto::audit::AUDIT_LINE;

/// The bootstrap (JSON; Envoy reads it as YAML). `access_log`: where the
/// audit log goes; None for no access log at all (an analysis option: the
/// gateway always logs).
pub fn bootstrap(filter: HttpFilter<'_>, access_log: Option<&Path>) -> Value {
    let http_filters = http_filters(filter);
    json!({
        "admin": admin(),
        "stats_config": stats_config(),
        "static_resources": {
            "listeners": [{
                "name": LISTENER,
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                "filter_chains": [{
                    "filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": "bench",
                            "access_log": access_logs(access_log),
                            "route_config": {
                                "virtual_hosts": [{
                                    "name": "all",
                                    "domains": ["*"],
                                    "routes": [{
                                        "match": {"prefix": "/"},
                                        "direct_response": {
                                            "status": 200,
                                            "body": {"inline_string": "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"items\":[]}\n"}
                                        }
                                    }]
                                }]
                            },
                            "http_filters": http_filters
                        }
                    }]
                }]
            }]
        }
    })
}

/// The PEM files and the upstream of [`gateway_bootstrap`].
#[derive(Clone, Copy, Debug)]
pub struct GatewayEnds<'a> {
    /// The listener's certificate (PEM).
    pub serving_cert: &'a str,
    /// Its key (PEM).
    pub serving_key: &'a str,
    /// The test apiserver.
    pub upstream: SocketAddr,
    /// The apiserver's CA (PEM).
    pub upstream_ca: &'a str,
    /// The gateway's client certificate for the apiserver (PEM).
    pub client_cert: &'a str,
    /// Its key (PEM).
    pub client_key: &'a str,
}

/// The context the gateway-shaped bootstrap routes to (its cluster's name).
pub const GATEWAY_CONTEXT: &str = "bench";

/// A bootstrap shaped like the gateway `kubeplex up` runs (the settings of
/// `xds-server/src/translate/{listener,cluster,route}.rs` that are on a
/// request's path): TLS listener (TLS 1.2+, ALPN h2 and http/1.1, a
/// tls_inspector), the router without dynamic stats or `x-envoy-*`
/// headers, the connection manager's path normalization, header
/// checks and upgrade configs, the audit access log, one route with the
/// ordinary requests' timeout (120 s, `Options::request_timeout_seconds`)
/// that also lets the filter's `grpc-timeout` bound a stream, and a cluster
/// to `ends.upstream` over mTLS and HTTP/2. Static (no xDS), so every
/// variant differs only by `filter`. Without the kubeplex filter nothing
/// strips the `/clusters/<ctx>` prefix, so the route does it
/// (`prefix_rewrite`): all variants serve the same client request.
pub fn gateway_bootstrap(
    filter: HttpFilter<'_>,
    ends: &GatewayEnds<'_>,
    access_log: Option<&Path>,
) -> Value {
    let kubeplex = matches!(filter, HttpFilter::Kubeplex { .. });
    let prefix = format!("/clusters/{GATEWAY_CONTEXT}/");
    let route_match = if kubeplex {
        json!({"prefix": "/"})
    } else {
        json!({"prefix": prefix})
    };
    let mut route = json!({
        "cluster": GATEWAY_CONTEXT,
        "timeout": "120s",
        "max_stream_duration": {"grpc_timeout_header_max": "0s"}
    });
    if !kubeplex {
        route["prefix_rewrite"] = json!("/");
    }
    let mut route_config = json!({
        "virtual_hosts": [{
            "name": "all",
            "domains": ["*"],
            "routes": [{"match": route_match, "route": route}]
        }]
    });
    if kubeplex {
        // as `kubeplex up`'s route configuration: the filter's cache
        // bypass value of Authorization never reaches the cluster
        route_config["request_headers_to_remove"] = json!(["authorization"]);
    }
    let hcm = json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "codec_type": "AUTO",
        "stat_prefix": "kubeplex",
        "route_config": route_config,
        "http_filters": gateway_http_filters(filter),
        "upgrade_configs": [{"upgrade_type": "websocket"}, {"upgrade_type": "spdy/3.1"}],
        "normalize_path": true,
        "merge_slashes": true,
        "common_http_protocol_options": {"headers_with_underscores_action": "REJECT_REQUEST"},
        "request_headers_timeout": "30s",
        "use_remote_address": true,
        "server_name": "kubeplex",
        "access_log": access_logs(access_log)
    });
    let pem = |s: &str| json!({"inline_string": s});
    json!({
        "admin": admin(),
        "stats_config": stats_config(),
        "static_resources": {
            "listeners": [{
                "name": LISTENER,
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                "listener_filters": [{
                    "name": "envoy.filters.listener.tls_inspector",
                    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}
                }],
                "per_connection_buffer_limit_bytes": 1 << 20,
                "filter_chains": [{
                    "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}],
                    "transport_socket": {
                        "name": "envoy.transport_sockets.tls",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                            "common_tls_context": {
                                "tls_params": {"tls_minimum_protocol_version": "TLSv1_2"},
                                "tls_certificates": [{
                                    "certificate_chain": pem(ends.serving_cert),
                                    "private_key": pem(ends.serving_key)
                                }],
                                "alpn_protocols": ["h2", "http/1.1"]
                            }
                        }
                    }
                }]
            }],
            "clusters": [{
                "name": GATEWAY_CONTEXT,
                "type": "STATIC",
                "connect_timeout": "5s",
                "load_assignment": {
                    "cluster_name": GATEWAY_CONTEXT,
                    "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                        "address": ends.upstream.ip().to_string(),
                        "port_value": ends.upstream.port()
                    }}}}]}]
                },
                "typed_extension_protocol_options": {
                    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                        "explicit_http_config": {"http2_protocol_options": {
                            "connection_keepalive": {"interval": "30s", "timeout": "10s"},
                            "max_concurrent_streams": 100
                        }}
                    }
                },
                "circuit_breakers": {"thresholds": [{
                    "max_connections": 10000, "max_pending_requests": 100000,
                    "max_requests": 100000, "max_retries": 10000
                }]},
                "transport_socket": {
                    "name": "envoy.transport_sockets.tls",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                        "common_tls_context": {
                            "tls_params": {"tls_minimum_protocol_version": "TLSv1_2"},
                            "tls_certificates": [{
                                "certificate_chain": pem(ends.client_cert),
                                "private_key": pem(ends.client_key)
                            }],
                            "validation_context": {"trusted_ca": pem(ends.upstream_ca)},
                            "alpn_protocols": ["h2"]
                        }
                    }
                }
            }]
        }
    })
}

fn admin() -> Value {
    json!({"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}})
}

/// The gateway's tags for the filter's labelled counter.
fn stats_config() -> Value {
    json!({
        "stats_tags": [
            {"tag_name": "decision", "regex": "(decision=\\.=(.*?);\\.;)"},
            {"tag_name": "reason", "regex": "(reason=\\.=(.*?);\\.;)"},
            {"tag_name": "cluster", "regex": "(cluster=\\.=(.*?);\\.;)"}
        ]
    })
}

/// The filter under test (if any), then the router.
fn http_filters(filter: HttpFilter<'_>) -> Vec<Value> {
    let mut http_filters = match filter {
        HttpFilter::None => Vec::new(),
        HttpFilter::EmptyWasm { wasm } => vec![empty_wasm_filter(wasm)],
        HttpFilter::Kubeplex { wasm, config } => vec![kubeplex_filter(wasm, config)],
        HttpFilter::JwtAuthn {
            keys,
            provider,
            cache,
        } => vec![jwt_authn_filter(keys, provider, cache)],
    };
    http_filters.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
        }
    }));
    http_filters
}

/// [`http_filters`] with the router as `translate/listener.rs` tunes it:
/// no dynamic stats, no `x-envoy-*` headers of its own.
fn gateway_http_filters(filter: HttpFilter<'_>) -> Vec<Value> {
    let mut filters = http_filters(filter);
    if let Some(router) = filters.last_mut() {
        router["typed_config"]["dynamic_stats"] = json!(false);
        router["typed_config"]["suppress_envoy_headers"] = json!(true);
    }
    filters
}

/// The file access log with the gateway's audit line, or none.
fn access_logs(path: Option<&Path>) -> Value {
    match path {
        Some(path) => json!([{
            "name": "envoy.access_loggers.file",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                "path": path.to_string_lossy(),
                "log_format": {
                    "text_format_source": {"inline_string": AUDIT_LINE},
                    "omit_empty_values": true
                }
            }
        }]),
        None => json!([]),
    }
}

/// The wasm filter as the control plane configures it (V8, root id
/// `kubeplex`, the config as a `BytesValue`, fail closed and reload).
fn kubeplex_filter(wasm: &Path, config: &pb::FilterConfig) -> Value {
    let value = base64::engine::general_purpose::STANDARD.encode(config.encode_to_vec());
    json!({
        "name": "kubeplex",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "kubeplex",
                "root_id": "kubeplex",
                "vm_config": {
                    "vm_id": "kubeplex",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": wasm.to_string_lossy()}}
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.BytesValue",
                    "value": value
                },
                "failure_policy": "FAIL_RELOAD"
            }
        }
    })
}

/// A wasm module with the same VM settings as ours, and no configuration.
fn empty_wasm_filter(wasm: &Path) -> Value {
    json!({
        "name": "empty",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "empty",
                "vm_config": {
                    "vm_id": "empty",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": wasm.to_string_lossy()}}
                },
                "failure_policy": "FAIL_RELOAD"
            }
        }
    })
}

/// `jwt_authn` with one provider per algorithm (issuer, audience, inline
/// JWKS, `forward: false` so the token does not travel on, like our filter
/// strips it), and a rule requiring `provider` on every path.
fn jwt_authn_filter(keys: &SigningKeys, provider: Alg, cache: bool) -> Value {
    let providers: serde_json::Map<String, Value> = Alg::ALL
        .iter()
        .map(|&alg| {
            let mut p = json!({
                "issuer": alg.issuer(),
                "audiences": [super::keys::AUDIENCE],
                "local_jwks": {"inline_string": keys.jwks(alg)},
                "forward": false
            });
            if cache {
                p["jwt_cache_config"] = json!({"jwt_cache_size": JWT_AUTHN_CACHE_SIZE});
            }
            (alg.provider(), p)
        })
        .collect();
    json!({
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": providers,
            "rules": [{
                "match": {"prefix": "/"},
                "requires": {"provider_name": provider.provider()}
            }]
        }
    })
}

#[cfg(test)]
mod tests;
