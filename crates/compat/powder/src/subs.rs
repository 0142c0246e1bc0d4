//! Subtitles (§6): `getSubs` lists a video's own subtitle streams and its
//! sidecar files (same base name, `.srt`/`.vtt`/`.ass`/`.ssa`, in the
//! torrent or beside the stored file); `/srt2vtt/subtitle.vtt` serves
//! one as WebVTT; `/subUpload` takes a user's file and names it for
//! `/srt2vtt`. What `from` names is one of these, never a path on the
//! machine nor a URL fetched for the caller:
//!
//! - `torrent:<hash>:<file>:<track>`: a torrent file's track (`s<n>` a
//!   stream, `t<file>` a sidecar in the torrent, `f<entry>` a sidecar
//!   imported with it);
//! - `local:<pid>:<file>:<track>`: a local entry's track;
//! - `upload:<id>`: an upload (kept in memory, the newest 64).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::{Multipart, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use cairn_node::{MediaSource, SubtitleTrack, TorrentFile};
use futures_util::TryStreamExt;
use serde_json::{Value, json};

use crate::actions::Call;
use crate::keys::caller;
use crate::torrents::{base_name, started};
use crate::{AppState, fail, json, query_of};

/// Largest upload taken.
pub(crate) const MAX_UPLOAD: usize = 4 << 20;

/// Uploads kept.
const MAX_UPLOADS: usize = 64;

/// Subtitle files' extensions.
const SIDECARS: &[&str] = &["srt", "vtt", "ass", "ssa"];

/// Uploaded subtitles, as WebVTT, newest last.
#[derive(Default)]
pub(crate) struct Uploads(Mutex<VecDeque<(String, Arc<String>)>>);

impl Uploads {
    fn put(&self, vtt: String) -> String {
        let id = crate::keys::random_hex();
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if all.len() >= MAX_UPLOADS {
            all.pop_front();
        }
        all.push_back((id.clone(), Arc::new(vtt)));
        id
    }

    fn get(&self, id: &str) -> Option<Arc<String>> {
        let all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.iter().find(|(i, _)| i == id).map(|(_, v)| v.clone())
    }
}

/// A language's name, and its two-letter code, from a tag (`en`, `eng`,
/// `pt-BR`, `fre`).
fn language(tag: &str) -> Option<(&'static str, &'static str)> {
    const NAMES: &[(&str, &str, &str)] = &[
        ("en", "eng", "English"),
        ("fr", "fre", "French"),
        ("fr", "fra", "French"),
        ("de", "ger", "German"),
        ("de", "deu", "German"),
        ("es", "spa", "Spanish"),
        ("it", "ita", "Italian"),
        ("pt", "por", "Portuguese"),
        ("ru", "rus", "Russian"),
        ("ja", "jpn", "Japanese"),
        ("zh", "chi", "Chinese"),
        ("zh", "zho", "Chinese"),
        ("ko", "kor", "Korean"),
        ("ar", "ara", "Arabic"),
        ("nl", "dut", "Dutch"),
        ("nl", "nld", "Dutch"),
        ("sv", "swe", "Swedish"),
        ("pl", "pol", "Polish"),
        ("tr", "tur", "Turkish"),
        ("ro", "rum", "Romanian"),
        ("ro", "ron", "Romanian"),
        ("el", "gre", "Greek"),
        ("el", "ell", "Greek"),
        ("he", "heb", "Hebrew"),
        ("hu", "hun", "Hungarian"),
        ("cs", "cze", "Czech"),
        ("cs", "ces", "Czech"),
        ("da", "dan", "Danish"),
        ("fi", "fin", "Finnish"),
        ("no", "nor", "Norwegian"),
        ("uk", "ukr", "Ukrainian"),
        ("vi", "vie", "Vietnamese"),
        ("hi", "hin", "Hindi"),
        ("id", "ind", "Indonesian"),
        ("th", "tha", "Thai"),
    ];
    let tag = tag.to_ascii_lowercase();
    if tag == "pt-br" || tag == "pb" || tag == "pob" {
        return Some(("Portuguese (BR)", "pb"));
    }
    let main = tag.split(['-', '_']).next().unwrap_or("");
    NAMES
        .iter()
        .find(|(two, three, _)| *two == main || *three == main)
        .map(|(two, _, name)| (*name, *two))
}

