//! The revocation ConfigMap: what it holds (one key, `revoked.yaml`, in
//! the revocation file's format), and the read-modify-write that adds to
//! it under optimistic concurrency.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};
use rand::Rng;

use super::{ApiFailure, KubernetesError};
use crate::inputs::InputErrors;
use crate::inputs::revocations::{self, Revocation};
use crate::revocation_store::with_added;

/// The ConfigMap key that holds the list.
pub const DATA_KEY: &str = "revoked.yaml";
/// Read-modify-write attempts before giving up on conflicts: each conflict
/// means another writer got in first, so this many in a row only happen
/// under a storm of revocations.
pub const MAX_ATTEMPTS: u32 = 8;
/// One API call that takes longer fails the revocation (the client itself
/// has no read timeout: its watches are long).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The field manager our writes are recorded under.
const FIELD_MANAGER: &str = "kubeplex-control-plane";

/// Which ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "configmap {}/{}", self.namespace, self.name)
    }
}

impl ObjectRef {
    /// The "file" problems in the list are reported against.
    pub fn source(&self) -> PathBuf {
        PathBuf::from(format!(
            "configmap/{}/{}/{DATA_KEY}",
            self.namespace, self.name
        ))
    }
}

/// The list a ConfigMap holds. No object, no data or no key: an empty list
/// (like a missing revocation file). Any other key is an error: a typo
/// (`revoked.yml`) must not silently un-revoke everything.
pub fn decode(object: &ObjectRef, cm: Option<&ConfigMap>) -> Result<Vec<Revocation>, InputErrors> {
    let data = cm.and_then(|cm| cm.data.as_ref());
    let source = object.source();
    if let Some(other) = data.and_then(|d| d.keys().find(|k| *k != DATA_KEY)) {
        let problem = crate::inputs::InputError {
            file: source,
            line: None,
            field: Some(format!("data.{other}")),
            reason: format!("unknown key; the list is the key {DATA_KEY}"),
        };
        return Err(InputErrors(vec![problem]));
    }
    match data.and_then(|d| d.get(DATA_KEY)) {
        Some(text) => revocations::parse(text, &source),
        None => Ok(Vec::new()),
    }
}

/// `cm` (or a new object when there is none) holding `list`.
pub fn encode(object: &ObjectRef, cm: Option<ConfigMap>, list: &[Revocation]) -> ConfigMap {
    let mut cm = cm.unwrap_or_else(|| ConfigMap {
        metadata: ObjectMeta {
            name: Some(object.name.clone()),
            namespace: Some(object.namespace.clone()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/name".to_string(),
                "kubeplex".to_string(),
            )])),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    });
    cm.data
        .get_or_insert_with(BTreeMap::new)
        .insert(DATA_KEY.to_string(), revocations::to_yaml(list));
    cm
}

/// The calls a read-modify-write makes: the API server, or a test double.
pub trait ConfigMapApi: Sync {
    /// GET the object; None when it does not exist.
    fn get(&self) -> impl Future<Output = Result<Option<ConfigMap>, kube::Error>> + Send;
    /// POST a new object.
    fn create(&self, cm: &ConfigMap)
    -> impl Future<Output = Result<ConfigMap, kube::Error>> + Send;
    /// PUT `cm`, which carries the `resourceVersion` it was read at: the API
    /// server refuses it (409 Conflict) if the object changed since.
    fn replace(
        &self,
        cm: &ConfigMap,
    ) -> impl Future<Output = Result<ConfigMap, kube::Error>> + Send;
}

/// The real API, for one object.
#[derive(Clone)]
pub struct ObjectApi {
    /// ConfigMaps of the object's namespace.
    pub api: Api<ConfigMap>,
    /// The object.
    pub object: ObjectRef,
}

fn post_params() -> PostParams {
    PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.to_string()),
    }
}

impl ConfigMapApi for ObjectApi {
    async fn get(&self) -> Result<Option<ConfigMap>, kube::Error> {
        self.api.get_opt(&self.object.name).await
    }

    async fn create(&self, cm: &ConfigMap) -> Result<ConfigMap, kube::Error> {
        self.api.create(&post_params(), cm).await
    }

    async fn replace(&self, cm: &ConfigMap) -> Result<ConfigMap, kube::Error> {
        self.api
            .replace(&self.object.name, &post_params(), cm)
            .await
    }
}

/// What a read-modify-write stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// False: the token ID was listed already; nothing was written.
    pub added: bool,
    /// The list as stored.
    pub list: Vec<Revocation>,
    /// The object's `resourceVersion` after the write (or as read).
    pub resource_version: Option<String>,
    /// Writes refused as conflicts on the way (each retried).
    pub conflicts: u32,
}

/// Add `revocation` to the object: read it, add, write it back at the
/// version read; on a conflict (someone else wrote in between) read again
/// and retry, at most [`MAX_ATTEMPTS`] times. A list that does not decode
/// is never overwritten.
pub async fn add<A: ConfigMapApi>(
    api: &A,
    object: &ObjectRef,
    revocation: &Revocation,
    prune_before: i64,
) -> Result<Written, KubernetesError> {
    let mut conflicts = 0;
    for attempt in 1..=MAX_ATTEMPTS {
        let current = call(object, "read", api.get()).await?;
        let list = decode(object, current.as_ref())?;
        let resource_version = current
            .as_ref()
            .and_then(|cm| cm.metadata.resource_version.clone());
        let Some(list) = with_added(list.clone(), revocation.clone(), prune_before) else {
            return Ok(Written {
                added: false,
                list,
                resource_version,
                conflicts,
            });
        };
        let exists = current.is_some();
        let desired = encode(object, current, &list);
        let result = if exists {
            call(object, "update", api.replace(&desired)).await
        } else {
            call(object, "create", api.create(&desired)).await
        };
        match result {
            Ok(stored) => {
                return Ok(Written {
                    added: true,
                    list,
                    resource_version: stored.metadata.resource_version,
                    conflicts,
                });
            }
            // 409 Conflict on update, 409 AlreadyExists on a create that
            // lost a race: someone else wrote first; read again.
            Err(KubernetesError::Api { source, .. }) if is_conflict(&source.0) => {
                conflicts += 1;
                if attempt < MAX_ATTEMPTS {
                    tokio::time::sleep(conflict_pause(attempt)).await;
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(KubernetesError::Conflicts {
        object: object.to_string(),
        attempts: MAX_ATTEMPTS,
    })
}

/// Whether the API refused a write because the object changed or appeared
/// since it was read.
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == 409)
}

/// A short random pause before retrying after a conflict, growing with the
/// attempt, so writers that collided do not collide again in lockstep.
fn conflict_pause(attempt: u32) -> Duration {
    let ceiling_ms = 10u64 << attempt.min(5);
    Duration::from_millis(rand::thread_rng().gen_range(0..=ceiling_ms))
}

/// One API call, bounded by [`CALL_TIMEOUT`].
async fn call<T>(
    object: &ObjectRef,
    action: &'static str,
    request: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, KubernetesError> {
    match tokio::time::timeout(CALL_TIMEOUT, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(KubernetesError::Api {
            action,
            object: object.to_string(),
            source: ApiFailure(source),
        }),
        Err(_) => Err(KubernetesError::Timeout {
            action,
            object: object.to_string(),
            timeout: CALL_TIMEOUT,
        }),
    }
}
