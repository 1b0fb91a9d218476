//! The audit record: one per request (allowed, denied, unauthenticated),
//! handed to Envoy as filter state. The access log is a `text_format` that
//! opens a JSON object, prints the filter's record verbatim, then adds
//! Envoy's own fields (time, source, code, flags, duration, bytes):
//!
//! ```text
//! {%FILTER_STATE(wasm.kubeplex_audit:PLAIN)%"time":"%START_TIME(...)%",...}
//! ```
//!
//! So the record is a JSON *fragment*: the object's members, each value
//! JSON-escaped here, ending with a comma (empty when the filter did not
//! run, and the line stays valid JSON). `text_format` escapes nothing, so
//! every client-controlled string the line carries (request id, user agent,
//! method, path, messages quoting the request) must come from this
//! fragment. Tokens and Authorization values are never part of it.

use std::borrow::Cow;
use std::rc::Rc;

pub use crate::json::push_json_string;
use crate::prepared::NO_IDENTITY_MEMBERS;
use crate::reason::DenyReason;
use crate::request_info::RequestInfo;
use crate::token::VerifiedToken;

/// Allowed, or denied and why: the `decision` and `reason` members of the
/// record and the labels of `kubeplex_requests_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The request goes on to its cluster (reason `ok`).
    Allow,
    /// The gateway answered it itself.
    Deny(DenyReason),
}

impl Decision {
    /// `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny(_) => "deny",
        }
    }

    /// `ok`, or why the request was denied.
    pub fn reason(self) -> &'static str {
        match self {
            Decision::Allow => "ok",
            Decision::Deny(reason) => reason.as_str(),
        }
    }
}

/// What happened to one request. `'r` borrows the request's headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord<'r> {
    /// `x-request-id` (Envoy's, or the client's when trusted).
    pub request_id: Cow<'r, str>,
    /// `user-agent`, as the client sent it.
    pub user_agent: Cow<'r, str>,
    /// `:method`.
    pub method: Cow<'r, str>,
    /// `:path` as the client sent it (before the cluster prefix is stripped).
    pub path: Cow<'r, str>,
    /// The verified token, when authentication succeeded.
    pub token: Option<Rc<VerifiedToken>>,
    /// The context, once chosen (empty before, and for unknown contexts).
    pub cluster: String,
    /// What the apiserver will read the request as, once parsed.
    pub info: Option<RequestInfo>,
    /// Allowed, or denied and why.
    pub decision: Decision,
    /// The refusal message the client got (empty when allowed).
    pub message: String,
    /// kubectl's `Kubectl-Command` (`kubectl exec`), sanitised by
    /// [`kubectl_command`]; empty for other clients.
    pub kubectl_command: Cow<'r, str>,
    /// kubectl's `Kubectl-Session` (one UUID per kubectl run), kept only
    /// when it is one ([`kubectl_session`]).
    pub kubectl_session: Cow<'r, str>,
}

/// The longest `kubectl_command` recorded (kubectl's are under 64 bytes).
pub const MAX_KUBECTL_COMMAND: usize = 256;

/// `Kubectl-Command` as recorded: printable ASCII only (control characters,
/// quotes, backslashes and anything else dropped; runs of spaces folded),
/// at most [`MAX_KUBECTL_COMMAND`] bytes. Borrowed when already clean.
pub fn kubectl_command(raw: &str) -> Cow<'_, str> {
    let keep = |c: char| c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '\'' | '`');
    let clean = raw.len() <= MAX_KUBECTL_COMMAND
        && !raw.starts_with(' ')
        && !raw.ends_with(' ')
        && !raw.contains("  ")
        && raw.chars().all(|c| c == ' ' || keep(c));
    if clean {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len().min(MAX_KUBECTL_COMMAND));
    for word in raw
        .split(|c: char| c == ' ' || c.is_ascii_whitespace())
        .map(|w| w.chars().filter(|&c| keep(c)).collect::<String>())
        .filter(|w| !w.is_empty())
    {
        let needed = word.len() + usize::from(!out.is_empty());
        if out.len() + needed > MAX_KUBECTL_COMMAND {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word);
    }
    Cow::Owned(out)
}

