//! The route configuration (RDS). The filter picks the context and names
//! its Envoy cluster in `x-kubeplex-cluster` (`routing::cluster_name`:
//! `ctx/<context>`, `…/upgrade` for upgrades, `…/discovery` for discovery
//! GETs Envoy's cache may answer); the routes send each request to the
//! cluster it names (`cluster_header`). So the route configuration does
//! not grow with the contexts: editing one context changes its clusters
//! and the filter config, never the routes (issue 16: 10,000 contexts
//! were 50,000 routes, pushed, parsed and matched linearly per request).
//! What used to be per context lives in its clusters: the `Host` (endpoint
//! hostname + `auto_host_rewrite`) and the bearer token (an upstream
//! filter, `cluster::upstream`).
//!
//! One generic route per kind of request, in this order:
//!
//! 1. upgrades (exec, attach, port-forward) → the HTTP/1.1 cluster, no timeout;
//! 2. watches (`?watch=true`, `/watch/` paths) and `logs -f` → no timeout;
//! 3. discovery GETs the filter marked for Envoy's cache (the cache key
//!    header) → the cache filter on, the context's discovery cluster
//!    (`discovery_cache`), only with a discovery cache configured;
//! 4. everything else → pooled HTTP/2 with a sane timeout.
//!
//! Before them, specific routes for the few that need more than a cluster:
//! agent clusters (their reverse tunnel, `agents`) and contexts whose
//! server URL has a path (Rancher's `/k8s/clusters/…`: a prefix rewrite).
//!
//! Every route lets the filter's `grpc-timeout` bound the stream
//! (`max_stream_duration.grpc_timeout_header_max: 0s`), which is how a
//! stream never outlives the token that opened it (FACTS.md). A request that
//! somehow reaches the routes without a cluster header gets a 404 `Status`
//! (fail closed), never a cluster; one naming a cluster Envoy does not have
//! gets Envoy's 503 (`NC`), which `access_log::local_reply_config` makes a
//! `Status`.

use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source};
use envoy_types::pb::envoy::config::core::v3::{
    HeaderValue, HeaderValueOption, header_value_option::HeaderAppendAction,
};
use envoy_types::pb::envoy::config::route::v3::{
    DirectResponseAction, HeaderMatcher, QueryParameterMatcher, RetryPolicy, Route, RouteAction,
    RouteConfiguration, RouteMatch, VirtualHost,
    header_matcher::HeaderMatchSpecifier,
    query_parameter_matcher::QueryParameterMatchSpecifier,
    route::Action,
    route_action::{ClusterSpecifier, HostRewriteSpecifier, MaxStreamDuration},
    route_match::PathSpecifier,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{
    RegexMatcher, StringMatcher, string_matcher::MatchPattern,
};
use envoy_types::pb::google::protobuf::{BoolValue, UInt32Value};

use super::agents::{AgentRoute, names as agent_names};
use super::discovery_cache;
use super::{Options, names, seconds};
use crate::inputs::gateway_config::DiscoveryCacheConfig;
use crate::inputs::kubeconfig::ClusterTarget;
use crate::translate::login_settings::LoginSettings;
use kubeplex_proto::routing::{CACHE_KEY_HEADER, CLUSTER_NAME_PREFIX, LOGIN_SETTINGS_PATH};

/// Values Kubernetes' `strconv.ParseBool` reads as true.
const TRUE_VALUES: &str = "^(1|t|T|TRUE|true|True)$";
/// Legacy watch paths: `/api/v1/watch/...`, `/apis/<g>/<v>/watch/...`.
const WATCH_PATH: &str = "^/(api|apis/[^/]+)/[^/]+/watch(/.*)?$";

/// The one route configuration; `login` adds the unauthenticated
/// `/.well-known/kubeplex` answer.
pub fn route_configuration(
    targets: &[ClusterTarget],
    login: Option<&LoginSettings>,
    options: &Options,
) -> RouteConfiguration {
    route_configuration_with_agents(targets, &[], login, options, None)
}

/// The one route configuration, with agent clusters (reached through their
/// reverse tunnels) next to the kubeconfig's. Only the contexts with a
/// server path are read from `targets`.
pub fn route_configuration_with_agents(
    targets: &[ClusterTarget],
    agents: &[AgentRoute],
    login: Option<&LoginSettings>,
    options: &Options,
    cache: Option<&DiscoveryCacheConfig>,
) -> RouteConfiguration {
    let mut routes: Vec<Route> = login
        .map(|settings| login_settings_route(settings, cache.is_some()))
        .into_iter()
        .collect();
    for agent in agents {
        routes.extend(
            KINDS
                .into_iter()
                .map(|kind| agent_route(agent, options, kind)),
        );
    }
    for target in targets.iter().filter(|t| !t.server.path.is_empty()) {
        routes.extend(
            KINDS
                .into_iter()
                .map(|kind| path_prefix_route(target, options, kind)),
        );
    }
    routes.extend(generic_routes(options, cache.is_some()));
    routes.push(no_cluster_route());
    RouteConfiguration {
        name: names::ROUTES.into(),
        virtual_hosts: vec![VirtualHost {
            name: "kubeplex".into(),
            domains: vec!["*".into()],
            routes,
            ..Default::default()
        }],
        // Never let the filter's cluster header, its cache key, nor its
        // cache bypass value of `Authorization` (the filter removed the
        // caller's token) reach a cluster. A cluster's own token is added
        // after this, by its upstream filter.
        request_headers_to_remove: vec![
            names::CLUSTER_HEADER.into(),
            CACHE_KEY_HEADER.into(),
            "authorization".into(),
        ],
        ..Default::default()
    }
}

/// The kinds of request the routes tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Upgrade,
    WatchQuery,
    WatchPath,
    FollowLogs,
    Discovery,
    Ordinary,
}

