//! The request headers read in one host call and used where Envoy wrote
//! them: the SDK's `get_http_request_headers_bytes` copies every name and
//! value into its own `String` / `Vec` (two allocations and a copy per
//! header, the ~1 KB token included); here the one buffer Envoy filled is
//! parsed in place into borrowed pairs.

use proxy_wasm::types::{MapType, Status};

#[allow(unsafe_code)]
#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn proxy_get_header_map_pairs(
        map_type: MapType,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> Status;
}

/// The request headers as Envoy serialized them (proxy-wasm ABI: a `u32`
/// count, a `u32` name and value size per pair, then each name and value
/// followed by a NUL), or `None` when the host refuses.
#[allow(unsafe_code)]
pub fn request_headers() -> Option<Vec<u8>> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the host writes a pointer it got from this module's
    // `proxy_on_memory_allocate` (the SDK's: a boxed `[u8]` of exactly
    // `size` bytes, allocated with the global allocator), which the module
    // owns from then on; the SDK's own `get_map_bytes` takes it over the
    // same way.
    unsafe {
        match proxy_get_header_map_pairs(MapType::HttpRequestHeaders, &mut data, &mut size) {
            Status::Ok if data.is_null() => Some(Vec::new()),
            Status::Ok => Some(Vec::from_raw_parts(data, size, size)),
            _ => None,
        }
    }
}

/// The pairs of a serialized header map, borrowed from it; `None` when the
/// buffer is malformed or a name is not UTF-8 (Envoy's codecs allow
/// neither; the caller then takes the SDK's path, as before).
pub fn pairs(bytes: &[u8]) -> Option<Vec<(&str, &[u8])>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let word = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes(b.try_into().ok()?) as usize)
    };
    let count = word(0)?;
    let mut at = count.checked_mul(8)?.checked_add(4)?;
    let mut out = Vec::with_capacity(count.min(bytes.len() / 10));
    for n in 0..count {
        // each field is followed by a NUL
        let mut next = |size: usize| -> Option<&[u8]> {
            let end = at.checked_add(size)?;
            let field = bytes.get(at..end)?;
            (*bytes.get(end)? == 0).then_some(())?;
            at = end + 1;
            Some(field)
        };
        let name = next(word(4 + n * 8)?)?;
        let value = next(word(8 + n * 8)?)?;
        out.push((std::str::from_utf8(name).ok()?, value));
    }
    Some(out)
}

#[cfg(test)]
mod tests;
