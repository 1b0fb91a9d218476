//! The user's own kubeconfig: `kubeplex login` merges one context per
//! reachable cluster into it (each with the `kubeplex credential` exec
//! plugin, no token on disk), `kubeplex clusters use` sets the current
//! context, and the other commands find the gateway of the current context
//! in its exec arguments.

use std::path::{Path, PathBuf};

use kube::config::{
    AuthInfo, Cluster, ExecConfig, ExecInteractiveMode, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};

use super::LoginError;
use super::cache::SessionKey;
use crate::user_kubeconfig::{cluster_url, config_v1, named_cluster, named_context, named_user};

/// The exec plugin's API version.
pub const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1";

/// `--kubeconfig`, else the first file of `$KUBECONFIG`, else
/// `~/.kube/config`: the file kubectl itself would read first.
pub fn default_path(explicit: Option<&Path>) -> Result<PathBuf, LoginError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    if let Some(list) = std::env::var_os("KUBECONFIG")
        && let Some(first) = std::env::split_paths(&list).find(|p| !p.as_os_str().is_empty())
    {
        return Ok(first);
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".kube").join("config"))
        .ok_or(LoginError::NoCacheDir)
}

/// What `kubeplex login` writes for one gateway.
#[derive(Debug, Clone)]
pub struct GatewayContexts<'a> {
    /// The session the plugin asks for.
    pub key: &'a SessionKey,
    /// PEM CA of the gateway, if not the system roots.
    pub gateway_ca: Option<&'a str>,
    /// The clusters the user may reach: one context each, named like them.
    pub clusters: &'a [String],
    /// The gateway's `contextServerNameSuffix`.
    pub server_name_suffix: Option<&'a str>,
    /// How kubectl runs the plugin (`kubeplex` or an absolute path).
    pub command: &'a str,
}

/// The kubeconfig user entry of a gateway's sessions.
pub fn user_name(gateway: &str) -> String {
    format!("kubeplex:{}", gateway_host(gateway))
}

fn cluster_name(gateway: &str, context: &str) -> String {
    format!("kubeplex:{}/{context}", gateway_host(gateway))
}

fn gateway_host(gateway: &str) -> &str {
    gateway.split_once("://").map_or(gateway, |(_, rest)| rest)
}

/// The exec arguments that name `key` (`credential --gateway … --issuer …
/// --client-id …`).
pub fn exec_args(key: &SessionKey) -> Vec<String> {
    [
        "credential",
        "--gateway",
        &key.gateway,
        "--issuer",
        &key.issuer,
        "--client-id",
        &key.client_id,
    ]
    .map(str::to_string)
    .to_vec()
}

/// The session an exec plugin entry names, if it is a kubeplex one.
pub fn session_of(exec: &ExecConfig) -> Option<SessionKey> {
    let args = exec.args.as_ref()?;
    if args.first().map(String::as_str) != Some("credential") {
        return None;
    }
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    Some(SessionKey {
        gateway: value("--gateway")?,
        issuer: value("--issuer")?,
        client_id: value("--client-id")?,
    })
}

/// Read `path`, or an empty kubeconfig when it does not exist.
pub fn read(path: &Path) -> Result<Kubeconfig, LoginError> {
    if !path.exists() {
        return Ok(config_v1());
    }
    Kubeconfig::read_from(path).map_err(|e| LoginError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Write `config` to `path` (0600, replaced atomically).
pub fn write(path: &Path, config: &Kubeconfig) -> Result<(), LoginError> {
    let text = crate::user_kubeconfig::to_yaml(config).map_err(|e| LoginError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("cannot render the kubeconfig: {e}"),
    })?;
    crate::local_files::write_private(path, text.as_bytes()).map_err(|source| LoginError::File {
        path: path.to_path_buf(),
        source,
    })
}

/// Put `g`'s contexts into `config`: replaces this gateway's entries,
/// removes its contexts for clusters no longer reachable, keeps the rest.
/// The current context becomes the first cluster unless it already is one
/// of this gateway's. The names of the removed contexts.
pub fn merge(config: &mut Kubeconfig, g: &GatewayContexts<'_>) -> Vec<String> {
    let user = user_name(&g.key.gateway);
    let ours = |c: &NamedContext| c.context.as_ref().and_then(|c| c.user.as_deref()) == Some(&user);
    let removed: Vec<String> = config
        .contexts
        .iter()
        .filter(|c| ours(c) && !g.clusters.contains(&c.name))
        .map(|c| c.name.clone())
        .collect();
    let prefix = format!("kubeplex:{}/", gateway_host(&g.key.gateway));
    config
        .contexts
        .retain(|c| !ours(c) && !g.clusters.contains(&c.name));
    config.clusters.retain(|c| !c.name.starts_with(&prefix));
    config.auth_infos.retain(|u| u.name != user);
    config
        .clusters
        .extend(g.clusters.iter().map(|ctx| cluster_entry(g, ctx)));
    config.auth_infos.push(user_entry(g));
    config.contexts.extend(
        g.clusters
            .iter()
            .map(|ctx| named_context(ctx, &cluster_name(&g.key.gateway, ctx), &user)),
    );
    let current_is_ours = config
        .current_context
        .as_ref()
        .is_some_and(|c| g.clusters.contains(c));
    if !current_is_ours {
        config.current_context = g
            .clusters
            .first()
            .cloned()
            .or(config.current_context.take());
    }
    removed
}

fn cluster_entry(g: &GatewayContexts<'_>, ctx: &str) -> NamedCluster {
    use base64::Engine;
    named_cluster(
        &cluster_name(&g.key.gateway, ctx),
        Cluster {
            server: Some(cluster_url(&g.key.gateway, ctx)),
            tls_server_name: g
                .server_name_suffix
                .map(|suffix| crate::translate::server_names::server_name(ctx, suffix)),
            certificate_authority_data: g
                .gateway_ca
                .map(|ca| base64::engine::general_purpose::STANDARD.encode(ca)),
            ..Cluster::default()
        },
    )
}

fn user_entry(g: &GatewayContexts<'_>) -> NamedAuthInfo {
    named_user(
        &user_name(&g.key.gateway),
        AuthInfo {
            exec: Some(ExecConfig {
                api_version: Some(EXEC_API_VERSION.into()),
                command: Some(g.command.to_string()),
                args: Some(exec_args(g.key)),
                env: None,
                drop_env: None,
                install_hint: Some(
                    "kubeplex is kubeplex's command line: install it, then run `kubeplex login`"
                        .into(),
                ),
                interactive_mode: Some(ExecInteractiveMode::IfAvailable),
                provide_cluster_info: false,
                cluster: None,
                other: Default::default(),
            }),
            ..AuthInfo::default()
        },
    )
}

/// The current context and the kubeplex session its user names, if any.
pub fn current_session(config: &Kubeconfig) -> Option<(String, SessionKey)> {
    let name = config.current_context.clone()?;
    let session = session_of_context(config, &name)?;
    Some((name, session))
}

/// The kubeplex session of context `name`, if its user is a kubeplex one.
pub fn session_of_context(config: &Kubeconfig, name: &str) -> Option<SessionKey> {
    let context = config.contexts.iter().find(|c| c.name == name)?;
    let user = context.context.as_ref()?.user.as_deref()?;
    let user = config.auth_infos.iter().find(|u| u.name == user)?;
    session_of(user.auth_info.as_ref()?.exec.as_ref()?)
}

#[cfg(test)]
mod tests;
