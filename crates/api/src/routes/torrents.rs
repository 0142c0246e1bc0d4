//! Torrents: add by magnet, path or `.torrent` bytes, list, pause,
//! resume, select files, remove, and read any file by range while it
//! downloads (from the store once imported).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_node::{AddOptions, TorrentInfo, TorrentSource};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::Binary;
use crate::AppState;
use crate::content::{self, Presentation};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};

#[derive(Deserialize, IntoParams)]
#[into_params(names("hash"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct InfoHash(#[param(pattern = r"^[0-9A-Fa-f]{40}$")] String);

#[derive(Deserialize, IntoParams)]
#[into_params(names("index"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct FileIndex(#[param(minimum = 0, maximum = 1000000)] usize);

/// A torrent to add: a magnet link, or a `.torrent` file on this machine.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddBody {
    /// A magnet link (`x.pe` peers are tried at once) or a 40-hex info hash.
    magnet: Option<String>,
    /// A `.torrent` file under the import roots.
    path: Option<String>,
    /// Only these files (indexes in the torrent).
    #[serde(default, deserialize_with = "crate::extract::whole_indexes_opt")]
    files: Option<Vec<usize>>,
    /// Add it paused.
    #[serde(default)]
    paused: bool,
    /// Peers to try at once (`ip:port`), besides the DHT and trackers.
    #[serde(default)]
    peers: Vec<String>,
}

fn options(files: Option<Vec<usize>>, paused: bool, peers: &[String]) -> ApiResult<AddOptions> {
    let peers = peers
        .iter()
        .map(|p| {
            p.parse()
                .map_err(|_| ApiError::invalid(format!("peer '{p}' is not an ip:port address")))
        })
        .collect::<ApiResult<_>>()?;
    Ok(AddOptions {
        files,
        paused,
        peers,
    })
}

fn added(info: TorrentInfo) -> Response {
    (StatusCode::CREATED, Json(info)).into_response()
}

/// Adds a torrent by magnet link (answered at once, `resolving`, while its
/// metadata is fetched) or by a `.torrent` file under the import roots.
#[utoipa::path(post, path = "/torrents", tag = "torrents", request_body = AddBody,
    responses(
        (status = 201, description = "Added (or already there).", body = TorrentInfo),
        (status = 400, description = "Not a magnet link or a .torrent file.", body = ErrorBody),
        (status = 403, description = "The path is outside the import roots.", body = ErrorBody),
        (status = 404, description = "The path does not exist.", body = ErrorBody),
        (status = 503, description = "Torrents are off.", body = ErrorBody),
    ))]
pub(crate) async fn h_add_torrent(
    State(s): State<AppState>,
    JsonBody(body): JsonBody<AddBody>,
) -> ApiResult<Response> {
    let source = match (body.magnet, body.path) {
        (Some(m), None) => TorrentSource::Magnet(m),
        (None, Some(p)) => TorrentSource::Path(p.into()),
        _ => return Err(ApiError::invalid("give either 'magnet' or 'path'")),
    };
    let options = options(body.files, body.paused, &body.peers)?;
    Ok(added(s.node.torrents().add(source, options).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AddFileParams {
    /// Only these files, comma-separated indexes (`0,2`).
    #[param(pattern = r"^[0-9]{1,7}(,[0-9]{1,7})*$")]
    files: Option<String>,
    /// Add it paused.
    paused: Option<bool>,
}

/// Adds a torrent from the bytes of its `.torrent` file (the body).
#[utoipa::path(post, path = "/torrents/file", tag = "torrents", params(AddFileParams),
    request_body(content = Binary, content_type = "application/octet-stream", description = "The bytes of the .torrent file (any content type, such as application/x-bittorrent)."),
    responses(
        (status = 201, description = "Added (or already there).", body = TorrentInfo),
        (status = 400, description = "Not a .torrent file.", body = ErrorBody),
        (status = 503, description = "Torrents are off.", body = ErrorBody),
    ))]
pub(crate) async fn h_add_torrent_file(
    State(s): State<AppState>,
    QueryParams(p): QueryParams<AddFileParams>,
    body: Bytes,
) -> ApiResult<Response> {
    let files = match p.files.filter(|f| !f.is_empty()) {
        None => None,
        Some(list) => Some(
            list.split(',')
                .map(|i| {
                    i.trim()
                        .parse()
                        .map_err(|_| ApiError::invalid(format!("'{i}' is not a file index")))
                })
                .collect::<ApiResult<Vec<usize>>>()?,
        ),
    };
    let options = options(files, p.paused.unwrap_or(false), &[])?;
    let source = TorrentSource::File(body.to_vec());
    Ok(added(s.node.torrents().add(source, options).await?))
}

/// Every torrent.
#[utoipa::path(get, path = "/torrents", tag = "torrents",
    responses(
        (status = 200, description = "The torrents.", body = Vec<TorrentInfo>),
        (status = 503, description = "Torrents are off.", body = ErrorBody),
    ))]
pub(crate) async fn h_torrents(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(s.node.torrents().list().await?).into_response())
}

/// One torrent: state, progress, speeds, peers, files.
#[utoipa::path(get, path = "/torrents/{hash}", tag = "torrents", params(InfoHash),
    responses(
        (status = 200, description = "The torrent.", body = TorrentInfo),
        (status = 404, description = "No such torrent.", body = ErrorBody),
    ))]
pub(crate) async fn h_torrent(
    State(s): State<AppState>,
    PathParams(hash): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.torrents().info(&hash).await?).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RemoveParams {
    /// Delete the downloaded data too (files imported into the store stay).
    delete_data: Option<bool>,
}

