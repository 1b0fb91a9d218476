//! Envoy's discovery cache (`cache.discovery`): a second cold kubectl is
//! answered from the cache, and no caller ever gets another caller's (or
//! another cluster's) cached discovery, through both routing schemes; a
//! revoked token gets no cached answer; a removed cluster's entries are
//! never served again.

use std::time::Duration;

use kubeplex_test_support::wait_for;
use kubeplex_tests::apiserver::{ApiServer, ApiServerConfig};

use crate::harness::*;

/// A cluster whose discovery depends on the caller: each user sees an API
/// group named after them.
async fn per_user_cluster(pki: &Pki, name: &str) -> ApiServer {
    ApiServer::start(ApiServerConfig {
        client_ca_pem: Some(pki.cluster_ca.cert_pem().to_string()),
        discovery_per_user: true,
        ..ApiServerConfig::new(
            name,
            pki.cluster_ca.server_cert(&["127.0.0.1", "localhost"]),
        )
    })
    .await
    .expect("start test apiserver")
}

/// Discovery requests that reached `server` (not health checks, not lists).
fn discovery_requests(server: &ApiServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| {
            r.path == "/api"
                || r.path == "/apis"
                || r.path.starts_with("/api/v1") && r.path.matches('/').count() == 2
                || r.path.starts_with("/apis/") && r.path.matches('/').count() <= 3
                || r.path.starts_with("/openapi/")
        })
        .count()
}

/// A cold kubectl (its own empty discovery cache) as `token`.
fn cold(gw: &Gateway, token: &str, contexts: &[&str]) -> Kubectl {
    gw.kubectl(token, contexts)
}

fn groups_of(gw: &Gateway, token: &str, context: &str) -> String {
    cold(gw, token, &[context]).ok(&["--context", context, "api-versions"])
}

/// One Envoy counter from its admin `/stats` (summed over matching names).
fn envoy_counter(gw: &Gateway, needle: &str) -> u64 {
    http_get(&format!("{}/stats", gw.envoy_admin))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| l.rsplit(": ").next()?.trim().parse::<u64>().ok())
        .sum()
}

