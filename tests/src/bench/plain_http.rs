//! A blocking HTTP/1.1 GET for Envoy's admin interface (setup only, never
//! timed).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

/// GET `http://<authority><path>`; `(status, body)`, or None when the
/// server is not answering (yet).
pub fn get(authority: &str, path: &str, timeout: Duration) -> Option<(u16, String)> {
    let addr = authority.parse().ok()?;
    let mut conn = TcpStream::connect_timeout(&addr, timeout).ok()?;
    conn.set_read_timeout(Some(timeout)).ok()?;
    conn.set_write_timeout(Some(timeout)).ok()?;
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    conn.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().replace(' ', "") == "transfer-encoding:chunked");
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_string()
    };
    Some((status, body))
}

/// The payload of a `Transfer-Encoding: chunked` body.
pub fn dechunk(mut body: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size_line, rest) = body.split_once("\r\n")?;
        let size_hex = size_line.split(';').next()?.trim();
        let size = usize::from_str_radix(size_hex, 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..size)?);
        body = rest.get(size..)?.strip_prefix("\r\n")?;
    }
}

#[cfg(test)]
mod tests;
