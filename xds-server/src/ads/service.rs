//! The tonic ADS service: one task per Envoy stream, driving a
//! [`protocol::Stream`] from inbound requests and snapshot changes.

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

use super::protocol::{Event, Stream};
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

/// The responses of one ADS stream go here.
type Outbound = mpsc::Sender<Result<DiscoveryResponse, Status>>;

/// Drive one stream until Envoy or the control plane ends it. Returns the
/// Envoy's node id (`?` if it never said).
async fn serve_stream(
    id: u64,
    mut inbound: Streaming<DiscoveryRequest>,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    registry: &Registry,
    tx: &Outbound,
) -> String {
    let mut stream = Stream::new();
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
async fn next_events(
    id: u64,
    stream: &mut Stream,
    inbound: &mut Streaming<DiscoveryRequest>,
    snapshots: &mut watch::Receiver<Arc<Snapshot>>,
) -> Option<Vec<Event>> {
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
async fn deliver(event: Event, node: &str, registry: &Registry, tx: &Outbound) -> bool {
    let counters = &registry.counters;
    match event {
        Event::Send(response) => {
            debug!(
                node,
                r#type = short_type(&response.type_url),
                version = response.version_info,
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

#[tonic::async_trait]
impl AggregatedDiscoveryService for Ads {
    type StreamAggregatedResourcesStream = ResponseStream<DiscoveryResponse>;
    type DeltaAggregatedResourcesStream = ResponseStream<DeltaDiscoveryResponse>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let peer = request.remote_addr();
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(16);
        let snapshots = self.snapshots.clone();
        let registry = self.registry.clone();
        tokio::spawn(async move {
            let id = registry.open_stream();
            let node = serve_stream(id, inbound, snapshots, &registry, &tx).await;
            info!(stream = id, node, peer = ?peer, "envoy disconnected");
            registry.close_stream(id);
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn delta_aggregated_resources(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        Err(Status::unimplemented(
            "kubeplex serves state-of-the-world ADS; configure Envoy's ads_config with api_type GRPC",
        ))
    }
}
