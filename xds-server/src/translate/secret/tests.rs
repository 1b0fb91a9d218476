use std::sync::Arc;

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::core::v3::transport_socket;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    Secret, UpstreamTlsContext, common_tls_context::ValidationContextType, secret,
};
use prost::Message;

use super::*;
use crate::inputs::gateway_config::HealthChecks;
use crate::inputs::kubeconfig::LoadedKubeconfig;
use crate::sensitive::Sensitive;
use crate::translate::fixtures::{cert, target};
use crate::translate::{ClusterCache, Options};

/// The secret names a cluster references: (CA, client certificate).
fn referenced(c: &Resource) -> (Option<String>, Option<String>) {
    let cluster = Cluster::decode(c.body.value.as_slice()).unwrap();
    let Some(transport_socket::ConfigType::TypedConfig(any)) =
        cluster.transport_socket.unwrap().config_type
    else {
        panic!("no TLS")
    };
    let common = UpstreamTlsContext::decode(any.value.as_slice())
        .unwrap()
        .common_tls_context
        .unwrap();
    let ca = match common.validation_context_type {
        Some(ValidationContextType::CombinedValidationContext(c)) => {
            c.validation_context_sds_secret_config.map(|s| s.name)
        }
        _ => None,
    };
    let client = common
        .tls_certificate_sds_secret_configs
        .first()
        .map(|s| s.name.clone());
    (ca, client)
}

fn decode(r: &Resource) -> Secret {
    Secret::decode(r.body.value.as_slice()).unwrap()
}

/// Two contexts through one kubeconfig cluster entry and one user.
fn sharing() -> Vec<ClusterTarget> {
    let a = target("a", "127.0.0.1", 6443);
    let mut b = target("b", "127.0.0.1", 6444);
    b.cluster_entry = a.cluster_entry.clone();
    b.ca_pem = a.ca_pem.clone();
    b.user_entry = a.user_entry.clone();
    b.client_cert_pem = a.client_cert_pem.clone();
    b.client_key_pem = a.client_key_pem.clone();
    vec![a, b]
}

fn kubeconfig(targets: Vec<ClusterTarget>) -> Arc<LoadedKubeconfig> {
    Arc::new(LoadedKubeconfig {
        clusters: targets,
        warnings: vec![],
    })
}

#[test]
fn clusters_reference_their_entries_secrets_and_carry_no_pem() {
    let t = target("dev", "127.0.0.1", 6443);
    let key = t.client_key_pem.clone().unwrap();
    let resources = ClusterCache::default().resources(
        &kubeconfig(vec![t.clone()]),
        &Options::default(),
        &HealthChecks::default(),
    );
    for c in &resources.clusters {
        assert_eq!(
            referenced(c),
            (
                Some("cluster/cluster-dev".into()),
                Some("user/user-dev".into())
            ),
            "{}",
            c.name
        );
        let body = String::from_utf8_lossy(&c.body.value);
        assert!(!body.contains(&**key.expose()), "{}: key inline", c.name);
        assert!(!body.contains(&**t.ca_pem.as_ref().unwrap()), "CA inline");
    }
    let secrets: Vec<Secret> = resources.secrets.iter().map(decode).collect();
    assert_eq!(secrets.len(), 2);
    assert_eq!(secrets[0].name, "cluster/cluster-dev");
    let Some(secret::Type::ValidationContext(v)) = &secrets[0].r#type else {
        panic!("{:?}", secrets[0].r#type)
    };
    assert_eq!(
        v.trusted_ca,
        Some(inline(t.ca_pem.as_ref().unwrap().as_bytes()))
    );
    assert_eq!(secrets[1].name, "user/user-dev");
    let Some(secret::Type::TlsCertificate(c)) = &secrets[1].r#type else {
        panic!("{:?}", secrets[1].r#type)
    };
    assert_eq!(c.private_key, Some(inline(key.expose().as_bytes())));
    assert_eq!(
        c.certificate_chain,
        Some(inline(t.client_cert_pem.as_ref().unwrap().as_bytes()))
    );
}

#[test]
fn contexts_sharing_a_user_and_a_cluster_entry_share_one_secret_each() {
    let resources = secrets(&sharing());
    let names: Vec<&str> = resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["cluster/cluster-a", "user/user-a"]);
}

#[test]
fn rotating_a_certificate_changes_its_secret_and_no_cluster() {
    let options = Options::default();
    let checks = HealthChecks::default();
    let mut cache = ClusterCache::default();
    let contexts = sharing();
    let before = cache.resources(&kubeconfig(contexts.clone()), &options, &checks);
    let mut rotated = contexts;
    let (cert, key) = cert("client-rotated");
    let (cert, key): (Arc<str>, Arc<str>) = (cert.into(), key.into());
    for t in &mut rotated {
        t.client_cert_pem = Some(cert.clone());
        t.client_key_pem = Some(Sensitive(key.clone()));
    }
    let after = cache.resources(&kubeconfig(rotated), &options, &checks);
    assert_eq!(before.clusters, after.clusters, "the clusters are the same");
    assert_eq!(before.secrets[0], after.secrets[0], "the CA is the same");
    assert!(Arc::ptr_eq(&before.secrets[0].body, &after.secrets[0].body));
    assert_eq!(before.secrets[1].name, after.secrets[1].name);
    assert_ne!(before.secrets[1].version, after.secrets[1].version);
    let Some(secret::Type::TlsCertificate(c)) = decode(&after.secrets[1]).r#type else {
        panic!()
    };
    assert_eq!(c.private_key, Some(inline(key.as_bytes())));
}

#[test]
fn a_secret_no_context_uses_any_more_goes() {
    let mut cache = SecretCache::default();
    let two = [target("a", "127.0.0.1", 1), target("b", "127.0.0.1", 2)];
    assert_eq!(cache.secrets(&two).len(), 4);
    let left: Vec<String> = cache
        .secrets(&two[..1])
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(left, ["cluster/cluster-a", "user/user-a"]);
}

#[test]
fn system_roots_insecure_and_plain_http_have_no_secret() {
    let mut system = target("system", "api.example.com", 443);
    system.ca_pem = None;
    let mut insecure = target("insecure", "api.example.com", 443);
    insecure.insecure_skip_tls_verify = true;
    let mut plain = target("plain", "127.0.0.1", 80);
    plain.server.scheme = "http".into();
    let names: Vec<String> = secrets(&[system, insecure, plain])
        .into_iter()
        .map(|r| r.name)
        .collect();
    // their users' certificates still are secrets, except over plain http
    assert_eq!(names, ["user/user-system", "user/user-insecure"]);
}

#[test]
fn names_are_the_entries_percent_encoded() {
    assert_eq!(ca_name("a/b%c"), "cluster/a%2Fb%25c");
    assert_eq!(
        client_certificate_name("arn:aws:eks:r:1:cluster/x"),
        "user/arn:aws:eks:r:1:cluster%2Fx"
    );
    assert_ne!(ca_name("a/b"), ca_name("a%2Fb"));
}

#[test]
fn debug_output_never_shows_the_key() {
    let t = target("a", "127.0.0.1", 6443);
    let key = t.client_key_pem.clone().unwrap();
    let mut cache = SecretCache::default();
    let resources = cache.secrets(&[t]);
    let debug = format!("{resources:?} {cache:?}");
    let key_line = key.expose().lines().nth(1).unwrap();
    assert!(!debug.contains(key_line), "{debug}");
    assert!(debug.contains("user/user-a"), "{debug}");
}
