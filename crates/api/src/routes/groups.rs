//! Groups: conversations among several identities, each message signed by
//! its sender and sealed under the group's key; members invited and
//! removed by the creator.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_node::Message;
use cairn_node::groups::GroupInfo;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::routes::MAX_TEXT;

/// A group's id: 32 lowercase hex digits.
#[derive(IntoParams)]
#[into_params(names("group"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct GroupId(#[param(pattern = r"^[0-9a-f]{32}$")] String);

/// A group to make.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateGroupBody {
    /// What people call it (control characters dropped).
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"[^\s\u0000-\u001F\u007F-\u009F]"
    )]
    label: String,
}

/// Makes a group, with a key of its own; this node is its creator.
#[utoipa::path(post, path = "/groups", tag = "groups", request_body = CreateGroupBody,
    responses(
        (status = 201, description = "The group.", body = GroupInfo),
        (status = 400, description = "No label.", body = ErrorBody),
    ))]
pub(crate) async fn h_create_group(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<CreateGroupBody>,
) -> ApiResult<Response> {
    let group = s.node.groups().create(&b.label).await?;
    Ok((StatusCode::CREATED, Json(group)).into_response())
}

/// Every group this node is or was in, its own first.
#[utoipa::path(get, path = "/groups", tag = "groups",
    responses((status = 200, description = "The groups.", body = Vec<GroupInfo>)))]
pub(crate) async fn h_groups(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(s.node.groups().list().await?).into_response())
}

/// A group: creator, members, key epoch.
#[utoipa::path(get, path = "/groups/{group}", tag = "groups", params(GroupId),
    responses(
        (status = 200, description = "The group.", body = GroupInfo),
        (status = 404, description = "No such group.", body = ErrorBody),
    ))]
pub(crate) async fn h_group(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.groups().info(&id).await?).into_response())
}

/// Leaves a group and forgets it here (its key with it; its messages
/// stay in the history). A member tells the creator, which removes it
/// (the group gets a new key).
#[utoipa::path(delete, path = "/groups/{group}", tag = "groups", params(GroupId),
    responses(
        (status = 204, description = "Left and forgotten."),
        (status = 404, description = "No such group.", body = ErrorBody),
    ))]
pub(crate) async fn h_leave_group(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    s.node.groups().forget(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Whom to invite.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InviteBody {
    /// A peer id, a friend's alias, or a nickname found through the DHT.
    #[schema(min_length = 1, max_length = 128)]
    to: String,
}

/// An invitation made.
#[derive(Serialize, ToSchema)]
pub(crate) struct Invited {
    /// The member's peer id.
    peer: String,
    /// Whether it took the group already (else it is handed it as soon
    /// as it is back).
    delivered: bool,
}

/// Invites someone into an own group: their node is handed the group
/// (its key sealed to them), now or when back.
#[utoipa::path(post, path = "/groups/{group}/members", tag = "groups", params(GroupId), request_body = InviteBody,
    responses(
        (status = 201, description = "A member now.", body = Invited),
        (status = 400, description = "To this node itself, or the network is off.", body = ErrorBody),
        (status = 403, description = "Another identity's group.", body = ErrorBody),
        (status = 404, description = "No such group, or nobody is called that.", body = ErrorBody),
        (status = 409, description = "The group was left.", body = ErrorBody),
        (status = 502, description = "The DHT could not be asked.", body = ErrorBody),
    ))]
pub(crate) async fn h_invite(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(b): JsonBody<InviteBody>,
) -> ApiResult<Response> {
    let (peer, delivered) = s.node.groups().invite(&id, &b.to).await?;
    Ok((StatusCode::CREATED, Json(Invited { peer, delivered })).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct GroupMemberPath {
    /// The group's id.
    #[param(pattern = r"^[0-9a-f]{32}$")]
    group: String,
    /// The member: a peer id, a friend's alias or a nickname.
    #[param(min_length = 1, max_length = 128)]
    who: String,
}

/// Takes a member out of an own group: the group gets a new key, handed
/// to the members left; what is sent after does not open with the old.
#[utoipa::path(delete, path = "/groups/{group}/members/{who}", tag = "groups", params(GroupMemberPath),
    responses(
        (status = 204, description = "Removed."),
        (status = 403, description = "Another identity's group.", body = ErrorBody),
        (status = 404, description = "No such group or member.", body = ErrorBody),
        (status = 409, description = "The group was left.", body = ErrorBody),
        (status = 502, description = "The DHT could not be asked.", body = ErrorBody),
    ))]
pub(crate) async fn h_remove_member(
    State(s): State<AppState>,
    PathParams((id, who)): PathParams<(String, String)>,
) -> ApiResult<Response> {
    s.node.groups().remove(&id, &who).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A group message to send.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupSendBody {
    /// The text: up to 16384 characters (the node takes up to 64 KiB of
    /// UTF-8).
    #[schema(min_length = 1, max_length = 16384)]
    text: String,
}

/// Sends a message to a group: published to the members there now, and
/// handed to each of the others when they are back.
#[utoipa::path(post, path = "/groups/{group}/messages", tag = "groups", params(GroupId), request_body = GroupSendBody,
    responses(
        (status = 201, description = "The message, as kept (`sent`).", body = Message),
        (status = 400, description = "Empty or too long, or the network is off.", body = ErrorBody),
        (status = 404, description = "No such group.", body = ErrorBody),
        (status = 409, description = "The group was left.", body = ErrorBody),
    ))]
pub(crate) async fn h_send_group(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(b): JsonBody<GroupSendBody>,
) -> ApiResult<Response> {
    if b.text.chars().count() > MAX_TEXT {
        return Err(ApiError::invalid(format!(
            "a message has at most {MAX_TEXT} characters"
        )));
    }
    let sent = s.node.groups().send(&id, &b.text).await?;
    Ok((StatusCode::CREATED, Json(sent)).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct GroupMessagesParams {
    /// Only messages numbered after this.
    #[param(minimum = 0, maximum = 9007199254740991_i64)]
    after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// A group's messages, sent and received, oldest first.
#[utoipa::path(get, path = "/groups/{group}/messages", tag = "groups", params(GroupId, GroupMessagesParams),
    responses(
        (status = 200, description = "The messages.", body = Vec<Message>),
        (status = 404, description = "No such group.", body = ErrorBody),
    ))]
pub(crate) async fn h_group_messages(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    QueryParams(p): QueryParams<GroupMessagesParams>,
) -> ApiResult<Response> {
    let (after, limit) = crate::routes::message_page(p.after, p.limit)?;
    let list = s.node.groups().messages(&id, after, limit).await?;
    Ok(Json(list).into_response())
}
