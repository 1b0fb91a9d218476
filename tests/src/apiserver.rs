//! A Kubernetes API test server: in-process, TLS on 127.0.0.1, shaped like
//! a real kube-apiserver where it matters to `kubectl` and to a gateway
//! (authentication, impersonation, authorization, discovery, OpenAPI,
//! objects, watches, tables, reviews, `Status` errors), and recording every
//! request that reached it.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use kubeplex_tests::apiserver::{ApiServer, ApiServerConfig};
//! use kubeplex_tests::pki::Ca;
//! let ca = Ca::new("cluster-ca");
//! let server = ApiServer::start(ApiServerConfig::with_ca("dev", &ca)).await?;
//! let admin = ca.client_cert("admin", &["system:masters"]);
//! println!("{} {admin:?}", server.url());
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::pki::{Ca, CertKey};

mod authn;
mod authz;
mod defaults;
mod discovery;
mod field_validation;
mod http_io;
mod identity;
mod ids;
mod impersonation;
mod max_in_flight;
mod objects;
mod openapi;
mod patch;
mod protobuf;
mod query;
pub mod rbac;
mod record;
mod request_info;
mod resources;
mod reviews;
mod selectors;
pub(crate) mod service_accounts;
mod status;
mod store;
mod streaming;
mod subresources;
mod table;
mod timestamps;
pub(crate) mod tls;
mod watch;
mod well_known;

pub use authn::{ClientCertSubject, StaticToken};
pub use authz::{Attributes, Authorizer, AuthzRule, Decision};
pub use identity::UserInfo;
pub use max_in_flight::{InFlightLimits, InFlightSlots, Pool};
pub use rbac::{Rbac, RbacError};
pub use record::RecordedRequest;
pub use service_accounts::{
    IssuerDiscoveryAccess, IssuerError, ServiceAccountOptions, SigningAlgorithm,
};
pub use status::ApiError;
pub use store::{EventType, Store, StoreError};
pub use streaming::{FsError, SEEDED_LOG_LINES, StreamingError};

