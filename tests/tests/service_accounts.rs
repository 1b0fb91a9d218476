//! The test apiserver as a ServiceAccount token issuer, over HTTPS and with
//! the real kubectl: issuer discovery and JWKS (headers, access rules),
//! key rotation and retirement, tokens verified against the published
//! JWKS, `kubectl create token`, and the server accepting its own tokens
//! (`kubectl auth whoami`).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use kubeplex_tests::apiserver::{
    ApiServer, ApiServerConfig, Authorizer, IssuerDiscoveryAccess, Rbac, SigningAlgorithm,
};
use kubeplex_tests::kubectl::{Kubectl, Output};
use kubeplex_tests::pki::{Ca, CertKey};
use p256::ecdsa::signature::Verifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(10);
const KUBECTL_T: Duration = Duration::from_secs(30);
const HOUR: Duration = Duration::from_secs(3600);

struct Cluster {
    ca: Ca,
    admin: CertKey,
    server: ApiServer,
}

async fn cluster_with(f: impl FnOnce(&mut ApiServerConfig)) -> Cluster {
    let ca = Ca::new("sa-ca");
    let mut config = ApiServerConfig::with_ca("sa", &ca);
    f(&mut config);
    let server = ApiServer::start(config).await.unwrap();
    let admin = ca.client_cert("admin", &["system:masters"]);
    Cluster { ca, admin, server }
}

async fn cluster() -> Cluster {
    cluster_with(|_| {}).await
}

/// Who a raw request authenticates as.
enum Cred<'a> {
    Cert(&'a CertKey),
    Bearer(&'a str),
    Nothing,
}

struct Reply {
    status: u16,
    headers: hyper::HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl Cluster {
    /// One HTTPS/1.1 GET on a fresh connection.
    async fn get(&self, cred: Cred<'_>, path: &str) -> Reply {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.ca.cert_pem().as_bytes()).unwrap())
            .unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match cred {
            Cred::Cert(ck) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(ck.cert_pem.as_bytes()).unwrap()],
                    PrivateKeyDer::from_pem_slice(ck.key_pem.as_bytes()).unwrap(),
                )
                .unwrap(),
            _ => builder.with_no_client_auth(),
        };
        let fut = async {
            let tcp = tokio::net::TcpStream::connect(self.server.addr())
                .await
                .unwrap();
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
                .await
                .unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .unwrap();
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let mut req = hyper::Request::get(path).header("host", "127.0.0.1");
            if let Cred::Bearer(token) = cred {
                req = req.header("authorization", format!("Bearer {token}"));
            }
            let resp = sender
                .send_request(req.body(Empty::<Bytes>::new()).unwrap())
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            let body = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            Reply {
                status,
                headers,
                body,
            }
        };
        tokio::time::timeout(T, fut).await.expect("reply in time")
    }

    async fn jwks(&self) -> Value {
        let r = self.get(Cred::Cert(&self.admin), "/openid/v1/jwks").await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    fn kubectl_admin(&self) -> Kubectl {
        Kubectl::with_client_cert(&self.server.url(), self.ca.cert_pem(), &self.admin).unwrap()
    }

    fn kubectl_token(&self, token: &str) -> Kubectl {
        Kubectl::with_token(&self.server.url(), self.ca.cert_pem(), token).unwrap()
    }
}

async fn run(k: &Kubectl, args: &[&str]) -> Output {
    let out = k.run(args, KUBECTL_T).await.unwrap();
    eprintln!("$ kubectl {}\n{}{}", args.join(" "), out.stdout, out.stderr);
    out
}

/// A token's header, claims, signing input and signature.
struct Jws {
    header: Value,
    claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

fn split(token: &str) -> Jws {
    let parts: Vec<&str> = token.trim().split('.').collect();
    assert_eq!(parts.len(), 3, "not a compact JWS: {token}");
    let json =
        |p: &str| -> Value { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap() };
    Jws {
        header: json(parts[0]),
        claims: json(parts[1]),
        signing_input: format!("{}.{}", parts[0], parts[1]),
        signature: URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
    }
}

fn b64(v: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap()
}

/// DER of a definite length.
fn der_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        return vec![n as u8];
    }
    let bytes: Vec<u8> = n
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend(bytes);
    out
}

fn der_uint(v: &[u8]) -> Vec<u8> {
    let mut content = Vec::new();
    if v[0] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(v);
    let mut out = vec![0x02];
    out.extend(der_len(content.len()));
    out.extend(content);
    out
}

