//! The whole gateway, the way users meet it: Envoy's CPU per request for a
//! `kubectl get configmaps` of a ~16 KB list, over TLS and HTTP/2 from the
//! client, mTLS and HTTP/2 to one of our Kubernetes API test servers, with
//! several connections at once. One Envoy per variant, identical but for
//! the HTTP filter ([`bootstrap::gateway_bootstrap`], shaped like the
//! listener, route and cluster `kubeplex up` configures): no filter, an
//! empty proxy-wasm filter (when built), `jwt_authn` with its cache, the
//! kubeplex filter, the kubeplex filter with a 100-role policy. Interleaved rounds (the order rotates), one
//! window per variant per round; every variant serves the same requests
//! with the same cached token.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rustls::pki_types::ServerName;
use serde_json::json;

use super::BenchError;
use super::bootstrap::{self, GATEWAY_CONTEXT, GatewayEnds, HttpFilter};
use super::cpu_time::{self, CpuSample};
use super::envoy_process::{EnvoyProcess, GATEWAY_LOG_FLUSH_MS};
use super::filter_config;
use super::keys::{Alg, SigningKeys};
use super::load::{self, Connections, LoadPlan, TokenFeed, Transport};
use super::runner::Run;
use super::tls_client;
use super::tokens;
use super::tuning::Change;
use super::verify;
use crate::apiserver::{ApiServer, ApiServerConfig};
use crate::pki::Ca;

/// The request, as kubectl sends it through the path-prefix gateway URL.
pub const PATH: &str = "/clusters/bench/api/v1/namespaces/default/configmaps";
/// Configmaps in the listed namespace: with [`VALUE_BYTES`], a list of
/// ~16 KB (the measurement against a real apiserver: 11 ConfigMaps).
pub const CONFIGMAPS: usize = 11;
/// Keys per configmap.
const KEYS: usize = 8;
/// Bytes of each value.
const VALUE_BYTES: usize = 140;
/// The token's algorithm (cached after its first use in every variant).
const ALG: Alg = Alg::Rs256;

/// How the comparison runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The Envoy binary.
    pub envoy: PathBuf,
    /// The built filter module.
    pub wasm: PathBuf,
    /// A proxy-wasm filter that does nothing, for the floor of any wasm
    /// filter (its variant is left out without it).
    pub empty_wasm: Option<PathBuf>,
    /// Concurrent HTTP/2 connections (one stream in flight on each).
    pub connections: usize,
    /// Measured time per variant per round.
    pub duration: Duration,
    /// Warm-up requests on each variant, once, before the rounds.
    pub warmup_requests: usize,
    /// Rounds.
    pub repetitions: usize,
    /// The audit access log on every variant (the gateway always logs).
    pub access_log: bool,
    /// Also the tuning run: the kubeplex variant once more per
    /// [`Change`], in the same rounds.
    pub tuning: bool,
}

/// The Envoys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The router only: what any Envoy in front of the cluster costs.
    NoFilter,
    /// A proxy-wasm filter that does nothing: the floor of any wasm filter.
    EmptyWasm,
    /// Envoy's native `jwt_authn` with `jwt_cache_config` (authentication
    /// only: no impersonation, no policy, no audit record).
    JwtAuthnCache,
    /// The kubeplex filter (authentication, impersonation, audit record).
    Kubeplex,
    /// The same with a 100-role gateway policy.
    KubeplexPolicy,
}

impl Variant {
    /// All of them, in report order.
    pub const ALL: [Variant; 5] = [
        Variant::NoFilter,
        Variant::EmptyWasm,
        Variant::JwtAuthnCache,
        Variant::Kubeplex,
        Variant::KubeplexPolicy,
    ];

