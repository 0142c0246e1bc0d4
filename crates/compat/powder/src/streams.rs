//! The stream paths (§11, §12): `/api/…` (a torrent's file by range),
//! `/web/…` (transcoded or remuxed streams, HLS), `/meta/…` (what a file
//! holds), `/local/…` (a stored file by range).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_api::content::{self, Presentation};
use cairn_node::{Entry, EntryKind, MediaSource, NodeError, Profile, Quality, Target};
use serde_json::{Value, json};

use crate::keys::{Caller, caller};
use crate::torrents::{base_name, started};
use crate::{AppState, engine_error, fail, not_found, query_of};

/// The caller of a stream path: the key in the header or query, else
/// `path_key` (a path segment). Unlike Powder's, the key is checked.
async fn stream_caller(
    state: &AppState,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    path_key: Option<&str>,
) -> Result<Caller, Response> {
    let key = crate::presented_key(headers, q)
        .or_else(|| path_key.map(str::to_owned))
        .unwrap_or_default();
    caller(state, &key)
        .await
        .ok_or_else(|| fail("Invalid access token"))
}

/// A stream request's parts, query and caller (the key in the header or
/// the query), or the refusal.
async fn stream_request(
    state: &AppState,
    req: Request,
) -> Result<(Parts, HashMap<String, String>, Caller), Response> {
    let (req, _) = req.into_parts();
    let q = query_of(&req.uri);
    let who = stream_caller(state, &req.headers, &q, None).await?;
    Ok((req, q, who))
}

/// `/api/[<token>/]<info hash>/<file name or index>`: a torrent's file,
/// with ranges, started first if it is paused.
pub(crate) async fn h_api(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    req: Request,
) -> Response {
    let (req, _) = req.into_parts();
    let q = query_of(&req.uri);
    let is_hash = |s: &str| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let (path_key, hash, file) = match rest.split_once('/') {
        Some((hash, file)) if is_hash(hash) => (None, hash, file),
        Some((key, rest)) => match rest.split_once('/') {
            Some((hash, file)) if is_hash(hash) => (Some(key), hash, file),
            _ => return not_found(),
        },
        None => return not_found(),
    };
    if let Err(resp) = stream_caller(&state, &req.headers, &q, path_key).await {
        return resp;
    }
    let hash = hash.to_ascii_lowercase();
    let info = match started(&state, &hash).await {
        Ok(i) => i,
        Err(e) => return engine_error(e),
    };
    let index = match file.parse::<usize>() {
        Ok(i) if info.files.iter().any(|f| f.index == i) => Some(i),
        _ => info
            .files
            .iter()
            .find(|f| f.path == file || base_name(&f.path) == file)
            .map(|f| f.index),
    };
    let Some(index) = index else {
        return not_found();
    };
    match torrent_content(&state, &hash, index, &req.method, &req.headers).await {
        Ok(resp) => resp,
        Err(resp) => resp,
    }
}

