//! cairn's HTTP layer.
//!
//! The only crate that knows axum and the JSON shapes of the wire. Every
//! handler is a thin translation into a call on [`cairn_node::Node`]:
//!
//! - `routes`: the native `/api/v1` calls;
//! - `content`: content responses with ranges, ETags and dispositions;
//! - `range`: HTTP Range parsing;
//! - `extract`: the native API's `Json`, `Query` and `Path` extractors,
//!   whose refusals answer the documented JSON error;
//! - `events`: the events WebSocket;
//! - `auth`: the admin secret check;
//! - `amount`: amounts in request bodies, JSON integers in the ledger's
//!   bounds;
//! - `cacaoweb`: cacaoweb's local API (uploads by path, XML lists, streams
//!   by MD5, paid files), a compatibility layer;
//! - `paid`: the native calls of paid files (status, buy, content with
//!   previews) and the ledger's audit;
//! - `metadisk`: MetaDisk's token API (its accounts service), a compatibility layer;
//! - `openload`: Openload's API under `/1/`, its upload URLs, download links
//!   and splash images, a compatibility layer;
//! - [`error`]: `ApiError`, stable codes mapped to status codes;
//! - [`openapi`]: the OpenAPI document and the route table it must match.
#![deny(missing_docs, unreachable_pub)]

mod amount;
mod auth;
mod cacaoweb;
mod content;
pub mod error;
mod events;
mod extract;
mod metadisk;
pub mod openapi;
mod openload;
mod paid;
mod pumped;
mod range;
mod routes;

use std::net::SocketAddr;

use axum::extract::DefaultBodyLimit;
use axum::extract::connect_info::Connected;
use axum::routing::{get, post};
use axum::serve::IncomingStream;
use axum::{Extension, Router};
use cairn_node::Node;
use tokio::net::TcpListener;

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    /// The node.
    pub node: Node,
}

/// A compatibility layer that can be given a listener of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// cacaoweb's local API.
    Cacaoweb,
    /// Openload's API under `/1/`.
    Openload,
    /// MetaDisk web-core's API and token service.
    MetaDisk,
}

impl Layer {
    /// The layer's name, as in the config's `[layers]` table.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cacaoweb => "cacaoweb",
            Self::Openload => "openload",
            Self::MetaDisk => "metadisk",
        }
    }
}

/// Which listener a request came in on: an extension on every request, so
/// a layer can tell its own listener from the node's main one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Served {
    /// The node's main listener (every API).
    Main,
    /// A listener given to one layer.
    Own(Layer),
}

/// Both ends of a connection: what a handler knows of where a request
/// came from (for a loopback caller, which local user it is).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conn {
    /// The caller's address.
    pub(crate) peer: SocketAddr,
    /// The node's end.
    pub(crate) local: SocketAddr,
}

impl Connected<IncomingStream<'_, TcpListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        let peer = *stream.remote_addr();
        // Unknown only if the socket is already gone; then no local user
        // can be found for it either.
        let local = stream
            .io()
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        Self { peer, local }
    }
}

fn upload_limit(node: &Node) -> usize {
    usize::try_from(node.config().max_upload_bytes).unwrap_or(usize::MAX)
}

fn layer_routes(layer: Layer, upload_limit: usize) -> Router<AppState> {
    match layer {
        Layer::MetaDisk => metadisk::routes(upload_limit),
        Layer::Cacaoweb => cacaoweb::routes(),
        Layer::Openload => openload::routes(upload_limit),
    }
}

/// The application of a listener that serves `layer` alone.
pub fn layer_router(node: Node, layer: Layer) -> Router {
    let limit = upload_limit(&node);
    let state = AppState { node };
    let mut routes = layer_routes(layer, limit);
    if layer == Layer::Cacaoweb {
        // The main listener routes `/` itself (to the same handler).
        routes =
            routes
                .route("/", get(cacaoweb::h_root))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    cacaoweb::check_host,
                ));
    }
    routes
        .layer(Extension(Served::Own(layer)))
        .with_state(state)
}

