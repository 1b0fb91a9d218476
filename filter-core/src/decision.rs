//! The whole pipeline for one request, in [`decide`]: authenticate (no
//! credential in the URL, the bearer token verified, cache first), admit
//! (not revoked, no client impersonation or reserved header), select the
//! cluster, read the request as the cluster will (path encoding,
//! RequestInfo), authorize (the gateway policy), then the header mutations
//! to forward, or the Status to answer, and the audit record. Each step
//! returns `Result<_, Denial>`; the first refusal ends the pipeline. Pure:
//! the wasm glue (`kubeplex-filter`) only reads headers and applies the
//! result.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

use crate::audit::{AuditRecord, Decision as AuditDecision};
use crate::clusters_api;
use crate::config::Config;
use crate::deadline;
use crate::discovery_cache;
use crate::key_refresh::KeyRefresh;
use crate::path_encoding;
use crate::policy::Verdict;
pub use crate::prepared::escape_extra_key;
use crate::query_credentials;
use crate::reason::DenyReason;
use crate::request_info::{self, RequestInfo};
use crate::route::{self, RouteError};
use crate::signature::SignatureVerifier;
use crate::status::{Details, Reason, Status};
use crate::token::{self, TokenError, VerifiedToken};
use crate::token_cache::TokenCache;
use kubeplex_proto::routing::{self, ClusterKind};

/// The parts of a request the decision reads. Header values are bytes
/// (HTTP allows obs-text); the few read here are text, converted lossily
/// when a client sent something that is not UTF-8 (borrowed otherwise).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestView<'a> {
    /// `:method`.
    pub method: Cow<'a, str>,
    /// `:path`, with query.
    pub path: Cow<'a, str>,
    /// `authorization`.
    pub authorization: Option<Cow<'a, str>>,
    /// `x-request-id`.
    pub request_id: Option<Cow<'a, str>>,
    /// `user-agent`.
    pub user_agent: Option<Cow<'a, str>>,
    /// `kubectl-command` (kubectl 1.24+: `kubectl exec`).
    pub kubectl_command: Option<Cow<'a, str>>,
    /// `kubectl-session` (kubectl 1.24+: one UUID per kubectl run).
    pub kubectl_session: Option<Cow<'a, str>>,
    /// The first client-sent `impersonate-*` header name, if any.
    pub impersonation_header: Option<&'a str>,
    /// The first client-sent header in a namespace the gateway or Envoy
    /// owns (`x-kubeplex-*`, `x-envoy-*`), if any.
    pub reserved_header: Option<&'a str>,
    /// The connection's TLS server name (SNI), when the glue read it (only
    /// needed for paths without the cluster prefix).
    pub server_name: Option<Cow<'a, str>>,
    /// The request asks for a protocol upgrade (WebSocket, SPDY).
    pub upgrade: bool,
    /// The client sent a `grpc-timeout` (replaced by the deadline; its
    /// presence keeps the deadline: `deadline::might_stream`).
    pub client_grpc_timeout: bool,
    /// The request ended with its headers (no body follows: Envoy's
    /// `end_of_stream`). Set by the glue; false, the default, keeps the
    /// token-expiry deadline.
    pub headers_end_request: bool,
}

impl<'a> RequestView<'a> {
    /// Pick the fields out of Envoy's header list (names are lower-case;
    /// values text or bytes).
    pub fn from_headers<K: AsRef<str>, V: AsRef<[u8]>>(headers: &'a [(K, V)]) -> Self {
        let mut view = RequestView::default();
        for (name, value) in headers {
            let name = name.as_ref();
            // from_utf8 first: much faster than the lossy scan on a ~1 KB
            // token, and what nearly every request is
            let text = || match std::str::from_utf8(value.as_ref()) {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => String::from_utf8_lossy(value.as_ref()),
            };
            match name {
                ":method" => view.method = text(),
                ":path" => view.path = text(),
                "authorization" => view.authorization = Some(text()),
                "x-request-id" => view.request_id = Some(text()),
                "user-agent" => view.user_agent = Some(text()),
                "kubectl-command" => view.kubectl_command = Some(text()),
                "kubectl-session" => view.kubectl_session = Some(text()),
                "upgrade" => view.upgrade = true,
                "grpc-timeout" => view.client_grpc_timeout = true,
                n if n.starts_with("impersonate-") && view.impersonation_header.is_none() => {
                    view.impersonation_header = Some(n)
                }
                n if is_reserved_header(n) && view.reserved_header.is_none() => {
                    view.reserved_header = Some(n)
                }
                _ => {}
            }
        }
        view
    }

