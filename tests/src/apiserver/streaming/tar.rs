//! A minimal tar reader and writer for `kubectl cp`: POSIX ustar headers
//! (PAX `path` records for names that do not fit), and on reading also the
//! GNU long-name entries and base-256 numbers other writers use. Regular
//! files, directories and symbolic links; anything else is skipped.

/// One archive member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Member name as stored (relative, `/`-separated; directories may end
    /// with `/`).
    pub name: String,
    /// What it is.
    pub kind: EntryKind,
    /// Permission bits.
    pub mode: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
}

/// Member kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file and its contents.
    File(Vec<u8>),
    /// A directory.
    Dir,
    /// A symbolic link to the target.
    Symlink(String),
}

/// Why an archive could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TarError {
    /// The input ended inside a header or a member's data.
    #[error("Unexpected EOF in archive")]
    Truncated,
    /// A header's checksum did not match.
    #[error("This does not look like a tar archive")]
    BadChecksum,
    /// A numeric header field was not octal or base-256.
    #[error("Archive contains invalid {0} field")]
    BadNumber(&'static str),
    /// A PAX extended header was malformed.
    #[error("Malformed extended header")]
    BadPax,
}

const BLOCK: usize = 512;
/// GNU tar pads archives to 20 blocks.
const RECORD: usize = 20 * BLOCK;

/// Writes `entries` as an archive (two zero blocks, padded to a record).
pub fn write(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let (typeflag, size, link) = match &e.kind {
            EntryKind::File(data) => (b'0', data.len(), ""),
            EntryKind::Dir => (b'5', 0, ""),
            EntryKind::Symlink(target) => (b'2', 0, target.as_str()),
        };
        let split = split_name(&e.name);
        if split.is_none() || link.len() > 100 {
            let mut records = String::new();
            if split.is_none() {
                records += &pax_record("path", &e.name);
            }
            if link.len() > 100 {
                records += &pax_record("linkpath", link);
            }
            let base = e
                .name
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("x");
            let pax_name: String = format!("PaxHeaders.0/{base}").chars().take(99).collect();
            out.extend_from_slice(&header(
                &pax_name,
                "",
                b'x',
                records.len(),
                0o644,
                e.mtime,
                "",
            ));
            push_padded(&mut out, records.as_bytes());
        }
        let (prefix, name) = split.unwrap_or(("", ""));
        let link = if link.len() > 100 { "" } else { link };
        out.extend_from_slice(&header(name, prefix, typeflag, size, e.mode, e.mtime, link));
        if let EntryKind::File(data) = &e.kind {
            push_padded(&mut out, data);
        }
    }
    out.resize(out.len() + 2 * BLOCK, 0);
    let padded = out.len().div_ceil(RECORD) * RECORD;
    out.resize(padded, 0);
    out
}

/// `(prefix, name)` for the ustar fields, or `None` if it cannot fit.
fn split_name(full: &str) -> Option<(&str, &str)> {
    if full.len() <= 100 {
        return Some(("", full));
    }
    // Split at a '/' so that prefix <= 155 and name <= 100.
    let bytes = full.as_bytes();
    (1..full.len().min(156))
        .rev()
        .filter(|&i| bytes[i] == b'/')
        .find(|&i| full.len() - i - 1 <= 100 && i + 1 < full.len())
        .map(|i| (&full[..i], &full[i + 1..]))
}

/// A PAX record: `"<len> key=value\n"`, `len` counting itself.
fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while len.to_string().len() + body.len() != len {
        len = len.to_string().len() + body.len();
    }
    format!("{len}{body}")
}

fn push_padded(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(data);
    let pad = (BLOCK - data.len() % BLOCK) % BLOCK;
    out.resize(out.len() + pad, 0);
}

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    let s = &s[s.len().saturating_sub(digits)..];
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

fn header(
    name: &str,
    prefix: &str,
    typeflag: u8,
    size: usize,
    mode: u32,
    mtime: u64,
    link: &str,
) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len().min(100)].copy_from_slice(&name.as_bytes()[..name.len().min(100)]);
    octal(&mut h[100..108], u64::from(mode & 0o7777));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size as u64);
    octal(&mut h[136..148], mtime);
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[265..269].copy_from_slice(b"root");
    h[297..301].copy_from_slice(b"root");
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let chk = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(chk.as_bytes());
    h
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

