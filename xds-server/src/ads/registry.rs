//! Which Envoys are connected and what each has accepted: shared by the
//! ADS streams (writers) and the status API and metrics (readers).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::protocol::TypeStatus;

/// One connected Envoy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStatus {
    /// The Envoy's node id.
    pub node_id: String,
    /// What it was sent and accepted, by type URL.
    pub types: BTreeMap<String, TypeStatus>,
}

/// Counters since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Responses (config pushes) sent.
    pub responses_sent: AtomicU64,
    /// Responses Envoy accepted.
    pub acks: AtomicU64,
    /// Responses Envoy rejected.
    pub nacks: AtomicU64,
    /// ADS streams opened.
    pub streams_opened: AtomicU64,
}

/// All connected Envoys, by stream.
#[derive(Debug, Default)]
pub struct Registry {
    nodes: Mutex<BTreeMap<u64, NodeStatus>>,
    next_stream: AtomicU64,
    /// Counters for `/metrics`.
    pub counters: Counters,
}

impl Registry {
    /// A new stream opened; returns its id.
    pub fn open_stream(&self) -> u64 {
        self.counters.streams_opened.fetch_add(1, Ordering::Relaxed);
        self.next_stream.fetch_add(1, Ordering::Relaxed)
    }

    /// Record the latest state of a stream.
    pub fn update(&self, stream: u64, node_id: &str, types: &BTreeMap<String, TypeStatus>) {
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        nodes.insert(
            stream,
            NodeStatus {
                node_id: node_id.to_string(),
                types: types.clone(),
            },
        );
    }

    /// The stream ended.
    pub fn close_stream(&self, stream: u64) {
        self.nodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&stream);
    }

    /// Every connected Envoy.
    pub fn nodes(&self) -> Vec<NodeStatus> {
        self.nodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
}
