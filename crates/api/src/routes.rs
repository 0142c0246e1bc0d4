//! The native `/api/v1` handlers: thin calls into [`Node`](cairn_node::Node)
//! that translate query strings and JSON bodies into its plain structs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Multipart, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_node::{ErrorKind, ImportRequest, ListQuery, OnConflict, SortKey, UploadTarget};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::content::{self, Presentation};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathParams, QueryParams};

pub(crate) async fn h_status(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(s.node.status().await?).into_response())
}

pub(crate) async fn h_shutdown(State(s): State<AppState>) -> Response {
    tracing::info!("shutdown requested over the API");
    s.node.request_shutdown();
    (StatusCode::ACCEPTED, Json(json!({ "stopping": true }))).into_response()
}

pub(crate) async fn h_openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::DOCUMENT,
    )
        .into_response()
}

// ---- uploads ----

#[derive(Deserialize)]
pub(crate) struct UploadParams {
    name: Option<String>,
    parent: Option<String>,
    on_conflict: Option<String>,
    digests: Option<String>,
    restricted: Option<String>,
    previewallowed: Option<String>,
    price: Option<String>,
}

impl UploadParams {
    /// The paid-file keys given at upload, as the new entry's metadata.
    fn paid_metadata(&self) -> BTreeMap<String, String> {
        [
            ("restricted", &self.restricted),
            ("previewallowed", &self.previewallowed),
            ("price", &self.price),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_owned(), v)))
        .collect()
    }
}

fn on_conflict(s: Option<&str>) -> ApiResult<OnConflict> {
    Ok(match s {
        None | Some("fail") => OnConflict::Fail,
        Some("rename") => OnConflict::Rename,
        Some("replace") => OnConflict::Replace,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "on_conflict '{other}' is not one of fail, rename, replace"
            )));
        }
    })
}

fn wait_digests(s: Option<&str>) -> ApiResult<bool> {
    match s {
        None | Some("background") => Ok(false),
        Some("wait") => Ok(true),
        Some(other) => Err(ApiError::invalid(format!(
            "digests '{other}' is not one of background, wait"
        ))),
    }
}

/// `POST /api/v1/upload`: a raw body (`?name=` required) or a
/// multipart/form-data body whose file parts are each stored. `restricted`,
/// `previewallowed` and `price` make it a paid file (only at upload can a
/// file become restricted).
pub(crate) async fn h_upload(
    State(s): State<AppState>,
    QueryParams(p): QueryParams<UploadParams>,
    headers: HeaderMap,
    req: Request,
) -> ApiResult<Response> {
    let conflict = on_conflict(p.on_conflict.as_deref())?;
    let wait = wait_digests(p.digests.as_deref())?;
    let is_multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let entries = if is_multipart {
        let multipart = <Multipart as axum::extract::FromRequest<AppState>>::from_request(req, &s)
            .await
            .map_err(|e| ApiError::invalid(e.body_text()))?;
        upload_parts(&s, multipart, &p, conflict, wait).await?
    } else {
        let name = p
            .name
            .clone()
            .ok_or_else(|| ApiError::invalid("a raw upload needs ?name=<file name>"))?;
        let size = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let target = UploadTarget {
            parent: p.parent.clone(),
            name,
            on_conflict: conflict,
            wait_digests: wait,
        };
        let body = req.into_body().into_data_stream();
        vec![
            s.node
                .upload_with_metadata(target, body, size, p.paid_metadata())
                .await?,
        ]
    };
    Ok((StatusCode::CREATED, Json(json!({ "entries": entries }))).into_response())
}

/// Stores each file part of `multipart` in turn. A part commits only once
/// the form has gone on past it in good order, to the next file part's
/// head or to the closing boundary (other fields in between are read
/// through): a form cut off or left without its closing boundary stores
/// nothing of the file it broke in or after, and is a 400 that names the
/// files stored before the break.
async fn upload_parts(
    s: &AppState,
    mut multipart: Multipart,
    p: &UploadParams,
    conflict: OnConflict,
    wait: bool,
) -> ApiResult<Vec<cairn_node::EntryInfo>> {
    let mut out: Vec<cairn_node::EntryInfo> = Vec::new();
    let mut pending: Option<PendingPart> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(field) => field,
            Err(e) => return Err(broke(pending, e.into(), &out).await),
        };
        let Some(mut field) = field else {
            break;
        };
        if field.file_name().is_none() {
            if let Err(e) = drain(&mut field).await {
                return Err(broke(pending, e, &out).await);
            }
            continue;
        }
        // The form went on in good order: the part before may commit.
        if let Some(part) = pending.take() {
            out.push(part.finish(Ok(())).await?);
        }
        let name = field.file_name().unwrap_or("upload").to_owned();
        let target = UploadTarget {
            parent: p.parent.clone(),
            name: p.name.clone().filter(|_| out.is_empty()).unwrap_or(name),
            on_conflict: conflict,
            wait_digests: wait,
        };
        let part = PendingPart::start(s, target, p.paid_metadata());
        if let Err(e) = crate::pumped::pump(&mut field, &part.tx).await {
            return Err(broke(Some(part), e, &out).await);
        }
        pending = Some(part);
    }
    if let Some(part) = pending {
        out.push(part.finish(Ok(())).await?);
    }
    if out.is_empty() {
        return Err(ApiError::invalid("the multipart body has no file part"));
    }
    Ok(out)
}

