//! Pure functions: validated inputs → the Envoy resources kubeplex serves
//! (CDS clusters, SDS secrets with their TLS material, the LDS listener,
//! RDS routes, and the filter's config by ECDS). No I/O here, so every shape is unit-tested.

pub mod access_log;
pub mod agents;
pub mod cluster;
pub mod discovery_cache;
pub mod filter_config;
pub mod listener;
pub mod login_settings;
pub mod route;
pub mod secret;
pub mod server_names;

#[cfg(test)]
pub mod fixtures;

#[cfg(test)]
mod envoy_validate_tests;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use envoy_types::pb::google::protobuf::{Any, Duration};
use prost::{Message, Name};

use crate::inputs::gateway_config::{GatewayConfig, HealthChecks};
use crate::inputs::kubeconfig::{ClusterTarget, LoadedKubeconfig};
use crate::inputs::revocations::Revocation;
use kubeplex_proto::filter::v1 as pb;

/// Names shared by the resources, so they reference each other correctly.
pub mod names {
    /// The one listener.
    pub const LISTENER: &str = "kubeplex-https";
    /// The one route configuration (RDS).
    pub const ROUTES: &str = "kubeplex-routes";
    /// The filter's extension config (ECDS) and its HCM http_filters entry.
    pub const FILTER: &str = "kubeplex.filter";
    pub use kubeplex_proto::routing::{
        CLUSTER_HEADER, CLUSTER_PATH_PREFIX, CONTROL_PLANE_CLUSTER, ClusterKind, cluster_name,
    };
    /// The gRPC access log's name (Envoy sends it on each stream).
    pub const AUDIT_LOG: &str = "kubeplex_audit";

    /// CDS name of a context's pooled HTTP/2 cluster.
    pub fn cluster(context: &str) -> String {
        cluster_name(context, ClusterKind::Ordinary)
    }

    /// CDS name of a context's HTTP/1.1 cluster for upgrades (exec, attach,
    /// port-forward): the apiserver accepts upgrades only over HTTP/1.1.
    pub fn upgrade_cluster(context: &str) -> String {
        cluster_name(context, ClusterKind::Upgrade)
    }

    /// CDS name of a context's discovery cluster: the HTTP/2 cluster whose
    /// upstream filters serve Envoy's discovery cache (`discovery_cache`).
    pub fn discovery_cluster(context: &str) -> String {
        cluster_name(context, ClusterKind::Discovery)
    }
}

/// Type URLs of the resource types kubeplex serves.
pub mod type_urls {
    /// CDS.
    pub const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
    /// LDS.
    pub const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
    /// RDS.
    pub const ROUTE: &str = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
    /// ECDS (the filter's config).
    pub const EXTENSION_CONFIG: &str =
        "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig";
    /// SDS (the contexts' CA bundles and client certificates).
    pub const SECRET: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

    /// In the order a snapshot update is sent: clusters before the routes
    /// that use them, the filter config (which admits contexts) after them.
    /// Secrets right after the clusters: Envoy asks for a new secret only
    /// once a cluster naming it arrives, and a changed one it already has
    /// goes out with the same update.
    pub const ALL: [&str; 5] = [CLUSTER, SECRET, ROUTE, EXTENSION_CONFIG, LISTENER];
}

/// Where Envoy finds the filter's wasm module, and its digest (a new digest
/// means a new VM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmModule {
    /// Path as seen by Envoy.
    pub path: String,
    /// Hex SHA-256 of the module, when the control plane can read it.
    pub sha256: Option<String>,
}

/// Knobs that are not part of the user's inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The filter's module.
    pub wasm: WasmModule,
    /// CA bundle Envoy uses for clusters whose kubeconfig has no CA.
    pub system_ca_file: String,
    /// Route timeout for ordinary (non-streaming) requests.
    pub request_timeout_seconds: u64,
    /// Idle timeout of watches, `logs -f` and upgraded streams.
    pub stream_idle_timeout_seconds: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            wasm: WasmModule {
                path: "/etc/kubeplex/kubeplex_filter.wasm".into(),
                sha256: None,
            },
            system_ca_file: "/etc/ssl/certs/ca-certificates.crt".into(),
            request_timeout_seconds: 120,
            stream_idle_timeout_seconds: 3600,
        }
    }
}

