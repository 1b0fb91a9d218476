//! The webhook's HTTPS server (`POST /mutate`, `GET /healthz`), its own
//! serving certificate (a CA and a certificate generated at start, in
//! memory), and the `caBundle` (and `failurePolicy`) it writes into its
//! `MutatingWebhookConfiguration` so the apiserver trusts that CA.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::cluster_http::{self, Credentials, HttpError};
use crate::inject::InjectConfig;

/// The largest AdmissionReview accepted (the apiserver's own request limit is 3 MiB).
const MAX_REVIEW_BYTES: usize = 3 * 1024 * 1024;

/// What went wrong serving or publishing.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The serving certificate could not be generated.
    #[error("cannot generate the webhook's serving certificate")]
    Certificate(#[source] rcgen::Error),
    /// A name for the certificate is neither an IP address nor a DNS name.
    #[error("{0:?} is not a DNS name or IP address")]
    ServerName(String),
    /// The generated certificate or key was refused by rustls.
    #[error("cannot use the serving certificate")]
    Tls(#[source] rustls::Error),
    /// Accepting a connection failed.
    #[error("cannot accept connections")]
    Accept(#[source] std::io::Error),
    /// Talking to the Kubernetes API failed.
    #[error("cannot update the MutatingWebhookConfiguration {name}")]
    Publish {
        /// The configuration's name.
        name: String,
        /// Why.
        #[source]
        source: HttpError,
    },
    /// The Kubernetes API answered with an error.
    #[error(
        "the Kubernetes API answered {status} for the MutatingWebhookConfiguration {name}: {body}"
    )]
    PublishStatus {
        /// The configuration's name.
        name: String,
        /// The HTTP status.
        status: u16,
        /// The answer's body (a `Status`).
        body: String,
    },
}

/// The webhook's CA and the certificate it signed (PEM).
#[derive(Clone)]
pub struct ServingCert {
    /// Goes into the configuration's `caBundle`.
    pub ca_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// Its key.
    pub key_pem: String,
}

/// A new CA and a serving certificate for `names` (DNS names or IPs).
pub fn generate_serving_cert(names: &[String]) -> Result<ServingCert, WebhookError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose, SanType,
    };
    let ca_key = KeyPair::generate().map_err(WebhookError::Certificate)?;
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kubeplex webhook CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca = ca_params
        .self_signed(&ca_key)
        .map_err(WebhookError::Certificate)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().map_err(WebhookError::Certificate)?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "kubeplex webhook");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    for name in names {
        params.subject_alt_names.push(match name.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                name.clone()
                    .try_into()
                    .map_err(|_| WebhookError::ServerName(name.clone()))?,
            ),
        });
    }
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(WebhookError::Certificate)?;
    Ok(ServingCert {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Where and how to write the `caBundle`.
pub struct Publish {
    /// The Kubernetes API, `https://host:port`.
    pub api_server: String,
    /// Its CA and the webhook's ServiceAccount token.
    pub credentials: Credentials,
    /// The `MutatingWebhookConfiguration`'s name.
    pub configuration: String,
    /// `Fail` or `Ignore`, written into every webhook of it.
    pub failure_policy: String,
}

/// The JSON Patch that sets `caBundle` and `failurePolicy` in every webhook
/// of `configuration` (the object as the API returned it).
pub fn ca_bundle_patch(configuration: &Value, ca_pem: &str, failure_policy: &str) -> Vec<Value> {
    let bundle = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let count = configuration["webhooks"].as_array().map_or(0, Vec::len);
    (0..count)
        .flat_map(|i| {
            [
                json!({"op": "add", "path": format!("/webhooks/{i}/clientConfig/caBundle"), "value": bundle}),
                json!({"op": "add", "path": format!("/webhooks/{i}/failurePolicy"), "value": failure_policy}),
            ]
        })
        .collect()
}

/// Read the configuration and write the CA into each of its webhooks.
pub async fn publish_ca_bundle(publish: &Publish, ca_pem: &str) -> Result<(), WebhookError> {
    let name = &publish.configuration;
    let url = format!(
        "{}/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{name}",
        publish.api_server.trim_end_matches('/')
    );
    let failed = |source| WebhookError::Publish {
        name: name.clone(),
        source,
    };
    let refused = |reply: cluster_http::Reply| WebhookError::PublishStatus {
        name: name.clone(),
        status: reply.status,
        body: String::from_utf8_lossy(&reply.body).into_owned(),
    };
    let current = cluster_http::get(&url, "application/json", &publish.credentials)
        .await
        .map_err(failed)?;
    if current.status != 200 {
        return Err(refused(current));
    }
    let configuration: Value = serde_json::from_slice(&current.body).unwrap_or(Value::Null);
    let patch = ca_bundle_patch(&configuration, ca_pem, &publish.failure_policy);
    let body = serde_json::to_vec(&patch).expect("a JSON value serializes");
    let reply = cluster_http::patch_json_patch(&url, &body, &publish.credentials)
        .await
        .map_err(failed)?;
    if reply.status != 200 {
        return Err(refused(reply));
    }
    Ok(())
}

/// Serve admission reviews on `listener` over TLS until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    cert: &ServingCert,
    config: Arc<InjectConfig>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), WebhookError> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(cert)?));
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => accepted.map_err(WebhookError::Accept)?,
            () = &mut shutdown => return Ok(()),
        };
        let (acceptor, config) = (acceptor.clone(), config.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |request| {
                let config = config.clone();
                async move { Ok::<_, Infallible>(handle(request, &config).await) }
            });
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
        });
    }
}

fn tls_config(cert: &ServingCert) -> Result<rustls::ServerConfig, WebhookError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let invalid = |_| WebhookError::Tls(rustls::Error::General("invalid PEM".into()));
    let chain = vec![CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).map_err(invalid)?];
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).map_err(invalid)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(WebhookError::Tls)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(WebhookError::Tls)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

async fn handle(request: Request<Incoming>, config: &InjectConfig) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: Vec<u8>| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("a valid response")
    };
    match (request.method().as_str(), request.uri().path()) {
        ("GET", "/healthz") => reply(StatusCode::OK, b"{\"ok\":true}".to_vec()),
        ("POST", "/mutate") => {
            let body = match Limited::new(request.into_body(), MAX_REVIEW_BYTES)
                .collect()
                .await
            {
                Ok(collected) => collected.to_bytes(),
                Err(_) => return reply(StatusCode::PAYLOAD_TOO_LARGE, Vec::new()),
            };
            let review = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| super::review(&v, config).ok());
            match review {
                Some(answer) => reply(
                    StatusCode::OK,
                    serde_json::to_vec(&answer).expect("a JSON value serializes"),
                ),
                None => reply(
                    StatusCode::BAD_REQUEST,
                    b"{\"error\":\"not an AdmissionReview\"}".to_vec(),
                ),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, Vec::new()),
    }
}
