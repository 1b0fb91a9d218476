//! Kubeconfig → the clusters kubeplex routes to, one per context.
//!
//! Parsed with the `kube` crate's `Kubeconfig` (the upstream format exactly),
//! then resolved: `*-data` fields base64-decoded, file paths read relative to
//! the kubeconfig's directory, `token`/`tokenFile` read.

use std::path::Path;
use std::sync::Arc;

use kube::config::{Kubeconfig, KubeconfigError};

use super::InputErrors;
use super::pem_material::Checks;
use super::problems::Problems;
use super::yaml_tree;
use super::yaml_tree::deserializer::from_node;
use crate::sensitive::Sensitive;

mod pieces;
mod resolve;
mod server_url;
mod strict;

#[cfg(test)]
mod tests;

/// Where a cluster's kube-apiserver listens, from the cluster's `server` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// `https` (or `http`, loudly warned).
    pub scheme: String,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Explicit port, or 443/80 from the scheme.
    pub port: u16,
    /// Path prefix of the server URL without trailing slash (e.g.
    /// `/k8s/clusters/c-abc` behind Rancher); empty when none.
    pub path: String,
}

/// One kubeconfig context, resolved into everything needed to reach its
/// cluster as the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterTarget {
    /// The context name: the cluster's name at the gateway.
    pub context: String,
    /// The cluster's API server.
    pub server: ServerUrl,
    /// PEM CA bundle from `certificate-authority(-data)`; None = system roots.
    /// Shared: contexts with the same CA hold one copy of its text.
    pub ca_pem: Option<Arc<str>>,
    /// PEM client certificate chain from `client-certificate(-data)`
    /// (shared like `ca_pem`).
    pub client_cert_pem: Option<Arc<str>>,
    /// PEM private key from `client-key(-data)` (shared like `ca_pem`).
    pub client_key_pem: Option<Sensitive<Arc<str>>>,
    /// Bearer token from `token` or `tokenFile`, sent upstream.
    pub bearer_token: Option<Sensitive<String>>,
    /// `tls-server-name`: SNI and the name the server certificate must carry.
    pub tls_server_name: Option<String>,
    /// `insecure-skip-tls-verify`; loudly warned when true.
    pub insecure_skip_tls_verify: bool,
    /// The kubeconfig's `clusters` entry this context uses: its CA reaches
    /// Envoy as the secret named after it (`translate::secret`). None for
    /// a target that is not from a kubeconfig (the agent's own apiserver):
    /// its CA goes inline.
    pub cluster_entry: Option<String>,
    /// The kubeconfig's `users` entry this context uses, if any: its client
    /// certificate and key reach Envoy as the secret named after it.
    pub user_entry: Option<String>,
}

/// A successfully loaded kubeconfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedKubeconfig {
    /// One per usable context, sorted by context name.
    pub clusters: Vec<ClusterTarget>,
    /// Things that load but deserve attention: insecure TLS, plain http,
    /// contexts skipped because their user needs an unsupported credential
    /// (`exec`, `auth-provider`, username/password).
    pub warnings: Vec<String>,
}

/// Read, parse and resolve a kubeconfig file.
pub fn load(path: &Path) -> Result<LoadedKubeconfig, InputErrors> {
    parse(&super::read(path)?, path)
}

/// Parse and resolve kubeconfig text; `path` names the file in errors and
/// anchors relative paths.
pub fn parse(text: &str, path: &Path) -> Result<LoadedKubeconfig, InputErrors> {
    parse_in(text, path, Some(dir_of(path)))
}

fn dir_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// Loads one kubeconfig again and again (a reload per edit), parsing and
/// checking only what changed since the last load: the same result and
/// the same errors as [`load`], which parses everything every time.
#[derive(Debug, Default)]
pub struct Loader {
    pieces: pieces::ParseCache,
    checks: Checks,
}

impl Loader {
    /// [`load`], reusing the last load's work.
    pub fn load(&mut self, path: &Path) -> Result<LoadedKubeconfig, InputErrors> {
        let text = super::read(path)?;
        let dir = Some(dir_of(path));
        self.checks.next_load();
        let Some(assembled) = self.pieces.parse(&text) else {
            // Text the fast path does not cut: the whole text parsed.
            return parse_with(&text, path, dir, &mut self.checks);
        };
        // The tree holds all the rest needs: the text (10 MB at 10,000
        // contexts) goes before kube's copy and the targets are made.
        drop(text);
        if let Some(loaded) = self.load_unchanged_pieces(assembled, path, dir) {
            return Ok(loaded);
        }
        // A problem: the whole text parsed with positions names each
        // problem's line. Read again, as the next reload would (the file
        // may have been replaced meanwhile: its newest text is judged).
        let text = super::read(path)?;
        parse_with(&text, path, dir, &mut self.checks)
    }

