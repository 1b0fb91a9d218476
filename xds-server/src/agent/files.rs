//! The agent's files under its state directory: its private key (made once,
//! never sent anywhere), and the SDS files its Envoy reloads — each written
//! beside its final name and renamed into place, which is what Envoy's
//! watched directory reacts to (and never shows a half-written file).

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, KeyPair};

use super::AgentError;
use super::bootstrap::{CERTIFICATE_SECRET, TOKEN_SECRET};

const SECRET_TYPE: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/// Write `contents` to `path` (mode 0600) through a temporary file in the
/// same directory and a rename.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), AgentError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let io = |source| AgentError::File {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(contents).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The agent's key: read from `dir/agent-key.pem`, or made (P-256) and
/// stored there on first start.
pub fn load_or_create_key(dir: &Path) -> Result<KeyPair, AgentError> {
    let path = dir.join("agent-key.pem");
    if let Ok(pem) = std::fs::read_to_string(&path) {
        return KeyPair::from_pem(&pem).map_err(|source| AgentError::Key { path, source });
    }
    let key = KeyPair::generate().map_err(|source| AgentError::Key {
        path: path.clone(),
        source,
    })?;
    write_atomically(&path, key.serialize_pem().as_bytes())?;
    Ok(key)
}

/// A PEM certificate signing request for `key` (the gateway ignores its
/// subject: the certificate names the cluster the token belongs to).
pub fn csr(key: &KeyPair, cluster: &str) -> Result<String, AgentError> {
    let mut params = CertificateParams::new(vec![cluster.to_string()]).map_err(AgentError::Csr)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cluster);
    let request = params.serialize_request(key).map_err(AgentError::Csr)?;
    request.pem().map_err(AgentError::Csr)
}

/// The SDS directory (created).
pub fn sds_dir(state_dir: &Path) -> Result<PathBuf, AgentError> {
    let dir = state_dir.join("sds");
    std::fs::create_dir_all(&dir).map_err(|source| AgentError::File {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

/// The client certificate (chain) and key, for the tunnel.
pub fn write_certificate(sds: &Path, chain_pem: &str, key: &KeyPair) -> Result<(), AgentError> {
    let doc = serde_json::json!({"resources": [{
        "@type": SECRET_TYPE,
        "name": CERTIFICATE_SECRET,
        "tls_certificate": {
            "certificate_chain": {"inline_string": chain_pem},
            "private_key": {"inline_string": key.serialize_pem()},
        },
    }]});
    write_atomically(&sds.join("certificate.json"), doc.to_string().as_bytes())
}

/// The apiserver bearer token.
pub fn write_token(sds: &Path, token: &str) -> Result<(), AgentError> {
    let doc = serde_json::json!({"resources": [{
        "@type": SECRET_TYPE,
        "name": TOKEN_SECRET,
        "generic_secret": {"secret": {"inline_string": token.trim()}},
    }]});
    write_atomically(&sds.join("token.json"), doc.to_string().as_bytes())
}