/// The tracks to offer, Powder's subtitle objects (§6.1): text tracks,
/// of the languages `subLangs` names (`all`: every one), at most
/// `subLimit` per language (0: all), numbered `English 2`, `English 3`.
fn offer(call: &Call, tracks: Vec<SubtitleTrack>, prefix: &str) -> Vec<Value> {
    let wanted = call.state.settings.str("subLangs");
    let limit = call.state.settings.int("subLimit").max(0) as usize;
    // Two- or three-letter codes (`en`, `eng`), as OpenSubtitles knew them.
    let langs: Vec<String> = wanted
        .split(',')
        .map(|l| l.trim().to_ascii_lowercase())
        .filter(|l| !l.is_empty())
        .map(|l| language(&l).map_or(l, |(_, code)| code.to_owned()))
        .collect();
    let every = langs.is_empty() || langs.iter().any(|l| l == "all");
    let mut seen: Vec<(String, usize)> = Vec::new();
    let mut out = Vec::new();
    for t in tracks.into_iter().filter(|t| t.text) {
        let (name, code) = t
            .language
            .as_deref()
            .and_then(language)
            .map(|(n, c)| (n.to_owned(), c.to_owned()))
            .unwrap_or_else(|| {
                let name = t.title.clone().unwrap_or_else(|| "Unknown".into());
                (name, String::new())
            });
        if !every && !langs.contains(&code) {
            continue;
        }
        let count = match seen.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => {
                *c += 1;
                *c
            }
            None => {
                seen.push((name.clone(), 1));
                1
            }
        };
        if limit > 0 && count > limit {
            continue;
        }
        let label = if count > 1 {
            format!("{name} {count}")
        } else {
            name
        };
        let from = base64::engine::general_purpose::STANDARD.encode(format!("{prefix}:{}", t.id));
        out.push(json!({
            "label": label,
            "sublang": code,
            "src": format!(
                "{}/srt2vtt/subtitle.vtt?token={}&from={}",
                call.origin,
                crate::encode_component(&call.key),
                crate::encode_component(&from)
            ),
            // The original's extension, as Powder gave it.
            "ext": match t.format.as_str() {
                "subrip" | "srt" => "srt",
                "ass" => "ass",
                "ssa" => "ssa",
                _ => "vtt",
            },
        }));
    }
    out
}

/// The sidecar subtitle files of `file` in its torrent, as tracks
/// `t<index>`.
fn torrent_sidecars(info: &cairn_node::TorrentInfo, file: &TorrentFile) -> Vec<SubtitleTrack> {
    let Some(video) = info.files.iter().find(|f| f.index == file.index) else {
        return Vec::new();
    };
    let (dir, name) = video.path.rsplit_once('/').unwrap_or(("", &video.path));
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    info.files
        .iter()
        .filter_map(|f| {
            let (fdir, fname) = f.path.rsplit_once('/').unwrap_or(("", &f.path));
            let (fstem, ext) = fname.rsplit_once('.')?;
            let ext = ext.to_ascii_lowercase();
            if fdir != dir || f.index == video.index || !SIDECARS.contains(&ext.as_str()) {
                return None;
            }
            let middle = if fstem == stem {
                None
            } else {
                Some(fstem.strip_prefix(stem)?.strip_prefix('.')?.to_owned())
            };
            let language = middle.as_deref().filter(|m| language(m).is_some());
            Some(SubtitleTrack {
                id: format!("t{}", f.index),
                source: "file".into(),
                language: language.map(str::to_owned),
                title: middle.clone().filter(|_| language.is_none()),
                format: ext,
                default: false,
                forced: false,
                text: true,
            })
        })
        .collect()
}

