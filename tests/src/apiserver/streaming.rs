//! Streaming subresources of pods, behaving like a kube-apiserver in front
//! of a kubelet where kubectl notices:
//!
//! - `log` ([`logs`]): a per-container in-memory log, `follow` with a
//!   heartbeat line every [`ApiServerConfig::log_interval`](super::ApiServerConfig).
//! - `exec` / `attach` ([`remote_command`]) over WebSocket
//!   (`v5.channel.k8s.io`...) or SPDY/3.1 (`v4.channel.k8s.io`...), running
//!   an emulated shell ([`shell`]) against an in-memory filesystem
//!   ([`pod_fs`]), `tar` included for `kubectl cp`.
//! - `portforward` ([`port_forward`]) over SPDY, or SPDY tunneled in
//!   WebSocket messages (kubectl ≥ 1.31), to in-pod servers
//!   ([`pod_ports`]): HTTP on 80/8080, TCP echo elsewhere.
//!
//! Per-container state (log, filesystem) is created on first use and
//! forgotten when the pod is replaced (new UID).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::resources::{self, ResourceType};
use super::timestamps;

pub mod active;
pub mod channels;
pub mod log_buffer;
pub mod logs;
pub mod negotiate;
pub mod pod_fs;
pub mod pod_ports;
pub mod pod_target;
pub mod port_forward;
pub mod process;
pub mod remote_command;
pub mod shell;
pub mod spdy;
pub mod tar;
pub mod terminal;
#[cfg(test)]
mod testing;
pub mod tunnel;

use log_buffer::LogBuffer;
use pod_fs::PodFs;

pub use log_buffer::SEEDED_LINES as SEEDED_LOG_LINES;
pub use pod_fs::FsError;

/// Errors of the streaming test API ([`super::ApiServer::append_log`] and
/// the pod file accessors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamingError {
    /// No such pod.
    #[error("pods \"{name}\" not found in namespace \"{namespace}\"")]
    PodNotFound {
        /// Namespace.
        namespace: String,
        /// Pod name.
        name: String,
    },
    /// The pod has no container of that name.
    #[error("container {container} is not valid for pod {pod}")]
    ContainerNotFound {
        /// Container asked for.
        container: String,
        /// Pod name.
        pod: String,
    },
    /// A filesystem operation failed.
    #[error("{path}: {error}")]
    File {
        /// The path.
        path: String,
        /// What went wrong.
        error: FsError,
    },
}

/// `(namespace, pod, container)`.
type ContainerKey = (String, String, String);

/// State kept per container, reset when the pod's UID changes.
#[derive(Debug)]
struct PerContainer<T> {
    map: Mutex<HashMap<ContainerKey, (String, Arc<T>)>>,
}

