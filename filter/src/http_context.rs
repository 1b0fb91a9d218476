//! The HTTP context: one per request. It reads the request headers once,
//! asks `kubeplex-filter-core` for the decision, hands the audit record and
//! counters to Envoy, and then forwards the request with the decision's
//! header changes (registering it as an open stream) or answers with its
//! Kubernetes `Status`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use kubeplex_filter_core::audit::{self, AuditRecord};
use kubeplex_filter_core::config::Config;
use kubeplex_filter_core::decision::{self, Decision, Forward, Outcome, RequestView};
use kubeplex_filter_core::key_refresh::{self, KeyRefresh, RefreshLimiter};
use kubeplex_filter_core::reason::DenyReason;
use kubeplex_filter_core::route;
use kubeplex_filter_core::status::{self, Status};
use kubeplex_filter_core::stream_registry::OpenStream;
use kubeplex_filter_core::token::TokenError;
use kubeplex_filter_core::token_cache::TokenCache;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel};

use crate::envoy_verifier::EnvoyVerifier;
use crate::{CLOCK, STREAMS, log, telemetry, unix_seconds};

thread_local! {
    // When this VM last asked the control plane for each issuer's keys.
    static KEY_REFRESH: RefCell<RefreshLimiter> = RefCell::new(RefreshLimiter::default());
}

/// One request, and what its root context had when it began.
pub struct Request {
    id: u32,
    root_id: u32,
    config: Option<Rc<Config>>,
    cache: Rc<RefCell<TokenCache>>,
}

impl Request {
    pub fn new(
        id: u32,
        root_id: u32,
        config: Option<Rc<Config>>,
        cache: Rc<RefCell<TokenCache>>,
    ) -> Self {
        Request {
            id,
            root_id,
            config,
            cache,
        }
    }

    /// Before the first config: fail closed, and still leave a record.
    fn refuse_without_config(&self) -> Action {
        let status = Status::new(
            status::Reason::ServiceUnavailable,
            "the kubeplex gateway has no configuration yet",
        );
        let headers = self.get_http_request_headers_bytes();
        let view = RequestView::from_headers(&headers);
        let audit = AuditRecord {
            message: status.message.clone(),
            ..AuditRecord::new(
                view.request_id.clone().unwrap_or_default(),
                view.user_agent.clone().unwrap_or_default(),
                view.method.clone(),
                view.path.clone(),
                audit::Decision::Deny(DenyReason::NoConfig),
            )
            .with_kubectl(view.kubectl_command.as_ref(), view.kubectl_session.as_ref())
        };
        telemetry::record(&audit, "");
        self.send_http_response(
            status.code(),
            vec![("content-type", "application/json")],
            Some(status.to_json().as_bytes()),
        );
        Action::Pause
    }

