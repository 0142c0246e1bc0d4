//! cairn's HTTP layer: the native API, and the toolkit every door uses.
//!
//! With the seed crates under `crates/compat/`, the only crates that know
//! axum and the wire. Every handler is a thin translation into a call on
//! [`cairn_node::Node`].
//!
//! The native API:
//!
//! - `routes`: the native `/api/v1` calls, one module per resource;
//! - `paid`: the native calls of paid files (status, buy, content with
//!   previews) and the ledger's audit;
//! - `events`: the events WebSocket;
//! - [`openapi`]: the OpenAPI document, generated from the handlers;
//! - [`web`]: the web UI, its assets compiled in, and its sign-in.
//!
//! The toolkit, public for the seed crates:
//!
//! - [`content`]: content responses with ranges, ETags and dispositions;
//! - [`range`]: HTTP Range parsing;
//! - [`extract`]: the native API's `Json`, `Query` and `Path` extractors,
//!   whose refusals answer the documented JSON error;
//! - [`auth`]: the admin secret check;
//! - [`metrics`]: HTTP requests and bytes counted by layer and route, and
//!   the `/metrics` scrape;
//! - [`amount`]: amounts in request bodies, JSON integers in the ledger's
//!   bounds;
//! - [`pumped`]: a multipart part pumped into an upload as it arrives;
//! - [`error`]: `ApiError`, stable codes mapped to status codes;
//! - [`AppState`], [`Conn`], [`Served`]: what a handler knows of the node,
//!   the connection and the listener; [`serve_app`]: one listener's loop.
#![deny(missing_docs, unreachable_pub)]

pub mod amount;
pub mod auth;
mod connections;
pub mod content;
pub mod error;
mod events;
pub mod extract;
mod health;
pub mod metrics;
pub mod openapi;
mod paid;
pub mod pumped;
pub mod range;
mod routes;
pub mod web;

use std::net::SocketAddr;

use axum::extract::DefaultBodyLimit;
use axum::{Extension, Router};
use cairn_node::Node;
use tokio::net::TcpListener;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    /// The node.
    pub node: Node,
}

/// A compatibility layer (a seed crate): its routes for the node's main
/// listener and for a listener of its own. Made once per node, so both
/// routers share the layer's state.
pub trait Layer: Send + Sync {
    /// The layer's name, as in the config's `[layers]` table.
    fn name(&self) -> &'static str;
    /// Its routes, with their state, to merge into the main listener's.
    fn router(&self) -> Router;
    /// The application of a listener given to it alone.
    fn own_router(&self) -> Router {
        self.router()
    }
}

/// Which listener a request came in on: an extension on every request, so
/// a layer can tell its own listener from the node's main one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// The node's main listener (every API).
    Main,
    /// A listener given to one layer alone.
    Own,
}

/// Both ends of a connection: what a handler knows of where a request
/// came from (for a loopback caller, which local user it is).
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    /// The caller's address.
    pub peer: SocketAddr,
    /// The node's end.
    pub local: SocketAddr,
}

/// The largest upload body the config allows, for a route's body limit.
pub fn upload_limit(node: &Node) -> usize {
    usize::try_from(node.config().max_upload_bytes).unwrap_or(usize::MAX)
}

/// The native API (`/api/v1`), its routes and state; the binary merges
/// the layers' routes beside it and marks the listener ([`Served`]).
pub fn router(node: Node) -> Router {
    let state = AppState { node };
    let admin = admin_routes(upload_limit(&state.node)).route_layer(
        axum::middleware::from_fn_with_state(state.clone(), auth::require_secret),
    );
    let v1: Router<AppState> = open_routes()
        .merge(admin)
        .fallback(routes::h_not_found)
        .into();
    let v1 = v1.method_not_allowed_fallback(routes::h_method_not_allowed);
    Router::new()
        .nest("/api/v1", v1)
        .route("/healthz", axum::routing::get(health::h_healthz))
        .route("/readyz", axum::routing::get(health::h_readyz))
        .route(
            "/metrics",
            axum::routing::get(metrics::h_metrics).route_layer(
                axum::middleware::from_fn_with_state(state.clone(), auth::require_secret),
            ),
        )
        .with_state(state.clone())
        .merge(web::router(state))
}

