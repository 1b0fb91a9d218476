use std::cell::Cell;

use serde_json::json;

use super::*;
use crate::config_pb as pb;
use crate::mint::{self, NOW, RustCryptoVerifier, Signer, mint};
use crate::signature::{Hash, VerifyError};

/// Counts host signature checks, to prove the cache skips them.
struct Counting(Cell<u32>);

impl SignatureVerifier for Counting {
    fn verify(&self, h: Hash, k: &[u8], s: &[u8], t: &[u8]) -> Result<(), VerifyError> {
        self.0.set(self.0.get() + 1);
        RustCryptoVerifier.verify(h, k, s, t)
    }
}

struct Harness {
    config: Config,
    cache: TokenCache,
    verifier: Counting,
}

impl Harness {
    fn new(pb: pb::FilterConfig) -> Self {
        let config = Config::compile(&pb).unwrap();
        let cache = TokenCache::new(config.token_cache_size);
        Harness {
            config,
            cache,
            verifier: Counting(Cell::new(0)),
        }
    }

    fn run(
        &mut self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Decision<'static> {
        self.run_at(NOW, method, path, auth, extra)
    }

    fn run_at(
        &mut self,
        now: i64,
        method: &str,
        path: &str,
        auth: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Decision<'static> {
        let mut headers = vec![
            (":method".to_string(), method.to_string()),
            (":path".to_string(), path.to_string()),
            ("x-request-id".to_string(), "rid-42".to_string()),
        ];
        if let Some(a) = auth {
            headers.push(("authorization".to_string(), a.to_string()));
        }
        for (k, v) in extra {
            headers.push((k.to_string(), v.to_string()));
        }
        let view = RequestView::from_headers(&headers);
        decide(&self.config, &mut self.cache, &self.verifier, now, &view).into_owned()
    }
}

fn bearer_for(claims: &serde_json::Value) -> String {
    format!("Bearer {}", mint(Signer::Rsa, Some("rsa"), claims))
}

fn alice() -> String {
    bearer_for(&mint::claims())
}

fn denied<'a>(d: &'a Decision<'_>) -> &'a Status {
    match &d.outcome {
        Outcome::Deny(s) => s,
        Outcome::Allow(f) => panic!("expected a denial, got {f:?}"),
        Outcome::Respond(json) => panic!("expected a denial, got an answer: {json}"),
    }
}

fn allowed<'a>(d: &'a Decision<'_>) -> &'a Forward {
    match &d.outcome {
        Outcome::Allow(f) => f,
        Outcome::Deny(s) => panic!("expected allow, got {}", s.to_json()),
        Outcome::Respond(json) => panic!("expected allow, got an answer: {json}"),
    }
}

fn header<'a>(f: &'a Forward, name: &str) -> Vec<&'a str> {
    f.to_set()
        .chain(f.to_add())
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .collect()
}

#[test]
fn missing_or_non_bearer_token_is_401() {
    let mut h = Harness::new(mint::config());
    for auth in [
        None,
        Some("Basic YWxpY2U6cHc="),
        Some("Bearer "),
        Some("Bearer"),
    ] {
        let d = h.run("GET", "/clusters/dev-a/api", auth, &[]);
        let s = denied(&d);
        assert_eq!(s.code(), 401, "{auth:?}");
        assert_eq!(
            s.message,
            "no bearer token: kubeplex requires \"Authorization: Bearer <token>\""
        );
        assert_eq!(d.audit.reason(), "no_token");
        assert_eq!(d.audit.request_id, "rid-42");
    }
}

#[test]
fn bearer_scheme_is_case_insensitive() {
    let mut h = Harness::new(mint::config());
    let token = alice().replacen("Bearer", "bEaReR", 1);
    allowed(&h.run("GET", "/clusters/dev-a/api/v1/pods", Some(&token), &[]));
}