    /// A short id for progress lines.
    pub fn id(self) -> &'static str {
        match self {
            Variant::NoFilter => "no-filter",
            Variant::EmptyWasm => "empty-wasm",
            Variant::JwtAuthnCache => "jwt_authn-cache",
            Variant::Kubeplex => "kubeplex",
            Variant::KubeplexPolicy => "kubeplex-policy",
        }
    }

    /// The report's row label.
    pub fn label(self) -> &'static str {
        match self {
            Variant::NoFilter => "no filter (router only)",
            Variant::EmptyWasm => {
                "empty proxy-wasm filter (does nothing: the floor of any wasm filter)"
            }
            Variant::JwtAuthnCache => "`jwt_authn` + `jwt_cache_config` (authentication only)",
            Variant::Kubeplex => {
                "kubeplex (authentication, impersonation with groups and uid, audit record)"
            }
            Variant::KubeplexPolicy => "kubeplex + 100-role policy",
        }
    }
}

/// Every variant's runs, one per round.
#[derive(Clone, Debug, Default)]
pub struct WholeGatewayResult {
    /// In [`Variant::ALL`] order (those that ran).
    pub variants: Vec<(Variant, Vec<Run>)>,
    /// Bytes of one response body (the configmap list).
    pub response_bytes: usize,
    /// Concurrent connections.
    pub connections: usize,
    /// The tuning run's kubeplex variants, one per change (empty without
    /// `Settings::tuning`); compare with [`Variant::Kubeplex`]'s runs.
    pub tuning: Vec<(Change, Vec<Run>)>,
}

/// One variant's running Envoy.
struct Live {
    variant: Variant,
    /// The tuning run's change to it, if any.
    change: Option<Change>,
    envoy: EnvoyProcess,
    addr: SocketAddr,
    sent: u64,
    _dir: tempfile::TempDir,
}

