use super::*;
use prost::Message;

#[test]
fn envoy_argument_field_numbers() {
    // verify_signature.proto: hash_function = 1, public_key = 2,
    // signature = 3, text = 4. Field keys are (number << 3) | wire type 2.
    let args = VerifySignatureArguments {
        hash_function: "sha256".into(),
        public_key: vec![0xaa],
        signature: vec![0xbb],
        text: vec![0xcc],
    };
    assert_eq!(
        args.encode_to_vec(),
        vec![
            0x0a, 6, b's', b'h', b'a', b'2', b'5', b'6', 0x12, 1, 0xaa, 0x1a, 1, 0xbb, 0x22, 1,
            0xcc
        ]
    );
    // VerifySignatureResult: result = 1 (varint), error = 2.
    let result = VerifySignatureResult::decode(&[0x08, 0x01, 0x12, 0x01, b'x'][..]).unwrap();
    assert!(result.result);
    assert_eq!(result.error, "x");
    assert_eq!(Hash::Sha384.envoy_name(), "sha384");
}
