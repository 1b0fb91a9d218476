//! One fetch of one issuer's keys over verified TLS: the JWKS, found
//! directly, by OIDC discovery, or at a cluster's ServiceAccount issuer.

use std::time::Duration;

use crate::cluster_http::{self, Credentials, HttpError};
use crate::inputs::gateway_config::RemoteKeySource;
use crate::inputs::keys::{self, VerificationKey};
use crate::inputs::kubeconfig::ClusterTarget;

use super::{DEFAULT_REFRESH, MAX_REFRESH, MIN_REFRESH};

/// Why a fetch failed. Messages do not repeat the cause: print the chain
/// with [`crate::error_chain::error_chain`].
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request failed: unusable URL, TLS setup, connection, timeout.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The server answered with an error status.
    #[error("GET {url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The discovery document is not the JSON OIDC requires.
    #[error("discovery document {url}")]
    Discovery {
        /// The document's URL.
        url: String,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// The discovery document names another issuer than the one trusted.
    #[error(
        "discovery document {url}: it names issuer {named:?}, but the gateway config trusts {trusted:?}"
    )]
    WrongIssuer {
        /// The document's URL.
        url: String,
        /// The issuer the document names.
        named: String,
        /// The issuer the gateway config trusts.
        trusted: String,
    },
    /// The JWKS could not be used.
    #[error("JWKS {url}")]
    Jwks {
        /// The JWKS URL.
        url: String,
        /// What is wrong with it.
        #[source]
        source: keys::KeyError,
    },
    /// A `cluster:` issuer names a context the kubeconfig does not have.
    #[error("cluster {0:?} is not a context of the kubeconfig")]
    UnknownCluster(String),
}

/// `max-age` from a Cache-Control header (`no-store`/`no-cache` → 0).
pub fn parse_max_age(header: &str) -> Option<Duration> {
    let mut age = None;
    for directive in header.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-store" || directive == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(v) = directive.strip_prefix("max-age=") {
            age = v
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    age
}

/// When to refresh next, given the server's `max-age`.
pub fn refresh_after(max_age: Option<Duration>) -> Duration {
    max_age
        .map(|a| a.clamp(MIN_REFRESH, MAX_REFRESH))
        .unwrap_or(DEFAULT_REFRESH)
}

/// Fetch one issuer's keys; (keys, refresh interval).
pub async fn fetch(
    issuer: &str,
    source: &RemoteKeySource,
    clusters: &[ClusterTarget],
) -> Result<(Vec<VerificationKey>, Duration), FetchError> {
    let (jwks_url, creds) = match source {
        RemoteKeySource::JwksUrl { url, ca_pem } => {
            (url.clone(), Credentials::with_ca(ca_pem.clone()))
        }
        RemoteKeySource::Discovery { url, ca_pem } => {
            let creds = Credentials::with_ca(ca_pem.clone());
            (discover(url, issuer, &creds).await?, creds)
        }
        RemoteKeySource::Cluster { context } => cluster_jwks(issuer, context, clusters).await?,
    };
    let (body, max_age) = get(&jwks_url, &creds).await?;
    let text = String::from_utf8_lossy(&body);
    let keys = keys::from_jwks(&text).map_err(|source| FetchError::Jwks {
        url: jwks_url.clone(),
        source,
    })?;
    Ok((keys, refresh_after(max_age)))
}

/// A cluster's ServiceAccount issuer: check its discovery document names
/// `issuer`, and return where its JWKS is, with the credentials to read it.
async fn cluster_jwks(
    issuer: &str,
    context: &str,
    clusters: &[ClusterTarget],
) -> Result<(String, Credentials), FetchError> {
    let target = clusters
        .iter()
        .find(|c| c.context == context)
        .ok_or_else(|| FetchError::UnknownCluster(context.to_string()))?;
    // Keys decide whom the gateway trusts: verified even where the
    // kubeconfig skips verification for ordinary traffic.
    let creds = Credentials {
        skip_verify: false,
        ..Credentials::for_cluster(target)
    };
    let base = cluster_http::base_url(target);
    // The issuer named in the cluster's discovery document must be the
    // one configured; its keys come from the cluster itself (the
    // document's jwks_uri often names an in-cluster address).
    discover(
        &format!("{base}/.well-known/openid-configuration"),
        issuer,
        &creds,
    )
    .await?;
    Ok((format!("{base}/openid/v1/jwks"), creds))
}

#[derive(serde::Deserialize)]
struct DiscoveryDoc {
    issuer: String,
    jwks_uri: String,
}

/// Read an OIDC discovery document; its `issuer` must be `issuer`. Returns
/// its `jwks_uri`.
async fn discover(url: &str, issuer: &str, creds: &Credentials) -> Result<String, FetchError> {
    let (body, _) = get(url, creds).await?;
    let doc: DiscoveryDoc =
        serde_json::from_slice(&body).map_err(|source| FetchError::Discovery {
            url: url.to_string(),
            source,
        })?;
    if doc.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(FetchError::WrongIssuer {
            url: url.to_string(),
            named: doc.issuer,
            trusted: issuer.to_string(),
        });
    }
    Ok(doc.jwks_uri)
}

/// GET a JSON document over verified TLS; (body, max-age).
async fn get(url: &str, creds: &Credentials) -> Result<(Vec<u8>, Option<Duration>), FetchError> {
    let reply = cluster_http::get(url, "application/json, application/jwk-set+json", creds).await?;
    if reply.status != 200 {
        return Err(FetchError::Status {
            url: url.to_string(),
            status: reply.status,
        });
    }
    let max_age = reply
        .headers
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_max_age);
    Ok((reply.body, max_age))
}
