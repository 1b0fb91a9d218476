//! The login settings a gateway publishes at `/.well-known/kubeplex`
//! (unauthenticated: they are what a user needs before having a token).
//! The control plane writes them into a route Envoy answers itself; the
//! CLI reads them in `kubeplex login`.

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::inputs::gateway_config::LoginConfig;

/// The document. The gateway CA bundle in it is trusted only once the
/// connection it came over is: through `--certificate-authority`, the
/// system roots, or a CA fingerprint the user was given out of band
/// (`--ca-fingerprint`, checked against the bundle before anything else
/// is believed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginSettings {
    /// The OpenID Connect issuer URL users sign in with.
    pub issuer: String,
    /// The OAuth client (public: PKCE, no secret).
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// Scopes to ask for.
    pub scopes: Vec<String>,
    /// PEM CA bundle the issuer's certificate chains to, when the gateway
    /// config names one (read over the now-trusted gateway connection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_certificate_authority: Option<String>,
    /// The gateway's `contextServerNameSuffix`, so the kubeconfig's
    /// contexts get the same `tls-server-name` as `kubeplex kubeconfig`'s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_server_name_suffix: Option<String>,
    /// PEM CA bundle the gateway's own certificate chains to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_certificate_authority: Option<String>,
    /// [`fingerprint`] of the bundle's first certificate: what an
    /// administrator hands users to pin (`kubeplex login --ca-fingerprint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_certificate_authority_fingerprint: Option<String>,
}

impl LoginSettings {
    /// What a gateway config's `login` section publishes.
    pub fn from_config(login: &LoginConfig, server_name_suffix: Option<&str>) -> LoginSettings {
        LoginSettings {
            issuer: login.issuer.clone(),
            client_id: login.client_id.clone(),
            scopes: login.scopes.clone(),
            issuer_certificate_authority: login.issuer_ca_pem.clone(),
            context_server_name_suffix: server_name_suffix.map(str::to_string),
            gateway_certificate_authority: login.gateway_ca_pem.clone(),
            gateway_certificate_authority_fingerprint: login
                .gateway_ca_pem
                .as_deref()
                .and_then(bundle_fingerprint),
        }
    }
}

/// `sha256:<64 lowercase hex digits>`: SHA-256 of a certificate's DER,
/// the number `openssl x509 -noout -fingerprint -sha256` prints (there
/// upper case with colons; [`parse_fingerprint`] takes both).
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The [`fingerprint`] of a PEM bundle's first certificate.
pub fn bundle_fingerprint(bundle: &str) -> Option<String> {
    certificates(bundle)
        .next()
        .map(|(_, der)| fingerprint(&der))
}

/// A fingerprint as a person may paste it: `sha256:ab12…`, openssl's
/// `sha256 Fingerprint=AB:12:…`, or bare hex, colons optional. None
/// when it is not 32 bytes of hex.
pub fn parse_fingerprint(text: &str) -> Option<String> {
    let text = text.trim();
    let hex = text
        .split_once('=')
        .map_or(text, |(_, value)| value)
        .trim_start_matches("sha256:")
        .trim_start_matches("SHA256:");
    let hex: String = hex
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then(|| format!("sha256:{hex}"))
}

/// The certificate of `bundle` (PEM) whose [`fingerprint`] is `pin`
/// (already parsed), as PEM: the one certificate a pinned login trusts.
pub fn pinned_certificate(bundle: &str, pin: &str) -> Option<String> {
    certificates(bundle)
        .find(|(_, der)| fingerprint(der) == pin)
        .map(|(pem, _)| pem.to_string())
}

/// Each `CERTIFICATE` block of a PEM bundle: its text and its DER.
fn certificates(bundle: &str) -> impl Iterator<Item = (&str, Vec<u8>)> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut rest = bundle;
    std::iter::from_fn(move || {
        loop {
            let start = rest.find(BEGIN)?;
            let end = start + rest[start..].find(END)? + END.len();
            let block = &rest[start..end];
            rest = &rest[end..];
            if let Ok(der) = CertificateDer::from_pem_slice(block.as_bytes()) {
                return Some((block, der.to_vec()));
            }
        }
    })
}

#[cfg(test)]
mod tests;
