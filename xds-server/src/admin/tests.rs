use super::*;
use crate::control_plane::Settings;
use crate::test_files::ONE_CONTEXT_KUBECONFIG;
use crate::translate::Options;

fn input(kind: &str, ok: bool, loaded_at: i64) -> admin::InputStatus {
    admin::InputStatus {
        kind: kind.into(),
        ok,
        loaded_at,
        ..Default::default()
    }
}

#[test]
fn ready_once_every_input_loaded_and_a_config_exists() {
    let inputs = [
        input("kubeconfig", true, 10),
        input("gateway config", true, 10),
    ];
    let (ready, body) = readiness(&inputs, true);
    assert!(ready, "{body}");
    assert_eq!(body, "ready\nkubeconfig: ok\ngateway config: ok\n");
}

#[test]
fn a_rejected_later_edit_keeps_it_ready_and_says_so() {
    let inputs = [input("kubeconfig", true, 10), input("policy", false, 10)];
    let (ready, body) = readiness(&inputs, true);
    assert!(ready, "{body}");
    assert!(
        body.contains("policy: latest edit rejected, serving the last good"),
        "{body}"
    );
}

#[test]
fn not_ready_before_an_input_loaded_or_without_a_config() {
    let (ready, body) = readiness(&[input("kubeconfig", false, 0)], true);
    assert!(!ready);
    assert!(body.starts_with("not ready\n") && body.contains("kubeconfig: never loaded"));
    let (ready, body) = readiness(&[input("kubeconfig", true, 10)], false);
    assert!(!ready);
    assert!(body.contains("no Envoy configuration yet"), "{body}");
}

/// A control plane started from real files (the kubeconfig: context `a`)
/// in `d`; returns it and the gateway config's path.
fn started_control_plane(d: &std::path::Path) -> (Arc<ControlPlane>, std::path::PathBuf) {
    std::fs::write(d.join("clusters.kubeconfig"), ONE_CONTEXT_KUBECONFIG).unwrap();
    let gateway = crate::test_files::write_gateway_config(d);
    let cp = ControlPlane::start(Settings {
        kubeconfig: d.join("clusters.kubeconfig").into(),
        gateway_config: gateway.clone(),
        options: Options::default(),
        state_dir: d.join("state"),
    })
    .unwrap();
    (cp, gateway)
}

/// A control plane started from real files answers 200, and still 200
/// (naming the rejection) after a broken edit of the gateway config.
#[test]
fn a_started_control_plane_is_ready_and_stays_ready_on_a_broken_edit() {
    let dir = tempfile::tempdir().unwrap();
    let (cp, gateway) = started_control_plane(dir.path());
    let (code, body) = readiness_now(&cp);
    assert_eq!(code, StatusCode::OK, "{body}");

    std::fs::write(&gateway, "kind: GatewayConfig\nlistener: [\n").unwrap();
    let outcome = cp.reload();
    assert!(!outcome.rejected.is_empty(), "the broken edit is rejected");
    let (code, body) = readiness_now(&cp);
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(
        body.contains("gateway config: latest edit rejected"),
        "{body}"
    );
}

#[test]
fn the_status_query_picks_the_view() {
    use status_view::{StatusView as V, UnknownView};
    assert_eq!(V::from_query(None), Ok(V::All));
    assert_eq!(V::from_query(Some("")), Ok(V::All));
    assert_eq!(V::from_query(Some("contexts=all")), Ok(V::All));
    assert_eq!(V::from_query(Some("contexts=summary")), Ok(V::Summary));
    assert_eq!(
        V::from_query(Some("pretty=1&contexts=summary")),
        Ok(V::Summary)
    );
    assert_eq!(
        V::from_query(Some("contexts=none")),
        Err(UnknownView("none".into()))
    );
}

