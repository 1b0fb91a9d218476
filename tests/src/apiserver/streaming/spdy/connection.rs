//! The server side of a SPDY/3.1 connection, as kubectl's peer (the
//! kubelet, through `moby/spdystream`) behaves: the client opens every
//! stream; the server answers each SYN_STREAM with a SYN_REPLY (or a
//! RST_STREAM), echoes client pings, ends streams with an empty DATA frame
//! carrying FLAG_FIN, and closes with GOAWAY. spdystream implements no flow
//! control, so WINDOW_UPDATE and SETTINGS are read and ignored.
//!
//! A reader task turns frames into [`IncomingStream`]s (with a channel of
//! their data that closes on FIN or RST_STREAM); a writer task owns the
//! write half and the header compressor, so frames leave in the order
//! [`FrameWriter`] calls were made.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::frame::{self, FLAG_FIN, Frame, read_frame};
use super::header_block::{HeaderCompressor, HeaderDecompressor, Headers};

/// DATA frames this server sends carry at most this much.
const MAX_DATA_CHUNK: usize = 32 * 1024;

/// A stream the client opened.
#[derive(Debug)]
pub struct IncomingStream {
    /// Stream id.
    pub id: u32,
    /// SYN_STREAM headers (names lower-case).
    pub headers: Headers,
    /// What the client sends on it; closes on FIN or RST_STREAM.
    pub data: mpsc::UnboundedReceiver<Bytes>,
}

impl IncomingStream {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

enum Command {
    Frame(Frame),
    /// Flush, shut the write side down, stop.
    Close,
}

/// Sends frames on the connection (cheap to clone; calls after the
/// connection died are ignored).
#[derive(Clone, Debug)]
pub struct FrameWriter {
    tx: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Frame(frame) => frame.fmt(f),
            Command::Close => f.write_str("Close"),
        }
    }
}

impl FrameWriter {
    fn send(&self, frame: Frame) {
        let _ = self.tx.send(Command::Frame(frame));
    }

    /// Accepts stream `id` (SYN_REPLY, no headers).
    pub fn reply(&self, id: u32) {
        self.send(Frame::SynReply {
            stream_id: id,
            flags: 0,
            headers: Vec::new(),
        });
    }

    /// Sends `data` on stream `id` (split into frames as needed).
    pub fn data(&self, id: u32, data: Bytes) {
        let mut data = data;
        while !data.is_empty() {
            let chunk = data.split_to(data.len().min(MAX_DATA_CHUNK));
            self.send(Frame::Data {
                stream_id: id,
                flags: 0,
                data: chunk,
            });
        }
    }

    /// Half-closes stream `id` (empty DATA with FLAG_FIN).
    pub fn fin(&self, id: u32) {
        self.send(Frame::Data {
            stream_id: id,
            flags: FLAG_FIN,
            data: Bytes::new(),
        });
    }

    /// Aborts stream `id`.
    pub fn reset(&self, id: u32, status: u32) {
        self.send(Frame::RstStream {
            stream_id: id,
            status,
        });
    }

    fn close(&self) {
        let _ = self.tx.send(Command::Close);
    }
}

/// One server-side SPDY connection. Dropping it stops both tasks.
#[derive(Debug)]
pub struct Connection {
    incoming: mpsc::UnboundedReceiver<IncomingStream>,
    writer: FrameWriter,
    last_stream: tokio::sync::watch::Receiver<u32>,
    reader_task: Option<JoinHandle<()>>,
    writer_task: Option<JoinHandle<()>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        for task in [self.reader_task.take(), self.writer_task.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
}

impl Connection {
    /// Starts serving `io` (already upgraded) on the current runtime.
    pub fn serve<T>(io: T) -> Connection
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read_half, write_half) = tokio::io::split(io);
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = FrameWriter { tx };
        let (incoming_tx, incoming) = mpsc::unbounded_channel();
        let (last_tx, last_stream) = tokio::sync::watch::channel(0);
        let writer_task = tokio::spawn(write_loop(write_half, rx));
        let reader_task = tokio::spawn(read_loop(read_half, writer.clone(), incoming_tx, last_tx));
        Connection {
            incoming,
            writer,
            last_stream,
            reader_task: Some(reader_task),
            writer_task: Some(writer_task),
        }
    }

    /// The next stream the client opens; `None` once the client is gone
    /// (end of stream, protocol error).
    pub async fn next_stream(&mut self) -> Option<IncomingStream> {
        self.incoming.recv().await
    }

    /// A handle for sending frames.
    pub fn writer(&self) -> FrameWriter {
        self.writer.clone()
    }

    /// Ends the connection like spdystream's `Close`: GOAWAY, then the
    /// write side is flushed and shut down; waits up to `linger` for the
    /// client to close its side, so nothing it still sends is answered with
    /// a TCP reset that could destroy data in flight to it.
    pub async fn finish(mut self, linger: Duration) {
        self.writer.send(Frame::GoAway {
            last_good_stream_id: *self.last_stream.borrow(),
            status: 0,
        });
        self.writer.close();
        let deadline = tokio::time::Instant::now() + linger;
        if let Some(task) = self.writer_task.take() {
            let _ = tokio::time::timeout_at(deadline, task).await;
        }
        // Drain streams the client may still open; `None` = it closed.
        let drain = async { while self.incoming.recv().await.is_some() {} };
        let _ = tokio::time::timeout_at(deadline, drain).await;
    }
}

