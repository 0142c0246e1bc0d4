//! Resumable uploads over tus 1.0 (`/api/v1/resumable`): the protocol's
//! answers to good and bad requests, a body cut off and a node killed
//! mid-body (each continued byte-exact), termination, folders made from
//! `relativePath`, and tuspy (the tus client from PyPI) uploading in
//! chunks and resuming after it stopped.

mod common;

use std::io::Write;
use std::time::Duration;

use base64::Engine;
use common::{Endpoint, TestNode, b3, data};
use reqwest::{Method, StatusCode};
use serde_json::Value;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A tus request to `path` (under `/api/v1`).
fn tus(node: &TestNode, method: Method, path: &str) -> reqwest::RequestBuilder {
    node.req(method, path).header("tus-resumable", "1.0.0")
}

/// Creates an upload of `length` bytes with `metadata`; answers its path.
async fn create(node: &TestNode, length: u64, metadata: &str) -> String {
    let resp = tus(node, Method::POST, "/resumable")
        .header("upload-length", length.to_string())
        .header("upload-metadata", metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["tus-resumable"], "1.0.0");
    assert_eq!(resp.headers()["upload-offset"], "0");
    let location = resp.headers()["location"].to_str().unwrap();
    location.strip_prefix("/api/v1").unwrap().to_owned()
}

