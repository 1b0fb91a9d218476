//! The sidecar's Envoy configuration, static and generated here: one TLS
//! listener on 127.0.0.1 with the pod's own certificate, Envoy's
//! `credential_injector` setting `Authorization: Bearer <token file>`, and a
//! route that prefixes the path with the target cluster's `/clusters/<ctx>`
//! and sends it over TLS (verified against the gateway's CA and name) to
//! the gateway.
//!
//! The token comes from a file-based SDS generic secret whose watched
//! directory is the projected token's: the kubelet rotates the token by
//! swapping the volume's `..data` symlink, Envoy sees the directory change
//! and reads the file again. (A static secret with a `filename` is read
//! once; measured with Envoy 1.40.)

use serde_json::{Value, json};

use super::InjectConfig;
use crate::user_kubeconfig::cluster_path;

/// Where the sidecar's files are (in a pod: fixed mount paths; in tests:
/// a temporary directory).
#[derive(Debug, Clone)]
pub struct SidecarPaths {
    /// The sidecar's private directory: `tls.crt`, `tls.key`, `token-sds.yaml`.
    pub sidecar_dir: String,
    /// The projected token's directory (holds `token`).
    pub token_dir: String,
}

impl SidecarPaths {
    /// The per-pod serving certificate.
    pub fn cert(&self) -> String {
        format!("{}/tls.crt", self.sidecar_dir)
    }
    /// Its private key.
    pub fn key(&self) -> String {
        format!("{}/tls.key", self.sidecar_dir)
    }
    /// The SDS file naming the token file as a generic secret.
    pub fn sds(&self) -> String {
        format!("{}/token-sds.yaml", self.sidecar_dir)
    }
    /// The projected ServiceAccount token.
    pub fn token(&self) -> String {
        format!("{}/token", self.token_dir)
    }
}

/// The SDS secret's name.
const TOKEN_SECRET: &str = "serviceaccount-token";

/// The SDS file (`SidecarPaths::sds`): the token file as a generic secret.
pub fn sds_file(paths: &SidecarPaths) -> String {
    let doc = json!({"resources": [{
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
        "name": TOKEN_SECRET,
        "generic_secret": {"secret": {"filename": paths.token()}},
    }]});
    serde_json::to_string_pretty(&doc).expect("a JSON value serializes")
}

/// Envoy's command line after `envoy`: the bootstrap inline (so the pod
/// needs no ConfigMap), one worker, no hot restart (no shared memory).
pub fn envoy_args(bootstrap: &Value) -> Vec<String> {
    vec![
        "--config-yaml".to_string(),
        serde_json::to_string(bootstrap).expect("a JSON value serializes"),
        "--concurrency".to_string(),
        "1".to_string(),
        "--disable-hot-restart".to_string(),
        "--log-level".to_string(),
        "warning".to_string(),
    ]
}

/// The sidecar's ports.
#[derive(Debug, Clone, Copy)]
pub struct SidecarPorts {
    /// The Kubernetes API for the app, on 127.0.0.1.
    pub api: u16,
    /// `GET /ready` → 200 once Envoy serves, on every address: the
    /// kubelet's startup probe cannot reach 127.0.0.1, and the app's
    /// containers start only after it succeeds.
    pub health: u16,
}

/// The path the startup probe asks.
pub const READY_PATH: &str = "/ready";

/// The bootstrap for a sidecar that sends the pod's requests to `cluster`
/// behind the gateway.
pub fn bootstrap(
    paths: &SidecarPaths,
    cluster: &str,
    config: &InjectConfig,
    ports: SidecarPorts,
) -> Value {
    json!({
        "node": {"id": "kubeplex-sidecar", "cluster": "kubeplex-sidecar"},
        "static_resources": {
            "listeners": [listener(paths, cluster, config, ports.api), health_listener(ports.health)],
            "clusters": [gateway_cluster(config)],
        },
    })
}