#[test]
fn allow_sets_impersonation_and_strips_the_prefix() {
    let mut pb = mint::config();
    pb.issuers[0].claim_mappings = Some(pb::ClaimMappings {
        uid_claim: "uid".into(),
        extra: vec![pb::ExtraMapping {
            key: "example.com/tenant".into(),
            claim: "tenant".into(),
        }],
        ..Default::default()
    });
    let mut h = Harness::new(pb);
    let mut claims = mint::claims();
    claims["uid"] = json!("u-1");
    claims["tenant"] = json!(["t1", "t 2"]);
    let d = h.run(
        "GET",
        "/clusters/dev-a/api/v1/namespaces/ns/pods?watch=1",
        Some(&bearer_for(&claims)),
        &[],
    );
    let f = allowed(&d);
    // the caller's token replaced by a fixed value (Envoy's discovery cache
    // passes such a request by; the route configuration removes it)
    assert!(f.remove.is_empty());
    assert_eq!(
        header(f, "authorization"),
        [kubeplex_proto::routing::CACHE_BYPASS_AUTHORIZATION]
    );
    assert_eq!(header(f, "impersonate-user"), vec!["alice"]);
    assert_eq!(header(f, "impersonate-group"), vec!["dev", "ops"]);
    assert_eq!(header(f, "impersonate-uid"), vec!["u-1"]);
    assert_eq!(
        header(f, "impersonate-extra-example.com%2Ftenant"),
        vec!["t1", "t 2"]
    );
    // the cluster header is set, not added (a client's is refused before)
    assert_eq!(header(f, "x-kubeplex-cluster"), vec!["ctx/dev-a"]);
    assert!(
        f.to_set()
            .any(|(n, v)| n == "x-kubeplex-cluster" && v == "ctx/dev-a")
    );
    assert_eq!(
        header(f, ":path"),
        vec!["/api/v1/namespaces/ns/pods?watch=1"]
    );
    // exp - now + grace = 3600 + 30
    assert_eq!(header(f, "grpc-timeout"), vec!["3630S"]);
    // the audit record has the client's path: no extra header for it
    assert!(header(f, "x-envoy-original-path").is_empty());
    // impersonation headers are appended, never set: a request carrying
    // any was refused (so appending cannot make two values)
    assert!(f.to_set().all(|(n, _)| !n.starts_with("impersonate-")));
    // grpc-timeout and the cluster header replace a client's
    assert!(f.to_set().any(|(n, _)| n == "grpc-timeout"));

    let a = &d.audit;
    assert_eq!(a.decision.as_str(), "allow");
    assert_eq!(a.reason(), "ok");
    assert_eq!(a.cluster, "dev-a");
    let info = a.info.as_ref().unwrap();
    assert_eq!(
        (
            info.verb.as_str(),
            info.resource.as_str(),
            info.namespace.as_str()
        ),
        ("watch", "pods", "ns")
    );
    assert_eq!(a.token.as_ref().unwrap().identity.user, "alice");
}

#[test]
fn grpc_timeout_is_at_least_one_second() {
    let mut pb = mint::config();
    pb.stream_expiry_grace_seconds = 0;
    let mut h = Harness::new(pb);
    let mut claims = mint::claims();
    claims["exp"] = json!(NOW - 10); // inside the 30 s skew
    let d = h.run(
        "GET",
        "/clusters/dev-a/api",
        Some(&bearer_for(&claims)),
        &[],
    );
    assert_eq!(header(allowed(&d), "grpc-timeout"), vec!["1S"]);
}

#[test]
fn cache_hit_skips_the_signature_check() {
    let mut h = Harness::new(mint::config());
    let t = alice();
    allowed(&h.run("GET", "/clusters/dev-a/api", Some(&t), &[]));
    assert_eq!(h.verifier.0.get(), 1);
    for _ in 0..5 {
        allowed(&h.run("GET", "/clusters/dev-b/version", Some(&t), &[]));
    }
    assert_eq!(h.verifier.0.get(), 1, "cached");
    assert_eq!(h.cache.len(), 1);
}

#[test]
fn cached_token_still_expires() {
    let mut h = Harness::new(mint::config());
    let t = alice();
    allowed(&h.run("GET", "/clusters/dev-a/api", Some(&t), &[]));
    let d = h.run_at(NOW + 3600 + 31, "GET", "/clusters/dev-a/api", Some(&t), &[]);
    let s = denied(&d);
    assert_eq!(s.code(), 401);
    assert_eq!(s.message, "token expired at 2026-11-23T13:00:00Z");
    assert_eq!(d.audit.reason(), "token_expired");
}

#[test]
fn revocation_is_checked_after_the_cache() {
    let mut claims = mint::claims();
    claims["jti"] = json!("revoked-jti");
    let t = bearer_for(&claims);
    // Cache it under a config without the revocation...
    let mut pb = mint::config();
    pb.revocations.clear();
    let mut h = Harness::new(pb);
    allowed(&h.run("GET", "/clusters/dev-a/api", Some(&t), &[]));
    // ...then the same cache under a config that revokes it.
    h.config = Config::compile(&mint::config()).unwrap();
    let d = h.run("GET", "/clusters/dev-a/api", Some(&t), &[]);
    let s = denied(&d);
    assert_eq!(s.code(), 401);
    assert_eq!(
        s.message,
        "token \"revoked-jti\" has been revoked: laptop stolen"
    );
    assert_eq!(d.audit.reason(), "revoked");
    assert_eq!(
        h.verifier.0.get(),
        1,
        "the revocation came from the cached entry"
    );
}

#[test]
fn revocation_without_reason() {
    let mut pb = mint::config();
    pb.revocations[0].reason.clear();
    let mut h = Harness::new(pb);
    let mut claims = mint::claims();
    claims["jti"] = json!("revoked-jti");
    let d = h.run(
        "GET",
        "/clusters/dev-a/api",
        Some(&bearer_for(&claims)),
        &[],
    );
    assert_eq!(denied(&d).message, "token \"revoked-jti\" has been revoked");
}

