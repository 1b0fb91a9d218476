use std::collections::HashMap;
use std::sync::Mutex;

use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use tokio::net::TcpListener;

use super::*;

/// A server answering `status` to everything and counting each
/// `Authorization` value it saw; stops with the runtime.
async fn server(status: u16) -> (SocketAddr, Arc<Mutex<HashMap<String, usize>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let seen_by_server = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let seen = seen_by_server.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let auth = req
                        .headers()
                        .get(AUTHORIZATION)
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default();
                    *seen.lock().unwrap().entry(auth).or_insert(0) += 1;
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from_static(b"hello")))
                                .unwrap(),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

fn plan(addr: SocketAddr, tokens: TokenFeed, expect_status: u16) -> LoadPlan {
    LoadPlan {
        label: "test".into(),
        addr,
        transport: Transport::Plain,
        path: "/x".into(),
        host: "test".into(),
        tokens,
        connections: 3,
        duration: Duration::from_secs(30),
        expect_status,
    }
}

#[tokio::test]
async fn each_token_is_sent_exactly_once() {
    let (addr, seen) = server(200).await;
    let tokens: Vec<String> = (0..25).map(|i| format!("t{i}")).collect();
    let outcome = run(&plan(addr, TokenFeed::each_once(&tokens).unwrap(), 200))
        .await
        .unwrap();
    assert_eq!(outcome.requests, 25);
    assert_eq!(outcome.latencies_us.len(), 25);
    assert!(
        outcome.latencies_us.windows(2).all(|w| w[0] <= w[1]),
        "sorted"
    );
    assert_eq!(outcome.body_bytes, 25 * 5);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 25);
    for t in &tokens {
        assert_eq!(seen.get(&format!("Bearer {t}")), Some(&1), "{t}");
    }
}

#[tokio::test]
async fn a_same_token_run_lasts_its_duration() {
    let (addr, seen) = server(200).await;
    let mut p = plan(addr, TokenFeed::same("one").unwrap(), 200);
    p.duration = Duration::from_millis(200);
    let outcome = run(&p).await.unwrap();
    assert!(outcome.requests > 0);
    assert!(
        outcome.wall >= Duration::from_millis(200),
        "{:?}",
        outcome.wall
    );
    assert!(outcome.requests_per_second() > 0.0);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.keys().collect::<Vec<_>>(), vec!["Bearer one"]);
    assert_eq!(seen["Bearer one"] as u64, outcome.requests);
}

#[tokio::test]
async fn an_unexpected_status_fails_the_run() {
    let (addr, _) = server(401).await;
    let err = run(&plan(addr, TokenFeed::same("x").unwrap(), 200))
        .await
        .unwrap_err();
    match err {
        BenchError::UnexpectedStatus {
            status,
            expected,
            body,
            ..
        } => {
            assert_eq!((status, expected), (401, 200));
            assert_eq!(body, "hello");
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn a_closed_port_is_a_client_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = run(&plan(
        SocketAddr::from(([127, 0, 0, 1], port)),
        TokenFeed::None,
        200,
    ))
    .await
    .expect_err("connect must fail");
    assert!(matches!(err, BenchError::Client(_)), "{err}");
}
