//! SPDY/3.1 frames: the 8-byte frame header, the control frames kubectl's
//! `moby/spdystream` sends or answers (SYN_STREAM, SYN_REPLY, RST_STREAM,
//! SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE) and DATA frames.
//!
//! ```text
//! control: |1| version(15) | type(16) |  flags(8) | length(24) | payload
//! data:    |0| stream id(31)          |  flags(8) | length(24) | payload
//! ```

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::SpdyError;
use super::header_block::{HeaderCompressor, HeaderDecompressor, Headers};

/// The protocol version in control frames.
pub const VERSION: u16 = 3;
/// FLAG_FIN on DATA, SYN_STREAM, SYN_REPLY and HEADERS.
pub const FLAG_FIN: u8 = 0x01;
/// The largest payload a frame header can describe.
pub const MAX_PAYLOAD: usize = (1 << 24) - 1;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

/// RST_STREAM status codes used here.
pub mod rst {
    /// PROTOCOL_ERROR.
    pub const PROTOCOL_ERROR: u32 = 1;
    /// REFUSED_STREAM.
    pub const REFUSED_STREAM: u32 = 3;
    /// CANCEL.
    pub const CANCEL: u32 = 5;
}

/// One frame, headers decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// SYN_STREAM: the peer opens a stream.
    SynStream {
        /// New stream id (odd from clients).
        stream_id: u32,
        /// Associated stream, 0 if none.
        associated_to: u32,
        /// Priority (3 bits).
        priority: u8,
        /// FLAG_FIN / FLAG_UNIDIRECTIONAL.
        flags: u8,
        /// The stream's headers.
        headers: Headers,
    },
    /// SYN_REPLY: accepting a stream the peer opened.
    SynReply {
        /// The stream.
        stream_id: u32,
        /// FLAG_FIN.
        flags: u8,
        /// Reply headers.
        headers: Headers,
    },
    /// RST_STREAM: abort one stream.
    RstStream {
        /// The stream.
        stream_id: u32,
        /// Status code (see [`rst`]).
        status: u32,
    },
    /// SETTINGS: `(flags, id, value)` entries.
    Settings {
        /// FLAG_SETTINGS_CLEAR_SETTINGS.
        flags: u8,
        /// Entries.
        entries: Vec<(u8, u32, u32)>,
    },
    /// PING (echoed when the peer started it).
    Ping {
        /// Ping id: odd from clients, even from servers.
        id: u32,
    },
    /// GOAWAY: no new streams.
    GoAway {
        /// Last stream id the sender accepted.
        last_good_stream_id: u32,
        /// Status (0 OK).
        status: u32,
    },
    /// HEADERS: more headers for a stream.
    Headers {
        /// The stream.
        stream_id: u32,
        /// FLAG_FIN.
        flags: u8,
        /// Headers.
        headers: Headers,
    },
    /// WINDOW_UPDATE (flow control; spdystream neither sends nor honours it).
    WindowUpdate {
        /// The stream.
        stream_id: u32,
        /// Window increment.
        delta: u32,
    },
    /// DATA on a stream.
    Data {
        /// The stream.
        stream_id: u32,
        /// FLAG_FIN.
        flags: u8,
        /// Payload.
        data: Bytes,
    },
    /// A control frame type this implementation ignores (CREDENTIAL...).
    Unknown {
        /// The control frame type.
        frame_type: u16,
    },
}

