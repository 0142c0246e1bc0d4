//! The native HTTP API of a real node: uploads, content with ranges,
//! aliases, the catalog, auth, and bad input answered with the right
//! status and a stable code.

mod common;

use common::{Dirs, Endpoint, TestNode, b3, data};
use md5::Digest;
use reqwest::Method;
use serde_json::{Value, json};

const SEG: usize = 1 << 20;

#[tokio::test]
async fn raw_and_multipart_uploads_store_and_alias_the_content() {
    let node = TestNode::start().await;
    let content = data(2 * SEG + 5, 10);
    let (status, entry) = node
        .upload("raw.bin", content.clone(), "&digests=wait")
        .await;
    assert_eq!(status, 201, "{entry}");
    assert_eq!(entry["blob"], b3(&content));
    assert_eq!(entry["size"], content.len());
    let md5 = hex::encode(md5::Md5::digest(&content));
    let sha1 = hex::encode(sha1::Sha1::digest(&content));
    let sha256 = hex::encode(sha2::Sha256::digest(&content));
    assert_eq!(entry["aliases"]["md5"], md5);
    for digest in [&md5, &sha1, &sha256, &b3(&content), &md5.to_uppercase()] {
        let (s, blob) = node.get_json(&format!("/blobs/{digest}")).await;
        assert_eq!(s, 200, "{digest}");
        assert_eq!(blob["id"], b3(&content));
        assert_eq!(blob["entries"][0]["name"], "raw.bin");
    }

    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"<html><body>hi</body></html>".to_vec())
                .file_name("page.html"),
        )
        .part(
            "other",
            reqwest::multipart::Part::bytes(data(SEG + 1, 11)).file_name("second.bin"),
        );
    let r = node
        .req(Method::POST, "/upload")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["content_type"], "text/html");
    assert_eq!(entries[1]["blob"], b3(&data(SEG + 1, 11)));
}

#[tokio::test]
async fn content_serves_ranges_etags_and_heads() {
    let node = TestNode::start().await;
    let content = data(3 * SEG + 100, 20);
    let (_, entry) = node.upload("video.mp4", content.clone(), "").await;
    let id = entry["id"].as_str().unwrap();
    let path = format!("/entries/{id}/content");
    let (s, h, body) = node.content(&path, None).await;
    assert_eq!(s, 200);
    assert_eq!(body, content);
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["etag"], format!("\"{}\"", b3(&content)).as_str());
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .contains("video.mp4")
    );
    let n = content.len();
    for (range, want) in [
        ("bytes=0-0", 0..1),
        ("bytes=1048570-1048590", 1_048_570..1_048_591),
        ("bytes=100-", 100..n),
        ("bytes=-5", n - 5..n),
        (&format!("bytes={}-{}", SEG, 2 * SEG - 1), SEG..2 * SEG),
        ("bytes=0-999999999", 0..n),
    ] {
        let (s, h, body) = node.content(&path, Some(range)).await;
        assert_eq!(s, 206, "{range}");
        assert_eq!(body, &content[want.clone()], "{range}");
        assert_eq!(
            h["content-range"].to_str().unwrap(),
            format!("bytes {}-{}/{n}", want.start, want.end - 1)
        );
    }
    for bad in [
        format!("bytes={n}-"),
        "bytes=9-3".to_owned(),
        "bytes=abc".to_owned(),
    ] {
        let (s, h, body) = node.content(&path, Some(&bad)).await;
        assert_eq!(s, 416, "{bad}");
        assert_eq!(h["content-range"].to_str().unwrap(), format!("bytes */{n}"));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], "range_not_satisfiable");
    }
    let head = node.req(Method::HEAD, &path).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], n.to_string().as_str());
    let etag = head.headers()["etag"].clone();
    let cached = node
        .req(Method::GET, &path)
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    let stale = node
        .req(Method::GET, &path)
        .header("range", "bytes=0-9")
        .header("if-range", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200, "a stale If-Range gets the whole body");
    assert_eq!(stale.bytes().await.unwrap().len(), n);
    let (_, info) = node.get_json(&format!("/entries/{id}")).await;
    assert_eq!(
        info["downloads"], 3,
        "whole-body GETs count, ranges and HEAD do not"
    );
    let (_, jobs) = node.get_json("/jobs?limit=1000").await;
    // Every job has its own number, the order they were started in.
    let mut seqs: Vec<i64> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["seq"].as_i64().unwrap())
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), jobs.as_array().unwrap().len(), "{jobs}");
    assert!(seqs[0] >= 1, "{jobs}");
    let downloads: Vec<&Value> = jobs
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["kind"] == "download")
        .collect();
    assert!(
        downloads.len() >= 8,
        "every served body is a download job: {jobs}"
    );
    assert!(
        downloads
            .iter()
            .all(|j| j["state"] == "done" && j["done"] == j["total"]),
        "{jobs}"
    );
}

