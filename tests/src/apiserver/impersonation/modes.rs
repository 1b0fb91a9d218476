//! The impersonation modes of kube-apiserver 1.36 (`mode.go`,
//! `constrained_impersonation.go` `getImpersonatedUser`), tried in order:
//!
//! 1. `arbitrary-node`: only a user name `system:node:<name>` is wanted;
//! 2. `serviceaccount`: only a user name `system:serviceaccount:<ns>:<n>`;
//! 3. `user-info`: any other user, with any uid, groups and extra;
//!
//! each first asking `impersonate-on:<mode>:<verb>` on the request's own
//! attributes, then `impersonate:<mode>` in group `authentication.k8s.io`
//! on `users`/`nodes`/`serviceaccounts`, `uids`, `groups` and `userextras`
//! (with sanity checks legacy impersonation never had); then
//!
//! 4. legacy: `impersonate` on `users`, `groups`, `serviceaccounts` in
//!    group `""`, `uids` and `userextras/<key>` in `authentication.k8s.io`.
//!
//! The first mode that succeeds wins; if none does, the client gets the
//! first mode's error. As upstream, the mode that last succeeded for the
//! requesting user name is tried first (`modeIndexCache`), so that is the
//! error a later refusal shows.
//!
//! Not modelled: the `associated-node` mode (tried first upstream). It only
//! applies when a service account whose token is bound to a pod on node N
//! impersonates `system:node:N`; this test server has no Nodes and no Node
//! authorizer, and no gateway impersonates nodes. The 10 s caches of
//! successful checks are not modelled either: a test cluster's authorizer
//! never changes, so they could not change a decision.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::ImpersonationRequest;
use super::names::{self, domain_prefixed_path_problem};
use crate::apiserver::authz::{Attributes, Authorizer, Decision, forbidden};
use crate::apiserver::identity::{AUTHENTICATED_GROUP, UserInfo};
use crate::apiserver::rbac::PRIVILEGED_GROUP;
use crate::apiserver::status::ApiError;

/// `authenticationv1.SchemeGroupVersion.Group`.
const AUTHENTICATION_GROUP: &str = "authentication.k8s.io";
/// `user.AllUnauthenticated`.
const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
/// `user.NodesGroup`.
const NODES_GROUP: &str = "system:nodes";
/// `manyAuthorizationChecksInLoop`.
const MANY_CHECKS: usize = 4;

/// One impersonation mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    ArbitraryNode,
    ServiceAccount,
    UserInfo,
    Legacy,
}

/// `allImpersonationModes` minus `associated-node`.
const MODES: [Mode; 4] = [
    Mode::ArbitraryNode,
    Mode::ServiceAccount,
    Mode::UserInfo,
    Mode::Legacy,
];

impl Mode {
    /// The constrained mode's name, `None` for legacy.
    fn name(self) -> Option<&'static str> {
        match self {
            Mode::ArbitraryNode => Some("arbitrary-node"),
            Mode::ServiceAccount => Some("serviceaccount"),
            Mode::UserInfo => Some("user-info"),
            Mode::Legacy => None,
        }
    }

    /// The mode's filter: whether it can impersonate `wanted` at all.
    fn applies(self, wanted: &ImpersonationRequest) -> bool {
        let (node, sa) = (
            names::node(&wanted.user).is_some(),
            names::service_account(&wanted.user).is_some(),
        );
        match self {
            Mode::ArbitraryNode => wanted.only_username() && node,
            Mode::ServiceAccount => wanted.only_username() && sa,
            Mode::UserInfo => !node && !sa,
            Mode::Legacy => true,
        }
    }
}

/// `modeIndexCache`: the index of the mode that last succeeded, per
/// requesting user name.
#[derive(Debug, Default)]
pub struct ModeIndexCache(Mutex<HashMap<String, usize>>);

impl ModeIndexCache {
    fn get(&self, user: &str) -> Option<usize> {
        self.0.lock().expect("mode cache").get(user).copied()
    }

    fn set(&self, user: &str, index: usize) {
        self.0
            .lock()
            .expect("mode cache")
            .insert(user.to_string(), index);
    }
}

