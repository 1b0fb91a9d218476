//! `kubeplex token mint`: sign a JWT with a PEM private key. The algorithm
//! follows the key: RSA → RS256, P-256 → ES256, P-384 → ES384,
//! Ed25519 → EdDSA.
