//! Fuzz targets for the filter's decisions (crate `kubeplex-filter-core`): the
//! token parser, path/route selection, RequestInfo parsing and identity
//! canonicalisation. Each target takes the fuzzer's bytes, calls the public
//! entry point and panics when an invariant does not hold, so libFuzzer
//! reports it like any other crash.
//!
//! This file is also compiled into `filter-core/tests/fuzz_regressions.rs` (by
//! `#[path]`), which replays the committed corpora and every crash in
//! `fuzz/regressions/` natively in `make test`: it may only name crates the
//! filter itself depends on.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kubeplex_filter_core::alg::Alg;
use kubeplex_filter_core::config::Config;
use kubeplex_filter_core::config_pb as pb;
use kubeplex_filter_core::identity::{self, Identity};
use kubeplex_filter_core::issuer::Issuer;
use kubeplex_filter_core::path_encoding;
use kubeplex_filter_core::request_info::{self, RequestInfo, RequestInfoError};
use kubeplex_filter_core::route::{self, Route};
use kubeplex_filter_core::signature::{Hash, SignatureVerifier, VerifyError};
use kubeplex_filter_core::token::{self, TokenError, VerifiedToken};
use serde_json::{Map, Value};

/// "Now" for every token: 2026-11-23T12:00:00Z (the filter tests' NOW).
pub const NOW: i64 = 1_795_435_200;
/// Plain OIDC-style issuer: `sub`/`groups`, no prefixes.
pub const PLAIN_ISSUER: &str = "https://issuer.example";
/// An issuer with prefixes, a uid claim, an extra mapping and a claim rule
/// (like the README's `login.example.com`).
pub const MAPPED_ISSUER: &str = "https://login.example.com";
/// A ServiceAccount issuer (another cluster's), keys fetched remotely.
pub const SA_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// Kubernetes' reserved identity prefix.
const RESERVED: &str = "system:";

/// Accepts every RSA/ECDSA signature, so the fuzzer reaches the claim
/// checks and the identity mapping behind them. (EdDSA is checked in Rust
/// by the filter itself and still needs a real signature.)
pub struct AcceptAnySignature;

impl SignatureVerifier for AcceptAnySignature {
    fn verify(&self, _: Hash, _: &[u8], _: &[u8], _: &[u8]) -> Result<(), VerifyError> {
        Ok(())
    }
}

/// RFC 8032 test 1's Ed25519 public key (a valid curve point).
const ED25519_PUBLIC: [u8; 32] = [
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
    0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
];

fn key(kid: &str, key_type: pb::KeyType, alg: &str) -> pb::Key {
    let public_key = if key_type == pb::KeyType::Ed25519 {
        ED25519_PUBLIC.to_vec()
    } else {
        // The filter only checks that it looks like a DER SEQUENCE; the
        // host (here: AcceptAnySignature) does the rest.
        let mut der = vec![0x30, 0x20];
        der.extend_from_slice(&[0x5a; 32]);
        der
    };
    pb::Key {
        kid: kid.into(),
        key_type: key_type as i32,
        public_key,
        alg: alg.into(),
    }
}

fn prefixed(claim: &str, prefix: &str) -> Option<pb::PrefixedClaim> {
    Some(pb::PrefixedClaim {
        claim: claim.into(),
        prefix: prefix.into(),
    })
}

