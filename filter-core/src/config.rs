//! The pushed [`FilterConfig`](crate::config_pb::FilterConfig), decoded,
//! validated and indexed once per config (issuers by URL, revoked JTIs,
//! contexts, compiled policy), so a request only does lookups.

use std::collections::HashMap;
use std::sync::Arc;

use kubeplex_proto::routing::{self, ClusterKind};

use prost::Message;

use crate::config_pb as pb;
use crate::discovery_cache::CacheScope;
use crate::issuer::{Issuer, IssuerError};
use crate::policy::{Policy, PolicyError};

/// Cached verified tokens when the config says 0.
pub const DEFAULT_TOKEN_CACHE_SIZE: usize = 4096;
/// The cluster header when the config leaves it empty.
pub const DEFAULT_CLUSTER_HEADER: &str = kubeplex_proto::routing::CLUSTER_HEADER;

/// Why a pushed config is refused (`on_configure` then returns false and
/// Envoy keeps the previous one).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The bytes are not a serialized `FilterConfig`.
    #[error("filter config is not a serialized kubeplex.filter.v1.FilterConfig: {0}")]
    Decode(String),
    /// An issuer does not compile.
    #[error(transparent)]
    Issuer(#[from] IssuerError),
    /// Two issuers with the same URL (a token could not say which it means).
    #[error("issuer {url:?} is listed twice")]
    DuplicateIssuer {
        /// The URL both have.
        url: String,
    },
    /// A context without a name.
    #[error("context #{index} has an empty name")]
    EmptyContext {
        /// Its position in the config.
        index: usize,
    },
    /// Two contexts claim the same TLS server name.
    #[error("contexts {first:?} and {second:?} have the same server name {server_name:?}")]
    DuplicateServerName {
        /// The server name, lower-case.
        server_name: String,
        /// The context listed first.
        first: String,
        /// The context listed second.
        second: String,
    },
    /// The cluster header is not a lower-case HTTP header name.
    #[error("cluster_header {0:?} is not a lower-case HTTP header name")]
    ClusterHeader(String),
    /// The cluster path prefix does not start with `/`.
    #[error("cluster_path_prefix {0:?} must start with \"/\"")]
    PathPrefix(String),
    /// The policy does not compile.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// The whole config, indexed.
pub struct Config {
    /// The control plane's version of this config (audit records carry it).
    pub version: String,
    /// Trusted issuers by URL (a token's `iss`).
    pub issuers: HashMap<String, Issuer>,
    /// jti → reason (possibly empty).
    pub revoked: HashMap<String, String>,
    /// Every context (cluster) requests may go to → its Envoy clusters'
    /// names, named once per config instead of per request.
    pub contexts: HashMap<String, ContextClusters>,
    /// Lower-case TLS server name (SNI) → context, for requests without
    /// the path prefix.
    pub contexts_by_server_name: HashMap<String, String>,
    /// Contexts whose discovery Envoy caches → their cache scope.
    pub cache_scopes: HashMap<String, CacheScope>,
    /// The gateway RBAC; `None`: the gateway authorizes nothing itself.
    pub policy: Option<Policy>,
    /// Leeway for `exp`, `nbf`, `iat`.
    pub clock_skew_seconds: i64,
    /// Verified tokens cached per worker VM.
    pub token_cache_size: usize,
    /// The request header that names the chosen Envoy cluster to the routes
    /// (`routing::cluster_name`).
    pub cluster_header: Arc<str>,
    /// Empty: path-prefix cluster selection is off.
    pub cluster_path_prefix: String,
    /// How long past its token's `exp` a stream may run.
    pub stream_expiry_grace_seconds: i64,
    /// The routes' timeout of ordinary requests; 0: unknown or none
    /// (`deadline::needed` then always says yes).
    pub request_timeout_seconds: i64,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Summaries only: key material and revoked IDs stay out of logs.
        f.debug_struct("Config")
            .field("version", &self.version)
            .field("issuers", &self.issuers.len())
            .field("revoked", &self.revoked.len())
            .field("contexts", &self.contexts.len())
            .field("policy", &self.policy.is_some())
            .finish()
    }
}

