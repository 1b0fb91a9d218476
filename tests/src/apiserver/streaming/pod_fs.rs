//! A container's filesystem, in memory: enough of a POSIX tree for the
//! emulated shell (`cat`, `ls`, `mkdir`, `rm`, `test`) and for `tar` as
//! `kubectl cp` drives it. Paths are absolute and normalised (`/a/b`).

use std::collections::BTreeMap;
use std::time::SystemTime;

/// Filesystem errors, worded like the coreutils messages that print them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FsError {
    /// The path (or a parent) does not exist.
    #[error("No such file or directory")]
    NotFound,
    /// A parent is a file.
    #[error("Not a directory")]
    NotADirectory,
    /// A file operation named a directory.
    #[error("Is a directory")]
    IsADirectory,
    /// The path already exists.
    #[error("File exists")]
    Exists,
    /// A directory to remove has entries (and removal was not recursive).
    #[error("Directory not empty")]
    NotEmpty,
}

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Dir {
        /// Permission bits.
        mode: u32,
        /// Modification time.
        mtime: SystemTime,
    },
    /// A regular file.
    File {
        /// Contents.
        data: Vec<u8>,
        /// Permission bits.
        mode: u32,
        /// Modification time.
        mtime: SystemTime,
    },
    /// A symbolic link (stored, never followed).
    Symlink {
        /// Link target.
        target: String,
        /// Modification time.
        mtime: SystemTime,
    },
}

impl Node {
    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self, Node::Dir { .. })
    }
}

/// The tree.
#[derive(Debug, Clone)]
pub struct PodFs {
    nodes: BTreeMap<String, Node>,
}

/// Normalises `path` against `/`: absolute, `.`/`..` resolved, no trailing
/// slash (except the root).
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The parent directory of a normalised path (`/` for `/`).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

