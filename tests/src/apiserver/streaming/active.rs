//! Counts open streaming sessions (exec, attach, port-forward, `logs -f`),
//! so tests can assert a stream was ended (by the client, a gateway, or the
//! server's shutdown).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// The counter (cheap to clone).
#[derive(Debug, Clone)]
pub struct ActiveStreams {
    count: Arc<watch::Sender<usize>>,
}

impl Default for ActiveStreams {
    fn default() -> Self {
        ActiveStreams {
            count: Arc::new(watch::channel(0).0),
        }
    }
}

/// One open session; leaving it (drop) decrements the count.
#[derive(Debug)]
pub struct ActiveGuard {
    count: Arc<watch::Sender<usize>>,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.count.send_modify(|n| *n -= 1);
    }
}

impl ActiveStreams {
    /// Counts a session until the guard drops.
    pub fn enter(&self) -> ActiveGuard {
        self.count.send_modify(|n| *n += 1);
        ActiveGuard {
            count: self.count.clone(),
        }
    }

    /// Sessions open now.
    pub fn get(&self) -> usize {
        *self.count.borrow()
    }

    /// Waits up to `timeout` for the count to satisfy `pred`; whether it
    /// did.
    pub async fn wait_for(&self, pred: impl Fn(usize) -> bool, timeout: Duration) -> bool {
        let mut rx = self.count.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|n| pred(*n)))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}
