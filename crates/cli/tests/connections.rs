//! Connection hygiene on every HTTP listener (`[http]`): connections that
//! send no request head in time are closed, idle keep-alive ones too, and
//! a client address past its share of connections is turned away while
//! the others are served.

mod common;

use std::time::Duration;

use common::{Endpoint, TestNode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (bounded): what it sent.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut got)).await;
    assert!(
        read.is_ok(),
        "the server kept the connection open past 10 s"
    );
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_send_nothing_are_closed_after_the_idle_timeout() {
    let node = TestNode::start_with("[http]\nidle_timeout_secs = 1\n").await;
    // A client that connects and never sends a byte.
    let mut silent = TcpStream::connect(node.addr()).await.unwrap();
    let started = std::time::Instant::now();
    until_closed(&mut silent).await;
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "closed by the timeout, not at once"
    );
    // A keep-alive connection, idle after its answer.
    let mut kept = TcpStream::connect(node.addr()).await.unwrap();
    let request = format!(
        "GET /api/v1/openapi.json HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\n\r\n",
        node.addr()
    );
    kept.write_all(request.as_bytes()).await.unwrap();
    let answer = until_closed(&mut kept).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{}",
        &text[..text.len().min(200)]
    );
    assert!(text.contains("\"openapi\""), "the whole answer came first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_past_its_connections_is_turned_away_and_the_rest_are_served() {
    let node = TestNode::start_with("[http]\nmax_connections_per_ip = 2\n").await;
    let first = TcpStream::connect(node.addr()).await.unwrap();
    let second = TcpStream::connect(node.addr()).await.unwrap();
    // Both are held (the default idle timeout is 30 s): a third is closed
    // as soon as it is accepted, without an answer.
    let mut third = TcpStream::connect(node.addr()).await.unwrap();
    let _ = third
        .write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let refused = until_closed(&mut third).await;
    assert!(refused.is_empty(), "{}", String::from_utf8_lossy(&refused));
    // One goes: a new connection is served again.
    drop(first);
    let mut served = None;
    for _ in 0..50 {
        let r = node.http.get(node.url("/openapi.json")).send().await;
        if let Ok(r) = r {
            served = Some(r.status());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(served.map(|s| s.as_u16()), Some(200));
    drop(second);
}