/// `getImpersonatedUser`: the identity `request.user` may act as, or the
/// 403 of the first mode that failed.
pub fn impersonate(
    authorizer: &Authorizer,
    cache: &ModeIndexCache,
    request: &Attributes<'_>,
    wanted: &ImpersonationRequest,
) -> Result<UserInfo, ApiError> {
    let requestor = &request.user.username;
    let cached = cache.get(requestor);
    let mut first_err = None;
    if let Some(i) = cached {
        match check(MODES[i], authorizer, request, wanted) {
            Ok(Some(user)) => return Ok(user),
            Ok(None) => {}
            Err(e) => first_err = Some(e),
        }
    }
    for (i, mode) in MODES.iter().enumerate() {
        if cached == Some(i) {
            continue;
        }
        match check(*mode, authorizer, request, wanted) {
            Ok(Some(user)) => {
                cache.set(requestor, i);
                return Ok(user);
            }
            Ok(None) => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| ApiError::internal("all impersonation modes failed")))
}

/// One mode's verdict: `Ok(None)` if its filter does not apply.
fn check(
    mode: Mode,
    authorizer: &Authorizer,
    request: &Attributes<'_>,
    wanted: &ImpersonationRequest,
) -> Result<Option<UserInfo>, ApiError> {
    if !mode.applies(wanted) {
        return Ok(None);
    }
    let verb = match mode.name() {
        Some(name) => {
            let on = format!("impersonate-on:{name}:{}", request.verb);
            authorize(
                authorizer,
                &Attributes {
                    verb: &on,
                    ..*request
                },
            )?;
            format!("impersonate:{name}")
        }
        None => "impersonate".to_string(),
    };
    let checker = Checker {
        authorizer,
        requestor: request.user,
        verb: &verb,
        constrained: mode != Mode::Legacy,
    };
    checker.impersonated_user(wanted).map(Some)
}

/// `checkAuthorization`: allowed, or `ForbiddenStatusError(attributes,
/// reason)`.
fn authorize(authorizer: &Authorizer, a: &Attributes<'_>) -> Result<(), ApiError> {
    match authorizer.decide(a) {
        Decision::Allow(_) => Ok(()),
        Decision::Deny(reason) => Err(forbidden(a, &reason)),
    }
}

/// One `impersonationModeState`: the per-field checks with one verb.
struct Checker<'a> {
    authorizer: &'a Authorizer,
    requestor: &'a UserInfo,
    verb: &'a str,
    constrained: bool,
}

