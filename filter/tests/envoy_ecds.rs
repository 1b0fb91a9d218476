//! The filter under config pushes, in real Envoy: the config arrives by
//! ECDS (from a watched file, `test_data/envoy-ecds.yaml`), as the control
//! plane sends it. A push ends the open streams it no longer authorizes; an
//! unknown `kid` of a remote-keys issuer makes the filter call
//! `KeyRefresh/RefreshKeys` on the `kubeplex-xds` cluster. Ignored by
//! default: it needs the wasm build and Envoy.
//!
//! ```text
//! cargo build -p kubeplex-filter --target wasm32-wasip1 --profile wasm
//! cargo test -p kubeplex-filter --test envoy_ecds -- --ignored --nocapture
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use prost::Message;
use serde_json::{Value, json};

#[path = "../test_support/envoy.rs"]
mod envoy;
#[path = "../../filter-core/test_support/mint.rs"]
mod mint;

use envoy::{DEADLINE, Echo, Envoy, STREAM_LIFETIME, curl};
use kubeplex_filter_core::config_pb as pb;
use kubeplex_proto::admin::v1::RefreshKeysRequest;
use kubeplex_test_support::wait_for;
use mint::{Signer, mint};

fn b64(config: &pb::FilterConfig) -> String {
    base64::engine::general_purpose::STANDARD.encode(config.encode_to_vec())
}

