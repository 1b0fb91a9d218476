//! Port-forward sessions over SPDY (`portforward.k8s.io`), as the
//! kubelet's `httpStreamHandler`: for each forwarded connection kubectl
//! opens an `error` and a `data` stream carrying the same `port` and
//! `requestid` headers; once both are there, the data stream is connected
//! to the in-pod server ([`super::pod_ports`]). When that server is done,
//! both streams are half-closed. Errors go to the error stream as text.

use std::collections::HashMap;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::pod_ports;
use super::remote_command::LINGER;
use super::shutdown_signal;
use super::spdy::{Connection, FrameWriter, IncomingStream, frame::rst};

/// The SPDY stream protocol of port-forward.
pub const PROTOCOL: &str = "portforward.k8s.io";
/// The WebSocket sub-protocol that tunnels it (kubectl ≥ 1.31).
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// How long a session ended by server shutdown waits for the client.
pub const SHUTDOWN_LINGER: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Debug, Default)]
struct Pair {
    error: Option<IncomingStream>,
    data: Option<IncomingStream>,
}

/// Validates a stream's headers (the kubelet's checks and messages).
fn check(stream: &IncomingStream) -> Result<(u16, &str), String> {
    let port = stream
        .header("port")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| "\"port\" header is required".to_string())?;
    let port: u16 = port
        .parse()
        .map_err(|e| format!("unable to parse {port:?} as a port: {e}"))?;
    if port < 1 {
        return Err(format!("port \"{port}\" must be > 0"));
    }
    match stream.header("streamtype").unwrap_or("") {
        "" => Err("\"streamType\" header is required".into()),
        t @ ("error" | "data") => Ok((port, t)),
        t => Err(format!("invalid stream type {t:?}")),
    }
}

/// The pair a stream belongs to: its `requestid`, or for old clients the
/// id derived from stream numbering (error = n, data = n + 2).
fn request_id(stream: &IncomingStream, kind: &str) -> String {
    match stream.header("requestid").filter(|r| !r.is_empty()) {
        Some(r) => r.to_string(),
        None if kind == "data" => stream.id.saturating_sub(2).to_string(),
        None => stream.id.to_string(),
    }
}

/// Serves port-forward for `pod` over an upgraded SPDY connection (or a
/// WebSocket tunnel's byte stream).
pub async fn serve<T>(io: T, pod: String, shutdown: watch::Receiver<bool>)
where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let mut conn = Connection::serve(io);
    let writer = conn.writer();
    let stopped = shutdown_signal(shutdown);
    tokio::pin!(stopped);
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut forwards = JoinSet::new();
    let mut linger = LINGER;
    loop {
        tokio::select! {
            s = conn.next_stream() => {
                let Some(stream) = s else { break };
                let kind = match check(&stream) {
                    Ok((_, kind)) => kind.to_string(),
                    Err(e) => {
                        tracing::debug!(error = %e, "port-forward stream rejected");
                        writer.reset(stream.id, rst::CANCEL);
                        continue;
                    }
                };
                writer.reply(stream.id);
                let id = request_id(&stream, &kind);
                let pair = pairs.entry(id.clone()).or_default();
                let slot = if kind == "error" { &mut pair.error } else { &mut pair.data };
                if slot.is_some() {
                    writer.data(stream.id, Bytes::from(format!(
                        "error processing stream for request {id}: {kind} stream already assigned"
                    )));
                    writer.fin(stream.id);
                    continue;
                }
                *slot = Some(stream);
                if pair.error.is_some() && pair.data.is_some() {
                    let pair = pairs.remove(&id).expect("present");
                    forwards.spawn(forward(pair, writer.clone(), pod.clone()));
                }
            }
            Some(_) = forwards.join_next(), if !forwards.is_empty() => {}
            _ = &mut stopped => {
                linger = SHUTDOWN_LINGER;
                break;
            }
        }
    }
    // Abort forwards still running, then close.
    drop(forwards);
    conn.finish(linger).await;
}

async fn forward(pair: Pair, writer: FrameWriter, pod: String) {
    let (Some(error), Some(data)) = (pair.error, pair.data) else {
        return;
    };
    let port = data
        .header("port")
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(0);
    let data_id = data.id;
    let out = writer.clone();
    pod_ports::serve(port, &pod, data.data, move |bytes| out.data(data_id, bytes)).await;
    writer.fin(data_id);
    writer.fin(error.id);
}

#[cfg(test)]
mod tests;
