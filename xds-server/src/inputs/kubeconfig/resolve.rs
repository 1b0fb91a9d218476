//! Kubeconfig entries → [`ClusterTarget`]s: data decoded, files read,
//! references followed, credentials checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kube::config::{AuthInfo, Cluster, Kubeconfig};

use super::{ClusterTarget, LoadedKubeconfig, server_url};
use crate::inputs::pem_material;
use crate::inputs::problems::Problems;
use crate::inputs::yaml_tree::{Node, Value};
use crate::sensitive::Sensitive;

/// Where things are: the tree (for lines and secret values) and the
/// kubeconfig's directory (for relative paths).
struct Source<'a> {
    root: &'a Node,
    dir: PathBuf,
}

impl Source<'_> {
    /// The body mapping (`cluster`/`user`/`context`) of entry `index`.
    fn body(&self, list: &str, index: usize, inner: &str) -> Option<&Node> {
        self.root
            .entry(list)?
            .value
            .item(index)?
            .entry(inner)
            .map(|e| &e.value)
    }

    /// Line of `list[index].inner.key`, else the nearest enclosing line.
    fn line(&self, list: &str, index: usize, inner: &str, key: &str) -> Option<u64> {
        let item = self.root.entry(list).and_then(|e| e.value.item(index));
        let inner_entry = item.and_then(|i| i.entry(inner));
        inner_entry
            .and_then(|e| e.value.entry(key))
            .and_then(|e| e.key_line)
            .or(inner_entry.and_then(|e| e.key_line))
            .or(item.and_then(|i| i.line))
    }

    /// A string value straight from the tree (secrets are read here, not
    /// from kube's `SecretString`, to keep `secrecy` out of our API).
    fn string(&self, list: &str, index: usize, inner: &str, key: &str) -> Option<String> {
        match &self.body(list, index, inner)?.entry(key)?.value.value {
            Value::Str(s) => Some(s.clone()),
            _ => None,
        }
    }

    fn resolve_path(&self, file: &str) -> PathBuf {
        let path = Path::new(file);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir.join(path)
        }
    }
}

/// One field being resolved, for precise errors.
struct At<'a> {
    list: &'static str,
    index: usize,
    inner: &'static str,
    src: &'a Source<'a>,
}

impl At<'_> {
    fn field(&self, key: &str) -> String {
        format!("{}[{}].{}.{key}", self.list, self.index, self.inner)
    }
    fn line(&self, key: &str) -> Option<u64> {
        self.src.line(self.list, self.index, self.inner, key)
    }
    fn err(&self, p: &mut Problems, key: &str, reason: impl Into<String>) {
        p.add(self.line(key), &self.field(key), reason);
    }
    fn secret(&self, key: &str) -> Option<String> {
        self.src.string(self.list, self.index, self.inner, key)
    }

    /// The bytes of `<key>-data` (base64) or `<key>` (a file), as text.
    fn data_or_file(
        &self,
        p: &mut Problems,
        data_key: &str,
        data: Option<&str>,
        file_key: &str,
        file: Option<&str>,
    ) -> Option<String> {
        match (
            data.filter(|d| !d.is_empty()),
            file.filter(|f| !f.is_empty()),
        ) {
            (Some(_), Some(_)) => {
                self.err(
                    p,
                    data_key,
                    format!("both {data_key} and {file_key} are set; set only one"),
                );
                None
            }
            (Some(data), None) => {
                let compact: String = data.split_whitespace().collect();
                match STANDARD.decode(compact) {
                    Ok(bytes) => match String::from_utf8(bytes) {
                        Ok(text) => Some(text),
                        Err(_) => {
                            self.err(p, data_key, "decodes to binary data, expected PEM text");
                            None
                        }
                    },
                    Err(e) => {
                        self.err(p, data_key, format!("not valid base64: {e}"));
                        None
                    }
                }
            }
            (None, Some(file)) => {
                let path = self.src.resolve_path(file);
                match std::fs::read_to_string(&path) {
                    Ok(text) => Some(text),
                    Err(e) => {
                        self.err(p, file_key, format!("cannot read {}: {e}", path.display()));
                        None
                    }
                }
            }
            (None, None) => None,
        }
    }
}

