//! Why the gateway refused a request, as one word: the `reason` of the
//! audit record and the `reason` label of `kubeplex_requests_total` (an
//! allowed request says `ok`). The words are a contract: the README lists
//! them, dashboards and alerts select on them, the end-to-end tests and
//! the adversarial corpus assert them. Never rename one.

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// `token_in_query`: the URL carries a credential (`access_token`,
    /// `id_token`, `token`, or any JWT value), which would reach the
    /// cluster and its logs.
    TokenInQuery,
    /// `no_token`: no `Authorization: Bearer <token>` header.
    NoToken,
    /// `token_malformed`: not a compact JWS of JSON objects with unique
    /// member names, `crit` in the header, or a claim of the wrong type.
    TokenMalformed,
    /// `algorithm_not_allowed`: `none`, HMAC, or an `alg` kubeplex does
    /// not support.
    AlgorithmNotAllowed,
    /// `issuer_untrusted`: no `iss`, or not a configured issuer.
    IssuerUntrusted,
    /// `key_not_found`: no key of the issuer has the token's `kid`, or
    /// none can verify its `alg`.
    KeyNotFound,
    /// `bad_signature`: the signature does not verify with any candidate key.
    BadSignature,
    /// `verifier_unavailable`: Envoy's signature check itself failed (the
    /// host call, not the token): 503, logged at error level.
    VerifierUnavailable,
    /// `audience_mismatch`: no `aud`, or none the issuer accepts.
    AudienceMismatch,
    /// `token_expired`: past `exp` (plus the clock skew), or no `exp`.
    TokenExpired,
    /// `token_not_yet_valid`: before `nbf`, or issued in the future.
    TokenNotYetValid,
    /// `claim_rule_failed`: a claim validation rule of the issuer does not hold.
    ClaimRuleFailed,
    /// `identity_invalid`: the claims do not make an identity the cluster
    /// would read byte for byte as judged.
    IdentityInvalid,
    /// `reserved_identity`: a non-ServiceAccount issuer asserted a
    /// `system:` user or group.
    ReservedIdentity,
    /// `revoked`: the token's `jti` is revoked.
    Revoked,
    /// `impersonation_refused`: the client sent an `Impersonate-*` header.
    ImpersonationRefused,
    /// `reserved_header`: the client sent an `x-kubeplex-*` or `x-envoy-*`
    /// header, which would steer the gateway's routing or Envoy's router.
    ReservedHeader,
    /// `no_context`: neither a `/clusters/<context>` path, a context's TLS
    /// server name, nor a `ctx` claim chose a cluster.
    NoContext,
    /// `unknown_context`: the chosen context is not configured.
    UnknownContext,
    /// `context_mismatch`: the token's `ctx` claim binds it to another context.
    ContextMismatch,
    /// `ambiguous_path`: a path the cluster could decode differently
    /// (`%2F`, `%5C`, `%2E`, bad escapes, raw non-ASCII).
    AmbiguousPath,
    /// `bad_request`: a request the apiserver would refuse to parse.
    BadRequest,
    /// `cluster_denied`: the gateway policy gives the caller no access to
    /// the cluster at all.
    ClusterDenied,
    /// `policy_denied`: the gateway policy does not allow this request.
    PolicyDenied,
    /// `no_config`: the filter has no configuration yet (503).
    NoConfig,
}

impl DenyReason {
    /// Every reason, in the README's order.
    pub const ALL: [DenyReason; 25] = [
        DenyReason::TokenInQuery,
        DenyReason::NoToken,
        DenyReason::TokenMalformed,
        DenyReason::AlgorithmNotAllowed,
        DenyReason::IssuerUntrusted,
        DenyReason::KeyNotFound,
        DenyReason::BadSignature,
        DenyReason::VerifierUnavailable,
        DenyReason::AudienceMismatch,
        DenyReason::TokenExpired,
        DenyReason::TokenNotYetValid,
        DenyReason::ClaimRuleFailed,
        DenyReason::IdentityInvalid,
        DenyReason::ReservedIdentity,
        DenyReason::Revoked,
        DenyReason::ImpersonationRefused,
        DenyReason::ReservedHeader,
        DenyReason::NoContext,
        DenyReason::UnknownContext,
        DenyReason::ContextMismatch,
        DenyReason::AmbiguousPath,
        DenyReason::BadRequest,
        DenyReason::ClusterDenied,
        DenyReason::PolicyDenied,
        DenyReason::NoConfig,
    ];

    /// The word the audit record and the metrics carry.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::TokenInQuery => "token_in_query",
            DenyReason::NoToken => "no_token",
            DenyReason::TokenMalformed => "token_malformed",
            DenyReason::AlgorithmNotAllowed => "algorithm_not_allowed",
            DenyReason::IssuerUntrusted => "issuer_untrusted",
            DenyReason::KeyNotFound => "key_not_found",
            DenyReason::BadSignature => "bad_signature",
            DenyReason::VerifierUnavailable => "verifier_unavailable",
            DenyReason::AudienceMismatch => "audience_mismatch",
            DenyReason::TokenExpired => "token_expired",
            DenyReason::TokenNotYetValid => "token_not_yet_valid",
            DenyReason::ClaimRuleFailed => "claim_rule_failed",
            DenyReason::IdentityInvalid => "identity_invalid",
            DenyReason::ReservedIdentity => "reserved_identity",
            DenyReason::Revoked => "revoked",
            DenyReason::ImpersonationRefused => "impersonation_refused",
            DenyReason::ReservedHeader => "reserved_header",
            DenyReason::NoContext => "no_context",
            DenyReason::UnknownContext => "unknown_context",
            DenyReason::ContextMismatch => "context_mismatch",
            DenyReason::AmbiguousPath => "ambiguous_path",
            DenyReason::BadRequest => "bad_request",
            DenyReason::ClusterDenied => "cluster_denied",
            DenyReason::PolicyDenied => "policy_denied",
            DenyReason::NoConfig => "no_config",
        }
    }
}

impl std::fmt::Display for DenyReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reason equals its word (`assert_eq!(err.reason(), "bad_signature")`).
impl PartialEq<&str> for DenyReason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for DenyReason {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests;
