//! The node on the network: status, peers, connections, traffic,
//! customers, the DHT and its local records, reconnecting, placing
//! and linking blobs, repair, suppliers, nicknames.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_node::{JobRecord, NetworkStatus, RepairStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{BlobId, DhtKey, Digest, Nickname, Owner, Peer, Position};
use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};

/// The network: our peer id, addresses, NAT, peers, suppliers, space,
/// lanes.
#[utoipa::path(get, path = "/network", tag = "network",
    responses(
        (status = 200, description = "The network's status.", body = NetworkStatus),
        (status = 400, description = "The network is off.", body = ErrorBody),
    ))]
pub(crate) async fn h_network(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(s.node.network().status().await?).into_response())
}

/// The peers connected now.
#[derive(Serialize, ToSchema)]
pub(crate) struct Peers {
    /// Each with its addresses, agent, protocols and round trip.
    peers: Vec<cairn_node::PeerInfo>,
}

/// The peers connected now.
#[utoipa::path(get, path = "/network/peers", tag = "network",
    responses(
        (status = 200, description = "The peers.", body = Peers),
        (status = 400, description = "The network is off.", body = ErrorBody),
    ))]
pub(crate) async fn h_network_peers(State(s): State<AppState>) -> ApiResult<Response> {
    let peers = s.node.network().peers().await?;
    Ok(Json(Peers { peers }).into_response())
}

/// The customers whose shards this node keeps, and every friend.
#[derive(Serialize, ToSchema)]
pub(crate) struct Customers {
    /// Each one's standing, bytes, allowance, and what it holds for us.
    customers: Vec<cairn_node::CustomerStanding>,
}

/// The customers whose shards this node keeps, and every friend.
#[utoipa::path(get, path = "/network/customers", tag = "network",
    responses(
        (status = 200, description = "The customers.", body = Customers),
        (status = 400, description = "The network is off.", body = ErrorBody),
    ))]
pub(crate) async fn h_network_customers(State(s): State<AppState>) -> ApiResult<Response> {
    let customers = s.node.network().customers().await?;
    Ok(Json(Customers { customers }).into_response())
}

/// A ping's round trip.
#[derive(Serialize, ToSchema)]
pub(crate) struct Pong {
    /// The peer pinged.
    peer: String,
    /// Its round trip, in milliseconds.
    rtt_ms: f64,
}

/// Pings a peer.
#[utoipa::path(post, path = "/network/ping/{peer}", tag = "network", params(Peer),
    responses(
        (status = 200, description = "Its round trip.", body = Pong),
        (status = 400, description = "The network is off.", body = ErrorBody),
        (status = 404, description = "No peer has that id.", body = ErrorBody),
        (status = 502, description = "The peer did not answer.", body = ErrorBody),
    ))]
pub(crate) async fn h_network_ping(
    State(s): State<AppState>,
    PathParams(peer): PathParams<String>,
) -> ApiResult<Response> {
    let rtt_ms = s.node.network().ping(&peer).await?;
    Ok(Json(Pong { peer, rtt_ms }).into_response())
}

/// A value from the DHT.
#[utoipa::path(get, path = "/network/dht/{key}", tag = "network", params(DhtKey),
    responses(
        (status = 200, description = "The value's bytes.", content_type = "application/octet-stream", body = crate::routes::Binary),
        (status = 400, description = "The network is off.", body = ErrorBody),
        (status = 404, description = "No value under that key.", body = ErrorBody),
        (status = 502, description = "The DHT could not be asked.", body = ErrorBody),
    ))]
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

/// Stores a value in the DHT.
#[utoipa::path(put, path = "/network/dht/{key}", tag = "network", params(DhtKey),
    request_body(content = crate::routes::Binary, content_type = "application/octet-stream", description = "The value's bytes."),
    responses(
        (status = 204, description = "Stored."),
        (status = 400, description = "The network is off.", body = ErrorBody),
        (status = 502, description = "The DHT did not take it.", body = ErrorBody),
    ))]
pub(crate) async fn h_dht_put(
    State(s): State<AppState>,
    PathParams(key): PathParams<String>,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body?;
    s.node.network().dht_put(&key, body.to_vec()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The peers closest to a peer in the DHT.
#[derive(Serialize, ToSchema)]
pub(crate) struct Closest {
    /// Their peer ids, closest first.
    closest: Vec<String>,
}

/// The peers closest to a peer in the DHT.
#[utoipa::path(get, path = "/network/find/{peer}", tag = "network", params(Peer),
    responses(
        (status = 200, description = "The closest peers.", body = Closest),
        (status = 400, description = "The network is off.", body = ErrorBody),
        (status = 404, description = "No peer has that id.", body = ErrorBody),
        (status = 502, description = "The DHT could not be asked.", body = ErrorBody),
    ))]
