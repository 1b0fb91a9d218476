//! The load client: K keep-alive connections (hyper 1; HTTP/1.1 over plain
//! TCP or TLS, or HTTP/2 over TLS like kubectl), each sending one GET after
//! another (one stream at a time on HTTP/2) for a fixed time or until the
//! token feed runs out, recording every request's latency. All connections
//! are open before the clock starts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST, HeaderValue};
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::BenchError;

/// One request may take at most this long (a stuck request is a failed
/// run, not a slow one).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach the server.
#[derive(Clone)]
pub enum Transport {
    /// Plaintext HTTP/1.1.
    Plain,
    /// HTTP/1.1 over TLS.
    Tls {
        /// Trust (and client certificate, if any).
        config: Arc<rustls::ClientConfig>,
        /// The name to verify the server's certificate against.
        server_name: ServerName<'static>,
    },
    /// HTTP/2 over TLS (ALPN `h2`), as kubectl talks to a server.
    H2Tls {
        /// Trust (and client certificate, if any); its ALPN must offer `h2`.
        config: Arc<rustls::ClientConfig>,
        /// The name to verify the server's certificate against.
        server_name: ServerName<'static>,
    },
}

/// One connection's request sender.
enum Sender {
    Http1(http1::SendRequest<Empty<Bytes>>),
    Http2(http2::SendRequest<Empty<Bytes>>),
}

impl Sender {
    async fn send(
        &mut self,
        request: http::Request<Empty<Bytes>>,
    ) -> hyper::Result<http::Response<hyper::body::Incoming>> {
        match self {
            Sender::Http1(s) => {
                s.ready().await?;
                s.send_request(request).await
            }
            Sender::Http2(s) => {
                s.ready().await?;
                s.send_request(request).await
            }
        }
    }
}

/// Which `Authorization` each request carries.
#[derive(Clone)]
pub enum TokenFeed {
    /// None.
    None,
    /// The same bearer token every time (a client's normal life).
    Same(HeaderValue),
    /// Each token exactly once, shared by all connections; the run ends
    /// when they are used up.
    EachOnce(Arc<[HeaderValue]>),
}

impl TokenFeed {
    /// `Bearer <token>` for one token.
    pub fn same(token: &str) -> Result<TokenFeed, BenchError> {
        Ok(TokenFeed::Same(bearer(token)?))
    }

    /// Each of `tokens` once.
    pub fn each_once(tokens: &[String]) -> Result<TokenFeed, BenchError> {
        let values = tokens
            .iter()
            .map(|t| bearer(t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TokenFeed::EachOnce(values.into()))
    }
}

fn bearer(token: &str) -> Result<HeaderValue, BenchError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|e| BenchError::Client(format!("token is not a header value: {e}")))?;
    value.set_sensitive(true);
    Ok(value)
}

/// What to send where.
#[derive(Clone)]
pub struct LoadPlan {
    /// For error messages.
    pub label: String,
    /// The server.
    pub addr: SocketAddr,
    /// Plain or TLS.
    pub transport: Transport,
    /// The request path (and query).
    pub path: String,
    /// The `Host` header.
    pub host: String,
    /// Tokens.
    pub tokens: TokenFeed,
    /// Concurrent connections (each with one request in flight).
    pub connections: usize,
    /// Stop sending after this long (the feed may end the run sooner).
    pub duration: Duration,
    /// Every response must have this status.
    pub expect_status: u16,
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct LoadOutcome {
    /// Completed requests.
    pub requests: u64,
    /// From the first request to the last response.
    pub wall: Duration,
    /// Every request's latency in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Response body bytes received, in total.
    pub body_bytes: u64,
}

impl LoadOutcome {
    /// Completed requests per second of wall time.
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Run `plan` on the current tokio runtime: open, then drive.
pub async fn run(plan: &LoadPlan) -> Result<LoadOutcome, BenchError> {
    Connections::open(plan).await?.drive(plan).await
}

/// `plan.connections` open connections, ready to drive (opening them is
/// kept out of the measured window).
pub struct Connections {
    senders: Vec<Sender>,
}

impl Connections {
    /// Connect (and handshake TLS) every connection.
    pub async fn open(plan: &LoadPlan) -> Result<Connections, BenchError> {
        let mut senders = Vec::with_capacity(plan.connections);
        for _ in 0..plan.connections.max(1) {
            senders.push(connect(plan).await?);
        }
        Ok(Connections { senders })
    }

