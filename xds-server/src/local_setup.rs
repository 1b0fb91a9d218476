//! Files `kubeplex up` and `kubeplex demo` generate when the user brings no
//! gateway config: a CA and serving certificate for the gateway, a token
//! issuer key, an empty revocation file, the gateway config tying them
//! together, a token, and a kubeconfig for kubectl. Private keys are written
//! 0600. Existing files are reused, so restarts keep tokens valid.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::local_files::{write_private, write_public};
use crate::token_mint::{
    MintError, MintRequest, SigningKey, load_signing_key, mint, public_key_pem,
};
use crate::user_kubeconfig::{UserKubeconfig, YamlError, render};

/// The issuer URL of the locally generated issuer.
pub const LOCAL_ISSUER: &str = "https://kubeplex.local/issuer";
/// The audience of locally minted tokens.
pub const LOCAL_AUDIENCE: &str = "kubeplex";
/// Server names `<context>.<this>` select a cluster by SNI (`get --raw`).
pub const LOCAL_SERVER_NAME_SUFFIX: &str = "clusters.kubeplex.internal";

/// What was generated.
#[derive(Debug, Clone)]
pub struct LocalGateway {
    /// The directory holding it all.
    pub dir: PathBuf,
    /// The gateway config.
    pub config: PathBuf,
    /// The CA of the gateway's serving certificate.
    pub ca: PathBuf,
    /// The token issuer's private key.
    pub issuer_key: PathBuf,
    /// The URL kubectl uses (`https://127.0.0.1:<port>`).
    pub url: String,
}

/// Why the local gateway's files could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum LocalSetupError {
    /// A file or directory could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A key or certificate could not be generated.
    #[error("cannot generate {what}")]
    Generate {
        /// What, e.g. `the gateway CA`.
        what: &'static str,
        /// Why.
        #[source]
        source: rcgen::Error,
    },
    /// A name the gateway certificate must carry is not a valid DNS name.
    #[error("{name}")]
    ServerName {
        /// The name.
        name: String,
        /// Why.
        #[source]
        source: rcgen::Error,
    },
    /// The issuer key does not load, or a token could not be minted with it.
    #[error("{}", path.display())]
    Mint {
        /// The issuer key file.
        path: PathBuf,
        /// Why.
        #[source]
        source: MintError,
    },
    /// The user's kubeconfig could not be written as YAML.
    #[error("the user kubeconfig")]
    Yaml(#[source] YamlError),
}

/// An [`LocalSetupError::Io`] for `path`.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LocalSetupError + '_ {
    move |source| LocalSetupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An [`LocalSetupError::Generate`] for `what`.
fn generating(what: &'static str) -> impl FnOnce(rcgen::Error) -> LocalSetupError {
    move |source| LocalSetupError::Generate { what, source }
}

/// An [`LocalSetupError::Mint`] for the key at `path`.
fn minting(path: &Path) -> impl FnOnce(MintError) -> LocalSetupError + '_ {
    move |source| LocalSetupError::Mint {
        path: path.to_path_buf(),
        source,
    }
}

/// A CA plus a gateway serving certificate valid for `names` (DNS names or
/// IPs), reusing existing files.
pub(crate) fn gateway_tls(
    dir: &Path,
    names: &[String],
) -> Result<(PathBuf, PathBuf, PathBuf), LocalSetupError> {
    let (ca_path, cert_path, key_path) = (
        dir.join("gateway-ca.pem"),
        dir.join("gateway.pem"),
        dir.join("gateway-key.pem"),
    );
    if ca_path.is_file() && cert_path.is_file() && key_path.is_file() {
        return Ok((ca_path, cert_path, key_path));
    }
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose, SanType,
    };
    let ca_key = KeyPair::generate().map_err(generating("the gateway CA key"))?;
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kubeplex gateway CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params
        .self_signed(&ca_key)
        .map_err(generating("the gateway CA"))?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().map_err(generating("the gateway key"))?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "kubeplex gateway");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    for n in names {
        params.subject_alt_names.push(match n.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(n.clone().try_into().map_err(|source| {
                LocalSetupError::ServerName {
                    name: n.clone(),
                    source,
                }
            })?),
        });
    }
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(generating("the gateway certificate"))?;
    write_public(&ca_path, ca.pem().as_bytes()).map_err(io(&ca_path))?;
    write_public(&cert_path, cert.pem().as_bytes()).map_err(io(&cert_path))?;
    write_private(&key_path, key.serialize_pem().as_bytes()).map_err(io(&key_path))?;
    Ok((ca_path, cert_path, key_path))
}

/// The issuer's signing key (P-256), reusing an existing one.
fn issuer_key(dir: &Path) -> Result<(PathBuf, SigningKey), LocalSetupError> {
    let path = dir.join("issuer-key.pem");
    if !path.is_file() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(generating("the token issuer key"))?;
        write_private(&path, key.serialize_pem().as_bytes()).map_err(io(&path))?;
    }
    let pem = std::fs::read_to_string(&path).map_err(io(&path))?;
    let key = load_signing_key(&pem).map_err(minting(&path))?;
    let public = dir.join("issuer.pub.pem");
    let public_pem = public_key_pem(&key).map_err(minting(&path))?;
    write_public(&public, public_pem.as_bytes()).map_err(io(&public))?;
    Ok((path, key))
}

