use super::*;

#[test]
fn der_of_small_values() {
    // r = 1, s = 0x80 (needs a leading zero) with 4-byte fields.
    let raw = [0, 0, 0, 1, 0, 0, 0, 0x80];
    assert_eq!(
        ecdsa_raw_to_der(&raw, 4).unwrap(),
        vec![0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x02, 0x00, 0x80]
    );
}

#[test]
fn der_of_zero() {
    let raw = [0u8; 8];
    assert_eq!(
        ecdsa_raw_to_der(&raw, 4).unwrap(),
        vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]
    );
}

#[test]
fn wrong_length_is_refused() {
    assert!(ecdsa_raw_to_der(&[1; 63], 32).is_none());
    assert!(ecdsa_raw_to_der(&[1; 65], 32).is_none());
}

#[test]
fn p521_uses_long_form_length() {
    // 66-byte components with the high bit set → 67-byte INTEGERs; the
    // SEQUENCE body is 2 * (2 + 67) = 138 bytes → `30 81 8a`.
    let raw = [0xffu8; 132];
    let der = ecdsa_raw_to_der(&raw, 66).unwrap();
    assert_eq!(&der[..3], &[0x30, 0x81, 138]);
    assert_eq!(der.len(), 3 + 138);
}

#[test]
fn p256_der_parses_with_rustcrypto() {
    // Any 64 bytes with nonzero r and s below the order make a valid
    // signature encoding; check that p256 accepts our DER and round-trips.
    let mut raw = [0x11u8; 64];
    raw[0] = 0x7f;
    raw[32] = 0x90;
    let der = ecdsa_raw_to_der(&raw, 32).unwrap();
    let sig = p256::ecdsa::Signature::from_der(&der).unwrap();
    assert_eq!(sig.to_bytes()[..], raw[..]);
}
