//! Raw HTTP over TLS for the adversarial corpus: kubectl, hyper and the
//! `http` crate all refuse to send what the corpus needs (CR, LF and NUL in
//! header values, upper-case HTTP/2 header names, bad pseudo-headers, odd
//! request lines), so both protocols are written byte by byte here.
//!
//! - HTTP/1.1: the request bytes go out exactly as given; the response is
//!   read to its end (Content-Length, chunked, or connection close).
//! - HTTP/2: connection preface, an empty SETTINGS, one HEADERS (+
//!   CONTINUATION) block of HPACK literals that are never indexed or
//!   Huffman-coded, so any byte can be sent; the answer is read frame by
//!   frame until stream 1 ends, is reset, or the connection goes away.
//!
//! One TCP connection per request: its local port is the `source` of the
//! audit line Envoy writes for it, which is how a case finds its line even
//! when the filter never ran (Envoy regenerates external `x-request-id`s).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;

/// How long any one exchange may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Stop reading a response after this much.
const MAX_RESPONSE: usize = 1 << 20;

/// What came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP response: status and body (lossy text).
    Status(u16, String),
    /// HTTP/2: the stream was reset (RST_STREAM error code), no response.
    Reset(u32),
    /// The connection ended (close, or GOAWAY with this error code) before
    /// any response.
    Closed(Option<u32>),
    /// The exchange itself failed (TLS, timeout...).
    Error(String),
}

impl Answer {
    /// `401`, `reset`, `closed`, `error`: what the corpus's `status` names.
    pub fn word(&self) -> String {
        match self {
            Answer::Status(code, _) => code.to_string(),
            Answer::Reset(_) => "reset".into(),
            Answer::Closed(_) => "closed".into(),
            Answer::Error(_) => "error".into(),
        }
    }

    /// A short description for the report.
    pub fn detail(&self) -> String {
        match self {
            Answer::Status(_, body) => {
                let one_line: String = body.chars().filter(|c| !c.is_control()).collect();
                one_line.chars().take(160).collect()
            }
            Answer::Reset(code) => format!("RST_STREAM {}", h2_error_name(*code)),
            Answer::Closed(Some(code)) => format!("GOAWAY {}", h2_error_name(*code)),
            Answer::Closed(None) => "connection closed without a response".into(),
            Answer::Error(e) => e.clone(),
        }
    }
}

fn h2_error_name(code: u32) -> String {
    let name = match code {
        0 => "NO_ERROR",
        1 => "PROTOCOL_ERROR",
        2 => "INTERNAL_ERROR",
        3 => "FLOW_CONTROL_ERROR",
        6 => "FRAME_SIZE_ERROR",
        7 => "REFUSED_STREAM",
        8 => "CANCEL",
        9 => "COMPRESSION_ERROR",
        11 => "ENHANCE_YOUR_CALM",
        _ => return format!("error {code}"),
    };
    name.to_string()
}

/// Where and how to connect.
pub struct Target {
    /// `127.0.0.1:<port>` of the gateway.
    pub addr: String,
    /// Trusts the gateway's CA; ALPN is set per protocol.
    pub tls: Arc<rustls::ClientConfig>,
}

/// One connection, opened for one request.
struct Conn {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    local_port: u16,
}