pub(crate) async fn h_dht_find_node(
    State(s): State<AppState>,
    PathParams(peer): PathParams<String>,
) -> ApiResult<Response> {
    let closest = s.node.network().dht_find_node(&peer).await?;
    Ok(Json(Closest { closest }).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PlaceParams {
    /// Answer once the job has ended.
    wait: Option<bool>,
}

/// Places a blob on suppliers, as a `place` job.
#[utoipa::path(post, path = "/blobs/{digest}/place", tag = "network", params(BlobId, PlaceParams),
    responses(
        (status = 202, description = "The job (ended, with `wait`).", body = JobRecord),
        (status = 400, description = "Not a blob id, or the network is off.", body = ErrorBody),
        (status = 404, description = "No such blob.", body = ErrorBody),
    ))]
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

/// A link any node reads a blob by.
#[derive(Serialize, ToSchema)]
pub(crate) struct Link {
    /// `<BLAKE3 id>.<read key>`.
    link: String,
}

/// A link to a blob that any node can read it by (its key decrypts it).
#[utoipa::path(get, path = "/blobs/{digest}/link", tag = "blobs", params(Digest),
    responses(
        (status = 200, description = "The link.", body = Link),
        (status = 404, description = "No such blob.", body = ErrorBody),
    ))]
pub(crate) async fn h_link(
    State(s): State<AppState>,
    PathParams(digest): PathParams<String>,
) -> ApiResult<Response> {
    let link = s.node.blobs().link(&digest).await?;
    Ok(Json(Link { link }).into_response())
}

/// What dropping a local copy freed.
#[derive(Serialize, ToSchema)]
pub(crate) struct Dropped {
    /// The blob.
    blob: String,
    /// Bytes freed on this disk.
    freed: u64,
}

/// Removes a placed blob's local copy: reads then come from its suppliers.
#[utoipa::path(post, path = "/blobs/{digest}/drop-local", tag = "network", params(Digest),
    responses(
        (status = 200, description = "Dropped.", body = Dropped),
        (status = 400, description = "The blob is not placed: its local copy is its only one.", body = ErrorBody),
        (status = 404, description = "No such blob.", body = ErrorBody),
    ))]
pub(crate) async fn h_drop_local(
    State(s): State<AppState>,
    PathParams(digest): PathParams<String>,
) -> ApiResult<Response> {
    let info = s.node.blobs().info(&digest).await?;
    let freed = s.node.network().drop_local(&info.id).await?;
    Ok(Json(Dropped {
        blob: info.id,
        freed,
    })
    .into_response())
}

/// The last audit round.
#[utoipa::path(get, path = "/network/repair", tag = "network",
    responses(
        (status = 200, description = "What it found.", body = RepairStatus),
        (status = 400, description = "The network is off.", body = ErrorBody),
    ))]
pub(crate) async fn h_repair_status(State(s): State<AppState>) -> ApiResult<Response> {
    s.node.network().status().await?;
    Ok(Json(s.node.network().repair_status()).into_response())
}

/// Who takes a position.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SupplierBody {
    /// The new supplier's peer id (else a connected peer with room).
    #[schema(pattern = r"^(12D3KooW[1-9A-HJ-NP-Za-km-z]{44}|Qm[1-9A-HJ-NP-Za-km-z]{44})$")]
    peer: Option<String>,
}

/// A position's new supplier and the repairs that moved its shards.
#[derive(Serialize, ToSchema)]
pub(crate) struct SupplierChanged {
    /// The position.
    position: u8,
    /// One repair job per placed blob.
    jobs: Vec<JobRecord>,
}

/// Gives a supplier position to another peer; every placed blob's shard
/// there is rebuilt on it.
#[utoipa::path(post, path = "/network/suppliers/{position}", tag = "network", params(Position),
    request_body(content = Option<SupplierBody>, description = "Optional: without a body, a connected peer with room is chosen."),
    responses(
        (status = 200, description = "The repairs.", body = SupplierChanged),
        (status = 400, description = "No such position, or the network is off.", body = ErrorBody),
        (status = 404, description = "No peer has that id.", body = ErrorBody),
        (status = 502, description = "The new supplier failed.", body = ErrorBody),
    ))]
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
    Ok(Json(SupplierChanged { position, jobs }).into_response())
}

/// What rejecting a customer freed.
#[derive(Serialize, ToSchema)]
pub(crate) struct Rejected {
    /// The customer.
    customer: String,
    /// Bytes of its shards deleted.
    freed: u64,
}

/// Rejects a customer: its shards here are deleted and it may store
/// nothing more.
#[utoipa::path(post, path = "/network/customers/{owner}/reject", tag = "network", params(Owner),
    responses(
        (status = 200, description = "Rejected.", body = Rejected),
        (status = 400, description = "Not a customer id, or the network is off.", body = ErrorBody),
    ))]