    /// What decides whether the request needs the token-expiry deadline.
    pub fn shape(&self) -> deadline::Shape<'_> {
        deadline::Shape {
            method: &self.method,
            path: &self.path,
            upgrade: self.upgrade,
            client_grpc_timeout: self.client_grpc_timeout,
            headers_end_request: self.headers_end_request,
        }
    }
}

/// Headers only the gateway and Envoy may set. A client's
/// `x-kubeplex-cluster` or `x-envoy-upstream-rq-timeout-ms` would steer the
/// routing or the router. Envoy's connection manager writes
/// `x-envoy-internal` and `x-envoy-external-address` itself (it sanitizes a
/// client's before any filter runs: `use_remote_address`), so those two
/// are not the client's.
fn is_reserved_header(name: &str) -> bool {
    (name.starts_with("x-kubeplex-") || name.starts_with("x-envoy-"))
        && !matches!(name, "x-envoy-internal" | "x-envoy-external-address")
}

/// Forward the request with these header changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forward {
    /// Headers to delete.
    pub remove: &'static [&'static str],
    /// The cluster header (the config's name) and the chosen cluster: the
    /// context's ordinary, upgrade or discovery cluster
    /// (`routing::cluster_name`, named when the config was indexed).
    pub cluster: (Arc<str>, Arc<str>),
    /// This request's other headers to set, replacing any client value:
    /// `authorization` (the cache bypass value) or the cache key, `:path`
    /// when the cluster prefix was stripped, `grpc-timeout`.
    pub set: Vec<(&'static str, Cow<'static, str>)>,
    /// The caller: its impersonation headers were prepared when the token
    /// was first verified ([`VerifiedToken::prepared`]).
    pub token: Rc<VerifiedToken>,
}

impl Forward {
    /// Every header to set, replacing any client value: the cluster, then
    /// this request's.
    pub fn to_set(&self) -> impl Iterator<Item = (&str, &str)> {
        std::iter::once((&*self.cluster.0, &*self.cluster.1))
            .chain(self.set.iter().map(|(n, v)| (*n, v.as_ref())))
    }

    /// Every header to append: the caller's `impersonate-*` headers (no
    /// client value to replace: [`admit`] refuses requests that carry
    /// any).
    pub fn to_add(&self) -> impl Iterator<Item = (&str, &str)> {
        let prepared = self.token.prepared().headers().iter();
        prepared.map(|(n, v)| (n.as_ref(), v.as_str()))
    }
}

/// Allow with mutations, or deny with a Status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Forward the request, with these header changes.
    Allow(Forward),
    /// Answer the request with this Status.
    Deny(Status),
    /// Answer the request with this JSON (the gateway's own API: the
    /// request reaches no cluster).
    Respond(String),
}

/// The outcome, its audit record, and what else the glue must do: ask
/// the control plane for fresh keys, log a failure of the host. `'r` borrows the request's headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision<'r> {
    /// Forward or answer.
    pub outcome: Outcome,
    /// What the access log records.
    pub audit: AuditRecord<'r>,
    /// The token named a `kid` a remote-keys issuer does not have.
    pub refresh_keys: Option<KeyRefresh>,
    /// The host failed, not the request (Envoy's signature check): the
    /// glue logs it at error level.
    pub host_failure: Option<TokenError>,
}

impl Decision<'_> {
    /// The same decision, no longer borrowing the request's headers.
    pub fn into_owned(self) -> Decision<'static> {
        Decision {
            outcome: self.outcome,
            audit: self.audit.into_owned(),
            refresh_keys: self.refresh_keys,
            host_failure: self.host_failure,
        }
    }
}

/// A refusal: the reason the audit record and the metrics carry, and the
/// Status the client gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// Why, as one word.
    pub reason: DenyReason,
    /// What the client gets back.
    pub status: Status,
    /// The token error behind a refusal by [`token::verify`] (boxed: rare,
    /// and it keeps `Result<_, Denial>` small). It says whether to ask for
    /// fresh keys and whether the host failed.
    pub cause: Option<Box<TokenError>>,
}

impl Denial {
    /// A refusal for `reason` with `status`.
    pub fn new(reason: DenyReason, status: Status) -> Self {
        Denial {
            reason,
            status,
            cause: None,
        }
    }
}

impl From<TokenError> for Denial {
    /// 401 with the error's message and reason; 503 when it was the host's
    /// signature check that failed, not the token.
    fn from(e: TokenError) -> Self {
        let kind = match e {
            TokenError::SignatureCheckFailed { .. } => Reason::ServiceUnavailable,
            _ => Reason::Unauthorized,
        };
        Denial {
            reason: e.reason(),
            status: Status::new(kind, e.to_string()),
            cause: Some(Box::new(e)),
        }
    }
}

