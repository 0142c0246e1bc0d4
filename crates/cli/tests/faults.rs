//! Faults around a real node: bodies cut off mid-upload, cancelled jobs,
//! kill -9 in the middle of an upload, SIGTERM, a second node started on
//! the same data dir, and the events WebSocket that reports all of it.

mod common;

use std::time::{Duration, Instant};

use common::{Endpoint, TestNode, b3, data, read_answer, send_partial};
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::Value;

const SEG: usize = 1 << 20;

fn upload_head(node: &TestNode, name: &str, len: usize) -> String {
    format!(
        "POST /api/v1/upload?name={name} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Length: {len}\r\n\r\n",
        node.addr, node.secret
    )
}

/// Waits until an upload job named `name` is running with at least `done`
/// bytes, and returns its id.
async fn running_upload(node: &TestNode, name: &str, done: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, jobs) = node.get_json("/jobs").await;
        let found = jobs.as_array().unwrap().iter().find(|j| {
            j["kind"] == "upload"
                && j["label"] == name
                && j["state"] == "running"
                && j["done"].as_u64() >= Some(done)
        });
        if let Some(j) = found {
            return j["id"].as_str().unwrap().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no running upload of {name}: {jobs}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn tmp_files(node: &TestNode) -> usize {
    std::fs::read_dir(node.dir.join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0)
}

async fn assert_no_entry(node: &TestNode, name: &str) {
    let (_, page) = node.get_json("/entries").await;
    assert!(
        !page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == name),
        "{name} must not be in the catalog: {page}"
    );
}

#[tokio::test]
async fn an_upload_cut_off_mid_body_stores_nothing() {
    let node = TestNode::start().await;
    let mut conn = node.raw();
    send_partial(
        &mut conn,
        &upload_head(&node, "cut.bin", 4 * SEG),
        &data(SEG + SEG / 2, 1),
    );
    let id = running_upload(&node, "cut.bin", SEG as u64).await;
    conn.shutdown(std::net::Shutdown::Both).unwrap();
    let job = node.wait_job(&id).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("cut off"), "{job}");
    assert_no_entry(&node, "cut.bin").await;
    let (_, status) = node.get_json("/status").await;
    assert_eq!(status["counts"]["blobs"], 0);
    assert_eq!(tmp_files(&node), 0, "the temporary blob is removed");
}

#[tokio::test]
async fn cancelling_an_upload_answers_409_and_stores_nothing() {
    let node = TestNode::start().await;
    let mut conn = node.raw();
    send_partial(
        &mut conn,
        &upload_head(&node, "slow.bin", 4 * SEG),
        &data(2 * SEG, 2),
    );
    let id = running_upload(&node, "slow.bin", SEG as u64).await;
    let (s, _) = node
        .send_json(Method::POST, &format!("/jobs/{id}/cancel"), Value::Null)
        .await;
    assert_eq!(s, 202);
    let answer = read_answer(&mut conn);
    assert!(answer.starts_with("HTTP/1.1 409"), "{answer}");
    assert!(answer.contains("\"cancelled\""), "{answer}");
    assert_eq!(node.wait_job(&id).await["state"], "cancelled");
    assert_no_entry(&node, "slow.bin").await;
    let (s, v) = node
        .send_json(Method::POST, &format!("/jobs/{id}/cancel"), Value::Null)
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("conflict")),
        "an ended job cannot be cancelled: its state conflicts with the call"
    );
}

