//! Allowed requests that are still open, per worker VM, so a new config
//! can end the ones it no longer authorizes. Long-lived streams (watch,
//! `logs -f`, exec/attach/port-forward) are authorized once, when they
//! open; Envoy keeps them open across ECDS, RDS and CDS updates, even when
//! their context is removed. The wasm glue (`kubeplex-filter`) registers
//! every allowed request, forgets it when it ends, and on each new config
//! resets the streams [`StreamRegistry::to_end`] names.

use std::collections::HashMap;
use std::rc::Rc;

use crate::config::Config;
use crate::policy::Verdict;
use crate::request_info::RequestInfo;
use crate::token::VerifiedToken;

/// What authorized one open stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenStream {
    /// The context it was routed to.
    pub cluster: String,
    /// The token that opened it (issuer, jti, exp, identity).
    pub token: Rc<VerifiedToken>,
    /// What the policy allowed.
    pub info: RequestInfo,
}

/// Why a stream is ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// Its context is no longer in the config.
    ContextRemoved,
    /// Its token's `jti` is now revoked.
    Revoked,
    /// Its token's issuer is no longer trusted.
    IssuerUntrusted,
    /// The gateway policy no longer allows it.
    PolicyDenied,
    /// Its token expired (plus the stream grace); normally Envoy's
    /// `grpc-timeout` has already ended it.
    TokenExpired,
}

impl EndReason {
    /// The metric tag and log word.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::ContextRemoved => "context_removed",
            EndReason::Revoked => "revoked",
            EndReason::IssuerUntrusted => "issuer_untrusted",
            EndReason::PolicyDenied => "policy_denied",
            EndReason::TokenExpired => "token_expired",
        }
    }
}

/// Open allowed streams by Envoy context id.
#[derive(Debug, Default)]
pub struct StreamRegistry {
    streams: HashMap<u32, OpenStream>,
}

impl StreamRegistry {
    /// Register an allowed request by its Envoy context id.
    pub fn insert(&mut self, context_id: u32, stream: OpenStream) {
        self.streams.insert(context_id, stream);
    }

    /// Forget a stream (it ended); its entry, if it was there.
    pub fn remove(&mut self, context_id: u32) -> Option<OpenStream> {
        self.streams.remove(&context_id)
    }

    /// The stream of a context id.
    pub fn get(&self, context_id: u32) -> Option<&OpenStream> {
        self.streams.get(&context_id)
    }

    /// How many streams are open.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether no stream is open.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// The streams `config` no longer authorizes at `now` (Unix seconds),
    /// by context id (ascending, so logs are stable).
    pub fn to_end(&self, config: &Config, now: i64) -> Vec<(u32, EndReason)> {
        let mut out: Vec<(u32, EndReason)> = self
            .streams
            .iter()
            .filter_map(|(&id, s)| end_reason(config, s, now).map(|r| (id, r)))
            .collect();
        out.sort_unstable_by_key(|&(id, _)| id);
        out
    }
}

/// Why `config` no longer authorizes `stream`, if it does not.
pub fn end_reason(config: &Config, stream: &OpenStream, now: i64) -> Option<EndReason> {
    let token = &stream.token;
    if !config.issuers.contains_key(&token.issuer) {
        return Some(EndReason::IssuerUntrusted);
    }
    if let Some(jti) = token.jti.as_deref()
        && config.revoked.contains_key(jti)
    {
        return Some(EndReason::Revoked);
    }
    if !config.contexts.contains_key(&stream.cluster) {
        return Some(EndReason::ContextRemoved);
    }
    if let Some(policy) = &config.policy
        && policy.decide(&token.identity, &stream.cluster, &stream.info) != Verdict::Allow
    {
        return Some(EndReason::PolicyDenied);
    }
    let deadline = token
        .exp
        .saturating_add(config.clock_skew_seconds)
        .saturating_add(config.stream_expiry_grace_seconds);
    if now > deadline {
        return Some(EndReason::TokenExpired);
    }
    None
}

#[cfg(test)]
mod tests;
