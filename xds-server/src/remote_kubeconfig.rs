//! A kubeconfig served over HTTPS (multikube's remote kubeconfig):
//! `--kubeconfig https://…`, fetched over verified TLS (a CA file, or the
//! system roots) with an optional bearer token read from a file at every
//! fetch, polled at a set interval with `If-None-Match` /
//! `If-Modified-Since`, and validated exactly like a file, by the same
//! piecewise loader ([`kubeconfig::Loader::load_remote`], which also
//! refuses file paths inside it): a changed body parses only the clusters,
//! users and contexts whose text changed.
//!
//! A failed fetch or an invalid body never replaces the last good
//! kubeconfig: the reload keeps it and `/status` shows why. A `304 Not
//! Modified`, or a `200` with the same bytes as before, changes nothing and
//! causes no reload.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::cluster_http::{self, Credentials, HttpError};
use crate::error_chain::error_chain;
use crate::inputs::kubeconfig::{self, LoadedKubeconfig};
use crate::inputs::{InputError, InputErrors, MAX_INPUT_BYTES, MAX_REFERENCED_BYTES};

#[cfg(test)]
mod tests;

/// How often the URL is asked when no interval is given.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// The shortest interval allowed (a server is not to be hammered).
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Where the kubeconfig is and how to fetch it.
#[derive(Debug, Clone)]
pub struct RemoteSettings {
    /// `https://…` (`http://…` only with `allow_http`).
    pub url: String,
    /// PEM CA bundle that must have signed the server's certificate; None =
    /// the system roots.
    pub ca_file: Option<PathBuf>,
    /// A file holding the bearer token sent with each fetch (read at every
    /// fetch, so a rotated token is picked up; never logged).
    pub token_file: Option<PathBuf>,
    /// Time between two fetches.
    pub interval: Duration,
    /// Accept a plain `http://` URL (loudly warned; never with a token).
    pub allow_http: bool,
}

/// Why a remote kubeconfig cannot be used or fetched. Messages do not
/// repeat the cause: print the chain with [`error_chain`].
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// `http://` without the explicit insecure flag, or another scheme.
    #[error(
        "{url}: a kubeconfig URL must be https:// (plain http:// only with --kubeconfig-insecure-http)"
    )]
    NotHttps {
        /// The URL as given.
        url: String,
    },
    /// A bearer token would travel over plain http.
    #[error("{url}: a bearer token is never sent over plain http")]
    TokenOverHttp {
        /// The URL as given.
        url: String,
    },
    /// The interval is below [`MIN_INTERVAL`].
    #[error("poll interval {0:?} is shorter than {MIN_INTERVAL:?}")]
    IntervalTooShort(Duration),
    /// The CA file or the token file cannot be read.
    #[error("cannot read {}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The token file holds no token.
    #[error("{}: no token in it", .0.display())]
    EmptyToken(PathBuf),
    /// TLS setup, connection, timeout, a body too large.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The server answered with neither 200 nor 304.
    #[error("GET {url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The body is not text.
    #[error("GET {url}: the body is not UTF-8")]
    NotUtf8 {
        /// The URL.
        url: String,
    },
    /// The body is not a kubeconfig the gateway can use from a URL (each
    /// problem with its line and field; file paths are refused).
    #[error("{url}: invalid kubeconfig")]
    Invalid {
        /// The URL.
        url: String,
        /// Every problem found.
        #[source]
        errors: InputErrors,
    },
}

/// What the last fetches left: the validators and outcome of the last body
/// received, and the error of the latest fetch if it failed.
#[derive(Default)]
struct Fetched {
    etag: Option<http::HeaderValue>,
    last_modified: Option<http::HeaderValue>,
    body_sha256: Option<[u8; 32]>,
    /// The last body's parse: what a reload serves unless the latest fetch
    /// failed. None before the first body.
    body: Option<Result<Arc<LoadedKubeconfig>, InputErrors>>,
    /// Why the latest fetch failed; None once one succeeds again.
    fetch_error: Option<String>,
}

/// Counts of what polling saw, for tests and `/metrics`-like reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollCounts {
    /// Answers `200` with a new body (parsed).
    pub new_bodies: u64,
    /// Answers `304`, or `200` with the bytes already held (not parsed).
    pub unchanged: u64,
    /// Failed fetches.
    pub failures: u64,
}

