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

/// One field of the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field<'a> {
    Str(&'a str),
    List(&'a [String]),
}

struct Entries<'a>(Vec<(&'static str, Field<'a>)>);

impl Serialize for Entries<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            match v {
                Field::Str(s) => map.serialize_entry(k, s)?,
                Field::List(l) => map.serialize_entry(k, l)?,
            }
        }
        map.end()
    }
}

impl AuditRecord {
    /// The record's fields, in a stable order. Field names are the access
    /// log's contract with the control plane; keep them stable.
    pub fn entries<'a>(&'a self, config_version: &'a str) -> Vec<(&'static str, Field<'a>)> {
        let token = self.token.as_deref();
        let info = self.info.as_ref();
        let s = |f: fn(&RequestInfo) -> &str| Field::Str(info.map(f).unwrap_or_default());
        vec![
            ("request_id", Field::Str(&self.request_id)),
            ("decision", Field::Str(self.decision.as_str())),
            ("reason", Field::Str(self.reason)),
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
            ("message", Field::Str(&self.message)),
            ("config_version", Field::Str(config_version)),
        ]
    }

    /// One JSON object (a single line).
    pub fn to_json(&self, config_version: &str) -> String {
        serde_json::to_string(&Entries(self.entries(config_version))).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
