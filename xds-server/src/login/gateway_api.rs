//! The gateway's two user endpoints: its login settings
//! (`/.well-known/kubeplex`, no token) and the caller's cluster list
//! (`/.kubeplex/v1/clusters`, with the user's token).

use std::time::Duration;

use kubeplex_filter_core::clusters_api::{ClusterList, Health};
use kubeplex_proto::routing::{CLUSTERS_API_PATH, LOGIN_SETTINGS_PATH};

use super::{LoginError, shorten};
use crate::cluster_http::{self, Credentials};
use crate::translate::login_settings::{self, LoginSettings};

/// The gateway's base URL without a trailing slash; `https://` added when
/// no scheme is given.
pub fn normalize_gateway(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if url.contains("://") {
        url.to_string()
    } else {
        format!("https://{url}")
    }
}

/// `GET /.well-known/kubeplex`.
pub async fn login_settings(
    gateway: &str,
    gateway_ca: Option<&str>,
) -> Result<LoginSettings, LoginError> {
    let creds = Credentials::with_ca(gateway_ca.map(str::to_string));
    fetch_login_settings(gateway, &creds).await
}

/// The gateway's CA certificate whose fingerprint is `pin` (parsed): the
/// login settings read without trusting the connection, only to find the
/// published bundle; nothing else of that answer is believed. The caller
/// then reads the settings again over a connection verified against the
/// certificate returned here.
pub async fn pinned_gateway_ca(gateway: &str, pin: &str) -> Result<String, LoginError> {
    let unverified = Credentials {
        skip_verify: true,
        ..Credentials::default()
    };
    let untrusted = fetch_login_settings(gateway, &unverified).await?;
    let bundle =
        untrusted
            .gateway_certificate_authority
            .ok_or_else(|| LoginError::NoPublishedCa {
                gateway: gateway.to_string(),
            })?;
    login_settings::pinned_certificate(&bundle, pin).ok_or_else(|| {
        LoginError::FingerprintMismatch {
            gateway: gateway.to_string(),
            pin: pin.to_string(),
        }
    })
}

async fn fetch_login_settings(
    gateway: &str,
    creds: &Credentials,
) -> Result<LoginSettings, LoginError> {
    let url = format!("{gateway}{LOGIN_SETTINGS_PATH}");
    let what = format!("the gateway's login settings ({url})");
    let reply = cluster_http::get(&url, "application/json", creds)
        .await
        .map_err(|source| LoginError::Http {
            what: what.clone(),
            source,
        })?;
    match reply.status {
        200 => serde_json::from_slice(&reply.body).map_err(|e| LoginError::Answer {
            what,
            status: 200,
            body: format!("not login settings ({e}): {}", shorten(&reply.body)),
        }),
        // No login section: the route does not exist, so the request went
        // to the filter, which wants a token.
        401 | 404 => Err(LoginError::NoLogin {
            gateway: gateway.to_string(),
        }),
        status => Err(LoginError::Answer {
            what,
            status,
            body: shorten(&reply.body),
        }),
    }
}

/// `GET /.kubeplex/v1/clusters` as the holder of `id_token`.
pub async fn clusters(
    gateway: &str,
    gateway_ca: Option<&str>,
    id_token: &str,
) -> Result<ClusterList, LoginError> {
    let url = format!("{gateway}{CLUSTERS_API_PATH}");
    let what = format!("the clusters you may reach ({url})");
    let creds = Credentials {
        bearer_token: Some(id_token.to_string()),
        ..Credentials::with_ca(gateway_ca.map(str::to_string))
    };
    let reply = cluster_http::get(&url, "application/json", &creds)
        .await
        .map_err(|source| LoginError::Http {
            what: what.clone(),
            source,
        })?;
    if reply.status != 200 {
        // A refusal is a Kubernetes Status: its message says why.
        let message = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| shorten(&reply.body));
        return Err(LoginError::Answer {
            what,
            status: reply.status,
            body: message,
        });
    }
    serde_json::from_slice(&reply.body).map_err(|e| LoginError::Answer {
        what,
        status: 200,
        body: format!("not a cluster list ({e}): {}", shorten(&reply.body)),
    })
}

/// How long a cluster's `/readyz` may take before it counts as unreachable.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// `GET <cluster_url>/readyz` through the gateway as the holder of
/// `id_token`; None when the answer says nothing about the cluster (the
/// gateway policy refused the path, the token was refused).
pub async fn cluster_health(
    cluster_url: &str,
    gateway_ca: Option<&str>,
    id_token: &str,
) -> Option<Health> {
    let creds = Credentials {
        bearer_token: Some(id_token.to_string()),
        ..Credentials::with_ca(gateway_ca.map(str::to_string))
    };
    let url = format!("{cluster_url}/readyz");
    match tokio::time::timeout(
        HEALTH_TIMEOUT,
        cluster_http::get(&url, "text/plain", &creds),
    )
    .await
    {
        Err(_) => Some(Health::Unreachable),
        Ok(Err(_)) => None,
        Ok(Ok(reply)) => health_of(reply.status),
    }
}

/// What a `/readyz` status through the gateway says about the cluster.
pub fn health_of(status: u16) -> Option<Health> {
    match status {
        200 => Some(Health::Ready),
        500 => Some(Health::NotReady),
        502..=504 => Some(Health::Unreachable),
        _ => None,
    }
}