impl Target {
    fn connect(&self, sni: Option<&str>, alpn: &[u8]) -> Result<Conn, String> {
        let tcp = TcpStream::connect(&self.addr).map_err(|e| format!("connect: {e}"))?;
        tcp.set_read_timeout(Some(TIMEOUT)).ok();
        tcp.set_write_timeout(Some(TIMEOUT)).ok();
        tcp.set_nodelay(true).ok();
        let local_port = tcp.local_addr().map_err(|e| e.to_string())?.port();
        let mut config = (*self.tls).clone();
        config.alpn_protocols = vec![alpn.to_vec()];
        // An IP address sends no SNI: the filter then has no server name.
        let name = match sni {
            Some(host) => ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?,
            None => ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?,
        };
        let conn = rustls::ClientConnection::new(Arc::new(config), name)
            .map_err(|e| format!("TLS: {e}"))?;
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| format!("TLS handshake: {e}"))?;
        }
        if stream.conn.alpn_protocol() != Some(alpn) {
            return Err(format!(
                "ALPN: asked for {:?}, got {:?}",
                String::from_utf8_lossy(alpn),
                stream.conn.alpn_protocol().map(String::from_utf8_lossy)
            ));
        }
        Ok(Conn { stream, local_port })
    }

    /// Send `request` (the whole HTTP/1.1 message) as is. Returns the
    /// connection's local port (None when it never connected) and the answer.
    pub fn http1(&self, sni: Option<&str>, request: &[u8]) -> (Option<u16>, Answer) {
        let mut conn = match self.connect(sni, b"http/1.1") {
            Ok(c) => c,
            Err(e) => return (None, Answer::Error(e)),
        };
        let port = Some(conn.local_port);
        if let Err(e) = conn
            .stream
            .write_all(request)
            .and_then(|_| conn.stream.flush())
        {
            // Envoy may answer and close before reading everything we sent.
            return (
                port,
                read_http1(&mut conn).unwrap_or(Answer::Error(e.to_string())),
            );
        }
        (port, read_http1(&mut conn).unwrap_or(Answer::Closed(None)))
    }

    /// Send one HTTP/2 request: `headers` in order (pseudo-headers
    /// included, names and values as given), no body.
    pub fn http2(&self, sni: Option<&str>, headers: &[(String, String)]) -> (Option<u16>, Answer) {
        let mut conn = match self.connect(sni, b"h2") {
            Ok(c) => c,
            Err(e) => return (None, Answer::Error(e)),
        };
        let port = Some(conn.local_port);
        let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        frame(&mut out, 4, 0, 0, &[]); // SETTINGS, defaults
        let mut block = Vec::new();
        for (name, value) in headers {
            // literal header field never indexed, new name, no Huffman
            block.push(0x10);
            hpack_string(&mut block, name.as_bytes());
            hpack_string(&mut block, value.as_bytes());
        }
        let mut chunks = block.chunks(16_384).peekable();
        let first = chunks.next().unwrap_or_default();
        let end_headers = if chunks.peek().is_none() { 0x4 } else { 0 };
        frame(&mut out, 1, 0x1 | end_headers, 1, first); // HEADERS, END_STREAM
        while let Some(chunk) = chunks.next() {
            let end = if chunks.peek().is_none() { 0x4 } else { 0 };
            frame(&mut out, 9, end, 1, chunk); // CONTINUATION
        }
        if let Err(e) = conn
            .stream
            .write_all(&out)
            .and_then(|_| conn.stream.flush())
        {
            return (port, Answer::Error(format!("write: {e}")));
        }
        (port, read_http2(&mut conn))
    }
}

/// Read one HTTP/1.1 response; None when the connection closed first.
fn read_http1(conn: &mut Conn) -> Option<Answer> {
    let deadline = Instant::now() + TIMEOUT;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(done) = complete_http1(&buf) {
            return Some(done);
        }
        if Instant::now() > deadline || buf.len() > MAX_RESPONSE {
            return Some(Answer::Error("response incomplete after 10 s".into()));
        }
        match conn.stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // a close without close_notify, or a reset after the answer
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::UnexpectedEof
                        | ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::BrokenPipe
                ) =>
            {
                break;
            }
            Err(e) => return Some(Answer::Error(format!("read: {e}"))),
        }
    }
    // closed: whatever arrived is the answer
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some(Answer::Status(status_of(head)?, body.to_string()))
}

/// The response, once `buf` holds all of it (by Content-Length or chunked).
fn complete_http1(buf: &[u8]) -> Option<Answer> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let status = status_of(&head)?;
    let body = &buf[end + 4..];
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        return (body.len() >= len)
            .then(|| Answer::Status(status, String::from_utf8_lossy(&body[..len]).into()));
    }
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        return body
            .ends_with(b"0\r\n\r\n")
            .then(|| Answer::Status(status, dechunk(body)));
    }
    None
}