impl<T> Default for PerContainer<T> {
    fn default() -> Self {
        PerContainer {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> PerContainer<T> {
    fn get_or_init(&self, pod: &Value, container: &str, init: impl FnOnce() -> T) -> Arc<T> {
        let meta = &pod["metadata"];
        let key = (
            meta["namespace"].as_str().unwrap_or("").to_string(),
            meta["name"].as_str().unwrap_or("").to_string(),
            container.to_string(),
        );
        let uid = meta["uid"].as_str().unwrap_or("").to_string();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&key) {
            Some((u, state)) if *u == uid => state.clone(),
            _ => {
                let state = Arc::new(init());
                map.insert(key, (uid, state.clone()));
                state
            }
        }
    }
}

/// Streaming state of one server.
#[derive(Debug)]
pub struct Streaming {
    log_interval: Duration,
    logs: PerContainer<LogBuffer>,
    files: PerContainer<Mutex<PodFs>>,
    active: active::ActiveStreams,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

fn pods() -> &'static ResourceType {
    resources::find("", "v1", "pods").expect("pods are served")
}

impl Streaming {
    /// State for a server whose shutdown is signalled on `shutdown`.
    pub fn new(log_interval: Duration, shutdown: tokio::sync::watch::Receiver<bool>) -> Streaming {
        Streaming {
            log_interval,
            logs: PerContainer::default(),
            files: PerContainer::default(),
            active: active::ActiveStreams::default(),
            shutdown,
        }
    }

    /// The container's log (seeded at the pod's creation time).
    pub fn log(&self, pod: &Value, container: &str) -> Arc<LogBuffer> {
        self.logs.get_or_init(pod, container, || {
            let started = pod["metadata"]["creationTimestamp"]
                .as_str()
                .and_then(timestamps::parse_rfc3339)
                .unwrap_or_else(SystemTime::now);
            let name = pod["metadata"]["name"].as_str().unwrap_or("");
            LogBuffer::seeded(name, container, started)
        })
    }

    /// The container's filesystem.
    pub fn filesystem(&self, pod: &Value, container: &str) -> Arc<Mutex<PodFs>> {
        self.files.get_or_init(pod, container, || {
            let name = pod["metadata"]["name"].as_str().unwrap_or("");
            let ip = pod["status"]["podIP"].as_str().unwrap_or("10.244.0.10");
            let mut fs = PodFs::new(name, ip);
            let working_dir = pod["spec"]["containers"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["name"].as_str() == Some(container)))
                .and_then(|c| c["workingDir"].as_str());
            if let Some(dir) = working_dir.filter(|d| d.starts_with('/')) {
                let _ = fs.mkdir(dir, true);
            }
            Mutex::new(fs)
        })
    }

    /// Open sessions.
    pub fn active(&self) -> &active::ActiveStreams {
        &self.active
    }

    /// A receiver that changes when the server shuts down.
    pub fn shutdown(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// The heartbeat period of `logs -f`.
    pub fn log_interval(&self) -> Duration {
        self.log_interval
    }
}

/// Resolves once `shutdown` is signalled (or its sender is gone).
pub async fn shutdown_signal(mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

impl super::ApiServer {
    fn pod_and_container(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
    ) -> Result<Value, StreamingError> {
        let obj = self
            .shared
            .store
            .get_in(pods(), namespace, pod)
            .ok_or_else(|| StreamingError::PodNotFound {
                namespace: namespace.into(),
                name: pod.into(),
            })?;
        if !pod_target::container_names(&obj)
            .iter()
            .any(|c| c == container)
        {
            return Err(StreamingError::ContainerNotFound {
                container: container.into(),
                pod: pod.into(),
            });
        }
        Ok(obj)
    }

    /// Appends `line` to a container's log (several lines if it contains
    /// newlines); `logs -f` and `attach` sessions see it at once.
    pub fn append_log(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        line: &str,
    ) -> Result<(), StreamingError> {
        let obj = self.pod_and_container(namespace, pod, container)?;
        self.shared.streaming.log(&obj, container).append(line);
        Ok(())
    }

    /// Streaming sessions open now: exec, attach, port-forward and
    /// `logs -f`. A session ends when its client goes away or the server
    /// shuts down.
    pub fn active_streams(&self) -> usize {
        self.shared.streaming.active.get()
    }

    /// Waits up to `timeout` until exactly `n` sessions are open; whether
    /// that happened.
    pub async fn wait_for_active_streams(&self, n: usize, timeout: Duration) -> bool {
        self.shared
            .streaming
            .active
            .wait_for(|open| open == n, timeout)
            .await
    }

    /// A file in a container's in-memory filesystem.
    pub fn pod_file(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        path: &str,
    ) -> Result<Vec<u8>, StreamingError> {
        let obj = self.pod_and_container(namespace, pod, container)?;
        let fs = self.shared.streaming.filesystem(&obj, container);
        let fs = fs.lock().unwrap_or_else(|p| p.into_inner());
        fs.read(path)
            .map(<[u8]>::to_vec)
            .map_err(|error| StreamingError::File {
                path: path.into(),
                error,
            })
    }

    /// Writes a file into a container's filesystem (parents created).
    pub fn write_pod_file(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        path: &str,
        data: &[u8],
    ) -> Result<(), StreamingError> {
        let obj = self.pod_and_container(namespace, pod, container)?;
        let fs = self.shared.streaming.filesystem(&obj, container);
        let mut fs = fs.lock().unwrap_or_else(|p| p.into_inner());
        let file = |error| StreamingError::File {
            path: path.into(),
            error,
        };
        fs.mkdir(pod_fs::parent(&pod_fs::normalize(path)), true)
            .map_err(file)?;
        fs.write(path, data.to_vec(), 0o644).map_err(file)
    }
}
