//! The native API's extractors: axum's `Json`, `Query` and `Path`, whose
//! refusals are [`ApiError`]s.
//!
//! axum answers what its extractors refuse in plain text, and a JSON body
//! that parses but does not fit the call's type with 422. The native API
//! documents one error shape, `{"code", "message"}`, for every failure, and
//! answers a field of the wrong type that a handler checks by hand with 400
//! `invalid`; so the same mistake caught by an extractor is answered the
//! same way (RFC 9110 allows 400 for any client error it does not name
//! more precisely). The refusals RFC 9110 names keep their status: a
//! missing or wrong content type (415 `unsupported_media_type`), a body
//! over the limit (413 `too_large`), and the few a WebSocket handshake can
//! meet (405, 426; code `invalid`).

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::StatusCode;

use crate::error::ApiError;

/// A JSON body (`Content-Type: application/json`), refused as an [`ApiError`].
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct JsonBody<T>(pub T);

/// The query string, refused as an [`ApiError`].
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct QueryParams<T>(pub T);

/// The route's path parameters, refused as an [`ApiError`].
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct PathParams<T>(pub T);

/// An optional JSON body: none without a `Content-Type`, else as
/// [`JsonBody`].
impl<T, S> OptionalFromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, ApiError> {
        let json = <axum::Json<T> as OptionalFromRequest<S>>::from_request(req, state).await?;
        Ok(json.map(|axum::Json(value)| Self(value)))
    }
}

/// What an extractor refused, by the status axum gives it.
fn refused(status: StatusCode, what: &str, detail: String) -> ApiError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(status, "too_large", detail),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::new(status, "unsupported_media_type", detail)
        }
        s if s.is_server_error() => {
            // A route and its handler that do not agree: a bug, not input.
            tracing::error!(what, detail, "extractor failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
        }
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
            ApiError::invalid(format!("bad {what}: {detail}"))
        }
        s => ApiError::new(s, "invalid", format!("bad {what}: {detail}")),
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        refused(e.status(), "JSON body", e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        refused(e.status(), "query string", e.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        refused(e.status(), "path", e.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> Self {
        refused(e.status(), "body", e.body_text())
    }
}

impl From<WebSocketUpgradeRejection> for ApiError {
    fn from(e: WebSocketUpgradeRejection) -> Self {
        refused(e.status(), "WebSocket handshake", e.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_the_documented_codes() {
        let cases = [
            (StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST, "invalid"),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                StatusCode::BAD_REQUEST,
                "invalid",
            ),
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
            ),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            ),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
            ),
            (
                StatusCode::UPGRADE_REQUIRED,
                StatusCode::UPGRADE_REQUIRED,
                "invalid",
            ),
        ];
        for (axum_status, status, code) in cases {
            let e = refused(axum_status, "JSON body", "detail".into());
            assert_eq!((e.status, e.code), (status, code), "{axum_status}");
            assert!(e.message.contains("detail"));
        }
    }
}
