//! The gateway config file: listener, trusted issuers (modelled on
//! Kubernetes' structured `AuthenticationConfiguration` `jwt[]`),
//! revocations, policy and audit. See the README for the full reference.
//!
//! Parsing is strict: unknown fields are errors with their line.

use std::path::{Path, PathBuf};

use super::InputErrors;
use super::keys::VerificationKey;
use super::problems::Problems;
use crate::sensitive::Sensitive;

pub mod agents;
mod audit;
mod cache;
mod issuer;
mod login;
mod read;

pub use audit::{DEFAULT_RETENTION, parse_duration};
pub use cache::{DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, DEFAULT_TTL_SECONDS};

#[cfg(test)]
mod tests;

/// The downstream listener kubectl connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Bind address, default `0.0.0.0`.
    pub address: String,
    /// Default 8443.
    pub port: u16,
    /// PEM certificate chain the gateway presents.
    pub certificate_pem: String,
    /// PEM private key of the serving certificate.
    pub key_pem: Sensitive<String>,
    /// When set, clients must present a certificate signed by this CA.
    pub client_ca_pem: Option<String>,
    /// When set, context `c` is also selected by the TLS server name
    /// `<label(c)>.<suffix>` (see `translate::server_names`); the gateway's
    /// certificate must cover `*.<suffix>`.
    pub context_server_name_suffix: Option<String>,
}

/// Where an issuer's verification keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Keys known at load time: inline JWKS, a JWKS file, a PEM public key
    /// or a signer certificate. `origin` says which, for messages.
    Static {
        /// The keys.
        keys: Vec<VerificationKey>,
        /// Where they came from, in words.
        origin: String,
    },
    /// Keys the control plane fetches and refreshes (`crate::key_fetch`).
    Remote(RemoteKeySource),
}

/// Where a remote issuer's keys are fetched from. TLS is always verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteKeySource {
    /// A JWKS URL, fetched (TLS verified against `ca_pem` or system roots)
    /// and refreshed by the control plane.
    JwksUrl {
        /// The JWKS URL.
        url: String,
        /// PEM CA bundle; None = the system roots.
        ca_pem: Option<String>,
    },
    /// OIDC discovery: `<url>` is the discovery document
    /// (`<issuer>/.well-known/openid-configuration` unless overridden);
    /// its `jwks_uri` is fetched like [`RemoteKeySource::JwksUrl`].
    Discovery {
        /// The discovery document's URL.
        url: String,
        /// PEM CA bundle; None = the system roots.
        ca_pem: Option<String>,
    },
    /// The ServiceAccount issuer of a kubeconfig context: discovery and JWKS
    /// fetched from that cluster with its kubeconfig credentials.
    Cluster {
        /// The kubeconfig context.
        context: String,
    },
}

impl KeySource {
    /// The context of a cluster's ServiceAccount issuer, if that is the source.
    pub fn cluster(&self) -> Option<&str> {
        match self {
            KeySource::Remote(RemoteKeySource::Cluster { context }) => Some(context),
            _ => None,
        }
    }
}

/// Claims → Kubernetes identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMappings {
    /// Default `sub`.
    pub username_claim: String,
    /// Default empty.
    pub username_prefix: String,
    /// Default `groups`.
    pub groups_claim: String,
    /// Prefix added to each group.
    pub groups_prefix: String,
    /// The claim that becomes the uid, if any.
    pub uid_claim: Option<String>,
    /// `(key, claim)`: key lower-cased and validated like Kubernetes'
    /// extra keys (a domain-prefixed path).
    pub extra: Vec<(String, String)>,
}

impl Default for ClaimMappings {
    /// Kubernetes' defaults: username from `sub`, groups from `groups`,
    /// no prefixes, no uid, no extra.
    fn default() -> Self {
        ClaimMappings {
            username_claim: "sub".to_string(),
            username_prefix: String::new(),
            groups_claim: "groups".to_string(),
            groups_prefix: String::new(),
            uid_claim: None,
            extra: Vec::new(),
        }
    }
}

/// One trusted issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerConfig {
    /// Must equal the token's `iss`; `https://` unless it is a cluster issuer.
    pub url: String,
    /// Non-empty.
    pub audiences: Vec<String>,
    /// Where the issuer's keys come from.
    pub keys: KeySource,
    /// Claims → the Kubernetes identity.
    pub claim_mappings: ClaimMappings,
    /// `(claim, required value)`.
    pub claim_validation_rules: Vec<(String, String)>,
}

