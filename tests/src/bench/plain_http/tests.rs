use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;

use super::*;

#[test]
fn chunked_bodies_are_joined() {
    assert_eq!(
        dechunk("5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n").as_deref(),
        Some("hello world")
    );
    assert_eq!(dechunk("0\r\n\r\n").as_deref(), Some(""));
    assert_eq!(dechunk("5\r\nhel").as_deref(), None, "truncated");
    assert_eq!(dechunk("zz\r\nhello\r\n").as_deref(), None, "bad size");
}

/// One connection, one canned response.
fn serve_once(response: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
            line.clear();
        }
        conn.write_all(response.as_bytes()).unwrap();
    });
    addr
}

#[test]
fn get_reads_status_and_body() {
    let addr = serve_once(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nLIV\r\n2\r\nE\n\r\n0\r\n\r\n",
    );
    assert_eq!(
        get(&addr, "/ready", Duration::from_secs(5)),
        Some((200, "LIVE\n".to_string()))
    );
    let addr = serve_once("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nNOPE");
    assert_eq!(
        get(&addr, "/ready", Duration::from_secs(5)),
        Some((503, "NOPE".to_string()))
    );
}

#[test]
fn nobody_listening_is_none() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // the listener is dropped: the port refuses connections
    assert_eq!(
        get(&format!("127.0.0.1:{port}"), "/", Duration::from_secs(2)),
        None
    );
}
