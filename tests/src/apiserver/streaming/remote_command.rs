//! exec and attach sessions: the process ([`super::process`]) wired to
//! kubectl over a WebSocket channel protocol or a SPDY connection, and the
//! end of the command reported on the error stream the way the kubelet
//! does (v4+: a JSON `Status`, `NonZeroExitCode` with the exit code as a
//! cause), after which the server closes the connection.

use std::time::Duration;

use bytes::Bytes;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::channels::{self, ChannelProtocol, Incoming};
use super::process::{self, Output, PodContext, ProcessIo, Program, ResizeDecoder};
use super::shutdown_signal;
use super::spdy::{self, Connection, IncomingStream};

/// How long the client has to open its SPDY streams (the kubelet's
/// default stream creation timeout).
pub const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for the client to close after the server finished.
pub const LINGER: Duration = Duration::from_secs(5);

/// SPDY stream protocols for exec/attach, newest first, with versions.
pub const SPDY_PROTOCOLS: &[(&str, u8)] = &[
    ("v4.channel.k8s.io", 4),
    ("v3.channel.k8s.io", 3),
    ("v2.channel.k8s.io", 2),
    ("channel.k8s.io", 1),
];

/// What to run and which streams the client asked for.
#[derive(Debug, Clone)]
pub struct Session {
    /// exec's command, or attach.
    pub program: Program,
    /// The container.
    pub ctx: PodContext,
    /// `stdin=true`.
    pub stdin: bool,
    /// `stdout=true`.
    pub stdout: bool,
    /// `stderr=true`.
    pub stderr: bool,
    /// `tty=true`.
    pub tty: bool,
}

impl Session {
    /// Logs who is being exec'd into (never the command: it may carry
    /// secrets).
    fn log_start(&self, protocol: &str) {
        tracing::debug!(
            namespace = %self.ctx.namespace,
            pod = %self.ctx.pod,
            container = %self.ctx.container,
            attach = matches!(self.program, Program::Attach),
            tty = self.tty,
            protocol,
            "remote command session"
        );
    }

    /// The bytes for the error stream when the process exited with `code`.
    fn status(&self, version: u8, code: i32) -> Option<Vec<u8>> {
        let argv = match &self.program {
            Program::Exec(argv) => argv.clone(),
            Program::Attach => Vec::new(),
        };
        if version >= 4 {
            Some(serde_json::to_vec(&process::exit_status_v4(&argv, code)).expect("json"))
        } else {
            process::exit_status_legacy(&argv, code).map(String::into_bytes)
        }
    }
}

/// Runs `session` over an upgraded WebSocket using `protocol`.
pub async fn serve_websocket<S>(
    ws: WebSocketStream<S>,
    protocol: ChannelProtocol,
    session: Session,
    shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    session.log_start(protocol.name);
    let (mut sink, mut source) = ws.split();
    let (stdin_tx, stdin_rx) = mpsc::unbounded_channel();
    let mut stdin_tx = session.stdin.then_some(stdin_tx);
    let (size_tx, size_rx) = watch::channel(None);
    let (out_tx, mut out_rx) = mpsc::unbounded_channel();
    let io = ProcessIo {
        stdin: session.stdin.then_some(stdin_rx),
        out: out_tx,
        tty: session.tty,
        size: size_rx,
    };
    let mut resize = ResizeDecoder::default();
    let process = process::run(&session.program, &session.ctx, io);
    tokio::pin!(process);
    let stopped = shutdown_signal(shutdown);
    tokio::pin!(stopped);
    let encode = |o: Output| match o {
        Output::Stdout(b) if session.stdout => Some(protocol.encode(channels::STDOUT, &b)),
        Output::Stderr(b) if session.stderr => Some(protocol.encode(channels::STDERR, &b)),
        _ => None,
    };
    let code = loop {
        tokio::select! {
            biased;
            Some(o) = out_rx.recv() => {
                if let Some(msg) = encode(o)
                    && sink.send(msg).await.is_err()
                {
                    return;
                }
            }
            code = &mut process => break code,
            msg = source.next() => match msg {
                Some(Ok(m @ (Message::Binary(_) | Message::Text(_)))) => match protocol.decode(&m) {
                    Some(Incoming::Data(channels::STDIN, data)) => {
                        if let Some(tx) = &stdin_tx {
                            let _ = tx.send(data);
                        }
                    }
                    Some(Incoming::Data(channels::RESIZE, data)) => {
                        if let Some(size) = resize.feed(&data).pop() {
                            let _ = size_tx.send(Some(size));
                        }
                    }
                    Some(Incoming::Close(channels::STDIN)) => stdin_tx = None,
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                // Pings are answered by the WebSocket layer.
                Some(Ok(_)) => {}
            },
            _ = &mut stopped => return,
        }
    };
    // The process is done: flush its output, report, close normally.
    while let Ok(o) = out_rx.try_recv() {
        if let Some(msg) = encode(o)
            && sink.send(msg).await.is_err()
        {
            return;
        }
    }
    if let Some(status) = session.status(protocol.version, code) {
        let _ = sink.send(protocol.encode(channels::ERROR, &status)).await;
    }
    close_websocket(&mut sink, &mut source).await;
}

/// Close a WebSocket session normally, then wait (at most [`LINGER`]) for
/// the client's close, so nothing in flight is cut short.
pub async fn close_websocket<S>(
    sink: &mut SplitSink<WebSocketStream<S>, Message>,
    source: &mut SplitStream<WebSocketStream<S>>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        })))
        .await;
    let _ = tokio::time::timeout(LINGER, async {
        while let Some(Ok(_)) = source.next().await {}
    })
    .await;
}

