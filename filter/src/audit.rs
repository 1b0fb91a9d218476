//! The audit record: one per request (allowed, denied, unauthenticated),
//! handed to Envoy as filter state so its JSON access log (which adds time,
//! source, user agent, response code, duration and bytes) can print it.
//! Tokens and Authorization values are never part of it.

use std::rc::Rc;

use serde::Serialize;

use crate::request_info::RequestInfo;
use crate::token::VerifiedToken;

/// `allow` or `deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }
}

/// What happened to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub request_id: String,
    /// The verified token, when authentication succeeded.
    pub token: Option<Rc<VerifiedToken>>,
    /// The context, once chosen (empty before, and for unknown contexts).
    pub cluster: String,
    pub info: Option<RequestInfo>,
    pub decision: Decision,
    /// Short machine reason: `ok`, `token_expired`, `revoked`, `policy_denied`…
    pub reason: &'static str,
    /// The refusal message the client got (empty when allowed).
    pub message: String,
}

/// The wire form. Field names are the access log's contract with the
/// control plane; keep them stable.
#[derive(Serialize)]
struct Wire<'a> {
    request_id: &'a str,
    decision: &'static str,
    reason: &'static str,
    user: &'a str,
    groups: &'a [String],
    uid: &'a str,
    issuer: &'a str,
    jti: &'a str,
    cluster: &'a str,
    verb: &'a str,
    api_group: &'a str,
    api_version: &'a str,
    resource: &'a str,
    subresource: &'a str,
    namespace: &'a str,
    name: &'a str,
    message: &'a str,
    config_version: &'a str,
}

impl AuditRecord {
    /// One JSON object (a single line).
    pub fn to_json(&self, config_version: &str) -> String {
        let token = self.token.as_deref();
        let info = self.info.as_ref();
        let s = |f: fn(&RequestInfo) -> &str| info.map(f).unwrap_or_default();
        let wire = Wire {
            request_id: &self.request_id,
            decision: self.decision.as_str(),
            reason: self.reason,
            user: token.map(|t| t.identity.user.as_str()).unwrap_or_default(),
            groups: token
                .map(|t| t.identity.groups.as_slice())
                .unwrap_or_default(),
            uid: token
                .and_then(|t| t.identity.uid.as_deref())
                .unwrap_or_default(),
            issuer: token.map(|t| t.issuer.as_str()).unwrap_or_default(),
            jti: token.and_then(|t| t.jti.as_deref()).unwrap_or_default(),
            cluster: &self.cluster,
            verb: s(|i| &i.verb),
            api_group: s(|i| &i.api_group),
            api_version: s(|i| &i.api_version),
            resource: s(|i| &i.resource),
            subresource: s(|i| &i.subresource),
            namespace: s(|i| &i.namespace),
            name: s(|i| &i.name),
            message: &self.message,
            config_version,
        };
        serde_json::to_string(&wire).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
