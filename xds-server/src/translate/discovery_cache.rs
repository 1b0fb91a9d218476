//! Envoy's cache in front of each cluster's discovery documents
//! (`cache.discovery` in the gateway config).
//!
//! The pieces, and why each is where it is:
//!
//! - The listener has Envoy's cache filter between the kubeplex filter and
//!   the router, so the cache only ever sees requests the kubeplex filter
//!   authenticated and allowed (a revoked token never reaches it). Envoy
//!   decides which filters run when the stream starts, before the kubeplex
//!   filter picked the route, so a per-route switch cannot limit the
//!   cache to discovery. Instead the cache serves no request with an
//!   `Authorization` header: the kubeplex filter sets the cache key header
//!   (`x-kubeplex-cache-key`: a digest of the context's scope and, unless
//!   shared, the whole impersonated identity) on discovery GETs of cached
//!   contexts and removes the caller's token, and replaces the token with
//!   a fixed bypass value on every other request; the routes remove that
//!   (the route configuration removes `Authorization`; a cluster's upstream
//!   filter adds its own token afterwards). The discovery route matches the
//!   key header and sends the request to the cluster the filter named,
//!   `ctx/<context>/discovery`.
//!   The login settings route, which the kubeplex filter skips, turns the
//!   cache off.
//! - Envoy 1.40's cache filter fetches a miss itself (an async client to
//!   the route's cluster), so the route's own header rewrites do not apply
//!   to it (measured). Hence a third cluster per context, `…/discovery`,
//!   whose upstream filters do what the route would: add the gateway's
//!   bearer token (when the kubeconfig has one), drop the gateway's own
//!   headers, and make the apiserver's answer storable: kube-apiserver
//!   sends `Cache-Control: no-cache, private` on every response
//!   (`WithCacheControl` in its handler chain), which a shared cache must
//!   not store, so it becomes `max-age=<ttl>`, and `Vary` names the cache
//!   key header (with `Accept`, which picks legacy vs aggregated
//!   discovery, and `Accept-Encoding`). The cluster's `ETag`s are kept:
//!   a stale entry is revalidated with `If-None-Match`.
//! - The store is Envoy's file-system cache: the in-memory one has no size
//!   bound, and per-identity entries grow with the number of users.
//! - A context whose server URL has a path (Rancher's `/k8s/clusters/…`)
//!   is not cached: the cache's own fetch would not get the route's prefix
//!   rewrite.

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::route::v3::FilterConfig;
use envoy_types::pb::envoy::extensions::common::async_files::v3::{
    AsyncFileManagerConfig, async_file_manager_config,
};
use envoy_types::pb::envoy::extensions::filters::http::cache::v3::CacheConfig;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpFilter, http_filter::ConfigType,
};
use envoy_types::pb::envoy::extensions::http::cache::file_system_http_cache::v3::FileSystemHttpCacheConfig;
use envoy_types::pb::envoy::extensions::upstreams::http::v3::HttpProtocolOptions;
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};
use envoy_types::pb::google::protobuf::{Any, UInt64Value};
use prost::Message;

use super::cluster::upstream::{self, remove, set};
use super::cluster::{Protocol, cluster, protocol_options};
use super::{Options, digest, names, pack};
use crate::inputs::gateway_config::DiscoveryCacheConfig;
use crate::inputs::kubeconfig::ClusterTarget;
use kubeplex_proto::routing::CACHE_KEY_HEADER;

/// The cache filter's name in the listener (and in the routes that enable it).
pub const CACHE_FILTER: &str = "envoy.filters.http.cache";

/// The headers a cached answer varies on.
pub const VARY: [&str; 3] = ["accept", "accept-encoding", CACHE_KEY_HEADER];

const HTTP_PROTOCOL_OPTIONS: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/// Whether Envoy caches `target`'s discovery under `cache`.
pub fn applies(target: &ClusterTarget, cache: Option<&DiscoveryCacheConfig>) -> bool {
    cache.is_some() && target.server.path.is_empty()
}

