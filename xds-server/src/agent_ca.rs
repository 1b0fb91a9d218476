//! The gateway as a small CA for its agents: a certificate signing request
//! (the agent's key never leaves the agent) becomes a short-lived client
//! certificate whose only name is the agent's cluster, as a DNS name — the
//! name the gateway's Envoy compares with the tunnel's node and cluster ids.

use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::inputs::gateway_config::AgentsConfig;

/// Why a certificate was not issued.
#[derive(Debug, thiserror::Error)]
pub enum AgentCaError {
    /// The request is not a PEM CSR with a valid self-signature.
    #[error("the certificate signing request does not parse or its signature is wrong")]
    BadRequest(#[source] rcgen::Error),
    /// The CA's key or certificate cannot sign (checked when the config loads).
    #[error("the agents' CA cannot sign")]
    Ca(#[source] rcgen::Error),
    /// Signing failed.
    #[error("signing the agent certificate")]
    Sign(#[source] rcgen::Error),
    /// A name is not usable in a certificate.
    #[error("`{0}` cannot be a certificate DNS name")]
    Name(String),
}

/// An issued certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// PEM: the certificate, then the CA's.
    pub chain_pem: String,
    /// Unix seconds it expires.
    pub not_after: i64,
}

/// Sign `csr_pem` for agent cluster `name`, valid from a minute ago (clock
/// skew) for the configured lifetime. Only the CSR's public key is used:
/// its subject and extensions are ignored, so an agent cannot ask for more.
pub fn issue(
    agents: &AgentsConfig,
    name: &str,
    csr_pem: &str,
    now: i64,
) -> Result<Issued, AgentCaError> {
    let csr =
        CertificateSigningRequestParams::from_pem(csr_pem).map_err(AgentCaError::BadRequest)?;
    let key = KeyPair::from_pem(agents.ca_key_pem.expose()).map_err(AgentCaError::Ca)?;
    let issuer =
        Issuer::from_ca_cert_pem(&agents.ca_certificate_pem, key).map_err(AgentCaError::Ca)?;
    let not_after = now + i64::from(agents.certificate_lifetime_seconds);
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn.push(DnType::OrganizationName, "kubeplex agents");
    params.distinguished_name = dn;
    params.subject_alt_names = vec![SanType::DnsName(
        name.try_into()
            .map_err(|_| AgentCaError::Name(name.to_string()))?,
    )];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.not_before = time_of(now - 60);
    params.not_after = time_of(not_after);
    params.use_authority_key_identifier_extension = true;
    let cert = params
        .signed_by(&csr.public_key, &issuer)
        .map_err(AgentCaError::Sign)?;
    Ok(Issued {
        chain_pem: format!("{}{}", cert.pem(), agents.ca_certificate_pem),
        not_after,
    })
}

/// A new self-signed CA for agents: (certificate PEM, PKCS#8 key PEM).
pub fn generate_ca(common_name: &str) -> Result<(String, String), AgentCaError> {
    let key = KeyPair::generate().map_err(AgentCaError::Ca)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = crate::clock::unix_now();
    params.not_before = time_of(now - 60);
    params.not_after = time_of(now + 10 * 365 * 24 * 3600);
    let cert = params.self_signed(&key).map_err(AgentCaError::Ca)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn time_of(unix: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests;
