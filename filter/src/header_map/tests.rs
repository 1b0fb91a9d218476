use super::*;

/// The proxy-wasm serialization of `pairs` (what Envoy writes).
fn serialize(pairs: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
    for (name, value) in pairs {
        out.extend((name.len() as u32).to_le_bytes());
        out.extend((value.len() as u32).to_le_bytes());
    }
    for (name, value) in pairs {
        out.extend(name.as_bytes());
        out.push(0);
        out.extend(*value);
        out.push(0);
    }
    out
}

#[test]
fn pairs_come_back_in_order_values_as_bytes() {
    let headers: [(&str, &[u8]); 4] = [
        (":method", b"GET"),
        ("authorization", b"Bearer a.b.c"),
        ("x-empty", b""),
        ("x-binary", b"\xff\x00z"),
    ];
    assert_eq!(pairs(&serialize(&headers)).unwrap(), headers);
    assert_eq!(pairs(&[]).unwrap(), []);
    assert_eq!(pairs(&serialize(&[])).unwrap(), []);
}

#[test]
fn malformed_buffers_are_refused_not_read_past() {
    let good = serialize(&[(":path", b"/api"), ("host", b"gw")]);
    for len in 1..good.len() {
        assert_eq!(pairs(&good[..len]), None, "truncated to {len}");
    }
    let mut huge_count = good.clone();
    huge_count[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(pairs(&huge_count), None);
    let mut huge_size = good.clone();
    huge_size[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(pairs(&huge_size), None);
    let not_utf8 = serialize(&[]);
    let mut bad_name = not_utf8.clone();
    bad_name[..4].copy_from_slice(&1u32.to_le_bytes());
    bad_name.extend(1u32.to_le_bytes());
    bad_name.extend(0u32.to_le_bytes());
    bad_name.extend([0xff, 0, 0]);
    assert_eq!(pairs(&bad_name), None);
}