/// What the steps learned before they allowed or refused: the audit
/// record carries it either way.
#[derive(Default)]
struct Found {
    token: Option<Rc<VerifiedToken>>,
    cluster: String,
    info: Option<RequestInfo>,
}

/// Decide one request at `now` (Unix seconds): authenticate, select the
/// cluster, authorize, record.
pub fn decide<'r>(
    config: &Config,
    cache: &mut TokenCache,
    verifier: &dyn SignatureVerifier,
    now: i64,
    request: &RequestView<'r>,
) -> Decision<'r> {
    let mut found = Found::default();
    let result = run(config, cache, verifier, now, request, &mut found);
    record(request, found, result)
}

/// The steps in order; the first refusal ends them.
fn run(
    config: &Config,
    cache: &mut TokenCache,
    verifier: &dyn SignatureVerifier,
    now: i64,
    request: &RequestView<'_>,
    found: &mut Found,
) -> Result<Outcome, Denial> {
    let token = found
        .token
        .insert(authenticate(config, cache, verifier, now, request)?);
    admit(config, request, token)?;
    // The gateway's own API (who am I, which clusters): no cluster involved.
    if clusters_api::is_clusters_request(&request.method, &request.path) {
        return Ok(Outcome::Respond(clusters_api::answer(config, token)));
    }
    let route = select_cluster(config, request, token)?;
    found.cluster = route.context.to_string();
    let info = found.info.insert(read_request(request, &route)?);
    authorize(config, token, &route, info)?;
    Ok(Outcome::Allow(forward(config, request, token, &route, now)))
}

/// Who is asking: the bearer token, verified (the cache first). A token in
/// the URL is refused before anything else: it would reach the cluster
/// (and its audit log) with the request.
fn authenticate(
    config: &Config,
    cache: &mut TokenCache,
    verifier: &dyn SignatureVerifier,
    now: i64,
    request: &RequestView<'_>,
) -> Result<Rc<VerifiedToken>, Denial> {
    if let Some(name) = query_credentials::find(&request.path) {
        return Err(Denial::new(
            DenyReason::TokenInQuery,
            Status::new(
                Reason::BadRequest,
                format!(
                    "the request carries a credential in its query string (parameter {name:?}): \
                     kubeplex accepts tokens only in the Authorization header, and forwards no request \
                     that carries one in its URL"
                ),
            ),
        ));
    }
    let Some(raw) = request.authorization.as_deref().and_then(bearer) else {
        return Err(Denial::new(
            DenyReason::NoToken,
            Status::new(
                Reason::Unauthorized,
                "no bearer token: kubeplex requires \"Authorization: Bearer <token>\"",
            ),
        ));
    };
    let skew = config.clock_skew_seconds;
    if let Some(hit) = cache.get(raw, now, skew) {
        return Ok(hit);
    }
    let verified = Rc::new(token::verify(config, raw, now, verifier)?);
    cache.insert(raw, Rc::clone(&verified), now, skew);
    Ok(verified)
}

/// What the verified token and the request may not do: a revoked token
/// (checked on every request, after the cache), a client choosing whom
/// the gateway impersonates, or headers that steer the gateway or Envoy.
fn admit(config: &Config, request: &RequestView<'_>, token: &VerifiedToken) -> Result<(), Denial> {
    if let Some(jti) = token.jti.as_deref()
        && let Some(reason) = config.revoked.get(jti)
    {
        let message = if reason.is_empty() {
            format!("token {jti:?} has been revoked")
        } else {
            format!("token {jti:?} has been revoked: {reason}")
        };
        return Err(Denial::new(
            DenyReason::Revoked,
            Status::new(Reason::Unauthorized, message),
        ));
    }
    if let Some(header) = request.impersonation_header {
        return Err(Denial::new(
            DenyReason::ImpersonationRefused,
            Status::new(
                Reason::Forbidden,
                format!(
                    "impersonation headers are not allowed through the gateway ({})",
                    canonical_header(header)
                ),
            ),
        ));
    }
    if let Some(header) = request.reserved_header {
        return Err(Denial::new(
            DenyReason::ReservedHeader,
            Status::new(
                Reason::BadRequest,
                format!(
                    "the header {} is reserved for the gateway and may not be sent by clients",
                    canonical_header(header)
                ),
            ),
        ));
    }
    Ok(())
}

