//! The kubeplex schemas, generated from `proto/kubeplex/**.proto`.
//!
//! - [`filter::v1`]: what the control plane pushes to the wasm filter.
//! - [`admin::v1`]: the control plane's admin API (with the `grpc` feature,
//!   also the tonic client and server).
//! - [`routing`]: names the control plane's routes and the filter agree on.
//! - [`audit`]: the audit record ([`audit::v1::AuditRecord`], the one
//!   definition of its fields) and the access-log line that wraps the
//!   filter's part of it (used by the control plane and by the benchmark).
#![forbid(unsafe_code)]

pub mod filter {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/kubeplex.filter.v1.rs"));
    }
}

/// The admin API messages are always available (the filter sends
/// `RefreshKeysRequest`); the tonic client and server need `grpc`.
pub mod admin {
    pub mod v1 {
        #[cfg(feature = "grpc")]
        include!(concat!(env!("OUT_DIR"), "/kubeplex.admin.v1.rs"));
        #[cfg(not(feature = "grpc"))]
        include!(concat!(env!("OUT_DIR"), "/messages/kubeplex.admin.v1.rs"));
    }
}

/// How a request names its cluster: the names the control plane's routes
/// and the filter must agree on (the filter config carries them too, so
/// these are the values the control plane sends and the filter defaults to).
pub mod routing {
    /// The request header the filter sets to the Envoy cluster it chose
    /// ([`cluster_name`]): the routes send the request to the cluster it
    /// names (`cluster_header`), so their number does not grow with the
    /// contexts, and remove it before the cluster sees the request.
    pub const CLUSTER_HEADER: &str = "x-kubeplex-cluster";
    /// Every context's clusters are named `ctx/<context>[/<kind>]`.
    pub const CLUSTER_NAME_PREFIX: &str = "ctx/";
    /// The suffix of a context's HTTP/1.1 cluster for upgrades.
    pub const UPGRADE_CLUSTER_SUFFIX: &str = "/upgrade";
    /// The suffix of a context's discovery cluster (Envoy's discovery cache).
    pub const DISCOVERY_CLUSTER_SUFFIX: &str = "/discovery";

