//! The node's services: its long-running loops, listed, stopped,
//! started and restarted (`node.services()`).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use cairn_node::ServiceInfo;

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::PathParams;
use crate::routes::ServiceName;

/// Every service: the loops that can be stopped, and the parts that run
/// as long as the node (`required`).
#[utoipa::path(get, path = "/services", tag = "services",
    responses((status = 200, description = "The services, in the order they start.", body = Vec<ServiceInfo>)))]
pub(crate) async fn h_services(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(s.node.services().list().await?).into_response())
}

/// One service.
#[utoipa::path(get, path = "/services/{name}", tag = "services", params(ServiceName),
    responses(
        (status = 200, description = "The service.", body = ServiceInfo),
        (status = 404, description = "No service has that name.", body = ErrorBody),
    ))]
pub(crate) async fn h_service(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.services().info(&name).await?).into_response())
}

/// Stops a service (and first the services that need it); it stays
/// stopped, across restarts too, until started.
#[utoipa::path(post, path = "/services/{name}/stop", tag = "services", params(ServiceName),
    responses(
        (status = 200, description = "The service, `OFF` (or `STOPPING` while its round ends).", body = ServiceInfo),
        (status = 400, description = "A required service, which cannot be stopped.", body = ErrorBody),
        (status = 404, description = "No service has that name.", body = ErrorBody),
    ))]
pub(crate) async fn h_stop_service(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.services().stop(&name).await?).into_response())
}

/// Starts a service (kept enabled across restarts), then the enabled
/// services that need it.
#[utoipa::path(post, path = "/services/{name}/start", tag = "services", params(ServiceName),
    responses(
        (status = 200, description = "The service, `ON`.", body = ServiceInfo),
        (status = 400, description = "A required service, or one this node cannot run (the network off).", body = ErrorBody),
        (status = 404, description = "No service has that name.", body = ErrorBody),
        (status = 409, description = "The service is still stopping, or one it needs is not running.", body = ErrorBody),
    ))]
pub(crate) async fn h_start_service(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.services().start(&name).await?).into_response())
}

/// Stops a service and the services that need it, and starts them
/// again; whether it is enabled does not change.
#[utoipa::path(post, path = "/services/{name}/restart", tag = "services", params(ServiceName),
    responses(
        (status = 200, description = "The service, `ON`.", body = ServiceInfo),
        (status = 400, description = "A required service, or one this node cannot run (the network off).", body = ErrorBody),
        (status = 404, description = "No service has that name.", body = ErrorBody),
        (status = 409, description = "The service is disabled or still stopping, or one it needs is not running.", body = ErrorBody),
    ))]
pub(crate) async fn h_restart_service(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.services().restart(&name).await?).into_response())
}