/// Where audit records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// Append JSON lines here.
    pub path: Option<PathBuf>,
    /// Also (or only) write them to Envoy's stdout.
    pub stdout: bool,
    /// Where the control plane stores them (Envoy streams them to it).
    pub store: StoreConfig,
    /// Stored records older than this are deleted.
    pub retention: std::time::Duration,
}

/// Where audit records are stored, as the gateway config says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// A SQLite file; None: `audit.db` in the state directory.
    Sqlite {
        /// The database file.
        path: Option<PathBuf>,
    },
    /// A PostgreSQL database.
    Postgres(PostgresConfig),
    /// No store: Envoy does not stream records to the control plane.
    Disabled,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig::Sqlite { path: None }
    }
}

/// How to reach PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// A libpq-style URL or `key=value` string (`postgres://user@host:5432/db?sslmode=require`).
    pub url: crate::sensitive::Sensitive<String>,
    /// The password (from `passwordFile`), when not in the URL.
    pub password: Option<crate::sensitive::Sensitive<String>>,
    /// PEM CA certificates that verify the server (default: the system roots).
    pub ca_pem: Option<String>,
}

impl Default for AuditConfig {
    /// No log file, no stdout; the default store (SQLite in the state
    /// directory), kept [`DEFAULT_RETENTION`].
    fn default() -> Self {
        AuditConfig {
            path: None,
            stdout: false,
            store: Default::default(),
            retention: DEFAULT_RETENTION,
        }
    }
}

/// How users sign in (`kubeplex login`): published unauthenticated at
/// `/.well-known/kubeplex`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginConfig {
    /// One of the trusted issuers' URLs (not a cluster's).
    pub issuer: String,
    /// The OAuth client users sign in with (a public client: no secret);
    /// one of that issuer's audiences, since it is the ID token's `aud`.
    pub client_id: String,
    /// Scopes to ask for; default `openid offline_access`.
    pub scopes: Vec<String>,
    /// The issuer's `certificateAuthorityFile`, so the CLI trusts the
    /// identity provider as the gateway does.
    pub issuer_ca_pem: Option<String>,
    /// `gatewayCertificateAuthorityFile`: the CA bundle the gateway's own
    /// certificate chains to, published with its fingerprint so a user
    /// who was handed only the fingerprint can trust the gateway.
    pub gateway_ca_pem: Option<String>,
}

/// A cluster reached through its agent's reverse tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCluster {
    /// The cluster's name: its context at the gateway, the tunnel's node
    /// id and the DNS name of its agent's certificate.
    pub name: String,
    /// SHA-256 of the pre-shared token its agent enrolls with.
    pub token_sha256: [u8; 32],
}

/// `agents`: where agents connect and how they are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentsConfig {
    /// Bind address of the agent listener (reverse tunnels and enrollment).
    pub address: String,
    /// Its port, default 8444.
    pub port: u16,
    /// The CA that signs agents' client certificates (PEM).
    pub ca_certificate_pem: String,
    /// Its key: only the control plane reads it.
    pub ca_key_pem: Sensitive<String>,
    /// The two CA files, for messages.
    pub ca_files: (PathBuf, PathBuf),
    /// Lifetime of an issued agent certificate (agents renew at 2/3).
    pub certificate_lifetime_seconds: u32,
    /// The agent clusters.
    pub clusters: Vec<AgentCluster>,
}

/// `revocation.store`: where the revocation list lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationStoreConfig {
    /// `store: file` (the default): a YAML file on this machine (see
    /// `revocations`), resolved relative to the gateway config.
    File(PathBuf),
    /// `store: kubernetes`: a ConfigMap that every control plane watches
    /// and `kubeplex revoke` updates (see `revocation_store::kubernetes`).
    Kubernetes(KubernetesStoreConfig),
}

/// `revocation.store: kubernetes`: which ConfigMap, reached how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesStoreConfig {
    /// `configMap`, default `kubeplex-revocations`.
    pub config_map: String,
    /// `namespace`; None = the control plane's own (the pod's namespace
    /// in the cluster, the kubeconfig context's otherwise).
    pub namespace: Option<String>,
    /// `kubeconfig`, resolved; None = the in-cluster configuration (the
    /// pod's ServiceAccount token and CA, `KUBERNETES_SERVICE_HOST`).
    pub kubeconfig: Option<PathBuf>,
}

