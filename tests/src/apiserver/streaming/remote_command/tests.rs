//! exec sessions over SPDY and WebSocket, driven by in-memory clients.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::super::channels;
use super::super::process::Program;
use super::super::spdy::frame::Frame;
use super::super::testing::{SpdyClient, T, pod_context, stream_data};
use super::{Session, serve_spdy, serve_websocket};

fn session(argv: &[&str], stdin: bool, tty: bool) -> Session {
    Session {
        program: Program::Exec(argv.iter().map(|s| s.to_string()).collect()),
        ctx: pod_context(),
        stdin,
        stdout: true,
        stderr: !tty,
        tty,
    }
}

fn no_shutdown() -> tokio::sync::watch::Receiver<bool> {
    // The sender is leaked for the test's duration: never signalled.
    let (tx, rx) = tokio::sync::watch::channel(false);
    std::mem::forget(tx);
    rx
}

#[tokio::test]
async fn spdy_exec_streams_stdin_and_reports_v4_status() {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(serve_spdy(
        server_io,
        4,
        session(&["sh", "-c", "cat; echo oops >&2; exit 7"], true, false),
        no_shutdown(),
    ));
    let mut c = SpdyClient::new(client_io);
    // kubectl's order: error, stdin, stdout, stderr; each waits for a reply.
    for (id, kind) in [(1, "error"), (3, "stdin"), (5, "stdout"), (7, "stderr")] {
        c.open(id, &[("streamtype", kind)]).await;
        assert_eq!(
            c.recv().await,
            Some(Frame::SynReply {
                stream_id: id,
                flags: 0,
                headers: vec![]
            })
        );
    }
    c.data(3, b"piped ", false).await;
    c.data(3, b"input", true).await;
    let frames = c.until_end().await;
    assert_eq!(stream_data(&frames, 5), (b"piped input".to_vec(), true));
    assert_eq!(stream_data(&frames, 7), (b"oops\n".to_vec(), true));
    let (status, fin) = stream_data(&frames, 1);
    assert!(fin);
    let status: serde_json::Value = serde_json::from_slice(&status).unwrap();
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "7");
    assert!(matches!(
        frames.last(),
        Some(Frame::GoAway {
            last_good_stream_id: 7,
            ..
        })
    ));
    drop(c);
    tokio::time::timeout(T, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn spdy_v2_reports_failures_as_text_and_refuses_unknown_streams() {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(serve_spdy(
        server_io,
        2,
        session(&["false"], false, false),
        no_shutdown(),
    ));
    let mut c = SpdyClient::new(client_io);
    c.open(1, &[("streamtype", "bogus")]).await;
    assert!(matches!(
        c.recv().await,
        Some(Frame::RstStream { stream_id: 1, .. })
    ));
    for (id, kind) in [(3, "error"), (5, "stdout"), (7, "stderr")] {
        c.open(id, &[("streamtype", kind)]).await;
        assert!(matches!(c.recv().await, Some(Frame::SynReply { .. })));
    }
    let frames = c.until_end().await;
    let (status, _) = stream_data(&frames, 3);
    assert_eq!(
        String::from_utf8(status).unwrap(),
        "error executing command [false], exit code 1"
    );
    drop(c);
    tokio::time::timeout(T, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn spdy_client_leaving_ends_a_running_command() {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(serve_spdy(
        server_io,
        4,
        session(&["sleep", "3600"], false, false),
        no_shutdown(),
    ));
    let mut c = SpdyClient::new(client_io);
    for (id, kind) in [(1, "error"), (3, "stdout"), (5, "stderr")] {
        c.open(id, &[("streamtype", kind)]).await;
        assert!(matches!(c.recv().await, Some(Frame::SynReply { .. })));
    }
    drop(c);
    tokio::time::timeout(T, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn server_shutdown_ends_a_running_command() {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(serve_spdy(
        server_io,
        4,
        session(&["sleep", "3600"], false, false),
        stopped,
    ));
    let mut c = SpdyClient::new(client_io);
    for (id, kind) in [(1, "error"), (3, "stdout"), (5, "stderr")] {
        c.open(id, &[("streamtype", kind)]).await;
        assert!(matches!(c.recv().await, Some(Frame::SynReply { .. })));
    }
    stop.send(true).unwrap();
    tokio::time::timeout(T, server).await.unwrap().unwrap();
}

async fn websocket_pair(
    protocol: &'static str,
    session: Session,
) -> (
    WebSocketStream<tokio::io::DuplexStream>,
    tokio::task::JoinHandle<()>,
) {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let protocol = channels::by_name(Some(protocol)).unwrap();
    let server = tokio::spawn(async move {
        let ws = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
        serve_websocket(ws, protocol, session, no_shutdown()).await;
    });
    let client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
    (client, server)
}

async fn messages(ws: &mut WebSocketStream<tokio::io::DuplexStream>) -> Vec<Message> {
    let mut got = Vec::new();
    tokio::time::timeout(T, async {
        while let Some(Ok(m)) = ws.next().await {
            got.push(m);
        }
    })
    .await
    .unwrap();
    got
}

#[tokio::test]
async fn websocket_base64_protocol() {
    let (mut ws, server) = websocket_pair(
        "v4.base64.channel.k8s.io",
        session(&["sh", "-c", "cat; nosuch"], true, false),
    )
    .await;
    // '0' + base64("hello"); v4 has no close signal, so cat reads until the
    // client goes away, which ends the session.
    ws.send(Message::Text("0aGVsbG8=".into())).await.unwrap();
    let echoed = tokio::time::timeout(T, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echoed, Message::Text("1aGVsbG8=".into()));
    drop(ws);
    tokio::time::timeout(T, server).await.unwrap().unwrap();

    let (mut ws, server) = websocket_pair(
        "v4.base64.channel.k8s.io",
        session(&["sh", "-c", "echo out; nosuch"], false, false),
    )
    .await;
    let got = messages(&mut ws).await;
    let text: Vec<String> = got
        .iter()
        .filter_map(|m| match m {
            Message::Text(t) => Some(t.to_string()),
            _ => None,
        })
        .collect();
    // '1' + base64("out\n"), '2' + base64 of the error, '3' the status.
    assert_eq!(text[0], "1b3V0Cg==");
    assert_eq!(text[1], "2c2g6IG5vc3VjaDogbm90IGZvdW5kCg==");
    assert!(text[2].starts_with('3'), "{text:?}");
    assert!(matches!(got.last(), Some(Message::Close(Some(_)))));
    tokio::time::timeout(T, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn websocket_resize_reaches_the_process() {
    let (mut ws, server) = websocket_pair("v5.channel.k8s.io", session(&["sh"], true, true)).await;
    ws.send(Message::Binary(Bytes::from_static(
        b"\x04{\"Width\":132,\"Height\":43}",
    )))
    .await
    .unwrap();
    ws.send(Message::Binary(Bytes::from_static(
        b"\x00stty size\rexit\r",
    )))
    .await
    .unwrap();
    let got = messages(&mut ws).await;
    let stdout: Vec<u8> = got
        .iter()
        .filter_map(|m| match m {
            Message::Binary(b) if b[0] == 1 => Some(b[1..].to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    let stdout = String::from_utf8(stdout).unwrap();
    assert!(stdout.contains("\r\n43 132\r\n"), "{stdout:?}");
    tokio::time::timeout(T, server).await.unwrap().unwrap();
}
