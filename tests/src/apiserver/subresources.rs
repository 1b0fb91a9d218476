//! Subresources whose handlers stream or take over the connection: pods'
//! `log` (streaming with `follow=true`), `exec`, `attach` and
//! `portforward` (HTTP/1.1 upgrades to WebSocket or SPDY/3.1), and
//! `proxy` (not served).
//!
//! A handler receives the *unread* hyper request, so an upgrade can take
//! the connection (`hyper::upgrade::on`; the server runs connections with
//! upgrades enabled). The request was authenticated and authorized before
//! (a WebSocket GET counts as `create`), and recorded when it answers.
//! After a `101`, the session runs on its own task, counted in
//! [`super::ApiServer::active_streams`], until the client goes away or the
//! server shuts down.

use std::sync::Arc;

use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::identity::UserInfo;
use super::query::Query;
use super::request_info::RequestInfo;
use super::resources::ResourceType;
use super::status::ApiError;
use super::store::Store;
use super::streaming::negotiate::{self, Upgrade};
use super::streaming::process::Program;
use super::streaming::remote_command::{self, Session};
use super::streaming::{Streaming, channels, logs, pod_target, port_forward};

/// What a connect-style subresource handler gets.
pub struct ConnectRequest<'a> {
    /// The raw request, body unread.
    pub request: Request<Incoming>,
    /// Parsed verb, resource, namespace, name, subresource.
    pub info: &'a RequestInfo,
    /// The parent resource (`pods`).
    pub resource: &'static ResourceType,
    /// The effective (impersonated) user.
    #[allow(dead_code)]
    pub user: &'a UserInfo,
    /// The object store (the pod must exist).
    pub store: &'a Store,
    /// Streaming state (logs, filesystems, sessions).
    pub streaming: &'a Arc<Streaming>,
}

/// The outcome: a complete response, or an API error.
pub type ConnectResult = Result<hyper::Response<super::http_io::Body>, ApiError>;

/// Dispatches a connect-style subresource.
pub async fn handle(req: ConnectRequest<'_>) -> ConnectResult {
    let info = req.info;
    let pod = req
        .store
        .get_in(req.resource, &info.namespace, &info.name)
        .ok_or_else(|| ApiError::not_found(req.resource, &info.name))?;
    let query = Query::parse(req.request.uri().query().unwrap_or(""));
    match info.subresource.as_str() {
        "log" => {
            if req.request.method() != hyper::Method::GET {
                return Err(ApiError::method_not_allowed());
            }
            logs::respond(req.streaming, &pod, &query)
        }
        "exec" | "attach" => remote_command(req, pod, &query),
        "portforward" => port_forward(req, pod),
        _ => Err(ApiError::new(
            501,
            "NotImplemented",
            format!(
                "{} \"{}\" {}: not implemented by this test server",
                req.resource.qualified(),
                info.name,
                info.subresource
            ),
        )),
    }
}

fn upgrade_required() -> ApiError {
    ApiError::bad_request("Upgrade request required")
}

fn remote_command(req: ConnectRequest<'_>, pod: Value, query: &Query) -> ConnectResult {
    let ConnectRequest {
        mut request,
        info,
        streaming,
        ..
    } = req;
    let upgrade = negotiate::detect(request.headers())?.ok_or_else(upgrade_required)?;
    let program = if info.subresource == "exec" {
        let command: Vec<String> = query.all("command").into_iter().map(String::from).collect();
        if command.is_empty() {
            return Err(ApiError::bad_request("you must specify at least 1 command"));
        }
        Program::Exec(command)
    } else {
        Program::Attach
    };
    let (stdin, stdout, tty) = (query.flag("stdin"), query.flag("stdout"), query.flag("tty"));
    // A TTY has no separate stderr: the kubelet drops it, not an error.
    let stderr = query.flag("stderr") && !tty;
    if !stdin && !stdout && !stderr {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    let container = pod_target::resolve_container(&pod, query.get("container"))?;
    if pod_target::waiting_reason(&pod, &container).is_some() {
        return Err(ApiError::bad_request(format!(
            "container not found (\"{container}\")"
        )));
    }
    let session = Session {
        program,
        ctx: pod_target::context(streaming, &pod, &container),
        stdin,
        stdout,
        stderr,
        tty,
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    let shutdown = streaming.shutdown();
    match upgrade {
        Upgrade::WebSocket { key, protocols } => {
            let chosen = if protocols.is_empty() {
                None
            } else {
                Some(
                    negotiate::choose(&protocols, &channels::names()).ok_or_else(|| {
                        negotiate::websocket_refusal(&protocols, &channels::names())
                    })?,
                )
            };
            let protocol = channels::by_name(chosen).expect("negotiated protocol is known");
            let guard = streaming.active().enter();
            tokio::spawn(async move {
                let _guard = guard;
                let Ok(upgraded) = on_upgrade.await else {
                    return;
                };
                let ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                remote_command::serve_websocket(ws, protocol, session, shutdown).await;
            });
            Ok(negotiate::websocket_response(&key, chosen))
        }
        Upgrade::Spdy { protocols } => {
            let names: Vec<&str> = remote_command::SPDY_PROTOCOLS
                .iter()
                .map(|(n, _)| *n)
                .collect();
            let Some(chosen) = negotiate::choose(&protocols, &names) else {
                return Ok(negotiate::spdy_refusal(&protocols, &names));
            };
            let version = remote_command::SPDY_PROTOCOLS
                .iter()
                .find(|(n, _)| *n == chosen)
                .map(|(_, v)| *v)
                .expect("chosen from the list");
            let guard = streaming.active().enter();
            tokio::spawn(async move {
                let _guard = guard;
                let Ok(upgraded) = on_upgrade.await else {
                    return;
                };
                remote_command::serve_spdy(TokioIo::new(upgraded), version, session, shutdown)
                    .await;
            });
            Ok(negotiate::spdy_response(chosen))
        }
    }
}

fn port_forward(req: ConnectRequest<'_>, pod: Value) -> ConnectResult {
    let ConnectRequest {
        mut request,
        streaming,
        ..
    } = req;
    let upgrade = negotiate::detect(request.headers())?.ok_or_else(upgrade_required)?;
    let name = pod["metadata"]["name"].as_str().unwrap_or("").to_string();
    let on_upgrade = hyper::upgrade::on(&mut request);
    let shutdown = streaming.shutdown();
    match upgrade {
        Upgrade::WebSocket { key, protocols } => {
            let supported = [port_forward::TUNNEL_PROTOCOL];
            let chosen = negotiate::choose(&protocols, &supported)
                .ok_or_else(|| negotiate::websocket_refusal(&protocols, &supported))?;
            let guard = streaming.active().enter();
            tokio::spawn(async move {
                let _guard = guard;
                let Ok(upgraded) = on_upgrade.await else {
                    return;
                };
                let ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                let bytes = super::streaming::tunnel::bytes_of(ws);
                port_forward::serve(bytes, name, shutdown).await;
            });
            Ok(negotiate::websocket_response(&key, Some(chosen)))
        }
        Upgrade::Spdy { protocols } => {
            let supported = [port_forward::PROTOCOL];
            let Some(chosen) = negotiate::choose(&protocols, &supported) else {
                return Ok(negotiate::spdy_refusal(&protocols, &supported));
            };
            let guard = streaming.active().enter();
            tokio::spawn(async move {
                let _guard = guard;
                let Ok(upgraded) = on_upgrade.await else {
                    return;
                };
                port_forward::serve(TokioIo::new(upgraded), name, shutdown).await;
            });
            Ok(negotiate::spdy_response(chosen))
        }
    }
}
