//! The in-memory object store: one global, monotonically increasing
//! `resourceVersion`, object metadata the apiserver would set (`uid`,
//! `creationTimestamp`, `generation`), and an event history that watches
//! replay and follow.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::defaults;
use super::ids;
use super::resources::{self, ResourceType};
use super::status::ApiError;
use super::timestamps;

/// How many events the history keeps before older resource versions
/// become "too old" (410 Gone) for watches.
const HISTORY: usize = 10_000;

/// What can go wrong in the store.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The resource name did not resolve (`Store` methods take `configmaps`,
    /// `cm`, `deployments.apps`...).
    #[error("unknown resource {0:?}")]
    UnknownResource(String),
    /// The resource is not stored (reviews).
    #[error("resource {0} is not stored")]
    NotStored(String),
    /// No such object.
    #[error("{} {name:?} not found", resource.qualified())]
    NotFound {
        /// The resource type.
        resource: &'static ResourceType,
        /// The object name.
        name: String,
    },
    /// An object with that name exists.
    #[error("{} {name:?} already exists", resource.qualified())]
    AlreadyExists {
        /// The resource type.
        resource: &'static ResourceType,
        /// The object name.
        name: String,
    },
    /// The update carried a stale `resourceVersion`.
    #[error("conflict on {} {name:?}", resource.qualified())]
    Conflict {
        /// The resource type.
        resource: &'static ResourceType,
        /// The object name.
        name: String,
    },
    /// A namespaced object's namespace does not exist.
    #[error("namespaces {0:?} not found")]
    NamespaceNotFound(String),
    /// The object is invalid.
    #[error("{} {name:?} is invalid: {field}: {detail}", resource.kind)]
    Invalid {
        /// The resource type.
        resource: &'static ResourceType,
        /// The object name.
        name: String,
        /// The offending field path.
        field: String,
        /// What is wrong.
        detail: String,
    },
    /// A watch asked for a compacted resource version.
    #[error("too old resource version: {requested} ({oldest})")]
    Expired {
        /// The version asked for.
        requested: u64,
        /// The oldest version still in the history.
        oldest: u64,
    },
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match &e {
            StoreError::UnknownResource(_) | StoreError::NotStored(_) => ApiError::path_not_found(),
            StoreError::NotFound { resource, name } => ApiError::not_found(resource, name),
            StoreError::AlreadyExists { resource, name } => {
                ApiError::already_exists(resource, name)
            }
            StoreError::Conflict { resource, name } => ApiError::conflict(resource, name),
            StoreError::NamespaceNotFound(ns) => {
                let rt = resources::find("", "v1", "namespaces").expect("namespaces");
                ApiError::not_found(rt, ns)
            }
            StoreError::Invalid {
                resource,
                name,
                field,
                detail,
            } => ApiError::invalid(resource, name, field, detail),
            StoreError::Expired { .. } => ApiError::expired(e.to_string()),
        }
    }
}

/// Watch event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `ADDED`.
    Added,
    /// `MODIFIED`.
    Modified,
    /// `DELETED`.
    Deleted,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change to one object.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreEvent {
    /// The `resourceVersion` the change produced.
    pub rv: u64,
    /// What happened.
    pub event_type: EventType,
    /// The object's resource type.
    pub resource: &'static ResourceType,
    /// The object after the change (before, for deletes).
    pub object: Value,
    /// For `MODIFIED`: the object before the change (watches with
    /// selectors turn changes in and out of the selection into
    /// `ADDED`/`DELETED`, as the apiserver does).
    pub previous: Option<Value>,
}

/// What a watch starts from: the current version, the events to send
/// first, and the live feed after them.
pub(crate) type WatchStart = (
    u64,
    Vec<Arc<StoreEvent>>,
    broadcast::Receiver<Arc<StoreEvent>>,
);

type Key = (&'static str, &'static str, String, String);

fn key(rt: &'static ResourceType, namespace: &str, name: &str) -> Key {
    (rt.group, rt.plural, namespace.to_string(), name.to_string())
}

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<Arc<StoreEvent>>,
    /// Events at or below this version were dropped from the history.
    compacted: u64,
}

