//! The apiserver's max-in-flight limit: at most N read-only and M mutating
//! requests served at once; one more is answered 429 at once, never
//! queued. Modelled on upstream's filter
//! (kubernetes `staging/src/k8s.io/apiserver/pkg/server/filters/maxinflight.go`,
//! `WithMaxInFlightLimit` and `tooManyRequests`):
//!
//! - two pools, `--max-requests-inflight` (default 400: `get`, `list`,
//!   `watch`) and `--max-mutating-requests-inflight` (default 200: every
//!   other verb); a limit of 0 is no limit;
//! - long-running requests are not counted (`BasicLongRunningRequestCheck`
//!   in `filters/longrunning.go`, as kube-apiserver configures it: the
//!   verbs `watch` and `proxy`, the subresources `attach`, `exec`, `proxy`,
//!   `log`, `portforward`);
//! - `system:masters` is never refused ("a super-admin or a loopback
//!   connection");
//! - the refusal is Go's `http.Error`, not a `Status`: `429`,
//!   `Retry-After: 1`, `text/plain; charset=utf-8`, `X-Content-Type-Options:
//!   nosniff`, body `Too many requests, please try again later.` and a
//!   newline. client-go retries it after `Retry-After`.
//!
//! The filter runs after authentication and impersonation (the user it
//! exempts is the impersonated one) and before authorization, as in
//! upstream's handler chain. With API Priority and Fairness (on by default
//! since 1.20) a real apiserver queues first and answers the same 429 (its
//! `Retry-After` computed) when a queue is full; this server models only
//! the plain limit.

use std::sync::Arc;

use hyper::Response;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::http_io::{self, Body};
use super::identity::UserInfo;
use super::rbac::PRIVILEGED_GROUP;
use super::request_info::RequestInfo;

/// Upstream's `retryAfter` constant, seconds.
pub const RETRY_AFTER: &str = "1";
/// Upstream's refusal text (`http.Error` adds the newline).
pub const TOO_MANY_REQUESTS: &str = "Too many requests, please try again later.\n";

/// Verbs upstream counts as read-only (`nonMutatingRequestVerbs`).
const NON_MUTATING_VERBS: &[&str] = &["get", "list", "watch"];
/// Long-running verbs and subresources (kube-apiserver's
/// `BasicLongRunningRequestCheck` arguments).
const LONG_RUNNING_VERBS: &[&str] = &["watch", "proxy"];
const LONG_RUNNING_SUBRESOURCES: &[&str] = &["attach", "exec", "proxy", "log", "portforward"];

/// The two limits (0: that pool is not limited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlightLimits {
    /// `--max-requests-inflight`: `get`, `list` (and `watch`, which is
    /// long-running, so never counted).
    pub non_mutating: usize,
    /// `--max-mutating-requests-inflight`: every other verb.
    pub mutating: usize,
}

impl Default for InFlightLimits {
    /// kube-apiserver's defaults: 400 and 200.
    fn default() -> InFlightLimits {
        InFlightLimits {
            non_mutating: 400,
            mutating: 200,
        }
    }
}

/// Which pool a request counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    /// `get`, `list`, `watch`.
    NonMutating,
    /// Every other verb.
    Mutating,
}

impl Pool {
    fn of(info: &RequestInfo) -> Pool {
        if NON_MUTATING_VERBS.contains(&info.verb.as_str()) {
            Pool::NonMutating
        } else {
            Pool::Mutating
        }
    }
}

/// Slots taken in a pool; given back on drop (for a request: when its
/// response is ready).
#[derive(Debug)]
pub struct InFlightSlots {
    _permit: OwnedSemaphorePermit,
}

/// The server's two pools.
#[derive(Debug)]
pub struct MaxInFlight {
    non_mutating: Option<Arc<Semaphore>>,
    mutating: Option<Arc<Semaphore>>,
}

impl MaxInFlight {
    /// Pools of `limits`.
    pub fn new(limits: InFlightLimits) -> MaxInFlight {
        let pool = |n: usize| (n > 0).then(|| Arc::new(Semaphore::new(n)));
        MaxInFlight {
            non_mutating: pool(limits.non_mutating),
            mutating: pool(limits.mutating),
        }
    }

    fn pool(&self, pool: Pool) -> Option<&Arc<Semaphore>> {
        match pool {
            Pool::NonMutating => self.non_mutating.as_ref(),
            Pool::Mutating => self.mutating.as_ref(),
        }
    }

    /// Admit `info` as `user`: `Ok(Some(slot))` to hold while serving it,
    /// `Ok(None)` when it is not counted (long-running, unlimited pool),
    /// `Err` when its pool is full and `user` is not `system:masters`.
    pub fn admit(
        &self,
        info: &RequestInfo,
        user: &UserInfo,
    ) -> Result<Option<InFlightSlots>, TooManyRequests> {
        if is_long_running(info) {
            return Ok(None);
        }
        let Some(semaphore) = self.pool(Pool::of(info)) else {
            return Ok(None);
        };
        match semaphore.clone().try_acquire_owned() {
            Ok(permit) => Ok(Some(InFlightSlots { _permit: permit })),
            Err(_) if user.groups.iter().any(|g| g == PRIVILEGED_GROUP) => Ok(None),
            Err(_) => Err(TooManyRequests),
        }
    }

    /// Take `n` slots of `pool` as if `n` requests were being served (a
    /// test's way to fill it); None if it has fewer free or no limit.
    pub fn occupy(&self, pool: Pool, n: u32) -> Option<InFlightSlots> {
        let permit = self.pool(pool)?.clone().try_acquire_many_owned(n).ok()?;
        Some(InFlightSlots { _permit: permit })
    }
}

/// `BasicLongRunningRequestCheck(watch, proxy; attach, exec, proxy, log,
/// portforward)`.
fn is_long_running(info: &RequestInfo) -> bool {
    LONG_RUNNING_VERBS.contains(&info.verb.as_str())
        || LONG_RUNNING_SUBRESOURCES.contains(&info.subresource.as_str())
}

/// A request refused because its pool is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyRequests;

impl TooManyRequests {
    /// Upstream's `tooManyRequests`: `Retry-After`, then `http.Error`.
    pub fn response(self) -> Response<Body> {
        let mut response = http_io::text(429, TOO_MANY_REQUESTS);
        response.headers_mut().insert(
            "retry-after",
            hyper::header::HeaderValue::from_static(RETRY_AFTER),
        );
        response
    }
}

#[cfg(test)]
mod tests;