/// A file part pumped into its upload, which waits for the end marker.
struct PendingPart {
    tx: tokio::sync::mpsc::Sender<crate::pumped::Piece>,
    upload: tokio::task::JoinHandle<Result<cairn_node::EntryInfo, cairn_node::NodeError>>,
}

impl PendingPart {
    /// The part's upload, running beside the handler (the part borrows the
    /// multipart reader, so its bytes reach the upload through a channel).
    fn start(s: &AppState, target: UploadTarget, meta: BTreeMap<String, String>) -> Self {
        let (tx, rx) = crate::pumped::channel();
        let body = crate::pumped::body(rx);
        let node = s.node.clone();
        let upload =
            tokio::spawn(async move { node.upload_with_metadata(target, body, None, meta).await });
        Self { tx, upload }
    }

    /// Ends the body (the end marker, or the break) and waits for the
    /// upload: stored, or not.
    async fn finish(
        self,
        after: Result<(), &crate::pumped::BrokenPart>,
    ) -> ApiResult<cairn_node::EntryInfo> {
        crate::pumped::end(&self.tx, after).await;
        drop(self.tx);
        let stored = self.upload.await.map_err(cairn_node::NodeError::from)?;
        Ok(stored?)
    }
}

/// The answer to a form that broke: the part being stored (if any) gets
/// the break and stores nothing; the files stored before are named.
async fn broke(
    pending: Option<PendingPart>,
    b: crate::pumped::BrokenPart,
    out: &[cairn_node::EntryInfo],
) -> ApiError {
    if let Some(part) = pending {
        let _ = part.finish(Err(&b)).await;
    }
    let mut message = b.message;
    if !out.is_empty() {
        let names: Vec<&str> = out.iter().map(|e| e.entry.name.as_str()).collect();
        message.push_str(&format!(" (stored before the break: {})", names.join(", ")));
    }
    ApiError::new(b.status, "upload_aborted", message)
}

/// Reads a field that is not a file through to its end.
async fn drain(
    field: &mut axum::extract::multipart::Field<'_>,
) -> Result<(), crate::pumped::BrokenPart> {
    while field.chunk().await?.is_some() {}
    Ok(())
}

#[derive(Deserialize)]
pub(crate) struct ImportBody {
    path: PathBuf,
    parent: Option<String>,
    on_conflict: Option<String>,
    #[serde(default)]
    wait: bool,
}

/// `POST /api/v1/import`: a local file or folder, as a job.
pub(crate) async fn h_import(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<ImportBody>,
) -> ApiResult<Response> {
    let req = ImportRequest {
        path: b.path,
        parent: b.parent,
        on_conflict: on_conflict(b.on_conflict.as_deref())?,
    };
    Ok(job_answer(s.node.import(req, b.wait).await?))
}

/// A job just started (202) or, when waited for, ended (200).
fn job_answer(job: cairn_node::JobRecord) -> Response {
    let status = if job.state == "running" {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    (status, Json(job)).into_response()
}

#[derive(Deserialize)]
pub(crate) struct FetchBody {
    url: String,
    parent: Option<String>,
    name: Option<String>,
    on_conflict: Option<String>,
    #[serde(default)]
    wait: bool,
}

/// `POST /api/v1/fetch`: a remote http(s) URL, as a job.
pub(crate) async fn h_fetch(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<FetchBody>,
) -> ApiResult<Response> {
    let req = cairn_node::FetchRequest {
        url: b.url,
        parent: b.parent,
        name: b.name,
        on_conflict: on_conflict(b.on_conflict.as_deref())?,
    };
    Ok(job_answer(s.node.fetch(req, b.wait).await?))
}

// ---- catalog ----

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
    Ok(Json(s.node.list(parent, q).await?).into_response())
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
    let entry = s.node.create_folder(b.parent, b.name).await?;
    Ok((StatusCode::CREATED, Json(entry)).into_response())
}

