//! What to send: a versioned set of resources per type. Versions are
//! content digests, so rebuilding identical inputs yields identical
//! versions and Envoy sees no spurious pushes.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;

use crate::translate::{Resource, Resources, digest, type_urls};

/// All resources of one type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TypeSnapshot {
    /// Digest of the resources' names and versions.
    pub version: String,
    /// The resources, by name.
    pub resources: BTreeMap<String, Resource>,
}

impl TypeSnapshot {
    fn new(resources: &[Resource]) -> TypeSnapshot {
        let resources: BTreeMap<String, Resource> = resources
            .iter()
            .map(|r| (r.name.clone(), r.clone()))
            .collect();
        let parts: Vec<&[u8]> = resources
            .values()
            .flat_map(|r| [r.name.as_bytes(), r.version.as_bytes()])
            .collect();
        TypeSnapshot {
            version: digest(&parts),
            resources,
        }
    }
}

/// A complete configuration for Envoy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Digest of every type's version; what the status API reports.
    pub version: String,
    types: BTreeMap<&'static str, TypeSnapshot>,
}

impl Snapshot {
    /// A snapshot of `resources`, versioned by content.
    pub fn new(resources: &Resources) -> Snapshot {
        let types: BTreeMap<&'static str, TypeSnapshot> = resources
            .by_type()
            .into_iter()
            // Envoy asks for secrets only by name, when a cluster names
            // one: with none, it never asks, and a type it never asks for
            // would keep it from ever counting as in sync.
            .filter(|(type_url, rs)| *type_url != type_urls::SECRET || !rs.is_empty())
            .map(|(type_url, rs)| (type_url, TypeSnapshot::new(rs)))
            .collect();
        let parts: Vec<&[u8]> = types
            .iter()
            .flat_map(|(t, ts)| [t.as_bytes(), ts.version.as_bytes()])
            .collect();
        Snapshot {
            version: digest(&parts),
            types,
        }
    }

    /// The resources of one type, if this snapshot serves it.
    pub fn get(&self, type_url: &str) -> Option<&TypeSnapshot> {
        self.types.get(type_url)
    }

    /// Type URLs this snapshot serves.
    pub fn type_urls(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.types.keys().copied()
    }
}

/// The snapshot served now, and a channel to every ADS stream. Producers
/// hand it whole snapshots; the protocol (`ads/`) only subscribes.
#[derive(Debug)]
pub struct SnapshotCache {
    sender: watch::Sender<Arc<Snapshot>>,
}

impl Default for SnapshotCache {
    fn default() -> Self {
        SnapshotCache {
            sender: watch::channel(Arc::new(Snapshot::default())).0,
        }
    }
}

impl SnapshotCache {
    /// Serve `snapshot` unless it is what is served already (same
    /// version). True when it was published.
    pub fn publish(&self, snapshot: Snapshot) -> bool {
        if snapshot.version == self.current().version {
            return false;
        }
        self.sender.send_replace(Arc::new(snapshot));
        true
    }

    /// The snapshot served now.
    pub fn current(&self) -> Arc<Snapshot> {
        self.sender.borrow().clone()
    }

    /// Snapshots as they are published.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests;