const ALICE_GROUP: &str = "alice.users.discovery.test/v1";
const BOB_GROUP: &str = "bob.users.discovery.test/v1";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cached_discovery_never_crosses_callers_clusters_revocations_or_removals() {
    let pki = Pki::new();
    let (a, b, other) = (
        per_user_cluster(&pki, "a").await,
        per_user_cluster(&pki, "b").await,
        per_user_cluster(&pki, "other").await,
    );
    let cache_dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "cache:\n  discovery:\n    directory: {}\n    ttl: 10m\n    clusters:\n      b: {{shared: true}}\n",
        cache_dir.path().display()
    );
    let mut spec = GatewaySpec::new(
        &pki,
        vec![ClusterEntry::new("a", &a), ClusterEntry::new("b", &b)],
    );
    spec.extra_config = &extra;
    let gw = Gateway::start(spec);
    let alice = gw.mint(&["--sub", "alice", "--jti", "alice-1"]);
    let bob = gw.mint(&["--sub", "bob", "--jti", "bob-1"]);

    // Path prefix routing: each caller sees their own discovery, also
    // right after the other filled the cache.
    let seen = groups_of(&gw, &alice, "a");
    assert!(
        seen.contains(ALICE_GROUP) && !seen.contains(BOB_GROUP),
        "{seen}"
    );
    let seen = groups_of(&gw, &bob, "a");
    assert!(
        seen.contains(BOB_GROUP) && !seen.contains(ALICE_GROUP),
        "{seen}"
    );

    // A second cold kubectl of the same caller: not one discovery request
    // reaches the cluster, Envoy's cache answered them all.
    let upstream = discovery_requests(&a);
    let hits = envoy_counter(&gw, "event_type.hit");
    let seen = groups_of(&gw, &alice, "a");
    assert!(
        seen.contains(ALICE_GROUP) && !seen.contains(BOB_GROUP),
        "{seen}"
    );
    assert_eq!(
        discovery_requests(&a),
        upstream,
        "served from the cache; requests: {:?}\nenvoy: {}",
        a.requests()
            .iter()
            .map(|r| (r.uri(), r.header("accept").map(String::from)))
            .collect::<Vec<_>>(),
        http_get(&format!("{}/stats?filter=cache", gw.envoy_admin)).unwrap_or_default()
    );
    assert!(
        envoy_counter(&gw, "event_type.hit") > hits,
        "Envoy counted hits"
    );
    // (the cluster saw the callers themselves, never the cache key)
    assert!(
        a.requests()
            .iter()
            .all(|r| r.header("x-kubeplex-cache-key").is_none()
                && r.header("x-kubeplex-cluster").is_none())
    );

    // TLS server name routing (`get --raw` drops the path prefix): the same
    // path on two clusters are two entries. `/api` names the cluster's own
    // address; the per-user group tells the callers apart.
    let raw = |token: &str, context: &str, path: &str| {
        cold(&gw, token, &[context]).ok(&["--context", context, "get", "--raw", path])
    };
    let a_addr = a.addr().to_string();
    let b_addr = b.addr().to_string();
    for _ in 0..2 {
        let on_a = raw(&alice, "a", "/api");
        let on_b = raw(&alice, "b", "/api");
        assert!(on_a.contains(&a_addr) && !on_a.contains(&b_addr), "{on_a}");
        assert!(on_b.contains(&b_addr) && !on_b.contains(&a_addr), "{on_b}");
    }
    let bob_raw = raw(&bob, "a", "/apis");
    assert!(
        bob_raw.contains("bob.users") && !bob_raw.contains("alice.users"),
        "{bob_raw}"
    );

    // `shared: true` (cluster b) is what it says: one answer for everyone,
    // the first caller's; the documented trade-off.
    let first = groups_of(&gw, &alice, "b");
    assert!(first.contains(ALICE_GROUP), "{first}");
    let upstream_b = discovery_requests(&b);
    let shared = groups_of(&gw, &bob, "b");
    assert!(
        shared.contains(ALICE_GROUP) && !shared.contains(BOB_GROUP),
        "{shared}"
    );
    assert_eq!(discovery_requests(&b), upstream_b);

    // A revoked token gets no cached answer: the filter refuses it before
    // the cache.
    let before = gw.version();
    replace_file(
        &gw.revocations,
        "revoked:\n- jti: alice-1\n  reason: left\n",
    );
    gw.wait_applied(&before);
    let upstream = discovery_requests(&a);
    let refused = cold(&gw, &alice, &["a"]).fails(&["--context", "a", "get", "--raw", "/apis"]);
    assert!(refused.contains("revoked"), "{refused}");
    assert!(!refused.contains("alice.users"), "{refused}");
    assert_eq!(discovery_requests(&a), upstream);
    let alice = gw.mint(&["--sub", "alice", "--jti", "alice-2"]);

    // Remove cluster a: its callers get a 404, never a cached answer. Put
    // a context named `a` back, now in front of another cluster: the old
    // entries are unreachable (a new cache scope), the new cluster answers.
    let before = gw.version();
    replace_file(
        &gw.kubeconfig,
        &clusters_kubeconfig(&pki, &[ClusterEntry::new("b", &b)]),
    );
    gw.wait_applied(&before);
    let gone = cold(&gw, &alice, &["a"]).fails(&["--context", "a", "get", "--raw", "/api"]);
    assert!(!gone.contains(&a_addr), "{gone}");
    let before = gw.version();
    replace_file(
        &gw.kubeconfig,
        &clusters_kubeconfig(
            &pki,
            &[ClusterEntry::new("b", &b), ClusterEntry::new("a", &other)],
        ),
    );
    gw.wait_applied(&before);
    let other_addr = other.addr().to_string();
    let now = wait_for("context a to route again", Duration::from_secs(10), || {
        let r = cold(&gw, &alice, &["a"]).run(&["--context", "a", "get", "--raw", "/api"]);
        r.ok.then_some(r.stdout)
    });
    assert!(now.contains(&other_addr) && !now.contains(&a_addr), "{now}");
    assert!(discovery_requests(&other) > 0, "the new cluster answered");
}

/// An entry past its TTL is revalidated with the cluster's `ETag`
/// (`If-None-Match`): the cluster answers 304 and the caller gets the
/// cached document.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_entry_is_revalidated_with_the_clusters_etag() {
    let pki = Pki::new();
    let a = pki.cluster("a").await;
    let cache_dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "cache:\n  discovery:\n    directory: {}\n    ttl: 1s\n",
        cache_dir.path().display()
    );
    let mut spec = GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a)]);
    spec.extra_config = &extra;
    let gw = Gateway::start(spec);
    let alice = gw.mint(&["--sub", "alice"]);
    let fetch = || cold(&gw, &alice, &["a"]).ok(&["--context", "a", "get", "--raw", "/openapi/v3"]);
    let first = fetch();
    assert!(first.contains("apis/apps/v1"), "{first}");
    let revalidated = |r: &kubeplex_tests::apiserver::RecordedRequest| {
        r.path == "/openapi/v3" && r.header("if-none-match").is_some() && r.status == 304
    };
    // each fetch after the TTL makes Envoy ask the cluster again, with the
    // ETag it stored; wait (bounded) for one such round trip
    let again = wait_for(
        "a revalidation (If-None-Match, 304) at the cluster",
        Duration::from_secs(20),
        || {
            let body = fetch();
            a.requests().iter().any(revalidated).then_some(body)
        },
    );
    assert_eq!(again, first, "the revalidated entry is served");
    let etag_sent = a.requests().into_iter().find(revalidated).unwrap();
    let full = a
        .requests()
        .into_iter()
        .find(|r| r.path == "/openapi/v3" && r.status == 200)
        .unwrap();
    assert!(full.header("if-none-match").is_none());
    assert!(etag_sent.header("if-none-match").unwrap().starts_with('"'));
}

