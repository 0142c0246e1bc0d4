//! Media: what a file holds, how it would play, progressive streams and
//! HLS. Players that cannot set headers give the secret as `api_secret`
//! in the query; an HLS playlist's segment URLs carry its query on.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use cairn_node::{
    Entry, MediaSource, Plan, Probe, Profile, Quality, RemoteMedia, Target, Treatment,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Binary, EntryId};
use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};

/// What a player asks of a stream.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub(crate) struct MediaParams {
    /// A quality preset: the picture is made to fit it when the source is
    /// larger (`144p`, `240p`, `360p`, `480p`, `720p`, `1080p`).
    #[param(pattern = r"^(144|240|360|480|720|1080)p?$")]
    quality: Option<String>,
    /// Largest width in pixels the player takes.
    #[param(minimum = 2, maximum = 16384)]
    max_width: Option<u32>,
    /// Largest height in pixels the player takes.
    #[param(minimum = 2, maximum = 16384)]
    max_height: Option<u32>,
    /// Which video stream, counted among video streams from 0.
    #[param(minimum = 0, maximum = 1000)]
    video: Option<u32>,
    /// Which audio stream, counted among audio streams from 0.
    #[param(minimum = 0, maximum = 1000)]
    audio: Option<u32>,
    /// Audio delay in milliseconds (negative: earlier).
    #[param(minimum = -600000, maximum = 600000)]
    audio_delay_ms: Option<i64>,
    /// Transcode video and audio whatever the source.
    transcode: Option<bool>,
    /// A progressive stream from `start` keeps the source's timestamps
    /// (its first frame at `start`, not 0); not with an audio delay.
    keep_times: Option<bool>,
}

impl MediaParams {
    fn profile(&self) -> ApiResult<Profile> {
        let quality = match &self.quality {
            None => None,
            Some(q) => Some(Quality::parse(q).ok_or_else(|| {
                ApiError::invalid(format!(
                    "unknown quality '{q}': one of 144p, 240p, 360p, 480p, 720p, 1080p"
                ))
            })?),
        };
        let delay = self.audio_delay_ms.unwrap_or(0);
        if delay.abs() > 600_000 {
            return Err(ApiError::invalid("audio_delay_ms must be within ±600000"));
        }
        Ok(Profile {
            quality,
            max_width: self.max_width.filter(|w| *w > 0),
            max_height: self.max_height.filter(|h| *h > 0),
            video: self.video,
            audio: self.audio,
            audio_delay_ms: delay,
            transcode: self.transcode.unwrap_or(false),
            keep_times: self.keep_times.unwrap_or(false),
        })
    }
}

/// The file's content, opened for media work.
async fn open(s: &AppState, id: &str) -> ApiResult<MediaSource> {
    let info = s.node.entries().entry(id).await?;
    let blob = info.entry.blob.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("'{}' is a folder, it has no media", info.entry.name),
        )
    })?;
    Ok(s.node.blobs().open(&blob).await?.into())
}

/// A torrent's file for media work: from the store once imported, else
/// from the torrent as it arrives.
async fn open_torrent(s: &AppState, hash: &str, index: usize) -> ApiResult<MediaSource> {
    let file = s.node.torrents().file(hash, index).await?;
    if let Some(blob) = file.entry.as_ref().and_then(|e| e.blob.as_ref()) {
        return Ok(s.node.blobs().open(blob).await?.into());
    }
    Ok(MediaSource::Torrent(file))
}

/// What a media file holds: container, duration, streams (codec, language,
/// default), and the key frames of its main video stream. Probed once.
#[utoipa::path(get, path = "/media/{id}/probe", tag = "media", params(EntryId),
    responses(
        (status = 200, description = "What the file holds.", body = Probe),
        (status = 400, description = "Not a media file ffprobe can read.", body = ErrorBody),
        (status = 404, description = "No such entry, or a folder.", body = ErrorBody),
        (status = 503, description = "ffprobe is not installed.", body = ErrorBody),
    ))]
pub(crate) async fn h_media_probe(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    probe(&s, open(&s, &id).await?).await
}

