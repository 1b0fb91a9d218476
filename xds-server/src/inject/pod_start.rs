//! `kubeplex sidecar-init`, the init container: at every pod start, a new
//! self-signed certificate for 127.0.0.1 (the sidecar's key never leaves
//! the pod's memory volume), the SDS file that names the token file, and
//! the substitute ServiceAccount files the app reads (`ca.crt` = that
//! certificate, `namespace`, and a `token` that the sidecar replaces).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use super::sidecar_config::{SidecarPaths, sds_file};
use crate::local_files::{write_private, write_public};

/// What the app finds in its ServiceAccount `token` file. Not a credential:
/// the sidecar overwrites the `Authorization` header of every request, and
/// the gateway would refuse this value anyway.
pub const SUBSTITUTE_TOKEN: &str = "kubeplex-sidecar-sends-the-pods-own-token";

/// Why the pod's files could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PodStartError {
    /// Generating the key or certificate failed.
    #[error("cannot generate the sidecar's certificate")]
    Certificate(#[source] rcgen::Error),
    /// A file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The init container's arguments after `kubeplex`.
pub fn args(paths: &SidecarPaths, app_serviceaccount_dir: &str, namespace: &str) -> Vec<String> {
    [
        "sidecar-init",
        "--sidecar-dir",
        &paths.sidecar_dir,
        "--token-dir",
        &paths.token_dir,
        "--app-serviceaccount-dir",
        app_serviceaccount_dir,
        "--namespace",
        namespace,
    ]
    .map(String::from)
    .to_vec()
}

/// Write the sidecar's and the app's files.
pub fn write_pod_files(
    paths: &SidecarPaths,
    app_serviceaccount_dir: &Path,
    namespace: &str,
) -> Result<(), PodStartError> {
    let (cert_pem, key_pem) = self_signed_loopback_cert()?;
    let write = |path: PathBuf, text: &str, private: bool| {
        let written = if private {
            write_private(&path, text.as_bytes())
        } else {
            write_public(&path, text.as_bytes())
        };
        written.map_err(|source| PodStartError::Write { path, source })
    };
    write(PathBuf::from(paths.key()), &key_pem, true)?;
    write(PathBuf::from(paths.cert()), &cert_pem, false)?;
    write(PathBuf::from(paths.sds()), &sds_file(paths), false)?;
    write(app_serviceaccount_dir.join("ca.crt"), &cert_pem, false)?;
    write(app_serviceaccount_dir.join("namespace"), namespace, false)?;
    write(
        app_serviceaccount_dir.join("token"),
        SUBSTITUTE_TOKEN,
        false,
    )?;
    Ok(())
}

/// A P-256 certificate for 127.0.0.1 and localhost: (cert PEM, key PEM).
fn self_signed_loopback_cert() -> Result<(String, String), PodStartError> {
    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, SanType};
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(PodStartError::Certificate)?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "kubeplex sidecar");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.subject_alt_names = vec![
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SanType::DnsName("localhost".try_into().map_err(PodStartError::Certificate)?),
    ];
    let cert = params
        .self_signed(&key)
        .map_err(PodStartError::Certificate)?;
    Ok((cert.pem(), key.serialize_pem()))
}
