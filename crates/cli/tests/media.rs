//! Issue 17, the media service: probes, per-request decisions,
//! progressive streams and HLS on the source's key frame grid, with real
//! ffmpeg on media the tests make (`lavfi` sources). "Plays" means ffmpeg
//! decodes seconds of the stream from its URL.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::inproc::InProcNode;
use common::media::{H264_AAC, MPEG4_MP3, audio_played, frames_played, make_media};
use common::{Dirs, Endpoint, TestNode};
use serde_json::Value;

/// Makes a media file under the node's files folder.
fn make(node: &impl Dirs, name: &str, secs: u32, codecs: &[&str]) -> Vec<u8> {
    make_media(node.files(), name, secs, codecs)
}

async fn upload(node: &impl Endpoint, name: &str, data: Vec<u8>) -> String {
    let (status, body) = node.upload(name, data, "").await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// A media URL with the secret in the query, as a player is given it.
fn player_url(node: &impl Endpoint, path: &str, query: &str) -> String {
    let sep = if query.is_empty() { "" } else { "&" };
    node.url(&format!("{path}?{query}{sep}api_secret={}", node.secret()))
}

/// Video packet times (pts) of an MPEG-TS segment.
fn video_times(ts: &[u8], dir: &Path) -> Vec<f64> {
    let path = dir.join("segment.ts");
    std::fs::write(&path, ts).unwrap();
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "packet=pts_time", "-of", "csv=p=0"])
        .arg(&path)
        .output()
        .unwrap();
    let mut times: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    times.sort_by(f64::total_cmp);
    times
}

async fn media_status(node: &impl Endpoint) -> Value {
    let (status, body) = node.get_json("/status").await;
    assert_eq!(status, 200);
    body["media"].clone()
}

