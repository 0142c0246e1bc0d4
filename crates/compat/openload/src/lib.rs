//! Openload's API (`api.openload.co/1`): every call under `/1/`, the
//! upload URLs it hands out (`POST /ul/<token>`), the download links
//! (`/dl/l/<token>/<id>/<name>`) and splash images (`/splash/<id>/<img>.jpg`).
//!
//! What clients rely on, and so what this layer does (seed details §8):
//!
//! - Every API outcome is **HTTP 200** with `{"status", "msg", "result"}`;
//!   `status` is a JSON number, `msg` is `"OK"` on success. Only a real
//!   server failure (code `internal`) is also HTTP 500. Codes: 400 bad or
//!   missing parameters (and a SHA-1 mismatch, a bad name, a file over the
//!   size limit), 403 missing or wrong login/key, not your file or folder,
//!   a bad or expired ticket or upload URL, **and a full storage quota**
//!   (Openload had no code for it; 403 "permission denied" is the class
//!   clients already handle), 404 not found, 451 a file the operator
//!   blocked (metadata `openload.blocked`), 503 ffmpeg missing, 509 the
//!   24-hour traffic limit.
//! - Parameters come from the query string and, for POST, from an
//!   `application/x-www-form-urlencoded` body (Plowshare posts every
//!   call); an empty value counts as absent; unknown parameters are ignored.
//! - `login`/`key` are a gateway account's (`cairn account create`).
//!   Optional on `file/dlticket`, `file/dl`, `file/info`, `file/ul`; when
//!   given they must be right.
//! - Types as the live API sent them: `storage_used`, listfolder file
//!   fields, upload `size`, `bytes_*`, folder and remote ids are strings;
//!   `storage_left`, `traffic.*`, `wait_time`, per-file `status`, the
//!   remote-status entry `id` are numbers; `false` for absent values.
//!   `file/dl` `size` is a number, `file/info` `size` a string.
//! - `file/dl`, missing from the seed, is here: `file`, `ticket`, and an
//!   ignored `captcha_response` (absent, empty or `null`). There is no
//!   captcha: `captcha_url`, `captcha_w` and `captcha_h` are `false`;
//!   `wait_time` is `[openload] wait_secs` (default 0).
//! - `file/delete`, also missing from the seed: one file id, `true`.
//! - Folder ids are cairn entry ids (11-char strings), not numbers; a
//!   missing `folder` means the user's home folder. There is no call to
//!   create folders (Openload had none either).
//! - `remotedl/status` with nothing to report answers `{}`, not the `[]`
//!   the live API sent: every surveyed client takes `{}`, while `[]` breaks
//!   the typed Go and C# clients. Remote ids are decimal (`"12"` from
//!   `add`, `12` in `status`). A URL the node refuses to fetch (not http,
//!   a private address) is accepted and shows as `error`, as on Openload.
//! - Upload URLs take a multipart POST with a boundary; the first part
//!   with a file name is the file, whatever its field name (`file1`,
//!   `files`, `upload_file`, …); extra query parameters are ignored.
//!   Anonymous uploads (no login/key) go to the top-level folder
//!   `Openload`, owned by nobody (`[openload] anonymous_uploads`).
//! - Links are built from the request's `Host` header (and
//!   `X-Forwarded-Proto: https` when a proxy says so):
//!   `http://<host>/f/<id>/<name>`. `/f/<id>` itself is a small HTML page
//!   naming the file (the API is how files are fetched).
//! - Download links are HMAC-signed and expire; a wrong or expired one is
//!   an HTTP 403 (a 404 for a file gone since), with the envelope as body:
//!   they are content URLs, where download tools look at the HTTP status.
//! - Every answer carries `Access-Control-Allow-Origin: *` (browser pages
//!   called Openload's API and upload hosts directly).
//! - `streaming/info` and `streaming/get` (2017, outside the documented
//!   API; Kodi's resolvers used them): `streaming/info` answers
//!   `auth_url`, this node's pairing page `/pair`; a visit there and a
//!   press of its button pairs the visitor's address (the TCP peer's: a
//!   forwarded-for header is not believed) for `[openload] pair_secs`.
//!   From a paired address `streaming/get?file=` answers what `file/dl`
//!   does, without a ticket, `size` as a string (as captured); from any
//!   other, 403 `IP address not authorized. Visit <auth_url>`, which the
//!   resolvers show and then poll. A pairing POST from another site is
//!   refused.
#![deny(missing_docs, unreachable_pub)]

