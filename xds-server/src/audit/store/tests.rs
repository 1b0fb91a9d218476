//! Both stores pass the same tests: SQLite in a temporary file, PostgreSQL
//! a real server (`kubeplex_test_support::postgres`, Debian's package).

use kubeplex_proto::admin::v1::AuditQuery;
use kubeplex_proto::audit::v1::AuditRecord;
use kubeplex_test_support::postgres::{Options, TestPostgres};

use super::*;
use crate::audit::time_text::format_unix_ms;
use crate::sensitive::Sensitive;

/// 2026-05-20T10:00:00.000Z
const T0: i64 = 1_779_271_200_000;

fn record(id: &str, user: &str, at_ms: i64) -> AuditRecord {
    AuditRecord {
        request_id: id.to_string(),
        user: user.to_string(),
        time: format_unix_ms(at_ms),
        decision: "allow".into(),
        reason: "ok".into(),
        cluster: "dev-a".into(),
        verb: "get".into(),
        resource: "pods".into(),
        ..Default::default()
    }
}

/// Every field set, with text a database could mangle.
fn full_record() -> AuditRecord {
    AuditRecord {
        request_id: "full-1".into(),
        user_agent: "kubectl/v1.33.0 (linux/amd64) \"quoted\" \\ back".into(),
        method: "POST".into(),
        path: "/clusters/dev-a/api/v1/namespaces/team-a/pods/web/exec?command=sh&stdin=true".into(),
        decision: "deny".into(),
        reason: "policy_denied".into(),
        message: "pods \"web\" is forbidden: ünïcödé, 'single', %_ wildcards".into(),
        user: "alice@example.com".into(),
        groups: vec!["dev".into(), "o\"ps".into(), String::new()],
        uid: "u-1".into(),
        issuer: "https://login.example.com".into(),
        jti: "j-1".into(),
        cluster: "dev-a".into(),
        verb: "create".into(),
        api_group: "".into(),
        api_version: "v1".into(),
        resource: "pods".into(),
        subresource: "exec".into(),
        namespace: "team-a".into(),
        name: "web".into(),
        config_version: "abc123".into(),
        kubectl_command: "kubectl exec".into(),
        kubectl_session: "0f8e3c4a-1b2c-4d5e-8f90-123456789abc".into(),
        stream_ended: "token_expired".into(),
        stream_ended_by: "v2".into(),
        time: "2026-05-20T10:11:12.345Z".into(),
        source: "[::1]:50123".into(),
        code: 403,
        flags: "UF,URX".into(),
        duration_ms: 12_345_678_901,
        bytes_in: 17,
        bytes_out: u64::from(u32::MAX) + 5,
    }
}

async fn sqlite() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/audit.db");
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
        .await
        .unwrap()
        .unwrap();
    (dir, Store::Sqlite(store))
}

fn postgres_store(pg: &TestPostgres) -> Store {
    Store::postgres(&PostgresConfig {
        url: Sensitive(pg.url_without_password("sslmode=disable")),
        password: Some(Sensitive(
            kubeplex_test_support::postgres::PASSWORD.to_string(),
        )),
        ca_pem: None,
    })
    .unwrap()
}

fn query() -> AuditQuery {
    AuditQuery::default()
}

fn ids(found: &Found) -> Vec<&str> {
    found
        .records
        .iter()
        .map(|r| r.request_id.as_str())
        .collect()
}

async fn every_field_round_trips(store: &Store) {
    let full = full_record();
    assert_eq!(
        store.write(std::slice::from_ref(&full)).await.unwrap(),
        Written {
            stored: 1,
            ..Written::default()
        }
    );
    let found = store.query(&query()).await.unwrap();
    assert_eq!(found.records, vec![full]);
}

async fn duplicates_and_invalid_records_are_skipped(store: &Store) {
    let mut no_id = record("", "x", T0);
    no_id.request_id.clear();
    let mut bad_time = record("bad-time", "x", T0);
    bad_time.time = "yesterday".into();
    let batch = [
        record("d1", "alice", T0),
        record("d1", "alice", T0 + 1),
        no_id,
        bad_time,
        record("d2", "bob", T0),
    ];
    let written = store.write(&batch).await.unwrap();
    assert_eq!(
        written,
        Written {
            stored: 2,
            duplicates: 1,
            invalid: 2
        }
    );
    // a retried batch stores nothing new
    let again = store.write(&batch[..1]).await.unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 1));
    assert_eq!(store.count().await.unwrap(), 2);
}

