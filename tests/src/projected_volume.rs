//! A ConfigMap or Secret volume as the kubelet lays it out and updates it,
//! so tests can prove that a process watching the mount sees every update.
//!
//! The kubelet's `AtomicWriter` (k8s.io/kubernetes
//! `pkg/volume/util/atomic_writer.go`, `Write`) never writes a visible
//! file. The files live in a hidden timestamped directory; `..data` is a
//! symlink to it; each visible name is a symlink `name -> ..data/name`.
//! An update, in the order of the steps numbered there:
//!
//! 1–4. validate the payload, read `..data` for the current timestamped
//!      directory, list what the new payload drops, stop if nothing changed;
//! 5.   create a new timestamped directory `..2026_12_04_10_00_00.<random>`
//!      (`os.MkdirTemp` with the UTC time `..2006_01_02_15_04_05.`), mode 0755;
//! 6.   write the payload into it;
//! 7.   set ownership/permissions (not modelled here);
//! 8.   create the symlink `..data_tmp -> <new dir name>`;
//! 9.   rename `..data_tmp` over `..data` (the atomic switch);
//! 10.  create the visible symlinks for new names;
//! 11.  remove the visible symlinks of dropped names;
//! 12.  remove the old timestamped directory (`os.RemoveAll`).
//!
//! So the watcher sees: a directory created, a symlink created, a rename
//! onto `..data`, maybe symlinks created/removed, a directory removed —
//! and never a write to a file it reads.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";

/// A mounted ConfigMap/Secret volume at `dir`.
#[derive(Debug, Clone)]
pub struct ProjectedVolume {
    dir: PathBuf,
}

/// What one [`ProjectedVolume::write`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The new timestamped directory (None: the payload was unchanged).
    pub new_dir: Option<PathBuf>,
    /// The timestamped directory it replaced and removed.
    pub removed_dir: Option<PathBuf>,
}

impl ProjectedVolume {
    /// A volume at `dir` (created if missing), empty until the first write.
    pub fn new(dir: &Path) -> io::Result<ProjectedVolume> {
        std::fs::create_dir_all(dir)?;
        Ok(ProjectedVolume {
            dir: dir.to_path_buf(),
        })
    }

    /// The mount directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path a process reads key `key` at (the visible symlink).
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// Project `payload` (key → content) the way the kubelet does.
    pub fn write(&self, payload: &[(&str, &str)]) -> io::Result<Update> {
        // (1) keys are plain names here (no nested paths), never `..`-prefixed
        let payload: BTreeMap<&str, &str> = payload.iter().copied().collect();
        if let Some(bad) = payload
            .keys()
            .find(|k| k.is_empty() || k.starts_with("..") || k.contains('/'))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid key {bad:?}"),
            ));
        }
        // (2)
        let old_dir = match std::fs::read_link(self.dir.join(DATA)) {
            Ok(target) => Some(self.dir.join(target)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        // (3) (4)
        let old_keys = match &old_dir {
            Some(d) => keys_in(d)?,
            None => Vec::new(),
        };
        let dropped: Vec<String> = old_keys
            .iter()
            .filter(|k| !payload.contains_key(k.as_str()))
            .cloned()
            .collect();
        if let Some(d) = &old_dir
            && dropped.is_empty()
            && unchanged(d, &payload)?
        {
            return Ok(Update {
                new_dir: None,
                removed_dir: None,
            });
        }
        // (5) (6)
        let new_dir = self.new_timestamped_dir()?;
        for (key, content) in &payload {
            std::fs::write(new_dir.join(key), content)?;
        }
        // (8) (9)
        let name = new_dir.file_name().expect("a directory name");
        symlink(name, self.dir.join(DATA_TMP))?;
        std::fs::rename(self.dir.join(DATA_TMP), self.dir.join(DATA))?;
        // (10)
        for key in payload.keys() {
            let visible = self.dir.join(key);
            if std::fs::symlink_metadata(&visible).is_err() {
                symlink(Path::new(DATA).join(key), visible)?;
            }
        }
        // (11)
        for key in &dropped {
            std::fs::remove_file(self.dir.join(key))?;
        }
        // (12)
        if let Some(d) = &old_dir {
            std::fs::remove_dir_all(d)?;
        }
        Ok(Update {
            new_dir: Some(new_dir),
            removed_dir: old_dir,
        })
    }

    /// The timestamped directories present now (one after each write).
    pub fn timestamped_dirs(&self) -> io::Result<Vec<PathBuf>> {
        let mut dirs = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.starts_with("..") && name != DATA && name != DATA_TMP {
                dirs.push(self.dir.join(name));
            }
        }
        Ok(dirs)
    }

    /// `..2026_12_04_10_00_00.<random>`, 0755, as `os.MkdirTemp` names it.
    fn new_timestamped_dir(&self) -> io::Result<PathBuf> {
        let stamp = k8s_stamp(std::time::SystemTime::now());
        let dir = tempfile::Builder::new()
            .prefix(&format!("..{stamp}."))
            .rand_bytes(9)
            .tempdir_in(&self.dir)?
            .keep();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        Ok(dir)
    }
}

/// The files of a timestamped directory.
fn keys_in(dir: &Path) -> io::Result<Vec<String>> {
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        keys.push(entry?.file_name().to_string_lossy().into_owned());
    }
    Ok(keys)
}

/// Whether every key of `payload` has its content in `dir` already.
fn unchanged(dir: &Path, payload: &BTreeMap<&str, &str>) -> io::Result<bool> {
    for (key, content) in payload {
        match std::fs::read(dir.join(key)) {
            Ok(bytes) if bytes == content.as_bytes() => {}
            Ok(_) => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// UTC `2006_01_02_15_04_05` (Go's layout in the kubelet).
fn k8s_stamp(now: std::time::SystemTime) -> String {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = kubeplex_filter_core::time::civil_from_days(days as i64);
    format!(
        "{y:04}_{m:02}_{d:02}_{:02}_{:02}_{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests;
