//! Powder Web's UI, for Powder's own listener (the powder crate merges
//! [`powder_ui`] into it): its page at `/`, and its single-page routes
//! `/auth?token=`, `/torrent…` and `/embed?…` as Powder served them, over
//! Powder's own API. The embedded player (`/embed`) is meant for other
//! sites' iframes: it may be framed, and may play a media URL from
//! anywhere; every other page keeps the UI's policy.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use axum::routing::get;

use super::assets;

/// The policy of Powder's pages: the UI's, with media from the node.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The embedded player's: any site may frame it, and a `url=` may name
/// media anywhere; scripts and styles are still the node's alone.
const EMBED_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src * blob: data:; connect-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'";

/// The routes of Powder's UI.
pub fn powder_ui() -> Router {
    let pages = Router::new()
        .route("/", get(h_page))
        .route("/auth", get(h_page))
        .route("/auth/{*rest}", get(h_page))
        .route("/torrent", get(h_page))
        .route("/torrent/{*rest}", get(h_page))
        .route("/ui/assets/{*path}", get(assets::h_asset))
        .layer(axum::middleware::map_response(|r| headers(r, CSP, true)));
    let embed = Router::new()
        .route("/embed", get(h_page))
        .route("/embed/{*rest}", get(h_page))
        .layer(axum::middleware::map_response(|r| {
            headers(r, EMBED_CSP, false)
        }));
    pages.merge(embed)
}

async fn h_page(headers: HeaderMap) -> Response {
    assets::powder_page(&headers)
}

async fn headers(mut resp: Response, csp: &'static str, deny_frames: bool) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if deny_frames {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    resp
}
