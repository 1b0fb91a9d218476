//! Port-forward sessions over SPDY and over the WebSocket tunnel, and the
//! in-pod servers.

use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::super::pod_ports::respond;
use super::super::spdy::frame::Frame;
use super::super::testing::{SpdyClient, T, stream_data};
use super::super::tunnel;
use super::serve;

fn never() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    std::mem::forget(tx);
    rx
}

async fn open_pair<IO>(
    c: &mut SpdyClient<IO>,
    error: u32,
    data: u32,
    port: &str,
    request: Option<&str>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    for (id, kind) in [(error, "error"), (data, "data")] {
        let mut h = vec![("streamtype", kind), ("port", port)];
        if let Some(r) = request {
            h.push(("requestid", r));
        }
        c.open(id, &h).await;
        assert!(
            matches!(c.recv().await, Some(Frame::SynReply { stream_id, .. }) if stream_id == id)
        );
    }
}

/// Reads frames until both streams of a pair are finished.
async fn until_finished<IO>(c: &mut SpdyClient<IO>, error: u32, data: u32) -> Vec<Frame>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut frames = Vec::new();
    while !(stream_data(&frames, error).1 && stream_data(&frames, data).1) {
        frames.push(c.recv().await.expect("connection open"));
    }
    frames
}

async fn exercise<IO>(mut c: SpdyClient<IO>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    // HTTP on port 80.
    open_pair(&mut c, 1, 3, "80", Some("0")).await;
    c.data(3, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", false)
        .await;
    let frames = until_finished(&mut c, 1, 3).await;
    let (body, _) = stream_data(&frames, 3);
    let body = String::from_utf8(body).unwrap();
    assert!(body.starts_with("HTTP/1.1 200 OK\r\n"), "{body}");
    assert!(body.ends_with("\r\n\r\nhello from web-0\n"), "{body}");
    assert_eq!(stream_data(&frames, 1), (vec![], true));
    // Echo elsewhere, until the client half-closes.
    open_pair(&mut c, 5, 7, "5432", Some("1")).await;
    c.data(7, b"ping ", false).await;
    c.data(7, b"pong", true).await;
    let frames = until_finished(&mut c, 5, 7).await;
    assert_eq!(stream_data(&frames, 7), (b"ping pong".to_vec(), true));
    // Old clients without requestid pair error n with data n + 2.
    open_pair(&mut c, 9, 11, "7", None).await;
    c.data(11, b"old", true).await;
    let frames = until_finished(&mut c, 9, 11).await;
    assert_eq!(stream_data(&frames, 11).0, b"old");
    // Bad headers are reset.
    c.open(13, &[("streamtype", "data")]).await;
    assert!(matches!(
        c.recv().await,
        Some(Frame::RstStream { stream_id: 13, .. })
    ));
    c.open(15, &[("streamtype", "bogus"), ("port", "80")]).await;
    assert!(matches!(
        c.recv().await,
        Some(Frame::RstStream { stream_id: 15, .. })
    ));
    c.open(17, &[("streamtype", "data"), ("port", "0")]).await;
    assert!(matches!(
        c.recv().await,
        Some(Frame::RstStream { stream_id: 17, .. })
    ));
}

#[tokio::test]
async fn spdy_port_forward() {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(serve(server_io, "web-0".into(), never()));
    exercise(SpdyClient::new(client_io)).await;
    tokio::time::timeout(T, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn port_forward_tunneled_in_websocket_messages() {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move {
        let ws = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
        serve(tunnel::bytes_of(ws), "web-0".into(), never()).await;
    });
    let ws = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
    // The client side unwraps the same way kubectl's TunnelingConnection does.
    exercise(SpdyClient::new(tunnel::bytes_of(ws))).await;
    tokio::time::timeout(T, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_ends_the_session() {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(serve(server_io, "web-0".into(), stopped));
    let mut c = SpdyClient::new(client_io);
    open_pair(&mut c, 1, 3, "9000", Some("0")).await;
    stop.send(true).unwrap();
    // GOAWAY, then the server closes its side, and ends without waiting
    // long for the client.
    let frames = c.until_end().await;
    assert!(
        frames.iter().any(|f| matches!(f, Frame::GoAway { .. })),
        "{frames:?}"
    );
    tokio::time::timeout(super::SHUTDOWN_LINGER * 4, server)
        .await
        .unwrap()
        .unwrap();
    drop(c);
}

#[test]
fn http_answers() {
    let ok = respond("p", "GET / HTTP/1.1\r\nHost: x");
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(ok.contains("Content-Length: 13\r\n"));
    assert!(ok.ends_with("hello from p\n"));
    let head = respond("p", "HEAD / HTTP/1.1");
    assert!(head.contains("Content-Length: 13\r\n") && head.ends_with("\r\n\r\n"));
    assert!(respond("p", "GET /x HTTP/1.1").starts_with("HTTP/1.1 404 Not Found"));
    assert!(respond("p", "POST / HTTP/1.1").starts_with("HTTP/1.1 405"));
}
