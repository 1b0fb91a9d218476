//! The gateway config document, section by section.

use std::path::{Component, Path, PathBuf};

use super::{AuditConfig, GatewayConfig, ListenerConfig, issuer};
use crate::inputs::pem_material;
use crate::inputs::problems::{Fields, Problems, items};
use crate::inputs::yaml_tree::{Node, Value};
use crate::sensitive::Sensitive;

const API_VERSION: &str = "kubeplex.io/v1alpha1";
const KIND: &str = "GatewayConfig";

/// Files are read relative to the config's directory and remembered so the
/// control plane can watch them.
pub struct Files {
    pub dir: PathBuf,
    pub read: Vec<PathBuf>,
}

impl Files {
    /// `file` relative to the config's directory, `.`/`..` folded lexically.
    pub fn resolve(&self, file: &str) -> PathBuf {
        let joined = self.dir.join(file);
        let mut out = PathBuf::new();
        for part in joined.components() {
            match part {
                Component::CurDir => {}
                Component::ParentDir if out.file_name().is_some() => {
                    out.pop();
                }
                other => out.push(other),
            }
        }
        out
    }

    /// Read `f.key` as a file path; problems recorded at that field.
    pub fn read(
        &mut self,
        p: &mut Problems,
        f: &Fields<'_>,
        key: &str,
    ) -> Option<(PathBuf, String)> {
        let name = f.str(p, key)?;
        if name.is_empty() {
            p.add(f.line_of(key), &f.path_of(key), "must not be empty");
            return None;
        }
        let path = self.resolve(&name);
        self.note(&path);
        match std::fs::read_to_string(&path) {
            Ok(text) => Some((path, text)),
            Err(e) => {
                p.add(
                    f.line_of(key),
                    &f.path_of(key),
                    format!("cannot read {}: {e}", path.display()),
                );
                None
            }
        }
    }

    pub fn note(&mut self, path: &Path) {
        if !self.read.iter().any(|p| p == path) {
            self.read.push(path.to_path_buf());
        }
    }
}

pub fn read(p: &mut Problems, root: &Node, dir: &Path) -> Option<GatewayConfig> {
    let mut files = Files {
        dir: dir.to_path_buf(),
        read: Vec::new(),
    };
    let top = Fields::new(
        p,
        root,
        "",
        &[
            "apiVersion",
            "kind",
            "listener",
            "jwt",
            "revocation",
            "policy",
            "audit",
            "tokens",
        ],
    );
    match top.req_str(p, "apiVersion") {
        Some(v) if v != API_VERSION => p.add(
            top.line_of("apiVersion"),
            "apiVersion",
            format!("expected `{API_VERSION}`, found `{v}`"),
        ),
        _ => {}
    }
    match top.req_str(p, "kind") {
        Some(k) if k != KIND => p.add(
            top.line_of("kind"),
            "kind",
            format!("expected `{KIND}`, found `{k}`"),
        ),
        _ => {}
    }

    let listener = match top.get("listener") {
        Some(node) => listener(p, node, &mut files),
        None => {
            top.missing(p, "listener");
            None
        }
    };

    let mut issuers = Vec::new();
    match top.get("jwt") {
        Some(node) => {
            let list = items(p, node, "jwt");
            if list.is_empty() {
                p.add(top.line_of("jwt"), "jwt", "at least one issuer is required");
            }
            let mut urls: Vec<String> = Vec::new();
            for (index, (path, item)) in list.into_iter().enumerate() {
                if let Some(issuer) = issuer::read(p, item, &path, &mut files) {
                    issuers.push(issuer);
                }
                // Checked on the raw value so a broken entry still counts.
                let url = item
                    .entry("issuer")
                    .and_then(|e| e.value.entry("url"))
                    .filter(|e| matches!(e.value.value, Value::Str(_)));
                if let Some(entry) = url {
                    let Value::Str(text) = &entry.value.value else {
                        continue;
                    };
                    if let Some(first) = urls.iter().position(|u| u == text) {
                        p.add(
                            entry.key_line,
                            &format!("{path}.issuer.url"),
                            format!("issuer `{text}` is already configured in jwt[{first}]"),
                        );
                    }
                    urls.push(text.clone());
                } else {
                    urls.push(format!("\0{index}"));
                }
            }
        }
        None => top.missing(p, "jwt"),
    }

    let revocation_file = top.get("revocation").and_then(|node| {
        let f = Fields::new(p, node, "revocation", &["file"]);
        let file = f.req_str(p, "file")?;
        let path = files.resolve(&file);
        // Its content is a separate input with its own last good version
        // (see control_plane): a broken revocation edit must not freeze
        // edits of this file.
        files.note(&path);
        Some(path)
    });

    let policy_file = top.get("policy").and_then(|node| {
        let f = Fields::new(p, node, "policy", &["file"]);
        let file = f.req_str(p, "file")?;
        let path = files.resolve(&file);
        files.note(&path); // a separate input too, like the revocation file
        Some(path)
    });

    let audit = match top.get("audit") {
        Some(node) => {
            let f = Fields::new(p, node, "audit", &["path", "stdout"]);
            AuditConfig {
                path: f.str(p, "path").map(|s| files.resolve(&s)),
                stdout: f.bool(p, "stdout").unwrap_or(false),
            }
        }
        None => AuditConfig::default(),
    };

    let (clock_skew_seconds, token_cache_size) = match top.get("tokens") {
        Some(node) => {
            let f = Fields::new(p, node, "tokens", &["clockSkewSeconds", "cacheSize"]);
            (
                f.int(p, "clockSkewSeconds", 0, 3600)
                    .map_or(30, |v| v as u32),
                f.int(p, "cacheSize", 0, 10_000_000)
                    .map_or(4096, |v| v as u32),
            )
        }
        None => (30, 4096),
    };

    Some(GatewayConfig {
        listener: listener?,
        issuers,
        revocation_file,
        policy_file,
        audit,
        clock_skew_seconds,
        token_cache_size,
        referenced_files: files.read,
    })
}

