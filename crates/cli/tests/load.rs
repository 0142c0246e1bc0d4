//! Issue 22, item 6: readers that stop reading hold buffers, never
//! threads, and never keep the node from answering. With one read worker
//! and one look-up thread, many more stalled readers than threads leave
//! status, listings and new reads working; and a
//! client that takes nothing of a response, or sends nothing of a body,
//! for `[http] send_timeout_secs` loses its connection, giving its buffers
//! (or its upload's thread) back, while one that keeps going, however
//! long it takes, is kept.

mod common;

use std::time::{Duration, Instant};

use common::{Endpoint, TestNode, data};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: usize = 1 << 20;

/// Starts a GET of `path` whose client then reads nothing.
async fn stalled(node: &TestNode, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(node.addr()).await.unwrap();
    let head = format!(
        "GET /api/v1{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Authorization: Bearer {}\r\n\r\n",
        node.secret
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// `f` completes within 20 s (a bound for a hung node, not a speed test).
async fn completes<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not complete while readers were stalled"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_readers_do_not_keep_status_listings_or_new_reads_waiting() {
    let node = TestNode::start_with("[read]\nworkers = 1\nlookups = 1\n").await;
    let content = data(32 * MIB, 22);
    let (status, entry) = node.upload("big.bin", content.clone(), "").await;
    assert_eq!(status, 201, "{entry}");
    let path = format!("/entries/{}/content", entry["id"].as_str().unwrap());
    // Twelve readers of the whole file that read nothing: each has its
    // socket's buffers full and a segment waiting in the node.
    let mut readers = Vec::new();
    for _ in 0..12 {
        readers.push(stalled(&node, &path).await);
    }
    // Every one of them got its answer's head and the start of its body.
    for r in &mut readers {
        let mut head = [0u8; 12];
        completes("a stalled reader's first bytes", r.read_exact(&mut head))
            .await
            .unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
    }
    let (s, st) = completes("status", node.get_json("/status")).await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["counts"]["files"], 1, "{st}");
    let (s, list) = completes("a listing", node.get_json("/entries")).await;
    assert_eq!(s, 200, "{list}");
    // A new reader is served, byte-exact, beside them.
    let range = format!("bytes={}-{}", 5 * MIB + 7, 9 * MIB + 11);
    let (s, _, body) = completes("a new read", node.content(&path, Some(&range))).await;
    assert_eq!(s, 206);
    assert!(body == content[5 * MIB + 7..=9 * MIB + 11], "wrong bytes");
    // And the stalled ones, once they read, get every byte right.
    for mut r in readers.drain(..2) {
        let mut got = Vec::new();
        completes("a stalled reader's rest", r.read_to_end(&mut got))
            .await
            .unwrap();
        let at = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(got[at..] == content[..], "a stalled reader got wrong bytes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_takes_nothing_for_the_send_timeout_is_closed() {
    let node = TestNode::start_with("[http]\nsend_timeout_secs = 1\n").await;
    let content = data(24 * MIB, 23);
    let (status, entry) = node.upload("big.bin", content.clone(), "").await;
    assert_eq!(status, 201, "{entry}");
    let path = format!("/entries/{}/content", entry["id"].as_str().unwrap());
    let mut reader = stalled(&node, &path).await;
    // Read nothing for well past the timeout, then all there is: the
    // connection ends short of the file.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match completes("reading a closed connection", reader.read(&mut buf)).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        assert!(started.elapsed() < Duration::from_secs(20), "never closed");
    }
    assert!(got.starts_with(b"HTTP/1.1 200"));
    assert!(
        got.len() < content.len(),
        "the whole file came ({} bytes): the stalled connection was kept",
        got.len()
    );
    // A client that does read, meanwhile, is not cut off.
    let (s, _, body) = node.content(&path, None).await;
    assert_eq!(s, 200);
    assert!(body == content, "wrong bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_keeps_sending_is_kept_and_one_that_stops_is_closed() {
    let node = TestNode::start_with("[http]\nsend_timeout_secs = 1\n").await;
    let content = data(MIB, 24);
    // Twelve pieces a quarter of a second apart: three times the timeout
    // in all, but never a second without bytes.
    let mut steady = TcpStream::connect(node.addr()).await.unwrap();
    let head = format!(
        "POST /api/v1/upload?name=steady.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Authorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
        node.secret,
        content.len()
    );
    steady.write_all(head.as_bytes()).await.unwrap();
    for piece in content.chunks(content.len().div_ceil(12)) {
        steady.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut answer = Vec::new();
    completes(
        "the steady upload's answer",
        steady.read_to_end(&mut answer),
    )
    .await
    .unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 201"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // One that sends part of its body and stops is closed, unanswered,
    // and stores nothing.
    let mut stopped = TcpStream::connect(node.addr()).await.unwrap();
    let head = format!(
        "POST /api/v1/upload?name=stopped.bin HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
        node.secret,
        content.len()
    );
    stopped.write_all(head.as_bytes()).await.unwrap();
    stopped.write_all(&content[..1000]).await.unwrap();
    let mut got = Vec::new();
    completes("closing the stopped upload", stopped.read_to_end(&mut got))
        .await
        .unwrap();
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    let (_, list) = node.get_json("/entries").await;
    let names: Vec<&str> = list["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["steady.bin"]);
}