/// Every kind but discovery, in matching order (upgrades first: they are
/// also GETs).
const KINDS: [Kind; 5] = [
    Kind::Upgrade,
    Kind::WatchQuery,
    Kind::WatchPath,
    Kind::FollowLogs,
    Kind::Ordinary,
];

/// The routes every context shares; with `cached`, the discovery route
/// before the ordinary one.
fn generic_routes(options: &Options, cached: bool) -> Vec<Route> {
    let mut routes: Vec<Route> = KINDS
        .into_iter()
        .map(|kind| generic_route(options, kind))
        .collect();
    if cached {
        let discovery = generic_route(options, Kind::Discovery);
        routes.insert(routes.len() - 1, discovery);
    }
    routes
}

/// One kind of request of any context → the cluster the filter named.
/// Only names of contexts' clusters (`ctx/…`) match: the filter sets no
/// other, and a route never sends a request to the control plane's or the
/// agents' cluster by header.
fn generic_route(options: &Options, kind: Kind) -> Route {
    let cluster = HeaderMatcher {
        name: names::CLUSTER_HEADER.into(),
        header_match_specifier: Some(HeaderMatchSpecifier::StringMatch(StringMatcher {
            match_pattern: Some(MatchPattern::Prefix(CLUSTER_NAME_PREFIX.into())),
            ..Default::default()
        })),
        ..Default::default()
    };
    let specifier = ClusterSpecifier::ClusterHeader(names::CLUSTER_HEADER.into());
    Route {
        name: kind_name(kind).into(),
        r#match: Some(route_match(cluster, kind)),
        action: Some(Action::Route(route_action(specifier, options, kind))),
        // The filter's stream deadline is for Envoy, not for the apiserver.
        request_headers_to_remove: vec!["grpc-timeout".into()],
        ..Default::default()
    }
}

/// One kind of request of a context whose server URL has a path: its
/// cluster by name, and the path prepended.
fn path_prefix_route(target: &ClusterTarget, options: &Options, kind: Kind) -> Route {
    let cluster = match kind {
        Kind::Upgrade => names::upgrade_cluster(&target.context),
        Kind::Discovery => names::discovery_cluster(&target.context),
        _ => names::cluster(&target.context),
    };
    let mut action = route_action(ClusterSpecifier::Cluster(cluster.clone()), options, kind);
    action.prefix_rewrite = format!("{}/", target.server.path);
    Route {
        name: format!("{cluster}/{}", kind_name(kind)),
        r#match: Some(route_match(
            exact_header(names::CLUSTER_HEADER, &cluster),
            kind,
        )),
        action: Some(Action::Route(action)),
        request_headers_to_remove: vec!["grpc-timeout".into()],
        ..Default::default()
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Upgrade => "upgrade",
        Kind::WatchQuery => "watchquery",
        Kind::WatchPath => "watchpath",
        Kind::FollowLogs => "followlogs",
        Kind::Discovery => "discovery",
        Kind::Ordinary => "ordinary",
    }
}

