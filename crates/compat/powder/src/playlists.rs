//! M3U playlists (§10): `#EXTM3U`, then `#EXTINF:0,<title>` and a URL per
//! entry, `\n` between lines and none at the end; the caller's key in
//! the URL path for torrents (VLC 3 drops a query's token), in the query
//! for local media.

use std::collections::HashMap;

use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::keys::{Caller, caller};
use crate::torrents::{base_name, display_files, hash_of, started};
use crate::{AppState, fail, query_of};

/// A playlist's answer.
fn m3u(entries: &[(String, String)]) -> Response {
    let mut body = String::from("#EXTM3U");
    for (title, url) in entries {
        body.push_str(&format!("\n#EXTINF:0,{title}\n{url}"));
    }
    (
        [
            (header::CONTENT_TYPE, "audio/x-mpegurl"),
            (
                header::CONTENT_DISPOSITION,
                "attachment;filename=\"playlist.m3u\"",
            ),
        ],
        body,
    )
        .into_response()
}

/// Powder's title of a torrent's file: the base name without a real
/// extension, `_` and `.` as spaces, single spaces, a capital first.
fn clean_title(path: &str) -> String {
    let name = base_name(path);
    let name = match name.rsplit_once('.') {
        Some((stem, _)) if stem.chars().count() > 3 => stem,
        _ => name,
    };
    let mut t: String = name
        .chars()
        .map(|c| if c == '_' || c == '.' { ' ' } else { c })
        .collect();
    while t.contains("  ") {
        t = t.replace("  ", " ");
    }
    let mut chars = t.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => t,
    }
}

/// What a playlist request carries: the state, the query, the key, the
/// caller, where it is reached and whether on the main listener.
struct Asked {
    state: AppState,
    q: HashMap<String, String>,
    key: String,
    origin: String,
    main: bool,
    master: bool,
}

/// The request's caller; playlists are not for the embed token (§2.4).
async fn asked(state: AppState, req: Request) -> Result<Asked, Response> {
    let (req, _) = req.into_parts();
    let q = query_of(&req.uri);
    let key = crate::presented_key(&req.headers, &q).unwrap_or_default();
    let master = match caller(&state, &key).await {
        Some(Caller::Embed) | None => return Err(fail("Invalid access token")),
        Some(c) => c.is_master(),
    };
    let (served, local) = crate::served(&req.extensions);
    Ok(Asked {
        origin: crate::origin(&req.headers, local),
        main: served == cairn_api::Served::Main,
        state,
        q,
        key,
        master,
    })
}

/// A torrent's playlist; `start` resumes a paused torrent first.
async fn torrent_playlist(a: &Asked, id: &str, start: bool) -> Response {
    let Some(hash) = hash_of(&a.state, id) else {
        return fail(if start {
            "Torrent is not streamable"
        } else {
            "Unknown Error"
        });
    };
    let info = if start {
        match started(&a.state, &hash).await {
            Ok(i) => i,
            Err(e) => return fail(e),
        }
    } else {
        match a.state.node.torrents().info(&hash).await {
            Ok(i)
                if !matches!(
                    i.state,
                    cairn_node::TorrentState::Paused | cairn_node::TorrentState::Error
                ) =>
            {
                i
            }
            _ => return fail("Unknown Error"),
        }
    };
    let files = display_files(&info);
    if !files.iter().any(|(_, streamable)| *streamable) {
        return fail("Torrent does not have streamable files");
    }
    let only: Option<usize> = a.q.get("fileID").and_then(|f| f.parse().ok());
    let by_name = a.state.settings.flag("useFilenameStream", true);
    let prefix = if a.main { "/powder/api" } else { "/api" };
    let entries: Vec<(String, String)> = files
        .iter()
        .filter(|(f, _)| only.is_none_or(|i| i == f.index))
        .map(|(f, _)| {
            // A name two files share would find the first: the index then.
            let name = base_name(&f.path);
            let shared = info
                .files
                .iter()
                .filter(|g| base_name(&g.path) == name)
                .count()
                > 1;
            let last = if by_name && !shared && name.parse::<usize>().is_err() {
                crate::encode_component(name)
            } else {
                f.index.to_string()
            };
            (
                clean_title(&f.path),
                format!(
                    "{}{prefix}/{}/{}/{last}",
                    a.origin,
                    crate::encode_component(&a.key),
                    info.info_hash
                ),
            )
        })
        .collect();
    m3u(&entries)
}

