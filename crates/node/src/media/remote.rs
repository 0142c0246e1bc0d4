//! Media on web pages: yt-dlp (PyPI's, found on `PATH` when the node
//! starts) turns a page URL into the URL of its media, its title and the
//! headers that URL wants; the media is then read through the node by
//! range, like any remote fetch (`fetches::get`: globally reachable
//! addresses only unless `[remote] allow` lists them, each hop checked,
//! the connection pinned), so neither ffmpeg nor a player ever reaches
//! an address the node would not fetch from, and nothing is written to
//! disk.
//!
//! yt-dlp itself fetches the page: its host is checked the same way
//! before yt-dlp runs (a name that resolves elsewhere a moment later is
//! not caught; the media it finds always is). yt-dlp runs without a
//! shell, its config ignored, the URL after `--`, for at most a minute.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::NodeError;
use crate::config::RemoteConfig;

type Result<T> = std::result::Result<T, NodeError>;

/// How long yt-dlp may take to resolve a page.
const RESOLVE_WAIT: Duration = Duration::from_secs(60);

/// Most of yt-dlp's output read.
const MAX_JSON: usize = 16 << 20;

/// A page's media, as yt-dlp found it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemoteMedia {
    /// The page.
    pub page: String,
    /// Its title.
    pub title: String,
    /// The media's own URL.
    pub url: String,
    /// Headers that URL wants (a referer, a user agent, cookies).
    #[serde(skip)]
    pub headers: Vec<(String, String)>,
    /// A picture of it, when the page has one.
    pub thumbnail: Option<String>,
    /// Its duration in seconds, when known.
    pub duration: Option<f64>,
    /// The site's extractor (`generic` for a plain page).
    pub extractor: Option<String>,
}

impl RemoteMedia {
    /// The headers its URL wants, as a request sends them (any that does
    /// not parse left out).
    pub(crate) fn header_map(&self) -> reqwest::header::HeaderMap {
        let mut map = reqwest::header::HeaderMap::new();
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (
                reqwest::header::HeaderName::from_bytes(k.as_bytes()),
                reqwest::header::HeaderValue::from_str(v),
            ) {
                map.insert(k, v);
            }
        }
        map
    }
}

/// Bytes of remote media read through the node.
pub struct RemoteBytes {
    /// 200, or 206 for a range.
    pub status: u16,
    /// `Content-Length` of the answer, when given.
    pub length: Option<u64>,
    /// `Content-Range` of a 206.
    pub content_range: Option<String>,
    /// The media's type, when given.
    pub content_type: Option<String>,
    /// The bytes.
    pub body: BoxStream<'static, std::io::Result<Bytes>>,
}

/// The media on `page`, at most `max_height` lines high when the site
/// offers a choice.
pub(crate) async fn resolve(
    ytdlp: &Path,
    remote: &RemoteConfig,
    page: &str,
    max_height: Option<u32>,
) -> Result<RemoteMedia> {
    let url = crate::fetches::parse(page)?;
    crate::fetches::checked_addr(remote, &url).await?;
    let format = match max_height {
        Some(h) => format!("best[height<=?{h}]/best"),
        None => "best".into(),
    };
    let mut cmd = tokio::process::Command::new(ytdlp);
    cmd.args([
        "--ignore-config",
        "--no-playlist",
        "--no-warnings",
        "--no-progress",
        "--dump-single-json",
        "-f",
        &format,
        "--",
        url.as_str(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let child = cmd
        .spawn()
        .map_err(|e| NodeError::Unavailable(format!("cannot run yt-dlp: {e}")))?;
    let out = tokio::time::timeout(RESOLVE_WAIT, child.wait_with_output())
        .await
        .map_err(|_| NodeError::Unavailable(format!("yt-dlp took over a minute on {page}")))?
        .map_err(|e| NodeError::Internal(format!("yt-dlp: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("it failed")
            .trim()
            .trim_start_matches("ERROR: ")
            .chars()
            .take(300)
            .collect::<String>();
        return Err(NodeError::Invalid(format!(
            "yt-dlp cannot extract media from {page}: {why}"
        )));
    }
    if out.stdout.len() > MAX_JSON {
        return Err(NodeError::Invalid("yt-dlp's answer is too large".into()));
    }
    parse(page, &out.stdout)
}

/// yt-dlp's JSON, as the media.
fn parse(page: &str, json: &[u8]) -> Result<RemoteMedia> {
    let v: serde_json::Value = serde_json::from_slice(json)
        .map_err(|e| NodeError::Invalid(format!("yt-dlp's answer is not JSON: {e}")))?;
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let url = text("url").ok_or_else(|| {
        NodeError::Invalid(format!(
            "yt-dlp found no single media file on {page} (only separate video and audio)"
        ))
    })?;
    crate::fetches::parse(&url)?;
    let headers = v
        .get("http_headers")
        .and_then(|h| h.as_object())
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .filter(|(k, _)| {
                    !matches!(
                        k.to_ascii_lowercase().as_str(),
                        "host" | "range" | "content-length" | "transfer-encoding" | "connection"
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(RemoteMedia {
        page: page.to_owned(),
        title: text("fulltitle")
            .or_else(|| text("title"))
            .unwrap_or_else(|| page.to_owned()),
        url,
        headers,
        thumbnail: text("thumbnail"),
        duration: v.get("duration").and_then(|d| d.as_f64()),
        extractor: text("extractor_key").or_else(|| text("extractor")),
    })
}

/// Reads `media` (from `range.0`, to `range.1` inclusive when given)
/// through the node's checked fetch.
pub(crate) async fn read(
    remote: &RemoteConfig,
    media: &RemoteMedia,
    range: Option<(u64, Option<u64>)>,
) -> Result<RemoteBytes> {
    let url = crate::fetches::parse(&media.url)?;
    let headers = media.header_map();
    let mut every_hop = reqwest::header::HeaderMap::new();
    if let Some((from, to)) = range {
        let value = match to {
            Some(to) => format!("bytes={from}-{to}"),
            None => format!("bytes={from}-"),
        };
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&value) {
            every_hop.insert(reqwest::header::RANGE, v);
        }
    }
    let resp = crate::fetches::get(remote, url, headers, every_hop).await?;
    let header = |name: reqwest::header::HeaderName| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let status = resp.status().as_u16();
    let content_range = header(reqwest::header::CONTENT_RANGE);
    let content_type = header(reqwest::header::CONTENT_TYPE);
    let length = resp.content_length();
    let body = resp.bytes_stream().map_err(std::io::Error::other).boxed();
    Ok(RemoteBytes {
        status,
        length,
        content_range,
        content_type,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yt_dlp_answers_become_media_and_framing_headers_are_dropped() {
        let json = br#"{"title":"Clip","fulltitle":"Clip full","url":"http://203.0.113.5/c.mp4",
            "http_headers":{"Referer":"http://203.0.113.5/p","Range":"bytes=0-","User-Agent":"x"},
            "duration":4.0,"extractor_key":"Generic"}"#;
        let m = parse("http://203.0.113.5/p", json).unwrap();
        assert_eq!(
            (m.title.as_str(), m.url.as_str()),
            ("Clip full", "http://203.0.113.5/c.mp4")
        );
        assert_eq!(m.headers.len(), 2, "{:?}", m.headers);
        assert_eq!(m.duration, Some(4.0));
        assert!(parse("p", br#"{"title":"x","requested_formats":[]}"#).is_err());
        assert!(parse("p", br#"{"url":"file:///etc/passwd"}"#).is_err());
    }
}
