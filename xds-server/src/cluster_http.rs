//! HTTPS requests the control plane makes itself: issuers' key documents
//! and, with a cluster's kubeconfig credentials, the cluster's own API
//! (its ServiceAccount issuer keys, the preflight's `/readyz` and access
//! reviews). TLS is verified against the given CA (or the system roots)
//! unless the kubeconfig says `insecure-skip-tls-verify`, exactly as the
//! gateway's Envoy will connect.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};

use crate::inputs::kubeconfig::ClusterTarget;

/// Longest wait for a connection, an answer, or a body.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest body read.
const MAX_BODY: usize = 1 << 20;

/// A cause carried by an [`HttpError`].
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a request failed. Messages do not repeat the cause: print the whole
/// chain with [`crate::error_chain::error_chain`].
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL does not parse.
    #[error("{url}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// Why it does not parse.
        #[source]
        source: http::uri::InvalidUri,
    },
    /// The URL is not `https://` (keys and clusters are only reached over TLS).
    #[error("{url}: only https is used")]
    NotHttps {
        /// The URL as given.
        url: String,
    },
    /// A bearer token would have gone over plain `http://`.
    #[error("{url}: a bearer token is never sent over plain http")]
    TokenOverHttp {
        /// The URL as given.
        url: String,
    },
    /// The request could not be built (a header value it cannot carry).
    #[error("cannot build the request")]
    Request(#[source] http::Error),
    /// TLS setup (CA bundle, client certificate, server name) failed.
    #[error("TLS setup: {what}")]
    Tls {
        /// What was being set up, e.g. `CA bundle`.
        what: String,
        /// Why it failed.
        #[source]
        source: Cause,
    },
    /// No answer (or no whole body) within [`TIMEOUT`].
    #[error("{method} {url}: {what}")]
    Timeout {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// What timed out, e.g. `timed out after 10s`.
        what: String,
    },
    /// Connecting, or the request itself, failed.
    #[error("{method} {url}")]
    Transport {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// What failed.
        #[source]
        source: Cause,
    },
}

/// How to reach a server: the CA to trust, and for clusters the
/// kubeconfig's client credentials.
#[derive(Clone, Default)]
pub struct Credentials {
    /// PEM CA bundle; None = the system roots.
    pub ca_pem: Option<String>,
    /// PEM client certificate chain.
    pub client_cert_pem: Option<String>,
    /// PEM client key.
    pub client_key_pem: Option<String>,
    /// Sent as `Authorization: Bearer`.
    pub bearer_token: Option<String>,
    /// SNI and the name the server certificate must carry.
    pub tls_server_name: Option<String>,
    /// The kubeconfig's `insecure-skip-tls-verify`.
    pub skip_verify: bool,
}

impl Credentials {
    /// A server trusted through `ca_pem` (or the system roots), no client
    /// credentials.
    pub fn with_ca(ca_pem: Option<String>) -> Credentials {
        Credentials {
            ca_pem,
            ..Default::default()
        }
    }

    /// A kubeconfig context's credentials: the gateway's identity there.
    pub fn for_cluster(target: &ClusterTarget) -> Credentials {
        Credentials {
            ca_pem: target.ca_pem.as_deref().map(str::to_owned),
            client_cert_pem: target.client_cert_pem.as_deref().map(str::to_owned),
            client_key_pem: target
                .client_key_pem
                .as_ref()
                .map(|k| k.expose().to_string()),
            bearer_token: target.bearer_token.as_ref().map(|t| t.expose().clone()),
            tls_server_name: target.tls_server_name.clone(),
            skip_verify: target.insecure_skip_tls_verify,
        }
    }

    /// The TLS client settings these credentials make: the CA (or the
    /// system roots), the client certificate if any.
    pub fn tls_config(&self) -> Result<rustls::ClientConfig, HttpError> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        fn tls(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> HttpError {
            HttpError::Tls {
                what: what.to_string(),
                source: Box::new(e),
            }
        }
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_pem {
            Some(pem) => {
                for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    let cert = cert.map_err(|e| tls("CA bundle", e))?;
                    roots.add(cert).map_err(|e| tls("CA bundle", e))?;
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls("protocol versions", e))?;
        let builder = if self.skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        } else {
            builder.with_root_certificates(roots)
        };
        match (&self.client_cert_pem, &self.client_key_pem) {
            (Some(cert), Some(key)) => {
                let chain: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_slice_iter(cert.as_bytes())
                        .collect::<Result<_, _>>()
                        .map_err(|e| tls("client certificate", e))?;
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
                    .map_err(|e| tls("client key", e))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| tls("client certificate", e))
            }
            _ => Ok(builder.with_no_client_auth()),
        }
    }
}