/// Verifies `token` with the JWK of its `kid` in `jwks` (p256 for ES256,
/// ring's RSASSA-PKCS1-v1_5 for RS256): independent of the server's code.
fn verify_with_jwks(token: &str, jwks: &Value) -> Result<(), String> {
    let jws = split(token);
    let kid = jws.header["kid"].as_str().ok_or("no kid")?;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .ok_or_else(|| format!("kid {kid} is not published"))?;
    if jwk["alg"] != jws.header["alg"] || jwk["use"] != "sig" {
        return Err(format!("JWK {jwk} does not fit header {}", jws.header));
    }
    match jwk["kty"].as_str() {
        Some("EC") => {
            let mut sec1 = vec![4u8];
            sec1.extend(b64(&jwk["x"]));
            sec1.extend(b64(&jwk["y"]));
            let key =
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(|e| e.to_string())?;
            let sig =
                p256::ecdsa::Signature::from_slice(&jws.signature).map_err(|e| e.to_string())?;
            key.verify(jws.signing_input.as_bytes(), &sig)
                .map_err(|e| e.to_string())
        }
        Some("RSA") => {
            let mut content = der_uint(&b64(&jwk["n"]));
            content.extend(der_uint(&b64(&jwk["e"])));
            let mut rsa_public_key = vec![0x30];
            rsa_public_key.extend(der_len(content.len()));
            rsa_public_key.extend(content);
            use rustls::pki_types::alg_id;
            let alg = rustls::crypto::ring::default_provider()
                .signature_verification_algorithms
                .all
                .iter()
                .find(|a| {
                    a.public_key_alg_id() == alg_id::RSA_ENCRYPTION
                        && a.signature_alg_id() == alg_id::RSA_PKCS1_SHA256
                })
                .copied()
                .unwrap();
            alg.verify_signature(
                &rsa_public_key,
                jws.signing_input.as_bytes(),
                &jws.signature,
            )
            .map_err(|e| format!("{e:?}"))
        }
        other => Err(format!("kty {other:?}")),
    }
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn discovery_document_and_jwks_over_https_with_a_client_certificate() {
    let c = cluster().await;
    let url = c.server.url();
    let r = c
        .get(Cred::Cert(&c.admin), "/.well-known/openid-configuration")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.header("cache-control"), "public, max-age=3600");
    assert_eq!(
        r.body,
        json!({
            "issuer": url,
            "jwks_uri": format!("{url}/openid/v1/jwks"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        })
    );
    assert_eq!(c.server.service_account_issuer(), url);
    assert_eq!(c.server.jwks_fetch_count(), 0);

    let r = c.get(Cred::Cert(&c.admin), "/openid/v1/jwks").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), "application/jwk-set+json");
    assert_eq!(r.header("cache-control"), "public, max-age=3600");
    let keys = r.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let kid = c.server.service_account_key_ids().pop().unwrap();
    assert_eq!(keys[0]["kid"], kid.as_str());
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["kty"], "EC");
    assert_eq!(keys[0]["crv"], "P-256");
    assert!(keys[0].get("d").is_none(), "no private part");
    assert_eq!(r.body, c.server.service_account_jwks());
    assert_eq!(c.server.jwks_fetch_count(), 1);

    // Non-resource URLs: absent from API discovery.
    for path in ["/api", "/api/v1", "/apis"] {
        let r = c.get(Cred::Cert(&c.admin), path).await;
        assert_eq!(r.status, 200);
        let text = r.body.to_string();
        assert!(
            !text.contains("openid") && !text.contains("well-known"),
            "{path}: {text}"
        );
    }
    // The public key PEM matches the published JWK.
    let pem = c.server.service_account_public_keys_pem();
    assert_eq!(pem.len(), 1);
    assert!(pem[0].starts_with("-----BEGIN PUBLIC KEY-----"));
    let der = URL_SAFE_NO_PAD.encode(sha2_digest(&pem_der(&pem[0])));
    assert_eq!(der, kid, "kid = base64url(SHA-256(PKIX DER))");
}

fn pem_der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