/// An OpenID Connect provider users sign in with (`kubeplex login`): the
/// demo's test identity provider.
#[derive(Debug, Clone)]
pub struct LocalLogin {
    /// Its issuer URL.
    pub issuer: String,
    /// Its CA certificate (PEM file), for the gateway's key fetches and the CLI.
    pub ca_file: PathBuf,
    /// The OAuth client users sign in with.
    pub client_id: String,
}

/// The gateway config's lines for `login`: the provider as a trusted
/// issuer (keys by discovery; username from `email`, groups prefixed
/// `oidc:`) and the `login` section that publishes it, with the gateway's
/// CA (so a user given only its fingerprint can trust the gateway).
fn login_config(login: &LocalLogin, gateway_ca: &Path) -> (String, String) {
    let issuer = format!(
        "- issuer:\n    url: {url}\n    audiences: [{client}]\n    discovery: true\n    certificateAuthorityFile: {ca}\n  \
         claimMappings:\n    username: {{claim: email, prefix: \"\"}}\n    groups: {{claim: groups, prefix: \"oidc:\"}}\n",
        url = login.issuer,
        client = login.client_id,
        ca = login.ca_file.display(),
    );
    let section = format!(
        "login:\n  issuer: {}\n  clientID: {}\n  scopes: [openid, offline_access, email, groups]\n  \
         gatewayCertificateAuthorityFile: {}\n",
        login.issuer,
        login.client_id,
        gateway_ca.display()
    );
    (issuer, section)
}

/// Generate (or reuse) everything a local gateway needs in `dir`, listening
/// on `listen_address:port`; with `login`, users can also sign in with
/// that provider.
pub fn generate(
    dir: &Path,
    listen_address: &str,
    port: u16,
    audit_stdout: bool,
    login: Option<&LocalLogin>,
) -> Result<LocalGateway, LocalSetupError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let dir = dir.canonicalize().map_err(io(dir))?;
    let mut names = vec![
        "127.0.0.1".to_string(),
        "localhost".to_string(),
        "::1".to_string(),
        format!("*.{LOCAL_SERVER_NAME_SUFFIX}"),
    ];
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        let host = host.trim();
        if !host.is_empty() && host != "localhost" {
            names.push(host.to_string());
        }
    }
    let (ca, cert, key) = gateway_tls(&dir, &names)?;
    let (issuer_key_path, _) = issuer_key(&dir)?;
    let revoked = dir.join("revoked.yaml");
    if !revoked.is_file() {
        write_public(&revoked, b"revoked: []\n").map_err(io(&revoked))?;
    }
    let config = dir.join("gateway.yaml");
    let (login_issuer, login_section) = login
        .map(|login| login_config(login, &ca))
        .unwrap_or_default();
    let text = format!(
        "# Generated by kubeplex; edit freely (it is hot-reloaded). Reference: README.md.\n\
         apiVersion: kubeplex.io/v1alpha1\nkind: GatewayConfig\nlistener:\n  address: {listen_address}\n  port: {port}\n  \
         contextServerNameSuffix: {LOCAL_SERVER_NAME_SUFFIX}\n  certificateFile: {cert}\n  keyFile: {key}\njwt:\n- issuer:\n    url: {LOCAL_ISSUER}\n    audiences: [{LOCAL_AUDIENCE}]\n    \
         publicKeyFile: issuer.pub.pem\n  claimMappings:\n    username: {{claim: sub, prefix: \"\"}}\n    groups: {{claim: groups, prefix: \"\"}}\n\
         {login_issuer}revocation:\n  file: revoked.yaml\naudit:\n  path: audit.log\n  stdout: {audit_stdout}\n{login_section}",
        cert = cert.display(),
        key = key.display(),
    );
    if !config.is_file() {
        write_public(&config, text.as_bytes()).map_err(io(&config))?;
    }
    Ok(LocalGateway {
        dir: dir.clone(),
        config,
        ca,
        issuer_key: issuer_key_path,
        url: format!("https://127.0.0.1:{port}"),
    })
}

/// Mint a token with the local issuer and write a kubeconfig for it with
/// one context per cluster. Returns (kubeconfig path, token).
pub fn user_kubeconfig(
    local: &LocalGateway,
    out_dir: &Path,
    user: &str,
    groups: &[String],
    contexts: &[String],
    ttl: Duration,
) -> Result<(PathBuf, String), LocalSetupError> {
    let pem = std::fs::read_to_string(&local.issuer_key).map_err(io(&local.issuer_key))?;
    let key = load_signing_key(&pem).map_err(minting(&local.issuer_key))?;
    let token = mint(
        &key,
        &MintRequest {
            issuer: LOCAL_ISSUER.into(),
            subject: user.into(),
            groups: groups.to_vec(),
            audience: vec![LOCAL_AUDIENCE.into()],
            context: None,
            ttl,
            jti: None,
            key_id: None,
            extra_claims: Default::default(),
            now: SystemTime::now(),
        },
    )
    .map_err(minting(&local.issuer_key))?;
    let ca = std::fs::read_to_string(&local.ca).map_err(io(&local.ca))?;
    let text = render(&UserKubeconfig {
        gateway: &local.url,
        ca_pem: Some(&ca),
        token: &token,
        user,
        contexts,
        server_name_suffix: Some(LOCAL_SERVER_NAME_SUFFIX),
    })
    .map_err(LocalSetupError::Yaml)?;
    let path = out_dir.join("kubeconfig");
    write_private(&path, text.as_bytes()).map_err(io(&path))?;
    Ok((path, token))
}