impl Config {
    /// Decode and compile the bytes Envoy hands to `on_configure`.
    pub fn decode(bytes: &[u8]) -> Result<Config, ConfigError> {
        let pb = pb::FilterConfig::decode(bytes).map_err(|e| ConfigError::Decode(e.to_string()))?;
        Config::compile(&pb)
    }

    /// Validate and index a decoded config.
    pub fn compile(pb: &pb::FilterConfig) -> Result<Config, ConfigError> {
        let mut issuers = HashMap::with_capacity(pb.issuers.len());
        for (index, issuer) in pb.issuers.iter().enumerate() {
            let compiled = Issuer::compile(index, issuer)?;
            if issuers.contains_key(&compiled.url) {
                return Err(ConfigError::DuplicateIssuer { url: compiled.url });
            }
            issuers.insert(compiled.url.clone(), compiled);
        }

        let revoked = pb
            .revocations
            .iter()
            .map(|r| (r.jti.clone(), r.reason.clone()))
            .collect();

        let mut contexts = HashMap::with_capacity(pb.contexts.len());
        let mut contexts_by_server_name = HashMap::new();
        let mut cache_scopes = HashMap::new();
        for (index, context) in pb.contexts.iter().enumerate() {
            if context.name.is_empty() {
                return Err(ConfigError::EmptyContext { index });
            }
            contexts.insert(context.name.clone(), ContextClusters::new(&context.name));
            if !context.cache_scope.is_empty() {
                let scope = CacheScope {
                    scope: context.cache_scope.clone(),
                    shared: context.cache_shared,
                };
                cache_scopes.insert(context.name.clone(), scope);
            }
            if !context.server_name.is_empty() {
                let server_name = context.server_name.to_ascii_lowercase();
                if let Some(first) =
                    contexts_by_server_name.insert(server_name.clone(), context.name.clone())
                {
                    return Err(ConfigError::DuplicateServerName {
                        server_name,
                        first,
                        second: context.name.clone(),
                    });
                }
            }
        }

        let cluster_header: Arc<str> = if pb.cluster_header.is_empty() {
            DEFAULT_CLUSTER_HEADER.into()
        } else if is_lower_header_name(&pb.cluster_header) {
            pb.cluster_header.as_str().into()
        } else {
            return Err(ConfigError::ClusterHeader(pb.cluster_header.clone()));
        };

        let cluster_path_prefix = match pb.cluster_path_prefix.as_str() {
            "" => String::new(),
            p if !p.starts_with('/') => return Err(ConfigError::PathPrefix(p.to_string())),
            p if p.ends_with('/') => p.to_string(),
            p => format!("{p}/"),
        };

        let policy = pb.policy.as_ref().map(Policy::compile).transpose()?;

        Ok(Config {
            version: pb.version.clone(),
            issuers,
            revoked,
            contexts,
            contexts_by_server_name,
            cache_scopes,
            policy,
            clock_skew_seconds: i64::from(pb.clock_skew_seconds),
            token_cache_size: match pb.token_cache_size {
                0 => DEFAULT_TOKEN_CACHE_SIZE,
                n => n as usize,
            },
            cluster_header,
            cluster_path_prefix,
            stream_expiry_grace_seconds: i64::from(pb.stream_expiry_grace_seconds),
            request_timeout_seconds: i64::from(pb.request_timeout_seconds),
        })
    }
}
/// A context's Envoy cluster names (`routing::cluster_name`), shared into
/// every request's `decision::Forward`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextClusters {
    ordinary: Arc<str>,
    upgrade: Arc<str>,
    discovery: Arc<str>,
}

impl ContextClusters {
    /// The three names of `context`'s clusters.
    pub fn new(context: &str) -> Self {
        let name = |kind| Arc::from(routing::cluster_name(context, kind));
        ContextClusters {
            ordinary: name(ClusterKind::Ordinary),
            upgrade: name(ClusterKind::Upgrade),
            discovery: name(ClusterKind::Discovery),
        }
    }

    /// The name of the cluster of this kind.
    pub fn get(&self, kind: ClusterKind) -> &Arc<str> {
        match kind {
            ClusterKind::Ordinary => &self.ordinary,
            ClusterKind::Upgrade => &self.upgrade,
            ClusterKind::Discovery => &self.discovery,
        }
    }
}

/// RFC 7230 token characters, lower-case only (Envoy lower-cases names).
fn is_lower_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

#[cfg(test)]
mod tests;
