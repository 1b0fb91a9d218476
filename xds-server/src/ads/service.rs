//! The tonic ADS service: one task per Envoy stream, driving a
//! [`protocol::Stream`] (state of the world) or a [`delta::DeltaStream`]
//! (incremental) from inbound requests and snapshot changes.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
    aggregated_discovery_service_server::AggregatedDiscoveryService,
};
use futures::Stream as FuturesStream;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, info, warn};

use super::delta::DeltaStream;
use super::protocol::{Event, Stream, TypeStatus};
use super::registry::Registry;
use crate::snapshot::Snapshot;

type ResponseStream<T> = Pin<Box<dyn FuturesStream<Item = Result<T, Status>> + Send>>;

/// The ADS server.
#[derive(Clone)]
pub struct Ads {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    registry: Arc<Registry>,
}

impl Ads {
    /// The service, serving `snapshots` and recording into `registry`.
    pub fn new(snapshots: watch::Receiver<Arc<Snapshot>>, registry: Arc<Registry>) -> Ads {
        Ads {
            snapshots,
            registry,
        }
    }
}

/// What the service needs of a protocol state machine (state of the world
/// or delta): the same stream loop drives both.
trait Protocol: Default + Send + 'static {
    /// What Envoy sends.
    type Request: prost::Message + Default + Send + 'static;
    /// What is sent back.
    type Response: Pushed + Send + 'static;
    fn on_request(
        &mut self,
        request: Self::Request,
        snapshot: &Snapshot,
    ) -> Vec<Event<Self::Response>>;
    fn on_snapshot(&mut self, snapshot: &Snapshot) -> Vec<Event<Self::Response>>;
    fn node_id(&self) -> Option<&str>;
    fn listener_address_error(&self) -> Option<&str>;
    fn status(&self) -> &BTreeMap<String, TypeStatus>;
}

/// A response, as the push log line names it.
trait Pushed {
    fn type_url(&self) -> &str;
    fn version(&self) -> &str;
    /// Resources in it (delta: only the changed ones).
    fn resources(&self) -> usize;
}

impl Pushed for DiscoveryResponse {
    fn type_url(&self) -> &str {
        &self.type_url
    }
    fn version(&self) -> &str {
        &self.version_info
    }
    fn resources(&self) -> usize {
        self.resources.len()
    }
}

impl Pushed for DeltaDiscoveryResponse {
    fn type_url(&self) -> &str {
        &self.type_url
    }
    fn version(&self) -> &str {
        &self.system_version_info
    }
    fn resources(&self) -> usize {
        self.resources.len() + self.removed_resources.len()
    }
}

macro_rules! protocol {
    ($machine:ty, $request:ty, $response:ty) => {
        impl Protocol for $machine {
            type Request = $request;
            type Response = $response;
            fn on_request(
                &mut self,
                request: $request,
                snapshot: &Snapshot,
            ) -> Vec<Event<$response>> {
                <$machine>::on_request(self, request, snapshot)
            }
            fn on_snapshot(&mut self, snapshot: &Snapshot) -> Vec<Event<$response>> {
                <$machine>::on_snapshot(self, snapshot)
            }
            fn node_id(&self) -> Option<&str> {
                <$machine>::node_id(self)
            }
            fn listener_address_error(&self) -> Option<&str> {
                <$machine>::listener_address_error(self)
            }
            fn status(&self) -> &BTreeMap<String, TypeStatus> {
                <$machine>::status(self)
            }
        }
    };
}

protocol!(Stream, DiscoveryRequest, DiscoveryResponse);
protocol!(DeltaStream, DeltaDiscoveryRequest, DeltaDiscoveryResponse);

