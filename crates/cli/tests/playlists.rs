//! Issue 17, M3U playlists of the native API: a stored file, a folder's
//! media files and a torrent's, each entry a play link carrying its own
//! capability in the path, which plays (ffmpeg decodes it) without the
//! secret, refuses a forged or expired token, and reads that file only.

mod common;

use common::inproc::InProcNode;
use common::media::{H264_AAC, frames_played, make_media};
use common::seeder::Seeder;
use common::{Endpoint, b3};
use serde_json::json;

/// The playlist at `path` (native API, with the secret): its text.
async fn playlist(node: &InProcNode, path: &str) -> String {
    let resp = node.req(reqwest::Method::GET, path).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    assert_eq!(resp.headers()["content-type"], "audio/x-mpegurl");
    resp.text().await.unwrap()
}

/// The (title, URL) entries of an M3U.
fn entries(m3u: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = m3u.lines().collect();
    assert_eq!(lines[0], "#EXTM3U");
    lines[1..]
        .chunks(2)
        .map(|pair| {
            let title = pair[0].strip_prefix("#EXTINF:-1,").expect("an EXTINF line");
            (title.to_owned(), pair[1].to_owned())
        })
        .collect()
}

async fn plays(url: &str) -> usize {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || frames_played(&url, None, 2))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_files_and_folders_play_from_playlists_without_the_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = make_media(tmp.path(), "clip.mp4", 4, H264_AAC);
    let node = InProcNode::start().await;
    let (status, folder) = node
        .send_json(
            reqwest::Method::POST,
            "/folders",
            json!({ "name": "Films" }),
        )
        .await;
    assert_eq!(status, 201, "{folder}");
    let folder = folder["id"].as_str().unwrap().to_owned();
    let query = format!("&parent={folder}");
    let (_, a) = node.upload("b%20clip.mp4", clip.clone(), &query).await;
    let (_, _) = node.upload("a.mkv", clip.clone(), &query).await;
    let (_, _) = node
        .upload("notes.txt", b"not media".to_vec(), &query)
        .await;
    let id = a["id"].as_str().unwrap();

    // One file: its link plays, with ranges, and needs no secret.
    let list = entries(&playlist(&node, &format!("/media/{id}/playlist.m3u")).await);
    assert_eq!(list.len(), 1);
    let (title, url) = &list[0];
    assert_eq!(title, "b clip.mp4");
    assert!(
        url.starts_with(&format!("http://{}/api/v1/play/e.{id}.", node.addr())),
        "{url}"
    );
    assert!(url.ends_with("/b%20clip.mp4"), "{url}");
    let http = reqwest::Client::new();
    let whole = http.get(url).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(b3(&whole.bytes().await.unwrap()), b3(&clip));
    let part = http
        .get(url)
        .header("range", "bytes=4-7")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap(), clip[4..8]);
    assert!(plays(url).await > 40);

    // A forged signature, another file's id or a later time under this
    // one's signature: refused.
    let (signed, sig) = url.rsplit_once('/').unwrap().0.rsplit_once('.').unwrap();
    let mut forged = sig.to_owned();
    forged.replace_range(0..1, if sig.starts_with('A') { "B" } else { "A" });
    let bad = format!("{signed}.{forged}/x.mp4");
    assert_eq!(http.get(&bad).send().await.unwrap().status(), 403);
    let other = url.replace(&format!("e.{id}."), &format!("e.{folder}."));
    assert_eq!(http.get(&other).send().await.unwrap().status(), 403);
    let (subject, _) = signed.rsplit_once('.').unwrap();
    let later = format!("{subject}.99999999999.{sig}/x.mp4");
    assert_eq!(http.get(&later).send().await.unwrap().status(), 403);

    // A folder: its media files by name, not the text file.
    let list = entries(&playlist(&node, &format!("/media/{folder}/playlist.m3u?hours=2")).await);
    let titles: Vec<&str> = list.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(titles, ["a.mkv", "b clip.mp4"]);
    assert!(plays(&list[0].1).await > 40);
    let (status, _) = node
        .get_json(&format!("/media/{id}/playlist.m3u?hours=721"))
        .await;
    assert_eq!(status, 400);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torrent_plays_from_its_playlist_while_it_downloads() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = make_media(tmp.path(), "film.mp4", 4, H264_AAC);
    let seeder = Seeder::start(tmp.path(), &[("film.mp4", &clip), ("readme.txt", b"hi")]).await;
    let node = InProcNode::start().await;
    let (status, t) = node
        .send_json(
            reqwest::Method::POST,
            "/torrents",
            json!({ "magnet": seeder.magnet() }),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    let hash = seeder.hash();
    // Its files are known once its metadata came (bounded).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, t) = node.get_json(&format!("/torrents/{hash}")).await;
        if !t["files"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no metadata: {t}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let list = entries(&playlist(&node, &format!("/torrents/{hash}/playlist.m3u")).await);
    assert_eq!(list.len(), 1, "the media file only: {list:?}");
    let (title, url) = &list[0];
    assert_eq!(title, "film.mp4");
    let got = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert_eq!(b3(&got), b3(&clip));
    assert!(plays(url).await > 40);
    node.stop().await;
}
