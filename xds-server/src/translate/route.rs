//! The route configuration (RDS). The filter picks the context and sets
//! `x-kubeplex-context`; these routes only map that header to the context's
//! clusters, per kind of request:
//!
//! 1. upgrades (exec, attach, port-forward) → the HTTP/1.1 cluster, no timeout;
//! 2. watches (`?watch=true`, `/watch/` paths) and `logs -f` → no timeout;
//! 3. discovery GETs the filter marked for Envoy's cache (the cache key
//!    header) → the cache filter on, the context's discovery cluster
//!    (`discovery_cache`), only for contexts whose discovery is cached;
//! 4. everything else → pooled HTTP/2 with a sane timeout.
//!
//! Every route lets the filter's `grpc-timeout` bound the stream
//! (`max_stream_duration.grpc_timeout_header_max: 0s`), which is how a
//! stream never outlives the token that opened it (FACTS.md). A request that
//! somehow reaches the routes without a context gets a 404 `Status` (fail
//! closed), never a cluster.

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

use super::agents::{AgentRoute, names as agent_names};
use envoy_types::pb::google::protobuf::UInt32Value;

use super::discovery_cache;
use super::{Options, names, seconds};
use crate::inputs::gateway_config::DiscoveryCacheConfig;
use crate::inputs::kubeconfig::ClusterTarget;
use crate::translate::login_settings::LoginSettings;
use kubeplex_proto::routing::CACHE_KEY_HEADER;
use kubeplex_proto::routing::LOGIN_SETTINGS_PATH;

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
/// reverse tunnels) next to the kubeconfig's.
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
    for target in targets {
        routes.extend(context_routes(
            target,
            options,
            discovery_cache::applies(target, cache),
        ));
    }
    for agent in agents {
        routes.extend(
            KINDS
                .into_iter()
                .map(|kind| agent_route(agent, options, kind)),
        );
    }
    routes.push(no_context_route());
    RouteConfiguration {
        name: names::ROUTES.into(),
        virtual_hosts: vec![VirtualHost {
            name: "kubeplex".into(),
            domains: vec!["*".into()],
            routes,
            ..Default::default()
        }],
        // Never let a client-chosen context header (or anything else the
        // filter owns) reach a cluster, nor the filter's cache bypass
        // value of `Authorization` (the filter removed the caller's token).
        request_headers_to_remove: vec![
            names::CONTEXT_HEADER.into(),
            CACHE_KEY_HEADER.into(),
            "authorization".into(),
        ],
        // ...removed before a route adds its cluster's own token.
        most_specific_header_mutations_wins: true,
        ..Default::default()
    }
}

/// The kinds of request a context's routes tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Upgrade,
    WatchQuery,
    WatchPath,
    FollowLogs,
    Discovery,
    Ordinary,
}

/// Every kind, in matching order (upgrades first: they are also GETs).
const KINDS: [Kind; 5] = [
    Kind::Upgrade,
    Kind::WatchQuery,
    Kind::WatchPath,
    Kind::FollowLogs,
    Kind::Ordinary,
];

/// A context's routes; with `cached`, the discovery route before the
/// ordinary one.
fn context_routes(target: &ClusterTarget, options: &Options, cached: bool) -> Vec<Route> {
    let mut routes: Vec<Route> = KINDS
        .into_iter()
        .map(|kind| context_route(target, options, kind))
        .collect();
    if cached {
        let discovery = context_route(target, options, Kind::Discovery);
        routes.insert(routes.len() - 1, discovery);
    }
    routes
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
    Route {
        name: format!("{name}/{}", format!("{kind:?}").to_lowercase()),
        r#match: Some(route_match(name, kind)),
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

/// One kind of request of one context → its cluster.
fn context_route(target: &ClusterTarget, options: &Options, kind: Kind) -> Route {
    let context = &target.context;
    Route {
        name: format!("{context}/{}", format!("{kind:?}").to_lowercase()),
        r#match: Some(route_match(context, kind)),
        action: Some(Action::Route(route_action(target, options, kind))),
        request_headers_to_add: cluster_credential(target),
        // The filter's stream deadline is for Envoy, not for the apiserver.
        request_headers_to_remove: vec!["grpc-timeout".into()],
        ..Default::default()
    }
}

/// Requests the filter sent to `context`, of this kind.
fn route_match(context: &str, kind: Kind) -> RouteMatch {
    let mut headers = vec![HeaderMatcher {
        name: names::CONTEXT_HEADER.into(),
        header_match_specifier: Some(HeaderMatchSpecifier::StringMatch(exact(context))),
        ..Default::default()
    }];
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

/// The cluster, the timeouts of this kind, and the apiserver's host and
/// path prefix.
fn route_action(target: &ClusterTarget, options: &Options, kind: Kind) -> RouteAction {
    let context = &target.context;
    let streaming = !matches!(kind, Kind::Ordinary | Kind::Discovery);
    let cluster = match kind {
        Kind::Upgrade => names::upgrade_cluster(context),
        Kind::Discovery => names::discovery_cluster(context),
        _ => names::cluster(context),
    };
    let server = &target.server;
    let host = if server.port == default_port(&server.scheme) {
        server.host.clone()
    } else if server.host.contains(':') {
        format!("[{}]:{}", server.host, server.port)
    } else {
        format!("{}:{}", server.host, server.port)
    };
    RouteAction {
        cluster_specifier: Some(ClusterSpecifier::Cluster(cluster)),
        // 0 disables the route timeout: watches, logs -f and exec sessions
        // are long-lived by design (Envoy's default 15 s would cut them).
        timeout: Some(seconds(if streaming {
            0
        } else {
            options.request_timeout_seconds
        })),
        idle_timeout: streaming.then(|| seconds(options.stream_idle_timeout_seconds)),
        prefix_rewrite: if server.path.is_empty() {
            String::new()
        } else {
            format!("{}/", server.path)
        },
        host_rewrite_specifier: Some(HostRewriteSpecifier::HostRewriteLiteral(host)),
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

/// The kubeconfig user's bearer token, if it has one, for the apiserver.
pub(crate) fn cluster_credential(target: &ClusterTarget) -> Vec<HeaderValueOption> {
    target
        .bearer_token
        .as_ref()
        .map(|token| HeaderValueOption {
            header: Some(HeaderValue {
                key: "authorization".into(),
                value: format!("Bearer {}", token.expose()),
                ..Default::default()
            }),
            append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
            ..Default::default()
        })
        .into_iter()
        .collect()
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

/// Reached only if the filter did not pick a context: refuse, as a
/// Kubernetes `Status`.
fn no_context_route() -> Route {
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

fn default_port(scheme: &str) -> u16 {
    if scheme == "http" { 80 } else { 443 }
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