fn number(field: &[u8], what: &'static str) -> Result<u64, TarError> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        // base-256: big-endian, first byte's high bit is the marker.
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(b)))
                .ok_or(TarError::BadNumber(what))?;
        }
        return Ok(v);
    }
    let s = cstr(field);
    let s = s.trim_matches(|c: char| c == ' ' || c == '\0');
    if s.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(s, 8).map_err(|_| TarError::BadNumber(what))
}

fn checksum_ok(h: &[u8]) -> bool {
    let Ok(want) = number(&h[148..156], "checksum") else {
        return false;
    };
    let unsigned: u64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    let signed: i64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                i64::from(b as i8)
            }
        })
        .sum();
    want == unsigned || i64::try_from(want).ok() == Some(signed)
}

/// Parses PAX records into `(key, value)` pairs.
fn pax_records(mut data: &[u8]) -> Result<Vec<(String, String)>, TarError> {
    let mut out = Vec::new();
    while !data.is_empty() && data[0] != 0 {
        let space = data
            .iter()
            .position(|&b| b == b' ')
            .ok_or(TarError::BadPax)?;
        let len: usize = std::str::from_utf8(&data[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(TarError::BadPax)?;
        if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err(TarError::BadPax);
        }
        let record =
            std::str::from_utf8(&data[space + 1..len - 1]).map_err(|_| TarError::BadPax)?;
        let (k, v) = record.split_once('=').ok_or(TarError::BadPax)?;
        out.push((k.to_string(), v.to_string()));
        data = &data[len..];
    }
    Ok(out)
}

/// Reads every member of `archive`.
pub fn read(archive: &[u8]) -> Result<Vec<Entry>, TarError> {
    let mut entries = Vec::new();
    let mut at = 0;
    let mut next_name: Option<String> = None;
    let mut next_link: Option<String> = None;
    let mut next_size: Option<u64> = None;
    loop {
        let Some(h) = archive.get(at..at + BLOCK) else {
            // No end-of-archive blocks: accept a clean end, like GNU tar.
            if at == archive.len() {
                return Ok(entries);
            }
            return Err(TarError::Truncated);
        };
        at += BLOCK;
        if h.iter().all(|&b| b == 0) {
            return Ok(entries);
        }
        if !checksum_ok(h) {
            return Err(TarError::BadChecksum);
        }
        let size = match next_size.take() {
            Some(s) => s,
            None => number(&h[124..136], "size")?,
        };
        let size = usize::try_from(size).map_err(|_| TarError::BadNumber("size"))?;
        let data = archive.get(at..at + size).ok_or(TarError::Truncated)?;
        at += size.div_ceil(BLOCK) * BLOCK;
        let typeflag = h[156];
        let ustar = &h[257..263] == b"ustar\0";
        let mut name = cstr(&h[..100]);
        if ustar {
            let prefix = cstr(&h[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        let name = next_name.take().unwrap_or(name);
        let link = next_link.take().unwrap_or_else(|| cstr(&h[157..257]));
        let mode = number(&h[100..108], "mode")? as u32;
        let mtime = number(&h[136..148], "mtime")?;
        let kind = match typeflag {
            b'0' | 0 | b'7' => EntryKind::File(data.to_vec()),
            b'5' => EntryKind::Dir,
            b'2' => EntryKind::Symlink(link),
            b'x' => {
                for (k, v) in pax_records(data)? {
                    match k.as_str() {
                        "path" => next_name = Some(v),
                        "linkpath" => next_link = Some(v),
                        "size" => next_size = Some(v.parse().map_err(|_| TarError::BadPax)?),
                        _ => {}
                    }
                }
                continue;
            }
            b'L' => {
                next_name = Some(cstr(data));
                continue;
            }
            b'K' => {
                next_link = Some(cstr(data));
                continue;
            }
            // Global PAX headers, hard links, devices, FIFOs: skipped.
            _ => continue,
        };
        entries.push(Entry {
            name,
            kind,
            mode,
            mtime,
        });
    }
}

#[cfg(test)]
mod tests;