#[test]
fn client_impersonation_is_refused_after_authentication() {
    let mut h = Harness::new(mint::config());
    let d = h.run(
        "GET",
        "/clusters/dev-a/api",
        Some(&alice()),
        &[("impersonate-user", "admin")],
    );
    let s = denied(&d);
    assert_eq!(s.code(), 403);
    assert_eq!(
        s.message,
        "impersonation headers are not allowed through the gateway (Impersonate-User)"
    );
    assert_eq!(d.audit.reason(), "impersonation_refused");
    assert_eq!(d.audit.token.as_ref().unwrap().identity.user, "alice");
    let d = h.run(
        "GET",
        "/clusters/dev-a/api",
        Some(&alice()),
        &[("impersonate-extra-scopes", "x")],
    );
    assert!(denied(&d).message.ends_with("(Impersonate-Extra-Scopes)"));
}

#[test]
fn reserved_request_headers_are_refused() {
    let mut h = Harness::new(mint::config());
    for header in [
        "x-kubeplex-cluster",
        "x-kubeplex-context",
        "x-kubeplex-anything",
        "x-envoy-upstream-rq-timeout-ms",
        "x-envoy-original-path",
        "x-envoy-retry-on",
    ] {
        let d = h.run(
            "GET",
            "/clusters/dev-a/api",
            Some(&alice()),
            &[(header, "prod")],
        );
        let s = denied(&d);
        assert_eq!(s.code(), 400, "{header}");
        assert_eq!(d.audit.reason(), "reserved_header", "{header}");
        assert!(
            s.message.contains("is reserved for the gateway"),
            "{}",
            s.message
        );
    }
    // written by Envoy's connection manager itself, before any filter
    for header in ["x-envoy-internal", "x-envoy-external-address"] {
        allowed(&h.run(
            "GET",
            "/clusters/dev-a/api",
            Some(&alice()),
            &[(header, "x")],
        ));
    }
}

/// `?access_token=<JWT>` was refused for want of an Authorization header,
/// but the audit line kept the token in its path.
#[test]
fn a_credential_in_the_query_is_refused_and_never_recorded() {
    let mut h = Harness::new(mint::config());
    let token = alice();
    let raw = token.trim_start_matches("Bearer ");
    let signature = raw.rsplit('.').next().unwrap();
    for (auth, path) in [
        (
            None,
            format!("/clusters/dev-a/api/v1/pods?access_token={raw}"),
        ),
        (
            Some(token.as_str()),
            format!("/clusters/dev-a/api/v1/pods?limit=1&x={raw}"),
        ),
        (
            Some(token.as_str()),
            "/clusters/dev-a/api?id_token=abc".to_string(),
        ),
    ] {
        let d = h.run("GET", &path, auth, &[]);
        let s = denied(&d);
        assert_eq!(s.code(), 400, "{path}");
        assert_eq!(d.audit.reason(), "token_in_query");
        assert!(d.audit.path.contains("=REDACTED"), "{}", d.audit.path);
        let fragment = d.audit.to_fragment("v1");
        assert!(!fragment.contains(signature), "{fragment}");
        assert!(!s.message.contains(signature) && !s.message.contains("abc"));
    }
}

#[test]
fn token_errors_are_401_with_their_message() {
    let mut h = Harness::new(mint::config());
    let d = h.run("GET", "/clusters/dev-a/api", Some("Bearer not-a-jwt"), &[]);
    let s = denied(&d);
    assert_eq!(s.code(), 401);
    assert_eq!(
        s.message,
        "token is malformed: expected three dot-separated parts"
    );
    assert_eq!(d.audit.reason(), "token_malformed");
    assert!(d.audit.token.is_none());
    assert!(s.to_json().contains("\"reason\":\"Unauthorized\""));
}

#[test]
fn cluster_selection_errors() {
    let mut h = Harness::new(mint::config());
    let d = h.run("GET", "/clusters/nope/api", Some(&alice()), &[]);
    let s = denied(&d);
    assert_eq!(
        (s.code(), s.message.as_str()),
        (404, "context \"nope\" not found")
    );
    assert_eq!(s.details.name, "nope");
    assert_eq!(s.details.kind, "context");
    assert_eq!(d.audit.reason(), "unknown_context");
    assert_eq!(
        d.audit.cluster, "",
        "unknown names never become metric labels"
    );

    let d = h.run("GET", "/api/v1/pods", Some(&alice()), &[]);
    assert_eq!(denied(&d).code(), 404);
    assert_eq!(d.audit.reason(), "no_context");

    let mut claims = mint::claims();
    claims["ctx"] = json!("dev-a");
    let bound = bearer_for(&claims);
    let d = h.run("GET", "/clusters/prod/api", Some(&bound), &[]);
    let s = denied(&d);
    assert_eq!(
        (s.code(), s.message.as_str()),
        (403, "token is bound to context \"dev-a\", not \"prod\"")
    );
    // multikube style: bare URL, the claim picks the cluster
    let d = h.run("GET", "/api/v1/pods", Some(&bound), &[]);
    let f = allowed(&d);
    assert_eq!(header(f, "x-kubeplex-cluster"), vec!["ctx/dev-a"]);
    assert!(header(f, ":path").is_empty(), "path unchanged");
}