    /// Send requests on every connection until `plan.duration` has passed
    /// or the token feed is used up; then close them.
    pub async fn drive(self, plan: &LoadPlan) -> Result<LoadOutcome, BenchError> {
        let next_token = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let end = start + plan.duration;
        let mut workers = tokio::task::JoinSet::new();
        for sender in self.senders {
            let plan = plan.clone();
            let next_token = next_token.clone();
            workers.spawn(async move { drive(sender, &plan, &next_token, end).await });
        }
        let mut latencies = Vec::new();
        let mut body_bytes = 0;
        let mut first_error = None;
        while let Some(joined) = workers.join_next().await {
            match joined {
                Ok(Ok((mut l, bytes))) => {
                    latencies.append(&mut l);
                    body_bytes += bytes;
                }
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    first_error.get_or_insert(BenchError::Client(format!("worker: {e}")));
                }
            }
        }
        let wall = start.elapsed();
        if let Some(e) = first_error {
            return Err(e);
        }
        latencies.sort_unstable();
        Ok(LoadOutcome {
            requests: latencies.len() as u64,
            wall,
            latencies_us: latencies,
            body_bytes,
        })
    }
}

/// One connection's loop; its latencies and body bytes.
async fn drive(
    mut sender: Sender,
    plan: &LoadPlan,
    next_token: &AtomicUsize,
    end: Instant,
) -> Result<(Vec<u32>, u64), BenchError> {
    let host = HeaderValue::from_str(&plan.host)
        .map_err(|e| BenchError::Client(format!("host {:?}: {e}", plan.host)))?;
    let h2_uri = format!("https://{}{}", plan.host, plan.path);
    let mut latencies = Vec::with_capacity(4096);
    let mut body_bytes = 0u64;
    loop {
        if Instant::now() >= end {
            break;
        }
        let token = match &plan.tokens {
            TokenFeed::None => None,
            TokenFeed::Same(t) => Some(t.clone()),
            TokenFeed::EachOnce(all) => match all.get(next_token.fetch_add(1, Ordering::Relaxed)) {
                Some(t) => Some(t.clone()),
                None => break,
            },
        };
        // HTTP/2 carries the authority in the URI (`:authority`), HTTP/1.1 in `Host`
        let request = match &plan.transport {
            Transport::H2Tls { .. } => http::Request::get(h2_uri.as_str()),
            _ => http::Request::get(plan.path.as_str()).header(HOST, host.clone()),
        };
        let mut request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| BenchError::Client(format!("request: {e}")))?;
        if let Some(token) = token {
            request.headers_mut().insert(AUTHORIZATION, token);
        }
        let client = |e: &dyn std::fmt::Display| BenchError::Client(format!("{}: {e}", plan.label));
        let started = Instant::now();
        let response = async {
            let response = sender.send(request).await.map_err(|e| client(&e))?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| client(&e))?
                .to_bytes();
            Ok::<_, BenchError>((status, body))
        };
        let (status, body) = tokio::time::timeout(REQUEST_TIMEOUT, response)
            .await
            .map_err(|_| client(&"request timed out"))??;
        latencies.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        body_bytes += body.len() as u64;
        if status != plan.expect_status {
            return Err(BenchError::UnexpectedStatus {
                scenario: plan.label.clone(),
                status,
                expected: plan.expect_status,
                body: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
            });
        }
    }
    Ok((latencies, body_bytes))
}

async fn connect(plan: &LoadPlan) -> Result<Sender, BenchError> {
    let client = |what: &str, e: &dyn std::fmt::Display| {
        BenchError::Client(format!("{}: {what} {}: {e}", plan.label, plan.addr))
    };
    let tcp = TcpStream::connect(plan.addr)
        .await
        .map_err(|e| client("connect", &e))?;
    tcp.set_nodelay(true).map_err(|e| client("nodelay", &e))?;
    match &plan.transport {
        Transport::Plain => handshake(TokioIo::new(tcp), plan).await,
        Transport::Tls {
            config,
            server_name,
        } => {
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(server_name.clone(), tcp)
                .await
                .map_err(|e| client("TLS handshake with", &e))?;
            handshake(TokioIo::new(tls), plan).await
        }
        Transport::H2Tls {
            config,
            server_name,
        } => {
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(server_name.clone(), tcp)
                .await
                .map_err(|e| client("TLS handshake with", &e))?;
            let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .map_err(|e| {
                    BenchError::Client(format!("{}: HTTP/2 handshake: {e}", plan.label))
                })?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok(Sender::Http2(sender))
        }
    }
}

async fn handshake<IO>(io: IO, plan: &LoadPlan) -> Result<Sender, BenchError>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(io)
        .await
        .map_err(|e| BenchError::Client(format!("{}: HTTP/1.1 handshake: {e}", plan.label)))?;
    // Ends when the sender is dropped (the worker is done) or the server
    // closes the connection.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(Sender::Http1(sender))
}

#[cfg(test)]
mod tests;
