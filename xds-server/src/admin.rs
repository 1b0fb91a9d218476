//! The control plane's admin surface, on one port: the gRPC `Admin` service
//! from `proto/kubeplex/admin/v1` (revoke, list revocations, status, the
//! audit store's records and kubectl sessions), and
//! plain HTTP `/status` (JSON), `/metrics` (Prometheus text), `/healthz`,
//! `/readyz` (a Kubernetes readiness probe).
//! It has no authentication: bind it to loopback (it can revoke tokens and
//! read the audit trail). The probe port ([`serve_probes`]) serves only
//! `/healthz`, `/readyz` and `/metrics`, for the kubelet and Prometheus.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::extract::RawQuery;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use kubeplex_proto::admin::v1 as admin;
use kubeplex_proto::admin::v1::admin_server::{Admin, AdminServer};
use tonic::{Request, Response, Status};

use crate::audit::Audit;
use crate::audit::store::Store;
use crate::control_plane::{ControlPlane, Slot, State};
use crate::error_chain::error_chain;
use crate::inputs::kubeconfig::LoadedKubeconfig;
use crate::revocation_store::{StoreError, StoreStatus};

pub mod status_view;
pub mod token;
use status_view::StatusView;
use token::AdminToken;

/// The gRPC service.
pub struct AdminService {
    cp: Arc<ControlPlane>,
    audit: Arc<Audit>,
}

impl AdminService {
    /// The audit store, or why there is none.
    fn audit_store(&self) -> Result<Arc<Store>, Status> {
        self.audit.store().ok_or_else(|| {
            Status::failed_precondition(
                "this control plane has no audit store (audit.store in the gateway config)",
            )
        })
    }
}

/// Everything the status API reports.
pub fn status(cp: &ControlPlane) -> admin::GatewayStatus {
    let (mut status, kubeconfig) = status_and_kubeconfig(cp);
    status.contexts = kubeconfig
        .iter()
        .flat_map(|k| &k.clusters)
        .map(|c| c.context.clone())
        .collect();
    status
}

/// The status without its list of contexts, and the last good kubeconfig
/// they are in (shared, not copied).
fn status_and_kubeconfig(
    cp: &ControlPlane,
) -> (admin::GatewayStatus, Option<Arc<LoadedKubeconfig>>) {
    let snapshot = cp.current();
    let (inputs, kubeconfig) =
        cp.with_state(|s| (input_statuses(s), s.kubeconfig.last_good.clone()));
    let status = admin::GatewayStatus {
        version: snapshot.version.clone(),
        inputs,
        contexts: Vec::new(),
        nodes: node_statuses(cp),
        context_summary: None,
    };
    (status, kubeconfig)
}

/// What gRPC `GetStatus` answers: [`status`], or with `view` summary its
/// contexts counted by state and those with a problem named instead of
/// every name (as `/status?contexts=summary`).
pub fn status_in_view(cp: &ControlPlane, view: StatusView) -> admin::GatewayStatus {
    if view == StatusView::All {
        return status(cp);
    }
    let (mut status, kubeconfig) = status_and_kubeconfig(cp);
    let checks = cp.cluster_checks().latest();
    let summary = cp.cluster_health().read(|health| {
        let contexts = kubeconfig.iter().flat_map(|k| &k.clusters);
        let contexts = contexts.map(|c| c.context.as_str());
        let failed = status_view::failed_rows(checks.as_deref());
        let summary = status_view::summarize(contexts, health, &failed);
        status_view::summary_message(&summary, checks.as_deref())
    });
    status.context_summary = Some(summary);
    status
}

/// Each input's file and whether its latest edit loaded (policy and
/// revocations only when the gateway config names them).
fn input_statuses(s: &State) -> Vec<admin::InputStatus> {
    fn input<T>(kind: &str, slot: &Slot<T>) -> admin::InputStatus {
        admin::InputStatus {
            kind: kind.into(),
            path: slot
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            ok: slot.error.is_none(),
            error: slot.error.clone().unwrap_or_default(),
            loaded_at: slot.loaded_at,
        }
    }
    let mut inputs = vec![
        input("kubeconfig", &s.kubeconfig),
        input("gateway config", &s.gateway),
    ];
    if s.policy.path.is_some() {
        inputs.push(input("policy", &s.policy));
    }
    if s.revocations.path.is_some() {
        inputs.push(input("revocations", &s.revocations));
    }
    inputs
}

