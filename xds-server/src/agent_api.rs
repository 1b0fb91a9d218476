//! The agent API, served on the xDS port (the gateway's Envoy forwards
//! `/kubeplex.agent.v1/…` from its agent listener over the bootstrap's
//! xDS cluster, so agents need one address and the control plane no public
//! port). Plain HTTP + JSON; every call carries the agent's pre-shared
//! token (`Authorization: Bearer …`), checked against the SHA-256 in the
//! gateway config's `agents.clusters`.
//!
//! - `POST /kubeplex.agent.v1/certificate` `{"cluster", "csr"}` → `{"certificate", "notAfter"}`
//! - `POST /kubeplex.agent.v1/session` (header `x-kubeplex-agent-cluster`):
//!   a request body that stays open, one JSON heartbeat per line
//!   (`{"version", "tunnel"}`); the agent is connected while it is open
//!   and reports its tunnel up.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use crate::agent_registry::{AgentRegistry, Heartbeat};
use crate::clock::unix_now;
use crate::control_plane::ControlPlane;
use crate::inputs::gateway_config::AgentsConfig;

/// Header naming the cluster of a session.
pub const CLUSTER_HEADER: &str = "x-kubeplex-agent-cluster";
/// A session without a heartbeat for this long is over (the agent beats
/// every second).
pub const SESSION_SILENCE: Duration = Duration::from_secs(10);

/// A certificate request.
#[derive(Debug, serde::Deserialize)]
pub struct CertificateRequest {
    /// The agent cluster.
    pub cluster: String,
    /// PEM certificate signing request.
    pub csr: String,
}

/// An issued certificate.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateResponse {
    /// PEM chain: the agent's certificate, then the CA.
    pub certificate: String,
    /// Unix seconds it expires.
    pub not_after: i64,
}

#[derive(Clone)]
struct ApiState {
    cp: Arc<ControlPlane>,
}

/// The agent API as a tonic service (tonic routes `/kubeplex.agent.v1/*`
/// to it on the xDS port).
#[derive(Clone)]
pub struct AgentApi {
    router: axum::Router,
}

impl AgentApi {
    /// The API over the control plane's state.
    pub fn new(cp: Arc<ControlPlane>) -> AgentApi {
        let router = axum::Router::new()
            .route("/kubeplex.agent.v1/certificate", post(certificate))
            .route("/kubeplex.agent.v1/session", post(session))
            .with_state(ApiState { cp });
        AgentApi { router }
    }
}

impl tonic::server::NamedService for AgentApi {
    const NAME: &'static str = "kubeplex.agent.v1";
}

impl tower::Service<http::Request<tonic::body::Body>> for AgentApi {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        use tower::ServiceExt;
        let router = self.router.clone();
        Box::pin(async move {
            let response = router
                .oneshot(request.map(Body::new))
                .await
                .unwrap_or_else(|never| match never {});
            Ok(response.map(tonic::body::Body::new))
        })
    }
}

/// Who is calling, for logs: the client address Envoy saw.
fn source(headers: &HeaderMap) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown")
        .to_string()
}

fn refuse(code: StatusCode, message: &str) -> Response {
    (code, Json(serde_json::json!({"error": message}))).into_response()
}

/// The agents config and the registry, if the config has agents.
fn agents_config(cp: &ControlPlane) -> Option<Arc<crate::inputs::gateway_config::GatewayConfig>> {
    cp.with_state(|s| s.gateway.last_good.clone())
        .filter(|g| g.agents.is_some())
}

/// Check the bearer token against `cluster`'s digest.
fn authenticate(agents: &AgentsConfig, cluster: &str, headers: &HeaderMap) -> Result<(), String> {
    let Some(entry) = agents.clusters.iter().find(|c| c.name == cluster) else {
        return Err(format!("no agent cluster `{cluster}` is configured"));
    };
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or("no bearer token")?;
    let digest: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
    // Constant time: the comparison must not say how much of it matched.
    let difference = digest
        .iter()
        .zip(entry.token_sha256.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if difference == 0 {
        Ok(())
    } else {
        Err(format!("wrong token for agent cluster `{cluster}`"))
    }
}

async fn certificate(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Json(request): Json<CertificateRequest>,
) -> Response {
    let registry = &state.cp.agents;
    let from = source(&headers);
    let Some(gateway) = agents_config(&state.cp) else {
        return refuse(StatusCode::NOT_FOUND, "this gateway has no agents section");
    };
    let Some(agents) = &gateway.agents else {
        return refuse(StatusCode::NOT_FOUND, "this gateway has no agents section");
    };
    if let Err(reason) = authenticate(agents, &request.cluster, &headers) {
        registry.refused(&request.cluster, &from, &reason);
        return refuse(StatusCode::FORBIDDEN, &reason);
    }
    match crate::agent_ca::issue(agents, &request.cluster, &request.csr, unix_now()) {
        Ok(issued) => {
            registry.certificate_issued(&request.cluster, issued.not_after, &from);
            Json(CertificateResponse {
                certificate: issued.chain_pem,
                not_after: issued.not_after,
            })
            .into_response()
        }
        Err(e) => {
            let reason = crate::error_chain::error_chain(&e);
            registry.refused(&request.cluster, &from, &reason);
            refuse(StatusCode::BAD_REQUEST, &reason)
        }
    }
}

async fn session(State(state): State<ApiState>, headers: HeaderMap, body: Body) -> Response {
    let registry = state.cp.agents.clone();
    let from = source(&headers);
    let cluster = headers
        .get(CLUSTER_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let Some(gateway) = agents_config(&state.cp) else {
        return refuse(StatusCode::NOT_FOUND, "this gateway has no agents section");
    };
    let Some(agents) = &gateway.agents else {
        return refuse(StatusCode::NOT_FOUND, "this gateway has no agents section");
    };
    if let Err(reason) = authenticate(agents, &cluster, &headers) {
        registry.refused(&cluster, &from, &reason);
        return refuse(StatusCode::FORBIDDEN, &reason);
    }
    registry.session_opened(&cluster, &from);
    let ended = read_heartbeats(&registry, &cluster, body).await;
    registry.session_closed(&cluster);
    (StatusCode::OK, ended).into_response()
}

/// Apply each heartbeat line until the body ends, fails, or is silent for
/// [`SESSION_SILENCE`]; why it ended.
async fn read_heartbeats(registry: &AgentRegistry, cluster: &str, mut body: Body) -> String {
    let mut pending = Vec::new();
    loop {
        let frame = match tokio::time::timeout(SESSION_SILENCE, body.frame()).await {
            Err(_) => return "no heartbeat for 10 s".into(),
            Ok(None) => return "the agent ended the session".into(),
            Ok(Some(Err(e))) => return format!("the session broke: {e}"),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if let Ok(beat) = serde_json::from_slice::<Heartbeat>(&line) {
                registry.heartbeat(cluster, &beat);
            }
        }
        if pending.len() > 64 * 1024 {
            return "a heartbeat line over 64 KiB".into();
        }
    }
}
