//! cairn's HTTP layer.
//!
//! The only crate that knows axum and the JSON shapes of the wire. Every
//! handler is a thin translation into a call on [`cairn_node::Node`]:
//!
//! - `routes`: the native `/api/v1` calls;
//! - `content`: content responses with ranges, ETags and dispositions;
//! - `range`: HTTP Range parsing;
//! - `events`: the events WebSocket;
//! - `auth`: the admin secret check;
//! - `metadisk`: MetaDisk's token API (its accounts service), a compatibility layer;
//! - [`error`]: `ApiError`, stable codes mapped to status codes;
//! - [`openapi`]: the OpenAPI document and the route table it must match.
#![deny(missing_docs, unreachable_pub)]

mod auth;
mod content;
pub mod error;
mod events;
mod metadisk;
pub mod openapi;
mod pumped;
mod range;
mod routes;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use cairn_node::Node;
use tokio::net::TcpListener;

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    /// The node.
    pub node: Node,
}

/// The whole HTTP application of a node.
pub fn router(node: Node) -> Router {
    let state = AppState { node };
    let upload_limit = usize::try_from(state.node.config().max_upload_bytes).unwrap_or(usize::MAX);
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
        .route("/jobs", get(routes::h_jobs))
        .route("/jobs/{id}", get(routes::h_job))
        .route("/jobs/{id}/cancel", post(routes::h_cancel_job))
        .route("/events", get(events::h_events))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_secret,
        ));
    let v1 = Router::new()
        .route("/openapi.json", get(routes::h_openapi))
        .merge(admin)
        .fallback(routes::h_not_found);
    Router::new()
        .nest("/api/v1", v1)
        .merge(metadisk::routes(upload_limit))
        .route(
            "/",
            get(|| async { "cairn node: the API is under /api/v1 (see /api/v1/openapi.json)\n" }),
        )
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
    let stop = node.clone();
    let server = axum::serve(listener, router(node.clone()))
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
