//! Uploads: raw and multipart bodies, imports of local paths, remote
//! fetches.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::Json;
use axum::extract::State;
use axum::extract::{Multipart, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_node::{EntryInfo, ImportRequest, JobRecord, OnConflict, UploadTarget};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::job_answer;
use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};

/// When an upload's md5, sha1 and sha256 are computed.
#[derive(Deserialize, ToSchema, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Digests {
    /// After the answer, by a background job (the default).
    #[default]
    Background,
    /// Before the answer, which then carries them.
    Wait,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UploadParams {
    /// The file's name (a raw body without one is named `upload`); for a
    /// multipart body, the first file part's name (the others keep
    /// theirs).
    #[param(
        min_length = 1,
        max_length = 255,
        pattern = r"^(?!\s*$)(?!\.\.?$)[^/\u0000-\u001f\u007f-\u009f]+$"
    )]
    name: Option<String>,
    /// The folder it goes in (the root when absent).
    parent: Option<String>,
    /// What to do when the name is taken (default `fail`).
    #[param(inline)]
    on_conflict: Option<OnConflict>,
    /// When md5, sha1 and sha256 are computed (default `background`).
    #[param(inline)]
    digests: Option<Digests>,
    /// `true` makes it a paid file (only at upload can a file become one).
    #[param(pattern = "^(true|false|1|0)$")]
    restricted: Option<String>,
    /// `true` lets the first part of a paid file stream free.
    #[param(pattern = "^(true|false|1|0)$")]
    previewallowed: Option<String>,
    /// Its price in credits (above 0 only with `restricted`; at most 18
    /// digits).
    #[param(pattern = "^[0-9]{1,18}$")]
    price: Option<String>,
}

impl UploadParams {
    /// The paid-file keys given at upload, as the new entry's metadata.
    fn paid_metadata(&self) -> BTreeMap<String, String> {
        [
            ("restricted", &self.restricted),
            ("previewallowed", &self.previewallowed),
            ("price", &self.price),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_owned(), v)))
        .collect()
    }
}

/// A form of files: every part with a file name is stored, in order
/// (other fields are read through and ignored).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct UploadForm {
    /// A file (one part at least).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// What an upload stored.
#[derive(Serialize, ToSchema)]
pub(crate) struct Uploaded {
    /// One entry per file, in the body's order.
    entries: Vec<EntryInfo>,
}

/// A raw body (named by `?name=`, else `upload`) or a multipart/form-data
/// body whose file parts are each stored, sealed as they arrive: a body cut off stores
/// nothing of the file it broke in. `restricted`, `previewallowed` and
/// `price` make it a paid file (only at upload can a file become
/// restricted).
#[utoipa::path(post, path = "/upload", tag = "entries", params(UploadParams),
    request_body(description = "The file's bytes, or a form of file parts.",
        content(
            (crate::routes::Binary = "application/octet-stream"),
            (UploadForm = "multipart/form-data"),
        )),
    responses(
        (status = 201, description = "Stored.", body = Uploaded),
        (status = 400, description = "A form with no file part, or a body cut off.", body = ErrorBody),
        (status = 404, description = "No such folder.", body = ErrorBody),
        (status = 409, description = "The name is taken (with `on_conflict=fail`).", body = ErrorBody),
    ))]
pub(crate) async fn h_upload(
    State(s): State<AppState>,
    QueryParams(p): QueryParams<UploadParams>,
    headers: HeaderMap,
    req: Request,
) -> ApiResult<Response> {
    let conflict = p.on_conflict.unwrap_or_default();
    let wait = matches!(p.digests, Some(Digests::Wait));
    let is_multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let entries = if is_multipart {
        let multipart = <Multipart as axum::extract::FromRequest<AppState>>::from_request(req, &s)
            .await
            .map_err(|e| ApiError::invalid(e.body_text()))?;
        upload_parts(&s, multipart, &p, conflict, wait).await?
    } else {
        // A raw body without a name is named as a browser names one.
        let name = p.name.clone().unwrap_or_else(|| "upload".to_owned());
        let size = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let target = UploadTarget {
            parent: p.parent.clone(),
            name,
            on_conflict: conflict,
            wait_digests: wait,
        };
        let body = req.into_body().into_data_stream();
        vec![
            s.node
                .entries()
                .upload_with_metadata(target, body, size, p.paid_metadata())
                .await?,
        ]
    };
    Ok((StatusCode::CREATED, Json(Uploaded { entries })).into_response())
}