/// The streams a SPDY client opened, by type.
#[derive(Debug, Default)]
struct Streams {
    error: Option<u32>,
    stdin: Option<IncomingStream>,
    stdout: Option<u32>,
    stderr: Option<u32>,
    resize: Option<IncomingStream>,
    ids: Vec<u32>,
}

impl Streams {
    fn complete(&self, s: &Session, version: u8) -> bool {
        self.error.is_some()
            && (!s.stdin || self.stdin.is_some())
            && (!s.stdout || self.stdout.is_some())
            && (!s.stderr || s.tty || self.stderr.is_some())
            && (!s.tty || version < 3 || self.resize.is_some())
    }
}

/// Runs `session` over an upgraded SPDY/3.1 connection; `version` is the
/// negotiated remote-command protocol version.
pub async fn serve_spdy<T>(io: T, version: u8, session: Session, shutdown: watch::Receiver<bool>)
where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    session.log_start(&format!("SPDY/3.1 v{version}"));
    let mut conn = Connection::serve(io);
    let writer = conn.writer();
    let stopped = shutdown_signal(shutdown);
    tokio::pin!(stopped);
    let mut streams = Streams::default();
    let deadline = tokio::time::Instant::now() + STREAM_CREATION_TIMEOUT;
    while !streams.complete(&session, version) {
        let stream = tokio::select! {
            s = conn.next_stream() => match s {
                Some(s) => s,
                None => return,
            },
            _ = tokio::time::sleep_until(deadline) => {
                if let Some(id) = streams.error {
                    writer.data(id, Bytes::from_static(b"timed out waiting for client to create streams"));
                }
                conn.finish(LINGER).await;
                return;
            }
            _ = &mut stopped => return,
        };
        let id = stream.id;
        let slot_free = match stream.header("streamtype").unwrap_or("") {
            "error" => streams.error.replace(id).is_none(),
            "stdout" => streams.stdout.replace(id).is_none(),
            "stderr" => streams.stderr.replace(id).is_none(),
            "stdin" => streams.stdin.replace(stream).is_none(),
            "resize" => streams.resize.replace(stream).is_none(),
            _ => false,
        };
        if slot_free {
            writer.reply(id);
            streams.ids.push(id);
        } else {
            writer.reset(id, spdy::frame::rst::PROTOCOL_ERROR);
        }
    }
    let (size_tx, size_rx) = watch::channel(None);
    let (out_tx, mut out_rx) = mpsc::unbounded_channel();
    let mut resize_rx = streams.resize.take().map(|s| s.data);
    let io = ProcessIo {
        stdin: streams.stdin.take().map(|s| s.data),
        out: out_tx,
        tty: session.tty,
        size: size_rx,
    };
    let mut decoder = ResizeDecoder::default();
    let (stdout_id, stderr_id) = (streams.stdout, streams.stderr);
    let send = |o: Output| match o {
        Output::Stdout(b) => {
            if let Some(id) = stdout_id {
                writer.data(id, b);
            }
        }
        Output::Stderr(b) => {
            if let Some(id) = stderr_id {
                writer.data(id, b);
            }
        }
    };
    let process = process::run(&session.program, &session.ctx, io);
    tokio::pin!(process);
    let code = loop {
        tokio::select! {
            biased;
            Some(o) = out_rx.recv() => send(o),
            code = &mut process => break code,
            chunk = async { resize_rx.as_mut()?.recv().await }, if resize_rx.is_some() => match chunk {
                Some(data) => {
                    if let Some(size) = decoder.feed(&data).pop() {
                        let _ = size_tx.send(Some(size));
                    }
                }
                None => resize_rx = None,
            },
            extra = conn.next_stream() => match extra {
                Some(s) => writer.reset(s.id, spdy::frame::rst::REFUSED_STREAM),
                None => return,
            },
            _ = &mut stopped => return,
        }
    };
    while let Ok(o) = out_rx.try_recv() {
        send(o);
    }
    if let (Some(id), Some(status)) = (streams.error, session.status(version, code)) {
        writer.data(id, Bytes::from(status));
    }
    for id in &streams.ids {
        writer.fin(*id);
    }
    conn.finish(LINGER).await;
}

#[cfg(test)]
mod tests;
