//! Powder Web's API: `/actions?method=…`, the `*.m3u` playlists,
//! `/api/<token>/<hash>/<file>`, `/web/…` (transcoded streams and HLS),
//! `/meta/…`, `/local/…`, `/srt2vtt/subtitle.vtt` and `/subUpload`, over
//! cairn's torrents, media and library services.
//!
//! What Powder's clients rely on, and so what this layer does
//! (powder-web-details.md):
//!
//! - **Listeners.** Its own, `[layers] powder` (default
//!   `127.0.0.1:3000`, Powder's port), serves every path. The node's main
//!   listener serves the same calls except `/api/…`, which is the native
//!   API's prefix there: on the main listener a playlist's file URLs are
//!   `/powder/api/<token>/<hash>/<file>` instead.
//! - **Answers** (§1.2). Success is 200 with the JSON and no
//!   `Content-Type`; an error is 500 `text/plain` with the message and a
//!   newline; an unknown method, or one the key may not call, is 404
//!   `404 Not Found`. Every answer carries Powder's CORS headers; an
//!   `OPTIONS` pre-flight is answered 204 (Powder answered it 500).
//! - **Keys** (§2). A key goes in the `authorization` header (raw), else
//!   the `token` query parameter, else (streams) a path segment. Three
//!   kinds: a **user token**, from `login`/`signup` with an email and a
//!   password (gateway accounts with a password: `cairn account create
//!   --email E --password P`), valid 7 days and, unlike Powder's, kept
//!   across restarts (engine sessions, only their hash stored); the
//!   **master key**, new at every start, logged as `master key: <32 hex>`
//!   and written to `<data dir>/powder.key` (0600); the **embed token**
//!   (setting `embedToken`), limited to the embed player's methods.
//!   Unlike Powder, the stream paths check the key like `/actions` does,
//!   and `signup` is closed while `maxUsers` is 0 (Powder accepted it).
//! - **Settings** (§7) are the layer's own, in `<data dir>/powder/
//!   config.json`, with Powder's defaults and master-only keys. Those
//!   that steer what this layer does take effect (`maxUsers`,
//!   `removeLogic`, `useFilenameStream`, `downloadAll`, `subLangs`,
//!   `subLimit`, `ytdlQuality`, `jackettHost`, `jackettKey`,
//!   `embedToken`); the engine's own limits (speeds, peers, ports,
//!   folders) are cairn's config, not Powder's settings.
//! - **Torrents** are the node's torrents (`node.torrents()`), shared by
//!   every key, as on Powder; Powder's `utime` ids and openers are kept
//!   in the layer's address book (`<data dir>/powder/books.json`).
//! - **Local media** are files stored in cairn: the master adds one (or a
//!   folder) with `addLocal&id=<entry id>` (there is no desktop dialog);
//!   users play those they may see (their own, or published ones).
//! - **History** (§5) is the library's, per account (the master's is the
//!   operator's, shared with the native API).
//! - **Subtitles** (§6) come from the video's own streams and its sidecar
//!   files and from uploads, never from OpenSubtitles; `/srt2vtt` serves
//!   what `getSubs` and `/subUpload` named, never a path on the machine
//!   (Powder's served any local file to any key holder).
//! - **youtube-dl links** (§3.5) are resolved by yt-dlp (on the node's
//!   PATH) and read through the node's checked fetch, never by the
//!   player nor ffmpeg directly: `/ytdl/<pid>/0` serves them with ranges,
//!   `/web/` transcodes them. `ytdlRename` and `ytdlDestroy` answer `{}`
//!   (Powder never answered).
//! - **No AceStream or SopCast engine** exists here: `haveAce`/`haveSop`
//!   are false and `ace`/`sop` answer as Powder did without an engine.
//! - **Jackett** search works when the master sets `jackettHost` and
//!   `jackettKey` (a Torznab server, asked by the node even on this
//!   machine: the master chose it).
//! - `qrCode` links a phone by this machine's LAN address (or the public
//!   one AutoNAT confirmed; Powder asked icanhazip.com), with the args
//!   key for the master, as Powder did.
//! - Desktop helpers (opening windows, folders, players, associations)
//!   answer `{}` as Powder's did, and do nothing on a server.
#![deny(missing_docs, unreachable_pub)]

mod actions;
mod books;
mod history;
mod keys;
mod playlists;
mod qr;
mod search;
mod settings;
mod streams;
mod subs;
mod torrents;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use cairn_node::{ErrorKind, Node, NodeError};
use serde_json::Value;

