//! The test apiserver over raw HTTP/1.1 and HTTP/2 (rustls + hyper client):
//! recording, authentication, impersonation, Status errors, object
//! semantics and watch streaming, checked byte for byte where it matters.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use kubeplex_test_support::wait_for_async;
use kubeplex_tests::apiserver::{
    ApiServer, ApiServerConfig, Authorizer, AuthzRule, Rbac, RecordedRequest, StaticToken,
};
use kubeplex_tests::pki::{Ca, CertKey};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T: Duration = Duration::from_secs(10);

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

struct Client {
    sender: Sender,
    _conn: tokio::task::JoinHandle<()>,
}

/// A TLS connection to `server` offering `alpn`.
async fn tls_stream(
    server: &ApiServer,
    ca: &Ca,
    cert: Option<&CertKey>,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match cert {
        Some(ck) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(ck.cert_pem.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(ck.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap()
}

async fn connect(server: &ApiServer, ca: &Ca, cert: Option<&CertKey>, h2: bool) -> Client {
    let alpn: &[u8] = if h2 { b"h2" } else { b"http/1.1" };
    let tls = tls_stream(server, ca, cert, alpn).await;
    let io = TokioIo::new(tls);
    if h2 {
        let (sender, conn) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                .await
                .unwrap();
        Client {
            sender: Sender::H2(sender),
            _conn: tokio::spawn(async move {
                let _ = conn.await;
            }),
        }
    } else {
        let (sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        Client {
            sender: Sender::H1(sender),
            _conn: tokio::spawn(async move {
                let _ = conn.await;
            }),
        }
    }
}

impl Client {
    async fn send(&mut self, req: Request<Full<Bytes>>) -> Response<Incoming> {
        let fut = async {
            match &mut self.sender {
                Sender::H1(s) => s.send_request(req).await.unwrap(),
                Sender::H2(s) => s.send_request(req).await.unwrap(),
            }
        };
        tokio::time::timeout(T, fut)
            .await
            .expect("response in time")
    }

    async fn call(
        &mut self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, hyper::HeaderMap, Value) {
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "127.0.0.1");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = self
            .send(b.body(Full::new(Bytes::from(body.to_string()))).unwrap())
            .await;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = tokio::time::timeout(T, resp.into_body().collect())
            .await
            .unwrap()
            .unwrap()
            .to_bytes();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, headers, v)
    }

    async fn get(&mut self, uri: &str) -> (u16, Value) {
        let (s, _, v) = self.call("GET", uri, &[], "").await;
        (s, v)
    }
}

struct Fixture {
    ca: Ca,
    admin: CertKey,
    server: ApiServer,
}

async fn fixture_with(f: impl FnOnce(&mut ApiServerConfig)) -> Fixture {
    let ca = Ca::new("ca");
    let mut config = ApiServerConfig::with_ca("http", &ca);
    config.bookmark_interval = Duration::from_millis(200);
    f(&mut config);
    let server = ApiServer::start(config).await.unwrap();
    let admin = ca.client_cert("gateway", &["system:masters", "gateways"]);
    Fixture { ca, admin, server }
}

async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

impl Fixture {
    async fn client(&self, h2: bool) -> Client {
        connect(&self.server, &self.ca, Some(&self.admin), h2).await
    }
}

/// Reads watch events (one JSON per line) until `n` arrived or `T` passed.
async fn events(body: &mut Incoming, buf: &mut Vec<u8>, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + T;
    loop {
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            out.push(serde_json::from_slice(&line).unwrap());
            if out.len() == n {
                return out;
            }
        }
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    buf.extend_from_slice(data);
                }
            }
            Ok(_) => return out,
            Err(_) => panic!("timed out waiting for {n} events, got {out:?}"),
        }
    }
}

#[tokio::test]
async fn records_both_http_versions_with_identity_and_headers() {
    let f = fixture().await;
    for h2 in [false, true] {
        f.server.clear_requests();
        let mut c = f.client(h2).await;
        let (status, _, _) = c
            .call(
                "GET",
                "/api/v1/namespaces/default/configmaps?limit=500",
                &[
                    ("impersonate-user", "alice"),
                    ("impersonate-group", "dev"),
                    ("impersonate-group", "ops"),
                    ("impersonate-extra-scopes%2Fname", "view"),
                    ("x-trace", "1"),
                ],
                "",
            )
            .await;
        assert_eq!(status, 200);
        let reqs = f.server.requests();
        assert_eq!(reqs.len(), 1);
        let r = &reqs[0];
        assert_eq!(r.http_version, if h2 { "HTTP/2.0" } else { "HTTP/1.1" });
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/api/v1/namespaces/default/configmaps");
        assert_eq!(r.query, "limit=500");
        assert_eq!(r.header_all("impersonate-group"), ["dev", "ops"]);
        assert_eq!(r.header("X-Trace"), Some("1"));
        assert_eq!(r.header("authorization"), None);
        assert_eq!(r.client_cert_subject.as_deref(), Some("gateway"));
        assert_eq!(r.authenticated_user.as_deref(), Some("gateway"));
        let user = r.effective_user.as_ref().unwrap();
        assert_eq!(user.username, "alice");
        assert_eq!(user.groups, ["dev", "ops", "system:authenticated"]);
        assert_eq!(user.extra["scopes/name"], ["view"]);
        assert_eq!(r.status, 200);
    }
}