async fn probe(s: &AppState, source: MediaSource) -> ApiResult<Response> {
    Ok(Json(&*s.node.media().probe(&source).await?).into_response())
}

/// How a file plays, and where.
#[derive(Serialize, ToSchema)]
pub(crate) struct PlayInfo {
    /// How a browser gets it: the file as it is, remuxed or transcoded.
    treatment: Treatment,
    /// The decision for a progressive MP4 stream.
    mp4: Plan,
    /// The decision for HLS.
    hls: Plan,
    /// Duration in seconds.
    duration: f64,
    /// The file itself, with ranges.
    content: String,
    /// A progressive stream (add `start=` to seek).
    stream: String,
    /// The HLS playlist.
    playlist: String,
    /// The HLS master playlist: the video's playlist, with the file's
    /// text subtitles as renditions.
    master: String,
}

/// How a file would play for this profile (served as it is, remuxed or
/// transcoded), and the paths of its content, stream and HLS playlist.
#[utoipa::path(get, path = "/media/{id}/play", tag = "media", params(EntryId, MediaParams),
    responses(
        (status = 200, description = "The decision and the paths.", body = PlayInfo),
        (status = 400, description = "Not a media file, or a stream the file does not have.", body = ErrorBody),
        (status = 404, description = "No such entry, or a folder.", body = ErrorBody),
        (status = 503, description = "ffprobe is not installed.", body = ErrorBody),
    ))]
pub(crate) async fn h_media_play(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    QueryParams(p): QueryParams<MediaParams>,
    uri: Uri,
) -> ApiResult<Response> {
    let profile = p.profile()?;
    let source = open(&s, &id).await?;
    let media = s.node.media();
    let probe = media.probe(&source).await?;
    let mp4 = Plan::new(&probe, &profile, Target::Mp4)?;
    let hls = Plan::new(&probe, &profile, Target::Hls)?;
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    Ok(Json(PlayInfo {
        treatment: mp4.treatment,
        mp4,
        hls,
        duration: probe.duration,
        content: format!("/api/v1/entries/{id}/content"),
        stream: format!("/api/v1/media/{id}/stream{query}"),
        playlist: format!("/api/v1/media/{id}/hls/index.m3u8{query}"),
        master: format!("/api/v1/media/{id}/hls/master.m3u8{query}"),
    })
    .into_response())
}

/// The container of a progressive stream.
#[derive(Deserialize, ToSchema, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    /// Fragmented MP4, for browsers.
    #[default]
    Mp4,
    /// Matroska, for VLC and mpv (codecs copied as they are).
    Mkv,
    /// WebM (VP8 and Vorbis), for browsers without H.264.
    Webm,
    /// Ogg (Theora and Vorbis).
    Ogv,
    /// The audio alone, as MP3.
    Mp3,
    /// The audio alone, as AAC in MP4.
    M4a,
    /// The audio alone, as Vorbis in Ogg.
    Oga,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamParams {
    /// Where to start, in seconds.
    #[param(minimum = 0)]
    start: Option<f64>,
    /// The container (default `mp4`).
    format: Option<Format>,
}

/// A progressive stream of the file from `start` (fragmented MP4, or
/// Matroska): streams the player takes are copied, the rest transcoded.
/// No ranges: a player seeks by asking again with another `start`. The
/// encoder stops as soon as the client goes.
#[utoipa::path(get, path = "/media/{id}/stream", tag = "media", params(EntryId, MediaParams, StreamParams),
    responses(
        (status = 200, description = "The stream.", content_type = "video/mp4", body = Binary),
        (status = 400, description = "Not a media file, a start past its end, or a stream it does not have.", body = ErrorBody),
        (status = 404, description = "No such entry, or a folder.", body = ErrorBody),
        (status = 503, description = "ffmpeg is not installed, or every encoder is busy.", body = ErrorBody),
    ))]
pub(crate) async fn h_media_stream(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    QueryParams(p): QueryParams<MediaParams>,
    QueryParams(at): QueryParams<StreamParams>,
) -> ApiResult<Response> {
    let source = open(&s, &id).await?;
    stream(&s, source, &p, &at).await
}

