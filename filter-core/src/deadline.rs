//! Whether a request needs the token-expiry deadline (`grpc-timeout`, which
//! the routes turn into the stream's maximum duration:
//! `max_stream_duration.grpc_timeout_header_max: 0s`).
//!
//! Every stream (watch, `logs -f`, exec) must end when its token expires.
//! The deadline costs a host call, an upstream header, a timer in Envoy
//! and the route's removal of the header on every request (~3 k
//! instructions, `filter/README.md`). It is redundant only where Envoy's
//! own route timeout ends the request first: an ordinary request (the
//! routes' last, timed route: `xds-server/src/translate/route.rs`), whose
//! whole body arrived with its headers (Envoy's route timeout counts from
//! the end of the request), and whose token outlives that timeout. Anything
//! the routes could match as a stream keeps the deadline, read more widely
//! than the routes do: any `upgrade` header, a `CONNECT`, a `watch` or
//! `follow` query parameter with any value, a `watch` path segment, or any
//! percent-encoding in the path or the query names.

use kubeplex_proto::routing::ClusterKind;

use crate::config::Config;

/// What the routes and the route timeout read of a request
/// (`decision::RequestView::shape`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape<'a> {
    /// `:method`.
    pub method: &'a str,
    /// `:path`, with query, as the client sent it.
    pub path: &'a str,
    /// An `upgrade` header.
    pub upgrade: bool,
    /// A `grpc-timeout` header from the client.
    pub client_grpc_timeout: bool,
    /// No body follows the headers (Envoy's `end_of_stream`).
    pub headers_end_request: bool,
}

/// Seconds the filter's clock may lag (a 1 s tick) plus a margin.
const CLOCK_SLACK_SECONDS: i64 = 2;

/// Does this request need the `grpc-timeout` deadline? `remaining`: the
/// token's seconds left at `now` (`exp - now`, without grace); `kind`: the
/// cluster the filter chose.
pub fn needed(config: &Config, request: Shape<'_>, kind: ClusterKind, remaining: i64) -> bool {
    let timeout = config.request_timeout_seconds;
    // no known route timeout, or the token expires before it ends the request
    if timeout <= 0 || remaining.saturating_sub(CLOCK_SLACK_SECONDS) <= timeout {
        return true;
    }
    kind != ClusterKind::Ordinary || might_stream(request)
}

/// Could the routes send this request to a route without a timeout, or
/// could it last longer than the route timeout? Errs towards yes.
pub fn might_stream(request: Shape<'_>) -> bool {
    if request.upgrade
        || !request.headers_end_request
        || request.client_grpc_timeout
        || request.method == "CONNECT"
    {
        return true;
    }
    let (path, query) = match request.path.split_once('?') {
        Some((path, query)) => (path, query),
        None => (request.path, ""),
    };
    path_might_watch(path) || query_might_stream(query)
}

/// A `watch` segment anywhere (the routes' regex wants it second or third,
/// after `api` or `apis/<group>`), or percent-encoding that could spell one.
fn path_might_watch(path: &str) -> bool {
    path.contains('%')
        || path
            .split('/')
            .any(|segment| segment.eq_ignore_ascii_case("watch"))
}

/// A `watch` or `follow` parameter with any value (the routes match only
/// true values), or names an encoding or separator could make one of those.
fn query_might_stream(query: &str) -> bool {
    if query.is_empty() {
        return false;
    }
    if query.contains(';') {
        return true;
    }
    query.split('&').any(|parameter| {
        let name = parameter.split_once('=').map_or(parameter, |(n, _)| n);
        name.contains(['%', '+'])
            || name.trim().eq_ignore_ascii_case("watch")
            || name.trim().eq_ignore_ascii_case("follow")
    })
}

#[cfg(test)]
mod tests;
