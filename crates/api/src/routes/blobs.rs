//! Blobs by digest: what is known of one, its content.

use cairn_node::ErrorKind;

use super::ContentParams;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::content::{self, Presentation};
use crate::error::ApiResult;
use crate::extract::{PathParams, QueryParams};

pub(crate) async fn h_blob(
    State(s): State<AppState>,
    PathParams(digest): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.blobs().info(&digest).await?).into_response())
}

pub(crate) async fn h_blob_content(
    State(s): State<AppState>,
    PathParams(digest): PathParams<String>,
    QueryParams(p): QueryParams<ContentParams>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    // A blob this node catalogs is presented as its first entry; anything
    // else (a link, a blob known only to the network) as plain bytes.
    let (handle, first) = match s.node.blobs().info(&digest).await {
        Ok(info) => (
            s.node.blobs().open(&info.id).await?,
            info.entries.into_iter().next(),
        ),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidId) => {
            (s.node.blobs().open(&digest).await?, None)
        }
        Err(e) => return Err(e.into()),
    };
    let how = Presentation {
        content_type: first
            .as_ref()
            .and_then(|e| e.content_type.clone())
            .unwrap_or_else(|| "application/octet-stream".into()),
        file_name: first.map(|e| e.name),
        attachment: p.download,
        entry: None,
    };
    content::respond(&s.node, &method, &headers, handle, how).await
}