/// Plain HTTP that answers only `GET /ready` (no route to the gateway,
/// nothing else): Envoy starts serving its listeners together, once the
/// token's SDS file and the certificate are loaded.
fn health_listener(port: u16) -> Value {
    json!({
        "name": "health",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": "health",
                "route_config": {"name": "health", "virtual_hosts": [{
                    "name": "health",
                    "domains": ["*"],
                    "routes": [
                        {"match": {"path": READY_PATH}, "direct_response": {"status": 200, "body": {"inline_string": "ready\n"}}},
                        {"match": {"prefix": "/"}, "direct_response": {"status": 404}},
                    ],
                }]},
                "http_filters": [{
                    "name": "envoy.filters.http.router",
                    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
                }],
            },
        }]}],
    })
}

fn listener(paths: &SidecarPaths, cluster: &str, config: &InjectConfig, port: u16) -> Value {
    json!({
        "name": "kubernetes-api",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{
            "transport_socket": {
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                    "common_tls_context": {
                        "tls_certificates": [{
                            "certificate_chain": {"filename": paths.cert()},
                            "private_key": {"filename": paths.key()},
                        }],
                        "alpn_protocols": ["h2", "http/1.1"],
                    },
                },
            },
            "filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": http_connection_manager(paths, cluster, config),
            }],
        }],
    })
}

fn http_connection_manager(paths: &SidecarPaths, cluster: &str, config: &InjectConfig) -> Value {
    json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "kubernetes_api",
        "codec_type": "AUTO",
        // Watches and `logs -f` stay open for long; the apiserver ends them.
        "stream_idle_timeout": "3600s",
        "upgrade_configs": [{"upgrade_type": "websocket"}, {"upgrade_type": "spdy/3.1"}],
        "route_config": {
            "name": "gateway",
            "virtual_hosts": [{
                "name": "gateway",
                "domains": ["*"],
                "routes": [{
                    "match": {"prefix": "/"},
                    "route": {
                        "cluster": "gateway",
                        "prefix_rewrite": format!("{}/", cluster_path(cluster)),
                        "host_rewrite_literal": authority(config),
                        "timeout": "0s",
                    },
                }],
            }],
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.credential_injector",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.credential_injector.v3.CredentialInjector",
                    // The app's own Authorization (the substitute token) is replaced.
                    "overwrite": true,
                    "credential": {
                        "name": "envoy.http.injected_credentials.generic",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.http.injected_credentials.generic.v3.Generic",
                            "header": "Authorization",
                            "header_value_prefix": "Bearer ",
                            "credential": {
                                "name": TOKEN_SECRET,
                                "sds_config": {"path_config_source": {
                                    "path": paths.sds(),
                                    "watched_directory": {"path": paths.token_dir},
                                }},
                            },
                        },
                    },
                },
            },
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
            },
        ],
    })
}

/// `host:port` as the gateway's Host header.
fn authority(config: &InjectConfig) -> String {
    let host = &config.gateway.host;
    if host.contains(':') {
        format!("[{host}]:{}", config.gateway.port)
    } else {
        format!("{host}:{}", config.gateway.port)
    }
}

/// The gateway over TLS: HTTP/1.1 (upgrades for exec and port-forward
/// work only there), its CA, and its name checked in the certificate.
fn gateway_cluster(config: &InjectConfig) -> Value {
    let host = &config.gateway.host;
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    let san = if is_ip {
        json!({"san_type": "IP_ADDRESS", "matcher": {"exact": host}})
    } else {
        json!({"san_type": "DNS", "matcher": {"exact": host}})
    };
    let mut tls = json!({
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "common_tls_context": {
            "validation_context": {
                "trusted_ca": {"inline_string": config.gateway_ca_pem},
                "match_typed_subject_alt_names": [san],
            },
            "alpn_protocols": ["http/1.1"],
        },
    });
    if !is_ip {
        tls["sni"] = json!(host);
    }
    json!({
        "name": "gateway",
        "type": if is_ip { "STATIC" } else { "LOGICAL_DNS" },
        "dns_lookup_family": "V4_PREFERRED",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": "gateway",
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                "address": host,
                "port_value": config.gateway.port,
            }}}}]}],
        },
        "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": tls},
    })
}
