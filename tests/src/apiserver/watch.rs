//! Watches: newline-delimited JSON events streamed as they happen, with the
//! apiserver's `resourceVersion`, selector, bookmark and timeout semantics.
//! A watch ends at its timeout, when the client goes away (hyper drops the
//! body stream), or when the server shuts down.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::Stream;
use http_body_util::StreamBody;
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use super::resources::ResourceType;
use super::selectors::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{EventType, Store, StoreError, StoreEvent};
use super::table::{self, IncludeObject};

/// Default watch lifetime when the client gives no `timeoutSeconds` (the
/// apiserver picks 30–60 minutes).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// What a watch asks for.
#[derive(Debug, Clone)]
pub struct WatchRequest {
    /// The resource watched.
    pub resource: &'static ResourceType,
    /// Namespace (`None` = all).
    pub namespace: Option<String>,
    /// `resourceVersion`: `None` for `""`/`"0"` (current state first).
    pub from: Option<u64>,
    /// `timeoutSeconds`.
    pub timeout: Duration,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: bool,
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
    /// `Some` when the client asked for Tables.
    pub table: Option<IncludeObject>,
}

/// Counts open watches; decremented when a watch stream is dropped.
#[derive(Debug, Default)]
pub struct WatchCounter(AtomicUsize);

impl WatchCounter {
    /// Watches open now.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

struct Guard(Arc<WatchCounter>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::SeqCst);
    }
}

struct State {
    req: WatchRequest,
    queue: VecDeque<Value>,
    rx: broadcast::Receiver<Arc<StoreEvent>>,
    last_rv: u64,
    deadline: Instant,
    bookmark_every: Duration,
    next_bookmark: Instant,
    shutdown: tokio::sync::watch::Receiver<bool>,
    done: bool,
    _guard: Guard,
}

/// The byte stream of a watch.
pub type WatchBody =
    StreamBody<std::pin::Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>>>;

/// Whether `obj` passes the watch's namespace and selectors.
fn selected(req: &WatchRequest, obj: &Value) -> bool {
    if let Some(ns) = &req.namespace
        && obj["metadata"]["namespace"].as_str().unwrap_or("") != ns
    {
        return false;
    }
    req.labels.matches(obj["metadata"].get("labels")) && req.fields.matches(obj)
}

fn encode(req: &WatchRequest, event_type: &str, obj: &Value) -> Value {
    let object = match req.table {
        Some(include) => {
            let mut t = table::table(
                req.resource,
                std::slice::from_ref(obj),
                obj["metadata"]["resourceVersion"].as_str().unwrap_or(""),
                include,
                SystemTime::now(),
            );
            t["metadata"] = json!({"resourceVersion": obj["metadata"]["resourceVersion"]});
            t
        }
        None => obj.clone(),
    };
    json!({"type": event_type, "object": object})
}

fn bookmark(req: &WatchRequest, rv: u64, initial_events_end: bool) -> Value {
    let mut metadata = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
    if initial_events_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let object = match req.table {
        Some(_) => json!({
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": rv.to_string()},
            "columnDefinitions": [],
            "rows": [],
        }),
        None => json!({
            "kind": req.resource.kind,
            "apiVersion": req.resource.api_version(),
            "metadata": metadata,
        }),
    };
    json!({"type": "BOOKMARK", "object": object})
}

/// What to send for one store event, if anything (selector transitions
/// become ADDED / DELETED).
fn translate(req: &WatchRequest, ev: &StoreEvent) -> Option<Value> {
    if !std::ptr::eq(ev.resource, req.resource) {
        return None;
    }
    let now = selected(req, &ev.object);
    match ev.event_type {
        EventType::Modified => {
            let before = ev.previous.as_ref().is_some_and(|p| selected(req, p));
            match (before, now) {
                (true, true) => Some(encode(req, "MODIFIED", &ev.object)),
                (false, true) => Some(encode(req, "ADDED", &ev.object)),
                (true, false) => Some(encode(req, "DELETED", &ev.object)),
                (false, false) => None,
            }
        }
        t => now.then(|| encode(req, t.as_str(), &ev.object)),
    }
}

fn line(v: &Value) -> Frame<Bytes> {
    let mut bytes = serde_json::to_vec(v).expect("json");
    bytes.push(b'\n');
    Frame::data(Bytes::from(bytes))
}

/// Starts a watch. Returns the body stream, or an `ERROR` event stream for
/// an expired `resourceVersion` (status 200, as the watch cache does).
pub fn start(
    store: &Store,
    req: WatchRequest,
    counter: Arc<WatchCounter>,
    bookmark_every: Duration,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> WatchBody {
    counter.0.fetch_add(1, Ordering::SeqCst);
    let guard = Guard(counter);
    let mut queue = VecDeque::new();
    let (last_rv, rx) = match store.watch_from(req.resource, req.from) {
        Ok((rv, initial, rx)) => {
            for ev in &initial {
                let v = match req.from {
                    None => selected(&req, &ev.object).then(|| encode(&req, "ADDED", &ev.object)),
                    Some(_) => translate(&req, ev),
                };
                queue.extend(v);
            }
            if req.send_initial_events && req.bookmarks {
                queue.push_back(bookmark(&req, rv, true));
            }
            (rv, rx)
        }
        Err(e @ StoreError::Expired { .. }) => {
            let status = ApiError::from(e).to_status();
            let frames = vec![Ok(line(&json!({"type": "ERROR", "object": status})))];
            drop(guard);
            let s: std::pin::Pin<Box<dyn Stream<Item = _> + Send>> =
                Box::pin(futures::stream::iter(frames));
            return StreamBody::new(s);
        }
        Err(e) => unreachable!("watch_from only fails with Expired: {e}"),
    };
    let now = Instant::now();
    let state = State {
        deadline: now + req.timeout,
        next_bookmark: now + bookmark_every,
        req,
        queue,
        rx,
        last_rv,
        bookmark_every,
        shutdown,
        done: false,
        _guard: guard,
    };
    let stream = futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        if let Some(v) = st.queue.pop_front() {
            return Some((Ok(line(&v)), st));
        }
        loop {
            tokio::select! {
                ev = st.rx.recv() => match ev {
                    Ok(ev) => {
                        if ev.rv <= st.last_rv {
                            continue;
                        }
                        if std::ptr::eq(ev.resource, st.req.resource) {
                            st.last_rv = ev.rv;
                        }
                        if let Some(v) = translate(&st.req, &ev) {
                            return Some((Ok(line(&v)), st));
                        }
                    }
                    // A lagging watcher is closed; the client re-lists.
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return None,
                },
                _ = tokio::time::sleep_until(st.next_bookmark), if st.req.bookmarks => {
                    st.next_bookmark = Instant::now() + st.bookmark_every;
                    let v = bookmark(&st.req, st.last_rv, false);
                    return Some((Ok(line(&v)), st));
                }
                _ = tokio::time::sleep_until(st.deadline) => {
                    // The apiserver sends a last bookmark before a timeout.
                    if st.req.bookmarks {
                        st.done = true;
                        let v = bookmark(&st.req, st.last_rv, false);
                        return Some((Ok(line(&v)), st));
                    }
                    return None;
                }
                _ = st.shutdown.changed() => return None,
            }
        }
    });
    let s: std::pin::Pin<Box<dyn Stream<Item = _> + Send>> = Box::pin(stream);
    StreamBody::new(s)
}