/// `/status` (every context, as before) and `/status?contexts=summary`
/// (counts, the contexts with a problem) of one control plane.
#[tokio::test(flavor = "multi_thread")]
async fn status_answers_every_context_or_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (cp, _) = started_control_plane(dir.path());
    cp.cluster_health()
        .record(vec![("a".into(), Err("connection refused".into()))], 100);
    let get = async |query: Option<&str>| {
        let answer = status_answer(&cp, query);
        let code = answer.status();
        let body = axum::body::to_bytes(answer.into_body(), 1 << 20)
            .await
            .unwrap();
        (code, String::from_utf8(body.to_vec()).unwrap())
    };

    let (code, body) = get(None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let all: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(all["contexts"], serde_json::json!(["a"]));
    assert_eq!(all["cluster_health"]["a"]["healthy"], false);
    assert_eq!(
        all,
        serde_json::from_str::<serde_json::Value>(&get(Some("contexts=all")).await.1).unwrap()
    );

    let (code, body) = get(Some("contexts=summary")).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let summary: serde_json::Value = serde_json::from_str(&body).unwrap();
    for shared in ["version", "inputs", "envoys", "remote_keys", "agents"] {
        assert_eq!(summary[shared], all[shared], "{shared}");
    }
    for listed in ["contexts", "cluster_health"] {
        assert!(summary.get(listed).is_none(), "{listed} in {summary}");
    }
    assert_eq!(
        summary["context_counts"],
        serde_json::json!({"total": 1, "healthy": 0, "unhealthy": 1, "health_unknown": 0,
            "checks_failed": 0, "with_problems": 1})
    );
    assert_eq!(summary["context_problems"][0]["context"], "a");
    assert_eq!(
        summary["context_problems"][0]["health"]["detail"],
        "connection refused"
    );

    let (code, body) = get(Some("contexts=some")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(body.contains("contexts=all or contexts=summary"), "{body}");
}

/// The contexts a summary's `context_problems` names, in its order.
fn problem_contexts(summary: &serde_json::Value) -> Vec<&str> {
    summary["context_problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["context"].as_str().unwrap())
        .collect()
}

fn checked(healthy: bool) -> crate::cluster_health::ClusterHealth {
    crate::cluster_health::ClusterHealth {
        healthy,
        since: 1,
        last_check: 2,
        detail: if healthy { "/readyz 200" } else { "timed out" }.into(),
    }
}

fn failed_check(context: &str) -> crate::preflight::Row {
    crate::preflight::Row {
        context: context.into(),
        check: "impersonate users".into(),
        outcome: crate::preflight::Outcome::Missing,
        detail: "forbidden".into(),
        fix: "kind: ClusterRole\n".repeat(20),
    }
}

/// At 10,000 contexts the summary stays a few kilobytes: counts by state,
/// then only the contexts with a problem, by name.
#[test]
fn a_summary_of_ten_thousand_contexts_names_only_the_problems() {
    let contexts: Vec<String> = (0..10_000).map(|i| format!("cluster-{i:05}")).collect();
    let mut health: std::collections::BTreeMap<_, _> = contexts
        .iter()
        .map(|c| (c.clone(), checked(true)))
        .collect();
    for sick in ["cluster-00042", "cluster-09000", "cluster-00007"] {
        health.insert(sick.into(), checked(false));
    }
    for unchecked in &contexts[9_990..] {
        health.remove(unchecked);
    }
    let mut rows: Vec<_> = contexts
        .iter()
        .map(|c| crate::preflight::Row {
            outcome: crate::preflight::Outcome::Ok,
            fix: String::new(),
            ..failed_check(c)
        })
        .collect();
    rows[42] = failed_check("cluster-00042");
    rows[500] = failed_check("cluster-00500");
    let report = crate::preflight::Report {
        checked_at: 3,
        rows,
    };

    let summary =
        status_view::context_summary(contexts.iter().map(String::as_str), &health, Some(&report));
    let summary = serde_json::Value::Object(summary);
    assert_eq!(
        summary["context_counts"],
        serde_json::json!({"total": 10_000, "healthy": 9_987, "unhealthy": 3,
            "health_unknown": 10, "checks_failed": 2, "with_problems": 4})
    );
    let named = problem_contexts(&summary);
    assert_eq!(
        named,
        [
            "cluster-00007",
            "cluster-00042",
            "cluster-00500",
            "cluster-09000"
        ]
    );
    let both = &summary["context_problems"][1];
    assert_eq!(both["health"]["healthy"], false);
    assert_eq!(both["failed_checks"][0]["outcome"], "missing");
    assert!(both["failed_checks"][0].get("fix").is_none(), "{both}");
    assert_eq!(summary["context_problems_omitted"], 0);
    assert_eq!(
        summary["cluster_checks"],
        serde_json::json!({"checked_at": 3, "rows": 10_000, "failed": 2})
    );
    let size = serde_json::to_string_pretty(&summary).unwrap().len();
    let listed = serde_json::to_string_pretty(&serde_json::json!({
        "contexts": contexts, "cluster_health": health, "cluster_checks": report,
    }))
    .unwrap()
    .len();
    assert!(size < 4_000, "summary: {size} bytes");
    assert!(
        listed > 1_000 * size,
        "every context: {listed} bytes, summary {size}"
    );
}

/// A control plane of seven contexts in every state (see
/// `the_summary_agrees_with_every_context_listed`), its health recorded
/// and its report's rows (not yet set).
fn mixed_control_plane(d: &std::path::Path) -> (Arc<ControlPlane>, Vec<crate::preflight::Row>) {
    use crate::preflight::{Outcome, Row};
    let names = [
        "ok",
        "unreachable",
        "refused",
        "unhealthy",
        "warned",
        "unchecked",
        "new",
    ];
    let mut text = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for n in names {
        text += &format!("- name: {n}\n  cluster: {{server: 'https://127.0.0.1:6443'}}\n");
    }
    text += "users:\n- name: gw\n  user: {token: t}\ncontexts:\n";
    for n in names {
        text += &format!("- name: {n}\n  context: {{cluster: {n}, user: gw}}\n");
    }
    std::fs::write(d.join("clusters.kubeconfig"), text).unwrap();
    let cp = ControlPlane::start(Settings {
        kubeconfig: d.join("clusters.kubeconfig").into(),
        gateway_config: crate::test_files::write_gateway_config(d),
        options: Options::default(),
        state_dir: d.join("state"),
    })
    .unwrap();
    let health = |n: &str, ok: bool| {
        (
            n.to_string(),
            if ok {
                Ok(())
            } else {
                Err(format!("{n}: refused"))
            },
        )
    };
    cp.cluster_health().record(
        vec![
            health("ok", true),
            health("unreachable", false),
            health("refused", true),
            health("unhealthy", false),
            health("warned", true),
            health("new", true),
        ],
        100,
    );
    let row = |context: &str, check: &str, outcome| Row {
        context: context.into(),
        check: check.into(),
        outcome,
        detail: format!("{context} {check}"),
        fix: String::new(),
    };
    let rows = vec![
        row("gone", "reachable", Outcome::Error),
        row("ok", "reachable", Outcome::Ok),
        row("refused", "reachable", Outcome::Ok),
        row("refused", "impersonate users", Outcome::Missing),
        row("unhealthy", "reachable", Outcome::Ok),
        row("unreachable", "reachable", Outcome::Error),
        row("unreachable", "impersonate users", Outcome::Error),
        row("warned", "reachable", Outcome::Warning),
    ];
    (cp, rows)
}

/// The summary counted from the kubeconfig, health map and report in
/// place says what the full view says, on contexts in every state: ok,
/// unreachable (health and every check failed), refused (an impersonation
/// missing), unhealthy with checks passing, a warning, never checked,
/// checked by a report from before the context existed; a report's row
/// for a context that is gone counts for nothing.
#[tokio::test(flavor = "multi_thread")]
async fn the_summary_agrees_with_every_context_listed() {
    use crate::preflight::Report;
    let dir = tempfile::tempdir().unwrap();
    let (cp, rows) = mixed_control_plane(dir.path());
    // A report out of context order (hand-made) is summarized the same.
    cp.cluster_checks().set(Report {
        checked_at: 7,
        rows: rows.iter().rev().cloned().collect(),
    });
    let reversed = status_summary_json(&cp);
    assert_eq!(reversed, expected_summary(&status_json(&cp)));
    cp.cluster_checks().set(Report {
        checked_at: 7,
        rows,
    });

    let all = status_json(&cp);
    let summary = status_summary_json(&cp);
    assert_eq!(summary, expected_summary(&all), "full view: {all:#}");
    assert_eq!(reversed["context_counts"], summary["context_counts"]);
    assert_eq!(
        summary["context_counts"],
        serde_json::json!({"total": 7, "healthy": 4, "unhealthy": 2, "health_unknown": 1,
            "checks_failed": 2, "with_problems": 3})
    );
    let named = problem_contexts(&summary);
    assert_eq!(named, ["refused", "unhealthy", "unreachable"]);
    assert_eq!(
        summary["context_problems"][2]["failed_checks"][1]["detail"],
        "unreachable impersonate users"
    );
}

/// The summary as the full view's lists say it should be (counted the
/// slow, obvious way).
fn expected_summary(all: &serde_json::Value) -> serde_json::Value {
    let mut expected = all.as_object().unwrap().clone();
    for listed in ["contexts", "cluster_health", "cluster_checks"] {
        expected.remove(listed);
    }
    let rows = all["cluster_checks"]["rows"].as_array().unwrap();
    let failed = |context: &str| -> Vec<serde_json::Value> {
        rows.iter()
            .filter(|r| r["context"] == context && ["missing", "error"].contains(&r["outcome"].as_str().unwrap()))
            .map(|r| serde_json::json!({"check": r["check"], "outcome": r["outcome"], "detail": r["detail"]}))
            .collect()
    };
    let (mut healthy, mut unhealthy, mut unknown, mut checks_failed) = (0, 0, 0, 0);
    let mut problems = Vec::new();
    for context in all["contexts"].as_array().unwrap() {
        let context = context.as_str().unwrap();
        let health = &all["cluster_health"][context];
        match health["healthy"].as_bool() {
            Some(true) => healthy += 1,
            Some(false) => unhealthy += 1,
            None => unknown += 1,
        }
        let checks = failed(context);
        checks_failed += !checks.is_empty() as usize;
        if health["healthy"] == false || !checks.is_empty() {
            problems.push(
                serde_json::json!({"context": context, "health": health, "failed_checks": checks}),
            );
        }
    }
    let failed_rows = rows
        .iter()
        .filter(|r| ["missing", "error"].contains(&r["outcome"].as_str().unwrap()))
        .count();
    let summary = serde_json::json!({
        "context_counts": {"total": all["contexts"].as_array().unwrap().len(), "healthy": healthy,
            "unhealthy": unhealthy, "health_unknown": unknown, "checks_failed": checks_failed,
            "with_problems": problems.len()},
        "context_problems": problems,
        "context_problems_omitted": 0,
        "cluster_checks": {"checked_at": all["cluster_checks"]["checked_at"], "rows": rows.len(), "failed": failed_rows},
    });
    expected.extend(summary.as_object().unwrap().clone());
    serde_json::Value::Object(expected)
}

#[test]
fn a_summary_names_at_most_a_hundred_problems_and_counts_the_rest() {
    let contexts: Vec<String> = (0..250).map(|i| format!("c{i:03}")).collect();
    let health = contexts
        .iter()
        .map(|c| (c.clone(), checked(false)))
        .collect();
    let summary = status_view::context_summary(contexts.iter().map(String::as_str), &health, None);
    let problems = summary["context_problems"].as_array().unwrap();
    assert_eq!(problems.len(), status_view::MAX_PROBLEMS);
    assert_eq!(problems[0]["context"], "c000");
    assert_eq!(problems[99]["context"], "c099");
    assert_eq!(summary["context_problems_omitted"], 150);
    assert_eq!(summary["context_counts"]["with_problems"], 250);
    assert_eq!(summary["cluster_checks"], serde_json::Value::Null);
}

/// `serve --probe-addr`: the probe port answers the kubelet's probes and
/// Prometheus, and nothing of the admin API (status, revoke, audit), which
/// stays on its own (loopback) port.
#[tokio::test(flavor = "multi_thread")]
async fn the_probe_port_serves_only_health_readiness_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (cp, _) = started_control_plane(dir.path());
    let listeners = listeners_with_probes().await;
    let (admin_addr, probe_addr) = (listeners.admin_addr(), listeners.probe_addr().unwrap());
    let running = crate::server::start(cp, listeners).await.unwrap();
    let ask = async |method: &str, addr: std::net::SocketAddr, path: &str| {
        crate::envoy::http_request(method, &format!("http://{addr}{path}"))
            .await
            .unwrap()
    };

    assert_eq!(ask("GET", probe_addr, "/healthz").await, (200, "ok".into()));
    let (code, body) = ask("GET", probe_addr, "/readyz").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.starts_with("ready\n"), "{body}");
    let (code, body) = ask("GET", probe_addr, "/metrics").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("kubeplex_config_reloads_total"), "{body}");
    for (method, path) in [
        ("GET", "/status"),
        ("GET", "/status?contexts=summary"),
        ("POST", "/kubeplex.admin.v1.Admin/Revoke"),
        ("POST", "/kubeplex.admin.v1.Admin/QueryAudit"),
        ("POST", "/kubeplex.admin.v1.Admin/GetStatus"),
    ] {
        let (code, _) = ask(method, probe_addr, path).await;
        assert_eq!(code, 404, "{method} {path} on the probe port");
    }
    let mut probe_client = kubeplex_proto::admin::v1::admin_client::AdminClient::connect(format!(
        "http://{probe_addr}"
    ))
    .await
    .unwrap();
    let refused = probe_client
        .revoke(admin::RevokeRequest {
            jti: "through-the-probe-port".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unimplemented, "{refused:?}");

    // The admin port still answers all of it.
    assert_eq!(ask("GET", admin_addr, "/status").await.0, 200);
    assert_eq!(ask("GET", admin_addr, "/readyz").await.0, 200);
    running.admin.abort();
    running.xds.abort();
    running.probes.unwrap().abort();
}

