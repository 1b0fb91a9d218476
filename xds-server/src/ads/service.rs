//! The tonic ADS service: one task per Envoy stream, driving a
//! [`protocol::Stream`] from inbound requests and snapshot changes.

use std::pin::Pin;
use std::sync::Arc;

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
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(16);
        let mut snapshots = self.snapshots.clone();
        let registry = self.registry.clone();
        tokio::spawn(async move {
            let id = registry.open_stream();
            let mut stream = Stream::new();
            loop {
                let events = tokio::select! {
                    message = inbound.message() => match message {
                        Ok(Some(req)) => {
                            let snapshot = snapshots.borrow().clone();
                            stream.on_request(req, &snapshot)
                        }
                        Ok(None) => break,
                        Err(e) => {
                            debug!(stream = id, "ADS stream error: {e}");
                            break;
                        }
                    },
                    changed = snapshots.changed() => {
                        if changed.is_err() {
                            break; // control plane shutting down
                        }
                        let snapshot = snapshots.borrow_and_update().clone();
                        stream.on_snapshot(&snapshot)
                    }
                };
                let node = stream.node_id().unwrap_or("?").to_string();
                if stream.node_id().is_some() {
                    registry.update(id, &node, stream.status());
                }
                for event in events {
                    match event {
                        Event::Send(response) => {
                            debug!(
                                node,
                                r#type = short_type(&response.type_url),
                                version = response.version_info,
                                "push"
                            );
                            registry
                                .counters
                                .responses_sent
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if tx.send(Ok(response)).await.is_err() {
                                break;
                            }
                        }
                        Event::Ack { type_url, version } => {
                            registry
                                .counters
                                .acks
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
                            registry
                                .counters
                                .nacks
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            warn!(
                                node,
                                r#type = short_type(&type_url),
                                version,
                                error,
                                "envoy REJECTED config; it keeps serving its last accepted one"
                            );
                        }
                    }
                }
            }
            info!(stream = id, node = stream.node_id().unwrap_or("?"), peer = ?peer, "envoy disconnected");
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
