//! The kubeplex filter's config (`proto/kubeplex/filter/v1`) and the ECDS
//! resource that carries it to Envoy inside a Wasm plugin config.

use envoy_types::pb::envoy::config::core::v3::{
    AsyncDataSource, DataSource, TypedExtensionConfig, async_data_source, data_source,
};
use envoy_types::pb::envoy::extensions::filters::http::wasm::v3::Wasm;
use envoy_types::pb::envoy::extensions::wasm::v3::{
    FailurePolicy, PluginConfig, VmConfig, plugin_config,
};
use envoy_types::pb::google::protobuf::BytesValue;
use kubeplex_proto::filter::v1 as pb;
use prost::Message;

use super::{Inputs, Options, WasmModule, digest, discovery_cache, names, pack};

/// The proxy-wasm root id the filter registers under.
pub const ROOT_ID: &str = "kubeplex";

/// Build the filter's config from the inputs and the routes' ordinary
/// request timeout (`options`). Its `version` is a digest of the rest, so
/// an identical config always encodes identically.
pub fn filter_config(inputs: &Inputs<'_>, options: &Options) -> pb::FilterConfig {
    let gateway = inputs.gateway;
    let mut config = pb::FilterConfig {
        version: String::new(),
        issuers: inputs.issuers.to_vec(),
        revocations: inputs
            .revocations
            .iter()
            .map(|r| pb::Revocation {
                jti: r.jti.clone(),
                expires_at: r.expires_at.unwrap_or(0),
                reason: r.reason.clone().unwrap_or_default(),
            })
            .collect(),
        contexts: inputs
            .clusters
            .iter()
            .map(|c| {
                let (scope, shared) =
                    discovery_cache::context_scope(c, gateway.discovery_cache.as_ref());
                (&c.context, scope, shared)
            })
            .chain(
                inputs
                    .agents
                    .iter()
                    .map(|a| (&a.name, String::new(), false)),
            )
            .map(|(name, cache_scope, cache_shared)| pb::Context {
                name: name.clone(),
                server_name: gateway
                    .listener
                    .context_server_name_suffix
                    .as_deref()
                    .map(|suffix| super::server_names::server_name(name, suffix))
                    .unwrap_or_default(),
                cache_scope,
                cache_shared,
            })
            .collect(),
        policy: inputs.policy.cloned(),
        clock_skew_seconds: gateway.clock_skew_seconds,
        token_cache_size: gateway.token_cache_size,
        cluster_header: names::CLUSTER_HEADER.into(),
        cluster_path_prefix: names::CLUSTER_PATH_PREFIX.into(),
        stream_expiry_grace_seconds: gateway.clock_skew_seconds,
        // the ordinary route's timeout (`route::route_action`), saturated:
        // a larger value only makes the filter skip the deadline less often
        request_timeout_seconds: u32::try_from(options.request_timeout_seconds).unwrap_or(u32::MAX),
    };
    config.version = digest(&[&config.encode_to_vec()]);
    config
}

/// The ECDS resource: a Wasm filter whose plugin configuration is the
/// serialized `FilterConfig` (Envoy hands a BytesValue's bytes to
/// `on_configure`).
pub fn extension_config(config: &pb::FilterConfig, wasm: &WasmModule) -> TypedExtensionConfig {
    // Same module → same vm_id → Envoy reuses the running VMs and only
    // creates a new root context with the new configuration.
    let vm_id = match &wasm.sha256 {
        Some(sha) => format!("kubeplex-{}", &sha[..sha.len().min(12)]),
        None => "kubeplex".to_string(),
    };
    let plugin = PluginConfig {
        name: ROOT_ID.into(),
        root_id: ROOT_ID.into(),
        vm: Some(plugin_config::Vm::VmConfig(VmConfig {
            vm_id,
            runtime: "envoy.wasm.runtime.v8".into(),
            code: Some(AsyncDataSource {
                specifier: Some(async_data_source::Specifier::Local(DataSource {
                    specifier: Some(data_source::Specifier::Filename(wasm.path.clone())),
                    ..Default::default()
                })),
            }),
            ..Default::default()
        })),
        // A BytesValue, not an Any of our own type: Envoy dedupes config
        // updates by a hash that cannot look inside an Any of an unknown
        // type, so every FilterConfig would hash alike and later pushes be
        // ACKed but never applied. The filter receives the same bytes.
        configuration: Some(pack(&BytesValue {
            value: config.encode_to_vec(),
        })),
        // A crashed VM fails its request closed and is recreated for the
        // next one; never fail open (that would skip authentication).
        failure_policy: FailurePolicy::FailReload as i32,
        ..Default::default()
    };
    TypedExtensionConfig {
        name: names::FILTER.into(),
        typed_config: Some(pack(&Wasm {
            config: Some(plugin),
        })),
    }
}
