//! Credentials in the query string. kubeplex reads tokens only from the
//! `Authorization` header, but clients (browsers, scripts, OAuth
//! libraries) sometimes put one in the URL: `?access_token=<JWT>`. Such a
//! request is refused so the token reaches no cluster (whose own audit log
//! would keep the URL), and every record of it carries the path with the
//! value replaced, so the token lands in no log either.

use std::borrow::Cow;

use crate::path_encoding::percent_decode;

/// Parameter names that carry a credential (compared case-insensitively).
const CREDENTIAL_NAMES: [&str; 3] = ["access_token", "id_token", "token"];

/// What replaces a credential's value in logs.
pub const REDACTED: &str = "REDACTED";

/// The first query parameter that carries a credential: a known name, or
/// any value that is a compact JWS (`<b64url JSON header>.<b64url>.<b64url>`).
pub fn find(path_and_query: &str) -> Option<Cow<'_, str>> {
    params(path_and_query)
        .find(|(name, value)| is_credential(name, value))
        .map(|(name, _)| percent_decode(name))
}

/// `path_and_query` with every credential value replaced by [`REDACTED`]
/// (borrowed when there is none).
pub fn redact(path_and_query: &str) -> Cow<'_, str> {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return Cow::Borrowed(path_and_query);
    };
    if find(path_and_query).is_none() {
        return Cow::Borrowed(path_and_query);
    }
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if is_credential(name, value) {
                format!("{name}={REDACTED}")
            } else {
                pair.to_string()
            }
        })
        .collect();
    Cow::Owned(format!("{path}?{}", pairs.join("&")))
}

/// `(name, value)` pairs of the query, still percent-encoded (Go's
/// `url.ParseQuery` splits on `&` only).
fn params(path_and_query: &str) -> impl Iterator<Item = (&str, &str)> {
    path_and_query
        .split_once('?')
        .map_or("", |(_, q)| q)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

fn is_credential(name: &str, value: &str) -> bool {
    let name = percent_decode(name);
    let named = CREDENTIAL_NAMES
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n));
    (named && !value.is_empty()) || looks_like_jws(&percent_decode(&value.replace('+', " ")))
}

/// Three base64url segments whose first decodes to a JSON object.
fn looks_like_jws(value: &str) -> bool {
    let mut parts = value.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let b64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    // `eyJ` is base64 for `{"`: every JWS header starts with it
    header.starts_with("eyJ") && value.split('.').all(b64url)
}

#[cfg(test)]
mod tests;