/// Stores each file part of `multipart` in turn. A part commits only once
/// the form has gone on past it in good order, to the next file part's
/// head or to the closing boundary (other fields in between are read
/// through): a form cut off or left without its closing boundary stores
/// nothing of the file it broke in or after, and is a 400 that names the
/// files stored before the break.
async fn upload_parts(
    s: &AppState,
    mut multipart: Multipart,
    p: &UploadParams,
    conflict: OnConflict,
    wait: bool,
) -> ApiResult<Vec<cairn_node::EntryInfo>> {
    let mut out: Vec<cairn_node::EntryInfo> = Vec::new();
    let mut pending: Option<PendingPart> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(field) => field,
            Err(e) => return Err(broke(pending, e.into(), &out).await),
        };
        let Some(mut field) = field else {
            break;
        };
        if field.file_name().is_none() {
            if let Err(e) = drain(&mut field).await {
                return Err(broke(pending, e, &out).await);
            }
            continue;
        }
        // The form went on in good order: the part before may commit.
        if let Some(part) = pending.take() {
            out.push(part.finish(Ok(())).await?);
        }
        let name = field.file_name().unwrap_or("upload").to_owned();
        let target = UploadTarget {
            parent: p.parent.clone(),
            name: p.name.clone().filter(|_| out.is_empty()).unwrap_or(name),
            on_conflict: conflict,
            wait_digests: wait,
        };
        let part = PendingPart::start(s, target, p.paid_metadata());
        if let Err(e) = crate::pumped::pump(&mut field, &part.tx).await {
            return Err(broke(Some(part), e, &out).await);
        }
        pending = Some(part);
    }
    if let Some(part) = pending {
        out.push(part.finish(Ok(())).await?);
    }
    if out.is_empty() {
        return Err(ApiError::invalid("the multipart body has no file part"));
    }
    Ok(out)
}

/// A file part pumped into its upload, which waits for the end marker.
struct PendingPart {
    tx: tokio::sync::mpsc::Sender<crate::pumped::Piece>,
    upload: tokio::task::JoinHandle<Result<cairn_node::EntryInfo, cairn_node::NodeError>>,
}

impl PendingPart {
    /// The part's upload, running beside the handler (the part borrows the
    /// multipart reader, so its bytes reach the upload through a channel).
    fn start(s: &AppState, target: UploadTarget, meta: BTreeMap<String, String>) -> Self {
        let (tx, rx) = crate::pumped::channel();
        let body = crate::pumped::body(rx);
        let node = s.node.clone();
        let upload = tokio::spawn(async move {
            node.entries()
                .upload_with_metadata(target, body, None, meta)
                .await
        });
        Self { tx, upload }
    }

    /// Ends the body (the end marker, or the break) and waits for the
    /// upload: stored, or not.
    async fn finish(
        self,
        after: Result<(), &crate::pumped::BrokenPart>,
    ) -> ApiResult<cairn_node::EntryInfo> {
        crate::pumped::end(&self.tx, after).await;
        drop(self.tx);
        let stored = self.upload.await.map_err(cairn_node::NodeError::from)?;
        Ok(stored?)
    }
}

/// The answer to a form that broke: the part being stored (if any) gets
/// the break and stores nothing; the files stored before are named.
async fn broke(
    pending: Option<PendingPart>,
    b: crate::pumped::BrokenPart,
    out: &[cairn_node::EntryInfo],
) -> ApiError {
    if let Some(part) = pending {
        let _ = part.finish(Err(&b)).await;
    }
    let mut message = b.message;
    if !out.is_empty() {
        let names: Vec<&str> = out.iter().map(|e| e.entry.name.as_str()).collect();
        message.push_str(&format!(" (stored before the break: {})", names.join(", ")));
    }
    ApiError::new(b.status, "upload_aborted", message)
}

/// Reads a field that is not a file through to its end.
async fn drain(
    field: &mut axum::extract::multipart::Field<'_>,
) -> Result<(), crate::pumped::BrokenPart> {
    while field.chunk().await?.is_some() {}
    Ok(())
}

/// A local file or folder to import.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportBody {
    /// Its absolute path on the node's machine, under one of
    /// `import_roots`.
    #[schema(value_type = String, pattern = r"^/[^\u0000]*$")]
    path: PathBuf,
    /// The folder it goes in (the root when absent).
    parent: Option<String>,
    /// What to do when a name is taken (default `fail`).
    #[schema(inline)]
    on_conflict: Option<OnConflict>,
    /// Answer once the job has ended.
    #[serde(default)]
    wait: bool,
}