#[tokio::test]
async fn kill_9_mid_upload_loses_nothing_and_marks_the_job_failed() {
    let mut node = TestNode::start().await;
    let mut kept = Vec::new();
    for (i, len) in [0usize, 10, SEG, 3 * SEG + 1].into_iter().enumerate() {
        let content = data(len, 100 + i as u64);
        let (s, e) = node.upload(&format!("kept{i}"), content.clone(), "").await;
        assert_eq!(s, 201);
        kept.push((e["id"].as_str().unwrap().to_owned(), content));
    }
    let mut conn = node.raw();
    send_partial(
        &mut conn,
        &upload_head(&node, "doomed.bin", 8 * SEG),
        &data(5 * SEG, 3),
    );
    let job = running_upload(&node, "doomed.bin", 4 * SEG as u64).await;
    node.kill9();
    drop(conn);

    let node = node.restart().await;
    assert_no_entry(&node, "doomed.bin").await;
    let (_, j) = node.get_json(&format!("/jobs/{job}")).await;
    assert_eq!(j["state"], "failed", "{j}");
    assert!(j["error"].as_str().unwrap().contains("interrupted"), "{j}");
    for (id, content) in &kept {
        let (s, _, body) = node.content(&format!("/entries/{id}/content"), None).await;
        assert_eq!(s, 200);
        assert_eq!(&body, content, "entry {id} is byte-exact after the crash");
    }
    assert_eq!(
        tmp_files(&node),
        0,
        "the half-written blob was swept at start"
    );
    let (_, status) = node.get_json("/status").await;
    assert_eq!(status["counts"]["files"], kept.len());
    // The node still takes uploads of the same name after the crash.
    let (s, e) = node.upload("doomed.bin", data(SEG, 4), "").await;
    assert_eq!(s, 201);
    assert_eq!(e["blob"], b3(&data(SEG, 4)));
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_a_restart_keeps_everything() {
    let mut node = TestNode::start().await;
    let content = data(2 * SEG + 3, 5);
    let (_, e) = node
        .upload("keep.bin", content.clone(), "&digests=wait")
        .await;
    let (_, folder) = node
        .send_json(Method::POST, "/folders", serde_json::json!({"name": "f"}))
        .await;
    assert_eq!(node.terminate(), Some(0), "SIGTERM exits with status 0");
    let node = node.restart().await;
    let (s, _, body) = node
        .content(
            &format!("/entries/{}/content", e["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(body, content);
    let (s, _) = node
        .get_json(&format!("/entries/{}", folder["id"].as_str().unwrap()))
        .await;
    assert_eq!(s, 200);
    let md5 = e["aliases"]["md5"].as_str().unwrap();
    let (s, _) = node.get_json(&format!("/blobs/{md5}")).await;
    assert_eq!(s, 200, "aliases survive a restart");
}

#[tokio::test]
async fn the_events_websocket_reports_jobs_and_catalog_changes() {
    let node = TestNode::start().await;
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{}/api/v1/events", node.addr),
    )
    .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", node.secret).parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let hello = ws.next().await.unwrap().unwrap();
    assert!(hello.to_text().unwrap().contains("\"hello\""));
    let (_, entry) = node.upload("watched.bin", data(3 * SEG, 6), "").await;
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await
        else {
            break;
        };
        let v: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
        let done_upload =
            v["type"] == "job" && v["job"]["kind"] == "upload" && v["job"]["state"] == "done";
        seen.push(v);
        if done_upload {
            break;
        }
    }
    let kinds: Vec<&str> = seen.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert!(
        seen.iter()
            .any(|v| v["type"] == "entry_added" && v["entry"]["id"] == entry["id"]),
        "{kinds:?}"
    );
    assert!(
        seen.iter().any(|v| v["type"] == "job"
            && v["job"]["kind"] == "upload"
            && v["job"]["state"] == "running"),
        "{kinds:?}"
    );
    assert!(
        seen.iter().any(|v| v["type"] == "job"
            && v["job"]["state"] == "done"
            && v["job"]["done"] == 3 * SEG),
        "{kinds:?}"
    );
    ws.send(tokio_tungstenite::tungstenite::Message::Close(None))
        .await
        .unwrap();
    let anonymous =
        tokio_tungstenite::connect_async(format!("ws://{}/api/v1/events", node.addr)).await;
    assert!(anonymous.is_err(), "the events socket needs the secret too");
}

/// The same events by long poll, for a client without a WebSocket: what
/// came after the last number seen, at once or as soon as it comes; a
/// node stopping ends a poll that waits.
#[tokio::test]
async fn events_come_by_long_poll_too() {
    let mut node = TestNode::start().await;
    let (status, first) = node.get_json("/events/poll?wait=0").await;
    assert_eq!(status, 200, "{first}");
    let after = first["next"].as_u64().unwrap();
    let poll = {
        let url = node.url(&format!("/events/poll?after={after}&wait=30"));
        let req = node.http.get(url).bearer_auth(&node.secret);
        tokio::spawn(async move { req.send().await.unwrap().json::<Value>().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, entry) = node.upload("polled.bin", data(SEG, 8), "").await;
    let got = tokio::time::timeout(Duration::from_secs(20), poll)
        .await
        .expect("the waiting poll answers once an event comes")
        .unwrap();
    let events = got["events"].as_array().unwrap();
    assert!(!events.is_empty(), "{got}");
    assert!(
        events.iter().all(|e| e["seq"].as_u64() > Some(after)),
        "{got}"
    );
    assert_eq!(got["missed"], false);
    // Asked again from the same number, everything since is there.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, all) = node
            .get_json(&format!("/events/poll?after={after}&wait=5&limit=1000"))
            .await;
        let events = all["events"].as_array().unwrap();
        if events
            .iter()
            .any(|e| e["type"] == "entry_added" && e["entry"]["id"] == entry["id"])
        {
            let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
            assert!(
                seqs.windows(2).all(|w| w[1] == w[0] + 1),
                "in order: {seqs:?}"
            );
            assert_eq!(all["next"], *seqs.last().unwrap());
            break;
        }
        assert!(Instant::now() < deadline, "no entry_added: {all}");
    }
    for bad in ["wait=61", "limit=0", "after=-1"] {
        let (status, _) = node.get_json(&format!("/events/poll?{bad}")).await;
        assert_eq!(status, 400, "{bad}");
    }
    // A poll that waits does not hold the node up when it stops.
    let (_, now) = node.get_json("/events/poll?wait=0&after=1000000").await;
    let waiting = {
        let url = node.url(&format!(
            "/events/poll?after={}&wait=60",
            now["next"].as_u64().unwrap()
        ));
        let req = node.http.get(url).bearer_auth(&node.secret);
        tokio::spawn(async move { req.send().await.map(|r| r.status().as_u16()) })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = Instant::now();
    assert_eq!(node.terminate(), Some(0));
    assert!(stopping.elapsed() < Duration::from_secs(20));
    let _ = tokio::time::timeout(Duration::from_secs(5), waiting).await;
}

#[tokio::test]
async fn a_client_that_stops_reading_cannot_hold_up_shutdown() {
    let mut node = TestNode::start().await;
    let (_, entry) = node.upload("big.bin", data(40 * SEG, 7), "").await;
    let id = entry["id"].as_str().unwrap();
    let mut conn = node.raw();
    let head = format!(
        "GET /api/v1/entries/{id}/content HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\r\n",
        node.addr, node.secret
    );
    send_partial(&mut conn, &head, b"");
    // Read a little, then stall with the rest of 40 MiB still to come.
    let mut first = [0u8; 4096];
    std::io::Read::read_exact(&mut conn, &mut first).unwrap();
    assert!(String::from_utf8_lossy(&first).starts_with("HTTP/1.1 200"));
    // terminate() gives up (None) if the process has not exited within its
    // bound; a node waiting on the stalled client would never exit.
    assert_eq!(node.terminate(), Some(0), "the node exits cleanly");
    drop(conn);
}

#[tokio::test]
async fn cancelling_a_download_ends_its_body_early() {
    let node = TestNode::start().await;
    let (_, entry) = node.upload("long.bin", data(24 * SEG, 8), "").await;
    let id = entry["id"].as_str().unwrap();
    let mut conn = node.raw();
    let head = format!(
        "GET /api/v1/entries/{id}/content HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        node.addr, node.secret
    );
    send_partial(&mut conn, &head, b"");
    let mut first = [0u8; 1024];
    std::io::Read::read_exact(&mut conn, &mut first).unwrap();
    let (_, jobs) = node.get_json("/jobs").await;
    let job = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "download" && j["state"] == "running")
        .expect("a running download job")
        .clone();
    let job_id = job["id"].as_str().unwrap();
    let (s, _) = node
        .send_json(Method::POST, &format!("/jobs/{job_id}/cancel"), Value::Null)
        .await;
    assert_eq!(s, 202);
    let rest = read_answer(&mut conn);
    assert!(
        rest.len() + first.len() < 24 * SEG,
        "the body was cut short"
    );
    assert_eq!(node.wait_job(job_id).await["state"], "cancelled");
}

/// The client's error reaches the part's pump, which forwards it. (The
/// other way a part can end early, the handler itself dropped, is pinned by
/// the unit tests of `cairn_api`'s `pumped` module.)
#[tokio::test]
async fn a_multipart_part_cut_off_mid_way_stores_nothing() {
    let node = TestNode::start().await;
    for path in ["/api/v1/upload", "/api/upload"] {
        let boundary = "XyZ";
        let head_part = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"part.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        );
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n{head_part}",
            node.addr,
            node.secret,
            head_part.len() + 4 * SEG + 64
        );
        let mut conn = node.raw();
        send_partial(&mut conn, &head, &data(2 * SEG, 9));
        tokio::time::sleep(Duration::from_millis(300)).await;
        conn.shutdown(std::net::Shutdown::Both).unwrap();
        drop(conn);
    }
    // Whatever the timing, a part that never ended is never stored.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, jobs) = node.get_json("/jobs").await;
        if !jobs
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["state"] == "running")
            || Instant::now() > deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, status) = node.get_json("/status").await;
    assert_eq!(status["counts"]["files"], 0, "{status}");
    assert_eq!(status["counts"]["blobs"], 0);
}