async fn write_loop<W: AsyncWrite>(write_half: W, mut rx: mpsc::UnboundedReceiver<Command>) {
    tokio::pin!(write_half);
    let mut compressor = HeaderCompressor::new();
    let mut buf = Vec::new();
    while let Some(cmd) = rx.recv().await {
        let mut close = false;
        buf.clear();
        // Batch whatever is queued into one write.
        let mut next = Some(cmd);
        while let Some(cmd) = next.take() {
            match cmd {
                Command::Frame(f) => {
                    if let Err(e) = f.encode(&mut compressor, &mut buf) {
                        tracing::debug!(error = %e, "SPDY frame not encodable");
                    }
                }
                Command::Close => {
                    close = true;
                    break;
                }
            }
            if buf.len() < 256 * 1024 {
                next = rx.try_recv().ok();
            }
        }
        if write_half.write_all(&buf).await.is_err() || write_half.flush().await.is_err() {
            return;
        }
        if close {
            let _ = write_half.shutdown().await;
            return;
        }
    }
    let _ = write_half.shutdown().await;
}

async fn read_loop<R: AsyncRead>(
    read_half: R,
    writer: FrameWriter,
    incoming: mpsc::UnboundedSender<IncomingStream>,
    last_stream: tokio::sync::watch::Sender<u32>,
) {
    tokio::pin!(read_half);
    let mut decompressor = HeaderDecompressor::new();
    let mut streams: HashMap<u32, mpsc::UnboundedSender<Bytes>> = HashMap::new();
    let mut last_id = 0u32;
    loop {
        let frame = match read_frame(&mut read_half, &mut decompressor).await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "SPDY connection ended");
                break;
            }
        };
        match frame {
            Frame::SynStream {
                stream_id,
                flags,
                headers,
                ..
            } => {
                // Client streams are odd and strictly increasing.
                if stream_id % 2 == 0 || stream_id <= last_id {
                    writer.reset(stream_id, frame::rst::PROTOCOL_ERROR);
                    continue;
                }
                last_id = stream_id;
                let _ = last_stream.send(stream_id);
                let (tx, rx) = mpsc::unbounded_channel();
                if flags & FLAG_FIN == 0 {
                    streams.insert(stream_id, tx);
                }
                let _ = incoming.send(IncomingStream {
                    id: stream_id,
                    headers,
                    data: rx,
                });
            }
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                if let Some(tx) = streams.get(&stream_id)
                    && !data.is_empty()
                {
                    let _ = tx.send(data);
                }
                if flags & FLAG_FIN != 0 {
                    streams.remove(&stream_id);
                }
            }
            Frame::RstStream { stream_id, .. } => {
                streams.remove(&stream_id);
            }
            Frame::Headers {
                stream_id, flags, ..
            } => {
                if flags & FLAG_FIN != 0 {
                    streams.remove(&stream_id);
                }
            }
            // Answer the client's pings (odd ids); ours would be even.
            Frame::Ping { id } if id % 2 == 1 => writer.send(Frame::Ping { id }),
            Frame::Ping { .. }
            | Frame::SynReply { .. }
            | Frame::Settings { .. }
            | Frame::GoAway { .. }
            | Frame::WindowUpdate { .. }
            | Frame::Unknown { .. } => {}
        }
    }
}
