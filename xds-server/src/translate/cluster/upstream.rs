//! A cluster's upstream HTTP filters (Envoy runs them after the router
//! picked the cluster, on every request to it, also on requests no route
//! rewrote: the discovery cache's own fetch). They hold what belongs to the
//! cluster rather than to a route: since the routes are the same for every
//! context (they send each request to the cluster the filter named), the
//! kubeconfig user's bearer token is added here.

use envoy_types::pb::envoy::config::common::mutation_rules::v3::{
    HeaderMutation as HeaderOp, header_mutation::Action,
};
use envoy_types::pb::envoy::config::core::v3::{
    HeaderValue, HeaderValueOption, header_value_option::HeaderAppendAction,
};
use envoy_types::pb::envoy::extensions::filters::http::header_mutation::v3::{
    HeaderMutation, Mutations,
};
use envoy_types::pb::envoy::extensions::filters::http::upstream_codec::v3::UpstreamCodec;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpFilter, http_filter::ConfigType,
};
use prost::Message;

use crate::inputs::kubeconfig::ClusterTarget;
use crate::translate::pack;

/// The upstream filter chain that rewrites headers: `request` on the way
/// to the apiserver, `response` on the way back, then the codec (Envoy
/// requires it last).
pub fn header_filters(request: Vec<HeaderOp>, response: Vec<HeaderOp>) -> Vec<HttpFilter> {
    let mutation = HeaderMutation {
        mutations: Some(Mutations {
            request_mutations: request,
            response_mutations: response,
            ..Default::default()
        }),
        ..Default::default()
    };
    vec![
        typed_filter("envoy.filters.http.header_mutation", &mutation),
        typed_filter("envoy.filters.http.upstream_codec", &UpstreamCodec {}),
    ]
}

/// The filters of a context's ordinary and upgrade clusters: its bearer
/// token, if the kubeconfig user has one (none otherwise: every upstream
/// filter costs each request).
pub fn credential_filters(target: &ClusterTarget) -> Vec<HttpFilter> {
    match credential(target) {
        Some(token) => header_filters(vec![token], Vec::new()),
        None => Vec::new(),
    }
}

/// Set `authorization` to the kubeconfig user's bearer token, replacing
/// whatever the request has (the route configuration removed the filter's
/// cache bypass value already; the caller's token never got this far).
pub fn credential(target: &ClusterTarget) -> Option<HeaderOp> {
    cluster_credential(target).map(|header| HeaderOp {
        action: Some(Action::Append(header)),
    })
}

/// The kubeconfig user's bearer token, if it has one, for the apiserver
/// (also the health check's: Envoy's health checker bypasses upstream
/// filters).
pub fn cluster_credential(target: &ClusterTarget) -> Option<HeaderValueOption> {
    let token = target.bearer_token.as_ref()?;
    Some(overwrite(
        "authorization",
        format!("Bearer {}", token.expose()),
    ))
}

/// Set `name` to `value`, replacing any value it has.
pub fn set(name: &str, value: String) -> HeaderOp {
    HeaderOp {
        action: Some(Action::Append(overwrite(name, value))),
    }
}

/// Remove `name`.
pub fn remove(name: &str) -> HeaderOp {
    HeaderOp {
        action: Some(Action::Remove(name.into())),
    }
}

fn overwrite(name: &str, value: String) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: name.into(),
            value,
            ..Default::default()
        }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        ..Default::default()
    }
}

fn typed_filter<T: Message + prost::Name>(name: &str, config: &T) -> HttpFilter {
    HttpFilter {
        name: name.into(),
        config_type: Some(ConfigType::TypedConfig(pack(config))),
        ..Default::default()
    }
}
