//! The cluster's ServiceAccount token issuer, shaped like kube-apiserver's:
//! signing keys that rotate (old keys stay published until retired),
//! tokens with exactly the claims of Kubernetes' bound tokens, the
//! `TokenRequest` API (`serviceaccounts/token`), and authentication of the
//! server's own tokens. The discovery endpoints that publish the keys are
//! in `well_known.rs`.
//!
//! Why here: kubeplex trusts a cluster as a token issuer (workload identity
//! across clusters), so tests need an issuer whose discovery, keys,
//! rotation and tokens behave like a real cluster's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::identity::UserInfo;
use super::store::{Store, StoreError};

mod authenticator;
mod claims;
pub(crate) mod jwt;
mod keys;
pub(crate) mod token_request;

pub(crate) use keys::{IssuerKey, Jwk};

/// The algorithm of an issuer's signing keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// ECDSA P-256 / SHA-256: a fresh key at start and at every rotation.
    #[default]
    Es256,
    /// RSA PKCS#1 v1.5 / SHA-256 with 2048-bit keys, like most clusters'
    /// `sa.key`. RSA key generation is too slow for debug-build tests, so
    /// keys come from a pool of 12 fixture keys shared by the process: at
    /// most 12 RS256 keys (over all servers) can be live at once, and two
    /// live servers never share one.
    Rs256,
}

impl SigningAlgorithm {
    /// The JOSE name (`ES256`, `RS256`).
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Es256 => "ES256",
            SigningAlgorithm::Rs256 => "RS256",
        }
    }
}

/// Who may read `/.well-known/openid-configuration` and `/openid/v1/jwks`
/// under RBAC ([`super::Authorizer::Rules`] or [`super::Authorizer::Rbac`]:
/// an extra ClusterRoleBinding of `system:service-account-issuer-discovery`
/// is added for the wider settings); `AllowAll` lets every authenticated
/// user in anyway. Requests without credentials to these two paths are
/// authenticated as `system:anonymous` only with `Anonymous`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IssuerDiscoveryAccess {
    /// Service accounts only: the default ClusterRoleBinding of
    /// `system:service-account-issuer-discovery` is to the group
    /// `system:serviceaccounts`.
    #[default]
    ServiceAccounts,
    /// Every authenticated user (the role bound to `system:authenticated`,
    /// as many clusters do).
    Authenticated,
    /// Everyone, also requests without credentials (bound to
    /// `system:unauthenticated` too, as clusters whose issuer is trusted
    /// by outside relying parties do).
    Anonymous,
}

/// How a test cluster issues and accepts ServiceAccount tokens. The issuer
/// URL itself is [`super::ApiServerConfig::service_account_issuer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountOptions {
    /// Algorithm of the signing keys (default ES256).
    pub algorithm: SigningAlgorithm,
    /// The server's own audiences (`--api-audiences`): its tokens must carry
    /// one of them to authenticate here, and a `TokenRequest` without
    /// `spec.audiences` gets them. Empty (the default) means the issuer URL,
    /// as in the apiserver.
    pub api_audiences: Vec<String>,
    /// `Cache-Control: public, max-age=<n>` on both discovery endpoints
    /// (default one hour, as the apiserver).
    pub discovery_max_age: Duration,
    /// Who may read the discovery endpoints.
    pub discovery_access: IssuerDiscoveryAccess,
}

impl Default for ServiceAccountOptions {
    fn default() -> Self {
        ServiceAccountOptions {
            algorithm: SigningAlgorithm::Es256,
            api_audiences: Vec::new(),
            discovery_max_age: Duration::from_secs(3600),
            discovery_access: IssuerDiscoveryAccess::ServiceAccounts,
        }
    }
}

/// What can go wrong while issuing ServiceAccount tokens.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    /// Generating or loading a signing key failed.
    #[error("signing key: {0}")]
    Key(String),
    /// Every RS256 fixture key is held by a live server of this process.
    #[error("all {0} RS256 fixture keys are in use in this process; retire keys or use ES256")]
    RsaPoolExhausted(usize),
    /// Signing a token failed.
    #[error("signing: {0}")]
    Signing(String),
    /// The ServiceAccount (or its namespace, or the pod) could not be
    /// read or created in the store.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The pod named for a pod-bound token runs as another service account.
    #[error("pod {pod:?} runs with service account {actual:?}, not {wanted:?}")]
    PodServiceAccount {
        /// The pod.
        pod: String,
        /// Its `spec.serviceAccountName`.
        actual: String,
        /// The service account asked for.
        wanted: String,
    },
}