/// Run the comparison on `client_rt`; the test server gets a runtime of
/// its own.
pub fn run(
    settings: &Settings,
    keys: &SigningKeys,
    client_rt: &tokio::runtime::Runtime,
    mut progress: impl FnMut(&str),
) -> Result<WholeGatewayResult, BenchError> {
    for p in [&settings.envoy, &settings.wasm] {
        if !p.is_file() {
            return Err(BenchError::Missing(p.clone()));
        }
    }
    let setup = |e: &dyn std::fmt::Display| BenchError::Gateway(e.to_string());
    let cluster_ca = Ca::new("bench-cluster-ca");
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-apiserver")
        .enable_all()
        .build()
        .map_err(|e| BenchError::io("start the test server's runtime", e))?;
    let server = server_rt
        .block_on(ApiServer::start(ApiServerConfig::with_ca(
            GATEWAY_CONTEXT,
            &cluster_ca,
        )))
        .map_err(|e| setup(&format!("start the test apiserver: {e}")))?;
    seed(&server).map_err(|e| setup(&e))?;
    let gateway_client = cluster_ca.client_cert("kubeplex-gateway", &["kubeplex:gateways"]);
    let gateway_ca = Ca::new("bench-gateway-ca");
    let serving = gateway_ca.server_cert(&["127.0.0.1", "localhost"]);
    let ends = GatewayEnds {
        serving_cert: &serving.cert_pem,
        serving_key: &serving.key_pem,
        upstream: server.addr(),
        upstream_ca: cluster_ca.cert_pem(),
        client_cert: &gateway_client.cert_pem,
        client_key: &gateway_client.key_pem,
    };
    let config = filter_config::filter_config(keys, false);
    let policy_config = filter_config::filter_config(keys, true);
    let token = tokens::mint(keys, ALG, "whole-gateway", tokens::unix_now())?;
    let tls = tls_client::h2(&*tls_client::client_config(gateway_ca.cert_pem(), None)?);
    let tls_aes128 = tls_client::h2(&*tls_client::client_config_aes128_first(
        gateway_ca.cert_pem(),
        None,
    )?);

    let variants: Vec<Variant> = Variant::ALL
        .into_iter()
        .filter(|v| *v != Variant::EmptyWasm || settings.empty_wasm.is_some())
        .collect();
    let changes: &[Change] = if settings.tuning { &Change::ALL } else { &[] };
    let mut live = Vec::new();
    let runs = variants
        .iter()
        .map(|&v| (v, None))
        .chain(changes.iter().map(|&c| (Variant::Kubeplex, Some(c))));
    for (variant, change) in runs {
        let id = live_id(variant, change);
        let dir = tempfile::Builder::new()
            .prefix(&format!("kubeplex-bench-whole-{id}-"))
            .tempdir()
            .map_err(|e| BenchError::io("create a temporary directory", e))?;
        let filter = match variant {
            Variant::NoFilter => HttpFilter::None,
            Variant::EmptyWasm => HttpFilter::EmptyWasm {
                wasm: settings.empty_wasm.as_deref().unwrap_or(&settings.wasm),
            },
            Variant::JwtAuthnCache => HttpFilter::JwtAuthn {
                keys,
                provider: ALG,
                cache: true,
            },
            Variant::Kubeplex => HttpFilter::Kubeplex {
                wasm: &settings.wasm,
                config: &config,
            },
            Variant::KubeplexPolicy => HttpFilter::Kubeplex {
                wasm: &settings.wasm,
                config: &policy_config,
            },
        };
        let log = dir.path().join("access.log");
        let mut bootstrap = bootstrap::gateway_bootstrap(
            filter,
            &ends,
            settings.access_log.then_some(log.as_path()),
        );
        if let Some(change) = change {
            change.apply(&mut bootstrap);
        }
        let envoy = EnvoyProcess::start_flushing(
            &settings.envoy,
            &bootstrap,
            dir.path(),
            bootstrap::LISTENER,
            change
                .and_then(Change::log_flush_ms)
                .unwrap_or(GATEWAY_LOG_FLUSH_MS),
        )?;
        let addr = SocketAddr::from(([127, 0, 0, 1], envoy.listener_port()));
        progress(&format!(
            "whole gateway: started {id} (Envoy pid {}, port {})",
            envoy.pid(),
            addr.port()
        ));
        live.push(Live {
            variant,
            change,
            envoy,
            addr,
            sent: 0,
            _dir: dir,
        });
    }
    let plan = |l: &Live, tokens: TokenFeed| LoadPlan {
        label: format!("whole gateway {}", live_id(l.variant, l.change)),
        addr: l.addr,
        transport: Transport::H2Tls {
            config: if l.change == Some(Change::ClientAes128) {
                tls_aes128.clone()
            } else {
                tls.clone()
            },
            server_name: ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
        },
        path: PATH.to_string(),
        host: l.addr.to_string(),
        tokens,
        connections: settings.connections,
        duration: settings.duration,
        expect_status: 200,
    };

    // warm up (V8, the token caches, upstream connections); the size of a response
    let mut response_bytes = 0;
    for l in &mut live {
        let mut warm = plan(
            l,
            TokenFeed::each_once(&vec![token.clone(); settings.warmup_requests.max(1)])?,
        );
        warm.duration = Duration::from_secs(120);
        let outcome = client_rt
            .block_on(load::run(&warm))
            .map_err(|e| with_log(e, &l.envoy))?;
        l.sent += outcome.requests;
        response_bytes = (outcome.body_bytes / outcome.requests.max(1)) as usize;
    }

    let ticks = cpu_time::clock_ticks_per_second();
    let mut result = WholeGatewayResult {
        variants: variants.iter().map(|&v| (v, Vec::new())).collect(),
        response_bytes,
        connections: settings.connections,
        tuning: changes.iter().map(|&c| (c, Vec::new())).collect(),
    };
    let same = TokenFeed::same(&token)?;
    for round in 0..settings.repetitions {
        for k in 0..live.len() {
            let i = (k + round) % live.len();
            let l = &mut live[i];
            let p = plan(l, same.clone());
            let pid = l.envoy.pid();
            let (outcome, cpu) = client_rt
                .block_on(async {
                    let connections = Connections::open(&p).await?;
                    let before = CpuSample::read(pid)?;
                    let outcome = connections.drive(&p).await?;
                    let after = CpuSample::read(pid)?;
                    Ok::<_, BenchError>((outcome, before.until(&after, ticks)))
                })
                .map_err(|e| with_log(e, &l.envoy))?;
            l.sent += outcome.requests;
            let run = Run::from(&outcome, cpu);
            progress(&format!(
                "whole gateway round {}/{} {:<32} ×{} {:>7.0} req/s  p50 {:>5} µs  p99 {:>6} µs  Envoy CPU {:>6.1} µs/req",
                round + 1,
                settings.repetitions,
                live_id(l.variant, l.change),
                settings.connections,
                run.requests_per_second,
                run.p50_us,
                run.p99_us,
                run.cpu_us_per_request
            ));
            if i < variants.len() {
                result.variants[i].1.push(run);
            } else {
                result.tuning[i - variants.len()].1.push(run);
            }
        }
    }
    for l in &live {
        check_counters(l)?;
    }
    progress("whole gateway: every filter's own counters agree with the client's");
    for l in live {
        l.envoy.stop();
    }
    server_rt.block_on(server.shutdown());
    Ok(result)
}

