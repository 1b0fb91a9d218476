//! An HTTPS server for one document (a kubeconfig served to a gateway, like
//! multikube's remote kubeconfig): `ETag` and `Last-Modified` on every
//! answer, `304 Not Modified` to a matching `If-None-Match`, an answer
//! that can be switched to an error, and a record of what was asked.
//! Binds 127.0.0.1 on a free port and stops when dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::pki::Ca;

/// One request that reached the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    /// The `If-None-Match` it carried.
    pub if_none_match: Option<String>,
    /// The `If-Modified-Since` it carried.
    pub if_modified_since: Option<String>,
    /// The `Authorization` it carried.
    pub authorization: Option<String>,
    /// The status it got.
    pub status: u16,
}

struct Document {
    body: String,
    /// Bumped with each new body: `Last-Modified` moves with it.
    revision: u64,
    /// Answer this status (and no document) instead, while set.
    failing: Option<u16>,
    asked: Vec<Asked>,
}

/// The running server.
pub struct ConfigServer {
    document: Arc<Mutex<Document>>,
    addr: SocketAddr,
    ca: Ca,
    path: String,
    accept: tokio::task::JoinHandle<()>,
}

fn lock(document: &Mutex<Document>) -> MutexGuard<'_, Document> {
    document.lock().unwrap_or_else(|e| e.into_inner())
}

/// The ETag of a body: its SHA-256, quoted.
pub fn etag_of(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

impl ConfigServer {
    /// Serve `body` at `path` (e.g. `/clusters.yaml`) over TLS, with a
    /// certificate for 127.0.0.1 from a CA of its own.
    pub async fn start(path: &str, body: &str) -> std::io::Result<ConfigServer> {
        let ca = Ca::new("kubeplex test config server CA");
        let serving = ca.server_cert(&["127.0.0.1", "localhost"]);
        let tls = crate::apiserver::tls::server_config(&serving, None)?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let document = Arc::new(Mutex::new(Document {
            body: body.to_string(),
            revision: 1,
            failing: None,
            asked: Vec::new(),
        }));
        let accept = tokio::spawn(accept_loop(
            listener,
            TlsAcceptor::from(Arc::new(tls)),
            document.clone(),
            path.to_string(),
        ));
        Ok(ConfigServer {
            document,
            addr,
            ca,
            path: path.to_string(),
            accept,
        })
    }

    /// `https://127.0.0.1:<port><path>`.
    pub fn url(&self) -> String {
        format!("https://{}{}", self.addr, self.path)
    }

    /// The CA that signed its certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        self.ca.cert_pem()
    }

    /// Serve `body` from now on.
    pub fn set_body(&self, body: &str) {
        let mut d = lock(&self.document);
        d.body = body.to_string();
        d.revision += 1;
    }

    /// Answer `status` to every request (Some), or serve again (None).
    pub fn set_failing(&self, status: Option<u16>) {
        lock(&self.document).failing = status;
    }

    /// Every request so far, oldest first.
    pub fn asked(&self) -> Vec<Asked> {
        lock(&self.document).asked.clone()
    }
}

impl Drop for ConfigServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    document: Arc<Mutex<Document>>,
    path: String,
) {
    // Dropping the set (when the task is aborted) ends every connection.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let (acceptor, document, path) = (acceptor.clone(), document.clone(), path.clone());
                connections.spawn(async move {
                    let Ok(Ok(tls)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        let answer = answer(&document, &path, &req);
                        async move { Ok::<_, std::convert::Infallible>(answer) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn answer<B>(
    document: &Mutex<Document>,
    path: &str,
    req: &hyper::Request<B>,
) -> hyper::Response<Full<bytes::Bytes>> {
    let header = |name: http::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let mut d = lock(document);
    let etag = etag_of(&d.body);
    // Stable per revision, in the format HTTP dates have.
    let last_modified = format!(
        "Sun, 06 Nov 1994 08:{:02}:{:02} GMT",
        d.revision / 60 % 60,
        d.revision % 60
    );
    let if_none_match = header(http::header::IF_NONE_MATCH);
    let (status, body) = if req.uri().path() != path {
        (404, String::new())
    } else if let Some(status) = d.failing {
        (status, "failing on purpose\n".to_string())
    } else if if_none_match.as_deref() == Some(etag.as_str()) {
        (304, String::new())
    } else {
        (200, d.body.clone())
    };
    d.asked.push(Asked {
        if_none_match,
        if_modified_since: header(http::header::IF_MODIFIED_SINCE),
        authorization: header(http::header::AUTHORIZATION),
        status,
    });
    let mut response = hyper::Response::builder().status(status);
    if status == 200 || status == 304 {
        response = response
            .header(http::header::ETAG, etag)
            .header(http::header::LAST_MODIFIED, last_modified);
    }
    response
        .body(Full::new(bytes::Bytes::from(body)))
        .expect("a valid response")
}