mod files;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use cairn_node::{EntryInfo, EntryKind, ErrorKind, Node, NodeError, User};
use serde_json::{Map, Value, json};

use cairn_api::Conn;
use cairn_api::content::{self, Presentation};
use files::Pairings;

/// Openload's API: one per node.
pub struct Openload {
    state: AppState,
}

/// What every handler gets: the node, and the addresses paired for
/// `streaming/get`.
#[derive(Clone)]
struct AppState {
    node: Node,
    pairs: Arc<Pairings>,
}

impl Openload {
    /// The layer over `node`.
    pub fn new(node: Node) -> Self {
        Self {
            state: AppState {
                node,
                pairs: Arc::default(),
            },
        }
    }
}

impl cairn_api::Layer for Openload {
    fn name(&self) -> &'static str {
        "openload"
    }

    fn router(&self) -> Router {
        routes(cairn_api::upload_limit(&self.state.node)).with_state(self.state.clone())
    }
}

/// Most file ids `file/info` takes at once.
const MAX_INFO_IDS: usize = 50;

/// Largest form body an API call reads.
const MAX_FORM: usize = 64 << 10;

/// Openload's routes, to merge at the root of a listener.
fn routes(upload_limit: usize) -> Router<AppState> {
    Router::new()
        .route("/1/account/info", api(h_account_info))
        .route("/1/file/dlticket", api(h_dlticket))
        .route("/1/file/dl", api(h_dl))
        .route("/1/file/info", api(h_info))
        .route("/1/file/ul", api(h_ul))
        .route("/1/remotedl/add", api(h_remote_add))
        .route("/1/remotedl/status", api(h_remote_status))
        .route("/1/file/listfolder", api(h_listfolder))
        .route("/1/file/renamefolder", api(h_renamefolder))
        .route("/1/file/rename", api(h_rename))
        .route("/1/file/delete", api(h_delete))
        .route("/1/file/convert", api(h_convert))
        .route("/1/file/runningconverts", api(h_runningconverts))
        .route("/1/file/getsplash", api(h_getsplash))
        .route("/1/streaming/info", api(h_streaming_info))
        .route("/1/streaming/get", api(h_streaming_get))
        .route("/1/{*rest}", get(h_unknown).post(h_unknown))
        .route(
            "/ul/{token}",
            post(h_upload).layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
        .route("/dl/l/{token}/{id}", get(h_download))
        .route("/dl/l/{token}/{id}/{name}", get(h_download_named))
        .route("/splash/{id}/{image}", get(h_splash_image))
        .route("/pair", get(h_pair_page).post(h_pair))
        .route("/f/{id}", get(h_page))
        .route("/f/{id}/{name}", get(h_page_named))
        .layer(axum::middleware::map_response(allow_any_origin))
}

/// A call answered on GET and on POST alike.
fn api<H, T>(handler: H) -> MethodRouter<AppState>
where
    H: Handler<T, AppState> + Clone,
    T: 'static,
{
    get(handler.clone()).post(handler)
}

async fn allow_any_origin(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

// ---- the envelope ----

fn envelope(http: StatusCode, status: u16, msg: &str, result: Value) -> Response {
    let body = json!({ "status": status, "msg": msg, "result": result });
    (http, axum::Json(body)).into_response()
}

fn ok(result: Value) -> Response {
    envelope(StatusCode::OK, 200, "OK", result)
}

fn fail(status: u16, msg: &str) -> Response {
    envelope(StatusCode::OK, status, msg, Value::Bool(false))
}

/// The Openload status for each kind of failure: Openload had 400, 403,
/// 404, 500, 509 and a 503 for maintenance.
fn status_of(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::Unauthorized
        | ErrorKind::Forbidden
        | ErrorKind::StorageExceeded
        | ErrorKind::PaymentRequired
        | ErrorKind::BalanceInsufficient
        | ErrorKind::PathNotAllowed
        | ErrorKind::PathRefused => 403,
        ErrorKind::NotFound | ErrorKind::InvalidId | ErrorKind::PathNotFound => 404,
        ErrorKind::Invalid
        | ErrorKind::NameTaken
        | ErrorKind::Conflict
        | ErrorKind::TooLarge
        | ErrorKind::UploadAborted
        | ErrorKind::AddressNotAllowed
        | ErrorKind::PathUnreadable
        | ErrorKind::ClientGone
        | ErrorKind::Cancelled => 400,
        ErrorKind::TrafficExceeded => 509,
        // Worth trying again later: the network may come back.
        ErrorKind::Unavailable | ErrorKind::ShuttingDown | ErrorKind::Network => 503,
        ErrorKind::Corrupt | ErrorKind::DataDirInUse | ErrorKind::Internal => 500,
    }
}

fn failure(e: NodeError) -> Response {
    let status = status_of(e.kind());
    let msg = match status {
        509 => format!(
            "bandwidth usage exceeded: the 24-hour traffic limit would be passed ({e}); \
             please try again later"
        ),
        403 if e.kind() == ErrorKind::Unauthorized => "wrong or missing API login/key".to_owned(),
        _ => e.to_string(),
    };
    if status == 500 {
        tracing::error!(error = %e, "Openload call failed");
        return envelope(
            StatusCode::INTERNAL_SERVER_ERROR,
            500,
            &msg,
            Value::Bool(false),
        );
    }
    fail(status, &msg)
}

// ---- parameters ----

/// The call's parameters: query string, then a POSTed form; empty values
/// dropped.
pub(crate) struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = Response;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let mut map = HashMap::new();
        let mut add = |text: &str| {
            for (k, v) in
                serde_urlencoded::from_str::<Vec<(String, String)>>(text).unwrap_or_default()
            {
                if !v.is_empty() {
                    map.insert(k, v);
                }
            }
        };
        if let Some(q) = req.uri().query() {
            add(q);
        }
        let form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if req.method() == Method::POST && form {
            let body = axum::body::to_bytes(req.into_body(), MAX_FORM)
                .await
                .map_err(|_| fail(400, "the form body is too large or was cut off"))?;
            add(&String::from_utf8_lossy(&body));
        }
        Ok(Self(map))
    }
}

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    #[allow(clippy::result_large_err)]
    fn required(&self, name: &str) -> Result<&str, Response> {
        self.get(name)
            .ok_or_else(|| fail(400, &format!("missing parameter '{name}'")))
    }

    /// The user `login` and `key` name, if given; wrong ones are refused.
    async fn user(&self, node: &Node) -> Result<Option<User>, Response> {
        match (self.get("login"), self.get("key")) {
            (None, None) => Ok(None),
            (Some(login), Some(key)) => node
                .accounts()
                .authenticate(login, key)
                .await
                .map(Some)
                .map_err(failure),
            _ => Err(failure(NodeError::Unauthorized)),
        }
    }

    /// The user `login` and `key` name; both are required.
    async fn required_user(&self, node: &Node) -> Result<User, Response> {
        self.user(node)
            .await?
            .ok_or_else(|| failure(NodeError::Unauthorized))
    }
}