/// One translated resource.
#[derive(Clone, PartialEq)]
pub struct Resource {
    /// The resource name.
    pub name: String,
    /// The resource, shared: the snapshot, the cluster cache and every
    /// stream hold the same bytes (10,000 contexts: tens of megabytes).
    pub body: Arc<Any>,
    /// Changes exactly when the resource's meaning changes: a hash of its
    /// encoding, or of its inputs when the encoding is not deterministic
    /// (envoy-types' `Struct` is a `HashMap`, so the listener's JSON log
    /// format encodes in a random field order).
    pub version: String,
}

/// Name, type and version only: a body can hold a private key (a secret,
/// or a cluster with its TLS material inline).
impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resource")
            .field("name", &self.name)
            .field("type_url", &self.body.type_url)
            .field("bytes", &self.body.value.len())
            .field("version", &self.version)
            .finish()
    }
}

impl Resource {
    /// A resource versioned by the hash of its encoding.
    pub fn new<T: Message + Name>(name: String, message: &T) -> Resource {
        let body = Arc::new(pack(message));
        let version = digest(&[&body.value]);
        Resource {
            name,
            body,
            version,
        }
    }
}

/// Hex SHA-256 (first 16 bytes) over the parts, length-prefixed.
pub fn digest(parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Everything translated, by type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// CDS clusters (two per context).
    pub clusters: Vec<Resource>,
    /// SDS secrets: each kubeconfig entry's CA bundle or client certificate
    /// that a cluster references (`secret`).
    pub secrets: Vec<Resource>,
    /// The LDS listener.
    pub listeners: Vec<Resource>,
    /// The RDS route configuration.
    pub routes: Vec<Resource>,
    /// The filter's config (ECDS).
    pub extension_configs: Vec<Resource>,
}

impl Resources {
    /// `(type_url, resources)` pairs, in sending order.
    pub fn by_type(&self) -> [(&'static str, &[Resource]); 5] {
        [
            (type_urls::CLUSTER, &self.clusters),
            (type_urls::SECRET, &self.secrets),
            (type_urls::ROUTE, &self.routes),
            (type_urls::EXTENSION_CONFIG, &self.extension_configs),
            (type_urls::LISTENER, &self.listeners),
        ]
    }
}

/// The inputs one snapshot is built from (each the last good version).
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// The kubeconfig contexts.
    pub clusters: &'a [ClusterTarget],
    /// The gateway config.
    pub gateway: &'a GatewayConfig,
    /// Issuers with their keys resolved (static keys, or the last good
    /// fetched keys for remote ones).
    pub issuers: &'a [pb::Issuer],
    /// Revocations in force.
    pub revocations: &'a [Revocation],
    /// The gateway policy, if any.
    pub policy: Option<&'a pb::Policy>,
    /// The agent clusters to route to (`agents.clusters` not shadowed by a
    /// kubeconfig context), with what each says while disconnected.
    pub agents: &'a [agents::AgentRoute],
}

/// Translate the inputs into every Envoy resource.
pub fn translate(inputs: &Inputs<'_>, options: &Options) -> Resources {
    let mut clusters = Vec::new();
    for target in inputs.clusters {
        clusters.extend(context_clusters(
            target,
            options,
            &inputs.gateway.health_checks,
        ));
    }
    let contexts = ContextResources {
        clusters,
        secrets: secret::secrets(inputs.clusters),
    };
    translate_with_clusters(inputs, options, contexts)
}

/// What the contexts' kubeconfig entries translate to: their two clusters
/// each and the secrets those reference.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContextResources {
    /// Each context's two clusters.
    pub clusters: Vec<Resource>,
    /// The kubeconfig entries' secrets.
    pub secrets: Vec<Resource>,
}

/// A context's two clusters as resources.
fn context_clusters(
    target: &ClusterTarget,
    options: &Options,
    checks: &HealthChecks,
) -> [Resource; 2] {
    cluster::clusters_for(target, options, checks).map(|c| Resource::new(c.name.clone(), &c))
}

/// The contexts' clusters of the last translation: a reload translates
/// again only the contexts whose kubeconfig entry changed. At 10,000
/// contexts, building, encoding and hashing 20,000 clusters is most of a
/// translation; one edit changes one or two of them.
#[derive(Debug, Default)]
pub struct ClusterCache {
    /// The kubeconfig they were built from (shared with the control
    /// plane's last good one: no copy).
    kubeconfig: Option<Arc<LoadedKubeconfig>>,
    /// And the settings.
    built_with: Option<(Options, HealthChecks)>,
    /// Index into `kubeconfig.clusters` → its two clusters.
    by_context: HashMap<String, (usize, [Resource; 2])>,
    /// The kubeconfig entries' secrets.
    secrets: secret::SecretCache,
}

