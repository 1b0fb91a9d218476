//! A cluster's `server` URL split into scheme, host, port and path prefix.

use std::net::Ipv6Addr;

use super::ServerUrl;

/// Parse `https://host[:port][/path]`. Like client-go, a URL without a
/// scheme (`10.0.0.1:6443`) means https.
pub fn parse(url: &str) -> Result<ServerUrl, String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("server URL is empty".to_string());
    }
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => ("https".to_string(), url),
    };
    let default_port = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        other => {
            return Err(format!(
                "unsupported URL scheme `{other}` in `{url}` (use https)"
            ));
        }
    };
    if rest.contains(['?', '#']) {
        return Err(format!(
            "server URL `{url}` must not have a query or fragment"
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(format!(
            "server URL `{url}` must not carry credentials; use the user entry"
        ));
    }
    let (host, port) =
        split_host_port(authority).map_err(|reason| format!("{reason} in `{url}`"))?;
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(format!("invalid port `{p}` in `{url}`")),
            Ok(port) => port,
        },
    };
    // Envoy puts the path into a route's prefix_rewrite and the host into
    // the upstream SNI: it refuses controls there and names over 255 bytes
    // (the whole route table would be NACKed, not just this context).
    if let Some(c) = path.chars().find(|c| c.is_ascii_control() || *c == ' ') {
        return Err(format!(
            "the path of `{}` contains {c:?}: percent-encode it",
            url.escape_debug()
        ));
    }
    if host.len() > MAX_DNS_NAME {
        return Err(format!(
            "host name of {} characters (at most {MAX_DNS_NAME})",
            host.len()
        ));
    }
    Ok(ServerUrl {
        scheme,
        host,
        port,
        path: path.trim_end_matches('/').to_string(),
    })
}

/// The longest DNS name (RFC 1035 §2.3.4 in text form); also below
/// Envoy's 255-byte limit on an SNI.
pub const MAX_DNS_NAME: usize = 253;

fn split_host_port(authority: &str) -> Result<(String, Option<&str>), String> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (ip, after) = bracketed
            .split_once(']')
            .ok_or_else(|| "unclosed `[` in IPv6 host".to_string())?;
        ip.parse::<Ipv6Addr>()
            .map_err(|_| format!("`{ip}` is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("unexpected `{p}` after IPv6 host"))?,
            ),
        };
        return Ok((ip.to_string(), port));
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err("missing host".to_string());
    }
    if port.is_some_and(|p| p.contains(':')) {
        return Err("IPv6 hosts must be in brackets, e.g. https://[::1]:6443".to_string());
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(format!("`{host}` is not a valid host name"));
    }
    Ok((host.to_string(), port))
}