use books::Books;
use keys::Keys;
use settings::Settings;
use subs::Uploads;

/// Powder Web's API: one per node.
pub struct Powder {
    state: AppState,
}

/// What every handler gets.
#[derive(Clone)]
struct AppState {
    node: Node,
    keys: Arc<Keys>,
    settings: Arc<Settings>,
    books: Arc<Books>,
    uploads: Arc<Uploads>,
    searches: Arc<search::Searches>,
}

impl Powder {
    /// The layer over `node`: its settings and books read from the data
    /// dir, a new master key made (and logged).
    pub fn new(node: Node) -> Self {
        let dir = node.data_dir().join("powder");
        let settings = Arc::new(Settings::open(&dir));
        let books = Arc::new(Books::open(&dir));
        let keys = Arc::new(Keys::new(node.data_dir()));
        Self {
            state: AppState {
                node,
                keys,
                settings,
                books,
                uploads: Arc::default(),
                searches: Arc::default(),
            },
        }
    }

    /// The master key made at this start.
    pub fn master_key(&self) -> &str {
        self.state.keys.master()
    }
}

impl cairn_api::Layer for Powder {
    fn name(&self) -> &'static str {
        "powder"
    }

    fn router(&self) -> Router {
        common(Router::new())
            .route("/powder/api/{*rest}", any(streams::h_api))
            .with_state(self.state.clone())
            .route_layer(axum::middleware::from_fn(preflight))
            .layer(axum::middleware::map_response(powder_headers))
    }

    fn own_router(&self) -> Router {
        common(Router::new())
            .route("/api/{*rest}", any(streams::h_api))
            .route("/hls/{*rest}", any(h_not_found))
            .route("/ace/{*rest}", any(h_not_found))
            .route("/sop/{*rest}", any(h_not_found))
            .route("/content/{*rest}", any(h_not_found))
            .route("/404", any(h_not_found))
            .fallback(h_no_file)
            .with_state(self.state.clone())
            .route_layer(axum::middleware::from_fn(preflight))
            .layer(axum::middleware::map_response(powder_headers))
            // Its web UI, as Powder served it: `/`, `/auth`, `/torrent…`,
            // `/embed…` (cairn's page for Powder's API).
            .merge(cairn_api::web::powder_ui())
    }
}

/// The routes both listeners serve.
fn common(router: Router<AppState>) -> Router<AppState> {
    router
        .route("/actions", any(actions::h_actions))
        .route("/playlist.m3u", any(playlists::h_playlist))
        .route("/getplaylist.m3u", any(playlists::h_getplaylist))
        .route("/getlocalplaylist.m3u", any(playlists::h_local_playlist))
        .route("/getytdlplaylist.m3u", any(playlists::h_ytdl_playlist))
        .route("/getaceplaylist.m3u", any(playlists::h_ace_playlist))
        .route("/getsopplaylist.m3u", any(playlists::h_sop_playlist))
        .route("/srt2vtt/subtitle.vtt", any(subs::h_srt2vtt))
        .route(
            "/subUpload",
            post(subs::h_sub_upload).layer(axum::extract::DefaultBodyLimit::max(subs::MAX_UPLOAD)),
        )
        .route("/web/{id}/{index}/{file}", any(streams::h_web))
        .route("/meta/{id}/{index}", any(streams::h_meta))
        .route("/local/{pid}/{index}", any(streams::h_local))
        .route("/ytdl/{pid}/{index}", get(streams::h_ytdl))
}

/// A CORS pre-flight to a route is answered 204 here, before its handler:
/// an `OPTIONS` never does what the call it announces would do (Powder
/// ran the handler; an `OPTIONS` of `removeHistoryItem` removed an item).
async fn preflight(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if req.method() == Method::OPTIONS {
        return StatusCode::NO_CONTENT.into_response();
    }
    next.run(req).await
}

/// Powder's CORS headers on every answer.
async fn powder_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_REQUEST_METHOD,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("OPTIONS, GET"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("*"),
    );
    resp
}

async fn h_not_found() -> Response {
    not_found()
}

/// Powder served its web UI's files here; a missing one is this.
async fn h_no_file() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain")],
        "404 File Not Found\n",
    )
        .into_response()
}

// ---- answers ----

/// 200 with the JSON and no `Content-Type`, as Powder answered.
fn json(value: Value) -> Response {
    let value = if value.is_null() {
        Value::Object(Default::default())
    } else {
        value
    };
    let mut resp = Response::new(Body::from(value.to_string()));
    resp.headers_mut().remove(header::CONTENT_TYPE);
    resp
}

