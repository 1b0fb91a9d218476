//! The running control plane: the last good version of every input, the
//! reload that turns a file edit into a new snapshot, and what the status
//! API reports. A rejected edit is logged with its precise errors and
//! leaves the last good configuration live.
//!
//! A reload reads and parses every input first, with no lock held; then
//! takes the state lock only to swap in what loaded; then translates and
//! hands the snapshot cache the result. Reloads run one at a time (their
//! own lock, which only reloads wait on), so the status API and the admin
//! handlers never wait on a disk.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use kubeplex_proto::filter::v1 as pb;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::ads::registry::Registry;
use crate::agent_registry::AgentRegistry;
use crate::clock::unix_now;
use crate::cluster_health::Health;
use crate::inputs::gateway_config::{self, GatewayConfig, RevocationStoreConfig};
use crate::inputs::kubeconfig::{self, LoadedKubeconfig};
use crate::inputs::revocations::Revocation;
use crate::inputs::{InputErrors, LastGood, policy};
use crate::key_fetch::KeyStore;
use crate::preflight::ClusterChecks;
use crate::remote_kubeconfig::RemoteKubeconfig;
use crate::revocation_store::prune;
use crate::revocation_store::{KubernetesStore, RevocationStore, StoreError, StoreStatus};
use crate::snapshot::{Snapshot, SnapshotCache};
use crate::translate::{self, Options};

/// Where the kubeconfig comes from.
#[derive(Debug, Clone)]
pub enum KubeconfigSource {
    /// A file, reloaded when it changes.
    File(PathBuf),
    /// A URL, polled (the poller is started by `server::start`).
    Url(Arc<RemoteKubeconfig>),
}

impl From<PathBuf> for KubeconfigSource {
    fn from(path: PathBuf) -> Self {
        KubeconfigSource::File(path)
    }
}

impl KubeconfigSource {
    /// The file or URL, as `/status` shows it.
    pub fn describe(&self) -> PathBuf {
        match self {
            KubeconfigSource::File(path) => path.clone(),
            KubeconfigSource::Url(remote) => PathBuf::from(remote.url()),
        }
    }

    /// Read it: the file now (`loader` reuses what did not change since
    /// its last load), or what the URL's latest fetch returned.
    fn load(&self, loader: &mut kubeconfig::Loader) -> Result<Arc<LoadedKubeconfig>, InputErrors> {
        match self {
            KubeconfigSource::File(path) => loader.load(path).map(Arc::new),
            KubeconfigSource::Url(remote) => remote.current(),
        }
    }
}

/// What the control plane is started with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The clusters: one gateway route per context.
    pub kubeconfig: KubeconfigSource,
    /// Listener, issuers, revocations, policy, audit.
    pub gateway_config: PathBuf,
    /// Knobs that are not part of the user's inputs.
    pub options: Options,
    /// The control plane's own files: the SQLite audit store (unless the
    /// gateway config names another), the audit spill folder.
    pub state_dir: PathBuf,
}

/// One input's last good value and the state of its latest edit.
#[derive(Debug, Clone)]
pub struct Slot<T> {
    /// The file, once known.
    pub path: Option<PathBuf>,
    /// The last value that loaded.
    pub last_good: Option<Arc<T>>,
    /// The latest edit's errors; None when it loaded.
    pub error: Option<String>,
    /// Unix seconds of the last successful load.
    pub loaded_at: i64,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            path: None,
            last_good: None,
            error: None,
            loaded_at: 0,
        }
    }
}

impl<T: PartialEq> Slot<T> {
    /// Take a load result: success replaces the value, failure keeps the
    /// last good one and records why.
    fn accept(&mut self, kind: &str, result: Result<impl Into<Arc<T>>, InputErrors>) {
        match result {
            Ok(value) => {
                self.error = None;
                self.loaded_at = unix_now();
                let value: Arc<T> = value.into();
                if self.last_good.as_deref() != Some(&*value) {
                    self.last_good = Some(value);
                }
            }
            Err(errors) => {
                let first_time = self.error.as_deref() != Some(&errors.to_string());
                if first_time {
                    for e in &errors.0 {
                        error!(input = kind, "rejected edit: {e}");
                    }
                    if self.last_good.is_some() {
                        warn!(input = kind, "keeping the last good {kind}");
                    }
                }
                self.error = Some(errors.to_string());
            }
        }
    }
}

