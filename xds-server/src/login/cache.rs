//! The token cache: one file per (gateway, issuer, client) under the
//! user's cache directory, readable by the user alone (0600 in a 0700
//! directory), replaced atomically; and a lock file beside it, so that
//! concurrent kubectl processes refresh once, not once each.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::LoginError;
use crate::translate::login_settings::LoginSettings;

/// Which sign-in a cache entry is: tokens are per gateway and issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionKey {
    /// The gateway's base URL.
    pub gateway: String,
    /// The issuer URL.
    pub issuer: String,
    /// The OAuth client.
    #[serde(rename = "clientID")]
    pub client_id: String,
}

impl SessionKey {
    /// A file name for this key: the start of a SHA-256 of its parts.
    fn stem(&self) -> String {
        let mut h = Sha256::new();
        for part in [&self.gateway, &self.issuer, &self.client_id] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        h.finalize()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The tokens of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    /// The ID token kubectl sends.
    pub id_token: String,
    /// The refresh token, if the provider issued one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The ID token's `exp`.
    pub expires_at: i64,
    /// The ID token's `iat` (its `exp` when it has none).
    pub issued_at: i64,
}

/// The longest a token is refreshed ahead of its expiry.
pub const REFRESH_AHEAD_SECONDS: i64 = 60;

impl Tokens {
    /// Refresh within a minute of expiry, or within half the token's
    /// lifetime for tokens that live less than two minutes (so a short-lived
    /// token is still used at all).
    pub fn needs_refresh(&self, now: i64) -> bool {
        let lifetime = (self.expires_at - self.issued_at).max(0);
        let ahead = REFRESH_AHEAD_SECONDS.min(lifetime / 2);
        now + ahead >= self.expires_at
    }
}

/// One cache entry: what is needed to refresh without asking the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Which sign-in.
    pub key: SessionKey,
    /// The gateway's CA (PEM) the user trusted at login, if not the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_ca: Option<String>,
    /// The gateway's login settings at login time.
    pub settings: LoginSettings,
    /// The tokens.
    pub tokens: Tokens,
}

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// Held while refreshing; released on drop.
#[derive(Debug)]
pub struct SessionLock {
    _file: File,
}

impl Cache {
    /// The cache in `dir`.
    pub fn new(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    /// `$KUBEPLEX_CACHE_DIR`, else `$XDG_CACHE_HOME/kubeplex`, else
    /// `~/.cache/kubeplex`.
    pub fn default_dir() -> Result<PathBuf, LoginError> {
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = env("KUBEPLEX_CACHE_DIR") {
            return Ok(PathBuf::from(dir));
        }
        if let Some(dir) = env("XDG_CACHE_HOME") {
            return Ok(PathBuf::from(dir).join("kubeplex"));
        }
        env("HOME")
            .map(|home| PathBuf::from(home).join(".cache").join("kubeplex"))
            .ok_or(LoginError::NoCacheDir)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn tokens_dir(&self) -> PathBuf {
        self.dir.join("tokens")
    }

    /// The file of `key`'s session.
    pub fn path(&self, key: &SessionKey) -> PathBuf {
        self.tokens_dir().join(format!("{}.json", key.stem()))
    }

    /// The session of `key`, if one is cached.
    pub fn read(&self, key: &SessionKey) -> Result<Option<Session>, LoginError> {
        let path = self.path(key);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(LoginError::File { path, source }),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| LoginError::Corrupt {
                path,
                reason: format!("{e} (remove it and log in again)"),
            })
    }

    /// Every cached session (unreadable files skipped).
    pub fn sessions(&self) -> Vec<Session> {
        let Ok(entries) = std::fs::read_dir(self.tokens_dir()) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .filter_map(|text| serde_json::from_str(&text).ok())
            .collect()
    }

    /// Store `session`: written to a 0600 temporary file, synced, renamed
    /// over the old one (a reader sees the old or the new file, never half).
    pub fn write(&self, session: &Session) -> Result<(), LoginError> {
        create_private_dir(&self.tokens_dir())?;
        let path = self.path(&session.key);
        let text = serde_json::to_vec_pretty(session).expect("a session serializes");
        crate::local_files::write_private(&path, &text)
            .map_err(|source| LoginError::File { path, source })
    }

    /// Forget `key`'s session: true if there was one. The lock file goes too.
    pub fn remove(&self, key: &SessionKey) -> Result<bool, LoginError> {
        let path = self.path(key);
        let _ = std::fs::remove_file(path.with_extension("lock"));
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(LoginError::File { path, source }),
        }
    }

    /// Take `key`'s lock, waiting for another process that holds it (an
    /// advisory `flock`, released when the holder exits, even if killed).
    pub fn lock(&self, key: &SessionKey) -> Result<SessionLock, LoginError> {
        let dir = self.tokens_dir();
        create_private_dir(&dir)?;
        let path = self.path(key).with_extension("lock");
        let file = private_file_keep(&path).map_err(|source| LoginError::File {
            path: path.clone(),
            source,
        })?;
        file.lock()
            .map_err(|source| LoginError::File { path, source })?;
        Ok(SessionLock { _file: file })
    }
}

fn create_private_dir(dir: &Path) -> Result<(), LoginError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| LoginError::File {
        path: dir.to_path_buf(),
        source,
    })
}

/// The file, created if missing, contents kept (the lock file).
fn private_file_keep(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    set_private_mode(&mut options);
    options.open(path)
}

fn set_private_mode(options: &mut OpenOptions) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = options;
}

#[cfg(test)]
pub(crate) mod tests;