/// Drive one stream until Envoy or the control plane ends it. Returns the
/// Envoy's node id (`?` if it never said).
async fn serve_stream<P: Protocol>(
    id: u64,
    mut inbound: Streaming<P::Request>,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    registry: &Registry,
    tx: &mpsc::Sender<Result<P::Response, Status>>,
) -> String {
    let mut stream = P::default();
    let mut warned = false;
    while let Some(events) = next_events(id, &mut stream, &mut inbound, &mut snapshots).await {
        let node = stream.node_id().unwrap_or("?").to_string();
        if let Some(e) = stream.listener_address_error().filter(|_| !warned) {
            warn!(
                node,
                "node metadata ignored, the gateway config's listener address applies: {e}"
            );
            warned = true;
        }
        if stream.node_id().is_some() {
            registry.update(id, &node, stream.status());
        }
        for event in events {
            if !deliver(event, &node, registry, tx).await {
                break;
            }
        }
    }
    stream.node_id().unwrap_or("?").to_string()
}

/// What the protocol does next: on Envoy's next request, or on a new
/// snapshot. None when the stream ends (Envoy left, an error, shutdown).
async fn next_events<P: Protocol>(
    id: u64,
    stream: &mut P,
    inbound: &mut Streaming<P::Request>,
    snapshots: &mut watch::Receiver<Arc<Snapshot>>,
) -> Option<Vec<Event<P::Response>>> {
    tokio::select! {
        message = inbound.message() => match message {
            Ok(Some(req)) => {
                let snapshot = snapshots.borrow().clone();
                Some(stream.on_request(req, &snapshot))
            }
            Ok(None) => None,
            Err(e) => {
                debug!(stream = id, "ADS stream error: {e}");
                None
            }
        },
        changed = snapshots.changed() => {
            // An error: the control plane is shutting down.
            changed.ok()?;
            let snapshot = snapshots.borrow_and_update().clone();
            Some(stream.on_snapshot(&snapshot))
        }
    }
}

/// Send a response, or count and log an ACK or NACK. False when the
/// response could not be sent (the stream is gone).
async fn deliver<R: Pushed>(
    event: Event<R>,
    node: &str,
    registry: &Registry,
    tx: &mpsc::Sender<Result<R, Status>>,
) -> bool {
    let counters = &registry.counters;
    match event {
        Event::Send(response) => {
            debug!(
                node,
                r#type = short_type(response.type_url()),
                version = response.version(),
                resources = response.resources(),
                "push"
            );
            counters.responses_sent.fetch_add(1, Relaxed);
            return tx.send(Ok(response)).await.is_ok();
        }
        Event::Ack { type_url, version } => {
            counters.acks.fetch_add(1, Relaxed);
            info!(
                node,
                r#type = short_type(&type_url),
                version,
                "envoy accepted config"
            );
        }
        Event::Nack {
            type_url,
            version,
            error,
        } => {
            counters.nacks.fetch_add(1, Relaxed);
            warn!(
                node,
                r#type = short_type(&type_url),
                version,
                error,
                "envoy REJECTED config; it keeps serving its last accepted one"
            );
        }
    }
    true
}

/// A short name for logs: `Cluster`, `RouteConfiguration`, ...
pub fn short_type(type_url: &str) -> &str {
    type_url.rsplit('.').next().unwrap_or(type_url)
}

impl Ads {
    /// One stream of either protocol: its own task, logged when it ends.
    fn serve<P: Protocol>(
        &self,
        request: Request<Streaming<P::Request>>,
    ) -> ResponseStream<P::Response> {
        let peer = request.remote_addr();
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(16);
        let snapshots = self.snapshots.clone();
        let registry = self.registry.clone();
        tokio::spawn(async move {
            let id = registry.open_stream();
            let node = serve_stream::<P>(id, inbound, snapshots, &registry, &tx).await;
            info!(stream = id, node, peer = ?peer, "envoy disconnected");
            registry.close_stream(id);
        });
        Box::pin(ReceiverStream::new(rx))
    }
}

#[tonic::async_trait]
impl AggregatedDiscoveryService for Ads {
    type StreamAggregatedResourcesStream = ResponseStream<DiscoveryResponse>;
    type DeltaAggregatedResourcesStream = ResponseStream<DeltaDiscoveryResponse>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        Ok(Response::new(self.serve::<Stream>(request)))
    }

    async fn delta_aggregated_resources(
        &self,
        request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        Ok(Response::new(self.serve::<DeltaStream>(request)))
    }
}
