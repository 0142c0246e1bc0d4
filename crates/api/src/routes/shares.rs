//! Shares: folders of this node that other identities read from the
//! network (their index and files on this node's suppliers), and the
//! shares other identities granted this node.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_node::shares::{ShareInfo, ShareListing};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::content::{self, Presentation};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};

/// A share's id: 32 lowercase hex digits.
#[derive(IntoParams)]
#[into_params(names("share"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct ShareId(#[param(pattern = r"^[0-9a-f]{32}$")] String);

/// A share to make.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateShareBody {
    /// What people call it (control characters dropped).
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"[^\s\u0000-\u001F\u007F-\u009F]"
    )]
    label: String,
    /// The folder it shows (an entry id of the operator's); a folder
    /// called as the label, at the root, when none.
    #[schema(pattern = r"^[A-Za-z0-9_-]{11}$")]
    folder: Option<String>,
}

/// Makes a share of a folder, with a key of its own; its index goes out
/// to the network (and again whenever the folder changes).
#[utoipa::path(post, path = "/shares", tag = "shares", request_body = CreateShareBody,
    responses(
        (status = 201, description = "The share.", body = ShareInfo),
        (status = 400, description = "No label, or the folder is a file.", body = ErrorBody),
        (status = 403, description = "The folder is a gateway account's.", body = ErrorBody),
        (status = 404, description = "No such folder.", body = ErrorBody),
        (status = 409, description = "No folder given, and a file at the root has the label's name.", body = ErrorBody),
    ))]
pub(crate) async fn h_create_share(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<CreateShareBody>,
) -> ApiResult<Response> {
    let share = s.node.shares().create(&b.label, b.folder).await?;
    Ok((StatusCode::CREATED, Json(share)).into_response())
}

/// Every share this node owns, then those granted to it.
#[utoipa::path(get, path = "/shares", tag = "shares",
    responses((status = 200, description = "The shares.", body = Vec<ShareInfo>)))]
pub(crate) async fn h_shares(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(s.node.shares().list().await?).into_response())
}

/// A share and its files: an own share's folder as it is now, a granted
/// one's index as its owner last published it, read from the network
/// (the owner's node need not be running).
#[utoipa::path(get, path = "/shares/{share}", tag = "shares", params(ShareId),
    responses(
        (status = 200, description = "The share and its files.", body = ShareListing),
        (status = 403, description = "This node's key no longer opens it (revoked, or a new key not yet here).", body = ErrorBody),
        (status = 404, description = "No such share, not published yet, or deleted by its owner.", body = ErrorBody),
        (status = 502, description = "The network could not be asked.", body = ErrorBody),
    ))]
pub(crate) async fn h_share(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.shares().files(&id).await?).into_response())
}

/// Deletes a share: an own share's record says so to its members (the
/// folder and its files stay); a granted one is forgotten here.
#[utoipa::path(delete, path = "/shares/{share}", tag = "shares", params(ShareId),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such share.", body = ErrorBody),
    ))]
pub(crate) async fn h_delete_share(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    s.node.shares().delete(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Whom to grant a share.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantBody {
    /// A peer id, a friend's alias, or a nickname found through the DHT.
    #[schema(min_length = 1, max_length = 128)]
    to: String,
}

/// A grant made.
#[derive(Serialize, ToSchema)]
pub(crate) struct Granted {
    /// The member's peer id.
    peer: String,
    /// Whether it took the share's key already (else it is handed it as
    /// soon as it is back).
    delivered: bool,
}

/// Grants an own share to another identity: it is handed the share's
/// key (sealed to it), now or when it is back.
#[utoipa::path(post, path = "/shares/{share}/members", tag = "shares", params(ShareId), request_body = GrantBody,
    responses(
        (status = 201, description = "A member now.", body = Granted),
        (status = 400, description = "To this node itself, or the network is off.", body = ErrorBody),
        (status = 403, description = "Another identity's share.", body = ErrorBody),
        (status = 404, description = "No such share, or nobody is called that.", body = ErrorBody),
        (status = 502, description = "The DHT could not be asked.", body = ErrorBody),
    ))]
pub(crate) async fn h_grant_share(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(b): JsonBody<GrantBody>,
) -> ApiResult<Response> {
    let (peer, delivered) = s.node.shares().grant(&id, &b.to).await?;
    Ok((StatusCode::CREATED, Json(Granted { peer, delivered })).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct MemberPath {
    /// The share's id.
    #[param(pattern = r"^[0-9a-f]{32}$")]
    share: String,
    /// The member: a peer id, a friend's alias or a nickname.
    #[param(min_length = 1, max_length = 128)]
    who: String,
}

/// Takes a member out of an own share: the share gets a new key, handed
/// to the members left, and what is published next is under it.
#[utoipa::path(delete, path = "/shares/{share}/members/{who}", tag = "shares", params(MemberPath),
    responses(
        (status = 204, description = "Revoked."),
        (status = 403, description = "Another identity's share.", body = ErrorBody),
        (status = 404, description = "No such share or member.", body = ErrorBody),
        (status = 502, description = "The DHT could not be asked.", body = ErrorBody),
    ))]
