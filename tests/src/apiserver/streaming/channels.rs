//! The WebSocket remote-command sub-protocols (`channel.k8s.io` family):
//! every message carries one stream, named by its first byte (binary
//! protocols) or first character `'0'+n` with a base64 payload (base64
//! protocols). Streams: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize;
//! `v5` adds the close signal `[255, n]` (the client half-closed stream n).

use base64::Engine;
use bytes::Bytes;
use tokio_tungstenite::tungstenite::Message;

/// stdin.
pub const STDIN: u8 = 0;
/// stdout.
pub const STDOUT: u8 = 1;
/// stderr.
pub const STDERR: u8 = 2;
/// The error (status) stream.
pub const ERROR: u8 = 3;
/// Terminal resize events.
pub const RESIZE: u8 = 4;
/// `v5`: "the stream in the next byte is closed".
pub const CLOSE: u8 = 255;

/// One sub-protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelProtocol {
    /// The `Sec-WebSocket-Protocol` name (empty: none offered).
    pub name: &'static str,
    /// Remote-command protocol version (1-5): v4+ report exit codes as a
    /// JSON `Status`; v5 has the close signal.
    pub version: u8,
    /// Text messages with base64 payloads.
    pub base64: bool,
}

/// Every protocol served, newest first.
pub const PROTOCOLS: &[ChannelProtocol] = &[
    ChannelProtocol {
        name: "v5.channel.k8s.io",
        version: 5,
        base64: false,
    },
    ChannelProtocol {
        name: "v4.channel.k8s.io",
        version: 4,
        base64: false,
    },
    ChannelProtocol {
        name: "v4.base64.channel.k8s.io",
        version: 4,
        base64: true,
    },
    ChannelProtocol {
        name: "v3.channel.k8s.io",
        version: 3,
        base64: false,
    },
    ChannelProtocol {
        name: "v2.channel.k8s.io",
        version: 2,
        base64: false,
    },
    ChannelProtocol {
        name: "channel.k8s.io",
        version: 1,
        base64: false,
    },
    ChannelProtocol {
        name: "base64.channel.k8s.io",
        version: 1,
        base64: true,
    },
];

/// The names of [`PROTOCOLS`].
pub fn names() -> Vec<&'static str> {
    PROTOCOLS.iter().map(|p| p.name).collect()
}

/// The protocol for a negotiated name (`None` offered means binary v1).
pub fn by_name(name: Option<&str>) -> Option<ChannelProtocol> {
    match name {
        None => Some(ChannelProtocol {
            name: "",
            version: 1,
            base64: false,
        }),
        Some(n) => PROTOCOLS.iter().find(|p| p.name == n).copied(),
    }
}

/// A decoded client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// Data on a stream.
    Data(u8, Bytes),
    /// v5 close signal for a stream.
    Close(u8),
}

impl ChannelProtocol {
    /// The message carrying `data` on `stream`.
    pub fn encode(&self, stream: u8, data: &[u8]) -> Message {
        if self.base64 {
            let text = format!(
                "{}{}",
                char::from(b'0' + stream),
                base64::engine::general_purpose::STANDARD.encode(data)
            );
            Message::Text(text.into())
        } else {
            let mut v = Vec::with_capacity(data.len() + 1);
            v.push(stream);
            v.extend_from_slice(data);
            Message::Binary(Bytes::from(v))
        }
    }

    /// Decodes a data message; `None` for anything that is not one
    /// (control frames, empty or malformed messages).
    pub fn decode(&self, msg: &Message) -> Option<Incoming> {
        match (msg, self.base64) {
            (Message::Binary(b), false) => {
                let (&first, rest) = b.split_first()?;
                if first == CLOSE && self.version >= 5 {
                    return rest.first().map(|&s| Incoming::Close(s));
                }
                Some(Incoming::Data(first, b.slice(1..)))
            }
            (Message::Text(t), true) => {
                let t = t.as_str();
                let first = *t.as_bytes().first()?;
                let data = base64::engine::general_purpose::STANDARD
                    .decode(&t[1..])
                    .ok()?;
                Some(Incoming::Data(first.wrapping_sub(b'0'), Bytes::from(data)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
