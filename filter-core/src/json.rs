//! JSON string literals for the audit record, written straight into a
//! `String`: the hot path escapes a few short strings per request, so the
//! common case (nothing to escape) is one table scan and one copy.

/// Append `s` as a JSON string literal (RFC 8259): `"` and `\` escaped,
/// control characters (C0, DEL, C1) as `\uXXXX` or their short forms, so a
/// log line can neither be broken nor carry terminal escape sequences.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    // Fast path, the common case: nothing to escape.
    if !s.bytes().any(|b| NEEDS_CARE[b as usize]) {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let short = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if c.is_control() => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        start = i + c.len_utf8();
        if short.is_empty() {
            // every control character is below U+00A0
            let code = c as u32;
            out.push_str("\\u00");
            out.push(HEX[(code >> 4) as usize & 0xf] as char);
            out.push(HEX[code as usize & 0xf] as char);
        } else {
            out.push_str(short);
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Bytes that may need escaping: C0, `"`, `\`, DEL, and 0xC2 (the UTF-8
/// lead byte of the C1 controls).
const NEEDS_CARE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[0x7f] = true;
    t[0xc2] = true;
    t
};