fn start(config: &pb::FilterConfig, upstream: &Echo) -> Envoy {
    envoy::start_envoy(
        "envoy-ecds.yaml",
        &b64(config),
        &[("UPSTREAM_PORT", upstream.port.to_string())],
        &["gateway"],
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn token(jti: &str) -> String {
    token_from(mint::ISSUER, Signer::Rsa, "rsa", jti)
}

fn token_from(issuer: &str, signer: Signer, kid: &str, jti: &str) -> String {
    let now = now();
    let mut c = mint::claims();
    c["iss"] = json!(issuer);
    c["iat"] = json!(now - 10);
    c["nbf"] = json!(now - 10);
    c["exp"] = json!(now + 600);
    c["jti"] = json!(jti);
    mint(signer, Some(kid), &c)
}

/// A watch through the gateway, read on its own thread: how many events
/// arrived, when the last one did, and when the stream ended.
struct Watch {
    state: Arc<Mutex<WatchState>>,
    curl: Option<std::process::Child>,
}

#[derive(Default)]
struct WatchState {
    events: usize,
    last_event: Option<Instant>,
    ended: Option<Instant>,
}

impl WatchState {
    fn event(&mut self) {
        self.events += 1;
        self.last_event = Some(Instant::now());
    }
}

fn watch_path(context: &str) -> String {
    format!("/clusters/{context}/api/v1/namespaces/default/pods?watch=1")
}

impl Watch {
    /// Over HTTP/1.1 (how exec, attach and port-forward upgrades travel).
    fn open_http1(port: u16, context: &str, token: &str, rid: &str) -> Watch {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let request = format!(
            "GET {} HTTP/1.1\r\nhost: gw\r\nx-request-id: {rid}\r\nauthorization: Bearer {token}\r\n\r\n",
            watch_path(context)
        );
        (&stream).write_all(request.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "{context}: {status}");
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
        }
        let state: Arc<Mutex<WatchState>> = Arc::default();
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            let start = Instant::now();
            // chunked: a size line, then the event line and its CRLF
            while start.elapsed() < STREAM_LIFETIME + Duration::from_secs(5) {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) => break,
                    Ok(_) if line.starts_with("event ") => shared.lock().unwrap().event(),
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
            shared.lock().unwrap().ended = Some(Instant::now());
        });
        Watch { state, curl: None }
    }

    /// Over HTTP/2 (how kubectl's watches travel over TLS), with curl.
    fn open_http2(port: u16, context: &str, token: &str, rid: &str) -> Watch {
        let mut child = std::process::Command::new("curl")
            .args(["-sN", "--http2-prior-knowledge", "--max-time"])
            .arg((STREAM_LIFETIME.as_secs() + 5).to_string())
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(["-H", &format!("x-request-id: {rid}")])
            .arg(format!("http://127.0.0.1:{port}{}", watch_path(context)))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("curl");
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let state: Arc<Mutex<WatchState>> = Arc::default();
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if line.starts_with("event ") => shared.lock().unwrap().event(),
                    Ok(_) => {}
                }
            }
            shared.lock().unwrap().ended = Some(Instant::now());
        });
        Watch {
            state,
            curl: Some(child),
        }
    }

    fn events(&self) -> usize {
        self.state.lock().unwrap().events
    }

    fn last_event(&self) -> Option<Instant> {
        self.state.lock().unwrap().last_event
    }

    fn ended(&self) -> Option<Instant> {
        self.state.lock().unwrap().ended
    }

    /// Wait until the watch has seen `n` events.
    fn wait_events(&self, what: &str, n: usize) {
        wait_for(what, DEADLINE, || (self.events() >= n).then_some(()));
    }

    /// Still open and still receiving events over `period`.
    fn assert_alive(&self, what: &str, period: Duration) {
        let before = self.events();
        std::thread::sleep(period);
        assert!(self.ended().is_none(), "{what} was ended");
        assert!(
            self.events() > before,
            "{what} stopped receiving events ({before} → {})",
            self.events()
        );
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(mut child) = self.curl.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Envoy's default `delayed_close_timeout`: when it closes an HTTP/1.1
/// connection itself (a reset mid-response), it waits this long for the
/// client to close first. The stream's data stops at once.
const DELAYED_CLOSE: Duration = Duration::from_secs(1);

fn stat(envoy: &Envoy, prefix: &str) -> Option<f64> {
    envoy
        .kubeplex_stats()
        .iter()
        .find_map(|l| l.strip_prefix(prefix)?.trim().parse().ok())
}

#[test]
#[ignore = "needs the wasm build and Envoy; run with --ignored"]
fn a_new_config_ends_the_streams_it_no_longer_authorizes() {
    let upstream = Echo::start();
    let v1 = mint::config();
    let envoy = start(&v1, &upstream);
    let port = envoy.port("gateway");
    let revoked_later = token("watch-revoked");
    let kept = token("watch-kept");
    let on_b = token("watch-on-dev-b");

    // a (HTTP/2) and a1 (HTTP/1.1) will be revoked; b stays; c's context goes
    let a = Watch::open_http2(port, "dev-a", &revoked_later, "rid-watch-a");
    let a1 = Watch::open_http1(port, "dev-a", &revoked_later, "rid-watch-a1");
    let b = Watch::open_http1(port, "dev-a", &kept, "rid-watch-b");
    let c = Watch::open_http2(port, "dev-b", &on_b, "rid-watch-c");
    for (w, what) in [
        (&a, "watch a"),
        (&a1, "watch a1"),
        (&b, "watch b"),
        (&c, "watch c"),
    ] {
        w.wait_events(what, 2);
    }

    // 1. revoke a's token
    let mut v2 = v1.clone();
    v2.version = "test-2".into();
    v2.revocations.push(pb::Revocation {
        jti: "watch-revoked".into(),
        expires_at: 0,
        reason: "laptop stolen".into(),
    });
    let pushed = Instant::now();
    envoy.push_config("2", &b64(&v2));
    let ended = wait_for("watch a to end", DEADLINE, || a.ended());
    let took = ended - pushed;
    println!("revocation push → HTTP/2 watch ended in {took:?}");
    assert!(
        took < Duration::from_secs(1),
        "the revoked watch lived {took:?} after the push"
    );
    let ended1 = wait_for("watch a1 to end", DEADLINE, || a1.ended());
    let last1 = a1.last_event().unwrap();
    println!(
        "revocation push → HTTP/1.1 watch: last event after {:?}, connection closed after {:?}",
        last1.saturating_duration_since(pushed),
        ended1 - pushed
    );
    assert!(
        last1 < pushed + Duration::from_secs(1),
        "the revoked HTTP/1.1 watch kept delivering"
    );
    assert!(ended1 - pushed < Duration::from_secs(1) + DELAYED_CLOSE + Duration::from_millis(500));
    let get = |t: &str| {
        curl(&[
            &format!("http://127.0.0.1:{port}/clusters/dev-a/api"),
            "-H",
            &format!("Authorization: Bearer {t}"),
        ])
    };
    let (code, body) = get(&revoked_later);
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("laptop stolen"), "{body}");
    b.assert_alive("watch b (another token)", Duration::from_millis(1500));
    c.assert_alive("watch c (another token)", Duration::from_millis(300));

    // 2. remove dev-b: c ends, b stays
    let mut v3 = v2.clone();
    v3.version = "test-3".into();
    v3.contexts.retain(|c| c.name != "dev-b");
    let pushed = Instant::now();
    envoy.push_config("3", &b64(&v3));
    let ended = wait_for("watch c to end", DEADLINE, || c.ended());
    let took = ended - pushed;
    println!("context removal push → watch c ended in {took:?}");
    assert!(took < Duration::from_secs(1), "watch c lived {took:?}");
    b.assert_alive("watch b (its context stays)", Duration::from_millis(1500));
    // an unrelated push (a new version of the same content) ends nothing
    let mut v4 = v3.clone();
    v4.version = "test-4".into();
    envoy.push_config("4", &b64(&v4));
    wait_for("config test-4", DEADLINE, || {
        envoy.log().contains("config test-4 loaded").then_some(())
    });
    b.assert_alive("watch b (unrelated push)", Duration::from_millis(500));

    // counters and log lines, one per ended stream, without tokens
    assert_eq!(
        stat(&envoy, "kubeplex_streams_ended_total{reason=\"revoked\"}"),
        Some(2.0)
    );
    assert_eq!(
        stat(
            &envoy,
            "kubeplex_streams_ended_total{reason=\"context_removed\"}"
        ),
        Some(1.0)
    );
    let log = envoy.log();
    let ended_lines: Vec<&str> = log.lines().filter(|l| l.contains("ended stream")).collect();
    println!("{}", ended_lines.join("\n"));
    assert_eq!(ended_lines.len(), 3, "{log}");
    for line in &ended_lines[..2] {
        assert!(line.contains("jti \"watch-revoked\"") && line.ends_with("revoked"));
    }
    assert!(
        ended_lines[2].contains("cluster \"dev-b\"") && ended_lines[2].ends_with("context_removed")
    );
    for t in [&revoked_later, &kept, &on_b] {
        assert!(!log.contains(t.as_str()), "a token reached Envoy's log");
    }
    assert!(!log.contains("panicked"));

    // the ended streams still leave valid audit lines
    drop(b);
    let lines = envoy.access_log_lines(4);
    let records: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for (rid, ended, by) in [
        ("rid-watch-a", "revoked", "test-2"),
        ("rid-watch-a1", "revoked", "test-2"),
        ("rid-watch-c", "context_removed", "test-3"),
    ] {
        let r = records
            .iter()
            .find(|r| r["request_id"] == rid)
            .unwrap_or_else(|| panic!("no line for {rid}: {records:#?}"));
        println!("{r}");
        assert_eq!(r["decision"], "allow", "{r}");
        assert_eq!(r["verb"], "watch", "{r}");
        assert_eq!(r["config_version"], "test-1", "authorized by");
        assert_eq!(r["stream_ended"], ended, "{r}");
        assert_eq!(r["stream_ended_by"], by, "{r}");
    }
}

