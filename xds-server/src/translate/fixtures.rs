//! Inputs for translation tests, built directly (no loaders involved).

use std::path::PathBuf;

use crate::inputs::gateway_config::{AuditConfig, GatewayConfig, ListenerConfig};
use crate::inputs::kubeconfig::{ClusterTarget, ServerUrl};
use crate::sensitive::Sensitive;
use crate::translate::{Resource, Resources, digest};
use envoy_types::pb::google::protobuf::{Any, Struct, value::Kind};

/// A resource named `name` whose body (of type `t`) is `content`, versioned
/// by its content like every translated resource (snapshot and ADS tests).
pub fn resource(name: &str, content: &str) -> Resource {
    Resource {
        name: name.into(),
        body: std::sync::Arc::new(Any {
            type_url: "t".into(),
            value: content.as_bytes().to_vec(),
        }),
        version: digest(&[content.as_bytes()]),
    }
}

/// Clusters `ctx/<c>` for each of `cas`, each naming its secret
/// `cluster/<c>` (content `ca-<c>`), and the secret `user/u` (content
/// `user`): resources for the ADS tests of the Secret type.
pub fn contexts_with_secrets(cas: &[&str], user: &str) -> Resources {
    Resources {
        clusters: cas
            .iter()
            .map(|c| resource(&format!("ctx/{c}"), c))
            .collect(),
        secrets: cas
            .iter()
            .map(|c| resource(&format!("cluster/{c}"), &format!("ca-{c}")))
            .chain([resource("user/u", user)])
            .collect(),
        ..Resources::default()
    }
}

/// A self-signed certificate and key, PEM.
pub fn cert(name: &str) -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("rcgen");
    (ck.cert.pem(), ck.signing_key.serialize_pem())
}

/// A context whose apiserver is `https://host:port`, with mTLS material
/// from its own kubeconfig entries (`cluster-<context>`, `user-<context>`).
pub fn target(context: &str, host: &str, port: u16) -> ClusterTarget {
    let (ca, _) = cert("ca");
    let (client, key) = cert("client");
    ClusterTarget {
        context: context.into(),
        server: ServerUrl {
            scheme: "https".into(),
            host: host.into(),
            port,
            path: String::new(),
        },
        ca_pem: Some(ca.into()),
        client_cert_pem: Some(client.into()),
        client_key_pem: Some(Sensitive(key.into())),
        bearer_token: None,
        tls_server_name: None,
        insecure_skip_tls_verify: false,
        cluster_entry: Some(format!("cluster-{context}")),
        user_entry: Some(format!("user-{context}")),
    }
}

/// A gateway config: a self-signed serving certificate, no issuers.
pub fn gateway() -> GatewayConfig {
    let (cert, key) = cert("localhost");
    GatewayConfig {
        listener: ListenerConfig {
            address: "127.0.0.1".into(),
            port: 18443,
            certificate_pem: cert,
            key_pem: Sensitive(key),
            client_ca_pem: None,
            context_server_name_suffix: None,
        },
        issuers: vec![],
        login: None,
        revocation: None,
        policy_file: None,
        audit: AuditConfig {
            path: Some(PathBuf::from("/dev/null")),
            stdout: true,
            ..AuditConfig::default()
        },
        clock_skew_seconds: 30,
        token_cache_size: 4096,
        referenced_files: vec![],
        agents: None,
        discovery_cache: None,
        health_checks: Default::default(),
    }
}

/// An `agents` section: a fresh CA, one agent cluster per name.
pub fn agents(names: &[&str]) -> crate::inputs::gateway_config::AgentsConfig {
    let (ca_certificate_pem, ca_key_pem) =
        crate::agent_ca::generate_ca("test agents CA").expect("agents CA");
    crate::inputs::gateway_config::AgentsConfig {
        address: "127.0.0.1".into(),
        port: 18444,
        ca_certificate_pem,
        ca_key_pem: Sensitive(ca_key_pem),
        ca_files: (PathBuf::from("ca.pem"), PathBuf::from("ca-key.pem")),
        certificate_lifetime_seconds: 600,
        clusters: names
            .iter()
            .map(|n| crate::inputs::gateway_config::AgentCluster {
                name: n.to_string(),
                token_sha256: [7; 32],
            })
            .collect(),
    }
}

/// A string member of a `google.protobuf.Struct`.
pub fn string_field<'s>(s: &'s Struct, name: &str) -> Option<&'s str> {
    match s.fields.get(name)?.kind.as_ref()? {
        Kind::StringValue(v) => Some(v),
        _ => None,
    }
}
