//! Jobs: the newest, one, cancelling one.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_node::JobRecord;
use serde::Deserialize;
use utoipa::IntoParams;

use super::JobId;

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{PathParams, QueryParams};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct JobsParams {
    /// Jobs in the list (default 100; more than 1000 are given as 1000).
    #[param(minimum = 0, maximum = 4294967295_i64)]
    limit: Option<u32>,
}

/// The newest jobs, running ones first.
#[utoipa::path(get, path = "/jobs", tag = "jobs", params(JobsParams),
    responses((status = 200, description = "The jobs.", body = Vec<JobRecord>)))]
pub(crate) async fn h_jobs(
    State(s): State<AppState>,
    QueryParams(p): QueryParams<JobsParams>,
) -> ApiResult<Response> {
    let limit = p.limit.unwrap_or(100).min(1000) as usize;
    Ok(Json(s.node.jobs().list(limit).await?).into_response())
}

/// A job: running, recently ended, or recorded.
#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs", params(JobId),
    responses(
        (status = 200, description = "The job.", body = JobRecord),
        (status = 404, description = "No such job.", body = ErrorBody),
    ))]
pub(crate) async fn h_job(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.jobs().get(&id).await?).into_response())
}

/// Asks a running job to stop.
#[utoipa::path(post, path = "/jobs/{id}/cancel", tag = "jobs", params(JobId),
    responses(
        (status = 202, description = "Asked to stop.", body = JobRecord),
        (status = 409, description = "The job has ended already.", body = ErrorBody),
        (status = 404, description = "No such job.", body = ErrorBody),
    ))]
pub(crate) async fn h_cancel_job(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    Ok((StatusCode::ACCEPTED, Json(s.node.jobs().cancel(&id)?)).into_response())
}
