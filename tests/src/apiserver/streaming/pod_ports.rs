//! What listens inside a test pod, for port-forward: an HTTP/1.1 server on
//! ports 80 and 8080 answering `GET /` with `hello from <pod>`, and a TCP
//! echo on every other port. One forwarded connection each; the server
//! side ends the connection when it is done (HTTP: after one response).

use bytes::Bytes;
use tokio::sync::mpsc;

/// Ports served by the HTTP server.
pub const HTTP_PORTS: &[u16] = &[80, 8080];
/// Request heads larger than this get no answer.
const MAX_HEAD: usize = 64 * 1024;

/// The body of `GET /` on `pod`'s HTTP ports.
pub fn hello(pod: &str) -> String {
    format!("hello from {pod}\n")
}

/// Serves one connection to `port`: reads `input` (ends when the client
/// half-closes), writes with `send`; returns when the server side is done.
pub async fn serve(
    port: u16,
    pod: &str,
    mut input: mpsc::UnboundedReceiver<Bytes>,
    send: impl Fn(Bytes),
) {
    if HTTP_PORTS.contains(&port) {
        http(pod, &mut input, send).await;
    } else {
        while let Some(chunk) = input.recv().await {
            send(chunk);
        }
    }
}

/// The response to a request head.
pub fn respond(pod: &str, head: &str) -> String {
    let request_line = head.lines().next().unwrap_or("");
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body) = match (method, path) {
        ("GET" | "HEAD", "/") => ("200 OK", hello(pod)),
        ("GET" | "HEAD", _) => ("404 Not Found", "404 page not found\n".to_string()),
        _ => ("405 Method Not Allowed", "method not allowed\n".to_string()),
    };
    let body_out = if method == "HEAD" { "" } else { body.as_str() };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body_out}",
        body.len()
    )
}

async fn http(pod: &str, input: &mut mpsc::UnboundedReceiver<Bytes>, send: impl Fn(Bytes)) {
    let mut head = Vec::new();
    loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&head[..end]).into_owned();
            send(Bytes::from(respond(pod, &text)));
            return;
        }
        if head.len() > MAX_HEAD {
            return;
        }
        match input.recv().await {
            Some(chunk) => head.extend_from_slice(&chunk),
            None => return,
        }
    }
}
