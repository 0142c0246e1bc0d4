//! Keys: the identity's RSA keys besides its Ed25519 one (the master
//! first, made with its first use), made at the size asked, labelled,
//! erased; the private part only when asked for. And the identity: who
//! the node is, and its backup.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_node::keys::KeyInfo;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};

#[derive(Deserialize, IntoParams)]
#[into_params(names("alias"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct KeyAlias(#[param(pattern = r"^[a-z][a-z0-9_-]{2,49}$")] String);

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PrivateParams {
    /// Include the private part (PKCS#1 PEM).
    private: Option<bool>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct KeyParams {
    /// Include the private part (PKCS#1 PEM).
    private: Option<bool>,
    /// The key another identity (this peer id) shared with this node,
    /// rather than this node's own.
    #[param(pattern = r"^(12D3KooW[1-9A-HJ-NP-Za-km-z]{44}|Qm[1-9A-HJ-NP-Za-km-z]{44})$")]
    owner: Option<String>,
}

/// Every key: the master first (made now if it was not), then this node's
/// by alias, then those others shared.
#[utoipa::path(get, path = "/keys", tag = "keys", params(PrivateParams),
    responses((status = 200, description = "The keys.", body = Vec<KeyInfo>)))]
pub(crate) async fn h_keys(
    State(s): State<AppState>,
    QueryParams(p): QueryParams<PrivateParams>,
) -> ApiResult<Response> {
    let keys = s.node.keys().list(p.private.unwrap_or(false)).await?;
    Ok(Json(keys).into_response())
}

/// A new key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKeyBody {
    /// Its alias: 3 to 50 of `a-z 0-9 _ -`, a letter first (upper case is
    /// lowered); not `master`.
    #[schema(pattern = r"^[A-Za-z][A-Za-z0-9_-]{2,49}$")]
    alias: String,
    /// Its size in bits: 1024, 2048 (the default), 3072 or 4096.
    #[schema(minimum = 1024, maximum = 4096, multiple_of = 1024)]
    size: Option<u32>,
    /// What to call it (the alias when none): no control characters.
    #[schema(max_length = 256, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    label: Option<String>,
}

/// Makes an RSA key; the answer holds its private part, once.
#[utoipa::path(post, path = "/keys", tag = "keys", request_body = NewKeyBody,
    responses(
        (status = 201, description = "The key made, with its private part.", body = KeyInfo),
        (status = 400, description = "Not an alias, a size or a label.", body = ErrorBody),
        (status = 409, description = "The alias is taken (or is `master`).", body = ErrorBody),
    ))]
pub(crate) async fn h_create_key(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<NewKeyBody>,
) -> ApiResult<Response> {
    let key = s
        .node
        .keys()
        .create(&b.alias, b.size, b.label.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(key)).into_response())
}

/// One key (`master`: the identity's own; with `owner`, one that peer
/// shared with this node).
#[utoipa::path(get, path = "/keys/{alias}", tag = "keys", params(KeyAlias, KeyParams),
    responses(
        (status = 200, description = "The key.", body = KeyInfo),
        (status = 404, description = "No such key.", body = ErrorBody),
        (status = 409, description = "Its private part was asked for and is not here.", body = ErrorBody),
    ))]
pub(crate) async fn h_key(
    State(s): State<AppState>,
    PathParams(alias): PathParams<String>,
    QueryParams(p): QueryParams<KeyParams>,
) -> ApiResult<Response> {
    let private = p.private.unwrap_or(false);
    let keys = s.node.keys();
    let key = match &p.owner {
        Some(owner) => keys.shared_with_me(owner, &alias, private).await?,
        None => keys.get(&alias, private).await?,
    };
    Ok(Json(key).into_response())
}

/// Whom to share a key with.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShareBody {
    /// A peer id, a friend's alias, or a nickname found through the DHT.
    #[schema(min_length = 1, max_length = 128)]
    to: String,
}

/// Where a key went.
#[derive(Serialize, ToSchema)]
pub(crate) struct Shared {
    /// The key's alias.
    alias: String,
    /// The peer that took it.
    to: String,
}