impl Checker<'_> {
    /// `impersonationAttributes`: a resource request by the requestor.
    fn attrs<'b>(&'b self, group: &'b str, resource: &'b str, name: &'b str) -> Attributes<'b> {
        Attributes {
            user: self.requestor,
            verb: self.verb,
            is_resource: true,
            api_group: group,
            resource,
            subresource: "",
            namespace: "",
            name,
            path: "",
        }
    }

    /// `usernameAndGroupGV`: `authentication.k8s.io` for constrained
    /// modes, the core group for legacy.
    fn user_group(&self) -> &'static str {
        if self.constrained {
            AUTHENTICATION_GROUP
        } else {
            ""
        }
    }

    /// `impersonationModeState.check`.
    fn impersonated_user(&self, wanted: &ImpersonationRequest) -> Result<UserInfo, ApiError> {
        let mut actual = wanted.wanted_user();
        self.username(wanted, &mut actual)?;
        self.uid(&wanted.uid)?;
        self.groups(&actual_groups(wanted))?;
        self.extra(&wanted.extra.clone().unwrap_or_default())?;
        if actual.username == "system:anonymous" {
            actual.add_group(UNAUTHENTICATED_GROUP);
        } else if !actual.groups.iter().any(|g| g == UNAUTHENTICATED_GROUP) {
            actual.add_group(AUTHENTICATED_GROUP);
        }
        Ok(actual)
    }

    /// `authorizeUsername`: `users`, or (constrained) `nodes`, or
    /// `serviceaccounts` in the account's namespace; fixes the groups of
    /// nodes and of service accounts impersonated without groups.
    fn username(
        &self,
        wanted: &ImpersonationRequest,
        actual: &mut UserInfo,
    ) -> Result<(), ApiError> {
        let groups = actual_groups(wanted);
        let (mut resource, mut name, mut namespace) = ("users", wanted.user.as_str(), "");
        if self.constrained
            && let Some(node) = names::node(&wanted.user)
        {
            (resource, name) = ("nodes", node);
            if !groups.is_empty() {
                let a = self.attrs(self.user_group(), resource, name);
                let why = format!(
                    "when impersonating a node, cannot impersonate groups {}",
                    go_q(&groups)
                );
                return Err(forbidden(&a, &why));
            }
            actual.groups = vec![NODES_GROUP.to_string()];
        }
        if let Some((ns, sa)) = names::service_account(&wanted.user) {
            (resource, name, namespace) = ("serviceaccounts", sa, ns);
            if self.constrained && !groups.is_empty() {
                let a = Attributes {
                    namespace,
                    ..self.attrs(self.user_group(), resource, name)
                };
                let why = format!(
                    "when impersonating a service account, cannot impersonate groups {}",
                    go_q(&groups)
                );
                return Err(forbidden(&a, &why));
            }
            if groups.is_empty() {
                actual.groups = vec![
                    "system:serviceaccounts".to_string(),
                    format!("system:serviceaccounts:{ns}"),
                ];
            }
        }
        let a = Attributes {
            namespace,
            ..self.attrs(self.user_group(), resource, name)
        };
        authorize(self.authorizer, &a)
    }

    /// `authorizeUID`.
    fn uid(&self, uid: &str) -> Result<(), ApiError> {
        if uid.is_empty() {
            return Ok(());
        }
        authorize(
            self.authorizer,
            &self.attrs(AUTHENTICATION_GROUP, "uids", uid),
        )
    }

    /// `authorizeGroups`: (constrained) no `""`, no `system:masters`, and
    /// one `*` check first for four or more; then each group.
    fn groups(&self, groups: &[String]) -> Result<(), ApiError> {
        if groups.is_empty() {
            return Ok(());
        }
        let group = self.user_group();
        if self.constrained {
            if groups.iter().any(String::is_empty) {
                let why = "impersonating the empty string group is not allowed";
                return Err(forbidden(&self.attrs(group, "groups", ""), why));
            }
            if groups.iter().any(|g| g == PRIVILEGED_GROUP) {
                let why = "impersonating the system:masters group is not allowed";
                return Err(forbidden(
                    &self.attrs(group, "groups", PRIVILEGED_GROUP),
                    why,
                ));
            }
            if groups.len() >= MANY_CHECKS
                && authorize(self.authorizer, &self.attrs(group, "groups", "*")).is_ok()
            {
                return Ok(());
            }
        }
        for g in groups {
            authorize(self.authorizer, &self.attrs(group, "groups", g))?;
        }
        Ok(())
    }

    /// `authorizeExtra`: (constrained) `validateExtra` and one `*/*` check
    /// first for four or more values; then `userextras/<key>` named by each
    /// value. Keys in sorted order (Go's map order is random).
    fn extra(&self, extra: &BTreeMap<String, Vec<String>>) -> Result<(), ApiError> {
        if extra.is_empty() {
            return Ok(());
        }
        let base = self.attrs(AUTHENTICATION_GROUP, "userextras", "");
        if self.constrained {
            if let Some(why) = validate_extra(extra) {
                return Err(forbidden(&base, &why));
            }
            let count: usize = extra.values().map(Vec::len).sum();
            let all = Attributes {
                subresource: "*",
                name: "*",
                ..base
            };
            if (extra.len() >= MANY_CHECKS || count >= MANY_CHECKS)
                && authorize(self.authorizer, &all).is_ok()
            {
                return Ok(());
            }
        }
        for (key, values) in extra {
            for value in values {
                let a = Attributes {
                    subresource: key,
                    name: value,
                    ..base
                };
                authorize(self.authorizer, &a)?;
            }
        }
        Ok(())
    }
}

/// The wanted groups (none if no `Impersonate-Group` header).
fn actual_groups(wanted: &ImpersonationRequest) -> Vec<String> {
    wanted.groups.clone().unwrap_or_default()
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn go_q(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(" "))
}

/// `validateExtra` (constrained modes only), first problem in key order.
fn validate_extra(extra: &BTreeMap<String, Vec<String>>) -> Option<String> {
    for (key, values) in extra {
        if key.is_empty() {
            return Some("impersonating the empty string key in extra is not allowed".into());
        }
        if let Some(problem) = domain_prefixed_path_problem(key) {
            return Some(format!(
                "impersonating an invalid key in extra is not allowed: {problem}"
            ));
        }
        if *key != key.to_lowercase() {
            return Some(format!(
                "impersonating a non-lowercase key in extra is not allowed: {key:?}"
            ));
        }
        if values.is_empty() {
            return Some("impersonating empty values in extra is not allowed".into());
        }
        if values.iter().any(String::is_empty) {
            return Some("impersonating the empty string value in extra is not allowed".into());
        }
    }
    None
}
