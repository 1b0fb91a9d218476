//! What the user commands share: which gateway session a command means
//! (`--gateway`, else the current kubeconfig context's, else the only one
//! cached), and a fresh token for it.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use anyhow::Context as _;
use kubeplex::login::cache::{Cache, Session, SessionKey};
use kubeplex::login::credential::{self, Interaction};
use kubeplex::login::oidc::{Provider, TokenResponse};
use kubeplex::login::{LoginError, browser, device, gateway_api, kubeconfig, unix_now};

/// Where the user's files are, and which gateway.
#[derive(clap::Args, Debug, Clone)]
pub struct SessionArgs {
    /// The gateway (default: the current context's, or the only one logged in to).
    #[arg(long)]
    pub gateway: Option<String>,
    /// The kubeconfig to read and write (default: $KUBECONFIG's first file, else ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Where tokens are cached (default: $KUBEPLEX_CACHE_DIR, else $XDG_CACHE_HOME/kubeplex, else ~/.cache/kubeplex).
    #[arg(long, hide = true)]
    pub cache_dir: Option<PathBuf>,
}

impl SessionArgs {
    /// The token cache.
    pub fn cache(&self) -> Result<Cache, LoginError> {
        Ok(Cache::new(match &self.cache_dir {
            Some(dir) => dir.clone(),
            None => Cache::default_dir()?,
        }))
    }

    /// The kubeconfig file.
    pub fn kubeconfig_path(&self) -> Result<PathBuf, LoginError> {
        kubeconfig::default_path(self.kubeconfig.as_deref())
    }

    /// The session this command is about.
    pub fn session_key(&self, cache: &Cache) -> anyhow::Result<SessionKey> {
        let sessions = cache.sessions();
        if let Some(gateway) = &self.gateway {
            let gateway = gateway_api::normalize_gateway(gateway);
            return sessions
                .into_iter()
                .map(|s| s.key)
                .find(|k| k.gateway == gateway)
                .ok_or(LoginError::NotLoggedIn { gateway }.into());
        }
        let path = self.kubeconfig_path()?;
        if let Some((_, key)) = kubeconfig::current_session(&kubeconfig::read(&path)?) {
            return Ok(key);
        }
        match sessions.as_slice() {
            [only] => Ok(only.key.clone()),
            [] => anyhow::bail!("not logged in: run `kubeplex login --gateway https://<gateway>`"),
            _ => anyhow::bail!(
                "logged in to several gateways and the current context ({}) is none of theirs: pass --gateway",
                path.display()
            ),
        }
    }
}

/// Whether someone can answer a new sign-in: a terminal on stdin or stderr.
pub fn interaction_here() -> Interaction {
    if std::io::stdin().is_terminal() || std::io::stderr().is_terminal() {
        Interaction::Allowed
    } else {
        Interaction::Never
    }
}

/// The session with a fresh token.
pub async fn fresh_session(
    cache: &Cache,
    key: &SessionKey,
    interaction: Interaction,
) -> anyhow::Result<Session> {
    let (session, _) = credential::fresh_tokens(cache, key, unix_now, interaction, sign_in_again)
        .await
        .context("no usable token")?;
    Ok(session)
}

/// A new interactive sign-in for an existing session: the browser where
/// one can be opened, else the device grant.
pub async fn sign_in_again(
    session: Session,
    provider: Provider,
) -> Result<TokenResponse, LoginError> {
    let settings = &session.settings;
    if device::browser_available() {
        let request = browser::BrowserSignIn {
            client_id: &settings.client_id,
            scopes: &settings.scopes,
            open_browser: true,
            login_hint: None,
            timeout: std::time::Duration::from_secs(300),
        };
        // The nonce is checked by the caller only at login; a refresh's
        // sign-in trusts the provider's TLS and the gateway's verification.
        browser::sign_in(&provider, &request)
            .await
            .map(|(tokens, _nonce)| tokens)
    } else {
        device::sign_in(&provider, &settings.client_id, &settings.scopes).await
    }
}
