//! Incremental (delta) ADS as a state machine, without gRPC: feed it
//! requests and snapshots, it says what to send and what was (N)ACKed.
//!
//! With state of the world, every change of one cluster sends Envoy every
//! cluster again (10,000 contexts: 20,000 clusters, tens of megabytes, each
//! one decoded and compared by Envoy). Here Envoy is sent only the
//! resources whose version it does not have, and the names of those gone.
//!
//! Rules (the incremental xDS protocol):
//! - the first request of a type says what Envoy already has
//!   (`initial_resource_versions`, after a reconnect) and what it wants:
//!   CDS and LDS with no names (or `*`) are wildcard, every resource;
//! - a request carrying the nonce of the response in flight ACKs it (or,
//!   with `error_detail`, NACKs it); any other nonce is stale;
//! - one response per type is in flight at a time: the next diff is sent
//!   once the previous one is (N)ACKed;
//! - the first request of a type is always answered (Envoy waits for it
//!   to finish initializing), later ones only when there is a difference;
//! - a NACKed resource version is not resent: Envoy keeps its last
//!   accepted one and the next different version is sent when it comes;
//! - a type counts as accepted only once Envoy has every resource of its
//!   snapshot: secrets are asked for by name as clusters naming them
//!   arrive, and until Envoy has asked for (and accepted) each, a cluster
//!   waiting for one is not in use;
//! - at most [`MAX_RESOURCES_PER_RESPONSE`] resources go in one response,
//!   the rest after its ACK: Envoy applies a response on its main thread,
//!   and 20,000 clusters at once kept it (and its admin interface) busy
//!   for minutes (envoyproxy/envoy#12138). The type counts as sent and
//!   accepted only once its last part is.

/// Resources per response at most (a part of a large first push).
pub const MAX_RESOURCES_PER_RESPONSE: usize = 500;

use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, Resource as DeltaResource,
};

use envoy_types::pb::google::protobuf::Any;

use super::listener_address;
use super::node::StreamNode;
use super::protocol::{Event, TypeStatus};
use crate::snapshot::{Snapshot, TypeSnapshot};
use crate::translate::type_urls;

/// What one type's subscription and Envoy's copy look like.
#[derive(Debug, Clone, Default)]
struct TypeState {
    /// Every resource of the type (CDS, LDS without names).
    wildcard: bool,
    /// Names asked for, when not wildcard.
    names: BTreeSet<String>,
    /// Name → the version Envoy has (sent to it, or what it said it had).
    known: BTreeMap<String, String>,
    /// The response in flight.
    in_flight: Option<InFlight>,
    /// Answered at least once.
    answered: bool,
}

impl TypeState {
    fn wants(&self, name: &str) -> bool {
        self.wildcard || self.names.contains(name)
    }
}

/// A response sent and not yet (N)ACKed.
#[derive(Debug, Clone)]
struct InFlight {
    nonce: String,
    /// The type's snapshot version it belongs to.
    version: String,
    /// It completes that version (not one part of several).
    complete: bool,
}

/// One delta ADS stream (one Envoy).
#[derive(Debug, Default)]
pub struct DeltaStream {
    node: StreamNode,
    types: BTreeMap<String, TypeState>,
    status: BTreeMap<String, TypeStatus>,
    nonce: u64,
}

