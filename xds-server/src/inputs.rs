//! The control plane's inputs, parsed and validated: the kubeconfig (which
//! clusters exist and how to reach them) and the gateway config (listener,
//! issuers and their keys, revocations, policy, audit).
//!
//! Every loader returns either a fully valid value or [`InputErrors`] naming
//! the file, line (when known), field and reason of *every* problem found.
//! A rejected edit never replaces the last good value; that is the caller's
//! job (see `serve`).

pub mod gateway_config;
pub mod keys;
pub mod kubeconfig;
mod pem_material;
pub mod policy;
mod problems;
pub mod revocations;
mod yaml_tree;

#[cfg(test)]
mod readme_tests;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// The last good kubeconfig and gateway config together: what key
/// fetching and the cluster preflight work from. The control plane
/// publishes a new one whenever a reload accepts a new version of either.
#[derive(Debug, Clone)]
pub struct LastGood {
    /// The clusters.
    pub kubeconfig: Arc<kubeconfig::LoadedKubeconfig>,
    /// Listener, issuers, the files it names.
    pub gateway: Arc<gateway_config::GatewayConfig>,
}

/// One problem in one input file, precise enough to fix without guessing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The file the problem is in (as given, or resolved relative to the
    /// file that referenced it).
    pub file: PathBuf,
    /// 1-based line, when the parser knows it.
    pub line: Option<u64>,
    /// Dotted path of the offending field, e.g. `users[1].user.client-key-data`
    /// or `jwt[0].issuer.audiences`.
    pub field: Option<String>,
    /// What is wrong, in a sentence.
    pub reason: String,
}

impl fmt::Display for InputError {
    /// `file:line: field: reason`, omitting what is unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// The largest input file read (a kubeconfig of thousands of contexts
/// with their certificates inline is tens of megabytes).
pub const MAX_INPUT_BYTES: u64 = 256 << 20;
/// The largest file an input refers to (a certificate bundle, a key, a
/// token, a JWKS: kilobytes).
pub const MAX_REFERENCED_BYTES: u64 = 4 << 20;

/// Read a regular file of at most `limit` bytes as UTF-8. Anything else is
/// refused before it is opened or read to its end: a FIFO (opening blocks
/// until a writer comes), a device (`/dev/zero` never ends), a directory.
pub fn read_bounded(path: &std::path::Path, limit: u64) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    // Sized from the metadata: read_to_string through `take` has no size
    // hint and doubles its buffer, so a 10 MB kubeconfig held 16 MB while
    // it was parsed. A file that grew since is still read to its end.
    let expected = usize::try_from(meta.len().min(limit)).unwrap_or(0);
    let mut text = String::with_capacity(expected);
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(text)
}

/// Read an input file; an unreadable one is an [`InputErrors`] naming it.
pub fn read(path: &std::path::Path) -> Result<String, InputErrors> {
    read_bounded(path, MAX_INPUT_BYTES).map_err(|e| {
        InputErrors(vec![InputError {
            file: path.to_path_buf(),
            line: None,
            field: None,
            reason: format!("cannot read: {e}"),
        }])
    })
}

/// All problems found in one load; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InputErrors(pub Vec<InputError>);

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
impl InputErrors {
    /// Each problem as `line: field: reason` (`0` and empty when unknown),
    /// without the file: what the readers' tests compare.
    pub fn lines_fields_reasons(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|e| {
                format!(
                    "{}: {}: {}",
                    e.line.unwrap_or(0),
                    e.field.as_deref().unwrap_or(""),
                    e.reason
                )
            })
            .collect()
    }
}
