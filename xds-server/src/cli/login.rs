//! `kubeplex login`, `kubeplex logout`, `kubeplex credential`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use kubeplex::login::cache::{Session, SessionKey};
use kubeplex::login::credential::{self, Freshness};
use kubeplex::login::oidc::{Provider, TokenResponse};
use kubeplex::login::{LoginError, browser, device, gateway_api, kubeconfig, unix_now};
use kubeplex::translate::login_settings::{self, LoginSettings};
use kubeplex_filter_core::time::rfc3339;

use super::session::{SessionArgs, sign_in_again};

/// `kubeplex login`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  # Sign in (browser on this machine, else a code to enter on another device)
  kubeplex login --gateway https://gateway.example.com:8443

  # Over SSH, or wherever no browser opens: the device code flow
  kubeplex login --gateway https://gateway.example.com:8443 --device

  # A gateway whose certificate is signed by a private CA you have a copy of
  kubeplex login --gateway https://127.0.0.1:8443 --certificate-authority .kubeplex/gateway/ca.pem

  # ... or only the CA's fingerprint, from your administrator (kubeplex up prints it)
  kubeplex login --gateway https://gateway.example.com:8443 --ca-fingerprint sha256:3f1c...")]
pub struct LoginArgs {
    /// The gateway, e.g. https://gateway.example.com:8443.
    #[arg(long)]
    pub gateway: String,
    /// PEM CA bundle the gateway's certificate is signed by (default: the system roots).
    #[arg(long, value_name = "FILE")]
    pub certificate_authority: Option<PathBuf>,
    /// Trust the gateway whose published CA has this SHA-256 fingerprint (sha256:<hex>, or openssl's AB:CD:… form); its CA bundle then goes into the kubeconfig.
    #[arg(long, value_name = "SHA256", value_parser = parse_pin, conflicts_with = "certificate_authority")]
    pub ca_fingerprint: Option<String>,
    /// The OpenID Connect issuer (default: the gateway's login settings).
    #[arg(long)]
    pub issuer: Option<String>,
    /// The OAuth client ID (default: the gateway's login settings).
    #[arg(long)]
    pub client_id: Option<String>,
    /// A scope to ask for instead of the gateway's (repeat for several).
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Sign in with a code on another device (RFC 8628); the default over SSH or without a display.
    #[arg(long, conflicts_with = "no_browser")]
    pub device: bool,
    /// Print the sign-in URL instead of opening a browser (the redirect still comes back here).
    #[arg(long)]
    pub no_browser: bool,
    /// Which account to sign in as, for identity providers that honour login_hint.
    #[arg(long)]
    pub login_hint: Option<String>,
    /// How long to wait for the sign-in.
    #[arg(long, default_value = "5m", value_parser = parse_timeout)]
    pub timeout: Duration,
    #[command(flatten)]
    pub files: FileArgs,
}

/// The local files a login writes.
#[derive(clap::Args, Debug, Clone)]
pub struct FileArgs {
    /// The kubeconfig to merge the contexts into (default: $KUBECONFIG's first file, else ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Where tokens are cached (default: $KUBEPLEX_CACHE_DIR, else $XDG_CACHE_HOME/kubeplex, else ~/.cache/kubeplex).
    #[arg(long, hide = true)]
    pub cache_dir: Option<PathBuf>,
}

fn parse_pin(s: &str) -> Result<String, String> {
    login_settings::parse_fingerprint(s).ok_or_else(|| {
        "not a SHA-256 fingerprint: sha256:<64 hex digits>, or openssl's AB:CD:… form".to_string()
    })
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    kubeplex::token_mint::parse_duration(s).map_err(|e| e.to_string())
}

/// `kubeplex logout`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  # The gateway of the current context: tokens deleted, refresh token revoked
  kubeplex logout

  # Every gateway you are logged in to
  kubeplex logout --all")]
pub struct LogoutArgs {
    /// Log out of every gateway.
    #[arg(long, conflicts_with = "gateway")]
    pub all: bool,
    #[command(flatten)]
    pub session: SessionArgs,
}

/// `kubeplex credential` (run by kubectl, not by people).
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  # What kubectl runs (kubeplex login writes it into the kubeconfig's user)
  kubeplex credential --gateway https://gw:8443 --issuer https://idp.example.com --client-id kubeplex")]
