//! Pooling and cluster health through the gateway: many watches packed
//! onto upstream HTTP/2 connections within the apiserver's stream limit,
//! and a dead cluster refused at once with a `Status`, then served again
//! when it comes back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use kubeplex_test_support::wait_for_async;
use kubeplex_tests::apiserver::{ApiServer, ApiServerConfig};

use crate::harness::*;

/// An HTTP/2 connection to the gateway as kubectl makes one: TLS trusting
/// the gateway's CA, ALPN `h2`.
pub(crate) async fn connect(gw: &Gateway) -> SendRequest<Empty<Bytes>> {
    let ca = std::fs::read(&gw.ca).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(gw.url.trim_start_matches("https://"))
        .await
        .unwrap();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    let (send, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    send
}

pub(crate) fn get(gw: &Gateway, path: &str, token: &str) -> hyper::Request<Empty<Bytes>> {
    hyper::Request::get(format!("{}{path}", gw.url))
        .header("authorization", format!("Bearer {token}"))
        .body(Empty::new())
        .unwrap()
}

/// One Envoy counter or gauge from its admin `/stats`.
fn envoy_stat(gw: &Gateway, name: &str) -> u64 {
    let stats = http_get(&format!("{}/stats?filter={name}", gw.envoy_admin)).unwrap_or_default();
    stats
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Envoy's non-zero counters of cluster `a` that say why a request did not
/// get through: overflows, resets, retries, refusals, ejections.
fn envoy_trouble(gw: &Gateway) -> Vec<String> {
    let stats =
        http_get(&format!("{}/stats?filter=cluster.ctx/a.", gw.envoy_admin)).unwrap_or_default();
    stats
        .lines()
        .filter(|l| {
            [
                "overflow",
                "reset",
                "retry",
                "refused",
                "ejections_enforced_total",
                "no_healthy",
            ]
            .iter()
            .any(|w| l.contains(w))
        })
        .filter(|l| !l.ends_with(": 0"))
        .map(|l| l.trim_start_matches("cluster.ctx/a.").to_string())
        .collect()
}

/// Envoy's resident memory in bytes (`VmRSS` of `kubeplex up`'s child;
/// this Envoy build reports no allocator statistics).
fn envoy_rss(gw: &Gateway) -> u64 {
    let children = format!("/proc/{0}/task/{0}/children", gw.pid());
    let children = std::fs::read_to_string(children).unwrap();
    let envoy = children
        .split_whitespace()
        .next()
        .expect("kubeplex up runs Envoy");
    let status = std::fs::read_to_string(format!("/proc/{envoy}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

/// Opens `connections × per_connection` watches in one burst (each client
/// connection's streams all at once, all connections at once) and keeps
/// them open; prints and checks what the gateway and the cluster saw.
async fn watch_burst(connections: usize, per_connection: usize) {
    let watches = connections * per_connection;
    let pki = Pki::new();
    let a = pki.cluster("cluster-a").await;
    let gw = Gateway::start(GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a)]));
    let token = gw.mint(&["--sub", "alice"]);
    let before = envoy_rss(&gw);
    let mut clients = Vec::new();
    for _ in 0..connections {
        clients.push(connect(&gw).await);
    }
    let path = "/clusters/a/api/v1/namespaces/default/configmaps?watch=true";
    let started = Instant::now();
    let requests = clients.iter().flat_map(|client| {
        (0..per_connection).map(|_| {
            let mut client = client.clone();
            let request = get(&gw, path, &token);
            async move {
                client.ready().await.unwrap();
                client.send_request(request).await
            }
        })
    });
    let answers = futures::future::join_all(requests).await;
    let mut open = Vec::new();
    let mut refused = std::collections::BTreeMap::<String, usize>::new();
    for answer in answers {
        match answer {
            Ok(response) if response.status() == 200 => open.push(response),
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                let body = String::from_utf8_lossy(&body).into_owned();
                *refused.entry(format!("{status} {body}")).or_default() += 1;
            }
            Err(e) => *refused.entry(format!("error: {e:?}")).or_default() += 1,
        }
    }
    let opened_in = started.elapsed();
    let held = wait_for_async(
        "the cluster to hold every watch",
        Duration::from_secs(30),
        || (a.active_watches() >= open.len()).then_some(a.active_watches()),
    )
    .await;
    let after = envoy_rss(&gw);
    let upstream_connections = envoy_stat(&gw, "cluster.ctx/a.upstream_cx_active");
    let trouble = envoy_trouble(&gw);
    println!(
        "{watches} watches in one burst over {connections} connections: {} open after {opened_in:?}, \
         held by the cluster {held}, refused {refused:?}; upstream HTTP/2 connections {upstream_connections}, \
         Envoy's overflow/reset/retry/ejection counters {trouble:?}; Envoy RSS +{} KiB, {} bytes per watch",
        open.len(),
        after.saturating_sub(before) / 1024,
        after.saturating_sub(before) / watches as u64,
    );
    assert!(refused.is_empty(), "refused: {refused:?}");
    assert_eq!(open.len(), watches);
    let streams_per_connection = 100;
    assert!(
        upstream_connections >= (watches / streams_per_connection) as u64,
        "{upstream_connections} upstream connections cannot carry {watches} streams at 100 each"
    );
    drop(open);
    a.shutdown().await;
}

/// The burst that gave 700 × 503 (Envoy flag `UR`) in front of a real
/// kube-apiserver: 1,100 watches over 11 client connections. Each
/// upstream connection now carries at most the apiserver's 100 streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_1100_watches_is_held_within_the_apiservers_stream_limit() {
    watch_burst(11, 100).await;
}