impl PodFs {
    /// A small container image: `/`, `/bin`, `/etc` (with `hostname` and
    /// `hosts`), `/root`, `/tmp`, `/var/log`.
    pub fn new(hostname: &str, pod_ip: &str) -> PodFs {
        let now = SystemTime::now();
        let mut fs = PodFs {
            nodes: BTreeMap::new(),
        };
        fs.nodes.insert(
            "/".into(),
            Node::Dir {
                mode: 0o755,
                mtime: now,
            },
        );
        for dir in ["/bin", "/etc", "/root", "/tmp", "/var", "/var/log"] {
            let mode = if dir == "/tmp" { 0o1777 } else { 0o755 };
            fs.nodes.insert(dir.into(), Node::Dir { mode, mtime: now });
        }
        let _ = fs.write("/etc/hostname", format!("{hostname}\n").into_bytes(), 0o644);
        let hosts = format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{pod_ip}\t{hostname}\n"
        );
        let _ = fs.write("/etc/hosts", hosts.into_bytes(), 0o644);
        fs
    }

    /// The entry at `path`.
    pub fn stat(&self, path: &str) -> Option<&Node> {
        self.nodes.get(&normalize(path))
    }

    /// A file's contents.
    pub fn read(&self, path: &str) -> Result<&[u8], FsError> {
        match self.lookup(path)? {
            Node::File { data, .. } => Ok(data),
            Node::Dir { .. } => Err(FsError::IsADirectory),
            Node::Symlink { .. } => Err(FsError::NotFound),
        }
    }

    fn lookup(&self, path: &str) -> Result<&Node, FsError> {
        let path = normalize(path);
        if let Some(node) = self.nodes.get(&path) {
            return Ok(node);
        }
        self.check_parent(&path)?;
        Err(FsError::NotFound)
    }

    /// Fails unless every ancestor of `path` is an existing directory.
    fn check_parent(&self, path: &str) -> Result<(), FsError> {
        if path == "/" {
            return Ok(());
        }
        match self.nodes.get(parent(path)) {
            Some(n) if n.is_dir() => Ok(()),
            Some(_) => Err(FsError::NotADirectory),
            None => {
                self.check_parent(parent(path))?;
                Err(FsError::NotFound)
            }
        }
    }

    /// Creates or replaces the file at `path` (its directory must exist).
    pub fn write(&mut self, path: &str, data: Vec<u8>, mode: u32) -> Result<(), FsError> {
        let path = normalize(path);
        self.check_parent(&path)?;
        if self.nodes.get(&path).is_some_and(Node::is_dir) {
            return Err(FsError::IsADirectory);
        }
        self.nodes.insert(
            path,
            Node::File {
                data,
                mode: mode & 0o7777,
                mtime: SystemTime::now(),
            },
        );
        Ok(())
    }

    /// Appends to the file at `path` (creating it).
    pub fn append(&mut self, path: &str, more: &[u8]) -> Result<(), FsError> {
        let mut data = match self.read(path) {
            Ok(d) => d.to_vec(),
            Err(FsError::NotFound) => Vec::new(),
            Err(e) => return Err(e),
        };
        data.extend_from_slice(more);
        self.write(path, data, 0o644)
    }

    /// Creates a symbolic link at `path`.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<(), FsError> {
        let path = normalize(path);
        self.check_parent(&path)?;
        self.nodes.insert(
            path,
            Node::Symlink {
                target: target.to_string(),
                mtime: SystemTime::now(),
            },
        );
        Ok(())
    }

    /// Creates a directory; with `parents`, also missing ancestors and no
    /// error if it exists (`mkdir -p`).
    pub fn mkdir(&mut self, path: &str, parents: bool) -> Result<(), FsError> {
        let path = normalize(path);
        match self.nodes.get(&path) {
            Some(n) if n.is_dir() && parents => return Ok(()),
            Some(_) => return Err(FsError::Exists),
            None => {}
        }
        if parents && path != "/" && !self.nodes.contains_key(parent(&path)) {
            self.mkdir(parent(&path), true)?;
        }
        self.check_parent(&path)?;
        self.nodes.insert(
            path,
            Node::Dir {
                mode: 0o755,
                mtime: SystemTime::now(),
            },
        );
        Ok(())
    }

    /// Removes `path` (a directory only if `recursive` or empty).
    pub fn remove(&mut self, path: &str, recursive: bool) -> Result<(), FsError> {
        let path = normalize(path);
        let node = self.lookup(&path)?;
        if node.is_dir() {
            let children = self.children(&path)?;
            if !children.is_empty() && !recursive {
                return Err(FsError::NotEmpty);
            }
            let prefix = format!("{}/", path.trim_end_matches('/'));
            self.nodes.retain(|k, _| !k.starts_with(&prefix));
        }
        if path != "/" {
            self.nodes.remove(&path);
        }
        Ok(())
    }

    /// Names of a directory's entries, sorted.
    pub fn children(&self, dir: &str) -> Result<Vec<String>, FsError> {
        let dir = normalize(dir);
        match self.lookup(&dir)? {
            Node::Dir { .. } => {}
            _ => return Err(FsError::NotADirectory),
        }
        let prefix = if dir == "/" {
            "/".to_string()
        } else {
            format!("{dir}/")
        };
        Ok(self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| !k[prefix.len()..].is_empty() && !k[prefix.len()..].contains('/'))
            .map(|(k, _)| k[prefix.len()..].to_string())
            .collect())
    }

    /// `path` and everything below it, parents before children.
    pub fn walk(&self, path: &str) -> Result<Vec<(String, Node)>, FsError> {
        let path = normalize(path);
        let node = self.lookup(&path)?.clone();
        let mut out = vec![(path.clone(), node.clone())];
        if node.is_dir() {
            for child in self.children(&path)? {
                let child_path = if path == "/" {
                    format!("/{child}")
                } else {
                    format!("{path}/{child}")
                };
                out.extend(self.walk(&child_path)?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
