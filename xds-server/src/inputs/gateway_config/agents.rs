//! `agents`: clusters that dial out to the gateway (`kubeplex agent`)
//! instead of being dialled. Each entry names a cluster and the SHA-256 of
//! the pre-shared token its agent enrolls with; the gateway's control plane
//! signs the agent's short-lived client certificate with the CA given here,
//! and the gateway's Envoy accepts reverse tunnels on `listener` only from
//! certificates of that CA whose name is the cluster the tunnel claims.

use std::path::PathBuf;

use super::read::Files;
use super::{AgentCluster, AgentsConfig};
use crate::inputs::pem_material;
use crate::inputs::problems::{Fields, Problems, items};
use crate::sensitive::Sensitive;

/// Default port of the agent listener.
pub const DEFAULT_PORT: u16 = 8444;
/// Default lifetime of an agent's client certificate.
pub const DEFAULT_CERTIFICATE_LIFETIME_SECONDS: u32 = 3600;

/// Read the `agents` section.
pub fn read(
    p: &mut Problems,
    node: &crate::inputs::yaml_tree::Node,
    files: &mut Files,
) -> Option<AgentsConfig> {
    let f = Fields::new(
        p,
        node,
        "agents",
        &[
            "listener",
            "certificateAuthority",
            "certificateLifetimeSeconds",
            "clusters",
        ],
    );
    let (address, port) = match f.get("listener") {
        Some(node) => listener(p, node),
        None => ("0.0.0.0".to_string(), DEFAULT_PORT),
    };
    let certificate_lifetime_seconds = f
        .int(p, "certificateLifetimeSeconds", 5, 7 * 24 * 3600)
        .map_or(DEFAULT_CERTIFICATE_LIFETIME_SECONDS, |v| v as u32);
    let ca = match f.get("certificateAuthority") {
        Some(node) => certificate_authority(p, node, files),
        None => {
            f.missing(p, "certificateAuthority");
            None
        }
    };
    let clusters = match f.get("clusters") {
        Some(node) => clusters(p, node),
        None => Vec::new(),
    };
    let (ca_certificate_pem, ca_key_pem, ca_files) = ca?;
    Some(AgentsConfig {
        address,
        port,
        ca_certificate_pem,
        ca_key_pem: Sensitive(ca_key_pem),
        ca_files,
        certificate_lifetime_seconds,
        clusters,
    })
}

fn listener(p: &mut Problems, node: &crate::inputs::yaml_tree::Node) -> (String, u16) {
    let f = Fields::new(p, node, "agents.listener", &["address", "port"]);
    let address = f.str(p, "address").unwrap_or_else(|| "0.0.0.0".to_string());
    if address.parse::<std::net::IpAddr>().is_err() {
        p.add(
            f.line_of("address"),
            &f.path_of("address"),
            format!("`{address}` is not an IP address (Envoy binds an address, e.g. 0.0.0.0)"),
        );
    }
    let port = f
        .int(p, "port", 1, 65535)
        .map_or(DEFAULT_PORT, |v| v as u16);
    (address, port)
}

/// (certificate PEM, key PEM, the two files).
fn certificate_authority(
    p: &mut Problems,
    node: &crate::inputs::yaml_tree::Node,
    files: &mut Files,
) -> Option<(String, String, (PathBuf, PathBuf))> {
    let f = Fields::new(
        p,
        node,
        "agents.certificateAuthority",
        &["certificateFile", "keyFile"],
    );
    for key in ["certificateFile", "keyFile"] {
        if !f.has(key) {
            f.missing(p, key);
        }
    }
    let cert = files.read(p, &f, "certificateFile");
    let key = files.read(p, &f, "keyFile");
    let (cert_path, cert_pem) = cert?;
    let (key_path, key_pem) = key?;
    let cert_public = pem_material::check_certificates(&cert_pem).map_err(|r| {
        p.add(
            f.line_of("certificateFile"),
            &f.path_of("certificateFile"),
            format!("{}: {r}", cert_path.display()),
        )
    });
    let key_public = pem_material::check_private_key(&key_pem).map_err(|r| {
        p.add(
            f.line_of("keyFile"),
            &f.path_of("keyFile"),
            format!("{}: {r}", key_path.display()),
        )
    });
    if let (Ok(c), Ok(k)) = (&cert_public, &key_public)
        && !pem_material::matches(k, c)
    {
        p.add(
            f.line_of("keyFile"),
            &f.path_of("keyFile"),
            "this key does not belong to the certificate in certificateFile",
        );
        return None;
    }
    if rcgen::KeyPair::from_pem(&key_pem).is_err() {
        p.add(
            f.line_of("keyFile"),
            &f.path_of("keyFile"),
            "cannot sign with this key (PKCS#8 EC P-256/P-384, Ed25519 or RSA expected)",
        );
        return None;
    }
    cert_public.ok()?;
    key_public.ok()?;
    Some((cert_pem, key_pem, (cert_path, key_path)))
}

/// `clusters`: unique DNS-1123 names, each with a token digest.
fn clusters(p: &mut Problems, node: &crate::inputs::yaml_tree::Node) -> Vec<AgentCluster> {
    let mut out: Vec<AgentCluster> = Vec::new();
    for (path, item) in items(p, node, "agents.clusters") {
        let f = Fields::new(p, item, &path, &["name", "tokenSHA256"]);
        let name = f.req_str(p, "name");
        let digest = f.req_str(p, "tokenSHA256");
        if let Some(name) = &name {
            if let Err(reason) = check_name(name) {
                p.add(f.line_of("name"), &f.path_of("name"), reason);
            } else if out.iter().any(|c| &c.name == name) {
                p.add(
                    f.line_of("name"),
                    &f.path_of("name"),
                    format!("agent cluster `{name}` is listed twice"),
                );
            }
        }
        let token_sha256 = digest.and_then(|d| match parse_digest(&d) {
            Some(bytes) => Some(bytes),
            None => {
                p.add(
                    f.line_of("tokenSHA256"),
                    &f.path_of("tokenSHA256"),
                    "expected 64 hex digits (`kubeplex token agent` prints them)",
                );
                None
            }
        });
        if let (Some(name), Some(token_sha256)) = (name, token_sha256) {
            out.push(AgentCluster { name, token_sha256 });
        }
    }
    out
}

/// An agent cluster's name is its certificate's DNS name and the tunnel's
/// node id: a DNS-1123 label (lower-case letters, digits, `-`; at most 63).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a DNS label (lower-case letters, digits and `-`, at most 63): \
             it becomes the agent certificate's DNS name"
        ))
    }
}

fn parse_digest(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