fn sha2_digest(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

#[tokio::test]
async fn issuer_and_cache_age_are_configurable() {
    let c = cluster_with(|config| {
        config.service_account_issuer = Some("https://kubernetes.default.svc.cluster.local".into());
        config.service_accounts.discovery_max_age = Duration::from_secs(60);
    })
    .await;
    let r = c
        .get(Cred::Cert(&c.admin), "/.well-known/openid-configuration")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), "public, max-age=60");
    assert_eq!(
        r.body["issuer"],
        "https://kubernetes.default.svc.cluster.local"
    );
    // Keys are still served by this server.
    assert_eq!(
        r.body["jwks_uri"],
        format!("{}/openid/v1/jwks", c.server.url())
    );
    let token = c
        .server
        .mint_service_account_token("default", "app", &["kubeplex"], HOUR, None);
    assert_eq!(
        split(&token).claims["iss"],
        "https://kubernetes.default.svc.cluster.local"
    );
    let r = c.get(Cred::Cert(&c.admin), "/openid/v1/jwks").await;
    assert_eq!(r.header("cache-control"), "public, max-age=60");
    verify_with_jwks(&token, &r.body).unwrap();
}

#[tokio::test]
async fn discovery_access_follows_the_default_rbac_and_the_switches() {
    let path = "/openid/v1/jwks";
    // Rules with no rules: only the built-in roles apply.
    let strict = cluster_with(|config| config.authorizer = Authorizer::Rules(vec![])).await;
    let alice = strict.ca.client_cert("alice", &["dev"]);
    let r = strict.get(Cred::Cert(&alice), path).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.body["message"],
        r#"forbidden: User "alice" cannot get path "/openid/v1/jwks""#
    );
    // Service accounts may (system:service-account-issuer-discovery).
    let api_aud = strict.server.service_account_issuer();
    let sa = strict
        .server
        .mint_service_account_token("default", "reader", &[&api_aud], HOUR, None);
    let r = strict.get(Cred::Bearer(&sa), path).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = strict
        .get(Cred::Bearer(&sa), "/.well-known/openid-configuration")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // No credentials: 401.
    assert_eq!(strict.get(Cred::Nothing, path).await.status, 401);

    let authenticated = cluster_with(|config| {
        config.authorizer = Authorizer::Rules(vec![]);
        config.service_accounts.discovery_access = IssuerDiscoveryAccess::Authenticated;
    })
    .await;
    let alice = authenticated.ca.client_cert("alice", &["dev"]);
    assert_eq!(
        authenticated.get(Cred::Cert(&alice), path).await.status,
        200
    );
    assert_eq!(authenticated.get(Cred::Nothing, path).await.status, 401);

    let anonymous = cluster_with(|config| {
        config.authorizer = Authorizer::Rules(vec![]);
        config.service_accounts.discovery_access = IssuerDiscoveryAccess::Anonymous;
    })
    .await;
    let r = anonymous.get(Cred::Nothing, path).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), "application/jwk-set+json");
    let r = anonymous
        .get(Cred::Nothing, "/.well-known/openid-configuration")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        anonymous
            .server
            .requests()
            .last()
            .unwrap()
            .authenticated_user
            .as_deref(),
        Some("system:anonymous")
    );
    // Anonymous reaches the issuer endpoints only.
    assert_eq!(anonymous.get(Cred::Nothing, "/api").await.status, 401);
    // A bad token is not anonymous: 401.
    assert_eq!(anonymous.get(Cred::Bearer("nope"), path).await.status, 401);
    assert_eq!(anonymous.server.jwks_fetch_count(), 1);
}

