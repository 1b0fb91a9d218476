//! The request log: everything that reached the HTTP layer, in order, with
//! the response status, so tests can assert on what a gateway forwarded.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

use super::identity::UserInfo;

/// One request as this server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path (no query).
    pub path: String,
    /// Raw query string (no `?`), empty if none.
    pub query: String,
    /// Every header, names lower-case, repeated headers kept in order.
    ///
    /// These are what arrived, secrets included (a test may need to assert
    /// that an `Authorization` header did or did not reach the cluster);
    /// `Debug` output of the recorder's users should not be logged.
    pub headers: Vec<(String, String)>,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub http_version: String,
    /// The host the client named: HTTP/2's `:authority`, else `Host`.
    pub host: Option<String>,
    /// CN of the verified client certificate, if one was presented.
    pub client_cert_subject: Option<String>,
    /// Who authenticated (certificate CN or token user).
    pub authenticated_user: Option<String>,
    /// Who the request acted as after impersonation.
    pub effective_user: Option<UserInfo>,
    /// The response status sent.
    pub status: u16,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `path?query` as sent.
    pub fn uri(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }
}

/// Shared request log with a notifier for waiters.
#[derive(Debug, Default)]
pub struct Recorder {
    requests: Mutex<Vec<RecordedRequest>>,
    notify: Notify,
}

impl Recorder {
    /// Appends one request.
    pub fn push(&self, r: RecordedRequest) {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(r);
        self.notify.notify_waiters();
    }

    /// A copy of the log.
    pub fn all(&self) -> Vec<RecordedRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Empties the log.
    pub fn clear(&self) {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// The first logged request matching `pred` (already logged or arriving
    /// within `timeout`).
    pub async fn wait_for(
        &self,
        pred: impl Fn(&RecordedRequest) -> bool,
        timeout: Duration,
    ) -> Option<RecordedRequest> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Register interest before checking, so a push in between wakes us.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.all().into_iter().find(|r| pred(r)) {
                return Some(r);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.all().into_iter().find(|r| pred(r));
            }
        }
    }
}
