//! M3U playlists for VLC, mpv and the like: a stored file, a folder's
//! media files, or a torrent's, each entry a play link that carries its
//! own capability in the URL path (VLC 3 drops a query's credentials on
//! some requests, and the admin secret never goes in a playlist).
//!
//! A play link is `/api/v1/play/<token>/<name>`: the token names one file
//! (`e.<entry id>` or `t.<info hash>.<index>`), when it expires (Unix
//! seconds), and 128 bits of the node's signature over both (purpose
//! `play`); the name is there for players to show. It reads that file
//! alone, with ranges, until it expires.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use cairn_node::EntryKind;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{EntryId, InfoHash};
use crate::AppState;
use crate::content::{self, Presentation};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{PathParams, QueryParams};

/// Extensions a playlist lists.
const PLAYABLE: &[&str] = &[
    "mkv", "avi", "mp4", "m4v", "mpg", "mpeg", "webm", "flv", "ogg", "ogv", "mov", "wmv", "3gp",
    "3g2", "m2v", "m2ts", "ts", "m4a", "mp3", "flac", "wma", "wav", "opus", "aac",
];

/// Longest a play link lives, in hours (30 days).
const MAX_HOURS: u64 = 720;

/// Bytes of the signature a play link keeps.
const SIGNATURE: usize = 16;

fn playable(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, e)| PLAYABLE.contains(&e.to_ascii_lowercase().as_str()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PlaylistParams {
    /// How long its links play, in hours (default 24, at most 720).
    #[param(minimum = 1, maximum = 720)]
    hours: Option<u64>,
}

impl PlaylistParams {
    fn expires(&self) -> ApiResult<u64> {
        let hours = self.hours.unwrap_or(24);
        if !(1..=MAX_HOURS).contains(&hours) {
            return Err(ApiError::invalid(format!(
                "hours {hours}: give 1 to {MAX_HOURS}"
            )));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(now + hours * 3600)
    }
}

/// The token of a play link for `subject` (`e.<id>` or `t.<hash>.<i>`).
fn token(s: &AppState, subject: &str, expires: u64) -> String {
    let expires = expires.to_string();
    let sig = s
        .node
        .links()
        .sign("play", &[subject.as_bytes(), expires.as_bytes()]);
    format!(
        "{subject}.{expires}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&sig[..SIGNATURE])
    )
}

/// Where the caller reaches this node: `X-Forwarded-Proto` (https, from
/// a proxy) and the `Host` header.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("127.0.0.1:8180");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// Percent-encodes a path segment.
fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// An M3U answer: `#EXTM3U`, then per entry its title and URL.
fn m3u(entries: &[(String, String)]) -> Response {
    let mut body = String::from("#EXTM3U\n");
    for (title, url) in entries {
        let title: String = title.chars().filter(|c| !c.is_control()).collect();
        body.push_str(&format!("#EXTINF:-1,{title}\n{url}\n"));
    }
    (
        [
            (header::CONTENT_TYPE, "audio/x-mpegurl"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// A playlist of a stored file, or of a folder's media files (by name):
/// links that play without the secret until they expire.
#[utoipa::path(get, path = "/media/{id}/playlist.m3u", tag = "media", params(EntryId, PlaylistParams),
    responses(
        (status = 200, description = "The playlist (`audio/x-mpegurl`).", content_type = "audio/x-mpegurl", body = String),
        (status = 400, description = "A bad number of hours.", body = ErrorBody),
        (status = 404, description = "No such entry.", body = ErrorBody),
    ))]
pub(crate) async fn h_media_playlist(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    QueryParams(p): QueryParams<PlaylistParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let expires = p.expires()?;
    let info = s.node.entries().entry(&id).await?;
    let files = if info.entry.kind == EntryKind::File {
        vec![info.entry]
    } else {
        s.node
            .entries()
            .children(Some(id.clone()), 10_000)
            .await?
            .into_iter()
            .filter(|e| e.kind == EntryKind::File && playable(&e.name))
            .collect()
    };
    let origin = origin(&headers);
    let entries: Vec<(String, String)> = files
        .iter()
        .map(|e| {
            let t = token(&s, &format!("e.{}", e.id), expires);
            let url = format!("{origin}/api/v1/play/{t}/{}", segment(&e.name));
            (e.name.clone(), url)
        })
        .collect();
    Ok(m3u(&entries))
}

/// A playlist of a torrent's media files (all its files when none is
/// media): links that play while it downloads, without the secret, until
/// they expire.
#[utoipa::path(get, path = "/torrents/{hash}/playlist.m3u", tag = "torrents", params(InfoHash, PlaylistParams),
    responses(
        (status = 200, description = "The playlist (`audio/x-mpegurl`).", content_type = "audio/x-mpegurl", body = String),
        (status = 400, description = "A bad number of hours.", body = ErrorBody),
        (status = 404, description = "No such torrent.", body = ErrorBody),
        (status = 503, description = "Torrents are off.", body = ErrorBody),
    ))]
pub(crate) async fn h_torrent_playlist(
    State(s): State<AppState>,
    PathParams(hash): PathParams<String>,
    QueryParams(p): QueryParams<PlaylistParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let expires = p.expires()?;
    let hash = hash.to_ascii_lowercase();
    let info = s.node.torrents().info(&hash).await?;
    let media: Vec<_> = info.files.iter().filter(|f| playable(&f.path)).collect();
    let files = if media.is_empty() {
        info.files.iter().collect()
    } else {
        media
    };
    let origin = origin(&headers);
    let entries: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            let name = f.path.rsplit('/').next().unwrap_or(&f.path).to_owned();
            let t = token(&s, &format!("t.{hash}.{}", f.index), expires);
            let url = format!("{origin}/api/v1/play/{t}/{}", segment(&name));
            (name, url)
        })
        .collect();
    Ok(m3u(&entries))
}

