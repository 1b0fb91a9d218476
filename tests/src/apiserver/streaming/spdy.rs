//! SPDY/3.1, the framing `kubectl` speaks for exec/attach/port-forward when
//! WebSockets are off (and, tunneled inside WebSocket messages, for
//! port-forward by default). Written from the SPDY draft 3.1 and the
//! behaviour of `moby/spdystream`, the library on the other end.

pub mod connection;
pub mod dictionary;
pub mod frame;
pub mod header_block;

pub use connection::{Connection, FrameWriter, IncomingStream};

/// What can go wrong speaking SPDY.
#[derive(Debug, thiserror::Error)]
pub enum SpdyError {
    /// Reading or writing the connection failed.
    #[error("SPDY I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A frame was malformed (lengths, stream ids).
    #[error("invalid SPDY frame: {0}")]
    InvalidFrame(String),
    /// A control frame carried a version other than 3.
    #[error("unsupported SPDY version {0}")]
    UnsupportedVersion(u16),
    /// zlib failed on a header block (or the peer used another dictionary).
    #[error("SPDY header compression: {0}")]
    Compression(String),
    /// A decompressed name/value block was malformed.
    #[error("invalid SPDY header block: {0}")]
    HeaderBlock(String),
}

#[cfg(test)]
mod tests;
