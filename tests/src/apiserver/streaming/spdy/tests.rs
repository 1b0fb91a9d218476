//! SPDY framing, header compression and the server connection, driven by
//! this module's own client-side encoder over an in-memory pipe.

use std::time::Duration;

use bytes::Bytes;
use flate2::{Decompress, FlushDecompress};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::frame::{FLAG_FIN, Frame, read_frame};
use super::header_block::{self, HeaderCompressor, HeaderDecompressor};
use super::{Connection, dictionary};

const T: Duration = Duration::from_secs(5);

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn dictionary_matches_the_spec() {
    let d = dictionary::bytes();
    assert_eq!(d.len(), dictionary::LEN);
    // Adler-32 per RFC 1950, computed here independently of zlib.
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in d {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    assert_eq!((b << 16) | a, dictionary::ADLER32);
    assert!(d.starts_with(b"\0\0\0\x07options\0\0\0\x04head"));
    assert!(d.ends_with(b"utf-,*,enq=0."));
}

#[test]
fn compressed_blocks_announce_the_spdy_dictionary() {
    let mut c = HeaderCompressor::new();
    let block = c.compress(&h(&[("streamtype", "error")])).unwrap();
    // zlib header with FDICT, then the dictionary's Adler-32.
    assert_eq!(block[0] & 0x0f, 8, "deflate");
    assert_ne!(block[1] & 0x20, 0, "FDICT set");
    assert_eq!(
        u32::from_be_bytes([block[2], block[3], block[4], block[5]]),
        dictionary::ADLER32
    );
    // A plain zlib inflater stops and asks for exactly that dictionary.
    let mut d = Decompress::new(true);
    let mut out = Vec::with_capacity(256);
    let err = d
        .decompress_vec(&block, &mut out, FlushDecompress::Sync)
        .unwrap_err();
    assert_eq!(err.needs_dictionary(), Some(dictionary::ADLER32));
}

#[test]
fn header_blocks_round_trip_across_frames() {
    let mut c = HeaderCompressor::new();
    let mut d = HeaderDecompressor::new();
    let blocks = [
        h(&[("streamtype", "error")]),
        h(&[("StreamType", "data"), ("port", "80"), ("requestid", "0")]),
        h(&[("x", "1"), ("x", "2"), ("y", "")]),
        Vec::new(),
    ];
    for block in &blocks {
        let wire = c.compress(block).unwrap();
        let back = d.decompress(&wire).unwrap();
        let want: Vec<(String, String)> = block
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        assert_eq!(back, want);
    }
}

#[test]
fn repeated_values_are_nul_joined_on_the_wire() {
    let plain = header_block::encode(&h(&[("a", "1"), ("b", "x"), ("a", "2")]));
    let mut want = Vec::new();
    want.extend_from_slice(&2u32.to_be_bytes());
    want.extend_from_slice(&1u32.to_be_bytes());
    want.extend_from_slice(b"a");
    want.extend_from_slice(&3u32.to_be_bytes());
    want.extend_from_slice(b"1\x002");
    want.extend_from_slice(&1u32.to_be_bytes());
    want.extend_from_slice(b"b");
    want.extend_from_slice(&1u32.to_be_bytes());
    want.extend_from_slice(b"x");
    assert_eq!(plain, want);
    assert!(header_block::decode(&plain[..plain.len() - 1]).is_err());
}

#[test]
fn a_foreign_dictionary_is_refused() {
    let mut z = flate2::Compress::new(flate2::Compression::default(), true);
    z.set_dictionary(b"not the spdy dictionary").unwrap();
    let mut out = Vec::with_capacity(256);
    z.compress_vec(
        &header_block::encode(&h(&[("a", "b")])),
        &mut out,
        flate2::FlushCompress::Sync,
    )
    .unwrap();
    let err = HeaderDecompressor::new().decompress(&out).unwrap_err();
    assert!(err.to_string().contains("unknown dictionary"), "{err}");
}

fn encode_all(frames: &[Frame], c: &mut HeaderCompressor) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        f.encode(c, &mut out).unwrap();
    }
    out
}

#[tokio::test]
async fn frames_round_trip_through_the_wire_format() {
    let frames = vec![
        Frame::SynStream {
            stream_id: 1,
            associated_to: 0,
            priority: 3,
            flags: 0,
            headers: h(&[("streamtype", "stdin")]),
        },
        Frame::SynReply {
            stream_id: 1,
            flags: FLAG_FIN,
            headers: Vec::new(),
        },
        Frame::Data {
            stream_id: 1,
            flags: 0,
            data: Bytes::from_static(b"hello"),
        },
        Frame::Data {
            stream_id: 1,
            flags: FLAG_FIN,
            data: Bytes::new(),
        },
        Frame::RstStream {
            stream_id: 3,
            status: 5,
        },
        Frame::Settings {
            flags: 0,
            entries: vec![(0, 7, 65536), (1, 4, 100)],
        },
        Frame::Ping { id: 1 },
        Frame::GoAway {
            last_good_stream_id: 3,
            status: 0,
        },
        Frame::Headers {
            stream_id: 1,
            flags: 0,
            headers: h(&[("a", "b")]),
        },
        Frame::WindowUpdate {
            stream_id: 1,
            delta: 1024,
        },
    ];
    let wire = encode_all(&frames, &mut HeaderCompressor::new());
    // Exact layout of a DATA frame and a PING.
    let data_at = wire
        .windows(13)
        .position(|w| w == b"\x00\x00\x00\x01\x00\x00\x00\x05hello")
        .expect("DATA frame bytes");
    assert!(data_at > 0);
    assert!(
        wire.windows(12)
            .any(|w| w == b"\x80\x03\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01")
    );
    let mut reader = &wire[..];
    let mut d = HeaderDecompressor::new();
    let mut back = Vec::new();
    while let Some(f) = read_frame(&mut reader, &mut d).await.unwrap() {
        back.push(f);
    }
    assert_eq!(back, frames);
}