/// The calls that answer without the admin secret: the document, play
/// links (their own capability), and the paid-file calls (which know
/// their own readers).
fn open_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::h_openapi))
        .routes(routes!(routes::h_play))
        .merge(paid::routes())
}

/// The calls that need the admin secret (its check is layered on by the
/// caller). Every route is registered with its `#[utoipa::path]`, so a
/// call cannot exist without its place in the document.
fn admin_routes(upload_limit: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::h_status))
        .routes(routes!(routes::h_shutdown))
        .routes(routes!(routes::h_restart))
        .routes(routes!(routes::h_login_link))
        .routes(routes!(routes::h_upload).layer(DefaultBodyLimit::max(upload_limit)))
        .routes(
            routes!(routes::h_resumable_options, routes::h_create_resumable)
                .layer(DefaultBodyLimit::max(upload_limit))
                .layer(axum::middleware::map_response(routes::tus_header)),
        )
        .routes(
            routes!(
                routes::h_head_resumable,
                routes::h_resumable,
                routes::h_append_resumable,
                routes::h_terminate_resumable
            )
            .layer(DefaultBodyLimit::max(upload_limit))
            .layer(axum::middleware::map_response(routes::tus_header)),
        )
        .routes(routes!(routes::h_import))
        .routes(routes!(routes::h_export))
        .routes(routes!(routes::h_share_export))
        .routes(routes!(routes::h_share_put))
        .routes(routes!(routes::h_fetch))
        .routes(routes!(routes::h_list))
        .routes(routes!(routes::h_create_folder))
        .routes(routes!(
            routes::h_entry,
            routes::h_update_entry,
            routes::h_delete_entry
        ))
        .routes(routes!(routes::h_entry_path))
        .routes(routes!(routes::h_metadata, routes::h_set_metadata))
        .routes(routes!(routes::h_entry_content))
        .routes(routes!(routes::h_links, routes::h_create_link))
        .routes(routes!(routes::h_revoke_link))
        .routes(routes!(routes::h_blob))
        .routes(routes!(routes::h_blob_content))
        .routes(routes!(routes::h_accounts, routes::h_create_account))
        .routes(routes!(routes::h_account, routes::h_update_account))
        .routes(routes!(routes::h_account_deposit))
        .routes(routes!(routes::h_account_password))
        .routes(routes!(routes::h_account_access_key))
        .routes(routes!(routes::h_node_access_key))
        .routes(routes!(routes::h_services))
        .routes(routes!(routes::h_service))
        .routes(routes!(routes::h_stop_service))
        .routes(routes!(routes::h_start_service))
        .routes(routes!(routes::h_restart_service))
        .routes(routes!(routes::h_settings))
        .routes(routes!(routes::h_setting, routes::h_set_setting))
        .routes(routes!(routes::h_network))
        .routes(routes!(routes::h_network_peers))
        .routes(routes!(routes::h_network_customers))
        .routes(routes!(routes::h_network_connections))
        .routes(routes!(routes::h_network_traffic))
        .routes(routes!(routes::h_network_records))
        .routes(routes!(routes::h_network_reconnect))
        .routes(routes!(routes::h_reject_customer))
        .routes(routes!(routes::h_repair_status))
        .routes(routes!(routes::h_change_supplier))
        .routes(routes!(routes::h_network_ping))
        .routes(routes!(routes::h_dht_get, routes::h_dht_put))
        .routes(routes!(routes::h_dht_find_node))
        .routes(routes!(routes::h_nickname))
        .routes(routes!(routes::h_peer_name))
        .routes(routes!(routes::h_place))
        .routes(routes!(routes::h_link))
        .routes(routes!(routes::h_drop_local))
        .routes(routes!(routes::h_media_probe))
        .routes(routes!(routes::h_media_remote))
        .routes(routes!(routes::h_media_playlist))
        .routes(routes!(routes::h_media_convert))
        .routes(routes!(routes::h_torrent_playlist))
        .routes(routes!(routes::h_media_remote_store))
        .routes(routes!(routes::h_media_play))
        .routes(routes!(routes::h_media_stream))
        .routes(routes!(routes::h_media_hls))
        .routes(
            routes!(routes::h_media_subtitles, routes::h_add_subtitle)
                .layer(DefaultBodyLimit::max(16 << 20)),
        )
        .routes(routes!(routes::h_media_subtitle))
        .routes(routes!(routes::h_add_torrent, routes::h_torrents))
        .routes(routes!(routes::h_add_torrent_file).layer(DefaultBodyLimit::max(64 << 20)))
        .routes(routes!(routes::h_torrent, routes::h_remove_torrent))
        .routes(routes!(routes::h_pause_torrent))
        .routes(routes!(routes::h_resume_torrent))
        .routes(routes!(routes::h_select_torrent_files))
        .routes(routes!(routes::h_limit_torrent))
        .routes(routes!(routes::h_torrent_content))
        .routes(routes!(routes::h_torrent_probe))
        .routes(routes!(routes::h_torrent_stream))
        .routes(routes!(routes::h_torrent_hls))
        .routes(routes!(routes::h_keys, routes::h_create_key))
        .routes(routes!(routes::h_key, routes::h_erase_key))
        .routes(routes!(routes::h_label_key))
        .routes(routes!(routes::h_share_key))
        .routes(routes!(routes::h_audit_key))
        .routes(routes!(routes::h_identity))
        .routes(routes!(routes::h_set_nickname, routes::h_clear_nickname))
        .routes(routes!(routes::h_people))
        .routes(routes!(routes::h_friends, routes::h_add_friend))
        .routes(routes!(routes::h_remove_friend))
        .routes(routes!(routes::h_messages, routes::h_send_message))
        .routes(routes!(routes::h_shares, routes::h_create_share))
        .routes(routes!(routes::h_share, routes::h_delete_share))
        .routes(routes!(routes::h_grant_share))
        .routes(routes!(routes::h_revoke_share))
        .routes(routes!(routes::h_share_content))
        .routes(routes!(routes::h_groups, routes::h_create_group))
        .routes(routes!(routes::h_group, routes::h_leave_group))
        .routes(routes!(routes::h_invite))
        .routes(routes!(routes::h_remove_member))
        .routes(routes!(routes::h_group_messages, routes::h_send_group))
        .routes(routes!(routes::h_identity_backup))
        .routes(routes!(
            routes::h_catalog_backup,
            routes::h_make_catalog_backup
        ))
        .routes(routes!(routes::h_history))
        .routes(routes!(routes::h_set_watched, routes::h_forget_watched))
        .routes(routes!(routes::h_jobs))
        .routes(routes!(routes::h_job))
        .routes(routes!(routes::h_cancel_job))
        .routes(routes!(events::h_events))
        .routes(routes!(events::h_poll_events))
        .routes(routes!(paid::h_ledger))
}

