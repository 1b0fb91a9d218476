//! What every request of one verified token sends and records the same
//! way: the impersonation headers and the audit record's identity members.
//! Computed once, when the token is first verified, and kept with it in the
//! token cache, so a cache hit neither clones the identity's strings into
//! headers nor escapes them into the audit record again (measured in
//! filter/README.md, "Cost per request").

use std::borrow::Cow;

use crate::identity::Identity;
use crate::json::push_json_string;

/// One header: name, value.
pub type Header = (Cow<'static, str>, String);

/// The audit identity members of a request without a verified token.
pub const NO_IDENTITY_MEMBERS: &str =
    "\"user\":\"\",\"groups\":[],\"uid\":\"\",\"issuer\":\"\",\"jti\":\"\",";

/// A token's headers and audit members, ready to use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Prepared {
    headers: Vec<Header>,
    audit_members: String,
}

impl Prepared {
    /// Prepare the headers and audit members of `identity`, issued by
    /// `issuer` with `jti`.
    pub fn new(identity: &Identity, issuer: &str, jti: Option<&str>) -> Self {
        let values = identity.extra.iter().map(|(_, v)| v.len()).sum::<usize>();
        let mut headers = Vec::with_capacity(2 + identity.groups.len() + values);
        headers.push((Cow::Borrowed("impersonate-user"), identity.user.clone()));
        if let Some(uid) = &identity.uid {
            headers.push((Cow::Borrowed("impersonate-uid"), uid.clone()));
        }
        for g in &identity.groups {
            headers.push((Cow::Borrowed("impersonate-group"), g.clone()));
        }
        for (key, values) in &identity.extra {
            let name: Cow<'static, str> =
                Cow::Owned(format!("impersonate-extra-{}", escape_extra_key(key)));
            for v in values {
                headers.push((name.clone(), v.clone()));
            }
        }
        Prepared {
            headers,
            audit_members: audit_members(identity, issuer, jti),
        }
    }

    /// `impersonate-user`, `impersonate-uid` when there is one, one
    /// `impersonate-group` per group, then one `impersonate-extra-<key>`
    /// per extra value (Kubernetes reads groups and extras as repeated
    /// headers, not lists). All to append: a request that came with any
    /// `impersonate-*` header was refused before it got here
    /// (`decision::admit`), and Envoy appends for less than it replaces
    /// (no lookup and removal first).
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// The audit record's members `"user":…,"groups":[…],"uid":…,"issuer":…,"jti":…,`,
    /// JSON-escaped.
    pub fn audit_members(&self) -> &str {
        &self.audit_members
    }
}

fn audit_members(identity: &Identity, issuer: &str, jti: Option<&str>) -> String {
    let mut out = String::with_capacity(96 + identity.user.len() + issuer.len());
    out.push_str("\"user\":");
    push_json_string(&mut out, &identity.user);
    out.push_str(",\"groups\":[");
    for (i, g) in identity.groups.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(&mut out, g);
    }
    out.push_str("],\"uid\":");
    push_json_string(&mut out, identity.uid.as_deref().unwrap_or_default());
    out.push_str(",\"issuer\":");
    push_json_string(&mut out, issuer);
    out.push_str(",\"jti\":");
    push_json_string(&mut out, jti.unwrap_or_default());
    out.push(',');
    out
}

/// client-go's `headerKeyEscape`: bytes that are not RFC 7230 token
/// characters, and `%`, become `%XX` (the apiserver unescapes them).
pub fn escape_extra_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        let legal = b.is_ascii_alphanumeric() || b"!#$&'*+-.^_`|~".contains(&b);
        if legal {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
