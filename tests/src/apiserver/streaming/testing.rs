//! Test helpers shared by the streaming unit tests: a container context
//! and a minimal SPDY client over an in-memory pipe.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::log_buffer::LogBuffer;
use super::pod_fs::PodFs;
use super::process::PodContext;
use super::spdy::frame::{FLAG_FIN, Frame, read_frame};
use super::spdy::header_block::{HeaderCompressor, HeaderDecompressor};

/// Bound on every wait in these tests.
pub const T: Duration = Duration::from_secs(5);

/// Container `app` of pod `web-0` with a small environment.
pub fn pod_context() -> PodContext {
    PodContext {
        namespace: "default".into(),
        pod: "web-0".into(),
        container: "app".into(),
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("HOSTNAME".into(), "web-0".into()),
            ("GREETING".into(), "hello world".into()),
            ("HOME".into(), "/root".into()),
        ],
        working_dir: "/".into(),
        fs: Arc::new(Mutex::new(PodFs::new("web-0", "10.244.0.10"))),
        log: Arc::new(LogBuffer::seeded("web-0", "app", SystemTime::now())),
    }
}

/// Header pairs from string slices.
pub fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The client side of a SPDY connection, as spdystream would drive it.
pub struct SpdyClient<IO> {
    /// The connection.
    pub io: IO,
    c: HeaderCompressor,
    d: HeaderDecompressor,
}

impl<IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> SpdyClient<IO> {
    /// A client on `io`.
    pub fn new(io: IO) -> Self {
        SpdyClient {
            io,
            c: HeaderCompressor::new(),
            d: HeaderDecompressor::new(),
        }
    }

    /// Sends one frame.
    pub async fn send(&mut self, f: Frame) {
        let mut out = Vec::new();
        f.encode(&mut self.c, &mut out).unwrap();
        self.io.write_all(&out).await.unwrap();
    }

    /// Opens stream `id` with `headers`.
    pub async fn open(&mut self, id: u32, pairs: &[(&str, &str)]) {
        self.send(Frame::SynStream {
            stream_id: id,
            associated_to: 0,
            priority: 0,
            flags: 0,
            headers: headers(pairs),
        })
        .await;
    }

    /// Sends data on stream `id`, optionally ending it.
    pub async fn data(&mut self, id: u32, data: &[u8], fin: bool) {
        self.send(Frame::Data {
            stream_id: id,
            flags: if fin { FLAG_FIN } else { 0 },
            data: Bytes::copy_from_slice(data),
        })
        .await;
    }

    /// The next frame (`None` at end of stream).
    pub async fn recv(&mut self) -> Option<Frame> {
        tokio::time::timeout(T, read_frame(&mut self.io, &mut self.d))
            .await
            .expect("frame in time")
            .unwrap()
    }

    /// Every frame until the server closes.
    pub async fn until_end(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(f) = self.recv().await {
            frames.push(f);
        }
        frames
    }
}

/// Concatenated DATA on stream `id`, and whether it ended with FIN.
pub fn stream_data(frames: &[Frame], id: u32) -> (Vec<u8>, bool) {
    let mut data = Vec::new();
    let mut fin = false;
    for f in frames {
        if let Frame::Data {
            stream_id,
            flags,
            data: d,
        } = f
            && *stream_id == id
        {
            data.extend_from_slice(d);
            fin |= flags & FLAG_FIN != 0;
        }
    }
    (data, fin)
}