fn filter_config(cluster_path_prefix: &str) -> pb::FilterConfig {
    let keys = vec![
        key("rsa", pb::KeyType::Rsa, ""),
        key("rsa512", pb::KeyType::Rsa, "RS512"),
        key("p256", pb::KeyType::EcP256, ""),
        key("p384", pb::KeyType::EcP384, ""),
        key("", pb::KeyType::EcP521, ""),
        key("ed", pb::KeyType::Ed25519, ""),
    ];
    let plain = pb::Issuer {
        url: PLAIN_ISSUER.into(),
        audiences: vec!["kubeplex".into(), "other".into()],
        keys: keys.clone(),
        key_source: "inline JWKS".into(),
        ..Default::default()
    };
    let mapped = pb::Issuer {
        url: MAPPED_ISSUER.into(),
        audiences: vec!["kubeplex".into()],
        keys: keys.clone(),
        claim_mappings: Some(pb::ClaimMappings {
            username: prefixed("email", "oidc:"),
            groups: prefixed("roles", "oidc:"),
            uid_claim: "uid".into(),
            extra: vec![pb::ExtraMapping {
                key: "example.com/tenant".into(),
                claim: "tenant".into(),
            }],
        }),
        claim_validation_rules: vec![pb::ClaimValidationRule {
            claim: "hd".into(),
            required_value: "example.com".into(),
        }],
        key_source: "jwksFile keys/jwks.json".into(),
        ..Default::default()
    };
    let service_account = pb::Issuer {
        url: SA_ISSUER.into(),
        audiences: vec!["kubeplex".into()],
        keys,
        key_source: "cluster prod-a".into(),
        service_account_issuer: true,
        remote_keys: true,
        ..Default::default()
    };
    let contexts = [
        ("dev-a", "dev-a.clusters.kubeplex.internal"),
        ("dev-b", ""),
        ("prod", "PROD.clusters.kubeplex.internal"),
        ("kind ctx@x", ""),
        (
            "arn:aws:eks:eu-west-1:1:cluster/x",
            "x1a2b3c.clusters.kubeplex.internal",
        ),
    ];
    pb::FilterConfig {
        version: "fuzz-1".into(),
        issuers: vec![plain, mapped, service_account],
        revocations: vec![pb::Revocation {
            jti: "revoked-jti".into(),
            reason: "laptop stolen".into(),
            ..Default::default()
        }],
        contexts: contexts
            .iter()
            .map(|(name, server_name)| pb::Context {
                name: name.to_string(),
                server_name: server_name.to_string(),
                ..Default::default()
            })
            .collect(),
        clock_skew_seconds: 30,
        token_cache_size: 16,
        cluster_header: "x-kubeplex-cluster".into(),
        cluster_path_prefix: cluster_path_prefix.into(),
        stream_expiry_grace_seconds: 30,
        ..Default::default()
    }
}

/// The configs the targets run against: `/clusters/` (the default), no
/// path prefix, and a prefix without its trailing slash.
pub fn configs() -> &'static [Config; 3] {
    static CONFIGS: OnceLock<[Config; 3]> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        ["/clusters/", "", "/k8s/clusters"]
            .map(|prefix| Config::compile(&filter_config(prefix)).expect("fuzz config compiles"))
    })
}

fn config() -> &'static Config {
    &configs()[0]
}

// ---------------------------------------------------------------------------
// identity

/// Why `s` may not become an `Impersonate-*` header value, if it may not:
/// it must be non-empty visible ASCII with spaces (0x20) only inside, never
/// at either end; no tab or other control character, nothing beyond ASCII.
/// (Runs of interior spaces are allowed: every HTTP/1.1 and HTTP/2 peer
/// keeps interior whitespace byte for byte.)
pub fn header_value_problem(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        return Some("is empty");
    }
    if let Some(b) = s
        .bytes()
        .find(|b| !(*b == b' ' || (0x21..=0x7e).contains(b)))
    {
        return Some(match b {
            b'\t' => "contains a tab",
            0x00..=0x1f | 0x7f => "contains a control character",
            _ => "contains a non-ASCII character",
        });
    }
    if s.starts_with(' ') || s.ends_with(' ') {
        return Some("has a leading or trailing space");
    }
    None
}