/// A cluster the gateway reaches with a bearer token (kubeconfig `token`):
/// ordinary requests get the route's token (after the route configuration
/// removed the filter's bypass value), discovery fetched by the cache gets
/// it from the discovery cluster, exec on the HTTP/1.1 upgrade route gets
/// the route's token too; the cluster never sees anything else.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bearer_token_cluster_gets_its_token_on_cached_and_ordinary_requests() {
    use kubeplex_tests::apiserver::StaticToken;
    const GATEWAY_TOKEN: &str = "gateway-token-for-cluster-t";
    let pki = Pki::new();
    let t = ApiServer::start(ApiServerConfig {
        tokens: vec![StaticToken::new(
            GATEWAY_TOKEN,
            "kubeplex-gateway",
            &["kubeplex:gateways"],
        )],
        ..ApiServerConfig::new("t", pki.cluster_ca.server_cert(&["127.0.0.1", "localhost"]))
    })
    .await
    .expect("start test apiserver");
    t.store()
        .create(
            "pods",
            serde_json::json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "web-0", "namespace": "default"},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            }),
        )
        .unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "cache:\n  discovery:\n    directory: {}\n",
        cache_dir.path().display()
    );
    let mut spec = GatewaySpec::new(&pki, vec![ClusterEntry::new("t", &t)]);
    spec.extra_config = &extra;
    let gw = Gateway::start(spec);
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let before = gw.version();
    replace_file(
        &gw.kubeconfig,
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: {}\n    \
             certificate-authority-data: {}\nusers:\n- name: gw\n  user:\n    token: {GATEWAY_TOKEN}\n\
             contexts:\n- name: t\n  context: {{cluster: t, user: gw}}\n",
            t.url(),
            b64(pki.cluster_ca.cert_pem())
        ),
    );
    gw.wait_applied(&before);
    let alice = gw.mint(&["--sub", "alice"]);
    let discovery_upstream = || {
        t.requests()
            .iter()
            .filter(|r| is_discovery_path(&r.path))
            .count()
    };
    let mut after_first = 0;
    for round in 0..2 {
        let k = cold(&gw, &alice, &["t"]);
        k.ok(&["--context", "t", "get", "configmaps"]);
        k.ok(&["--context", "t", "api-versions"]);
        if round == 0 {
            after_first = discovery_upstream();
        }
    }
    // the HTTP/1.1 upgrade route (exec) too: the route removes the bypass
    // value there as well and adds the cluster's token
    let k = cold(&gw, &alice, &["t"]);
    assert_eq!(
        k.ok(&[
            "--context",
            "t",
            "exec",
            "web-0",
            "-c",
            "app",
            "--",
            "echo",
            "hi"
        ]),
        "hi\n"
    );
    // the second cold kubectl's discovery came from the cache
    assert!(after_first > 0);
    assert_eq!(discovery_upstream(), after_first);
    let requests = t.requests();
    let from_gateway: Vec<_> = requests
        .iter()
        .filter(|r| r.header("impersonate-user") == Some("alice"))
        .collect();
    assert!(from_gateway.iter().any(|r| is_discovery_path(&r.path)));
    assert!(from_gateway.iter().any(|r| r.path.ends_with("/configmaps")));
    assert!(
        from_gateway
            .iter()
            .any(|r| r.path.ends_with("/pods/web-0/exec")
                && r.status == 101
                && r.http_version == "HTTP/1.1"),
        "no upgraded exec reached the cluster"
    );
    for r in &from_gateway {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {GATEWAY_TOKEN}").as_str()),
            "{} {}",
            r.method,
            r.path
        );
        assert_eq!(
            r.effective_user.as_ref().map(|u| u.username.as_str()),
            Some("alice")
        );
    }
    let lists = from_gateway
        .iter()
        .filter(|r| r.path.ends_with("/configmaps"))
        .count();
    assert_eq!(lists, 2);
}

fn is_discovery_path(path: &str) -> bool {
    path == "/api"
        || path == "/apis"
        || path == "/api/v1"
        || path.starts_with("/apis/") && path.matches('/').count() <= 3
}
