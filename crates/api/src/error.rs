//! `ApiError`: every failure as a status code and a JSON body
//! `{"code": "...", "message": "..."}` whose code is stable.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_node::NodeError;

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
}

impl ApiError {
    /// An error with an explicit status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with code `invalid`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong API secret: send 'Authorization: Bearer <secret>' or an 'api_secret' header",
        )
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        let code = e.code();
        let status = match code {
            "not_found" | "path_not_found" => StatusCode::NOT_FOUND,
            "name_taken" | "conflict" | "cancelled" => StatusCode::CONFLICT,
            "invalid" | "invalid_id" | "upload_aborted" => StatusCode::BAD_REQUEST,
            "path_not_allowed" | "path_refused" | "address_not_allowed" => StatusCode::FORBIDDEN,
            "path_unreadable" => StatusCode::UNPROCESSABLE_ENTITY,
            "too_large" => StatusCode::PAYLOAD_TOO_LARGE,
            "balance_insufficient" | "payment_required" => StatusCode::PAYMENT_REQUIRED,
            "unauthorized" => StatusCode::UNAUTHORIZED,
            "forbidden" => StatusCode::FORBIDDEN,
            "storage_exceeded" => StatusCode::INSUFFICIENT_STORAGE,
            "traffic_exceeded" => StatusCode::TOO_MANY_REQUESTS,
            "shutting_down" | "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "network" => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(code, error = %e, "request failed");
        }
        Self::new(status, code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code, "message": self.message });
        (self.status, Json(body)).into_response()
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
