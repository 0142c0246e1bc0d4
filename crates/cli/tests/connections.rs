//! Connection hygiene on every HTTP listener (`[http]`): connections that
//! send no request head in time are closed, idle keep-alive ones too; at
//! a client address's share of connections the one idle longest makes
//! room for a new one, and only busy ones turn a new one away.

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

/// Starts an upload that stays under way: its head is sent, its body
/// never finished.
async fn busy(node: &TestNode) -> TcpStream {
    let mut stream = TcpStream::connect(node.addr()).await.unwrap();
    let head = format!(
        "POST /api/v1/upload?name=slow.bin HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {}\r\nContent-Length: 1000\r\n\r\n0123456789",
        node.secret
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Whether the server closed `stream` (without an answer) within 10 s.
async fn closed_unanswered(stream: &mut TcpStream) -> bool {
    until_closed(stream).await.is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_limit_the_idlest_connection_makes_room_and_busy_ones_stay() {
    let node = TestNode::start_with("[http]\nmax_connections_per_ip = 2\n").await;
    // Two idle connections fill this address's share (the idle timeout is
    // 30 s): a third is still served, and the one idle longest is shed.
    let mut first = TcpStream::connect(node.addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut second = TcpStream::connect(node.addr()).await.unwrap();
    let mut third = TcpStream::connect(node.addr()).await.unwrap();
    third
        .write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut third).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer[..answer.len().min(200)])
    );
    assert!(closed_unanswered(&mut first).await, "the idlest was shed");
    // `second` was shed for the answer's connection or stays: either way
    // it is idle. Now two uploads under way take the share: busy
    // connections are never shed, so a new one is turned away.
    drop(second.shutdown().await);
    let mut one = busy(&node).await;
    let mut two = busy(&node).await;
    // Both are under way once their jobs run (asked from another loopback
    // address, whose connections count apart).
    let probe = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status: serde_json::Value = probe
            .get(node.url("/status"))
            .bearer_auth(&node.secret)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["jobs_running"].as_u64() >= Some(2) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the uploads never started: {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut turned = TcpStream::connect(node.addr()).await.unwrap();
    let _ = turned
        .write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert!(
        closed_unanswered(&mut turned).await,
        "a busy connection was shed"
    );
    // The uploads are still being served: each finishes with its answer.
    for stream in [&mut one, &mut two] {
        stream.write_all(&[b'x'; 990]).await.unwrap();
        let mut got = vec![0u8; 12];
        tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut got))
            .await
            .expect("the upload got no answer")
            .unwrap();
        assert_eq!(&got, b"HTTP/1.1 201", "{}", String::from_utf8_lossy(&got));
    }
}