#[test]
fn unparseable_path_is_400() {
    let mut h = Harness::new(mint::config());
    let d = h.run("GET", "/clusters/dev-a/api/v1/watch", Some(&alice()), &[]);
    let s = denied(&d);
    assert_eq!(s.code(), 400);
    assert_eq!(s.reason, Reason::BadRequest);
}

fn with_policy() -> pb::FilterConfig {
    let mut pb = mint::config();
    pb.policy = Some(pb::Policy {
        roles: vec![pb::Role {
            name: "dev".into(),
            rules: vec![pb::Rule {
                clusters: vec!["dev-*".into()],
                namespaces: vec!["default".into()],
                verbs: vec!["get".into(), "list".into()],
                resources: vec!["pods".into()],
                ..Default::default()
            }],
        }],
        bindings: vec![pb::Binding {
            role: "dev".into(),
            users: vec!["alice".into()],
            groups: vec![],
        }],
        restrict_non_resource_urls: false,
    });
    pb
}

#[test]
fn policy_denials_read_like_kubernetes() {
    let mut h = Harness::new(with_policy());
    let a = alice();
    allowed(&h.run(
        "GET",
        "/clusters/dev-a/api/v1/namespaces/default/pods",
        Some(&a),
        &[],
    ));

    let d = h.run(
        "GET",
        "/clusters/dev-a/api/v1/namespaces/default/secrets/db",
        Some(&a),
        &[],
    );
    let s = denied(&d);
    assert_eq!(s.code(), 403);
    assert_eq!(
        s.message,
        "secrets \"db\" is forbidden: User \"alice\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\" on cluster \"dev-a\" (kubeplex gateway policy)"
    );
    assert_eq!(
        (s.details.name.as_str(), s.details.kind.as_str()),
        ("db", "secrets")
    );
    assert_eq!(d.audit.reason(), "policy_denied");
    assert_eq!(d.audit.info.as_ref().unwrap().resource, "secrets");

    let d = h.run(
        "DELETE",
        "/clusters/dev-b/apis/apps/v1/deployments",
        Some(&a),
        &[],
    );
    assert_eq!(
        denied(&d).message,
        "deployments.apps is forbidden: User \"alice\" cannot deletecollection resource \"deployments\" in API group \"apps\" at the cluster scope on cluster \"dev-b\" (kubeplex gateway policy)"
    );

    let d = h.run(
        "GET",
        "/clusters/prod/api/v1/namespaces/default/pods",
        Some(&a),
        &[],
    );
    let s = denied(&d);
    assert_eq!(s.message, "User \"alice\" cannot access cluster \"prod\"");
    assert_eq!(d.audit.reason(), "cluster_denied");
}

#[test]
fn non_resource_denial_message() {
    let mut pb = with_policy();
    pb.policy.as_mut().unwrap().restrict_non_resource_urls = true;
    let mut h = Harness::new(pb);
    let d = h.run("GET", "/clusters/dev-a/version", Some(&alice()), &[]);
    assert_eq!(
        denied(&d).message,
        "forbidden: User \"alice\" cannot get path \"/version\" on cluster \"dev-a\" (kubeplex gateway policy)"
    );
}

#[test]
fn websocket_exec_is_authorized_as_create() {
    let mut pb = with_policy();
    pb.policy.as_mut().unwrap().roles[0].rules[0]
        .resources
        .push("pods/exec".into());
    let mut h = Harness::new(pb);
    let d = h.run(
        "GET",
        "/clusters/dev-a/api/v1/namespaces/default/pods/p/exec?command=sh",
        Some(&alice()),
        &[("upgrade", "websocket"), ("connection", "Upgrade")],
    );
    let s = denied(&d);
    assert!(
        s.message.contains("cannot create resource \"pods/exec\""),
        "{}",
        s.message
    );
}

#[test]
fn an_upgrade_goes_to_the_contexts_http1_cluster() {
    let mut h = Harness::new(mint::config());
    let path = "/clusters/dev-a/api/v1/namespaces/default/pods/p/exec?command=sh";
    let d = h.run("GET", path, Some(&alice()), &[("upgrade", "websocket")]);
    assert_eq!(
        header(allowed(&d), "x-kubeplex-cluster"),
        ["ctx/dev-a/upgrade"]
    );
    // the same condition as the upgrade route: an `upgrade` header
    let d = h.run("GET", path, Some(&alice()), &[]);
    assert_eq!(header(allowed(&d), "x-kubeplex-cluster"), ["ctx/dev-a"]);
}

