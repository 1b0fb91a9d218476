//! Client load through the Service: workers each keep one HTTP/2
//! connection (TLS, like kubectl) and send one request after another on
//! it. A connection ends when its Envoy drains it (GOAWAY) or dies; the
//! worker then opens a new one through the Service, which picks a ready
//! Envoy. Like Go's HTTP/2 client (kubectl, client-go), a request the
//! connection refused before sending it (GOAWAY came first) is sent again
//! on the next connection: that is not a failure. A request that was sent
//! and got no answer, a connection that could not be opened, or an answer
//! other than 200 is a failed request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Counts of one phase (or since the start).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests finished (succeeded + failed).
    pub sent: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Requests a draining connection refused before sending them, sent
    /// again on a new connection (not failures).
    pub resent_unsent: u64,
    /// Connections opened through the Service.
    pub connections: u64,
}

impl std::ops::Sub for Counts {
    type Output = Counts;
    fn sub(self, o: Counts) -> Counts {
        Counts {
            sent: self.sent - o.sent,
            succeeded: self.succeeded - o.succeeded,
            failed: self.failed - o.failed,
            resent_unsent: self.resent_unsent - o.resent_unsent,
            connections: self.connections - o.connections,
        }
    }
}

#[derive(Default)]
struct Shared {
    succeeded: AtomicU64,
    failed: AtomicU64,
    resent_unsent: AtomicU64,
    connections: AtomicU64,
    stop: AtomicBool,
    /// When each failed request started, and why it failed.
    failures: Mutex<Vec<(Instant, String)>>,
}

/// What to send, where.
#[derive(Clone)]
pub struct Target {
    pub service: SocketAddr,
    pub tls: Arc<rustls::ClientConfig>,
    pub token: String,
    pub path: String,
}

/// The running load.
pub struct Load {
    shared: Arc<Shared>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Start `workers` workers against `target`.
    pub fn start(target: Target, workers: usize) -> Load {
        let shared = Arc::new(Shared::default());
        let workers = (0..workers)
            .map(|_| tokio::spawn(work(target.clone(), shared.clone())))
            .collect();
        Load { shared, workers }
    }

    /// Counts since the start.
    pub fn counts(&self) -> Counts {
        let s = &self.shared;
        let (succeeded, failed) = (
            s.succeeded.load(Ordering::Relaxed),
            s.failed.load(Ordering::Relaxed),
        );
        Counts {
            sent: succeeded + failed,
            succeeded,
            failed,
            resent_unsent: s.resent_unsent.load(Ordering::Relaxed),
            connections: s.connections.load(Ordering::Relaxed),
        }
    }

    /// How many failures are recorded so far: a mark for
    /// [`Load::failures_after`].
    pub fn failures_recorded(&self) -> usize {
        self.shared.failures.lock().unwrap().len()
    }

    /// Failures recorded after `mark` (in the order they failed), with how
    /// long after `since` each started (zero for one that started before
    /// it: in flight when the phase began) and why it failed.
    pub fn failures_after(&self, mark: usize, since: Instant) -> Vec<(Duration, String)> {
        let failures = self.shared.failures.lock().unwrap();
        failures[mark.min(failures.len())..]
            .iter()
            .map(|(at, why)| (at.saturating_duration_since(since), why.clone()))
            .collect()
    }

    /// Wait until `more` requests beyond those counted now have succeeded.
    pub async fn wait_succeeded(&self, more: u64, timeout: Duration) {
        let target = self.counts().succeeded + more;
        kubeplex_test_support::wait_for_async(
            format_args!("{more} more requests to succeed"),
            timeout,
            || self.counts().succeeded >= target,
        )
        .await;
    }

    /// Stop every worker (each finishes its request in flight).
    pub async fn stop(self) -> Counts {
        self.shared.stop.store(true, Ordering::Relaxed);
        let Load { shared, workers } = self;
        for w in workers {
            let _ = w.await;
        }
        Load {
            shared,
            workers: Vec::new(),
        }
        .counts()
    }
}

async fn work(target: Target, shared: Arc<Shared>) {
    let mut connection: Option<SendRequest<Empty<Bytes>>> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let mut sender = match connection.take() {
            Some(s) if !s.is_closed() => s,
            _ => match connect(&target).await {
                Ok(s) => {
                    shared.connections.fetch_add(1, Ordering::Relaxed);
                    s
                }
                Err(e) => {
                    fail(&shared, started, format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        if sender.ready().await.is_err() {
            continue; // closed before this request was sent: a new connection
        }
        match send(&mut sender, &target).await {
            Outcome::Answered(200) => {
                shared.succeeded.fetch_add(1, Ordering::Relaxed);
                connection = Some(sender);
            }
            Outcome::Answered(code) => {
                fail(&shared, started, format!("HTTP {code}"));
                connection = Some(sender);
            }
            Outcome::Refused => {
                shared.resent_unsent.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Lost(e) => fail(&shared, started, e),
        }
    }
}

fn fail(shared: &Shared, started: Instant, why: String) {
    shared.failed.fetch_add(1, Ordering::Relaxed);
    shared.failures.lock().unwrap().push((started, why));
}

enum Outcome {
    Answered(u16),
    /// The connection refused it before it left (GOAWAY, closing).
    Refused,
    /// Sent, and the answer never came whole.
    Lost(String),
}

async fn send(sender: &mut SendRequest<Empty<Bytes>>, target: &Target) -> Outcome {
    let request = hyper::Request::get(format!("https://localhost{}", target.path))
        .header("authorization", format!("Bearer {}", target.token))
        .body(Empty::new())
        .expect("a valid request");
    let response = match sender.try_send_request(request).await {
        Ok(r) => r,
        Err(mut e) => {
            if e.take_message().is_some() {
                return Outcome::Refused;
            }
            return Outcome::Lost(format!("request: {}", e.error()));
        }
    };
    let code = response.status().as_u16();
    match response.into_body().collect().await {
        Ok(_) => Outcome::Answered(code),
        Err(e) => Outcome::Lost(format!("response body: {e}")),
    }
}

/// A new HTTP/2 connection through the Service (TLS, ALPN h2).
pub async fn connect(target: &Target) -> Result<SendRequest<Empty<Bytes>>, String> {
    let tcp = tokio::net::TcpStream::connect(target.service)
        .await
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a DNS name");
    let tls = tokio_rustls::TlsConnector::from(target.tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .map_err(|e| format!("HTTP/2: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

/// The gateway's client TLS settings: its CA, HTTP/2 only.
pub fn tls(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    let config =
        kubeplex_tests::bench::tls_client::client_config(ca_pem, None).expect("TLS config");
    let mut config = (*config).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}