/// Removes a torrent.
#[utoipa::path(delete, path = "/torrents/{hash}", tag = "torrents", params(InfoHash, RemoveParams),
    responses(
        (status = 204, description = "Removed."),
        (status = 404, description = "No such torrent.", body = ErrorBody),
    ))]
pub(crate) async fn h_remove_torrent(
    State(s): State<AppState>,
    PathParams(hash): PathParams<String>,
    QueryParams(p): QueryParams<RemoveParams>,
) -> ApiResult<Response> {
    let delete = p.delete_data.unwrap_or(false);
    s.node.torrents().remove(&hash, delete).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Pauses a torrent.
#[utoipa::path(post, path = "/torrents/{hash}/pause", tag = "torrents", params(InfoHash),
    responses(
        (status = 200, description = "Paused.", body = TorrentInfo),
        (status = 404, description = "No such torrent.", body = ErrorBody),
        (status = 409, description = "It cannot be paused now.", body = ErrorBody),
    ))]
pub(crate) async fn h_pause_torrent(
    State(s): State<AppState>,
    PathParams(hash): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.torrents().pause(&hash).await?).into_response())
}

/// Resumes a paused (or failed) torrent.
#[utoipa::path(post, path = "/torrents/{hash}/resume", tag = "torrents", params(InfoHash),
    responses(
        (status = 200, description = "Resumed.", body = TorrentInfo),
        (status = 404, description = "No such torrent.", body = ErrorBody),
        (status = 409, description = "It cannot be resumed now.", body = ErrorBody),
    ))]
pub(crate) async fn h_resume_torrent(
    State(s): State<AppState>,
    PathParams(hash): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.torrents().resume(&hash).await?).into_response())
}

/// The files to download.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SelectBody {
    /// File indexes.
    #[serde(deserialize_with = "crate::extract::whole_indexes")]
    files: Vec<usize>,
}

/// Downloads only these files from now on.
#[utoipa::path(put, path = "/torrents/{hash}/files", tag = "torrents", params(InfoHash),
    request_body = SelectBody,
    responses(
        (status = 200, description = "Selected.", body = TorrentInfo),
        (status = 404, description = "No such torrent or file.", body = ErrorBody),
        (status = 409, description = "Not now (its data is being checked).", body = ErrorBody),
    ))]
pub(crate) async fn h_select_torrent_files(
    State(s): State<AppState>,
    PathParams(hash): PathParams<String>,
    JsonBody(body): JsonBody<SelectBody>,
) -> ApiResult<Response> {
    Ok(Json(s.node.torrents().select(&hash, &body.files).await?).into_response())
}

/// A torrent's file, with ranges, while it downloads: the pieces a reader
/// needs are fetched first. Once imported, from the store.
#[utoipa::path(get, path = "/torrents/{hash}/files/{index}/content", tag = "torrents",
    params(InfoHash, FileIndex),
    responses(
        crate::routes::ContentAnswers,
        (status = 404, description = "No such torrent or file.", body = ErrorBody),
        (status = 503, description = "Every torrent stream is in use, or the torrent is not ready.", body = ErrorBody),
    ))]
pub(crate) async fn h_torrent_content(
    State(s): State<AppState>,
    PathParams((hash, index)): PathParams<(String, usize)>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    torrent_content(&s, &hash, index, &method, &headers).await
}

/// A torrent's file by range: from the store once imported, else from
/// the torrent as it arrives.
pub(crate) async fn torrent_content(
    s: &AppState,
    hash: &str,
    index: usize,
    method: &Method,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let torrents = s.node.torrents();
    let file = torrents.file(hash, index).await?;
    if let Some(entry) = &file.entry
        && let Some(blob) = &entry.blob
    {
        let handle = s.node.blobs().open(blob).await?;
        let how = Presentation::of_entry(entry, false);
        return content::respond(&s.node, method, headers, handle, how).await;
    }
    let how = Presentation {
        content_type: mime_guess::from_path(&file.name)
            .first_or_octet_stream()
            .to_string(),
        file_name: Some(file.name.clone()),
        attachment: false,
        entry: None,
    };
    let etag = format!("\"{}-{}\"", file.info_hash, file.index);
    content::respond_with(method, headers, file.size, &etag, how, |range| async {
        Ok(torrents.read(&file, range).await?)
    })
    .await
}

/// A download limit to set.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitBody {
    /// Bytes per second, at least 16384; `null` lifts the torrent's own
    /// limit (the node's, `[torrents] download_bps`, stays).
    #[serde(default, deserialize_with = "crate::extract::whole_u64")]
    #[schema(minimum = 16384, maximum = 4294967295_u64)]
    download_bps: Option<u64>,
}

/// Limits how fast one torrent downloads. The torrent is added again
/// (librqbit takes a limit only then): its data is kept and checked, and
/// its streams break off. The limit lasts until the node stops.
#[utoipa::path(put, path = "/torrents/{hash}/limit", tag = "torrents", params(InfoHash),
    request_body = LimitBody,
    responses(
        (status = 200, description = "The torrent, with its limit.", body = TorrentInfo),
        (status = 404, description = "No such torrent.", body = ErrorBody),
        (status = 409, description = "Its metadata has not arrived yet.", body = ErrorBody),
        (status = 503, description = "Torrents are off.", body = ErrorBody),
    ))]
pub(crate) async fn h_limit_torrent(
    State(s): State<AppState>,
    PathParams(hash): PathParams<String>,
    JsonBody(body): JsonBody<LimitBody>,
) -> ApiResult<Response> {
    let bps = body
        .download_bps
        .map(|b| {
            u32::try_from(b)
                .ok()
                .filter(|b| *b >= 16384)
                .ok_or_else(|| ApiError::invalid(format!("download_bps {b}: 16384 to 4294967295")))
        })
        .transpose()?;
    Ok(Json(s.node.torrents().limit(&hash, bps).await?).into_response())
}