fn status_of(head: &str) -> Option<u16> {
    let line = head.lines().next()?;
    let mut words = line.split(' ');
    words
        .next()
        .filter(|v| v.starts_with("HTTP/"))
        .and(words.next()?.parse().ok())
}

fn dechunk(mut body: &[u8]) -> String {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || body.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&body[eol + 2..eol + 2 + size]);
        body = &body[(eol + 4 + size).min(body.len())..];
    }
    String::from_utf8_lossy(&out).into()
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// An HPACK string literal without Huffman coding.
fn hpack_string(out: &mut Vec<u8>, bytes: &[u8]) {
    hpack_int(out, 0, 7, bytes.len());
    out.extend_from_slice(bytes);
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1).
fn hpack_int(out: &mut Vec<u8>, first: u8, n: u8, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128 + 128) as u8);
        value /= 128;
    }
    out.push(value as u8);
}

/// Read frames until stream 1 ends, is reset, or the connection ends.
fn read_http2(conn: &mut Conn) -> Answer {
    let deadline = Instant::now() + TIMEOUT;
    let mut status: Option<u16> = None;
    let mut body = Vec::new();
    let mut goaway: Option<u32> = None;
    loop {
        if Instant::now() > deadline {
            return Answer::Error("no end of stream after 10 s".into());
        }
        let mut head = [0u8; 9];
        if let Err(e) = conn.stream.read_exact(&mut head) {
            return match (status, e.kind()) {
                (Some(code), _) => Answer::Status(code, String::from_utf8_lossy(&body).into()),
                (None, ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset) => {
                    Answer::Closed(goaway)
                }
                (None, _) => Answer::Error(format!("read: {e}")),
            };
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        if let Err(e) = conn.stream.read_exact(&mut payload) {
            return Answer::Error(format!("read frame: {e}"));
        }
        let end_stream = flags & 0x1 != 0;
        match (kind, stream) {
            (0, 1) => {
                // DATA: strip padding
                let data = if flags & 0x8 != 0 && !payload.is_empty() {
                    let pad = payload[0] as usize;
                    &payload[1..payload.len().saturating_sub(pad)]
                } else {
                    &payload[..]
                };
                if body.len() < MAX_RESPONSE {
                    body.extend_from_slice(data);
                }
                if end_stream {
                    break;
                }
            }
            (1, 1) => {
                let mut block = &payload[..];
                if flags & 0x8 != 0 && !block.is_empty() {
                    let pad = block[0] as usize;
                    block = &block[1..block.len().saturating_sub(pad)];
                }
                if flags & 0x20 != 0 && block.len() >= 5 {
                    block = &block[5..];
                }
                if status.is_none() {
                    match decode_status(block) {
                        Some(code) => status = Some(code),
                        None => return Answer::Error("undecodable :status".into()),
                    }
                }
                if end_stream {
                    break;
                }
            }
            (3, 1) => {
                let code = payload
                    .get(..4)
                    .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                return match status {
                    Some(s) => Answer::Status(s, String::from_utf8_lossy(&body).into()),
                    None => Answer::Reset(code),
                };
            }
            (4, 0) if flags & 0x1 == 0 => {
                let mut ack = Vec::new();
                frame(&mut ack, 4, 0x1, 0, &[]);
                let _ = conn.stream.write_all(&ack);
            }
            (6, 0) if flags & 0x1 == 0 => {
                let mut pong = Vec::new();
                frame(&mut pong, 6, 0x1, 0, &payload);
                let _ = conn.stream.write_all(&pong);
            }
            (7, 0) => {
                let code = payload
                    .get(4..8)
                    .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                if let Some(s) = status {
                    return Answer::Status(s, String::from_utf8_lossy(&body).into());
                }
                // a GOAWAY that still lets stream 1 finish says so with a
                // last-stream-id of 1 or more
                let last = payload.get(..4).map_or(0, |b| {
                    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff
                });
                if last == 0 {
                    return Answer::Closed(Some(code));
                }
                goaway = Some(code);
            }
            _ => {}
        }
    }
    match status {
        Some(code) => Answer::Status(code, String::from_utf8_lossy(&body).into()),
        None => Answer::Error("stream ended without :status".into()),
    }
}

/// `:status` from the first field of a response header block: the static
/// table, or a literal whose value is plain or Huffman-coded digits.
fn decode_status(mut block: &[u8]) -> Option<u16> {
    // dynamic table size updates may come first
    while block.first().is_some_and(|b| b & 0xe0 == 0x20) {
        let (_, rest) = hpack_read_int(block, 5)?;
        block = rest;
    }
    let first = *block.first()?;
    if first & 0x80 != 0 {
        let (index, _) = hpack_read_int(block, 7)?;
        return match index {
            8 => Some(200),
            9 => Some(204),
            10 => Some(206),
            11 => Some(304),
            12 => Some(400),
            13 => Some(404),
            14 => Some(500),
            _ => None,
        };
    }
    // literal with incremental indexing (6-bit index) or without / never
    // indexed (4-bit index); the name must be :status (static 8-14)
    let prefix = if first & 0x40 != 0 { 6 } else { 4 };
    let (index, rest) = hpack_read_int(block, prefix)?;
    if !(8..=14).contains(&index) {
        return None;
    }
    let huffman = rest.first()? & 0x80 != 0;
    let (len, rest) = hpack_read_int(rest, 7)?;
    let raw = rest.get(..len)?;
    let digits = if huffman {
        huffman_digits(raw)?
    } else {
        String::from_utf8(raw.to_vec()).ok()?
    };
    digits.parse().ok()
}

fn hpack_read_int(bytes: &[u8], n: u8) -> Option<(usize, &[u8])> {
    let max = (1usize << n) - 1;
    let mut value = (*bytes.first()? as usize) & max;
    let mut rest = &bytes[1..];
    if value < max {
        return Some((value, rest));
    }
    let mut shift = 0;
    loop {
        let b = *rest.first()?;
        rest = &rest[1..];
        value += ((b & 0x7f) as usize) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Some((value, rest));
        }
    }
}

