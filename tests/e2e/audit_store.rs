//! The central audit store with real parts: `kubeplex up` (Envoy streams
//! every record to the control plane), a real PostgreSQL (or the default
//! SQLite), real kubectl, `kubeplex audit` through the admin API.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use kubeplex_proto::audit::v1::AuditRecord;
use kubeplex_test_support::postgres::{PASSWORD, TestPostgres};
use kubeplex_tests::apiserver::ApiServer;
use kubeplex_tests::bench::load::{self, LoadPlan, TokenFeed, Transport};
use kubeplex_tests::bench::tls_client;
use serde_json::json;

use crate::harness::*;

const POD: &str = "web-0";
const T: Duration = Duration::from_secs(30);

/// `audit.store` lines for `pg` (appended under the harness's `audit:`),
/// the password in a file of `dir`.
fn postgres_store(pg: &TestPostgres, dir: &std::path::Path) -> String {
    let password = dir.join("pg-password");
    std::fs::write(&password, format!("{PASSWORD}\n")).unwrap();
    format!(
        "  store:\n    postgres:\n      url: {}\n      passwordFile: {}\n",
        pg.url_without_password("sslmode=disable"),
        password.display()
    )
}

/// A cluster with one pod to exec into.
async fn cluster(pki: &Pki) -> ApiServer {
    let a = pki.cluster("cluster-a").await;
    a.store()
        .create(
            "pods",
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": POD, "namespace": "default"},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            }),
        )
        .unwrap();
    a
}