async fn stream(
    s: &AppState,
    source: MediaSource,
    p: &MediaParams,
    at: &StreamParams,
) -> ApiResult<Response> {
    let profile = p.profile()?;
    let target = match at.format.unwrap_or_default() {
        Format::Mp4 => Target::Mp4,
        Format::Mkv => Target::Matroska,
        Format::Webm => Target::WebM,
        Format::Ogv => Target::Ogg,
        Format::Mp3 => Target::Mp3,
        Format::M4a => Target::M4a,
        Format::Oga => Target::Oga,
    };
    let start = at.start.unwrap_or(0.0);
    let body = s
        .node
        .media()
        .stream(&source, &profile, target, start)
        .await?;
    let content_type = body.content_type;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(names("file"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct HlsFile(
    #[param(
        pattern = r"^(index\.m3u8|master\.m3u8|[0-9]{1,9}\.ts|sub-(s[0-9]{1,4}|f[A-Za-z0-9_-]{11})\.(m3u8|vtt))$"
    )]
    String,
);

/// HLS: `master.m3u8` (the master playlist: the video, and its text
/// subtitle tracks as renditions), `index.m3u8` (the video's playlist,
/// segments on the source's key frames), `<n>.ts` (segment `n`, made once,
/// cached; parallel requests get the same bytes), `sub-<track>.m3u8` and
/// `sub-<track>.vtt` (a subtitle track's playlist and its one WebVTT
/// segment, on the video's timestamps). Every URL in a playlist carries
/// its query.
#[utoipa::path(get, path = "/media/{id}/hls/{file}", tag = "media", params(EntryId, HlsFile, MediaParams),
    responses(
        (status = 200, description = "A playlist (`application/vnd.apple.mpegurl`), a segment (`video/mp2t`) or subtitles (`text/vtt`).", content_type = "application/vnd.apple.mpegurl", body = String),
        (status = 400, description = "Not a media file, or a stream it does not have.", body = ErrorBody),
        (status = 404, description = "No such entry, segment or file.", body = ErrorBody),
        (status = 503, description = "ffmpeg is not installed, or every encoder is busy.", body = ErrorBody),
    ))]
pub(crate) async fn h_media_hls(
    State(s): State<AppState>,
    PathParams((id, file)): PathParams<(String, String)>,
    QueryParams(p): QueryParams<MediaParams>,
    uri: Uri,
) -> ApiResult<Response> {
    let source = open(&s, &id).await?;
    // Its sidecar subtitles are found by the entry (segments need none).
    let entry = if file == "master.m3u8" || file.starts_with("sub-") {
        Some(s.node.entries().entry(&id).await?.entry)
    } else {
        None
    };
    hls(&s, source, entry, &file, &p, &uri).await
}

async fn hls(
    s: &AppState,
    source: MediaSource,
    entry: Option<Entry>,
    file: &str,
    p: &MediaParams,
    uri: &Uri,
) -> ApiResult<Response> {
    let profile = p.profile()?;
    let media = s.node.media();
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let playlist = |text: String| {
        (
            [
                (header::CONTENT_TYPE, "application/vnd.apple.mpegurl"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            text,
        )
            .into_response()
    };
    if file == "index.m3u8" {
        let text = media
            .hls_playlist(&source, &profile, &|n| format!("{n}.ts{query}"))
            .await?;
        return Ok(playlist(text));
    }
    let tracks = || async {
        match &entry {
            Some(entry) => media.subtitles(entry).await,
            None => media.stream_subtitles(&source).await,
        }
    };
    if file == "master.m3u8" {
        let tracks = tracks().await?;
        let text = media
            .hls_master(
                &source,
                &profile,
                &tracks,
                &format!("index.m3u8{query}"),
                &|t| format!("sub-{}.m3u8{query}", t.id),
            )
            .await?;
        return Ok(playlist(text));
    }
    if let Some(track) = file
        .strip_prefix("sub-")
        .and_then(|f| f.strip_suffix(".m3u8"))
    {
        if !tracks().await?.iter().any(|t| t.id == track && t.text) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no text subtitle track '{track}'"),
            ));
        }
        let text = media
            .hls_subtitle_playlist(&source, &profile, &format!("sub-{track}.vtt{query}"))
            .await?;
        return Ok(playlist(text));
    }
    if let Some(track) = file
        .strip_prefix("sub-")
        .and_then(|f| f.strip_suffix(".vtt"))
    {
        let vtt = match &entry {
            Some(entry) => media.subtitle_vtt(entry, track).await?,
            None => media.stream_subtitle_vtt(&source, track).await?,
        };
        let vtt = media.hls_subtitle_vtt(&source, &profile, &vtt).await?;
        return Ok((
            [
                (header::CONTENT_TYPE, "text/vtt; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            vtt,
        )
            .into_response());
    }
    let n = file
        .strip_suffix(".ts")
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!(
                    "no HLS file '{file}': master.m3u8, index.m3u8, <n>.ts, \
                     sub-<track>.m3u8 or sub-<track>.vtt"
                ),
            )
        })?;
    let bytes = media.hls_segment(&source, &profile, n).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "video/mp2t"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        bytes,
    )
        .into_response())
}

