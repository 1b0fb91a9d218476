//! The built `.wasm` in real Envoy (static bootstrap
//! `test_data/envoy-static.yaml`), driven with curl. Ignored by default: it
//! needs the wasm build and Envoy.
//!
//! ```text
//! cargo build -p kubeplex-filter --target wasm32-wasip1 --profile wasm
//! cargo test -p kubeplex-filter --test envoy_smoke -- --ignored --nocapture
//! ```
//! `KUBEPLEX_ENVOY` and `KUBEPLEX_FILTER_WASM` override the Envoy binary and
//! the module (`kubeplex_test_support::locate`).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use prost::Message;
use serde_json::{Value, json};

#[path = "../test_support/envoy.rs"]
mod envoy;
#[path = "../test_support/h2c.rs"]
mod h2c;
#[path = "../../filter-core/test_support/mint.rs"]
mod mint;

use envoy::{DEADLINE, Echo, Envoy, curl, raw_request};
use kubeplex_test_support::{filter_wasm, wait_exit, wait_for};
use mint::{Signer, mint, mint_with};

/// The static bootstrap with the filter on the `gateway`, `gateway-tls`
/// listeners and a filter-less `baseline`, all to `upstream`.
fn start_static(config_b64: &str, upstream: u16) -> Envoy {
    envoy::start_envoy(
        "envoy-static.yaml",
        config_b64,
        &[("UPSTREAM_PORT", upstream.to_string())],
        &["gateway", "baseline", "gateway-tls"],
    )
}

fn smoke_config() -> kubeplex_filter_core::config_pb::FilterConfig {
    use kubeplex_filter_core::config_pb as pb;
    let mut config = mint::config();
    // ES512 (P-521) key, for a token signed by openssl below.
    config.issuers[0]
        .keys
        .push(mint::key("p521", pb::KeyType::EcP521, mint::spki("p521")));
    config.issuers[0].claim_mappings = Some(pb::ClaimMappings {
        uid_claim: "uid".into(),
        extra: vec![pb::ExtraMapping {
            key: "example.com/tenant".into(),
            claim: "tenant".into(),
        }],
        ..Default::default()
    });
    config
}