/// `kubeplex audit <args> --admin-addr <the gateway's>`: its stdout.
fn kubeplex_audit(gw: &Gateway, args: &[&str]) -> String {
    let out = Command::new(kubeplex_bin())
        .arg("audit")
        .args(args)
        .args(["--admin-addr", gw.admin.trim_start_matches("http://")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubeplex audit {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The stored records matching `args`, oldest first.
fn stored(gw: &Gateway, args: &[&str]) -> Vec<AuditRecord> {
    let all = [&["-o", "jsonl", "--limit", "10000"], args].concat();
    kubeplex_audit(gw, &all)
        .lines()
        .map(|l| AuditRecord::from_line(l).unwrap())
        .collect()
}

/// The audit file's records by request id.
fn file_records(gw: &Gateway) -> BTreeMap<String, AuditRecord> {
    std::fs::read_to_string(gw.dir.path().join("audit.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| AuditRecord::from_line(l).ok())
        .map(|r| (r.request_id.clone(), r))
        .collect()
}

/// A Prometheus sample of the control plane's `/metrics`.
fn metric(gw: &Gateway, sample: &str) -> Option<u64> {
    let text = http_get(&format!("{}/metrics", gw.admin))?;
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubectl_runs_are_sessions_and_every_stored_row_is_its_file_line() {
    let pki = Pki::new();
    let a = cluster(&pki).await;
    let pg = TestPostgres::start();
    let secrets = tempfile::tempdir().unwrap();
    let extra = postgres_store(&pg, secrets.path());
    let mut spec = GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a)]);
    spec.extra_config = &extra;
    let gw = Gateway::start(spec);
    let alice = gw.kubectl(&gw.mint(&["--sub", "alice", "--group", "dev"]), &["a"]);
    let bob = gw.kubectl(&gw.mint(&["--sub", "bob"]), &["a"]);
    assert_eq!(
        alice.ok(&["exec", POD, "-c", "app", "--", "echo", "hi"]),
        "hi\n"
    );
    bob.ok(&["get", "pods"]);

    // one line per kubectl run, with its command
    let sessions = wait_for("both kubectl runs in the store", T, || {
        let out = kubeplex_audit(&gw, &["sessions", "-o", "json"]);
        let sessions: Vec<serde_json::Value> = serde_json::from_str(&out).ok()?;
        let has = |user: &str, command: &str| {
            sessions
                .iter()
                .any(|s| s["user"] == user && s["kubectl_command"] == command)
        };
        (has("alice", "kubectl exec") && has("bob", "kubectl get")).then_some(sessions)
    });
    for s in &sessions {
        assert_eq!(s["cluster"], "a");
        assert!(s["requests"].as_u64().unwrap() >= 1, "{s}");
        assert_eq!(s["denied"], 0);
        let id = s["kubectl_session"].as_str().unwrap();
        assert_eq!(id.len(), 36, "kubectl's UUID: {id}");
    }
    let table = kubeplex_audit(&gw, &["sessions"]);
    assert!(table.starts_with("LAST "), "{table}");
    assert!(
        table.contains("kubectl exec") && table.contains("bob"),
        "{table}"
    );

    // what a security team asks (the exec call itself is logged when its
    // stream ends, and Envoy flushes its log stream every second: it may
    // arrive after the session's discovery calls)
    let execs = wait_for("alice's exec call in the store", T, || {
        let execs = stored(
            &gw,
            &[
                "--user",
                "alice",
                "--command",
                "exec",
                "--resource",
                "pods/exec",
            ],
        );
        (!execs.is_empty()).then_some(execs)
    });
    assert_eq!(execs.len(), 1, "{execs:?}");
    assert_eq!(
        (execs[0].name.as_str(), execs[0].verb.as_str()),
        (POD, "create")
    );
    assert!(stored(&gw, &["--user", "bob", "--command", "exec"]).is_empty());
    let since = stored(
        &gw,
        &["--since", "10m", "--cluster", "a", "--decision", "allow"],
    );
    assert!(since.len() >= 2);

    // the same request, the same values: file line = stored row
    let rows = wait_for("every file line stored", T, || {
        let file = file_records(&gw);
        let rows: BTreeMap<String, AuditRecord> = stored(&gw, &[])
            .into_iter()
            .map(|r| (r.request_id.clone(), r))
            .collect();
        let ids = |m: &BTreeMap<String, AuditRecord>| m.keys().cloned().collect::<BTreeSet<_>>();
        (!file.is_empty() && ids(&file) == ids(&rows)).then_some((file, rows))
    });
    let (file, rows) = rows;
    for (id, line) in &file {
        assert_eq!(
            &rows[id], line,
            "request {id}: the stored row differs from the file line"
        );
    }
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_is_lost_or_doubled_when_postgres_stops_for_ten_seconds_under_load() {
    let pki = Pki::new();
    let a = pki.cluster("cluster-a").await;
    let mut pg = TestPostgres::start();
    let secrets = tempfile::tempdir().unwrap();
    let extra = postgres_store(&pg, secrets.path());
    let mut spec = GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a)]);
    spec.extra_config = &extra;
    let gw = Gateway::start(spec);
    let token = gw.mint(&["--sub", "loader"]);
    let port: u16 = gw.url.rsplit(':').next().unwrap().parse().unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let plan = LoadPlan {
        label: "audit load".into(),
        addr,
        transport: Transport::Tls {
            config: tls_client::client_config(pki.gateway_ca.cert_pem(), None).unwrap(),
            server_name: rustls::pki_types::ServerName::IpAddress(
                std::net::Ipv4Addr::LOCALHOST.into(),
            ),
        },
        path: "/clusters/a/api/v1/namespaces/default/configmaps".into(),
        host: addr.to_string(),
        tokens: TokenFeed::same(&token).unwrap(),
        connections: 4,
        duration: Duration::from_secs(16),
        expect_status: 200,
    };
    let load = tokio::spawn(async move { load::run(&plan).await });
    let started = Instant::now();
    wait_for("records stored before the outage", T, || {
        metric(
            &gw,
            "kubeplex_audit_records_total{store=\"postgres\",result=\"stored\"}",
        )
        .filter(|n| *n > 0)
    });
    tokio::task::block_in_place(|| pg.stop());
    let stopped = Instant::now();
    wait_for("a backlog while the store is down", T, || {
        metric(&gw, "kubeplex_audit_backlog").filter(|n| *n > 0)
    });
    wait_for(
        "ten seconds without the store",
        Duration::from_secs(15),
        || stopped.elapsed() >= Duration::from_secs(10),
    );
    tokio::task::block_in_place(|| pg.restart());
    let outage = stopped.elapsed();
    let outcome = load.await.unwrap().expect("every request answered 200");
    assert!(
        started.elapsed() > Duration::from_secs(12),
        "the load ran through the outage"
    );
    let sent = outcome.requests;
    assert!(sent > 100, "{sent} requests");
    // counted in the database itself (the admin API returns at most 10000)
    let loader_rows = "FROM kubeplex_audit WHERE \"user\" = 'loader'";
    let count = |what: &str| -> u64 {
        let sql = format!("SELECT {what} {loader_rows}");
        pg.psql(&sql).trim().parse().unwrap()
    };
    let stored_rows = wait_for("every record stored", Duration::from_secs(60), || {
        let rows = count("count(*)");
        if rows >= sent {
            return Ok(rows);
        }
        Err(format!(
            "{rows} of {sent} stored; backlog {:?}, received {:?}",
            metric(&gw, "kubeplex_audit_backlog"),
            metric(&gw, "kubeplex_audit_received_total"),
        ))
    });
    assert_eq!(
        stored_rows, sent,
        "one row per request: no loss, no duplicate"
    );
    assert_eq!(
        count("count(DISTINCT request_id)"),
        sent,
        "request ids are unique"
    );
    let stored_ids: BTreeSet<String> = pg
        .psql(&format!("SELECT request_id {loader_rows}"))
        .lines()
        .map(str::to_string)
        .collect();
    let file_ids: BTreeSet<String> = file_records(&gw)
        .into_values()
        .filter(|r| r.user == "loader")
        .map(|r| r.request_id)
        .collect();
    assert_eq!(
        file_ids.len() as u64,
        sent,
        "the file sink has every request too"
    );
    assert_eq!(
        stored_ids, file_ids,
        "the store holds exactly the file's requests"
    );
    assert_eq!(metric(&gw, "kubeplex_audit_backlog"), Some(0));
    let store_errors = metric(&gw, "kubeplex_audit_store_errors_total").unwrap();
    assert!(store_errors > 0, "the outage was seen");
    let result = |r: &str| {
        metric(
            &gw,
            &format!("kubeplex_audit_records_total{{store=\"postgres\",result=\"{r}\"}}"),
        )
    };
    assert_eq!(result("dropped"), Some(0));
    eprintln!(
        "no-loss: {sent} requests in {:.1}s ({:.0}/s, PostgreSQL stopped for {:.1}s), {stored_rows} rows stored, \
         {} spilled and replayed, {} duplicates skipped, {store_errors} failed writes retried",
        outcome.wall.as_secs_f64(),
        sent as f64 / outcome.wall.as_secs_f64(),
        outage.as_secs_f64(),
        result("spilled").unwrap_or(0),
        result("duplicate").unwrap_or(0),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_default_sqlite_store_follows_retention_edits() {
    let pki = Pki::new();
    let a = pki.cluster("cluster-a").await;
    let gw = Gateway::start(GatewaySpec::new(&pki, vec![ClusterEntry::new("a", &a)]));
    assert!(
        gw.dir.path().join("state/audit.db").is_file(),
        "SQLite in the state dir"
    );
    let k = gw.kubectl(&gw.mint(&["--sub", "carol"]), &["a"]);
    k.ok(&["get", "configmaps"]);
    wait_for("carol's records stored", T, || {
        !stored(&gw, &["--user", "carol"]).is_empty()
    });
    wait_for(
        "the records to be two seconds old",
        Duration::from_secs(10),
        || stored(&gw, &["--user", "carol", "--since", "2s"]).is_empty(),
    );
    let config = std::fs::read_to_string(&gw.config).unwrap();
    replace_file(
        &gw.config,
        &config.replace(
            "  path: audit.log\n",
            "  path: audit.log\n  retention: 1s\n",
        ),
    );
    wait_for("retention to prune them", T, || {
        stored(&gw, &["--user", "carol"]).is_empty()
    });
    assert!(metric(&gw, "kubeplex_audit_pruned_total").unwrap() > 0);
}
