use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// A server that answers each connection with its name, then echoes.
async fn named_server(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = conn.write_all(name.as_bytes()).await;
                let mut buf = [0u8; 64];
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 || conn.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// What the Service's endpoint says first; None when the connection is
/// closed without a word.
async fn greeting(conn: &mut TcpStream) -> Option<String> {
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
        .await
        .expect("an answer or a close");
    match read {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            let mut rest = [0u8; 1];
            conn.read_exact(&mut rest).await.ok()?;
            Some(format!("{}{}", buf[0] as char, rest[0] as char))
        }
    }
}

#[tokio::test]
async fn connections_spread_over_the_endpoints_in_the_service_now() {
    let (a, b) = (named_server("aa").await, named_server("bb").await);
    let service = Service::start("127.0.0.1:0".parse().unwrap(), vec![a, b])
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let mut conn = TcpStream::connect(service.addr()).await.unwrap();
        seen.push(greeting(&mut conn).await.unwrap());
    }
    seen.sort();
    assert_eq!(seen, ["aa", "aa", "bb", "bb"]);
    assert_eq!(service.handed(), [(a, 2), (b, 2)]);

    service.set_endpoints(vec![b]);
    let mut conn = TcpStream::connect(service.addr()).await.unwrap();
    assert_eq!(greeting(&mut conn).await.as_deref(), Some("bb"));
    conn.write_all(b"hi").await.unwrap();
    let mut echo = [0u8; 2];
    conn.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"hi");

    service.cut_connections();
    assert_eq!(greeting(&mut conn).await, None, "cut");
    service.set_endpoints(vec![]);
    let mut conn = TcpStream::connect(service.addr()).await.unwrap();
    assert_eq!(greeting(&mut conn).await, None, "no endpoints");
    assert_eq!(service.rejected(), 1);
}
