//! Where the revocation list lives, behind one interface: a YAML file on
//! this machine (`revocation.store: file`, the default) or a ConfigMap in
//! the Kubernetes API that every control plane shares
//! (`revocation.store: kubernetes`, see [`kubernetes`]).
//!
//! Either way the list is an input like the others: a reload asks the
//! store for the list as it is now ([`RevocationStore::current`]) and keeps
//! the last good one when it does not load; and `kubeplex revoke` adds to
//! it ([`RevocationStore::add`]), which returns only once the new list is
//! persisted (fsynced, or accepted by the API server), never before.

pub mod kubernetes;

use std::path::PathBuf;
use std::sync::Arc;

use crate::inputs::InputErrors;
use crate::inputs::revocations::{self, Revocation};

pub use kubernetes::{KubernetesError, KubernetesStore};

/// A revocation store, as the gateway config names it.
#[derive(Clone)]
pub enum RevocationStore {
    /// `store: file`: the file is the list.
    File(PathBuf),
    /// `store: kubernetes`: a watched ConfigMap (its watcher is shared by
    /// every reload until the `revocation` section changes).
    Kubernetes(Arc<KubernetesStore>),
}

/// Why a revocation was not persisted.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The gateway config has no `revocation` section.
    #[error(
        "the gateway config names no revocation store (revocation.file, or revocation.store: kubernetes)"
    )]
    NotConfigured,
    /// The stored list does not load: it is re-read before each change and
    /// never overwritten while broken.
    #[error(transparent)]
    Read(#[from] InputErrors),
    /// The revocation file could not be written.
    #[error("{}: cannot write", path.display())]
    Write {
        /// The revocation file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The Kubernetes API did not store it.
    #[error(transparent)]
    Kubernetes(#[from] KubernetesError),
    /// The file store's blocking task did not finish (the runtime is
    /// shutting down).
    #[error("the revocation write was interrupted")]
    Interrupted(#[source] tokio::task::JoinError),
}

/// What the status API and the metrics say about the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStatus {
    /// `file` or `kubernetes`.
    pub kind: &'static str,
    /// The file, or `configmap <namespace>/<name>`.
    pub object: String,
    /// The list is being followed: always for a file; for Kubernetes, the
    /// watch has listed the object and not failed since.
    pub up: bool,
    /// The latest failure to reach the store, while it lasts.
    pub last_error: Option<String>,
    /// Failed list/watch attempts since the start.
    pub watch_errors: u64,
    /// The object's `resourceVersion` the list in force came from.
    pub resource_version: Option<String>,
    /// Revocations written to the store by this control plane.
    pub writes: u64,
    /// Writes refused because another writer changed the object first
    /// (each was retried on the new version).
    pub write_conflicts: u64,
    /// Writes that failed (nothing stored, or not known to be stored).
    pub write_errors: u64,
}

impl RevocationStore {
    /// The list as stored now; None while it is not known yet (a
    /// Kubernetes store before its first complete list).
    pub fn current(&self) -> Option<Result<Vec<Revocation>, InputErrors>> {
        match self {
            RevocationStore::File(path) => Some(revocations::load(path)),
            RevocationStore::Kubernetes(store) => store.current(),
        }
    }

    /// Add `revocation` unless its token ID is already listed (false);
    /// entries whose token expired before `prune_before` are dropped on the
    /// way. Returns once the new list is persisted.
    pub async fn add(&self, revocation: Revocation, prune_before: i64) -> Result<bool, StoreError> {
        match self {
            RevocationStore::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || add_to_file(path, revocation, prune_before))
                    .await
                    .map_err(StoreError::Interrupted)?
            }
            RevocationStore::Kubernetes(store) => Ok(store.add(revocation, prune_before).await?),
        }
    }

    /// Where the list lives, for messages and the status API.
    pub fn describe(&self) -> String {
        match self {
            RevocationStore::File(path) => path.display().to_string(),
            RevocationStore::Kubernetes(store) => store.describe(),
        }
    }

    /// The store's state for `/status` and `/metrics`.
    pub fn status(&self) -> StoreStatus {
        match self {
            RevocationStore::File(path) => StoreStatus {
                kind: "file",
                object: path.display().to_string(),
                up: true,
                ..StoreStatus::default()
            },
            RevocationStore::Kubernetes(store) => store.status(),
        }
    }
}

/// `list` with `revocation` added and expired entries pruned; None when
/// its token ID is listed already (nothing to write).
pub fn with_added(
    list: Vec<Revocation>,
    revocation: Revocation,
    prune_before: i64,
) -> Option<Vec<Revocation>> {
    if list.iter().any(|r| r.jti == revocation.jti) {
        return None;
    }
    let mut list = prune(list, prune_before);
    list.push(revocation);
    Some(list)
}

/// Drop entries whose token is expired anyway (`expires_at` before `cutoff`).
pub fn prune(list: Vec<Revocation>, cutoff: i64) -> Vec<Revocation> {
    list.into_iter()
        .filter(|r| r.expires_at.is_none_or(|e| e >= cutoff))
        .collect()
}

/// The file store's read-modify-write: re-read the file (it is the source
/// of truth and may have been edited by hand), write it back atomically.
fn add_to_file(
    path: PathBuf,
    revocation: Revocation,
    prune_before: i64,
) -> Result<bool, StoreError> {
    let list = revocations::load(&path)?;
    let Some(list) = with_added(list, revocation, prune_before) else {
        return Ok(false);
    };
    revocations::store(&path, &list).map_err(|source| StoreError::Write { path, source })?;
    Ok(true)
}

#[cfg(test)]
mod tests;