/// `Kubectl-Session` as recorded: kubectl sends a random UUID
/// (`0f8e3c4a-1b2c-4d5e-8f90-123456789abc`); anything else is not
/// kubectl's and is dropped (empty). Upper-case hex is lower-cased.
pub fn kubectl_session(raw: &str) -> Cow<'_, str> {
    let b = raw.as_bytes();
    let shaped = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    match shaped {
        false => Cow::Borrowed(""),
        true if raw.bytes().any(|c| c.is_ascii_uppercase()) => Cow::Owned(raw.to_ascii_lowercase()),
        true => Cow::Borrowed(raw),
    }
}

/// One member's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field<'a> {
    /// A JSON string.
    Str(&'a str),
    /// A JSON array of strings.
    List(&'a [String]),
}

impl<'r> AuditRecord<'r> {
    /// A record of the request and its decision; what the gateway learned
    /// about it (token, cluster, request info) and the refusal message
    /// start empty.
    pub fn new(
        request_id: impl Into<Cow<'r, str>>,
        user_agent: impl Into<Cow<'r, str>>,
        method: impl Into<Cow<'r, str>>,
        path: impl Into<Cow<'r, str>>,
        decision: Decision,
    ) -> Self {
        AuditRecord {
            request_id: request_id.into(),
            user_agent: user_agent.into(),
            method: method.into(),
            path: path.into(),
            token: None,
            cluster: String::new(),
            info: None,
            decision,
            message: String::new(),
            kubectl_command: Cow::Borrowed(""),
            kubectl_session: Cow::Borrowed(""),
        }
    }

    /// The `reason` member: `ok`, or why the request was denied.
    pub fn reason(&self) -> &'static str {
        self.decision.reason()
    }

    /// The same record with kubectl's two headers, sanitised.
    pub fn with_kubectl(
        mut self,
        command: Option<&Cow<'r, str>>,
        session: Option<&Cow<'r, str>>,
    ) -> Self {
        let sanitised = |value: Option<&Cow<'r, str>>, f: fn(&str) -> Cow<'_, str>| match value {
            None => Cow::Borrowed(""),
            Some(Cow::Borrowed(v)) => f(v),
            Some(Cow::Owned(v)) => Cow::Owned(f(v).into_owned()),
        };
        self.kubectl_command = sanitised(command, kubectl_command);
        self.kubectl_session = sanitised(session, kubectl_session);
        self
    }

    /// The same record, owning its request strings.
    pub fn into_owned(self) -> AuditRecord<'static> {
        AuditRecord {
            request_id: Cow::Owned(self.request_id.into_owned()),
            user_agent: Cow::Owned(self.user_agent.into_owned()),
            method: Cow::Owned(self.method.into_owned()),
            path: Cow::Owned(self.path.into_owned()),
            token: self.token,
            cluster: self.cluster,
            info: self.info,
            decision: self.decision,
            message: self.message,
            kubectl_command: Cow::Owned(self.kubectl_command.into_owned()),
            kubectl_session: Cow::Owned(self.kubectl_session.into_owned()),
        }
    }

    /// The record's members, in a stable order. Member names are the
    /// fields of `kubeplex_proto::audit::v1::AuditRecord` (a test holds
    /// them to it): the access log's contract with the control plane's
    /// store; they stay clear of Envoy's own (`time`, `source`, `code`,
    /// `flags`, `duration_ms`, `bytes_in`, `bytes_out`).
    pub fn entries<'a>(&'a self, config_version: &'a str) -> [(&'static str, Field<'a>); 23] {
        let token = self.token.as_deref();
        let info = self.info.as_ref();
        let s = |f: fn(&RequestInfo) -> &str| Field::Str(info.map(f).unwrap_or_default());
        [
            ("request_id", Field::Str(&self.request_id)),
            ("user_agent", Field::Str(&self.user_agent)),
            ("method", Field::Str(&self.method)),
            ("path", Field::Str(&self.path)),
            ("decision", Field::Str(self.decision.as_str())),
            ("reason", Field::Str(self.decision.reason())),
            ("message", Field::Str(&self.message)),
            (
                "user",
                Field::Str(token.map(|t| t.identity.user.as_str()).unwrap_or_default()),
            ),
            (
                "groups",
                Field::List(
                    token
                        .map(|t| t.identity.groups.as_slice())
                        .unwrap_or_default(),
                ),
            ),
            (
                "uid",
                Field::Str(
                    token
                        .and_then(|t| t.identity.uid.as_deref())
                        .unwrap_or_default(),
                ),
            ),
            (
                "issuer",
                Field::Str(token.map(|t| t.issuer.as_str()).unwrap_or_default()),
            ),
            (
                "jti",
                Field::Str(token.and_then(|t| t.jti.as_deref()).unwrap_or_default()),
            ),
            ("cluster", Field::Str(&self.cluster)),
            ("verb", s(|i| &i.verb)),
            ("api_group", s(|i| &i.api_group)),
            ("api_version", s(|i| &i.api_version)),
            ("resource", s(|i| &i.resource)),
            ("subresource", s(|i| &i.subresource)),
            ("namespace", s(|i| &i.namespace)),
            ("name", s(|i| &i.name)),
            ("config_version", Field::Str(config_version)),
            ("kubectl_command", Field::Str(&self.kubectl_command)),
            ("kubectl_session", Field::Str(&self.kubectl_session)),
        ]
    }

    /// The members as a JSON fragment: `"k":v,` for each, on one line, in
    /// the order of [`AuditRecord::entries`] (a test holds them equal).
    /// Written member by member rather than through `entries`: it runs on
    /// every request, and the token's members come ready-escaped from the
    /// token cache ([`crate::prepared::Prepared::audit_members`]).
    pub fn to_fragment(&self, config_version: &str) -> String {
        let identity = self
            .token
            .as_deref()
            .map_or(NO_IDENTITY_MEMBERS, |t| t.prepared().audit_members());
        let mut out = String::with_capacity(
            320 + identity.len()
                + self.path.len()
                + self.user_agent.len()
                + self.message.len()
                + self.kubectl_command.len(),
        );
        let out_ = &mut out;
        member(out_, "\"request_id\":", &self.request_id);
        member(out_, "\"user_agent\":", &self.user_agent);
        member(out_, "\"method\":", &self.method);
        member(out_, "\"path\":", &self.path);
        member(out_, "\"decision\":", self.decision.as_str());
        member(out_, "\"reason\":", self.decision.reason());
        member(out_, "\"message\":", &self.message);
        out_.push_str(identity);
        member(out_, "\"cluster\":", &self.cluster);
        let info = self.info.as_ref();
        let s = |f: fn(&RequestInfo) -> &str| info.map(f).unwrap_or_default();
        member(out_, "\"verb\":", s(|i| &i.verb));
        member(out_, "\"api_group\":", s(|i| &i.api_group));
        member(out_, "\"api_version\":", s(|i| &i.api_version));
        member(out_, "\"resource\":", s(|i| &i.resource));
        member(out_, "\"subresource\":", s(|i| &i.subresource));
        member(out_, "\"namespace\":", s(|i| &i.namespace));
        member(out_, "\"name\":", s(|i| &i.name));
        member(out_, "\"config_version\":", config_version);
        member(out_, "\"kubectl_command\":", &self.kubectl_command);
        member(out_, "\"kubectl_session\":", &self.kubectl_session);
        out
    }
}

/// `"key":` (quoted already: a constant) then `value` escaped, then `,`.
fn member(out: &mut String, quoted_key: &str, value: &str) {
    out.push_str(quoted_key);
    push_json_string(out, value);
    out.push(',');
}

/// Members appended to the record of a stream a new config ended (the
/// access log prints the record when the stream closes):
/// `"stream_ended":"<reason>","stream_ended_by":"<config version>",`.
pub fn stream_ended_members(reason: &str, config_version: &str) -> String {
    let mut out = String::with_capacity(64 + config_version.len());
    out.push_str("\"stream_ended\":");
    push_json_string(&mut out, reason);
    out.push_str(",\"stream_ended_by\":");
    push_json_string(&mut out, config_version);
    out.push(',');
    out
}

#[cfg(test)]
mod tests;
