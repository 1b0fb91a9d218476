//! The audit record: one per request (allowed, denied, unauthenticated),
//! handed to Envoy as filter state so its JSON access log (which adds time,
//! source, user agent, response code, duration and bytes) can print it.
//! Tokens and Authorization values are never part of it.

use std::collections::BTreeMap;
use std::rc::Rc;

use prost::Message;

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

/// `google.protobuf.Struct`, just enough of it for the record (strings and
/// lists of strings), so Envoy's `%FILTER_STATE(...:TYPED)%` renders the
/// record as nested JSON with `groups` as a real array.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PbStruct {
    #[prost(btree_map = "string, message", tag = "1")]
    pub fields: BTreeMap<String, PbValue>,
}

/// `google.protobuf.Value` (string and list kinds).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PbValue {
    #[prost(oneof = "PbKind", tags = "3, 6")]
    pub kind: Option<PbKind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum PbKind {
    #[prost(string, tag = "3")]
    String(String),
    #[prost(message, tag = "6")]
    List(PbList),
}

/// `google.protobuf.ListValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PbList {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<PbValue>,
}

/// The type URL Envoy needs to decode [`PbStruct`] bytes.
pub const STRUCT_TYPE_URL: &str = "type.googleapis.com/google.protobuf.Struct";

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

    /// The record as a serialized `google.protobuf.Struct`.
    pub fn to_struct(&self, config_version: &str) -> Vec<u8> {
        let string = |s: &str| PbValue {
            kind: Some(PbKind::String(s.to_string())),
        };
        let fields = self
            .entries(config_version)
            .into_iter()
            .map(|(k, v)| {
                let value = match v {
                    Field::Str(s) => string(s),
                    Field::List(l) => PbValue {
                        kind: Some(PbKind::List(PbList {
                            values: l.iter().map(|s| string(s)).collect(),
                        })),
                    },
                };
                (k.to_string(), value)
            })
            .collect();
        PbStruct { fields }.encode_to_vec()
    }
}

#[cfg(test)]
mod tests;