pub struct CredentialArgs {
    /// The gateway.
    #[arg(long)]
    pub gateway: String,
    /// The issuer.
    #[arg(long)]
    pub issuer: String,
    /// The client ID.
    #[arg(long)]
    pub client_id: String,
    /// Where tokens are cached.
    #[arg(long, hide = true)]
    pub cache_dir: Option<PathBuf>,
}

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let gateway = gateway_api::normalize_gateway(&args.gateway);
    let gateway_ca = match (&args.certificate_authority, &args.ca_fingerprint) {
        (Some(path), _) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        ),
        (None, Some(pin)) => Some(gateway_api::pinned_gateway_ca(&gateway, pin).await?),
        (None, None) => None,
    };
    let settings = settings(&args, &gateway, gateway_ca.as_deref()).await?;
    // Read over a connection verified against the pinned certificate, the
    // published bundle is the gateway's word (it may hold a second CA
    // during a rotation): kubectl trusts all of it.
    let gateway_ca = match (
        &args.ca_fingerprint,
        &settings.gateway_certificate_authority,
    ) {
        (Some(_), Some(bundle)) => Some(bundle.clone()),
        _ => gateway_ca,
    };
    let key = SessionKey {
        gateway: gateway.clone(),
        issuer: settings.issuer.clone(),
        client_id: settings.client_id.clone(),
    };
    let provider = Provider::discover(
        &settings.issuer,
        settings.issuer_certificate_authority.as_deref(),
    )
    .await?;
    let (answer, nonce) = sign_in(&args, &provider, &settings).await?;
    let tokens = credential::tokens_from(&answer, &key, nonce.as_deref(), None)?;
    let session = Session {
        key: key.clone(),
        gateway_ca: gateway_ca.clone(),
        settings,
        tokens,
    };
    let session_args = SessionArgs {
        gateway: Some(gateway.clone()),
        kubeconfig: args.files.kubeconfig.clone(),
        cache_dir: args.files.cache_dir.clone(),
    };
    session_args.cache()?.write(&session)?;
    let list =
        gateway_api::clusters(&gateway, gateway_ca.as_deref(), &session.tokens.id_token).await?;
    let clusters: Vec<String> = list.clusters.iter().map(|c| c.name.clone()).collect();
    let path = session_args.kubeconfig_path()?;
    let mut config = kubeconfig::read(&path)?;
    let removed = kubeconfig::merge(
        &mut config,
        &kubeconfig::GatewayContexts {
            key: &key,
            gateway_ca: gateway_ca.as_deref(),
            clusters: &clusters,
            server_name_suffix: session.settings.context_server_name_suffix.as_deref(),
            command: &plugin_command(),
        },
    );
    kubeconfig::write(&path, &config)?;
    let groups = if list.user.groups.is_empty() {
        String::new()
    } else {
        format!(" (groups {})", list.user.groups.join(", "))
    };
    eprintln!(
        "Logged in to {gateway} as {}{groups}; the token is refreshed automatically (now valid until {}).",
        list.user.username,
        rfc3339(session.tokens.expires_at)
    );
    summarize_contexts(
        &path,
        &clusters,
        config.current_context.as_deref(),
        &removed,
    );
    Ok(())
}

/// The gateway's login settings, with the command line's overrides; the
/// overrides alone when the gateway publishes none.
async fn settings(
    args: &LoginArgs,
    gateway: &str,
    gateway_ca: Option<&str>,
) -> anyhow::Result<LoginSettings> {
    let published = gateway_api::login_settings(gateway, gateway_ca).await;
    let mut settings = match (published, &args.issuer, &args.client_id) {
        (Ok(settings), _, _) => settings,
        (Err(LoginError::NoLogin { .. }), Some(issuer), Some(client_id)) => LoginSettings {
            issuer: issuer.clone(),
            client_id: client_id.clone(),
            scopes: vec!["openid".into(), "offline_access".into()],
            issuer_certificate_authority: None,
            context_server_name_suffix: None,
            gateway_certificate_authority: None,
            gateway_certificate_authority_fingerprint: None,
        },
        (Err(e), _, _) => return Err(e.into()),
    };
    if let Some(issuer) = &args.issuer {
        settings.issuer = issuer.clone();
    }
    if let Some(client_id) = &args.client_id {
        settings.client_id = client_id.clone();
    }
    if !args.scopes.is_empty() {
        settings.scopes = args.scopes.clone();
    }
    Ok(settings)
}

