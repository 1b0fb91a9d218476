//! The keys fetched for remote issuers and how fetching goes: written by
//! the [`KeyFetcher`](super::KeyFetcher), read by the control plane's
//! reload (the keys) and the status API (the fetch status).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use tracing::info;

use super::FetchError;
use crate::clock::unix_now;
use crate::error_chain::error_chain;
use crate::inputs::keys::VerificationKey;

/// What the status API and metrics report per remote issuer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchStatus {
    /// Where the keys come from, in words (`JWKS https://…`).
    pub source: String,
    /// Successful fetches so far.
    pub fetches_ok: u64,
    /// Failed fetches so far.
    pub fetches_failed: u64,
    /// The latest fetch's error, with its causes; None after a success.
    pub last_error: Option<String>,
    /// Unix seconds of the last successful fetch.
    pub last_success_at: i64,
    /// How many keys the last good fetch gave.
    pub keys: usize,
}

#[derive(Debug, Default)]
struct Contents {
    keys: BTreeMap<String, Vec<VerificationKey>>,
    status: BTreeMap<String, FetchStatus>,
}

/// Fetched keys (last good, by issuer URL) and fetch status. Every method
/// holds the lock only to copy in or out.
#[derive(Debug, Default)]
pub struct KeyStore {
    contents: Mutex<Contents>,
}

impl KeyStore {
    fn lock(&self) -> MutexGuard<'_, Contents> {
        self.contents.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record a fetch: new keys replace the last good ones; an error keeps
    /// them. Returns true when the keys changed.
    pub fn record(
        &self,
        issuer: &str,
        source: &str,
        result: &Result<Vec<VerificationKey>, FetchError>,
    ) -> bool {
        let mut contents = self.lock();
        let contents = &mut *contents;
        let status = contents.status.entry(issuer.to_string()).or_default();
        status.source = source.to_string();
        let keys = match result {
            Ok(keys) => keys,
            Err(e) => {
                status.fetches_failed += 1;
                status.last_error = Some(error_chain(e));
                return false;
            }
        };
        status.fetches_ok += 1;
        status.last_error = None;
        status.last_success_at = unix_now();
        status.keys = keys.len();
        if contents.keys.get(issuer) == Some(keys) {
            return false;
        }
        let kids: Vec<&str> = keys
            .iter()
            .map(|k| k.kid.as_deref().unwrap_or("-"))
            .collect();
        info!(issuer, keys = ?kids, "issuer keys updated");
        contents.keys.insert(issuer.to_string(), keys.clone());
        true
    }

    /// The last good keys of every remote issuer, by issuer URL.
    pub fn keys(&self) -> BTreeMap<String, Vec<VerificationKey>> {
        self.lock().keys.clone()
    }

    /// How fetching goes, by issuer URL.
    pub fn statuses(&self) -> BTreeMap<String, FetchStatus> {
        self.lock().status.clone()
    }
}