/// The whole HTTP application of a node.
pub fn router(node: Node) -> Router {
    let state = AppState { node };
    let upload_limit = upload_limit(&state.node);
    let admin = Router::new()
        .route("/status", get(routes::h_status))
        .route("/node/shutdown", post(routes::h_shutdown))
        .route(
            "/upload",
            post(routes::h_upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/import", post(routes::h_import))
        .route("/fetch", post(routes::h_fetch))
        .route("/entries", get(routes::h_list))
        .route("/folders", post(routes::h_create_folder))
        .route(
            "/entries/{id}",
            get(routes::h_entry)
                .patch(routes::h_update_entry)
                .delete(routes::h_delete_entry),
        )
        .route("/entries/{id}/path", get(routes::h_entry_path))
        .route(
            "/entries/{id}/metadata",
            get(routes::h_metadata).patch(routes::h_set_metadata),
        )
        .route("/entries/{id}/content", get(routes::h_entry_content))
        .route("/blobs/{digest}", get(routes::h_blob))
        .route("/blobs/{digest}/content", get(routes::h_blob_content))
        .route(
            "/accounts",
            get(routes::h_accounts).post(routes::h_create_account),
        )
        .route(
            "/accounts/{login}",
            get(routes::h_account).patch(routes::h_update_account),
        )
        .route("/accounts/{login}/deposit", post(routes::h_account_deposit))
        .route("/network", get(routes::h_network))
        .route("/network/peers", get(routes::h_network_peers))
        .route("/network/customers", get(routes::h_network_customers))
        .route(
            "/network/customers/{owner}/reject",
            post(routes::h_reject_customer),
        )
        .route("/network/repair", get(routes::h_repair_status))
        .route(
            "/network/suppliers/{position}",
            post(routes::h_change_supplier),
        )
        .route("/network/ping/{peer}", post(routes::h_network_ping))
        .route(
            "/network/dht/{key}",
            get(routes::h_dht_get).put(routes::h_dht_put),
        )
        .route("/network/find/{peer}", get(routes::h_dht_find_node))
        .route("/network/nick/{name}", get(routes::h_nickname))
        .route("/blobs/{digest}/place", post(routes::h_place))
        .route("/blobs/{digest}/link", get(routes::h_link))
        .route("/blobs/{digest}/drop-local", post(routes::h_drop_local))
        .route("/jobs", get(routes::h_jobs))
        .route("/jobs/{id}", get(routes::h_job))
        .route("/jobs/{id}/cancel", post(routes::h_cancel_job))
        .route("/events", get(events::h_events))
        .route("/ledger", get(paid::h_ledger))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_secret,
        ));
    let v1 = Router::new()
        .route("/openapi.json", get(routes::h_openapi))
        .merge(paid::routes())
        .merge(admin)
        .fallback(routes::h_not_found)
        .method_not_allowed_fallback(routes::h_method_not_allowed);
    Router::new()
        .nest("/api/v1", v1)
        .merge(layer_routes(Layer::MetaDisk, upload_limit))
        .merge(layer_routes(Layer::Cacaoweb, upload_limit))
        .merge(layer_routes(Layer::Openload, upload_limit))
        // cairn's greeting, or a cacaoweb stream with `?f=`.
        .route("/", get(cacaoweb::h_root))
        .layer(Extension(Served::Main))
        .with_state(state)
}

/// How long open connections may drain after the node is asked to stop.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves the node's API on `listener` until the node is asked to stop.
///
/// Running jobs are cancelled when a stop is asked, so responses end
/// quickly; a client that stopped reading cannot hold the node up longer
/// than [`SHUTDOWN_GRACE`].
pub async fn serve(node: Node, listener: TcpListener) -> std::io::Result<()> {
    serve_app(node.clone(), listener, router(node)).await
}

/// Serves `layer` alone on `listener` until the node is asked to stop, like
/// [`serve`].
pub async fn serve_layer(node: Node, listener: TcpListener, layer: Layer) -> std::io::Result<()> {
    serve_app(node.clone(), listener, layer_router(node, layer)).await
}

async fn serve_app(node: Node, listener: TcpListener, app: Router) -> std::io::Result<()> {
    let stop = node.clone();
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<Conn>())
        .with_graceful_shutdown(async move { stop.stopped().await });
    let deadline = async {
        node.stopped().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = std::future::IntoFuture::into_future(server) => served,
        () = deadline => {
            tracing::warn!("connections still open {SHUTDOWN_GRACE:?} after the stop; closing them");
            Ok(())
        }
    }
}
