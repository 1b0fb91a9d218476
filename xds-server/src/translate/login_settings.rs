//! The login settings a gateway publishes at `/.well-known/kubeplex`
//! (unauthenticated: they are what a user needs before having a token).
//! The control plane writes them into a route Envoy answers itself; the
//! CLI reads them in `kubeplex login`.

use serde::{Deserialize, Serialize};

use crate::inputs::gateway_config::LoginConfig;

/// The document. No gateway CA in it: a document read over a connection
/// that is not yet trusted cannot say whom to trust (`kubeplex login
/// --certificate-authority` or the system roots do).
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
        }
    }
}