/// A stored file lent to ffmpeg or ffprobe (the loopback input listener
/// only): its bytes with ranges, while the tool's work lasts.
pub(crate) async fn h_media_input(
    State(s): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    method: axum::http::Method,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let how = crate::content::Presentation {
        content_type: "application/octet-stream".into(),
        file_name: None,
        attachment: false,
        entry: None,
    };
    match s.node.media().input(&token)? {
        MediaSource::Blob(handle) => {
            crate::content::respond(&s.node, &method, &headers, handle, how).await
        }
        MediaSource::Torrent(file) => {
            let etag = format!("\"{}-{}\"", file.info_hash, file.index);
            let torrents = s.node.torrents();
            crate::content::respond_with(&method, &headers, file.size, &etag, how, |range| async {
                Ok(torrents.read(&file, range).await?)
            })
            .await
        }
        MediaSource::Remote(media) => {
            let range = crate::content::asked_range(&headers);
            let bytes = s.node.media().read_remote(&media, range).await?;
            Ok(crate::content::relay(bytes, &method))
        }
    }
}

/// Converts a stored video to a browser-streamable MP4 (H.264/AAC, the
/// index first), stored next to it as `<name>.mp4`: a `convert` job with
/// progress (also on the events WebSocket).
#[utoipa::path(post, path = "/media/{id}/convert", tag = "media", params(EntryId),
    responses(
        (status = 202, description = "The job.", body = cairn_node::JobRecord),
        (status = 400, description = "A folder.", body = ErrorBody),
        (status = 404, description = "No such entry.", body = ErrorBody),
        (status = 503, description = "ffmpeg is not installed.", body = ErrorBody),
    ))]
pub(crate) async fn h_media_convert(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    let entry = s.node.entries().entry(&id).await?.entry;
    let job = s
        .node
        .media()
        .convert_mp4(&entry, cairn_node::JobFor::default())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

/// A web page to find media on.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemoteBody {
    /// The page's URL (http or https).
    #[schema(max_length = 4096)]
    url: String,
    /// The tallest picture wanted in lines, when the site offers several
    /// (default: the best).
    #[schema(minimum = 1, maximum = 100000)]
    max_height: Option<u32>,
}

/// The media on a web page, as yt-dlp finds it: title, the media's URL,
/// duration. The page's host must be one the node may fetch from.
#[utoipa::path(post, path = "/media/remote", tag = "media", request_body = RemoteBody,
    responses(
        (status = 200, description = "What the page holds.", body = RemoteMedia),
        (status = 400, description = "Not a page yt-dlp can extract, or a host that does not resolve.", body = ErrorBody),
        (status = 403, description = "An address the node may not fetch from (`[remote] allow`).", body = ErrorBody),
        (status = 503, description = "yt-dlp is not installed.", body = ErrorBody),
    ))]
pub(crate) async fn h_media_remote(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<RemoteBody>,
) -> ApiResult<Response> {
    let media = s
        .node
        .media()
        .resolve(&b.url, b.max_height.filter(|h| *h > 0))
        .await?;
    Ok(Json(media).into_response())
}