/// The filter config's `(cache_scope, cache_shared)` of a context: the
/// scope is a digest of everything that says which cluster answers and as
/// whom the gateway asks, so entries of a context that was removed, or now
/// points elsewhere, are never reached again. Empty: not cached.
pub fn context_scope(
    target: &ClusterTarget,
    cache: Option<&DiscoveryCacheConfig>,
) -> (String, bool) {
    let Some(config) = cache.filter(|_| applies(target, cache)) else {
        return (String::new(), false);
    };
    let s = &target.server;
    let scope = digest(&[
        target.context.as_bytes(),
        s.scheme.as_bytes(),
        s.host.as_bytes(),
        &s.port.to_be_bytes(),
        target.ca_pem.as_deref().unwrap_or("").as_bytes(),
        target.client_cert_pem.as_deref().unwrap_or("").as_bytes(),
        target
            .bearer_token
            .as_ref()
            .map_or("", |t| t.expose())
            .as_bytes(),
        target.tls_server_name.as_deref().unwrap_or("").as_bytes(),
    ]);
    (scope, config.shared(&target.context))
}

/// The cache filter for the listener.
pub fn http_filter(cache: &DiscoveryCacheConfig) -> HttpFilter {
    let store = FileSystemHttpCacheConfig {
        manager_config: Some(AsyncFileManagerConfig {
            manager_type: Some(async_file_manager_config::ManagerType::ThreadPool(
                async_file_manager_config::ThreadPool { thread_count: 1 },
            )),
            ..Default::default()
        }),
        cache_path: cache.directory.to_string_lossy().into_owned(),
        max_cache_size_bytes: Some(UInt64Value {
            value: cache.max_bytes,
        }),
        max_cache_entry_count: Some(UInt64Value {
            value: cache.max_entries,
        }),
        ..Default::default()
    };
    let config = CacheConfig {
        typed_config: Some(pack(&store)),
        allowed_vary_headers: VARY
            .iter()
            .map(|name| StringMatcher {
                match_pattern: Some(MatchPattern::Exact(name.to_string())),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    HttpFilter {
        name: CACHE_FILTER.into(),
        config_type: Some(ConfigType::TypedConfig(pack(&config))),
        ..Default::default()
    }
}

/// The cache filter off, for a route's `typed_per_filter_config` (the
/// login settings route: the kubeplex filter does not run there).
pub fn disabled_on_route() -> (String, Any) {
    let disabled = FilterConfig {
        disabled: true,
        ..Default::default()
    };
    (CACHE_FILTER.to_string(), pack(&disabled))
}

/// The context's discovery cluster: its HTTP/2 cluster under another name,
/// whose upstream filters do the route's work for the cache's own fetch
/// and make the answer storable for `ttl_seconds`; health checked like it
/// (`checks`).
pub fn cluster_for(
    target: &ClusterTarget,
    options: &Options,
    checks: &crate::inputs::gateway_config::HealthChecks,
    ttl_seconds: u64,
) -> Cluster {
    let mut c = cluster(target, options, checks, Protocol::Http2);
    c.name = names::discovery_cluster(&target.context);
    let mut http = protocol_options(Protocol::Http2);
    http.http_filters = rewrites(target, ttl_seconds);
    c.typed_extension_protocol_options.insert(
        HTTP_PROTOCOL_OPTIONS.into(),
        pack::<HttpProtocolOptions>(&http),
    );
    c
}

/// What the route would do to the request (the cluster's own token, no
/// header of the gateway's), and the answer made storable.
fn rewrites(target: &ClusterTarget, ttl_seconds: u64) -> Vec<HttpFilter> {
    let mut request = vec![
        remove(names::CLUSTER_HEADER),
        remove(CACHE_KEY_HEADER),
        remove("grpc-timeout"),
    ];
    request.extend(upstream::credential(target));
    let response = vec![
        remove("cache-control"),
        remove("expires"),
        set("cache-control", format!("max-age={ttl_seconds}")),
        set("vary", VARY.join(", ")),
    ];
    upstream::header_filters(request, response)
}

/// The listener version's part that the cache filter depends on.
pub fn version_parts(cache: Option<&DiscoveryCacheConfig>) -> Vec<u8> {
    cache.map_or_else(Vec::new, |c| http_filter(c).encode_to_vec())
}

#[cfg(test)]
mod tests;