/// What an identity the gateway impersonates must look like.
pub fn check_identity(issuer: &Issuer, claims: &Map<String, Value>, id: &Identity) {
    let safe = |what: &str, s: &str| {
        if let Some(problem) = header_value_problem(s) {
            panic!(
                "identity::map accepted a {what} that {problem}: {s:?} (issuer {:?}, identity {id:?})",
                issuer.url
            );
        }
    };
    safe("user", &id.user);
    for g in &id.groups {
        safe("group", g);
    }
    if let Some(uid) = &id.uid {
        safe("uid", uid);
    }
    for (key, values) in &id.extra {
        assert!(
            !key.is_empty() && key.bytes().all(|b| (0x21..=0x7e).contains(&b)),
            "extra key {key:?} is not a header-name fragment"
        );
        assert!(!values.is_empty(), "extra {key:?} with no values");
        for v in values {
            safe("extra value", v);
        }
    }
    if issuer.service_account {
        let rest = id
            .user
            .strip_prefix("system:serviceaccount:")
            .unwrap_or_else(|| panic!("service account user {:?}", id.user));
        let (namespace, name) = rest
            .split_once(':')
            .unwrap_or_else(|| panic!("service account user {:?}", id.user));
        assert!(!namespace.is_empty() && !name.is_empty() && !name.contains(':'));
        assert_eq!(
            id.groups,
            [
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{namespace}")
            ]
        );
        assert_eq!(claims.get("sub").and_then(Value::as_str), Some(&*id.user));
    } else {
        assert!(
            !id.user.starts_with(RESERVED),
            "identity::map accepted the reserved user {:?} from issuer {:?}",
            id.user,
            issuer.url
        );
        if let Some(g) = id.groups.iter().find(|g| g.starts_with(RESERVED)) {
            panic!(
                "identity::map accepted the reserved group {g:?} from issuer {:?}",
                issuer.url
            );
        }
        let m = &issuer.claim_mappings;
        let claimed = claims.get(&m.username_claim).and_then(Value::as_str);
        assert!(
            claimed
                .is_some_and(|c| id.user.starts_with(&m.username_prefix) && id.user.ends_with(c)),
            "user {:?} is not {:?} + the {:?} claim {claimed:?}",
            id.user,
            m.username_prefix,
            m.username_claim
        );
        for (key, _) in &id.extra {
            assert!(
                m.extra.iter().any(|(k, _)| k == key),
                "extra key {key:?} is not in the issuer's mappings"
            );
        }
    }
}

/// `identity::map` on arbitrary JSON claims. The first byte picks the
/// issuer (plain, prefixed mappings, ServiceAccount); the rest is JSON.
pub fn identity(data: &[u8]) {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    let Ok(claims) = serde_json::from_slice::<Map<String, Value>>(json) else {
        return;
    };
    let url = [PLAIN_ISSUER, MAPPED_ISSUER, SA_ISSUER][usize::from(selector) % 3];
    let issuer = &config().issuers[url];
    match identity::map(issuer, &claims) {
        Ok(id) => check_identity(issuer, &claims, &id),
        Err(e) => {
            assert!(!e.to_string().is_empty() && !e.reason().as_str().is_empty());
        }
    }
}

// ---------------------------------------------------------------------------
// token

