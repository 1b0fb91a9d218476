//! The contexts' upstream TLS material as SDS secrets on the ADS stream:
//! each kubeconfig `clusters` entry's CA bundle and each `users` entry's
//! client certificate and key is one `Secret`, which every cluster using
//! that entry references by name (`cluster::upstream_tls`). Before, every
//! cluster carried its CA, certificate and key inline: two or three copies
//! per context in the control plane's encoded clusters and in Envoy.
//!
//! Names come from the kubeconfig entries (`cluster/<name>`, `user/<name>`,
//! `/` and `%` percent-encoded as in the cluster names), not from a digest
//! of the content:
//! - a rotated certificate or CA bundle keeps its name, so only the secret
//!   changes: Envoy applies it to new connections and the clusters stay as
//!   they are (no warming, no drained connection pools);
//! - a name says nothing about the secret's bytes (a digest of a private
//!   key would be a name derived from the key).
//!
//! What that gives up: identical PEM texts under different entry names are
//! separate secrets (the control plane's loader already shares their text).
//!
//! Envoy asks for a secret when a cluster referencing it arrives, and the
//! cluster stays warming, unused, until the secret comes ("Upstream clusters
//! are handled in a similar way [as listeners]: if a cluster client
//! certificate needs to be fetched by SDS remotely, it will NOT be marked
//! as active and it will not be used before the certificates are fetched",
//! <https://www.envoyproxy.io/docs/envoy/latest/configuration/security/secret>).
//! Its `initial_fetch_timeout` is Envoy's default (15 s): after it the
//! cluster is used without the secret and its connections fail until the
//! secret comes, which beats a cluster that never leaves warming.

use std::collections::HashMap;
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::{
    AggregatedConfigSource, ApiVersion, ConfigSource, DataSource, config_source, data_source,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, SdsSecretConfig, Secret, TlsCertificate, secret,
};

use super::Resource;
use crate::inputs::kubeconfig::ClusterTarget;

/// The prefix of a CA bundle's secret (a kubeconfig `clusters` entry).
pub const CA_PREFIX: &str = "cluster/";
/// The prefix of a client certificate's secret (a kubeconfig `users` entry).
pub const CLIENT_CERTIFICATE_PREFIX: &str = "user/";

/// The secret holding the CA bundle of the kubeconfig cluster `entry`.
pub fn ca_name(entry: &str) -> String {
    named(CA_PREFIX, entry)
}

/// The secret holding the client certificate and key of the kubeconfig
/// user `entry`.
pub fn client_certificate_name(entry: &str) -> String {
    named(CLIENT_CERTIFICATE_PREFIX, entry)
}

/// `prefix` + `entry` with `/` and `%` percent-encoded, so that no two
/// entries share a name.
fn named(prefix: &str, entry: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + entry.len());
    name.push_str(prefix);
    kubeplex_proto::routing::push_escaped(&mut name, entry);
    name
}

/// The CA secret a context's clusters reference: its kubeconfig cluster
/// entry has a CA and verification is on. None: system roots, skipped
/// verification, plain http, or a target not from a kubeconfig.
pub fn ca_secret(target: &ClusterTarget) -> Option<String> {
    let verifies = target.server.scheme == "https" && !target.insecure_skip_tls_verify;
    match (&target.cluster_entry, &target.ca_pem) {
        (Some(entry), Some(_)) if verifies => Some(ca_name(entry)),
        _ => None,
    }
}

/// The client certificate secret a context's clusters reference: its
/// kubeconfig user has a certificate and key.
pub fn client_certificate_secret(target: &ClusterTarget) -> Option<String> {
    let tls = target.server.scheme == "https";
    match (
        &target.user_entry,
        &target.client_cert_pem,
        &target.client_key_pem,
    ) {
        (Some(entry), Some(_), Some(_)) if tls => Some(client_certificate_name(entry)),
        _ => None,
    }
}