#[tokio::test]
async fn unauthenticated_requests_get_401_and_are_recorded() {
    let f = fixture_with(|c| c.tokens = vec![StaticToken::new("tok", "bob", &[])]).await;
    let mut anon = connect(&f.server, &f.ca, None, true).await;
    let (status, _, body) = anon.call("GET", "/api", &[], "").await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    );
    let (status, _, _) = anon
        .call("GET", "/api", &[("authorization", "Bearer nope")], "")
        .await;
    assert_eq!(status, 401);
    let (status, _, body) = anon
        .call(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            &[("authorization", "Bearer tok")],
            "{}",
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(body["status"]["userInfo"]["username"], "bob");
    // Health endpoints are public, like the default public-info role.
    assert_eq!(anon.get("/readyz").await, (200, json!("ok")));
    let statuses: Vec<u16> = f.server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 401, 201, 200]);
}

/// A gateway allowed to impersonate the legacy way (the README's ClusterRole,
/// bound to the group `gateways`) and to read configmaps itself.
const GATEWAY_RBAC: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kubeplex-impersonator}
rules:
- apiGroups: [""]
  resources: [users, groups, serviceaccounts]
  verbs: [impersonate]
- apiGroups: [authentication.k8s.io]
  resources: [uids, userextras/*]
  verbs: [impersonate]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: gateways-impersonate}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubeplex-impersonator}
subjects: [{kind: Group, name: gateways}]
"#;

/// 1.36's impersonation errors (`constrained_impersonation.go`
/// `processImpersonationHeaders`, `mode.go` `checkAuthorization`): 400 for
/// a group without a user; 403 `ForbiddenStatusError` of the first mode
/// that failed.
#[tokio::test]
async fn impersonation_errors_match_the_apiserver() {
    let f =
        fixture_with(|c| c.authorizer = Authorizer::Rbac(Rbac::from_yaml(GATEWAY_RBAC).unwrap()))
            .await;
    let mut c = f.client(true).await;
    let (status, _, body) = c
        .call(
            "GET",
            "/api/v1/namespaces",
            &[("impersonate-group", "dev")],
            "",
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["reason"], "BadRequest");
    assert_eq!(
        body["message"],
        r#"requested &user.DefaultInfo{Name:"", UID:"", Groups:[]string{"dev"}, Extra:map[string][]string(nil)} without impersonating a user name"#
    );

    let other = f.ca.client_cert("mallory", &[]);
    let mut m = connect(&f.server, &f.ca, Some(&other), false).await;
    let (status, _, body) = m
        .call(
            "GET",
            "/api/v1/namespaces",
            &[("impersonate-user", "alice")],
            "",
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["message"],
        r#"namespaces is forbidden: User "mallory" cannot impersonate-on:user-info:list resource "namespaces" in API group "" at the cluster scope"#
    );
    assert_eq!(body["details"], json!({"kind": "namespaces"}));

    // A member of `gateways` (not of system:masters) may impersonate, the
    // legacy way, but no extra key: `userextras/*` is a literal string.
    let gw = f.ca.client_cert("kubeplex-gateway", &["gateways"]);
    let mut g = connect(&f.server, &f.ca, Some(&gw), true).await;
    let alice = [("impersonate-user", "alice"), ("impersonate-group", "dev")];
    let (status, _, body) = g.call("GET", "/version", &alice, "").await;
    assert_eq!(status, 200, "{body}");
    let mut with_extra = alice.to_vec();
    with_extra.push(("impersonate-extra-example.com%2ftenant", "blue"));
    let (status, _, body) = g
        .call(
            "GET",
            "/api/v1/namespaces/default/configmaps",
            &with_extra,
            "",
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["message"],
        r#"userextras.authentication.k8s.io "blue" is forbidden: User "kubeplex-gateway" cannot impersonate resource "userextras/example.com/tenant" in API group "authentication.k8s.io" at the cluster scope"#,
        "legacy succeeded last for this user, so its error comes first (modeIndexCache)"
    );
    let fresh = f.ca.client_cert("kubeplex-gateway-2", &["gateways"]);
    let mut g2 = connect(&f.server, &f.ca, Some(&fresh), false).await;
    let (status, _, body) = g2
        .call(
            "GET",
            "/api/v1/namespaces/default/configmaps",
            &with_extra,
            "",
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["message"],
        r#"configmaps is forbidden: User "kubeplex-gateway-2" cannot impersonate-on:user-info:list resource "configmaps" in API group "" in the namespace "default""#
    );
}

/// A cluster whose RBAC lets the group `gateways` impersonate the legacy
/// way, holding one secret; and a gateway certificate in that group.
async fn escalation_fixture() -> (Fixture, CertKey) {
    let f = fixture_with(|c| {
        c.authorizer = Authorizer::Rbac(Rbac::from_yaml(GATEWAY_RBAC).unwrap());
    })
    .await;
    f.server
        .store()
        .create(
            "secrets",
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "db", "namespace": "default"},
                   "data": {"password": "aHVudGVyMg=="}}),
        )
        .unwrap();
    let gateway = f.ca.client_cert("kubeplex-gateway", &["gateways"]);
    (f, gateway)
}

const SECRETS: &str = "/api/v1/namespaces/default/secrets";

/// `system:masters` is cluster-admin before RBAC is asked
/// (`authorizerfactory.NewPrivilegedGroups(user.SystemPrivilegedGroup)`),
/// and legacy impersonation (`mode.go` `legacyImpersonationMode`) lets a
/// requester with `impersonate` on `groups` name it, although the
/// constrained `user-info` mode refuses it: alice lists secrets with no
/// rule for her.
#[tokio::test]
async fn an_impersonated_system_masters_group_is_cluster_admin() {
    let (f, gateway) = escalation_fixture().await;
    let mut c = connect(&f.server, &f.ca, Some(&gateway), true).await;
    let (status, _, body) = c
        .call("GET", SECRETS, &[("impersonate-user", "alice")], "")
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["message"],
        r#"secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" in the namespace "default""#
    );
    let masters = [
        ("impersonate-user", "alice"),
        ("impersonate-group", "system:masters"),
    ];
    let (status, _, body) = c.call("GET", SECRETS, &masters, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["metadata"]["name"], "db");
    let r = f.server.requests().pop().unwrap();
    let user = r.effective_user.unwrap();
    assert_eq!(user.username, "alice");
    assert_eq!(user.groups, ["system:masters", "system:authenticated"]);
}

/// Each raw request carries `x-probe: <n>` so the test can find the
/// server's record of it (pushed once the response is made).
static PROBE: AtomicUsize = AtomicUsize::new(0);

async fn recorded(f: &Fixture, probe: &str) -> RecordedRequest {
    f.server
        .wait_for_request(|r| r.header("x-probe") == Some(probe), T)
        .await
        .expect("the server recorded the raw request")
}

/// One HTTP/1.1 request written byte for byte (`header_lines` are sent as
/// given, each ended by CRLF) over TLS.
async fn raw_h1(f: &Fixture, cert: &CertKey, path: &str, header_lines: &[&str]) -> RecordedRequest {
    let probe = PROBE.fetch_add(1, Ordering::SeqCst).to_string();
    let mut tls = tls_stream(&f.server, &f.ca, Some(cert), b"http/1.1").await;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-probe: {probe}\r\n");
    for line in header_lines {
        req += line;
        req += "\r\n";
    }
    req += "Connection: close\r\n\r\n";
    tls.write_all(req.as_bytes()).await.unwrap();
    let r = recorded(f, &probe).await;
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(T, tls.read_to_end(&mut rest)).await;
    r
}

/// An HTTP/2 frame (RFC 9113 section 4.1).
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend([kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend(payload);
    out
}

/// A header field as an HPACK "literal without indexing, new name", no
/// Huffman coding (RFC 7541 section 6.2.2): every byte of the value is
/// on the wire as written.
fn hpack_literal(block: &mut Vec<u8>, name: &str, value: &str) {
    block.push(0x00);
    for s in [name, value] {
        assert!(s.len() < 127, "one-byte length prefix");
        block.push(s.len() as u8);
        block.extend(s.as_bytes());
    }
}

/// One HTTP/2 request built frame by frame over TLS (ALPN h2): preface,
/// SETTINGS, the ACK of the server's SETTINGS, one HEADERS frame.
async fn raw_h2(
    f: &Fixture,
    cert: &CertKey,
    path: &str,
    headers: &[(&str, &str)],
) -> RecordedRequest {
    let probe = PROBE.fetch_add(1, Ordering::SeqCst).to_string();
    let mut tls = tls_stream(&f.server, &f.ca, Some(cert), b"h2").await;
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(h2_frame(0x4, 0, 0, &[]));
    tls.write_all(&out).await.unwrap();
    // The server's first frame is its SETTINGS; acknowledge it.
    loop {
        let mut head = [0u8; 9];
        tokio::time::timeout(T, tls.read_exact(&mut head))
            .await
            .unwrap()
            .unwrap();
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0u8; len];
        tls.read_exact(&mut payload).await.unwrap();
        if head[3] == 0x4 && head[4] & 0x1 == 0 {
            break;
        }
    }
    let mut block = Vec::new();
    for (name, value) in [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "127.0.0.1"),
        (":path", path),
        ("x-probe", &probe),
    ]
    .into_iter()
    .chain(headers.iter().copied())
    {
        hpack_literal(&mut block, name, value);
    }
    let mut out = h2_frame(0x4, 0x1, 0, &[]);
    out.extend(h2_frame(0x1, 0x5, 1, &block)); // END_STREAM | END_HEADERS
    tls.write_all(&out).await.unwrap();
    recorded(f, &probe).await
}

fn groups(r: &RecordedRequest) -> Vec<String> {
    r.effective_user
        .as_ref()
        .map(|u| u.groups.clone())
        .unwrap_or_default()
}

/// Go's HTTP/1.1 server reads header values with `net/textproto`
/// (`Reader.readMIMEHeader` -> `readContinuedLineSlice` -> `trim`: "trim
/// returns s with leading and trailing spaces and tabs removed"); hyper's
/// httparse does the same (it skips spaces and tabs after the colon and
/// trims trailing ones). So `Impersonate-Group: " system:masters\t"` is
/// `system:masters` over HTTP/1.1, on kube-apiserver and here: the
/// escalation a gateway that only refuses the exact string lets through.
#[tokio::test]
async fn http1_header_values_are_trimmed_like_go() {
    let (f, gateway) = escalation_fixture().await;
    let r = raw_h1(
        &f,
        &gateway,
        SECRETS,
        &[
            "Impersonate-User: \t alice  ",
            "Impersonate-Group:  system:masters\t",
        ],
    )
    .await;
    assert_eq!(r.http_version, "HTTP/1.1");
    assert_eq!(r.header_all("impersonate-group"), ["system:masters"]);
    assert_eq!(r.effective_user.as_ref().unwrap().username, "alice");
    assert_eq!(groups(&r), ["system:masters", "system:authenticated"]);
    assert_eq!(r.status, 200, "alice listed the secrets as system:masters");
    // Whitespace inside a value stays.
    let r = raw_h1(
        &f,
        &gateway,
        SECRETS,
        &[
            "Impersonate-User: alice",
            "Impersonate-Group: system: masters",
        ],
    )
    .await;
    assert_eq!(groups(&r), ["system: masters", "system:authenticated"]);
    assert_eq!(r.status, 403);
}

/// Go's HTTP/2 server (golang.org/x/net/http2 `server.go`
/// `processHeaders`: `rp.header.Add(sc.canonicalHeader(hf.Name),
/// hf.Value)`) keeps HPACK-decoded values as sent, surrounding whitespace
/// included; so does the h2 crate. Over HTTP/2 `" system:masters"` is
/// another group, which grants nothing.
#[tokio::test]
async fn http2_header_values_arrive_as_sent_like_go() {
    let (f, gateway) = escalation_fixture().await;
    let r = raw_h2(
        &f,
        &gateway,
        SECRETS,
        &[
            ("impersonate-user", "alice"),
            ("impersonate-group", "system:masters"),
        ],
    )
    .await;
    assert_eq!(r.http_version, "HTTP/2.0");
    assert_eq!(r.status, 200, "the raw HTTP/2 request itself works");
    for value in [" system:masters", "system:masters\t", "\tsystem:masters "] {
        let r = raw_h2(
            &f,
            &gateway,
            SECRETS,
            &[("impersonate-user", " alice"), ("impersonate-group", value)],
        )
        .await;
        assert_eq!(r.header_all("impersonate-group"), [value]);
        assert_eq!(r.effective_user.as_ref().unwrap().username, " alice");
        assert_eq!(groups(&r), [value, "system:authenticated"]);
        assert_eq!(r.status, 403, "{value:?} is not system:masters over HTTP/2");
    }
}

/// `SelfSubjectAccessReview` is answered by the authorizer that decides
/// requests (and impersonation): an impersonation review of extra key
/// `k` (resource `userextras`, subresource `k`, as `mode.go`
/// `authorizeExtra` asks) is allowed by a `userextras/k` rule, not by
/// `userextras/*` (`evaluation_helpers.go` `ResourceMatches`).
#[tokio::test]
async fn self_subject_access_reviews_use_the_same_rbac() {
    let yaml = format!(
        "{GATEWAY_RBAC}---\n{}",
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: tenant-extra}
rules: [{apiGroups: [authentication.k8s.io], resources: [userextras/example.com/tenant], verbs: [impersonate]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: tenant-extra}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: tenant-extra}
subjects: [{kind: User, name: gateway-with-key}]
"#
    );
    let f =
        fixture_with(|c| c.authorizer = Authorizer::Rbac(Rbac::from_yaml(&yaml).unwrap())).await;
    let review = |resource: &str, sub: &str| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
               "spec": {"resourceAttributes": {"verb": "impersonate", "group": "authentication.k8s.io",
                        "resource": resource, "subresource": sub, "name": "blue"}}})
        .to_string()
    };
    let uri = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    let readme_only = f.ca.client_cert("kubeplex-gateway", &["gateways"]);
    let mut c = connect(&f.server, &f.ca, Some(&readme_only), true).await;
    let (status, _, body) = c
        .call(
            "POST",
            uri,
            &[],
            &review("userextras", "example.com/tenant"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], json!({"allowed": false}));
    // The literal `userextras/*` matches only the subresource `*`.
    let (_, _, body) = c.call("POST", uri, &[], &review("userextras", "*")).await;
    assert_eq!(body["status"]["allowed"], true);
    let (_, _, body) = c.call("POST", uri, &[], &review("uids", "")).await;
    assert_eq!(
        body["status"],
        json!({"allowed": true, "reason": "RBAC: allowed by ClusterRoleBinding \"gateways-impersonate\" of ClusterRole \"kubeplex-impersonator\" to Group \"gateways\""})
    );
    let with_key = f.ca.client_cert("gateway-with-key", &[]);
    let mut k = connect(&f.server, &f.ca, Some(&with_key), false).await;
    let (_, _, body) = k
        .call(
            "POST",
            uri,
            &[],
            &review("userextras", "example.com/tenant"),
        )
        .await;
    assert_eq!(body["status"]["allowed"], true, "{body}");
    let (_, _, body) = k
        .call("POST", uri, &[], &review("userextras", "other.io/k"))
        .await;
    assert_eq!(body["status"]["allowed"], false, "{body}");
}

#[tokio::test]
async fn status_errors_and_object_semantics() {
    let f = fixture().await;
    let mut c = f.client(true).await;
    let (s, body) = c.get("/api/v1/nonsense").await;
    assert_eq!(
        (s, body["message"].as_str()),
        (
            404,
            Some("the server could not find the requested resource")
        )
    );
    let (s, body) = c.get("/api/v1/namespaces/default/configmaps/missing").await;
    assert_eq!(s, 404);
    assert_eq!(body["message"], r#"configmaps "missing" not found"#);
    assert_eq!(
        body["details"],
        json!({"name": "missing", "kind": "configmaps"})
    );
    let (s, body) = c
        .get("/apis/apps/v1/namespaces/default/deployments/missing")
        .await;
    assert_eq!(s, 404);
    assert_eq!(body["message"], r#"deployments.apps "missing" not found"#);
    assert_eq!(body["details"]["group"], "apps");

    let json = [("content-type", "application/json")];
    let (s, _, body) = c
        .call(
            "POST",
            "/api/v1/namespaces/nowhere/configmaps",
            &json,
            r#"{"metadata":{"name":"a"}}"#,
        )
        .await;
    assert_eq!(
        (s, body["message"].as_str()),
        (404, Some(r#"namespaces "nowhere" not found"#))
    );

    let (s, _, created) = c
        .call(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            &json,
            r#"{"metadata":{"generateName":"gen-"},"data":{"a":"1"}}"#,
        )
        .await;
    assert_eq!(s, 201);
    let name = created["metadata"]["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
    assert_eq!(created["metadata"]["uid"].as_str().unwrap().len(), 36);
    let rv1: u64 = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // dryRun validates but does not persist.
    let (s, _, dry) = c
        .call(
            "POST",
            "/api/v1/namespaces/default/configmaps?dryRun=All",
            &json,
            r#"{"metadata":{"name":"dry"}}"#,
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(dry["metadata"]["name"], "dry");
    assert!(
        f.server
            .store()
            .get("configmaps", "default", "dry")
            .is_none()
    );

    // A stale resourceVersion conflicts.
    let uri = format!("/api/v1/namespaces/default/configmaps/{name}");
    let mut update = created.clone();
    update["data"]["a"] = json!("2");
    let (s, _, updated) = c.call("PUT", &uri, &json, &update.to_string()).await;
    assert_eq!(s, 200);
    let rv2: u64 = updated["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);
    let (s, _, body) = c.call("PUT", &uri, &json, &update.to_string()).await;
    assert_eq!(s, 409);
    assert_eq!(
        body["message"],
        format!(
            r#"Operation cannot be fulfilled on configmaps "{name}": the object has been modified; please apply your changes to the latest version and try again"#
        )
    );

    // Merge, JSON and strategic patches.
    let (s, _, p) = c
        .call(
            "PATCH",
            &uri,
            &[("content-type", "application/merge-patch+json")],
            r#"{"data":{"b":"x","a":null}}"#,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(p["data"], json!({"b": "x"}));
    let (s, _, body) = c
        .call(
            "PATCH",
            &uri,
            &[("content-type", "application/json-patch+json")],
            r#"[{"op":"test","path":"/data/b","value":"nope"}]"#,
        )
        .await;
    assert_eq!(s, 422, "{body}");
    let (s, _, body) = c
        .call("PATCH", &uri, &[("content-type", "text/plain")], "x")
        .await;
    assert_eq!(
        (s, body["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );

    // Server-side apply needs a field manager.
    let apply = [("content-type", "application/apply-patch+yaml")];
    let (s, _, body) = c
        .call(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/applied",
            &apply,
            "apiVersion: v1\nkind: ConfigMap\ndata:\n  k: v\n",
        )
        .await;
    assert_eq!(s, 422, "{body}");
    let (s, _, body) = c
        .call(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/applied?fieldManager=test",
            &apply,
            "apiVersion: v1\nkind: ConfigMap\ndata:\n  k: v\n",
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["data"]["k"], "v");

    // Delete answers a Success Status for config maps.
    let (s, _, body) = c.call("DELETE", &uri, &[], "").await;
    assert_eq!(s, 200);
    assert_eq!(body["status"], "Success");
    assert_eq!(body["details"]["name"], name.as_str());
    assert_eq!(body["details"]["uid"], created["metadata"]["uid"]);

    // Connect subresources: a pod's log (tests/tests/streaming.rs has more).
    f.server
        .store()
        .create("pods", json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
        .unwrap();
    let (s, body) = c.get("/api/v1/namespaces/default/pods/p/log").await;
    let log: String = (1..=kubeplex_tests::apiserver::SEEDED_LOG_LINES)
        .map(|n| format!("p/c line {n}\n"))
        .collect();
    assert_eq!((s, body), (200, Value::String(log)));
    // Issuer discovery is served (tests/tests/service_accounts.rs).
    let (s, body) = c.get("/.well-known/openid-configuration").await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn forbidden_messages_follow_the_apiserver_format() {
    let f = fixture_with(|c| {
        c.authorizer = Authorizer::Rules(vec![
            AuthzRule::new()
                .users(&["alice"])
                .verbs(&["get"])
                .api_groups(&[""])
                .resources(&["pods/log"]),
        ])
    })
    .await;
    let mut c = f.client(true).await;
    let alice = [("impersonate-user", "alice")];
    let cases = [
        (
            "/api/v1/namespaces/default/configmaps/x",
            r#"configmaps "x" is forbidden: User "alice" cannot get resource "configmaps" in API group "" in the namespace "default""#,
        ),
        (
            "/api/v1/namespaces",
            r#"namespaces is forbidden: User "alice" cannot list resource "namespaces" in API group "" at the cluster scope"#,
        ),
        (
            "/apis/apps/v1/namespaces/ns1/deployments/web/scale",
            r#"deployments.apps "web" is forbidden: User "alice" cannot get resource "deployments/scale" in API group "apps" in the namespace "ns1""#,
        ),
        (
            "/logs/",
            r#"forbidden: User "alice" cannot get path "/logs/""#,
        ),
    ];
    for (uri, message) in cases {
        let (s, _, body) = c.call("GET", uri, &alice, "").await;
        assert_eq!(s, 403, "{uri}");
        assert_eq!(body["message"], message);
        assert_eq!(body["reason"], "Forbidden");
    }
    // A WebSocket exec (HTTP/1.1 upgrade) is authorized as `create`.
    let mut h1 = f.client(false).await;
    let (s, _, body) = h1
        .call(
            "GET",
            "/api/v1/namespaces/default/pods/p/exec?command=true",
            &[
                ("impersonate-user", "alice"),
                ("upgrade", "websocket"),
                ("connection", "Upgrade"),
            ],
            "",
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(
        body["message"],
        r#"pods "p" is forbidden: User "alice" cannot create resource "pods/exec" in API group "" in the namespace "default""#
    );
    // Allowed by the rule: reaches the handler (404 for a missing pod).
    let (s, _, body) = c
        .call("GET", "/api/v1/namespaces/default/pods/p/log", &alice, "")
        .await;
    assert_eq!(s, 404, "{body}");
    // Discovery stays open to every authenticated user.
    let (s, _, _) = c.call("GET", "/apis", &alice, "").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn watch_streams_events_over_http1_and_http2_and_ends_on_disconnect() {
    let f = fixture().await;
    for h2 in [false, true] {
        let mut c = f.client(h2).await;
        let req = Request::get(
            "/api/v1/namespaces/default/configmaps?watch=true&labelSelector=app%3Dweb",
        )
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::new()))
        .unwrap();
        let resp = c.send(req).await;
        assert_eq!(resp.status(), 200);
        if !h2 {
            assert_eq!(resp.headers()["transfer-encoding"], "chunked");
        }
        let mut body = resp.into_body();
        wait_for_async("watch active", T, || f.server.active_watches() == 1).await;
        let store = f.server.store();
        let name = format!("w{}", h2 as u8);
        store
            .create(
                "configmaps",
                json!({"metadata": {"name": name, "labels": {"app": "web"}}}),
            )
            .unwrap();
        store
            .create(
                "configmaps",
                json!({"metadata": {"name": format!("{name}-other")}}),
            )
            .unwrap();
        let mut cm = store.get("configmaps", "default", &name).unwrap();
        cm["metadata"]["labels"]["app"] = json!("db");
        store.update("configmaps", cm).unwrap();
        let mut buf = Vec::new();
        let evs = events(&mut body, &mut buf, 2).await;
        assert_eq!(evs[0]["type"], "ADDED");
        assert_eq!(evs[0]["object"]["metadata"]["name"], name.as_str());
        // Leaving the selector reads as DELETED, as in the apiserver.
        assert_eq!(evs[1]["type"], "DELETED");
        drop(body);
        drop(c);
        wait_for_async("watch ended after disconnect", T, || {
            f.server.active_watches() == 0
        })
        .await;
    }
}

#[tokio::test]
async fn watch_resource_versions_bookmarks_tables_and_timeouts() {
    let f = fixture().await;
    let store = f.server.store();
    store
        .create(
            "configmaps",
            json!({"metadata": {"name": "a"}, "data": {"x": "1"}}),
        )
        .unwrap();
    let rv = store.resource_version();
    store
        .create("configmaps", json!({"metadata": {"name": "b"}}))
        .unwrap();
    let mut c = f.client(true).await;

    // From a resourceVersion: only later events; then a bookmark.
    let uri = format!(
        "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=1"
    );
    let resp = c
        .send(Request::get(uri).body(Full::new(Bytes::new())).unwrap())
        .await;
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    let evs = events(&mut body, &mut buf, 2).await;
    assert_eq!(evs[0]["type"], "ADDED");
    assert_eq!(evs[0]["object"]["metadata"]["name"], "b");
    assert_eq!(evs[1]["type"], "BOOKMARK");
    assert_eq!(evs[1]["object"]["kind"], "ConfigMap");
    // timeoutSeconds ends the stream.
    let rest =
        tokio::time::timeout(T, async { while let Some(Ok(_)) = body.frame().await {} }).await;
    assert!(rest.is_ok(), "watch outlived timeoutSeconds");

    // resourceVersion 0: synthetic ADDED for the current state, as a Table.
    let req = Request::get("/api/v1/watch/namespaces/default/configmaps?resourceVersion=0&fieldSelector=metadata.name%3Da")
        .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let mut body = c.send(req).await.into_body();
    let mut buf = Vec::new();
    let evs = events(&mut body, &mut buf, 1).await;
    assert_eq!(evs[0]["type"], "ADDED");
    let table = &evs[0]["object"];
    assert_eq!(table["kind"], "Table");
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["Name", "Data", "Age"]);
    assert_eq!(table["rows"][0]["cells"][0], "a");
    assert_eq!(table["rows"][0]["cells"][1], 1);
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    drop(body);

    // A compacted resourceVersion: 410 Expired as an ERROR event.
    store.compact();
    let uri = format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}");
    let mut body = c
        .send(Request::get(uri).body(Full::new(Bytes::new())).unwrap())
        .await
        .into_body();
    let mut buf = Vec::new();
    let evs = events(&mut body, &mut buf, 1).await;
    assert_eq!(evs[0]["type"], "ERROR");
    assert_eq!(evs[0]["object"]["code"], 410);
    assert_eq!(evs[0]["object"]["reason"], "Expired");
}

#[tokio::test]
async fn shutdown_ends_open_watches_and_closes_the_listener() {
    let f = fixture().await;
    let mut c = f.client(false).await;
    let resp = c
        .send(
            Request::get("/api/v1/namespaces?watch=true")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    assert_eq!(events(&mut body, &mut buf, 4).await.len(), 4);
    let addr = f.server.addr();
    f.server.shutdown().await;
    let ended =
        tokio::time::timeout(T, async { while let Some(Ok(_)) = body.frame().await {} }).await;
    assert!(ended.is_ok(), "watch survived shutdown");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener still open"
    );
}

#[tokio::test]
async fn namespace_deletion_removes_its_objects() {
    let f = fixture().await;
    let mut c = f.client(true).await;
    let json = [("content-type", "application/json")];
    let (s, _, _) = c
        .call(
            "POST",
            "/api/v1/namespaces",
            &json,
            r#"{"metadata":{"name":"team"}}"#,
        )
        .await;
    assert_eq!(s, 201);
    for n in ["one", "two"] {
        let (s, _, _) = c
            .call(
                "POST",
                "/api/v1/namespaces/team/configmaps",
                &json,
                &format!(r#"{{"metadata":{{"name":"{n}","labels":{{"k":"{n}"}}}}}}"#),
            )
            .await;
        assert_eq!(s, 201);
    }
    let (s, list) = c
        .get("/api/v1/namespaces/team/configmaps?labelSelector=k%20in%20(one)")
        .await;
    assert_eq!(s, 200);
    assert_eq!(list["kind"], "ConfigMapList");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (s, _, gone) = c
        .call(
            "DELETE",
            "/api/v1/namespaces/team/configmaps?labelSelector=k%3Dtwo",
            &[],
            "",
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(gone["kind"], "ConfigMapList");
    assert_eq!(gone["items"][0]["metadata"]["name"], "two");
    assert_eq!(f.server.store().list("configmaps", Some("team")).len(), 1);
    let (s, _, body) = c.call("DELETE", "/api/v1/namespaces/team", &[], "").await;
    assert_eq!(s, 200);
    assert_eq!(body["status"]["phase"], "Terminating");
    assert!(f.server.store().list("configmaps", Some("team")).is_empty());
    let (s, _) = c.get("/api/v1/namespaces/team").await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn watch_list_sends_initial_events_then_an_end_bookmark() {
    let f = fixture().await;
    f.server
        .store()
        .create("configmaps", json!({"metadata": {"name": "one"}}))
        .unwrap();
    let mut c = f.client(true).await;
    let uri = "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true";
    let mut body = c
        .send(Request::get(uri).body(Full::new(Bytes::new())).unwrap())
        .await
        .into_body();
    let mut buf = Vec::new();
    let evs = events(&mut body, &mut buf, 2).await;
    assert_eq!(evs[0]["type"], "ADDED");
    assert_eq!(evs[0]["object"]["metadata"]["name"], "one");
    assert_eq!(evs[1]["type"], "BOOKMARK");
    assert_eq!(
        evs[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(
        evs[1]["object"]["metadata"]["resourceVersion"],
        f.server.store().resource_version().to_string()
    );
}

#[tokio::test]
async fn openapi_documents_are_real_shaped() {
    let f = fixture().await;
    let mut c = f.client(true).await;
    let (s, v2) = c.get("/openapi/v2").await;
    assert_eq!(s, 200);
    assert_eq!(v2["swagger"], "2.0");
    let cm = &v2["definitions"]["io.k8s.api.core.v1.ConfigMap"];
    assert_eq!(
        cm["x-kubernetes-group-version-kind"],
        json!([{"group": "", "kind": "ConfigMap", "version": "v1"}])
    );
    assert!(
        cm["properties"]["data"]["description"]
            .as_str()
            .unwrap()
            .starts_with("Data contains")
    );
    assert!(!v2.to_string().contains("#/components/schemas/"));

    let (s, index) = c.get("/openapi/v3").await;
    assert_eq!(s, 200);
    let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{url}");
    let (s, headers, doc) = c.call("GET", &url, &[], "").await;
    assert_eq!(s, 200);
    assert_eq!(headers["cache-control"], "public, immutable");
    let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"]["kind"],
        "Deployment"
    );
    let params: Vec<&str> = patch["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(params.contains(&"fieldValidation"), "{params:?}");
    assert!(
        doc["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["replicas"]
            .is_object()
    );
}