/// A web page whose media to store.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemoteStoreBody {
    /// The page's URL (http or https).
    #[schema(max_length = 4096)]
    url: String,
    /// The tallest picture wanted in lines (default: the best).
    #[schema(minimum = 1, maximum = 100000)]
    max_height: Option<u32>,
    /// The folder to store it in (default: the root).
    #[schema(pattern = r"^[A-Za-z0-9_-]{11}$")]
    parent: Option<String>,
}

/// Stores the media on a web page (yt-dlp) as a new file: a `fetch` job
/// with progress, named after the page's title.
#[utoipa::path(post, path = "/media/remote/store", tag = "media", request_body = RemoteStoreBody,
    responses(
        (status = 202, description = "The job.", body = cairn_node::JobRecord),
        (status = 400, description = "Not a page yt-dlp can extract, or a host that does not resolve.", body = ErrorBody),
        (status = 403, description = "An address the node may not fetch from (`[remote] allow`).", body = ErrorBody),
        (status = 404, description = "No such folder.", body = ErrorBody),
        (status = 503, description = "yt-dlp is not installed.", body = ErrorBody),
    ))]
pub(crate) async fn h_media_remote_store(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<RemoteStoreBody>,
) -> ApiResult<Response> {
    let media = s
        .node
        .media()
        .resolve(&b.url, b.max_height.filter(|h| *h > 0))
        .await?;
    let job = s
        .node
        .fetches()
        .start_remote_media(&media, b.parent, false)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

/// What a torrent's file holds, as `/media/{id}/probe` says (from its
/// start alone while it downloads: no key frames yet).
#[utoipa::path(get, path = "/torrents/{hash}/files/{index}/probe", tag = "media",
    params(super::InfoHash, super::FileIndex),
    responses(
        (status = 200, description = "What the file holds.", body = Probe),
        (status = 400, description = "Not a media file ffprobe can read.", body = ErrorBody),
        (status = 404, description = "No such torrent or file.", body = ErrorBody),
        (status = 503, description = "ffprobe is not installed, or the torrent is not ready.", body = ErrorBody),
    ))]
pub(crate) async fn h_torrent_probe(
    State(s): State<AppState>,
    PathParams((hash, index)): PathParams<(String, usize)>,
) -> ApiResult<Response> {
    probe(&s, open_torrent(&s, &hash, index).await?).await
}

/// A progressive stream of a torrent's file, also while it downloads, as
/// `/media/{id}/stream`.
#[utoipa::path(get, path = "/torrents/{hash}/files/{index}/stream", tag = "media",
    params(super::InfoHash, super::FileIndex, MediaParams, StreamParams),
    responses(
        (status = 200, description = "The stream.", content_type = "video/mp4", body = Binary),
        (status = 400, description = "Not a media file, a start past its end, or a stream it does not have.", body = ErrorBody),
        (status = 404, description = "No such torrent or file.", body = ErrorBody),
        (status = 503, description = "ffmpeg is not installed, every encoder is busy, or the torrent is not ready.", body = ErrorBody),
    ))]
pub(crate) async fn h_torrent_stream(
    State(s): State<AppState>,
    PathParams((hash, index)): PathParams<(String, usize)>,
    QueryParams(p): QueryParams<MediaParams>,
    QueryParams(at): QueryParams<StreamParams>,
) -> ApiResult<Response> {
    stream(&s, open_torrent(&s, &hash, index).await?, &p, &at).await
}

/// HLS of a torrent's file, also while it downloads (then transcoded on a
/// regular grid: its key frames are not known yet), as `/media/{id}/hls`.
#[utoipa::path(get, path = "/torrents/{hash}/files/{index}/hls/{file}", tag = "media",
    params(super::InfoHash, super::FileIndex, HlsFile, MediaParams),
    responses(
        (status = 200, description = "A playlist (`application/vnd.apple.mpegurl`), a segment (`video/mp2t`) or subtitles (`text/vtt`).", content_type = "application/vnd.apple.mpegurl", body = String),
        (status = 400, description = "Not a media file, or a stream it does not have.", body = ErrorBody),
        (status = 404, description = "No such torrent, file or segment.", body = ErrorBody),
        (status = 503, description = "ffmpeg is not installed, or every encoder is busy.", body = ErrorBody),
    ))]