/// One kind of request of one agent cluster → the reverse-connection
/// cluster, naming the agent's tunnel. The agent's Envoy rewrites the host
/// and adds its own credential; upgrades travel as HTTP/2 extended CONNECT.
fn agent_route(agent: &AgentRoute, options: &Options, kind: Kind) -> Route {
    let name = &agent.name;
    let streaming = kind != Kind::Ordinary;
    let set = |key: &str, value: &str| HeaderValueOption {
        header: Some(HeaderValue {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        ..Default::default()
    };
    // what the filter names for this agent's requests of this kind
    let named = match kind {
        Kind::Upgrade => names::upgrade_cluster(name),
        _ => names::cluster(name),
    };
    Route {
        name: format!("{name}/{}", kind_name(kind)),
        r#match: Some(route_match(
            exact_header(names::CLUSTER_HEADER, &named),
            kind,
        )),
        action: Some(Action::Route(RouteAction {
            cluster_specifier: Some(ClusterSpecifier::Cluster(agent_names::CLUSTER.into())),
            timeout: Some(seconds(if streaming {
                0
            } else {
                options.request_timeout_seconds
            })),
            idle_timeout: streaming.then(|| seconds(options.stream_idle_timeout_seconds)),
            max_stream_duration: Some(MaxStreamDuration {
                grpc_timeout_header_max: Some(seconds(0)),
                ..Default::default()
            }),
            ..Default::default()
        })),
        request_headers_to_add: vec![
            set(agent_names::AGENT_HEADER, name),
            set(
                agent_names::AGENT_STATUS_HEADER,
                &agent.not_connected_message,
            ),
        ],
        request_headers_to_remove: vec!["grpc-timeout".into()],
        ..Default::default()
    }
}

fn exact_header(name: &str, value: &str) -> HeaderMatcher {
    HeaderMatcher {
        name: name.into(),
        header_match_specifier: Some(HeaderMatchSpecifier::StringMatch(exact(value))),
        ..Default::default()
    }
}

/// Requests the filter sent to `cluster` (a header matcher), of this kind.
fn route_match(cluster: HeaderMatcher, kind: Kind) -> RouteMatch {
    let mut headers = vec![cluster];
    let mut query_parameters = Vec::new();
    let mut path = PathSpecifier::Prefix("/".into());
    match kind {
        Kind::Upgrade => headers.push(HeaderMatcher {
            name: "upgrade".into(),
            header_match_specifier: Some(HeaderMatchSpecifier::PresentMatch(true)),
            ..Default::default()
        }),
        Kind::WatchQuery => query_parameters.push(query_true("watch")),
        Kind::WatchPath => path = PathSpecifier::SafeRegex(regex(WATCH_PATH)),
        Kind::FollowLogs => query_parameters.push(query_true("follow")),
        Kind::Discovery => headers.push(HeaderMatcher {
            name: CACHE_KEY_HEADER.into(),
            header_match_specifier: Some(HeaderMatchSpecifier::PresentMatch(true)),
            ..Default::default()
        }),
        Kind::Ordinary => {}
    }
    RouteMatch {
        path_specifier: Some(path),
        headers,
        query_parameters,
        ..Default::default()
    }
}

/// The cluster, the timeouts of this kind, and the apiserver's host (the
/// cluster's endpoint hostname, `cluster::host_header`).
fn route_action(cluster: ClusterSpecifier, options: &Options, kind: Kind) -> RouteAction {
    let streaming = !matches!(kind, Kind::Ordinary | Kind::Discovery);
    RouteAction {
        cluster_specifier: Some(cluster),
        // 0 disables the route timeout: watches, logs -f and exec sessions
        // are long-lived by design (Envoy's default 15 s would cut them).
        timeout: Some(seconds(if streaming {
            0
        } else {
            options.request_timeout_seconds
        })),
        idle_timeout: streaming.then(|| seconds(options.stream_idle_timeout_seconds)),
        host_rewrite_specifier: Some(HostRewriteSpecifier::AutoHostRewrite(BoolValue {
            value: true,
        })),
        max_stream_duration: Some(MaxStreamDuration {
            grpc_timeout_header_max: Some(seconds(0)),
            ..Default::default()
        }),
        retry_policy: (kind != Kind::Upgrade).then(refused_stream_retry),
        ..Default::default()
    }
}