/// Browser (code + PKCE, loopback redirect) or device grant; the nonce the
/// ID token must carry (browser only).
async fn sign_in(
    args: &LoginArgs,
    provider: &Provider,
    settings: &LoginSettings,
) -> Result<(TokenResponse, Option<String>), LoginError> {
    let use_device = args.device || (!args.no_browser && !device::browser_available());
    if use_device {
        let tokens = tokio::time::timeout(
            args.timeout,
            device::sign_in(provider, &settings.client_id, &settings.scopes),
        )
        .await
        .map_err(|_| LoginError::TimedOut(args.timeout))??;
        return Ok((tokens, None));
    }
    let request = browser::BrowserSignIn {
        client_id: &settings.client_id,
        scopes: &settings.scopes,
        open_browser: !args.no_browser,
        login_hint: args.login_hint.as_deref(),
        timeout: args.timeout,
    };
    let (tokens, nonce) = browser::sign_in(provider, &request).await?;
    Ok((tokens, Some(nonce)))
}

/// `kubeplex` when the one on PATH is this program, else this program's
/// absolute path (kubectl runs the plugin by that name).
fn plugin_command() -> String {
    let me = std::env::current_exe().and_then(|p| p.canonicalize()).ok();
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("kubeplex"))
            .find(|candidate| candidate.is_file())
            .and_then(|p| p.canonicalize().ok())
    });
    match (me, on_path) {
        (Some(me), Some(found)) if me == found => "kubeplex".to_string(),
        (Some(me), _) => me.display().to_string(),
        (None, _) => "kubeplex".to_string(),
    }
}

fn summarize_contexts(
    path: &std::path::Path,
    clusters: &[String],
    current: Option<&str>,
    removed: &[String],
) {
    if clusters.is_empty() {
        eprintln!(
            "The gateway policy lets you reach no cluster yet: no context was added to {}.",
            path.display()
        );
    } else {
        eprintln!("Contexts in {}:", path.display());
        for name in clusters {
            let mark = if Some(name.as_str()) == current {
                "  (current)"
            } else {
                ""
            };
            eprintln!("  {name}{mark}");
        }
    }
    if !removed.is_empty() {
        eprintln!("Removed (no longer reachable): {}", removed.join(", "));
    }
    eprintln!(
        "Next: kubeplex clusters list | kubeplex clusters use NAME | kubeplex kubectl get pods"
    );
}

pub async fn logout(args: LogoutArgs) -> anyhow::Result<()> {
    let cache = args.session.cache()?;
    let keys = if args.all {
        cache.sessions().into_iter().map(|s| s.key).collect()
    } else {
        vec![args.session.session_key(&cache)?]
    };
    if keys.is_empty() {
        eprintln!("Not logged in to any gateway.");
    }
    for key in keys {
        let _lock = cache.lock(&key)?;
        if let Some(session) = cache.read(&key)? {
            revoke(&session).await;
        }
        cache.remove(&key)?;
        eprintln!(
            "Logged out of {} (no token of it is left in {}).",
            key.gateway,
            cache.dir().display()
        );
    }
    Ok(())
}

/// Revoke the refresh token where the provider can; a failure is reported,
/// the local tokens go anyway.
async fn revoke(session: &Session) {
    let Some(refresh_token) = &session.tokens.refresh_token else {
        return;
    };
    let settings = &session.settings;
    let revoked = match Provider::discover(
        &settings.issuer,
        settings.issuer_certificate_authority.as_deref(),
    )
    .await
    {
        Ok(provider) => provider.revoke(&settings.client_id, refresh_token).await,
        Err(e) => Err(e),
    };
    match revoked {
        Ok(true) => eprintln!("Revoked the refresh token at {}.", settings.issuer),
        Ok(false) => eprintln!(
            "{} cannot revoke tokens (no revocation endpoint); the refresh token was deleted here.",
            settings.issuer
        ),
        Err(e) => eprintln!(
            "warning: could not revoke the refresh token: {:#}",
            anyhow::Error::from(e)
        ),
    }
}

pub async fn credential(args: CredentialArgs) -> anyhow::Result<()> {
    let files = SessionArgs {
        gateway: None,
        kubeconfig: None,
        cache_dir: args.cache_dir.clone(),
    };
    let key = SessionKey {
        gateway: args.gateway,
        issuer: args.issuer,
        client_id: args.client_id,
    };
    let interaction = credential::interaction_from_exec_info(
        std::env::var("KUBERNETES_EXEC_INFO").ok().as_deref(),
    );
    let (session, how) =
        credential::fresh_tokens(&files.cache()?, &key, unix_now, interaction, sign_in_again)
            .await?;
    if how == Freshness::Refreshed {
        tracing::debug!(gateway = %key.gateway, "refreshed the token");
    }
    println!("{}", credential::exec_credential(&session.tokens));
    Ok(())
}