/// A JWT from the fuzzer's bytes. `r<token>`: the token as sent (raw
/// base64url, dots and all). Otherwise `<any byte><header JSON>\n<payload
/// JSON>\n<signature bytes>`, each part base64url-encoded here, so the
/// fuzzer mutates JSON rather than base64.
pub fn token_from_bytes(data: &[u8]) -> Option<String> {
    let (&mode, rest) = data.split_first()?;
    if mode == b'r' {
        return Some(String::from_utf8_lossy(rest).into_owned());
    }
    let mut parts = rest.splitn(3, |b| *b == b'\n');
    let header = parts.next().unwrap_or_default();
    let payload = parts.next().unwrap_or_default();
    let signature = parts.next().unwrap_or_default();
    Some(format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

fn b64_json<T: serde::de::DeserializeOwned>(part: &str) -> Option<T> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

fn number(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    let n = claims.get(name)?.as_number()?;
    n.as_i64()
        .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

/// What a token the filter accepted must satisfy.
pub fn check_verified(config: &Config, raw: &str, now: i64, v: &VerifiedToken) {
    let parts: Vec<&str> = raw.split('.').collect();
    assert_eq!(parts.len(), 3, "accepted a token without three parts");
    let header: Map<String, Value> = b64_json(parts[0]).expect("accepted header is JSON");
    let alg = header.get("alg").and_then(Value::as_str);
    assert!(
        alg.and_then(Alg::from_name).is_some(),
        "accepted alg {alg:?}"
    );
    assert!(!header.contains_key("crit"), "accepted a crit header");
    let claims: Map<String, Value> = b64_json(parts[1]).expect("accepted payload is JSON");

    let issuer = config
        .issuers
        .get(&v.issuer)
        .unwrap_or_else(|| panic!("accepted issuer {:?} is not configured", v.issuer));
    assert_eq!(
        claims.get("iss").and_then(Value::as_str),
        Some(v.issuer.as_str()),
        "verified issuer is not the token's iss"
    );
    let skew = config.clock_skew_seconds;
    assert!(
        v.exp.saturating_add(skew) >= now,
        "accepted a token that expired at {} (now {now}, skew {skew})",
        v.exp
    );
    assert_eq!(Some(v.exp), number(&claims, "exp"), "exp is the claim's");
    if let Some(nbf) = number(&claims, "nbf") {
        assert!(nbf <= now.saturating_add(skew), "accepted before nbf {nbf}");
    }
    if let Some(iat) = number(&claims, "iat") {
        assert!(
            iat <= now.saturating_add(skew),
            "accepted iat {iat} in the future"
        );
    }
    let accepted = |a: &Value| {
        a.as_str()
            .is_some_and(|a| issuer.audiences.iter().any(|x| x == a))
    };
    let aud_ok = match claims.get("aud") {
        Some(Value::Array(list)) => list.iter().any(accepted),
        Some(a) => accepted(a),
        None => false,
    };
    assert!(aud_ok, "accepted aud {:?}", claims.get("aud"));
    for (claim, required) in &issuer.claim_validation_rules {
        let holds = match claims.get(claim) {
            Some(Value::String(s)) => s == required,
            Some(Value::Array(list)) => list.iter().any(|x| x.as_str() == Some(required)),
            _ => false,
        };
        assert!(holds, "claim rule {claim:?} = {required:?} does not hold");
    }
    assert!(v.jti.as_deref() != Some(""), "empty jti kept");
    assert!(v.ctx.as_deref() != Some(""), "empty ctx kept");
    check_identity(issuer, &claims, &v.identity);
}

/// `token::verify` on a fuzzed JWT with every RSA/ECDSA signature accepted.
pub fn token(data: &[u8]) {
    let Some(raw) = token_from_bytes(data) else {
        return;
    };
    let config = config();
    match token::verify(config, &raw, NOW, &AcceptAnySignature) {
        Ok(v) => check_verified(config, &raw, NOW, &v),
        Err(e) => check_token_error(&e),
    }
}

fn check_token_error(e: &TokenError) {
    // every refusal has a message and an audit reason (the message formats
    // times with rfc3339, which must survive absurd values)
    assert!(!e.to_string().is_empty());
    assert!(!e.reason().as_str().is_empty());
}

// ---------------------------------------------------------------------------
// route + path encoding

/// Lines of text: `path`, `ctx` claim (empty = none), TLS server name
/// (missing line = none), config (`1`: no path prefix, `2`: `/k8s/clusters`).
pub fn route(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let path = lines.next().unwrap_or_default();
    let ctx = lines.next().filter(|c| !c.is_empty());
    let server_name = lines.next();
    let config = match lines.next() {
        Some("1") => &configs()[1],
        Some("2") => &configs()[2],
        _ => &configs()[0],
    };

    check_path_encoding(path);
    let result = route::select_with_server_name(config, path, ctx, server_name);
    // The glue reads the server name (a host call) only when asked to.
    if !route::wants_server_name(config, path) {
        assert_eq!(
            result,
            route::select_with_server_name(config, path, ctx, None),
            "wants_server_name is false, but the server name changed the route"
        );
    }
    match result {
        Ok(r) => {
            check_route(config, path, ctx, server_name, &r);
            let upstream = r.effective_path(path);
            check_path_encoding(upstream);
            if path_encoding::check(upstream).is_ok() {
                // what the decision does next
                for method in ["GET", "DELETE"] {
                    if let Ok(info) = request_info::parse(method, upstream, false) {
                        check_request_info(method, upstream, false, &info);
                    }
                }
            }
        }
        Err(e) => assert!(!e.to_string().is_empty() && !e.reason().as_str().is_empty()),
    }
}

fn check_route(
    config: &Config,
    path: &str,
    ctx: Option<&str>,
    server_name: Option<&str>,
    r: &Route<'_>,
) {
    assert!(
        config.contexts.contains_key(r.context.as_ref()),
        "routed to unknown context {:?}",
        r.context
    );
    if let Some(bound) = ctx {
        assert_eq!(
            r.context, bound,
            "a token bound to {bound:?} reached another context"
        );
    }
    let prefix = config.cluster_path_prefix.as_str();
    match &r.upstream_path {
        Some(upstream) => {
            assert!(!prefix.is_empty() && path.starts_with(prefix));
            assert!(upstream.starts_with('/'), "upstream {upstream:?}");
            // Exactly `<prefix><one segment>` was cut: the rest of the path
            // is forwarded as it came (a `/` added when it did not start with
            // one), so the cluster never sees the gateway's prefix, and no
            // more than it was removed.
            let tail = if path.ends_with(upstream.as_str()) {
                upstream.as_str()
            } else {
                assert!(
                    path.ends_with(&upstream[1..]),
                    "upstream {upstream:?} is not the end of {path:?}"
                );
                &upstream[1..]
            };
            let cut = &path[..path.len() - tail.len()];
            let segment = cut.strip_prefix(prefix).unwrap_or_else(|| {
                panic!("{path:?}: the cut {cut:?} does not start with {prefix:?}")
            });
            assert!(
                !segment.is_empty() && !segment.contains(['/', '?']),
                "{path:?}: stripped {cut:?}, not one segment after {prefix:?}"
            );
            assert!(tail.is_empty() || tail.starts_with(['/', '?']));
            assert_eq!(
                path_encoding::percent_decode(segment),
                r.context,
                "the context is not the decoded segment"
            );
        }
        None => {
            assert!(prefix.is_empty() || !path.starts_with(prefix));
            let by_name = server_name
                .and_then(|s| config.contexts_by_server_name.get(&s.to_ascii_lowercase()));
            match by_name {
                Some(chosen) => assert_eq!(&r.context, chosen),
                None => assert_eq!(Some(r.context.as_ref()), ctx),
            }
        }
    }
}

/// `%XX` → byte, refusing malformed escapes (an independent decoder, the
/// oracle for `path_encoding`): each decoded byte with whether it came
/// from an escape.
fn strict_decode(s: &str) -> Option<Vec<(u8, bool)>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push((u8::from_str_radix(hex, 16).ok()?, true));
            i += 3;
        } else {
            out.push((bytes[i], false));
            i += 1;
        }
    }
    Some(out)
}