/// A stream the apiserver refused (`REFUSED_STREAM`: over its stream limit,
/// or a connection going away) was never processed, so sending it again is
/// safe for every method (RFC 9113 §8.7). Nothing else is retried: the
/// apiserver's own 429 and 5xx answers reach the client untouched, with
/// their `Retry-After`, for client-go's backoff.
fn refused_stream_retry() -> RetryPolicy {
    RetryPolicy {
        retry_on: "refused-stream".into(),
        num_retries: Some(UInt32Value { value: 3 }),
        ..Default::default()
    }
}

/// `GET /.well-known/kubeplex` (exactly that path): Envoy answers it with
/// the login settings, and the kubeplex filter does not run for it (the
/// route disables it), so it needs no token. Nothing else is reachable
/// without one: the filter is disabled on this route only, which matches
/// one exact path and method and never reaches a cluster.
fn login_settings_route(settings: &LoginSettings, cache: bool) -> Route {
    let body = serde_json::to_string(settings).expect("login settings serialize");
    let disabled = envoy_types::pb::envoy::config::route::v3::FilterConfig {
        disabled: true,
        ..Default::default()
    };
    Route {
        name: "login-settings".into(),
        r#match: Some(RouteMatch {
            path_specifier: Some(PathSpecifier::Path(LOGIN_SETTINGS_PATH.into())),
            headers: vec![HeaderMatcher {
                name: ":method".into(),
                header_match_specifier: Some(HeaderMatchSpecifier::StringMatch(exact("GET"))),
                ..Default::default()
            }],
            ..Default::default()
        }),
        action: Some(Action::DirectResponse(DirectResponseAction {
            status: 200,
            body: Some(DataSource {
                specifier: Some(data_source::Specifier::InlineString(body)),
                ..Default::default()
            }),
            ..Default::default()
        })),
        typed_per_filter_config: [(names::FILTER.to_string(), super::pack(&disabled))]
            .into_iter()
            .chain(cache.then(discovery_cache::disabled_on_route))
            .collect(),
        response_headers_to_add: vec![json_content_type()],
        ..Default::default()
    }
}

fn json_content_type() -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: "content-type".into(),
            value: "application/json".into(),
            ..Default::default()
        }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        ..Default::default()
    }
}

/// Reached only if the filter did not name a cluster: refuse, as a
/// Kubernetes `Status`.
fn no_cluster_route() -> Route {
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "no cluster selected: use a server URL ending in /clusters/<context>",
        "reason": "NotFound",
        "code": 404
    });
    Route {
        name: "no-context".into(),
        r#match: Some(RouteMatch {
            path_specifier: Some(PathSpecifier::Prefix("/".into())),
            ..Default::default()
        }),
        action: Some(Action::DirectResponse(DirectResponseAction {
            status: 404,
            body: Some(DataSource {
                specifier: Some(data_source::Specifier::InlineString(body.to_string())),
                ..Default::default()
            }),
            ..Default::default()
        })),
        response_headers_to_add: vec![json_content_type()],
        ..Default::default()
    }
}

fn exact(value: &str) -> StringMatcher {
    StringMatcher {
        match_pattern: Some(MatchPattern::Exact(value.into())),
        ..Default::default()
    }
}

fn regex(re: &str) -> RegexMatcher {
    RegexMatcher {
        regex: re.into(),
        ..Default::default()
    }
}

fn query_true(name: &str) -> QueryParameterMatcher {
    QueryParameterMatcher {
        name: name.into(),
        query_parameter_match_specifier: Some(QueryParameterMatchSpecifier::StringMatch(
            StringMatcher {
                match_pattern: Some(MatchPattern::SafeRegex(regex(TRUE_VALUES))),
                ..Default::default()
            },
        )),
    }
}

#[cfg(test)]
mod tests;
