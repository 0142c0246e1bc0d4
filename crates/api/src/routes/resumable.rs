//! Resumable uploads over tus 1.0 (<https://tus.io/protocols/resumable-upload>):
//! the core protocol and its `creation`, `creation-with-upload`,
//! `termination` and `expiration` extensions, over the engine's
//! resumable uploads. A client creates an upload with its length and
//! metadata (`POST`), sends bytes from where it stands (`PATCH` with
//! `Upload-Offset`), and after a cut connection asks where that is
//! (`HEAD`) and goes on. The last byte makes the file; `HEAD` and `GET`
//! then name it (`Cairn-Entry`).
//!
//! `Upload-Metadata` keys the node reads: `filename` (or `name`), the
//! file's name; `parent`, the folder's id; `relativePath`, a path whose
//! folders are made under `parent` (a file of a folder upload; its last
//! part is the name when `filename` is absent); `on_conflict` (`rename`,
//! the default, `fail`, refused at creation when the name is taken, or
//! `replace`); and the paid-file keys `restricted`,
//! `previewallowed`, `price`. `filetype` and other keys are ignored.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use cairn_node::{NewResumable, OnConflict, ResumableUpload};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::PathParams;

/// The protocol version spoken.
const TUS_VERSION: &str = "1.0.0";

/// The extensions supported.
const TUS_EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration";

/// The content type of a body of bytes to append.
const OFFSET_STREAM: &str = "application/offset+octet-stream";

/// A resumable upload's id.
#[derive(Deserialize, IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub(crate) struct UploadId(#[param(pattern = "^[0-9a-f]{32}$")] String);

/// The protocol version the request speaks (`Tus-Resumable`).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(crate) struct TusHeaders {
    /// The tus version: `1.0.0`.
    #[param(rename = "Tus-Resumable", pattern = r"^1\.0\.0$")]
    tus_resumable: String,
}

/// What creating an upload takes.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(crate) struct CreateHeaders {
    /// The tus version: `1.0.0`.
    #[param(rename = "Tus-Resumable", pattern = r"^1\.0\.0$")]
    tus_resumable: String,
    /// The file's length in bytes.
    #[param(rename = "Upload-Length", pattern = "^[0-9]{1,19}$")]
    upload_length: String,
    /// Comma-separated `key base64(value)` pairs (see the module's keys).
    #[param(rename = "Upload-Metadata")]
    upload_metadata: Option<String>,
}

/// What an append takes.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(crate) struct AppendHeaders {
    /// The tus version: `1.0.0`.
    #[param(rename = "Tus-Resumable", pattern = r"^1\.0\.0$")]
    tus_resumable: String,
    /// Where the body's bytes go: the upload's offset now.
    #[param(rename = "Upload-Offset", pattern = "^[0-9]{1,19}$")]
    upload_offset: String,
}

/// The protocol's capabilities.
#[utoipa::path(options, path = "/resumable", tag = "resumable",
    responses((status = 204, description = "`Tus-Version`, `Tus-Extension` and `Tus-Max-Size` say what is spoken.")))]
pub(crate) async fn h_resumable_options(State(s): State<AppState>) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert("tus-extension", HeaderValue::from_static(TUS_EXTENSIONS));
    h.insert("tus-max-size", s.node.config().max_upload_bytes.into());
    resp
}

/// Creates an upload (tus `creation`); a body of
/// `application/offset+octet-stream` is its first bytes
/// (`creation-with-upload`).
#[utoipa::path(post, path = "/resumable", tag = "resumable", params(CreateHeaders),
    request_body(description = "The first bytes (optional).", content((crate::routes::Binary = "application/offset+octet-stream"))),
    responses(
        (status = 201, description = "Created: `Location` names it, `Upload-Offset` says how many bytes it took."),
        (status = 400, description = "No `Tus-Resumable`, a missing or malformed `Upload-Length` or `Upload-Metadata`, a bad name.", body = ErrorBody),
        (status = 404, description = "No such folder.", body = ErrorBody),
        (status = 409, description = "A file is where a folder of `relativePath` goes.", body = ErrorBody),
        (status = 412, description = "Another tus version than 1.0.0 (`Tus-Version` says what is spoken).", body = ErrorBody),
        (status = 413, description = "Longer than the node takes (`max_upload_bytes`).", body = ErrorBody),
    ))]