pub(crate) async fn h_entry(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.entry(&id).await?).into_response())
}

pub(crate) async fn h_entry_path(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.path(&id).await?).into_response())
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
    Ok(Json(s.node.update_entry(&id, name, parent).await?).into_response())
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
    let removed = s.node.delete(&id, p.recursive).await?;
    Ok(Json(json!({ "deleted": id, "blobs_removed": removed })).into_response())
}

pub(crate) async fn h_metadata(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.entry(&id).await?.metadata).into_response())
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
    Ok(Json(s.node.set_metadata(&id, changes).await?.metadata).into_response())
}

#[derive(Deserialize)]
pub(crate) struct ContentParams {
    #[serde(default)]
    download: bool,
}

pub(crate) async fn h_entry_content(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    QueryParams(p): QueryParams<ContentParams>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let info = s.node.entry(&id).await?;
    let blob = info.entry.blob.clone().ok_or_else(|| {
        ApiError::invalid(format!(
            "'{}' is a folder, it has no content",
            info.entry.name
        ))
    })?;
    let handle = s.node.open_blob(&blob).await?;
    let how = Presentation::of_entry(&info.entry, p.download);
    content::respond(&s.node, &method, &headers, handle, how).await
}

pub(crate) async fn h_blob(
    State(s): State<AppState>,
    PathParams(digest): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.blob_info(&digest).await?).into_response())
}

pub(crate) async fn h_blob_content(
    State(s): State<AppState>,
    PathParams(digest): PathParams<String>,
    QueryParams(p): QueryParams<ContentParams>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    // A blob this node catalogs is presented as its first entry; anything
    // else (a link, a blob known only to the network) as plain bytes.
    let (handle, first) = match s.node.blob_info(&digest).await {
        Ok(info) => (
            s.node.open_blob(&info.id).await?,
            info.entries.into_iter().next(),
        ),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidId) => {
            (s.node.open_blob(&digest).await?, None)
        }
        Err(e) => return Err(e.into()),
    };
    let how = Presentation {
        content_type: first
            .as_ref()
            .and_then(|e| e.content_type.clone())
            .unwrap_or_else(|| "application/octet-stream".into()),
        file_name: first.map(|e| e.name),
        attachment: p.download,
        entry: None,
    };
    content::respond(&s.node, &method, &headers, handle, how).await
}

// ---- jobs ----

#[derive(Deserialize)]
pub(crate) struct JobsParams {
    limit: Option<usize>,
}

pub(crate) async fn h_jobs(
    State(s): State<AppState>,
    QueryParams(p): QueryParams<JobsParams>,
) -> ApiResult<Response> {
    let limit = p.limit.unwrap_or(100).min(1000);
    Ok(Json(s.node.jobs(limit).await?).into_response())
}

pub(crate) async fn h_job(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.job(&id).await?).into_response())
}

pub(crate) async fn h_cancel_job(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    Ok((StatusCode::ACCEPTED, Json(s.node.cancel_job(&id)?)).into_response())
}

pub(crate) async fn h_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        format!("no API call at {}", uri.path()),
    )
}

/// A native call asked with a method it does not take: the documented
/// JSON error (the `Allow` header still lists the methods it does take).
pub(crate) async fn h_method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not take {method}", uri.path()),
    )
}

// ---- accounts (admin) ----

pub(crate) async fn h_create_account(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<cairn_node::NewAccount>,
) -> ApiResult<Response> {
    Ok((StatusCode::CREATED, Json(s.node.create_account(b).await?)).into_response())
}

pub(crate) async fn h_accounts(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(json!({ "accounts": s.node.accounts().await? })).into_response())
}

pub(crate) async fn h_account(
    State(s): State<AppState>,
    PathParams(login): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(s.node.account(&login).await?).into_response())
}

/// Limits to change: a number sets one, `null` lifts it, absent leaves it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsBody {
    #[serde(default, deserialize_with = "present")]
    storage_limit: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    traffic_limit: Option<Option<u64>>,
}

/// A field that is present (maybe `null`); absent fields stay `None`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

