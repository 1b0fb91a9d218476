//! Which cluster (kubeconfig context) a request goes to: the path prefix
//! `<prefix><context>/...` (stripped before forwarding), or else the TLS
//! server name (SNI) of a context that has one (`kubectl get --raw`
//! replaces the server URL's path but keeps its `tls-server-name`), or else
//! the token's `ctx` claim (multikube's scheme, path unchanged). A token
//! bound to a context by `ctx` never opens another one through the path or
//! the server name.

use std::borrow::Cow;

use crate::config::Config;
use crate::path_encoding::percent_decode;
use crate::reason::DenyReason;

/// The chosen context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route<'a> {
    /// The context (cluster) name.
    pub context: Cow<'a, str>,
    /// The path to forward when the prefix was stripped (query kept);
    /// `None` = forward the path unchanged.
    pub upstream_path: Option<String>,
}

impl Route<'_> {
    /// The path the cluster will see.
    pub fn effective_path<'p>(&'p self, original: &'p str) -> &'p str {
        self.upstream_path.as_deref().unwrap_or(original)
    }
}

/// Why no context could be chosen.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    /// Neither a path prefix nor a `ctx` claim.
    #[error(
        "no cluster selected: use a server URL ending in /clusters/<context>, or a token with a \"ctx\" claim"
    )]
    NoContext,
    /// The token's `ctx` claim names a different context than the path.
    #[error("token is bound to context {bound:?}, not {requested:?}")]
    BoundElsewhere {
        /// The token's `ctx` claim.
        bound: String,
        /// The context the path or server name chose.
        requested: String,
    },
    /// The context is not in the config.
    #[error("context {0:?} not found")]
    UnknownContext(String),
}

impl RouteError {
    /// Why, for the audit record and the metrics.
    pub fn reason(&self) -> DenyReason {
        match self {
            RouteError::NoContext => DenyReason::NoContext,
            RouteError::BoundElsewhere { .. } => DenyReason::ContextMismatch,
            RouteError::UnknownContext(_) => DenyReason::UnknownContext,
        }
    }
}

/// Choose the context for `path` (`:path`, with query) and the token's `ctx`.
pub fn select<'a>(
    config: &'a Config,
    path: &'a str,
    ctx_claim: Option<&'a str>,
) -> Result<Route<'a>, RouteError> {
    select_with_server_name(config, path, ctx_claim, None)
}

/// Whether [`select_with_server_name`] looks at the server name for `path`
/// (some context has one and the path has no cluster prefix): the glue
/// reads it from Envoy, a host call, only then.
pub fn wants_server_name(config: &Config, path: &str) -> bool {
    !config.contexts_by_server_name.is_empty() && after_prefix(config, path).is_none()
}

/// `path` after the cluster prefix, if it has one.
fn after_prefix<'a>(config: &Config, path: &'a str) -> Option<&'a str> {
    let prefix = config.cluster_path_prefix.as_str();
    (!prefix.is_empty())
        .then(|| path.strip_prefix(prefix))
        .flatten()
}

/// [`select`], with the connection's TLS server name (SNI) as the fallback
/// when the path has no prefix.
pub fn select_with_server_name<'a>(
    config: &'a Config,
    path: &'a str,
    ctx_claim: Option<&'a str>,
    server_name: Option<&str>,
) -> Result<Route<'a>, RouteError> {
    let route = match after_prefix(config, path) {
        Some(rest) => {
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            let (segment, tail) = rest.split_at(end);
            if segment.is_empty() {
                return Err(RouteError::NoContext);
            }
            let context = percent_decode(segment);
            if let Some(bound) = ctx_claim.filter(|b| *b != context) {
                return Err(RouteError::BoundElsewhere {
                    bound: bound.to_string(),
                    requested: context.into_owned(),
                });
            }
            let upstream_path = if tail.starts_with('/') {
                tail.to_string()
            } else {
                format!("/{tail}")
            };
            Route {
                context,
                upstream_path: Some(upstream_path),
            }
        }
        None => {
            let by_server_name = server_name
                .filter(|_| !config.contexts_by_server_name.is_empty())
                .and_then(|sni| {
                    config
                        .contexts_by_server_name
                        .get(sni.to_ascii_lowercase().as_str())
                });
            let context = match (by_server_name, ctx_claim) {
                (Some(chosen), Some(bound)) if bound != chosen => {
                    return Err(RouteError::BoundElsewhere {
                        bound: bound.to_string(),
                        requested: chosen.clone(),
                    });
                }
                (Some(chosen), _) => chosen.as_str(),
                (None, Some(bound)) => bound,
                (None, None) => return Err(RouteError::NoContext),
            };
            Route {
                context: Cow::Borrowed(context),
                upstream_path: None,
            }
        }
    };
    if !config.contexts.contains_key(route.context.as_ref()) {
        return Err(RouteError::UnknownContext(route.context.into_owned()));
    }
    Ok(route)
}

#[cfg(test)]
mod tests;
