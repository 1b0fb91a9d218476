//! The load client's TLS settings (rustls, ring): trust one CA, optionally
//! present a client certificate, offer HTTP/1.1 (or HTTP/2) by ALPN.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

use super::BenchError;
use crate::pki::CertKey;

/// A client config trusting `ca_pem`, presenting `client` if given.
pub fn client_config(
    ca_pem: &str,
    client: Option<&CertKey>,
) -> Result<Arc<rustls::ClientConfig>, BenchError> {
    client_config_with(rustls::crypto::ring::default_provider(), ca_pem, client)
}

/// [`client_config`] preferring AES-128-GCM, as Go's TLS client (kubectl)
/// does on a CPU with AES instructions; rustls prefers AES-256-GCM, and a
/// TLS 1.3 server follows the client's preference.
pub fn client_config_aes128_first(
    ca_pem: &str,
    client: Option<&CertKey>,
) -> Result<Arc<rustls::ClientConfig>, BenchError> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    client_config_with(provider, ca_pem, client)
}

fn client_config_with(
    provider: rustls::crypto::CryptoProvider,
    ca_pem: &str,
    client: Option<&CertKey>,
) -> Result<Arc<rustls::ClientConfig>, BenchError> {
    let crypto = |what: &str, e: &dyn std::fmt::Display| BenchError::Crypto(format!("{what}: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.map_err(|e| crypto("CA certificate", &e))?)
            .map_err(|e| crypto("CA certificate", &e))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| crypto("protocol versions", &e))?
        .with_root_certificates(roots);
    let mut config = match client {
        Some(cert) => {
            let chain = CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| crypto("client certificate", &e))?;
            let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes())
                .map_err(|e| crypto("client key", &e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| crypto("client certificate", &e))?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The same config offering only HTTP/2 (`h2`) by ALPN, as kubectl does
/// against a server that speaks it.
pub fn h2(config: &rustls::ClientConfig) -> Arc<rustls::ClientConfig> {
    let mut config = config.clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}