#[test]
fn grpc_timeout_fits_eight_digits() {
    assert_eq!(grpc_timeout(1), "1S");
    assert_eq!(grpc_timeout(99_999_999), "99999999S");
    assert_eq!(grpc_timeout(100_000_000), "1666667M");
    assert_eq!(grpc_timeout(i64::MAX), "99999999H");
}

#[test]
fn extra_key_escaping_matches_client_go() {
    assert_eq!(
        escape_extra_key("example.com/tenant"),
        "example.com%2Ftenant"
    );
    assert_eq!(escape_extra_key("a%b c"), "a%25b%20c");
    assert_eq!(escape_extra_key("scopes"), "scopes");
}

#[test]
fn request_view_reads_headers_once() {
    let headers = vec![
        (":method".to_string(), "GET".to_string()),
        (":path".to_string(), "/x".to_string()),
        ("authorization".to_string(), "Bearer t".to_string()),
        ("impersonate-group".to_string(), "g".to_string()),
        ("impersonate-user".to_string(), "u".to_string()),
        ("upgrade".to_string(), "websocket".to_string()),
    ];
    let v = RequestView::from_headers(&headers);
    assert_eq!(v.method, "GET");
    assert_eq!(v.path, "/x");
    assert_eq!(v.authorization.as_deref(), Some("Bearer t"));
    assert_eq!(v.impersonation_header, Some("impersonate-group"));
    assert!(v.upgrade);
    assert_eq!(v.request_id, None);
}

#[test]
fn request_view_reads_bytes_and_survives_non_utf8() {
    let headers: Vec<(String, Vec<u8>)> = vec![
        (":method".into(), b"GET".to_vec()),
        (":path".into(), b"/clusters/dev-a/api".to_vec()),
        ("user-agent".into(), b"kubectl \xff\xfe".to_vec()),
        ("x-request-id".into(), b"rid-\x80".to_vec()),
        ("authorization".into(), alice().into_bytes()),
    ];
    let v = RequestView::from_headers(&headers);
    assert_eq!(v.user_agent.as_deref(), Some("kubectl \u{fffd}\u{fffd}"));
    assert_eq!(v.request_id.as_deref(), Some("rid-\u{fffd}"));
    // valid values are borrowed, not copied
    assert!(matches!(v.path, Cow::Borrowed(_)));
    let config = Config::compile(&mint::config()).unwrap();
    let mut cache = TokenCache::new(4);
    let d = decide(&config, &mut cache, &RustCryptoVerifier, NOW, &v);
    allowed(&d);
    assert_eq!(d.audit.user_agent, "kubectl \u{fffd}\u{fffd}");
    let fragment = d.audit.to_fragment("v1");
    let line: serde_json::Value = serde_json::from_str(&format!("{{{fragment}\"code\":200}}"))
        .unwrap_or_else(|e| panic!("{e}: {fragment}"));
    assert_eq!(line["user_agent"], "kubectl \u{fffd}\u{fffd}");

    // a token that is not UTF-8 is malformed, not a crash
    let bad_token: Vec<(String, Vec<u8>)> = vec![
        (":method".into(), b"GET".to_vec()),
        (":path".into(), b"/clusters/dev-a/api".to_vec()),
        ("authorization".into(), b"Bearer a.\xff.c".to_vec()),
    ];
    let d = decide(
        &config,
        &mut cache,
        &RustCryptoVerifier,
        NOW,
        &RequestView::from_headers(&bad_token),
    );
    assert_eq!(denied(&d).code(), 401);
    assert_eq!(d.audit.reason(), "token_malformed");
}

#[test]
fn the_audit_records_what_the_client_sent() {
    let mut h = Harness::new(mint::config());
    let path = "/clusters/dev-a/api/v1/namespaces/ns/pods?limit=1";
    let d = h.run(
        "GET",
        path,
        Some(&alice()),
        &[("user-agent", "kubectl/v1.32.0 (linux/amd64)")],
    );
    allowed(&d);
    assert_eq!(d.audit.request_id, "rid-42");
    assert_eq!(d.audit.method, "GET");
    assert_eq!(d.audit.path, path, "the path before the prefix is stripped");
    assert_eq!(d.audit.user_agent, "kubectl/v1.32.0 (linux/amd64)");
    // refusals too, before any token is read
    let d = h.run("DELETE", "/x?\"y\"", None, &[]);
    assert_eq!(d.audit.method, "DELETE");
    assert_eq!(d.audit.path, "/x?\"y\"");
    assert_eq!(d.audit.user_agent, "");
}

fn remote_keys_config() -> pb::FilterConfig {
    let mut pb = mint::config();
    pb.issuers[0].remote_keys = true;
    pb
}

