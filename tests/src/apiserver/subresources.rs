//! Subresources whose handlers stream or take over the connection: pods'
//! `log` (streaming, `follow=true`), `exec`, `attach`, `portforward` (HTTP/1.1
//! upgrades to SPDY/3.1 or WebSocket) and `proxy`.
//!
//! This is the seam for phase 2. A handler receives the *unread* hyper
//! request (so it can call `hyper::upgrade::on(&mut req)`; the server runs
//! connections with upgrades enabled), the parsed request, the effective
//! user and the store. Until then every one answers 501 with a `Status`.

use hyper::Request;
use hyper::body::Incoming;

use super::identity::UserInfo;
use super::request_info::RequestInfo;
use super::resources::ResourceType;
use super::status::ApiError;
use super::store::Store;

/// What a connect-style subresource handler gets.
// `request` and `user` are for the phase-2 handlers (upgrades, logs).
#[allow(dead_code)]
pub struct ConnectRequest<'a> {
    /// The raw request, body unread.
    pub request: Request<Incoming>,
    /// Parsed verb, resource, namespace, name, subresource.
    pub info: &'a RequestInfo,
    /// The parent resource (`pods`).
    pub resource: &'static ResourceType,
    /// The effective (impersonated) user.
    pub user: &'a UserInfo,
    /// The object store (the pod must exist).
    pub store: &'a Store,
}

/// The outcome: a complete response, or an API error.
pub type ConnectResult = Result<hyper::Response<super::http_io::Body>, ApiError>;

/// Dispatches a connect-style subresource.
pub async fn handle(req: ConnectRequest<'_>) -> ConnectResult {
    let info = req.info;
    if req
        .store
        .get_in(req.resource, &info.namespace, &info.name)
        .is_none()
    {
        return Err(ApiError::not_found(req.resource, &info.name));
    }
    Err(ApiError::new(
        501,
        "NotImplemented",
        format!(
            "{} \"{}\" {}: not implemented by this test server yet",
            req.resource.qualified(),
            info.name,
            info.subresource
        ),
    ))
}