/// The cluster: path prefix, TLS server name or `ctx` claim.
fn select_cluster<'a>(
    config: &'a Config,
    request: &'a RequestView<'_>,
    token: &'a VerifiedToken,
) -> Result<route::Route<'a>, Denial> {
    route::select_with_server_name(
        config,
        &request.path,
        token.ctx.as_deref(),
        request.server_name.as_deref(),
    )
    .map_err(|e| {
        let status = match &e {
            RouteError::UnknownContext(name) => Status::new(Reason::NotFound, e.to_string())
                .with_details(Details {
                    name: name.clone(),
                    group: String::new(),
                    kind: "context".to_string(),
                }),
            RouteError::BoundElsewhere { .. } => Status::new(Reason::Forbidden, e.to_string()),
            RouteError::NoContext => Status::new(Reason::NotFound, e.to_string()),
        };
        Denial::new(e.reason(), status)
    })
}

/// The request as the cluster will read it: a path it cannot decode
/// differently, parsed like the apiserver's RequestInfo.
fn read_request(
    request: &RequestView<'_>,
    route: &route::Route<'_>,
) -> Result<RequestInfo, Denial> {
    let upstream_path = route.effective_path(&request.path);
    if let Err(e) = path_encoding::check(upstream_path) {
        return Err(Denial::new(
            DenyReason::AmbiguousPath,
            Status::new(
                Reason::BadRequest,
                format!(
                    "the request path {:?} contains {e}; the gateway refuses paths the cluster could read differently",
                    request.path
                ),
            ),
        ));
    }
    request_info::parse(&request.method, upstream_path, request.upgrade).map_err(|e| {
        Denial::new(
            DenyReason::BadRequest,
            Status::new(Reason::BadRequest, e.to_string()),
        )
    })
}

/// The gateway policy, when there is one.
fn authorize(
    config: &Config,
    token: &VerifiedToken,
    route: &route::Route<'_>,
    info: &RequestInfo,
) -> Result<(), Denial> {
    let Some(policy) = &config.policy else {
        return Ok(());
    };
    let user = &token.identity.user;
    match policy.decide(&token.identity, &route.context, info) {
        Verdict::Allow => Ok(()),
        Verdict::NoClusterAccess => Err(Denial::new(
            DenyReason::ClusterDenied,
            Status::new(
                Reason::Forbidden,
                format!("User {user:?} cannot access cluster {:?}", route.context),
            ),
        )),
        Verdict::Deny => Err(Denial::new(
            DenyReason::PolicyDenied,
            forbidden(user, &route.context, info),
        )),
    }
}

/// The decision and its audit record. A refused credential in the query
/// is recorded with its value redacted.
fn record<'r>(
    request: &RequestView<'r>,
    found: Found,
    result: Result<Outcome, Denial>,
) -> Decision<'r> {
    let (decision, message, outcome, cause) = match result {
        Ok(outcome) => (AuditDecision::Allow, String::new(), outcome, None),
        Err(denial) => (
            AuditDecision::Deny(denial.reason),
            denial.status.message.clone(),
            Outcome::Deny(denial.status),
            denial.cause,
        ),
    };
    let path = match decision {
        AuditDecision::Deny(DenyReason::TokenInQuery) => {
            Cow::Owned(query_credentials::redact(&request.path).into_owned())
        }
        _ => request.path.clone(),
    };
    let text = |v: &Option<Cow<'r, str>>| v.clone().unwrap_or_default();
    let audit = AuditRecord {
        token: found.token,
        cluster: found.cluster,
        info: found.info,
        message,
        ..AuditRecord::new(
            text(&request.request_id),
            text(&request.user_agent),
            request.method.clone(),
            path,
            decision,
        )
        .with_kubectl(
            request.kubectl_command.as_ref(),
            request.kubectl_session.as_ref(),
        )
    };
    let (refresh_keys, host_failure) = match cause.map(|e| *e) {
        Some(TokenError::NoKeyWithKid {
            kid,
            issuer,
            refreshing: true,
            ..
        }) => (Some(KeyRefresh { issuer, kid }), None),
        Some(e @ TokenError::SignatureCheckFailed { .. }) => (None, Some(e)),
        _ => (None, None),
    };
    Decision {
        outcome,
        audit,
        refresh_keys,
        host_failure,
    }
}