/// Every input.
#[derive(Debug, Default)]
pub struct State {
    /// The clusters.
    pub kubeconfig: Slot<LoadedKubeconfig>,
    /// The gateway config.
    pub gateway: Slot<GatewayConfig>,
    /// The gateway policy (None inside: the config names no policy file).
    pub policy: Slot<Option<pb::Policy>>,
    /// The revocation list (empty: the config names no revocation store).
    pub revocations: Slot<Vec<Revocation>>,
    /// Warnings already printed, so a reload does not repeat them.
    printed_warnings: Vec<String>,
}

/// The result of a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// The snapshot version now served.
    pub version: String,
    /// True when this reload changed what Envoy gets.
    pub changed: bool,
    /// Inputs whose latest edit was rejected, with their errors.
    pub rejected: Vec<(String, String)>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Reloads of the inputs.
    pub reloads: AtomicU64,
    /// Reloads in which an input was rejected.
    pub rejected_edits: AtomicU64,
    /// New snapshots handed to the snapshot cache.
    pub snapshots_published: AtomicU64,
}

/// The first load failed: there is no last good configuration to serve.
#[derive(Debug, thiserror::Error)]
#[error("cannot start: invalid input{}", render_rejected(.rejected))]
pub struct StartError {
    /// `(input, its errors)` for every input that did not load.
    pub rejected: Vec<(String, String)>,
}

fn render_rejected(rejected: &[(String, String)]) -> String {
    rejected
        .iter()
        .map(|(kind, errors)| format!("\n{kind}:\n{errors}"))
        .collect()
}

/// Every input as read from disk by one reload, before any lock is taken.
struct LoadedInputs {
    kubeconfig: Result<Arc<LoadedKubeconfig>, InputErrors>,
    gateway: Result<GatewayConfig, InputErrors>,
    policy_path: Option<PathBuf>,
    policy: Result<Option<pb::Policy>, InputErrors>,
    /// Where the list came from (`/status` shows it as the input's path).
    revocations_source: Option<PathBuf>,
    /// None while the store does not know it yet (a Kubernetes store
    /// before its first list): the slot keeps what it has.
    revocations: Option<Result<Vec<Revocation>, InputErrors>>,
}

/// The last good inputs after a reload accepted what loaded.
struct Accepted {
    inputs: Option<LastGood>,
    policy: Option<Arc<Option<pb::Policy>>>,
    revocations: Option<Arc<Vec<Revocation>>>,
    rejected: Vec<(String, String)>,
    new_warnings: Vec<String>,
}

/// The control plane.
pub struct ControlPlane {
    /// What it was started with.
    pub settings: Settings,
    /// Held for a whole reload: reloads run one at a time. The kubeconfig
    /// file's loader, which keeps what the last reload parsed.
    reloading: Mutex<kubeconfig::Loader>,
    /// Held from reading the revocation list to writing it back (a
    /// Kubernetes store also guards against other control planes).
    revoking: tokio::sync::Mutex<()>,
    /// The Kubernetes revocation store, while the gateway config names one.
    kubernetes_store: Mutex<Option<Arc<KubernetesStore>>>,
    /// The runtime a Kubernetes store runs on (None outside one: tests).
    runtime: Option<tokio::runtime::Handle>,
    /// Itself, for the reloads a store asks for.
    me: Weak<ControlPlane>,
    /// Held only to copy values in or out, never across I/O.
    state: Mutex<State>,
    last_good: watch::Sender<Option<LastGood>>,
    snapshots: SnapshotCache,
    /// The contexts' clusters of the last translation (reloads run one at
    /// a time: only a reload takes it).
    cluster_cache: Mutex<translate::ClusterCache>,
    key_store: Arc<KeyStore>,
    cluster_checks: Arc<ClusterChecks>,
    cluster_health: Arc<Health>,
    /// The Envoys connected over ADS and what each accepted.
    pub registry: Arc<Registry>,
    /// Counters for `/metrics`.
    pub counters: Counters,
    /// The agent clusters' connection state (`agents` in the gateway config).
    pub agents: Arc<AgentRegistry>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl ControlPlane {
    /// Load every input. Unlike a reload, the first load must succeed:
    /// there is no last good configuration to fall back on.
    pub fn start(settings: Settings) -> Result<Arc<ControlPlane>, StartError> {
        let cp = Arc::new_cyclic(|me| ControlPlane {
            settings,
            reloading: Mutex::default(),
            revoking: tokio::sync::Mutex::new(()),
            kubernetes_store: Mutex::new(None),
            runtime: tokio::runtime::Handle::try_current().ok(),
            me: me.clone(),
            state: Mutex::new(State::default()),
            last_good: watch::channel(None).0,
            snapshots: SnapshotCache::default(),
            cluster_cache: Mutex::default(),
            key_store: Arc::new(KeyStore::default()),
            cluster_checks: Arc::new(ClusterChecks::default()),
            cluster_health: Arc::new(Health::default()),
            registry: Arc::new(Registry::default()),
            counters: Counters::default(),
            agents: Arc::new(AgentRegistry::default()),
        });
        let outcome = cp.reload();
        if !outcome.rejected.is_empty() {
            return Err(StartError {
                rejected: outcome.rejected,
            });
        }
        Ok(cp)
    }

    /// Snapshots as they are published.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.subscribe()
    }

