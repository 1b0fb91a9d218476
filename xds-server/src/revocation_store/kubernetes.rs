//! `revocation.store: kubernetes`: the revocation list in a ConfigMap in
//! the gateway's own namespace, shared by every control plane.
//!
//! Why a ConfigMap and not a custom resource: a CRD is a cluster-scoped
//! object only a cluster administrator may install, and a schema kubeplex
//! would have to version forever; a ConfigMap needs nothing outside the
//! namespace, its RBAC can name the one object (`resourceNames`, which
//! also covers list and watch when they select `metadata.name`), its data
//! is the revocation file's format (`kubectl get cm kubeplex-revocations
//! -o yaml` reads like the file), and every API server and test server
//! serves it with watches and `resourceVersion` conflicts. What it lacks —
//! validation by the API server — the control planes do on every change
//! (a broken list is refused with its line and field, the last good one
//! keeps serving). Its size limit (1 MiB, some ten thousand entries) is
//! kept in check by pruning entries whose token has expired anyway.
//!
//! Each control plane runs one [`KubernetesStore`]: a task that builds the
//! API client (in-cluster, or from `revocation.kubeconfig`), then follows
//! the object with kube-rs' `runtime::watcher` (list, then watch; after a
//! failure it starts over with a fresh list after a backoff of 0.5 s
//! doubling to 10 s) and hands every new list to the control plane, which
//! reloads (`watch`). `kubeplex revoke` through any control plane writes
//! the object with optimistic concurrency (`object::add`); the others see
//! the change on their watches.

mod object;
mod watch;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::Api;
use tokio::sync::watch as channel;

use super::StoreStatus;
use crate::inputs::InputErrors;
use crate::inputs::gateway_config::KubernetesStoreConfig;
use crate::inputs::revocations::Revocation;

pub use object::{DATA_KEY, MAX_ATTEMPTS, ObjectRef};

/// How long `kubeplex revoke` waits for the API client to be built (a
/// fresh store; normally milliseconds).
const CLIENT_WAIT: Duration = Duration::from_secs(5);

/// Why the Kubernetes store did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum KubernetesError {
    /// No `revocation.kubeconfig` and not running in a pod.
    #[error(
        "no in-cluster Kubernetes configuration (outside a cluster, set revocation.kubeconfig)"
    )]
    InCluster(#[source] kube::config::InClusterError),
    /// `revocation.kubeconfig` does not give a usable configuration.
    #[error("{}: not a usable kubeconfig", path.display())]
    Kubeconfig {
        /// The kubeconfig.
        path: PathBuf,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The API client could not be built from the configuration.
    #[error("cannot build the Kubernetes API client")]
    Client(#[source] ApiFailure),
    /// The client is not there (yet): the store's task keeps trying.
    #[error("no Kubernetes API client")]
    NoClient(#[source] Arc<KubernetesError>),
    /// The client is still being built.
    #[error("the Kubernetes API client is not ready yet")]
    NotReady,
    /// An API call failed: unreachable, refused, forbidden, invalid.
    #[error("cannot {action} {object}")]
    Api {
        /// `read`, `create` or `update`.
        action: &'static str,
        /// The object.
        object: String,
        /// What the API (or the connection) said.
        #[source]
        source: ApiFailure,
    },
    /// An API call got no answer in time.
    #[error("cannot {action} {object}: no answer within {timeout:?}{}", if *action == "read" { "" } else { "; the revocation may have been stored (revoking again is safe)" })]
    Timeout {
        /// `read`, `create` or `update`.
        action: &'static str,
        /// The object.
        object: String,
        /// The bound.
        timeout: Duration,
    },
    /// Every attempt lost a race with another writer.
    #[error(
        "{object} changed under each of {attempts} attempts (optimistic concurrency conflicts); try again"
    )]
    Conflicts {
        /// The object.
        object: String,
        /// How many times it was read and written.
        attempts: u32,
    },
    /// The list in the object does not load; it is not overwritten.
    #[error(transparent)]
    Decode(#[from] InputErrors),
}

/// A failed API call, in one line: `409 Conflict: <message>` for the API
/// server's refusals, the connection's error chain otherwise (kube's own
/// messages repeat their causes, which `error_chain` would print twice).
#[derive(Debug)]
pub struct ApiFailure(pub kube::Error);

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&kube_error_text(&self.0))
    }
}

impl std::error::Error for ApiFailure {}

/// See [`ApiFailure`].
pub fn kube_error_text(e: &kube::Error) -> String {
    use std::error::Error as _;
    match e {
        kube::Error::Api(status) => {
            format!("{} {}: {}", status.code, status.reason, status.message)
        }
        other => match other.source() {
            Some(cause) => crate::error_chain::error_chain(cause),
            None => other.to_string(),
        },
    }
}

/// The list the store holds now, and the object version it came from.
#[derive(Debug, Clone)]
struct Listed {
    resource_version: Option<String>,
    list: Result<Vec<Revocation>, InputErrors>,
    /// From a complete list (not a single watch event or our own write):
    /// the truth as of now, taken even if its version looks older (the
    /// API server's data was restored from a backup).
    complete: bool,
}

/// The state the watch task and the writers share.
struct Shared {
    /// The API (and which object), once the task has built the client.
    api: channel::Sender<Option<Result<object::ObjectApi, Arc<KubernetesError>>>>,
    latest: Mutex<Option<Listed>>,
    status: Mutex<StoreStatus>,
    /// Asks the control plane to reload (it then reads [`KubernetesStore::current`]).
    on_change: Arc<dyn Fn() + Send + Sync>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Take a list from the watch, unless it is a single event older than
    /// a write of ours (the watch then brings that write, or a later one,
    /// shortly).
    fn listed(&self, listed: Listed) {
        {
            let mut latest = lock(&self.latest);
            let current = latest.as_ref().and_then(|l| l.resource_version.as_deref());
            if !listed.complete && !is_newer(listed.resource_version.as_deref(), current) {
                return;
            }
            let mut status = lock(&self.status);
            status.resource_version = listed.resource_version.clone();
            *latest = Some(listed);
        }
        (self.on_change)();
    }
}

