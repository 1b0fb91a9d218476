//! The running control plane: the last good version of every input, the
//! reload that turns a file edit into a new snapshot, and what the status
//! API reports. A rejected edit is logged with its precise errors and
//! leaves the last good configuration live.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use kubeplex_proto::filter::v1 as pb;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::ads::registry::Registry;
use crate::inputs::gateway_config::{self, GatewayConfig};
use crate::inputs::keys::VerificationKey;
use crate::inputs::kubeconfig::{self, LoadedKubeconfig};
use crate::inputs::revocations::{self, Revocation};
use crate::inputs::{InputErrors, policy};
use crate::snapshot::Snapshot;
use crate::translate::{self, Options};

/// What the control plane is started with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub kubeconfig: PathBuf,
    pub gateway_config: PathBuf,
    pub options: Options,
}

/// One input's last good value and the state of its latest edit.
#[derive(Debug, Clone)]
pub struct Slot<T> {
    pub path: Option<PathBuf>,
    pub last_good: Option<T>,
    /// The latest edit's errors; None when it loaded.
    pub error: Option<String>,
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
    /// last good one and records why. Returns true when the value changed.
    fn accept(&mut self, kind: &str, result: Result<T, InputErrors>) -> bool {
        match result {
            Ok(value) => {
                self.error = None;
                self.loaded_at = unix_now();
                let changed = self.last_good.as_ref() != Some(&value);
                self.last_good = Some(value);
                changed
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
                false
            }
        }
    }
}

/// Every input.
#[derive(Debug, Default)]
pub struct State {
    pub kubeconfig: Slot<LoadedKubeconfig>,
    pub gateway: Slot<GatewayConfig>,
    pub policy: Slot<Option<pb::Policy>>,
    pub revocations: Slot<Vec<Revocation>>,
    /// Keys fetched for remote issuers, by issuer URL (last good).
    pub fetched_keys: BTreeMap<String, Vec<VerificationKey>>,
    /// How fetching goes, by issuer URL.
    pub key_status: BTreeMap<String, crate::key_fetch::FetchStatus>,
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
    pub reloads: std::sync::atomic::AtomicU64,
    pub rejected_edits: std::sync::atomic::AtomicU64,
    pub snapshots_published: std::sync::atomic::AtomicU64,
}

/// The control plane.
pub struct ControlPlane {
    pub settings: Settings,
    state: Mutex<State>,
    snapshots: watch::Sender<Arc<Snapshot>>,
    pub registry: Arc<Registry>,
    pub counters: Counters,
    /// The latest live preflight of the clusters (`crate::preflight`).
    pub cluster_checks: Mutex<Option<Arc<crate::preflight::Report>>>,
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl ControlPlane {
    /// Load every input. Unlike a reload, the first load must succeed:
    /// there is no last good configuration to fall back on.
    pub fn start(settings: Settings) -> Result<Arc<ControlPlane>, String> {
        let (snapshots, _) = watch::channel(Arc::new(Snapshot::default()));
        let cp = Arc::new(ControlPlane {
            settings,
            state: Mutex::new(State::default()),
            snapshots,
            registry: Arc::new(Registry::default()),
            counters: Counters::default(),
            cluster_checks: Mutex::new(None),
        });
        let outcome = cp.reload();
        if !outcome.rejected.is_empty() {
            let mut msg = String::from("cannot start: invalid input");
            for (kind, errors) in &outcome.rejected {
                msg.push_str(&format!("\n{kind}:\n{errors}"));
            }
            return Err(msg);
        }
        Ok(cp)
    }

    /// Snapshots as they are published.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.subscribe()
    }