/// An ES512 token signed with `openssl dgst` (DER signature converted to
/// the JWS raw r‖s form), so P-521 is proven end to end without a P-521
/// crate in Rust.
fn es512_token(claims: &Value) -> Option<String> {
    let input = format!(
        "{}.{}",
        mint::b64(
            json!({"alg": "ES512", "kid": "p521"})
                .to_string()
                .as_bytes()
        ),
        mint::b64(claims.to_string().as_bytes())
    );
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha512", "-sign"])
        .arg(mint::key_file("p521.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(input.as_bytes()).ok()?;
    let der = child.wait_with_output().ok()?.stdout;
    // SEQUENCE { INTEGER r, INTEGER s }, possibly with a long-form length.
    let mut i = 1;
    if der[i] & 0x80 != 0 {
        i += (der[i] & 0x7f) as usize;
    }
    i += 1;
    let mut raw = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[i], 0x02);
        let len = der[i + 1] as usize;
        let int = &der[i + 2..i + 2 + len];
        let int = &int[int.iter().position(|&b| b != 0).unwrap_or(int.len())..];
        raw.extend(std::iter::repeat_n(0u8, 66 - int.len()));
        raw.extend_from_slice(int);
        i += 2 + len;
    }
    Some(format!("{input}.{}", mint::b64(&raw)))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims() -> Value {
    let now = now();
    let mut c = mint::claims();
    c["iat"] = json!(now - 10);
    c["nbf"] = json!(now - 10);
    c["exp"] = json!(now + 600);
    c["uid"] = json!("uid-alice");
    c["tenant"] = json!(["blue"]);
    c
}

#[test]
#[ignore = "needs the wasm build and Envoy; run with --ignored"]
fn filter_in_real_envoy() {
    let config = smoke_config();
    let b64 = base64::engine::general_purpose::STANDARD.encode(config.encode_to_vec());
    let upstream = Echo::start();
    let envoy = start_static(&b64, upstream.port);
    let base = format!("http://127.0.0.1:{}", envoy.port("gateway"));
    println!("envoy listening on {base}, admin {}", envoy.admin);

    let get = |path: &str, token: Option<&str>, extra: &[&str], rid: &str| {
        let mut args = vec![
            format!("{base}{path}"),
            "-H".into(),
            format!("x-request-id: {rid}"),
        ];
        if let Some(t) = token {
            args.push("-H".into());
            args.push(format!("Authorization: Bearer {t}"));
        }
        for e in extra {
            args.push("-H".into());
            args.push(e.to_string());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        curl(&refs)
    };

    // 1. every supported algorithm passes; the upstream sees impersonation,
    //    no Authorization, the stripped path and the cluster header (this
    //    bootstrap does not remove it, to show it)
    let mut tokens = vec![
        ("RS256", mint(Signer::Rsa, Some("rsa"), &claims())),
        (
            "RS512",
            mint_with(
                Signer::Rsa,
                &json!({"alg": "RS512", "kid": "rsa"}),
                &claims(),
            ),
        ),
        ("ES256", mint(Signer::P256, Some("p256"), &claims())),
        ("ES384", mint(Signer::P384, Some("p384"), &claims())),
        ("EdDSA", mint(Signer::Ed25519, Some("ed"), &claims())),
    ];
    if let Some(t) = es512_token(&claims()) {
        tokens.push(("ES512", t));
    }
    for (alg, token) in &tokens {
        let (code, body) = get(
            "/clusters/dev-a/api/v1/namespaces/default/pods?limit=5",
            Some(token),
            &["Authorization-Extra: keep"],
            &format!("rid-{alg}"),
        );
        println!("--- {alg}: HTTP {code}\n{body}");
        assert_eq!(code, 200, "{alg}: {body}");
        let lower = body.to_ascii_lowercase();
        assert!(
            body.starts_with("GET /api/v1/namespaces/default/pods?limit=5 HTTP/1.1"),
            "{alg}: prefix stripped: {body}"
        );
        assert!(lower.contains("impersonate-user: alice\r\n"), "{alg}");
        assert!(
            lower.contains("impersonate-group: dev\r\n")
                && lower.contains("impersonate-group: ops\r\n"),
            "{alg}"
        );
        assert!(lower.contains("impersonate-uid: uid-alice\r\n"), "{alg}");
        assert!(
            lower.contains("impersonate-extra-example.com%2ftenant: blue\r\n"),
            "{alg}"
        );
        assert!(lower.contains("x-kubeplex-cluster: ctx/dev-a\r\n"), "{alg}");
        assert!(lower.contains("grpc-timeout: "), "{alg}");
        assert!(
            !lower.contains("\r\nauthorization:"),
            "{alg}: authorization must not reach the cluster"
        );
        assert!(
            lower.contains("authorization-extra: keep"),
            "{alg}: other headers pass"
        );
    }
    if tokens.len() < 6 {
        println!("(openssl unavailable: ES512 not exercised)");
    }

    // 2. the same token again (cache hit) to another context
    let (code, body) = get(
        "/clusters/dev-b/version",
        Some(&tokens[0].1),
        &[],
        "rid-cached",
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.starts_with("GET /version HTTP/1.1"), "{body}");
    assert!(
        body.to_ascii_lowercase()
            .contains("x-kubeplex-cluster: ctx/dev-b"),
        "{body}"
    );

    // 3. refusals, as Kubernetes Status objects
    let rs = &tokens[0].1;
    let (head, sig) = rs.rsplit_once('.').unwrap();
    let forged_payload = {
        let mut c = claims();
        c["sub"] = json!("mallory");
        let (h, _) = head.split_once('.').unwrap();
        format!("{h}.{}.{sig}", mint::b64(c.to_string().as_bytes()))
    };
    let mut revoked_claims = claims();
    revoked_claims["jti"] = json!("revoked-jti");
    let revoked = mint(Signer::Rsa, Some("rsa"), &revoked_claims);
    let mut expired_claims = claims();
    expired_claims["exp"] = json!(now() - 3600);
    let expired = mint(Signer::Rsa, Some("rsa"), &expired_claims);
    // (what, path, token, extra headers, code, message)
    type Case<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Vec<&'a str>,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "tampered",
            "/clusters/dev-a/api",
            Some(forged_payload.as_str()),
            vec![],
            401,
            "token signature is invalid",
        ),
        (
            "no token",
            "/clusters/dev-a/api",
            None,
            vec![],
            401,
            "no bearer token",
        ),
        (
            "expired",
            "/clusters/dev-a/api",
            Some(expired.as_str()),
            vec![],
            401,
            "token expired at ",
        ),
        (
            "revoked",
            "/clusters/dev-a/api",
            Some(revoked.as_str()),
            vec![],
            401,
            "token \"revoked-jti\" has been revoked: laptop stolen",
        ),
        (
            "spoof",
            "/clusters/dev-a/api",
            Some(rs.as_str()),
            vec!["Impersonate-User: admin"],
            403,
            "impersonation headers are not allowed through the gateway (Impersonate-User)",
        ),
        (
            "unknown ctx",
            "/clusters/nope/api",
            Some(rs.as_str()),
            vec![],
            404,
            "context \"nope\" not found",
        ),
    ];
    for (what, path, token, extra, want_code, want_msg) in &cases {
        let (code, body) = get(
            path,
            *token,
            extra,
            &format!("rid-{}", what.replace(' ', "-")),
        );
        println!("--- {what}: HTTP {code}\n{body}");
        assert_eq!(code, *want_code, "{what}: {body}");
        let status: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: {e}: {body}"));
        assert_eq!(status["kind"], "Status", "{what}");
        assert_eq!(status["code"], *want_code, "{what}");
        let message = status["message"].as_str().unwrap();
        assert!(message.contains(want_msg), "{what}: {message}");
        if *want_code == 401 {
            assert_eq!(status["reason"], "Unauthorized");
        }
    }

    // 4. metrics on /stats/prometheus
    let (code, prom) = curl(&[&format!("http://{}/stats/prometheus", envoy.admin)]);
    assert_eq!(code, 200);
    let kubeplex_lines: Vec<&str> = prom.lines().filter(|l| l.contains("kubeplex")).collect();
    println!(
        "--- /stats/prometheus (kubeplex lines)\n{}",
        kubeplex_lines.join("\n")
    );
    // 6 allowed on dev-a (one per algorithm), 1 on dev-b (the cache hit)
    for want in [
        format!(
            "kubeplex_requests_total{{decision=\"allow\",reason=\"ok\",cluster=\"dev-a\"}} {}",
            tokens.len()
        ),
        "kubeplex_requests_total{decision=\"allow\",reason=\"ok\",cluster=\"dev-b\"} 1".to_string(),
        "kubeplex_requests_total{decision=\"deny\",reason=\"token_expired\",cluster=\"\"} 1"
            .to_string(),
        "kubeplex_requests_total{decision=\"deny\",reason=\"bad_signature\",cluster=\"\"} 1"
            .to_string(),
    ] {
        assert!(
            kubeplex_lines.contains(&want.as_str()),
            "missing {want} in {kubeplex_lines:?}"
        );
    }

    // 5. audit fields in the access log (one line per request)
    let lines = envoy.access_log_lines(tokens.len() + 1 + cases.len());
    println!("--- access log\n{}", lines.join("\n"));
    for line in &lines {
        for (_, t) in &tokens {
            let sig = t.rsplit('.').next().unwrap();
            assert!(!line.contains(sig), "a token leaked into the access log");
        }
    }
    let records: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).expect("one JSON object per line"))
        .collect();
    let by_rid = |rid: &str| {
        records
            .iter()
            .find(|r| r["request_id"] == rid)
            .unwrap_or_else(|| panic!("no access log line for {rid}"))
    };
    let allowed = by_rid("rid-RS256");
    assert_eq!(allowed["code"], 200);
    assert_eq!(
        allowed["path"], "/clusters/dev-a/api/v1/namespaces/default/pods?limit=5",
        "the access log shows the path the client sent"
    );
    assert_eq!(allowed["method"], "GET");
    assert!(allowed["user_agent"].as_str().unwrap().starts_with("curl/"));
    assert_eq!(allowed["decision"], "allow");
    assert_eq!(allowed["reason"], "ok");
    assert_eq!(allowed["user"], "alice");
    assert_eq!(allowed["groups"], json!(["dev", "ops"]));
    assert_eq!(allowed["cluster"], "dev-a");
    assert_eq!(allowed["verb"], "list");
    assert_eq!(allowed["resource"], "pods");
    assert_eq!(allowed["namespace"], "default");
    assert_eq!(allowed["issuer"], mint::ISSUER);
    assert_eq!(allowed["jti"], "jti-1");
    assert_eq!(allowed["config_version"], "test-1");
    assert!(allowed["duration_ms"].is_u64() && allowed["bytes_out"].is_u64());
    let denied = by_rid("rid-expired");
    assert_eq!(denied["code"], 401);
    assert_eq!(denied["decision"], "deny");
    assert_eq!(denied["reason"], "token_expired");
    let spoof = by_rid("rid-spoof");
    assert_eq!(spoof["user"], "alice", "the audit knows who tried");
}

