//! The entry tree: listings, folders, renames and moves, deletes,
//! metadata, an entry's content.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_node::{ListQuery, SortKey};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::content::{self, Presentation};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathParams, QueryParams};

#[derive(Deserialize)]
pub(crate) struct ListParams {
    parent: Option<String>,
    offset: Option<u64>,
    limit: Option<u32>,
    sort: Option<String>,
    order: Option<String>,
}

pub(crate) async fn h_list(
    State(s): State<AppState>,
    QueryParams(p): QueryParams<ListParams>,
) -> ApiResult<Response> {
    let sort = match p.sort.as_deref() {
        None => SortKey::Name,
        Some(k) => SortKey::parse(k).ok_or_else(|| {
            ApiError::invalid(format!(
                "sort '{k}' is not one of name, size, created, modified, downloads"
            ))
        })?,
    };
    let descending = match p.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(o) => return Err(ApiError::invalid(format!("order '{o}' is not asc or desc"))),
    };
    let q = ListQuery {
        offset: p.offset.unwrap_or(0),
        limit: p.limit.unwrap_or(100),
        sort,
        descending,
    };
    let parent = p.parent.filter(|p| !p.is_empty() && p != "root");
    Ok(Json(s.node.entries().list(parent, q).await?).into_response())
}

#[derive(Deserialize)]
pub(crate) struct FolderBody {
    name: String,
    parent: Option<String>,
}

pub(crate) async fn h_create_folder(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<FolderBody>,
) -> ApiResult<Response> {
    let entry = s.node.entries().create_folder(b.parent, b.name).await?;
    Ok((StatusCode::CREATED, Json(entry)).into_response())
}

pub(crate) async fn h_entry(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.entries().entry(&id).await?).into_response())
}

pub(crate) async fn h_entry_path(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.entries().path(&id).await?).into_response())
}

/// `PATCH /api/v1/entries/{id}`: `{"name": "…"}` renames, `{"parent": "…"}`
/// moves (`null` moves to the root).
pub(crate) async fn h_update_entry(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(b): JsonBody<serde_json::Map<String, Value>>,
) -> ApiResult<Response> {
    let name = match b.get("name") {
        None => None,
        Some(Value::String(n)) => Some(n.clone()),
        Some(_) => return Err(ApiError::invalid("name must be a string")),
    };
    let parent = match b.get("parent") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(p)) if p.is_empty() || p == "root" => Some(None),
        Some(Value::String(p)) => Some(Some(p.clone())),
        Some(_) => return Err(ApiError::invalid("parent must be a folder id or null")),
    };
    if name.is_none() && parent.is_none() {
        return Err(ApiError::invalid(
            "nothing to change: give name and/or parent",
        ));
    }
    Ok(Json(s.node.entries().update_entry(&id, name, parent).await?).into_response())
}

#[derive(Deserialize)]
pub(crate) struct DeleteParams {
    #[serde(default)]
    recursive: bool,
}

pub(crate) async fn h_delete_entry(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    QueryParams(p): QueryParams<DeleteParams>,
) -> ApiResult<Response> {
    let removed = s.node.entries().delete(&id, p.recursive).await?;
    Ok(Json(json!({ "deleted": id, "blobs_removed": removed })).into_response())
}

pub(crate) async fn h_metadata(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.entries().entry(&id).await?.metadata).into_response())
}

/// `PATCH /api/v1/entries/{id}/metadata`: `{"key": "value"}` sets,
/// `{"key": null}` removes.
pub(crate) async fn h_set_metadata(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(b): JsonBody<BTreeMap<String, Value>>,
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

#[derive(Deserialize)]
pub(crate) struct ContentParams {
    #[serde(default)]
    pub(super) download: bool,
}

pub(crate) async fn h_entry_content(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    QueryParams(p): QueryParams<ContentParams>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let info = s.node.entries().entry(&id).await?;
    let blob = info.entry.blob.clone().ok_or_else(|| {
        ApiError::invalid(format!(
            "'{}' is a folder, it has no content",
            info.entry.name
        ))
    })?;
    let handle = s.node.blobs().open(&blob).await?;
    let how = Presentation::of_entry(&info.entry, p.download);
    content::respond(&s.node, &method, &headers, handle, how).await
}