    /// The snapshot now served.
    pub fn current(&self) -> Arc<Snapshot> {
        self.snapshots.borrow().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Read a copy of the state (for status and tests).
    pub fn with_state<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock())
    }

    /// Change the state (key fetches); call `reload` to publish.
    pub fn with_state_mut<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.lock())
    }

    /// Re-read every input; publish a new snapshot if anything changed.
    pub fn reload(&self) -> ReloadOutcome {
        use std::sync::atomic::Ordering::Relaxed;
        self.counters.reloads.fetch_add(1, Relaxed);
        let mut guard = self.lock();
        let state = &mut *guard;
        let s = &self.settings;
        state.kubeconfig.path = Some(s.kubeconfig.clone());
        state.gateway.path = Some(s.gateway_config.clone());
        state
            .kubeconfig
            .accept("kubeconfig", kubeconfig::load(&s.kubeconfig));
        state
            .gateway
            .accept("gateway config", gateway_config::load(&s.gateway_config));

        // Files named by the (last good) gateway config.
        let (policy_file, revocation_file, skew) = match &state.gateway.last_good {
            Some(g) => (
                g.policy_file.clone(),
                g.revocation_file.clone(),
                g.clock_skew_seconds as i64,
            ),
            None => (None, None, 0),
        };
        state.policy.path = policy_file.clone();
        let policy = match &policy_file {
            Some(p) => policy::load(p).map(Some),
            None => Ok(None),
        };
        state.policy.accept("policy", policy);
        state.revocations.path = revocation_file.clone();
        let revoked = match &revocation_file {
            Some(p) => revocations::load(p).map(|list| prune_revocations(list, unix_now() - skew)),
            None => Ok(Vec::new()),
        };
        state.revocations.accept("revocations", revoked);

        let mut rejected = Vec::new();
        for (kind, error) in [
            ("kubeconfig", &state.kubeconfig.error),
            ("gateway config", &state.gateway.error),
            ("policy", &state.policy.error),
            ("revocations", &state.revocations.error),
        ] {
            if let Some(e) = error {
                rejected.push((kind.to_string(), e.clone()));
            }
        }
        if !rejected.is_empty() {
            self.counters.rejected_edits.fetch_add(1, Relaxed);
        }
        let (Some(kc), Some(gw)) = (&state.kubeconfig.last_good, &state.gateway.last_good) else {
            return ReloadOutcome {
                version: self.current().version.clone(),
                changed: false,
                rejected,
            };
        };
        let new_warnings: Vec<String> = kc
            .warnings
            .iter()
            .filter(|w| !state.printed_warnings.contains(w))
            .cloned()
            .collect();
        for w in &new_warnings {
            warn!(input = "kubeconfig", "{w}");
        }
        state.printed_warnings = kc.warnings.clone();

        let issuers: Vec<pb::Issuer> = gw
            .issuers
            .iter()
            .map(|i| crate::issuers::to_proto(i, &state.fetched_keys))
            .collect();
        let empty = Vec::new();
        let inputs = translate::Inputs {
            clusters: &kc.clusters,
            gateway: gw,
            issuers: &issuers,
            revocations: state.revocations.last_good.as_ref().unwrap_or(&empty),
            policy: state.policy.last_good.as_ref().and_then(|p| p.as_ref()),
        };
        let snapshot = Snapshot::new(&translate::translate(&inputs, &s.options));
        let changed = snapshot.version != self.current().version;
        if changed {
            info!(
                version = snapshot.version,
                contexts = kc.clusters.len(),
                issuers = issuers.len(),
                revocations = inputs.revocations.len(),
                policy = inputs.policy.is_some(),
                "publishing configuration"
            );
            self.counters.snapshots_published.fetch_add(1, Relaxed);
            self.snapshots.send_replace(Arc::new(snapshot));
        }
        ReloadOutcome {
            version: self.current().version.clone(),
            changed,
            rejected,
        }
    }

    /// Every file whose change should trigger a reload.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        let state = self.lock();
        let mut files = vec![
            self.settings.kubeconfig.clone(),
            self.settings.gateway_config.clone(),
        ];
        if let Some(g) = &state.gateway.last_good {
            files.extend(g.referenced_files.iter().cloned());
            files.extend(g.policy_file.iter().cloned());
            files.extend(g.revocation_file.iter().cloned());
        }
        files
    }

    /// Add a revocation: written to the revocation file (atomically) before
    /// returning, then published. Returns (added, version).
    pub fn revoke(
        &self,
        jti: &str,
        reason: Option<String>,
        expires_at: Option<i64>,
    ) -> Result<(bool, String), String> {
        let path = {
            let state = self.lock();
            state
                .gateway
                .last_good
                .as_ref()
                .and_then(|g| g.revocation_file.clone())
                .ok_or("the gateway config has no revocation file (revocation.file)")?
        };
        // Re-read the file: it is the source of truth, and may have been
        // edited by hand since the last reload.
        let mut list = revocations::load(&path).map_err(|e| e.to_string())?;
        if list.iter().any(|r| r.jti == jti) {
            return Ok((false, self.current().version.clone()));
        }
        list = prune_revocations(list, unix_now());
        list.push(Revocation {
            jti: jti.to_string(),
            reason,
            expires_at,
            revoked_at: Some(unix_now()),
        });
        revocations::store(&path, &list)
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
        info!(jti, file = %path.display(), "token revoked");
        let outcome = self.reload();
        Ok((true, outcome.version))
    }

    /// Revocations in force.
    pub fn revocations(&self) -> Vec<Revocation> {
        self.lock()
            .revocations
            .last_good
            .clone()
            .unwrap_or_default()
    }
}

/// Drop entries whose token is expired anyway (`expires_at` before `cutoff`).
pub fn prune_revocations(list: Vec<Revocation>, cutoff: i64) -> Vec<Revocation> {
    list.into_iter()
        .filter(|r| r.expires_at.is_none_or(|e| e >= cutoff))
        .collect()
}

/// Directories to watch for a set of files (editors replace files by
/// renaming, and Kubernetes swaps ConfigMap symlinks: watch the parents).
pub fn watch_dirs(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .map(|d| {
            if d.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                d
            }
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}