    /// Which of a context's clusters a request goes to.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum ClusterKind {
        /// The pooled HTTP/2 cluster: every request but the two below.
        Ordinary,
        /// The HTTP/1.1 cluster: requests with an `upgrade` header (exec,
        /// attach, port-forward; the apiserver upgrades only over HTTP/1.1).
        Upgrade,
        /// The discovery cluster: discovery GETs the filter gave a cache key.
        Discovery,
    }

    /// The Envoy cluster name of `context`'s cluster of this kind. The
    /// context's `/` and `%` are percent-encoded, so no two (context, kind)
    /// pairs share a name: a context `a/upgrade` (which the kubeconfig
    /// loader refuses anyway, but the filter accepts EKS ARNs) is
    /// `ctx/a%2Fupgrade`, never `a`'s upgrade cluster.
    pub fn cluster_name(context: &str, kind: ClusterKind) -> String {
        let suffix = match kind {
            ClusterKind::Ordinary => "",
            ClusterKind::Upgrade => UPGRADE_CLUSTER_SUFFIX,
            ClusterKind::Discovery => DISCOVERY_CLUSTER_SUFFIX,
        };
        let mut name =
            String::with_capacity(CLUSTER_NAME_PREFIX.len() + context.len() + suffix.len());
        name.push_str(CLUSTER_NAME_PREFIX);
        push_escaped(&mut name, context);
        name.push_str(suffix);
        name
    }

    /// Appends `part` to `name` with `/` and `%` percent-encoded, so that a
    /// part can neither reach into the next segment of a name nor pass for
    /// an escape: how every resource name built from a kubeconfig name is
    /// kept apart from the others.
    pub fn push_escaped(name: &mut String, part: &str) {
        for piece in part.split_inclusive(['/', '%']) {
            match piece.strip_suffix('/') {
                Some(head) => {
                    name.push_str(head);
                    name.push_str("%2F");
                }
                None => match piece.strip_suffix('%') {
                    Some(head) => {
                        name.push_str(head);
                        name.push_str("%25");
                    }
                    None => name.push_str(piece),
                },
            }
        }
    }
    /// The path prefix that selects a cluster: `/clusters/<context>/<api path>`.
    pub const CLUSTER_PATH_PREFIX: &str = "/clusters/";
    /// The request header the filter sets on a discovery GET to a context
    /// whose discovery Envoy caches: a digest of the context's cache scope
    /// and the caller's identity. The discovery routes match it, the cache
    /// varies on it, and it never reaches a cluster.
    pub const CACHE_KEY_HEADER: &str = "x-kubeplex-cache-key";
    /// The `Authorization` value the filter puts in place of the caller's
    /// token on every forwarded request Envoy's cache filter must pass by
    /// (it serves no request with an `Authorization` header): all but the
    /// cached discovery GETs, whether a cache is configured or not, so a
    /// listener that still has (or already has) the cache filter while the
    /// filter's config changes is never wrong. Not a credential; the route
    /// configuration removes it before a cluster could see it.
    pub const CACHE_BYPASS_AUTHORIZATION: &str = "Kubeplex cache-bypass";
    /// `kubeplex login`'s settings (issuer, client ID, scopes): the one
    /// path the gateway answers without a token (Envoy itself answers it).
    pub const LOGIN_SETTINGS_PATH: &str = "/.well-known/kubeplex";
    /// The clusters the caller may reach and what they may do there,
    /// answered by the filter from the caller's token and the policy.
    pub const CLUSTERS_API_PATH: &str = "/.kubeplex/v1/clusters";
    /// Envoy's bootstrap cluster that reaches the control plane (ADS, the
    /// filter's key-refresh call, the audit log stream).
    pub const CONTROL_PLANE_CLUSTER: &str = "kubeplex-xds";
}

/// The audit record, and how Envoy logs it.
pub mod audit {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/kubeplex.audit.v1.rs"));
    }

    #[cfg(feature = "serde")]
    mod line;
    #[cfg(feature = "serde")]
    pub use line::{LineError, field_names};

    /// The filter state the filter writes its part of the record to (the
    /// filter's property `kubeplex_audit`; Envoy prefixes `wasm.`).
    pub const FILTER_STATE_KEY: &str = "wasm.kubeplex_audit";

    /// The record's fields that Envoy writes (the rest come from the filter).
    pub const ENVOY_FIELDS: [&str; 7] = [
        "time",
        "source",
        "code",
        "flags",
        "duration_ms",
        "bytes_in",
        "bytes_out",
    ];

    /// The audit line: one flat JSON object. The filter writes the members it
    /// knows — every client-controlled string among them (request id, user
    /// agent, method, path, identity, request info, decision), JSON-escaped,
    /// ending with a comma — into filter state `wasm.kubeplex_audit`; Envoy
    /// adds only values that cannot break JSON (time, address, numbers, flag
    /// letters). `text_format` does not escape, hence that split; when the
    /// filter did not run (a request Envoy itself refused) the fragment is
    /// empty and the line is still valid JSON.
    pub const AUDIT_LINE: &str = concat!(
        "{%FILTER_STATE(wasm.kubeplex_audit:PLAIN)%",
        "\"time\":\"%START_TIME(%Y-%m-%dT%H:%M:%E3SZ)%\",",
        "\"source\":\"%DOWNSTREAM_REMOTE_ADDRESS%\",",
        "\"code\":%RESPONSE_CODE%,",
        "\"flags\":\"%RESPONSE_FLAGS%\",",
        "\"duration_ms\":%DURATION%,",
        "\"bytes_in\":%BYTES_RECEIVED%,",
        "\"bytes_out\":%BYTES_SENT%}\n"
    );
}

#[cfg(test)]
mod tests;