/// Runs a handler body whose errors are already responses.
macro_rules! attempt {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(resp) => return resp,
        }
    };
}

/// A node call whose error becomes the envelope.
macro_rules! call {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return failure(e),
        }
    };
}

// ---- links and formats ----

/// `http://<Host>` of the request (https when a proxy says so).
fn base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
        })
        .unwrap_or("127.0.0.1");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// A name as one URL path segment.
fn escape(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn file_link(base: &str, id: &str, name: &str) -> String {
    format!("{base}/f/{id}/{}", escape(name))
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC).
fn datetime(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn ms_datetime(ms: i64) -> String {
    datetime(ms.div_euclid(1000))
}

fn sha1_of(info: &EntryInfo) -> Value {
    info.aliases
        .get("sha1")
        .map_or(Value::Bool(false), |s| Value::String(s.clone()))
}

fn content_type(info: &EntryInfo) -> String {
    info.entry
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into())
}

// ---- account ----

async fn h_account_info(State(s): State<AppState>, p: Params) -> Response {
    let user = attempt!(p.required_user(&s.node).await);
    let a = call!(s.node.accounts().info(&user).await);
    let left = |limit: Option<u64>, used: u64| -> i64 {
        limit.map_or(-1, |l| {
            i64::try_from(l.saturating_sub(used)).unwrap_or(i64::MAX)
        })
    };
    ok(json!({
        "extid": a.account,
        "email": a.email,
        "signup_at": ms_datetime(a.created),
        "storage_left": left(a.storage_limit, a.storage_used),
        "storage_used": a.storage_used.to_string(),
        "traffic": {
            "left": left(a.traffic_limit, a.traffic_used_24h),
            "used_24h": a.traffic_used_24h,
        },
        "balance": a.credits,
    }))
}

// ---- downloads ----

async fn h_dlticket(State(s): State<AppState>, p: Params) -> Response {
    let file = attempt!(p.required("file"));
    let user = attempt!(p.user(&s.node).await);
    let info = call!(files::file(&s.node, file).await);
    if files::blocked(&info) {
        return fail(451, "unavailable for legal reasons");
    }
    let t = call!(files::ticket(&s.node, &info.entry.id, user.as_ref()).await);
    ok(json!({
        "ticket": t.ticket,
        "captcha_url": false,
        "captcha_w": false,
        "captcha_h": false,
        "wait_time": t.wait_secs,
        "valid_until": datetime(t.valid_until),
    }))
}

async fn h_dl(State(s): State<AppState>, headers: HeaderMap, p: Params) -> Response {
    let file = attempt!(p.required("file"));
    let ticket = attempt!(p.required("ticket"));
    let user = attempt!(p.user(&s.node).await);
    let payer = call!(files::check_ticket(&s.node, file, ticket));
    let payer = payer.or(user.map(|u| u.account));
    let info = call!(files::file(&s.node, file).await);
    if files::blocked(&info) {
        return fail(451, "unavailable for legal reasons");
    }
    let link = call!(files::link(&s.node, &info, payer.as_deref()).await);
    ok(link_result(
        &headers,
        &info,
        &link.token,
        json!(info.entry.size),
    ))
}

/// What `file/dl` and `streaming/get` answer: the file and its link.
fn link_result(headers: &HeaderMap, info: &EntryInfo, token: &str, size: Value) -> Value {
    let e = &info.entry;
    let url = format!(
        "{}/dl/l/{}/{}/{}",
        base(headers),
        token,
        e.id,
        escape(&e.name)
    );
    json!({
        "name": e.name,
        "size": size,
        "sha1": sha1_of(info),
        "content_type": content_type(info),
        "upload_at": ms_datetime(e.created),
        "url": url,
        "token": token,
    })
}

// ---- streaming: links for paired addresses ----

/// The address a request came from (none when the listener does not say).
fn peer_ip(peer: Option<&Extension<ConnectInfo<Conn>>>) -> Option<IpAddr> {
    peer.map(|Extension(ConnectInfo(c))| c.peer.ip().to_canonical())
}

fn pair_url(headers: &HeaderMap) -> String {
    format!("{}/pair", base(headers))
}

async fn h_streaming_info(headers: HeaderMap) -> Response {
    ok(json!({ "auth_url": pair_url(&headers) }))
}

async fn h_streaming_get(
    State(s): State<AppState>,
    peer: Option<Extension<ConnectInfo<Conn>>>,
    headers: HeaderMap,
    p: Params,
) -> Response {
    let file = attempt!(p.required("file"));
    let user = attempt!(p.user(&s.node).await);
    if !peer_ip(peer.as_ref()).is_some_and(|ip| s.pairs.paired(ip)) {
        let msg = format!("IP address not authorized. Visit {}", pair_url(&headers));
        return fail(403, &msg);
    }
    let info = call!(files::file(&s.node, file).await);
    if files::blocked(&info) {
        return fail(451, "unavailable for legal reasons");
    }
    let payer = user.map(|u| u.account);
    let link = call!(files::link(&s.node, &info, payer.as_deref()).await);
    let size = json!(info.entry.size.to_string());
    ok(link_result(&headers, &info, &link.token, size))
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn h_pair_page(peer: Option<Extension<ConnectInfo<Conn>>>) -> Response {
    let ip = peer_ip(peer.as_ref()).map_or_else(|| "unknown".into(), |ip| ip.to_string());
    html(
        StatusCode::OK,
        format!(
            "<!doctype html><meta charset=utf-8><title>Pair this device</title>\
             <h1>Pair {ip}</h1><p>Paired addresses may stream this node's files \
             (streaming/get) for a few hours.</p>\
             <form method=post action=/pair><button>Pair</button></form>\n"
        ),
    )
}

async fn h_pair(
    State(s): State<AppState>,
    peer: Option<Extension<ConnectInfo<Conn>>>,
    headers: HeaderMap,
) -> Response {
    if from_elsewhere(&headers) {
        return html(
            StatusCode::FORBIDDEN,
            "<!doctype html><title>Refused</title><p>Pair from this node's own page.</p>\n".into(),
        );
    }
    let Some(ip) = peer_ip(peer.as_ref()) else {
        return html(
            StatusCode::BAD_REQUEST,
            "<!doctype html><title>Refused</title><p>Your address is unknown.</p>\n".into(),
        );
    };
    let until = s.pairs.pair(ip, s.node.config().openload.pair_secs);
    let hours = (until - now_secs()).max(0) as f64 / 3600.0;
    html(
        StatusCode::OK,
        format!(
            "<!doctype html><meta charset=utf-8><title>Paired</title>\
             <h1>{ip} is paired</h1><p>for {hours:.1} hours.</p>\n"
        ),
    )
}

/// Whether a browser says the request comes from another site's page: an
/// `Origin` naming another host than `Host`, or `Sec-Fetch-Site`
/// cross-site or same-site.
fn from_elsewhere(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = text("host").unwrap_or_default();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return true;
        };
        let authority = origin.split_once("://").map_or(origin, |(_, a)| a);
        if !authority.eq_ignore_ascii_case(host) {
            return true;
        }
    }
    text("sec-fetch-site").is_some_and(|v| !matches!(v, "same-origin" | "none"))
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn h_download_named(
    State(s): State<AppState>,
    Path((token, id, _name)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    download(&s.node, &token, &id, &method, &headers).await
}

async fn h_download(
    State(s): State<AppState>,
    Path((token, id)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    download(&s.node, &token, &id, &method, &headers).await
}

/// A content response with the HTTP status matching the envelope's.
fn content_failure(e: NodeError) -> Response {
    let status = status_of(e.kind());
    let http = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = failure(e);
    *resp.status_mut() = http;
    resp
}

async fn download(
    node: &Node,
    token: &str,
    id: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Response {
    if let Err(e) = files::check_link(node, id, token) {
        return content_failure(e);
    }
    let info = match files::file(node, id).await {
        Ok(info) => info,
        Err(e) => return content_failure(e),
    };
    if files::blocked(&info) {
        let mut resp = fail(451, "unavailable for legal reasons");
        *resp.status_mut() = StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS;
        return resp;
    }
    serve(node, &info, method, headers, true).await
}

async fn serve(
    node: &Node,
    info: &EntryInfo,
    method: &Method,
    headers: &HeaderMap,
    attachment: bool,
) -> Response {
    let blob = info.entry.blob.clone().unwrap_or_default();
    let handle = match node.blobs().open(&blob).await {
        Ok(h) => h,
        Err(e) => return content_failure(e),
    };
    let how = Presentation {
        content_type: content_type(info),
        file_name: Some(info.entry.name.clone()),
        attachment,
        entry: Some(info.entry.id.clone()),
    };
    match content::respond(node, method, headers, handle, how).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn h_info(State(s): State<AppState>, p: Params) -> Response {
    let files = attempt!(p.required("file"));
    attempt!(p.user(&s.node).await);
    let mut ids: Vec<&str> = files
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .collect();
    ids.dedup();
    if ids.len() > MAX_INFO_IDS {
        return fail(400, &format!("at most {MAX_INFO_IDS} file ids at once"));
    }
    let mut result = Map::new();
    for id in ids {
        let item = match files::file(&s.node, id).await {
            Ok(info) => json!({
                "id": id,
                "status": if files::blocked(&info) { 451 } else { 200 },
                "name": info.entry.name,
                "size": info.entry.size.to_string(),
                "sha1": sha1_of(&info),
                "content_type": content_type(&info),
            }),
            Err(e) => {
                let status = if status_of(e.kind()) == 404 { 404 } else { 500 };
                json!({
                    "id": id, "status": status, "name": false, "size": false,
                    "sha1": false, "content_type": false,
                })
            }
        };
        result.insert(id.to_owned(), item);
    }
    ok(Value::Object(result))
}

// ---- uploads ----

async fn h_ul(State(s): State<AppState>, headers: HeaderMap, p: Params) -> Response {
    let user = attempt!(p.user(&s.node).await);
    let (token, expires) =
        call!(files::upload_token(&s.node, user.as_ref(), p.get("folder"), p.get("sha1")).await);
    ok(json!({
        "url": format!("{}/ul/{token}", base(&headers)),
        "valid_until": datetime(expires),
    }))
}

async fn h_upload(
    State(s): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    req: Request,
) -> Response {
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data") && v.contains("boundary="));
    if !boundary {
        return fail(400, "upload failed: no boundary defined in Content-Type");
    }
    let mut form = match Multipart::from_request(req, &s).await {
        Ok(f) => f,
        Err(e) => return fail(400, &format!("upload failed: {}", e.body_text())),
    };
    let mut field = loop {
        match form.next_field().await {
            Ok(Some(f)) if f.file_name().is_some() => break f,
            Ok(Some(_)) => continue,
            Ok(None) => return fail(400, "upload failed: the form has no file part"),
            Err(e) => return fail(400, &format!("upload failed: {}", e.body_text())),
        }
    };
    let name = field
        .file_name()
        .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).to_owned())
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "upload".into());
    let (tx, rx) = cairn_api::pumped::channel();
    let body = cairn_api::pumped::body(rx);
    let node = s.node.clone();
    let upload = tokio::spawn(async move { files::upload(&node, &token, &name, body).await });
    // The file commits only once the rest of the form has been read in
    // good order: a form cut off, or without its closing boundary, stores
    // nothing (a broken part reaches the upload as an error of its body).
    let pumped = cairn_api::pumped::pump(&mut field, &tx).await;
    drop(field);
    let rest = match pumped {
        Ok(()) => rest_of_form(&mut form).await,
        Err(b) => Err(b),
    };
    cairn_api::pumped::end(&tx, rest.as_ref().map(|_| ())).await;
    drop(tx);
    let stored = upload.await;
    if let Err(b) = rest {
        return fail(400, &format!("upload failed: {}", b.message));
    }
    let stored = match stored {
        Ok(stored) => stored,
        Err(e) => return fail(500, &format!("upload failed: {e}")),
    };
    let (info, sha1) = call!(stored);
    let e = &info.entry;
    ok(json!({
        "content_type": content_type(&info),
        "id": e.id,
        "name": e.name,
        "sha1": sha1,
        "size": e.size.to_string(),
        "url": file_link(&base(&headers), &e.id, &e.name),
    }))
}

/// Reads the form after its file part to the end.
async fn rest_of_form(form: &mut Multipart) -> Result<(), cairn_api::pumped::BrokenPart> {
    while form.next_field().await?.is_some() {}
    Ok(())
}

// ---- remote uploads ----

async fn h_remote_add(State(s): State<AppState>, p: Params) -> Response {
    let user = attempt!(p.required_user(&s.node).await);
    let url = attempt!(p.required("url"));
    let (id, folder) =
        call!(files::remote_add(&s.node, &user, url, p.get("folder"), p.get("headers")).await);
    ok(json!({ "id": id.to_string(), "folderid": folder }))
}

async fn h_remote_status(State(s): State<AppState>, headers: HeaderMap, p: Params) -> Response {
    let user = attempt!(p.required_user(&s.node).await);
    let limit = match p.get("limit").map(str::parse::<u32>) {
        None => 5,
        Some(Ok(l)) => l.clamp(1, 100),
        Some(Err(_)) => return fail(400, "limit must be a number from 1 to 100"),
    };
    let id = match p.get("id").map(str::parse::<i64>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return fail(400, "id must be a remote upload's number"),
    };
    let list = call!(files::remote_status(&s.node, &user, id, limit).await);
    if id.is_some() && list.is_empty() {
        return fail(404, "no such remote upload");
    }
    let base = base(&headers);
    let digits = |v: Option<u64>| v.map_or(Value::Null, |n| Value::String(n.to_string()));
    let mut result = Map::new();
    for r in list {
        let (extid, url) = match &r.entry {
            Some(id) => (json!(id), json!(format!("{base}/f/{id}"))),
            None => (json!(false), json!(false)),
        };
        result.insert(
            r.id.to_string(),
            json!({
                "id": r.id,
                "remoteurl": r.url,
                "status": r.status,
                "bytes_loaded": digits(r.loaded),
                "bytes_total": digits(r.total),
                "folderid": r.folder,
                "added": ms_datetime(r.added),
                "last_update": ms_datetime(r.updated),
                "extid": extid,
                "url": url,
            }),
        );
    }
    ok(Value::Object(result))
}

// ---- folders and files ----

async fn h_listfolder(State(s): State<AppState>, headers: HeaderMap, p: Params) -> Response {
    let user = attempt!(p.required_user(&s.node).await);
    let l = call!(files::list(&s.node, &user, p.get("folder")).await);
    let base = base(&headers);
    let folders: Vec<Value> = l
        .folders
        .iter()
        .map(|f| json!({ "id": f.id, "name": f.name }))
        .collect();
    let files: Vec<Value> = l
        .files
        .iter()
        .map(|info| {
            let e = &info.entry;
            json!({
                "name": e.name,
                "sha1": info.aliases.get("sha1").cloned().unwrap_or_default(),
                "folderid": l.folder.id,
                "upload_at": (e.created / 1000).to_string(),
                "status": "active",
                "size": e.size.to_string(),
                "content_type": content_type(info),
                "download_count": e.downloads.to_string(),
                "cstatus": "ok",
                "link": file_link(&base, &e.id, &e.name),
                "linkextid": e.id,
            })
        })
        .collect();
    ok(json!({ "folders": folders, "files": files }))
}

async fn h_renamefolder(State(s): State<AppState>, p: Params) -> Response {
    rename(&s, &p, "folder", EntryKind::Folder).await
}

async fn h_rename(State(s): State<AppState>, p: Params) -> Response {
    rename(&s, &p, "file", EntryKind::File).await
}

async fn rename(s: &AppState, p: &Params, param: &str, kind: EntryKind) -> Response {
    let user = attempt!(p.required_user(&s.node).await);
    let id = attempt!(p.required(param));
    let name = attempt!(p.required("name"));
    call!(files::rename(&s.node, &user, id, kind, name).await);
    ok(Value::Bool(true))
}

async fn h_delete(State(s): State<AppState>, p: Params) -> Response {
    let user = attempt!(p.required_user(&s.node).await);
    let id = attempt!(p.required("file"));
    call!(files::delete(&s.node, &user, id).await);
    ok(Value::Bool(true))
}

// ---- media ----

async fn h_convert(State(s): State<AppState>, p: Params) -> Response {
    let user = attempt!(p.required_user(&s.node).await);
    let id = attempt!(p.required("file"));
    call!(files::convert(&s.node, &user, id).await);
    ok(Value::Bool(true))
}

async fn h_runningconverts(State(s): State<AppState>, headers: HeaderMap, p: Params) -> Response {
    let user = attempt!(p.required_user(&s.node).await);
    let list = call!(files::running_converts(&s.node, &user, p.get("folder")).await);
    let base = base(&headers);
    let items: Vec<Value> = list
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "id": c.id.to_string(),
                "status": "pending",
                "last_update": ms_datetime(c.updated),
                "progress": c.progress,
                "retries": "0",
                "link": file_link(&base, &c.file, &c.name),
                "linkextid": c.file,
            })
        })
        .collect();
    ok(Value::Array(items))
}