/// Waits until the node runs no encoder and lends no input.
async fn wait_idle(node: &impl Endpoint, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let media = media_status(node).await;
        if media["encoders_running"] == 0 && media["inputs_lent"] == 0 && media["hls_heads"] == 0 {
            return media;
        }
        assert!(Instant::now() < deadline, "encoders still running: {media}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn segment(node: &impl Endpoint, id: &str, n: usize, query: &str) -> (u16, Vec<u8>) {
    let r = node
        .http()
        .get(player_url(node, &format!("/media/{id}/hls/{n}.ts"), query))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

async fn playlist(node: &impl Endpoint, id: &str, query: &str) -> String {
    let r = node
        .http()
        .get(player_url(
            node,
            &format!("/media/{id}/hls/index.m3u8"),
            query,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/vnd.apple.mpegurl");
    r.text().await.unwrap()
}

/// Segment durations of a playlist.
fn durations(playlist: &str) -> Vec<f64> {
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|d| d.trim_end_matches(',').parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_reads_streams_and_key_frames() {
    let node = InProcNode::start().await;
    let id = upload(&node, "clip.mp4", make(&node, "clip.mp4", 12, H264_AAC)).await;
    let (status, probe) = node.get_json(&format!("/media/{id}/probe")).await;
    assert_eq!(status, 200, "{probe}");
    assert!(probe["container"].as_str().unwrap().contains("mp4"));
    assert!(
        (probe["duration"].as_f64().unwrap() - 12.0).abs() < 0.2,
        "{probe}"
    );
    let streams = probe["streams"].as_array().unwrap();
    assert_eq!(streams[0]["kind"], "video");
    assert_eq!(streams[0]["codec"], "h264");
    assert_eq!(
        (streams[0]["width"].as_u64(), streams[0]["height"].as_u64()),
        (Some(640), Some(360))
    );
    assert_eq!(streams[1]["kind"], "audio");
    assert_eq!(streams[1]["codec"], "aac");
    let keys: Vec<f64> = probe["keyframes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_f64().unwrap())
        .collect();
    assert_eq!(keys.len(), 6, "{keys:?}");
    for pair in keys.windows(2) {
        assert!((pair[1] - pair[0] - 2.002).abs() < 0.01, "{keys:?}");
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_decides_as_is_remux_or_transcode() {
    let node = InProcNode::start().await;
    let mp4 = upload(&node, "a.mp4", make(&node, "a.mp4", 4, H264_AAC)).await;
    let mkv = upload(&node, "a.mkv", make(&node, "a.mkv", 4, H264_AAC)).await;
    let old = upload(&node, "b.mkv", make(&node, "b.mkv", 4, MPEG4_MP3)).await;
    let treatment = |v: &Value| v["treatment"].as_str().unwrap().to_owned();
    let (_, play) = node.get_json(&format!("/media/{mp4}/play")).await;
    assert_eq!(treatment(&play), "direct", "{play}");
    assert_eq!(play["content"], format!("/api/v1/entries/{mp4}/content"));
    let (_, play) = node
        .get_json(&format!("/media/{mp4}/play?quality=240p"))
        .await;
    assert_eq!(treatment(&play), "transcode", "{play}");
    // 426 wide as the preset says, the aspect kept, both sides even.
    assert_eq!(
        play["mp4"]["scale"],
        serde_json::json!({"width": 426, "height": 238})
    );
    let (_, play) = node.get_json(&format!("/media/{mkv}/play")).await;
    assert_eq!(treatment(&play), "remux", "{play}");
    let (_, play) = node.get_json(&format!("/media/{old}/play")).await;
    assert_eq!(treatment(&play), "transcode", "{play}");
    assert_eq!(play["hls"]["audio"]["codec"], "aac", "mp3 is encoded");
    assert_eq!(play["hls"]["video"]["copy"], false);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_progressive_stream_plays_from_a_start() {
    let node = InProcNode::start().await;
    let old = upload(&node, "b.mkv", make(&node, "b.mkv", 12, MPEG4_MP3)).await;
    let url = player_url(&node, &format!("/media/{old}/stream"), "start=6");
    let r = node.http().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    drop(r);
    // 3 s at 23.976 fps, decoded by ffmpeg from the URL.
    let frames = tokio::task::spawn_blocking(move || frames_played(&url, None, 3))
        .await
        .unwrap();
    assert!((70..=74).contains(&frames), "{frames} frames");
    let mkv = player_url(&node, &format!("/media/{old}/stream"), "format=mkv&start=2");
    let frames = tokio::task::spawn_blocking(move || frames_played(&mkv, None, 2))
        .await
        .unwrap();
    assert!((46..=50).contains(&frames), "{frames} frames from Matroska");
    // keep_times: the stream's clock is the file's, else it counts from 0.
    // Copied, it starts at the key frame before the start asked (they are
    // 2.002 s apart: at 4.004 for a start of 4.5).
    for (keep, from) in [(false, 0.0), (true, 4.004)] {
        let url = player_url(
            &node,
            &format!("/media/{old}/stream"),
            &format!("format=mkv&start=4.5&keep_times={keep}"),
        );
        let r = node.http().get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let bytes = r.bytes().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let times = video_times(&bytes, dir.path());
        assert!(
            (times[0] - from).abs() < 0.1,
            "keep_times={keep}: the first frame at {}",
            times[0]
        );
    }
    // WebM and Ogg for browsers without H.264; the audio alone as MP3.
    for (format, kind) in [("webm", "video/webm"), ("ogv", "video/ogg")] {
        let url = player_url(
            &node,
            &format!("/media/{old}/stream"),
            &format!("format={format}&start=2"),
        );
        let r = node.http().get(&url).send().await.unwrap();
        assert_eq!(r.headers()["content-type"], kind);
        drop(r);
        let frames = tokio::task::spawn_blocking(move || frames_played(&url, None, 2))
            .await
            .unwrap();
        assert!((44..=50).contains(&frames), "{frames} frames from {format}");
    }
    let mp3 = player_url(&node, &format!("/media/{old}/stream"), "format=mp3");
    let r = node.http().get(&mp3).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "audio/mpeg");
    drop(r);
    let heard = tokio::task::spawn_blocking(move || audio_played(&mp3, 2))
        .await
        .unwrap();
    assert!(heard > 20, "{heard} audio frames");
    wait_idle(&node, Duration::from_secs(5)).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_plays_after_a_seek_to_three_quarters() {
    let node = InProcNode::start().await;
    let old = upload(&node, "b.mkv", make(&node, "b.mkv", 20, MPEG4_MP3)).await;
    let text = playlist(&node, &old, "quality=240p").await;
    let lengths = durations(&text);
    assert_eq!(lengths.len(), 5, "{text}");
    let total: f64 = lengths.iter().sum();
    assert!((total - 20.0).abs() < 0.1, "{text}");
    assert!(text.ends_with("#EXT-X-ENDLIST\n"));
    assert!(text.contains("\n3.ts?quality=240p&api_secret="), "{text}");
    let url = player_url(
        &node,
        &format!("/media/{old}/hls/index.m3u8"),
        "quality=240p",
    );
    // ffmpeg's HLS reader, seeking, drops what comes before the first key
    // frame at or after the target: up to a GOP (2 s) of the 3 s asked.
    let frames = tokio::task::spawn_blocking(move || frames_played(&url, Some(0.75 * total), 3))
        .await
        .unwrap();
    assert!(
        (20..=73).contains(&frames),
        "{frames} frames after the seek"
    );
    wait_idle(&node, Duration::from_secs(6)).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_meet_exactly_whichever_head_made_them() {
    let node = InProcNode::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let mkv = upload(&node, "a.mkv", make(&node, "a.mkv", 20, H264_AAC)).await;
    let (_, probe) = node.get_json(&format!("/media/{mkv}/probe")).await;
    // Segments keep the file's timeline: the first starts at its first
    // key frame (Matroska's first video frame is a little late).
    let first_key = probe["keyframes"][0].as_f64().unwrap();
    // A transcode (scaled down) and a remux (copied into MPEG-TS).
    for query in ["quality=240p", ""] {
        let text = playlist(&node, &mkv, query).await;
        let lengths = durations(&text);
        // Segment 3 first, by a head started there; then 2, by another.
        let (s3, third) = segment(&node, &mkv, 3, query).await;
        let (s2, second) = segment(&node, &mkv, 2, query).await;
        assert_eq!((s3, s2), (200, 200));
        let (second, third) = (
            video_times(&second, tmp.path()),
            video_times(&third, tmp.path()),
        );
        let frame = 1001.0 / 24000.0;
        // Encoded segments are timed from the file's start plus 10 s;
        // copied ones keep the source's timestamps.
        let base = if query.is_empty() {
            first_key
        } else {
            first_key + 10.0
        };
        let start3: f64 = base + lengths[..3].iter().sum::<f64>();
        let start2: f64 = base + lengths[..2].iter().sum::<f64>();
        assert!(
            (second[0] - start2).abs() < 0.002,
            "{query}: {second:?} vs {start2}"
        );
        assert!(
            (third[0] - start3).abs() < 0.002,
            "{query}: {third:?} vs {start3}"
        );
        let gap = third[0] - second[second.len() - 1];
        assert!(
            (gap - frame).abs() < 0.002,
            "{query}: a gap of {gap} s between heads"
        );
        assert_eq!(second.len(), 96, "{query}: two GOPs of 48 frames");
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_requests_for_one_segment_get_the_same_bytes() {
    let node = InProcNode::start().await;
    let mp4 = upload(&node, "a.mp4", make(&node, "a.mp4", 16, H264_AAC)).await;
    playlist(&node, &mp4, "quality=144p").await;
    let asks = (0..8).map(|_| segment(&node, &mp4, 3, "quality=144p"));
    let answers = futures_util::future::join_all(asks).await;
    for (status, bytes) in &answers {
        assert_eq!(*status, 200, "{}", String::from_utf8_lossy(bytes));
        assert_eq!(bytes, &answers[0].1);
    }
    assert!(answers[0].1.len() > 1000);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoders_stop_when_their_clients_go() {
    let node = InProcNode::start_with(|c| {
        c.media.idle_secs = 1;
        c.media.prefetch = 50;
    })
    .await;
    let old = upload(&node, "b.mkv", make(&node, "b.mkv", 60, MPEG4_MP3)).await;
    // A progressive stream read a little, then dropped.
    let url = player_url(&node, &format!("/media/{old}/stream"), "");
    let mut r = node.http().get(&url).send().await.unwrap();
    assert!(r.chunk().await.unwrap().is_some());
    assert_eq!(media_status(&node).await["encoders_running"], 1);
    let tmp = node.dir().join("media-tmp");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "no plaintext on disk"
    );
    drop(r);
    wait_idle(&node, Duration::from_secs(3)).await;
    // An HLS head asked to run far ahead, then left: killed once idle.
    let (status, _) = segment(&node, &old, 0, "quality=1080p&transcode=true").await;
    assert_eq!(status, 200);
    assert!(media_status(&node).await["hls_heads"].as_u64().unwrap() >= 1);
    let idle = wait_idle(&node, Duration::from_secs(4)).await;
    let (_, whole) = node.get_json(&format!("/media/{old}/probe")).await;
    assert!(whole["duration"].as_f64().unwrap() > 59.0);
    assert!(idle["cache_bytes"].as_u64().unwrap() > 0);
    let (status, _) = segment(&node, &old, 14, "quality=1080p&transcode=true").await;
    assert_eq!(status, 200, "the last segment is made again on request");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_media_requests_get_clear_errors() {
    let node = InProcNode::start().await;
    let mp4 = upload(&node, "a.mp4", make(&node, "a.mp4", 4, H264_AAC)).await;
    let text = upload(&node, "notes.txt", b"not a video at all\n".repeat(100)).await;
    let (_, folder) = node
        .send_json(
            reqwest::Method::POST,
            "/folders",
            serde_json::json!({"name": "f"}),
        )
        .await;
    let folder = folder["id"].as_str().unwrap().to_owned();
    let cases: Vec<(String, u16, &str)> = vec![
        ("/media/AAAAAAAAAAA/probe".into(), 404, "not_found"),
        (format!("/media/{folder}/probe"), 404, "not_found"),
        (format!("/media/{text}/probe"), 400, "invalid"),
        (format!("/media/{text}/hls/index.m3u8"), 400, "invalid"),
        (format!("/media/{mp4}/stream?start=500"), 400, "invalid"),
        (format!("/media/{mp4}/stream?start=-1"), 400, "invalid"),
        (format!("/media/{mp4}/hls/999.ts"), 404, "not_found"),
        (format!("/media/{mp4}/hls/x.m3u8"), 404, "not_found"),
        (format!("/media/{mp4}/play?quality=999p"), 400, "invalid"),
        (format!("/media/{mp4}/play?audio=3"), 400, "invalid"),
        (format!("/media/{mp4}/stream?format=avi"), 400, "invalid"),
    ];
    for (path, want, code) in cases {
        let (status, body) = node.get_json(&path).await;
        assert_eq!(status, want, "{path}: {body}");
        assert_eq!(body["code"], code, "{path}: {body}");
        assert!(!body["message"].as_str().unwrap_or("").is_empty());
    }
    let (status, _) = node
        .http()
        .get(node.url(&format!("/media/{mp4}/probe")))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 401, "media calls need the secret");
    wait_idle(&node, Duration::from_secs(3)).await;
    node.stop().await;
}

/// The node's child processes (ffmpeg, ffprobe) now.
fn children(pid: i32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": the name may hold spaces.
        let Some((name, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(pid) {
            found.push(name.split_once('(').map_or("", |n| n.1).to_owned());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_leaves_no_ffmpeg_behind_and_says_when_it_has_none() {
    let node = TestNode::start().await;
    let old = upload(&node, "b.mkv", make(&node, "b.mkv", 30, MPEG4_MP3)).await;
    let url = player_url(&node, &format!("/media/{old}/stream"), "start=3");
    let mut r = node.http().get(&url).send().await.unwrap();
    assert!(r.chunk().await.unwrap().is_some());
    assert!(children(node.pid()).iter().any(|c| c == "ffmpeg"));
    drop(r);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !children(node.pid()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left behind: {:?}",
            children(node.pid())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The CLI: `cairn probe` and `cairn play`, whose URL a player opens.
    let out = node.cli(&["probe", &old]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("#0 video mpeg4 640x360"),
        "{text}"
    );
    let out = node.cli(&["play", &old, "--quality", "240p"]);
    let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        url.contains("/hls/master.m3u8?quality=240p&api_secret="),
        "{url}"
    );
    let frames = tokio::task::spawn_blocking(move || frames_played(&url, None, 2))
        .await
        .unwrap();
    assert!((46..=50).contains(&frames), "{frames} frames");
    let out = node.cli(&["play", &old, "--as", "sideways"]);
    assert!(!out.status.success());

    let empty = tempfile::tempdir().unwrap();
    let bare = TestNode::start_with_env("", &[("PATH", empty.path().to_str().unwrap())]).await;
    let id = upload(
        &bare,
        "a.mkv",
        std::fs::read(node.files().join("b.mkv")).unwrap(),
    )
    .await;
    for path in [
        format!("/media/{id}/probe"),
        format!("/media/{id}/hls/index.m3u8"),
        format!("/media/{id}/stream"),
    ] {
        let (status, body) = bare.get_json(&path).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("not installed"),
            "{body}"
        );
    }
    let (_, status) = bare.get_json("/status").await;
    assert_eq!(status["media"]["available"], false);
}

/// A 6 s H.264 video in Matroska with an embedded German subtitle stream
/// ("Guten Tag" from 1 s to 2.5 s, "Tschüss" from 3 s to 4 s).
fn subbed_video(node: &impl Dirs) -> Vec<u8> {
    let srt = "1\n00:00:01,000 --> 00:00:02,500\nGuten Tag\n\n2\n00:00:03,000 --> 00:00:04,000\nTschüss\n";
    std::fs::write(node.files().join("in.srt"), srt).unwrap();
    make(node, "clip.mkv", 6, H264_AAC);
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(node.files().join("clip.mkv"))
        .arg("-i")
        .arg(node.files().join("in.srt"))
        .args(["-map", "0", "-map", "1", "-c", "copy", "-c:s", "srt"])
        .args(["-metadata:s:s:0", "language=ger"])
        .arg(node.files().join("subbed.mkv"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(node.files().join("subbed.mkv")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subtitles_come_as_webvtt_from_streams_and_sidecars() {
    let node = InProcNode::start().await;
    let id = upload(&node, "Film.mkv", subbed_video(&node)).await;
    // Sidecars: English in UTF-8, French in Windows-1252, and a stranger.
    upload(
        &node,
        "Film.en.srt",
        b"1\r\n00:00:01,000 --> 00:00:02,000\r\nHello\r\n".to_vec(),
    )
    .await;
    let french = b"1\n00:00:01,200 --> 00:00:02,000\nD\xe9j\xe0 vu, gar\xe7on\n\n2\n00:00:02,500 --> 00:00:03,000\nL'\xe9t\xe9 est l\xe0\n";
    upload(&node, "Film.fr.srt", french.to_vec()).await;
    upload(
        &node,
        "Other.srt",
        b"1\n00:00:01,000 --> 00:00:02,000\nNo\n".to_vec(),
    )
    .await;

    let (status, tracks) = node.get_json(&format!("/media/{id}/subtitles")).await;
    assert_eq!(status, 200, "{tracks}");
    let tracks = tracks.as_array().unwrap().clone();
    assert_eq!(tracks.len(), 3, "{tracks:?}");
    let by_lang = |l: &str| tracks.iter().find(|t| t["language"] == l).unwrap().clone();
    let german = by_lang("ger");
    assert_eq!(
        (german["source"].as_str(), german["format"].as_str()),
        (Some("stream"), Some("subrip"))
    );
    assert_eq!(by_lang("en")["source"], "file");

    let vtt = |track: Value| {
        let (node, id) = (&node, id.clone());
        async move {
            let r = node
                .req(
                    reqwest::Method::GET,
                    &format!("/media/{id}/subtitles/{}", track["id"].as_str().unwrap()),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["content-type"], "text/vtt; charset=utf-8");
            r.text().await.unwrap()
        }
    };
    let de = vtt(german).await;
    assert!(de.starts_with("WEBVTT"), "{de}");
    // ffmpeg leaves the hours out, as WebVTT allows.
    assert!(
        de.contains("00:01.000 --> 00:02.500") && de.contains("Tschüss"),
        "{de}"
    );
    let fr = vtt(by_lang("fr")).await;
    assert!(
        fr.contains("00:00:01.200 --> 00:00:02.000\nDéjà vu, garçon"),
        "{fr}"
    );
    assert!(fr.contains("L'été est là"), "{fr}");
    let en = vtt(by_lang("en")).await;
    assert!(
        en.starts_with("WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\nHello"),
        "{en}"
    );
    let (status, _) = node.get_json(&format!("/media/{id}/subtitles/s9")).await;
    assert_eq!(status, 404);
    let (status, _) = node
        .get_json(&format!("/media/{id}/subtitles/fAAAAAAAAAAA"))
        .await;
    assert_eq!(status, 404);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_master_offers_subtitles_on_the_video_timeline() {
    let node = InProcNode::start().await;
    let id = upload(&node, "Film.mkv", subbed_video(&node)).await;
    upload(
        &node,
        "Film.en.srt",
        b"1\n00:00:04,000 --> 00:00:05,000\nGood \"bye\"\n".to_vec(),
    )
    .await;
    let text = |path: String| {
        let node = &node;
        async move {
            let r = node.req(reqwest::Method::GET, &path).send().await.unwrap();
            let status = r.status().as_u16();
            let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
            let body = r.text().await.unwrap();
            assert_eq!(status, 200, "{path}: {body}");
            (kind, body)
        }
    };

    // Copied (the video is H.264) and encoded (240p): the subtitles' time 0
    // is where the video segments' timestamps put the film's start.
    for query in ["", "quality=240p"] {
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        let (kind, master) = text(format!("/media/{id}/hls/master.m3u8{q}")).await;
        assert_eq!(kind, "application/vnd.apple.mpegurl");
        let media: Vec<&str> = master
            .lines()
            .filter(|l| l.starts_with("#EXT-X-MEDIA:TYPE=SUBTITLES"))
            .collect();
        assert_eq!(media.len(), 2, "{master}");
        assert!(
            media[0].contains("NAME=\"ger\",LANGUAGE=\"ger\"")
                && media[0].contains(&format!("URI=\"sub-s2.m3u8{q}\"")),
            "{master}"
        );
        assert!(media[1].contains("LANGUAGE=\"en\""), "{master}");
        let inf = master
            .lines()
            .find(|l| l.starts_with("#EXT-X-STREAM-INF:"))
            .unwrap();
        assert!(
            inf.contains("SUBTITLES=\"subs\"") && inf.contains("BANDWIDTH="),
            "{inf}"
        );
        // 240p: 426 wide, the height kept even.
        let resolution = if query.is_empty() {
            "640x360"
        } else {
            "426x238"
        };
        assert!(inf.contains(&format!("RESOLUTION={resolution}")), "{inf}");
        let variant = master.lines().skip_while(|l| *l != inf).nth(1).unwrap();
        assert_eq!(variant, format!("index.m3u8{q}"));

        let (_, sub_list) = text(format!("/media/{id}/hls/sub-s2.m3u8{q}")).await;
        assert!(sub_list.contains("#EXT-X-ENDLIST"), "{sub_list}");
        let inf: f64 = sub_list
            .lines()
            .find_map(|l| l.strip_prefix("#EXTINF:"))
            .and_then(|d| d.trim_end_matches(',').parse().ok())
            .unwrap();
        assert!((inf - 6.0).abs() < 0.2, "{sub_list}");
        let vtt_uri = format!("sub-s2.vtt{q}");
        assert!(sub_list.lines().any(|l| l == vtt_uri), "{sub_list}");

        let (kind, vtt) = text(format!("/media/{id}/hls/{vtt_uri}")).await;
        assert_eq!(kind, "text/vtt; charset=utf-8");
        let mut lines = vtt.lines();
        assert_eq!(lines.next(), Some("WEBVTT"), "{vtt}");
        let map = lines.next().unwrap();
        let mpegts: f64 = map
            .strip_prefix("X-TIMESTAMP-MAP=MPEGTS:")
            .and_then(|m| m.strip_suffix(",LOCAL:00:00:00.000"))
            .and_then(|m| m.parse().ok())
            .unwrap_or_else(|| panic!("{vtt}"));
        assert!(vtt.contains("00:01.000 --> 00:02.500\nGuten Tag"), "{vtt}");

        // The first video frame of the first segment sits at that time.
        let r = node
            .req(reqwest::Method::GET, &format!("/media/{id}/hls/0.ts{q}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let segment = r.bytes().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let times = video_times(&segment, dir.path());
        assert!(
            (times[0] - mpegts / 90_000.0).abs() < 0.05,
            "{query}: video starts at {}, subtitles at {}",
            times[0],
            mpegts / 90_000.0
        );

        let (_, en) = text(format!(
            "/media/{id}/hls/{}",
            media[1]
                .split("URI=\"")
                .nth(1)
                .unwrap()
                .trim_end_matches('"')
                .replace(".m3u8", ".vtt")
        ))
        .await;
        assert!(
            en.contains("Good 'bye'") || en.contains("Good \"bye\""),
            "{en}"
        );
    }

    // A player opens the master playlist and plays the video.
    let (status, play) = node.get_json(&format!("/media/{id}/play")).await;
    assert_eq!(status, 200, "{play}");
    let path = play["master"].as_str().unwrap();
    assert_eq!(path, format!("/api/v1/media/{id}/hls/master.m3u8"));
    let url = player_url(&node, path.trim_start_matches("/api/v1"), "");
    let frames = tokio::task::spawn_blocking(move || frames_played(&url, None, 2))
        .await
        .unwrap();
    assert!((46..=50).contains(&frames), "{frames} frames");

    let (status, body) = node.get_json(&format!("/media/{id}/hls/sub-s9.vtt")).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = node
        .get_json(&format!("/media/{id}/hls/sub-fAAAAAAAAAAA.m3u8"))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = node
        .get_json(&format!("/media/{id}/hls/sub-fAAAAAAAAAAA.vtt"))
        .await;
    assert_eq!(status, 404, "{body}");
    wait_idle(&node, Duration::from_secs(30)).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_history_remembers_where_playback_stopped() {
    let node = InProcNode::start().await;
    let a = upload(&node, "a.bin", b"not even media".to_vec()).await;
    let b = upload(&node, "b.bin", b"nor this".to_vec()).await;
    let torrent = format!("torrent:{}:3", "ab".repeat(20));
    let put = |subject: String, body: Value| {
        let node = &node;
        async move {
            node.send_json(reqwest::Method::PUT, &format!("/history/{subject}"), body)
                .await
        }
    };
    let (status, w) = put(
        a.clone(),
        serde_json::json!({ "position": 42.5, "duration": 600 }),
    )
    .await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(
        (w["position"].as_f64(), w["ended"].as_bool()),
        (Some(42.5), Some(false))
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (status, _) = put(torrent.clone(), serde_json::json!({ "position": 3 })).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (status, _) = put(
        a.clone(),
        serde_json::json!({ "position": 600, "ended": true }),
    )
    .await;
    assert_eq!(status, 200);
    let (_, history) = node.get_json("/history").await;
    let subjects: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        vec![a.as_str(), torrent.as_str()],
        "newest first: {history}"
    );
    assert_eq!(history[0]["ended"], true);
    // Bad input.
    for (subject, body, want) in [
        (b.clone(), serde_json::json!({ "position": -1 }), 400),
        (
            b.clone(),
            serde_json::json!({ "position": 1, "duration": 0 }),
            400,
        ),
        (
            "AAAAAAAAAAA".to_owned(),
            serde_json::json!({ "position": 1 }),
            404,
        ),
        (
            "torrent:xyz:1".to_owned(),
            serde_json::json!({ "position": 1 }),
            400,
        ),
    ] {
        let (status, answer) = put(subject.clone(), body).await;
        assert_eq!(status, want, "{subject}: {answer}");
    }
    // Deleting an entry takes it out of the history; forgetting works too.
    let (status, _) = node
        .send_json(
            reqwest::Method::DELETE,
            &format!("/entries/{a}"),
            serde_json::json!({}),
        )
        .await;
    assert!(status < 300, "{status}");
    let (status, _) = node
        .send_json(
            reqwest::Method::DELETE,
            &format!("/history/{torrent}"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let (_, history) = node.get_json("/history").await;
    assert_eq!(history, serde_json::json!([]));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_a_request_waits_on_is_never_reaped_as_idle() {
    // Heads idle for no time at all are reaped at every round (every half
    // second), and each segment takes longer than that to encode: a
    // request waiting on one must still get it.
    let node = InProcNode::start_with(|c| {
        c.media.idle_secs = 0;
        c.media.segment_secs = 12.0;
    })
    .await;
    let old = upload(&node, "b.mkv", make(&node, "b.mkv", 24, MPEG4_MP3)).await;
    let started = Instant::now();
    let (status, body) = segment(&node, &old, 1, "transcode=true").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(body.len() > 10_000);
    assert!(started.elapsed() < Duration::from_secs(60));
    wait_idle(&node, Duration::from_secs(3)).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_convert_job_stores_an_mp4_browsers_play() {
    let node = InProcNode::start().await;
    let id = upload(&node, "old.avi", make(&node, "old.avi", 3, MPEG4_MP3)).await;
    let (status, job) = node
        .send_json(
            reqwest::Method::POST,
            &format!("/media/{id}/convert"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["kind"], "convert");
    let done = node.wait_job(job["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "done", "{done}");
    let made = &done["result"]["entry"];
    assert_eq!(made["name"], "old.avi.mp4");
    let (_, probe) = node
        .get_json(&format!("/media/{}/probe", made["id"].as_str().unwrap()))
        .await;
    let codecs: Vec<&str> = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec"].as_str().unwrap())
        .collect();
    assert_eq!(codecs, ["h264", "aac"], "{probe}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_subtitle_file_becomes_one_of_the_video_s_tracks() {
    let node = InProcNode::start().await;
    let id = upload(&node, "Film.mp4", make(&node, "Film.mp4", 2, H264_AAC)).await;
    let srt = b"1\r\n00:00:00,500 --> 00:00:01,500\r\n{\\i1}D\xe9j\xe0 vu{\\i0}\r\n".to_vec();
    let add = |query: &'static str, body: Vec<u8>| {
        node.req(
            reqwest::Method::POST,
            &format!("/media/{id}/subtitles?{query}"),
        )
        .body(body)
        .send()
    };
    let r = add("format=srt&language=fr", srt.clone()).await.unwrap();
    assert_eq!(r.status(), 201);
    let track: Value = r.json().await.unwrap();
    assert_eq!(
        (track["language"].as_str(), track["source"].as_str()),
        (Some("fr"), Some("file"))
    );
    let (_, tracks) = node.get_json(&format!("/media/{id}/subtitles")).await;
    assert!(
        tracks
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == track["id"]),
        "{tracks}"
    );
    let (_, listed) = node.get_json("/entries?limit=10").await;
    assert!(
        listed["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "Film.fr.srt"),
        "{listed}"
    );
    let vtt = node
        .req(
            reqwest::Method::GET,
            &format!("/media/{id}/subtitles/{}", track["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        vtt.contains("00:00:00.500 --> 00:00:01.500") && vtt.contains("<i>D\u{e9}j\u{e0} vu</i>"),
        "{vtt}"
    );
    // Again: replaced, not doubled. Not subtitles, or a bad format: 400.
    assert_eq!(
        add("format=srt&language=fr", srt).await.unwrap().status(),
        201
    );
    let (_, tracks) = node.get_json(&format!("/media/{id}/subtitles")).await;
    assert_eq!(tracks.as_array().unwrap().len(), 1, "{tracks}");
    assert_eq!(
        add("format=srt", b"just words".to_vec())
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        add("format=txt", b"x".to_vec()).await.unwrap().status(),
        400
    );
    node.stop().await;
}
