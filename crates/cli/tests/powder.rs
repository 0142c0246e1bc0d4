//! Issue 17, Powder Web's layer, in Powder's own request forms (the
//! seed's URLs): keys and sign-in, settings, torrents from a swarm on
//! 127.0.0.1, playlists played with ffmpeg, `/web/` streams and HLS,
//! `/meta/`, subtitles, history, local media, youtube-dl links (yt-dlp
//! from PyPI, installed by the test command, on a page a server of the
//! test's serves); and, through the binary, user tokens that outlive a
//! restart while the master key does not.

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::inproc::InProcNode;
use common::media::{H264_AAC, audio_played, frames_played, make_media};
use common::seeder::Seeder;
use common::{Dirs, Endpoint, TestNode, b3};
use serde_json::{Value, json};

/// A client of Powder's API at `addr`.
struct Powder {
    addr: String,
    http: reqwest::Client,
}

impl Powder {
    fn new(addr: &str) -> Self {
        Self {
            addr: addr.to_owned(),
            http: common::endpoint::client(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The text at `url`.
    async fn text(&self, url: impl reqwest::IntoUrl) -> String {
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The bytes at `url`.
    async fn body(&self, url: impl reqwest::IntoUrl) -> Vec<u8> {
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }

    /// `/actions?<query>` with `key` in the `authorization` header: the
    /// status, the content type, the body.
    async fn raw(&self, key: Option<&str>, query: &str) -> (u16, Option<String>, String) {
        let mut r = self.http.get(self.url(&format!("/actions?{query}")));
        if let Some(k) = key {
            r = r.header("authorization", k);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(resp.headers()["access-control-allow-origin"], "*");
        (status, ct, resp.text().await.unwrap())
    }

    /// A call that succeeds: its JSON (Powder sent no content type).
    async fn ok(&self, key: Option<&str>, query: &str) -> Value {
        let (status, ct, body) = self.raw(key, query).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(ct, None, "{query}: no content type, as Powder");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{query}: {e}: {body}"))
    }

    /// A call that fails as Powder's did: 500, the message as text.
    async fn err(&self, key: Option<&str>, query: &str) -> String {
        let (status, ct, body) = self.raw(key, query).await;
        assert_eq!(status, 500, "{query}: {body}");
        assert_eq!(ct.as_deref(), Some("text/plain"));
        body
    }
}

fn value(json: &Value) -> String {
    url_encode(&json.to_string())
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A node serving Powder on a listener of its own, and its master key.
async fn powder_node() -> (InProcNode, Powder, String) {
    powder_node_with(false).await
}

/// [`powder_node`], fetching from 127.0.0.1 when `local_fetches` (the
/// test's web sites).
async fn powder_node_with(local_fetches: bool) -> (InProcNode, Powder, String) {
    let node = InProcNode::start_with(|c| {
        c.layers.powder = vec!["127.0.0.1:0".parse().unwrap()];
        if local_fetches {
            c.remote.allow = vec!["127.0.0.1".into()];
        }
    })
    .await;
    let powder = Powder::new(node.own_addr("powder").unwrap());
    let master = std::fs::read_to_string(node.dir().join("powder.key"))
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(master.len(), 32);
    (node, powder, master)
}

/// Opens sign-ups and signs `email` up: the user's token.
async fn sign_up(p: &Powder, master: &str, email: &str) -> String {
    p.ok(Some(master), "method=settings&maxUsers=10").await;
    let v = p
        .ok(
            None,
            &format!(
                "method=signup&value={}",
                value(&json!({ "email": email, "password": "correct horse" }))
            ),
        )
        .await;
    let token = v["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 32);
    token
}

#[tokio::test]
async fn keys_sign_in_scopes_and_settings() {
    let (node, p, master) = powder_node().await;
    // Before the key check: validToken, allowRegister; sign-ups closed
    // while maxUsers is 0.
    assert_eq!(
        p.ok(None, &format!("method=validToken&token={master}"))
            .await,
        "2"
    );
    assert_eq!(p.ok(None, "method=validToken&token=nope").await, "0");
    assert_eq!(
        p.ok(None, "method=allowRegister").await,
        json!({ "value": false })
    );
    let creds = value(&json!({ "email": "ann@example.com", "password": "correct horse" }));
    assert_eq!(
        p.ok(None, &format!("method=signup&value={creds}")).await,
        json!({ "error": "Maximum number of users reached" })
    );
    assert_eq!(
        p.ok(None, "method=login&value=%7B%7D").await,
        json!({ "error": "All fields required" })
    );
    assert_eq!(
        p.err(None, "method=setting&for=getAll").await,
        "Invalid access token\n"
    );
    assert_eq!(
        p.err(Some(&master), "x=1").await,
        "Method must be specified\n"
    );

    // The master opens sign-ups; Ann signs up, then in.
    let ann = sign_up(&p, &master, "ann@example.com").await;
    assert_eq!(
        p.ok(None, "method=allowRegister").await,
        json!({ "value": true })
    );
    assert_eq!(
        p.ok(None, &format!("method=signup&value={creds}")).await,
        json!({ "error": "Email already registered" })
    );
    let login = p.ok(None, &format!("method=login&value={creds}")).await;
    assert_eq!(login["token"].as_str().unwrap().len(), 32);
    let week = login["expiresOn"].as_i64().unwrap() - chrono_ms();
    assert!(
        (7 * 86_400_000 - 60_000..=7 * 86_400_000).contains(&week),
        "{week}"
    );
    let wrong = value(&json!({ "email": "ann@example.com", "password": "wrong horse" }));
    assert_eq!(
        p.ok(None, &format!("method=login&value={wrong}")).await,
        json!({ "err": "Incorrect password" })
    );
    let nobody = value(&json!({ "email": "bob@example.com", "password": "whatever1" }));
    assert_eq!(
        p.ok(None, &format!("method=login&value={nobody}")).await,
        json!({ "error": "Email not registered" })
    );
    assert_eq!(
        p.ok(None, &format!("method=validToken&token={ann}")).await,
        "1"
    );
    // The admin makes an account with a password too, and it signs in.
    let (status, made) = node
        .send_json(
            reqwest::Method::POST,
            "/accounts",
            json!({ "email": "cy@example.com", "password": "another secret" }),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let cy = value(&json!({ "email": "cy@example.com", "password": "another secret" }));
    assert!(p.ok(None, &format!("method=login&value={cy}")).await["token"].is_string());

    // Settings: a user reads them all and writes its own keys, never the
    // master's.
    let all = p.ok(Some(&ann), "method=setting&for=getAll").await;
    assert_eq!(
        (all["subLimit"].clone(), all["webServerPort"].clone()),
        (json!(0), json!(3000))
    );
    let embed = all["embedToken"].as_str().unwrap().to_owned();
    p.ok(Some(&ann), "method=settings&maxUsers=99&ytdlQuality=3")
        .await;
    assert_eq!(
        p.ok(Some(&ann), "method=setting&for=maxUsers").await,
        json!({ "value": 10 })
    );
    assert_eq!(
        p.ok(Some(&ann), "method=setting&for=ytdlQuality").await,
        json!({ "value": 3 })
    );
    assert_eq!(
        p.ok(Some(&ann), "method=setting&for=noSuchKey").await,
        json!({})
    );
    // Master-only methods are not found for users; desktop helpers are {}.
    let (status, _, body) = p.raw(Some(&ann), "method=resetSettings").await;
    assert_eq!((status, body.as_str()), (404, "404 Not Found\n"));
    assert_eq!(
        p.ok(Some(&master), "method=toggleMaximize").await,
        json!({})
    );
    let (status, _, _) = p.raw(Some(&ann), "method=noSuchMethod").await;
    assert_eq!(status, 404);
    // The embed token: its methods only.
    assert_eq!(
        p.ok(None, &format!("method=validToken&token={embed}"))
            .await,
        "1"
    );
    assert_eq!(
        p.ok(Some(&embed), "method=haveAce").await,
        json!({ "hasAcestream": false })
    );
    assert_eq!(
        p.err(Some(&embed), "method=setting&for=getAll").await,
        "Invalid access token\n"
    );
    assert_eq!(
        p.err(
            Some(&master),
            "method=sop&torrent=sop%3A%2F%2F1.2.3.4%3A3938%2F1"
        )
        .await,
        "No Sopcast Installed. Please Try Adding a Link Again.\n"
    );
    // A key in the query works as in the header.
    assert_eq!(
        p.ok(None, &format!("method=haveSop&token={ann}")).await,
        json!({ "hasSopcast": false })
    );
    // qrCode: the master's phone gets the args key (a user's power), a
    // user their own key; the PNG is a PNG.
    let qr = p.ok(Some(&master), "method=qrCode&qrType=local").await;
    let url = qr["url"].as_str().unwrap();
    let port = p.addr.rsplit_once(':').unwrap().1;
    let (head, args) = url.split_once("/auth?token=").unwrap();
    assert!(
        head.starts_with("http://") && head.ends_with(&format!(":{port}")),
        "{url}"
    );
    assert_ne!(args, master);
    assert_eq!(
        p.ok(None, &format!("method=validToken&token={args}")).await,
        "1"
    );
    let png = qr["qrCode"]
        .as_str()
        .unwrap()
        .strip_prefix("data:image/png;base64,")
        .unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(png)
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let mine = p.ok(Some(&ann), "method=qrCode&qrType=local").await;
    assert!(
        mine["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("token={ann}"))
    );
    assert_eq!(
        p.err(Some(&ann), "method=qrCode&qrType=internet").await,
        "This node's public address is not known: AutoNAT has not confirmed one\n"
    );
    let (status, _, _) = p.raw(Some(&ann), "method=qrCode&qrType=elsewhere").await;
    assert_eq!(status, 404);
    // A pre-flight is answered.
    let pre = p
        .http
        .request(reqwest::Method::OPTIONS, p.url("/actions"))
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    node.stop().await;
}

/// Frames decoded from `url` by ffmpeg (off the runtime's threads).
async fn plays(url: &str, seek: Option<f64>, secs: u32) -> usize {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || frames_played(&url, seek, secs))
        .await
        .unwrap()
}

fn chrono_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

const SRT: &str = "1\r\n00:00:01,000 --> 00:00:02,500\r\nHello\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\n{\\i1}There{\\i0}\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torrents_play_from_playlists_web_streams_and_hls_with_subtitles_and_history() {
    let tmp = tempfile::tempdir().unwrap();
    let film = make_media(tmp.path(), "Sintel.mp4", 8, H264_AAC);
    let seeder = Seeder::start(
        tmp.path(),
        &[
            ("Sintel.mp4", &film),
            ("Sintel.en.srt", SRT.as_bytes()),
            ("notes.txt", b"not a video"),
        ],
    )
    .await;
    let (node, p, master) = powder_node().await;
    let ann = sign_up(&p, &master, "ann@example.com").await;
    let magnet = url_encode(&seeder.magnet());

    // new: the torrent at once; again: the same id, as a string.
    let t = p
        .ok(Some(&ann), &format!("method=new&torrent={magnet}"))
        .await;
    let hash = seeder.hash();
    assert_eq!(t["infoHash"], hash);
    assert_eq!(t["path"], false);
    let utime = t["utime"].as_i64().expect("a number the first time");
    let again = p
        .ok(Some(&ann), &format!("method=new&torrent={magnet}"))
        .await;
    assert_eq!(again["utime"], utime.to_string());
    // isListening, until the metadata is here (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    while p
        .ok(Some(&ann), &format!("method=isListening&utime={utime}"))
        .await
        != json!({ "value": true })
    {
        assert!(Instant::now() < deadline, "the torrent never listened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let data = p
        .ok(Some(&ann), &format!("method=torrentData&id={hash}"))
        .await;
    let files = data["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "only what streams: {data}");
    assert_eq!(
        (files[0]["name"].clone(), files[0]["streamable"].clone()),
        (json!("Sintel.mp4"), json!(true))
    );
    assert_eq!(files[0]["length"], film.len());
    let index = files[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(data["total"]["length"], film.len() + SRT.len() + 11);
    let all = p.ok(Some(&ann), "method=getall").await;
    assert_eq!(
        (all[&hash]["utime"].clone(), all[&hash]["running"].clone()),
        (json!(utime), json!(true))
    );
    assert_eq!(
        p.ok(Some(&ann), "method=update")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        p.ok(Some(&ann), &format!("method=haveTorrent&id={hash}"))
            .await,
        json!({ "value": true })
    );

    // The playlist: Powder's exact form, the token in the path.
    let resp = p
        .http
        .get(p.url(&format!("/playlist.m3u?id={utime}&token={ann}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "audio/x-mpegurl");
    assert_eq!(
        resp.headers()["content-disposition"],
        "attachment;filename=\"playlist.m3u\""
    );
    let m3u = resp.text().await.unwrap();
    let file_url = format!("http://{}/api/{ann}/{hash}/Sintel.mp4", p.addr);
    assert_eq!(m3u, format!("#EXTM3U\n#EXTINF:0,Sintel\n{file_url}"));
    // Its entry: by range while it arrives, whole, and it plays.
    let part = p
        .http
        .get(&file_url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap(), film[100..200]);
    let whole = p.body(&file_url).await;
    assert_eq!(b3(&whole), b3(&film));
    assert!(plays(&file_url, None, 2).await > 40);
    let bad = p
        .http
        .get(p.url(&format!("/api/{}/{hash}/Sintel.mp4", "0".repeat(32))))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 500, "a made-up token is refused");

    // /web/: the seed's URL, transcoded to 360p; and as HLS, from 75 %.
    let web = format!(
        "http://{}/web/{hash}/{index}/360p.mp4?token={ann}&maxHeight=360&maxWidth=640&needsAudio=0&needsVideo=0&a=aac&v=h264&forAudio=-1&copyts=-1&forceTranscode=-1&useMatroska=-1&audioDelay=0&start=2",
        p.addr
    );
    assert!(plays(&web, None, 2).await > 40, "the /web/ stream plays");
    let webm = format!(
        "http://{}/web/{hash}/{index}/240p.webm?token={ann}&needsVideo=0&needsAudio=0",
        p.addr
    );
    assert!(plays(&webm, None, 2).await > 40, "WebM plays");
    let mp3 = format!(
        "http://{}/web/{hash}/{index}/audio.mp3?token={ann}&needsAudio=0",
        p.addr
    );
    let heard = tokio::task::spawn_blocking(move || audio_played(&mp3, 2))
        .await
        .unwrap();
    assert!(heard > 20, "{heard} audio frames");
    let hls = format!(
        "http://{}/web/{hash}/{index}/360p.m3u8?token={ann}&needsAudio=0&needsVideo=0",
        p.addr
    );
    let playlist = p.http.get(&hls).send().await.unwrap();
    assert_eq!(playlist.headers()["content-type"], "application/x-mpegURL");
    assert!(playlist.text().await.unwrap().contains("stream-1.ts?"));
    assert!(plays(&hls, Some(6.0), 1).await > 10, "HLS plays from 75 %");
    // Resuming: the playlist says where to begin.
    let resumed = p.text(format!("{hls}&start=4.5")).await;
    assert!(
        resumed.contains("#EXT-X-VERSION:3\n#EXT-X-START:TIME-OFFSET=4.5,PRECISE=YES\n"),
        "{resumed}"
    );
    // /meta/: ffprobe's shape.
    let meta: Value = p
        .http
        .get(p.url(&format!("/meta/{hash}/{index}?token={ann}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let video = meta["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video")
        .unwrap();
    assert_eq!(
        (video["codec_name"].clone(), video["height"].clone()),
        (json!("h264"), json!(360))
    );

    // Subtitles: the sidecar in the torrent, as WebVTT; and an upload.
    let subs = p
        .ok(
            Some(&ann),
            &format!("method=getSubs&infohash={hash}&id={index}"),
        )
        .await;
    let sub = &subs.as_array().unwrap()[0];
    assert_eq!(
        (
            sub["label"].clone(),
            sub["sublang"].clone(),
            sub["ext"].clone()
        ),
        (json!("English"), json!("en"), json!("srt"))
    );
    // subLangs in two- or three-letter codes.
    for (langs, found) in [("eng", true), ("fr,de", false), ("all", true)] {
        p.ok(Some(&master), &format!("method=settings&subLangs={langs}"))
            .await;
        let (status, _, body) = p
            .raw(
                Some(&ann),
                &format!("method=getSubs&infohash={hash}&id={index}"),
            )
            .await;
        assert_eq!(status == 200, found, "subLangs={langs}: {body:?}");
    }
    let vtt = p
        .http
        .get(sub["src"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(vtt.headers()["content-type"], "text/vtt; charset=utf-8");
    let vtt = vtt.text().await.unwrap();
    assert!(
        vtt.starts_with("WEBVTT") && vtt.contains("00:00:01.000 --> 00:00:02.500"),
        "{vtt}"
    );
    let form = reqwest::multipart::Form::new().part(
        "filetoupload",
        reqwest::multipart::Part::bytes(SRT.as_bytes().to_vec()).file_name("mine.srt"),
    );
    let up = p
        .http
        .post(p.url(&format!("/subUpload?token={ann}")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 200);
    let named: String = up.json().await.unwrap();
    let from = base64::engine::general_purpose::STANDARD.encode(&named);
    let mine = p
        .text(p.url(&format!(
            "/srt2vtt/subtitle.vtt?token={ann}&from={}",
            url_encode(&from)
        )))
        .await;
    assert!(mine.contains("<i>There</i>"), "{mine}");
    let path = base64::engine::general_purpose::STANDARD.encode("/etc/passwd");
    let refused = p
        .http
        .get(p.url(&format!("/srt2vtt/subtitle.vtt?token={ann}&from={path}")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 500, "never a file of the machine");

    // History: Ann's, not Bob's.
    p.ok(Some(&ann), &format!("method=updateHistory&filename=Sintel.mp4&time=5.5&duration=8&infohash={hash}&fileID={index}&ended=false&isLocal=undefined&isYtdl=undefined")).await;
    let list = p.ok(Some(&ann), "method=historyList").await;
    let item = &list[0];
    assert_eq!(
        (
            item["filename"].clone(),
            item["time"].clone(),
            item["infohash"].clone(),
            item["fileID"].clone(),
            item["ended"].clone(),
            item["isLocal"].clone()
        ),
        (
            json!("Sintel.mp4"),
            json!("5.5"),
            json!(hash),
            json!(index),
            json!(false),
            json!(false)
        )
    );
    assert_eq!(
        p.ok(Some(&ann), "method=syncBrowser").await["infohash"],
        hash
    );
    let bob = sign_up(&p, &master, "bob@example.com").await;
    assert_eq!(
        p.err(Some(&bob), "method=historyList").await,
        "No History Items\n"
    );
    // A pre-flight announcing a removal removes nothing.
    let pre = p
        .http
        .request(
            reqwest::Method::OPTIONS,
            p.url(&format!(
                "/actions?method=removeHistoryItem&id=0&token={ann}"
            )),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(pre.headers()["access-control-allow-origin"], "*");
    let list = p.ok(Some(&ann), "method=historyList").await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    p.ok(Some(&ann), "method=removeHistoryItem&id=0").await;
    assert_eq!(
        p.ok(Some(&ann), "method=haveSyncBrowser").await,
        json!({ "value": false })
    );

    // speedPulsing limits it (the torrent is added again, its data kept),
    // and lifts the limit; the native call is the same one.
    p.ok(
        Some(&ann),
        &format!("method=speedPulsing&id={utime}&max=100"),
    )
    .await;
    assert_eq!(
        p.ok(Some(&ann), "method=getall").await[&hash]["pulsing"],
        100
    );
    let again = p.body(&file_url).await;
    assert_eq!(b3(&again), b3(&film), "the data stays");
    p.ok(Some(&ann), &format!("method=speedPulsing&id={utime}"))
        .await;
    assert_eq!(
        p.ok(Some(&ann), "method=getall").await[&hash]["pulsing"],
        false
    );
    let (status, t) = node
        .send_json(
            reqwest::Method::PUT,
            &format!("/torrents/{hash}/limit"),
            json!({ "download_bps": 20000 }),
        )
        .await;
    assert_eq!(
        (status, t["download_limit_bps"].clone()),
        (200, json!(20000)),
        "{t}"
    );
    let (status, _) = node
        .send_json(
            reqwest::Method::PUT,
            &format!("/torrents/{hash}/limit"),
            json!({ "download_bps": 100 }),
        )
        .await;
    assert_eq!(status, 400);

    // cancel: noDelete pauses; force removes it and its data.
    p.ok(
        Some(&ann),
        &format!("method=cancel&noDelete=true&infohash={hash}"),
    )
    .await;
    assert_eq!(
        p.ok(Some(&ann), "method=getall").await[&hash]["running"],
        false
    );
    let paused = p
        .http
        .get(p.url(&format!("/playlist.m3u?id={utime}&token={ann}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (paused.status().as_u16(), paused.text().await.unwrap()),
        (500, "Unknown Error\n".into())
    );
    p.ok(
        Some(&ann),
        &format!("method=cancel&force=true&infohash={hash}"),
    )
    .await;
    assert_eq!(
        p.ok(Some(&ann), &format!("method=haveTorrent&id={hash}"))
            .await,
        json!({ "value": false })
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_media_are_stored_files_the_master_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let film = make_media(tmp.path(), "clip.mp4", 4, H264_AAC);
    let (node, p, master) = powder_node().await;
    let (status, entry) = node.upload("clip.mp4", film.clone(), "").await;
    assert_eq!(status, 201, "{entry}");
    let id = entry["id"].as_str().unwrap();
    let ann = sign_up(&p, &master, "ann@example.com").await;
    let (status, _, _) = p.raw(Some(&ann), &format!("method=addLocal&id={id}")).await;
    assert_eq!(status, 404, "only the master adds local media");
    assert_eq!(
        p.ok(Some(&master), "method=addLocal").await,
        json!({}),
        "no id: the dialog closed"
    );
    let pid = p
        .ok(Some(&master), &format!("method=addLocal&id={id}"))
        .await["pid"]
        .as_i64()
        .unwrap();
    let extra = p.ok(Some(&master), "method=getallextra").await;
    assert_eq!(
        (
            extra[pid.to_string()]["isLocal"].clone(),
            extra[pid.to_string()]["isFile"].clone()
        ),
        (json!(true), json!(true))
    );
    let m3u = p
        .text(p.url(&format!("/getlocalplaylist.m3u?pid={pid}&token={master}")))
        .await;
    let url = format!("http://{}/local/{pid}/0?token={master}", p.addr);
    assert_eq!(m3u, format!("#EXTM3U\n#EXTINF:0,clip.mp4\n{url}"));
    let got = p.body(&url).await;
    assert_eq!(b3(&got), b3(&film));
    let web = format!(
        "http://{}/web/{pid}/0/720p.mp4?token={master}&isLocal=1&needsAudio=0&needsVideo=0",
        p.addr
    );
    assert!(plays(&web, None, 2).await > 40);
    // Ann may not read the operator's private file.
    let theirs = p
        .http
        .get(p.url(&format!("/local/{pid}/0?token={ann}")))
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 404);

    // A folder: its media files, its sub-folders' too, by path; history
    // of one of them comes back as the folder's pid and the file's index.
    let folder = |name: &str, parent: Option<String>| {
        let node = &node;
        let body = match parent {
            Some(p) => json!({ "name": name, "parent": p }),
            None => json!({ "name": name }),
        };
        async move {
            let (status, f) = node
                .send_json(reqwest::Method::POST, "/folders", body)
                .await;
            assert_eq!(status, 201, "{f}");
            f["id"].as_str().unwrap().to_owned()
        }
    };
    let series = folder("Series", None).await;
    let season = folder("S01", Some(series.clone())).await;
    node.upload("b.mp4", film.clone(), &format!("&parent={series}"))
        .await;
    node.upload("notes.txt", b"no".to_vec(), &format!("&parent={series}"))
        .await;
    let (_, e1) = node
        .upload("e1.mp4", film.clone(), &format!("&parent={season}"))
        .await;
    let folder_pid = p
        .ok(Some(&master), &format!("method=addLocal&id={series}"))
        .await["pid"]
        .as_i64()
        .unwrap();
    let extra = p.ok(Some(&master), "method=getallextra").await;
    let files = &extra[folder_pid.to_string()]["files"];
    assert_eq!(
        (
            files[0]["name"].clone(),
            files[1]["name"].clone(),
            files[2].clone()
        ),
        (json!("b.mp4"), json!("e1.mp4"), Value::Null),
        "{extra}"
    );
    assert_eq!(files[1]["location"], e1["id"]);
    let m3u = p
        .text(p.url(&format!(
            "/getlocalplaylist.m3u?pid={folder_pid}&token={master}"
        )))
        .await;
    assert!(m3u.contains("#EXTINF:0,e1.mp4\n"), "{m3u}");
    p.ok(Some(&master), &format!("method=updateHistory&filename=e1.mp4&time=2&duration=4&infohash={folder_pid}&fileID=1&ended=false&isLocal=1&isYtdl=undefined")).await;
    let item = p.ok(Some(&master), "method=syncBrowser").await;
    assert_eq!(
        (
            item["infohash"].clone(),
            item["fileID"].clone(),
            item["isLocal"].clone()
        ),
        (json!(folder_pid.to_string()), json!("1"), json!(true)),
        "{item}"
    );
    node.stop().await;
}

#[tokio::test]
async fn user_tokens_outlive_a_restart_and_the_master_key_does_not() {
    let mut node =
        TestNode::start_with("[layers]\ncacaoweb = []\nbitdust = []\npowder = [\"127.0.0.1:0\"]\n")
            .await;
    let out = node.cli(&[
        "account",
        "create",
        "--email",
        "ann@example.com",
        "--password",
        "correct horse",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addr = common::wait_for_file(&node.dir.join("powder.addr"));
    let p = Powder::new(addr.trim());
    let creds = value(&json!({ "email": "ann@example.com", "password": "correct horse" }));
    let token = p.ok(None, &format!("method=login&value={creds}")).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let master = std::fs::read_to_string(node.dir.join("powder.key"))
        .unwrap()
        .trim()
        .to_owned();
    node = node.restart().await;
    let addr = common::wait_for_file(&node.dir.join("powder.addr"));
    let p = Powder::new(addr.trim());
    assert_eq!(
        p.ok(None, &format!("method=validToken&token={token}"))
            .await,
        "1"
    );
    assert_eq!(
        p.ok(None, &format!("method=validToken&token={master}"))
            .await,
        "0"
    );
    let again = std::fs::read_to_string(node.dir.join("powder.key"))
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(
        p.ok(None, &format!("method=validToken&token={again}"))
            .await,
        "2"
    );
}

/// What a Torznab server (Jackett) answers a search.
const TORZNAB: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:torznab="http://torznab.com/schemas/2015/feed"><channel><title>Jackett</title>
<item><title>Sintel 2010 1080p</title><link>http://127.0.0.1/dl/1.torrent</link>
<pubDate>Mon, 07 Dec 2026 08:30:00 +0100</pubDate><size>129241752</size>
<jackettindexer id="demo">Demo</jackettindexer>
<torznab:attr name="seeders" value="12"/><torznab:attr name="peers" value="15"/><torznab:attr name="files" value="3"/>
<torznab:attr name="magneturl" value="magnet:?xt=urn:btih:08ada5a7a6183aae1e09d831df6748d566095a10"/></item>
</channel></rss>"#;

/// A web site on 127.0.0.1: `/watch.html`, a page with a `<video>` of
/// `/media/clip.mp4` (served with ranges), and `/empty.html`, a page
/// without media. Its address.
async fn web_site(clip: Vec<u8>) -> String {
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::IntoResponse;
    let clip = std::sync::Arc::new(clip);
    let app = axum::Router::new()
        .route(
            "/watch.html",
            axum::routing::get(|| async {
                axum::response::Html(
                    "<html><head><title>My Clip</title></head><body>\
                     <video controls src=\"/media/clip.mp4\"></video></body></html>",
                )
            }),
        )
        .route(
            "/empty.html",
            axum::routing::get(|| async {
                axum::response::Html("<html><body>nothing</body></html>")
            }),
        )
        .route(
            "/api/v2.0/indexers/all/results/torznab/api",
            axum::routing::get(|uri: axum::http::Uri| async move {
                let q = uri.query().unwrap_or("");
                if !q.contains("apikey=k1") || !q.contains("q=Sintel") || !q.contains("cat=2000") {
                    return (StatusCode::UNAUTHORIZED, String::new()).into_response();
                }
                (
                    [(header::CONTENT_TYPE, "application/rss+xml".to_owned())],
                    TORZNAB.to_owned(),
                )
                    .into_response()
            }),
        )
        .route(
            "/media/clip.mp4",
            axum::routing::get(move |headers: HeaderMap| {
                let clip = clip.clone();
                async move {
                    let len = clip.len();
                    let range = headers
                        .get(header::RANGE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|r| r.strip_prefix("bytes="))
                        .and_then(|r| r.split_once('-'))
                        .and_then(|(a, b)| {
                            let a: usize = a.parse().ok()?;
                            let b: usize = if b.is_empty() {
                                len - 1
                            } else {
                                b.parse().ok()?
                            };
                            (a <= b && b < len).then_some((a, b))
                        });
                    match range {
                        Some((a, b)) => (
                            StatusCode::PARTIAL_CONTENT,
                            [
                                (header::CONTENT_TYPE, "video/mp4".to_owned()),
                                (header::CONTENT_RANGE, format!("bytes {a}-{b}/{len}")),
                            ],
                            clip[a..=b].to_vec(),
                        )
                            .into_response(),
                        None => (
                            [(header::CONTENT_TYPE, "video/mp4".to_owned())],
                            clip.to_vec(),
                        )
                            .into_response(),
                    }
                }
            }),
        );
    serve(app).await
}

/// Serves `app` on 127.0.0.1 for the test: its `http://` address.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn youtube_dl_links_play_through_the_node_and_jackett_searches() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = make_media(tmp.path(), "clip.mp4", 4, H264_AAC);
    let site = web_site(clip.clone()).await;
    let (node, p, master) = powder_node_with(true).await;
    assert!(
        node.get_json("/status").await.1["media"]["ytdlp"] == true,
        "yt-dlp must be on PATH: scripts/test.sh installs it from PyPI"
    );
    let ann = sign_up(&p, &master, "ann@example.com").await;
    let page = format!("{site}/watch.html");

    // ytdlAdd: the page's media, named after the page.
    let y = p
        .ok(
            Some(&ann),
            &format!("method=ytdlAdd&pid={}", url_encode(&page)),
        )
        .await;
    let pid = y["pid"].as_str().unwrap().to_owned();
    // urlType asks the link: a page is for yt-dlp, a video is a video.
    for (link, kind) in [
        (page.clone(), "isYoutubeDl"),
        (format!("{site}/media/clip.mp4"), "isVideo"),
    ] {
        assert_eq!(
            p.ok(
                Some(&ann),
                &format!("method=urlType&pid={}", url_encode(&link))
            )
            .await,
            json!({ kind: 1 }),
            "{link}"
        );
    }
    assert_eq!(
        pid,
        page.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
    );
    assert_eq!(
        (y["isYtdl"].clone(), y["originalURL"].clone()),
        (json!(true), json!(page))
    );
    assert_eq!(y["extracted"], format!("{site}/media/clip.mp4"));
    assert!(y["name"].as_str().unwrap().starts_with("My Clip"), "{y}");
    assert_eq!(
        p.ok(Some(&ann), &format!("method=getYtdl&pid={pid}")).await["pid"],
        pid
    );
    assert_eq!(
        p.ok(Some(&ann), "method=getallextra").await[&pid]["isYtdl"],
        true
    );
    // Its playlist, by range through the node, and it plays.
    let m3u = p
        .text(p.url(&format!("/getytdlplaylist.m3u?pid={pid}&token={ann}")))
        .await;
    let url = format!("http://{}/ytdl/{pid}/0?token={ann}", p.addr);
    assert!(m3u.ends_with(&format!("\n{url}")), "{m3u}");
    let part = p
        .http
        .get(&url)
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap(), clip[10..20]);
    assert!(plays(&url, None, 2).await > 40);
    // Transcoded with /web/ (isYtdl=1), as the seed's example asks.
    let web = format!(
        "http://{}/web/{pid}/0/360p.mp4?token={ann}&maxHeight=360&maxWidth=480&needsAudio=0&needsVideo=0&a=aac&v=h264&forAudio=null&copyts=-1&forceTranscode=-1&useMatroska=1&audioDelay=0&isYtdl=1",
        p.addr
    );
    assert!(plays(&web, None, 2).await > 40);
    // History names the page.
    p.ok(Some(&ann), &format!("method=updateHistory&filename=My%20Clip&time=1.5&duration=4&infohash={pid}&fileID=0&ended=false&isLocal=undefined&isYtdl=1")).await;
    let item = &p.ok(Some(&ann), "method=historyList").await[0];
    assert_eq!(
        (item["infohash"].clone(), item["isYtdl"].clone()),
        (json!(pid), json!("1"))
    );
    // A page without media, and an address the node may not fetch: errors.
    let e = p
        .err(
            Some(&ann),
            &format!(
                "method=ytdlAdd&pid={}",
                url_encode(&format!("{site}/empty.html"))
            ),
        )
        .await;
    assert!(e.starts_with("Error: yt-dlp cannot extract"), "{e}");
    let e = p
        .err(
            Some(&ann),
            &format!(
                "method=ytdlAdd&pid={}",
                url_encode("http://10.1.2.3/watch.html")
            ),
        )
        .await;
    assert!(e.contains("10.1.2.3"), "{e}");
    // The native API stores it as a fetch job.
    let (status, job) = node
        .send_json(
            reqwest::Method::POST,
            "/media/remote/store",
            json!({ "url": page }),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let done = node.wait_job(job["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "done", "{done}");
    let (_, found) = node.get_json("/entries?limit=100").await;
    let stored = found["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str().unwrap().starts_with("My Clip"))
        .unwrap();
    assert_eq!(
        stored["id"].as_str().map(|_| stored["size"].as_u64()),
        Some(Some(clip.len() as u64))
    );
    // Jackett: none until the master points at one; then results once.
    assert_eq!(
        p.err(Some(&ann), "method=search&query=Sintel").await,
        "no jackett\n"
    );
    p.ok(
        Some(&master),
        &format!(
            "method=settings&jackettHost={}&jackettKey=k1",
            url_encode(&format!("{site}/"))
        ),
    )
    .await;
    let id = p
        .ok(Some(&ann), "method=search&query=Sintel&type=movie")
        .await["value"]
        .as_i64()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let results = loop {
        let batch = p.ok(Some(&ann), &format!("method=search&utime={id}")).await;
        assert_eq!(batch["ended"], false, "{batch}");
        if !batch["results"].as_array().unwrap().is_empty() {
            break batch["results"].clone();
        }
        assert!(Instant::now() < deadline, "Jackett's results never came");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (
            results[0]["title"].clone(),
            results[0]["seeders"].clone(),
            results[0]["files"].clone(),
            results[0]["isJackett"].clone()
        ),
        (json!("Sintel 2010 1080p"), json!(12), json!(3), json!(true))
    );
    assert_eq!(
        p.ok(Some(&ann), &format!("method=search&utime={id}")).await,
        json!({ "ended": true })
    );
    assert_eq!(
        p.err(Some(&ann), &format!("method=search&utime={id}"))
            .await,
        "No such Jackett response ID\n"
    );

    p.ok(Some(&ann), &format!("method=ytdlDestroy&pid={pid}"))
        .await;
    assert_eq!(
        p.ok(Some(&ann), &format!("method=getYtdl&pid={pid}")).await,
        json!({})
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torrent_urls_and_links_to_magnets_add_torrents() {
    let tmp = tempfile::tempdir().unwrap();
    let seeder = Seeder::start(tmp.path(), &[("a.mkv", b"not really a film".as_slice())]).await;
    let bytes = seeder.torrent.as_bytes().unwrap().to_vec();
    let magnet = seeder.magnet();
    let app = axum::Router::new()
        .route(
            "/t.torrent",
            axum::routing::get(move || {
                let bytes = bytes.clone();
                async move { bytes }
            }),
        )
        .route(
            "/typed",
            axum::routing::get({
                let bytes = seeder.torrent.as_bytes().unwrap().to_vec();
                move || {
                    let bytes = bytes.clone();
                    async move {
                        (
                            [(axum::http::header::CONTENT_TYPE, "application/x-bittorrent")],
                            bytes,
                        )
                    }
                }
            }),
        )
        .route(
            "/go",
            axum::routing::get(move || {
                let magnet = magnet.clone();
                async move { axum::response::Redirect::to(&magnet) }
            }),
        );
    let site = serve(app).await;
    let (node, p, master) = powder_node().await;
    let url = url_encode(&format!("{site}/t.torrent"));
    // 127.0.0.1 is not fetched until the config allows it.
    let e = p
        .err(Some(&master), &format!("method=new&torrent={url}"))
        .await;
    assert!(e.contains("127.0.0.1"), "{e}");
    node.stop().await;

    let (node, p, master) = powder_node_with(true).await;
    let t = p
        .ok(Some(&master), &format!("method=new&torrent={url}"))
        .await;
    assert_eq!(t["infoHash"], seeder.hash());
    p.ok(
        Some(&master),
        &format!("method=cancel&force=true&infohash={}", seeder.hash()),
    )
    .await;
    let go = url_encode(&format!("{site}/go"));
    let t = p
        .ok(Some(&master), &format!("method=new&torrent={go}"))
        .await;
    assert_eq!(t["infoHash"], seeder.hash(), "the redirect's magnet");
    // urlType asks the link: a .torrent, a torrent's type, a redirect to a
    // magnet are torrents.
    for path in ["/t.torrent", "/typed", "/go"] {
        let link = url_encode(&format!("{site}{path}"));
        assert_eq!(
            p.ok(Some(&master), &format!("method=urlType&pid={link}"))
                .await,
            json!({ "isTorrent": 1 }),
            "{path}"
        );
    }
    assert_eq!(
        p.ok(
            Some(&master),
            &format!("method=urlType&pid={}", seeder.hash())
        )
        .await,
        json!({ "isTorrent": 1 })
    );
    assert_eq!(
        p.err(Some(&master), "method=urlType&pid=ftp%3A%2F%2Fx")
            .await,
        "Unsupported link\n"
    );
    // /getplaylist.m3u adds a torrent URL too; the master's openNow starts
    // it and answers {}.
    p.ok(
        Some(&master),
        &format!("method=cancel&force=true&infohash={}", seeder.hash()),
    )
    .await;
    let m3u = p
        .text(p.url(&format!("/getplaylist.m3u?id={url}&token={master}")))
        .await;
    assert!(
        m3u.starts_with("#EXTM3U\n#EXTINF:0,")
            && m3u.ends_with(&format!("/api/{master}/{}/a.mkv", seeder.hash())),
        "{m3u}"
    );
    let opened = p
        .text(p.url(&format!(
            "/getplaylist.m3u?id={}&openNow=1&token={master}",
            seeder.hash()
        )))
        .await;
    assert_eq!(opened, "{}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_download_all_off_a_new_torrent_gets_its_first_media_file_only() {
    let tmp = tempfile::tempdir().unwrap();
    let seeder = Seeder::start(
        tmp.path(),
        &[
            ("b.mkv", b"second film".as_slice()),
            ("a.mp4", b"first film".as_slice()),
            ("notes.txt", b"words".as_slice()),
        ],
    )
    .await;
    let (node, p, master) = powder_node().await;
    p.ok(Some(&master), "method=settings&downloadAll=false")
        .await;
    assert_eq!(
        p.ok(Some(&master), "method=setting&for=downloadAll").await,
        json!({ "value": false })
    );
    let magnet = url_encode(&seeder.magnet());
    p.ok(Some(&master), &format!("method=new&torrent={magnet}"))
        .await;
    let hash = seeder.hash();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, t) = node.get_json(&format!("/torrents/{hash}")).await;
        let files = t["files"].as_array().cloned().unwrap_or_default();
        let chosen: Vec<&str> = files
            .iter()
            .filter(|f| f["selected"] == true)
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        if files.len() == 3 && chosen.len() == 1 {
            assert!(chosen[0].ends_with("a.mp4"), "{chosen:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no single file chosen: {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.stop().await;
}
