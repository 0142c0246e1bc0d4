//! Remote URL uploads against a small HTTP server the test runs on
//! 127.0.0.1 (allowed in the node's config, as loopback is refused by
//! default), and the request-forgery guards.

mod common;

use std::time::Duration;

use common::{Endpoint, TestNode, b3, data};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves: `/file/<name>` (3 MiB with a length), `/nolength` (2 MiB, no
/// length), `/redirect` (302 to /file/moved.bin), `/private` (302 to a
/// private address), `/nat64` (302 to a NAT64 address carrying a private
/// one), `/stall` (headers, 1 KiB, then silence), else 404.
async fn origin() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let body = data(3 << 20, 50);
                let reply: Vec<u8> = if path.starts_with("/file/") {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&body);
                    r
                } else if path == "/nolength" {
                    let mut r = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
                    r.extend_from_slice(&data(2 << 20, 51));
                    r
                } else if path == "/redirect" {
                    b"HTTP/1.1 302 Found\r\nLocation: /file/moved.bin\r\nContent-Length: 0\r\n\r\n"
                        .to_vec()
                } else if path == "/private" {
                    b"HTTP/1.1 302 Found\r\nLocation: http://10.255.255.1/secret\r\nContent-Length: 0\r\n\r\n".to_vec()
                } else if path == "/nat64" {
                    b"HTTP/1.1 302 Found\r\nLocation: http://[64:ff9b::a00:1]/secret\r\nContent-Length: 0\r\n\r\n".to_vec()
                } else if path == "/stall" {
                    let _ = sock
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
                        .await;
                    let _ = sock.write_all(&[7u8; 1024]).await;
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return;
                } else {
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()
                };
                let _ = sock.write_all(&reply).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    addr
}

async fn fetch(node: &TestNode, url: &str, extra: Value) -> (u16, Value) {
    let mut body = json!({ "url": url, "wait": true });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    node.send_json(Method::POST, "/fetch", body).await
}