/// Under `Authorizer::Rbac` the issuer documents are RBAC's: the bootstrap
/// binding (service accounts), the binding `IssuerDiscoveryAccess` adds,
/// or one the test adds, e.g. the gateway's identity bound to
/// `system:service-account-issuer-discovery` (plugin/pkg/auth/authorizer/
/// rbac/bootstrappolicy: a ClusterRole with `get` on the two URLs).
#[tokio::test]
async fn issuer_discovery_under_rbac_comes_from_bindings() {
    let binding = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: gateway-reads-issuer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:service-account-issuer-discovery"}
subjects: [{kind: User, name: kubeplex-gateway}]
"#;
    let c = cluster_with(|config| {
        config.authorizer = Authorizer::Rbac(Rbac::from_yaml(binding).unwrap());
    })
    .await;
    let gateway = c.ca.client_cert("kubeplex-gateway", &["kubeplex:gateways"]);
    let other = c.ca.client_cert("other", &["kubeplex:gateways"]);
    for path in ["/openid/v1/jwks", "/.well-known/openid-configuration"] {
        assert_eq!(
            c.get(Cred::Cert(&gateway), path).await.status,
            200,
            "{path}"
        );
        let r = c.get(Cred::Cert(&other), path).await;
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(
            r.body["message"],
            format!(r#"forbidden: User "other" cannot get path "{path}""#)
        );
    }
    let api_aud = c.server.service_account_issuer();
    let sa = c
        .server
        .mint_service_account_token("default", "reader", &[&api_aud], HOUR, None);
    assert_eq!(
        c.get(Cred::Bearer(&sa), "/openid/v1/jwks").await.status,
        200
    );
    // IssuerDiscoveryAccess::Authenticated is a binding added to the same RBAC.
    let wide = cluster_with(|config| {
        config.authorizer = Authorizer::Rbac(Rbac::bootstrap());
        config.service_accounts.discovery_access = IssuerDiscoveryAccess::Authenticated;
    })
    .await;
    let other = wide.ca.client_cert("other", &[]);
    assert_eq!(
        wide.get(Cred::Cert(&other), "/openid/v1/jwks").await.status,
        200
    );
    assert_eq!(wide.get(Cred::Nothing, "/openid/v1/jwks").await.status, 401);
}

#[tokio::test]
async fn rotation_keeps_the_old_key_published_until_retired() {
    let c = cluster().await;
    let old_token =
        c.server
            .mint_service_account_token("default", "app", &["kubeplex"], HOUR, None);
    let old_kid = c.server.service_account_key_ids().pop().unwrap();
    let jwks = c.jwks().await;
    assert_eq!(kids(&jwks), std::slice::from_ref(&old_kid));
    verify_with_jwks(&old_token, &jwks).unwrap();

    let new_kid = c.server.rotate_service_account_key();
    assert_ne!(new_kid, old_kid);
    let new_token =
        c.server
            .mint_service_account_token("default", "app", &["kubeplex"], HOUR, None);
    assert_eq!(split(&new_token).header["kid"], new_kid.as_str());
    let jwks = c.jwks().await;
    assert_eq!(kids(&jwks), [old_kid.clone(), new_kid.clone()]);
    verify_with_jwks(&old_token, &jwks).unwrap();
    verify_with_jwks(&new_token, &jwks).unwrap();

    assert_eq!(c.server.retire_service_account_keys_except_current(), 1);
    let jwks = c.jwks().await;
    assert_eq!(kids(&jwks), [new_kid]);
    assert!(verify_with_jwks(&old_token, &jwks).is_err());
    verify_with_jwks(&new_token, &jwks).unwrap();
    assert_eq!(c.server.jwks_fetch_count(), 3);
}

#[tokio::test]
async fn minted_tokens_have_the_kubernetes_claims_and_verify_against_the_jwks() {
    let c = cluster().await;
    let token = c.server.mint_service_account_token(
        "payments",
        "api",
        &["kubeplex"],
        Duration::from_secs(900),
        Some("api-5f7c"),
    );
    let jws = split(&token);
    assert_eq!(
        jws.header.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["alg", "kid"]
    );
    assert_eq!(jws.header["alg"], "ES256");
    verify_with_jwks(&token, &c.jwks().await).unwrap();

    let claims = &jws.claims;
    let store = c.server.store();
    let sa = store
        .get("serviceaccounts", "payments", "api")
        .expect("SA created");
    let pod = store
        .get("pods", "payments", "api-5f7c")
        .expect("pod created");
    assert_eq!(pod["spec"]["serviceAccountName"], "api");
    assert_eq!(claims["iss"], c.server.url());
    assert_eq!(claims["sub"], "system:serviceaccount:payments:api");
    assert_eq!(claims["aud"], json!(["kubeplex"]));
    let (iat, exp, nbf) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
        claims["nbf"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, 900);
    assert_eq!(nbf, iat);
    assert_eq!(claims["jti"].as_str().unwrap().len(), 36);
    assert_eq!(
        claims["kubernetes.io"],
        json!({
            "namespace": "payments",
            "node": {"name": pod["spec"]["nodeName"]},
            "pod": {"name": "api-5f7c", "uid": pod["metadata"]["uid"]},
            "serviceaccount": {"name": "api", "uid": sa["metadata"]["uid"]},
        })
    );
    // A second token reuses the service account (same uid).
    let again = c
        .server
        .mint_service_account_token("payments", "api", &["a", "b"], HOUR, None);
    let claims = split(&again).claims;
    assert_eq!(
        claims["kubernetes.io"]["serviceaccount"]["uid"],
        sa["metadata"]["uid"]
    );
    assert!(claims["kubernetes.io"].get("pod").is_none());
    assert_eq!(claims["aud"], json!(["a", "b"]));
}

#[tokio::test]
async fn rs256_issuer_publishes_rsa_keys() {
    let c =
        cluster_with(|config| config.service_accounts.algorithm = SigningAlgorithm::Rs256).await;
    let r = c
        .get(Cred::Cert(&c.admin), "/.well-known/openid-configuration")
        .await;
    assert_eq!(
        r.body["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    let token = c
        .server
        .mint_service_account_token("default", "app", &["kubeplex"], HOUR, None);
    c.server.rotate_service_account_key();
    let jwks = c.jwks().await;
    for key in jwks["keys"].as_array().unwrap() {
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["alg"], "RS256");
        assert_eq!(key["e"], "AQAB");
    }
    assert_eq!(split(&token).header["alg"], "RS256");
    verify_with_jwks(&token, &jwks).unwrap();
    // A second RS256 cluster gets other keys.
    let other =
        cluster_with(|config| config.service_accounts.algorithm = SigningAlgorithm::Rs256).await;
    for kid in other.server.service_account_key_ids() {
        assert!(!kids(&jwks).contains(&kid));
    }
    let foreign =
        other
            .server
            .mint_service_account_token("default", "app", &["kubeplex"], HOUR, None);
    assert!(verify_with_jwks(&foreign, &jwks).is_err());
}

#[tokio::test]
async fn kubectl_create_token_against_the_server() {
    let c = cluster().await;
    let k = c.kubectl_admin();
    let out = run(&k, &["create", "serviceaccount", "builder"]).await;
    assert!(out.success(), "{}", out.stderr);
    let out = run(
        &k,
        &[
            "create",
            "token",
            "builder",
            "--audience",
            "kubeplex",
            "--duration",
            "10m",
        ],
    )
    .await;
    assert!(out.success(), "{}", out.stderr);
    let token = out.stdout.trim().to_string();
    let req = c
        .server
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v1/namespaces/default/serviceaccounts/builder/token")
        .expect("TokenRequest recorded");
    assert_eq!(req.method, "POST");
    assert_eq!(req.status, 201);
    // kubectl 1.32's typed client sends the TokenRequest as protobuf.
    assert_eq!(
        req.header("content-type"),
        Some("application/vnd.kubernetes.protobuf")
    );
    verify_with_jwks(&token, &c.jwks().await).unwrap();
    let claims = split(&token).claims;
    let sa = c
        .server
        .store()
        .get("serviceaccounts", "default", "builder")
        .unwrap();
    assert_eq!(claims["aud"], json!(["kubeplex"]));
    assert_eq!(claims["sub"], "system:serviceaccount:default:builder");
    assert_eq!(claims["iss"], c.server.url());
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600
    );
    assert_eq!(
        claims["kubernetes.io"],
        json!({"namespace": "default", "serviceaccount": {"name": "builder", "uid": sa["metadata"]["uid"]}})
    );

    // The TokenRequest object kubectl gets back (-o json).
    let out = run(&k, &["create", "token", "builder", "-o", "json"]).await;
    assert!(out.success(), "{}", out.stderr);
    let tr: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(tr["kind"], "TokenRequest");
    assert_eq!(tr["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(tr["metadata"]["name"], "builder");
    assert_eq!(tr["metadata"]["namespace"], "default");
    // Defaults: one hour, the API audiences (the issuer).
    assert_eq!(tr["spec"]["expirationSeconds"], 3600);
    assert_eq!(tr["spec"]["audiences"], json!([c.server.url()]));
    let claims = split(tr["status"]["token"].as_str().unwrap()).claims;
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );
    assert!(
        tr["status"]["expirationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    // Bound to a pod running as the service account: pod and node claims.
    c.server
        .store()
        .create(
            "pods",
            json!({"metadata": {"name": "job-1", "namespace": "default"},
                   "spec": {"serviceAccountName": "builder", "containers": [{"name": "c", "image": "busybox"}]}}),
        )
        .unwrap();
    let out = run(
        &k,
        &[
            "create",
            "token",
            "builder",
            "--bound-object-kind",
            "Pod",
            "--bound-object-name",
            "job-1",
        ],
    )
    .await;
    assert!(out.success(), "{}", out.stderr);
    let claims = split(out.stdout.trim()).claims;
    let pod = c.server.store().get("pods", "default", "job-1").unwrap();
    assert_eq!(
        claims["kubernetes.io"]["pod"],
        json!({"name": "job-1", "uid": pod["metadata"]["uid"]})
    );
    assert_eq!(claims["kubernetes.io"]["node"], json!({"name": "node-1"}));

    // The apiserver's limits and errors.
    let out = run(&k, &["create", "token", "builder", "--duration", "1m"]).await;
    assert!(!out.success());
    assert!(
        out.stderr
            .contains("may not specify a duration less than 10 minutes"),
        "{}",
        out.stderr
    );
    let out = run(&k, &["create", "token", "nobody"]).await;
    assert!(!out.success());
    assert!(
        out.stderr.contains(r#"serviceaccounts "nobody" not found"#),
        "{}",
        out.stderr
    );
    let out = run(&k, &["create", "serviceaccount", "other"]).await;
    assert!(out.success(), "{}", out.stderr);
    let out = run(
        &k,
        &[
            "create",
            "token",
            "other",
            "--bound-object-kind",
            "Pod",
            "--bound-object-name",
            "job-1",
        ],
    )
    .await;
    assert!(!out.success());
    assert!(
        out.stderr
            .contains("to pod running with different serviceaccount name"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn the_server_authenticates_its_own_service_account_tokens() {
    let c = cluster().await;
    let issuer = c.server.service_account_issuer();
    let token = c
        .server
        .mint_service_account_token("ns1", "robot", &[&issuer], HOUR, None);
    let k = c.kubectl_token(&token);
    let out = run(&k, &["auth", "whoami"]).await;
    assert!(out.success(), "{}", out.stderr);
    assert!(
        out.stdout.contains("system:serviceaccount:ns1:robot"),
        "{}",
        out.stdout
    );
    let out = run(&k, &["auth", "whoami", "-o", "json"]).await;
    assert!(out.success(), "{}", out.stderr);
    let review: Value = serde_json::from_str(&out.stdout).unwrap();
    let user = &review["status"]["userInfo"];
    let sa = c
        .server
        .store()
        .get("serviceaccounts", "ns1", "robot")
        .unwrap();
    assert_eq!(user["username"], "system:serviceaccount:ns1:robot");
    assert_eq!(user["uid"], sa["metadata"]["uid"]);
    assert_eq!(
        user["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:ns1",
            "system:authenticated"
        ])
    );
    let jti = split(&token).claims["jti"].as_str().unwrap().to_string();
    assert_eq!(
        user["extra"]["authentication.kubernetes.io/credential-id"],
        json!([format!("JTI={jti}")])
    );
    let recorded = c.server.requests().pop().unwrap();
    assert_eq!(
        recorded.authenticated_user.as_deref(),
        Some("system:serviceaccount:ns1:robot")
    );

    // kubectl create token's default audience is the API's: it works too.
    let admin = c.kubectl_admin();
    let out = run(&admin, &["create", "token", "robot", "-n", "ns1"]).await;
    assert!(out.success(), "{}", out.stderr);
    let out = run(&c.kubectl_token(out.stdout.trim()), &["auth", "whoami"]).await;
    assert!(out.success(), "{}", out.stderr);
    assert!(out.stdout.contains("system:serviceaccount:ns1:robot"));

    // A token for another audience (the gateway's) is not accepted here.
    let gateway = c
        .server
        .mint_service_account_token("ns1", "robot", &["kubeplex"], HOUR, None);
    let out = run(&c.kubectl_token(&gateway), &["auth", "whoami"]).await;
    assert!(!out.success());
    assert!(out.stderr.contains("Unauthorized"), "{}", out.stderr);
    // Nor one whose key was retired.
    c.server.rotate_service_account_key();
    c.server.retire_service_account_keys_except_current();
    let out = run(&k, &["auth", "whoami"]).await;
    assert!(!out.success());
    assert!(out.stderr.contains("Unauthorized"), "{}", out.stderr);
    // Nor one whose service account is gone.
    let fresh = c
        .server
        .mint_service_account_token("ns1", "robot", &[&issuer], HOUR, None);
    assert_eq!(c.get(Cred::Bearer(&fresh), "/version").await.status, 200);
    c.server
        .store()
        .delete("serviceaccounts", "ns1", "robot")
        .unwrap();
    assert_eq!(c.get(Cred::Bearer(&fresh), "/version").await.status, 401);
}