/// `{}`.
fn empty() -> Response {
    json(Value::Object(Default::default()))
}

/// 500 with the message, as every Powder error.
fn fail(message: impl std::fmt::Display) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/plain")],
        format!("{message}\n"),
    )
        .into_response()
}

/// 404 `404 Not Found`: an unknown method, or one the key may not call.
fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain")],
        "404 Not Found\n",
    )
        .into_response()
}

/// An engine error on a stream path: its status (a player tells a
/// missing file from a server fault), the message as text.
fn engine_error(e: NodeError) -> Response {
    let status = match e.kind() {
        ErrorKind::NotFound | ErrorKind::InvalidId | ErrorKind::PathNotFound => {
            StatusCode::NOT_FOUND
        }
        ErrorKind::Invalid
        | ErrorKind::NameTaken
        | ErrorKind::Conflict
        | ErrorKind::TooLarge
        | ErrorKind::UploadAborted
        | ErrorKind::AddressNotAllowed
        | ErrorKind::PathUnreadable
        | ErrorKind::ClientGone
        | ErrorKind::Cancelled => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden
        | ErrorKind::StorageExceeded
        | ErrorKind::PaymentRequired
        | ErrorKind::BalanceInsufficient
        | ErrorKind::PathNotAllowed
        | ErrorKind::PathRefused => StatusCode::FORBIDDEN,
        ErrorKind::TrafficExceeded => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable | ErrorKind::ShuttingDown | ErrorKind::Network => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ErrorKind::Corrupt | ErrorKind::DataDirInUse | ErrorKind::Internal => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/plain")],
        format!("{e}\n"),
    )
        .into_response()
}

// ---- requests ----

/// A request's query as Powder read it: the last value of each name.
fn query_of(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// The key a request presents: the `authorization` header, else the
/// `token` query parameter.
fn presented_key(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .or_else(|| query.get("token").filter(|t| !t.is_empty()).cloned())
}

/// Where the caller reaches this server, for the URLs it is given
/// (§4.9): the `Referer`'s scheme and host, else `http://` and the
/// `Host` header, else this listener's address.
fn origin(headers: &HeaderMap, req_local: Option<std::net::SocketAddr>) -> String {
    let referer = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| {
            let (scheme, rest) = r.split_once("://")?;
            let host = rest.split(['/', '?', '#']).next()?;
            (matches!(scheme, "http" | "https") && !host.is_empty())
                .then(|| format!("{scheme}://{host}"))
        });
    if let Some(o) = referer {
        return o;
    }
    if let Some(host) = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
    {
        return format!("http://{host}");
    }
    match req_local {
        Some(addr) => format!("http://{addr}"),
        None => "http://127.0.0.1:3000".into(),
    }
}

/// The listener a request came in on, and its local address.
fn served(ext: &axum::http::Extensions) -> (cairn_api::Served, Option<std::net::SocketAddr>) {
    let served = ext
        .get::<cairn_api::Served>()
        .copied()
        .unwrap_or(cairn_api::Served::Own);
    let local = ext
        .get::<axum::extract::ConnectInfo<cairn_api::Conn>>()
        .map(|c| c.0.local);
    (served, local)
}

/// Percent-encodes as JavaScript's `encodeURIComponent`.
fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Milliseconds since the epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Writes `bytes` to `path` whole or not at all, readable by the node's
/// user alone (its folder made when missing).
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        cairn_node::private::create_dir_all(dir)?;
    }
    cairn_node::private::write_whole(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_encoded_as_javascript_does() {
        assert_eq!(encode_component("Sintel.mp4"), "Sintel.mp4");
        assert_eq!(encode_component("a b/c&d(1)é"), "a%20b%2Fc%26d(1)%C3%A9");
    }

    #[test]
    fn the_origin_is_the_referer_then_the_host() {
        let mut h = HeaderMap::new();
        assert_eq!(origin(&h, None), "http://127.0.0.1:3000");
        h.insert(header::HOST, HeaderValue::from_static("192.168.1.5:3000"));
        assert_eq!(origin(&h, None), "http://192.168.1.5:3000");
        h.insert(
            header::REFERER,
            HeaderValue::from_static("https://media.example:8443/embed?x=1"),
        );
        assert_eq!(origin(&h, None), "https://media.example:8443");
        h.insert(
            header::REFERER,
            HeaderValue::from_static("javascript:alert(1)"),
        );
        assert_eq!(origin(&h, None), "http://192.168.1.5:3000");
    }
}