/// The gRPC frames the upstream saw on the KeyRefresh method.
fn refresh_calls(upstream: &Echo) -> Vec<(String, RefreshKeysRequest)> {
    upstream
        .received("POST /kubeplex.admin.v1.KeyRefresh/RefreshKeys ")
        .into_iter()
        .map(|r| {
            // gRPC framing: compressed flag, 4-byte big-endian length
            assert!(r.body.len() >= 5, "short gRPC body: {:?}", r.body);
            assert_eq!(r.body[0], 0, "uncompressed");
            let len = u32::from_be_bytes(r.body[1..5].try_into().unwrap()) as usize;
            let message = RefreshKeysRequest::decode(&r.body[5..5 + len]).unwrap();
            (r.head, message)
        })
        .collect()
}

#[test]
#[ignore = "needs the wasm build and Envoy; run with --ignored"]
fn an_unknown_kid_asks_the_control_plane_for_keys() {
    let upstream = Echo::start();
    let mut config = mint::config();
    config.issuers[0].remote_keys = true;
    let mut fixed = mint::issuer();
    fixed.url = "https://static.example".into();
    config.issuers.push(fixed);
    let envoy = start(&config, &upstream);
    let port = envoy.port("gateway");
    let get = |t: &str| {
        curl(&[
            &format!("http://127.0.0.1:{port}/clusters/dev-a/api"),
            "-H",
            &format!("Authorization: Bearer {t}"),
        ])
    };

    // a burst of tokens naming a key the filter does not have
    let rotated = token_from(mint::ISSUER, Signer::RsaOther, "rotated-2026", "r1");
    let burst = Instant::now();
    for _ in 0..5 {
        let (code, body) = get(&rotated);
        assert_eq!(code, 401, "{body}");
        let status: Value = serde_json::from_str(&body).unwrap();
        let message = status["message"].as_str().unwrap();
        assert!(
            message.ends_with(
                "; the gateway is refreshing this issuer's keys, retry in a few seconds"
            ),
            "{message}"
        );
    }
    let burst_took = burst.elapsed();
    let first = wait_for("the RefreshKeys call", DEADLINE, || {
        refresh_calls(&upstream).into_iter().next()
    });
    let first_seen = Instant::now();
    println!("--- RefreshKeys call as the upstream got it\n{}", first.0);
    assert_eq!(first.1.issuer, mint::ISSUER);
    assert_eq!(first.1.kid, "rotated-2026");
    let head = first.0.to_ascii_lowercase();
    assert!(head.contains("content-type: application/grpc"), "{head}");
    assert!(head.contains("grpc-timeout: "), "{head}");

    // the static issuer: same refusal without the promise, and no call
    let fixed_unknown = token_from("https://static.example", Signer::Rsa, "nope", "s1");
    let (code, body) = get(&fixed_unknown);
    assert_eq!(code, 401);
    assert!(body.contains("no key with kid \\\"nope\\\""), "{body}");
    assert!(!body.contains("refreshing"), "{body}");

    // at most one call per issuer per 2 s: a burst inside the window is one
    // call (give stray calls time to arrive before counting)
    std::thread::sleep(Duration::from_millis(300));
    let calls = refresh_calls(&upstream);
    if burst_took < Duration::from_millis(1500) {
        assert_eq!(calls.len(), 1, "{calls:?}");
    } else {
        println!("(slow machine: burst took {burst_took:?})");
        assert!(calls.len() <= 1 + (burst_took.as_millis() / 2000) as usize);
    }
    let before = calls.len();

    // after the window, the next unknown kid asks again
    let window_end = first_seen + Duration::from_millis(2100);
    std::thread::sleep(window_end.saturating_duration_since(Instant::now()));
    let (code, _) = get(&rotated);
    assert_eq!(code, 401);
    let calls = wait_for("a second RefreshKeys call", DEADLINE, || {
        let calls = refresh_calls(&upstream);
        (calls.len() > before).then_some(calls)
    });
    assert!(calls.iter().all(|(_, m)| m.issuer == mint::ISSUER));
    let log = envoy.log();
    assert!(
        log.contains(
            "asked the control plane to refresh the keys of issuer \"https://issuer.example\""
        ),
        "{log}"
    );
    assert!(!log.contains("panicked"));
}
