//! Envoy's signature check: RS*/ES* signatures are verified by Envoy
//! (BoringSSL) through its `verify_signature` foreign function, whose
//! arguments and result are protobuf messages.

use kubeplex_filter_core::signature::{Hash, SignatureVerifier, VerifyError};
use prost::Message;

/// [`SignatureVerifier`] by the host.
pub struct EnvoyVerifier;

impl SignatureVerifier for EnvoyVerifier {
    fn verify(
        &self,
        hash: Hash,
        spki_der: &[u8],
        signature: &[u8],
        text: &[u8],
    ) -> Result<(), VerifyError> {
        let args = VerifySignatureArguments {
            hash_function: hash.envoy_name().to_string(),
            public_key: spki_der.to_vec(),
            signature: signature.to_vec(),
            text: text.to_vec(),
        }
        .encode_to_vec();
        let reply = proxy_wasm::hostcalls::call_foreign_function("verify_signature", Some(&args))
            .map_err(|s| VerifyError::Host(format!("verify_signature failed: {s:?}")))?
            // an empty result message (false, no error) comes back as None
            .unwrap_or_default();
        let result = VerifySignatureResult::decode(reply.as_slice()).map_err(|e| {
            VerifyError::Host(format!("verify_signature returned no result message: {e}"))
        })?;
        if result.result {
            Ok(())
        } else {
            Err(VerifyError::Invalid)
        }
    }
}

/// Arguments of Envoy's `verify_signature` foreign function
/// (`source/extensions/common/wasm/ext/verify_signature.proto`,
/// `VerifySignatureArguments`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct VerifySignatureArguments {
    #[prost(string, tag = "1")]
    pub hash_function: String,
    #[prost(bytes = "vec", tag = "2")]
    pub public_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub signature: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub text: Vec<u8>,
}

/// Result of Envoy's `verify_signature` (`VerifySignatureResult`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct VerifySignatureResult {
    #[prost(bool, tag = "1")]
    pub result: bool,
    #[prost(string, tag = "2")]
    pub error: String,
}

#[cfg(test)]
mod tests;