/// Starts `cairn node` on `dir` as a second node and waits (bounded) for
/// it to exit; one still running after 20 s is killed and reported so.
fn second_node(dir: &std::path::Path) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(common::BIN)
        .arg("--data-dir")
        .arg(dir)
        .arg("node")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start a second cairn node");
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        use std::io::Read;
        let _ = err.read_to_string(&mut stderr);
    }
    (code, stderr)
}

/// Issue 15: a second node on the same data dir swept the first one's
/// `tmp/` under a running upload, and overwrote its `api.addr`.
#[tokio::test]
async fn a_second_node_on_the_same_data_dir_is_refused_while_the_first_keeps_serving() {
    use std::io::Write;
    for cacaoweb in [false, true] {
        let layers = if cacaoweb {
            "[layers]\npowder = []\nbitdust = []\ncacaoweb = [\"127.0.0.1:0\"]\n"
        } else {
            ""
        };
        let node = TestNode::start_with(layers).await;
        let addr_files: Vec<_> = ["api.addr", "cacaoweb.addr"]
            .iter()
            .map(|f| (f, std::fs::read_to_string(node.dir.join(f)).ok()))
            .collect();
        assert_eq!(addr_files[1].1.is_some(), cacaoweb, "{addr_files:?}");
        // An upload whose body is half sent: its blob is being written
        // under tmp/ while the second node tries to start.
        let content = data(4 * SEG, 15);
        let mut conn = node.raw();
        let head = format!(
            "POST /api/v1/upload?name=slow.bin HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            node.addr,
            node.secret,
            content.len()
        );
        send_partial(&mut conn, &head, &content[..2 * SEG]);
        running_upload(&node, "slow.bin", SEG as u64).await;

        let (code, stderr) = second_node(&node.dir);
        assert!(
            code.is_some_and(|c| c != 0),
            "cacaoweb {cacaoweb}: the second node ran or exited 0 ({code:?}): {stderr}"
        );
        let api = addr_files[0].1.as_deref().unwrap().trim();
        for wanted in [
            "in use by another cairn node".to_owned(),
            format!("pid {}", node.pid()),
            format!("http://{api}"),
        ] {
            assert!(stderr.contains(&wanted), "no '{wanted}' in: {stderr}");
        }
        for (file, before) in &addr_files {
            let now = std::fs::read_to_string(node.dir.join(file)).ok();
            assert_eq!(&now, before, "{file} changed");
        }

        conn.write_all(&content[2 * SEG..]).unwrap();
        let answer = read_answer(&mut conn);
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
        let (_, page) = node.get_json("/entries").await;
        let entry = page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "slow.bin")
            .cloned()
            .unwrap_or_else(|| panic!("no slow.bin: {page}"));
        let (s, _, body) = node
            .content(
                &format!("/entries/{}/content", entry["id"].as_str().unwrap()),
                None,
            )
            .await;
        assert_eq!(s, 200);
        assert!(body == content, "slow.bin is not what was sent");
    }
}

#[tokio::test]
async fn after_kill_9_a_new_node_starts_on_the_data_dir() {
    let mut node = TestNode::start().await;
    let (_, e) = node.upload("kept.bin", data(SEG, 16), "").await;
    let old = node.pid();
    node.kill9();
    let lock = std::fs::read_to_string(node.dir.join("lock")).unwrap();
    assert_eq!(
        lock.trim(),
        old.to_string(),
        "the lock file names its holder"
    );
    let node = node.restart().await;
    let (s, _, body) = node
        .content(
            &format!("/entries/{}/content", e["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!((s, body), (200, data(SEG, 16)));
    let lock = std::fs::read_to_string(node.dir.join("lock")).unwrap();
    assert_eq!(lock.trim(), node.pid().to_string());
}
