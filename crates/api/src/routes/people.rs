//! People: the identities seen on the network, and the operator's friends.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_node::{Friend, Seen};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SeenParams {
    /// At most this many (default 1000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u32>,
}

/// The identities seen on the network (from signed nickname records), by
/// nickname.
#[utoipa::path(get, path = "/people", tag = "network", params(SeenParams),
    responses((status = 200, description = "The identities seen.", body = Vec<Seen>)))]
pub(crate) async fn h_people(
    State(s): State<AppState>,
    QueryParams(p): QueryParams<SeenParams>,
) -> ApiResult<Response> {
    let limit = p.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(crate::error::ApiError::invalid(format!(
            "limit {limit}: give 1 to 10000"
        )));
    }
    Ok(Json(s.node.people().identities(limit).await?).into_response())
}

/// Every friend, by alias.
#[utoipa::path(get, path = "/friends", tag = "network",
    responses((status = 200, description = "The friends.", body = Vec<Friend>)))]
pub(crate) async fn h_friends(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(s.node.people().friends().await?).into_response())
}

/// A friend to keep.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FriendBody {
    /// A peer id, or a nickname found through the DHT.
    #[schema(min_length = 1, max_length = 128)]
    who: String,
    /// What to call them (their nickname when none).
    #[schema(max_length = 64, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    alias: Option<String>,
}

/// Keeps a friend (a friend kept already is renamed).
#[utoipa::path(post, path = "/friends", tag = "network", request_body = FriendBody,
    responses(
        (status = 201, description = "The friend.", body = Friend),
        (status = 400, description = "Not an alias, this node itself, or the network is off.", body = ErrorBody),
        (status = 404, description = "No node calls itself that.", body = ErrorBody),
        (status = 409, description = "Another friend has that alias.", body = ErrorBody),
        (status = 502, description = "The DHT could not be asked.", body = ErrorBody),
    ))]
pub(crate) async fn h_add_friend(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<FriendBody>,
) -> ApiResult<Response> {
    let friend = s
        .node
        .people()
        .add_friend(&b.who, b.alias.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(friend)).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(names("who"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct FriendId(#[param(min_length = 1, max_length = 128)] String);

/// Forgets a friend, by peer id or alias.
#[utoipa::path(delete, path = "/friends/{who}", tag = "network", params(FriendId),
    responses(
        (status = 204, description = "Forgotten."),
        (status = 404, description = "No such friend.", body = ErrorBody),
    ))]
pub(crate) async fn h_remove_friend(
    State(s): State<AppState>,
    PathParams(who): PathParams<String>,
) -> ApiResult<Response> {
    s.node.people().remove_friend(&who).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
