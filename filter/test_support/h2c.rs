//! A minimal cleartext HTTP/2 client (prior knowledge, RFC 9113 §3.3) for
//! measuring Envoy per request the way kubectl talks to the gateway: one
//! stream at a time on one connection, and request headers compressed the
//! way Go's HPACK encoder does it. Go indexes every field that fits its
//! 4 KiB dynamic table, `authorization` included (`hpack.Encoder.shouldIndex`:
//! only fields marked sensitive are not, and net/http2's transport marks
//! none), so from a connection's second request on a repeated bearer token
//! is one byte on the wire. hyper's `h2` crate never indexes `authorization`
//! (`Header::skip_value_index`), so it cannot model that.
//!
//! Only what the benchmark needs: GET without a body, responses whose
//! status is 200 (Envoy sends `:status: 200` as the static table's entry 8,
//! one byte, so no HPACK decoder is needed), literals without Huffman
//! coding (Go's encoder uses it when shorter: only a field's first
//! occurrence differs).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// The connection window the client grants at once (as Go's transport
/// does: `transportDefaultConnFlow`, 1 GiB), topped up when half is used.
const CONNECTION_WINDOW: u32 = 1 << 30;
/// The HPACK dynamic table size both sides start with (RFC 7541 §4.2).
const TABLE_SIZE: usize = 4096;
/// HPACK static table indices used here (RFC 7541 Appendix A).
const AUTHORITY: u8 = 1;
const METHOD_GET: u8 = 2;
const PATH: u8 = 4;
const SCHEME_HTTP: u8 = 6;
const STATUS_200: u8 = 8;
const AUTHORIZATION: u8 = 23;

/// One HTTP/2 connection.
pub struct H2c {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    encoder: Encoder,
    next_stream: u32,
    /// Connection window the server has used since the last top-up.
    received: u32,
}

impl H2c {
    /// Connect, send the preface, empty SETTINGS (defaults: a 4 KiB HPACK
    /// table) and the connection window.
    pub fn connect(port: u16, timeout: Duration) -> H2c {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(timeout)).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut h2 = H2c {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
            encoder: Encoder::default(),
            next_stream: 1,
            received: 0,
        };
        let mut out = PREFACE.to_vec();
        frame(&mut out, SETTINGS, 0, 0, &[]);
        frame(
            &mut out,
            WINDOW_UPDATE,
            0,
            0,
            &(CONNECTION_WINDOW - 65_535).to_be_bytes(),
        );
        h2.writer.write_all(&out).unwrap();
        h2
    }

    /// `GET path` with `authorization` if given; asserts the response is a
    /// 200 and returns its body's length.
    pub fn get(&mut self, authority: &str, path: &str, authorization: Option<&str>) -> usize {
        let stream = self.next_stream;
        self.next_stream += 2;
        // Go's order: :authority, :method, :path, :scheme, then the headers
        let mut block = Vec::new();
        self.encoder
            .field(&mut block, AUTHORITY, ":authority", authority);
        block.push(0x80 | METHOD_GET);
        self.encoder.field(&mut block, PATH, ":path", path);
        block.push(0x80 | SCHEME_HTTP);
        if let Some(value) = authorization {
            self.encoder
                .field(&mut block, AUTHORIZATION, "authorization", value);
        }
        let mut out = Vec::with_capacity(block.len() + 9);
        frame(&mut out, HEADERS, END_HEADERS | END_STREAM, stream, &block);
        self.writer.write_all(&out).unwrap();
        self.response(stream)
    }

    /// Read frames until `stream` ends; its body's length.
    fn response(&mut self, stream: u32) -> usize {
        let mut body = 0;
        let mut status_seen = false;
        loop {
            let (kind, flags, id, payload) = self.read_frame();
            match kind {
                SETTINGS if flags & ACK == 0 => {
                    let mut ack = Vec::new();
                    frame(&mut ack, SETTINGS, ACK, 0, &[]);
                    self.writer.write_all(&ack).unwrap();
                }
                PING if flags & ACK == 0 => {
                    let mut pong = Vec::new();
                    frame(&mut pong, PING, ACK, 0, &payload);
                    self.writer.write_all(&pong).unwrap();
                }
                GOAWAY => panic!("GOAWAY from the server: {payload:?}"),
                RST_STREAM if id == stream => panic!("stream {stream} reset: {payload:?}"),
                HEADERS if id == stream => {
                    if !status_seen {
                        let block = unpadded(flags, &payload, true);
                        assert_eq!(
                            block.first(),
                            Some(&(0x80 | STATUS_200)),
                            "stream {stream}: not a 200 (header block {block:02x?})"
                        );
                        status_seen = true;
                    }
                    if flags & END_STREAM != 0 {
                        return body;
                    }
                }
                DATA if id == stream => {
                    body += unpadded(flags, &payload, false).len();
                    self.received += payload.len() as u32;
                    if self.received > CONNECTION_WINDOW / 2 {
                        let mut update = Vec::new();
                        frame(
                            &mut update,
                            WINDOW_UPDATE,
                            0,
                            0,
                            &self.received.to_be_bytes(),
                        );
                        self.writer.write_all(&update).unwrap();
                        self.received = 0;
                    }
                    if flags & END_STREAM != 0 {
                        assert!(status_seen, "stream {stream}: DATA before HEADERS");
                        return body;
                    }
                }
                _ => {}
            }
        }
    }

    fn read_frame(&mut self) -> (u8, u8, u32, Vec<u8>) {
        let mut head = [0u8; 9];
        self.reader.read_exact(&mut head).unwrap();
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0; len];
        self.reader.read_exact(&mut payload).unwrap();
        (head[3], head[4], id, payload)
    }
}

/// A frame's payload without its padding (and, on HEADERS, priority).
fn unpadded(flags: u8, payload: &[u8], headers: bool) -> &[u8] {
    let mut p = payload;
    let mut pad = 0;
    if flags & PADDED != 0 {
        pad = p[0] as usize;
        p = &p[1..];
    }
    if headers && flags & PRIORITY != 0 {
        p = &p[5..];
    }
    &p[..p.len() - pad]
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// HPACK encoding with Go's indexing rule: a field already in the dynamic
/// table is sent as its index; any other is sent as a literal and added
/// (oldest entries evicted beyond [`TABLE_SIZE`]).
#[derive(Default)]
struct Encoder {
    /// Newest first: dynamic index 62 is the front.
    table: VecDeque<(String, String)>,
    size: usize,
}

impl Encoder {
    fn field(&mut self, out: &mut Vec<u8>, static_name: u8, name: &str, value: &str) {
        if let Some(i) = self.table.iter().position(|(n, v)| n == name && v == value) {
            integer(out, 0x80, 7, 62 + i);
            return;
        }
        // literal with incremental indexing, name from the static table
        integer(out, 0x40, 6, static_name as usize);
        integer(out, 0x00, 7, value.len());
        out.extend_from_slice(value.as_bytes());
        let entry = name.len() + value.len() + 32;
        if entry > TABLE_SIZE {
            self.table.clear();
            self.size = 0;
            return;
        }
        self.table.push_front((name.to_string(), value.to_string()));
        self.size += entry;
        while self.size > TABLE_SIZE {
            let (n, v) = self.table.pop_back().unwrap();
            self.size -= n.len() + v.len() + 32;
        }
    }
}

/// An HPACK integer with an `n`-bit prefix after `flags` (RFC 7541 §5.1).
fn integer(out: &mut Vec<u8>, flags: u8, n: u32, value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}
