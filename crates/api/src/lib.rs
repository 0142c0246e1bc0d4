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
//! - [`openapi`]: the OpenAPI document and the route table it must match.
//!
//! The toolkit, public for the seed crates:
//!
//! - [`content`]: content responses with ranges, ETags and dispositions;
//! - [`range`]: HTTP Range parsing;
//! - [`extract`]: the native API's `Json`, `Query` and `Path` extractors,
//!   whose refusals answer the documented JSON error;
//! - [`auth`]: the admin secret check;
//! - [`amount`]: amounts in request bodies, JSON integers in the ledger's
//!   bounds;
//! - [`pumped`]: a multipart part pumped into an upload as it arrives;
//! - [`error`]: `ApiError`, stable codes mapped to status codes;
//! - [`AppState`], [`Conn`], [`Served`]: what a handler knows of the node,
//!   the connection and the listener; [`serve_app`]: one listener's loop.
#![deny(missing_docs, unreachable_pub)]

pub mod amount;
pub mod auth;
pub mod content;
pub mod error;
mod events;
pub mod extract;
pub mod openapi;
mod paid;
pub mod pumped;
pub mod range;
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

/// The largest upload body the config allows, for a route's body limit.
pub fn upload_limit(node: &Node) -> usize {
    usize::try_from(node.config().max_upload_bytes).unwrap_or(usize::MAX)
}

/// The native API (`/api/v1`), its routes and state; the binary merges
/// the layers' routes beside it and marks the listener ([`Served`]).
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
    Router::new().nest("/api/v1", v1).with_state(state)
}

/// The main listener's application: the native API and each layer's
/// routes for that listener, every request marked [`Served::Main`].
pub fn main_app(native: Router, layers: impl IntoIterator<Item = Router>) -> Router {
    layers
        .into_iter()
        .fold(native, Router::merge)
        .layer(Extension(Served::Main))
}

/// The application of a listener given to one layer alone, every request
/// marked [`Served::Own`].
pub fn own_app(layer: Router) -> Router {
    layer.layer(Extension(Served::Own))
}

/// How long open connections may drain after the node is asked to stop.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves `app` on `listener` until the node is asked to stop.
///
/// Running jobs are cancelled when a stop is asked, so responses end
/// quickly; a client that stopped reading cannot hold the node up longer
/// than [`SHUTDOWN_GRACE`].
pub async fn serve_app(node: Node, listener: TcpListener, app: Router) -> std::io::Result<()> {
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
