//! `ApiError`: every failure as a status code and a JSON body
//! `{"code": "...", "message": "..."}` whose code is stable.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_node::{ErrorKind, NodeError};

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
        let kind = e.kind();
        let status = status_of(kind);
        if status.is_server_error() {
            tracing::error!(code = kind.code(), error = %e, "request failed");
        }
        Self::new(status, kind.code(), e.to_string())
    }
}

/// The native API's status for each kind of failure.
fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound | ErrorKind::PathNotFound => StatusCode::NOT_FOUND,
        ErrorKind::NameTaken | ErrorKind::Conflict | ErrorKind::Cancelled => StatusCode::CONFLICT,
        ErrorKind::Invalid | ErrorKind::InvalidId | ErrorKind::UploadAborted => {
            StatusCode::BAD_REQUEST
        }
        ErrorKind::PathNotAllowed
        | ErrorKind::PathRefused
        | ErrorKind::AddressNotAllowed
        | ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::PathUnreadable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::BalanceInsufficient | ErrorKind::PaymentRequired => StatusCode::PAYMENT_REQUIRED,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::StorageExceeded => StatusCode::INSUFFICIENT_STORAGE,
        ErrorKind::TrafficExceeded => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::ShuttingDown | ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Network => StatusCode::BAD_GATEWAY,
        ErrorKind::Corrupt
        | ErrorKind::ClientGone
        | ErrorKind::DataDirInUse
        | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Every error's body.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// Stable and machine-readable: `not_found`, `name_taken`, `conflict`,
    /// `invalid`, `invalid_id`, `unauthorized`, `forbidden`, `too_large`,
    /// `unsupported_media_type`, `method_not_allowed`, `no_route`,
    /// `payment_required`, `balance_insufficient`, `network`, … (one per
    /// kind of failure the engine knows, and the HTTP layer's own).
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.to_owned(),
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