/// A resolved cluster entry.
struct ClusterInfo {
    server: Option<super::ServerUrl>,
    ca_pem: Option<String>,
    tls_server_name: Option<String>,
    insecure: bool,
    proxy_url: Option<String>,
}

/// A resolved user entry.
enum UserInfo {
    Usable {
        client_cert_pem: Option<String>,
        client_key_pem: Option<Sensitive<String>>,
        bearer_token: Option<Sensitive<String>>,
        notes: Vec<String>,
    },
    /// Needs a credential kubeplex cannot use; why.
    Unsupported(String),
}

pub fn resolve(p: &mut Problems, root: &Node, kc: &Kubeconfig, dir: &Path) -> LoadedKubeconfig {
    let src = Source {
        root,
        dir: dir.to_path_buf(),
    };
    let mut warnings = Vec::new();

    let mut clusters: BTreeMap<&str, (usize, ClusterInfo)> = BTreeMap::new();
    for (index, named) in kc.clusters.iter().enumerate() {
        let at = At {
            list: "clusters",
            index,
            inner: "cluster",
            src: &src,
        };
        if let Some((first, _)) = clusters.get(named.name.as_str()) {
            p.add(
                src.line("clusters", index, "name", ""),
                &format!("clusters[{index}].name"),
                format!(
                    "duplicate cluster name `{}` (also clusters[{first}])",
                    named.name
                ),
            );
            continue;
        }
        let Some(cluster) = &named.cluster else {
            continue; // the strict pass reported the missing `cluster`
        };
        clusters.insert(&named.name, (index, resolve_cluster(p, &at, cluster)));
    }

    let mut users: BTreeMap<&str, (usize, UserInfo)> = BTreeMap::new();
    for (index, named) in kc.auth_infos.iter().enumerate() {
        let at = At {
            list: "users",
            index,
            inner: "user",
            src: &src,
        };
        if let Some((first, _)) = users.get(named.name.as_str()) {
            p.add(
                src.line("users", index, "name", ""),
                &format!("users[{index}].name"),
                format!("duplicate user name `{}` (also users[{first}])", named.name),
            );
            continue;
        }
        let Some(user) = &named.auth_info else {
            continue;
        };
        users.insert(&named.name, (index, resolve_user(p, &at, user)));
    }

    let mut targets: BTreeMap<&str, ClusterTarget> = BTreeMap::new();
    let mut seen_contexts: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, named) in kc.contexts.iter().enumerate() {
        let at = At {
            list: "contexts",
            index,
            inner: "context",
            src: &src,
        };
        let name = named.name.as_str();
        if let Some(first) = seen_contexts.get(name) {
            p.add(
                src.line("contexts", index, "name", ""),
                &format!("contexts[{index}].name"),
                format!("duplicate context name `{name}` (also contexts[{first}])"),
            );
            continue;
        }
        seen_contexts.insert(name, index);
        let Some(context) = &named.context else {
            continue;
        };
        if let Err(reason) = check_context_name(name) {
            p.add(
                src.line("contexts", index, "name", ""),
                &format!("contexts[{index}].name"),
                reason,
            );
        }
        let cluster = match clusters.get(context.cluster.as_str()) {
            Some((_, cluster)) => cluster,
            None => {
                at.err(
                    p,
                    "cluster",
                    format!("cluster `{}` is not defined in clusters", context.cluster),
                );
                continue;
            }
        };
        let user = match context.user.as_deref().filter(|u| !u.is_empty()) {
            None => None,
            Some(user_name) => match users.get(user_name) {
                Some((_, user)) => Some((user_name, user)),
                None => {
                    at.err(
                        p,
                        "user",
                        format!("user `{user_name}` is not defined in users"),
                    );
                    continue;
                }
            },
        };
        let Some(server) = cluster.server.clone() else {
            continue; // reported on the cluster
        };
        let (client_cert_pem, client_key_pem, bearer_token) = match user {
            Some((user_name, UserInfo::Unsupported(why))) => {
                warnings.push(format!(
                    "context `{name}` skipped: user `{user_name}` {why}"
                ));
                continue;
            }
            Some((
                _,
                UserInfo::Usable {
                    client_cert_pem,
                    client_key_pem,
                    bearer_token,
                    notes,
                },
            )) => {
                for note in notes {
                    warnings.push(format!("context `{name}`: {note}"));
                }
                (
                    client_cert_pem.clone(),
                    client_key_pem.clone(),
                    bearer_token.clone(),
                )
            }
            None => {
                warnings.push(format!(
                    "context `{name}` has no user: the gateway reaches cluster `{}` without a credential, so impersonation works only if the cluster grants it to anonymous",
                    context.cluster
                ));
                (None, None, None)
            }
        };
        if server.scheme == "http" {
            warnings.push(format!(
                "context `{name}`: cluster `{}` is reached over plain http; credentials and impersonated requests cross the network unencrypted",
                context.cluster
            ));
        }
        if cluster.insecure {
            warnings.push(format!(
                "context `{name}`: cluster `{}` has insecure-skip-tls-verify: its server certificate is not verified",
                context.cluster
            ));
        }
        if let Some(proxy) = &cluster.proxy_url {
            warnings.push(format!(
                "context `{name}`: cluster `{}` has proxy-url `{proxy}`, which kubeplex does not support; it connects directly",
                context.cluster
            ));
        }
        targets.insert(
            name,
            ClusterTarget {
                context: name.to_string(),
                server,
                ca_pem: cluster.ca_pem.clone(),
                client_cert_pem,
                client_key_pem,
                bearer_token,
                tls_server_name: cluster.tls_server_name.clone(),
                insecure_skip_tls_verify: cluster.insecure,
            },
        );
    }
    LoadedKubeconfig {
        clusters: targets.into_values().collect(),
        warnings,
    }
}