/// Every native call as the document describes it, before the document's
/// finishing touches (`openapi::finish`).
pub(crate) fn native_api() -> utoipa::openapi::OpenApi {
    OpenApiRouter::<AppState>::with_openapi(openapi::base())
        .nest("/api/v1", open_routes().merge(admin_routes(usize::MAX)))
        .into_openapi()
}

/// The main listener's application: the native API and each layer's
/// routes for that listener, every request marked [`Served::Main`].
pub fn main_app(native: Router, layers: impl IntoIterator<Item = Router>) -> Router {
    layers
        .into_iter()
        .fold(native, Router::merge)
        .layer(axum::middleware::from_fn(web::serve_root))
        .layer(Extension(Served::Main))
}

/// The application of a listener given to one layer alone, every request
/// marked [`Served::Own`].
pub fn own_app(layer: Router) -> Router {
    layer.layer(Extension(Served::Own))
}

/// How long open connections may drain after the node is asked to stop.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens a listener on `addr` with the backlog `[http] backlog` asks for
/// (`std` and tokio listen with 128 or 1024).
pub fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Returns when a request of `conn` has waited on its client with no
/// progress for `timeout` (never, for a timeout of 0).
async fn stalled(conn: &connections::Admitted, timeout: std::time::Duration) {
    if timeout.is_zero() {
        return std::future::pending().await;
    }
    let mut tick = tokio::time::interval((timeout / 4).max(std::time::Duration::from_millis(250)));
    loop {
        tick.tick().await;
        if conn.stalled(timeout) {
            return;
        }
    }
}