/// A path `path_encoding::check` accepts means the same to the cluster
/// (Go's `URL.Path`) as to the gateway: no separator, backslash or dot
/// spelled as an escape, well-formed escapes, UTF-8 after decoding,
/// nothing but visible ASCII on the wire.
pub fn check_path_encoding(path_and_query: &str) {
    let verdict = path_encoding::check(path_and_query);
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(p, _)| p);
    let decoded = strict_decode(path);
    let expected_ok = path.bytes().all(|b| (0x21..0x7f).contains(&b))
        && decoded.as_ref().is_some_and(|d| {
            !d.iter()
                .any(|&(b, escaped)| escaped && matches!(b, b'/' | b'\\' | b'.'))
                && String::from_utf8(d.iter().map(|(b, _)| *b).collect()).is_ok()
        });
    if verdict.is_ok() {
        assert!(
            !path.to_ascii_lowercase().contains("%2f"),
            "path_encoding::check accepted an encoded slash: {path_and_query:?}"
        );
    }
    assert_eq!(
        verdict.is_ok(),
        expected_ok,
        "path_encoding::check({path_and_query:?}) = {verdict:?}"
    );
    if let Some(decoded) = decoded {
        let bytes: Vec<u8> = decoded.iter().map(|(b, _)| *b).collect();
        if let Ok(text) = String::from_utf8(bytes) {
            assert_eq!(path_encoding::percent_decode(path), text);
        }
    }
}