/// Where a cluster finds the secret `name`: on the ADS stream.
pub fn sds_config(name: String) -> SdsSecretConfig {
    SdsSecretConfig {
        name,
        sds_config: Some(ConfigSource {
            config_source_specifier: Some(config_source::ConfigSourceSpecifier::Ads(
                AggregatedConfigSource {},
            )),
            resource_api_version: ApiVersion::V3 as i32,
            ..Default::default()
        }),
    }
}

/// PEM bytes as an inline data source.
pub fn inline(bytes: &[u8]) -> DataSource {
    DataSource {
        specifier: Some(data_source::Specifier::InlineBytes(bytes.to_vec())),
        ..Default::default()
    }
}

/// What one secret is made of: the PEM texts, shared with the kubeconfig
/// (a reload compares them to reuse the last encoding).
#[derive(Clone, PartialEq, Eq)]
enum Material {
    Ca(Arc<str>),
    ClientCertificate { cert: Arc<str>, key: Arc<str> },
}

impl Material {
    fn secret(&self, name: &str) -> Secret {
        let r#type = match self {
            Material::Ca(ca) => secret::Type::ValidationContext(CertificateValidationContext {
                trusted_ca: Some(inline(ca.as_bytes())),
                ..Default::default()
            }),
            Material::ClientCertificate { cert, key } => {
                secret::Type::TlsCertificate(TlsCertificate {
                    certificate_chain: Some(inline(cert.as_bytes())),
                    private_key: Some(inline(key.as_bytes())),
                    ..Default::default()
                })
            }
        };
        Secret {
            name: name.to_string(),
            r#type: Some(r#type),
        }
    }
}

/// Every secret the contexts' clusters reference, by name: `(name,
/// material)` for each distinct kubeconfig entry, in the contexts' order.
fn materials(targets: &[ClusterTarget]) -> Vec<(String, Material)> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for target in targets {
        if let (Some(name), Some(ca)) = (ca_secret(target), &target.ca_pem)
            && seen.insert(name.clone())
        {
            out.push((name, Material::Ca(ca.clone())));
        }
        if let (Some(name), Some(cert), Some(key)) = (
            client_certificate_secret(target),
            &target.client_cert_pem,
            &target.client_key_pem,
        ) && seen.insert(name.clone())
        {
            let (cert, key) = (cert.clone(), key.expose().clone());
            out.push((name, Material::ClientCertificate { cert, key }));
        }
    }
    out
}

/// The secrets of `targets` (each distinct entry once).
pub fn secrets(targets: &[ClusterTarget]) -> Vec<Resource> {
    SecretCache::default().secrets(targets)
}

/// The secrets of the last translation, reused when their entry's PEM
/// texts did not change: at 10,000 contexts each with its own cluster
/// entry, encoding and hashing 10,000 CA bundles per edit is wasted work
/// and a second copy of them at the reload's peak.
#[derive(Default)]
pub struct SecretCache {
    by_name: HashMap<String, (Material, Resource)>,
}

impl std::fmt::Debug for SecretCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: the material includes private keys.
        f.debug_struct("SecretCache")
            .field("secrets", &self.by_name.len())
            .finish()
    }
}

impl SecretCache {
    /// The secrets of `targets`, reusing the unchanged ones; the cache then
    /// holds exactly these.
    pub fn secrets(&mut self, targets: &[ClusterTarget]) -> Vec<Resource> {
        let mut by_name = HashMap::new();
        let mut out = Vec::new();
        for (name, material) in materials(targets) {
            let resource = match self.by_name.remove(&name) {
                // `Arc<str>`'s `==` compares pointers first, and the loader shares
                // identical texts, so an unchanged entry costs no string compare.
                Some((old, resource)) if old == material => resource,
                _ => Resource::new(name.clone(), &material.secret(&name)),
            };
            out.push(resource.clone());
            by_name.insert(name, (material, resource));
        }
        self.by_name = by_name;
        out
    }
}

#[cfg(test)]
mod tests;