/// The objects a token is bound to (`kubernetes.io.pod` and friends).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BoundObjects {
    /// The pod the token is bound to: `(name, uid)`.
    pub pod: Option<(String, String)>,
    /// The secret the token is bound to: `(name, uid)`.
    pub secret: Option<(String, String)>,
    /// The pod's node: `(name, uid)`; uid empty when the Node object does
    /// not exist (always here: nodes are not served).
    pub node: Option<(String, String)>,
}

/// What one token says, before signing.
#[derive(Debug, Clone)]
pub(crate) struct TokenSpec<'a> {
    /// The ServiceAccount object (name, namespace and uid are read).
    pub service_account: &'a Value,
    /// `aud`.
    pub audiences: &'a [String],
    /// `exp - iat`.
    pub ttl: Duration,
    /// The issue time (`iat`, `nbf`).
    pub now: SystemTime,
    /// Objects the token is bound to.
    pub bound: BoundObjects,
}

/// A signed token and its `jti`.
#[derive(Clone)]
pub(crate) struct IssuedToken {
    /// The compact JWS (secret).
    pub token: String,
    /// Its `jti`.
    pub jti: String,
    /// `exp`, in Unix seconds.
    pub expires_at: u64,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("jti", &self.jti)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// One server's issuer: its URL, keys and counters.
pub(crate) struct Issuer {
    issuer: String,
    jwks_uri: String,
    algorithm: SigningAlgorithm,
    api_audiences: Vec<String>,
    max_age: Duration,
    access: IssuerDiscoveryAccess,
    /// Published keys, oldest first; the last one signs.
    keys: Mutex<Vec<Arc<keys::IssuerKey>>>,
    jwks_fetches: AtomicU64,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &self.issuer)
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

/// Unix seconds of `t`.
pub(crate) fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

impl Issuer {
    /// An issuer named `issuer` (`None`: `server_url`) whose keys are served
    /// at `<server_url>/openid/v1/jwks`, with one fresh signing key.
    pub fn new(
        issuer: Option<String>,
        server_url: &str,
        options: ServiceAccountOptions,
    ) -> Result<Issuer, IssuerError> {
        let issuer = issuer.unwrap_or_else(|| server_url.to_string());
        let api_audiences = if options.api_audiences.is_empty() {
            vec![issuer.clone()]
        } else {
            options.api_audiences
        };
        let first = keys::IssuerKey::generate(options.algorithm)?;
        Ok(Issuer {
            jwks_uri: format!("{}/openid/v1/jwks", server_url.trim_end_matches('/')),
            issuer,
            algorithm: options.algorithm,
            api_audiences,
            max_age: options.discovery_max_age,
            access: options.discovery_access,
            keys: Mutex::new(vec![Arc::new(first)]),
            jwks_fetches: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Arc<keys::IssuerKey>>> {
        // Every mutation is one push or one truncation: a poisoned lock
        // still holds consistent data.
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The `iss` of tokens and of the discovery document.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `<server url>/openid/v1/jwks`.
    pub fn jwks_uri(&self) -> &str {
        &self.jwks_uri
    }

    /// The server's own audiences.
    pub fn api_audiences(&self) -> &[String] {
        &self.api_audiences
    }

    /// Who may read the discovery endpoints.
    pub fn access(&self) -> IssuerDiscoveryAccess {
        self.access
    }

    /// `Cache-Control` max-age of the discovery endpoints.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// The published keys, oldest first (the last one signs).
    pub(crate) fn published(&self) -> Vec<Arc<keys::IssuerKey>> {
        self.lock().clone()
    }

    /// The published key ids, oldest first (the last one signs).
    pub fn key_ids(&self) -> Vec<String> {
        self.lock().iter().map(|k| k.kid().to_string()).collect()
    }

    /// A new key signs from now on; the old ones stay published.
    pub fn rotate(&self) -> Result<String, IssuerError> {
        let key = Arc::new(keys::IssuerKey::generate(self.algorithm)?);
        let kid = key.kid().to_string();
        self.lock().push(key);
        Ok(kid)
    }

    /// Unpublishes every key but the signing one; returns how many went.
    pub fn retire_except_current(&self) -> usize {
        let mut keys = self.lock();
        let retired = keys.len().saturating_sub(1);
        keys.drain(..retired);
        retired
    }

    /// Counts one `/openid/v1/jwks` response.
    pub fn count_jwks_fetch(&self) {
        self.jwks_fetches.fetch_add(1, Ordering::Relaxed);
    }

    /// How many times the JWKS was served.
    pub fn jwks_fetch_count(&self) -> u64 {
        self.jwks_fetches.load(Ordering::Relaxed)
    }

    /// Signs a token for `spec` with the current key.
    pub(crate) fn issue(&self, spec: &TokenSpec<'_>) -> Result<IssuedToken, IssuerError> {
        let jti = super::ids::uid();
        let claims = claims::Claims::build(&self.issuer, &jti, spec);
        let key = self
            .lock()
            .last()
            .cloned()
            .expect("an issuer always has a key");
        let token = jwt::sign(&key, &claims)?;
        Ok(IssuedToken {
            token,
            jti,
            expires_at: claims.exp,
        })
    }

    /// Authenticates `Authorization: Bearer <token>` if the token is one of
    /// this issuer's and still valid (keys, `iss`, `aud`, `exp`/`nbf`, and
    /// the bound objects still existing with the same uids).
    pub fn authenticate(&self, authorization: Option<&str>, store: &Store) -> Option<UserInfo> {
        let token = authenticator::bearer(authorization?)?;
        match authenticator::authenticate(self, token, store, unix(SystemTime::now())) {
            Ok(user) => Some(user),
            Err(e) => {
                // The reason only: never the token.
                tracing::debug!(issuer = %self.issuer, error = %e, "service account token rejected");
                None
            }
        }
    }
}

/// Gets the ServiceAccount `ns/name`, creating it (and its namespace) if
/// missing, as a test's shortcut for "the service account exists".
pub(crate) fn ensure_service_account(
    store: &Store,
    namespace: &str,
    name: &str,
) -> Result<Value, IssuerError> {
    if let Some(sa) = store.get("serviceaccounts", namespace, name) {
        return Ok(sa);
    }
    if store.get("namespaces", "", namespace).is_none() {
        match store.create(
            "namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        ) {
            Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let sa = json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace},
    });
    match store.create("serviceaccounts", sa) {
        Ok(created) => Ok(created),
        // Created concurrently: use that one.
        Err(e @ StoreError::AlreadyExists { .. }) => store
            .get("serviceaccounts", namespace, name)
            .ok_or(IssuerError::Store(e)),
        Err(e) => Err(e.into()),
    }
}

/// The pod `ns/name` for a pod-bound token, created (running as `sa`) if
/// missing; with the node claim the apiserver adds (`spec.nodeName`, no uid
/// since Node objects are not served).
fn bound_pod(
    store: &Store,
    namespace: &str,
    pod: &str,
    sa: &str,
) -> Result<BoundObjects, IssuerError> {
    let obj = match store.get("pods", namespace, pod) {
        Some(p) => p,
        None => store.create(
            "pods",
            json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": pod, "namespace": namespace},
                "spec": {
                    "serviceAccountName": sa,
                    "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}],
                },
            }),
        )?,
    };
    let actual = obj["spec"]["serviceAccountName"]
        .as_str()
        .unwrap_or("default");
    if actual != sa {
        return Err(IssuerError::PodServiceAccount {
            pod: pod.to_string(),
            actual: actual.to_string(),
            wanted: sa.to_string(),
        });
    }
    Ok(BoundObjects {
        pod: Some((pod.to_string(), uid_of(&obj))),
        node: node_of(&obj),
        secret: None,
    })
}

/// `metadata.uid`.
pub(crate) fn uid_of(obj: &Value) -> String {
    obj["metadata"]["uid"].as_str().unwrap_or("").to_string()
}

/// The node claim of a pod-bound token: `(spec.nodeName, "")`.
pub(crate) fn node_of(pod: &Value) -> Option<(String, String)> {
    pod["spec"]["nodeName"]
        .as_str()
        .filter(|n| !n.is_empty())
        .map(|n| (n.to_string(), String::new()))
}

impl super::ApiServer {
    /// The ServiceAccount issuer (`iss` of this cluster's tokens).
    pub fn service_account_issuer(&self) -> String {
        self.shared.service_accounts.issuer().to_string()
    }

