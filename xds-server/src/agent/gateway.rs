//! The agent's calls to the gateway's agent API (through the gateway's
//! agent listener, ALPN `http/1.1`): enrollment, and the heartbeat session
//! whose open request body tells the gateway the agent is alive.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::AgentError;
use crate::agent_api::{CLUSTER_HEADER, CertificateResponse};
use crate::agent_registry::Heartbeat;
use crate::cluster_http::{self, Credentials};
use crate::sensitive::Sensitive;

/// Where the gateway's agent listener is and how to trust it.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// `host:port`.
    pub address: String,
    /// The name its certificate must carry (SNI too).
    pub server_name: String,
    /// PEM CA of its certificate; None = the system roots.
    pub ca_pem: Option<String>,
    /// The agent cluster.
    pub cluster: String,
    /// The pre-shared token.
    pub token: Sensitive<String>,
}

impl Gateway {
    fn credentials(&self) -> Credentials {
        Credentials {
            ca_pem: self.ca_pem.clone(),
            bearer_token: Some(self.token.expose().clone()),
            tls_server_name: Some(self.server_name.clone()),
            ..Default::default()
        }
    }

    fn url(&self, call: &str) -> String {
        format!("https://{}/kubeplex.agent.v1/{call}", self.address)
    }

    /// Exchange the token and a CSR for a certificate. A refusal (403,
    /// 400) is final; a transport error is worth retrying.
    pub async fn enroll(&self, csr_pem: &str) -> Result<CertificateResponse, AgentError> {
        let body = serde_json::json!({"cluster": self.cluster, "csr": csr_pem}).to_string();
        let reply = cluster_http::post_json(
            &self.url("certificate"),
            body.as_bytes(),
            &self.credentials(),
        )
        .await
        .map_err(AgentError::Unreachable)?;
        let text = String::from_utf8_lossy(&reply.body).into_owned();
        if reply.status != 200 {
            let reason = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or(text);
            return Err(AgentError::Refused {
                status: reply.status,
                reason,
            });
        }
        serde_json::from_str(&text).map_err(|e| AgentError::Refused {
            status: reply.status,
            reason: format!("unreadable answer: {e}"),
        })
    }

    /// Hold a heartbeat session: one line from `beat` every `interval`
    /// until the gateway (or the way to it) ends the request. Returns why.
    pub async fn session<F>(&self, interval: Duration, beat: F) -> Result<String, AgentError>
    where
        F: Fn() -> futures::future::BoxFuture<'static, Heartbeat> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
        let body = StreamBody::new(ReceiverStream::new(rx));
        let client = self
            .credentials()
            .streaming_client()
            .map_err(AgentError::Unreachable)?;
        let request = hyper::Request::post(self.url("session"))
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token.expose()),
            )
            .header(CLUSTER_HEADER, &self.cluster)
            .header(http::header::CONTENT_TYPE, "application/x-ndjson")
            .body(body)
            .map_err(|e| AgentError::Unreachable(cluster_http::HttpError::Request(e)))?;
        let beating = tokio::spawn(async move {
            loop {
                let heartbeat = beat().await;
                let line =
                    serde_json::json!({"version": heartbeat.version, "tunnel": heartbeat.tunnel})
                        .to_string()
                        + "\n";
                if tx.send(Ok(Frame::data(Bytes::from(line)))).await.is_err() {
                    return;
                }
                tokio::time::sleep(interval).await;
            }
        });
        let outcome = client.request(request).await;
        beating.abort();
        match outcome {
            Ok(response) => {
                let status = response.status();
                let body = response.into_body().collect().await.map(|b| b.to_bytes());
                let text = body
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                if status == 403 {
                    return Err(AgentError::Refused {
                        status: 403,
                        reason: text,
                    });
                }
                Ok(format!("the gateway ended the session ({status}): {text}"))
            }
            Err(e) => Ok(format!(
                "the session broke: {}",
                crate::error_chain::error_chain(&e)
            )),
        }
    }
}