#[test]
fn unknown_kid_of_a_remote_issuer_asks_for_fresh_keys() {
    let mut h = Harness::new(remote_keys_config());
    let t = format!(
        "Bearer {}",
        mint(Signer::Rsa, Some("rotated-2026"), &mint::claims())
    );
    let d = h.run("GET", "/clusters/dev-a/api", Some(&t), &[]);
    let s = denied(&d);
    assert_eq!(s.code(), 401);
    assert_eq!(d.audit.reason(), "key_not_found");
    assert!(
        s.message
            .starts_with("no key with kid \"rotated-2026\" for issuer \"https://issuer.example\""),
        "{}",
        s.message
    );
    assert!(
        s.message
            .ends_with("; the gateway is refreshing this issuer's keys, retry in a few seconds"),
        "{}",
        s.message
    );
    assert_eq!(
        d.refresh_keys,
        Some(KeyRefresh {
            issuer: mint::ISSUER.into(),
            kid: "rotated-2026".into()
        })
    );
}

#[test]
fn static_issuers_and_other_failures_never_ask_for_keys() {
    // static keys: same refusal, no refresh, no promise
    let mut h = Harness::new(mint::config());
    let t = format!(
        "Bearer {}",
        mint(Signer::Rsa, Some("rotated-2026"), &mint::claims())
    );
    let d = h.run("GET", "/clusters/dev-a/api", Some(&t), &[]);
    assert_eq!(d.audit.reason(), "key_not_found");
    assert!(!denied(&d).message.contains("refreshing"));
    assert_eq!(d.refresh_keys, None);

    // remote keys, but a known kid with a bad signature, or an alg no key
    // verifies: the keys are not the problem
    let mut h = Harness::new(remote_keys_config());
    let forged = format!(
        "Bearer {}",
        mint(Signer::RsaOther, Some("rsa"), &mint::claims())
    );
    let d = h.run("GET", "/clusters/dev-a/api", Some(&forged), &[]);
    assert_eq!(d.audit.reason(), "bad_signature");
    assert_eq!(d.refresh_keys, None);
    let wrong_alg = format!(
        "Bearer {}",
        mint(Signer::P256, Some("rsa"), &mint::claims())
    );
    let d = h.run("GET", "/clusters/dev-a/api", Some(&wrong_alg), &[]);
    assert_eq!(d.audit.reason(), "key_not_found");
    assert_eq!(d.refresh_keys, None);
    // and an allowed request never asks
    let d = h.run("GET", "/clusters/dev-a/api", Some(&alice()), &[]);
    allowed(&d);
    assert_eq!(d.refresh_keys, None);
}

#[test]
fn paths_the_cluster_would_read_differently_are_400() {
    let mut h = Harness::new(mint::config());
    let t = alice();
    for (path, problem) in [
        (
            "/clusters/dev-a/api/v1/namespaces/a%2F..%2Fkube-system/secrets",
            "encoded slash (%2F)",
        ),
        (
            "/clusters/dev-a/api/v1/namespaces/a%2fb/pods",
            "encoded slash",
        ),
        (
            "/clusters/dev-a/api/v1/namespaces/a%5Cb/pods",
            "encoded backslash (%5C)",
        ),
        (
            "/clusters/dev-a/api/v1/namespaces/%2e%2e/pods",
            "encoded dot (%2E)",
        ),
        (
            "/clusters/dev-a/api/v1/namespaces/a%zz/pods",
            "malformed percent-escape",
        ),
        (
            "/clusters/dev-a/api/v1/namespaces/%FF/pods",
            "do not decode to UTF-8",
        ),
    ] {
        let d = h.run("GET", path, Some(&t), &[]);
        let s = denied(&d);
        assert_eq!(s.code(), 400, "{path}");
        assert_eq!(s.reason.as_str(), "BadRequest");
        assert!(s.message.contains(problem), "{path}: {}", s.message);
        assert!(s.message.contains(&format!("{path:?}")), "{}", s.message);
        assert_eq!(d.audit.reason(), "ambiguous_path");
        assert_eq!(d.audit.cluster, "dev-a");
    }
    // the same encodings in the query are the apiserver's business
    let d = h.run(
        "GET",
        "/clusters/dev-a/api/v1/pods?labelSelector=app.kubernetes.io%2Fname%3Dweb",
        Some(&t),
        &[],
    );
    allowed(&d);
}

