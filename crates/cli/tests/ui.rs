//! The web UI in a real browser: Debian's Chromium driven by
//! playwright-core (`crates/cli/tests/ui/*.mjs`, installed by
//! `scripts/test.sh` with `npm ci`; it never downloads a browser) against
//! the real binary. Each test prepares the node and the files, runs one
//! scenario with Node.js, and checks on the node what the browser did.
//! With `CAIRN_SCREENSHOTS=<dir>` the scenarios save the README's
//! screenshots there.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use common::{Endpoint, TestNode, b3, data};
use reqwest::Method;
use serde_json::{Value, json};

/// Where the scenarios and their `node_modules` are.
fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui")
}

/// A fresh one-time login link, as `cairn open` prints it.
fn login_link(node: &TestNode) -> String {
    let out = node.cli(&["open"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(link.contains("/ui/login?token="), "{link}");
    link
}

/// Runs scenario `name` against `node`; answers what it printed after
/// `RESULT`. A line `ACTION restart` from the scenario kills the node
/// (-9) and starts it again on the same data dir and address, then
/// answers `DONE` on the scenario's stdin. Fails with the scenario's
/// output when it fails, or runs over five minutes.
async fn scenario(node: &mut TestNode, name: &str, work: &Path, extra: Value) -> Value {
    scenario_with(node, name, work, extra, Vec::new()).await
}

/// [`scenario`], where `ACTION <name>` also sends the request `requests`
/// holds under that name (once; it must succeed) before `DONE`.
async fn scenario_with(
    node: &mut TestNode,
    name: &str,
    work: &Path,
    extra: Value,
    mut requests: Vec<(&str, reqwest::RequestBuilder)>,
) -> Value {
    let dir = scenarios();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci` in {} (scripts/test.sh does)",
        dir.display()
    );
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(dir.join(format!("{name}.mjs")))
        .current_dir(&dir)
        .env("CAIRN_URL", format!("http://{}", node.addr))
        .env("CAIRN_LOGIN", login_link(node))
        .env("CAIRN_SECRET", &node.secret)
        .env("CAIRN_WORK", work)
        .env("CAIRN_EXTRA", extra.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Ok(shots) = std::env::var("CAIRN_SCREENSHOTS") {
        std::fs::create_dir_all(&shots).unwrap();
        cmd.env("CAIRN_SHOTS", shots);
    }
    let mut child = cmd.spawn().expect("run node (Node.js)");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let stderr = tokio::spawn(read_all(child.stderr.take().unwrap()));
    let (mut printed, mut result) = (String::new(), None);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("scenario {name} ran over five minutes:\n{printed}"))
            .unwrap();
        let Some(line) = line else { break };
        printed.push_str(&line);
        printed.push('\n');
        if line == "ACTION restart" {
            node.restart_here().await;
            stdin.write_all(b"DONE\n").await.unwrap();
        } else if let Some(action) = line.strip_prefix("ACTION ") {
            let at = requests
                .iter()
                .position(|(n, _)| *n == action)
                .unwrap_or_else(|| panic!("no request for action {action}"));
            let (_, req) = requests.remove(at);
            let resp = req.send().await.unwrap();
            assert!(resp.status().is_success(), "{action}: {}", resp.status());
            stdin.write_all(b"DONE\n").await.unwrap();
        } else if let Some(r) = line.strip_prefix("RESULT ") {
            result = Some(serde_json::from_str(r).unwrap());
        }
    }
    let status = tokio::time::timeout_at(deadline, child.wait())
        .await
        .expect("the scenario ends")
        .unwrap();
    let stderr = stderr.await.unwrap();
    assert!(
        status.success(),
        "scenario {name} failed:\n{printed}\n{stderr}"
    );
    result.unwrap_or_else(|| panic!("scenario {name} gave no result:\n{printed}"))
}

async fn read_all(mut from: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut out = String::new();
    let _ = from.read_to_string(&mut out).await;
    out
}

/// An H.264 and AAC MP4 of `secs` seconds that a browser plays as it is
/// (its index first, so it starts before its last byte arrives).
fn browser_clip(dir: &Path, name: &str, secs: u32) -> Vec<u8> {
    common::media::make_media(
        dir,
        name,
        secs,
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-movflags",
            "+faststart",
        ],
    )
}

/// A port free now, for a node that must keep its address over a restart.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn content(node: &TestNode, id: &str) -> Vec<u8> {
    let resp = node
        .req(Method::GET, &format!("/entries/{id}/content"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "content of {id}");
    resp.bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_in_takes_a_one_time_link_or_the_secret_and_guards_every_change() {
    let mut node = TestNode::start().await;
    let work = tempfile::tempdir().unwrap();
    scenario(&mut node, "signin", work.path(), json!({})).await;
    let (_, root) = node.get_json("/entries").await;
    let names: Vec<&str> = root["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["with-token"],
        "only the call with the CSRF token changed anything"
    );
}

/// The files the files scenario uploads: a folder of three, and four
/// names that look like markup or turn text around.
fn files_to_upload(work: &Path) {
    let album = work.join("album");
    std::fs::create_dir_all(album.join("sub")).unwrap();
    std::fs::write(album.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(album.join("b.bin"), data(300_000, 1)).unwrap();
    std::fs::write(album.join("sub/c.txt"), b"gamma\n").unwrap();
    let hostile = work.join("hostile");
    std::fs::create_dir_all(&hostile).unwrap();
    for name in [
        "<img src=x onerror=alert(1)>.txt",
        "\"quote's\" & co.txt",
        "\u{202E}gnp.exe",
        "emoji 🎉 ünï.txt",
    ] {
        std::fs::write(hostile.join(name), name.as_bytes()).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_files_page_uploads_browses_renames_moves_and_deletes() {
    let mut node = TestNode::start().await;
    let work = tempfile::tempdir().unwrap();
    files_to_upload(work.path());
    let many = many_entries(&node, 2000).await;
    let out = scenario(&mut node, "files", work.path(), json!({ "many": many })).await;
    // What the browser sent is what the node holds, byte for byte.
    let album = out["album"].as_str().unwrap();
    let (_, listed) = node.get_json(&format!("/entries?parent={album}")).await;
    let b = listed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "b.bin")
        .expect("b.bin in the album");
    assert_eq!(
        content(&node, b["id"].as_str().unwrap()).await,
        data(300_000, 1)
    );
    let (_, hostile) = node
        .get_json(&format!("/entries?parent={album}&limit=100"))
        .await;
    let names: Vec<&str> = hostile["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"<img src=x onerror=alert(1)>.txt"),
        "{names:?}"
    );
    assert!(names.contains(&"\u{202E}gnp.exe"), "{names:?}");
}

/// A folder of `n` folders (`item 0` …), made over the API.
async fn many_entries(node: &TestNode, n: usize) -> String {
    let (status, folder) = node
        .send_json(Method::POST, "/folders", json!({ "name": "many" }))
        .await;
    assert_eq!(status, 201);
    let id = folder["id"].as_str().unwrap().to_owned();
    use futures_util::StreamExt;
    let statuses: Vec<u16> = futures_util::stream::iter(0..n)
        .map(|i| {
            let id = id.clone();
            async move {
                node.send_json(
                    Method::POST,
                    "/folders",
                    json!({ "name": format!("item {i}"), "parent": id }),
                )
                .await
                .0
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 201));
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_upload_goes_on_after_a_cut_a_reload_and_a_new_sign_in() {
    // The node restarts mid-upload on the same address.
    let mut node = TestNode::start_with(&format!("listen = \"127.0.0.1:{}\"\n", free_port())).await;
    let work = tempfile::tempdir().unwrap();
    let files = [
        ("cut.bin", 11, 48 << 20),
        ("reload.bin", 12, 24 << 20),
        ("session.bin", 13, 24 << 20),
    ];
    for (name, seed, len) in files {
        std::fs::write(work.path().join(name), data(len, seed)).unwrap();
    }
    let out = scenario(&mut node, "resume", work.path(), json!({})).await;
    for (name, seed, len) in files {
        let key = name.trim_end_matches(".bin");
        let id = out[key].as_str().unwrap_or_else(|| panic!("{name}: {out}"));
        let got = content(&node, id).await;
        assert_eq!(b3(&got), b3(&data(len, seed)), "{name} whole");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_player_seeks_shows_subtitles_and_resumes() {
    let mut node = TestNode::start().await;
    let work = tempfile::tempdir().unwrap();
    let mp4 = browser_clip(work.path(), "clip.mp4", 20);
    let mkv = common::media::make_media(work.path(), "clip.mkv", 20, common::media::H264_AAC);
    let (_, folder) = node
        .send_json(Method::POST, "/folders", json!({ "name": "films" }))
        .await;
    let folder = folder["id"].as_str().unwrap().to_owned();
    let q = format!("&parent={folder}");
    let (_, up) = node.upload("clip.mp4", mp4, &q).await;
    let mp4_id = up["id"].as_str().unwrap().to_owned();
    let srt = "1\n00:00:00,000 --> 00:00:19,000\nHello from cairn\n";
    let (status, _) = node.upload("clip.en.srt", srt.into(), &q).await;
    assert_eq!(status, 201);
    let (_, up) = node.upload("clip.mkv", mkv, &q).await;
    let mkv_id = up["id"].as_str().unwrap().to_owned();
    scenario(
        &mut node,
        "player",
        work.path(),
        json!({ "mp4": mp4_id, "mkv": mkv_id }),
    )
    .await;
    // The position the player left is in the history.
    let (_, history) = node.get_json("/history").await;
    let seen = history
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["subject"] == mp4_id.as_str())
        .expect("the mp4 in the history");
    assert!(seen["position"].as_f64().unwrap() > 15.0, "{seen}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_jobs_page_follows_jobs_live_across_a_node_restart() {
    let mut node = TestNode::start_with(&format!("listen = \"127.0.0.1:{}\"\n", free_port())).await;
    let work = tempfile::tempdir().unwrap();
    scenario(&mut node, "jobs", work.path(), json!({})).await;
    let (_, root) = node.get_json("/entries").await;
    let names: Vec<&str> = root["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["live-1.bin", "live-2.bin"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_share_link_opens_one_file_for_anyone_until_revoked() {
    let mut node = TestNode::start().await;
    let work = tempfile::tempdir().unwrap();
    let clip = browser_clip(work.path(), "clip.mp4", 10);
    let size = clip.len();
    let (_, up) = node.upload("holiday.mp4", clip, "").await;
    let file = up["id"].as_str().unwrap().to_owned();
    let out = scenario(
        &mut node,
        "share",
        work.path(),
        json!({ "file": file, "name": "holiday.mp4", "size": size }),
    )
    .await;
    let url = out["url"].as_str().unwrap();
    let revoked = reqwest::get(format!("{url}/info")).await.unwrap();
    assert_eq!(revoked.status(), 404, "a revoked link");

    // The CLI: a link that ends, listed, then ended.
    let made = node.cli(&["--json", "weblink", "create", &file, "--expires", "1"]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let link: Value = serde_json::from_slice(&made.stdout).unwrap();
    let path = link["path"].as_str().unwrap();
    let live = node
        .http
        .get(node.root_url(&format!("{path}/content")))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    assert_eq!(live.bytes().await.unwrap().len(), size);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ended = node
        .http
        .get(node.root_url(&format!("{path}/info")))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 404, "an expired link");
    let listed = node.cli(&["weblink", "ls", &file]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("ended") && text.contains("opened 1"),
        "{text}"
    );

    // Forged and half links open nothing; folders and paid files get none.
    let token = link["token"].as_str().unwrap();
    let (id, _) = token.split_once('.').unwrap();
    for bad in [
        id.to_owned(),
        format!("{id}.AAAAAAAAAAAAAAAAAAAAAA"),
        "x".into(),
        "..".into(),
    ] {
        let r = node
            .http
            .get(node.root_url(&format!("/s/{bad}/content")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{bad}");
    }
    let (_, folder) = node
        .send_json(Method::POST, "/folders", json!({ "name": "f" }))
        .await;
    let folder = folder["id"].as_str().unwrap();
    let (status, _) = node
        .send_json(Method::POST, &format!("/entries/{folder}/links"), json!({}))
        .await;
    assert_eq!(status, 400, "a folder");
    let (_, paid) = node
        .upload("paid.bin", data(1000, 3), "&restricted=true&price=5")
        .await;
    let (status, _) = node
        .send_json(
            Method::POST,
            &format!("/entries/{}/links", paid["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, 400, "a paid file");
    let (status, _) = node
        .send_json(
            Method::POST,
            &format!("/entries/{file}/links"),
            json!({ "expires_in": 0 }),
        )
        .await;
    assert_eq!(status, 400, "a lifetime of 0");
    let rm = node.cli(&["weblink", "rm", link["id"].as_str().unwrap()]);
    assert!(rm.status.success());
    let rm = node.cli(&["weblink", "rm", link["id"].as_str().unwrap()]);
    assert!(!rm.status.success(), "revoked twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_magnet_pasted_in_the_page_plays_while_it_downloads() {
    // Slow enough that the video plays long before the last piece.
    let config = format!("{}download_bps = 300000\n", TestNode::TORRENTS_LOOPBACK);
    let mut node = TestNode::start_with(&config).await;
    let work = tempfile::tempdir().unwrap();
    let clip = browser_clip(work.path(), "film.mp4", 30);
    let seeds = tempfile::tempdir().unwrap();
    let seeder = common::seeder::Seeder::start(seeds.path(), &[("film.mp4", &clip)]).await;
    scenario(
        &mut node,
        "torrents",
        work.path(),
        json!({ "magnet": seeder.magnet(), "hash": seeder.hash() }),
    )
    .await;
    let (_, torrents) = node.get_json("/torrents").await;
    assert_eq!(torrents[0]["info_hash"], seeder.hash().as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_network_page_shows_peers_suppliers_and_bandwidth_of_three_nodes() {
    let mut nodes = common::net::network(3, common::net::net_config).await;
    let work = tempfile::tempdir().unwrap();
    let (_, up) = nodes[0].upload("placed.bin", data(300_000, 5), "").await;
    let blob = up["blob"].as_str().unwrap().to_owned();
    let placed = common::net::placed(&nodes[0], &blob).await;
    assert_eq!(placed["state"], "done", "{placed}");
    let mut peers = Vec::new();
    for n in &nodes[1..] {
        peers.push(common::net::peer_id(n).await);
    }
    scenario(
        &mut nodes[0],
        "network",
        work.path(),
        json!({ "peers": peers }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn powders_own_listener_serves_its_ui_auth_and_embedded_player() {
    let config = format!(
        "[layers]\ncacaoweb = []\nbitdust = []\npowder = [\"127.0.0.1:0\"]\n{}download_bps = 300000\n",
        TestNode::TORRENTS_LOOPBACK
    );
    let mut node = TestNode::start_with(&config).await;
    let work = tempfile::tempdir().unwrap();
    let clip = browser_clip(work.path(), "film.mp4", 30);
    let seeds = tempfile::tempdir().unwrap();
    let seeder = common::seeder::Seeder::start(seeds.path(), &[("film.mp4", &clip)]).await;
    let powder = format!(
        "http://{}",
        common::wait_for_file(&node.dir.join("powder.addr")).trim()
    );
    let master = std::fs::read_to_string(node.dir.join("powder.key"))
        .unwrap()
        .trim()
        .to_owned();
    let embed: Value = node
        .http
        .get(format!(
            "{powder}/actions?method=setting&for=embedToken&token={master}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let embed = embed["value"].as_str().unwrap().to_owned();
    scenario(
        &mut node,
        "powder",
        work.path(),
        json!({
            "powder": powder, "master": master, "embed": embed,
            "magnet": seeder.magnet(), "hash": seeder.hash(),
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_go_to_a_friend_and_replies_arrive_live() {
    let mut nodes = common::net::network(2, common::net::net_config).await;
    let work = tempfile::tempdir().unwrap();
    let ann = common::net::peer_id(&nodes[0]).await;
    let bob = common::net::peer_id(&nodes[1]).await;
    let reply = nodes[1]
        .req(Method::POST, "/messages")
        .json(&json!({ "to": ann, "text": "hi back from bob" }));
    let (first, rest) = nodes.split_at_mut(1);
    scenario_with(
        &mut first[0],
        "messages",
        work.path(),
        json!({ "bob": bob }),
        vec![("reply", reply)],
    )
    .await;
    let (_, got) = rest[0].get_json("/messages").await;
    let texts: Vec<&str> = got
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["outgoing"] == false)
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["hello 🎉 <script>alert(1)</script>"],
        "bob got ann's words, exactly"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_over_the_upload_limit_is_refused_in_the_page_and_stores_nothing() {
    let mut node = TestNode::start_with("max_upload_bytes = 1048576\n").await;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("big.bin"), data(2 << 20, 21)).unwrap();
    std::fs::write(work.path().join("small.bin"), data(100_000, 22)).unwrap();
    scenario(&mut node, "toolarge", work.path(), json!({})).await;
    let (_, root) = node.get_json("/entries").await;
    let names: Vec<&str> = root["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["small.bin"]);
    assert_eq!(
        std::fs::read_dir(node.dir.join("resumable"))
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "no spool of the refused upload"
    );
}
