//! A Kubernetes Service on loopback: one address whose every new TCP
//! connection goes to one of the endpoints that are in the Service now
//! (round robin), bytes copied both ways, the way kube-proxy spreads
//! connections over ready pods. Tests take endpoints out (a pod turning
//! unready, an API server going away) and cut the open connections (the
//! node or the process died).
//!
//! A connection that arrives while the Service has no endpoints, or whose
//! endpoint refuses it, is closed at once (kube-proxy rejects it).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The endpoints and what went through them.
#[derive(Debug, Default)]
struct Shared {
    endpoints: Mutex<Vec<SocketAddr>>,
    next: AtomicUsize,
    /// Connections handed to each endpoint so far.
    handed: Mutex<Vec<(SocketAddr, u64)>>,
    /// Connections closed because no endpoint took them.
    rejected: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running Service; it stops (and closes every connection) on drop.
#[derive(Debug)]
pub struct Service {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Bumped to end every open connection.
    cut: watch::Sender<u64>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Service {
    /// Listen on `bind` (port 0: any) and spread connections over
    /// `endpoints`. Runs on the current tokio runtime.
    pub async fn start(bind: SocketAddr, endpoints: Vec<SocketAddr>) -> std::io::Result<Service> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            endpoints: Mutex::new(endpoints),
            ..Shared::default()
        });
        let cut = watch::channel(0).0;
        let accept = tokio::spawn(accept_loop(listener, shared.clone(), cut.subscribe()));
        Ok(Service {
            addr,
            shared,
            cut,
            accept,
        })
    }

    /// The Service's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoints new connections go to from now on (open connections
    /// stay where they are, as with kube-proxy).
    pub fn set_endpoints(&self, endpoints: Vec<SocketAddr>) {
        *lock(&self.shared.endpoints) = endpoints;
    }

    /// The endpoints now.
    pub fn endpoints(&self) -> Vec<SocketAddr> {
        lock(&self.shared.endpoints).clone()
    }

    /// End every connection open now, as a dead peer would.
    pub fn cut_connections(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// Connections handed to each endpoint so far.
    pub fn handed(&self) -> Vec<(SocketAddr, u64)> {
        lock(&self.shared.handed).clone()
    }

    /// Connections closed because no endpoint took them.
    pub fn rejected(&self) -> u64 {
        self.shared.rejected.load(Ordering::Relaxed)
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, cut: watch::Receiver<u64>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let _ = client.set_nodelay(true);
        tokio::spawn(forward(client, shared.clone(), cut.clone()));
    }
}

/// The next endpoint in round-robin order, if there is one.
fn pick(shared: &Shared) -> Option<SocketAddr> {
    let endpoints = lock(&shared.endpoints);
    if endpoints.is_empty() {
        return None;
    }
    let i = shared.next.fetch_add(1, Ordering::Relaxed) % endpoints.len();
    Some(endpoints[i])
}

async fn forward(mut client: TcpStream, shared: Arc<Shared>, mut cut: watch::Receiver<u64>) {
    cut.mark_unchanged();
    let Some(endpoint) = pick(&shared) else {
        shared.rejected.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let Ok(mut upstream) = TcpStream::connect(endpoint).await else {
        shared.rejected.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let _ = upstream.set_nodelay(true);
    {
        let mut handed = lock(&shared.handed);
        match handed.iter_mut().find(|(a, _)| *a == endpoint) {
            Some((_, n)) => *n += 1,
            None => handed.push((endpoint, 1)),
        }
    }
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
        _ = cut.changed() => {}
    }
}

#[cfg(test)]
mod tests;
