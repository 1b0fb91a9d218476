//! Asking the control plane to refetch an issuer's keys when a token names
//! a `kid` the filter does not know (the issuer may have rotated): the
//! gRPC call `kubeplex.admin.v1.KeyRefresh/RefreshKeys` to the static
//! `kubeplex-xds` cluster. The request is refused either way; the call only
//! shortens the time until the new key arrives by ECDS. Rate-limited per
//! issuer per worker VM, so a flood of bogus `kid`s costs the control plane
//! at most one call per issuer per interval per worker.

use std::collections::HashMap;

use prost::Message;

use kubeplex_proto::admin::v1::RefreshKeysRequest;

/// Envoy cluster the call goes to (the bootstrap's xDS cluster).
pub const UPSTREAM: &str = "kubeplex-xds";
/// The gRPC service.
pub const SERVICE: &str = "kubeplex.admin.v1.KeyRefresh";
/// The gRPC method.
pub const METHOD: &str = "RefreshKeys";
/// The call's timeout; the response is ignored.
pub const TIMEOUT_MS: u64 = 2_000;
/// At most one call per issuer per this many milliseconds, per VM.
pub const MIN_INTERVAL_MS: u64 = 2_000;
/// A `kid` is client input: the control plane only logs it, so it is cut.
pub const MAX_KID_LEN: usize = 256;

/// A refresh the decision asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRefresh {
    /// The issuer whose keys to refetch.
    pub issuer: String,
    /// The unknown `kid` (cut to [`MAX_KID_LEN`] bytes on the wire).
    pub kid: String,
}

impl KeyRefresh {
    /// The serialized `RefreshKeysRequest`.
    pub fn encode(&self) -> Vec<u8> {
        let mut end = self.kid.len().min(MAX_KID_LEN);
        while !self.kid.is_char_boundary(end) {
            end -= 1;
        }
        RefreshKeysRequest {
            issuer: self.issuer.clone(),
            kid: self.kid[..end].to_string(),
        }
        .encode_to_vec()
    }
}

/// When each issuer was last asked for (milliseconds, any monotonic-enough
/// clock). Issuers come from the config, so the map stays small.
#[derive(Debug, Default)]
pub struct RefreshLimiter {
    last: HashMap<String, u64>,
}

impl RefreshLimiter {
    /// True (and remembered) when a call for `issuer` may go out at `now_ms`.
    pub fn allow(&mut self, issuer: &str, now_ms: u64) -> bool {
        match self.last.get_mut(issuer) {
            Some(last) if now_ms < last.saturating_add(MIN_INTERVAL_MS) && now_ms >= *last => false,
            Some(last) => {
                // elapsed, or the clock went backwards: allow and restart
                *last = now_ms;
                true
            }
            None => {
                self.last.insert(issuer.to_string(), now_ms);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests;
