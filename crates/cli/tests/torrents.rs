//! Issue 17, the torrents service, against a real swarm on 127.0.0.1: the
//! test runs a seeding librqbit session of its own (no DHT, trackers or
//! LAN discovery) and points the node at it with `x.pe` in the magnet.

mod common;

use std::time::{Duration, Instant};

use common::inproc::InProcNode;
use common::media::{H264_AAC, frames_played, make_media};
use common::seeder::Seeder;
use common::{Dirs, Endpoint, b3, data};
use serde_json::{Value, json};

/// A node whose torrents go no faster than `bps`, so a test sees them
/// while they download.
async fn node_at(bps: u32) -> InProcNode {
    InProcNode::start_with(|c| {
        c.torrents.download_bps = bps;
    })
    .await
}

/// Adds the seeder's magnet: the torrent, answered at once.
async fn add(node: &impl Endpoint, seeder: &Seeder) -> Value {
    let body = json!({ "magnet": seeder.magnet() });
    let (status, t) = node
        .send_json(reqwest::Method::POST, "/torrents", body)
        .await;
    assert_eq!(status, 201, "{t}");
    t
}

/// Polls torrent `hash` until `done` says so (bounded).
async fn wait_for(
    node: &impl Endpoint,
    hash: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, t) = node.get_json(&format!("/torrents/{hash}")).await;
        assert_eq!(status, 200, "{t}");
        if done(&t) {
            return t;
        }
        assert!(Instant::now() < deadline, "no {what}: {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn range(node: &impl Endpoint, hash: &str, index: usize, range: &str) -> (u16, Vec<u8>) {
    let (status, _, body) = node
        .content(
            &format!("/torrents/{hash}/files/{index}/content"),
            Some(range),
        )
        .await;
    (status, body)
}

