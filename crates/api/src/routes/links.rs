//! Share links of entries: made, listed and revoked by the operator;
//! opened by anyone who holds one at `/s/<token>` (see `crate::web`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_node::links::EntryLink;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::EntryId;
use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams};

/// How long a new link lasts.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkBody {
    /// Seconds until it ends (absent or `null`: until revoked).
    #[schema(minimum = 1, maximum = 315360000)]
    expires_in: Option<u64>,
}

/// The longest a link may last before it ends by itself: ten years.
const MAX_TTL: u64 = 10 * 365 * 24 * 3600;

/// A share link of a file: whoever holds it may open, play and download
/// the file (no secret, no account) until it ends or is revoked. Folders
/// and paid files get none.
#[utoipa::path(post, path = "/entries/{id}/links", tag = "links", params(EntryId),
    request_body(content = Option<LinkBody>, description = "Its lifetime (optional)."),
    responses(
        (status = 201, description = "The link.", body = EntryLink),
        (status = 400, description = "A folder, a paid file, or a lifetime out of range.", body = ErrorBody),
        (status = 404, description = "No such entry.", body = ErrorBody),
    ))]
pub(crate) async fn h_create_link(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    body: Option<JsonBody<LinkBody>>,
) -> ApiResult<Response> {
    let ttl = match body.map(|JsonBody(b)| b).unwrap_or_default().expires_in {
        Some(secs) if !(1..=MAX_TTL).contains(&secs) => {
            return Err(ApiError::invalid(format!(
                "expires_in {secs}: give 1 to {MAX_TTL} seconds, or none"
            )));
        }
        Some(secs) => Some(std::time::Duration::from_secs(secs)),
        None => None,
    };
    let link = s.node.links().share_entry(&id, ttl).await?;
    Ok((StatusCode::CREATED, Json(link)).into_response())
}

/// The share links of an entry, ended ones too, newest first.
#[utoipa::path(get, path = "/entries/{id}/links", tag = "links", params(EntryId),
    responses(
        (status = 200, description = "Its links.", body = Vec<EntryLink>),
        (status = 404, description = "No such entry.", body = ErrorBody),
    ))]
pub(crate) async fn h_links(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.links().entry_links(&id).await?).into_response())
}

/// A share link's id.
#[derive(Deserialize, IntoParams)]
#[into_params(names("link"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct LinkId(#[param(pattern = "^[A-Za-z0-9_-]{16}$")] String);

/// Revokes a share link: it opens nothing from now on.
#[utoipa::path(delete, path = "/links/{link}", tag = "links", params(LinkId),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, description = "No such link.", body = ErrorBody),
    ))]
pub(crate) async fn h_revoke_link(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    if s.node.links().revoke_entry_link(&id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no share link {id}"),
        ))
    }
}