/// Serves `app` on `listener` until the node is asked to stop.
///
/// Each connection is served by hyper with a timer, so `[http]
/// idle_timeout_secs` closes one that sends no complete request head in
/// time (new, slow, or idle between keep-alive requests), and
/// `send_timeout_secs` one whose client takes nothing of a response, or
/// sends nothing of a request body the node waits for, for that long (its
/// buffers and its upload's thread go back). At `[http]
/// max_connections` (in all, or `max_connections_per_ip` from one
/// address) the connection idle longest is shed to make room for the new
/// one; only when every connection in the way is busy is the new one
/// closed as soon as it is accepted. An accept that fails (out of
/// descriptors) sheds an idle connection and waits a moment instead of
/// spinning. Running jobs are cancelled when a stop is asked, so
/// responses end quickly; a client that stopped reading cannot hold the
/// node up longer than [`SHUTDOWN_GRACE`].
pub async fn serve_app(node: Node, listener: TcpListener, app: Router) -> std::io::Result<()> {
    let serving = Serving::fixed(node.config().http.clone());
    serve_with(node, listener, app, serving).await
}

/// What one listener's loop takes from the daemon beyond its app: the
/// `[http]` limits, which a reload may change (new connections get the
/// new ones), and a token that stops this listener alone (its open
/// connections finish their request, as at the node's stop).
pub struct Serving {
    /// The `[http]` section, as last reloaded.
    pub http: tokio::sync::watch::Receiver<cairn_node::config::HttpConfig>,
    /// Cancelled to stop this listener.
    pub stop: tokio_util::sync::CancellationToken,
}

impl Serving {
    /// Limits that never change, a listener stopped only with the node.
    pub fn fixed(http: cairn_node::config::HttpConfig) -> Self {
        let (_, http) = tokio::sync::watch::channel(http);
        Self {
            http,
            stop: tokio_util::sync::CancellationToken::new(),
        }
    }
}

/// [`serve_app`] with limits that a reload may change and a stop of its
/// own.
pub async fn serve_app_with(
    node: Node,
    listener: TcpListener,
    app: Router,
    serving: Serving,
) -> std::io::Result<()> {
    serve_with(node, listener, app, serving).await
}

/// A hyper HTTP/1 builder for `config`: with a timer, so
/// `idle_timeout_secs` closes a connection that sends no request head.
fn http1(config: &cairn_node::config::HttpConfig) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    if config.idle_timeout_secs > 0 {
        builder
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(std::time::Duration::from_secs(config.idle_timeout_secs));
    }
    builder
}