impl Frame {
    /// Appends the wire form to `out`, compressing header blocks with
    /// `compressor` (so frames must be encoded in the order they are sent).
    pub fn encode(
        &self,
        compressor: &mut HeaderCompressor,
        out: &mut Vec<u8>,
    ) -> Result<(), SpdyError> {
        let mut payload = Vec::new();
        let (kind, flags) = match self {
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                check_len(data.len())?;
                out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                out.extend_from_slice(&length_word(*flags, data.len()));
                out.extend_from_slice(data);
                return Ok(());
            }
            Frame::SynStream {
                stream_id,
                associated_to,
                priority,
                flags,
                headers,
            } => {
                payload.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                payload.extend_from_slice(&(associated_to & 0x7fff_ffff).to_be_bytes());
                payload.push((priority & 0x07) << 5);
                payload.push(0); // credential slot
                payload.extend_from_slice(&compressor.compress(headers)?);
                (SYN_STREAM, *flags)
            }
            Frame::SynReply {
                stream_id,
                flags,
                headers,
            } => {
                payload.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                payload.extend_from_slice(&compressor.compress(headers)?);
                (SYN_REPLY, *flags)
            }
            Frame::RstStream { stream_id, status } => {
                payload.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                payload.extend_from_slice(&status.to_be_bytes());
                (RST_STREAM, 0)
            }
            Frame::Settings { flags, entries } => {
                let n = u32::try_from(entries.len()).unwrap_or(u32::MAX);
                payload.extend_from_slice(&n.to_be_bytes());
                for (f, id, value) in entries {
                    payload.extend_from_slice(
                        &((u32::from(*f) << 24) | (id & 0xff_ffff)).to_be_bytes(),
                    );
                    payload.extend_from_slice(&value.to_be_bytes());
                }
                (SETTINGS, *flags)
            }
            Frame::Ping { id } => {
                payload.extend_from_slice(&id.to_be_bytes());
                (PING, 0)
            }
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => {
                payload.extend_from_slice(&(last_good_stream_id & 0x7fff_ffff).to_be_bytes());
                payload.extend_from_slice(&status.to_be_bytes());
                (GOAWAY, 0)
            }
            Frame::Headers {
                stream_id,
                flags,
                headers,
            } => {
                payload.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                payload.extend_from_slice(&compressor.compress(headers)?);
                (HEADERS, *flags)
            }
            Frame::WindowUpdate { stream_id, delta } => {
                payload.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                payload.extend_from_slice(&(delta & 0x7fff_ffff).to_be_bytes());
                (WINDOW_UPDATE, 0)
            }
            Frame::Unknown { frame_type } => {
                return Err(SpdyError::InvalidFrame(format!(
                    "cannot encode unknown control frame type {frame_type}"
                )));
            }
        };
        check_len(payload.len())?;
        out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&length_word(flags, payload.len()));
        out.extend_from_slice(&payload);
        Ok(())
    }

    /// Parses one frame from its 8-byte header and payload.
    pub fn decode(
        head: [u8; 8],
        payload: Bytes,
        decompressor: &mut HeaderDecompressor,
    ) -> Result<Frame, SpdyError> {
        let word = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let flags = head[4];
        if word & 0x8000_0000 == 0 {
            let stream_id = word & 0x7fff_ffff;
            if stream_id == 0 {
                return Err(SpdyError::InvalidFrame("DATA on stream 0".into()));
            }
            return Ok(Frame::Data {
                stream_id,
                flags,
                data: payload,
            });
        }
        let version = ((word >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return Err(SpdyError::UnsupportedVersion(version));
        }
        let kind = (word & 0xffff) as u16;
        let p = &payload[..];
        let frame = match kind {
            SYN_STREAM => {
                need(p, 10, "SYN_STREAM")?;
                Frame::SynStream {
                    stream_id: be31(p, 0),
                    associated_to: be31(p, 4),
                    priority: p[8] >> 5,
                    flags,
                    headers: decompressor.decompress(&p[10..])?,
                }
            }
            SYN_REPLY => {
                need(p, 4, "SYN_REPLY")?;
                Frame::SynReply {
                    stream_id: be31(p, 0),
                    flags,
                    headers: decompressor.decompress(&p[4..])?,
                }
            }
            HEADERS => {
                need(p, 4, "HEADERS")?;
                Frame::Headers {
                    stream_id: be31(p, 0),
                    flags,
                    headers: decompressor.decompress(&p[4..])?,
                }
            }
            RST_STREAM => {
                exact(p, 8, "RST_STREAM")?;
                Frame::RstStream {
                    stream_id: be31(p, 0),
                    status: be32(p, 4),
                }
            }
            SETTINGS => {
                need(p, 4, "SETTINGS")?;
                let n = be32(p, 0) as usize;
                if p.len() != 4 + n.saturating_mul(8) {
                    return Err(SpdyError::InvalidFrame("SETTINGS length mismatch".into()));
                }
                let entries = (0..n)
                    .map(|i| {
                        let at = 4 + i * 8;
                        let id = be32(p, at);
                        ((id >> 24) as u8, id & 0xff_ffff, be32(p, at + 4))
                    })
                    .collect();
                Frame::Settings { flags, entries }
            }
            PING => {
                exact(p, 4, "PING")?;
                Frame::Ping { id: be32(p, 0) }
            }
            GOAWAY => {
                exact(p, 8, "GOAWAY")?;
                Frame::GoAway {
                    last_good_stream_id: be31(p, 0),
                    status: be32(p, 4),
                }
            }
            WINDOW_UPDATE => {
                exact(p, 8, "WINDOW_UPDATE")?;
                Frame::WindowUpdate {
                    stream_id: be31(p, 0),
                    delta: be31(p, 4),
                }
            }
            other => Frame::Unknown { frame_type: other },
        };
        Ok(frame)
    }
}

fn check_len(len: usize) -> Result<(), SpdyError> {
    if len > MAX_PAYLOAD {
        return Err(SpdyError::InvalidFrame(format!(
            "payload of {len} bytes does not fit a frame"
        )));
    }
    Ok(())
}

fn length_word(flags: u8, len: usize) -> [u8; 4] {
    ((u32::from(flags) << 24) | (len as u32 & 0xff_ffff)).to_be_bytes()
}

fn need(p: &[u8], n: usize, what: &str) -> Result<(), SpdyError> {
    if p.len() < n {
        return Err(SpdyError::InvalidFrame(format!("{what} too short")));
    }
    Ok(())
}

fn exact(p: &[u8], n: usize, what: &str) -> Result<(), SpdyError> {
    if p.len() != n {
        return Err(SpdyError::InvalidFrame(format!(
            "{what} must be {n} bytes, got {}",
            p.len()
        )));
    }
    Ok(())
}

fn be32(p: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]])
}

fn be31(p: &[u8], at: usize) -> u32 {
    be32(p, at) & 0x7fff_ffff
}

/// Reads the next frame; `Ok(None)` on a clean end of stream between
/// frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    decompressor: &mut HeaderDecompressor,
) -> Result<Option<Frame>, SpdyError> {
    let mut head = [0u8; 8];
    let mut filled = 0;
    while filled < head.len() {
        let n = reader.read(&mut head[filled..]).await?;
        if n == 0 {
            if filled == 0 {
                return Ok(None);
            }
            return Err(SpdyError::InvalidFrame("connection ended mid-frame".into()));
        }
        filled += n;
    }
    let len = (u32::from_be_bytes([0, head[5], head[6], head[7]])) as usize;
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload).await?;
    Frame::decode(head, Bytes::from(payload), decompressor).map(Some)
}
