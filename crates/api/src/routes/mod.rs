//! The native `/api/v1` handlers, split by resource: thin calls into
//! [`Node`](cairn_node::Node) that translate query strings and JSON bodies
//! into its plain structs.

mod accounts;
mod blobs;
mod entries;
mod groups;
mod jobs;
mod keys;
mod library;
mod links;
mod media;
mod messages;
mod network;
mod params;
mod people;
mod playlists;
mod resumable;
mod services;
mod settings;
mod shares;
mod torrents;
mod uploads;

pub(crate) use accounts::*;
pub(crate) use blobs::*;
pub(crate) use entries::*;
pub(crate) use groups::*;
pub(crate) use jobs::*;
pub(crate) use keys::*;
pub(crate) use library::*;
pub(crate) use links::*;
pub(crate) use media::*;
pub(crate) use messages::*;
pub(crate) use network::*;
pub(crate) use params::*;
pub(crate) use people::*;
pub(crate) use playlists::*;
pub(crate) use resumable::*;
pub(crate) use services::*;
pub(crate) use settings::*;
pub(crate) use shares::*;
pub(crate) use torrents::*;
pub(crate) use uploads::*;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// The node: version, id, uptime, storage, counts, running jobs.
#[utoipa::path(get, path = "/status", tag = "node",
    responses((status = 200, description = "The node's status.", body = cairn_node::Status)))]
pub(crate) async fn h_status(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(s.node.status().await?).into_response())
}

/// A shutdown under way.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Stopping {
    /// Always `true`.
    stopping: bool,
}

/// Stops the node: running jobs are cancelled, open transfers end.
#[utoipa::path(post, path = "/node/shutdown", tag = "node",
    responses((status = 202, description = "Stopping.", body = Stopping)))]
pub(crate) async fn h_shutdown(State(s): State<AppState>) -> Response {
    tracing::info!("shutdown requested over the API");
    s.node.request_shutdown();
    (StatusCode::ACCEPTED, Json(Stopping { stopping: true })).into_response()
}

/// A restart under way.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Restarting {
    /// Always `true`.
    restarting: bool,
}

/// Restarts the node: it stops as for a shutdown, then its process runs
/// again with the same arguments (and process id).
#[utoipa::path(post, path = "/node/restart", tag = "node",
    responses((status = 202, description = "Restarting.", body = Restarting)))]
pub(crate) async fn h_restart(State(s): State<AppState>) -> Response {
    tracing::info!("restart requested over the API");
    s.node.request_restart();
    (StatusCode::ACCEPTED, Json(Restarting { restarting: true })).into_response()
}

/// A one-time login link of the web UI.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct LoginLink {
    /// The link's path and query (`/ui/login?token=…`), good once, for
    /// 15 minutes: put the node's address before it.
    path: String,
}

/// A fresh one-time login link for the web UI (what `cairn open` prints).
#[utoipa::path(post, path = "/node/login-link", tag = "node",
    responses((status = 200, description = "The link.", body = LoginLink)))]
pub(crate) async fn h_login_link(State(s): State<AppState>) -> Response {
    let token = s.node.web().login_link();
    Json(LoginLink {
        path: format!("/ui/login?token={token}"),
    })
    .into_response()
}

/// This document (no secret needed).
#[utoipa::path(get, path = "/openapi.json", tag = "node", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json", body = Object)))]
pub(crate) async fn h_openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document(),
    )
        .into_response()
}

/// A job just started (202) or, when waited for, ended (200).
fn job_answer(job: cairn_node::JobRecord) -> Response {
    let status = if job.state == "running" {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    (status, Json(job)).into_response()
}

pub(crate) async fn h_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        format!("no API call at {}", uri.path()),
    )
}

/// A native call asked with a method it does not take: the documented
/// JSON error (the `Allow` header still lists the methods it does take).
pub(crate) async fn h_method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not take {method}", uri.path()),
    )
}