// ---------------------------------------------------------------------------
// RequestInfo

/// Lines of text: method, path (with query), `1` for an upgrade request.
pub fn request_info(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let method = lines.next().unwrap_or_default();
    let path = lines.next().unwrap_or_default();
    let upgrade = lines.next() == Some("1");
    match request_info::parse(method, path, upgrade) {
        Ok(info) => {
            check_request_info(method, path, upgrade, &info);
            // The upgrade flag only ever turns a connect GET into create.
            let other = request_info::parse(method, path, !upgrade)
                .expect("the upgrade flag changed whether the path parses");
            assert_eq!(
                RequestInfo {
                    verb: String::new(),
                    ..other.clone()
                },
                RequestInfo {
                    verb: String::new(),
                    ..info.clone()
                },
                "the upgrade flag changed more than the verb"
            );
            if other.verb != info.verb {
                let (plain, up) = if upgrade {
                    (&other, &info)
                } else {
                    (&info, &other)
                };
                assert_eq!((plain.verb.as_str(), up.verb.as_str()), ("get", "create"));
            }
        }
        Err(RequestInfoError::NoKind(url)) => assert_eq!(url, path),
    }
}

const RESOURCE_VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "proxy",
    "",
];

pub fn check_request_info(method: &str, path_and_query: &str, upgrade: bool, info: &RequestInfo) {
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(p, _)| p);
    assert_eq!(info.path, path_encoding::percent_decode(path), "info.path");
    if !info.is_resource_request {
        assert_eq!(info.verb, method.to_ascii_lowercase());
        assert_eq!(
            RequestInfo {
                path: String::new(),
                verb: String::new(),
                ..info.clone()
            },
            RequestInfo::default(),
            "a non-resource request with resource fields"
        );
        return;
    }
    assert!(
        RESOURCE_VERBS.contains(&info.verb.as_str()),
        "verb {:?}",
        info.verb
    );
    match info.api_prefix.as_str() {
        "api" => assert!(info.api_group.is_empty()),
        "apis" => {}
        other => panic!("api prefix {other:?}"),
    }
    for (field, value) in [
        ("api_group", &info.api_group),
        ("api_version", &info.api_version),
        ("namespace", &info.namespace),
        ("resource", &info.resource),
        ("subresource", &info.subresource),
        ("name", &info.name),
    ] {
        assert!(
            !value.contains('/'),
            "{field} {value:?} contains a path separator"
        );
    }
    if info.name == "." || info.name == ".." {
        // only a path segment can spell it, never a fieldSelector
        assert!(
            path_encoding::percent_decode(path)
                .split('/')
                .any(|s| s == info.name)
        );
    }
    if info.verb == "create" && method != "POST" {
        assert!(
            upgrade
                && matches!(method, "GET" | "HEAD")
                && info.api_group.is_empty()
                && info.resource == "pods"
                && matches!(info.subresource.as_str(), "exec" | "attach" | "portforward"),
            "{method} {path_and_query:?} authorized as create"
        );
    }
}
