//! SPDY/3 name/value header blocks: the plain encoding (32-bit counts and
//! lengths, lower-case names, repeated values joined with NUL) and the
//! per-direction zlib contexts with the SPDY dictionary. One compressor
//! serves every block a connection sends and one decompressor every block
//! it receives: the zlib stream spans frames (each block ends with a sync
//! flush), so the order of frames on the wire is the order of calls.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

use super::SpdyError;
use super::dictionary;

/// Header names and values in order; a repeated name is a repeated entry.
pub type Headers = Vec<(String, String)>;

/// A decompressed block larger than this is refused (zlib bomb guard).
const MAX_BLOCK: usize = 1 << 20;

/// Encodes `headers` (names lower-cased; values of one name joined by NUL,
/// first occurrence order).
pub fn encode(headers: &[(String, String)]) -> Vec<u8> {
    let mut grouped: Vec<(String, Vec<&str>)> = Vec::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        match grouped.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => grouped.push((name, vec![value])),
        }
    }
    let mut out = Vec::new();
    put_u32(&mut out, grouped.len());
    for (name, values) in grouped {
        put_u32(&mut out, name.len());
        out.extend_from_slice(name.as_bytes());
        let value = values.join("\0");
        put_u32(&mut out, value.len());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

/// Decodes a plain (decompressed) block.
pub fn decode(mut block: &[u8]) -> Result<Headers, SpdyError> {
    let count = take_u32(&mut block)?;
    let mut headers = Vec::new();
    for _ in 0..count {
        let name = take_str(&mut block)?;
        let value = take_str(&mut block)?;
        if name.is_empty() {
            return Err(SpdyError::HeaderBlock("empty header name".into()));
        }
        for v in value.split('\0') {
            headers.push((name.to_ascii_lowercase(), v.to_string()));
        }
    }
    if !block.is_empty() {
        return Err(SpdyError::HeaderBlock(format!(
            "{} bytes after the last header",
            block.len()
        )));
    }
    Ok(headers)
}

fn take_u32(block: &mut &[u8]) -> Result<u32, SpdyError> {
    let (head, rest) = block
        .split_first_chunk::<4>()
        .ok_or_else(|| SpdyError::HeaderBlock("truncated length".into()))?;
    *block = rest;
    Ok(u32::from_be_bytes(*head))
}

fn take_str(block: &mut &[u8]) -> Result<String, SpdyError> {
    let len = take_u32(block)? as usize;
    if block.len() < len {
        return Err(SpdyError::HeaderBlock("truncated string".into()));
    }
    let (s, rest) = block.split_at(len);
    *block = rest;
    String::from_utf8(s.to_vec()).map_err(|_| SpdyError::HeaderBlock("header is not UTF-8".into()))
}

/// The sending side's zlib context.
pub struct HeaderCompressor {
    zlib: Compress,
}

impl std::fmt::Debug for HeaderCompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderCompressor").finish_non_exhaustive()
    }
}

impl HeaderCompressor {
    /// A fresh context primed with the SPDY dictionary.
    pub fn new() -> HeaderCompressor {
        let mut zlib = Compress::new(Compression::best(), true);
        zlib.set_dictionary(dictionary::bytes())
            .expect("dictionary accepted by a fresh deflate stream");
        HeaderCompressor { zlib }
    }

    /// Encodes and compresses one header block (sync-flushed).
    pub fn compress(&mut self, headers: &[(String, String)]) -> Result<Vec<u8>, SpdyError> {
        let plain = encode(headers);
        let start = self.zlib.total_in();
        let mut out = Vec::with_capacity(plain.len() + 64);
        loop {
            let consumed = (self.zlib.total_in() - start) as usize;
            self.zlib
                .compress_vec(&plain[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|e| SpdyError::Compression(e.to_string()))?;
            let consumed = (self.zlib.total_in() - start) as usize;
            // zlib finished the flush when it left output space unused.
            if consumed == plain.len() && out.len() < out.capacity() {
                return Ok(out);
            }
            out.reserve(out.capacity().max(64));
        }
    }
}

impl Default for HeaderCompressor {
    fn default() -> Self {
        HeaderCompressor::new()
    }
}

/// The receiving side's zlib context.
pub struct HeaderDecompressor {
    zlib: Decompress,
}

impl std::fmt::Debug for HeaderDecompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderDecompressor").finish_non_exhaustive()
    }
}

impl HeaderDecompressor {
    /// A fresh context (the dictionary is supplied when the stream asks).
    pub fn new() -> HeaderDecompressor {
        HeaderDecompressor {
            zlib: Decompress::new(true),
        }
    }

    /// Decompresses one frame's block and decodes it.
    pub fn decompress(&mut self, compressed: &[u8]) -> Result<Headers, SpdyError> {
        let start = self.zlib.total_in();
        let mut out = Vec::with_capacity(compressed.len() * 4 + 64);
        loop {
            let before_in = self.zlib.total_in();
            let before_out = out.len();
            let consumed = (before_in - start) as usize;
            match self
                .zlib
                .decompress_vec(&compressed[consumed..], &mut out, FlushDecompress::Sync)
            {
                Ok(_) => {}
                Err(e) => match e.needs_dictionary() {
                    Some(dictionary::ADLER32) => {
                        self.zlib
                            .set_dictionary(dictionary::bytes())
                            .map_err(|e| SpdyError::Compression(e.to_string()))?;
                        continue;
                    }
                    Some(other) => {
                        return Err(SpdyError::Compression(format!(
                            "peer compressed with an unknown dictionary (adler32 {other:#010x})"
                        )));
                    }
                    None => return Err(SpdyError::Compression(e.to_string())),
                },
            }
            let consumed = (self.zlib.total_in() - start) as usize;
            if consumed == compressed.len() && out.len() < out.capacity() {
                break;
            }
            if out.len() > MAX_BLOCK {
                return Err(SpdyError::HeaderBlock("header block too large".into()));
            }
            // No progress with room to spare: the input is incomplete.
            if self.zlib.total_in() == before_in
                && out.len() == before_out
                && out.len() < out.capacity()
            {
                return Err(SpdyError::Compression("truncated header block".into()));
            }
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(64));
            }
        }
        decode(&out)
    }
}

impl Default for HeaderDecompressor {
    fn default() -> Self {
        HeaderDecompressor::new()
    }
}
