//! Impersonation headers, read exactly as the apiserver's impersonation
//! filter reads them.

use std::collections::BTreeMap;

use super::identity::{AUTHENTICATED_GROUP, UserInfo};

/// Who may impersonate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ImpersonationPolicy {
    /// Any authenticated user (the default: a gateway's credential usually
    /// has this right on the cluster).
    #[default]
    AnyAuthenticated,
    /// Only these users, or members of these groups.
    Only {
        /// User names allowed to impersonate.
        users: Vec<String>,
        /// Groups whose members may impersonate.
        groups: Vec<String>,
    },
    /// Nobody.
    Nobody,
}

impl ImpersonationPolicy {
    /// Whether `user` may impersonate.
    pub fn allows(&self, user: &UserInfo) -> bool {
        match self {
            ImpersonationPolicy::AnyAuthenticated => true,
            ImpersonationPolicy::Only { users, groups } => {
                users.contains(&user.username) || user.groups.iter().any(|g| groups.contains(g))
            }
            ImpersonationPolicy::Nobody => false,
        }
    }
}

/// What the `Impersonate-*` headers ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImpersonationRequest {
    /// `Impersonate-User`.
    pub user: String,
    /// `Impersonate-Uid`, empty if absent.
    pub uid: String,
    /// `Impersonate-Group`, repeated, in order.
    pub groups: Vec<String>,
    /// `Impersonate-Extra-<key>` (key percent-decoded, lower-case).
    pub extra: BTreeMap<String, Vec<String>>,
}

/// Malformed impersonation headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImpersonationError {
    /// Groups, uid or extra without `Impersonate-User` (the apiserver
    /// answers 500 InternalError).
    #[error("requested {0} without impersonating a user")]
    WithoutUser(String),
}

impl ImpersonationRequest {
    /// Reads the headers (names lower-case). `Ok(None)` if there are none.
    pub fn from_headers(
        headers: &[(String, String)],
    ) -> Result<Option<ImpersonationRequest>, ImpersonationError> {
        let mut req = ImpersonationRequest::default();
        let mut any = false;
        let mut has_user = false;
        let mut what = Vec::new();
        for (name, value) in headers {
            if name == "impersonate-user" {
                any = true;
                has_user = true;
                req.user = value.clone();
            } else if name == "impersonate-group" {
                any = true;
                req.groups.push(value.clone());
                what.push(format!("group {value:?}"));
            } else if name == "impersonate-uid" {
                any = true;
                req.uid = value.clone();
                what.push(format!("uid {value:?}"));
            } else if let Some(key) = name.strip_prefix("impersonate-extra-") {
                any = true;
                let key = percent_encoding::percent_decode_str(key)
                    .decode_utf8_lossy()
                    .to_lowercase();
                what.push(format!("extra {key:?}"));
                req.extra.entry(key).or_default().push(value.clone());
            }
        }
        if !any {
            return Ok(None);
        }
        if !has_user {
            return Err(ImpersonationError::WithoutUser(what.join(", ")));
        }
        Ok(Some(req))
    }

    /// The identity the request then acts as: the impersonated user with
    /// `system:authenticated` (and the service-account groups for
    /// `system:serviceaccount:<ns>:<name>`), as the apiserver builds it.
    pub fn effective_user(&self) -> UserInfo {
        let mut user = UserInfo {
            username: self.user.clone(),
            uid: self.uid.clone(),
            groups: self.groups.clone(),
            extra: self.extra.clone(),
        };
        if let Some(rest) = self.user.strip_prefix("system:serviceaccount:")
            && let Some((ns, _)) = rest.split_once(':')
        {
            user.add_group("system:serviceaccounts");
            user.add_group(&format!("system:serviceaccounts:{ns}"));
        }
        if self.user != "system:anonymous" {
            user.add_group(AUTHENTICATED_GROUP);
        }
        user
    }

    /// What must be authorized, as `(resource, name)` pairs in API group
    /// `""` (users, groups, uids) or `authentication.k8s.io` (userextras).
    pub fn checks(&self) -> Vec<(&'static str, String, String)> {
        let mut out = vec![("", "users".to_string(), self.user.clone())];
        for g in &self.groups {
            out.push(("", "groups".to_string(), g.clone()));
        }
        if !self.uid.is_empty() {
            out.push((
                "authentication.k8s.io",
                "uids".to_string(),
                self.uid.clone(),
            ));
        }
        for (k, vs) in &self.extra {
            for v in vs {
                out.push((
                    "authentication.k8s.io",
                    format!("userextras/{k}"),
                    v.clone(),
                ));
            }
        }
        out
    }
}
