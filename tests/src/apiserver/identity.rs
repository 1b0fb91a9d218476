//! Who a request acts as: Kubernetes `user.Info`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The group every authenticated user is in.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// A Kubernetes user: name, uid, groups, extra.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// User name.
    pub username: String,
    /// UID, empty if none.
    pub uid: String,
    /// Groups, in order, including `system:authenticated`.
    pub groups: Vec<String>,
    /// Extra attributes (keys lower-case).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// A user with `groups` plus `system:authenticated` (once).
    pub fn authenticated(username: &str, groups: &[String]) -> UserInfo {
        let mut user = UserInfo {
            username: username.to_string(),
            groups: groups.to_vec(),
            ..UserInfo::default()
        };
        user.add_group(AUTHENTICATED_GROUP);
        user
    }

    /// Adds `group` unless present.
    pub fn add_group(&mut self, group: &str) {
        if !self.groups.iter().any(|g| g == group) {
            self.groups.push(group.to_string());
        }
    }

    /// `authentication.k8s.io/v1` `UserInfo` JSON.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"username": self.username, "groups": self.groups});
        if !self.uid.is_empty() {
            v["uid"] = json!(self.uid);
        }
        if !self.extra.is_empty() {
            v["extra"] = json!(self.extra);
        }
        v
    }
}