fn listener(p: &mut Problems, node: &Node, files: &mut Files) -> Option<ListenerConfig> {
    let f = Fields::new(
        p,
        node,
        "listener",
        &[
            "address",
            "port",
            "certificateFile",
            "keyFile",
            "clientCAFile",
            "contextServerNameSuffix",
        ],
    );
    let context_server_name_suffix = f
        .str(p, "contextServerNameSuffix")
        .map(|s| s.trim_matches('.').to_ascii_lowercase());
    if let Some(suffix) = &context_server_name_suffix
        && (suffix.is_empty()
            || !suffix.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            }))
    {
        p.add(
            f.line_of("contextServerNameSuffix"),
            &f.path_of("contextServerNameSuffix"),
            format!("`{suffix}` is not a DNS name (e.g. clusters.gateway.example.com)"),
        );
    }
    let address = f.str(p, "address").unwrap_or_else(|| "0.0.0.0".to_string());
    if address.parse::<std::net::IpAddr>().is_err() {
        p.add(
            f.line_of("address"),
            &f.path_of("address"),
            format!(
                "`{address}` is not an IP address (Envoy binds an address, e.g. 0.0.0.0 or ::)"
            ),
        );
    }
    let port = f.int(p, "port", 1, 65535).map_or(8443, |v| v as u16);
    if !f.has("certificateFile") {
        f.missing(p, "certificateFile");
    }
    if !f.has("keyFile") {
        f.missing(p, "keyFile");
    }
    let cert = files.read(p, &f, "certificateFile");
    let key = files.read(p, &f, "keyFile");
    let cert_public = cert.as_ref().and_then(|(path, pem)| {
        pem_material::check_certificates(pem)
            .map_err(|r| {
                p.add(
                    f.line_of("certificateFile"),
                    &f.path_of("certificateFile"),
                    format!("{}: {r}", path.display()),
                )
            })
            .ok()
    });
    let key_public = key.as_ref().and_then(|(path, pem)| {
        pem_material::check_private_key(pem)
            .map_err(|r| {
                p.add(
                    f.line_of("keyFile"),
                    &f.path_of("keyFile"),
                    format!("{}: {r}", path.display()),
                )
            })
            .ok()
    });
    if let (Some(c), Some(k)) = (&cert_public, &key_public)
        && !pem_material::matches(k, c)
    {
        p.add(
            f.line_of("keyFile"),
            &f.path_of("keyFile"),
            "this key does not belong to the certificate in certificateFile",
        );
    }
    let client_ca = if f.has("clientCAFile") {
        files.read(p, &f, "clientCAFile").and_then(|(path, pem)| {
            match pem_material::check_certificates(&pem) {
                Ok(_) => Some(pem),
                Err(r) => {
                    p.add(
                        f.line_of("clientCAFile"),
                        &f.path_of("clientCAFile"),
                        format!("{}: {r}", path.display()),
                    );
                    None
                }
            }
        })
    } else {
        None
    };
    let (_, certificate_pem) = cert?;
    let (_, key_pem) = key?;
    Some(ListenerConfig {
        address,
        port,
        certificate_pem,
        key_pem: Sensitive(key_pem),
        client_ca_pem: client_ca,
        context_server_name_suffix,
    })
}