    /// The request as `decide` reads it. Bytes, not the SDK's String API:
    /// it panics (and takes the VM down) on a header value that is not
    /// UTF-8. Envoy knows the TLS server name only with a tls_inspector
    /// on the listener; it is read (a host call) only when it can matter.
    /// `end_of_stream`: no body follows the headers.
    fn view<'h>(
        &self,
        config: &Config,
        headers: &'h [(String, Vec<u8>)],
        end_of_stream: bool,
    ) -> RequestView<'h> {
        let mut view = RequestView::from_headers(headers);
        view.headers_end_request = end_of_stream;
        if route::wants_server_name(config, &view.path) {
            view.server_name = self
                .get_property(vec!["connection", "requested_server_name"])
                .map(|b| Cow::Owned(String::from_utf8_lossy(&b).into_owned()));
        }
        view
    }

    /// Forward with the decision's header changes, and remember the
    /// request as an open stream until it ends.
    fn forward(&self, forward: Forward, audit: AuditRecord<'_>) -> Action {
        // One host call per changed header: replacing the whole map
        // in one call (set_http_request_headers) measured ~3 k
        // instructions more per request (Envoy re-adds every header).
        for name in forward.remove {
            self.set_http_request_header(name, None);
        }
        for (name, value) in forward.to_set() {
            self.set_http_request_header(name, Some(value));
        }
        for (name, value) in forward.to_add() {
            self.add_http_request_header(name, value);
        }
        if let (Some(token), Some(info)) = (audit.token, audit.info) {
            let stream = OpenStream {
                cluster: audit.cluster,
                token,
                info,
            };
            STREAMS.with(|s| s.borrow_mut().insert(self.id, stream));
        }
        Action::Continue
    }

    /// Answer from the gateway itself (its own API; no cluster is asked).
    /// Not cached: the answer is the caller's.
    fn respond(&self, json: &str) -> Action {
        let headers = vec![
            ("content-type", "application/json"),
            ("cache-control", "no-store"),
        ];
        self.send_http_response(200, headers, Some(json.as_bytes()));
        Action::Pause
    }

    /// Answer with the Status, its message also in a `Warning` header
    /// (kubectl prints warnings even where it hides the body).
    fn refuse(&self, status: &Status) -> Action {
        let body = status.to_json();
        let warning = status.warning();
        let mut headers = vec![
            ("content-type", "application/json"),
            ("warning", warning.as_str()),
        ];
        if status.code() == 401 {
            headers.push(("www-authenticate", "Bearer realm=\"kubeplex\""));
        }
        self.send_http_response(status.code(), headers, Some(body.as_bytes()));
        Action::Pause
    }

    /// Ask the control plane to refetch an issuer's keys (at most once per
    /// issuer per interval on this VM). The call is made on the root
    /// context: this request is refused at once, and Envoy cancels the
    /// calls a finished request context still has pending.
    fn refresh_keys(&self, refresh: &KeyRefresh) {
        let now_ms = self
            .get_current_time()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        if !KEY_REFRESH.with(|l| l.borrow_mut().allow(&refresh.issuer, now_ms)) {
            return;
        }
        let message = refresh.encode();
        let _ = hostcalls::set_effective_context(self.root_id);
        let call = hostcalls::dispatch_grpc_call(
            key_refresh::UPSTREAM,
            key_refresh::SERVICE,
            key_refresh::METHOD,
            Vec::new(),
            Some(&message),
            Duration::from_millis(key_refresh::TIMEOUT_MS),
        );
        let _ = hostcalls::set_effective_context(self.id);
        match call {
            Ok(_) => log(
                LogLevel::Info,
                &format!(
                    "kubeplex: asked the control plane to refresh the keys of issuer {:?} (unknown kid {:?})",
                    refresh.issuer, refresh.kid
                ),
            ),
            Err(e) => log(
                LogLevel::Warn,
                &format!(
                    "kubeplex: cannot ask cluster {:?} to refresh the keys of issuer {:?}: {e:?}",
                    key_refresh::UPSTREAM,
                    refresh.issuer
                ),
            ),
        }
    }

    fn forget_stream(&self) {
        STREAMS.with(|s| s.borrow_mut().remove(self.id));
    }
}

impl Context for Request {
    fn on_done(&mut self) -> bool {
        self.forget_stream();
        true
    }
}

impl HttpContext for Request {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let Some(config) = self.config.clone() else {
            return self.refuse_without_config();
        };
        let headers = self.get_http_request_headers_bytes();
        let now = match CLOCK.get() {
            0 => unix_seconds(self.get_current_time()),
            ticked => ticked,
        };
        let view = self.view(&config, &headers, end_of_stream);
        let decision = decision::decide(
            &config,
            &mut self.cache.borrow_mut(),
            &EnvoyVerifier,
            now,
            &view,
        );
        telemetry::record(&decision.audit, &config.version);
        let Decision {
            outcome,
            audit,
            refresh_keys,
            host_failure,
        } = decision;
        if let Some(refresh) = &refresh_keys {
            self.refresh_keys(refresh);
        }
        if let Some(e) = &host_failure {
            log_host_failure(&audit, e);
        }
        match outcome {
            Outcome::Allow(forward) => self.forward(forward, audit),
            Outcome::Respond(json) => self.respond(&json),
            Outcome::Deny(status) => self.refuse(&status),
        }
    }

    fn on_log(&mut self) {
        self.forget_stream();
    }
}

/// A failure of the host (not of the request, which got a 503): the
/// operator must see it, with its cause.
fn log_host_failure(audit: &AuditRecord<'_>, e: &TokenError) {
    let cause = std::error::Error::source(e)
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    log(
        LogLevel::Error,
        &format!(
            "kubeplex: request {:?} ({} {:?}): {e}{cause}",
            audit.request_id, audit.method, audit.path
        ),
    );
}