/// Binds the loopback listener that lends stored files to ffmpeg and
/// ffprobe (`GET /input/<token>`, with ranges), tells the node where it
/// is, and returns its loop to run beside the others. Only the node's own
/// child processes know a token; a paused player's ffmpeg may hold its
/// input as long as it likes, so no send timeout applies here.
pub fn media_inputs(
    node: &Node,
) -> std::io::Result<impl std::future::Future<Output = std::io::Result<()>> + use<>> {
    let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0)), 1024)?;
    let addr = listener.local_addr()?;
    node.media().serve_inputs_at(format!("http://{addr}/input"));
    let app = Router::new()
        .route("/input/{token}", axum::routing::get(routes::h_media_input))
        .with_state(AppState { node: node.clone() });
    let mut config = node.config().http.clone();
    config.send_timeout_secs = 0;
    Ok(serve_with(
        node.clone(),
        listener,
        app,
        Serving::fixed(config),
    ))
}

async fn serve_with(
    node: Node,
    listener: TcpListener,
    app: Router,
    mut listening: Serving,
) -> std::io::Result<()> {
    // HTTP/1 served by hyper itself, with a timer: telling HTTP/2 from
    // HTTP/1 first (hyper-util's auto builder) waits for a first byte with
    // no timer on it, so a client that sends nothing would never be timed
    // out.
    let config = listening.http.borrow_and_update().clone();
    let mut builder = http1(&config);
    let open = connections::Connections::new(config.max_connections, config.max_connections_per_ip);
    let mut send_timeout = std::time::Duration::from_secs(config.send_timeout_secs);
    let connections = tokio_util::task::TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection");
                    if !open.shed_one() {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    continue;
                }
            },
            () = node.stopped() => break,
            () = listening.stop.cancelled() => break,
        };
        // A reload's limits apply from the next connection on.
        if listening.http.has_changed().unwrap_or(false) {
            let config = listening.http.borrow_and_update().clone();
            builder = http1(&config);
            open.set_limits(config.max_connections, config.max_connections_per_ip);
            send_timeout = std::time::Duration::from_secs(config.send_timeout_secs);
        }
        let Some(admitted) = open.admit(peer.ip()) else {
            tracing::debug!(%peer, "every connection is busy at the limit: connection closed");
            continue;
        };
        let admitted = std::sync::Arc::new(admitted);
        let local = stream
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let conn = Conn { peer, local };
        let (on_request, app) = (admitted.clone(), app.clone());
        let service =
            tower::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(conn));
                let busy = on_request.request();
                let req = req.map(|body| connections::receiving(body, &on_request));
                let answer = tower::ServiceExt::oneshot(app.clone(), req);
                async move {
                    let response = answer.await?;
                    Ok::<_, std::convert::Infallible>(
                        response.map(|body| connections::tracked(body, busy)),
                    )
                }
            });
        let service = hyper_util::service::TowerToHyperService::new(service);
        let io = hyper_util::rt::TokioIo::new(admitted.stamped(stream));
        let serving = builder.serve_connection(io, service).with_upgrades();
        let (stop, own_stop) = (node.clone(), listening.stop.clone());
        connections.spawn(async move {
            let mut serving = std::pin::pin!(serving);
            let ended = tokio::select! {
                ended = serving.as_mut() => ended,
                () = async { tokio::select! { () = stop.stopped() => {}, () = own_stop.cancelled() => {} } } => {
                    // Finish the request under way, then close.
                    serving.as_mut().graceful_shutdown();
                    serving.await
                }
                () = admitted.shed.cancelled() => {
                    // A request that came in meanwhile is finished, still
                    // under the send timeout.
                    serving.as_mut().graceful_shutdown();
                    tokio::select! {
                        ended = serving.as_mut() => ended,
                        () = stalled(&admitted, send_timeout) => Ok(()),
                    }
                }
                () = stalled(&admitted, send_timeout) => {
                    tracing::debug!(%peer, "a request waited on its client for {send_timeout:?}: connection closed");
                    Ok(())
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
            drop(admitted);
        });
    }
    drop(listener);
    connections.close();
    tokio::select! {
        () = connections.wait() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("connections still open {SHUTDOWN_GRACE:?} after the stop; closing them");
        }
    }
    Ok(())
}