/// Shares a key, its private part included, with another identity now:
/// sealed to it like a message, and kept there as this node's key of
/// that alias (not the master).
#[utoipa::path(post, path = "/keys/{alias}/share", tag = "keys", params(KeyAlias),
    request_body = ShareBody,
    responses(
        (status = 200, description = "The recipient took it.", body = Shared),
        (status = 400, description = "To this node itself, or the network is off.", body = ErrorBody),
        (status = 404, description = "No such key, or no friend or node called that.", body = ErrorBody),
        (status = 409, description = "The master key, or a key held without its private part.", body = ErrorBody),
        (status = 502, description = "The recipient could not be reached, or refused it.", body = ErrorBody),
    ))]
pub(crate) async fn h_share_key(
    State(s): State<AppState>,
    PathParams(alias): PathParams<String>,
    JsonBody(b): JsonBody<ShareBody>,
) -> ApiResult<Response> {
    let key = s.node.keys().get(&alias, true).await?;
    let to = s.node.messages().share_key(&key, &b.to).await?;
    Ok(Json(Shared {
        alias: key.alias,
        to,
    })
    .into_response())
}

/// Whom to audit, and for which part of the key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditBody {
    /// The holder: a peer id, a friend's alias, or a nickname.
    #[schema(min_length = 1, max_length = 128)]
    holder: String,
    /// Ask it to show the private part (else the public part).
    #[serde(default)]
    private: bool,
    /// The key is one this peer shared with this node (its peer id).
    #[schema(pattern = r"^(12D3KooW[1-9A-HJ-NP-Za-km-z]{44}|Qm[1-9A-HJ-NP-Za-km-z]{44})$")]
    owner: Option<String>,
}

/// What an audit found.
#[derive(Serialize, ToSchema)]
pub(crate) struct Audited {
    /// The key's alias.
    alias: String,
    /// The holder's peer id.
    holder: String,
    /// Whether it showed it holds the part asked for.
    holds: bool,
    /// Which part was asked for: `private` or `public`.
    part: &'static str,
}

/// Audits another identity's hold of a key, now: it proves it holds the
/// private part (a signature over a fresh nonce) or the public part (a
/// hash of it with the nonce) without sending either.
#[utoipa::path(post, path = "/keys/{alias}/audit", tag = "keys", params(KeyAlias),
    request_body = AuditBody,
    responses(
        (status = 200, description = "The holder answered.", body = Audited),
        (status = 400, description = "This node itself, or the network is off.", body = ErrorBody),
        (status = 404, description = "No such key here, nobody called that, or the holder does not have it.", body = ErrorBody),
        (status = 409, description = "A key held here without its private part.", body = ErrorBody),
        (status = 502, description = "The holder could not be reached.", body = ErrorBody),
    ))]
pub(crate) async fn h_audit_key(
    State(s): State<AppState>,
    PathParams(alias): PathParams<String>,
    JsonBody(b): JsonBody<AuditBody>,
) -> ApiResult<Response> {
    let keys = s.node.keys();
    let key = match &b.owner {
        Some(owner) => keys.shared_with_me(owner, &alias, true).await?,
        None => keys.get(&alias, true).await?,
    };
    let (holder, holds) = s
        .node
        .messages()
        .audit_key(&key, &b.holder, b.private)
        .await?;
    Ok(Json(Audited {
        alias: key.alias,
        holder,
        holds,
        part: if b.private { "private" } else { "public" },
    })
    .into_response())
}

/// Erases a key and its private part (not the master).
#[utoipa::path(delete, path = "/keys/{alias}", tag = "keys", params(KeyAlias),
    responses(
        (status = 204, description = "Erased."),
        (status = 404, description = "No such key.", body = ErrorBody),
        (status = 409, description = "The master key.", body = ErrorBody),
    ))]
pub(crate) async fn h_erase_key(
    State(s): State<AppState>,
    PathParams(alias): PathParams<String>,
) -> ApiResult<Response> {
    s.node.keys().erase(&alias).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A key's new label.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LabelBody {
    /// The label: not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    label: String,
}

/// Relabels a key (not the master).
#[utoipa::path(put, path = "/keys/{alias}/label", tag = "keys", params(KeyAlias),
    request_body = LabelBody,
    responses(
        (status = 200, description = "The key relabelled.", body = KeyInfo),
        (status = 400, description = "Not a label.", body = ErrorBody),
        (status = 404, description = "No such key.", body = ErrorBody),
        (status = 409, description = "The master key.", body = ErrorBody),
    ))]