#[test]
fn an_admin_api_off_loopback_is_warned_about() {
    use crate::server::admin_exposure_warning;
    for quiet in ["127.0.0.1:18001", "[::1]:18001"] {
        for has_token in [false, true] {
            assert_eq!(
                admin_exposure_warning(quiet.parse().unwrap(), has_token),
                None
            );
        }
    }
    for exposed in ["0.0.0.0:18001", "10.1.2.3:18001", "[::]:18001"] {
        let warning = admin_exposure_warning(exposed.parse().unwrap(), false).unwrap();
        assert!(
            warning.starts_with("INSECURE")
                && warning.contains("no authentication")
                && warning.contains(exposed),
            "{warning}"
        );
        let warning = admin_exposure_warning(exposed.parse().unwrap(), true).unwrap();
        assert!(
            warning.starts_with("INSECURE") && warning.contains("crosses the network in clear"),
            "{warning}"
        );
    }
}

/// `serve --admin-token-file`: every admin request needs the token, gRPC
/// (UNAUTHENTICATED) and plain HTTP (401) alike; the probe port does not
/// ask for it.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_token_guards_every_admin_request_and_never_the_probes() {
    use http::header::AUTHORIZATION;
    let dir = tempfile::tempdir().unwrap();
    let (cp, _) = started_control_plane(dir.path());
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, "the-admin-token\n").unwrap();
    let listeners = listeners_with_probes()
        .await
        .with_admin_token(token::AdminToken::from_file(&token_file).unwrap());
    let (admin_addr, probe_addr) = (listeners.admin_addr(), listeners.probe_addr().unwrap());
    let running = crate::server::start(cp, listeners).await.unwrap();
    let get = async |addr: std::net::SocketAddr, path: &str, bearer: Option<&str>| {
        let mut headers = http::HeaderMap::new();
        if let Some(token) = bearer {
            headers.insert(AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        }
        crate::envoy::http_request_with("GET", &format!("http://{addr}{path}"), headers)
            .await
            .unwrap()
    };

    for path in ["/status", "/metrics", "/healthz", "/readyz"] {
        for bearer in [None, Some("not-the-admin-token")] {
            let (code, body) = get(admin_addr, path, bearer).await;
            assert_eq!(code, 401, "{path} {bearer:?}: {body}");
            assert!(body.contains("needs its bearer token"), "{body}");
            assert!(!body.contains("the-admin-token"), "{body}");
        }
        assert_eq!(
            get(admin_addr, path, Some("the-admin-token")).await.0,
            200,
            "{path}"
        );
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            get(probe_addr, path, None).await.0,
            200,
            "{path} on the probe port"
        );
    }

    let mut client = kubeplex_proto::admin::v1::admin_client::AdminClient::connect(format!(
        "http://{admin_addr}"
    ))
    .await
    .unwrap();
    let refused = client
        .get_status(admin::GetStatusRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    let mut request = tonic::Request::new(admin::GetStatusRequest::default());
    request
        .metadata_mut()
        .insert("authorization", "Bearer the-admin-token".parse().unwrap());
    let status = client.get_status(request).await.unwrap().into_inner();
    assert_eq!(status.contexts, ["a"]);

    running.admin.abort();
    running.xds.abort();
    running.probes.unwrap().abort();
}

