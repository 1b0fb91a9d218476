//! Test certificates: a self-signed ECDSA P-256 CA that issues server and
//! client certificates (rcgen with the `ring` backend).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// A PEM certificate and its PEM (PKCS#8) private key.
///
/// `Debug` never prints the private key.
#[derive(Clone)]
pub struct CertKey {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8). Secret.
    pub key_pem: String,
}

impl fmt::Debug for CertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertKey")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl CertKey {
    /// Writes `<dir>/<stem>.crt` and `<dir>/<stem>.key` (the key with mode
    /// 0600 on Unix) and returns their paths `(cert, key)`.
    pub fn write_to(&self, dir: &Path, stem: &str) -> io::Result<(PathBuf, PathBuf)> {
        let cert = dir.join(format!("{stem}.crt"));
        let key = dir.join(format!("{stem}.key"));
        std::fs::write(&cert, &self.cert_pem)?;
        write_secret(&key, &self.key_pem)?;
        Ok((cert, key))
    }
}

fn write_secret(path: &Path, contents: &str) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents.as_bytes())
}

/// A self-signed certificate authority (ECDSA P-256) for tests.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    cert_pem: String,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("cert_pem", &self.cert_pem)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Ca {
    /// A new self-signed CA named `common_name`.
    ///
    /// Panics only if rcgen cannot build a certificate from fixed, valid
    /// parameters (a bug, not an input error).
    pub fn new(common_name: &str) -> Ca {
        let mut params = CertificateParams::default();
        params.distinguished_name = name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("generate CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("self-sign CA");
        let cert_pem = issuer.pem();
        Ca { issuer, cert_pem }
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key, PEM (PKCS#8). Secret: for tests that must sign
    /// with the CA outside this module.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// Writes the CA certificate to `<dir>/<stem>.crt` and returns the path.
    pub fn write_cert_to(&self, dir: &Path, stem: &str) -> io::Result<PathBuf> {
        let path = dir.join(format!("{stem}.crt"));
        std::fs::write(&path, &self.cert_pem)?;
        Ok(path)
    }

    /// A server certificate (serverAuth EKU). Each name becomes a SAN: an IP
    /// address if it parses as one, else a DNS name. The first name is also
    /// the subject CN.
    pub fn server_cert(&self, names: &[&str]) -> CertKey {
        let sans: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(sans).expect("valid SANs");
        params.distinguished_name = name(names.first().copied().unwrap_or("server"));
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params)
    }

    /// A client certificate (clientAuth EKU) with subject CN = `common_name`
    /// and one O per organization, as Kubernetes reads user and groups.
    ///
    /// Built with `x509-cert` rather than rcgen: rcgen's distinguished name
    /// holds one value per attribute type, and Kubernetes groups need many O.
    pub fn client_cert(&self, common_name: &str, organizations: &[&str]) -> CertKey {
        client_cert::issue(&self.cert_pem, &self.key_pem(), common_name, organizations)
            .expect("issue client certificate")
    }

    fn issue(&self, mut params: CertificateParams) -> CertKey {
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("generate leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        CertKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

mod client_cert;

#[cfg(test)]
mod tests;