/// A context name becomes a URL path segment (`/clusters/<name>/`) and part
/// of Envoy cluster names, so it must be a plain segment.
fn check_context_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("context name must not be empty".to_string());
    }
    if name == "." || name == ".." {
        return Err(format!(
            "context name `{name}` cannot be a URL path segment"
        ));
    }
    if let Some(c) = name.chars().find(|c| {
        !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':' | '+' | '~'))
    }) {
        return Err(format!(
            "context name `{name}` contains {c:?}; it becomes a URL path segment, so use letters, digits and - _ . @ : + ~"
        ));
    }
    Ok(())
}

fn resolve_cluster(p: &mut Problems, at: &At<'_>, cluster: &Cluster) -> ClusterInfo {
    let server = match cluster.server.as_deref() {
        None | Some("") => {
            at.err(p, "server", "required field is missing");
            None
        }
        Some(url) => match server_url::parse(url) {
            Ok(server) => Some(server),
            Err(reason) => {
                at.err(p, "server", reason);
                None
            }
        },
    };
    let ca_pem = at.data_or_file(
        p,
        "certificate-authority-data",
        cluster.certificate_authority_data.as_deref(),
        "certificate-authority",
        cluster.certificate_authority.as_deref(),
    );
    let ca_key = if cluster.certificate_authority_data.is_some() {
        "certificate-authority-data"
    } else {
        "certificate-authority"
    };
    if let Some(pem) = &ca_pem
        && let Err(reason) = pem_material::check_certificates(pem)
    {
        at.err(
            p,
            ca_key,
            format!("not a PEM CA certificate bundle: {reason}"),
        );
    }
    let insecure = cluster.insecure_skip_tls_verify.unwrap_or(false);
    if insecure && ca_pem.is_some() {
        at.err(
            p,
            "insecure-skip-tls-verify",
            format!(
                "cannot be combined with {ca_key}: either verify with the CA or skip verification"
            ),
        );
    }
    ClusterInfo {
        server,
        ca_pem,
        tls_server_name: cluster.tls_server_name.clone().filter(|s| !s.is_empty()),
        insecure,
        proxy_url: cluster.proxy_url.clone().filter(|s| !s.is_empty()),
    }
}