/// `https://host:port/prefix` of a kubeconfig context's server (an IPv6
/// host in brackets).
pub fn base_url(target: &ClusterTarget) -> String {
    let s = &target.server;
    let host = if s.host.contains(':') {
        format!("[{}]", s.host)
    } else {
        s.host.clone()
    };
    format!("https://{host}:{}{}", s.port, s.path)
}

/// A response: status, headers, body (at most 1 MiB).
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

/// `GET url` over verified TLS.
pub async fn get(url: &str, accept: &str, creds: &Credentials) -> Result<Reply, HttpError> {
    request("GET", url, accept, None, creds).await
}

/// A `GET` with more to say than [`get`]: request headers (conditional
/// ones: `If-None-Match`, `If-Modified-Since`), a larger body limit, and
/// plain `http://` when the caller was explicitly told to allow it.
#[derive(Debug, Clone)]
pub struct Get<'a> {
    /// The URL.
    pub url: &'a str,
    /// Headers added to the request.
    pub headers: http::HeaderMap,
    /// Largest body read; a larger one is an error.
    pub max_body: usize,
    /// Let an `http://` URL through (never with a bearer token).
    pub allow_http: bool,
}

impl Get<'_> {
    /// Send it with `creds` (the CA to trust, a bearer token).
    pub async fn send(&self, creds: &Credentials) -> Result<Reply, HttpError> {
        let url = self.url;
        let uri: hyper::Uri = url.parse().map_err(|source| HttpError::BadUrl {
            url: url.to_string(),
            source,
        })?;
        let plain = uri.scheme_str() == Some("http");
        if uri.scheme_str() != Some("https") && !(plain && self.allow_http) {
            return Err(HttpError::NotHttps {
                url: url.to_string(),
            });
        }
        if plain && creds.bearer_token.is_some() {
            return Err(HttpError::TokenOverHttp {
                url: url.to_string(),
            });
        }
        let mut request = hyper::Request::builder().method("GET").uri(uri);
        if let Some(headers) = request.headers_mut() {
            headers.extend(self.headers.clone());
        }
        if let Some(token) = &creds.bearer_token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(bytes::Bytes::new()))
            .map_err(HttpError::Request)?;
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(creds.connector_allowing_http(plain)?);
        send_limited(&client, request, "GET", url, self.max_body).await
    }
}

/// `POST url` with a JSON body over verified TLS.
pub async fn post_json(url: &str, body: &[u8], creds: &Credentials) -> Result<Reply, HttpError> {
    request("POST", url, "application/json", Some(body), creds).await
}

/// `POST url` with a form body (`application/x-www-form-urlencoded`, as
/// OAuth token endpoints take) over verified TLS.
pub async fn post_form(url: &str, form: &str, creds: &Credentials) -> Result<Reply, HttpError> {
    request_with(
        "POST",
        url,
        "application/json",
        Some((form.as_bytes(), "application/x-www-form-urlencoded")),
        creds,
    )
    .await
}

/// `PATCH url` with a JSON Patch (RFC 6902) body over verified TLS.
pub async fn patch_json_patch(
    url: &str,
    patch: &[u8],
    creds: &Credentials,
) -> Result<Reply, HttpError> {
    request_with(
        "PATCH",
        url,
        "application/json",
        Some((patch, "application/json-patch+json")),
        creds,
    )
    .await
}

async fn request(
    method: &'static str,
    url: &str,
    accept: &str,
    body: Option<&[u8]>,
    creds: &Credentials,
) -> Result<Reply, HttpError> {
    request_with(
        method,
        url,
        accept,
        body.map(|b| (b, "application/json")),
        creds,
    )
    .await
}