impl ClusterCache {
    /// Every context's clusters and their secrets for `kubeconfig`, each
    /// reused when its input is unchanged.
    pub fn resources(
        &mut self,
        kubeconfig: &Arc<LoadedKubeconfig>,
        options: &Options,
        checks: &HealthChecks,
    ) -> ContextResources {
        ContextResources {
            clusters: self.clusters(kubeconfig, options, checks),
            secrets: self.secrets.secrets(&kubeconfig.clusters),
        }
    }

    /// Every context's clusters for `kubeconfig`: reused when the context's
    /// entry and the settings are unchanged, translated otherwise.
    pub fn clusters(
        &mut self,
        kubeconfig: &Arc<LoadedKubeconfig>,
        options: &Options,
        checks: &HealthChecks,
    ) -> Vec<Resource> {
        let settings = (options.clone(), *checks);
        if self.built_with.as_ref() != Some(&settings) {
            self.by_context.clear();
            self.built_with = Some(settings);
        }
        let previous = self.kubeconfig.take();
        let mut by_context = HashMap::with_capacity(kubeconfig.clusters.len());
        let mut clusters = Vec::with_capacity(2 * kubeconfig.clusters.len());
        for (index, target) in kubeconfig.clusters.iter().enumerate() {
            let unchanged = self.by_context.remove(&target.context).filter(|(old, _)| {
                previous
                    .as_ref()
                    .and_then(|p| p.clusters.get(*old))
                    .is_some_and(|old| old == target)
            });
            let resources = match unchanged {
                Some((_, resources)) => resources,
                None => context_clusters(target, options, checks),
            };
            clusters.extend(resources.iter().cloned());
            by_context.insert(target.context.clone(), (index, resources));
        }
        self.by_context = by_context;
        self.kubeconfig = Some(kubeconfig.clone());
        clusters
    }
}

/// [`translate`] with the contexts' clusters and secrets already
/// translated (by a [`ClusterCache`]).
pub fn translate_with_clusters(
    inputs: &Inputs<'_>,
    options: &Options,
    contexts: ContextResources,
) -> Resources {
    let ContextResources {
        mut clusters,
        secrets,
    } = contexts;
    let gateway = inputs.gateway;
    let cache = gateway.discovery_cache.as_ref();
    for target in inputs.clusters {
        if discovery_cache::applies(target, cache) {
            let ttl = cache.map_or(0, |c| c.ttl_seconds);
            let c = discovery_cache::cluster_for(target, options, &gateway.health_checks, ttl);
            clusters.push(Resource::new(c.name.clone(), &c));
        }
    }
    let login = gateway.login.as_ref().map(|login| {
        crate::translate::login_settings::LoginSettings::from_config(
            login,
            gateway.listener.context_server_name_suffix.as_deref(),
        )
    });
    let mut listeners = vec![listener::resource(inputs.gateway)];
    if let Some(agents_config) = &inputs.gateway.agents {
        let c = agents::cluster();
        clusters.push(Resource::new(c.name.clone(), &c));
        listeners.push(agents::listener_resource(inputs.gateway, agents_config));
    }
    let routes = route::route_configuration_with_agents(
        inputs.clusters,
        inputs.agents,
        login.as_ref(),
        options,
        cache,
    );
    let filter = filter_config::extension_config(
        &filter_config::filter_config(inputs, options),
        &options.wasm,
    );
    Resources {
        clusters,
        secrets,
        listeners,
        routes: vec![Resource::new(routes.name.clone(), &routes)],
        extension_configs: vec![Resource::new(filter.name.clone(), &filter)],
    }
}

/// `Any` with the message's canonical type URL.
pub fn pack<T: Message + Name>(message: &T) -> Any {
    Any {
        type_url: T::type_url(),
        value: message.encode_to_vec(),
    }
}

/// A whole number of seconds as a protobuf `Duration`.
pub fn seconds(s: u64) -> Duration {
    Duration {
        seconds: s as i64,
        nanos: 0,
    }
}