async fn filters_select_records(store: &Store) {
    let mut records = Vec::new();
    for (i, (user, cluster, verb, resource, sub, decision, command)) in [
        ("alice", "dev-a", "get", "pods", "", "allow", "kubectl get"),
        (
            "alice",
            "dev-a",
            "create",
            "pods",
            "exec",
            "allow",
            "kubectl exec",
        ),
        ("bob", "prod", "list", "secrets", "", "deny", "kubectl get"),
        (
            "bob",
            "prod",
            "create",
            "configmaps",
            "",
            "allow",
            "kubectl create configmap",
        ),
        (
            "carol",
            "dev-a",
            "get",
            "pods",
            "",
            "allow",
            "kubectl execute_x%",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = record(&format!("f{i}"), user, T0 + i as i64 * 60_000);
        r.cluster = cluster.into();
        r.verb = verb.into();
        r.resource = resource.into();
        r.subresource = sub.into();
        r.decision = decision.into();
        r.kubectl_command = command.into();
        r.kubectl_session = format!("s-{user}");
        records.push(r);
    }
    store.write(&records).await.unwrap();
    let find = |q: AuditQuery| async move { store.query(&q).await.unwrap() };
    let q = query;
    assert_eq!(
        ids(&find(q()).await),
        ["f0", "f1", "f2", "f3", "f4"],
        "oldest first"
    );
    let by_user = AuditQuery {
        user: "bob".into(),
        ..q()
    };
    assert_eq!(ids(&find(by_user).await), ["f2", "f3"]);
    let by_cluster_and_verb = AuditQuery {
        cluster: "dev-a".into(),
        verb: "get".into(),
        ..q()
    };
    assert_eq!(ids(&find(by_cluster_and_verb).await), ["f0", "f4"]);
    let exec = AuditQuery {
        resource: "pods/exec".into(),
        ..q()
    };
    assert_eq!(ids(&find(exec).await), ["f1"]);
    let denied = AuditQuery {
        decision: "deny".into(),
        ..q()
    };
    assert_eq!(ids(&find(denied).await), ["f2"]);
    let since = AuditQuery {
        since_unix_ms: T0 + 3 * 60_000,
        ..q()
    };
    assert_eq!(ids(&find(since).await), ["f3", "f4"]);
    let session = AuditQuery {
        kubectl_session: "s-alice".into(),
        ..q()
    };
    assert_eq!(ids(&find(session).await), ["f0", "f1"]);
    // `exec` is `kubectl exec`, not `kubectl execute_x%` (no LIKE wildcards)
    let command = AuditQuery {
        kubectl_command: "exec".into(),
        ..q()
    };
    assert_eq!(ids(&find(command).await), ["f1"]);
    let parent = AuditQuery {
        kubectl_command: "kubectl create".into(),
        ..q()
    };
    assert_eq!(ids(&find(parent).await), ["f3"]);
    let wildcard = AuditQuery {
        kubectl_command: "exec%".into(),
        ..q()
    };
    assert!(find(wildcard).await.records.is_empty());
    // the newest `limit`, oldest first; then following from the last one
    let newest = find(AuditQuery { limit: 2, ..q() }).await;
    assert_eq!(ids(&newest), ["f3", "f4"]);
    let first = find(AuditQuery {
        limit: 2,
        after_seq: -1,
        ..q()
    })
    .await;
    assert_eq!(ids(&first), ["f3", "f4"], "a negative cursor is no cursor");
    let all = find(q()).await;
    let alice = find(AuditQuery {
        user: "alice".into(),
        ..q()
    })
    .await;
    let after = find(AuditQuery {
        after_seq: alice.last_seq,
        ..q()
    })
    .await;
    assert_eq!(ids(&after), ["f2", "f3", "f4"]);
    let nothing_new = find(AuditQuery {
        after_seq: all.last_seq,
        ..q()
    })
    .await;
    assert!(nothing_new.records.is_empty());
    assert_eq!(nothing_new.last_seq, all.last_seq, "the cursor stays");
}

async fn sessions_group_one_kubectl_run(store: &Store) {
    let mut records = Vec::new();
    for (i, (session, user, command, decision)) in [
        ("s1", "alice", "kubectl exec", "allow"),
        ("s1", "alice", "kubectl exec", "allow"),
        ("s1", "alice", "kubectl exec", "deny"),
        ("s2", "bob", "kubectl get", "allow"),
        // bob reusing alice's session id: a row of its own
        ("s1", "bob", "kubectl exec", "allow"),
        ("", "carol", "", "allow"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = record(&format!("s{i}"), user, T0 + i as i64 * 1000);
        r.kubectl_session = session.into();
        r.kubectl_command = command.into();
        r.decision = decision.into();
        records.push(r);
    }
    store.write(&records).await.unwrap();
    let sessions = store.sessions(&query()).await.unwrap();
    let rows: Vec<_> = sessions
        .iter()
        .map(|s| {
            (
                s.kubectl_session.as_str(),
                s.user.as_str(),
                s.kubectl_command.as_str(),
                s.requests,
                s.denied,
                s.first_time.as_str(),
                s.last_time.as_str(),
            )
        })
        .collect();
    let at = |i: i64| format_unix_ms(T0 + i * 1000);
    let (t0, t2, t3, t4) = (at(0), at(2), at(3), at(4));
    assert_eq!(
        rows,
        [
            (
                "s1",
                "alice",
                "kubectl exec",
                3,
                1,
                t0.as_str(),
                t2.as_str()
            ),
            ("s2", "bob", "kubectl get", 1, 0, t3.as_str(), t3.as_str()),
            ("s1", "bob", "kubectl exec", 1, 0, t4.as_str(), t4.as_str()),
        ]
    );
    let alice = store
        .sessions(&AuditQuery {
            user: "alice".into(),
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(alice.len(), 1);
}

async fn prune_deletes_only_old_records(store: &Store) {
    let day = 86_400_000;
    store
        .write(&[
            record("old", "a", T0 - 100 * day),
            record("edge", "a", T0 - 90 * day),
            record("new", "a", T0 - day),
        ])
        .await
        .unwrap();
    assert_eq!(store.prune(T0 - 90 * day).await.unwrap(), 1);
    assert_eq!(ids(&store.query(&query()).await.unwrap()), ["edge", "new"]);
}

/// Each check on a fresh database.
macro_rules! store_tests {
    ($($check:ident),* $(,)?) => {
        mod sqlite_store {
            $(
                #[tokio::test]
                async fn $check() {
                    let (_dir, store) = super::sqlite().await;
                    super::$check(&store).await;
                }
            )*
        }
        mod postgres_store {
            $(
                #[tokio::test]
                async fn $check() {
                    let pg = super::TestPostgres::start();
                    super::$check(&super::postgres_store(&pg)).await;
                }
            )*
        }
    };
}

store_tests!(
    every_field_round_trips,
    duplicates_and_invalid_records_are_skipped,
    filters_select_records,
    sessions_group_one_kubectl_run,
    prune_deletes_only_old_records,
);

#[test]
fn the_columns_are_the_record_fields() {
    let mut columns: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
    columns.sort();
    assert_eq!(columns, kubeplex_proto::audit::field_names());
    for sql in [
        include_str!("migrations/sqlite_v1.sql"),
        include_str!("migrations/postgres_v1.sql"),
    ] {
        for c in &columns {
            assert!(
                sql.contains(&format!("\"{c}\" ")),
                "{c} missing from a migration"
            );
        }
    }
}

#[tokio::test]
async fn sqlite_reopens_an_existing_file_without_migrating_again() {
    let (dir, store) = sqlite().await;
    store.write(&[record("keep", "a", T0)]).await.unwrap();
    drop(store);
    let path = dir.path().join("nested/audit.db");
    let store = Store::Sqlite(SqliteStore::open(&path).unwrap());
    assert_eq!(store.count().await.unwrap(), 1);
}

#[tokio::test]
async fn postgres_survives_a_restart_and_two_stores_migrate_once() {
    let mut pg = TestPostgres::start();
    let (a, b) = (postgres_store(&pg), postgres_store(&pg));
    let (first, second) = ([record("a", "x", T0)], [record("b", "x", T0)]);
    let (ra, rb) = tokio::join!(a.write(&first), b.write(&second));
    ra.unwrap();
    rb.unwrap();
    pg.stop();
    assert!(
        a.write(&[record("c", "x", T0)]).await.is_err(),
        "the server is down"
    );
    pg.restart();
    a.write(&[record("c", "x", T0)]).await.unwrap();
    assert_eq!(b.count().await.unwrap(), 3);
}

#[tokio::test]
async fn postgres_over_tls_verifies_the_server() {
    let ca = kubeplex_tests::pki::Ca::new("test-postgres-ca");
    let serving = ca.server_cert(&["127.0.0.1", "localhost"]);
    let pg = TestPostgres::start_with(Options {
        tls: Some((serving.cert_pem.clone(), serving.key_pem.clone())),
    });
    let store = |ca_pem: &str, params: &str| {
        Store::postgres(&PostgresConfig {
            url: Sensitive(pg.url(params)),
            password: None,
            ca_pem: Some(ca_pem.to_string()),
        })
        .unwrap()
    };
    let trusted = store(ca.cert_pem(), "sslmode=require");
    trusted.write(&[record("tls", "x", T0)]).await.unwrap();
    assert_eq!(trusted.count().await.unwrap(), 1);
    let other_ca = kubeplex_tests::pki::Ca::new("someone-else");
    let untrusted = store(other_ca.cert_pem(), "sslmode=require");
    let refused = untrusted.count().await.unwrap_err();
    let chain = crate::error_chain::error_chain(&refused);
    assert!(chain.contains("certificate"), "{chain}");
}
