//! Blobs by digest: what is known of one, its content.

use cairn_node::ErrorKind;

use super::{ContentParams, Digest, DigestOrLink};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::content::{self, Presentation};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{PathParams, QueryParams};

/// A blob by a digest: its size, aliases and the entries holding it.
#[utoipa::path(get, path = "/blobs/{digest}", tag = "blobs", params(Digest),
    responses(
        (status = 200, description = "The blob.", body = cairn_node::BlobInfo),
        (status = 404, description = "No blob has that digest here.", body = ErrorBody),
    ))]
pub(crate) async fn h_blob(
    State(s): State<AppState>,
    PathParams(digest): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.blobs().info(&digest).await?).into_response())
}

/// A blob's content by a digest or a link, as its first entry's content
/// type (else `application/octet-stream`); a blob this node does not know
/// is read from the network. `Range`, `If-Range` and `If-None-Match`
/// honoured (the ETag is the blob id).
#[utoipa::path(get, path = "/blobs/{digest}/content", tag = "blobs", params(DigestOrLink, ContentParams),
    responses(
        crate::routes::ContentAnswers,
        (status = 403, description = "A private blob of another node, asked without its link's key.", body = ErrorBody),
        (status = 404, description = "No such blob, here or on the network.", body = ErrorBody),
        (status = 502, description = "Its suppliers could not be read.", body = ErrorBody),
    ))]
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
