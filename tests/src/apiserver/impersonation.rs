//! Impersonation as kube-apiserver 1.36 does it
//! (`staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation/`
//! `constrained_impersonation.go` and `mode.go`): the `Impersonate-*`
//! headers read like `processImpersonationHeaders`, then every wanted
//! field authorized through the cluster's own authorizer, mode by mode
//! ([`modes`]).

use std::collections::BTreeMap;

use super::identity::UserInfo;

mod modes;
mod names;

pub use modes::{ModeIndexCache, impersonate};

/// What the `Impersonate-*` headers ask for (upstream's `wantedUser`, a raw
/// `user.DefaultInfo`: nothing defaulted yet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImpersonationRequest {
    /// `Impersonate-User` (the first one).
    pub user: String,
    /// `Impersonate-Uid` (the first one), empty if absent.
    pub uid: String,
    /// Every `Impersonate-Group`, in order (`None`: no such header, Go's
    /// nil slice).
    pub groups: Option<Vec<String>>,
    /// `Impersonate-Extra-<key>`: the key lower-cased, then
    /// percent-decoded (`None`: no such header, Go's nil map).
    pub extra: Option<BTreeMap<String, Vec<String>>>,
}

/// Malformed impersonation headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImpersonationError {
    /// A group, uid or extra without a non-empty `Impersonate-User`: 1.36
    /// answers 400 BadRequest `requested <%#v of the wanted user> without
    /// impersonating a user name` (`processImpersonationHeaders`; the
    /// legacy filter answered 500 InternalError).
    #[error("requested {0} without impersonating a user name")]
    WithoutUser(String),
}

/// `unescapeExtraKey`: `url.PathUnescape`, or the key unchanged if it is
/// not valid percent-encoding.
fn unescape_extra_key(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let digit = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
        match (digit(i + 1), digit(i + 2)) {
            (Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            _ => return key.to_string(),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's `%#v` of a `user.DefaultInfo` (as the BadRequest message shows it):
/// `&user.DefaultInfo{Name:"", UID:"", Groups:[]string{"dev"}, Extra:map[string][]string(nil)}`.
fn go_syntax(req: &ImpersonationRequest) -> String {
    let slice = |v: &[String]| {
        let items: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
        format!("[]string{{{}}}", items.join(", "))
    };
    let groups = match &req.groups {
        None => "[]string(nil)".to_string(),
        Some(g) => slice(g),
    };
    let extra = match &req.extra {
        None => "map[string][]string(nil)".to_string(),
        Some(e) => {
            let items: Vec<String> = e
                .iter()
                .map(|(k, v)| format!("{k:?}:{}", slice(v)))
                .collect();
            format!("map[string][]string{{{}}}", items.join(", "))
        }
    };
    format!(
        "&user.DefaultInfo{{Name:{:?}, UID:{:?}, Groups:{groups}, Extra:{extra}}}",
        req.user, req.uid
    )
}

impl ImpersonationRequest {
    /// Reads the headers (names lower-case, values as the HTTP layer
    /// delivered them) like `processImpersonationHeaders`. `Ok(None)` if no
    /// user is impersonated. Extra keys from several header names that
    /// decode to the same key are merged in header-name order (Go's map
    /// order is random).
    pub fn from_headers(
        headers: &[(String, String)],
    ) -> Result<Option<ImpersonationRequest>, ImpersonationError> {
        let first = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let mut req = ImpersonationRequest {
            user: first("impersonate-user"),
            uid: first("impersonate-uid"),
            ..ImpersonationRequest::default()
        };
        for (_, value) in headers.iter().filter(|(n, _)| n == "impersonate-group") {
            req.groups.get_or_insert_with(Vec::new).push(value.clone());
        }
        let mut by_name: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (name, value) in headers {
            if let Some(key) = name.strip_prefix("impersonate-extra-") {
                by_name.entry(key).or_default().push(value.clone());
            }
        }
        for (key, values) in by_name {
            let key = unescape_extra_key(&key.to_lowercase());
            let extra = req.extra.get_or_insert_with(BTreeMap::new);
            extra.entry(key).or_default().extend(values);
        }
        let has_user = !req.user.is_empty();
        if !has_user && (!req.uid.is_empty() || req.groups.is_some() || req.extra.is_some()) {
            return Err(ImpersonationError::WithoutUser(go_syntax(&req)));
        }
        Ok(has_user.then_some(req))
    }

    /// The wanted identity as it stands before any defaulting.
    pub(crate) fn wanted_user(&self) -> UserInfo {
        UserInfo {
            username: self.user.clone(),
            uid: self.uid.clone(),
            groups: self.groups.clone().unwrap_or_default(),
            extra: self.extra.clone().unwrap_or_default(),
        }
    }

    /// Whether only the user name is set (`onlyUsernameSet`).
    fn only_username(&self) -> bool {
        self.uid.is_empty()
            && self.groups.as_ref().is_none_or(Vec::is_empty)
            && self.extra.as_ref().is_none_or(BTreeMap::is_empty)
    }
}