/// A torrent's file by range: from the store once imported, else from
/// the torrent as it arrives.
async fn torrent_content(
    state: &AppState,
    hash: &str,
    index: usize,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response, Response> {
    let torrents = state.node.torrents();
    let file = torrents.file(hash, index).await.map_err(engine_error)?;
    if let Some(entry) = &file.entry
        && let Some(blob) = &entry.blob
    {
        let handle = state.node.blobs().open(blob).await.map_err(engine_error)?;
        let how = Presentation {
            content_type: content_type(&entry.name),
            ..Presentation::of_entry(entry, false)
        };
        return Ok(content::respond(&state.node, method, headers, handle, how)
            .await
            .into_response());
    }
    let how = Presentation {
        content_type: content_type(&file.name),
        file_name: Some(file.name.clone()),
        attachment: false,
        entry: None,
    };
    let etag = format!("\"{}-{}\"", file.info_hash, file.index);
    let size = file.size;
    Ok(
        content::respond_with(method, headers, size, &etag, how, |range| async move {
            Ok(torrents.read(&file, range).await?)
        })
        .await
        .into_response(),
    )
}

/// Powder's content types by extension (§11), else by name.
fn content_type(name: &str) -> String {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let known = match ext.as_str() {
        "mkv" => "video/x-matroska",
        "avi" => "video/avi",
        "mp4" => "video/mp4",
        "m4v" => "video/x-m4v",
        "mpg" | "mpeg" | "m2v" => "video/mpeg",
        "webm" => "video/x-webm",
        "flv" => "video/x-flv",
        "ogg" => "video/x-ogg",
        "ogv" => "video/ogg",
        "mov" => "video/quicktime",
        "wmv" => "video/x-ms-wmv",
        "3gp" => "video/3gpp",
        "3g2" => "video/3gpp2",
        "m2ts" => "video/vnd.dlna.mpeg-tts",
        "m4a" => "audio/m4a",
        "mp3" => "audio/mpeg",
        "flac" => "audio/flac",
        "wma" => "audio/x-ms-wma",
        "wav" => "audio/wav",
        _ => "",
    };
    if known.is_empty() {
        mime_guess::from_path(name)
            .first_or_octet_stream()
            .to_string()
    } else {
        known.to_owned()
    }
}

/// Most files a local folder lists, and how deep its walk goes.
const MAX_FOLDER_FILES: usize = 10_000;
const MAX_FOLDER_DEPTH: usize = 16;

/// The media files under stored folder `id`, its sub-folders too (a
/// season's folders in a series'), by path as people read them.
pub(crate) async fn folder_files(state: &AppState, id: &str) -> Result<Vec<Entry>, NodeError> {
    let entries = state.node.entries();
    let mut files: Vec<(String, Entry)> = Vec::new();
    let mut folders = vec![(id.to_owned(), String::new(), 0)];
    while let Some((folder, path, depth)) = folders.pop() {
        let left = MAX_FOLDER_FILES.saturating_sub(files.len());
        for e in entries.children(Some(folder), left.max(1) as u64).await? {
            let at = format!("{path}{}", e.name.to_lowercase());
            match e.kind {
                EntryKind::Folder if depth < MAX_FOLDER_DEPTH => {
                    folders.push((e.id.clone(), format!("{at}/"), depth + 1));
                }
                EntryKind::File if crate::torrents::streamable(&e.name) => files.push((at, e)),
                _ => {}
            }
        }
        if files.len() >= MAX_FOLDER_FILES {
            break;
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files.truncate(MAX_FOLDER_FILES);
    Ok(files.into_iter().map(|(_, e)| e).collect())
}

/// Local entry `pid`'s file `index`, as the caller may read it.
async fn local_file(
    state: &AppState,
    who: &Caller,
    pid: &str,
    index: &str,
) -> Result<cairn_node::OpenedFor, Response> {
    let local = pid
        .parse::<i64>()
        .ok()
        .and_then(|p| state.books.local(p))
        .ok_or_else(|| fail("Invalid Resource"))?;
    let index: usize = index.parse().map_err(|_| fail("Invalid Resource ID"))?;
    let id = if local.folder {
        let files = folder_files(state, &local.entry)
            .await
            .map_err(engine_error)?;
        files
            .get(index)
            .map(|e| e.id.clone())
            .ok_or_else(|| fail("Invalid Resource ID"))?
    } else if index == 0 {
        local.entry.clone()
    } else {
        return Err(fail("Invalid Resource ID"));
    };
    let info = state
        .node
        .entries()
        .entry(&id)
        .await
        .map_err(engine_error)?;
    state
        .node
        .paid()
        .open_for(&info, &who.reader())
        .await
        .map_err(engine_error)
}

/// `/local/<pid>/<index>`: a local media entry's file, with ranges.
pub(crate) async fn h_local(
    State(state): State<AppState>,
    Path((pid, index)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (req, _, who) = match stream_request(&state, req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let opened = match local_file(&state, &who, &pid, &index).await {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    let how = Presentation {
        content_type: content_type(&opened.info.entry.name),
        ..Presentation::of_entry(&opened.info.entry, false)
    };
    content::respond(&state.node, &req.method, &req.headers, opened.handle, how)
        .await
        .into_response()
}

/// `/ytdl/<pid>/0`: a youtube-dl link's media, read through the node
/// (its checked fetch, with the headers the media wants), with ranges.
pub(crate) async fn h_ytdl(
    State(state): State<AppState>,
    Path((pid, index)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (req, _, _) = match stream_request(&state, req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let Some(y) = state.books.ytdl(&pid).filter(|_| index == "0") else {
        return fail("Invalid Resource");
    };
    let range = content::asked_range(&req.headers);
    match state.node.media().read_remote(&y.media(), range).await {
        Ok(bytes) => content::relay(bytes, &req.method),
        Err(e) => engine_error(e),
    }
}

/// The media source `/web/` and `/meta/` name: a youtube-dl link
/// (`isYtdl`, or a pid the list has), a local entry (`isLocal`, or a pid
/// the local list has), or a torrent's file.
async fn source(
    state: &AppState,
    who: &Caller,
    id: &str,
    index: &str,
    q: &HashMap<String, String>,
) -> Result<MediaSource, Response> {
    if q.get("isYtdl").is_some_and(|v| !v.is_empty()) || state.books.ytdl(id).is_some() {
        let y = state
            .books
            .ytdl(id)
            .filter(|_| index == "0")
            .ok_or_else(|| fail("Invalid Resource"))?;
        return Ok(MediaSource::Remote(std::sync::Arc::new(y.media())));
    }
    let local = q.get("isLocal").is_some_and(|v| !v.is_empty())
        || id
            .parse::<i64>()
            .is_ok_and(|p| state.books.local(p).is_some());
    if local {
        let opened = local_file(state, who, id, index).await?;
        return Ok(opened.handle.into());
    }
    let Some(hash) = crate::torrents::hash_of(state, id) else {
        return Err(fail("Invalid Resource"));
    };
    let index: usize = index.parse().map_err(|_| fail("Invalid Resource ID"))?;
    started(state, &hash).await.map_err(engine_error)?;
    let file = state
        .node
        .torrents()
        .file(&hash, index)
        .await
        .map_err(engine_error)?;
    if let Some(blob) = file.entry.as_ref().and_then(|e| e.blob.as_ref()) {
        let handle = state.node.blobs().open(blob).await.map_err(engine_error)?;
        return Ok(handle.into());
    }
    Ok(MediaSource::Torrent(file))
}

/// A number parameter as Powder read it (`undefined`, `null`, absent: the
/// default).
fn number(q: &HashMap<String, String>, name: &str, default: f64) -> f64 {
    q.get(name)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .unwrap_or(default)
}

/// What `/web/` parameters ask for (§12.1), as the media service's
/// profile. `maxWidth`/`maxHeight` are the source's size in Powder, not
/// limits: the quality preset alone sizes the picture (never up). The
/// service copies what the browser plays and transcodes the rest;
/// `forceTranscode`, a client saying it cannot play the video or the
/// audio (`needsVideo`/`needsAudio` -1, or no `needsVideo` at all), or an
/// audio track chosen (`forAudio`) transcodes both, as Powder did.
/// `copyts`, or Matroska asked for, keeps the source's timestamps after a
/// `start`.
fn profile(quality: Option<Quality>, q: &HashMap<String, String>) -> Profile {
    let needs_video = number(q, "needsVideo", -1.0);
    let needs_audio = number(q, "needsAudio", 0.0);
    let for_audio = number(q, "forAudio", -1.0);
    let force = number(q, "forceTranscode", -1.0);
    let keep_times = number(q, "copyts", -1.0) > -1.0 || number(q, "useMatroska", -1.0) > -1.0;
    let delay = number(q, "audioDelay", 0.0).clamp(-3600.0, 3600.0);
    let audio = if for_audio > -1.0 {
        Some(for_audio as u32)
    } else if needs_audio > -1.0 {
        Some(needs_audio as u32)
    } else {
        None
    };
    Profile {
        quality,
        max_width: None,
        max_height: None,
        video: (needs_video > -1.0).then_some(needs_video as u32),
        audio,
        audio_delay_ms: (delay * 1000.0).round() as i64,
        transcode: force > -1.0 || for_audio > -1.0 || needs_video <= -1.0 || needs_audio <= -1.0,
        keep_times,
    }
}

/// `/web/<id>/<index>/<quality>.<mp4|webm|ogv|m3u8>`,
/// `/web/<id>/<index>/audio.<mp3|mp4|oga>` and the HLS segments
/// `/web/<id>/<index>/stream-<n>.ts`.
pub(crate) async fn h_web(
    State(state): State<AppState>,
    Path((id, index, file)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    let (req, q, who) = match stream_request(&state, req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let media = state.node.media();
    let query = req.uri.query().unwrap_or("").to_owned();
    if let Some(n) = file
        .strip_prefix("stream-")
        .and_then(|f| f.strip_suffix(".ts"))
    {
        let Ok(n) = n.parse::<usize>() else {
            return not_found();
        };
        let quality = q.get("quality").and_then(|l| Quality::parse(l));
        let source = match source(&state, &who, &id, &index, &q).await {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        return match media.hls_segment(&source, &profile(quality, &q), n).await {
            Ok(bytes) => ([(header::CONTENT_TYPE, "video/MP2T")], bytes).into_response(),
            Err(e) => engine_error(e),
        };
    }
    let Some((label, container)) = file.rsplit_once('.') else {
        return not_found();
    };
    let audio = label == "audio";
    let quality = match Quality::parse(label) {
        Some(q) => Some(q),
        None if audio => None,
        None => return not_found(),
    };
    // Powder's containers: video mp4 (or Matroska), webm, ogv, m3u8;
    // audio mp3, mp4, oga.
    let use_matroska = number(&q, "useMatroska", -1.0) > -1.0;
    let target = match (audio, container) {
        (false, "m3u8") => Target::Hls,
        (false, "mp4") if use_matroska => Target::Matroska,
        (false, "mp4") => Target::Mp4,
        (false, "webm") => Target::WebM,
        (false, "ogv") => Target::Ogg,
        (true, "mp3") => Target::Mp3,
        (true, "mp4") => Target::M4a,
        (true, "oga") => Target::Oga,
        _ => return not_found(),
    };
    let source = match source(&state, &who, &id, &index, &q).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let profile = profile(quality, &q);
    if target == Target::Hls {
        // Segments carry the playlist's query (and its quality).
        let seg_query = if query.is_empty() {
            format!("quality={label}")
        } else {
            format!("{query}&quality={label}")
        };
        return match media
            .hls_playlist(&source, &profile, &|n| format!("stream-{n}.ts?{seg_query}"))
            .await
        {
            Ok(text) => {
                // Where the player begins, as Powder said it.
                let start = number(&q, "start", 0.0).max(0.0);
                let text = text.replacen(
                    "#EXT-X-VERSION:3\n",
                    &format!("#EXT-X-VERSION:3\n#EXT-X-START:TIME-OFFSET={start},PRECISE=YES\n"),
                    1,
                );
                ([(header::CONTENT_TYPE, "application/x-mpegURL")], text).into_response()
            }
            Err(e) => engine_error(e),
        };
    }
    let start = number(&q, "start", 0.0).max(0.0);
    match media.stream(&source, &profile, target, start).await {
        Ok(body) => {
            // Powder labelled its Matroska streams video/mp4 too.
            let kind = if target == Target::Matroska {
                "video/mp4"
            } else {
                body.content_type
            };
            ([(header::CONTENT_TYPE, kind)], Body::from_stream(body)).into_response()
        }
        Err(e) => engine_error(e),
    }
}

/// `/meta/<id>/<index>`: what the file holds, in ffprobe's JSON shape
/// (`streams`, `format`), as Powder's web player read it.
pub(crate) async fn h_meta(
    State(state): State<AppState>,
    Path((id, index)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (_, q, who) = match stream_request(&state, req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let source = match source(&state, &who, &id, &index, &q).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let probe = match state.node.media().probe(&source).await {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = %e, "a /meta/ probe failed");
            return fail("Cannot fetch video metadata");
        }
    };
    let streams: Vec<Value> = probe
        .streams
        .iter()
        .map(|s| {
            let mut v = json!({
                "index": s.index,
                "codec_name": s.codec,
                "codec_type": s.kind,
                "disposition": {
                    "default": u8::from(s.default),
                    "forced": u8::from(s.forced),
                    "attached_pic": u8::from(s.cover),
                },
                "tags": {},
            });
            if let Some(p) = &s.profile {
                v["profile"] = json!(p);
            }
            if let Some(l) = &s.language {
                v["tags"]["language"] = json!(l);
            }
            if let Some(t) = &s.title {
                v["tags"]["title"] = json!(t);
            }
            if let (Some(w), Some(h)) = (s.width, s.height) {
                v["width"] = json!(w);
                v["height"] = json!(h);
            }
            if let Some(p) = &s.pixel_format {
                v["pix_fmt"] = json!(p);
            }
            if let Some(c) = s.channels {
                v["channels"] = json!(c);
            }
            if let Some(r) = s.sample_rate {
                v["sample_rate"] = json!(r.to_string());
            }
            if let Some(b) = s.bit_rate {
                v["bit_rate"] = json!(b.to_string());
            }
            v
        })
        .collect();
    let mut format = json!({
        "format_name": probe.container,
        "nb_streams": probe.streams.len(),
        "duration": format!("{:.6}", probe.duration),
        "start_time": format!("{:.6}", probe.start),
    });
    if let Some(b) = probe.bit_rate {
        format["bit_rate"] = json!(b.to_string());
    }
    let body = json!({ "streams": streams, "format": format }).to_string();
    (StatusCode::OK, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn web_parameters_become_a_profile() {
        // The seed's example: copy what plays, pick streams 0.
        let p = profile(
            Quality::parse("360p"),
            &q(&[
                ("maxHeight", "404"),
                ("needsAudio", "0"),
                ("needsVideo", "0"),
                ("forAudio", "-1"),
                ("forceTranscode", "-1"),
                ("audioDelay", "0"),
            ]),
        );
        assert_eq!((p.video, p.audio, p.transcode), (Some(0), Some(0), false));
        assert_eq!(p.quality, Quality::parse("360p"));
        let p = profile(
            None,
            &q(&[
                ("needsVideo", "-1"),
                ("forAudio", "2"),
                ("audioDelay", "-1.5"),
            ]),
        );
        assert_eq!((p.video, p.audio, p.transcode), (None, Some(2), true));
        assert_eq!(p.audio_delay_ms, -1500);
        let p = profile(
            None,
            &q(&[("forAudio", "undefined"), ("forceTranscode", "1")]),
        );
        assert!(p.transcode && !p.keep_times);
        // No needsVideo, or an audio track chosen: both transcoded.
        assert!(profile(None, &q(&[("needsAudio", "0")])).transcode);
        let p = profile(
            None,
            &q(&[("needsVideo", "0"), ("needsAudio", "0"), ("forAudio", "1")]),
        );
        assert!(p.transcode);
        // copyts, or Matroska: the source's timestamps after a start.
        assert!(profile(None, &q(&[("copyts", "1")])).keep_times);
        assert!(profile(None, &q(&[("useMatroska", "1")])).keep_times);
        assert_eq!(content_type("a.MKV"), "video/x-matroska");
    }
}