fn by_path<'a>(t: &'a Value, path: &str) -> &'a Value {
    t["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no file {path} in {t}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_magnet_streams_while_it_downloads_then_lands_in_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let film = data(8 << 20, 1);
    let notes = b"subtitles would go here\n".repeat(40);
    let seeder = Seeder::start(
        tmp.path(),
        &[("film.mkv", &film), ("extra/notes.txt", &notes)],
    )
    .await;
    let node = node_at(1 << 20).await;
    let hash = seeder.hash();

    let t = add(&node, &seeder).await;
    assert_eq!(t["info_hash"], hash);
    let t = wait_for(&node, &hash, "metadata", |t| {
        t["files"].as_array().is_some_and(|f| f.len() == 2)
    })
    .await;
    let film_index = by_path(&t, "film.mkv")["index"].as_u64().unwrap() as usize;

    // Read from the middle and the end while it arrives at 1 MiB/s.
    let (status, middle) = range(&node, &hash, film_index, "bytes=4194304-4259839").await;
    assert_eq!(status, 206);
    assert_eq!(middle, &film[4 << 20..(4 << 20) + 65536]);
    let (status, tail) = range(&node, &hash, film_index, "bytes=-1000").await;
    assert_eq!(status, 206);
    assert_eq!(tail, &film[film.len() - 1000..]);
    let (_, now) = node.get_json(&format!("/torrents/{hash}")).await;
    assert_eq!(now["state"], "downloading", "{now}");
    assert!(now["progress"].as_f64().unwrap() < 1.0);

    // Finished: every file imported into the store, deduplicated, and
    // read from there.
    let t = wait_for(&node, &hash, "import", |t| {
        t["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["entry"].is_string())
    })
    .await;
    assert_eq!(t["state"], "seeding");
    let entry = by_path(&t, "film.mkv")["entry"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, e) = node.get_json(&format!("/entries/{entry}")).await;
    assert_eq!(e["blob"], b3(&film), "{e}");
    let (_, path) = node.get_json(&format!("/entries/{entry}/path")).await;
    assert!(
        path.to_string().contains("Torrents") && path.to_string().contains("movie"),
        "{path}"
    );
    let notes_entry = by_path(&t, "extra/notes.txt")["entry"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, n) = node.get_json(&format!("/entries/{notes_entry}")).await;
    assert_eq!(n["name"], "notes.txt");
    let (status, headers, whole) = node
        .content(
            &format!("/torrents/{hash}/files/{film_index}/content"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["etag"],
        format!("\"{}\"", b3(&film)),
        "served from the store"
    );
    assert_eq!(whole, film);
    // The torrent was a job, done with its entries.
    let (_, jobs) = node.get_json("/jobs").await;
    let job = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "torrent")
        .unwrap_or_else(|| panic!("no torrent job: {jobs}"))
        .clone();
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(
        job["result"]["entries"][film_index.to_string()],
        entry,
        "{job}"
    );
    assert_eq!(job["done"], job["total"], "{job}");
    node.stop().await;
    seeder.session.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_torrent_job_removes_the_torrent() {
    let tmp = tempfile::tempdir().unwrap();
    let film = data(4 << 20, 6);
    let seeder = Seeder::start(tmp.path(), &[("film.mkv", &film)]).await;
    let node = node_at(262_144).await;
    let hash = seeder.hash();
    add(&node, &seeder).await;
    wait_for(&node, &hash, "a start", |t| {
        t["done_bytes"].as_u64() > Some(0)
    })
    .await;
    let (_, jobs) = node.get_json("/jobs").await;
    let job = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "torrent" && j["state"] == "running")
        .unwrap_or_else(|| panic!("no running torrent job: {jobs}"))
        .clone();
    let id = job["id"].as_str().unwrap();
    let (status, _) = node
        .send_json(
            reqwest::Method::POST,
            &format!("/jobs/{id}/cancel"),
            json!({}),
        )
        .await;
    assert!(status < 300, "{status}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = node.get_json(&format!("/torrents/{hash}")).await;
        if status == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "the torrent is still there");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let job = node.wait_job(id).await;
    assert_eq!(job["state"], "cancelled", "{job}");
    node.stop().await;
    seeder.session.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nine_readers_of_one_torrent_all_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let film = data(6 << 20, 2);
    let seeder = Seeder::start(tmp.path(), &[("film.mkv", &film)]).await;
    let node = node_at(2 << 20).await;
    let hash = seeder.hash();
    add(&node, &seeder).await;
    wait_for(&node, &hash, "metadata", |t| {
        !t["files"].as_array().unwrap().is_empty()
    })
    .await;
    // Nine readers at once, each from another place, while it downloads.
    let reads = (0..9u64).map(|i| {
        let start = i * (600 << 10);
        let asked = format!("bytes={start}-{}", start + 131_071);
        let (node, hash) = (&node, hash.clone());
        async move { (start as usize, range(node, &hash, 0, &asked).await) }
    });
    let all = tokio::time::timeout(
        Duration::from_secs(60),
        futures_util::future::join_all(reads),
    )
    .await
    .expect("nine readers finish");
    for (start, (status, body)) in all {
        assert_eq!(status, 206);
        assert_eq!(body, &film[start..start + 131_072], "reader at {start}");
    }
    node.stop().await;
    seeder.session.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torrent_file_with_one_file_selected_pauses_resumes_and_goes() {
    let tmp = tempfile::tempdir().unwrap();
    let a = data(300_000, 3);
    let b = data(500_000, 4);
    let seeder = Seeder::start(tmp.path(), &[("a.bin", &a), ("b.bin", &b)]).await;
    let node = InProcNode::start().await;
    let hash = seeder.hash();
    let bytes = seeder.torrent.as_bytes().unwrap().to_vec();
    // The torrent file has no peers of its own: add it paused, then point
    // it at the seeder with a magnet of the same hash (already managed).
    let b_index = {
        let r = node
            .req(reqwest::Method::POST, "/torrents/file?paused=true")
            .header("content-type", "application/x-bittorrent")
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let t: Value = r.json().await.unwrap();
        assert!(
            matches!(t["state"].as_str(), Some("checking" | "paused")),
            "{t}"
        );
        by_path(&t, "b.bin")["index"].as_u64().unwrap()
    };
    wait_for(&node, &hash, "a check", |t| t["state"] == "paused").await;
    let (status, t) = node
        .send_json(
            reqwest::Method::PUT,
            &format!("/torrents/{hash}/files"),
            json!({ "files": [b_index] }),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(by_path(&t, "a.bin")["selected"], false);
    // Removed and added again by magnet, with the seeder as peer.
    let (status, _) = node
        .send_json(
            reqwest::Method::DELETE,
            &format!("/torrents/{hash}?delete_data=true"),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = node.get_json(&format!("/torrents/{hash}")).await;
    assert_eq!(status, 404);
    let (status, t) = node
        .send_json(
            reqwest::Method::POST,
            "/torrents",
            json!({ "magnet": seeder.magnet(), "files": [b_index], "paused": false }),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    let t = wait_for(&node, &hash, "import of b.bin", |t| {
        t["files"].as_array().is_some_and(|f| f.len() == 2)
            && by_path(t, "b.bin")["entry"].is_string()
    })
    .await;
    assert!(
        by_path(&t, "a.bin")["entry"].is_null(),
        "a.bin was not selected: {t}"
    );
    let (status, t) = node
        .send_json(
            reqwest::Method::POST,
            &format!("/torrents/{hash}/pause"),
            json!({}),
        )
        .await;
    assert_eq!((status, t["state"].as_str()), (200, Some("paused")), "{t}");
    let (status, t) = node
        .send_json(
            reqwest::Method::POST,
            &format!("/torrents/{hash}/resume"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    assert_ne!(t["state"], "paused");
    let (status, list) = node.get_json("/torrents").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    // Removing the torrent with its data keeps what was imported.
    let entry = by_path(&t, "b.bin")["entry"].as_str().unwrap().to_owned();
    let (status, _) = node
        .send_json(
            reqwest::Method::DELETE,
            &format!("/torrents/{hash}?delete_data=true"),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let (_, e) = node.get_json(&format!("/entries/{entry}")).await;
    assert_eq!(e["blob"], b3(&b));
    node.stop().await;
    seeder.session.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_torrents_get_clear_errors_and_no_peers_means_resolving() {
    let node = InProcNode::start().await;
    let nobody =
        "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=lonely&x.pe=127.0.0.1:9";
    let cases = [
        (json!({ "magnet": "magnet:?xt=urn:btih:nothex" }), 400),
        (json!({ "magnet": "http://example.org/a.torrent" }), 400),
        (json!({ "magnet": "x", "path": "/y" }), 400),
        (json!({}), 400),
        (
            json!({ "magnet": nobody, "peers": ["not an address"] }),
            400,
        ),
        (json!({ "path": "/etc/passwd" }), 403),
    ];
    for (body, want) in cases {
        let (status, answer) = node
            .send_json(reqwest::Method::POST, "/torrents", body.clone())
            .await;
        assert_eq!(status, want, "{body}: {answer}");
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{answer}"
        );
    }
    let r = node
        .req(reqwest::Method::POST, "/torrents/file")
        .header("content-type", "application/x-bittorrent")
        .body("this is not bencode")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let fake = "0123456789abcdef0123456789abcdef0123aaaa";
    for path in [
        format!("/torrents/{fake}"),
        format!("/torrents/{fake}/files/0/content"),
    ] {
        let (status, body) = node.get_json(&path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _) = node.get_json("/torrents/zz").await;
    assert_eq!(status, 400);

    // A magnet nobody answers: pending, and the API keeps answering.
    let started = Instant::now();
    let (status, t) = node
        .send_json(
            reqwest::Method::POST,
            "/torrents",
            json!({ "magnet": nobody }),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(t["state"].as_str(), Some("resolving" | "error")),
        "{t}"
    );
    assert_eq!(t["name"], "lonely");
    let (status, list) = node.get_json("/torrents").await;
    assert_eq!(status, 200);
    assert_eq!(
        list[0]["info_hash"],
        "0123456789abcdef0123456789abcdef01234567"
    );
    let hash = "0123456789abcdef0123456789abcdef01234567";
    let (status, body) = node
        .get_json(&format!("/torrents/{hash}/files/5/content"))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = node
        .send_json(
            reqwest::Method::DELETE,
            &format!("/torrents/{hash}"),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let (_, list) = node.get_json("/torrents").await;
    assert_eq!(list, json!([]));
    let _ = node.dir();
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torrent_plays_while_it_downloads() {
    let tmp = tempfile::tempdir().unwrap();
    let film = make_media(tmp.path(), "made.mkv", 20, H264_AAC);
    let seeder = Seeder::start(tmp.path(), &[("film.mkv", &film)]).await;
    // Slow enough that it is still arriving while it plays.
    let rate = (film.len() / 12).max(16384) as u32;
    let node = node_at(rate).await;
    let hash = seeder.hash();
    add(&node, &seeder).await;
    wait_for(&node, &hash, "metadata", |t| {
        !t["files"].as_array().unwrap().is_empty()
    })
    .await;

    let (status, probe) = node
        .get_json(&format!("/torrents/{hash}/files/0/probe"))
        .await;
    assert_eq!(status, 200, "{probe}");
    assert!(
        (probe["duration"].as_f64().unwrap() - 20.0).abs() < 0.5,
        "{probe}"
    );
    assert_eq!(
        probe["keyframes"],
        json!([]),
        "not all here yet: no key frame scan"
    );
    let (_, now) = node.get_json(&format!("/torrents/{hash}")).await;
    assert!(now["progress"].as_f64().unwrap() < 1.0, "{now}");

    let secret = node.secret().to_owned();
    let stream = node.url(&format!(
        "/torrents/{hash}/files/0/stream?start=4&api_secret={secret}"
    ));
    let frames = tokio::task::spawn_blocking(move || frames_played(&stream, None, 2))
        .await
        .unwrap();
    assert!(
        (46..=50).contains(&frames),
        "{frames} frames of the progressive stream"
    );
    let playlist = node.url(&format!(
        "/torrents/{hash}/files/0/hls/index.m3u8?quality=240p&api_secret={secret}"
    ));
    let text = node
        .http()
        .get(&playlist)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text.matches("#EXTINF:").count(), 5, "{text}");
    assert!(
        text.matches("#EXTINF:4.000000,").count() >= 4,
        "a regular grid: {text}"
    );
    let frames = tokio::task::spawn_blocking(move || frames_played(&playlist, Some(15.0), 2))
        .await
        .unwrap();
    assert!(
        frames >= 40,
        "{frames} frames from HLS after a seek to 75 %"
    );
    node.stop().await;
    seeder.session.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_download_resumes_at_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let film = data(6 << 20, 5);
    let seeder = Seeder::start(tmp.path(), &[("film.mkv", &film)]).await;
    let slow = format!(
        "{}download_bps = 1048576\n",
        common::TestNode::TORRENTS_LOOPBACK
    );
    let mut node = common::TestNode::start_with(&slow).await;
    let hash = seeder.hash();
    add(&node, &seeder).await;
    let t = wait_for(&node, &hash, "a start", |t| {
        t["done_bytes"].as_u64() > Some(1 << 20)
    })
    .await;
    assert!(t["progress"].as_f64().unwrap() < 1.0, "{t}");
    // Its own limit, half the node's, is kept across the kill.
    let (status, t) = node
        .send_json(
            reqwest::Method::PUT,
            &format!("/torrents/{hash}/limit"),
            json!({ "download_bps": 524288 }),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    node.kill9();
    let node = node.restart().await;
    let (_, t) = node.get_json(&format!("/torrents/{hash}")).await;
    assert_eq!(t["download_limit_bps"], 524288, "{t}");
    // Back with its data, its peer and its limit: it goes on at most at
    // its own pace (a token bucket lets a second's worth through at once).
    let moving = wait_for(&node, &hash, "a new start", |t| {
        t["state"] == "downloading" && t["done_bytes"].as_u64() > Some(0)
    })
    .await;
    let (from, at) = (moving["done_bytes"].as_u64().unwrap(), Instant::now());
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, t) = node.get_json(&format!("/torrents/{hash}")).await;
    let rate = (t["done_bytes"].as_u64().unwrap() - from) as f64 / at.elapsed().as_secs_f64();
    assert!(
        t["progress"].as_f64().unwrap() < 1.0 && rate < 800_000.0,
        "{rate:.0} B/s with a limit of 524288: {t}"
    );
    // It finishes and is imported once.
    let t = wait_for(&node, &hash, "the import after the restart", |t| {
        t["files"].as_array().is_some_and(|f| f.len() == 1) && t["files"][0]["entry"].is_string()
    })
    .await;
    let entry = t["files"][0]["entry"].as_str().unwrap().to_owned();
    let (_, e) = node.get_json(&format!("/entries/{entry}")).await;
    assert_eq!(e["blob"], b3(&film), "{e}");
    let (_, list) = node
        .get_json(&format!(
            "/entries?parent={}",
            e["parent"].as_str().unwrap()
        ))
        .await;
    assert_eq!(list["total"], 1, "imported once: {list}");
    seeder.session.stop().await;
}