pub(crate) async fn h_update_account(
    State(s): State<AppState>,
    PathParams(login): PathParams<String>,
    JsonBody(b): JsonBody<LimitsBody>,
) -> ApiResult<Response> {
    let info = s
        .node
        .set_account_limits(&login, b.storage_limit, b.traffic_limit)
        .await?;
    Ok(Json(info).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DepositBody {
    unit: String,
    /// Read as any JSON, so that a string, a fraction or an exponent is
    /// refused by name rather than by the extractor.
    #[serde(default)]
    amount: Option<Value>,
}

pub(crate) async fn h_account_deposit(
    State(s): State<AppState>,
    PathParams(login): PathParams<String>,
    JsonBody(b): JsonBody<DepositBody>,
) -> ApiResult<Response> {
    let unit = match b.unit.as_str() {
        "credits" => cairn_node::Unit::Credits,
        "bytes" => cairn_node::Unit::Bytes,
        other => {
            return Err(ApiError::invalid(format!(
                "unit '{other}' is not credits or bytes"
            )));
        }
    };
    let amount = crate::amount::positive(b.amount.as_ref())
        .ok_or_else(|| ApiError::invalid(crate::amount::rule("amount")))?;
    Ok(Json(s.node.deposit_to_account(&login, unit, amount).await?).into_response())
}

// ---- network ----

pub(crate) async fn h_network(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(s.node.network_status().await?).into_response())
}

pub(crate) async fn h_network_peers(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(json!({ "peers": s.node.network_peers().await? })).into_response())
}

pub(crate) async fn h_network_customers(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(json!({ "customers": s.node.network_customers().await? })).into_response())
}

pub(crate) async fn h_network_ping(
    State(s): State<AppState>,
    PathParams(peer): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(json!({ "peer": peer, "rtt_ms": s.node.network_ping(&peer).await? })).into_response())
}

pub(crate) async fn h_dht_get(
    State(s): State<AppState>,
    PathParams(key): PathParams<String>,
) -> ApiResult<Response> {
    match s.node.dht_get(&key).await? {
        Some(value) => {
            Ok(([(header::CONTENT_TYPE, "application/octet-stream")], value).into_response())
        }
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no DHT value under '{key}'"),
        )),
    }
}

pub(crate) async fn h_dht_put(
    State(s): State<AppState>,
    PathParams(key): PathParams<String>,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body?;
    s.node.dht_put(&key, body.to_vec()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn h_dht_find_node(
    State(s): State<AppState>,
    PathParams(peer): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(json!({ "closest": s.node.dht_find_node(&peer).await? })).into_response())
}

#[derive(Deserialize)]
pub(crate) struct PlaceParams {
    wait: Option<bool>,
}

pub(crate) async fn h_place(
    State(s): State<AppState>,
    PathParams(digest): PathParams<String>,
    QueryParams(q): QueryParams<PlaceParams>,
) -> ApiResult<Response> {
    let job = s.node.place(&digest, q.wait.unwrap_or(false)).await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

pub(crate) async fn h_link(
    State(s): State<AppState>,
    PathParams(digest): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(json!({ "link": s.node.link(&digest).await? })).into_response())
}

pub(crate) async fn h_drop_local(
    State(s): State<AppState>,
    PathParams(digest): PathParams<String>,
) -> ApiResult<Response> {
    let info = s.node.blob_info(&digest).await?;
    let freed = s.node.drop_local(&info.id).await?;
    Ok(Json(json!({ "blob": info.id, "freed": freed })).into_response())
}

pub(crate) async fn h_repair_status(State(s): State<AppState>) -> ApiResult<Response> {
    s.node.network_status().await?;
    Ok(Json(s.node.repair_status()).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct SupplierBody {
    peer: Option<String>,
}

pub(crate) async fn h_change_supplier(
    State(s): State<AppState>,
    PathParams(position): PathParams<u8>,
    body: Option<JsonBody<SupplierBody>>,
) -> ApiResult<Response> {
    let peer = body.and_then(|JsonBody(b)| b.peer);
    let jobs = s.node.change_supplier(position, peer.as_deref()).await?;
    Ok(Json(json!({ "position": position, "jobs": jobs })).into_response())
}

pub(crate) async fn h_reject_customer(
    State(s): State<AppState>,
    PathParams(owner): PathParams<String>,
) -> ApiResult<Response> {
    let freed = s.node.reject_customer(&owner).await?;
    Ok(Json(json!({ "customer": owner, "freed": freed })).into_response())
}

pub(crate) async fn h_nickname(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
) -> ApiResult<Response> {
    match s.node.lookup_nickname(&name).await? {
        Some(peer) => Ok(Json(json!({ "nickname": name, "peer": peer })).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no node calls itself '{name}'"),
        )),
    }
}
