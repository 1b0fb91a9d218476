//! Kubernetes `Status` bodies for the requests the gateway refuses itself,
//! shaped exactly like the apiserver's (`metav1.Status`), so kubectl prints
//! `error: You must be logged in to the server (<message>)` for a 401 and
//! `Error from server (Forbidden): <message>` for a 403.

use serde::Serialize;

/// `metav1.StatusReason` values the gateway uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// 400: the request cannot be understood (e.g. `/api/v1/watch`).
    BadRequest,
    /// 401: no token, or a token the gateway does not accept.
    Unauthorized,
    /// 403: authenticated, but not allowed.
    Forbidden,
    /// 404: no such context, or no context selected.
    NotFound,
    /// 503: the filter has no accepted configuration yet.
    ServiceUnavailable,
}

impl Reason {
    /// The HTTP status code Kubernetes pairs with this reason.
    pub fn code(self) -> u32 {
        match self {
            Reason::BadRequest => 400,
            Reason::Unauthorized => 401,
            Reason::Forbidden => 403,
            Reason::NotFound => 404,
            Reason::ServiceUnavailable => 503,
        }
    }

    /// The `reason` string of the Status.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadRequest => "BadRequest",
            Reason::Unauthorized => "Unauthorized",
            Reason::Forbidden => "Forbidden",
            Reason::NotFound => "NotFound",
            Reason::ServiceUnavailable => "ServiceUnavailable",
        }
    }
}

/// `metav1.StatusDetails` (the fields the gateway fills; empty ones are
/// omitted like the apiserver's `omitempty`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Details {
    #[serde(skip_serializing_if = "String::is_empty")]
    /// The object's name.
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    /// Its API group.
    pub group: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    /// Its kind (the gateway uses the resource, or `context`).
    pub kind: String,
}

impl Details {
    fn is_empty(&self) -> bool {
        self.name.is_empty() && self.group.is_empty() && self.kind.is_empty()
    }
}

/// A refusal: what the client gets back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The Kubernetes reason (and so the HTTP code).
    pub reason: Reason,
    /// What went wrong, for the client.
    pub message: String,
    /// The object concerned, if any.
    pub details: Details,
}

/// Field order mirrors the apiserver's JSON (kind, apiVersion, metadata,
/// status, message, reason, details, code).
#[derive(Serialize)]
struct Wire<'a> {
    kind: &'static str,
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    metadata: Empty,
    status: &'static str,
    message: &'a str,
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Details>,
    code: u32,
}

#[derive(Serialize)]
struct Empty {}

impl Status {
    /// A Status with this reason and message.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Status {
            reason,
            message: message.into(),
            details: Details::default(),
        }
    }

    /// The same Status, naming the object concerned.
    pub fn with_details(mut self, details: Details) -> Self {
        self.details = details;
        self
    }

    /// The HTTP status code.
    pub fn code(&self) -> u32 {
        self.reason.code()
    }

    /// A `Warning` header value (`299 - "<message>"`, RFC 7234 §5.5)
    /// carrying the message. client-go prints warnings from every response,
    /// including the discovery requests whose error bodies kubectl never
    /// decodes, so the reason shows up even on a first `kubectl get`.
    pub fn warning(&self) -> String {
        let mut text = String::with_capacity(self.message.len() + 8);
        text.push_str("299 - \"");
        for c in self.message.chars() {
            match c {
                '"' | '\\' => {
                    text.push('\\');
                    text.push(c);
                }
                c if c.is_control() => text.push(' '),
                c => text.push(c),
            }
        }
        text.push('"');
        text
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        let wire = Wire {
            kind: "Status",
            api_version: "v1",
            metadata: Empty {},
            status: "Failure",
            message: &self.message,
            reason: self.reason.as_str(),
            details: (!self.details.is_empty()).then_some(&self.details),
            code: self.code(),
        };
        // Serializing plain strings and integers cannot fail.
        serde_json::to_string(&wire).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