#[test]
fn context_names_may_contain_encoded_slashes() {
    // EKS context names are ARNs: `kubeplex kubeconfig` percent-encodes them
    let eks = "arn:aws:eks:eu-west-1:123456789012:cluster/prod";
    let mut pb = mint::config();
    pb.contexts.push(pb::Context {
        name: eks.into(),
        ..Default::default()
    });
    let mut h = Harness::new(pb);
    let d = h.run(
        "GET",
        "/clusters/arn:aws:eks:eu-west-1:123456789012:cluster%2Fprod/api/v1/namespaces/default/pods",
        Some(&alice()),
        &[],
    );
    let f = allowed(&d);
    // the `/` encoded in the cluster's name: never another context's
    // cluster (`…/upgrade`)
    assert_eq!(
        header(f, "x-kubeplex-cluster"),
        vec!["ctx/arn:aws:eks:eu-west-1:123456789012:cluster%2Fprod"]
    );
    assert_eq!(header(f, ":path"), vec!["/api/v1/namespaces/default/pods"]);
    // ...but not after the context segment
    let d = h.run(
        "GET",
        "/clusters/arn:aws:eks:eu-west-1:123456789012:cluster%2Fprod/api/v1/namespaces/a%2Fb/pods",
        Some(&alice()),
        &[],
    );
    assert_eq!(denied(&d).code(), 400);
}

#[test]
fn ctx_claim_routing_checks_the_whole_path() {
    let mut claims = mint::claims();
    claims["ctx"] = json!("dev-a");
    let t = bearer_for(&claims);
    let mut h = Harness::new(mint::config());
    allowed(&h.run("GET", "/api/v1/namespaces/ns/pods", Some(&t), &[]));
    let d = h.run("GET", "/api/v1/namespaces/ns%2F..%2Fx/pods", Some(&t), &[]);
    assert_eq!(denied(&d).code(), 400);
    assert_eq!(d.audit.reason(), "ambiguous_path");
}

#[test]
fn the_tls_server_name_picks_the_cluster_without_a_prefix() {
    let mut pb = mint::config();
    pb.contexts[1].server_name = "dev-b.clusters.gw.example".into();
    let config = Config::compile(&pb).unwrap();
    let mut cache = TokenCache::new(4);
    let headers = vec![
        (":method".to_string(), "GET".to_string()),
        (":path".to_string(), "/version".to_string()),
        ("authorization".to_string(), alice()),
    ];
    let mut view = RequestView::from_headers(&headers);
    view.server_name = Some(Cow::Borrowed("dev-b.clusters.gw.example"));
    let d = decide(&config, &mut cache, &RustCryptoVerifier, NOW, &view);
    let f = allowed(&d);
    assert_eq!(header(f, "x-kubeplex-cluster"), vec!["ctx/dev-b"]);
    assert!(header(f, ":path").is_empty(), "nothing to strip");
    assert_eq!(d.audit.cluster, "dev-b");
    // without it, as before: no context
    view.server_name = None;
    let d = decide(&config, &mut cache, &RustCryptoVerifier, NOW, &view);
    assert_eq!(d.audit.reason(), "no_context");
}

/// Envoy's `verify_signature` call itself fails.
struct BrokenHost(Cell<u32>);

impl SignatureVerifier for BrokenHost {
    fn verify(&self, _: Hash, _: &[u8], _: &[u8], _: &[u8]) -> Result<(), VerifyError> {
        self.0.set(self.0.get() + 1);
        Err(VerifyError::Host(
            "verify_signature failed: InternalFailure".into(),
        ))
    }
}

#[test]
fn a_failing_signature_check_is_a_503_not_a_bad_signature() {
    let config = Config::compile(&mint::config()).unwrap();
    let mut cache = TokenCache::new(16);
    let host = BrokenHost(Cell::new(0));
    let headers = vec![
        (":method".to_string(), "GET".to_string()),
        (":path".to_string(), "/clusters/dev-a/api".to_string()),
        ("authorization".to_string(), alice()),
    ];
    let view = RequestView::from_headers(&headers);
    for attempt in 1..=2 {
        let d = decide(&config, &mut cache, &host, NOW, &view);
        let s = denied(&d);
        assert_eq!(s.code(), 503);
        assert_eq!(s.reason, Reason::ServiceUnavailable);
        assert_eq!(
            s.message,
            "the gateway could not check the token's signature (issuer \"https://issuer.example\"): \
             its signature verifier failed; retry in a few seconds"
        );
        assert_eq!(d.audit.reason(), "verifier_unavailable");
        assert_eq!(d.audit.message, s.message);
        // for the glue's error log, with the host's own words
        let failure = d.host_failure.as_ref().expect("a host failure to log");
        assert_eq!(
            std::error::Error::source(failure).map(|e| e.to_string()),
            Some("the signature check failed: verify_signature failed: InternalFailure".into())
        );
        assert_eq!(d.refresh_keys, None);
        // nothing was cached: the next request asks the host again
        assert_eq!(host.0.get(), attempt);
        assert!(cache.is_empty());
    }
    // an invalid signature is still the token's fault: 401, nothing to log
    let mut h = Harness::new(mint::config());
    let forged = format!(
        "Bearer {}",
        mint(Signer::RsaOther, Some("rsa"), &mint::claims())
    );
    let d = h.run("GET", "/clusters/dev-a/api", Some(&forged), &[]);
    assert_eq!(denied(&d).code(), 401);
    assert_eq!(d.audit.reason(), "bad_signature");
    assert_eq!(d.host_failure, None);
}