/// A running Envoy's id: its variant's, or its tuning change's.
fn live_id(variant: Variant, change: Option<Change>) -> &'static str {
    change.map_or(variant.id(), Change::id)
}

/// `CONFIGMAPS` configmaps of `KEYS` values of `VALUE_BYTES` in `default`.
fn seed(server: &ApiServer) -> Result<(), String> {
    for i in 0..CONFIGMAPS {
        let data: serde_json::Map<String, serde_json::Value> = (0..KEYS)
            .map(|k| {
                let mut value = format!("value {k} of configmap {i}: ");
                while value.len() < VALUE_BYTES {
                    value.push('x');
                }
                (format!("key-{k}"), json!(value))
            })
            .collect();
        server
            .store()
            .create(
                "configmaps",
                json!({"metadata": {"name": format!("bench-{i}"), "namespace": "default"}, "data": data}),
            )
            .map_err(|e| format!("seed configmap: {e}"))?;
    }
    Ok(())
}

/// The filters' own counters must agree with what the client sent, so a
/// row measures the path it claims to.
fn check_counters(l: &Live) -> Result<(), BenchError> {
    let fail = |reason: String| BenchError::Verification {
        scenario: format!("whole gateway {}", live_id(l.variant, l.change)),
        reason,
    };
    match l.variant {
        Variant::Kubeplex | Variant::KubeplexPolicy => {
            let prometheus = l.envoy.admin_get("/stats/prometheus").unwrap_or_default();
            let sample = format!(
                "kubeplex_requests_total{{decision=\"allow\",reason=\"ok\",cluster=\"{GATEWAY_CONTEXT}\"}}"
            );
            let counted = verify::prometheus_value(&prometheus, &sample).unwrap_or(0);
            if counted != l.sent {
                return Err(fail(format!(
                    "the filter allowed {counted} requests, the client sent {}",
                    l.sent
                )));
            }
        }
        Variant::JwtAuthnCache => {
            let stats = l.envoy.admin_get("/stats").unwrap_or_default();
            let allowed =
                verify::stat_value(&stats, "http.kubeplex.jwt_authn.allowed").unwrap_or(0);
            if allowed != l.sent {
                return Err(fail(format!(
                    "jwt_authn allowed {allowed} requests, the client sent {}",
                    l.sent
                )));
            }
        }
        Variant::NoFilter | Variant::EmptyWasm => {}
    }
    Ok(())
}

/// A client error with the end of Envoy's log attached.
fn with_log(e: BenchError, envoy: &EnvoyProcess) -> BenchError {
    match e {
        BenchError::Client(msg) => {
            BenchError::Client(format!("{msg}\nEnvoy log:\n{}", envoy.log_tail()))
        }
        other => other,
    }
}
