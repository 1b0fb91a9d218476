//! HTTP/1.1 upgrades for exec/attach/portforward: recognising a WebSocket
//! or SPDY/3.1 upgrade request, choosing the sub-protocol the way the
//! apiserver and kubelet do (the client's order, first one supported), and
//! the `101 Switching Protocols` answers.

use hyper::HeaderMap;
use hyper::header::HeaderValue;

use super::super::http_io;
use super::super::status::ApiError;

/// The header kubectl lists SPDY stream protocols in.
pub const STREAM_PROTOCOL_HEADER: &str = "x-stream-protocol-version";

/// What kind of upgrade a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upgrade {
    /// `Upgrade: websocket` with its key and offered sub-protocols.
    WebSocket {
        /// `Sec-WebSocket-Key`.
        key: String,
        /// `Sec-WebSocket-Protocol` values, in order.
        protocols: Vec<String>,
    },
    /// `Upgrade: SPDY/3.1` with the offered `X-Stream-Protocol-Version`s.
    Spdy {
        /// Offered protocols, in order.
        protocols: Vec<String>,
    },
}

fn values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The upgrade `headers` ask for; `Err` for an upgrade this server does
/// not speak; `Ok(None)` for a plain request.
pub fn detect(headers: &HeaderMap) -> Result<Option<Upgrade>, ApiError> {
    let connection_upgrade = values(headers, "connection")
        .iter()
        .any(|v| v.eq_ignore_ascii_case("upgrade"));
    let upgrade = headers
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !connection_upgrade || upgrade.is_empty() {
        return Ok(None);
    }
    if upgrade.eq_ignore_ascii_case("websocket") {
        let key = headers
            .get("sec-websocket-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if key.is_empty() {
            return Err(ApiError::bad_request(
                "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header is missing or blank",
            ));
        }
        return Ok(Some(Upgrade::WebSocket {
            key,
            protocols: values(headers, "sec-websocket-protocol"),
        }));
    }
    if upgrade.eq_ignore_ascii_case("SPDY/3.1") {
        return Ok(Some(Upgrade::Spdy {
            protocols: values(headers, STREAM_PROTOCOL_HEADER),
        }));
    }
    Err(ApiError::bad_request(format!(
        "unsupported upgrade protocol {upgrade:?}"
    )))
}

/// The first of the client's `offered` protocols the server `supports`
/// (client order wins, as in the apiserver's `httpstream.Handshake`).
pub fn choose<'a>(offered: &[String], supports: &[&'a str]) -> Option<&'a str> {
    offered
        .iter()
        .find_map(|o| supports.iter().find(|s| **s == o).copied())
}

/// 101 for a WebSocket upgrade with the chosen sub-protocol (none if the
/// client offered none).
pub fn websocket_response(key: &str, protocol: Option<&str>) -> hyper::Response<http_io::Body> {
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut b = hyper::Response::builder()
        .status(101)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", accept);
    if let Some(p) = protocol.filter(|p| !p.is_empty())
        && let Ok(v) = HeaderValue::from_str(p)
    {
        b = b.header("sec-websocket-protocol", v);
    }
    b.body(http_io::full("")).expect("valid response")
}

/// 101 for a SPDY/3.1 upgrade with the negotiated stream protocol.
pub fn spdy_response(protocol: &str) -> hyper::Response<http_io::Body> {
    let mut b = hyper::Response::builder()
        .status(101)
        .header("connection", "Upgrade")
        .header("upgrade", "SPDY/3.1");
    if let Ok(v) = HeaderValue::from_str(protocol) {
        b = b.header(STREAM_PROTOCOL_HEADER, v);
    }
    b.body(http_io::full("")).expect("valid response")
}

/// 403 when no SPDY stream protocol is shared, like the kubelet's
/// handshake (listing what it accepts).
pub fn spdy_refusal(offered: &[String], supports: &[&str]) -> hyper::Response<http_io::Body> {
    let msg = if offered.is_empty() {
        "unable to upgrade: X-Stream-Protocol-Version is required".to_string()
    } else {
        format!(
            "unable to upgrade: unable to negotiate protocol: client supports [{}], server accepts [{}]",
            offered.join(" "),
            supports.join(" ")
        )
    };
    let mut resp = http_io::error(&ApiError::new(
        if offered.is_empty() { 400 } else { 403 },
        if offered.is_empty() {
            "BadRequest"
        } else {
            "Forbidden"
        },
        msg,
    ));
    for s in supports {
        if let Ok(v) = HeaderValue::from_str(s) {
            resp.headers_mut()
                .append("x-accepted-stream-protocol-versions", v);
        }
    }
    resp
}

/// 400 when no WebSocket sub-protocol is shared.
pub fn websocket_refusal(offered: &[String], supports: &[&str]) -> ApiError {
    ApiError::bad_request(format!(
        "requested protocol(s) are not supported: [{}]; supports [{}]",
        offered.join(" "),
        supports.join(" ")
    ))
}

#[cfg(test)]
mod tests;