pub(crate) async fn get_subs(call: &Call) -> Response {
    let id = call.param("infohash");
    let file = call.param("id");
    let Ok(index) = file.trim().parse::<usize>() else {
        return fail("Could not get torrent info 1");
    };
    let media = call.state.node.media();
    let offered = if let Some(hash) = crate::torrents::hash_of(&call.state, id).filter(|_| {
        id.parse::<i64>()
            .map_or(true, |p| call.state.books.local(p).is_none())
    }) {
        let info = match started(&call.state, &hash).await {
            Ok(i) => i,
            Err(_) => return fail("Could not get torrent info 2"),
        };
        let tfile = match call.state.node.torrents().file(&hash, index).await {
            Ok(f) => f,
            Err(_) => return fail("Could not get torrent info 3"),
        };
        let tracks = match &tfile.entry {
            Some(entry) => media.subtitles(entry).await,
            None => media
                .stream_subtitles(&MediaSource::Torrent(tfile.clone()))
                .await
                .map(|mut t| {
                    t.extend(torrent_sidecars(&info, &tfile));
                    t
                }),
        };
        match tracks {
            Ok(t) => offer(call, t, &format!("torrent:{hash}:{index}")),
            Err(e) => return fail(e),
        }
    } else {
        let Some(entry) = local_video(&call.state, id, index).await else {
            return fail("No subtitles found");
        };
        match media.subtitles(&entry).await {
            Ok(t) => offer(call, t, &format!("local:{id}:{index}")),
            Err(e) => return fail(e),
        }
    };
    if offered.is_empty() {
        return fail("No subtitles found");
    }
    json(Value::Array(offered))
}

/// Local entry `pid`'s file `index`.
async fn local_video(state: &AppState, pid: &str, index: usize) -> Option<cairn_node::Entry> {
    let local = state.books.local(pid.parse().ok()?)?;
    if local.folder {
        crate::streams::folder_files(state, &local.entry)
            .await
            .ok()?
            .into_iter()
            .nth(index)
    } else {
        let info = state.node.entries().entry(&local.entry).await.ok()?;
        (index == 0).then_some(info.entry)
    }
}

/// `from`, decoded as Powder did (characters outside base64 dropped).
fn decode_from(from: &str) -> Option<String> {
    let kept: String = from
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_'))
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(kept.trim_end_matches('='))
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// `/srt2vtt/subtitle.vtt?token=…&from=<base64>`.
pub(crate) async fn h_srt2vtt(State(state): State<AppState>, req: Request) -> Response {
    let (req, _) = req.into_parts();
    let q = query_of(&req.uri);
    let key = crate::presented_key(&req.headers, &q).unwrap_or_default();
    let Some(who) = caller(&state, &key).await else {
        return fail("Invalid access token");
    };
    let Some(from) = q.get("from").and_then(|f| decode_from(f)) else {
        return fail("Invalid subtitle");
    };
    let media = state.node.media();
    let vtt = if let Some(id) = from.strip_prefix("upload:") {
        match state.uploads.get(id) {
            Some(v) => Ok((*v).clone()),
            None => return fail("This subtitle upload is gone: upload it again"),
        }
    } else if let Some(rest) = from.strip_prefix("torrent:") {
        let mut parts = rest.splitn(3, ':');
        let (Some(hash), Some(index), Some(track)) = (parts.next(), parts.next(), parts.next())
        else {
            return fail("Invalid subtitle");
        };
        let Ok(index) = index.parse::<usize>() else {
            return fail("Invalid subtitle");
        };
        torrent_vtt(&state, hash, index, track).await
    } else if let Some(rest) = from.strip_prefix("local:") {
        let mut parts = rest.splitn(3, ':');
        let (Some(pid), Some(index), Some(track)) = (parts.next(), parts.next(), parts.next())
        else {
            return fail("Invalid subtitle");
        };
        let Some(entry) = local_video(&state, pid, index.parse().unwrap_or(usize::MAX)).await
        else {
            return fail("Invalid subtitle");
        };
        // The caller must be allowed to read the video.
        let info = match state.node.entries().entry(&entry.id).await {
            Ok(i) => i,
            Err(e) => return fail(e),
        };
        if let Err(e) = state.node.paid().open_for(&info, &who.reader()).await {
            return fail(e);
        }
        media.subtitle_vtt(&entry, track).await
    } else if from.starts_with("http://") || from.starts_with("https://") {
        return fail("Remote subtitles are not fetched here: upload the file with /subUpload");
    } else {
        return fail("Invalid subtitle");
    };
    match vtt {
        Ok(text) => ([(header::CONTENT_TYPE, "text/vtt; charset=utf-8")], text).into_response(),
        Err(e) => fail(e),
    }
}

/// Track `track` of a torrent's file as WebVTT.
async fn torrent_vtt(
    state: &AppState,
    hash: &str,
    index: usize,
    track: &str,
) -> Result<String, cairn_node::NodeError> {
    let torrents = state.node.torrents();
    let file = torrents.file(hash, index).await?;
    let media = state.node.media();
    if let Some(entry) = &file.entry {
        return media.subtitle_vtt(entry, track).await;
    }
    if track.starts_with('s') {
        return media
            .stream_subtitle_vtt(&MediaSource::Torrent(file), track)
            .await;
    }
    let side: usize = track
        .strip_prefix('t')
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| cairn_node::NodeError::NotFound(format!("no subtitle track '{track}'")))?;
    let sidecar = torrents.file(hash, side).await?;
    if sidecar.size > MAX_UPLOAD as u64 * 4 {
        return Err(cairn_node::NodeError::Invalid(
            "this subtitle file is too large".into(),
        ));
    }
    let format = base_name(&sidecar.name)
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let size = sidecar.size;
    let stream = torrents.read(&sidecar, 0..size).await?;
    let bytes: Vec<u8> = stream
        .try_fold(Vec::new(), |mut all, piece| async move {
            all.extend_from_slice(&piece);
            Ok(all)
        })
        .await
        .map_err(|e| cairn_node::NodeError::Internal(format!("reading the subtitles: {e}")))?;
    media.subtitle_file_vtt(&bytes, &format).await
}