/// What each connected Envoy was sent and accepted, per resource type.
fn node_statuses(cp: &ControlPlane) -> Vec<admin::EnvoyNodeStatus> {
    cp.registry
        .nodes()
        .into_iter()
        .map(|n| admin::EnvoyNodeStatus {
            node_id: n.node_id,
            types: n
                .types
                .into_iter()
                .map(|(type_url, t)| admin::ResourceTypeStatus {
                    type_url,
                    sent_version: t.sent_version,
                    acked_version: t.acked_version,
                    nack_error: t.nack_error.unwrap_or_default(),
                })
                .collect(),
        })
        .collect()
}

/// The status as JSON (for `/status`, `kubeplex status` and tests): every
/// context, its health and its cluster check rows.
pub fn status_json(cp: &ControlPlane) -> serde_json::Value {
    let s = status(cp);
    let mut json = status_common_json(cp, &s);
    let checks = cp.cluster_checks().latest();
    json.insert(
        "cluster_checks".into(),
        serde_json::json!(checks.as_deref()),
    );
    json.insert(
        "cluster_health".into(),
        serde_json::json!(cp.cluster_health().all()),
    );
    json.insert("contexts".into(), serde_json::json!(s.contexts));
    serde_json::Value::Object(json)
}

/// `/status?contexts=summary`: [`status_json`] with the contexts counted by
/// state and only those with a problem named ([`status_view`]): nothing is
/// copied or built per context but for the problems it names.
pub fn status_summary_json(cp: &ControlPlane) -> serde_json::Value {
    let (s, kubeconfig) = status_and_kubeconfig(cp);
    let mut json = status_common_json(cp, &s);
    let checks = cp.cluster_checks().latest();
    json.extend(cp.cluster_health().read(|health| {
        let contexts = kubeconfig.iter().flat_map(|k| &k.clusters);
        let contexts = contexts.map(|c| c.context.as_str());
        status_view::context_summary(contexts, health, checks.as_deref())
    }));
    serde_json::Value::Object(json)
}

