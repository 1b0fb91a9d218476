//! What an apiserver does to push back on its clients reaches kubectl as
//! the apiserver meant it: its max-in-flight 429 with `Retry-After`
//! (client-go waits and retries), and a restart that closes every
//! connection (kubectl's informer-based commands list and watch again).

use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use kubeplex_test_support::wait_for_async;
use kubeplex_tests::apiserver::{ApiServer, ApiServerConfig, InFlightLimits, Pool};
use serde_json::json;

use crate::harness::*;
use crate::pool::{connect, get};

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

/// A cluster with small max-in-flight limits, on `bind` (port 0: any).
async fn limited_cluster(pki: &Pki, bind: std::net::SocketAddr) -> ApiServer {
    ApiServer::start(ApiServerConfig {
        client_ca_pem: Some(pki.cluster_ca.cert_pem().to_string()),
        bind,
        max_requests_inflight: InFlightLimits {
            non_mutating: 2,
            mutating: 1,
        },
        ..ApiServerConfig::new(
            "cluster-a",
            pki.cluster_ca.server_cert(&["127.0.0.1", "localhost"]),
        )
    })
    .await
    .expect("start the test apiserver")
}

/// How many requests for `path` the cluster answered with `status`.
fn answered(cluster: &ApiServer, path: &str, status: u16) -> usize {
    cluster
        .requests()
        .iter()
        .filter(|r| r.path == path && r.status == status)
        .count()
}

/// How many of kubectl's requests (any path) the cluster refused with a 429.
fn kubectl_refused(cluster: &ApiServer) -> usize {
    cluster
        .requests()
        .iter()
        .filter(|r| {
            r.status == 429
                && r.header("user-agent")
                    .is_some_and(|ua| ua.starts_with("kubectl"))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_apiservers_429_and_its_retry_after_pass_through_untouched() {
    let pki = Pki::new();
    let a = limited_cluster(&pki, ([127, 0, 0, 1], 0).into()).await;
    let gw = Gateway::start(GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a)]));
    let token = gw.mint(&["--sub", "alice"]);
    let mut client = connect(&gw).await;
    let path = format!("/clusters/a{CONFIGMAPS}");
    let ok = client.send_request(get(&gw, &path, &token)).await.unwrap();
    assert_eq!(ok.status(), 200);

    // Every read-only slot busy: the apiserver's own refusal, as it sent it.
    let busy = a
        .occupy_in_flight(Pool::NonMutating, 2)
        .expect("two free slots");
    let refused = client.send_request(get(&gw, &path, &token)).await.unwrap();
    let (parts, body) = refused.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    assert_eq!(parts.status, 429);
    assert_eq!(parts.headers["retry-after"], "1");
    assert_eq!(parts.headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(parts.headers["x-content-type-options"], "nosniff");
    assert!(
        parts.headers.contains_key("audit-id"),
        "the apiserver's answer, not the gateway's: {parts:?}"
    );
    assert_eq!(&body[..], b"Too many requests, please try again later.\n");
    // Once: a 429 is the client's to retry (after Retry-After), not Envoy's.
    assert_eq!(answered(&a, CONFIGMAPS, 429), 1);

    // kubectl (client-go) waits Retry-After and asks again (its discovery
    // requests count in the same pool): it succeeds once the apiserver has
    // room.
    let k = gw.kubectl(&token, &["a"]);
    let mut get_configmaps = k.stream(&["get", "configmaps", "-o", "name"]);
    wait_for_async(
        "a request of kubectl's refused with a 429",
        Duration::from_secs(20),
        || kubectl_refused(&a) > 0,
    )
    .await;
    drop(busy);
    let status = get_configmaps.wait_exit(Duration::from_secs(30));
    assert!(
        status.success(),
        "kubectl after the 429: {}",
        get_configmaps.stderr()
    );
    assert!(answered(&a, CONFIGMAPS, 200) >= 2);
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_apiserver_restart_does_not_lose_kubectls_watches() {
    let pki = Pki::new();
    let a = pki.cluster("cluster-a").await;
    let address = a.addr();
    a.store()
        .create(
            "configmaps",
            json!({"metadata": {"name": "flag", "namespace": "default"}, "data": {"state": "pending"}}),
        )
        .unwrap();
    let gw = Gateway::start(GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a)]));
    let token = gw.mint(&["--sub", "alice"]);
    let k = gw.kubectl(&token, &["a"]);
    // `kubectl wait` runs an informer (list, then watch; on a broken watch
    // it lists and watches again), unlike `kubectl get -w`, which exits 0
    // when its one watch ends.
    let mut waiting = k.stream(&[
        "wait",
        "configmap/flag",
        "--for=jsonpath={.data.state}=done",
        "--timeout=60s",
    ]);
    wait_for_async("kubectl wait's watch open", Duration::from_secs(20), || {
        a.active_watches() > 0
    })
    .await;

    // The apiserver restarts: every connection closes, every watch ends.
    a.shutdown().await;
    let back = pki_cluster_on(&pki, address).await;
    let restarted = Instant::now();
    wait_for_async(
        "kubectl wait to watch the restarted apiserver",
        Duration::from_secs(30),
        || back.active_watches() > 0,
    )
    .await;
    let rewatched = restarted.elapsed();
    assert!(
        !waiting.exited(),
        "kubectl wait gave up: {}",
        waiting.stderr()
    );
    back.store()
        .create(
            "configmaps",
            json!({"metadata": {"name": "flag", "namespace": "default"}, "data": {"state": "done"}}),
        )
        .unwrap();
    let status = waiting.wait_exit(Duration::from_secs(20));
    println!(
        "apiserver restarted -> kubectl wait watching again after {rewatched:?}, condition seen {:?} after the restart",
        restarted.elapsed()
    );
    assert!(status.success(), "kubectl wait: {}", waiting.stderr());
    back.shutdown().await;
}

/// A cluster like `Pki::cluster`, on `address` (a restart in place).
async fn pki_cluster_on(pki: &Pki, address: std::net::SocketAddr) -> ApiServer {
    ApiServer::start(ApiServerConfig {
        client_ca_pem: Some(pki.cluster_ca.cert_pem().to_string()),
        bind: address,
        ..ApiServerConfig::new(
            "cluster-a",
            pki.cluster_ca.server_cert(&["127.0.0.1", "localhost"]),
        )
    })
    .await
    .expect("the apiserver back on its address")
}