/// A kubeconfig at a URL, and what its last fetches returned.
pub struct RemoteKubeconfig {
    settings: RemoteSettings,
    fetched: Mutex<Fetched>,
    counts: Mutex<PollCounts>,
    /// Parses each new body, keeping the pieces of the last one.
    loader: Mutex<kubeconfig::Loader>,
}

impl std::fmt::Debug for RemoteKubeconfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKubeconfig")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl RemoteKubeconfig {
    /// Check the settings (nothing is fetched yet); a plain http URL is
    /// loudly warned about.
    pub fn new(settings: RemoteSettings) -> Result<RemoteKubeconfig, RemoteError> {
        let url = settings.url.clone();
        let plain = url.starts_with("http://");
        if !(url.starts_with("https://") || plain && settings.allow_http) {
            return Err(RemoteError::NotHttps { url });
        }
        if plain && settings.token_file.is_some() {
            return Err(RemoteError::TokenOverHttp { url });
        }
        if settings.interval < MIN_INTERVAL {
            return Err(RemoteError::IntervalTooShort(settings.interval));
        }
        if plain {
            warn!(
                url,
                "INSECURE: the kubeconfig is fetched over plain http: anyone on the path can read \
                 the clusters' credentials in it and replace them with their own"
            );
        }
        Ok(RemoteKubeconfig {
            settings,
            fetched: Mutex::new(Fetched::default()),
            counts: Mutex::new(PollCounts::default()),
            loader: Mutex::new(kubeconfig::Loader::default()),
        })
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.settings.url
    }

    /// The time between two fetches.
    pub fn interval(&self) -> Duration {
        self.settings.interval
    }

    /// What polling has seen so far.
    pub fn counts(&self) -> PollCounts {
        *lock(&self.counts)
    }

    /// How many list items (clusters, users, contexts) the bodies so far
    /// needed parsed ([`kubeconfig::Loader::pieces_parsed`]).
    pub fn pieces_parsed(&self) -> u64 {
        lock(&self.loader).pieces_parsed()
    }

    /// What a reload reads: the last body's kubeconfig (or its errors),
    /// unless the latest fetch failed.
    pub fn current(&self) -> Result<Arc<LoadedKubeconfig>, InputErrors> {
        let fetched = lock(&self.fetched);
        let failed = |reason: String| InputErrors(vec![self.input_error(reason)]);
        if let Some(error) = &fetched.fetch_error {
            return Err(failed(format!("cannot fetch: {error}")));
        }
        fetched
            .body
            .clone()
            .unwrap_or_else(|| Err(failed("not fetched yet".into())))
    }

    fn input_error(&self, reason: String) -> InputError {
        InputError {
            file: PathBuf::from(&self.settings.url),
            line: None,
            field: None,
            reason,
        }
    }

    /// Fetch once. True when what [`current`](Self::current) returns
    /// changed (a reload is due).
    pub async fn poll(&self) -> bool {
        match self.fetch().await {
            Ok(Answer::Unchanged) => {
                lock(&self.counts).unchanged += 1;
                lock(&self.fetched).fetch_error.take().is_some()
            }
            Ok(Answer::Body(body)) => {
                lock(&self.counts).new_bodies += 1;
                let parsed = self.parse(body).await;
                let mut fetched = lock(&self.fetched);
                fetched.fetch_error = None;
                fetched.body = Some(parsed);
                true
            }
            Err(error) => {
                lock(&self.counts).failures += 1;
                let error = error_chain(&error);
                let mut fetched = lock(&self.fetched);
                let changed = fetched.fetch_error.as_deref() != Some(&error);
                if changed {
                    warn!(
                        url = self.settings.url,
                        "cannot fetch the kubeconfig: {error}"
                    );
                }
                fetched.fetch_error = Some(error);
                changed
            }
        }
    }

    /// Parse a new body with the loader (on a blocking thread: ~10 MB at
    /// 10,000 contexts). The loader goes with it and comes back; a poll
    /// running meanwhile (only tests poll by hand) parses with a fresh
    /// one, to the same result.
    async fn parse(&self, body: String) -> Result<Arc<LoadedKubeconfig>, InputErrors> {
        let mut loader = std::mem::take(&mut *lock(&self.loader));
        let url = self.settings.url.clone();
        let parsed = tokio::task::spawn_blocking(move || {
            let parsed = loader.load_remote(&body, &url).map(Arc::new);
            (loader, parsed)
        })
        .await;
        match parsed {
            Ok((loader, parsed)) => {
                *lock(&self.loader) = loader;
                parsed
            }
            Err(e) => Err(InputErrors(vec![self.input_error(e.to_string())])),
        }
    }

    /// Fetch once and validate the body exactly like a polled one (on the
    /// calling thread): `kubeplex check`'s view of the URL. It takes the
    /// value: what the fetch leaves is not for a later poll.
    pub async fn load_once(self) -> Result<LoadedKubeconfig, RemoteError> {
        let url = &self.settings.url;
        match self.fetch().await? {
            Answer::Body(body) => {
                kubeconfig::parse_remote(&body, url).map_err(|errors| RemoteError::Invalid {
                    url: url.clone(),
                    errors,
                })
            }
            // Only a server that answers 304 to an unconditional GET.
            Answer::Unchanged => Err(RemoteError::Status {
                url: url.clone(),
                status: 304,
            }),
        }
    }

    /// Poll every interval until the runtime shuts down; `on_change` runs
    /// (on a blocking thread) after each poll that changed something.
    pub fn spawn(
        self: Arc<Self>,
        on_change: impl Fn() + Send + Sync + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let on_change = Arc::new(on_change);
        info!(url = self.settings.url, interval = ?self.settings.interval, "polling the kubeconfig");
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.settings.interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await; // the first tick is now: the caller fetched already
            loop {
                ticks.tick().await;
                if self.poll().await {
                    let on_change = on_change.clone();
                    let _ = tokio::task::spawn_blocking(move || on_change()).await;
                }
            }
        })
    }

    /// One conditional GET.
    async fn fetch(&self) -> Result<Answer, RemoteError> {
        let s = &self.settings;
        let creds = Credentials {
            ca_pem: s.ca_file.as_deref().map(read_small).transpose()?,
            bearer_token: s.token_file.as_deref().map(read_token).transpose()?,
            ..Credentials::default()
        };
        let mut headers = http::HeaderMap::new();
        {
            let fetched = lock(&self.fetched);
            if let Some(etag) = &fetched.etag {
                headers.insert(http::header::IF_NONE_MATCH, etag.clone());
            }
            if let Some(date) = &fetched.last_modified {
                headers.insert(http::header::IF_MODIFIED_SINCE, date.clone());
            }
        }
        let reply = cluster_http::Get {
            url: &s.url,
            headers,
            max_body: MAX_INPUT_BYTES as usize,
            allow_http: s.allow_http,
        }
        .send(&creds)
        .await?;
        match reply.status {
            304 => Ok(Answer::Unchanged),
            200 => self.take_body(reply),
            status => Err(RemoteError::Status {
                url: s.url.clone(),
                status,
            }),
        }
    }

    /// Keep a 200's validators; its body unless it is the one held.
    fn take_body(&self, reply: cluster_http::Reply) -> Result<Answer, RemoteError> {
        let sha256: [u8; 32] = Sha256::digest(&reply.body).into();
        let mut fetched = lock(&self.fetched);
        fetched.etag = reply.headers.get(http::header::ETAG).cloned();
        fetched.last_modified = reply.headers.get(http::header::LAST_MODIFIED).cloned();
        if fetched.body_sha256 == Some(sha256) && fetched.body.is_some() {
            return Ok(Answer::Unchanged);
        }
        let Ok(body) = String::from_utf8(reply.body) else {
            // Not a body to compare the next answers with.
            fetched.etag = None;
            fetched.last_modified = None;
            return Err(RemoteError::NotUtf8 {
                url: self.settings.url.clone(),
            });
        };
        fetched.body_sha256 = Some(sha256);
        Ok(Answer::Body(body))
    }
}

/// What a successful fetch brought.
enum Answer {
    /// 304, or the same bytes again.
    Unchanged,
    /// A new body, to parse.
    Body(String),
}

fn read_small(path: &Path) -> Result<String, RemoteError> {
    crate::inputs::read_bounded(path, MAX_REFERENCED_BYTES).map_err(|source| RemoteError::File {
        path: path.to_path_buf(),
        source,
    })
}

fn read_token(path: &Path) -> Result<String, RemoteError> {
    let token = read_small(path)?.trim().to_string();
    if token.is_empty() {
        return Err(RemoteError::EmptyToken(path.to_path_buf()));
    }
    Ok(token)
}
