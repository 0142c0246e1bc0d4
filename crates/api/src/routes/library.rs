//! The library: the operator's watch history (where they stopped in each
//! entry or torrent file they watched).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_node::Watched;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};

/// The operator, as a viewer.
const OPERATOR: &str = "";

#[derive(Deserialize, IntoParams)]
#[into_params(names("subject"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct Subject(
    #[param(pattern = r"^([A-Za-z0-9_-]{11}|torrent:[0-9A-Fa-f]{40}:[0-9]{1,7})$")] String,
);

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryParams {
    /// Items skipped.
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    offset: Option<u64>,
    /// Items in the page (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// What was watched, newest first.
#[utoipa::path(get, path = "/history", tag = "library", params(HistoryParams),
    responses((status = 200, description = "The history.", body = Vec<Watched>)))]
pub(crate) async fn h_history(
    State(s): State<AppState>,
    QueryParams(p): QueryParams<HistoryParams>,
) -> ApiResult<Response> {
    let offset = p.offset.unwrap_or(0);
    if i64::try_from(offset).is_err() {
        return Err(crate::error::ApiError::invalid(format!(
            "offset {offset} is over 9223372036854775807"
        )));
    }
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(crate::error::ApiError::invalid(format!(
            "limit {limit}: give 1 to 1000"
        )));
    }
    let page = s.node.library().history(OPERATOR, offset, limit).await?;
    Ok(Json(page).into_response())
}

/// Where the player is.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WatchedBody {
    /// Seconds from the start.
    #[schema(minimum = 0)]
    position: f64,
    /// The media's duration in seconds, when the player knows it.
    #[schema(exclusive_minimum = 0)]
    duration: Option<f64>,
    /// Watched to the end.
    #[serde(default)]
    ended: bool,
    /// What to call it in the history (a title given once stays).
    #[schema(max_length = 1024)]
    title: Option<String>,
}

/// Records where the player is in an entry or a torrent's file
/// (`torrent:<info hash>:<index>`).
#[utoipa::path(put, path = "/history/{subject}", tag = "library", params(Subject),
    request_body = WatchedBody,
    responses(
        (status = 200, description = "Recorded.", body = Watched),
        (status = 400, description = "Not a time, or not a subject.", body = ErrorBody),
        (status = 404, description = "No such entry.", body = ErrorBody),
    ))]
pub(crate) async fn h_set_watched(
    State(s): State<AppState>,
    PathParams(subject): PathParams<String>,
    JsonBody(b): JsonBody<WatchedBody>,
) -> ApiResult<Response> {
    let watched = s
        .node
        .library()
        .watched(
            OPERATOR,
            &subject,
            b.title.as_deref(),
            b.position,
            b.duration,
            b.ended,
        )
        .await?;
    Ok(Json(watched).into_response())
}

/// Forgets one thing watched.
#[utoipa::path(delete, path = "/history/{subject}", tag = "library", params(Subject),
    responses(
        (status = 204, description = "Forgotten (or never there)."),
        (status = 400, description = "Not a subject.", body = ErrorBody),
    ))]
pub(crate) async fn h_forget_watched(
    State(s): State<AppState>,
    PathParams(subject): PathParams<String>,
) -> ApiResult<Response> {
    s.node.library().forget(OPERATOR, Some(&subject)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