/// Request bodies above this are refused (the apiserver's limit is 3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;
/// A TLS handshake that takes longer than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How to run a test cluster.
#[derive(Debug, Clone)]
pub struct ApiServerConfig {
    /// Cluster name: in `/version`'s `gitVersion` build metadata and logs.
    pub name: String,
    /// Serving certificate (must cover `127.0.0.1` and `localhost`).
    pub serving: CertKey,
    /// Client-certificate authentication: user = CN, groups = O.
    pub client_ca_pem: Option<String>,
    /// Bearer-token authentication.
    pub tokens: Vec<StaticToken>,
    /// Authorization (default: allow all). Impersonation is authorized by
    /// it too, field by field, as kube-apiserver 1.36 does.
    pub authorizer: Authorizer,
    /// Listen address (default `127.0.0.1:0`).
    pub bind: SocketAddr,
    /// How often watches with `allowWatchBookmarks` get a bookmark.
    pub bookmark_interval: Duration,
    /// How often `logs -f` streams get a heartbeat line (default 1 s).
    pub log_interval: Duration,
    /// The ServiceAccount issuer (`iss` of its tokens and discovery
    /// document); default the server's own URL, known once bound.
    pub service_account_issuer: Option<String>,
    /// Signing keys, audiences and discovery access of the issuer.
    pub service_accounts: ServiceAccountOptions,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` per HTTP/2 connection (default
    /// 100, what kube-apiserver v1.36 advertises: its
    /// `--http2-max-streams-per-connection`). A stream over the limit is
    /// refused with `RST_STREAM(REFUSED_STREAM)` as Go's HTTP/2 server does
    /// before the client acknowledged the settings (golang.org/x/net/http2
    /// server.go, processHeaders: "curClientStreams+1 > advMaxStreams").
    pub max_streams_per_connection: u32,
    /// The max-in-flight limits (default kube-apiserver's 400 read-only,
    /// 200 mutating): over them a request gets upstream's 429 with
    /// `Retry-After: 1` (see [`ApiServer::occupy_in_flight`]).
    pub max_requests_inflight: InFlightLimits,
    /// Each user sees one more API group in discovery, named after them
    /// (`<user>.users.discovery.test/v1`, no resources), as behind an
    /// aggregated API server that serves per-tenant groups: a cluster whose
    /// discovery answer depends on who asks (default off).
    pub discovery_per_user: bool,
}

impl ApiServerConfig {
    /// A cluster serving `serving`, with no client CA and no tokens (set
    /// `client_ca_pem` or `tokens` to let anyone in), allow-all
    /// authorization (so any authenticated user may impersonate), bound to
    /// `127.0.0.1:0`.
    pub fn new(name: &str, serving: CertKey) -> ApiServerConfig {
        ApiServerConfig {
            name: name.to_string(),
            serving,
            client_ca_pem: None,
            tokens: Vec::new(),
            authorizer: Authorizer::AllowAll,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            bookmark_interval: Duration::from_secs(5),
            log_interval: Duration::from_secs(1),
            service_account_issuer: None,
            max_streams_per_connection: 100,
            max_requests_inflight: InFlightLimits::default(),
            service_accounts: ServiceAccountOptions::default(),
            discovery_per_user: false,
        }
    }

    /// A cluster whose serving certificate (for `127.0.0.1`, `localhost`,
    /// `::1`) and client CA are both `ca`.
    pub fn with_ca(name: &str, ca: &Ca) -> ApiServerConfig {
        ApiServerConfig {
            client_ca_pem: Some(ca.cert_pem().to_string()),
            ..ApiServerConfig::new(name, ca.server_cert(&["127.0.0.1", "localhost", "::1"]))
        }
    }
}

/// State shared by every connection of one server.
pub(crate) struct Shared {
    name: String,
    addr: SocketAddr,
    store: Store,
    recorder: record::Recorder,
    tokens: Vec<StaticToken>,
    authorizer: Authorizer,
    impersonation_modes: impersonation::ModeIndexCache,
    watches: Arc<watch::WatchCounter>,
    bookmark_interval: Duration,
    shutdown: tokio::sync::watch::Receiver<bool>,
    streaming: Arc<streaming::Streaming>,
    service_accounts: service_accounts::Issuer,
    max_streams_per_connection: u32,
    in_flight: max_in_flight::MaxInFlight,
    discovery_per_user: bool,
}

/// A running test cluster. Stops on [`ApiServer::shutdown`] or drop.
pub struct ApiServer {
    shared: Arc<Shared>,
    shutdown: tokio::sync::watch::Sender<bool>,
    accept: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("name", &self.shared.name)
            .field("addr", &self.shared.addr)
            .finish()
    }
}

impl ApiServer {
    /// Binds, then serves on the current tokio runtime; returns once
    /// listening.
    pub async fn start(config: ApiServerConfig) -> std::io::Result<ApiServer> {
        let tls = tls::server_config(&config.serving, config.client_ca_pem.as_deref())?;
        let acceptor = TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let service_accounts = service_accounts::Issuer::new(
            config.service_account_issuer,
            &format!("https://{addr}"),
            config.service_accounts,
        )
        .map_err(std::io::Error::other)?;
        let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
        let shared = Arc::new(Shared {
            name: config.name,
            addr,
            store: Store::new(),
            recorder: record::Recorder::default(),
            tokens: config.tokens,
            authorizer: config
                .authorizer
                .compiled(well_known::access_bindings(service_accounts.access())),
            impersonation_modes: impersonation::ModeIndexCache::default(),
            watches: Arc::new(watch::WatchCounter::default()),
            bookmark_interval: config.bookmark_interval,
            shutdown: shutdown_rx.clone(),
            streaming: Arc::new(streaming::Streaming::new(
                config.log_interval,
                shutdown_rx.clone(),
            )),
            service_accounts,
            max_streams_per_connection: config.max_streams_per_connection,
            in_flight: max_in_flight::MaxInFlight::new(config.max_requests_inflight),
            discovery_per_user: config.discovery_per_user,
        });
        tracing::info!(cluster = %shared.name, %addr, "test apiserver listening");
        let accept = tokio::spawn(accept_loop(listener, acceptor, shared.clone(), shutdown_rx));
        Ok(ApiServer {
            shared,
            shutdown: shutdown_tx,
            accept: Some(accept),
        })
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.shared.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The cluster name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Every request that reached the server, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.recorder.all()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.recorder.clear()
    }

    /// The first recorded request matching `pred`, waiting up to `timeout`
    /// for one to arrive.
    pub async fn wait_for_request(
        &self,
        pred: impl Fn(&RecordedRequest) -> bool,
        timeout: Duration,
    ) -> Option<RecordedRequest> {
        self.shared.recorder.wait_for(pred, timeout).await
    }

    /// The object store: seed or inspect objects directly (writes generate
    /// watch events).
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Watches open now (each ends on timeout, client disconnect or
    /// shutdown).
    pub fn active_watches(&self) -> usize {
        self.shared.watches.get()
    }

    /// Take `n` slots of a max-in-flight pool as if `n` requests were
    /// being served, until the returned slots drop: the next request
    /// counted in that pool gets a 429 (None if fewer than `n` are free or
    /// the pool has no limit).
    pub fn occupy_in_flight(&self, pool: Pool, n: u32) -> Option<InFlightSlots> {
        self.shared.in_flight.occupy(pool, n)
    }

    /// Stops accepting, closes every connection and ends every watch.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.accept.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.accept.take() {
            task.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    // Dropping the set (on abort or shutdown) aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _peer)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                connections.spawn(serve_connection(tcp, acceptor.clone(), shared.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
}

async fn serve_connection(tcp: tokio::net::TcpStream, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(cluster = %shared.name, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => return,
    };
    let cert = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|der| ClientCertSubject::from_der(der));
    let cert = Arc::new(cert);
    let service_shared = shared.clone();
    let service = hyper::service::service_fn(move |req| {
        let shared = service_shared.clone();
        let cert = cert.clone();
        async move { Ok::<_, std::convert::Infallible>(serve(shared, cert, req).await) }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .max_concurrent_streams(shared.max_streams_per_connection);
    if let Err(e) = builder
        .serve_connection_with_upgrades(TokioIo::new(tls), service)
        .await
    {
        tracing::debug!(cluster = %shared.name, error = %e, "connection ended");
    }
}

async fn serve(
    shared: Arc<Shared>,
    cert: Arc<Option<ClientCertSubject>>,
    req: Request<Incoming>,
) -> Response<http_io::Body> {
    let mut record = RecordedRequest {
        method: req.method().as_str().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().unwrap_or("").to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        http_version: match req.version() {
            hyper::Version::HTTP_2 => "HTTP/2.0",
            hyper::Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        }
        .to_string(),
        host: req
            .uri()
            .authority()
            .map(|a| a.as_str().to_string())
            .or_else(|| {
                let host = req.headers().get(hyper::header::HOST)?;
                Some(String::from_utf8_lossy(host.as_bytes()).into_owned())
            }),
        client_cert_subject: cert.as_ref().as_ref().map(|c| c.common_name.clone()),
        authenticated_user: None,
        effective_user: None,
        status: 0,
    };
    let mut resp = match pipeline(&shared, cert.as_ref().as_ref(), req, &mut record).await {
        Ok(resp) => resp,
        Err(e) => http_io::error(&e),
    };
    let headers = resp.headers_mut();
    if let Ok(v) = hyper::header::HeaderValue::from_str(&ids::uid()) {
        headers.insert("audit-id", v);
    }
    headers
        .entry("cache-control")
        .or_insert(hyper::header::HeaderValue::from_static("no-cache, private"));
    record.status = resp.status().as_u16();
    // Log method, path and status only: never headers (tokens).
    tracing::debug!(
        cluster = %shared.name,
        method = %record.method,
        path = %record.path,
        status = record.status,
        user = record.effective_user.as_ref().map(|u| u.username.as_str()).unwrap_or(""),
        "request"
    );
    shared.recorder.push(record);
    resp
}

async fn pipeline(
    shared: &Arc<Shared>,
    cert: Option<&ClientCertSubject>,
    req: Request<Incoming>,
    record: &mut RecordedRequest,
) -> Result<Response<http_io::Body>, ApiError> {
    let path = req.uri().path().to_string();
    if matches!(path.as_str(), "/healthz" | "/livez" | "/readyz") {
        // Like the default `system:public-info-viewer` role: open to all.
        return Ok(http_io::text(200, "ok"));
    }
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let query = query::Query::parse(req.uri().query().unwrap_or(""));
    let info = request_info(&req, &path, &query);
    let authenticated =
        match authn::authenticate(cert, authorization, &shared.tokens).or_else(|| {
            shared
                .service_accounts
                .authenticate(authorization, &shared.store)
        }) {
            Some(user) => user,
            None if cert.is_none()
                && authorization.is_none()
                && well_known::serves_anonymously(
                    &shared.service_accounts,
                    req.method().as_str(),
                    &path,
                ) =>
            {
                // Anonymous authentication, enabled for these two paths
                // only (AuthenticationConfiguration `anonymous.conditions`).
                let anonymous = UserInfo {
                    username: "system:anonymous".into(),
                    groups: vec!["system:unauthenticated".into()],
                    ..UserInfo::default()
                };
                record.authenticated_user = Some(anonymous.username.clone());
                authorize(shared, &anonymous, &info)?;
                return well_known::handle(&shared.service_accounts, &path);
            }
            None => return Err(ApiError::unauthorized()),
        };
    record.authenticated_user = Some(authenticated.username.clone());
    let user = impersonated(shared, &authenticated, &info, &record.headers)?;
    record.effective_user = Some(user.clone());
    // Held until this function returns the response.
    let _in_flight = match shared.in_flight.admit(&info, &user) {
        Ok(slots) => slots,
        Err(too_many) => return Ok(too_many.response()),
    };
    authorize(shared, &user, &info)?;
    if !info.is_resource {
        return non_resource(shared, &req, &path, &query, &user);
    }
    let rt = resources::find(&info.api_group, &info.api_version, &info.resource)
        .ok_or_else(ApiError::path_not_found)?;
    if resources::CONNECT_SUBRESOURCES.contains(&info.subresource.as_str()) {
        if rt.subresource(&info.subresource).is_none() {
            return Err(ApiError::path_not_found());
        }
        return subresources::handle(subresources::ConnectRequest {
            request: req,
            info: &info,
            resource: rt,
            user: &user,
            store: &shared.store,
            streaming: &shared.streaming,
        })
        .await;
    }
    let (parts, body) = req.into_parts();
    let body = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::new(
                    413,
                    "RequestEntityTooLarge",
                    format!("Request entity too large: limit is {MAX_BODY}"),
                )
            } else {
                ApiError::bad_request(format!("reading request body: {e}"))
            }
        })?
        .to_bytes();
    if service_accounts::token_request::is_token_request(&info) {
        return service_accounts::token_request::handle(shared, &info, &parts.headers, &body);
    }
    objects::handle(objects::ObjectRequest {
        shared,
        info: &info,
        rt,
        query: &query,
        headers: &parts.headers,
        body,
        user: &user,
    })
    .await
}

/// What the request asks for. A WebSocket exec/attach/port-forward
/// arrives as GET; the apiserver authorizes it as `create`
/// (AuthorizePodWebsocketUpgradeCreatePermission), and so does this server,
/// for impersonation's `impersonate-on:<mode>:<verb>` check too.
fn request_info(
    req: &Request<Incoming>,
    path: &str,
    query: &query::Query,
) -> request_info::RequestInfo {
    let mut info = request_info::RequestInfo::parse(req.method().as_str(), path, query);
    let websocket = req
        .headers()
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if websocket
        && info.verb == "get"
        && info.resource == "pods"
        && matches!(info.subresource.as_str(), "exec" | "attach" | "portforward")
    {
        info.verb = "create".into();
    }
    info
}

/// The authorizer's attributes for `info` as `user`.
fn attributes<'a>(
    user: &'a UserInfo,
    info: &'a request_info::RequestInfo,
) -> authz::Attributes<'a> {
    authz::Attributes {
        user,
        verb: &info.verb,
        is_resource: info.is_resource,
        api_group: &info.api_group,
        resource: &info.resource,
        subresource: &info.subresource,
        namespace: &info.namespace,
        name: &info.name,
        path: &info.path,
    }
}

/// The identity the request acts as: `authenticated`, or whom its
/// `Impersonate-*` headers name if every mode check allows it (400 for a
/// group, uid or extra without a user, 403 with the first mode's error).
fn impersonated(
    shared: &Shared,
    authenticated: &UserInfo,
    info: &request_info::RequestInfo,
    headers: &[(String, String)],
) -> Result<UserInfo, ApiError> {
    match impersonation::ImpersonationRequest::from_headers(headers) {
        Err(e) => Err(ApiError::bad_request(e.to_string())),
        Ok(None) => Ok(authenticated.clone()),
        Ok(Some(wanted)) => impersonation::impersonate(
            &shared.authorizer,
            &shared.impersonation_modes,
            &attributes(authenticated, info),
            &wanted,
        ),
    }
}

/// `WithAuthorization`: allowed, or the 403 with the authorizer's reason.
fn authorize(
    shared: &Shared,
    user: &UserInfo,
    info: &request_info::RequestInfo,
) -> Result<(), ApiError> {
    let attrs = attributes(user, info);
    match shared.authorizer.decide(&attrs) {
        authz::Decision::Allow(_) => Ok(()),
        authz::Decision::Deny(reason) => Err(authz::forbidden(&attrs, &reason)),
    }
}

fn non_resource(
    shared: &Arc<Shared>,
    req: &Request<Incoming>,
    path: &str,
    query: &query::Query,
    user: &UserInfo,
) -> Result<Response<http_io::Body>, ApiError> {
    if req.method() != hyper::Method::GET && req.method() != hyper::Method::HEAD {
        return Err(ApiError::path_not_found());
    }
    let path = path.trim_end_matches('/');
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let user_group = shared
        .discovery_per_user
        .then(|| discovery::user_group(&user.username));
    if let Some(group) = &user_group
        && let Some(body) = discovery::user_group_document(group, &parts)
    {
        return Ok(http_io::json(200, &body));
    }
    let body = match parts.as_slice() {
        ["version"] => discovery::version(&shared.name),
        ["api"] => discovery::api_versions(&shared.addr.to_string()),
        ["api", version] => {
            discovery::api_resource_list("", version).ok_or_else(ApiError::path_not_found)?
        }
        ["apis"] => discovery::api_group_list(user_group.as_deref()),
        ["apis", group] => discovery::api_group(group).ok_or_else(ApiError::path_not_found)?,
        ["apis", group, version] => {
            discovery::api_resource_list(group, version).ok_or_else(ApiError::path_not_found)?
        }
        ["openapi", "v2"] => {
            let accept = req
                .headers()
                .get("accept")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !accept.is_empty() && !accept.contains("json") && !accept.contains("*/*") {
                return Err(ApiError::new(
                    406,
                    "NotAcceptable",
                    "only application/json is served for /openapi/v2 by this test server",
                ));
            }
            openapi::v2_document().clone()
        }
        ["openapi", "v3"] => return Ok(openapi_v3(req, &openapi::v3_index(), None)),
        ["openapi", "v3", rest @ ..] => {
            let key = rest.join("/");
            let (doc, hash) = openapi::v3_document(&key).ok_or_else(ApiError::path_not_found)?;
            return Ok(openapi_v3(req, doc, Some((&key, hash, query.get("hash")))));
        }
        _ if well_known::owns(path) => {
            return well_known::handle(&shared.service_accounts, path);
        }
        _ => return Err(ApiError::path_not_found()),
    };
    Ok(http_io::json(200, &body))
}

/// An OpenAPI v3 document as kube-openapi's handler3 serves it
/// (k8s.io/kube-openapi pkg/handler3/handler.go, `HandleDiscovery` and
/// `HandleGroupVersion`): always an `Etag` (the document's hash), and
/// `http.ServeContent` answers a matching `If-None-Match` with 304; a
/// group-version document also says `Vary: Accept`. Asked for by its
/// current `?hash=`, it is `Cache-Control: public, immutable` with an
/// `Expires` a year ahead; an outdated hash is a 301 to the current one.
/// Otherwise the handler chain's `Cache-Control: no-cache, private`
/// (`WithCacheControl`) stays.
fn openapi_v3(
    req: &Request<Incoming>,
    doc: &serde_json::Value,
    group_version: Option<(&str, &str, Option<&str>)>,
) -> Response<http_io::Body> {
    use hyper::header::HeaderValue;
    let etag = match group_version {
        Some((_, hash, _)) => format!("\"{hash}\""),
        None => format!("\"{}\"", openapi::document_hash(doc)),
    };
    let not_modified = req
        .headers()
        .get("if-none-match")
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut resp = if not_modified {
        Response::builder()
            .status(304)
            .body(http_io::full(Vec::new()))
            .expect("valid response")
    } else {
        http_io::json(200, doc)
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert("etag", v);
    }
    if let Some((key, hash, asked)) = group_version {
        h.insert("vary", HeaderValue::from_static("Accept"));
        match asked {
            Some(asked) if asked == hash => {
                h.insert(
                    "cache-control",
                    HeaderValue::from_static("public, immutable"),
                );
                if let Ok(v) = HeaderValue::from_str(&timestamps::http_date_in_a_year()) {
                    h.insert("expires", v);
                }
            }
            Some(_) => {
                let mut redirect = Response::builder()
                    .status(301)
                    .body(http_io::full(Vec::new()))
                    .expect("valid response");
                if let Ok(v) = HeaderValue::from_str(&format!("/openapi/v3/{key}?hash={hash}")) {
                    redirect.headers_mut().insert("location", v);
                }
                return redirect;
            }
            None => {}
        }
    }
    resp
}

#[cfg(test)]
mod tests;
