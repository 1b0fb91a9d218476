//! The revocation file: revoked token IDs with optional reason and expiry.
//!
//! ```yaml
//! revoked:
//! - jti: 3f1c...
//!   reason: laptop stolen
//!   expiresAt: 2026-12-01T00:00:00Z   # optional: prune after this
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use k8s_openapi::jiff::Timestamp;

use super::InputErrors;
use super::problems::{Fields, Problems, items};

/// One revoked token ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The revoked token ID.
    pub jti: String,
    /// Why (shown to the token's holder).
    pub reason: Option<String>,
    /// Unix seconds after which the entry can be pruned (the token would be
    /// expired anyway); None = forever.
    pub expires_at: Option<i64>,
    /// Unix seconds when it was revoked, when recorded.
    pub revoked_at: Option<i64>,
}

/// Read a revocation file. A missing file is an empty list (it is created by
/// the first `kubeplex revoke`).
pub fn load(path: &Path) -> Result<Vec<Revocation>, InputErrors> {
    let text = match super::read_bounded(path, super::MAX_INPUT_BYTES) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            let mut p = Problems::new(path);
            p.add(None, "", format!("cannot read: {e}"));
            return Err(p.into_errors());
        }
    };
    parse(&text, path)
}

/// Parse revocation file text; `path` names the file in errors.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Revocation>, InputErrors> {
    let (mut p, root) = Problems::parse_yaml(path, text)?;
    let top = Fields::new(&mut p, &root, "", &["revoked"]);
    let mut out: Vec<Revocation> = Vec::new();
    let mut first_index: HashMap<String, usize> = HashMap::new();
    if let Some(list) = top.get("revoked") {
        for (i, (item_path, node)) in items(&mut p, list, "revoked").into_iter().enumerate() {
            let f = Fields::new(
                &mut p,
                node,
                &item_path,
                &["jti", "reason", "expiresAt", "revokedAt"],
            );
            let jti = f.req_str(&mut p, "jti");
            let reason = f.str(&mut p, "reason");
            let expires_at = timestamp(&mut p, &f, "expiresAt");
            let revoked_at = timestamp(&mut p, &f, "revokedAt");
            let Some(jti) = jti else { continue };
            if let Some(first) = first_index.get(&jti) {
                p.add(
                    f.line_of("jti"),
                    &f.path_of("jti"),
                    format!("duplicate jti `{jti}` (also revoked[{first}])"),
                );
                continue;
            }
            first_index.insert(jti.clone(), i);
            out.push(Revocation {
                jti,
                reason,
                expires_at,
                revoked_at,
            });
        }
    }
    p.finish(out)
}

/// An RFC 3339 timestamp field as Unix seconds.
fn timestamp(p: &mut Problems, f: &Fields<'_>, key: &str) -> Option<i64> {
    let text = f.str(p, key)?;
    match text.parse::<Timestamp>() {
        Ok(t) => Some(t.as_second()),
        Err(_) => {
            p.add(
                f.line_of(key),
                &f.path_of(key),
                format!("`{text}` is not an RFC 3339 timestamp (e.g. 2026-12-01T00:00:00Z)"),
            );
            None
        }
    }
}

/// The file text for a list: the same shape [`load`] reads.
pub fn to_yaml(revocations: &[Revocation]) -> String {
    if revocations.is_empty() {
        return "revoked: []\n".to_string();
    }
    let mut out = String::from("revoked:\n");
    for r in revocations {
        // JSON strings are valid YAML double-quoted scalars.
        let quote = |s: &str| serde_json::Value::from(s).to_string();
        out.push_str(&format!("- jti: {}\n", quote(&r.jti)));
        if let Some(reason) = &r.reason {
            out.push_str(&format!("  reason: {}\n", quote(reason)));
        }
        for (key, at) in [("expiresAt", r.expires_at), ("revokedAt", r.revoked_at)] {
            if let Some(at) = at {
                let text = Timestamp::from_second(at)
                    .map(|t| t.to_string())
                    .unwrap_or_else(|_| at.to_string());
                out.push_str(&format!("  {key}: {text}\n"));
            }
        }
    }
    out
}

/// Write the list atomically: write a temp file in the same directory,
/// fsync it, rename over `path`, fsync the directory. The file keeps its
/// mode; a new file is created 0600 (the list names who lost access).
pub fn store(path: &Path, revocations: &[Revocation]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mode = match std::fs::metadata(path) {
        Ok(meta) => meta.permissions().mode() & 0o7777,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0o600,
        Err(e) => return Err(e),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".revoked-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    temp.write_all(to_yaml(revocations).as_bytes())?;
    temp.as_file().sync_all()?;
    // On error the temp file is removed when `temp` drops.
    temp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