    /// The snapshot now served.
    pub fn current(&self) -> Arc<Snapshot> {
        self.snapshots.current()
    }

    /// The last good kubeconfig and gateway config, as each reload leaves
    /// them.
    pub fn last_good(&self) -> watch::Receiver<Option<LastGood>> {
        self.last_good.subscribe()
    }

    /// Keys fetched for remote issuers (key fetching fills it).
    pub fn key_store(&self) -> Arc<KeyStore> {
        self.key_store.clone()
    }

    /// The latest cluster preflight (the preflight fills it).
    pub fn cluster_checks(&self) -> Arc<ClusterChecks> {
        self.cluster_checks.clone()
    }

    /// Each cluster's latest health (the health checks fill it).
    pub fn cluster_health(&self) -> Arc<Health> {
        self.cluster_health.clone()
    }

    /// Read the state (for status and tests); the lock is held while `f` runs.
    pub fn with_state<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&lock(&self.state))
    }

    /// Re-read every input; publish a new snapshot if anything changed.
    pub fn reload(&self) -> ReloadOutcome {
        let mut one_reload_at_a_time = lock(&self.reloading);
        self.counters.reloads.fetch_add(1, Relaxed);
        let started = Instant::now();
        let loaded = self.load_inputs(&mut one_reload_at_a_time);
        let load = started.elapsed();
        let accepted = self.accept(loaded);
        if !accepted.rejected.is_empty() {
            self.counters.rejected_edits.fetch_add(1, Relaxed);
        }
        let accept = started.elapsed() - load;
        let changed = self.publish(&accepted);
        kubeplex_os::heap::release_free_memory();
        debug!(
            load_ms = load.as_secs_f64() * 1e3,
            accept_ms = accept.as_secs_f64() * 1e3,
            translate_publish_ms = (started.elapsed() - load - accept).as_secs_f64() * 1e3,
            changed,
            "reload"
        );
        ReloadOutcome {
            version: self.current().version.clone(),
            changed,
            rejected: accepted.rejected,
        }
    }

    /// Read and parse every input. The policy and revocation files are the
    /// ones the gateway config names: the one just read, or the last good
    /// one when it was rejected.
    fn load_inputs(&self, loader: &mut kubeconfig::Loader) -> LoadedInputs {
        let s = &self.settings;
        let kubeconfig = s.kubeconfig.load(loader);
        let gateway = gateway_config::load(&s.gateway_config);
        let naming = match &gateway {
            Ok(g) => Some(NamedFiles::of(g)),
            Err(_) => lock(&self.state)
                .gateway
                .last_good
                .as_deref()
                .map(NamedFiles::of),
        }
        .unwrap_or_default();
        let policy = match &naming.policy {
            Some(p) => policy::load(p).map(Some),
            None => Ok(None),
        };
        let store = self.revocation_store(naming.revocation.as_ref());
        let revocations = match &store {
            Some(store) => store.current(),
            None => Some(Ok(Vec::new())),
        }
        .map(|list| list.map(|list| prune(list, unix_now() - naming.clock_skew)));
        LoadedInputs {
            kubeconfig,
            gateway,
            policy_path: naming.policy,
            policy,
            revocations_source: store.map(|s| PathBuf::from(s.describe())),
            revocations,
        }
    }

    /// Swap what loaded into the state; keep the last good value of what
    /// did not. The only place a reload holds the state lock.
    fn accept(&self, loaded: LoadedInputs) -> Accepted {
        let mut state = lock(&self.state);
        let state = &mut *state;
        state.kubeconfig.path = Some(self.settings.kubeconfig.describe());
        state.gateway.path = Some(self.settings.gateway_config.clone());
        state.policy.path = loaded.policy_path;
        state.revocations.path = loaded.revocations_source;
        state.kubeconfig.accept("kubeconfig", loaded.kubeconfig);
        state.gateway.accept("gateway config", loaded.gateway);
        state.policy.accept("policy", loaded.policy);
        if let Some(revocations) = loaded.revocations {
            state.revocations.accept("revocations", revocations);
        }
        let rejected = [
            ("kubeconfig", &state.kubeconfig.error),
            ("gateway config", &state.gateway.error),
            ("policy", &state.policy.error),
            ("revocations", &state.revocations.error),
        ]
        .into_iter()
        .filter_map(|(kind, error)| Some((kind.to_string(), error.clone()?)))
        .collect();
        let inputs = match (&state.kubeconfig.last_good, &state.gateway.last_good) {
            (Some(kubeconfig), Some(gateway)) => Some(LastGood {
                kubeconfig: kubeconfig.clone(),
                gateway: gateway.clone(),
            }),
            _ => None,
        };
        let mut new_warnings = Vec::new();
        if let Some(inputs) = &inputs {
            let warnings = &inputs.kubeconfig.warnings;
            new_warnings = warnings
                .iter()
                .filter(|w| !state.printed_warnings.contains(w))
                .cloned()
                .collect();
            state.printed_warnings = warnings.clone();
        }
        Accepted {
            inputs,
            policy: state.policy.last_good.clone(),
            revocations: state.revocations.last_good.clone(),
            rejected,
            new_warnings,
        }
    }

    /// Tell key fetching and the preflight about new inputs, translate, and
    /// hand the snapshot cache the result. True when Envoy gets a new one.
    fn publish(&self, accepted: &Accepted) -> bool {
        let Some(inputs) = &accepted.inputs else {
            return false;
        };
        for w in &accepted.new_warnings {
            warn!(input = "kubeconfig", "{w}");
        }
        self.last_good.send_if_modified(|published| {
            let same = published.as_ref().is_some_and(|p| {
                Arc::ptr_eq(&p.kubeconfig, &inputs.kubeconfig)
                    && Arc::ptr_eq(&p.gateway, &inputs.gateway)
            });
            if !same {
                *published = Some(inputs.clone());
            }
            !same
        });
        // Fail closed: no configuration before the revocation list is known
        // (a Kubernetes store that has not listed its object yet).
        let Some(revocations) = accepted.revocations.as_deref() else {
            info!("waiting for the revocation list before publishing a configuration");
            return false;
        };
        let fetched = self.key_store.keys();
        let issuers: Vec<pb::Issuer> = inputs
            .gateway
            .issuers
            .iter()
            .map(|i| crate::issuers::to_proto(i, &fetched))
            .collect();
        self.agents.set_audit(inputs.gateway.audit.clone());
        let agents =
            translate::agents::routes(&inputs.gateway, &inputs.kubeconfig.clusters, |name| {
                self.agents.state(name).not_connected_message(name)
            });
        let translate_inputs = translate::Inputs {
            clusters: &inputs.kubeconfig.clusters,
            gateway: &inputs.gateway,
            issuers: &issuers,
            revocations,
            policy: accepted.policy.as_deref().and_then(Option::as_ref),
            agents: &agents,
        };
        let contexts = lock(&self.cluster_cache).resources(
            &inputs.kubeconfig,
            &self.settings.options,
            &inputs.gateway.health_checks,
        );
        let snapshot = Snapshot::new(&translate::translate_with_clusters(
            &translate_inputs,
            &self.settings.options,
            contexts,
        ));
        let version = snapshot.version.clone();
        if !self.snapshots.publish(snapshot) {
            return false;
        }
        info!(
            version,
            contexts = inputs.kubeconfig.clusters.len(),
            agent_clusters = agents.len(),
            issuers = issuers.len(),
            revocations = translate_inputs.revocations.len(),
            policy = translate_inputs.policy.is_some(),
            "publishing configuration"
        );
        self.counters.snapshots_published.fetch_add(1, Relaxed);
        true
    }

    /// Every file whose change should trigger a reload.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        let state = lock(&self.state);
        let mut files = vec![self.settings.gateway_config.clone()];
        if let KubeconfigSource::File(kubeconfig) = &self.settings.kubeconfig {
            files.push(kubeconfig.clone());
        }
        if let Some(g) = &state.gateway.last_good {
            files.extend(g.referenced_files.iter().cloned());
            files.extend(g.policy_file.iter().cloned());
            files.extend(g.revocation_file().map(PathBuf::from));
        }
        files
    }

    /// Add a revocation to the store the gateway config names: persisted
    /// there (the file written and fsynced, or the ConfigMap updated) before
    /// it returns, then in force here. Returns (added, version).
    pub async fn revoke(
        self: Arc<Self>,
        jti: &str,
        reason: Option<String>,
        expires_at: Option<i64>,
    ) -> Result<(bool, String), StoreError> {
        let _one_revocation_at_a_time = self.revoking.lock().await;
        let config = lock(&self.state)
            .gateway
            .last_good
            .as_ref()
            .and_then(|g| g.revocation.clone());
        let store = self
            .revocation_store(config.as_ref())
            .ok_or(StoreError::NotConfigured)?;
        let revocation = Revocation {
            jti: jti.to_string(),
            reason,
            expires_at,
            revoked_at: Some(unix_now()),
        };
        if !store.add(revocation, unix_now()).await? {
            return Ok((false, self.current().version.clone()));
        }
        info!(jti, store = store.describe(), "token revoked");
        let cp = self.clone();
        let outcome = tokio::task::spawn_blocking(move || cp.reload())
            .await
            .map_err(StoreError::Interrupted)?;
        Ok((true, outcome.version))
    }

    /// The store `config` names: the file, or the Kubernetes store
    /// (started the first time, restarted when the section changes).
    fn revocation_store(&self, config: Option<&RevocationStoreConfig>) -> Option<RevocationStore> {
        let mut running = lock(&self.kubernetes_store);
        let wanted = match config? {
            RevocationStoreConfig::File(path) => {
                *running = None;
                return Some(RevocationStore::File(path.clone()));
            }
            RevocationStoreConfig::Kubernetes(k) => k,
        };
        if let Some(store) = running.as_ref().filter(|s| s.config() == wanted) {
            return Some(RevocationStore::Kubernetes(store.clone()));
        }
        let Some(runtime) = &self.runtime else {
            error!("a Kubernetes revocation store needs the tokio runtime; not started");
            return None;
        };
        let me = self.me.clone();
        let on_change_runtime = runtime.clone();
        let on_change = Arc::new(move || {
            if let Some(cp) = me.upgrade() {
                on_change_runtime.spawn_blocking(move || cp.reload());
            }
        });
        let store = Arc::new(KubernetesStore::start(wanted.clone(), runtime, on_change));
        *running = Some(store.clone());
        Some(RevocationStore::Kubernetes(store))
    }

    /// The revocation store's state, when the gateway config names one.
    pub fn revocation_store_status(&self) -> Option<StoreStatus> {
        let config = lock(&self.state)
            .gateway
            .last_good
            .as_ref()
            .and_then(|g| g.revocation.clone())?;
        match config {
            RevocationStoreConfig::File(path) => Some(RevocationStore::File(path).status()),
            RevocationStoreConfig::Kubernetes(_) => {
                lock(&self.kubernetes_store).as_ref().map(|s| s.status())
            }
        }
    }

    /// Revocations in force.
    pub fn revocations(&self) -> Vec<Revocation> {
        lock(&self.state)
            .revocations
            .last_good
            .as_deref()
            .cloned()
            .unwrap_or_default()
    }
}

/// The inputs a gateway config names, and the skew that prunes revocations.
#[derive(Debug, Default)]
struct NamedFiles {
    policy: Option<PathBuf>,
    revocation: Option<RevocationStoreConfig>,
    clock_skew: i64,
}

impl NamedFiles {
    fn of(gateway: &GatewayConfig) -> NamedFiles {
        NamedFiles {
            policy: gateway.policy_file.clone(),
            revocation: gateway.revocation.clone(),
            clock_skew: gateway.clock_skew_seconds as i64,
        }
    }
}
