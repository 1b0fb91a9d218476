//! State-of-the-world ADS as a state machine, without gRPC: feed it
//! requests and snapshots, it says what to send and what was (N)ACKed.
//!
//! Rules (the xDS protocol, as go-control-plane implements them):
//! - a request whose `response_nonce` is not the last nonce sent for its
//!   type is stale and ignored;
//! - a request with the last nonce ACKs (or, with `error_detail`, NACKs)
//!   that response, and is also the next request for the type;
//! - the server answers a request when it has something new for it: first
//!   response, changed subscription, or a snapshot version it has not sent;
//!   otherwise the request stays open until the snapshot changes;
//! - a NACKed version is never resent: Envoy keeps its last accepted config
//!   and the next *different* snapshot is sent when it comes;
//! - a version counts as accepted only when the response held every
//!   resource of its snapshot type: Envoy asks for secrets by name as
//!   clusters naming them arrive, and a cluster waits (unused) for them.

use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use envoy_types::pb::google::protobuf::Any;

use super::listener_address;
use super::node::StreamNode;
use crate::snapshot::Snapshot;
use crate::translate::type_urls;

/// Something the caller must do or record (`R`: the response type, state
/// of the world or delta).
#[derive(Debug, Clone, PartialEq)]
pub enum Event<R = DiscoveryResponse> {
    /// Send this response on the stream.
    Send(R),
    /// Envoy accepted `version` of `type_url`.
    Ack {
        /// The resource type.
        type_url: String,
        /// The version it accepted.
        version: String,
    },
    /// Envoy rejected `version` of `type_url`; it keeps its previous config.
    Nack {
        /// The resource type.
        type_url: String,
        /// The version it rejected.
        version: String,
        /// Envoy's `error_detail` message.
        error: String,
    },
}

#[derive(Debug, Clone, Default)]
struct Sent {
    version: String,
    nonce: String,
    names: BTreeSet<String>,
    /// It held every resource of its snapshot type.
    complete: bool,
}

#[derive(Debug, Clone, Default)]
struct TypeState {
    /// Requested resource names (ignored for wildcard types).
    names: BTreeSet<String>,
    /// A request for this type is waiting for an answer.
    open: bool,
    last_sent: Option<Sent>,
}

/// What an Envoy has accepted and rejected, per type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeStatus {
    /// The version last sent.
    pub sent_version: String,
    /// The version last accepted.
    pub acked_version: String,
    /// The last NACK's error, cleared by the next ACK.
    pub nack_error: Option<String>,
}

/// One ADS stream (one Envoy).
#[derive(Debug, Default)]
pub struct Stream {
    node: StreamNode,
    types: BTreeMap<String, TypeState>,
    status: BTreeMap<String, TypeStatus>,
    nonce: u64,
}

/// CDS and LDS are wildcard subscriptions: every resource of the type.
fn is_wildcard(type_url: &str, names: &BTreeSet<String>) -> bool {
    (type_url == type_urls::CLUSTER || type_url == type_urls::LISTENER)
        && (names.is_empty() || names.contains("*"))
}

impl Stream {
    /// A stream that has sent nothing yet.
    pub fn new() -> Stream {
        Stream::default()
    }

    /// The Envoy's node id, from its first request.
    pub fn node_id(&self) -> Option<&str> {
        self.node.id()
    }

    /// Why the node's own listener address was ignored, if it was.
    pub fn listener_address_error(&self) -> Option<&str> {
        self.node.listener_address_error()
    }

    /// Per-type acceptance, for the status API.
    pub fn status(&self) -> &BTreeMap<String, TypeStatus> {
        &self.status
    }

    /// Handle one request from Envoy against the current snapshot.
    pub fn on_request(&mut self, request: DiscoveryRequest, snapshot: &Snapshot) -> Vec<Event> {
        self.node.learn(request.node.as_ref());
        let type_url = request.type_url.clone();
        let mut events = Vec::new();
        let state = self.types.entry(type_url.clone()).or_default();
        if !request.response_nonce.is_empty() {
            let Some(sent) = &state.last_sent else {
                return events; // a nonce we never issued (e.g. a previous server): stale
            };
            if sent.nonce != request.response_nonce {
                return events; // superseded by a newer response: stale
            }
            let status = self.status.entry(type_url.clone()).or_default();
            match &request.error_detail {
                Some(error) => {
                    status.nack_error = Some(error.message.clone());
                    events.push(Event::Nack {
                        type_url: type_url.clone(),
                        version: sent.version.clone(),
                        error: error.message.clone(),
                    });
                }
                None => {
                    if sent.complete {
                        status.acked_version = request.version_info.clone();
                    }
                    status.nack_error = None;
                    events.push(Event::Ack {
                        type_url: type_url.clone(),
                        version: request.version_info.clone(),
                    });
                }
            }
        }
        state.names = request.resource_names.iter().cloned().collect();
        state.open = true;
        events.extend(self.respond_if_new(&type_url, snapshot));
        events
    }

    /// The snapshot changed: answer every open request it has news for, in
    /// the snapshot's type order (clusters before the routes using them).
    pub fn on_snapshot(&mut self, snapshot: &Snapshot) -> Vec<Event> {
        let mut events = Vec::new();
        for type_url in type_urls::ALL {
            events.extend(self.respond_if_new(type_url, snapshot));
        }
        events
    }

    fn respond_if_new(&mut self, type_url: &str, snapshot: &Snapshot) -> Option<Event> {
        let state = self.types.get_mut(type_url)?;
        if !state.open {
            return None;
        }
        let resources = snapshot.get(type_url)?;
        let wildcard = is_wildcard(type_url, &state.names);
        let news = match &state.last_sent {
            None => true,
            Some(sent) => sent.version != resources.version || sent.names != state.names,
        };
        if !news {
            return None;
        }
        self.nonce += 1;
        let nonce = self.nonce.to_string();
        let rebind = self
            .node
            .listener_address()
            .filter(|_| type_url == type_urls::LISTENER);
        let body: Vec<Any> = resources
            .resources
            .values()
            .filter(|r| wildcard || state.names.contains(&r.name))
            .map(|r| match rebind {
                Some(addr) => listener_address::rebind(&r.body, addr),
                None => Any::clone(&r.body),
            })
            .collect();
        let complete = body.len() == resources.resources.len();
        state.open = false;
        state.last_sent = Some(Sent {
            version: resources.version.clone(),
            nonce: nonce.clone(),
            names: state.names.clone(),
            complete,
        });
        self.status
            .entry(type_url.to_string())
            .or_default()
            .sent_version = resources.version.clone();
        Some(Event::Send(DiscoveryResponse {
            version_info: resources.version.clone(),
            resources: body,
            type_url: type_url.to_string(),
            nonce,
            ..Default::default()
        }))
    }
}

#[cfg(test)]
mod tests;
