//! `cache.discovery`: Envoy's cache in front of each cluster's discovery
//! documents (`/api`, `/apis`, `/openapi/v2`, `/openapi/v3/...`).

use std::collections::BTreeMap;

use super::read::Files;
use super::{DiscoveryCacheConfig, parse_duration};
use crate::inputs::problems::{Fields, Problems, join};
use crate::inputs::yaml_tree::{Node, Value};

/// Entries are fresh this long unless `ttl` says otherwise.
pub const DEFAULT_TTL_SECONDS: u64 = 60;
/// The cache's size bound unless `maxBytes` says otherwise.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;
/// The cache's entry bound unless `maxEntries` says otherwise.
pub const DEFAULT_MAX_ENTRIES: u64 = 10_000;
/// A TTL longer than this would keep a changed API surface (a CRD
/// installed, a permission granted) hidden from users for too long.
const MAX_TTL_SECONDS: u64 = 24 * 3600;

/// The `cache` section; None without `cache.discovery`.
pub fn read(p: &mut Problems, node: &Node, files: &mut Files) -> Option<DiscoveryCacheConfig> {
    let f = Fields::new(p, node, "cache", &["discovery"]);
    let discovery = f.get("discovery")?;
    let path = f.path_of("discovery");
    let d = Fields::new(
        p,
        discovery,
        &path,
        &[
            "directory",
            "ttl",
            "maxBytes",
            "maxEntries",
            "shared",
            "clusters",
        ],
    );
    let directory = d.req_str(p, "directory").map(|s| files.resolve(&s));
    let ttl_seconds = d
        .str(p, "ttl")
        .and_then(|text| match parse_duration(&text) {
            Ok(ttl) if ttl.as_secs() <= MAX_TTL_SECONDS => Some(ttl.as_secs()),
            Ok(_) => {
                p.add(d.line_of("ttl"), &d.path_of("ttl"), "at most 24h");
                None
            }
            Err(reason) => {
                p.add(d.line_of("ttl"), &d.path_of("ttl"), reason);
                None
            }
        })
        .unwrap_or(DEFAULT_TTL_SECONDS);
    let max_bytes = d
        .int(p, "maxBytes", 1 << 20, 1 << 40)
        .map_or(DEFAULT_MAX_BYTES, |n| n as u64);
    let max_entries = d
        .int(p, "maxEntries", 1, 100_000_000)
        .map_or(DEFAULT_MAX_ENTRIES, |n| n as u64);
    let shared = d.bool(p, "shared").unwrap_or(false);
    let shared_clusters = d
        .get("clusters")
        .map(|node| per_cluster(p, node, &d.path_of("clusters")))
        .unwrap_or_default();
    Some(DiscoveryCacheConfig {
        directory: directory?,
        ttl_seconds,
        max_bytes,
        max_entries,
        shared,
        shared_clusters,
    })
}

/// `clusters: {<context>: {shared: true}}`: per-context overrides of
/// `shared` (a context not named here takes the section's `shared`).
fn per_cluster(p: &mut Problems, node: &Node, path: &str) -> BTreeMap<String, bool> {
    let Value::Map(entries) = &node.value else {
        p.add(
            node.line,
            path,
            format!(
                "expected a mapping of context names, found {}",
                node.value.kind()
            ),
        );
        return BTreeMap::new();
    };
    let mut shared = BTreeMap::new();
    for entry in entries {
        let c = Fields::new(p, &entry.value, &join(path, &entry.key), &["shared"]);
        if let Some(value) = c.bool(p, "shared") {
            shared.insert(entry.key.clone(), value);
        }
    }
    shared
}