#[test]
fn discovery_gets_of_a_cached_context_carry_the_cache_key() {
    let mut pb = mint::config();
    pb.contexts[0].cache_scope = "scope-1".into();
    pb.policy = with_policy().policy;
    let mut h = Harness::new(pb);
    let key_of = |d: &Decision<'_>| {
        header(allowed(d), kubeplex_proto::routing::CACHE_KEY_HEADER)
            .first()
            .map(|k| k.to_string())
    };
    let d = h.run("GET", "/clusters/dev-a/apis", Some(&alice()), &[]);
    let alice_key = key_of(&d).expect("a discovery GET of dev-a has a cache key");
    // ...and goes to the context's discovery cluster (its own upstream
    // filters serve the cache's fetch)
    assert_eq!(
        header(allowed(&d), "x-kubeplex-cluster"),
        ["ctx/dev-a/discovery"]
    );
    assert_eq!(
        key_of(&h.run("GET", "/clusters/dev-a/apis", Some(&alice()), &[])).as_ref(),
        Some(&alice_key)
    );
    // another path of the same caller is another entry by path, same key
    assert_eq!(
        key_of(&h.run("GET", "/clusters/dev-a/openapi/v3", Some(&alice()), &[])),
        Some(alice_key.clone())
    );
    // not for lists, watches, upgrades, other methods or uncached contexts
    for (method, path, extra) in [
        ("GET", "/clusters/dev-a/api/v1/pods", &[][..]),
        (
            "GET",
            "/clusters/dev-a/api/v1/namespaces/default/pods?watch=1",
            &[][..],
        ),
        (
            "GET",
            "/clusters/dev-a/api",
            &[("upgrade", "websocket")][..],
        ),
        ("GET", "/clusters/dev-b/apis", &[][..]),
    ] {
        let d = h.run(method, path, Some(&alice()), extra);
        if let Outcome::Allow(f) = &d.outcome {
            assert!(
                header(f, kubeplex_proto::routing::CACHE_KEY_HEADER).is_empty(),
                "{method} {path}"
            );
            assert!(
                !header(f, "x-kubeplex-cluster")[0].ends_with("/discovery"),
                "{method} {path}"
            );
        }
    }
    // every other request passes Envoy's cache by: the caller's token
    // replaced by the bypass value (the route configuration removes it)
    let mut pb = mint::config();
    pb.contexts[0].cache_scope = "scope-1".into();
    let mut cached = Harness::new(pb);
    for path in ["/clusters/dev-a/api/v1/pods", "/clusters/dev-b/apis"] {
        let d = cached.run("GET", path, Some(&alice()), &[]);
        let f = allowed(&d);
        assert!(f.remove.is_empty(), "{path}");
        assert_eq!(
            header(f, "authorization"),
            [kubeplex_proto::routing::CACHE_BYPASS_AUTHORIZATION],
            "{path}"
        );
    }
    // a cached discovery GET: no Authorization at all (so the cache serves it)
    let d = cached.run("GET", "/clusters/dev-a/apis", Some(&alice()), &[]);
    assert_eq!(allowed(&d).remove, ["authorization"]);
    assert!(header(allowed(&d), "authorization").is_empty());
    // a refused caller gets a Status, never a key (so never a cached answer)
    let d = h.run("GET", "/clusters/dev-a/apis", None, &[]);
    assert_eq!(denied(&d).code(), 401);
}

/// The deadline left out only where the route timeout ends the request
/// first (`deadline::needed`), kept on every stream.
#[test]
fn grpc_timeout_only_where_the_route_timeout_does_not_end_the_request_first() {
    let mut h = Harness::new(pb::FilterConfig {
        request_timeout_seconds: 120,
        ..mint::config()
    });
    let auth = alice();
    let mut run = |path: &str, extra: &[(&str, &str)]| {
        let mut headers = vec![
            (":method", "GET"),
            (":path", path),
            ("authorization", auth.as_str()),
        ];
        headers.extend_from_slice(extra);
        let mut view = RequestView::from_headers(&headers);
        view.headers_end_request = true;
        let d = decide(&h.config, &mut h.cache, &h.verifier, NOW, &view);
        header(allowed(&d), "grpc-timeout")
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
    };
    assert!(run("/clusters/dev-a/api/v1/pods?limit=500", &[]).is_empty());
    for path in [
        "/clusters/dev-a/api/v1/pods?watch=1",
        "/clusters/dev-a/api/v1/watch/pods",
        "/clusters/dev-a/api/v1/namespaces/ns/pods/p/log?follow=true",
    ] {
        assert_eq!(run(path, &[]), vec!["3630S"], "{path}");
    }
    let exec = "/clusters/dev-a/api/v1/namespaces/ns/pods/p/exec?command=sh";
    assert_eq!(run(exec, &[("upgrade", "SPDY/3.1")]), vec!["3630S"]);
}