/// What both views of `/status` show the same way: the version, the
/// inputs, the revocation store, remote keys, what each Envoy accepted and
/// the agent clusters.
fn status_common_json(
    cp: &ControlPlane,
    s: &admin::GatewayStatus,
) -> serde_json::Map<String, serde_json::Value> {
    let snapshot = cp.current();
    let nodes: Vec<_> = s
        .nodes
        .iter()
        .map(|n| {
            let in_sync = snapshot.type_urls().all(|t| {
                n.types.iter().any(|ts| {
                    ts.type_url == t
                        && ts.acked_version
                            == snapshot.get(t).map(|x| x.version.as_str()).unwrap_or("")
                })
            });
            serde_json::json!({
                "node": n.node_id,
                "in_sync": in_sync,
                "types": n.types.iter().map(|t| serde_json::json!({
                    "type": t.type_url.rsplit('.').next().unwrap_or(&t.type_url),
                    "sent": t.sent_version,
                    "acked": t.acked_version,
                    "nack": (!t.nack_error.is_empty()).then_some(&t.nack_error),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let keys: Vec<_> = cp
        .key_store()
        .statuses()
        .iter()
        .map(|(issuer, k)| {
            serde_json::json!({
                "issuer": issuer, "source": k.source, "keys": k.keys,
                "fetches_ok": k.fetches_ok, "fetches_failed": k.fetches_failed,
                "last_success_at": k.last_success_at, "last_error": k.last_error,
            })
        })
        .collect();
    let common = serde_json::json!({
        "version": s.version,
        "revocation_store": cp.revocation_store_status().map(|r| store_json(&r)),
        "remote_keys": keys,
        "inputs": s.inputs.iter().map(|i| serde_json::json!({
            "kind": i.kind, "path": i.path, "ok": i.ok,
            "error": (!i.error.is_empty()).then_some(&i.error), "loaded_at": i.loaded_at,
        })).collect::<Vec<_>>(),
        "envoys": nodes,
        "agents": agents_json(cp),
    });
    match common {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

/// The agent clusters of the last good gateway config.
fn agent_cluster_names(cp: &ControlPlane) -> Vec<String> {
    cp.with_state(|s| {
        s.gateway
            .last_good
            .as_ref()
            .and_then(|g| g.agents.as_ref())
            .map(|a| a.clusters.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default()
    })
}

/// Each configured agent cluster's state: connected, since when, last
/// heartbeat, agent version.
fn agents_json(cp: &ControlPlane) -> serde_json::Map<String, serde_json::Value> {
    agent_cluster_names(cp)
        .into_iter()
        .map(|name| {
            let state = serde_json::to_value(cp.agents.state(&name)).unwrap_or_default();
            (name, state)
        })
        .collect()
}

/// The revocation store on `/status`.
fn store_json(s: &StoreStatus) -> serde_json::Value {
    serde_json::json!({
        "kind": s.kind,
        "object": s.object,
        "up": s.up,
        "last_error": s.last_error,
        "resource_version": s.resource_version,
        "watch_errors": s.watch_errors,
        "writes": s.writes,
        "write_conflicts": s.write_conflicts,
        "write_errors": s.write_errors,
    })
}

/// `/readyz`: whether this control plane can serve Envoy a configuration,
/// and a line per input saying why.
///
/// Ready when every input has loaded at least once and a snapshot with
/// resources is published. A later edit that was rejected keeps it ready:
/// the last good configuration still serves, and every replica reads the
/// same ConfigMap and Secret, so failing readiness would take them all out
/// of the headless Service at once and leave Envoys no control plane to
/// reconnect to. The rejection shows here, on `/status` and as
/// `kubeplex_input_ok`.
pub fn readiness(inputs: &[admin::InputStatus], has_config: bool) -> (bool, String) {
    let mut ready = has_config;
    let mut body = String::new();
    for i in inputs {
        let state = match (i.loaded_at > 0, i.ok) {
            (true, true) => "ok",
            (true, false) => "latest edit rejected, serving the last good",
            (false, _) => {
                ready = false;
                "never loaded"
            }
        };
        let _ = writeln!(body, "{}: {state}", i.kind);
    }
    if !has_config {
        body.push_str("no Envoy configuration yet\n");
    }
    body.insert_str(0, if ready { "ready\n" } else { "not ready\n" });
    (ready, body)
}

/// [`readiness`] of the running control plane.
fn readiness_now(cp: &ControlPlane) -> (StatusCode, String) {
    let has_config = cp.current().type_urls().next().is_some();
    // Only the inputs: no list of every context per probe.
    let (ready, body) = readiness(&cp.with_state(input_statuses), has_config);
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, body)
}

/// Prometheus text exposition of the control plane's counters.
pub fn metrics_text(cp: &ControlPlane, audit: &Audit) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    for (name, kind, help, value) in unlabelled_metrics(cp) {
        metric(name, kind, help, &[(String::new(), value)]);
    }
    metric(
        "kubeplex_input_ok",
        "gauge",
        "1 when the input's latest edit loaded, 0 when it was rejected.",
        &input_samples(cp),
    );
    if let Some(store) = cp.revocation_store_status() {
        for (name, kind, help, value) in store_metrics(&store) {
            metric(
                name,
                kind,
                help,
                &[(format!("{{store=\"{}\"}}", store.kind), value)],
            );
        }
    }
    metric(
        "kubeplex_cluster_check_ok",
        "gauge",
        "1 when the cluster grants what the gateway needs (kubeplex check --clusters), 0 when not.",
        &cluster_check_samples(cp),
    );
    metric(
        "kubeplex_agent_connected",
        "gauge",
        "1 while the agent cluster's agent holds its reverse tunnel and heartbeat session, 0 when not.",
        &agent_samples(cp),
    );
    metric(
        "kubeplex_cluster_healthy",
        "gauge",
        "1 when the cluster's /readyz answered 200 at the last health check, 0 when not.",
        &cluster_health_samples(cp),
    );
    audit_metrics(audit, &mut metric);
    out
}

/// `{cluster="<name>"}` → 1 when connected, for every configured agent cluster.
fn agent_samples(cp: &ControlPlane) -> Vec<(String, u64)> {
    agent_cluster_names(cp)
        .into_iter()
        .map(|name| {
            let connected = cp.agents.state(&name).connected as u64;
            (format!("{{cluster=\"{}\"}}", label_value(&name)), connected)
        })
        .collect()
}

/// `kubeplex_cluster_healthy` per context.
fn cluster_health_samples(cp: &ControlPlane) -> Vec<(String, u64)> {
    cp.cluster_health()
        .all()
        .into_iter()
        .map(|(context, h)| {
            (
                format!("{{cluster=\"{}\"}}", label_value(&context)),
                h.healthy as u64,
            )
        })
        .collect()
}

/// `kubeplex_audit_*`: what happened to the records Envoy streamed.
fn audit_metrics(audit: &Audit, metric: &mut impl FnMut(&str, &str, &str, &[(String, u64)])) {
    let c = &audit.pipeline.counters;
    let store = audit.store().map_or("none", |s| s.kind());
    let results = [
        ("stored", &c.stored),
        ("duplicate", &c.duplicates),
        ("spilled", &c.spilled),
        ("invalid", &c.invalid),
        ("dropped", &c.dropped),
    ];
    let samples: Vec<(String, u64)> = results
        .iter()
        .map(|(result, n)| {
            (
                format!("{{store=\"{store}\",result=\"{result}\"}}"),
                n.load(Relaxed),
            )
        })
        .collect();
    metric(
        "kubeplex_audit_records_total",
        "counter",
        "Audit records by what became of them: stored, duplicate (already stored), spilled (to the local spill file; stored again once replayed), invalid, dropped (lost: the spill file failed).",
        &samples,
    );
    let one = |v: u64| [(String::new(), v)];
    metric(
        "kubeplex_audit_backlog",
        "gauge",
        "Audit records received and not yet stored (in memory or in the spill file).",
        &one(c.backlog.load(Relaxed).max(0) as u64),
    );
    metric(
        "kubeplex_audit_received_total",
        "counter",
        "Audit records Envoy streamed to this control plane.",
        &one(c.received.load(Relaxed)),
    );
    metric(
        "kubeplex_audit_store_errors_total",
        "counter",
        "Audit store writes that failed (retried).",
        &one(c.store_errors.load(Relaxed)),
    );
    metric(
        "kubeplex_audit_batches_total",
        "counter",
        "Batches written to the audit store.",
        &one(c.batches.load(Relaxed)),
    );
    metric(
        "kubeplex_audit_batch_microseconds_total",
        "counter",
        "Time spent writing those batches.",
        &one(c.batch_micros.load(Relaxed)),
    );
    metric(
        "kubeplex_audit_pruned_total",
        "counter",
        "Audit records deleted by the retention.",
        &one(c.pruned.load(Relaxed)),
    );
}

/// (name, type, help, value) of every metric without labels.
fn unlabelled_metrics(cp: &ControlPlane) -> [(&'static str, &'static str, &'static str, u64); 8] {
    let c = &cp.counters;
    let r = &cp.registry.counters;
    [
        (
            "kubeplex_config_reloads_total",
            "counter",
            "Reloads of the inputs (file changes, revocations).",
            c.reloads.load(Relaxed),
        ),
        (
            "kubeplex_config_rejected_edits_total",
            "counter",
            "Reloads in which an input was rejected; the last good one stayed live.",
            c.rejected_edits.load(Relaxed),
        ),
        (
            "kubeplex_config_snapshots_published_total",
            "counter",
            "New configuration snapshots published to Envoy.",
            c.snapshots_published.load(Relaxed),
        ),
        (
            "kubeplex_xds_responses_sent_total",
            "counter",
            "xDS responses (config pushes) sent.",
            r.responses_sent.load(Relaxed),
        ),
        (
            "kubeplex_xds_acks_total",
            "counter",
            "xDS responses Envoy accepted.",
            r.acks.load(Relaxed),
        ),
        (
            "kubeplex_xds_nacks_total",
            "counter",
            "xDS responses Envoy rejected.",
            r.nacks.load(Relaxed),
        ),
        (
            "kubeplex_xds_streams_opened_total",
            "counter",
            "ADS streams opened by Envoys.",
            r.streams_opened.load(Relaxed),
        ),
        (
            "kubeplex_xds_connected_envoys",
            "gauge",
            "Envoys connected now.",
            cp.registry.nodes().len() as u64,
        ),
    ]
}

/// (name, type, help, value) of the revocation store's metrics.
fn store_metrics(s: &StoreStatus) -> [(&'static str, &'static str, &'static str, u64); 5] {
    [
        (
            "kubeplex_revocation_store_up",
            "gauge",
            "1 while the revocation list is followed (a file; a Kubernetes watch that has listed the object), 0 while the store is unreachable and the last list stays in force.",
            s.up as u64,
        ),
        (
            "kubeplex_revocation_store_watch_errors_total",
            "counter",
            "Failed attempts to list or watch the revocation store.",
            s.watch_errors,
        ),
        (
            "kubeplex_revocation_store_writes_total",
            "counter",
            "Revocations this control plane stored.",
            s.writes,
        ),
        (
            "kubeplex_revocation_store_write_conflicts_total",
            "counter",
            "Revocation writes refused because another writer changed the object first (each retried).",
            s.write_conflicts,
        ),
        (
            "kubeplex_revocation_store_write_errors_total",
            "counter",
            "Revocations that were not stored.",
            s.write_errors,
        ),
    ]
}

/// `kubeplex_input_ok` per input.
fn input_samples(cp: &ControlPlane) -> Vec<(String, u64)> {
    status(cp)
        .inputs
        .iter()
        .map(|i| {
            (
                format!("{{input=\"{}\"}}", i.kind.replace(' ', "_")),
                i.ok as u64,
            )
        })
        .collect()
}

/// `kubeplex_cluster_check_ok` per context and check of the latest preflight.
fn cluster_check_samples(cp: &ControlPlane) -> Vec<(String, u64)> {
    let checks = cp.cluster_checks().latest();
    checks
        .iter()
        .flat_map(|r| r.rows.iter())
        .map(|r| {
            (
                format!(
                    "{{context=\"{}\",check=\"{}\"}}",
                    label_value(&r.context),
                    label_value(&r.check)
                ),
                matches!(
                    r.outcome,
                    crate::preflight::Outcome::Ok | crate::preflight::Outcome::Warning
                ) as u64,
            )
        })
        .collect()
}

/// A Prometheus label value: `\`, `"` and newlines escaped.
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The gRPC code for a revocation that was not persisted: the caller's
/// setup (no store, a broken list), the store being away (retry later), or
/// a race lost too often.
fn revoke_code(e: &StoreError) -> tonic::Code {
    use crate::revocation_store::KubernetesError as K;
    match e {
        StoreError::NotConfigured | StoreError::Read(_) => tonic::Code::FailedPrecondition,
        StoreError::Write { .. } | StoreError::Interrupted(_) => tonic::Code::Internal,
        StoreError::Kubernetes(k) => match k {
            K::Decode(_) => tonic::Code::FailedPrecondition,
            K::Conflicts { .. } => tonic::Code::Aborted,
            K::Timeout { .. } => tonic::Code::DeadlineExceeded,
            K::Api { .. } | K::NoClient(_) | K::NotReady => tonic::Code::Unavailable,
            K::InCluster(_) | K::Kubeconfig { .. } | K::Client(_) => {
                tonic::Code::FailedPrecondition
            }
        },
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn revoke(
        &self,
        request: Request<admin::RevokeRequest>,
    ) -> Result<Response<admin::RevokeResponse>, Status> {
        let req = request.into_inner();
        if req.jti.trim().is_empty() {
            return Err(Status::invalid_argument("jti must not be empty"));
        }
        let reason = (!req.reason.is_empty()).then_some(req.reason);
        let expires = (req.expires_at != 0).then_some(req.expires_at);
        let (added, version) = self
            .cp
            .clone()
            .revoke(&req.jti, reason, expires)
            .await
            .map_err(|e| Status::new(revoke_code(&e), error_chain(&e)))?;
        Ok(Response::new(admin::RevokeResponse { added, version }))
    }

    async fn list_revocations(
        &self,
        _request: Request<admin::ListRevocationsRequest>,
    ) -> Result<Response<admin::ListRevocationsResponse>, Status> {
        let revocations = self
            .cp
            .revocations()
            .into_iter()
            .map(|r| admin::RevokedToken {
                jti: r.jti,
                reason: r.reason.unwrap_or_default(),
                expires_at: r.expires_at.unwrap_or(0),
                revoked_at: r.revoked_at.unwrap_or(0),
            })
            .collect();
        Ok(Response::new(admin::ListRevocationsResponse {
            revocations,
        }))
    }

    async fn get_status(
        &self,
        request: Request<admin::GetStatusRequest>,
    ) -> Result<Response<admin::GatewayStatus>, Status> {
        // Unset (an older client) or unknown (a newer one): every context.
        let view = match request.into_inner().contexts() {
            admin::ContextsView::All => StatusView::All,
            admin::ContextsView::Summary => StatusView::Summary,
        };
        Ok(Response::new(status_in_view(&self.cp, view)))
    }

    async fn query_audit(
        &self,
        request: Request<admin::AuditQuery>,
    ) -> Result<Response<admin::AuditQueryResponse>, Status> {
        let found = self
            .audit_store()?
            .query(&request.into_inner())
            .await
            .map_err(|e| Status::unavailable(error_chain(&e)))?;
        Ok(Response::new(admin::AuditQueryResponse {
            records: found.records,
            last_seq: found.last_seq,
        }))
    }

    async fn audit_sessions(
        &self,
        request: Request<admin::AuditQuery>,
    ) -> Result<Response<admin::AuditSessionsResponse>, Status> {
        let sessions = self
            .audit_store()?
            .sessions(&request.into_inner())
            .await
            .map_err(|e| Status::unavailable(error_chain(&e)))?;
        Ok(Response::new(admin::AuditSessionsResponse { sessions }))
    }
}

/// `/status` in the view the query asks for; 400 for an unknown view.
fn status_answer(cp: &ControlPlane, query: Option<&str>) -> axum::response::Response {
    let json = match StatusView::from_query(query) {
        Ok(StatusView::All) => status_json(cp),
        Ok(StatusView::Summary) => status_summary_json(cp),
        Err(unknown) => return (StatusCode::BAD_REQUEST, format!("{unknown}\n")).into_response(),
    };
    let body = serde_json::to_string_pretty(&json).unwrap_or_default();
    drop(json);
    // The full view lists every context (10,000 contexts: tens of
    // megabytes of small allocations per answer); measured with `kubeplex
    // serve` at 10,000 contexts, 40 answers left 58 MB more resident
    // without this. The summary builds little now; trimmed all the same.
    kubeplex_os::heap::release_free_memory();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The probe port's routes: `/healthz`, `/readyz` and `/metrics`, nothing
/// else (every other path, the admin gRPC service's included, is a 404).
/// `/metrics` is here because Prometheus scrapes over the pod network,
/// which must not reach the admin port; it holds counters, input, issuer,
/// context and check names, and no token, key or credential.
pub fn probe_routes(cp: Arc<ControlPlane>, audit: Arc<Audit>) -> axum::Router {
    let ready_cp = cp.clone();
    axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || async move { readiness_now(&ready_cp) }),
        )
        .route(
            "/metrics",
            get(move || async move { metrics_answer(&cp, &audit) }),
        )
}

/// Serve the probe port until the listener fails.
pub async fn serve_probes(
    cp: Arc<ControlPlane>,
    audit: Arc<Audit>,
    listener: tokio::net::TcpListener,
) -> std::io::Result<()> {
    axum::serve(listener, probe_routes(cp, audit)).await
}

/// `/metrics`: Prometheus text.
fn metrics_answer(cp: &ControlPlane, audit: &Audit) -> axum::response::Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics_text(cp, audit),
    )
        .into_response()
}

/// Serve the admin port until the listener fails; with a token, only to
/// requests that carry it ([`token::require`]).
pub async fn serve(
    cp: Arc<ControlPlane>,
    audit: Arc<Audit>,
    listener: tokio::net::TcpListener,
    token: Option<AdminToken>,
) -> std::io::Result<()> {
    let service = AdminService {
        cp: cp.clone(),
        audit: audit.clone(),
    };
    let grpc = tonic::service::Routes::new(AdminServer::new(service)).into_axum_router();
    let (c1, c2, c3) = (cp.clone(), cp.clone(), cp.clone());
    let app = grpc
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(move || async move { readiness_now(&c3) }))
        .route(
            "/status",
            get(move |query: RawQuery| async move { status_answer(&c1, query.0.as_deref()) }),
        )
        .route(
            "/metrics",
            get(move || async move { metrics_answer(&c2, &audit) }),
        );
    let app = match token {
        Some(token) => app.layer(axum::middleware::from_fn_with_state(
            Arc::new(token),
            token::require,
        )),
        None => app,
    };
    axum::serve(listener, app).await
}

#[cfg(test)]
mod tests;