fn resolve_user(p: &mut Problems, at: &At<'_>, user: &AuthInfo) -> UserInfo {
    let cert_pem = at.data_or_file(
        p,
        "client-certificate-data",
        user.client_certificate_data.as_deref(),
        "client-certificate",
        user.client_certificate.as_deref(),
    );
    let key_data = at.secret("client-key-data");
    let key_pem = at.data_or_file(
        p,
        "client-key-data",
        key_data.as_deref(),
        "client-key",
        user.client_key.as_deref(),
    );
    let cert_key = if user.client_certificate_data.is_some() {
        "client-certificate-data"
    } else {
        "client-certificate"
    };
    let key_key = if key_data.is_some() {
        "client-key-data"
    } else {
        "client-key"
    };
    let cert_public = cert_pem.as_deref().map(|pem| {
        pem_material::check_certificates(pem).map_err(|reason| {
            at.err(
                p,
                cert_key,
                format!("not a PEM client certificate: {reason}"),
            );
        })
    });
    let key_public = key_pem.as_deref().map(|pem| {
        pem_material::check_private_key(pem).map_err(|reason| {
            at.err(p, key_key, format!("not a PEM private key: {reason}"));
        })
    });
    let cert_given = user.client_certificate_data.is_some() || user.client_certificate.is_some();
    let key_given = key_data.is_some() || user.client_key.is_some();
    match (cert_given, key_given) {
        (true, false) => at.err(
            p,
            cert_key,
            "a client certificate needs its key: set client-key-data or client-key",
        ),
        (false, true) => at.err(
            p,
            key_key,
            "a client key needs its certificate: set client-certificate-data or client-certificate",
        ),
        _ => {}
    }
    if let (Some(Ok(key)), Some(Ok(cert))) = (&key_public, &cert_public)
        && !pem_material::matches(key, cert)
    {
        at.err(
            p,
            key_key,
            "this key does not belong to the client certificate",
        );
    }

    let mut notes = Vec::new();
    let token = at.secret("token").filter(|t| !t.is_empty());
    let token = match user.token_file.as_deref().filter(|f| !f.is_empty()) {
        Some(file) => {
            if token.is_some() {
                notes.push(
                    "user has both token and tokenFile; tokenFile wins, as in client-go"
                        .to_string(),
                );
            }
            let path = at.src.resolve_path(file);
            match std::fs::read_to_string(&path) {
                Ok(text) if text.trim().is_empty() => {
                    at.err(p, "tokenFile", format!("{} is empty", path.display()));
                    None
                }
                Ok(text) => Some(text.trim().to_string()),
                Err(e) => {
                    at.err(
                        p,
                        "tokenFile",
                        format!("cannot read {}: {e}", path.display()),
                    );
                    None
                }
            }
        }
        None => token,
    };
    if user.impersonate.is_some() || user.impersonate_groups.is_some() {
        notes.push(
            "the user's `as`/`as-groups` are ignored: the gateway impersonates the token's identity"
                .to_string(),
        );
    }

    if let Some(exec) = &user.exec {
        let command = exec.command.as_deref().unwrap_or("?");
        return UserInfo::Unsupported(format!(
            "uses an exec credential plugin (`{command}`): plugins run inside client libraries and kubeplex needs a static credential for Envoy (a client certificate or a token)"
        ));
    }
    if let Some(provider) = &user.auth_provider {
        return UserInfo::Unsupported(format!(
            "uses auth-provider `{}`, which Kubernetes removed; use a client certificate or a token",
            provider.name
        ));
    }
    if user.username.is_some() || at.secret("password").is_some() {
        return UserInfo::Unsupported(
            "uses username/password (basic auth), which Kubernetes removed in 1.19; use a client certificate or a token"
                .to_string(),
        );
    }
    UserInfo::Usable {
        client_cert_pem: cert_pem,
        client_key_pem: key_pem.map(Sensitive),
        bearer_token: token.map(Sensitive),
        notes,
    }
}