    /// The JWKS this cluster publishes now (what `/openid/v1/jwks` serves).
    pub fn service_account_jwks(&self) -> Value {
        super::well_known::jwks_json(&self.shared.service_accounts)
    }

    /// The published key ids, oldest first; the last one signs.
    pub fn service_account_key_ids(&self) -> Vec<String> {
        self.shared.service_accounts.key_ids()
    }

    /// The published public keys as PEM (`PUBLIC KEY`, PKIX), oldest
    /// first: what a cluster's `--service-account-key-file` holds, for
    /// trusting the issuer by static keys instead of discovery.
    pub fn service_account_public_keys_pem(&self) -> Vec<String> {
        use x509_cert::der::pem::{LineEnding, encode_string};
        self.shared
            .service_accounts
            .published()
            .iter()
            .map(|k| {
                encode_string("PUBLIC KEY", LineEnding::LF, k.spki_der()).expect("PEM encodes")
            })
            .collect()
    }

    /// A new key signs from now on; old keys stay published (tokens they
    /// signed still verify) until retired. Returns the new `kid`.
    ///
    /// # Panics
    /// With RS256, if all fixture RSA keys are in use in this process.
    pub fn rotate_service_account_key(&self) -> String {
        self.shared
            .service_accounts
            .rotate()
            .unwrap_or_else(|e| panic!("rotating the service account key: {e}"))
    }

