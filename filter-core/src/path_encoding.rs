//! Paths the apiserver would read differently from the gateway. Envoy
//! normalizes `..` and `//` before the filter, but not percent-encodings:
//! Go's `URL.Path` decodes `%2F` into a `/` that splits the path, so
//! `/api/v1/namespaces/a%2F..%2Fkube-system/secrets` would be RequestInfo
//! `namespaces/a/../kube-system/...` to the cluster but one odd namespace
//! name to the gateway's RBAC. Such paths are refused (400) rather than
//! guessed at. Only the part forwarded to the cluster is checked: the
//! `/clusters/<ctx>` segment may contain `%2F` (EKS context names do), and
//! the query is the apiserver's to parse (selectors legitimately carry
//! `%2F`).

use std::borrow::Cow;

/// Why a path is refused.
#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathEncodingError {
    /// `%2F`/`%2f`: the cluster would see a path separator.
    #[error("an encoded slash (%2F), which the cluster would read as a path separator")]
    EncodedSlash,
    /// `%5C`/`%5c`: a backslash some servers treat as a separator.
    #[error("an encoded backslash (%5C)")]
    EncodedBackslash,
    /// `%2E`/`%2e`: the cluster would see `.`/`..` segments Envoy never
    /// normalized.
    #[error("an encoded dot (%2E), which could form a \".\" or \"..\" segment")]
    EncodedDot,
    /// `%` not followed by two hex digits: Go refuses to parse such a URL.
    #[error("a malformed percent-escape")]
    MalformedEscape,
    /// Escapes that decode to bytes that are not UTF-8: the gateway and the
    /// cluster could not agree on the names they spell.
    #[error("percent-escapes that do not decode to UTF-8")]
    NotUtf8,
    /// Raw bytes outside printable ASCII (Envoy refuses most; whatever gets
    /// through was not what the client meant to send).
    #[error("characters that must be percent-encoded")]
    RawNonAscii,
}

/// Check the path the cluster will see (`:path` after the cluster prefix
/// is stripped; the query is ignored).
pub fn check(path_and_query: &str) -> Result<(), PathEncodingError> {
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(p, _)| p);
    let bytes = path.as_bytes();
    let mut decoded_non_ascii = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let (Some(h), Some(l)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathEncodingError::MalformedEscape);
                };
                match h << 4 | l {
                    b'/' => return Err(PathEncodingError::EncodedSlash),
                    b'\\' => return Err(PathEncodingError::EncodedBackslash),
                    b'.' => return Err(PathEncodingError::EncodedDot),
                    b if b >= 0x80 => decoded_non_ascii = true,
                    _ => {}
                }
                i += 3;
            }
            b if !(0x21..0x7f).contains(&b) => return Err(PathEncodingError::RawNonAscii),
            _ => i += 1,
        }
    }
    if decoded_non_ascii && std::str::from_utf8(&decode_bytes(bytes)).is_err() {
        return Err(PathEncodingError::NotUtf8);
    }
    Ok(())
}

/// `%XX` → byte; malformed escapes and non-UTF-8 results stay literal.
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    match String::from_utf8(decode_bytes(s.as_bytes())) {
        Ok(decoded) => Cow::Owned(decoded),
        Err(_) => Cow::Borrowed(s),
    }
}

/// `%XX` → byte; a `%` without two hex digits stays literal.
fn decode_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