#[tokio::test]
async fn remote_files_are_fetched_named_and_stored_byte_exact() {
    let origin = origin().await;
    let node =
        TestNode::start_with("[remote]\nallow = [\"127.0.0.1\"]\nidle_timeout_secs = 1\n").await;
    let (s, job) = fetch(
        &node,
        &format!("http://{origin}/file/My%20Movie.bin"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{job}");
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["kind"], "fetch");
    let entry = &job["result"]["entry"];
    assert_eq!(entry["name"], "My Movie.bin");
    assert_eq!(entry["blob"], b3(&data(3 << 20, 50)));
    let (_, _, body) = node
        .content(
            &format!("/entries/{}/content", entry["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(body, data(3 << 20, 50));

    let (_, job) = fetch(
        &node,
        &format!("http://{origin}/redirect"),
        json!({"name": "chosen.bin"}),
    )
    .await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["result"]["entry"]["name"], "chosen.bin");
    let (_, job) = fetch(&node, &format!("http://{origin}/nolength"), json!({})).await;
    assert_eq!(
        job["result"]["entry"]["blob"],
        b3(&data(2 << 20, 51)),
        "{job}"
    );

    for (path, why) in [
        ("/missing", "404"),
        ("/private", "10.255.255.1"),
        ("/nat64", "carries 10.0.0.1"),
        ("/stall", ""),
    ] {
        let (_, job) = fetch(&node, &format!("http://{origin}{path}"), json!({})).await;
        assert_eq!(job["state"], "failed", "{path}: {job}");
        assert!(
            job["error"].as_str().unwrap().contains(why),
            "{path}: {job}"
        );
    }
    let (_, status) = node.get_json("/status").await;
    assert_eq!(status["counts"]["files"], 3, "failed fetches store nothing");

    // The CLI blocks; run it off this (single-threaded) runtime so the
    // origin server above keeps answering.
    let url = format!("http://{origin}/file/cli.bin");
    let dir = node.dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(common::BIN)
            .arg("--data-dir")
            .arg(&dir)
            .args(["fetch", "-q", &url])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(
        line,
        format!("{}  http://{origin}/file/cli.bin", b3(&data(3 << 20, 50)))
    );
}

#[tokio::test]
async fn loopback_private_and_odd_urls_are_refused_by_default() {
    let origin = origin().await;
    let node = TestNode::start_with("max_upload_bytes = 1048576\n").await;
    let port = origin.rsplit(':').next().unwrap();
    for url in [
        format!("http://{origin}/file/x.bin"),
        format!("http://localhost:{port}/file/x.bin"),
        format!("http://[::1]:{port}/file/x.bin"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://10.0.0.1/".to_owned(),
    ] {
        let (s, v) = fetch(&node, &url, json!({})).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (403, Some("address_not_allowed")),
            "{url}: {v}"
        );
    }
    for url in ["file:///etc/passwd", "ftp://example.com/x", "nonsense"] {
        let (s, v) = fetch(&node, url, json!({})).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (400, Some("invalid")),
            "{url}: {v}"
        );
    }
    assert_no_jobs(&node).await;
}

#[tokio::test]
async fn fetches_over_the_size_limit_fail_and_store_nothing() {
    let origin = origin().await;
    let node =
        TestNode::start_with("max_upload_bytes = 1048576\n[remote]\nallow = [\"127.0.0.1/32\"]\n")
            .await;
    for path in ["/file/big.bin", "/nolength"] {
        let (_, job) = fetch(&node, &format!("http://{origin}{path}"), json!({})).await;
        assert_eq!(job["state"], "failed", "{path}: {job}");
        assert!(
            job["error"].as_str().unwrap().contains("limit"),
            "{path}: {job}"
        );
    }
    let (_, status) = node.get_json("/status").await;
    assert_eq!(status["counts"]["blobs"], 0);
}

/// Issue 15, item 5: special-purpose ranges that are not globally
/// reachable, and IPv6 forms that embed a loopback address, are refused
/// at once (403 before any job), never tried. Even a long connect timeout
/// cannot slow the answer: no connection is attempted.
#[tokio::test]
async fn special_purpose_and_embedded_loopback_addresses_are_refused_before_any_connection() {
    let node = TestNode::start_with("[remote]\nconnect_timeout_secs = 600\n").await;
    for url in [
        "http://198.18.0.1/",
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:7f00:1::]/",
    ] {
        let request = node
            .req(Method::POST, "/fetch")
            .json(&json!({ "url": url, "wait": true }))
            .timeout(Duration::from_secs(30));
        let r = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: no answer in 30 s, so a connection was tried: {e}"));
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            (status, v["code"].as_str()),
            (403, Some("address_not_allowed")),
            "{url}: {v}"
        );
    }
    assert_no_jobs(&node).await;
}

/// A proxy named in the node's environment would resolve the host again
/// itself, out of reach of the address check and its pinning: a fetch
/// goes straight to the address it checked, never through a proxy.
#[tokio::test]
async fn fetches_ignore_proxies_named_in_the_environment() {
    let origin = origin().await;
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let dialed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = dialed.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = proxy.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(sock);
        }
    });
    let env: Vec<(&str, &str)> = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
        .into_iter()
        .map(|k| (k, proxy_url.as_str()))
        .collect();
    let node = TestNode::start_with_env("[remote]\nallow = [\"127.0.0.1\"]\n", &env).await;
    let (_, job) = fetch(
        &node,
        &format!("http://{origin}/file/direct.bin"),
        json!({}),
    )
    .await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(
        dialed.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the proxy was dialled"
    );
}

/// No job was started: every fetch was refused before one.
async fn assert_no_jobs(node: &TestNode) {
    let (_, jobs) = node.get_json("/jobs").await;
    assert!(
        jobs.as_array().unwrap().is_empty(),
        "refused before any job: {jobs}"
    );
}
