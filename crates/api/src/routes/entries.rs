//! The entry tree: listings, folders, renames and moves, deletes,
//! metadata, an entry's content.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_node::{Entry, EntryInfo, ListQuery, Page, SortKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::EntryId;
use crate::AppState;
use crate::content::{self, Presentation};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};

/// Sort direction.
#[derive(Deserialize, ToSchema, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Order {
    /// Smallest first (the default).
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// The folder listed (its id; the root when absent, empty or `root`).
    parent: Option<String>,
    /// Entries skipped before the page.
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    offset: Option<u64>,
    /// Entries in the page (default 100).
    #[param(minimum = 0, maximum = 1000)]
    limit: Option<u32>,
    /// What the page is sorted by (default `name`).
    #[param(inline)]
    sort: Option<SortKey>,
    /// Sort direction (default `asc`).
    #[param(inline)]
    order: Option<Order>,
}

/// One page of a folder.
#[utoipa::path(get, path = "/entries", tag = "entries", params(ListParams),
    responses(
        (status = 200, description = "The page.", body = Page),
        (status = 404, description = "No such folder.", body = ErrorBody),
    ))]
pub(crate) async fn h_list(
    State(s): State<AppState>,
    QueryParams(p): QueryParams<ListParams>,
) -> ApiResult<Response> {
    let offset = p.offset.unwrap_or(0);
    if i64::try_from(offset).is_err() {
        return Err(ApiError::invalid(format!(
            "offset {offset} is over 9223372036854775807"
        )));
    }
    let q = ListQuery {
        offset,
        limit: p.limit.unwrap_or(100),
        sort: p.sort.unwrap_or_default(),
        descending: matches!(p.order, Some(Order::Desc)),
    };
    let parent = p.parent.filter(|p| !p.is_empty() && p != "root");
    Ok(Json(&*s.node.entries().list(parent, q).await?).into_response())
}

/// A folder to make.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FolderBody {
    /// Its name: 1 to 255 bytes, no `/` nor control character, not `.` or
    /// `..`.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^(?!\s*$)(?!\.\.?$)[^/\u0000-\u001f\u007f-\u009f]+$"
    )]
    name: String,
    /// The folder it goes in (the root when absent).
    parent: Option<String>,
}

/// Makes a folder, or answers the one of that name already there.
#[utoipa::path(post, path = "/folders", tag = "entries", request_body = FolderBody,
    responses(
        (status = 201, description = "The folder.", body = Entry),
        (status = 404, description = "No such parent folder.", body = ErrorBody),
        (status = 409, description = "A file has that name.", body = ErrorBody),
    ))]
pub(crate) async fn h_create_folder(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<FolderBody>,
) -> ApiResult<Response> {
    let entry = s.node.entries().create_folder(b.parent, b.name).await?;
    Ok((StatusCode::CREATED, Json(entry)).into_response())
}

/// An entry with its metadata and its blob's aliases.
#[utoipa::path(get, path = "/entries/{id}", tag = "entries", params(EntryId),
    responses(
        (status = 200, description = "The entry.", body = EntryInfo),
        (status = 404, description = "No such entry.", body = ErrorBody),
    ))]
pub(crate) async fn h_entry(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.entries().entry(&id).await?).into_response())
}

/// The folders from the root down to an entry, the entry last.
#[utoipa::path(get, path = "/entries/{id}/path", tag = "entries", params(EntryId),
    responses(
        (status = 200, description = "The path.", body = Vec<Entry>),
        (status = 404, description = "No such entry.", body = ErrorBody),
    ))]
pub(crate) async fn h_entry_path(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.entries().path(&id).await?).into_response())
}

/// What to change of an entry: at least one of the two.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub(crate) struct EntryChange {
    /// Its new name (`null`: unchanged).
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(
        value_type = Option<String>,
        min_length = 1,
        max_length = 255,
        pattern = r"^(?!\s*$)(?!\.\.?$)[^/\u0000-\u001f\u007f-\u009f]+$"
    )]
    name: Option<Option<String>>,
    /// The folder it moves to (`null`, empty or `root`: the root).
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<String>)]
    parent: Option<Option<String>>,
}

/// `{"name": "…"}` renames, `{"parent": "…"}` moves (`null` moves to the
/// root).
#[utoipa::path(patch, path = "/entries/{id}", tag = "entries", params(EntryId),
    request_body = EntryChange,
    responses(
        (status = 200, description = "The entry as it is now.", body = Entry),
        (status = 404, description = "No such entry or folder.", body = ErrorBody),
        (status = 409, description = "The name is taken there, or the move would put a folder inside itself.", body = ErrorBody),
    ))]
