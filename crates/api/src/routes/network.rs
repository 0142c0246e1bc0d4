//! The node on the network: status, peers, customers, the DHT, placing
//! and linking blobs, repair, suppliers, nicknames.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathParams, QueryParams};

pub(crate) async fn h_network(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(s.node.network().status().await?).into_response())
}

pub(crate) async fn h_network_peers(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(json!({ "peers": s.node.network().peers().await? })).into_response())
}

pub(crate) async fn h_network_customers(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(json!({ "customers": s.node.network().customers().await? })).into_response())
}

pub(crate) async fn h_network_ping(
    State(s): State<AppState>,
    PathParams(peer): PathParams<String>,
) -> ApiResult<Response> {
    Ok(
        Json(json!({ "peer": peer, "rtt_ms": s.node.network().ping(&peer).await? }))
            .into_response(),
    )
}

pub(crate) async fn h_dht_get(
    State(s): State<AppState>,
    PathParams(key): PathParams<String>,
) -> ApiResult<Response> {
    match s.node.network().dht_get(&key).await? {
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
    s.node.network().dht_put(&key, body.to_vec()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn h_dht_find_node(
    State(s): State<AppState>,
    PathParams(peer): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(json!({ "closest": s.node.network().dht_find_node(&peer).await? })).into_response())
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
    let job = s
        .node
        .network()
        .place(&digest, q.wait.unwrap_or(false))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

pub(crate) async fn h_link(
    State(s): State<AppState>,
    PathParams(digest): PathParams<String>,
) -> ApiResult<Response> {
    Ok(Json(json!({ "link": s.node.blobs().link(&digest).await? })).into_response())
}

pub(crate) async fn h_drop_local(
    State(s): State<AppState>,
    PathParams(digest): PathParams<String>,
) -> ApiResult<Response> {
    let info = s.node.blobs().info(&digest).await?;
    let freed = s.node.network().drop_local(&info.id).await?;
    Ok(Json(json!({ "blob": info.id, "freed": freed })).into_response())
}

pub(crate) async fn h_repair_status(State(s): State<AppState>) -> ApiResult<Response> {
    s.node.network().status().await?;
    Ok(Json(s.node.network().repair_status()).into_response())
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
    let jobs = s
        .node
        .network()
        .change_supplier(position, peer.as_deref())
        .await?;
    Ok(Json(json!({ "position": position, "jobs": jobs })).into_response())
}

pub(crate) async fn h_reject_customer(
    State(s): State<AppState>,
    PathParams(owner): PathParams<String>,
) -> ApiResult<Response> {
    let freed = s.node.network().reject_customer(&owner).await?;
    Ok(Json(json!({ "customer": owner, "freed": freed })).into_response())
}

pub(crate) async fn h_nickname(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
) -> ApiResult<Response> {
    match s.node.network().lookup_nickname(&name).await? {
        Some(peer) => Ok(Json(json!({ "nickname": name, "peer": peer })).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no node calls itself '{name}'"),
        )),
    }
}
