//! `/healthz` and `/readyz`, for a service manager or a load balancer,
//! with no secret: whether the process answers, and whether the node
//! takes requests (started, its catalog readable, not stopping).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// `200 ok` while the process answers at all.
pub(crate) async fn h_healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// `200 ready` when the node takes requests; `503` with the reason when
/// it is stopping or cannot read its catalog.
pub(crate) async fn h_readyz(State(s): State<AppState>) -> Response {
    if s.node.stopping() {
        return (StatusCode::SERVICE_UNAVAILABLE, "stopping\n").into_response();
    }
    match s.node.status().await {
        Ok(_) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response(),
    }
}