pub(crate) async fn h_create_resumable(
    State(s): State<AppState>,
    headers: HeaderMap,
    req: Request,
) -> ApiResult<Response> {
    check_version(&headers)?;
    let length = number(&headers, "upload-length")?;
    let metadata = parse_metadata(headers.get("upload-metadata"))?;
    let size = content_length(&headers).filter(|_| has_bytes(&headers));
    if size.is_some_and(|n| n > length) {
        return Err(ApiError::invalid(format!(
            "the body goes past Upload-Length ({length} bytes)"
        )));
    }
    let upload = s
        .node
        .entries()
        .begin_resumable(new_upload(length, metadata)?)
        .await?;
    let upload = if has_bytes(&headers) {
        let body = req.into_body().into_data_stream();
        s.node
            .entries()
            .append_resumable(&upload.id, 0, body, size)
            .await?
    } else {
        upload
    };
    let mut resp = described(StatusCode::CREATED.into_response(), &upload);
    let location = format!("/api/v1/resumable/{}", upload.id);
    resp.headers_mut()
        .insert(header::LOCATION, header_value(&location));
    Ok(resp)
}

/// Where an upload stands: `Upload-Offset` is where the next bytes go.
#[utoipa::path(head, path = "/resumable/{id}", tag = "resumable", params(UploadId, TusHeaders),
    responses(
        (status = 200, description = "`Upload-Offset`, `Upload-Length`, `Upload-Expires`, and once finished `Cairn-Entry`."),
        (status = 400, description = "No `Tus-Resumable` (no body, as for any HEAD).", body = ErrorBody),
        (status = 404, description = "No such upload (never, or gone).", body = ErrorBody),
        (status = 412, description = "Another tus version than 1.0.0.", body = ErrorBody),
    ))]
pub(crate) async fn h_head_resumable(
    State(s): State<AppState>,
    PathParams(UploadId(id)): PathParams<UploadId>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    check_version(&headers)?;
    let upload = s.node.entries().resumable(&id).await?;
    Ok(described(StatusCode::OK.into_response(), &upload))
}

/// An upload, as JSON.
#[utoipa::path(get, path = "/resumable/{id}", tag = "resumable", params(UploadId),
    responses(
        (status = 200, description = "The upload.", body = ResumableUpload),
        (status = 404, description = "No such upload.", body = ErrorBody),
    ))]
pub(crate) async fn h_resumable(
    State(s): State<AppState>,
    PathParams(UploadId(id)): PathParams<UploadId>,
) -> ApiResult<Response> {
    let upload = s.node.entries().resumable(&id).await?;
    Ok(described(Json(&upload).into_response(), &upload))
}

/// Appends the body at `Upload-Offset`, which must be where the upload
/// stands. Bytes that arrive are kept even when the body is cut off; the
/// last one makes the file.
#[utoipa::path(patch, path = "/resumable/{id}", tag = "resumable", params(UploadId, AppendHeaders),
    request_body(description = "The next bytes.", content((crate::routes::Binary = "application/offset+octet-stream"))),
    responses(
        (status = 204, description = "Taken: `Upload-Offset` says where the upload stands now."),
        (status = 400, description = "No `Tus-Resumable` or `Upload-Offset`, a body past `Upload-Length`, or a body cut off.", body = ErrorBody),
        (status = 404, description = "No such upload.", body = ErrorBody),
        (status = 409, description = "`Upload-Offset` is not where the upload stands, or another request is sending to it.", body = ErrorBody),
        (status = 412, description = "Another tus version than 1.0.0.", body = ErrorBody),
        (status = 415, description = "The body is not `application/offset+octet-stream`.", body = ErrorBody),
    ))]
pub(crate) async fn h_append_resumable(
    State(s): State<AppState>,
    PathParams(UploadId(id)): PathParams<UploadId>,
    headers: HeaderMap,
    req: Request,
) -> ApiResult<Response> {
    check_version(&headers)?;
    if !has_bytes(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("an append's body is {OFFSET_STREAM}"),
        ));
    }
    let offset = number(&headers, "upload-offset")?;
    let size = content_length(&headers);
    let body = req.into_body().into_data_stream();
    let upload = s
        .node
        .entries()
        .append_resumable(&id, offset, body, size)
        .await?;
    Ok(described(StatusCode::NO_CONTENT.into_response(), &upload))
}

/// Drops an upload and the bytes it holds (tus `termination`); a file it
/// made stays.
#[utoipa::path(delete, path = "/resumable/{id}", tag = "resumable", params(UploadId, TusHeaders),
    responses(
        (status = 204, description = "Dropped."),
        (status = 400, description = "No `Tus-Resumable`.", body = ErrorBody),
        (status = 404, description = "No such upload.", body = ErrorBody),
        (status = 412, description = "Another tus version than 1.0.0.", body = ErrorBody),
    ))]
