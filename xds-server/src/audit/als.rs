//! Envoy's gRPC access log service (`envoy.service.accesslog.v3`), served
//! on the xDS port: each Envoy streams its audit entries here (configured
//! by `translate::access_log` when the gateway has an audit store), and
//! each becomes a record for the pipeline.

use std::sync::Arc;

use envoy_types::pb::envoy::service::accesslog::v3::access_log_service_server::{
    AccessLogService, AccessLogServiceServer,
};
use envoy_types::pb::envoy::service::accesslog::v3::stream_access_logs_message::LogEntries;
use envoy_types::pb::envoy::service::accesslog::v3::{
    StreamAccessLogsMessage, StreamAccessLogsResponse,
};
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, warn};

use super::envoy_entry;
use super::pipeline::AuditPipeline;

/// The service.
pub struct AuditLogReceiver {
    pipeline: Arc<AuditPipeline>,
}

impl AuditLogReceiver {
    /// Records go to `pipeline`.
    pub fn server(pipeline: Arc<AuditPipeline>) -> AccessLogServiceServer<AuditLogReceiver> {
        AccessLogServiceServer::new(AuditLogReceiver { pipeline })
    }
}

#[tonic::async_trait]
impl AccessLogService for AuditLogReceiver {
    async fn stream_access_logs(
        &self,
        request: Request<Streaming<StreamAccessLogsMessage>>,
    ) -> Result<Response<StreamAccessLogsResponse>, Status> {
        let mut stream = request.into_inner();
        let mut node = String::new();
        while let Some(message) = stream.message().await? {
            if let Some(id) = message.identifier.and_then(|i| i.node) {
                node = id.id;
                debug!(node, "an Envoy streams its audit log");
            }
            let Some(LogEntries::HttpLogs(logs)) = message.log_entries else {
                continue;
            };
            for entry in &logs.log_entry {
                match envoy_entry::record(entry) {
                    Ok(record) => self.pipeline.submit(record),
                    Err(e) => {
                        self.pipeline.invalid();
                        warn!(
                            node,
                            error = crate::error_chain::error_chain(&e),
                            "audit: an access log entry is not an audit record"
                        );
                    }
                }
            }
        }
        Ok(Response::new(StreamAccessLogsResponse {}))
    }
}