async fn request_with(
    method: &'static str,
    url: &str,
    accept: &str,
    body: Option<(&[u8], &str)>,
    creds: &Credentials,
) -> Result<Reply, HttpError> {
    let uri: hyper::Uri = url.parse().map_err(|source| HttpError::BadUrl {
        url: url.to_string(),
        source,
    })?;
    if uri.scheme_str() != Some("https") {
        return Err(HttpError::NotHttps {
            url: url.to_string(),
        });
    }
    let client = creds.client()?;
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(uri)
        .header("accept", accept);
    if let Some((_, content_type)) = body {
        request = request.header("content-type", content_type);
    }
    if let Some(token) = &creds.bearer_token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request
        .body(Full::new(bytes::Bytes::copy_from_slice(
            body.map(|(bytes, _)| bytes).unwrap_or_default(),
        )))
        .map_err(HttpError::Request)?;
    send(&client, request, method, url).await
}

/// An HTTPS client (HTTP/1.1) with these credentials.
type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<bytes::Bytes>,
>;

/// The HTTPS connector the clients share.
type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// A request body that is sent as it is produced (the agent's heartbeats).
pub type StreamingBody = http_body_util::StreamBody<
    tokio_stream::wrappers::ReceiverStream<
        Result<hyper::body::Frame<bytes::Bytes>, std::convert::Infallible>,
    >,
>;

impl Credentials {
    /// A client that connects with these credentials, over TLS only.
    fn client(&self) -> Result<Client, HttpError> {
        Ok(
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(self.connector()?),
        )
    }

    /// A client for a body sent while it is produced (HTTP/1.1 chunked).
    pub fn streaming_client(
        &self,
    ) -> Result<hyper_util::client::legacy::Client<Connector, StreamingBody>, HttpError> {
        Ok(
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(self.connector()?),
        )
    }

    /// The connector; `plain` also lets `http://` through (the caller
    /// checked it was explicitly allowed).
    fn connector_allowing_http(&self, plain: bool) -> Result<Connector, HttpError> {
        if !plain {
            return self.connector();
        }
        Ok(hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(self.tls_config()?)
            .https_or_http()
            .enable_http1()
            .build())
    }

    fn connector(&self) -> Result<Connector, HttpError> {
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(self.tls_config()?)
            .https_only();
        let connector = match &self.tls_server_name {
            Some(name) => {
                let name = rustls_pki_types::ServerName::try_from(name.clone()).map_err(|e| {
                    HttpError::Tls {
                        what: format!("tls-server-name {name:?}"),
                        source: Box::new(e),
                    }
                })?;
                builder
                    .with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
                    .enable_http1()
                    .build()
            }
            None => builder.enable_http1().build(),
        };
        Ok(connector)
    }
}

/// Send `request` and read the answer, each within [`TIMEOUT`].
async fn send(
    client: &Client,
    request: hyper::Request<Full<bytes::Bytes>>,
    method: &'static str,
    url: &str,
) -> Result<Reply, HttpError> {
    send_limited(client, request, method, url, MAX_BODY).await
}

/// [`send`], reading a body of at most `max_body` bytes.
async fn send_limited(
    client: &Client,
    request: hyper::Request<Full<bytes::Bytes>>,
    method: &'static str,
    url: &str,
    max_body: usize,
) -> Result<Reply, HttpError> {
    let timeout = |what: String| HttpError::Timeout {
        method,
        url: url.to_string(),
        what,
    };
    let transport = |source: Cause| HttpError::Transport {
        method,
        url: url.to_string(),
        source,
    };
    let response = tokio::time::timeout(TIMEOUT, client.request(request))
        .await
        .map_err(|_| timeout(format!("timed out after {TIMEOUT:?}")))?
        .map_err(|e| transport(Box::new(e)))?;
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let body = tokio::time::timeout(TIMEOUT, Limited::new(body, max_body).collect())
        .await
        .map_err(|_| timeout("timed out reading the body".into()))?
        .map_err(transport)?
        .to_bytes();
    Ok(Reply {
        status,
        headers: parts.headers,
        body: body.to_vec(),
    })
}

/// `insecure-skip-tls-verify`: any certificate, but still a real handshake.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
