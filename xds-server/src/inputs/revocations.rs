//! The revocation file: revoked token IDs with optional reason and expiry.
//!
//! ```yaml
//! revoked:
//! - jti: 3f1c...
//!   reason: laptop stolen
//!   expiresAt: 2026-12-01T00:00:00Z   # optional: prune after this
//! ```

use std::path::Path;

use super::InputErrors;

/// One revoked token ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub jti: String,
    pub reason: Option<String>,
    /// Unix seconds after which the entry can be pruned (the token would be
    /// expired anyway); None = forever.
    pub expires_at: Option<i64>,
    /// Unix seconds when it was revoked, when recorded.
    pub revoked_at: Option<i64>,
}

/// Read a revocation file. A missing file is an empty list (it is created by
/// the first `kubeplex revoke`).
pub fn load(_path: &Path) -> Result<Vec<Revocation>, InputErrors> {
    todo!("inputs helper")
}

/// Write the list atomically: write a temp file in the same directory,
/// fsync it, rename over `path`, fsync the directory.
pub fn store(_path: &Path, _revocations: &[Revocation]) -> std::io::Result<()> {
    todo!("inputs helper")
}
