//! Private messages: send one to a peer (by peer id, a friend's alias or
//! a nickname), and list those sent and received.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_node::Message;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, QueryParams};

/// The longest text a message has, in characters (as the document says).
pub(crate) const MAX_TEXT: usize = 16384;

/// A message to send.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SendBody {
    /// The recipient: a peer id, a friend's alias, or a nickname found
    /// through the DHT.
    #[schema(min_length = 1, max_length = 128)]
    to: String,
    /// The text: up to 16384 characters (the node takes up to 64 KiB of
    /// UTF-8).
    #[schema(min_length = 1, max_length = 16384)]
    text: String,
}

/// Sends a private message, signed by this node and sealed to the
/// recipient: `delivered` when the recipient took it now, else `queued`
/// and sent again until it does.
#[utoipa::path(post, path = "/messages", tag = "network", request_body = SendBody,
    responses(
        (status = 201, description = "The message, delivered or queued.", body = Message),
        (status = 400, description = "Empty or too long, to this node itself, or the network is off.", body = ErrorBody),
        (status = 404, description = "No friend or node is called that.", body = ErrorBody),
        (status = 502, description = "The DHT could not be asked.", body = ErrorBody),
    ))]
pub(crate) async fn h_send_message(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<SendBody>,
) -> ApiResult<Response> {
    if b.text.chars().count() > MAX_TEXT {
        return Err(ApiError::invalid(format!(
            "a message has at most {MAX_TEXT} characters"
        )));
    }
    let sent = s.node.messages().send(&b.to, &b.text).await?;
    Ok((StatusCode::CREATED, Json(sent)).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct MessagesParams {
    /// Only the conversation with this peer (peer id, friend's alias or
    /// nickname).
    #[param(min_length = 1, max_length = 128)]
    with: Option<String>,
    /// Only messages numbered after this.
    #[param(minimum = 0, maximum = 9007199254740991_i64)]
    after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// Messages sent and received, oldest first.
#[utoipa::path(get, path = "/messages", tag = "network", params(MessagesParams),
    responses(
        (status = 200, description = "The messages.", body = Vec<Message>),
        (status = 404, description = "No friend or node is called that.", body = ErrorBody),
        (status = 502, description = "The DHT could not be asked.", body = ErrorBody),
    ))]
pub(crate) async fn h_messages(
    State(s): State<AppState>,
    QueryParams(p): QueryParams<MessagesParams>,
) -> ApiResult<Response> {
    let (after, limit) = message_page(p.after, p.limit)?;
    let list = s
        .node
        .messages()
        .list(p.with.as_deref(), after, limit)
        .await?;
    Ok(Json(list).into_response())
}

/// A page of messages as a listing asks for it: after message `after`
/// (default 0, at most 2^53 - 1), at most `limit` (default 100, 1 to
/// 1000); a bound out of range is refused.
pub(crate) fn message_page(after: Option<i64>, limit: Option<u32>) -> Result<(i64, u32), ApiError> {
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid(format!("limit {limit}: give 1 to 1000")));
    }
    let after = after.unwrap_or(0);
    if !(0..=cairn_node::MAX_AMOUNT).contains(&after) {
        return Err(ApiError::invalid("after must be 0 to 9007199254740991"));
    }
    Ok((after, limit))
}
