//! Kubeconfig entries → [`ClusterTarget`]s: data decoded, files read,
//! references followed, credentials checked.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kube::config::{AuthInfo, Cluster, Kubeconfig};

use super::{ClusterTarget, LoadedKubeconfig, server_url};
use crate::inputs::pem_material::{self, Checks};
use crate::inputs::problems::Problems;
use crate::inputs::yaml_tree::{Node, Value};
use crate::sensitive::Sensitive;

/// Where things are: the tree (for lines and secret values) and the
/// kubeconfig's directory (for relative paths; None for a kubeconfig
/// fetched from a URL, which may name no file at all).
struct Source<'a> {
    root: &'a Node,
    dir: Option<PathBuf>,
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

    /// The file a field names, relative to the kubeconfig's directory.
    /// A kubeconfig fetched from a URL has no directory, and must not make
    /// the control plane read (and send upstream) its own local files:
    /// every path there is refused, with the inline field to use instead.
    fn resolve_path(&self, file: &str, inline_key: &str) -> Result<PathBuf, String> {
        let Some(dir) = &self.dir else {
            return Err(format!(
                "{file:?} is a file path, but a kubeconfig fetched from a URL carries \
                 its data inline: use {inline_key}"
            ));
        };
        let path = Path::new(file);
        Ok(if path.is_absolute() {
            path.to_path_buf()
        } else {
            dir.join(path)
        })
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
                // Wrapped base64 is joined first; most is one line (and
                // ASCII, so free of any whitespace `split_whitespace` knows).
                let wrapped = data
                    .bytes()
                    .any(|b| b.is_ascii_whitespace() || !b.is_ascii());
                let decoded = if wrapped {
                    STANDARD.decode(data.split_whitespace().collect::<String>())
                } else {
                    STANDARD.decode(data)
                };
                match decoded {
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
                let path = match self.src.resolve_path(file, data_key) {
                    Ok(path) => path,
                    Err(reason) => {
                        self.err(p, file_key, reason);
                        return None;
                    }
                };
                match crate::inputs::read_bounded(&path, crate::inputs::MAX_REFERENCED_BYTES) {
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
    ca_pem: Option<Arc<str>>,
    tls_server_name: Option<String>,
    insecure: bool,
    proxy_url: Option<String>,
}

/// A resolved user entry.
enum UserInfo {
    Usable {
        client_cert_pem: Option<Arc<str>>,
        client_key_pem: Option<Sensitive<Arc<str>>>,
        bearer_token: Option<Sensitive<String>>,
        notes: Vec<String>,
    },
    /// Needs a credential kubeplex cannot use; why.
    Unsupported(String),
}

/// PEM texts held once however many entries carry them: a fleet's
/// kubeconfig repeats one CA per environment (and often one user) across
/// thousands of cluster entries, and every context's target keeps them.
#[derive(Default)]
struct SharedTexts(HashSet<Arc<str>>);

impl SharedTexts {
    /// The one shared copy of `text`.
    fn share(&mut self, text: String) -> Arc<str> {
        if let Some(shared) = self.0.get(text.as_str()) {
            return Arc::clone(shared);
        }
        let shared: Arc<str> = Arc::from(text);
        self.0.insert(Arc::clone(&shared));
        shared
    }
}

/// Every context of `kc` that can be served, with a problem for each
/// error and a warning for each context skipped or served with a caveat.
/// `dir` anchors relative paths; None refuses every path (a kubeconfig
/// fetched from a URL).
pub fn resolve(
    p: &mut Problems,
    root: &Node,
    kc: &Kubeconfig,
    dir: Option<&Path>,
    checks: &mut Checks,
) -> LoadedKubeconfig {
    let src = Source {
        root,
        dir: dir.map(Path::to_path_buf),
    };
    let mut texts = SharedTexts::default();
    let clusters = resolve_unique(
        p,
        &src,
        Entries::CLUSTERS,
        kc.clusters
            .iter()
            .map(|n| (n.name.as_str(), n.cluster.as_ref())),
        |p, at, cluster| resolve_cluster(p, at, cluster, checks, &mut texts),
    );
    let users = resolve_unique(
        p,
        &src,
        Entries::USERS,
        kc.auth_infos
            .iter()
            .map(|n| (n.name.as_str(), n.auth_info.as_ref())),
        |p, at, user| resolve_user(p, at, user, checks, &mut texts),
    );
    let mut warnings = Vec::new();
    let mut targets: Vec<ClusterTarget> = Vec::with_capacity(kc.contexts.len());
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, named) in kc.contexts.iter().enumerate() {
        let name = named.name.as_str();
        if is_duplicate(p, &src, Entries::CONTEXTS, index, name, &seen) {
            continue;
        }
        seen.insert(name, index);
        let Some(context) = &named.context else {
            continue; // the strict pass reported the missing `context`
        };
        if let Err(reason) = check_context_name(name) {
            Entries::CONTEXTS.name_error(p, &src, index, reason);
        }
        let at = Entries::CONTEXTS.at(index, &src);
        let picked = Context {
            name,
            cluster_name: &context.cluster,
            user_name: context.user.as_deref().filter(|u| !u.is_empty()),
        };
        if let Some(target) = picked.target(p, &at, &clusters, &users, &mut warnings) {
            targets.push(target);
        }
    }
    // By name (unique: `seen`), sorted where they lie: a map of 10,000
    // targets beside the list made from it doubled them at the reload's peak.
    targets.sort_unstable_by(|a, b| a.context.cmp(&b.context));
    targets.shrink_to_fit();
    LoadedKubeconfig {
        clusters: targets,
        warnings,
    }
}

/// One of the three named lists of a kubeconfig.
#[derive(Clone, Copy)]
struct Entries {
    /// `clusters`, `users` or `contexts`.
    list: &'static str,
    /// The body key of an entry: `cluster`, `user` or `context`.
    inner: &'static str,
    /// What an entry is, in messages.
    what: &'static str,
}

impl Entries {
    const CLUSTERS: Entries = Entries {
        list: "clusters",
        inner: "cluster",
        what: "cluster",
    };
    const USERS: Entries = Entries {
        list: "users",
        inner: "user",
        what: "user",
    };
    const CONTEXTS: Entries = Entries {
        list: "contexts",
        inner: "context",
        what: "context",
    };

    fn at<'a>(self, index: usize, src: &'a Source<'a>) -> At<'a> {
        At {
            list: self.list,
            index,
            inner: self.inner,
            src,
        }
    }

    /// A problem with the `name` of entry `index`.
    fn name_error(
        self,
        p: &mut Problems,
        src: &Source<'_>,
        index: usize,
        reason: impl Into<String>,
    ) {
        p.add(
            src.line(self.list, index, "name", ""),
            &format!("{}[{index}].name", self.list),
            reason,
        );
    }
}

/// True (and a problem) when `name` is in `seen`, the earlier entries of
/// the same list.
fn is_duplicate(
    p: &mut Problems,
    src: &Source<'_>,
    entries: Entries,
    index: usize,
    name: &str,
    seen: &BTreeMap<&str, usize>,
) -> bool {
    let Some(first) = seen.get(name) else {
        return false;
    };
    let reason = format!(
        "duplicate {} name `{name}` (also {}[{first}])",
        entries.what, entries.list
    );
    entries.name_error(p, src, index, reason);
    true
}

/// Resolve each entry of a named list (clusters or users), by name; a
/// duplicate name is a problem and its entry is ignored.
fn resolve_unique<'k, B: 'k, T>(
    p: &mut Problems,
    src: &Source<'_>,
    entries: Entries,
    named: impl Iterator<Item = (&'k str, Option<&'k B>)>,
    mut resolve: impl FnMut(&mut Problems, &At<'_>, &B) -> T,
) -> BTreeMap<&'k str, T> {
    let mut seen = BTreeMap::new();
    let mut resolved = BTreeMap::new();
    for (index, (name, body)) in named.enumerate() {
        if is_duplicate(p, src, entries, index, name, &seen) {
            continue;
        }
        let Some(body) = body else {
            continue; // the strict pass reported the missing body
        };
        seen.insert(name, index);
        resolved.insert(name, resolve(p, &entries.at(index, src), body));
    }
    resolved
}

/// A context's names: itself, its cluster, its user.
struct Context<'a> {
    name: &'a str,
    cluster_name: &'a str,
    user_name: Option<&'a str>,
}

