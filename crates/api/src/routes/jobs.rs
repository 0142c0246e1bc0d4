//! Jobs: the newest, one, cancelling one.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{PathParams, QueryParams};

#[derive(Deserialize)]
pub(crate) struct JobsParams {
    limit: Option<usize>,
}

pub(crate) async fn h_jobs(
    State(s): State<AppState>,
    QueryParams(p): QueryParams<JobsParams>,
) -> ApiResult<Response> {
    let limit = p.limit.unwrap_or(100).min(1000);
    Ok(Json(s.node.jobs().list(limit).await?).into_response())
}

pub(crate) async fn h_job(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.jobs().get(&id).await?).into_response())
}

pub(crate) async fn h_cancel_job(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    Ok((StatusCode::ACCEPTED, Json(s.node.jobs().cancel(&id)?)).into_response())
}
