//! The engine's errors as S3's: every [`ErrorKind`] mapped, no catch-all.

use cairn_node::{ErrorKind, NodeError};
use s3s::{S3Error, S3ErrorCode};

/// `e` as S3 answers it. What is not found is named by the caller
/// (`NoSuchKey`, `NoSuchBucket`, `NoSuchUpload`), which knows what it
/// looked for.
pub(crate) fn s3(e: NodeError) -> S3Error {
    let code = match e.kind() {
        ErrorKind::NotFound => S3ErrorCode::NoSuchKey,
        ErrorKind::NameTaken | ErrorKind::Conflict => S3ErrorCode::OperationAborted,
        ErrorKind::Invalid
        | ErrorKind::InvalidId
        | ErrorKind::PathNotFound
        | ErrorKind::PathUnreadable
        | ErrorKind::PathNotAllowed
        | ErrorKind::PathRefused
        | ErrorKind::AddressNotAllowed => S3ErrorCode::InvalidArgument,
        ErrorKind::TooLarge => S3ErrorCode::EntityTooLarge,
        ErrorKind::UploadAborted | ErrorKind::ClientGone | ErrorKind::Cancelled => {
            S3ErrorCode::IncompleteBody
        }
        ErrorKind::StorageExceeded => S3ErrorCode::Custom("QuotaExceeded".into()),
        ErrorKind::TrafficExceeded => S3ErrorCode::Custom("TrafficLimitExceeded".into()),
        ErrorKind::BalanceInsufficient | ErrorKind::PaymentRequired => {
            S3ErrorCode::Custom("PaymentRequired".into())
        }
        ErrorKind::Unauthorized | ErrorKind::Forbidden => S3ErrorCode::AccessDenied,
        ErrorKind::ShuttingDown | ErrorKind::Network | ErrorKind::Unavailable => {
            S3ErrorCode::ServiceUnavailable
        }
        ErrorKind::Corrupt | ErrorKind::DataDirInUse | ErrorKind::Internal => {
            return internal(e);
        }
    };
    let status = match e.kind() {
        ErrorKind::StorageExceeded | ErrorKind::TrafficExceeded => Some(403),
        ErrorKind::BalanceInsufficient | ErrorKind::PaymentRequired => Some(402),
        _ => None,
    };
    let mut err = S3Error::with_message(code, e.to_string());
    if let Some(status) = status.and_then(|s| axum::http::StatusCode::from_u16(s).ok()) {
        err.set_status_code(status);
    }
    err
}

/// `e`, a failure of the node's own, as `InternalError` (logged; the
/// client is told no more than that).
pub(crate) fn internal(e: NodeError) -> S3Error {
    tracing::error!(error = %e, "S3 request failed inside the node");
    S3Error::with_message(S3ErrorCode::InternalError, "the node failed to do this")
}

/// `e`, where not found means `code` (the bucket, the key, the upload).
pub(crate) fn or_missing(code: S3ErrorCode) -> impl FnOnce(NodeError) -> S3Error {
    move |e| {
        if e.kind() == ErrorKind::NotFound {
            S3Error::with_message(code, e.to_string())
        } else {
            s3(e)
        }
    }
}