/// The default `revocation.configMap`.
pub const DEFAULT_REVOCATION_CONFIG_MAP: &str = "kubeplex-revocations";

impl GatewayConfig {
    /// The revocation file, when the revocation store is a file.
    pub fn revocation_file(&self) -> Option<&Path> {
        match &self.revocation {
            Some(RevocationStoreConfig::File(path)) => Some(path),
            _ => None,
        }
    }
}

/// A loaded gateway config with every referenced file already read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// The gateway's HTTPS listener.
    pub listener: ListenerConfig,
    /// The trusted token issuers.
    pub issuers: Vec<IssuerConfig>,
    /// Where revocations are kept (`revocation:`); None = nowhere (no
    /// token is revoked, `kubeplex revoke` refuses).
    pub revocation: Option<RevocationStoreConfig>,
    /// RBAC policy file (see `policy`), resolved; None = defer to clusters.
    pub policy_file: Option<PathBuf>,
    /// Where the audit log goes.
    pub audit: AuditConfig,
    /// Leeway for `exp`/`nbf`/`iat`, default 30.
    pub clock_skew_seconds: u32,
    /// Verified tokens cached per worker, default 4096.
    pub token_cache_size: u32,
    /// How users sign in; None = no `kubeplex login` for this gateway.
    pub login: Option<LoginConfig>,
    /// Every file this config read (certificates, keys, JWKS files), so the
    /// control plane can watch them too.
    pub referenced_files: Vec<PathBuf>,
    /// Clusters behind NAT, reached through their agents; None without an
    /// `agents` section.
    pub agents: Option<AgentsConfig>,
    /// Envoy's active `/readyz` checks of every context (`healthChecks`).
    pub health_checks: HealthChecks,
    /// Envoy's cache of discovery documents; None without `cache.discovery`
    /// (nothing is cached).
    pub discovery_cache: Option<DiscoveryCacheConfig>,
}

/// `cache.discovery`: Envoy caches each cluster's discovery documents
/// (`/api`, `/apis`, `/openapi/...`), per caller unless shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryCacheConfig {
    /// Where Envoy keeps the entries (its file-system cache): a directory
    /// that exists on Envoy's machine.
    pub directory: PathBuf,
    /// How long an entry is served without asking the cluster again.
    pub ttl_seconds: u64,
    /// The cache's size bound (Envoy evicts the least recently used).
    pub max_bytes: u64,
    /// The cache's entry bound.
    pub max_entries: u64,
    /// Whether clusters not named in `shared_clusters` share one entry
    /// between all callers.
    pub shared: bool,
    /// Per-context overrides of `shared`.
    pub shared_clusters: std::collections::BTreeMap<String, bool>,
}

impl DiscoveryCacheConfig {
    /// Whether every caller of `context` gets the same cached answer (the
    /// cluster's discovery does not depend on who asks).
    pub fn shared(&self, context: &str) -> bool {
        self.shared_clusters
            .get(context)
            .copied()
            .unwrap_or(self.shared)
    }
}

/// `healthChecks`: how often each Envoy asks each context's `/readyz`.
/// Every context costs every Envoy one request per interval (10,000
/// contexts every 5 s: 2,000 checks a second per Envoy), so large fleets
/// check idle contexts less often, or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthChecks {
    /// Seconds between two checks of a context that has traffic; 0 = no
    /// active health checks at all (a dead cluster then costs a connect
    /// attempt per request instead of an immediate 503).
    pub interval_seconds: u64,
    /// Seconds between two checks of a context with no traffic yet or for
    /// a while (Envoy's `no_traffic_interval`).
    pub idle_interval_seconds: u64,
}

impl Default for HealthChecks {
    fn default() -> Self {
        HealthChecks {
            interval_seconds: 5,
            idle_interval_seconds: 5,
        }
    }
}

/// Read and validate a gateway config file.
pub fn load(path: &Path) -> Result<GatewayConfig, InputErrors> {
    parse(&super::read(path)?, path)
}

/// Parse gateway config text; `path` names the file in errors and anchors
/// relative paths.
pub fn parse(text: &str, path: &Path) -> Result<GatewayConfig, InputErrors> {
    let (mut p, root) = Problems::parse_yaml(path, text)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let config = read::read(&mut p, &root, dir);
    match config {
        Some(config) => p.finish(config),
        None => Err(p.into_errors()),
    }
}