/// Client-controlled strings (quotes, backslashes, tabs, bytes that are
/// not UTF-8, attempts to inject members) end up inside their JSON values;
/// requests Envoy refuses before the filter runs still log valid JSON; and
/// none of it takes the filter down.
#[test]
#[ignore = "needs the wasm build and Envoy; run with --ignored"]
fn access_log_lines_are_json_whatever_the_client_sends() {
    let config = smoke_config();
    let b64 = base64::engine::general_purpose::STANDARD.encode(config.encode_to_vec());
    let upstream = Echo::start();
    let envoy = start_static(&b64, upstream.port);
    let port = envoy.port("gateway");
    let token = mint(Signer::Rsa, Some("rsa"), &claims());
    let request = |path: &[u8], rid: &[u8], ua: &[u8], auth: bool| {
        let mut r = Vec::new();
        r.extend_from_slice(b"GET ");
        r.extend_from_slice(path);
        r.extend_from_slice(b" HTTP/1.1\r\nhost: gw\r\nconnection: close\r\nx-request-id: ");
        r.extend_from_slice(rid);
        r.extend_from_slice(b"\r\nuser-agent: ");
        r.extend_from_slice(ua);
        if auth {
            r.extend_from_slice(format!("\r\nauthorization: Bearer {token}").as_bytes());
        }
        r.extend_from_slice(b"\r\n\r\n");
        raw_request(port, &r)
    };

    // quotes, backslashes and a tab in the user agent and the path
    let nasty_ua = "kubectl \"quoted\" \\back\\slash\ttab";
    let nasty_path = "/clusters/dev-a/api/v1/namespaces/a\"b\\c/pods";
    let (code, text) = request(
        nasty_path.as_bytes(),
        b"rid-hostile-1",
        nasty_ua.as_bytes(),
        true,
    );
    assert_eq!(code, 200, "{text}");
    // a user agent that is not UTF-8 (it used to crash the VM) and a
    // request id trying to add members
    let injection = "rid-hostile-2\",\"decision\":\"allow";
    let (code, text) = request(
        b"/clusters/dev-a/api",
        injection.as_bytes(),
        b"ua \xff\xfe",
        false,
    );
    assert_eq!(code, 401, "{text}");
    // a control character: Envoy refuses it before the filter runs
    let (code, _) = request(
        b"/clusters/dev-a/api",
        b"rid-hostile-3",
        b"\x1b[31mred",
        true,
    );
    assert_eq!(code, 400);
    // an encoded slash after the context (and a quote)
    let ambiguous = "/clusters/dev-a/api/v1/namespaces/x%2F\"y/pods";
    let (code, text) = request(ambiguous.as_bytes(), b"rid-hostile-4", b"ua", true);
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("\"reason\":\"BadRequest\""), "{text}");
    assert!(text.contains("encoded slash (%2F)"), "{text}");
    // the filter is still alive
    let (code, _) = curl(&[
        &format!("http://127.0.0.1:{port}/clusters/dev-a/version"),
        "-H",
        &format!("Authorization: Bearer {token}"),
        "-H",
        "x-request-id: rid-after",
    ]);
    assert_eq!(code, 200);

    let lines = envoy.access_log_lines(5);
    println!("--- access log\n{}", lines.join("\n"));
    let records: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let by_rid = |rid: &str| {
        records
            .iter()
            .find(|r| r["request_id"] == rid)
            .unwrap_or_else(|| panic!("no line for {rid:?} in {records:#?}"))
    };
    let first = by_rid("rid-hostile-1");
    assert_eq!(first["user_agent"], nasty_ua);
    assert_eq!(first["path"], nasty_path);
    assert_eq!(first["namespace"], "a\"b\\c");
    assert_eq!(first["decision"], "allow");
    assert_eq!(first["code"], 200);
    let second = by_rid(injection);
    assert_eq!(second["user_agent"], "ua \u{fffd}\u{fffd}");
    assert_eq!(second["decision"], "deny", "no member injected");
    assert_eq!(second["code"], 401);
    // the filter did not run: Envoy's members only
    let refused = records
        .iter()
        .find(|r| r["code"] == 400 && r.get("request_id").is_none())
        .unwrap_or_else(|| panic!("no line for the refused request in {records:#?}"));
    assert!(refused.get("decision").is_none());
    let fourth = by_rid("rid-hostile-4");
    assert_eq!(fourth["reason"], "ambiguous_path");
    assert_eq!(fourth["path"], ambiguous);
    assert_eq!(fourth["cluster"], "dev-a");
    assert_eq!(by_rid("rid-after")["code"], 200);
    let log = envoy.log();
    assert!(!log.contains("panicked"), "the filter crashed:\n{log}");
    assert!(!log.contains(&token), "a token reached Envoy's log");
}