async fn patch(node: &TestNode, path: &str, offset: u64, body: Vec<u8>) -> reqwest::Response {
    tus(node, Method::PATCH, path)
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn offset(node: &TestNode, path: &str) -> (StatusCode, Option<u64>, Option<String>) {
    let resp = tus(node, Method::HEAD, path).send().await.unwrap();
    let offset = resp
        .headers()
        .get("upload-offset")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let entry = resp
        .headers()
        .get("cairn-entry")
        .map(|v| v.to_str().unwrap().to_owned());
    (resp.status(), offset, entry)
}

async fn content(node: &TestNode, id: &str) -> Vec<u8> {
    let resp = node
        .req(Method::GET, &format!("/entries/{id}/content"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn tus_answers_the_protocol_and_refuses_what_breaks_it() {
    let node = TestNode::start().await;
    let opts = tus(&node, Method::OPTIONS, "/resumable")
        .send()
        .await
        .unwrap();
    assert_eq!(opts.status(), StatusCode::NO_CONTENT);
    assert_eq!(opts.headers()["tus-version"], "1.0.0");
    let ext = opts.headers()["tus-extension"].to_str().unwrap();
    for e in [
        "creation",
        "creation-with-upload",
        "termination",
        "expiration",
    ] {
        assert!(ext.split(',').any(|x| x == e), "{ext}");
    }
    assert!(opts.headers().contains_key("tus-max-size"));

    // Another version, no length, bad metadata, too long, no secret.
    let r = node
        .req(Method::POST, "/resumable")
        .header("tus-resumable", "0.2.2")
        .header("upload-length", "5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(r.headers()["tus-version"], "1.0.0");
    let r = tus(&node, Method::POST, "/resumable").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    for bad in [
        "filename !!notbase64",
        "filename",
        "filename eA==,filename eQ==",
    ] {
        let r = tus(&node, Method::POST, "/resumable")
            .header("upload-length", "5")
            .header("upload-metadata", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = tus(&node, Method::POST, "/resumable")
        .header("upload-length", "99999999999999999")
        .header("upload-metadata", format!("filename {}", b64("x")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = node
        .http
        .post(node.url("/resumable"))
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    for name in ["..", "a/b", ""] {
        let r = tus(&node, Method::POST, "/resumable")
            .header("upload-length", "5")
            .header("upload-metadata", format!("filename {}", b64(name)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{name:?}");
    }

    // Appends: the right type, the right offset, no more than the length.
    let body = data(10_000, 1);
    let path = create(&node, 10_000, &format!("filename {}", b64("ten.bin"))).await;
    let r = tus(&node, Method::PATCH, &path)
        .header("upload-offset", "0")
        .header("content-type", "application/octet-stream")
        .body(body[..10].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = patch(&node, &path, 0, body[..4000].to_vec()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["upload-offset"], "4000");
    let r = patch(&node, &path, 100, body[100..200].to_vec()).await;
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "an offset not where it stands"
    );
    let r = patch(&node, &path, 4000, data(7000, 2)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "past the length");
    assert_eq!(
        offset(&node, &path).await.1,
        Some(4000),
        "nothing of it taken"
    );
    let r = patch(&node, &path, 4000, body[4000..].to_vec()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let entry = r.headers()["cairn-entry"].to_str().unwrap().to_owned();
    assert_eq!(content(&node, &entry).await, body);
    // Finished: asked again, the same file; no second one.
    let (status, at, again) = offset(&node, &path).await;
    assert_eq!(
        (status, at, again.as_deref()),
        (StatusCode::OK, Some(10_000), Some(entry.as_str()))
    );
    let r = patch(&node, &path, 10_000, vec![]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let (_, root) = node.get_json("/entries").await;
    assert_eq!(root["total"], 1, "one file, not two");
    // The name taken: refused at once with `fail`, renamed by default.
    let r = tus(&node, Method::POST, "/resumable")
        .header("upload-length", "3")
        .header(
            "upload-metadata",
            format!("filename {},on_conflict {}", b64("ten.bin"), b64("fail")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let again = create(&node, 3, &format!("filename {}", b64("ten.bin"))).await;
    let r = patch(&node, &again, 0, b"abc".to_vec()).await;
    let renamed = r.headers()["cairn-entry"].to_str().unwrap().to_owned();
    let (_, info) = node.get_json(&format!("/entries/{renamed}")).await;
    assert_eq!(info["name"], "ten (1).bin");
    let (_, upload): (u16, Value) = node.get_json(&path).await;
    assert_eq!(upload["entry"], entry.as_str());

    // Unknown ids; termination.
    let r = tus(
        &node,
        Method::HEAD,
        "/resumable/0123456789abcdef0123456789abcdef",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = tus(&node, Method::HEAD, "/resumable/..%2f..%2fcatalog.db")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let path = create(&node, 50, &format!("filename {}", b64("gone.bin"))).await;
    patch(&node, &path, 0, vec![1; 20]).await;
    let id = path.rsplit('/').next().unwrap().to_owned();
    assert!(node.dir.join("resumable").join(&id).exists());
    let r = tus(&node, Method::DELETE, &path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(offset(&node, &path).await.0, StatusCode::NOT_FOUND);
    assert!(
        !node.dir.join("resumable").join(&id).exists(),
        "its spool is gone"
    );
    let r = tus(&node, Method::DELETE, &path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_relative_path_makes_its_folders_and_a_creation_may_carry_bytes() {
    let node = TestNode::start().await;
    let (_, top) = node
        .send_json(
            Method::POST,
            "/folders",
            serde_json::json!({ "name": "top" }),
        )
        .await;
    let top = top["id"].as_str().unwrap();
    let body = b"hello, resumable".to_vec();
    let meta = format!(
        "relativePath {},parent {},filetype {}",
        b64("photos/2026/héllo ✓.txt"),
        b64(top),
        b64("text/plain")
    );
    let r = tus(&node, Method::POST, "/resumable")
        .header("upload-length", body.len().to_string())
        .header("upload-metadata", meta)
        .header("content-type", "application/offset+octet-stream")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        r.headers()["upload-offset"],
        body.len().to_string().as_str()
    );
    let entry = r.headers()["cairn-entry"].to_str().unwrap().to_owned();
    let (_, path) = node.get_json(&format!("/entries/{entry}/path")).await;
    let names: Vec<&str> = path
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["top", "photos", "2026", "héllo ✓.txt"]);
    assert_eq!(content(&node, &entry).await, body);
}

/// A PATCH head for `len` body bytes at `offset`.
fn raw_patch(node: &TestNode, path: &str, offset: u64, len: usize) -> String {
    format!(
        "PATCH /api/v1{path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: {len}\r\n\r\n",
        node.addr, node.secret
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_cut_off_or_a_node_killed_mid_body_loses_nothing_synced() {
    let mut node = TestNode::start().await;
    let body = data(8 << 20, 7);
    let path = create(
        &node,
        body.len() as u64,
        &format!("filename {}", b64("big.bin")),
    )
    .await;

    // A client that goes away after 3 MiB: the node keeps the 3 MiB.
    let mut s = node.raw();
    common::send_partial(
        &mut s,
        &raw_patch(&node, &path, 0, body.len()),
        &body[..3 << 20],
    );
    drop(s);
    let mut at = None;
    for _ in 0..100 {
        at = offset(&node, &path).await.1;
        if at == Some(3 << 20) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(at, Some(3 << 20), "what came before the cut is kept");

    // A node killed mid-body: what was synced (at least every 5 seconds) is
    // kept, the rest is asked for again.
    let mut s = node.raw();
    let start = 3 << 20;
    s.write_all(raw_patch(&node, &path, start, body.len() - start as usize).as_bytes())
        .unwrap();
    s.write_all(&body[start as usize..(4 << 20)]).unwrap();
    std::thread::sleep(Duration::from_millis(5300));
    s.write_all(&body[(4 << 20)..(4 << 20) + 1024]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    node.kill9();
    drop(s);
    node.restart_here().await;
    let (status, at, _) = offset(&node, &path).await;
    assert_eq!(status, StatusCode::OK);
    let at = at.unwrap();
    assert!(
        ((4 << 20)..=(4 << 20) + 1024).contains(&at),
        "synced bytes survive a kill: {at}"
    );
    let r = patch(&node, &path, at, body[at as usize..].to_vec()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let entry = r.headers()["cairn-entry"].to_str().unwrap().to_owned();
    assert_eq!(b3(&content(&node, &entry).await), b3(&body), "byte-exact");
    assert_eq!(
        std::fs::read_dir(node.dir.join("resumable"))
            .unwrap()
            .count(),
        0,
        "the spool went with the finish"
    );
}

/// The Python of the venv with tuspy (`scripts/test.sh` makes it).
fn tus_python() -> String {
    std::env::var("CAIRN_TUS_PYTHON").unwrap_or_else(|_| {
        let venv = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/tuspy-venv/bin/python"
        );
        assert!(
            std::path::Path::new(venv).exists(),
            "tuspy is not installed: run scripts/test.sh, or set CAIRN_TUS_PYTHON"
        );
        venv.to_owned()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn tuspy_uploads_in_chunks_and_resumes_where_it_stopped() {
    let node = TestNode::start().await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("film.bin");
    let body = data(5 << 20, 9);
    std::fs::write(&file, &body).unwrap();
    let script = r#"
import sys
from tusclient import client
from tusclient.storage import filestorage
url, secret, path, store = sys.argv[1:5]
c = client.TusClient(url, headers={"Authorization": "Bearer " + secret})
storage = filestorage.FileStorage(store)
first = c.uploader(path, chunk_size=1024 * 1024, metadata={"filename": "film.bin"},
                   store_url=True, url_storage=storage)
first.upload(stop_at=2 * 1024 * 1024)
print("stopped", first.offset, flush=True)
second = c.uploader(path, chunk_size=1024 * 1024, store_url=True, url_storage=storage)
print("resumed", second.offset, flush=True)
second.upload()
print("done", second.offset, second.url, flush=True)
"#;
    let out = std::process::Command::new(tus_python())
        .arg("-c")
        .arg(script)
        .arg(node.url("/resumable"))
        .arg(&node.secret)
        .arg(&file)
        .arg(work.path().join("urls.json"))
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], format!("stopped {}", 2 << 20));
    assert_eq!(
        lines[1],
        format!("resumed {}", 2 << 20),
        "the second uploader asked the node"
    );
    let url = lines[2].split(' ').nth(2).unwrap();
    let path = url.split("/api/v1").nth(1).unwrap();
    let (_, at, entry) = offset(&node, path).await;
    assert_eq!(at, Some(5 << 20));
    let entry = entry.expect("finished into a file");
    let (_, info) = node.get_json(&format!("/entries/{entry}")).await;
    assert_eq!(info["name"], "film.bin");
    assert_eq!(b3(&content(&node, &entry).await), b3(&body));
}
