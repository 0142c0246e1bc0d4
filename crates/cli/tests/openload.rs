//! Openload's API (`/1/...`), sent in the seed's request forms (GET with
//! query strings; one call as a POSTed form), with uploads as
//! `curl -F file1=@…` sends them, downloads through dlticket → dl → the
//! link, remote uploads from an origin on 127.0.0.1, real ffmpeg, and
//! PyOpenload. The calls run on an in-process node through the harness's
//! Openload client; a node without ffmpeg on its PATH is the real binary.

mod common;

use std::time::{Duration, Instant};

use common::seeds::Openload;
use common::seeds::openload::with;
use common::{Dirs, Endpoint, InProcNode, TestNode, data};
use reqwest::Method;
use serde_json::{Value, json};
use sha1::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A gateway account made by the admin: (login, key, home folder id).
async fn account(node: &impl Endpoint, extra: Value) -> (String, String, String) {
    let mut body = json!({});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (s, v) = node.send_json(Method::POST, "/accounts", body).await;
    assert_eq!(s, 201, "{v}");
    (
        v["login"].as_str().unwrap().to_owned(),
        v["key"].as_str().unwrap().to_owned(),
        v["home"].as_str().unwrap().to_owned(),
    )
}

fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(bytes))
}

fn ids_of(list: &Value) -> Vec<String> {
    list["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["linkextid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_info_has_openloads_types_and_bad_keys_are_403() {
    let node = InProcNode::start().await;
    let ol = Openload::on(&node);
    let (login, key, _) = account(
        &node,
        json!({ "email": "ann@example.com", "storage_limit": 1000000, "traffic_limit": 5000 }),
    )
    .await;
    let auth = [("login", login.as_str()), ("key", key.as_str())];
    let info = ol.ok("account/info", &auth).await;
    assert_eq!(info["email"], "ann@example.com");
    assert!(info["extid"].is_string());
    let signup = info["signup_at"].as_str().unwrap();
    assert_eq!(signup.len(), 19, "YYYY-MM-DD HH:MM:SS: {signup}");
    assert_eq!(&signup[4..5], "-");
    assert_eq!(&signup[10..11], " ");
    assert_eq!(info["storage_left"], 1000000);
    assert_eq!(info["storage_used"], "0", "a string, as Openload sent it");
    assert_eq!(info["traffic"], json!({ "left": 5000, "used_24h": 0 }));
    assert!(info["balance"].is_number());

    ol.refused("account/info", &[("login", &login), ("key", "wrong")], 403)
        .await;
    ol.refused("account/info", &[("login", &login)], 403).await;
    ol.refused("account/info", &[("login", &login), ("key", "")], 403)
        .await;
    ol.refused("account/info", &[], 403).await;
    ol.refused("account/nosuch", &auth, 404).await;

    // Unknown parameters are ignored; an unlimited account says -1.
    let (l2, k2, _) = account(&node, json!({})).await;
    let info = ol
        .ok(
            "account/info",
            &[
                ("login", &l2),
                ("key", &k2),
                ("utm_source", "x"),
                ("folder", ""),
            ],
        )
        .await;
    assert_eq!(info["storage_left"], -1);
    assert_eq!(info["traffic"]["left"], -1);

    // The same call as a POSTed form (Plowshare's `curl -d`).
    let resp = node
        .http
        .post(node.root_url("/1/account/info"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("login={login}&key={key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["result"]["email"], "ann@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_check_sha1_and_downloads_serve_ranges_byte_exact() {
    let node = InProcNode::start().await;
    let ol = Openload::on(&node);
    let (login, key, home) = account(&node, json!({})).await;
    let auth = [("login", login.as_str()), ("key", key.as_str())];
    let bytes = data(3 << 20, 7);
    let sha1 = sha1_hex(&bytes);

    // The expected sha1 may come in upper case.
    let ul = ol
        .ok(
            "file/ul",
            &[
                ("login", &login),
                ("key", &key),
                ("sha1", &sha1.to_uppercase()),
                ("httponly", "true"),
                ("folder", ""),
            ],
        )
        .await;
    let url = ul["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("http://{}/ul/", node.addr)),
        "{url}"
    );
    assert_eq!(ul["valid_until"].as_str().unwrap().len(), 19);
    // Extra query parameters on the upload URL are tolerated.
    let v = ol
        .post_file(
            &format!("{url}?login={login}"),
            "file1",
            "The quick brown fox.bin",
            &bytes,
        )
        .await;
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["msg"], "OK");
    let up = v["result"].clone();
    let id = up["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 11);
    assert_eq!(up["name"], "The quick brown fox.bin");
    assert_eq!(up["sha1"], sha1);
    assert_eq!(up["size"], (3u64 << 20).to_string());
    assert!(up["content_type"].is_string());
    assert_eq!(
        up["url"],
        format!("http://{}/f/{id}/The%20quick%20brown%20fox.bin", node.addr)
    );

    // A wrong sha1 refuses the upload and stores nothing.
    let ul = ol
        .ok(
            "file/ul",
            &[("login", &login), ("key", &key), ("sha1", &"0".repeat(40))],
        )
        .await;
    let v = ol
        .post_file(
            ul["url"].as_str().unwrap(),
            "file1",
            "bad.bin",
            &bytes[..1000],
        )
        .await;
    assert_eq!(v["status"], 400, "{v}");
    let listed = ol.ok("file/listfolder", &auth).await;
    assert_eq!(
        ids_of(&listed),
        vec![id.clone()],
        "nothing stored: {listed}"
    );
    ol.refused(
        "file/ul",
        &[("login", &login), ("key", &key), ("sha1", "abc")],
        400,
    )
    .await;

    // Any field name; no boundary is refused; a forged URL is 403.
    let other = ol.upload(&auth, "other.txt", b"hello").await;
    let ul = ol.ok("file/ul", &auth).await;
    let v = ol
        .post_file(ul["url"].as_str().unwrap(), "upload_file", "x.txt", b"x")
        .await;
    assert_eq!(v["status"], 200, "{v}");
    let resp = node
        .http
        .post(ul["url"].as_str().unwrap())
        .header("content-type", "multipart/form-data")
        .body("junk")
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], 400);
    assert_eq!(
        v["msg"],
        "upload failed: no boundary defined in Content-Type"
    );
    let forged = format!("{}x", ul["url"].as_str().unwrap());
    assert_eq!(
        ol.post_file(&forged, "file1", "f", b"f").await["status"],
        403
    );

    // file/info: present and missing ids together.
    let missing = "AAAAAAAAAAA";
    let files = format!(
        "{id},{missing},{},not-an-id!",
        other["id"].as_str().unwrap()
    );
    let info = ol.ok("file/info", &[("file", &files)]).await;
    assert_eq!(
        info[&id],
        json!({
            "id": id, "status": 200, "name": "The quick brown fox.bin",
            "size": (3u64 << 20).to_string(), "sha1": sha1,
            "content_type": up["content_type"],
        })
    );
    assert_eq!(
        info[missing],
        json!({ "id": missing, "status": 404, "name": false, "size": false, "sha1": false, "content_type": false })
    );
    assert_eq!(info["not-an-id!"]["status"], 404);
    assert_eq!(info[other["id"].as_str().unwrap()]["name"], "other.txt");
    let many = (0..51)
        .map(|i| format!("id{i:09}"))
        .collect::<Vec<_>>()
        .join(",");
    ol.refused("file/info", &[("file", &many)], 400).await;
    ol.refused(
        "file/info",
        &[("file", &id), ("login", &login), ("key", "bad")],
        403,
    )
    .await;
    // The node's own files (not a user's, not anonymous) are not shown.
    let (s, own) = node.upload("private.bin", b"operator".to_vec(), "").await;
    assert_eq!(s, 201);
    let own_id = own["id"].as_str().unwrap();
    assert_eq!(
        ol.ok("file/info", &[("file", own_id)]).await[own_id]["status"],
        404
    );
    ol.refused("file/dlticket", &[("file", own_id)], 404).await;

    // dlticket → dl → the link, with a Range.
    let t = ol.ok("file/dlticket", &[("file", &id)]).await;
    assert_eq!(t["captcha_url"], false);
    assert_eq!(t["wait_time"], 0);
    let ticket = t["ticket"].as_str().unwrap();
    assert!(ticket.starts_with(&format!("{id}~")), "{ticket}");
    // A missing, empty or "null" captcha_response is all the same.
    let dl = ol
        .ok(
            "file/dl",
            &[
                ("file", &id),
                ("ticket", ticket),
                ("captcha_response", "null"),
            ],
        )
        .await;
    assert_eq!(dl["name"], "The quick brown fox.bin");
    assert_eq!(dl["size"], 3u64 << 20, "a number in file/dl");
    assert_eq!(dl["sha1"], sha1);
    assert_eq!(dl["upload_at"].as_str().unwrap().len(), 19);
    let token = dl["token"].as_str().unwrap();
    assert_eq!(token.len(), 16);
    let url = dl["url"].as_str().unwrap();
    assert_eq!(
        url,
        format!(
            "http://{}/dl/l/{token}/{id}/The%20quick%20brown%20fox.bin",
            node.addr
        )
    );
    let (s, h, body) = ol.fetch(url, Some("bytes=1000000-1999999")).await;
    assert_eq!(s, 206);
    assert_eq!(
        h["content-range"],
        format!("bytes 1000000-1999999/{}", 3u64 << 20)
    );
    assert_eq!(body, &bytes[1_000_000..2_000_000]);
    let (s, _, body) = ol.fetch(url, None).await;
    assert_eq!(s, 200);
    assert!(body == bytes, "whole file byte-exact");
    let (s, _, body) = ol
        .fetch(
            &format!("http://{}/dl/l/{token}/{id}", node.addr),
            Some("bytes=-5"),
        )
        .await;
    assert_eq!((s, body.as_slice()), (206, &bytes[bytes.len() - 5..]));

    // Tampered links and tickets are refused.
    let mut bad = token.chars().collect::<Vec<_>>();
    bad[15] = if bad[15] == 'A' { 'B' } else { 'A' };
    let bad: String = bad.into_iter().collect();
    let (s, _, body) = ol.fetch(&url.replace(token, &bad), None).await;
    assert_eq!(s, 403);
    assert!(body.len() < 1000, "nothing of the file is served");
    let (s, _, _) = ol
        .fetch(&url.replace(&id, other["id"].as_str().unwrap()), None)
        .await;
    assert_eq!(s, 403, "a link is for one file");
    ol.refused(
        "file/dl",
        &[("file", &id), ("ticket", &format!("{ticket}x"))],
        403,
    )
    .await;
    ol.refused(
        "file/dl",
        &[("file", other["id"].as_str().unwrap()), ("ticket", ticket)],
        403,
    )
    .await;
    ol.refused("file/dl", &[("file", &id)], 400).await;
    ol.refused("file/dlticket", &[("file", missing)], 404).await;

    // Anonymous uploads land in the top-level folder "Openload".
    let anon = ol.upload(&[], "anon.txt", b"anonymous bytes").await;
    let (_, e) = node
        .get_json(&format!("/entries/{}", anon["id"].as_str().unwrap()))
        .await;
    let (_, folder) = node
        .get_json(&format!("/entries/{}", e["parent"].as_str().unwrap()))
        .await;
    assert_eq!(folder["name"], "Openload");
    assert_eq!(folder["parent"], Value::Null);
    let l = ol.link(anon["id"].as_str().unwrap()).await;
    assert_eq!(
        ol.fetch(l["url"].as_str().unwrap(), None).await.2,
        b"anonymous bytes"
    );
    ol.refused("file/ul", &[("folder", &home)], 403).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_traffic_limit_is_509_before_any_byte_moves() {
    let node = InProcNode::start().await;
    let ol = Openload::on(&node);
    let (login, key, _) = account(&node, json!({ "traffic_limit": 150000 })).await;
    let auth = [("login", login.as_str()), ("key", key.as_str())];
    let bytes = data(100_000, 3);
    let id = ol.upload(&auth, "a.bin", &bytes).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The first download fits and is charged to the owner.
    let l = ol.link(&id).await;
    assert_eq!(ol.fetch(l["url"].as_str().unwrap(), None).await.2, bytes);
    let info = ol.ok("account/info", &auth).await;
    assert_eq!(
        info["traffic"],
        json!({ "left": 50000, "used_24h": 100000 })
    );

    // The second would pass the limit: refused at the ticket...
    let v = ol.refused("file/dlticket", &[("file", &id)], 509).await;
    assert!(v["msg"].as_str().unwrap().contains("bandwidth"), "{v}");
    // ... and at file/dl for a ticket issued before the limit was lowered.
    let (l2, k2, _) = account(&node, json!({ "traffic_limit": 1000000 })).await;
    let t = ol
        .ok(
            "file/dlticket",
            &[("file", &id), ("login", &l2), ("key", &k2)],
        )
        .await;
    let (s, v) = node
        .send_json(
            Method::PATCH,
            &format!("/accounts/{l2}"),
            json!({ "traffic_limit": 10 }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let v = ol
        .refused(
            "file/dl",
            &[("file", &id), ("ticket", t["ticket"].as_str().unwrap())],
            509,
        )
        .await;
    assert_eq!(v["result"], false, "no link: {v}");
    let info = ol.ok("account/info", &[("login", &l2), ("key", &k2)]).await;
    assert_eq!(
        info["traffic"]["used_24h"], 0,
        "a refused charge counts nothing"
    );
    let info = ol.ok("account/info", &auth).await;
    assert_eq!(info["traffic"]["used_24h"], 100000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storage_quota_refuses_an_upload_and_stores_nothing() {
    let node = InProcNode::start().await;
    let ol = Openload::on(&node);
    let (login, key, _) = account(&node, json!({ "storage_limit": 10000 })).await;
    let auth = [("login", login.as_str()), ("key", key.as_str())];
    ol.upload(&auth, "small.bin", &data(6000, 1)).await;
    let ul = ol.ok("file/ul", &auth).await;
    let v = ol
        .post_file(
            ul["url"].as_str().unwrap(),
            "file1",
            "big.bin",
            &data(6000, 2),
        )
        .await;
    assert_eq!(v["status"], 403, "{v}");
    assert!(v["msg"].as_str().unwrap().contains("storage"), "{v}");
    let listed = ol.ok("file/listfolder", &auth).await;
    assert_eq!(listed["files"].as_array().unwrap().len(), 1, "{listed}");
    let info = ol.ok("account/info", &auth).await;
    assert_eq!(info["storage_used"], "6000");
    assert_eq!(info["storage_left"], 4000);
}

/// Serves `body` at `/open.bin`, and at any other path only with
/// `Cookie: auth=1234`, else 403.
async fn origin(body: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                let open = req.starts_with("get /open.bin ");
                let reply = if open || req.contains("\r\ncookie: auth=1234;") {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&body);
                    r
                } else {
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_vec()
                };
                let _ = sock.write_all(&reply).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    addr
}

/// Polls remotedl/status for `id` until it is finished or failed (bounded).
async fn remote_done(ol: &Openload, auth: &[(&str, &str)], id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut q = auth.to_vec();
        q.push(("id", id));
        let r = ol.ok("remotedl/status", &q).await;
        let entry = r[id].clone();
        if matches!(entry["status"].as_str(), Some("finished" | "error"))
            || Instant::now() > deadline
        {
            return entry;
        }
        assert!(
            matches!(entry["status"].as_str(), Some("new" | "downloading")),
            "{entry}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_uploads_are_fetched_with_their_headers_and_reported() {
    let body = data(2 << 20, 11);
    let origin = origin(body.clone()).await;
    let node = InProcNode::start_with(|c| c.remote.allow = vec!["127.0.0.1".into()]).await;
    let ol = Openload::on(&node);
    let (login, key, home) = account(&node, json!({})).await;
    let auth = [("login", login.as_str()), ("key", key.as_str())];

    assert_eq!(
        ol.ok("remotedl/status", &auth).await,
        json!({}),
        "nothing yet"
    );
    let url = format!("http://{origin}/file.bin");
    let headers =
        "User-Agent: Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:35.0)\nCookie: auth=1234;";
    let added = ol
        .ok(
            "remotedl/add",
            &[
                ("login", &login),
                ("key", &key),
                ("url", &url),
                ("headers", headers),
            ],
        )
        .await;
    let id = added["id"].as_str().unwrap().to_owned();
    assert!(
        id.parse::<u64>().is_ok(),
        "a decimal id as a string: {added}"
    );
    assert_eq!(added["folderid"], home);

    let done = remote_done(&ol, &auth, &id).await;
    assert_eq!(done["status"], "finished", "{done}");
    assert_eq!(done["id"], id.parse::<u64>().unwrap(), "a number in status");
    assert_eq!(done["remoteurl"], url);
    assert_eq!(done["bytes_loaded"], (2u64 << 20).to_string());
    assert_eq!(done["bytes_total"], (2u64 << 20).to_string());
    assert_eq!(done["folderid"], home);
    assert_eq!(done["added"].as_str().unwrap().len(), 19);
    let extid = done["extid"].as_str().unwrap().to_owned();
    assert_eq!(done["url"], format!("http://{}/f/{extid}", node.addr));
    let l = ol.link(&extid).await;
    assert_eq!(l["name"], "file.bin");
    assert!(ol.fetch(l["url"].as_str().unwrap(), None).await.2 == body);

    // Without the cookie the origin refuses: an error, no file.
    let added = ol
        .ok(
            "remotedl/add",
            &[("login", &login), ("key", &key), ("url", &url)],
        )
        .await;
    let failed = remote_done(&ol, &auth, added["id"].as_str().unwrap()).await;
    assert_eq!(failed["status"], "error", "{failed}");
    assert_eq!(failed["extid"], false);
    assert_eq!(failed["url"], false);
    // A URL the node will not fetch is accepted and reported as an error.
    let added = ol
        .ok(
            "remotedl/add",
            &[("login", &login), ("key", &key), ("url", "ftp://x/y")],
        )
        .await;
    let failed = remote_done(&ol, &auth, added["id"].as_str().unwrap()).await;
    assert_eq!(failed["status"], "error");
    assert_eq!(failed["bytes_loaded"], Value::Null);

    let all = ol
        .ok(
            "remotedl/status",
            &[("login", &login), ("key", &key), ("limit", "100")],
        )
        .await;
    assert_eq!(all.as_object().unwrap().len(), 3);
    let two = ol
        .ok(
            "remotedl/status",
            &[("login", &login), ("key", &key), ("limit", "2")],
        )
        .await;
    assert_eq!(two.as_object().unwrap().len(), 2);
    assert!(two.get(&id).is_none(), "newest first: {two}");
    ol.refused("remotedl/add", &auth, 400).await;
    ol.refused("remotedl/add", &[("url", &url)], 403).await;
    ol.refused(
        "remotedl/status",
        &[("login", &login), ("key", &key), ("id", "999999")],
        404,
    )
    .await;
    let (l2, k2, _) = account(&node, json!({})).await;
    ol.refused(
        "remotedl/status",
        &[("login", &l2), ("key", &k2), ("id", &id)],
        404,
    )
    .await;
    ol.refused(
        "remotedl/add",
        &[
            ("login", &l2),
            ("key", &k2),
            ("url", &url),
            ("folder", &home),
        ],
        403,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_and_files_are_listed_renamed_and_deleted() {
    let node = InProcNode::start().await;
    let ol = Openload::on(&node);
    let (login, key, home) = account(&node, json!({})).await;
    let auth = [("login", login.as_str()), ("key", key.as_str())];
    let (s, sub) = node
        .send_json(
            Method::POST,
            "/folders",
            json!({ "parent": home, "name": "video" }),
        )
        .await;
    assert_eq!(s, 201, "{sub}");
    let sub = sub["id"].as_str().unwrap().to_owned();
    let ul = ol
        .ok(
            "file/ul",
            &[("login", &login), ("key", &key), ("folder", &sub)],
        )
        .await;
    let v = ol
        .post_file(ul["url"].as_str().unwrap(), "files", "clip.txt", b"clip")
        .await;
    let file = v["result"]["id"].as_str().unwrap().to_owned();

    let top = ol.ok("file/listfolder", &auth).await;
    assert_eq!(top["folders"], json!([{ "id": sub, "name": "video" }]));
    assert_eq!(top["files"], json!([]));
    let listed = ol
        .ok(
            "file/listfolder",
            &[("login", &login), ("key", &key), ("folder", &sub)],
        )
        .await;
    let f = &listed["files"][0];
    assert_eq!(f["name"], "clip.txt");
    assert_eq!(f["sha1"], sha1_hex(b"clip"));
    assert_eq!(f["folderid"], sub);
    assert!(f["upload_at"].as_str().unwrap().parse::<u64>().is_ok());
    assert_eq!(f["status"], "active");
    assert_eq!(f["size"], "4");
    assert_eq!(f["download_count"], "0");
    assert_eq!(f["cstatus"], "ok");
    assert_eq!(f["link"], format!("http://{}/f/{file}/clip.txt", node.addr));
    assert_eq!(f["linkextid"], file);
    let page = node
        .http
        .get(f["link"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("clip.txt"));

    // Another account can neither see nor touch them.
    let (l2, k2, _) = account(&node, json!({})).await;
    let other = [("login", l2.as_str()), ("key", k2.as_str())];
    ol.refused("file/listfolder", &with(&other, &[("folder", &sub)]), 403)
        .await;
    ol.refused(
        "file/rename",
        &with(&other, &[("file", &file), ("name", "x")]),
        403,
    )
    .await;
    ol.refused(
        "file/renamefolder",
        &with(&other, &[("folder", &sub), ("name", "x")]),
        403,
    )
    .await;
    ol.refused("file/delete", &with(&other, &[("file", &file)]), 403)
        .await;

    assert_eq!(
        ol.ok(
            "file/renamefolder",
            &[
                ("login", &login),
                ("key", &key),
                ("folder", &sub),
                ("name", "my new foldername")
            ]
        )
        .await,
        true
    );
    assert_eq!(
        ol.ok(
            "file/rename",
            &[
                ("login", &login),
                ("key", &key),
                ("file", &file),
                ("name", "My File Backup_2017.zip")
            ]
        )
        .await,
        true
    );
    let top = ol.ok("file/listfolder", &auth).await;
    assert_eq!(top["folders"][0]["name"], "my new foldername");
    let info = ol.ok("file/info", &[("file", &file)]).await;
    assert_eq!(info[&file]["name"], "My File Backup_2017.zip");
    ol.refused(
        "file/rename",
        &[
            ("login", &login),
            ("key", &key),
            ("file", &file),
            ("name", "a/b"),
        ],
        400,
    )
    .await;
    ol.refused(
        "file/rename",
        &[
            ("login", &login),
            ("key", &key),
            ("file", &sub),
            ("name", "x"),
        ],
        404,
    )
    .await;
    ol.refused(
        "file/renamefolder",
        &[
            ("login", &login),
            ("key", &key),
            ("folder", &home),
            ("name", "x"),
        ],
        403,
    )
    .await;
    ol.refused(
        "file/rename",
        &[
            ("login", &login),
            ("key", &key),
            ("file", "AAAAAAAAAAA"),
            ("name", "x"),
        ],
        404,
    )
    .await;
    ol.refused(
        "file/rename",
        &[("login", &login), ("key", &key), ("file", &file)],
        400,
    )
    .await;

    assert_eq!(
        ol.ok(
            "file/delete",
            &[("login", &login), ("key", &key), ("file", &file)]
        )
        .await,
        true
    );
    let listed = ol
        .ok(
            "file/listfolder",
            &[("login", &login), ("key", &key), ("folder", &sub)],
        )
        .await;
    assert_eq!(listed["files"], json!([]));
    assert_eq!(
        ol.ok("file/info", &[("file", &file)]).await[&file]["status"],
        404
    );
    ol.refused(
        "file/delete",
        &[("login", &login), ("key", &key), ("file", &file)],
        404,
    )
    .await;
    let page = node
        .http
        .get(node.root_url(&format!("/f/{file}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
}

/// Makes a 3-second test clip (MPEG-4 part 2 video, MP3-less PCM audio, in
/// AVI): not something a browser plays.
fn clip(node: &impl Dirs) -> Vec<u8> {
    let path = node.files().join("clip.avi");
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=3:size=160x120:rate=10",
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=3"])
        .args(["-c:v", "mpeg4", "-c:a", "pcm_s16le", "-shortest"])
        .arg(&path)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&path).unwrap()
}

fn ffprobe_streams(path: &std::path::Path) -> Value {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convert_makes_a_streamable_mp4_and_getsplash_a_jpeg() {
    let node = InProcNode::start().await;
    let ol = Openload::on(&node);
    let (login, key, home) = account(&node, json!({})).await;
    let auth = [("login", login.as_str()), ("key", key.as_str())];
    let avi = clip(&node);
    let id = ol.upload(&auth, "clip.avi", &avi).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(ol.ok("file/runningconverts", &auth).await, json!([]));
    let with_file = [
        ("login", login.as_str()),
        ("key", key.as_str()),
        ("file", id.as_str()),
    ];
    assert_eq!(ol.ok("file/convert", &with_file).await, true);

    // Poll until the converted file is there; any running convert seen on
    // the way has the seed's shape.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mp4 = loop {
        let running = ol
            .ok(
                "file/runningconverts",
                &[("login", &login), ("key", &key), ("folder", &home)],
            )
            .await;
        for c in running.as_array().unwrap() {
            assert_eq!(c["name"], "clip.avi");
            assert!(c["id"].as_str().unwrap().parse::<u64>().is_ok());
            assert_eq!(c["status"], "pending");
            let p = c["progress"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&p), "{c}");
            assert_eq!(c["retries"], "0");
            assert_eq!(c["linkextid"], id);
            assert_eq!(c["link"], format!("http://{}/f/{id}/clip.avi", node.addr));
        }
        let listed = ol.ok("file/listfolder", &auth).await;
        let found = listed["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "clip.avi.mp4")
            .cloned();
        if let Some(f) = found {
            break f;
        }
        assert!(Instant::now() < deadline, "no converted file: {listed}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(mp4["content_type"], "video/mp4");
    // The converted file is listed the moment it is committed; its
    // convert is reported done a moment later, when the job ends.
    let running = loop {
        let running = ol.ok("file/runningconverts", &auth).await;
        if running == json!([]) || Instant::now() >= deadline {
            break running;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(running, json!([]));
    let (_, jobs) = node.get_json("/jobs?limit=50").await;
    let convert = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "convert")
        .cloned()
        .unwrap_or_else(|| panic!("a convert job: {jobs}"));
    assert_eq!(convert["state"], "done", "{convert}");
    assert_eq!(
        convert["done"], convert["total"],
        "progress reached the end: {convert}"
    );
    let total = convert["total"].as_u64().unwrap();
    assert!(
        (2500..=3500).contains(&total),
        "milliseconds of the probed duration: {convert}"
    );

    let l = ol.link(mp4["linkextid"].as_str().unwrap()).await;
    let bytes = ol.fetch(l["url"].as_str().unwrap(), None).await.2;
    let path = node.files.join("out.mp4");
    std::fs::write(&path, &bytes).unwrap();
    let probe = ffprobe_streams(&path);
    let codecs: Vec<&str> = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap())
        .collect();
    assert_eq!(codecs, ["h264", "aac"], "{probe}");
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((duration - 3.0).abs() < 0.5, "{probe}");
    let at = |tag: &[u8]| bytes.windows(4).position(|w| w == tag).unwrap();
    assert!(at(b"moov") < at(b"mdat"), "index first (+faststart)");

    // The splash image: a JPEG this node serves, the same on a second call.
    let splash = ol.ok("file/getsplash", &with_file).await;
    let url = splash.as_str().unwrap();
    assert!(
        url.starts_with(&format!("http://{}/splash/{id}/", node.addr)),
        "{url}"
    );
    assert!(url.ends_with(".jpg"));
    let (s, h, jpeg) = ol.fetch(url, None).await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "image/jpeg");
    assert_eq!(&jpeg[..3], &[0xFF, 0xD8, 0xFF], "JPEG magic");
    assert_eq!(ol.ok("file/getsplash", &with_file).await, splash);
    let top = ol.ok("file/listfolder", &auth).await;
    assert!(
        top["folders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == ".videothumb"),
        "{top}"
    );
    let (s, _, _) = ol
        .fetch(&url.replace(&id, mp4["linkextid"].as_str().unwrap()), None)
        .await;
    assert_eq!(s, 404, "a splash image is its own file's");

    // Someone else's file, and a file that is not a video.
    let (l2, k2, _) = account(&node, json!({})).await;
    ol.refused(
        "file/convert",
        &[("login", &l2), ("key", &k2), ("file", &id)],
        403,
    )
    .await;
    ol.refused(
        "file/getsplash",
        &[("login", &l2), ("key", &k2), ("file", &id)],
        403,
    )
    .await;
    let text = ol.upload(&auth, "notes.txt", b"not a video").await;
    let with_text = [
        ("login", login.as_str()),
        ("key", key.as_str()),
        ("file", text["id"].as_str().unwrap()),
    ];
    ol.refused("file/getsplash", &with_text, 400).await;
    let leftovers = std::fs::read_dir(node.dir.join("media-tmp"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "temp files are removed after use");
}

#[tokio::test]
async fn without_ffmpeg_convert_and_getsplash_say_so() {
    let empty = tempfile::tempdir().unwrap();
    // A PATH without ffmpeg is the binary's environment, not this process's.
    let node = TestNode::start_with_env("", &[("PATH", empty.path().to_str().unwrap())]).await;
    let ol = Openload::on(&node);
    let (login, key, _) = account(&node, json!({})).await;
    let auth = [("login", login.as_str()), ("key", key.as_str())];
    let id = ol.upload(&auth, "v.avi", b"not really a video").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let q = [
        ("login", login.as_str()),
        ("key", key.as_str()),
        ("file", id.as_str()),
    ];
    let v = ol.refused("file/convert", &q, 503).await;
    assert!(
        v["msg"]
            .as_str()
            .unwrap()
            .contains("ffmpeg is not installed"),
        "{v}"
    );
    let v = ol.refused("file/getsplash", &q, 503).await;
    assert!(v["msg"].as_str().unwrap().contains("ffmpeg"), "{v}");
    assert_eq!(ol.ok("file/runningconverts", &auth).await, json!([]));
    // The rest of the node works on.
    assert_eq!(ol.ok("account/info", &auth).await["storage_used"], "18");
}

/// PyOpenload (PyPI `pyopenload` 0.7), Openload's Python client, run
/// unchanged against the node: only its base URL is pointed here.
const PYOPENLOAD_SCRIPT: &str = r#"
import os, sys, hashlib, time, requests
from openload import OpenLoad
from openload.api_exceptions import FileNotFoundException
addr, login, key, path, remote = sys.argv[1:6]
ol = OpenLoad(login, key)
ol.api_url = "http://%s/1/" % addr
info = ol.account_info()
assert info["storage_used"] == "0", info
up = ol.upload_file(path, sha1=hashlib.sha1(open(path, "rb").read()).hexdigest())
fid = up["id"]
assert up["name"] == os.path.basename(path), up
assert ol.file_info(fid)[fid]["status"] == 200
ticket = ol.prepare_download(fid)
assert ticket["captcha_url"] is False, ticket
link = ol.get_download_link(fid, ticket["ticket"])
body = requests.get(link["url"]).content
assert body == open(path, "rb").read(), "download differs"
listed = ol.list_folder()
assert [f["linkextid"] for f in listed["files"]] == [fid], listed
assert ol.rename_file(fid, "renamed.bin") is True
rid = ol.remote_upload(remote)["id"]
for _ in range(600):
    st = ol.remote_upload_status(remote_upload_id=rid)[rid]
    if st["status"] in ("finished", "error"):
        break
    time.sleep(0.05)
assert st["status"] == "finished", st
assert ol.running_conversions() == []
assert ol.delete_file(fid) is True
assert ol.file_info("AAAAAAAAAAA")["AAAAAAAAAAA"]["status"] == 404
try:
    ol.delete_file(fid)
    sys.exit("deleting twice should raise")
except FileNotFoundException:
    pass
print("pyopenload ok")
"#;

/// Runs under `bash scripts/test.sh`, which builds a venv with PyOpenload
/// (`target/pyopenload-venv`) and points `CAIRN_PYOPENLOAD_PYTHON` at it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyopenload_drives_the_node_unchanged() {
    let python = std::env::var("CAIRN_PYOPENLOAD_PYTHON").unwrap_or_else(|_| {
        let venv = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/pyopenload-venv/bin/python"
        );
        assert!(
            std::path::Path::new(venv).exists(),
            "PyOpenload is missing: run `bash scripts/test.sh` once (it makes {venv}), \
             or set CAIRN_PYOPENLOAD_PYTHON to a python that can import openload"
        );
        venv.to_owned()
    });
    let body = data(300_000, 21);
    let origin = origin(body).await;
    let node = InProcNode::start_with(|c| c.remote.allow = vec!["127.0.0.1".into()]).await;
    let (login, key, _) = account(&node, json!({})).await;
    let path = node.files.join("py.bin");
    std::fs::write(&path, data(200_000, 22)).unwrap();
    // PyOpenload cannot send headers (it passes a dict): a path the origin
    // serves without its cookie.
    let remote = format!("http://{origin}/open.bin");
    let out = tokio::process::Command::new(python)
        .arg("-c")
        .arg(PYOPENLOAD_SCRIPT)
        .args([&node.addr, &login, &key, path.to_str().unwrap(), &remote])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("pyopenload ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_time_is_configured_and_blocked_files_are_451() {
    let node = InProcNode::start_with(|c| c.openload.wait_secs = 3600).await;
    let ol = Openload::on(&node);
    let (login, key, _) = account(&node, json!({})).await;
    let auth = [("login", login.as_str()), ("key", key.as_str())];
    let id = ol.upload(&auth, "a.txt", b"abc").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = ol.ok("file/dlticket", &[("file", &id)]).await;
    assert_eq!(t["wait_time"], 3600);
    let ticket = t["ticket"].as_str().unwrap();
    let v = ol
        .refused("file/dl", &[("file", &id), ("ticket", ticket)], 400)
        .await;
    assert!(v["msg"].as_str().unwrap().contains("wait"), "{v}");

    // The operator blocks a file: 451 everywhere, data kept in file/info.
    let (s, v) = node
        .send_json(
            Method::PATCH,
            &format!("/entries/{id}/metadata"),
            json!({ "openload.blocked": "court order 123" }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let info = ol.ok("file/info", &[("file", &id)]).await;
    assert_eq!(info[&id]["status"], 451);
    assert_eq!(info[&id]["name"], "a.txt");
    ol.refused("file/dlticket", &[("file", &id)], 451).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_file_is_downloaded_only_by_its_owner_or_a_buyer() {
    let node = InProcNode::start().await;
    let ol = Openload::on(&node);
    let (owner, owner_key, home) = account(&node, json!({})).await;
    let (buyer, buyer_key, _) = account(&node, json!({})).await;
    let body = data(50_000, 33);
    let r = node
        .req(
            Method::POST,
            &format!(
                "/upload?name=paid.bin&parent={home}&restricted=true&previewallowed=true&price=5"
            ),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let id = v["entries"][0]["id"].as_str().unwrap().to_owned();

    // Openload links serve whole files: anonymous and non-buyers are refused.
    let v = ol.refused("file/dlticket", &[("file", &id)], 403).await;
    assert!(v["msg"].as_str().unwrap().contains("credits"), "{v}");
    let buyer_auth = [("login", buyer.as_str()), ("key", buyer_key.as_str())];
    ol.refused("file/dlticket", &with(&buyer_auth, &[("file", &id)]), 403)
        .await;

    // The owner may.
    let owner_auth = [("login", owner.as_str()), ("key", owner_key.as_str())];
    assert!(ol.download_as(&owner_auth, &id).await == body);

    // The buyer may, once bought.
    let (s, v) = node
        .send_json(
            Method::POST,
            &format!("/accounts/{buyer}/deposit"),
            json!({ "unit": "credits", "amount": 5 }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let r = node
        .http
        .post(node.url(&format!("/paid/{id}/buy")))
        .query(&[("login", buyer.as_str()), ("key", buyer_key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert!(ol.download_as(&buyer_auth, &id).await == body);
}

/// POSTs the pairing form, with `origin` as a browser would send it.
async fn pair(ol: &Openload, origin: Option<&str>) -> u16 {
    let mut req = ol.http().post(ol.url("/pair"));
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_get_serves_paired_addresses_without_a_ticket() {
    let node = InProcNode::start().await;
    let ol = Openload::on(&node);
    let (login, key, _) = account(&node, json!({})).await;
    let auth = [("login", login.as_str()), ("key", key.as_str())];
    let body = data(70_000, 31);
    let id = ol.upload(&auth, "clip.mp4", &body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Not paired: 403 naming the pairing page, which streaming/info gives.
    let auth_url = ol.ok("streaming/info", &[]).await["auth_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(auth_url, node.root_url("/pair"));
    let v = ol.refused("streaming/get", &[("file", &id)], 403).await;
    assert_eq!(
        v["msg"],
        format!("IP address not authorized. Visit {auth_url}")
    );
    // The page has the button; a press from another site's page is refused.
    let page = node.http.get(&auth_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("<form method=post action=/pair>"), "{page}");
    assert!(page.contains("127.0.0.1"), "{page}");
    assert_eq!(pair(&ol, Some("http://evil.example")).await, 403);
    ol.refused("streaming/get", &[("file", &id)], 403).await;

    // Paired from the page itself: links without a ticket.
    let own = node.root_url("");
    assert_eq!(pair(&ol, Some(own.trim_end_matches('/'))).await, 200);
    let got = ol.ok("streaming/get", &[("file", &id)]).await;
    assert_eq!(got["name"], "clip.mp4");
    assert_eq!(got["size"], body.len().to_string(), "a string, as captured");
    assert_eq!(got["sha1"], sha1_hex(&body));
    assert_eq!(got["token"].as_str().unwrap().len(), 16);
    let (status, _, bytes) = ol.fetch(got["url"].as_str().unwrap(), None).await;
    assert_eq!(status, 200);
    assert!(bytes == body, "the link serves the file");
    ol.refused("streaming/get", &[("file", "nosuchfile0")], 404)
        .await;
    ol.refused("streaming/get", &[], 400).await;

    // A pairing ends: with no time at all, it never lets anything through.
    let brief = InProcNode::start_with(|c| c.openload.pair_secs = 0).await;
    let brief_ol = Openload::on(&brief);
    let (login, key, _) = account(&brief, json!({})).await;
    let auth = [("login", login.as_str()), ("key", key.as_str())];
    let id = brief_ol.upload(&auth, "a.bin", b"abc").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(pair(&brief_ol, None).await, 200);
    brief_ol
        .refused("streaming/get", &[("file", &id)], 403)
        .await;
}

/// An upload URL given a form that is cut off, or never closed, answers
/// 400 and stores nothing (before, a complete part of an unclosed form was
/// stored and answered 200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_or_unclosed_form_stores_nothing() {
    let node = InProcNode::start().await;
    let ol = Openload::on(&node);
    for (what, body) in common::broken_forms("file1", "note") {
        let ul = ol.ok("file/ul", &[]).await;
        let r = node
            .http
            .post(ul["url"].as_str().unwrap())
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .body(body)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], 400, "{what}: {v}");
    }
    let (_, status) = node.get_json("/status").await;
    assert_eq!(status["counts"]["files"], 0, "nothing stored: {status}");
    assert_eq!(status["counts"]["blobs"], 0, "nothing stored: {status}");
}