/// One Envoy on this machine holds 5,000 watches to one cluster, none
/// refused by the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_thousand_concurrent_watches_to_one_cluster_are_held() {
    watch_burst(50, 100).await;
}

/// A cluster that stops answering is refused at once with a `Status` 503
/// naming it (no connect timeout), the others keep working, and it is
/// served again when it comes back on the same address.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_cluster_is_refused_at_once_and_served_again_when_back() {
    let pki = Pki::new();
    let (a, b) = (
        pki.cluster("cluster-a").await,
        pki.cluster("cluster-b").await,
    );
    let gw = Gateway::start(GatewaySpec::new(
        &pki,
        vec![ClusterEntry::new("a", &a), ClusterEntry::new("b", &b)],
    ));
    let token = gw.mint(&["--sub", "alice"]);
    let k = gw.kubectl(&token, &["a", "b"]);
    k.ok(&["--context", "b", "get", "configmaps"]);

    let b_addr = b.addr();
    b.shutdown().await;
    let died = Instant::now();
    let message = wait_for_async(
        "the gateway to call cluster b unavailable",
        Duration::from_secs(30),
        || {
            let run = k.run(&["--context", "b", "get", "--raw", "/api"]);
            if run.stderr.contains("is unavailable") {
                Ok(run.stderr)
            } else {
                let checks = http_get(&format!(
                    "{}/stats?filter=ctx/b.health_check",
                    gw.envoy_admin
                ));
                Err(format!("{} {} {checks:?}", run.stdout, run.stderr))
            }
        },
    )
    .await;
    println!(
        "cluster b refused as unavailable {:?} after it died",
        died.elapsed()
    );
    assert!(
        message.contains(r#"cluster "b" is unavailable"#),
        "{message}"
    );

    let mut client = connect(&gw).await;
    let sent = Instant::now();
    let response = client
        .send_request(get(&gw, "/clusters/b/api", &token))
        .await
        .unwrap();
    let answered_in = sent.elapsed();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    println!("a request to the dead cluster answered in {answered_in:?}: {body}");
    assert_eq!(status, 503);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "ServiceUnavailable");
    assert_eq!(body["code"], 503);
    k.ok(&["--context", "a", "get", "configmaps"]);
    let health = wait_for_async(
        "the control plane's health check to see b down",
        Duration::from_secs(15),
        || {
            let health = gw.status()["cluster_health"].clone();
            (health["b"]["healthy"] == false).then_some(health)
        },
    )
    .await;
    println!("kubeplex status: {health}");
    assert_eq!(health["a"]["healthy"], true);
    assert!(
        health["b"]["detail"]
            .as_str()
            .unwrap()
            .contains("Connection refused"),
        "{health}"
    );
    let metrics = http_get(&format!("{}/metrics", gw.admin)).unwrap();
    assert!(
        metrics.contains("kubeplex_cluster_healthy{cluster=\"a\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kubeplex_cluster_healthy{cluster=\"b\"} 0"),
        "{metrics}"
    );

    let back = ApiServer::start(ApiServerConfig {
        client_ca_pem: Some(pki.cluster_ca.cert_pem().to_string()),
        bind: b_addr,
        ..ApiServerConfig::new(
            "cluster-b",
            pki.cluster_ca.server_cert(&["127.0.0.1", "localhost"]),
        )
    })
    .await
    .expect("cluster b back on its address");
    let restarted = Instant::now();
    wait_for_async("cluster b served again", Duration::from_secs(15), || {
        k.run(&["--context", "b", "get", "configmaps"]).ok
    })
    .await;
    println!(
        "cluster b served again {:?} after it came back",
        restarted.elapsed()
    );
    back.shutdown().await;
    a.shutdown().await;
}