#[tokio::test]
async fn truncated_and_foreign_frames_are_errors() {
    let wire = encode_all(&[Frame::Ping { id: 1 }], &mut HeaderCompressor::new());
    let mut d = HeaderDecompressor::new();
    let mut short = &wire[..10];
    assert!(read_frame(&mut short, &mut d).await.is_err());
    let mut v2 = wire.clone();
    v2[1] = 2;
    assert!(read_frame(&mut &v2[..], &mut d).await.is_err());
    let mut empty: &[u8] = &[];
    assert!(read_frame(&mut empty, &mut d).await.unwrap().is_none());
}

/// A minimal SPDY client over one end of an in-memory pipe.
struct Client {
    io: tokio::io::DuplexStream,
    c: HeaderCompressor,
    d: HeaderDecompressor,
}

impl Client {
    async fn send(&mut self, f: Frame) {
        let mut out = Vec::new();
        f.encode(&mut self.c, &mut out).unwrap();
        self.io.write_all(&out).await.unwrap();
    }
    async fn recv(&mut self) -> Option<Frame> {
        tokio::time::timeout(T, read_frame(&mut self.io, &mut self.d))
            .await
            .expect("frame in time")
            .unwrap()
    }
}

#[tokio::test]
async fn connection_replies_echoes_pings_and_delivers_data() {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let mut conn = Connection::serve(server_io);
    let mut client = Client {
        io: client_io,
        c: HeaderCompressor::new(),
        d: HeaderDecompressor::new(),
    };
    client
        .send(Frame::SynStream {
            stream_id: 1,
            associated_to: 0,
            priority: 0,
            flags: 0,
            headers: h(&[("streamtype", "stdin")]),
        })
        .await;
    let mut stream = tokio::time::timeout(T, conn.next_stream())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stream.id, 1);
    assert_eq!(stream.header("StreamType"), Some("stdin"));
    let writer = conn.writer();
    writer.reply(1);
    assert_eq!(
        client.recv().await,
        Some(Frame::SynReply {
            stream_id: 1,
            flags: 0,
            headers: Vec::new()
        })
    );
    client.send(Frame::Ping { id: 7 }).await;
    assert_eq!(client.recv().await, Some(Frame::Ping { id: 7 }));
    // Pings with server ids are answers, not questions: not echoed.
    client.send(Frame::Ping { id: 2 }).await;
    client
        .send(Frame::Data {
            stream_id: 1,
            flags: 0,
            data: Bytes::from_static(b"abc"),
        })
        .await;
    client
        .send(Frame::Data {
            stream_id: 1,
            flags: FLAG_FIN,
            data: Bytes::from_static(b"def"),
        })
        .await;
    let mut got = Vec::new();
    while let Some(chunk) = tokio::time::timeout(T, stream.data.recv()).await.unwrap() {
        got.extend_from_slice(&chunk);
    }
    assert_eq!(got, b"abcdef");
    // Server data is chunked and ends with FIN.
    writer.data(1, Bytes::from(vec![b'x'; 40 * 1024]));
    writer.fin(1);
    let mut total = 0;
    loop {
        match client.recv().await.unwrap() {
            Frame::Data { data, flags, .. } => {
                total += data.len();
                assert!(data.len() <= 32 * 1024);
                if flags & FLAG_FIN != 0 {
                    break;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(total, 40 * 1024);
    // A reused (non-increasing) id is refused.
    client
        .send(Frame::SynStream {
            stream_id: 1,
            associated_to: 0,
            priority: 0,
            flags: 0,
            headers: Vec::new(),
        })
        .await;
    assert!(matches!(
        client.recv().await,
        Some(Frame::RstStream {
            stream_id: 1,
            status: 1
        })
    ));
    // finish(): GOAWAY naming the last stream, then end of stream.
    let finish = tokio::spawn(conn.finish(T));
    assert_eq!(
        client.recv().await,
        Some(Frame::GoAway {
            last_good_stream_id: 1,
            status: 0
        })
    );
    assert_eq!(client.recv().await, None);
    drop(client);
    tokio::time::timeout(T, finish).await.unwrap().unwrap();
}

#[tokio::test]
async fn next_stream_ends_when_the_client_goes_away() {
    let (client_io, server_io) = tokio::io::duplex(1024);
    let mut conn = Connection::serve(server_io);
    drop(client_io);
    assert!(
        tokio::time::timeout(T, conn.next_stream())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn garbage_ends_the_connection() {
    let (mut client_io, server_io) = tokio::io::duplex(1024);
    let mut conn = Connection::serve(server_io);
    client_io
        .write_all(b"\x80\x02\x00\x01\x00\x00\x00\x00")
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(T, conn.next_stream())
            .await
            .unwrap()
            .is_none()
    );
    let mut rest = Vec::new();
    drop(conn);
    let _ = tokio::time::timeout(T, client_io.read_to_end(&mut rest)).await;
}