pub(crate) async fn h_terminate_resumable(
    State(s): State<AppState>,
    PathParams(UploadId(id)): PathParams<UploadId>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    check_version(&headers)?;
    if s.node.entries().terminate_resumable(&id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no resumable upload {id}"),
        ))
    }
}

/// Adds `Tus-Resumable` and `Tus-Version` to every answer of the tus
/// calls (errors too: a 412 says what is spoken).
pub(crate) async fn tus_header(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    resp.headers_mut()
        .insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A request without `Tus-Resumable` is not a tus request (400); one in
/// another version is answered as the protocol says (412).
fn check_version(headers: &HeaderMap) -> ApiResult<()> {
    match headers
        .get("tus-resumable")
        .map(|v| v.to_str().map(str::trim))
    {
        Some(Ok(TUS_VERSION)) => Ok(()),
        None | Some(Ok("")) => Err(ApiError::invalid(format!(
            "a tus request carries Tus-Resumable: {TUS_VERSION}"
        ))),
        Some(_) => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "tus_version",
            format!("this node speaks tus {TUS_VERSION}: send Tus-Resumable: {TUS_VERSION}"),
        )),
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn has_bytes(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(OFFSET_STREAM))
}

/// Header `name` as a byte count.
fn number(headers: &HeaderMap, name: &str) -> ApiResult<u64> {
    let value = headers
        .get(name)
        .ok_or_else(|| ApiError::invalid(format!("{name} is missing")))?;
    value
        .to_str()
        .ok()
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::invalid(format!("{name} is not a number of bytes")))
}

/// `Upload-Metadata`: comma-separated `key base64(value)` pairs (a key
/// alone has an empty value).
fn parse_metadata(value: Option<&HeaderValue>) -> ApiResult<BTreeMap<String, String>> {
    let Some(value) = value else {
        return Ok(BTreeMap::new());
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::invalid("Upload-Metadata is not ASCII"))?;
    let mut out = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, encoded) = pair.split_once(' ').unwrap_or((pair, ""));
        let bad = || ApiError::invalid(format!("Upload-Metadata: '{}' is not base64 UTF-8", key));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        if out.insert(key.to_owned(), text).is_some() {
            return Err(ApiError::invalid(format!(
                "Upload-Metadata names '{key}' twice"
            )));
        }
    }
    Ok(out)
}

/// The upload that `metadata`'s keys describe.
fn new_upload(length: u64, mut metadata: BTreeMap<String, String>) -> ApiResult<NewResumable> {
    let mut folders: Vec<String> = metadata
        .remove("relativePath")
        .map(|p| {
            p.split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let from_path = folders.pop();
    let name = metadata
        .remove("filename")
        .or_else(|| metadata.remove("name"))
        .or(from_path)
        .ok_or_else(|| ApiError::invalid("Upload-Metadata has no filename"))?;
    let on_conflict = match metadata.remove("on_conflict") {
        Some(c) => c
            .parse::<OnConflict>()
            .map_err(|e| ApiError::invalid(e.to_string()))?,
        // An upload is not thrown away at its last byte for its name.
        None => OnConflict::Rename,
    };
    let parent = metadata
        .remove("parent")
        .filter(|p| !p.is_empty() && p != "root");
    let kept = ["restricted", "previewallowed", "price"];
    metadata.retain(|k, _| kept.contains(&k.as_str()));
    Ok(NewResumable {
        parent,
        folders,
        name,
        length,
        metadata,
        on_conflict,
    })
}

/// `resp` with the tus headers that describe `upload`.
fn described(mut resp: Response, upload: &ResumableUpload) -> Response {
    describe(resp.headers_mut(), upload);
    resp
}

/// The tus headers that describe `upload`.
fn describe(h: &mut HeaderMap, upload: &ResumableUpload) {
    h.insert("upload-offset", upload.received.into());
    h.insert("upload-length", upload.length.into());
    let name = base64::engine::general_purpose::STANDARD.encode(upload.name.as_bytes());
    h.insert("upload-metadata", header_value(&format!("filename {name}")));
    let expires =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(upload.expires.max(0) as u64);
    h.insert(
        "upload-expires",
        header_value(&httpdate::fmt_http_date(expires)),
    );
    if let Some(entry) = &upload.entry {
        h.insert("cairn-entry", header_value(entry));
    }
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}