/// A cached token still expires on time: requests read a clock the root
/// context refreshes every second (no host call per request), and the
/// worker's ticks keep it moving.
#[test]
#[ignore = "needs the wasm build and Envoy; run with --ignored"]
fn a_cached_token_expires_on_time() {
    let mut config = smoke_config();
    config.clock_skew_seconds = 0;
    let b64 = base64::engine::general_purpose::STANDARD.encode(config.encode_to_vec());
    let upstream = Echo::start();
    let envoy = start_static(&b64, upstream.port);
    let url = format!(
        "http://127.0.0.1:{}/clusters/dev-a/version",
        envoy.port("gateway")
    );
    let mut c = claims();
    let exp = now() + 3;
    c["exp"] = json!(exp);
    let token = mint(Signer::Rsa, Some("rsa"), &c);
    let auth = format!("Authorization: Bearer {token}");
    // verified once, then served from the cache until it expires
    let (code, body) = curl(&[&url, "-H", &auth]);
    assert_eq!(code, 200, "{body}");
    let refused_at = wait_for(
        "the cached token to expire",
        Duration::from_secs(10),
        || {
            let (code, body) = curl(&[&url, "-H", &auth]);
            if code == 401 {
                assert!(body.contains("token expired at "), "{body}");
                return Some(now());
            }
            assert_eq!(code, 200, "{body}");
            None
        },
    );
    println!("exp {exp}, first refusal at {refused_at}");
    // `now > exp` with a clock at most a tick (1 s) stale
    assert!(
        refused_at > exp && refused_at <= exp + 2,
        "refused at {refused_at}, exp {exp}"
    );
}

/// A remote-keys issuer and an unknown `kid`, but no `kubeplex-xds`
/// cluster to call (a bootstrap without it): the refusal stands, the
/// failed call is logged, and the filter keeps working.
#[test]
#[ignore = "needs the wasm build and Envoy; run with --ignored"]
fn key_refresh_without_the_xds_cluster_is_harmless() {
    let mut config = smoke_config();
    config.issuers[0].remote_keys = true;
    let b64 = base64::engine::general_purpose::STANDARD.encode(config.encode_to_vec());
    let upstream = Echo::start();
    let envoy = start_static(&b64, upstream.port);
    let url = format!(
        "http://127.0.0.1:{}/clusters/dev-a/version",
        envoy.port("gateway")
    );
    let unknown = mint(Signer::Rsa, Some("rotated"), &claims());
    let (code, body) = curl(&[&url, "-H", &format!("Authorization: Bearer {unknown}")]);
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("refreshing this issuer's keys"), "{body}");
    let good = mint(Signer::Rsa, Some("rsa"), &claims());
    let (code, body) = curl(&[&url, "-H", &format!("Authorization: Bearer {good}")]);
    assert_eq!(code, 200, "{body}");
    let log = envoy.log();
    assert!(!log.contains("panicked"), "{log}");
    let line = log
        .lines()
        .find(|l| l.contains("refresh the keys of issuer"))
        .unwrap_or_else(|| panic!("no key refresh line:\n{log}"));
    println!("{line}");
    assert!(
        line.contains("cannot ask cluster \"kubeplex-xds\""),
        "{line}"
    );
}

/// `kubectl get --raw /version` drops the `/clusters/<ctx>` path but keeps
/// the kubeconfig's `tls-server-name`: a context's server name (SNI) picks
/// it when the path has no prefix.
#[test]
#[ignore = "needs the wasm build and Envoy; run with --ignored"]
fn the_tls_server_name_picks_the_cluster_without_a_prefix() {
    let mut config = smoke_config();
    config.contexts[1].server_name = "dev-b.clusters.gw.example".into();
    let b64 = base64::engine::general_purpose::STANDARD.encode(config.encode_to_vec());
    let upstream = Echo::start();
    let envoy = start_static(&b64, upstream.port);
    let port = envoy.port("gateway-tls");
    let token = mint(Signer::Rsa, Some("rsa"), &claims());
    let auth = format!("Authorization: Bearer {token}");
    let via = |host: &str, path: &str| {
        curl(&[
            "-k",
            "--resolve",
            &format!("{host}:{port}:127.0.0.1"),
            &format!("https://{host}:{port}{path}"),
            "-H",
            &auth,
        ])
    };
    // (status, echoed request) -> the echoed request, checked for `context`
    let routed_to = |(code, body): (u16, String), context: &str| {
        assert_eq!(code, 200, "{body}");
        let header = format!("x-kubeplex-cluster: ctx/{context}");
        assert!(body.to_ascii_lowercase().contains(&header), "{body}");
        body
    };
    let body = routed_to(via("dev-b.clusters.gw.example", "/version"), "dev-b");
    assert!(body.starts_with("GET /version HTTP/1.1"), "{body}");
    // the path prefix still wins over the server name
    routed_to(
        via("dev-b.clusters.gw.example", "/clusters/dev-a/version"),
        "dev-a",
    );
    // another server name selects nothing
    let (code, body) = via("localhost", "/version");
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("no cluster selected"), "{body}");
}

/// `n` keep-alive GETs on one connection; each must answer `want`.
fn hammer(port: u16, path: &str, tokens: &[String], n: usize, want: u16) {
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    // valgrind runs Envoy ~50 times slower, more on a busy machine
    let timeout = if envoy::callgrind() {
        30 * DEADLINE
    } else {
        Duration::from_secs(10)
    };
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    for i in 0..n {
        let auth = if tokens.is_empty() {
            String::new()
        } else {
            format!("authorization: Bearer {}\r\n", tokens[i % tokens.len()])
        };
        // one write per request: with Nagle and delayed ACKs, split writes
        // cost 40 ms each
        let request = format!("GET {path} HTTP/1.1\r\nhost: gw\r\n{auth}\r\n");
        writer.write_all(request.as_bytes()).unwrap();
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(
            status.contains(&format!(" {want} ")),
            "request {i}: {status}"
        );
        let mut len = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
    }
}

/// `n` GETs over one cleartext HTTP/2 connection, one stream at a time,
/// headers compressed as Go's client (kubectl) does: a repeated token is
/// indexed in the HPACK dynamic table (`h2c`). Each must answer 200.
fn hammer_h2(port: u16, path: &str, tokens: &[String], n: usize) {
    let timeout = if envoy::callgrind() {
        30 * DEADLINE
    } else {
        Duration::from_secs(10)
    };
    let mut connection = h2c::H2c::connect(port, timeout);
    for i in 0..n {
        let auth = (!tokens.is_empty()).then(|| format!("Bearer {}", tokens[i % tokens.len()]));
        connection.get("gw", path, auth.as_deref());
    }
}