/// A client certificate and key, and a bearer token.
type Credentials = (
    Option<Arc<str>>,
    Option<Sensitive<Arc<str>>>,
    Option<Sensitive<String>>,
);

impl Context<'_> {
    /// What the gateway connects to for this context, if it can.
    fn target(
        &self,
        p: &mut Problems,
        at: &At<'_>,
        clusters: &BTreeMap<&str, ClusterInfo>,
        users: &BTreeMap<&str, UserInfo>,
        warnings: &mut Vec<String>,
    ) -> Option<ClusterTarget> {
        let Some(cluster) = clusters.get(self.cluster_name) else {
            let reason = format!("cluster `{}` is not defined in clusters", self.cluster_name);
            at.err(p, "cluster", reason);
            return None;
        };
        let user = match self.user_name {
            None => None,
            Some(user_name) => match users.get(user_name) {
                Some(user) => Some(user),
                None => {
                    let reason = format!("user `{user_name}` is not defined in users");
                    at.err(p, "user", reason);
                    return None;
                }
            },
        };
        let server = cluster.server.clone()?; // a missing server is reported on the cluster
        let (client_cert_pem, client_key_pem, bearer_token) = self.credentials(user, warnings)?;
        self.warn_about_connection(cluster, &server, warnings);
        Some(ClusterTarget {
            context: self.name.to_string(),
            server,
            ca_pem: cluster.ca_pem.clone(),
            client_cert_pem,
            client_key_pem,
            bearer_token,
            tls_server_name: cluster.tls_server_name.clone(),
            insecure_skip_tls_verify: cluster.insecure,
            cluster_entry: Some(self.cluster_name.to_string()),
            user_entry: self.user_name.map(str::to_string),
        })
    }

    /// The user's credentials; None (and a warning) when the context is
    /// skipped because kubeplex cannot use them.
    fn credentials(
        &self,
        user: Option<&UserInfo>,
        warnings: &mut Vec<String>,
    ) -> Option<Credentials> {
        let name = self.name;
        match user {
            Some(UserInfo::Unsupported(why)) => {
                let user_name = self.user_name.unwrap_or_default();
                warnings.push(format!(
                    "context `{name}` skipped: user `{user_name}` {why}"
                ));
                None
            }
            Some(UserInfo::Usable {
                client_cert_pem,
                client_key_pem,
                bearer_token,
                notes,
            }) => {
                warnings.extend(notes.iter().map(|note| format!("context `{name}`: {note}")));
                Some((
                    client_cert_pem.clone(),
                    client_key_pem.clone(),
                    bearer_token.clone(),
                ))
            }
            None => {
                warnings.push(format!(
                    "context `{name}` has no user: the gateway reaches cluster `{}` without a credential, so impersonation works only if the cluster grants it to anonymous",
                    self.cluster_name
                ));
                Some((None, None, None))
            }
        }
    }

    /// Plain http, unverified TLS, an ignored proxy: served, with a warning.
    fn warn_about_connection(
        &self,
        cluster: &ClusterInfo,
        server: &super::ServerUrl,
        warnings: &mut Vec<String>,
    ) {
        let (name, cluster_name) = (self.name, self.cluster_name);
        if server.scheme == "http" {
            warnings.push(format!(
                "context `{name}`: cluster `{cluster_name}` is reached over plain http; credentials and impersonated requests cross the network unencrypted"
            ));
        }
        if cluster.insecure {
            warnings.push(format!(
                "context `{name}`: cluster `{cluster_name}` has insecure-skip-tls-verify: its server certificate is not verified"
            ));
        }
        if let Some(proxy) = &cluster.proxy_url {
            warnings.push(format!(
                "context `{name}`: cluster `{cluster_name}` has proxy-url `{proxy}`, which kubeplex does not support; it connects directly"
            ));
        }
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

fn resolve_cluster(
    p: &mut Problems,
    at: &At<'_>,
    cluster: &Cluster,
    checks: &mut Checks,
    texts: &mut SharedTexts,
) -> ClusterInfo {
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
        && let Err(reason) = checks.certificates(pem)
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
    let tls_server_name = cluster.tls_server_name.clone().filter(|s| !s.is_empty());
    if let Some(name) = &tls_server_name
        && (name.len() > server_url::MAX_DNS_NAME || !name.bytes().all(|b| b.is_ascii_graphic()))
    {
        at.err(
            p,
            "tls-server-name",
            format!(
                "must be a DNS name of at most {} characters",
                server_url::MAX_DNS_NAME
            ),
        );
    }
    ClusterInfo {
        server,
        ca_pem: ca_pem.map(|pem| texts.share(pem)),
        tls_server_name,
        insecure,
        proxy_url: cluster.proxy_url.clone().filter(|s| !s.is_empty()),
    }
}

fn resolve_user(
    p: &mut Problems,
    at: &At<'_>,
    user: &AuthInfo,
    checks: &mut Checks,
    texts: &mut SharedTexts,
) -> UserInfo {
    let (cert_pem, key_pem) = client_certificate(p, at, user, checks);
    let mut notes = Vec::new();
    let token = bearer_token(p, at, user, &mut notes);
    if user.impersonate.is_some() || user.impersonate_groups.is_some() {
        notes.push(
            "the user's `as`/`as-groups` are ignored: the gateway impersonates the token's identity"
                .to_string(),
        );
    }
    if let Some(why) = unsupported_credential(at, user) {
        return UserInfo::Unsupported(why);
    }
    UserInfo::Usable {
        client_cert_pem: cert_pem.map(|pem| texts.share(pem)),
        client_key_pem: key_pem.map(|pem| Sensitive(texts.share(pem))),
        bearer_token: token.map(Sensitive),
        notes,
    }
}

/// The client certificate and key (PEM), each read, checked, and checked
/// to belong together.
fn client_certificate(
    p: &mut Problems,
    at: &At<'_>,
    user: &AuthInfo,
    checks: &mut Checks,
) -> (Option<String>, Option<String>) {
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
    let given = GivenPair {
        cert: user.client_certificate_data.is_some() || user.client_certificate.is_some(),
        key: key_data.is_some() || user.client_key.is_some(),
        cert_key: if user.client_certificate_data.is_some() {
            "client-certificate-data"
        } else {
            "client-certificate"
        },
        key_key: if key_data.is_some() {
            "client-key-data"
        } else {
            "client-key"
        },
    };
    let pems = (cert_pem.as_deref(), key_pem.as_deref());
    check_pair(p, at, &given, pems, checks);
    (cert_pem, key_pem)
}

/// Which of a client certificate and key are set, and under which keys.
struct GivenPair {
    cert: bool,
    key: bool,
    cert_key: &'static str,
    key_key: &'static str,
}

/// Each half is PEM, neither comes alone, and they belong together.
fn check_pair(
    p: &mut Problems,
    at: &At<'_>,
    given: &GivenPair,
    (cert_pem, key_pem): (Option<&str>, Option<&str>),
    checks: &mut Checks,
) {
    let (cert_key, key_key) = (given.cert_key, given.key_key);
    let cert_public = cert_pem.map(|pem| {
        checks.certificates(pem).map_err(|reason| {
            at.err(
                p,
                cert_key,
                format!("not a PEM client certificate: {reason}"),
            );
        })
    });
    let key_public = key_pem.map(|pem| {
        checks.private_key(pem).map_err(|reason| {
            at.err(p, key_key, format!("not a PEM private key: {reason}"));
        })
    });
    match (given.cert, given.key) {
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
}

/// The longest token: Envoy sends it as `authorization: Bearer <token>`
/// and refuses header values over 16384 bytes.
const MAX_TOKEN: usize = 16384 - "Bearer ".len();

/// The bearer token, if it can be sent as a header value (Envoy refuses
/// the whole route table otherwise).
fn bearer_token(
    p: &mut Problems,
    at: &At<'_>,
    user: &AuthInfo,
    notes: &mut Vec<String>,
) -> Option<String> {
    let token = given_token(p, at, user, notes)?;
    let key = if user.token_file.as_deref().is_some_and(|f| !f.is_empty()) {
        "tokenFile"
    } else {
        "token"
    };
    if token.bytes().any(|b| b.is_ascii_control()) {
        at.err(
            p,
            key,
            "the token contains control characters (CR, LF, NUL...)",
        );
        return None;
    }
    if token.len() > MAX_TOKEN {
        at.err(
            p,
            key,
            format!("the token has {} bytes (at most {MAX_TOKEN})", token.len()),
        );
        return None;
    }
    Some(token)
}

/// `tokenFile` (read now) wins over `token`, as in client-go.
fn given_token(
    p: &mut Problems,
    at: &At<'_>,
    user: &AuthInfo,
    notes: &mut Vec<String>,
) -> Option<String> {
    let token = at.secret("token").filter(|t| !t.is_empty());
    let Some(file) = user.token_file.as_deref().filter(|f| !f.is_empty()) else {
        return token;
    };
    if token.is_some() {
        notes
            .push("user has both token and tokenFile; tokenFile wins, as in client-go".to_string());
    }
    let path = match at.src.resolve_path(file, "token") {
        Ok(path) => path,
        Err(reason) => {
            at.err(p, "tokenFile", reason);
            return None;
        }
    };
    match crate::inputs::read_bounded(&path, crate::inputs::MAX_REFERENCED_BYTES) {
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

/// Why kubeplex cannot use this user's credential, if it cannot.
fn unsupported_credential(at: &At<'_>, user: &AuthInfo) -> Option<String> {
    if let Some(exec) = &user.exec {
        let command = exec.command.as_deref().unwrap_or("?");
        return Some(format!(
            "uses an exec credential plugin (`{command}`): plugins run inside client libraries and kubeplex needs a static credential for Envoy (a client certificate or a token)"
        ));
    }
    if let Some(provider) = &user.auth_provider {
        return Some(format!(
            "uses auth-provider `{}`, which Kubernetes removed; use a client certificate or a token",
            provider.name
        ));
    }
    if user.username.is_some() || at.secret("password").is_some() {
        return Some(
            "uses username/password (basic auth), which Kubernetes removed in 1.19; use a client certificate or a token"
                .to_string(),
        );
    }
    None
}
