//! The signing keys: the filter's test fixtures (`filter-core/test_data/keys`,
//! compiled in, so the binary runs from anywhere). One issuer per
//! algorithm, so each scenario's tokens name exactly one key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};

use super::BenchError;

const RSA_PEM: &str = include_str!("../../../filter-core/test_data/keys/rsa.pem");
const P256_PEM: &str = include_str!("../../../filter-core/test_data/keys/p256.pem");
const ED25519_PEM: &str = include_str!("../../../filter-core/test_data/keys/ed25519.pem");
const RSA_SPKI: &[u8] = include_bytes!("../../../filter-core/test_data/keys/rsa.spki.der");
const P256_SPKI: &[u8] = include_bytes!("../../../filter-core/test_data/keys/p256.spki.der");

/// The audience every bench issuer accepts and every token carries.
pub const AUDIENCE: &str = "kubeplex";

/// The JWS algorithms the benchmark covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit key.
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl Alg {
    /// Every algorithm, in report order.
    pub const ALL: [Alg; 3] = [Alg::Rs256, Alg::Es256, Alg::EdDsa];

    /// The JWS `alg` value.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// The issuer (`iss`) of this algorithm's tokens.
    pub fn issuer(self) -> String {
        format!(
            "https://{}.bench.kubeplex.test",
            self.name().to_ascii_lowercase()
        )
    }

    /// The key id, in tokens, the filter config and the JWKS.
    pub fn kid(self) -> &'static str {
        match self {
            Alg::Rs256 => "bench-rsa",
            Alg::Es256 => "bench-p256",
            Alg::EdDsa => "bench-ed25519",
        }
    }

    /// The `jwt_authn` provider name.
    pub fn provider(self) -> String {
        self.name().to_ascii_lowercase()
    }
}

/// The three private keys. `Debug` never prints them.
pub struct SigningKeys {
    /// RS256 through rustls' ring signer (`RSA_PKCS1_SHA256` is exactly
    /// RS256): ~6× faster than the `rsa` crate, and minting thousands of
    /// first-sight tokens is most of a run's preparation.
    rsa: Box<dyn rustls::sign::Signer>,
    rsa_public: rsa::RsaPublicKey,
    p256: p256::ecdsa::SigningKey,
    ed25519: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKeys(<redacted>)")
    }
}

impl SigningKeys {
    /// Parse the compiled-in fixture keys.
    pub fn fixtures() -> Result<SigningKeys, BenchError> {
        let crypto = |what: &str, e: &dyn std::fmt::Display| {
            BenchError::Crypto(format!("fixture key {what}: {e}"))
        };
        let rsa_public =
            <rsa::RsaPublicKey as rsa::pkcs8::DecodePublicKey>::from_public_key_der(RSA_SPKI)
                .map_err(|e| crypto("rsa.spki.der", &e))?;
        let rsa_der = <rustls::pki_types::PrivateKeyDer<'_> as rustls::pki_types::pem::PemObject>::from_pem_slice(
            RSA_PEM.as_bytes(),
        )
        .map_err(|e| crypto("rsa.pem", &e))?;
        let rsa = rustls::crypto::ring::sign::any_supported_type(&rsa_der)
            .map_err(|e| crypto("rsa.pem", &e))?
            .choose_scheme(&[rustls::SignatureScheme::RSA_PKCS1_SHA256])
            .ok_or_else(|| crypto("rsa.pem", &"no RSA_PKCS1_SHA256 signer"))?;
        let p256 = p256::ecdsa::SigningKey::from_pkcs8_pem(P256_PEM)
            .map_err(|e| crypto("p256.pem", &e))?;
        let ed25519 = ed25519_dalek::SigningKey::from_pkcs8_pem(ED25519_PEM)
            .map_err(|e| crypto("ed25519.pem", &e))?;
        Ok(SigningKeys {
            rsa_public,
            rsa,
            p256,
            ed25519,
        })
    }

    /// The JWS signature of `input` (raw r‖s for ES256, as JWS wants).
    pub fn sign(&self, alg: Alg, input: &[u8]) -> Result<Vec<u8>, BenchError> {
        use p256::ecdsa::signature::Signer as _;
        Ok(match alg {
            Alg::Rs256 => self
                .rsa
                .sign(input)
                .map_err(|e| BenchError::Crypto(format!("RS256 signature: {e}")))?,
            Alg::Es256 => {
                let sig: p256::ecdsa::Signature = self.p256.sign(input);
                sig.to_bytes().to_vec()
            }
            Alg::EdDsa => self.ed25519.sign(input).to_bytes().to_vec(),
        })
    }

    /// The public key as the filter config carries it: DER
    /// SubjectPublicKeyInfo for RSA and EC, the raw 32 bytes for Ed25519.
    pub fn filter_public_key(&self, alg: Alg) -> Vec<u8> {
        match alg {
            Alg::Rs256 => RSA_SPKI.to_vec(),
            Alg::Es256 => P256_SPKI.to_vec(),
            Alg::EdDsa => self.ed25519.verifying_key().to_bytes().to_vec(),
        }
    }

    /// The public key as a JWK (RFC 7517/8037), for `jwt_authn`'s
    /// `local_jwks`.
    pub fn jwk(&self, alg: Alg) -> Value {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        match alg {
            Alg::Rs256 => json!({
                "kty": "RSA",
                "kid": alg.kid(),
                "alg": "RS256",
                "use": "sig",
                "n": b64(&self.rsa_public.n().to_bytes_be()),
                "e": b64(&self.rsa_public.e().to_bytes_be()),
            }),
            Alg::Es256 => {
                let point = self.p256.verifying_key().to_encoded_point(false);
                json!({
                    "kty": "EC",
                    "kid": alg.kid(),
                    "alg": "ES256",
                    "use": "sig",
                    "crv": "P-256",
                    "x": b64(&point.x().map(|x| x.to_vec()).unwrap_or_default()),
                    "y": b64(&point.y().map(|y| y.to_vec()).unwrap_or_default()),
                })
            }
            Alg::EdDsa => json!({
                "kty": "OKP",
                "kid": alg.kid(),
                "alg": "EdDSA",
                "use": "sig",
                "crv": "Ed25519",
                "x": b64(&self.ed25519.verifying_key().to_bytes()),
            }),
        }
    }

    /// The public key as PEM SubjectPublicKeyInfo (`PUBLIC KEY`), the form
    /// of a gateway config's `publicKeyFile`; None for Ed25519 (not needed).
    pub fn public_key_pem(&self, alg: Alg) -> Option<String> {
        let der = match alg {
            Alg::Rs256 => RSA_SPKI,
            Alg::Es256 => P256_SPKI,
            Alg::EdDsa => return None,
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        Some(pem)
    }

    /// `{"keys": [<jwk>]}` for one algorithm's issuer.
    pub fn jwks(&self, alg: Alg) -> String {
        json!({ "keys": [self.jwk(alg)] }).to_string()
    }
}

#[cfg(test)]
mod tests;