impl DeltaStream {
    /// A stream that has sent nothing yet.
    pub fn new() -> DeltaStream {
        DeltaStream::default()
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
    pub fn on_request(
        &mut self,
        request: DeltaDiscoveryRequest,
        snapshot: &Snapshot,
    ) -> Vec<Event<DeltaDiscoveryResponse>> {
        self.node.learn(request.node.as_ref());
        let type_url = request.type_url.clone();
        let first = !self.types.contains_key(&type_url);
        let state = self.types.entry(type_url.clone()).or_default();
        if first {
            state.known = request
                .initial_resource_versions
                .clone()
                .into_iter()
                .collect();
            let wildcard_type = type_url == type_urls::CLUSTER || type_url == type_urls::LISTENER;
            state.wildcard = wildcard_type && request.resource_names_subscribe.is_empty();
        }
        for name in &request.resource_names_subscribe {
            if name == "*" {
                state.wildcard = true;
            } else {
                state.names.insert(name.clone());
            }
        }
        for name in &request.resource_names_unsubscribe {
            if name == "*" {
                state.wildcard = false;
            } else {
                state.names.remove(name);
            }
            // Asked again later, it is sent again.
            state.known.remove(name);
        }
        let mut events = Vec::new();
        if !request.response_nonce.is_empty() {
            events.extend(self.acknowledge(&type_url, &request));
        }
        events.extend(self.respond_if_new(&type_url, snapshot));
        events
    }

    /// The ACK or NACK `request` carries, if its nonce is the one in flight.
    fn acknowledge(
        &mut self,
        type_url: &str,
        request: &DeltaDiscoveryRequest,
    ) -> Option<Event<DeltaDiscoveryResponse>> {
        let state = self.types.get_mut(type_url)?;
        let InFlight {
            nonce,
            version,
            complete,
        } = state.in_flight.clone()?;
        if nonce != request.response_nonce {
            return None; // stale
        }
        state.in_flight = None;
        let status = self.status.entry(type_url.to_string()).or_default();
        Some(match &request.error_detail {
            Some(error) => {
                status.nack_error = Some(error.message.clone());
                Event::Nack {
                    type_url: type_url.to_string(),
                    version,
                    error: error.message.clone(),
                }
            }
            None => {
                if complete {
                    status.acked_version = version.clone();
                }
                status.nack_error = None;
                Event::Ack {
                    type_url: type_url.to_string(),
                    version,
                }
            }
        })
    }

    /// The snapshot changed: send each type what Envoy lacks, in the
    /// snapshot's type order (clusters before the routes using them).
    pub fn on_snapshot(&mut self, snapshot: &Snapshot) -> Vec<Event<DeltaDiscoveryResponse>> {
        type_urls::ALL
            .iter()
            .filter_map(|type_url| self.respond_if_new(type_url, snapshot))
            .collect()
    }

    fn respond_if_new(
        &mut self,
        type_url: &str,
        snapshot: &Snapshot,
    ) -> Option<Event<DeltaDiscoveryResponse>> {
        let state = self.types.get_mut(type_url)?;
        if state.in_flight.is_some() {
            return None; // sent when the one in flight is answered
        }
        let empty = TypeSnapshot::default();
        let resources = snapshot.get(type_url).unwrap_or(&empty);
        let rebind = self
            .node
            .listener_address()
            .filter(|_| type_url == type_urls::LISTENER);
        let mut pending = resources
            .resources
            .values()
            .filter(|r| state.wants(&r.name) && state.known.get(&r.name) != Some(&r.version));
        let changed: Vec<DeltaResource> = pending
            .by_ref()
            .take(MAX_RESOURCES_PER_RESPONSE)
            .map(|r| DeltaResource {
                name: r.name.clone(),
                version: r.version.clone(),
                resource: Some(match rebind {
                    Some(addr) => listener_address::rebind(&r.body, addr),
                    None => Any::clone(&r.body),
                }),
                ..Default::default()
            })
            .collect();
        // Envoy will ask for the rest (secrets: as the clusters naming them
        // arrive); until it has, the snapshot is not all applied.
        let covers = state.wildcard
            || resources
                .resources
                .keys()
                .all(|name| state.names.contains(name));
        let complete = pending.next().is_none() && covers;
        let removed: Vec<String> = state
            .known
            .keys()
            .filter(|name| !resources.resources.contains_key(*name))
            .cloned()
            .collect();
        let status = self.status.entry(type_url.to_string()).or_default();
        if changed.is_empty() && removed.is_empty() && state.answered {
            // Envoy has all of it already (a change elsewhere in the type).
            if covers {
                status.sent_version = resources.version.clone();
                if status.nack_error.is_none() {
                    status.acked_version = resources.version.clone();
                }
            }
            return None;
        }
        for r in &changed {
            state.known.insert(r.name.clone(), r.version.clone());
        }
        for name in &removed {
            state.known.remove(name);
        }
        self.nonce += 1;
        let nonce = self.nonce.to_string();
        state.answered = true;
        state.in_flight = Some(InFlight {
            nonce: nonce.clone(),
            version: resources.version.clone(),
            complete,
        });
        if complete {
            status.sent_version = resources.version.clone();
        }
        Some(Event::Send(DeltaDiscoveryResponse {
            system_version_info: resources.version.clone(),
            resources: changed,
            type_url: type_url.to_string(),
            removed_resources: removed,
            nonce,
            ..Default::default()
        }))
    }
}

#[cfg(test)]
mod tests;