/// One kind of request `cpu_per_request_in_envoy` measures.
struct Kind<'a> {
    label: &'static str,
    /// HTTP/2 as kubectl sends it ([`hammer_h2`]), else HTTP/1.1 keep-alive.
    h2: bool,
    port: u16,
    path: &'a str,
    tokens: &'a [String],
    status: u16,
}

impl<'a> Kind<'a> {
    fn new(
        label: &'static str,
        h2: bool,
        port: u16,
        path: &'a str,
        tokens: &'a [String],
        status: u16,
    ) -> Kind<'a> {
        Kind {
            label,
            h2,
            port,
            path,
            tokens,
            status,
        }
    }
}

/// Issue 16's target for a cached request, ≤ 60 k instructions over no
/// filter, with what "no filter" means spelled out: judged on HTTP/2 (how
/// kubectl talks to the gateway: Go's HPACK indexes the repeated token)
/// against Envoy without a filter receiving the same request and dropping
/// the token at the route, as the gateway never forwards it (forwarded, the
/// echo upstream would send it back: a cost no apiserver adds), so that the
/// figure is the filter's own cost. The other baselines beside it, the
/// HTTP/1.1 one for the history (no token: Envoy parsing the ~650-byte
/// header over HTTP/1.1 was charged to the filter). `delta(kind, base)`:
/// per-round differences.
fn print_cached_target(
    kinds: &[Kind<'_>],
    delta: impl Fn(&str, &str) -> Vec<f64>,
    instructions: bool,
) {
    const TARGET_K: f64 = 60.0;
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let rows = [
        (
            "HTTP/2, token indexed (kubectl), over no filter with the same request",
            "a: cached, H2",
            "no filter, H2 + token dropped",
        ),
        (
            "HTTP/2, over no filter forwarding the token (echoed back)",
            "a: cached, H2",
            "no filter, H2 + token",
        ),
        (
            "HTTP/2, over no filter without a token",
            "a: cached, H2",
            "no filter, H2",
        ),
        (
            "HTTP/1.1, over no filter with the token forwarded",
            "a: cached token",
            "no filter, H1 + token",
        ),
        (
            "HTTP/1.1, over no filter without a token (the figure before)",
            "a: cached token",
            "baseline (HTTP/1.1)",
        ),
        (
            "receiving the token, no filter: HTTP/2 (indexed), dropped at the route",
            "no filter, H2 + token dropped",
            "no filter, H2",
        ),
        (
            "receiving the token, no filter: HTTP/2 (indexed), forwarded and echoed",
            "no filter, H2 + token",
            "no filter, H2",
        ),
        (
            "receiving the token, no filter: HTTP/1.1",
            "no filter, H1 + token",
            "baseline (HTTP/1.1)",
        ),
        (
            "jwt_authn + cache, HTTP/2, over no filter with the same request",
            "jwt_authn + cache, H2",
            "no filter, H2 + token dropped",
        ),
    ];
    assert!(
        rows.iter()
            .all(|(_, a, b)| [a, b].iter().all(|l| kinds.iter().any(|k| k.label == **l)))
    );
    println!("cached request, over no filter (median of per-round differences):");
    for (what, kind, base) in rows {
        println!("  {what:<72} {:+6.1}", median(delta(kind, base)));
    }
    let judged = median(delta(rows[0].1, rows[0].2));
    if instructions {
        let verdict = if judged <= TARGET_K { "met" } else { "missed" };
        println!(
            "target (issue 16): a cached request ≤ {TARGET_K:.0} k instructions over no filter, \
             judged on the first line (kubectl's HTTP/2 request, the token indexed by HPACK, \
             against Envoy receiving the same request without a filter and not forwarding the \
             token: the difference is the filter's own work): +{judged:.1} k, {verdict}"
        );
    } else {
        println!("target (issue 16) is in instructions: KUBEPLEX_CALLGRIND=1 to judge it");
    }
}

/// Envoy CPU per request, all in one Envoy process (`envoy-bench.yaml`),
/// interleaved rounds, medians: no filter, an empty wasm filter, the filter
/// under test with a cached token (and refusing a request without one),
/// and a second build of it (`KUBEPLEX_WASM_B`, default: the same build,
/// so its difference from the first is the noise); then the filter seeing
/// each token for the first time (host signature check). Prints numbers;
/// asserts nothing about them (machine-dependent).
///
/// ```text
/// cargo build -p kubeplex-filter --target wasm32-wasip1 --profile wasm --example empty_filter
/// KUBEPLEX_WASM_B=/path/to/other.wasm KUBEPLEX_BENCH_ROUNDS=9 \
///   cargo test -p kubeplex-filter --test envoy_smoke -- --ignored --nocapture cpu_per_request
/// ```
#[test]
#[ignore = "a benchmark (minutes, prints numbers): run it by name with --ignored"]
fn cpu_per_request_in_envoy() {
    // the control plane's ordinary route timeout, as the bench's route has
    // it: the filter leaves the deadline out where that timeout ends the
    // request first
    let config = kubeplex_filter_core::config_pb::FilterConfig {
        request_timeout_seconds: 120,
        ..smoke_config()
    };
    let b64 = base64::engine::general_purpose::STANDARD.encode(config.encode_to_vec());
    let upstream = Echo::start();
    let empty = kubeplex_test_support::empty_filter_wasm();
    assert!(
        empty.exists(),
        "cargo build -p kubeplex-filter --target wasm32-wasip1 --profile wasm --example empty_filter"
    );
    let wasm_b = std::env::var_os("KUBEPLEX_WASM_B")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(filter_wasm);
    let envoy = envoy::start_envoy(
        "envoy-bench.yaml",
        &b64,
        &[
            ("UPSTREAM_PORT", upstream.port.to_string()),
            ("WASM_EMPTY", empty.display().to_string()),
            ("WASM_B", wasm_b.display().to_string()),
            ("ISSUER", mint::ISSUER.to_string()),
            ("AUDIENCE", mint::AUDIENCE.to_string()),
            ("JWKS", fixture_jwks()),
        ],
        &[
            "baseline",
            "baseline_strip",
            "empty",
            "gateway",
            "gateway-b",
            "jwt_authn",
            "jwt_authn_cache",
        ],
    );
    println!("a: {}\nb: {}", filter_wasm().display(), wasm_b.display());
    let pid = envoy.child.id();
    let path = "/api/v1/namespaces/default/pods";
    let gw_path = format!("/clusters/dev-a{path}");
    let token = vec![mint(Signer::Rsa, Some("rsa"), &claims())];
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n = env("KUBEPLEX_BENCH_N", 20_000);
    let rounds = env("KUBEPLEX_BENCH_ROUNDS", 7);

    // The worker thread's own CPU time (ns resolution): the filter runs
    // there, and the main thread's and log flusher's noise stays out. Under
    // callgrind: thousands of instructions, all threads.
    let callgrind = envoy::callgrind();
    let unit = if callgrind {
        "thousand instructions (callgrind, all of Envoy's threads)"
    } else {
        "µs of CPU of Envoy's worker thread"
    };
    let worker = if callgrind {
        0
    } else {
        envoy::worker_tid(pid).expect("Envoy's worker thread")
    };
    // `h2`: over HTTP/2 as kubectl sends it (only 200s), else HTTP/1.1
    let send = |h2: bool, port: u16, path: &str, tokens: &[String], n: usize, want: u16| {
        if h2 {
            assert_eq!(want, 200, "the HTTP/2 client reads 200s only");
            hammer_h2(port, path, tokens, n);
        } else {
            hammer(port, path, tokens, n, want);
        }
    };
    let measure = |port: u16, path: &str, tokens: &[String], n: usize, want: u16| {
        if callgrind {
            envoy.instructions_since_last_call();
            hammer(port, path, tokens, n, want);
            return envoy.instructions_since_last_call() as f64 / n as f64 / 1e3;
        }
        let c0 = envoy::thread_cpu_seconds(pid, worker);
        hammer(port, path, tokens, n, want);
        (envoy::thread_cpu_seconds(pid, worker) - c0) / n as f64 * 1e6
    };
    let measure_kind = |kind: &Kind<'_>, n: usize| {
        if callgrind {
            envoy.instructions_since_last_call();
            send(kind.h2, kind.port, kind.path, kind.tokens, n, kind.status);
            return envoy.instructions_since_last_call() as f64 / n as f64 / 1e3;
        }
        let c0 = envoy::thread_cpu_seconds(pid, worker);
        send(kind.h2, kind.port, kind.path, kind.tokens, n, kind.status);
        (envoy::thread_cpu_seconds(pid, worker) - c0) / n as f64 * 1e6
    };
    let strip_port = envoy.port("baseline_strip");
    let (base_port, empty_port, a_port, b_port) = (
        envoy.port("baseline"),
        envoy.port("empty"),
        envoy.port("gateway"),
        envoy.port("gateway-b"),
    );
    let (jwt_port, jwt_cache_port) = (envoy.port("jwt_authn"), envoy.port("jwt_authn_cache"));
    // What each kind sends where. The baseline (index 0) is issue 16's:
    // HTTP/1.1 keep-alive, the plain path, no token. kubectl talks HTTP/2
    // to the gateway, and Go's HPACK indexes the repeated token.
    let kind = Kind::new;
    let (p, gw, none, tok) = (path, gw_path.as_str(), &[][..], &token[..]);
    let kinds = [
        kind("baseline (HTTP/1.1)", false, base_port, p, none, 200),
        kind("no filter, H1 + token", false, base_port, p, tok, 200),
        kind("no filter, H2", true, base_port, p, none, 200),
        kind("no filter, H2 + token", true, base_port, p, tok, 200),
        kind(
            "no filter, H2 + token dropped",
            true,
            strip_port,
            p,
            tok,
            200,
        ),
        kind("empty filter", false, empty_port, p, none, 200),
        kind("a: cached token", false, a_port, gw, tok, 200),
        kind("a: cached, H2", true, a_port, gw, tok, 200),
        kind("b: cached token", false, b_port, gw, tok, 200),
        kind("a: no token (401)", false, a_port, gw, none, 401),
        kind("jwt_authn + cache", false, jwt_cache_port, gw, tok, 200),
        kind("jwt_authn + cache, H2", true, jwt_cache_port, gw, tok, 200),
    ];
    let index = |label: &str| kinds.iter().position(|k| k.label == label).unwrap();
    // warm up every path (VMs, connection pools, the token caches)
    for k in &kinds {
        send(k.h2, k.port, k.path, k.tokens, 500, k.status);
    }
    hammer(jwt_port, &gw_path, &token, 500, 200);

    // Interleaved rounds, median per kind: this machine is shared and noisy.
    let per = n / rounds;
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    for _ in 0..rounds {
        for (k, kind) in kinds.iter().enumerate() {
            samples[k].push(measure_kind(kind, per));
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let spread = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("[{lo:+.1} … {hi:+.1}]")
    };
    // per-round differences of kind `k` to kind `base` of the same round
    let delta = |k: usize, base: usize| -> Vec<f64> {
        samples[k]
            .iter()
            .zip(&samples[base])
            .map(|(x, b)| x - b)
            .collect()
    };
    println!(
        "{rounds} rounds of {per} requests; {unit} per request: median, and the median and range of per-round differences to the baseline"
    );
    println!("{:<24} {:7.1}", kinds[0].label, median(&samples[0]));
    for (k, kind) in kinds.iter().enumerate().skip(1) {
        let d = delta(k, 0);
        println!(
            "{:<24} {:7.1}   {:+6.1} {}",
            kind.label,
            median(&samples[k]),
            median(&d),
            spread(&d)
        );
    }
    let ab = delta(index("b: cached token"), index("a: cached token"));
    println!(
        "b − a (same round)        {:+6.1} {}",
        median(&ab),
        spread(&ab)
    );
    print_cached_target(&kinds, |k, base| delta(index(k), index(base)), callgrind);

    // first sight of each token: distinct jti per token
    for (label, signer, kid) in [
        ("RS256", Signer::Rsa, "rsa"),
        ("ES256", Signer::P256, "p256"),
        ("EdDSA", Signer::Ed25519, "ed"),
    ] {
        let fresh: Vec<String> = (0..if callgrind { 200 } else { 2_000 })
            .map(|i| {
                let mut c = claims();
                c["jti"] = json!(format!("fresh-{label}-{i}"));
                mint(signer, Some(kid), &c)
            })
            .collect();
        // the worker's user / system split and page faults beside the
        // figure (issue 16: first sight cost more in CPU than in
        // instructions)
        let split = |port: u16| {
            let before = (!callgrind).then(|| envoy::ThreadStat::read(pid, worker));
            let figure = measure(port, &gw_path, &fresh, fresh.len(), 200);
            let spent = before.map(|b| envoy::ThreadStat::read(pid, worker).since(&b));
            (figure, spent)
        };
        let (cold, cold_split) = split(a_port);
        // jwt_authn without its cache has nothing to remember: the same tokens
        let (native, native_split) = split(jwt_port);
        for (who, spent) in [("kubeplex", cold_split), ("jwt_authn", native_split)] {
            if let Some(t) = spent {
                let per = |x: f64| x / fresh.len() as f64 * 1e6;
                println!(
                    "   {label} {who}: worker user {:.1} µs, system {:.1} µs, {:.2} minor faults per request",
                    per(t.user),
                    per(t.system),
                    t.minor_faults as f64 / fresh.len() as f64
                );
            }
        }
        let base = median(&samples[0]);
        println!(
            "a: new {label} token each request: {cold:6.1} {unit} per request (+{:.1} over the baseline median); \
             jwt_authn (no cache) on the same tokens +{:.1}: {:.2}×",
            cold - base,
            native - base,
            (cold - base) / (native - base)
        );
    }
}

/// The gateway's Envoy configuration, tuned one change at a time, in
/// instructions (`envoy-tuning.yaml`: the connection manager
/// `translate/listener.rs` configures, the kubeplex filter, one listener per
/// change): kubectl's request (HTTP/2, the token indexed by HPACK, a cached
/// token) on each, interleaved rounds; prints each listener's median and
/// the median of per-round differences to the unchanged `gateway`.
/// Asserts nothing about the numbers.
///
/// ```text
/// KUBEPLEX_CALLGRIND=1 cargo test -p kubeplex-filter --test envoy_smoke -- --ignored --nocapture gateway_tuning
/// ```
#[test]
#[ignore = "a benchmark (minutes, prints numbers): run it by name with --ignored"]
fn gateway_tuning_in_envoy() {
    let config = kubeplex_filter_core::config_pb::FilterConfig {
        request_timeout_seconds: 120,
        ..smoke_config()
    };
    let b64 = base64::engine::general_purpose::STANDARD.encode(config.encode_to_vec());
    let upstream = Echo::start();
    let listeners = [
        "gateway",
        "gateway_again",
        "dynamic_stats",
        "envoy_headers",
        "plain_request_id",
        "h2_edge_limits",
        "no_path_normalization",
        "allow_underscores",
        "no_headers_timeout",
        "baseline",
    ];
    let envoy = envoy::start_envoy(
        "envoy-tuning.yaml",
        &b64,
        &[("UPSTREAM_PORT", upstream.port.to_string())],
        &listeners,
    );
    let pid = envoy.child.id();
    let callgrind = envoy::callgrind();
    let worker = if callgrind {
        0
    } else {
        envoy::worker_tid(pid).expect("Envoy's worker thread")
    };
    let token = vec![mint(Signer::Rsa, Some("rsa"), &claims())];
    let gw_path = "/clusters/dev-a/api/v1/namespaces/default/pods";
    let path_of = |listener: &str| {
        if listener == "baseline" {
            "/api/v1/namespaces/default/pods"
        } else {
            gw_path
        }
    };
    let rounds = std::env::var("KUBEPLEX_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3usize);
    let per = if callgrind { 300 } else { 3_000 };
    let measure = |listener: &str, n: usize| {
        let port = envoy.port(listener);
        if callgrind {
            envoy.instructions_since_last_call();
            hammer_h2(port, path_of(listener), &token, n);
            return envoy.instructions_since_last_call() as f64 / n as f64 / 1e3;
        }
        let c0 = envoy::thread_cpu_seconds(pid, worker);
        hammer_h2(port, path_of(listener), &token, n);
        (envoy::thread_cpu_seconds(pid, worker) - c0) / n as f64 * 1e6
    };
    for listener in listeners {
        hammer_h2(envoy.port(listener), path_of(listener), &token, 200);
    }
    let mut samples = vec![Vec::new(); listeners.len()];
    for _ in 0..rounds {
        for (k, listener) in listeners.iter().enumerate() {
            samples[k].push(measure(listener, per));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let unit = if callgrind {
        "k instructions (callgrind, all threads)"
    } else {
        "µs of the worker's CPU"
    };
    println!(
        "{rounds} rounds of {per} HTTP/2 requests (kubectl's: token indexed, cached); {unit} per request, \
         and the median per-round difference to `gateway` (translate's connection manager)"
    );
    for (k, listener) in listeners.iter().enumerate() {
        let d: Vec<f64> = samples[k]
            .iter()
            .zip(&samples[0])
            .map(|(x, g)| x - g)
            .collect();
        println!(
            "{listener:<24} {:7.1}   {:+6.1}",
            median(samples[k].clone()),
            median(d)
        );
    }
}

/// A config the filter cannot decode is refused by `on_configure`, and
/// Envoy refuses to serve with it (static bootstrap: it exits).
#[test]
#[ignore = "needs the wasm build and Envoy; run with --ignored"]
fn undecodable_config_is_refused() {
    let wasm = filter_wasm();
    let dir = envoy::test_dir("badcfg");
    let bootstrap = std::fs::read_to_string(envoy::test_data("envoy-static.yaml"))
        .unwrap()
        .replace("{{ACCESS_LOG}}", dir.join("access.log").to_str().unwrap())
        .replace("{{WASM}}", wasm.to_str().unwrap())
        // 0xff 0xff 0xff: not a protobuf message
        .replace("{{CONFIG_B64}}", "////")
        .replace("{{TLS_CERT}}", "/nonexistent.crt")
        .replace("{{TLS_KEY}}", "/nonexistent.key")
        .replace("{{UPSTREAM_PORT}}", "9");
    std::fs::write(dir.join("envoy.yaml"), bootstrap).unwrap();
    let log = std::fs::File::create(dir.join("envoy.log")).unwrap();
    let mut child = Command::new(kubeplex_test_support::envoy())
        .arg("-c")
        .arg(dir.join("envoy.yaml"))
        .args(["--disable-hot-restart", "--concurrency", "1", "-l", "info"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start envoy");
    let status = wait_exit(
        &mut child,
        "Envoy with an undecodable filter config",
        DEADLINE,
    );
    let text = std::fs::read_to_string(dir.join("envoy.log")).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("kubeplex: config rejected"))
        .unwrap_or_else(|| panic!("no rejection logged:\n{text}"));
    println!("Envoy exited with {status}; filter log:\n{line}");
    assert!(!status.success());
}

/// kubectl against the TLS listener: refusals read as Kubernetes errors.
/// `get --raw` shows the Status message the way every non-discovery request
/// does; `get pods` on a fresh discovery cache shows client-go's generic
/// discovery error (it reads discovery with `Raw()`, which never decodes a
/// Status, whoever the server is).
#[test]
#[ignore = "needs the wasm build, Envoy and kubectl; run with --ignored"]
fn kubectl_prints_the_refusals() {
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "/usr/bin/kubectl".into());
    let config = smoke_config();
    let b64 = base64::engine::general_purpose::STANDARD.encode(config.encode_to_vec());
    let upstream = Echo::start();
    let envoy = start_static(&b64, upstream.port);
    let kubeconfig = envoy.dir.join("empty-kubeconfig");
    std::fs::write(&kubeconfig, "").unwrap();
    let cache = envoy.dir.join("kube-cache");
    let run = |server_path: &str, token: &str, args: &[&str]| {
        let out = Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(&cache)
            .arg(format!(
                "--server=https://127.0.0.1:{}{server_path}",
                envoy.port("gateway-tls")
            ))
            .arg(format!("--token={token}"))
            .args(["--insecure-skip-tls-verify", "--request-timeout=10s"])
            .args(args)
            .output()
            .expect("kubectl");
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        // the last line is kubectl's verdict (client-go logs retries above it)
        let verdict = stderr.lines().last().unwrap_or_default().to_string();
        let warnings: Vec<String> = stderr
            .lines()
            .filter(|l| l.starts_with("Warning: "))
            .map(str::to_string)
            .collect();
        (verdict, warnings)
    };
    let mut expired = claims();
    expired["exp"] = json!(now() - 3600);
    let expired = mint(Signer::Rsa, Some("rsa"), &expired);
    let good = mint(Signer::Rsa, Some("rsa"), &claims());
    let raw = ["get", "--raw", "/api/v1/namespaces/default/pods"];

    let (e, _) = run("/clusters/dev-a", &expired, &raw);
    println!("$ kubectl get --raw ...   # expired token\n{e}");
    assert!(
        e.starts_with("error: You must be logged in to the server (token expired at "),
        "{e}"
    );

    let (e, warnings) = run("/clusters/dev-a", &expired, &["get", "pods"]);
    println!(
        "$ kubectl get pods   # expired token, fresh discovery cache\n{}\n{e}",
        warnings.join("\n")
    );
    assert!(
        e.starts_with("error: You must be logged in to the server ("),
        "{e}"
    );
    // the discovery error hides the body; the Warning header does not
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("Warning: token expired at ")),
        "{warnings:?}"
    );

    let (e, _) = run(
        "/clusters/dev-a",
        &good,
        &[
            "--as=admin",
            "get",
            "--raw",
            "/api/v1/namespaces/default/pods",
        ],
    );
    println!("$ kubectl --as=admin get --raw ...\n{e}");
    assert_eq!(
        e,
        "Error from server (Forbidden): impersonation headers are not allowed through the gateway (Impersonate-User)"
    );

    let (e, warnings) = run("/clusters/dev-a", &good, &["--as=admin", "get", "pods"]);
    println!(
        "$ kubectl --as=admin get pods\n{}\n{e}",
        warnings.join("\n")
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("impersonation headers are not allowed")),
        "{warnings:?}"
    );

    // `--raw` paths are absolute: the server URL's path is not prepended
    let (e, _) = run(
        "",
        &good,
        &[
            "get",
            "--raw",
            "/clusters/nope/api/v1/namespaces/default/pods",
        ],
    );
    println!("$ kubectl get --raw /clusters/nope/api/v1/namespaces/default/pods\n{e}");
    assert_eq!(
        e,
        "Error from server (NotFound): context \"nope\" not found"
    );

    let (e, _) = run("", &good, &raw);
    println!(
        "$ kubectl get --raw /api/v1/namespaces/default/pods   # no prefix, no ctx claim\n{e}"
    );
    assert!(
        e.starts_with("Error from server (NotFound): no cluster selected: "),
        "{e}"
    );
}

/// The issuer's RS256, ES256 and EdDSA fixture keys as a JWKS (kids as
/// `mint` signs with), for `jwt_authn` in `envoy-bench.yaml`.
fn fixture_jwks() -> String {
    use rsa::traits::PublicKeyParts as _;
    let keys = mint::keys();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let rsa = keys.rsa.to_public_key();
    let point = keys.p256.verifying_key().to_encoded_point(false);
    json!({"keys": [
        {"kty": "RSA", "kid": "rsa", "alg": "RS256", "use": "sig",
         "n": b64(&rsa.n().to_bytes_be()), "e": b64(&rsa.e().to_bytes_be())},
        {"kty": "EC", "kid": "p256", "alg": "ES256", "use": "sig", "crv": "P-256",
         "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())},
        {"kty": "OKP", "kid": "ed", "alg": "EdDSA", "use": "sig", "crv": "Ed25519",
         "x": b64(&keys.ed25519.verifying_key().to_bytes())},
    ]})
    .to_string()
}