/// Issue 15, item 6.3: RFC 9110 §14.1.2 clamps a last-pos at or past the
/// end to the end, however many digits it has; a first-pos past any body
/// is unsatisfiable.
#[tokio::test]
async fn range_positions_too_big_for_64_bits_are_clamped_or_unsatisfiable() {
    let node = TestNode::start().await;
    let content = data(SEG + 100, 21);
    let (_, entry) = node.upload("big-range.bin", content.clone(), "").await;
    let path = format!("/entries/{}/content", entry["id"].as_str().unwrap());
    let n = content.len();
    let huge = "99999999999999999999";
    for (range, want) in [
        (format!("bytes=0-{huge}"), 0..n),
        (format!("bytes=5-{huge}"), 5..n),
        (format!("bytes=-{huge}"), 0..n),
    ] {
        let (s, h, body) = node.content(&path, Some(&range)).await;
        assert_eq!(s, 206, "{range}");
        assert_eq!(
            h["content-range"].to_str().unwrap(),
            format!("bytes {}-{}/{n}", want.start, want.end - 1),
            "{range}"
        );
        assert_eq!(body, &content[want], "{range}");
    }
    for range in [format!("bytes={huge}-"), format!("bytes={huge}-{huge}")] {
        let (s, h, body) = node.content(&path, Some(&range)).await;
        assert_eq!(s, 416, "{range}");
        assert_eq!(h["content-range"].to_str().unwrap(), format!("bytes */{n}"));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], "range_not_satisfiable", "{range}");
    }
}

#[tokio::test]
async fn empty_files_upload_and_download() {
    let node = TestNode::start().await;
    let (s, entry) = node.upload("empty", Vec::new(), "").await;
    assert_eq!(s, 201);
    assert_eq!(entry["blob"], b3(b""));
    let (s, h, body) = node
        .content(&format!("/blobs/{}/content", b3(b"")), None)
        .await;
    assert_eq!(s, 200);
    assert!(body.is_empty());
    assert_eq!(h["content-length"], "0");
    let (s, _, _) = node
        .content(&format!("/blobs/{}/content", b3(b"")), Some("bytes=0-"))
        .await;
    assert_eq!(s, 416);
}