/// Whether `incoming` may replace `current`. `resourceVersion`s are opaque
/// strings to clients, but every API server (etcd revisions) and our test
/// server make them integers that grow with each write; only when both
/// are integers is an older one refused, so a watch event that was on its
/// way while we wrote cannot undo the write for a moment.
fn is_newer(incoming: Option<&str>, current: Option<&str>) -> bool {
    match (
        incoming.and_then(|v| v.parse::<u64>().ok()),
        current.and_then(|v| v.parse::<u64>().ok()),
    ) {
        (Some(incoming), Some(current)) => incoming >= current,
        _ => true,
    }
}

/// One control plane's view of the revocation ConfigMap.
pub struct KubernetesStore {
    config: KubernetesStoreConfig,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KubernetesStore {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl KubernetesStore {
    /// Start following the ConfigMap `config` names, on `runtime`;
    /// `on_change` is called (from the runtime) whenever the list changes.
    pub fn start(
        config: KubernetesStoreConfig,
        runtime: &tokio::runtime::Handle,
        on_change: Arc<dyn Fn() + Send + Sync>,
    ) -> KubernetesStore {
        let shared = Arc::new(Shared {
            api: channel::channel(None).0,
            latest: Mutex::new(None),
            status: Mutex::new(StoreStatus {
                kind: "kubernetes",
                object: describe_config(&config),
                ..StoreStatus::default()
            }),
            on_change,
        });
        let task = runtime.spawn(watch::run(shared.clone(), config.clone()));
        KubernetesStore {
            config,
            shared,
            task,
        }
    }

    /// What it was started with (a different `revocation` section needs a
    /// new store).
    pub fn config(&self) -> &KubernetesStoreConfig {
        &self.config
    }

    /// The list as stored, once the watch has listed the object.
    pub fn current(&self) -> Option<Result<Vec<Revocation>, InputErrors>> {
        lock(&self.shared.latest).as_ref().map(|l| l.list.clone())
    }

    /// `configmap <namespace>/<name>`.
    pub fn describe(&self) -> String {
        lock(&self.shared.status).object.clone()
    }

    /// For `/status` and `/metrics`.
    pub fn status(&self) -> StoreStatus {
        lock(&self.shared.status).clone()
    }

    /// Add a revocation to the object (see `object::add`); on success the
    /// new list is also in force here at once, before the watch brings it.
    pub async fn add(
        &self,
        revocation: Revocation,
        prune_before: i64,
    ) -> Result<bool, KubernetesError> {
        let api = self.api().await?;
        let result = object::add(&api, &api.object, &revocation, prune_before).await;
        let mut status = lock(&self.shared.status);
        match &result {
            Ok(written) => {
                status.write_conflicts += u64::from(written.conflicts);
                status.writes += u64::from(written.added);
            }
            Err(KubernetesError::Conflicts { attempts, .. }) => {
                status.write_conflicts += u64::from(*attempts);
                status.write_errors += 1;
            }
            Err(_) => status.write_errors += 1,
        }
        drop(status);
        let written = result?;
        if written.added {
            self.shared.listed(Listed {
                resource_version: written.resource_version,
                list: Ok(written.list),
                complete: false,
            });
        }
        Ok(written.added)
    }

    /// The API client, waiting a little for a store that just started.
    async fn api(&self) -> Result<object::ObjectApi, KubernetesError> {
        let mut rx = self.shared.api.subscribe();
        let ready = tokio::time::timeout(CLIENT_WAIT, rx.wait_for(Option::is_some)).await;
        let api = match ready {
            Ok(Ok(api)) => api.clone(),
            _ => None,
        };
        match api {
            Some(Ok(api)) => Ok(api),
            Some(Err(e)) => Err(KubernetesError::NoClient(e)),
            None => Err(KubernetesError::NotReady),
        }
    }
}

/// `configmap <namespace>/<name>` as configured (`<own namespace>` until
/// the client knows it).
fn describe_config(config: &KubernetesStoreConfig) -> String {
    format!(
        "configmap {}/{}",
        config.namespace.as_deref().unwrap_or("<own namespace>"),
        config.config_map
    )
}

/// The API client and the object, from the in-cluster configuration or the
/// configured kubeconfig; the namespace defaults to the pod's (in-cluster)
/// or the kubeconfig context's.
async fn connect(config: &KubernetesStoreConfig) -> Result<object::ObjectApi, KubernetesError> {
    let client_config = match &config.kubeconfig {
        None => kube::Config::incluster().map_err(KubernetesError::InCluster)?,
        Some(path) => {
            let kubeconfig_error = |source| KubernetesError::Kubeconfig {
                path: path.clone(),
                source,
            };
            let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(kubeconfig_error)?
        }
    };
    let namespace = config
        .namespace
        .clone()
        .unwrap_or_else(|| client_config.default_namespace.clone());
    let client =
        Client::try_from(client_config).map_err(|e| KubernetesError::Client(ApiFailure(e)))?;
    Ok(object::ObjectApi {
        api: Api::<ConfigMap>::namespaced(client, &namespace),
        object: ObjectRef {
            namespace,
            name: config.config_map.clone(),
        },
    })
}

#[cfg(test)]
mod apiserver_tests;
#[cfg(test)]
mod tests;