/// The object store. Cheap to share (`Arc` inside the server).
pub struct Store {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<StoreEvent>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("resource_version", &self.resource_version())
            .finish()
    }
}

/// The object's `metadata.name`.
pub fn name_of(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or("")
}

/// The object's `metadata.namespace`.
pub fn namespace_of(obj: &Value) -> &str {
    obj["metadata"]["namespace"].as_str().unwrap_or("")
}

fn resolve(resource: &str) -> Result<&'static ResourceType, StoreError> {
    let rt = resources::lookup(resource)
        .ok_or_else(|| StoreError::UnknownResource(resource.to_string()))?;
    if !rt.stored {
        return Err(StoreError::NotStored(rt.qualified()));
    }
    Ok(rt)
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    /// A store seeded with namespaces `default`, `kube-system`,
    /// `kube-public` and `kube-node-lease`.
    pub fn new() -> Store {
        let (events, _) = broadcast::channel(4096);
        let store = Store {
            inner: Mutex::new(Inner {
                rv: 0,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                compacted: 0,
            }),
            events,
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            store
                .create("namespaces", json!({"metadata": {"name": ns}}))
                .expect("seed namespace");
        }
        store
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every
        // mutation is a single insert/remove), so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current (latest) `resourceVersion`.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// Creates an object of `resource` (`configmaps`, `cm`,
    /// `deployments.apps`...); its namespace comes from
    /// `metadata.namespace` (default `default`). Generates a watch event.
    pub fn create(&self, resource: &str, object: Value) -> Result<Value, StoreError> {
        let rt = resolve(resource)?;
        let ns = if rt.namespaced {
            Some(
                object["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("default")
                    .to_string(),
            )
        } else {
            None
        };
        self.create_in(rt, ns.as_deref(), object, false)
    }

    /// Gets an object (`namespace` ignored for cluster-scoped resources).
    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let rt = resolve(resource).ok()?;
        self.get_in(rt, namespace, name)
    }

    /// Lists objects of `resource`, in one namespace or all.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Value> {
        match resolve(resource) {
            Ok(rt) => self.list_in(rt, namespace).1,
            Err(_) => Vec::new(),
        }
    }

    /// Replaces an object (name and namespace from its metadata); a
    /// non-empty `metadata.resourceVersion` must be current.
    pub fn update(&self, resource: &str, object: Value) -> Result<Value, StoreError> {
        let rt = resolve(resource)?;
        let ns = if rt.namespaced {
            namespace_of(&object).to_string()
        } else {
            String::new()
        };
        let name = name_of(&object).to_string();
        self.update_in(rt, &ns, &name, object, false)
    }

    /// Deletes an object and returns it.
    pub fn delete(&self, resource: &str, namespace: &str, name: &str) -> Result<Value, StoreError> {
        let rt = resolve(resource)?;
        self.delete_in(rt, namespace, name, false)
    }

    /// Forgets the whole event history: watches from any older
    /// `resourceVersion` then get 410 Gone (tests of re-list behaviour).
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.compacted = inner.rv;
    }

    pub(crate) fn get_in(&self, rt: &'static ResourceType, ns: &str, name: &str) -> Option<Value> {
        let ns = if rt.namespaced { ns } else { "" };
        self.lock().objects.get(&key(rt, ns, name)).cloned()
    }

    /// `(resourceVersion, objects)` for a list.
    pub(crate) fn list_in(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
    ) -> (u64, Vec<Value>) {
        let inner = self.lock();
        let items = inner
            .objects
            .iter()
            .filter(|((g, p, ns, _), _)| {
                *g == rt.group && *p == rt.plural && namespace.is_none_or(|want| want == ns)
            })
            .map(|(_, v)| v.clone())
            .collect();
        (inner.rv, items)
    }

    /// For a watch: under one lock, the events to send first and a live
    /// subscription that continues after them.
    ///
    /// - `from = None`: synthetic `ADDED` for every current object;
    /// - `from = Some(rv)`: history events after `rv`, or `Expired`.
    pub(crate) fn watch_from(
        &self,
        rt: &'static ResourceType,
        from: Option<u64>,
    ) -> Result<WatchStart, StoreError> {
        let inner = self.lock();
        let rx = self.events.subscribe();
        let initial = match from {
            None => inner
                .objects
                .iter()
                .filter(|((g, p, _, _), _)| *g == rt.group && *p == rt.plural)
                .map(|(_, v)| {
                    Arc::new(StoreEvent {
                        rv: inner.rv,
                        event_type: EventType::Added,
                        resource: rt,
                        object: v.clone(),
                        previous: None,
                    })
                })
                .collect(),
            Some(rv) => {
                if rv < inner.compacted {
                    return Err(StoreError::Expired {
                        requested: rv,
                        oldest: inner.compacted,
                    });
                }
                inner
                    .history
                    .iter()
                    .filter(|e| e.rv > rv && std::ptr::eq(e.resource, rt))
                    .cloned()
                    .collect()
            }
        };
        Ok((inner.rv, initial, rx))
    }

    fn record(
        &self,
        inner: &mut Inner,
        event_type: EventType,
        rt: &'static ResourceType,
        object: Value,
        previous: Option<Value>,
    ) {
        let event = Arc::new(StoreEvent {
            rv: inner.rv,
            event_type,
            resource: rt,
            object,
            previous,
        });
        inner.history.push_back(event.clone());
        while inner.history.len() > HISTORY {
            if let Some(old) = inner.history.pop_front() {
                inner.compacted = old.rv;
            }
        }
        // No receivers is fine.
        let _ = self.events.send(event);
    }

    /// Creates `object` in `ns` (`None` for cluster-scoped). With `dry_run`
    /// the object is validated and returned but not stored.
    pub(crate) fn create_in(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        mut object: Value,
        dry_run: bool,
    ) -> Result<Value, StoreError> {
        if !object.is_object() {
            object = json!({});
        }
        if !object["metadata"].is_object() {
            object["metadata"] = json!({});
        }
        let mut inner = self.lock();
        let meta = &mut object["metadata"];
        let mut name = meta["name"].as_str().unwrap_or("").to_string();
        if name.is_empty() {
            if let Some(prefix) = meta["generateName"].as_str().filter(|p| !p.is_empty()) {
                name = format!("{prefix}{}", ids::name_suffix());
            } else {
                return Err(StoreError::Invalid {
                    resource: rt,
                    name: String::new(),
                    field: "metadata.name".into(),
                    detail: "Required value: name or generateName is required".into(),
                });
            }
        }
        validate_name(rt, &name)?;
        let ns = if rt.namespaced {
            let ns = ns.unwrap_or("default").to_string();
            if !inner
                .objects
                .contains_key(&("", "namespaces", String::new(), ns.clone()))
            {
                return Err(StoreError::NamespaceNotFound(ns));
            }
            ns
        } else {
            String::new()
        };
        let k = key(rt, &ns, &name);
        if inner.objects.contains_key(&k) {
            return Err(StoreError::AlreadyExists { resource: rt, name });
        }
        let meta = object["metadata"].as_object_mut().expect("metadata object");
        meta.insert("name".into(), json!(name));
        if rt.namespaced {
            meta.insert("namespace".into(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), json!(ids::uid()));
        meta.insert(
            "creationTimestamp".into(),
            json!(timestamps::format_rfc3339(SystemTime::now())),
        );
        meta.remove("deletionTimestamp");
        meta.remove("deletionGracePeriodSeconds");
        if rt.kind == "Deployment" {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
        object["kind"] = json!(rt.kind);
        object["apiVersion"] = json!(rt.api_version());
        defaults::apply(rt, &mut object, None, inner.rv + 1);
        if dry_run {
            object["metadata"]
                .as_object_mut()
                .expect("metadata")
                .remove("resourceVersion");
            return Ok(object);
        }
        inner.rv += 1;
        object["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        inner.objects.insert(k, object.clone());
        self.record(&mut inner, EventType::Added, rt, object.clone(), None);
        Ok(object)
    }

    /// Replaces the object `ns/name`. Server-owned metadata is kept; a
    /// non-empty `metadata.resourceVersion` in `object` must be current.
    pub(crate) fn update_in(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        mut object: Value,
        dry_run: bool,
    ) -> Result<Value, StoreError> {
        let ns = if rt.namespaced { ns } else { "" };
        let mut inner = self.lock();
        let k = key(rt, ns, name);
        let old = inner
            .objects
            .get(&k)
            .cloned()
            .ok_or_else(|| StoreError::NotFound {
                resource: rt,
                name: name.to_string(),
            })?;
        if !object["metadata"].is_object() {
            object["metadata"] = json!({});
        }
        let given_rv = object["metadata"]["resourceVersion"].as_str().unwrap_or("");
        if !given_rv.is_empty()
            && given_rv != old["metadata"]["resourceVersion"].as_str().unwrap_or("")
        {
            return Err(StoreError::Conflict {
                resource: rt,
                name: name.to_string(),
            });
        }
        {
            let meta = object["metadata"].as_object_mut().expect("metadata");
            meta.insert("name".into(), json!(name));
            if rt.namespaced {
                meta.insert("namespace".into(), json!(ns));
            } else {
                meta.remove("namespace");
            }
            for field in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "generation",
            ] {
                match old["metadata"].get(field) {
                    Some(v) => meta.insert(field.into(), v.clone()),
                    None => meta.remove(field),
                };
            }
        }
        object["kind"] = json!(rt.kind);
        object["apiVersion"] = json!(rt.api_version());
        if rt.kind == "Deployment" && object.get("spec") != old.get("spec") {
            let generation = old["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
            object["metadata"]["generation"] = json!(generation);
        }
        defaults::apply(rt, &mut object, Some(&old), inner.rv + 1);
        if dry_run {
            return Ok(object);
        }
        // An update that changes nothing is a no-op, as in the apiserver.
        let mut unchanged = object.clone();
        unchanged["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        if unchanged == old {
            return Ok(old);
        }
        inner.rv += 1;
        object["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        inner.objects.insert(k, object.clone());
        self.record(
            &mut inner,
            EventType::Modified,
            rt,
            object.clone(),
            Some(old),
        );
        Ok(object)
    }

    /// Deletes `ns/name` and returns the object as it was. Deleting a
    /// namespace first deletes everything in it.
    pub(crate) fn delete_in(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        dry_run: bool,
    ) -> Result<Value, StoreError> {
        let ns = if rt.namespaced { ns } else { "" };
        let mut inner = self.lock();
        let k = key(rt, ns, name);
        let old = inner
            .objects
            .get(&k)
            .cloned()
            .ok_or_else(|| StoreError::NotFound {
                resource: rt,
                name: name.to_string(),
            })?;
        if dry_run {
            return Ok(old);
        }
        if rt.kind == "Namespace" {
            let contained: Vec<Key> = inner
                .objects
                .keys()
                .filter(|(_, _, obj_ns, _)| obj_ns == name)
                .cloned()
                .collect();
            for ck in contained {
                if let Some(obj) = inner.objects.remove(&ck) {
                    let crt = resources::find(ck.0, obj_version(&obj), ck.1).expect("stored type");
                    inner.rv += 1;
                    let obj = with_rv(obj, inner.rv);
                    self.record(&mut inner, EventType::Deleted, crt, obj, None);
                }
            }
        }
        inner.objects.remove(&k);
        inner.rv += 1;
        let old = with_rv(old, inner.rv);
        self.record(&mut inner, EventType::Deleted, rt, old.clone(), None);
        Ok(old)
    }
}

fn obj_version(obj: &Value) -> &str {
    let av = obj["apiVersion"].as_str().unwrap_or("v1");
    av.rsplit('/').next().unwrap_or(av)
}

/// A deleted object carries the deletion's resource version in its event.
fn with_rv(mut obj: Value, rv: u64) -> Value {
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    obj
}

/// DNS-1123 subdomain names (what most resources require).
fn validate_name(rt: &'static ResourceType, name: &str) -> Result<(), StoreError> {
    let ok = name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        return Ok(());
    }
    Err(StoreError::Invalid {
        resource: rt,
        name: name.to_string(),
        field: "metadata.name".into(),
        detail: format!(
            "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        ),
    })
}