/// gRPC `GetStatus`: a request without a view (what an older client
/// sends) gets every context's name and no summary, as before; the summary
/// view gets no names and the counts and problems of
/// `/status?contexts=summary`.
#[tokio::test(flavor = "multi_thread")]
async fn get_status_lists_every_context_unless_asked_for_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (cp, rows) = mixed_control_plane(dir.path());
    cp.cluster_checks().set(crate::preflight::Report {
        checked_at: 7,
        rows,
    });
    let json = status_summary_json(&cp);
    // The admin API alone: no health checks or preflight to replace the
    // states set above.
    let audit = Audit::start(&cp.settings.state_dir, cp.last_good())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve(cp, audit, listener, None));
    let mut client = kubeplex_proto::admin::v1::admin_client::AdminClient::connect(format!(
        "http://{admin_addr}"
    ))
    .await
    .unwrap();

    // An older client's request: no field set, nothing on the wire.
    let old = admin::GetStatusRequest::default();
    assert!(prost::Message::encode_to_vec(&old).is_empty());
    let all = client.get_status(old).await.unwrap().into_inner();
    assert_eq!(all.contexts.len(), 7, "{:?}", all.contexts);
    assert!(all.contexts.contains(&"unreachable".to_string()));
    assert_eq!(all.context_summary, None);

    let summary_view = admin::GetStatusRequest {
        contexts: admin::ContextsView::Summary.into(),
    };
    let status = client.get_status(summary_view).await.unwrap().into_inner();
    assert!(status.contexts.is_empty(), "{:?}", status.contexts);
    assert_eq!(status.version, all.version);
    let summary = status.context_summary.unwrap();
    let counts = &json["context_counts"];
    assert_eq!(
        [
            summary.total,
            summary.healthy,
            summary.unhealthy,
            summary.health_unknown,
            summary.checks_failed,
            summary.with_problems
        ],
        [
            "total",
            "healthy",
            "unhealthy",
            "health_unknown",
            "checks_failed",
            "with_problems"
        ]
        .map(|k| counts[k].as_u64().unwrap())
    );
    assert_eq!(
        (summary.problems_omitted, summary.checks_checked_at),
        (0, 7)
    );
    let problems = json["context_problems"].as_array().unwrap();
    assert_eq!(summary.problems.len(), problems.len());
    for (message, json) in summary.problems.iter().zip(problems) {
        assert_eq!(message.context, json["context"].as_str().unwrap());
        let health = message.health.as_ref().map(|h| {
            serde_json::json!({"healthy": h.healthy, "since": h.since,
                "last_check": h.last_check, "detail": h.detail})
        });
        assert_eq!(health.unwrap_or_default(), json["health"]);
        let checks: Vec<serde_json::Value> = message
            .failed_checks
            .iter()
            .map(
                |f| serde_json::json!({"check": f.check, "outcome": f.outcome, "detail": f.detail}),
            )
            .collect();
        assert_eq!(serde_json::Value::from(checks), json["failed_checks"]);
    }
    server.abort();
}

/// Admin, xDS and probe listeners on free loopback ports.
async fn listeners_with_probes() -> crate::server::Listeners {
    let any = "127.0.0.1:0".parse().unwrap();
    crate::server::Listeners::bind(any, any)
        .await
        .unwrap()
        .with_probes(any)
        .await
        .unwrap()
}