/// Huffman-coded digits (RFC 7541 Appendix B: '0'-'2' are 5 bits, '3'-'9'
/// 6 bits); anything else is not a status code.
fn huffman_digits(bytes: &[u8]) -> Option<String> {
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    let mut out = String::new();
    let mut i = 0;
    let take = |i: usize, n: usize| -> Option<u32> {
        let slice = bits.get(i..i + n)?;
        Some(slice.iter().fold(0u32, |acc, b| acc << 1 | u32::from(*b)))
    };
    while i < bits.len() {
        // the padding: at most 7 one-bits
        if bits.len() - i < 8 && bits[i..].iter().all(|b| *b == 1) {
            break;
        }
        match take(i, 5)? {
            0b00000 => out.push('0'),
            0b00001 => out.push('1'),
            0b00010 => out.push('2'),
            _ => {
                let code = take(i, 6)?;
                if !(0b011001..=0b011111).contains(&code) {
                    return None;
                }
                out.push(char::from(b'3' + (code - 0b011001) as u8));
                i += 6;
                continue;
            }
        }
        i += 5;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huffman_status_codes_decode() {
        // "431": '4' 011010, '3' 011001, '1' 00001 (17 bits), then 7
        // bits of EOS padding (ones)
        let bits = "01101001100100001";
        let mut bytes = Vec::new();
        for chunk in bits.as_bytes().chunks(8) {
            let mut b = 0u8;
            for (i, c) in chunk.iter().enumerate() {
                b |= (c - b'0') << (7 - i);
            }
            if chunk.len() < 8 {
                b |= (1u8 << (8 - chunk.len())) - 1;
            }
            bytes.push(b);
        }
        assert_eq!(huffman_digits(&bytes).as_deref(), Some("431"));
        assert_eq!(decode_status(&[0x88]), Some(200));
        assert_eq!(decode_status(&[0x08, 0x03, b'4', b'3', b'1']), Some(431));
    }
}
