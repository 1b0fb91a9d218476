//! NIST P-521 public points, checked by hand: RustCrypto's `p521` crate is
//! not in our tree, and the filter only needs a valid uncompressed point
//! inside a SubjectPublicKeyInfo (Envoy's BoringSSL does the verifying).

use rsa::BigUint;

/// Bytes in one coordinate: ceil(521 / 8).
pub const COORDINATE_LEN: usize = 66;

/// The field prime p = 2^521 - 1.
fn prime() -> BigUint {
    (BigUint::from(1u8) << 521usize) - BigUint::from(1u8)
}

/// The curve's `b` (y² = x³ - 3x + b), from SEC 2 / FIPS 186-4.
fn b() -> BigUint {
    const B_HEX: &[u8] = b"0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef1\
09e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00";
    BigUint::parse_bytes(B_HEX, 16).expect("constant is valid hex")
}

/// x³ - 3x + b mod p.
fn curve_rhs(x: &BigUint, p: &BigUint) -> BigUint {
    let three = BigUint::from(3u8);
    let x3 = x.modpow(&three, p);
    let three_x = (x * &three) % p;
    ((x3 + p - three_x) + b()) % p
}

/// Validate a SEC1 point (uncompressed `04‖x‖y` or compressed `02/03‖x`) and
/// return it uncompressed.
pub fn uncompressed_point(sec1: &[u8]) -> Result<Vec<u8>, String> {
    let p = prime();
    match (sec1.first(), sec1.len()) {
        (Some(0x04), len) if len == 1 + 2 * COORDINATE_LEN => {
            let x = BigUint::from_bytes_be(&sec1[1..1 + COORDINATE_LEN]);
            let y = BigUint::from_bytes_be(&sec1[1 + COORDINATE_LEN..]);
            if x >= p || y >= p {
                return Err("P-521 coordinate out of range".to_string());
            }
            if (&y * &y) % &p != curve_rhs(&x, &p) {
                return Err("point is not on the P-521 curve".to_string());
            }
            Ok(sec1.to_vec())
        }
        (Some(prefix @ (0x02 | 0x03)), len) if len == 1 + COORDINATE_LEN => {
            let x = BigUint::from_bytes_be(&sec1[1..]);
            if x >= p {
                return Err("P-521 coordinate out of range".to_string());
            }
            let rhs = curve_rhs(&x, &p);
            // p ≡ 3 (mod 4): a square root is rhs^((p+1)/4).
            let exponent = (&p + BigUint::from(1u8)) >> 2usize;
            let mut y = rhs.modpow(&exponent, &p);
            if (&y * &y) % &p != rhs {
                return Err("point is not on the P-521 curve".to_string());
            }
            let odd = y.to_bytes_be().last().is_some_and(|b| b & 1 == 1);
            if odd != (*prefix == 0x03) {
                y = &p - y;
            }
            let mut out = Vec::with_capacity(1 + 2 * COORDINATE_LEN);
            out.push(0x04);
            out.extend(left_pad(&x.to_bytes_be()));
            out.extend(left_pad(&y.to_bytes_be()));
            Ok(out)
        }
        _ => Err(format!(
            "a P-521 point is 133 bytes uncompressed (or 67 compressed), got {}",
            sec1.len()
        )),
    }
}

fn left_pad(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; COORDINATE_LEN.saturating_sub(bytes.len())];
    out.extend_from_slice(bytes);
    out
}