    /// [`parse_remote`], reusing the last load's work: the body of a
    /// kubeconfig polled from `url` (kept by the caller, so a problem is
    /// named from this very text).
    pub fn load_remote(&mut self, text: &str, url: &str) -> Result<LoadedKubeconfig, InputErrors> {
        let path = Path::new(url);
        self.checks.next_load();
        let loaded = self
            .pieces
            .parse(text)
            .and_then(|assembled| self.load_unchanged_pieces(assembled, path, None));
        match loaded {
            Some(loaded) => Ok(loaded),
            None => parse_with(text, path, None, &mut self.checks),
        }
    }

    /// How many list items (clusters, users, contexts) this loader has
    /// parsed: a text it saw before adds none, an edit only its own.
    pub fn pieces_parsed(&self) -> u64 {
        self.pieces.parsed()
    }

    /// The fast path: the text's tree from its pieces (each parsed once),
    /// checked and resolved; None when it finds any problem.
    fn load_unchanged_pieces(
        &mut self,
        mut assembled: pieces::Assembled,
        path: &Path,
        dir: Option<&Path>,
    ) -> Option<LoadedKubeconfig> {
        let mut p = Problems::new(path);
        strict::check(&mut p, &assembled.root);
        // kube reads the tree, not the text again; what it would read
        // differently from the text it refuses (the whole parse decides).
        let kubeconfig = p.is_empty().then(|| kube_from_tree(&mut assembled));
        let loaded = kubeconfig.flatten().map(|kubeconfig| {
            let root = &assembled.root;
            resolve::resolve(&mut p, root, &kubeconfig, dir, &mut self.checks)
        });
        self.pieces.put_back(assembled);
        loaded.filter(|_| p.is_empty())
    }
}

/// kube's `Kubeconfig` read from the assembled tree, with each cluster's
/// `certificate-authority-data` and each user's `client-certificate-data`
/// moved from the tree into it rather than copied (10,000 CAs at 10,000
/// contexts, while the last load's targets and clusters are still held):
/// the tree, which goes back to the pieces' cache without them anyway,
/// keeps a null in their place, and resolving reads them from kube's.
fn kube_from_tree(assembled: &mut pieces::Assembled) -> Option<Kubeconfig> {
    let cas = assembled.take_long_scalars("clusters", "cluster", "certificate-authority-data");
    let certs = assembled.take_long_scalars("users", "user", "client-certificate-data");
    let mut kubeconfig = from_node::<Kubeconfig>(&assembled.root).ok()?;
    for (index, data) in cas {
        let cluster = kubeconfig.clusters.get_mut(index)?.cluster.as_mut()?;
        cluster.certificate_authority_data = Some(data);
    }
    for (index, data) in certs {
        let user = kubeconfig.auth_infos.get_mut(index)?.auth_info.as_mut()?;
        user.client_certificate_data = Some(data);
    }
    Some(kubeconfig)
}

/// Parse and resolve a kubeconfig fetched from `url` (named in errors).
/// It can carry only inline data: a file path in it (`certificate-authority`,
/// `client-certificate`, `client-key`, `tokenFile`) is an error, whether
/// relative (there is no directory to resolve it against) or absolute (a
/// remote server must not make the control plane read its own files, such
/// as its ServiceAccount token, and send them to a server of its choice).
pub fn parse_remote(text: &str, url: &str) -> Result<LoadedKubeconfig, InputErrors> {
    parse_in(text, Path::new(url), None)
}

fn parse_in(text: &str, path: &Path, dir: Option<&Path>) -> Result<LoadedKubeconfig, InputErrors> {
    parse_with(text, path, dir, &mut Checks::default())
}

/// `Kubeconfig::from_yaml` (every document, merged the way kube merges
/// them, kube's parse options) with our budget sized from the text: kube's
/// own parse uses serde-saphyr's default one, which refuses ~15,000
/// contexts.
fn kube_from_yaml(text: &str) -> Result<Kubeconfig, KubeconfigError> {
    let options = serde_saphyr::options! { budget: Some(yaml_tree::budget_for(text.len())) };
    serde_saphyr::from_multiple_with_options::<Kubeconfig>(text, options)
        .map_err(|e| KubeconfigError::Parse(Box::new(e)))?
        .into_iter()
        .try_fold(Kubeconfig::default(), Kubeconfig::merge)
}

/// The whole text parsed with positions: every problem with its line.
fn parse_with(
    text: &str,
    path: &Path,
    dir: Option<&Path>,
    checks: &mut Checks,
) -> Result<LoadedKubeconfig, InputErrors> {
    let (mut p, root) = Problems::parse_yaml(path, text)?;
    strict::check(&mut p, &root);
    let kubeconfig = match kube_from_yaml(text) {
        Ok(kubeconfig) => kubeconfig,
        Err(e) => {
            // The strict pass names the same problem more precisely.
            if p.is_empty() {
                let line = match &e {
                    KubeconfigError::Parse(inner) => inner.location().and_then(yaml_tree::line_of),
                    _ => None,
                };
                p.add(line, "", format!("not a valid kubeconfig: {e}"));
            }
            return Err(p.into_errors());
        }
    };
    let loaded = resolve::resolve(&mut p, &root, &kubeconfig, dir, checks);
    p.finish(loaded)
}
