//! Uploads: raw and multipart bodies, imports of local paths, remote
//! fetches.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::Json;
use axum::extract::State;
use axum::extract::{Multipart, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_node::{ImportRequest, OnConflict, UploadTarget};
use serde::Deserialize;
use serde_json::json;

use super::job_answer;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams};

#[derive(Deserialize)]
pub(crate) struct UploadParams {
    name: Option<String>,
    parent: Option<String>,
    on_conflict: Option<String>,
    digests: Option<String>,
    restricted: Option<String>,
    previewallowed: Option<String>,
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

fn on_conflict(s: Option<&str>) -> ApiResult<OnConflict> {
    Ok(match s {
        None | Some("fail") => OnConflict::Fail,
        Some("rename") => OnConflict::Rename,
        Some("replace") => OnConflict::Replace,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "on_conflict '{other}' is not one of fail, rename, replace"
            )));
        }
    })
}

fn wait_digests(s: Option<&str>) -> ApiResult<bool> {
    match s {
        None | Some("background") => Ok(false),
        Some("wait") => Ok(true),
        Some(other) => Err(ApiError::invalid(format!(
            "digests '{other}' is not one of background, wait"
        ))),
    }
}

/// `POST /api/v1/upload`: a raw body (`?name=` required) or a
/// multipart/form-data body whose file parts are each stored. `restricted`,
/// `previewallowed` and `price` make it a paid file (only at upload can a
/// file become restricted).
pub(crate) async fn h_upload(
    State(s): State<AppState>,
    QueryParams(p): QueryParams<UploadParams>,
    headers: HeaderMap,
    req: Request,
) -> ApiResult<Response> {
    let conflict = on_conflict(p.on_conflict.as_deref())?;
    let wait = wait_digests(p.digests.as_deref())?;
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
        let name = p
            .name
            .clone()
            .ok_or_else(|| ApiError::invalid("a raw upload needs ?name=<file name>"))?;
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
    Ok((StatusCode::CREATED, Json(json!({ "entries": entries }))).into_response())
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

#[derive(Deserialize)]
pub(crate) struct ImportBody {
    path: PathBuf,
    parent: Option<String>,
    on_conflict: Option<String>,
    #[serde(default)]
    wait: bool,
}

/// `POST /api/v1/import`: a local file or folder, as a job.
pub(crate) async fn h_import(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<ImportBody>,
) -> ApiResult<Response> {
    let req = ImportRequest {
        path: b.path,
        parent: b.parent,
        on_conflict: on_conflict(b.on_conflict.as_deref())?,
    };
    Ok(job_answer(s.node.entries().import(req, b.wait).await?))
}

#[derive(Deserialize)]
pub(crate) struct FetchBody {
    url: String,
    parent: Option<String>,
    name: Option<String>,
    on_conflict: Option<String>,
    #[serde(default)]
    wait: bool,
}

/// `POST /api/v1/fetch`: a remote http(s) URL, as a job.
pub(crate) async fn h_fetch(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<FetchBody>,
) -> ApiResult<Response> {
    let req = cairn_node::FetchRequest {
        url: b.url,
        parent: b.parent,
        name: b.name,
        on_conflict: on_conflict(b.on_conflict.as_deref())?,
    };
    Ok(job_answer(s.node.fetches().start(req, b.wait).await?))
}