#[tokio::test]
async fn folders_page_sort_rename_move_and_delete() {
    let node = TestNode::start().await;
    let (s, a) = node
        .send_json(Method::POST, "/folders", json!({"name": "a"}))
        .await;
    assert_eq!(s, 201);
    let a = a["id"].as_str().unwrap().to_owned();
    let (_, b) = node
        .send_json(Method::POST, "/folders", json!({"name": "b", "parent": a}))
        .await;
    let b = b["id"].as_str().unwrap().to_owned();
    for i in 0..7 {
        let (s, _) = node
            .upload(
                &format!("f{i}.txt"),
                vec![b'x'; i + 1],
                &format!("&parent={a}"),
            )
            .await;
        assert_eq!(s, 201);
    }
    let (s, page) = node
        .get_json(&format!(
            "/entries?parent={a}&limit=3&offset=1&sort=size&order=desc"
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(page["total"], 8);
    let names: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["f6.txt", "f5.txt", "f4.txt"],
        "folder b first, then by size descending"
    );
    let (s, e) = node
        .send_json(
            Method::PATCH,
            &format!("/entries/{a}"),
            json!({"parent": b}),
        )
        .await;
    assert_eq!((s, e["code"].as_str()), (409, Some("conflict")), "{e}");
    let (s, e) = node
        .send_json(
            Method::PATCH,
            &format!("/entries/{a}"),
            json!({"parent": a}),
        )
        .await;
    assert_eq!(s, 409, "{e}");
    let (s, moved) = node
        .send_json(
            Method::PATCH,
            &format!("/entries/{b}"),
            json!({"parent": null, "name": "top"}),
        )
        .await;
    assert_eq!(s, 200, "{moved}");
    assert_eq!(moved["parent"], Value::Null);
    assert_eq!(moved["name"], "top");
    let (_, path) = node.get_json(&format!("/entries/{b}/path")).await;
    assert_eq!(path.as_array().unwrap().len(), 1);
    let (s, e) = node
        .send_json(
            Method::PATCH,
            &format!("/entries/{b}"),
            json!({"name": "a"}),
        )
        .await;
    assert_eq!((s, e["code"].as_str()), (409, Some("name_taken")));
    let r = node
        .req(Method::DELETE, &format!("/entries/{a}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r = node
        .req(Method::DELETE, &format!("/entries/{a}?recursive=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["blobs_removed"], 7);
    let (s, _) = node.get_json(&format!("/entries/{a}")).await;
    assert_eq!(s, 404);
    let (_, status) = node.get_json("/status").await;
    assert_eq!(status["counts"]["blobs"], 0);
    assert_eq!(status["storage_used"], 0);
}

#[tokio::test]
async fn name_collisions_fail_unless_asked_to_rename_or_replace() {
    let node = TestNode::start().await;
    assert_eq!(node.upload("n.txt", b"one".to_vec(), "").await.0, 201);
    let (s, same) = node.upload("n.txt", b"one".to_vec(), "").await;
    assert_eq!(
        s, 201,
        "re-uploading the same content under the same name is idempotent"
    );
    let (s, e) = node.upload("n.txt", b"two".to_vec(), "").await;
    assert_eq!((s, e["code"].as_str()), (409, Some("name_taken")));
    let (_, renamed) = node
        .upload("n.txt", b"two".to_vec(), "&on_conflict=rename")
        .await;
    assert_eq!(renamed["name"], "n (1).txt");
    let (_, replaced) = node
        .upload("n.txt", b"three".to_vec(), "&on_conflict=replace")
        .await;
    assert_eq!(replaced["id"], same["id"]);
    assert_eq!(replaced["blob"], b3(b"three"));
    let (s, _) = node.get_json(&format!("/blobs/{}", b3(b"one"))).await;
    assert_eq!(s, 404, "the replaced content is gone");
    let (s, e) = node
        .upload("n.txt", b"x".to_vec(), "&on_conflict=bogus")
        .await;
    assert_eq!((s, e["code"].as_str()), (400, Some("invalid")));
}

#[tokio::test]
async fn metadata_sets_removes_and_refuses_oversized_fields() {
    let node = TestNode::start().await;
    let (_, e) = node.upload("ep.mkv", data(100, 5), "").await;
    let id = e["id"].as_str().unwrap();
    let path = format!("/entries/{id}/metadata");
    let (s, m) = node
        .send_json(
            Method::PATCH,
            &path,
            json!({"title": "Pilot", "season": 1, "episode": 2, "subtitles": "en,fr"}),
        )
        .await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["season"], "1");
    let (_, m) = node
        .send_json(Method::PATCH, &path, json!({"subtitles": null}))
        .await;
    assert!(m.get("subtitles").is_none());
    let (s, e) = node
        .send_json(Method::PATCH, &path, json!({"title": "x".repeat(5000)}))
        .await;
    assert_eq!((s, e["code"].as_str()), (400, Some("invalid")));
    let (s, _) = node
        .send_json(Method::PATCH, &path, json!({"bad key!": "v"}))
        .await;
    assert_eq!(s, 400);
    let (_, m) = node.get_json(&path).await;
    assert_eq!(m["title"], "Pilot", "refused changes change nothing");
}

#[tokio::test]
async fn bad_ids_paths_and_names_get_clear_errors() {
    let node = TestNode::start().await;
    let cases = [
        ("/entries/AAAAAAAAAAA", 404, "not_found"),
        ("/blobs/zzzz", 400, "invalid_id"),
        (&format!("/blobs/{}", "0".repeat(64)), 404, "not_found"),
        (
            &format!("/blobs/{}/content", "0".repeat(32)),
            404,
            "not_found",
        ),
        ("/jobs/nope", 404, "not_found"),
        ("/no/such/call", 404, "no_route"),
        ("/entries?sort=colour", 400, "invalid"),
        ("/entries?limit=5000", 400, "invalid"),
        ("/entries?parent=AAAAAAAAAAA", 404, "not_found"),
    ];
    for (path, status, code) in cases {
        let (s, v) = node.get_json(path).await;
        assert_eq!((s, v["code"].as_str()), (status, Some(code)), "{path}: {v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let long = "n".repeat(300);
    let (s, v) = node.upload(&long, b"x".to_vec(), "").await;
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid")), "{v}");
    let (s, v) = node.upload("a%2Fb", b"x".to_vec(), "").await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = node.upload("x", b"x".to_vec(), "&parent=AAAAAAAAAAA").await;
    assert_eq!(s, 404, "{v}");

    let import = |path: String| {
        node.send_json(
            Method::POST,
            "/import",
            json!({ "path": path, "wait": true }),
        )
    };
    let (s, v) = import(node.files.join("missing").display().to_string()).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (404, Some("path_not_found")),
        "{v}"
    );
    let (s, v) = import("/etc/hostname".into()).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (403, Some("path_not_allowed")),
        "{v}"
    );
    let file = node.file("plain.txt", b"p");
    let (s, v) = import(file.join("below-a-file").display().to_string()).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (422, Some("path_unreadable")),
        "{v}"
    );
    let (s, v) = import("relative/path".into()).await;
    assert_eq!(s, 400, "{v}");
    let (_, status) = node.get_json("/status").await;
    assert_eq!(status["counts"]["files"], 0, "nothing half-stored");
}

/// A request (method, path, content type, body) and the status and code of
/// its answer.
type Case<'a> = (&'a Method, &'a str, Option<&'a str>, &'a str, u16, &'a str);

/// Issue 15, item 6.2: whatever axum's extractors refuse (JSON that does
/// not parse or fit, a missing or wrong content type, a body too large, a
/// query or path parameter that does not parse, a WebSocket call without
/// its handshake) is answered like every other error of the native API:
/// JSON `{"code", "message"}`, 400 (415 for the content type, 413 for the
/// size), never axum's plain text or 422.
#[tokio::test]
async fn extractor_rejections_answer_the_documented_json_error() {
    let node = TestNode::start().await;
    let (_, entry) = node.upload("x.bin", b"x".to_vec(), "").await;
    let id = entry["id"].as_str().unwrap();
    let big = format!("{{\"path\": \"{}\"}}", "a".repeat(3 << 20));
    let (json, text, form) = (
        Some("application/json"),
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    );
    let (get, post, patch, delete) = (Method::GET, Method::POST, Method::PATCH, Method::DELETE);
    let entry = format!("/entries/{id}");
    let metadata = format!("/entries/{id}/metadata");
    let recursive = format!("/entries/{id}?recursive=perhaps");
    let download = format!("/entries/{id}/content?download=2");
    // One line a case reads better than rustfmt's eight.
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        (&post, "/import", json, "{", 400, "invalid"),
        (&post, "/import", json, r#"{"path": 5}"#, 400, "invalid"),
        (&post, "/import", json, "{}", 400, "invalid"),
        (&post, "/import", json, &big, 413, "too_large"),
        (&post, "/fetch", json, r#"{"url": [1]}"#, 400, "invalid"),
        (&post, "/fetch", json, "", 400, "invalid"),
        (&post, "/folders", json, r#"{"name": null}"#, 400, "invalid"),
        (&post, "/folders", text, r#"{"name": "a"}"#, 415, "unsupported_media_type"),
        (&post, "/folders", None, r#"{"name": "a"}"#, 415, "unsupported_media_type"),
        (&patch, &entry, json, "[1, 2]", 400, "invalid"),
        (&patch, &metadata, json, r#"{"a": "#, 400, "invalid"),
        (&patch, &metadata, form, "a=b", 415, "unsupported_media_type"),
        (&post, "/accounts", json, r#"{"storage_limit": "lots"}"#, 400, "invalid"),
        (&patch, "/accounts/nobody", json, r#"{"colour": 1}"#, 400, "invalid"),
        (&post, "/accounts/nobody/deposit", json, r#"{"unit": "bytes", "amount": -5}"#, 400, "invalid"),
        (&post, "/network/suppliers/0", text, r#"{"peer": "x"}"#, 415, "unsupported_media_type"),
        (&get, "/entries?offset=abc", None, "", 400, "invalid"),
        (&get, "/entries?limit=-1", None, "", 400, "invalid"),
        (&get, "/jobs?limit=many", None, "", 400, "invalid"),
        (&delete, &recursive, None, "", 400, "invalid"),
        (&get, &download, None, "", 400, "invalid"),
        (&post, "/blobs/x/place?wait=sometimes", None, "", 400, "invalid"),
        (&get, "/entries/%FF", None, "", 400, "invalid"),
        (&get, "/paid/%FF", None, "", 400, "invalid"),
        (&post, "/network/suppliers/300", None, "", 400, "invalid"),
        (&get, "/events", None, "", 400, "invalid"),
    ];
    for (method, path, content_type, body, status, code) in cases {
        // Each on its own connection: the node may answer the body too
        // large before reading it, and close the connection.
        let mut req = node
            .req(method.clone(), path)
            .header("connection", "close")
            .body(body.to_owned());
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        let r = req.send().await.unwrap();
        let what = format!("{method} {path}");
        assert_eq!(r.status().as_u16(), status, "{what}");
        assert_eq!(r.headers()["content-type"], "application/json", "{what}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], code, "{what}: {v}");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(message.len() > 10, "{what}: a useful message: {v}");
    }
    let (_, status) = node.get_json("/status").await;
    assert_eq!(status["counts"]["files"], 1, "nothing stored or changed");
}

#[tokio::test]
async fn every_admin_call_needs_the_secret() {
    let node = TestNode::start().await;
    // Every call of the document, as the node serves it.
    let doc: Value = node
        .http
        .get(node.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut calls = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let path = path.strip_prefix("/api/v1").unwrap().to_owned();
            calls.push((method.clone(), path));
        }
    }
    assert!(calls.len() >= 47, "{} calls", calls.len());
    for (method, path) in &calls {
        let path = path
            .replace("{id}", "AAAAAAAAAAA")
            .replace("{digest}", &"0".repeat(64));
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let url = node.url(&path);
        let anonymous = node
            .http
            .request(method.clone(), &url)
            .send()
            .await
            .unwrap();
        let wrong = node
            .http
            .request(method.clone(), &url)
            .header("api_secret", "wrong")
            .send()
            .await
            .unwrap();
        if path == "/openapi.json" {
            assert_eq!(anonymous.status(), 200);
            let doc: Value = anonymous.json().await.unwrap();
            assert_eq!(doc["openapi"], "3.1.0");
            continue;
        }
        if path.starts_with("/play/") {
            // A play link is its own capability, the secret none of its
            // business: a made-up one is refused whoever asks.
            assert_eq!(anonymous.status(), 403, "{method} {path}");
            assert_eq!(wrong.status(), 403, "{method} {path}");
            continue;
        }
        assert_eq!(wrong.status(), 401, "{method} {path}");
        if path.ends_with("/buy") {
            // Buying needs an account: nobody is refused as unauthorized.
            assert_eq!(anonymous.status(), 401, "{method} {path}");
            continue;
        }
        if path.starts_with("/paid/") {
            // Paid files answer accounts and nobody too; a wrong secret is
            // still refused.
            assert_ne!(anonymous.status(), 401, "{method} {path}");
            continue;
        }
        assert_eq!(anonymous.status(), 401, "{method} {path}");
        if method != Method::HEAD {
            let v: Value = anonymous.json().await.unwrap();
            assert_eq!(v["code"], "unauthorized");
        }
        // With the secret, the route exists (whatever else it answers).
        // (Not the two that would stop the node under test.)
        if path != "/node/shutdown" && path != "/node/restart" {
            let r = node.req(method.clone(), &path).send().await.unwrap();
            assert_ne!(r.status(), 401, "{method} {path}");
            if method != Method::HEAD && r.status() == 404 {
                let v: Value = r.json().await.unwrap_or(Value::Null);
                assert_ne!(v["code"], "no_route", "{method} {path} is not routed");
            }
        }
    }
    let by_query = node
        .http
        .get(node.url(&format!("/status?api_secret={}", node.secret)))
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.status(), 200);
}

#[tokio::test]
async fn a_corrupted_blob_is_never_served() {
    let mut node = TestNode::start().await;
    let content = data(2 * SEG + 10, 30);
    let (_, entry) = node.upload("c.bin", content.clone(), "").await;
    let id = entry["id"].as_str().unwrap().to_owned();
    node.terminate();
    let hex = b3(&content);
    let file = node.dir.join("blobs").join(&hex[..2]).join(&hex);
    let mut stored = std::fs::read(&file).unwrap();
    stored[SEG + 7] ^= 0x01;
    std::fs::write(&file, &stored).unwrap();
    let node = node.restart().await;
    let path = format!("/entries/{id}/content");
    let (s, _, body) = node.content(&path, Some("bytes=0-99")).await;
    assert_eq!(s, 206, "the intact first segment still serves");
    assert_eq!(body, &content[..100]);
    let (s, _, body) = node
        .content(&path, Some(&format!("bytes={}-{}", SEG, SEG + 99)))
        .await;
    assert_eq!(s, 500);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["code"], "corrupt");
    let whole = node.req(Method::GET, &path).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    let got = whole.bytes().await;
    match got {
        Err(_) => {}
        Ok(b) => {
            assert!(
                b.len() < content.len(),
                "a body with a corrupt segment must be cut off"
            );
            assert_eq!(
                &b[..],
                &content[..b.len()],
                "whatever was sent before the cut is exact"
            );
        }
    }
}

#[tokio::test]
async fn equal_content_is_stored_once_and_freed_with_its_last_entry() {
    let node = TestNode::start().await;
    let content = data(SEG + 99, 40);
    let (_, a) = node.upload("a.bin", content.clone(), "").await;
    let (_, b) = node.upload("b.bin", content.clone(), "").await;
    assert_eq!(a["blob"], b["blob"]);
    let (_, status) = node.get_json("/status").await;
    assert_eq!(status["counts"]["files"], 2);
    assert_eq!(status["counts"]["blobs"], 1);
    assert_eq!(status["storage_used"], content.len());
    let blob_files = || walk_files(&node.dir.join("blobs"));
    assert_eq!(blob_files(), 1);
    let r = node
        .req(
            Method::DELETE,
            &format!("/entries/{}", a["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["blobs_removed"], 0);
    let (s, _, body) = node
        .content(
            &format!("/entries/{}/content", b["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!((s, body), (200, content));
    let r = node
        .req(
            Method::DELETE,
            &format!("/entries/{}", b["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["blobs_removed"], 1);
    assert_eq!(
        blob_files(),
        0,
        "the last entry takes the blob file with it"
    );
}

fn walk_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk_files(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// A multipart upload of `body` (boundary `XyZ`): the status and the
/// JSON answer.
async fn post_form(node: &TestNode, body: Vec<u8>) -> (u16, Value) {
    let r = node
        .req(reqwest::Method::POST, "/upload")
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A multipart upload whose form is cut off, or never closed, is the
/// client's fault: 400, and nothing of it is stored (before, a complete
/// part of an unclosed form was stored while the answer said 400).
#[tokio::test]
async fn a_cut_off_or_unclosed_form_stores_nothing() {
    let node = TestNode::start().await;
    for (what, body) in common::broken_forms("file", "note") {
        let (status, v) = post_form(&node, body).await;
        assert_eq!(status, 400, "{what}");
        assert_eq!(v["code"], "upload_aborted", "{what}: {v}");
    }
    let (_, status) = node.get_json("/status").await;
    assert_eq!(status["counts"]["files"], 0, "nothing stored: {status}");
    assert_eq!(status["counts"]["blobs"], 0, "nothing stored: {status}");
    // A file whole before the break is stored, and the answer says so.
    let mut two = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"; filename=\"first.txt\"\r\n\r\nfirst\r\n".to_vec();
    two.extend_from_slice(&common::broken_forms("b", "note")[0].1);
    let (status, v) = post_form(&node, two).await;
    assert_eq!(status, 400);
    let message = v["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("stored before the break: first.txt"),
        "{v}"
    );
    let (_, status) = node.get_json("/status").await;
    assert_eq!(
        status["counts"]["files"], 1,
        "only the whole file: {status}"
    );
    // A whole form of two files still stores both.
    let form = reqwest::multipart::Form::new()
        .part(
            "a",
            reqwest::multipart::Part::bytes(b"one".to_vec()).file_name("a.txt"),
        )
        .part(
            "b",
            reqwest::multipart::Part::bytes(b"two".to_vec()).file_name("b.txt"),
        );
    let r = node
        .req(reqwest::Method::POST, "/upload")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["entries"].as_array().map(Vec::len), Some(2), "{v}");
    let (_, status) = node.get_json("/status").await;
    assert_eq!(status["counts"]["files"], 3, "{status}");
}

/// A native call asked with a method it does not take answers the
/// documented JSON error, with the methods it takes in `Allow`.
#[tokio::test]
async fn a_wrong_method_is_a_json_405_naming_the_right_ones() {
    let node = TestNode::start().await;
    let r = node
        .req(reqwest::Method::GET, "/fetch")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let allow = r.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("POST"), "{allow}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "method_not_allowed", "{v}");
    assert!(v["message"].as_str().unwrap().contains("GET"), "{v}");
}

/// Issue 21: a raw body without `?name=` is stored, named `upload` (as a
/// browser names a nameless file), where it used to be refused although
/// the document lets `name` out.
#[tokio::test]
async fn a_raw_upload_without_a_name_is_named_upload() {
    let node = TestNode::start().await;
    let r = node
        .req(Method::POST, "/upload")
        .body("no name")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["entries"][0]["name"], "upload", "{v}");
    assert_eq!(v["entries"][0]["size"], 7, "{v}");
}