pub(crate) async fn h_label_key(
    State(s): State<AppState>,
    PathParams(alias): PathParams<String>,
    JsonBody(b): JsonBody<LabelBody>,
) -> ApiResult<Response> {
    let key = s.node.keys().label(&alias, &b.label).await?;
    Ok(Json(key).into_response())
}

/// The node's identity.
#[derive(Serialize, ToSchema)]
pub(crate) struct IdentityInfo {
    /// Its peer id (its Ed25519 key's).
    peer_id: String,
    /// The nickname it publishes in the DHT (set at run time, else
    /// `[network] nickname`).
    nickname: Option<String>,
    /// Its RSA master key's public part, OpenSSH form.
    master_key: String,
}

/// Who this node is: its peer id, nickname and RSA master key.
#[utoipa::path(get, path = "/identity", tag = "keys",
    responses((status = 200, description = "The identity.", body = IdentityInfo)))]
pub(crate) async fn h_identity(State(s): State<AppState>) -> ApiResult<Response> {
    identity(&s).await
}

async fn identity(s: &AppState) -> ApiResult<Response> {
    let master = s.node.keys().master(false).await?;
    Ok(Json(IdentityInfo {
        peer_id: s.node.node_id(),
        nickname: s.node.network().nickname(),
        master_key: master.public,
    })
    .into_response())
}

/// The identity's new nickname.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NicknameBody {
    /// 3 to 20 of `a-z 0-9 _ -`, a letter first (upper case is lowered).
    #[schema(pattern = r"^[A-Za-z][A-Za-z0-9_-]{2,19}$")]
    nickname: String,
}

/// Names the node: kept across restarts, and published in the DHT both
/// ways (nickname → peer, peer → nickname), now when it has peers, else
/// with its next records.
#[utoipa::path(put, path = "/identity/nickname", tag = "keys", request_body = NicknameBody,
    responses(
        (status = 200, description = "The identity, named.", body = IdentityInfo),
        (status = 400, description = "Not a nickname.", body = ErrorBody),
    ))]
pub(crate) async fn h_set_nickname(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<NicknameBody>,
) -> ApiResult<Response> {
    s.node.network().set_nickname(&b.nickname).await?;
    identity(&s).await
}

/// Forgets the node's nickname: no longer published (copies other nodes
/// hold expire), the node known by its peer id alone.
#[utoipa::path(delete, path = "/identity/nickname", tag = "keys",
    responses((status = 200, description = "The identity, unnamed.", body = IdentityInfo)))]
pub(crate) async fn h_clear_nickname(State(s): State<AppState>) -> ApiResult<Response> {
    s.node.network().clear_nickname().await?;
    identity(&s).await
}

/// The identity's backup: a text file that makes another machine this
/// node (`cairn id recover`): its Ed25519 seed, convergence secret and RSA
/// master key. Whoever holds it can be this node.
#[utoipa::path(get, path = "/identity/backup", tag = "keys",
    responses((status = 200, description = "The backup file.", content_type = "text/plain", body = String)))]
pub(crate) async fn h_identity_backup(State(s): State<AppState>) -> ApiResult<Response> {
    let text = s.node.identity_backup().await?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response())
}

/// Where the catalog's backups on the suppliers stand: the last one's
/// version and blob, and the changes it does not hold yet.
#[utoipa::path(get, path = "/identity/catalog-backup", tag = "keys",
    responses((status = 200, description = "The backups' state.", body = cairn_node::backup::BackupStatus)))]
pub(crate) async fn h_catalog_backup(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(s.node.backups().status().await?).into_response())
}

/// Backs the catalog up now: an encrypted copy stored on the suppliers,
/// and the identity's record pointing at it published.
#[utoipa::path(post, path = "/identity/catalog-backup", tag = "network",
    responses(
        (status = 200, description = "Made.", body = cairn_node::backup::BackupStatus),
        (status = 400, description = "The network is off.", body = ErrorBody),
        (status = 502, description = "The DHT could not be asked.", body = ErrorBody),
    ))]
pub(crate) async fn h_make_catalog_backup(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(s.node.backups().make().await?).into_response())
}