pub(crate) async fn h_update_entry(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(b): JsonBody<EntryChange>,
) -> ApiResult<Response> {
    if b.name.is_none() && b.parent.is_none() {
        return Err(ApiError::invalid(
            "nothing to change: give name and/or parent",
        ));
    }
    let name = b.name.flatten();
    let parent = b.parent.map(|p| p.filter(|p| !p.is_empty() && p != "root"));
    Ok(Json(s.node.entries().update_entry(&id, name, parent).await?).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeleteParams {
    /// Delete a folder with everything in it.
    #[serde(default)]
    recursive: bool,
}

/// What a delete removed.
#[derive(Serialize, ToSchema)]
pub(crate) struct Deleted {
    /// The entry deleted.
    deleted: String,
    /// Blobs no other entry named, removed from the disk.
    blobs_removed: usize,
}

/// Deletes an entry (a folder with something in it only `recursive`).
#[utoipa::path(delete, path = "/entries/{id}", tag = "entries", params(EntryId, DeleteParams),
    responses(
        (status = 200, description = "Deleted.", body = Deleted),
        (status = 404, description = "No such entry.", body = ErrorBody),
        (status = 409, description = "A folder with something in it without `recursive`, or an account's home folder.", body = ErrorBody),
    ))]
pub(crate) async fn h_delete_entry(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    QueryParams(p): QueryParams<DeleteParams>,
) -> ApiResult<Response> {
    let removed = s.node.entries().delete(&id, p.recursive).await?;
    Ok(Json(Deleted {
        deleted: id,
        blobs_removed: removed,
    })
    .into_response())
}

/// An entry's metadata.
#[utoipa::path(get, path = "/entries/{id}/metadata", tag = "entries", params(EntryId),
    responses(
        (status = 200, description = "Its keys and values.", body = BTreeMap<String, String>),
        (status = 404, description = "No such entry.", body = ErrorBody),
    ))]
pub(crate) async fn h_metadata(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.entries().entry(&id).await?.metadata).into_response())
}

/// Metadata changes: a key (1 to 64 of `a-z A-Z 0-9 _ - .`) to a value
/// (a string, number or bool, at most 4096 bytes) sets it; to `null`
/// removes it. An entry holds at most 64 keys. `restricted` is fixed at
/// upload; `price` above 0 needs `restricted`.
#[derive(Deserialize)]
#[serde(transparent)]
pub(crate) struct MetadataChanges(BTreeMap<String, Value>);

impl utoipa::PartialSchema for MetadataChanges {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        let value = ObjectBuilder::new()
            .schema_type(SchemaType::Array(vec![
                Type::String,
                Type::Number,
                Type::Boolean,
                Type::Null,
            ]))
            .max_length(Some(4096));
        let key = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^[A-Za-z0-9_.-]{1,64}$"));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "key → value sets the key, key → null removes it; at most 64 keys",
            ))
            .property_names(Some(key))
            .additional_properties(Some(value))
            .max_properties(Some(64))
            .into()
    }
}

impl ToSchema for MetadataChanges {}

/// `{"key": "value"}` sets, `{"key": null}` removes.
#[utoipa::path(patch, path = "/entries/{id}/metadata", tag = "entries", params(EntryId),
    request_body = MetadataChanges,
    responses(
        (status = 200, description = "The metadata as it is now.", body = BTreeMap<String, String>),
        (status = 404, description = "No such entry.", body = ErrorBody),
    ))]
pub(crate) async fn h_set_metadata(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(MetadataChanges(b)): JsonBody<MetadataChanges>,
) -> ApiResult<Response> {
    let mut changes = BTreeMap::new();
    for (k, v) in b {
        let v = match v {
            Value::Null => None,
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                return Err(ApiError::invalid(format!(
                    "metadata '{k}' must be a string, number, bool or null"
                )));
            }
        };
        changes.insert(k, v);
    }
    Ok(Json(s.node.entries().set_metadata(&id, changes).await?.metadata).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ContentParams {
    /// Answer with `Content-Disposition: attachment` (else `inline`).
    #[serde(default)]
    pub(super) download: bool,
}

/// A file entry's content, with its stored type; `Range`, `If-Range` and
/// `If-None-Match` honoured (the ETag is the blob id).
#[utoipa::path(get, path = "/entries/{id}/content", tag = "entries", params(EntryId, ContentParams),
    responses(
        crate::routes::ContentAnswers,
        (status = 404, description = "No such entry, or a folder (it has no content).", body = ErrorBody),
    ))]
pub(crate) async fn h_entry_content(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    QueryParams(p): QueryParams<ContentParams>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let info = s.node.entries().entry(&id).await?;
    let blob = info.entry.blob.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("'{}' is a folder, it has no content", info.entry.name),
        )
    })?;
    let handle = s.node.blobs().open(&blob).await?;
    let how = Presentation::of_entry(&info.entry, p.download);
    content::respond(&s.node, &method, &headers, handle, how).await
}