/// `Bearer <token>`, scheme case-insensitive.
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `impersonate-extra-foo` → `Impersonate-Extra-Foo`, as kubectl users know it.
fn canonical_header(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The apiserver's Forbidden message (`responsewriters.forbiddenMessage`
/// wrapped by `apierrors.NewForbidden`), plus the cluster.
fn forbidden(user: &str, cluster: &str, info: &RequestInfo) -> Status {
    if !info.is_resource_request {
        return Status::new(
            Reason::Forbidden,
            format!(
                "forbidden: User {user:?} cannot {} path {:?} on cluster {cluster:?} (kubeplex gateway policy)",
                info.verb, info.path
            ),
        );
    }
    let mut resource = info.resource.clone();
    if !info.subresource.is_empty() {
        resource = format!("{resource}/{}", info.subresource);
    }
    let scope = if info.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace {:?}", info.namespace)
    };
    let detail = format!(
        "User {user:?} cannot {} resource {resource:?} in API group {:?} {scope} on cluster {cluster:?} (kubeplex gateway policy)",
        info.verb, info.api_group
    );
    // GroupResource.String(): `resource` or `resource.group`
    let qualified = if info.api_group.is_empty() {
        info.resource.clone()
    } else {
        format!("{}.{}", info.resource, info.api_group)
    };
    let message = if info.name.is_empty() {
        format!("{qualified} is forbidden: {detail}")
    } else {
        format!("{qualified} {:?} is forbidden: {detail}", info.name)
    };
    Status::new(Reason::Forbidden, message).with_details(Details {
        name: info.name.clone(),
        group: info.api_group.clone(),
        kind: info.resource.clone(),
    })
}

/// The headers that make the cluster see the caller (its identity's were
/// prepared with the token) and route the request.
fn forward(
    config: &Config,
    request: &RequestView<'_>,
    token: &Rc<VerifiedToken>,
    route: &route::Route<'_>,
    now: i64,
) -> Forward {
    let mut set = Vec::with_capacity(3);
    // Only here, after authentication, revocation and the policy: the
    // cache behind this filter answers nothing the gateway did not allow.
    let mut remove: &'static [&'static str] = &["authorization"];
    // The same condition as Envoy's HTTP/1.1 route: an `upgrade` header.
    let mut kind = if request.upgrade {
        ClusterKind::Upgrade
    } else {
        ClusterKind::Ordinary
    };
    if let Some(scope) = config.cache_scopes.get(route.context.as_ref())
        && !request.upgrade
        && discovery_cache::is_discovery(&request.method, route.effective_path(&request.path))
    {
        let key = discovery_cache::cache_key(scope, &route.context, token.identity_digest());
        set.push((routing::CACHE_KEY_HEADER, Cow::Owned(key)));
        kind = ClusterKind::Discovery;
    } else {
        // The caller's token replaced, not removed: Envoy's cache (if the
        // listener has one) passes a request with `Authorization` by.
        remove = &[];
        set.push((
            "authorization",
            Cow::Borrowed(routing::CACHE_BYPASS_AUTHORIZATION),
        ));
    }
    if let Some(path) = &route.upstream_path {
        // (no x-envoy-original-path: the audit record carries the path the
        // client sent, and each header costs a host call)
        set.push((":path", Cow::Owned(path.clone())));
    }
    // Envoy ends the stream (watch, exec, logs -f) when the token expires:
    // the route has max_stream_duration.grpc_timeout_header_max = 0s. An
    // ordinary request the route's timeout ends first goes without.
    if deadline::needed(config, request.shape(), kind, token.exp - now) {
        let remaining = (token.exp - now + config.stream_expiry_grace_seconds).max(1);
        set.push(("grpc-timeout", Cow::Owned(grpc_timeout(remaining))));
    }
    Forward {
        remove,
        cluster: (
            Arc::clone(&config.cluster_header),
            cluster_name(config, route, kind),
        ),
        set,
        token: Rc::clone(token),
    }
}

/// The chosen cluster's name, from the config's index ([`select_cluster`]
/// only returns contexts the config has; named here otherwise).
fn cluster_name(config: &Config, route: &route::Route<'_>, kind: ClusterKind) -> Arc<str> {
    match config.contexts.get(route.context.as_ref()) {
        Some(clusters) => Arc::clone(clusters.get(kind)),
        None => routing::cluster_name(&route.context, kind).into(),
    }
}

/// A gRPC `TimeoutValue` has at most 8 digits: seconds while they fit, then
/// whole minutes (rounded up), then hours.
pub fn grpc_timeout(seconds: i64) -> String {
    const MAX: u64 = 99_999_999;
    let seconds = seconds.max(1) as u64;
    if seconds <= MAX {
        format!("{seconds}S")
    } else if seconds.div_ceil(60) <= MAX {
        format!("{}M", seconds.div_ceil(60))
    } else {
        format!("{}H", seconds.div_ceil(3600).min(MAX))
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod wire_tests;