/// A local file or folder (under `import_roots`), as an `import` job.
#[utoipa::path(post, path = "/import", tag = "entries", request_body = ImportBody,
    responses(
        (status = 202, description = "The job, running.", body = JobRecord),
        (status = 200, description = "The job, ended (with `wait`): its result lists every file.", body = JobRecord),
        (status = 403, description = "The path is outside the import roots.", body = ErrorBody),
        (status = 404, description = "No such path or folder.", body = ErrorBody),
        (status = 422, description = "The path cannot be read.", body = ErrorBody),
    ))]
pub(crate) async fn h_import(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<ImportBody>,
) -> ApiResult<Response> {
    let req = ImportRequest {
        path: b.path,
        parent: b.parent,
        on_conflict: b.on_conflict.unwrap_or_default(),
    };
    Ok(job_answer(s.node.entries().import(req, b.wait).await?))
}

/// Where to write a file out to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportBody {
    /// An existing folder on the node's machine, under one of
    /// `import_roots`; absent: a new folder in `<data dir>/downloads`.
    #[schema(value_type = Option<String>, pattern = r"^/[^\u0000]*$")]
    folder: Option<PathBuf>,
    /// The file's path below the folder, `/`-separated (sub-folders are
    /// made); absent: the file's own name. No part is empty, `.` or `..`, and
    /// none holds a NUL.
    #[schema(
        min_length = 1,
        max_length = 4096,
        pattern = r"^(?:(?!\.\.?(?:/|$))[^/\u0000]+/)*(?!\.\.?$)[^/\u0000]+$"
    )]
    path: Option<String>,
    /// Answer once the job has ended.
    #[serde(default)]
    wait: bool,
}

/// Where an export goes, from the body's `folder` and `path`.
pub(crate) fn export_to(folder: Option<PathBuf>, path: Option<String>) -> cairn_node::ExportTo {
    cairn_node::ExportTo {
        folder,
        path: path
            .map(|p| p.split('/').map(str::to_owned).collect())
            .unwrap_or_default(),
    }
}

/// A file written out to a folder on the node's machine, as an `export`
/// job: read verified from this disk or its suppliers, written to a
/// temporary file and renamed in place once synced.
#[utoipa::path(post, path = "/entries/{id}/export", tag = "entries", params(super::EntryId),
    request_body = ExportBody,
    responses(
        (status = 202, description = "The job, running.", body = JobRecord),
        (status = 200, description = "The job, ended (with `wait`): its result names the file written.", body = JobRecord),
        (status = 400, description = "A name that cannot be a file's.", body = ErrorBody),
        (status = 403, description = "The folder is outside the import roots.", body = ErrorBody),
        (status = 404, description = "No such entry or folder.", body = ErrorBody),
        (status = 409, description = "The entry is a folder.", body = ErrorBody),
    ))]
pub(crate) async fn h_export(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(b): JsonBody<ExportBody>,
) -> ApiResult<Response> {
    let to = export_to(b.folder, b.path);
    Ok(job_answer(s.node.entries().export(&id, to, b.wait).await?))
}

/// A remote file to fetch.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FetchBody {
    /// An http or https URL; its host must resolve to globally reachable
    /// addresses (unless `[remote] allow` lists them).
    #[schema(pattern = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?(/[!-~]*)?$")]
    url: String,
    /// The folder it goes in (the root when absent).
    parent: Option<String>,
    /// Its name (default: from Content-Disposition, else the URL's path).
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^(?!\s*$)(?!\.\.?$)[^/\u0000-\u001f\u007f-\u009f]+$"
    )]
    name: Option<String>,
    /// What to do when the name is taken (default `fail`).
    #[schema(inline)]
    on_conflict: Option<OnConflict>,
    /// Answer once the job has ended.
    #[serde(default)]
    wait: bool,
}

/// A remote http(s) URL, as a `fetch` job.
#[utoipa::path(post, path = "/fetch", tag = "entries", request_body = FetchBody,
    responses(
        (status = 202, description = "The job, running.", body = JobRecord),
        (status = 200, description = "The job, ended (with `wait`).", body = JobRecord),
        (status = 403, description = "The host resolves to an address a fetch may not reach.", body = ErrorBody),
        (status = 404, description = "No such folder.", body = ErrorBody),
    ))]
pub(crate) async fn h_fetch(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<FetchBody>,
) -> ApiResult<Response> {
    let req = cairn_node::FetchRequest {
        url: b.url,
        parent: b.parent,
        name: b.name,
        on_conflict: b.on_conflict.unwrap_or_default(),
    };
    Ok(job_answer(s.node.fetches().start(req, b.wait).await?))
}