pub(crate) async fn h_torrent_hls(
    State(s): State<AppState>,
    PathParams((hash, index, file)): PathParams<(String, usize, String)>,
    QueryParams(p): QueryParams<MediaParams>,
    uri: Uri,
) -> ApiResult<Response> {
    let file_entry = s.node.torrents().file(&hash, index).await?.entry;
    let source = open_torrent(&s, &hash, index).await?;
    hls(&s, source, file_entry, &file, &p, &uri).await
}

/// The subtitle tracks of a stored video: its subtitle streams, and the
/// sidecar files beside it (`movie.srt`, `movie.en.srt`, `movie.fre.ass`).
#[utoipa::path(get, path = "/media/{id}/subtitles", tag = "media", params(EntryId),
    responses(
        (status = 200, description = "Its tracks.", body = Vec<cairn_node::SubtitleTrack>),
        (status = 400, description = "Not a media file ffprobe can read.", body = ErrorBody),
        (status = 404, description = "No such entry, or a folder.", body = ErrorBody),
        (status = 503, description = "ffprobe is not installed.", body = ErrorBody),
    ))]
pub(crate) async fn h_media_subtitles(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    let entry = s.node.entries().entry(&id).await?.entry;
    Ok(Json(s.node.media().subtitles(&entry).await?).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AddSubtitleParams {
    /// The file's format.
    #[param(pattern = r"^(srt|vtt|ass|ssa)$")]
    format: String,
    /// Its language (`en`, `fre`, `pt-BR`), which names the sidecar.
    #[param(pattern = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,4})?$")]
    language: Option<String>,
}

/// Adds a subtitle file for a stored video (the body: SubRip, WebVTT, SSA
/// or ASS, any text encoding): stored beside it as its sidecar, so it is
/// listed with its tracks; one of the same language and format is
/// replaced.
#[utoipa::path(post, path = "/media/{id}/subtitles", tag = "media", params(EntryId, AddSubtitleParams),
    request_body(content = Binary, content_type = "application/octet-stream", description = "The subtitle file's bytes."),
    responses(
        (status = 201, description = "The new track.", body = cairn_node::SubtitleTrack),
        (status = 400, description = "Not subtitles, or a folder.", body = ErrorBody),
        (status = 404, description = "No such entry.", body = ErrorBody),
    ))]
pub(crate) async fn h_add_subtitle(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    QueryParams(p): QueryParams<AddSubtitleParams>,
    body: bytes::Bytes,
) -> ApiResult<Response> {
    let entry = s.node.entries().entry(&id).await?.entry;
    let track = s
        .node
        .media()
        .add_subtitle(&entry, body, &p.format, p.language.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(track)).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(names("track"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct TrackId(#[param(pattern = r"^(s[0-9]{1,4}|f[A-Za-z0-9_-]{11})$")] String);

/// One subtitle track as WebVTT (a text stream extracted with ffmpeg, or a
/// sidecar decoded from its encoding and converted).
#[utoipa::path(get, path = "/media/{id}/subtitles/{track}", tag = "media", params(EntryId, TrackId),
    responses(
        (status = 200, description = "WebVTT.", content_type = "text/vtt", body = String),
        (status = 400, description = "Picture subtitles, or text ffmpeg cannot read.", body = ErrorBody),
        (status = 404, description = "No such entry or track.", body = ErrorBody),
        (status = 503, description = "ffmpeg is not installed.", body = ErrorBody),
    ))]
pub(crate) async fn h_media_subtitle(
    State(s): State<AppState>,
    PathParams((id, track)): PathParams<(String, String)>,
) -> ApiResult<Response> {
    let entry = s.node.entries().entry(&id).await?.entry;
    let vtt = s.node.media().subtitle_vtt(&entry, &track).await?;
    Ok(([(header::CONTENT_TYPE, "text/vtt; charset=utf-8")], vtt).into_response())
}