    /// Unpublishes every key but the current one: tokens signed by older
    /// keys no longer verify. Returns how many keys were retired.
    pub fn retire_service_account_keys_except_current(&self) -> usize {
        self.shared.service_accounts.retire_except_current()
    }

    /// How many times `/openid/v1/jwks` was served.
    pub fn jwks_fetch_count(&self) -> u64 {
        self.shared.service_accounts.jwks_fetch_count()
    }

    /// A token shaped exactly like Kubernetes' projected (bound) tokens
    /// for the ServiceAccount `namespace/name`, valid for `ttl`, signed by
    /// the current key. The ServiceAccount (and its namespace) is created if
    /// missing; its uid goes into the claims. With `pod`, the token is bound
    /// to that pod (created, running as the service account, if missing)
    /// and carries its node, as a kubelet-requested token does.
    ///
    /// # Panics
    /// If the pod exists but runs as another service account, or the store
    /// refuses the objects (invalid names).
    pub fn mint_service_account_token(
        &self,
        namespace: &str,
        name: &str,
        audiences: &[&str],
        ttl: Duration,
        pod: Option<&str>,
    ) -> String {
        self.try_mint_service_account_token(namespace, name, audiences, ttl, pod)
            .unwrap_or_else(|e| panic!("minting a token for {namespace}/{name}: {e}"))
    }

    fn try_mint_service_account_token(
        &self,
        namespace: &str,
        name: &str,
        audiences: &[&str],
        ttl: Duration,
        pod: Option<&str>,
    ) -> Result<String, IssuerError> {
        let store = &self.shared.store;
        let sa = ensure_service_account(store, namespace, name)?;
        let bound = match pod {
            Some(pod) => bound_pod(store, namespace, pod, name)?,
            None => BoundObjects::default(),
        };
        let audiences: Vec<String> = audiences.iter().map(|a| a.to_string()).collect();
        let spec = TokenSpec {
            service_account: &sa,
            audiences: &audiences,
            ttl,
            now: SystemTime::now(),
            bound,
        };
        Ok(self.shared.service_accounts.issue(&spec)?.token)
    }
}

#[cfg(test)]
mod tests;
