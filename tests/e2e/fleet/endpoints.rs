//! The kubelet's readiness probe and the endpoints controller, for the
//! Service in front of the Envoys: every 100 ms each Envoy pod's `/ready`
//! (on its probe port) is asked, and the Service's endpoints become the
//! gateway listeners of the pods that answered 200. A pod that fails once
//! leaves (the install: every 5 s, twice, hence its 15 s preStop wait).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kubeplex_tests::service::Service;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How often readiness is asked.
pub const PERIOD: Duration = Duration::from_millis(100);

/// A pod the prober asks: its probe port and its gateway listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pod {
    pub probe_port: u16,
    pub gateway: SocketAddr,
}

/// What the controller works from; the test adds and removes pods.
#[derive(Debug, Default)]
pub struct Pods {
    pub pods: Vec<Pod>,
    /// While set, the Service sends new connections only here (to put a
    /// kubectl watch on a chosen Envoy).
    pub pinned: Option<SocketAddr>,
}

/// Keep `service`'s endpoints = the ready pods, until the task is aborted.
pub fn spawn(service: Arc<Service>, pods: Arc<Mutex<Pods>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let (list, pinned) = {
                let p = pods.lock().unwrap();
                (p.pods.clone(), p.pinned)
            };
            let mut ready = Vec::new();
            for pod in list {
                if is_ready(pod.probe_port).await {
                    ready.push(pod.gateway);
                }
            }
            match pinned {
                Some(pin) => service.set_endpoints(vec![pin]),
                None => service.set_endpoints(ready),
            }
            tokio::time::sleep(PERIOD).await;
        }
    })
}

/// `GET /ready` → 200 within 500 ms.
pub async fn is_ready(probe_port: u16) -> bool {
    let ask = async {
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", probe_port)).await?;
        conn.write_all(b"GET /ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut head = [0u8; 12];
        conn.read_exact(&mut head).await?;
        std::io::Result::Ok(&head == b"HTTP/1.1 200")
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), ask).await,
        Ok(Ok(true))
    )
}