pub(crate) async fn h_reject_customer(
    State(s): State<AppState>,
    PathParams(owner): PathParams<String>,
) -> ApiResult<Response> {
    let freed = s.node.network().reject_customer(&owner).await?;
    Ok(Json(Rejected {
        customer: owner,
        freed,
    })
    .into_response())
}

/// The peer a nickname names.
#[derive(Serialize, ToSchema)]
pub(crate) struct NickPeer {
    /// The nickname.
    nickname: String,
    /// The peer id that signed it.
    peer: String,
}

/// The peer a nickname names, from the DHT (only a record signed by that
/// peer counts).
#[utoipa::path(get, path = "/network/nick/{name}", tag = "network", params(Nickname),
    responses(
        (status = 200, description = "The peer.", body = NickPeer),
        (status = 400, description = "The network is off.", body = ErrorBody),
        (status = 404, description = "No node calls itself that.", body = ErrorBody),
        (status = 502, description = "The DHT could not be asked.", body = ErrorBody),
    ))]
pub(crate) async fn h_nickname(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
) -> ApiResult<Response> {
    match s.node.network().lookup_nickname(&name).await? {
        Some(peer) => Ok(Json(NickPeer {
            nickname: name,
            peer,
        })
        .into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no node calls itself '{name}'"),
        )),
    }
}

/// The nickname a peer calls itself, from the DHT (only a record signed
/// by that peer counts).
#[utoipa::path(get, path = "/network/name/{peer}", tag = "network", params(Peer),
    responses(
        (status = 200, description = "Its nickname.", body = NickPeer),
        (status = 400, description = "The network is off.", body = ErrorBody),
        (status = 404, description = "No such peer id, or the peer names itself nothing.", body = ErrorBody),
        (status = 502, description = "The DHT could not be asked.", body = ErrorBody),
    ))]
pub(crate) async fn h_peer_name(
    State(s): State<AppState>,
    PathParams(peer): PathParams<String>,
) -> ApiResult<Response> {
    match s.node.network().lookup_peer_name(&peer).await? {
        Some(nickname) => Ok(Json(NickPeer { nickname, peer }).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{peer} names itself nothing"),
        )),
    }
}

/// The connections the node has now.
#[derive(Serialize, ToSchema)]
pub(crate) struct Connections {
    /// Each with its peer, address, direction and bytes.
    connections: Vec<cairn_node::ConnectionInfo>,
}

/// The connections the node has now, with the bytes each carried.
#[utoipa::path(get, path = "/network/connections", tag = "network",
    responses(
        (status = 200, description = "The connections.", body = Connections),
        (status = 400, description = "The network is off.", body = ErrorBody),
    ))]
pub(crate) async fn h_network_connections(State(s): State<AppState>) -> ApiResult<Response> {
    let connections = s.node.network().connections()?;
    Ok(Json(Connections { connections }).into_response())
}

/// Requests, messages and bytes since the node started, by protocol and
/// peer, and the requests on their way now.
#[utoipa::path(get, path = "/network/traffic", tag = "network",
    responses(
        (status = 200, description = "What was counted.", body = cairn_node::TrafficStats),
        (status = 400, description = "The network is off.", body = ErrorBody),
    ))]
pub(crate) async fn h_network_traffic(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(s.node.network().traffic()?).into_response())
}

/// This node's part of the DHT.
#[derive(Serialize, ToSchema)]
pub(crate) struct LocalRecords {
    /// How the DHT is set up.
    settings: cairn_node::DhtSettings,
    /// The records held here now, by key.
    records: Vec<cairn_node::LocalRecord>,
}

/// The records this node's part of the DHT holds, and how the DHT is set
/// up.
#[utoipa::path(get, path = "/network/records", tag = "network",
    responses(
        (status = 200, description = "The records.", body = LocalRecords),
        (status = 400, description = "The network is off.", body = ErrorBody),
    ))]
pub(crate) async fn h_network_records(State(s): State<AppState>) -> ApiResult<Response> {
    let network = s.node.network();
    let records = network.local_records().await?;
    let settings = network.dht_settings()?;
    Ok(Json(LocalRecords { settings, records }).into_response())
}

/// What redialling the bootstrap peers came to.
#[derive(Serialize, ToSchema)]
pub(crate) struct Redials {
    /// One per `[network] bootstrap` address.
    redials: Vec<cairn_node::Redial>,
}

/// Dials every bootstrap peer again now and refreshes the DHT.
#[utoipa::path(post, path = "/network/reconnect", tag = "network",
    responses(
        (status = 200, description = "What each dial came to.", body = Redials),
        (status = 400, description = "The network is off.", body = ErrorBody),
    ))]
pub(crate) async fn h_network_reconnect(State(s): State<AppState>) -> ApiResult<Response> {
    let redials = s.node.network().reconnect().await?;
    Ok(Json(Redials { redials }).into_response())
}