async fn h_getsplash(State(s): State<AppState>, headers: HeaderMap, p: Params) -> Response {
    let user = attempt!(p.required_user(&s.node).await);
    let id = attempt!(p.required("file"));
    let splash = call!(files::splash(&s.node, &user, id).await);
    ok(json!(format!(
        "{}/splash/{id}/{splash}.jpg",
        base(&headers)
    )))
}

async fn h_splash_image(
    State(s): State<AppState>,
    Path((id, image)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let splash = image.strip_suffix(".jpg").unwrap_or(&image);
    let entry = match files::splash_image(&s.node, &id, splash).await {
        Ok(e) => e,
        Err(e) => return content_failure(e),
    };
    let info = match s.node.entries().entry(&entry.id).await {
        Ok(i) => i,
        Err(e) => return content_failure(e),
    };
    serve(&s.node, &info, &method, &headers, false).await
}

// ---- the rest ----

async fn h_page_named(
    State(s): State<AppState>,
    Path((id, _name)): Path<(String, String)>,
) -> Response {
    page(&s.node, &id).await
}

async fn h_page(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    page(&s.node, &id).await
}

/// A minimal share page: the file's name and size, or 404.
async fn page(node: &Node, id: &str) -> Response {
    let info = match files::file(node, id).await {
        Ok(info) if !files::blocked(&info) => info,
        _ => {
            return (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<!doctype html><title>File not found</title><p>We can't find the file you are looking for.</p>\n",
            )
                .into_response();
        }
    };
    let name = html_escape(&info.entry.name);
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>{name}</title>\
         <h1>{name}</h1><p>{} bytes. Download it through the API: file/dlticket, then file/dl.</p>\n",
        info.entry.size
    );
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn h_unknown() -> Response {
    fail(404, "no such API call")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_are_utc_in_openloads_format() {
        assert_eq!(datetime(0), "1970-01-01 00:00:00");
        // The seed's ticket time and valid_until.
        assert_eq!(datetime(1_440_353_112), "2015-08-23 18:05:12");
        assert_eq!(datetime(1_420_847_994), "2015-01-09 23:59:54");
        assert_eq!(datetime(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(ms_datetime(-1), "1969-12-31 23:59:59");
    }

    #[test]
    fn names_are_escaped_as_one_path_segment() {
        assert_eq!(
            escape("The quick brown fox.txt"),
            "The%20quick%20brown%20fox.txt"
        );
        assert_eq!(escape("a/b?c#é"), "a%2Fb%3Fc%23%C3%A9");
    }

    #[test]
    fn links_use_the_host_header_only_when_it_is_a_host() {
        let mut h = HeaderMap::new();
        assert_eq!(base(&h), "http://127.0.0.1");
        h.insert(header::HOST, HeaderValue::from_static("node.example:8180"));
        assert_eq!(base(&h), "http://node.example:8180");
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(base(&h), "https://node.example:8180");
        h.insert(header::HOST, HeaderValue::from_static("evil/<x>"));
        assert_eq!(base(&h), "https://127.0.0.1");
    }

    #[test]
    fn errors_map_to_openloads_statuses() {
        assert_eq!(status_of(NodeError::Unauthorized.kind()), 403);
        assert_eq!(status_of(NodeError::Forbidden("x".into()).kind()), 403);
        assert_eq!(status_of(NodeError::Invalid("x".into()).kind()), 400);
        assert_eq!(status_of(NodeError::Unavailable("x".into()).kind()), 503);
        assert_eq!(status_of(NodeError::Internal("x".into()).kind()), 500);
    }
}