/// `POST /subUpload` (multipart, field `filetoupload`): the file as
/// WebVTT, kept; the answer is the JSON string naming it for `/srt2vtt`.
pub(crate) async fn h_sub_upload(State(state): State<AppState>, req: Request) -> Response {
    let q = query_of(req.uri());
    let key = crate::presented_key(req.headers(), &q).unwrap_or_default();
    match caller(&state, &key).await {
        Some(crate::keys::Caller::Embed) | None => return fail("Invalid access token"),
        Some(_) => {}
    }
    let mut form = match Multipart::from_request(req, &()).await {
        Ok(f) => f,
        Err(e) => return unknown_error(e),
    };
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => return unknown_error("no field 'filetoupload'"),
            Err(e) => return unknown_error(e),
        };
        if field.name() != Some("filetoupload") {
            continue;
        }
        let ext = field
            .file_name()
            .and_then(|n| n.rsplit_once('.'))
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_else(|| "srt".into());
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) => return unknown_error(e),
        };
        return match state.node.media().subtitle_file_vtt(&bytes, &ext).await {
            Ok(vtt) => json(json!(format!("upload:{}", state.uploads.put(vtt)))),
            Err(e) => unknown_error(e),
        };
    }
}

use axum::extract::FromRequest;

/// Powder's one answer to a failed upload; why goes to the log.
fn unknown_error(why: impl std::fmt::Display) -> Response {
    tracing::info!(error = %why, "a subtitle upload failed");
    fail("Unknown Error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_is_decoded_leniently_and_languages_are_named() {
        let b = base64::engine::general_purpose::STANDARD.encode("upload:abc");
        assert_eq!(decode_from(&b).as_deref(), Some("upload:abc"));
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("torrent:aa:0:s2");
        assert_eq!(decode_from(&url_safe).as_deref(), Some("torrent:aa:0:s2"));
        assert_eq!(language("eng"), Some(("English", "en")));
        assert_eq!(language("pt-BR"), Some(("Portuguese (BR)", "pb")));
        assert_eq!(language("xx"), None);
    }
}