#[derive(Deserialize, IntoParams)]
#[into_params(names("token", "name"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct PlayPath(
    #[param(pattern = r"^[et]\.[A-Za-z0-9_.-]{1,200}$")] String,
    #[param(max_length = 1024)] String,
);

/// The file a play link names (from a playlist), with ranges; no secret:
/// the link is the capability, for one file, until it expires.
#[utoipa::path(get, path = "/play/{token}/{name}", tag = "media", params(PlayPath),
    security(()),
    responses(
        crate::routes::ContentAnswers,
        (status = 403, description = "A wrong or expired link.", body = ErrorBody),
        (status = 404, description = "The file is gone.", body = ErrorBody),
    ))]
pub(crate) async fn h_play(
    State(s): State<AppState>,
    PathParams((token, _name)): PathParams<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let refused = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this play link is wrong or has expired: get a new playlist",
        )
    };
    let (subject, expires, sig) = parse_token(&token).ok_or_else(refused)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if !live(expires, now)
        || !s
            .node
            .links()
            .signed("play", &[subject.as_bytes(), expires.as_bytes()], &sig)
    {
        return Err(refused());
    }
    if let Some(id) = subject.strip_prefix("e.") {
        let info = s.node.entries().entry(id).await?;
        let blob = info.entry.blob.clone().ok_or_else(refused)?;
        let handle = s.node.blobs().open(&blob).await?;
        let how = Presentation::of_entry(&info.entry, false);
        return content::respond(&s.node, &method, &headers, handle, how).await;
    }
    let (hash, index) = subject
        .strip_prefix("t.")
        .and_then(|t| t.split_once('.'))
        .and_then(|(h, i)| Some((h, i.parse::<usize>().ok()?)))
        .ok_or_else(refused)?;
    super::torrent_content(&s, hash, index, &method, &headers).await
}

/// A play token's subject, expiry and signature, if it has their shape.
fn parse_token(token: &str) -> Option<(&str, &str, Vec<u8>)> {
    let (signed, sig) = token.rsplit_once('.')?;
    let (subject, expires) = signed.rsplit_once('.')?;
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .ok()
        .filter(|s| s.len() == SIGNATURE)?;
    Some((subject, expires, sig))
}

/// Whether a link expiring at `expires` (Unix seconds) still plays.
fn live(expires: &str, now: u64) -> bool {
    expires.parse::<u64>().is_ok_and(|e| e > now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_and_expire() {
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; SIGNATURE]);
        let token = format!("t.{}.3.1000.{sig}", "a".repeat(40));
        let (subject, expires, raw) = parse_token(&token).unwrap();
        assert_eq!(
            (subject, expires, raw.len()),
            (&*format!("t.{}.3", "a".repeat(40)), "1000", SIGNATURE)
        );
        assert!(live(expires, 999) && !live(expires, 1000) && !live("soon", 0));
        assert!(
            parse_token("e.abc.1000.c2hvcnQ").is_none(),
            "a short signature"
        );
        assert!(parse_token("nodots").is_none());
    }
}
