//! What a share link opens, for anyone who holds it (no session): the
//! page (`/s/<token>`, the UI's public view), what the page shows
//! (`/s/<token>/info`), and the file with ranges (`/s/<token>/content`).
//! An unknown, forged, expired or revoked link is one 404, all alike.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::content::{self, Presentation};
use crate::error::{ApiError, ApiResult};

fn gone() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "this link does not exist, has expired or was revoked",
    )
}

/// The page: the UI, which shows the shared file.
pub(super) async fn h_shared_page(headers: HeaderMap) -> Response {
    super::assets::page(&headers)
}

/// What a share link's page shows.
#[derive(Serialize)]
struct SharedInfo {
    name: String,
    size: u64,
    content_type: Option<String>,
    modified: i64,
    expires: Option<i64>,
}

pub(super) async fn h_shared_info(
    State(s): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Response> {
    let (link, entry) = s
        .node
        .links()
        .open_entry_link(&token)
        .await?
        .ok_or_else(gone)?;
    Ok(Json(SharedInfo {
        name: entry.name,
        size: entry.size,
        content_type: entry.content_type,
        modified: entry.modified,
        expires: link.expires,
    })
    .into_response())
}

#[derive(Deserialize)]
pub(super) struct SharedContent {
    #[serde(default)]
    download: bool,
}

/// The shared file, with ranges; a fetch from its start counts as an
/// opening of the link.
pub(super) async fn h_shared_content(
    State(s): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<SharedContent>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (link, entry) = s
        .node
        .links()
        .open_entry_link(&token)
        .await?
        .ok_or_else(gone)?;
    let blob = entry.blob.clone().ok_or_else(gone)?;
    let handle = s.node.blobs().open(&blob).await?;
    let from_start = headers
        .get(axum::http::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|r| r.trim().starts_with("bytes=0-"));
    if method == Method::GET && from_start {
        s.node.links().count_entry_link(&link.id).await?;
    }
    let how = Presentation::of_entry(&entry, q.download);
    content::respond(&s.node, &method, &headers, handle, how).await
}