/// `/playlist.m3u?id=<utime or info hash>[&fileID=]`: a running torrent.
pub(crate) async fn h_playlist(State(state): State<AppState>, req: Request) -> Response {
    let a = match asked(state, req).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let id = a.q.get("id").cloned().unwrap_or_default();
    torrent_playlist(&a, &id, false).await
}

/// `/getplaylist.m3u?id=<info hash, magnet or torrent URL>`: added when
/// new, started or resumed first. The master's `openNow` opened it in the
/// desktop's player; here the torrent is started and the answer is `{}`.
pub(crate) async fn h_getplaylist(State(state): State<AppState>, req: Request) -> Response {
    let a = match asked(state, req).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let id = a.q.get("id").cloned().unwrap_or_default();
    let lower = id.to_ascii_lowercase();
    let source = if lower.starts_with("magnet:") {
        Some(cairn_node::TorrentSource::Magnet(id.clone()))
    } else if lower.starts_with("http://") || lower.starts_with("https://") {
        Some(cairn_node::TorrentSource::Url {
            url: id.clone(),
            trusted: false,
        })
    } else {
        None
    };
    let hash = match source {
        Some(source) => match a
            .state
            .node
            .torrents()
            .add(source, Default::default())
            .await
        {
            Ok(info) => {
                a.state.books.address(&info.info_hash, &id);
                info.info_hash
            }
            Err(e) => return fail(e),
        },
        None => id,
    };
    let resp = torrent_playlist(&a, &hash, true).await;
    if a.master && a.q.contains_key("openNow") && resp.status().is_success() {
        return crate::empty();
    }
    resp
}

/// `/getlocalplaylist.m3u?pid=`: a local entry's file or folder.
pub(crate) async fn h_local_playlist(State(state): State<AppState>, req: Request) -> Response {
    let a = match asked(state, req).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let pid = a.q.get("pid").cloned().unwrap_or_default();
    let Some(local) = pid.parse::<i64>().ok().and_then(|p| a.state.books.local(p)) else {
        return fail("Invalid Resource");
    };
    let token = crate::encode_component(&a.key);
    let entries = if local.folder {
        match crate::streams::folder_files(&a.state, &local.entry).await {
            Ok(files) => files
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    (
                        e.name.clone(),
                        format!("{}/local/{pid}/{i}?token={token}", a.origin),
                    )
                })
                .collect(),
            Err(e) => return fail(e),
        }
    } else {
        vec![(
            local.name.clone(),
            format!("{}/local/{pid}/0?token={token}", a.origin),
        )]
    };
    m3u(&entries)
}

/// `/getytdlplaylist.m3u?pid=`: a youtube-dl link, played through the
/// node.
pub(crate) async fn h_ytdl_playlist(State(state): State<AppState>, req: Request) -> Response {
    let a = match asked(state, req).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let pid = a.q.get("pid").cloned().unwrap_or_default();
    let Some(y) = a.state.books.ytdl(&pid) else {
        return fail("Invalid Resource");
    };
    let url = format!(
        "{}/ytdl/{pid}/0?token={}",
        a.origin,
        crate::encode_component(&a.key)
    );
    m3u(&[(y.name, url)])
}

/// `/getaceplaylist.m3u`: no AceStream engine here.
pub(crate) async fn h_ace_playlist(State(state): State<AppState>, req: Request) -> Response {
    match asked(state, req).await {
        Ok(_) => fail("Acestream not Installed"),
        Err(resp) => resp,
    }
}

/// `/getsopplaylist.m3u`: no SopCast here.
pub(crate) async fn h_sop_playlist(State(state): State<AppState>, req: Request) -> Response {
    match asked(state, req).await {
        Ok(_) => fail("Sopcast Not Installed"),
        Err(resp) => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_cleaned_as_powder_did() {
        assert_eq!(clean_title("Sintel.2010.720p.mkv"), "Sintel 2010 720p");
        assert_eq!(clean_title("dir/my__film_.mp4"), "My film ");
        assert_eq!(clean_title("abc.mp4"), "Abc.mp4".replace('.', " "));
    }

    #[test]
    fn playlists_have_no_trailing_newline() {
        let resp = m3u(&[("A".into(), "http://h/api/k/x/a.mp4".into())]);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE].to_str().unwrap(),
            "audio/x-mpegurl"
        );
    }
}