pub(crate) async fn h_revoke_share(
    State(s): State<AppState>,
    PathParams((id, who)): PathParams<(String, String)>,
) -> ApiResult<Response> {
    s.node.shares().revoke(&id, &who).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ShareFileParams {
    /// The file's path in the share, `/`-separated.
    #[param(min_length = 1, max_length = 4096)]
    path: String,
    /// Answer with `Content-Disposition: attachment` (else `inline`).
    #[serde(default)]
    download: bool,
}

/// A file of a share, read from this disk or the owner's suppliers;
/// `Range`, `If-Range` and `If-None-Match` honoured (the ETag is the blob
/// id).
#[utoipa::path(get, path = "/shares/{share}/content", tag = "shares", params(ShareId, ShareFileParams),
    responses(
        crate::routes::ContentAnswers,
        (status = 403, description = "This node's key no longer opens the share.", body = ErrorBody),
        (status = 404, description = "No such share or file.", body = ErrorBody),
        (status = 502, description = "The network or the suppliers could not be read.", body = ErrorBody),
    ))]
pub(crate) async fn h_share_content(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    QueryParams(p): QueryParams<ShareFileParams>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (handle, file) = s.node.shares().open(&id, &p.path).await?;
    let how = Presentation {
        content_type: file
            .content_type
            .unwrap_or_else(|| "application/octet-stream".into()),
        file_name: file.path.rsplit('/').next().map(str::to_owned),
        attachment: p.download,
        entry: None,
    };
    content::respond(&s.node, &method, &headers, handle, how).await
}

/// A share's file to write out to a folder on the node's machine.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShareExportBody {
    /// The file's path in the share, `/`-separated.
    #[schema(min_length = 1, max_length = 4096)]
    file: String,
    /// An existing folder on the node's machine, under one of
    /// `import_roots`; absent: a new folder in `<data dir>/downloads`.
    #[schema(value_type = Option<String>, pattern = r"^/[^\u0000]*$")]
    folder: Option<std::path::PathBuf>,
    /// Its path below the folder, `/`-separated (sub-folders are made);
    /// absent: the file's own name. No part is empty, `.` or `..`, and
    /// none holds a NUL.
    #[schema(
        min_length = 1,
        max_length = 4096,
        pattern = r"^(?:(?!\.\.?(?:/|$))[^/\u0000]+/)*(?!\.\.?$)[^/\u0000]+$"
    )]
    path: Option<String>,
    /// Answer once the job has ended.
    #[serde(default)]
    wait: bool,
}

/// A share's file written out to a folder on the node's machine, as an
/// `export` job, read from this disk or the owner's suppliers.
#[utoipa::path(post, path = "/shares/{share}/export", tag = "shares", params(ShareId),
    request_body = ShareExportBody,
    responses(
        (status = 202, description = "The job, running.", body = cairn_node::JobRecord),
        (status = 200, description = "The job, ended (with `wait`): its result names the file written.", body = cairn_node::JobRecord),
        (status = 400, description = "A name that cannot be a file's.", body = ErrorBody),
        (status = 403, description = "The folder is outside the import roots, or this node's key no longer opens the share.", body = ErrorBody),
        (status = 404, description = "No such share, file or folder.", body = ErrorBody),
    ))]
pub(crate) async fn h_share_export(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(b): JsonBody<ShareExportBody>,
) -> ApiResult<Response> {
    let to = super::uploads::export_to(b.folder, b.path);
    let job = s.node.shares().export(&id, &b.file, to, b.wait).await?;
    Ok(super::job_answer(job))
}

/// A file of this node to put into a share granted to it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SharePutBody {
    /// Its path in the share, `/`-separated.
    #[schema(min_length = 1, max_length = 4096)]
    path: String,
    /// The file: an entry id of this node's.
    #[schema(pattern = r"^[A-Za-z0-9_-]{11}$")]
    entry: String,
}

/// Where a put went.
#[derive(Serialize, ToSchema)]
pub(crate) struct Put {
    /// The share.
    share: String,
    /// The path asked for.
    path: String,
}

/// Puts a file into a share granted to this node: the share's owner is
/// handed a link to it now and stores it in the share (replacing a file
/// at that path), from where every member reads it.
#[utoipa::path(post, path = "/shares/{share}/files", tag = "shares", params(ShareId),
    request_body = SharePutBody,
    responses(
        (status = 202, description = "Handed to the owner, who stores it.", body = Put),
        (status = 400, description = "An own share, a folder, or not a path.", body = ErrorBody),
        (status = 404, description = "No such share or entry.", body = ErrorBody),
        (status = 409, description = "The share was deleted by its owner.", body = ErrorBody),
        (status = 502, description = "The owner cannot be reached now.", body = ErrorBody),
    ))]
pub(crate) async fn h_share_put(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(b): JsonBody<SharePutBody>,
) -> ApiResult<Response> {
    s.node.shares().put(&id, &b.path, &b.entry).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Put {
            share: id,
            path: b.path,
        }),
    )
        .into_response())
}
