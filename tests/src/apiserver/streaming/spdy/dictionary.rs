//! The SPDY/3 header-compression dictionary (SPDY draft 3, section
//! 2.6.10.1): every name/value header block is deflated with this preset
//! dictionary. It is built from its definition (length-prefixed common
//! header names, then a run of common values) rather than spelled as 1423
//! hex bytes; the unit tests check its length and Adler-32 against the
//! values peers verify (`zlib.NewReaderDict` rejects any other).

use std::sync::OnceLock;

/// Length of the dictionary in bytes.
pub const LEN: usize = 1423;

/// Adler-32 of the dictionary: the `DICTID` in every SPDY/3 zlib header.
pub const ADLER32: u32 = 0xe3c6_a7c2;

/// Entries stored as a 4-byte big-endian length followed by the bytes.
const PREFIXED: &[&str] = &[
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// The unprefixed tail: status codes, reason phrases, dates, media types.
const TAIL: &[&str] = &[
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
    "203 Non-Authoritative Information",
    "204 No Content",
    "301 Moved Permanently",
    "400 Bad Request",
    "401 Unauthorized",
    "403 Forbidden",
    "404 Not Found",
    "500 Internal Server Error",
    "501 Not Implemented",
    "503 Service Unavailable",
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT",
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,",
    "text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdch",
    "charset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
];

/// The dictionary bytes.
pub fn bytes() -> &'static [u8] {
    static DICTIONARY: OnceLock<Vec<u8>> = OnceLock::new();
    DICTIONARY.get_or_init(|| {
        let mut d = Vec::with_capacity(LEN);
        for entry in PREFIXED {
            let len = u32::try_from(entry.len()).expect("short entry");
            d.extend_from_slice(&len.to_be_bytes());
            d.extend_from_slice(entry.as_bytes());
        }
        for part in TAIL {
            d.extend_from_slice(part.as_bytes());
        }
        d
    })
}
