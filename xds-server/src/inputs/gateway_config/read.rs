//! The gateway config document, section by section.

use std::path::{Component, Path, PathBuf};

use super::{
    AuditConfig, DEFAULT_REVOCATION_CONFIG_MAP, GatewayConfig, HealthChecks, KubernetesStoreConfig,
    ListenerConfig, RevocationStoreConfig, issuer,
};
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
        match crate::inputs::read_bounded(&path, crate::inputs::MAX_REFERENCED_BYTES) {
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

/// The top-level keys of a gateway config.
const TOP_KEYS: [&str; 12] = [
    "agents",
    "cache",
    "healthChecks",
    "apiVersion",
    "kind",
    "listener",
    "jwt",
    "revocation",
    "policy",
    "audit",
    "tokens",
    "login",
];

/// The gateway config in `root` (its files relative to `dir`); None when
/// a required part is unusable. Every problem goes to `p`.
pub fn read(p: &mut Problems, root: &Node, dir: &Path) -> Option<GatewayConfig> {
    let mut files = Files {
        dir: dir.to_path_buf(),
        read: Vec::new(),
    };
    let top = Fields::new(p, root, "", &TOP_KEYS);
    for (key, expected) in [("apiVersion", API_VERSION), ("kind", KIND)] {
        let found = top.req_str(p, key);
        top.expect_value(p, key, found, expected);
    }
    let listener = match top.get("listener") {
        Some(node) => listener(p, node, &mut files),
        None => {
            top.missing(p, "listener");
            None
        }
    };
    let issuers = match top.get("jwt") {
        Some(node) => issuers(p, &top, node, &mut files),
        None => {
            top.missing(p, "jwt");
            Vec::new()
        }
    };
    // The revocation and policy files are inputs of their own, each with
    // its own last good version (see control_plane): a broken edit of one
    // must not freeze edits of this file. Only their paths are read here.
    let revocation = top
        .get("revocation")
        .and_then(|node| revocation(p, node, &mut files));
    let policy_file = top
        .get("policy")
        .and_then(|node| named_file(p, node, "policy", &mut files));
    let audit = top.get("audit").map_or_else(AuditConfig::default, |node| {
        super::audit::read(p, node, &mut files)
    });
    let (clock_skew_seconds, token_cache_size) =
        top.get("tokens").map_or((30, 4096), |node| tokens(p, node));
    let login = top
        .get("login")
        .and_then(|node| super::login::read(p, node, &issuers, &mut files));
    let agents = top
        .get("agents")
        .and_then(|node| super::agents::read(p, node, &mut files));
    let discovery_cache = top
        .get("cache")
        .and_then(|node| super::cache::read(p, node, &mut files));
    let health_checks = top
        .get("healthChecks")
        .map_or_else(HealthChecks::default, |node| health_checks(p, node));
    Some(GatewayConfig {
        listener: listener?,
        login,
        issuers,
        revocation,
        policy_file,
        audit,
        clock_skew_seconds,
        token_cache_size,
        referenced_files: files.read,
        agents,
        discovery_cache,
        health_checks,
    })
}

/// `jwt`: at least one issuer, no URL twice.
fn issuers(
    p: &mut Problems,
    top: &Fields<'_>,
    node: &Node,
    files: &mut Files,
) -> Vec<super::IssuerConfig> {
    let list = items(p, node, "jwt");
    if list.is_empty() {
        p.add(top.line_of("jwt"), "jwt", "at least one issuer is required");
    }
    let mut issuers = Vec::new();
    let mut urls: Vec<String> = Vec::new();
    for (index, (path, item)) in list.into_iter().enumerate() {
        if let Some(issuer) = issuer::read(p, item, &path, files) {
            issuers.push(issuer);
        }
        // Checked on the raw value so a broken entry still counts.
        let url = item
            .entry("issuer")
            .and_then(|e| e.value.entry("url"))
            .and_then(|e| match &e.value.value {
                Value::Str(text) => Some((e.key_line, text)),
                _ => None,
            });
        let Some((line, text)) = url else {
            urls.push(format!("\0{index}"));
            continue;
        };
        if let Some(first) = urls.iter().position(|u| u == text) {
            p.add(
                line,
                &format!("{path}.issuer.url"),
                format!("issuer `{text}` is already configured in jwt[{first}]"),
            );
        }
        urls.push(text.clone());
    }
    issuers
}

/// `revocation`: a file (`store: file`, the default) or a ConfigMap
/// (`store: kubernetes`), each with only its own fields.
fn revocation(p: &mut Problems, node: &Node, files: &mut Files) -> Option<RevocationStoreConfig> {
    const FILE_KEYS: [&str; 2] = ["store", "file"];
    const KUBERNETES_KEYS: [&str; 4] = ["store", "configMap", "namespace", "kubeconfig"];
    let store = node
        .entry("store")
        .and_then(|e| match &e.value.value {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("file");
    match store {
        "kubernetes" => {
            let f = Fields::new(p, node, "revocation", &KUBERNETES_KEYS);
            let _ = f.str(p, "store");
            let config_map = f
                .str(p, "configMap")
                .unwrap_or_else(|| DEFAULT_REVOCATION_CONFIG_MAP.to_string());
            check_object_name(p, &f, "configMap", &config_map, 253);
            let namespace = f.str(p, "namespace");
            if let Some(ns) = &namespace {
                check_object_name(p, &f, "namespace", ns, 63);
            }
            let kubeconfig = f.str(p, "kubeconfig").map(|k| {
                let path = files.resolve(&k);
                files.note(&path);
                path
            });
            Some(RevocationStoreConfig::Kubernetes(KubernetesStoreConfig {
                config_map,
                namespace,
                kubeconfig,
            }))
        }
        "file" => {
            let f = Fields::new(p, node, "revocation", &FILE_KEYS);
            let _ = f.str(p, "store");
            let file = f.req_str(p, "file")?;
            let path = files.resolve(&file);
            files.note(&path);
            Some(RevocationStoreConfig::File(path))
        }
        other => {
            let f = Fields::new(p, node, "revocation", &KUBERNETES_KEYS);
            p.add(
                f.line_of("store"),
                &f.path_of("store"),
                format!("`{other}` is not a revocation store (file or kubernetes)"),
            );
            None
        }
    }
}

/// A Kubernetes object name: lower-case letters, digits, `-` (and `.` in
/// names longer than a label), starting and ending alphanumeric.
fn check_object_name(p: &mut Problems, f: &Fields<'_>, key: &str, name: &str, max: usize) {
    let allowed = |b: u8| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (max > 63 && b == b'.')
    };
    let alphanumeric =
        |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let ok = !name.is_empty()
        && name.len() <= max
        && name.bytes().all(allowed)
        && alphanumeric(name.as_bytes().first())
        && alphanumeric(name.as_bytes().last());
    if !ok {
        p.add(
            f.line_of(key),
            &f.path_of(key),
            format!(
                "`{name}` is not a Kubernetes name (at most {max} lower-case letters, digits{}, starting and ending with a letter or digit)",
                if max > 63 { ", `-` or `.`" } else { " or `-`" }
            ),
        );
    }
}

/// `<section>.file` (`policy`), resolved and watched.
fn named_file(p: &mut Problems, node: &Node, section: &str, files: &mut Files) -> Option<PathBuf> {
    let f = Fields::new(p, node, section, &["file"]);
    let file = f.req_str(p, "file")?;
    let path = files.resolve(&file);
    files.note(&path);
    Some(path)
}

/// `healthChecks`: `intervalSeconds` (0: none), `idleIntervalSeconds`.
fn health_checks(p: &mut Problems, node: &Node) -> HealthChecks {
    let f = Fields::new(
        p,
        node,
        "healthChecks",
        &["intervalSeconds", "idleIntervalSeconds"],
    );
    let default = HealthChecks::default();
    let interval_seconds = f
        .int(p, "intervalSeconds", 0, 3600)
        .map_or(default.interval_seconds, |v| v as u64);
    let idle_interval_seconds = f
        .int(p, "idleIntervalSeconds", 1, 86_400)
        .map_or(interval_seconds.max(1), |v| v as u64);
    HealthChecks {
        interval_seconds,
        idle_interval_seconds,
    }
}

/// `tokens`: (clock skew seconds, verified-token cache size).
fn tokens(p: &mut Problems, node: &Node) -> (u32, u32) {
    let f = Fields::new(p, node, "tokens", &["clockSkewSeconds", "cacheSize"]);
    (
        f.int(p, "clockSkewSeconds", 0, 3600)
            .map_or(30, |v| v as u32),
        f.int(p, "cacheSize", 0, 10_000_000)
            .map_or(4096, |v| v as u32),
    )
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
    let context_server_name_suffix = server_name_suffix(p, &f);
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
    let serving = serving_certificate(p, &f, files);
    let client_ca = client_ca(p, &f, files);
    let (certificate_pem, key_pem) = serving?;
    Some(ListenerConfig {
        address,
        port,
        certificate_pem,
        key_pem: Sensitive(key_pem),
        client_ca_pem: client_ca,
        context_server_name_suffix,
    })
}

/// `contextServerNameSuffix`, lower-cased without surrounding dots; a
/// problem unless it is a DNS name.
fn server_name_suffix(p: &mut Problems, f: &Fields<'_>) -> Option<String> {
    let suffix = f
        .str(p, "contextServerNameSuffix")
        .map(|s| s.trim_matches('.').to_ascii_lowercase())?;
    let is_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if suffix.is_empty() || !suffix.split('.').all(is_label) {
        p.add(
            f.line_of("contextServerNameSuffix"),
            &f.path_of("contextServerNameSuffix"),
            format!("`{suffix}` is not a DNS name (e.g. clusters.gateway.example.com)"),
        );
    }
    Some(suffix)
}

/// `certificateFile` and `keyFile`: both required, both PEM, a pair.
/// (certificate PEM, key PEM).
fn serving_certificate(
    p: &mut Problems,
    f: &Fields<'_>,
    files: &mut Files,
) -> Option<(String, String)> {
    if !f.has("certificateFile") {
        f.missing(p, "certificateFile");
    }
    if !f.has("keyFile") {
        f.missing(p, "keyFile");
    }
    let cert = files.read(p, f, "certificateFile");
    let key = files.read(p, f, "keyFile");
    let mut check =
        |key_name: &str,
         file: &Option<(PathBuf, String)>,
         parse: fn(&str) -> Result<pem_material::PublicHalf, String>| {
            let (path, pem) = file.as_ref()?;
            parse(pem)
                .map_err(|r| {
                    p.add(
                        f.line_of(key_name),
                        &f.path_of(key_name),
                        format!("{}: {r}", path.display()),
                    )
                })
                .ok()
        };
    let cert_public = check("certificateFile", &cert, pem_material::check_certificates);
    let key_public = check("keyFile", &key, pem_material::check_private_key);
    if let (Some(c), Some(k)) = (&cert_public, &key_public)
        && !pem_material::matches(k, c)
    {
        p.add(
            f.line_of("keyFile"),
            &f.path_of("keyFile"),
            "this key does not belong to the certificate in certificateFile",
        );
    }
    Some((cert?.1, key?.1))
}

/// `clientCAFile`: PEM certificates, when given.
fn client_ca(p: &mut Problems, f: &Fields<'_>, files: &mut Files) -> Option<String> {
    if !f.has("clientCAFile") {
        return None;
    }
    let (path, pem) = files.read(p, f, "clientCAFile")?;
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
}
