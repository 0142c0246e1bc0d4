//! cacaoweb's local HTTP API (default `127.0.0.1:4001`): the documented
//! calls, the streaming URLs, paid files and the account calls its player
//! and manager page used. Files are named by the MD5 of their content (any
//! case; answered in lower case).
//!
//! Calls and answers (text is `text/html; charset=utf-8`, XML is
//! `application/xml; charset=utf-8`, scripts `application/javascript`):
//!
//! - `/version`: an integer, `major*10000 + minor*100 + patch` of cairn's
//!   version (cacaoweb printed an integer; its scheme is unknown).
//! - `/digest`: hex MD5 of the running executable, computed once.
//! - `/exit`, `/exit.html`: `OK`, then the node stops cleanly (the original
//!   exited without answering).
//! - `/upload?filepath=P[&restricted=true|false&previewallowed=true|false]`:
//!   imports the local file P (it must lie under the import roots; opened
//!   without following a symlink out of them, and, for a local user
//!   without the secret, only if that user may read it) and answers its
//!   **MD5** once stored with its digests computed: what the
//!   manager page from 2011-04 on expected, rather than the 2011-03 server's
//!   `OK`/`NOK`. On failure the body is **empty** (what that page tested)
//!   with a 4xx/5xx status and the reason in the `x-cairn-error` header.
//! - `/uploads`: XML of details §3.1 byte for byte (`fileitem` = `fileid`,
//!   `length`, `progress`, `title`, `bandwidth` in kB/s with two decimals).
//!   Running uploads come first (`fileid` empty until sealed), then the
//!   finished ones at progress 100.
//! - `/removeupload?f=MD5`: `OK`; takes the file off the list, keeps it.
//! - `/downloads`: XML of details §3.2 byte for byte, one newline after the
//!   declaration; `playerinstalled` tells whether `vlc` is on the PATH; the
//!   `downloaditemslist` is always empty (no hosting-site proxies); the
//!   `fileitem`s are the files streamed through this layer since start.
//! - `/filemetadata?f=MD5`: `<results>` with, in order, `fileid`, `title`
//!   (metadata `title`, else the file name), `length`, `restricted`,
//!   `previewallowed`, `price`, then those of `contenttype`, `language`,
//!   `subtitles`, `season`, `episode`, `year` that are set: details §3.4's
//!   reconstruction, its names for the files-manager fields. An unknown file
//!   is waited for `[gateway] cacaoweb_metadata_wait_ms` (default 3 s),
//!   then answers an empty `<results></results>`.
//! - `/fileinfo?f=MD5&request=title|meta`: the title, or the lines title,
//!   restricted, previewallowed (the 2013 player's parse); unknown files are
//!   waited for the same time, then 404 with an empty body.
//! - `/isrunning`: `Cacaoweb.callbackIsRunning()`.
//! - `/errors?unique=N`: `callbackWarnings('<code>')`, the first of
//!   `noudp`, `nospaceleft`, `permissionproblem`, `badrouter` that applies
//!   (`Node::warning`), else `OK`.
//! - `/crossdomain.xml`: a Flash policy in the original's shape
//!   (`site-control` `master-only`), but allowing only the domains
//!   `[gateway] cacaoweb_crossdomain` lists (none by default); the
//!   original allowed every domain, so any web site could read the API.
//! - Streams: `/?f=MD5`, `/index?f=`, `/index.html?f=`, `/MD5`, and
//!   `/file/download.caml?downloadid=MD5` (the same as `video/mp4`). As the
//!   original: `Content-Length`, `Content-Disposition: attachment`,
//!   `Content-Transfer-Encoding: binary`, `Accept-Ranges: bytes`, no
//!   Content-Type on `?f=`. `startposition=N` starts at byte N and answers
//!   200 with the remainder's length (unknown in the original; the player
//!   only needs the bytes from N). An HTTP `Range` is also honoured (206),
//!   which the original was not.
//! - `/file/delete.caml?fileid=MD5`: `OK`; deletes every entry holding it.
//! - `/login?username=L&password=K`: a gateway account's login and key;
//!   `logincallback(1)` or `logincallback(0)`; sets the cookie
//!   `cacaoweb_session`. `/isloggedin`: `loginstatuscallback(bool,
//!   'login', 'token')`. Calls name their session by the `token` query
//!   parameter or the cookie; without either, the newest login (cacaoweb had
//!   one logged-in user per instance).
//! - `/getfiletoken?f=MD5`: `NOS` (not logged in), `TOK` (may read it
//!   whole: free, own, or bought), or `NOT` followed by the lines
//!   `OK|<price>` or `NOK|<price>` (enough credits or not) and `<credits>`.
//! - `/transmittoken?f=MD5&token=T` (2012): `OK` when the session may read
//!   the file whole, `NOK` when not, `NOS` without a session.
//! - `/buytoken?f=MD5`: `OK` (bought now, or before: charged once), `NOS`,
//!   or `NOK|<price>|<credits>` when short; credits move buyer → owner in
//!   one ledger transaction.
//! - `/upload.php?fileid=MD5&title=…&contenttype=…&language=…&subtitles=…&
//!   season=…&episode=…&year=…&numberofcredits=N`: the "add a file to the
//!   files manager" call (stripped from the seed; details §5): stores those
//!   fields as the file's metadata, `numberofcredits` as its `price` (refused
//!   above 0 for a free file). `OK`, or an empty body with an error status.
//!
//! Paid files: a stream gives the reader (the session's account; the admin
//! with the API secret) the whole file when it is free, theirs or bought;
//! otherwise the stream ends at the preview's end (a `Range` or
//! `startposition` past it is 402), or 402 when there is no preview.
//! Operator powers manage the node; they do not unlock paid files.
//!
//! Security. The original let any web page drive it through script tags,
//! and trusted whoever reached its loopback port. Here:
//! - Every call on the layer's **own** listener must carry a `Host` that
//!   names this machine: a loopback name (`127.0.0.1`, `localhost`,
//!   `[::1]`, `local.cacaoweb.org`), an IP address, or a name in
//!   `[gateway] cacaoweb_hosts`; anything else is 403 before any handler
//!   runs (a page on a name re-pointed at 127.0.0.1, DNS rebinding).
//! - A *local caller* is one on the own listener from a loopback peer
//!   with a loopback `Host` and no sign of a cross-site page (an `Origin`
//!   or `Referer` other than this same local origin, or `Sec-Fetch-Site`
//!   other than `same-origin`/`none`). Loopback is not an identity: the
//!   node asks the kernel which local user holds the other end of the
//!   connection (`cairn_node::LocalUser::of_connection`).
//! - `upload` needs the admin secret (any listener; the operator's rights
//!   under the import roots) or a local caller, who may upload only a file
//!   they could read themselves; every refusal of theirs (missing, outside
//!   the roots, unreadable) reads the same.
//! - `exit`, `removeupload`, `file/delete.caml` and `upload.php` need the
//!   secret, or a local caller running as the node's own user or as root.
//! - `login` and `buytoken` need the secret or a local caller (any user:
//!   the account's own key or session is what they spend).
//! - The reads (lists, metadata, streams, tokens) answer anyone, as a
//!   public file host does, but only about *published* files (uploaded
//!   through cacaoweb, marked `public`, or offered for sale) and, for a
//!   session's account, its own; the operator's private files are found
//!   only with the secret, and the downloads list shows published files
//!   only. The session token is only told to same-origin callers.
//!
//! On the main listener the calls that change state need the secret.
#![deny(missing_docs, unreachable_pub)]

mod files;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use cairn_node::{
    Access, EntryInfo, ErrorKind, LocalCaller, LocalUser, Node, NodeError, OpenedFor, PaidTerms,
    Reader, User, Warning,
};
use futures_util::StreamExt;
use serde::Deserialize;

use cairn_api::range::{self, Wanted};
use cairn_api::{Conn, Served};
use files::Lists;

/// cacaoweb's local API: one per node.
pub struct Cacaoweb {
    state: AppState,
}

/// What every handler gets: the node, and the layer's lists and sessions.
#[derive(Clone)]
struct AppState {
    node: Node,
    lists: Arc<Lists>,
}

impl Cacaoweb {
    /// The layer over `node`.
    pub fn new(node: Node) -> Self {
        Self {
            state: AppState {
                node,
                lists: Arc::default(),
            },
        }
    }
}

impl cairn_api::Layer for Cacaoweb {
    fn name(&self) -> &'static str {
        "cacaoweb"
    }

    /// With `/`: cairn's greeting, or a stream with `?f=`.
    fn router(&self) -> Router {
        routes()
            .route("/", get(h_root))
            .with_state(self.state.clone())
    }

    /// The same routes behind the `Host` guard.
    fn own_router(&self) -> Router {
        routes()
            .route("/", get(h_root))
            .layer(axum::middleware::from_fn_with_state(
                self.state.clone(),
                check_host,
            ))
            .with_state(self.state.clone())
    }
}

/// The cookie a login sets.
const COOKIE: &str = "cacaoweb_session";

/// The layer's routes, except `/` (which the main listener shares).
fn routes() -> Router<AppState> {
    Router::new()
        .route("/version", get(h_version))
        .route("/digest", get(h_digest))
        .route("/exit", get(h_exit))
        .route("/exit.html", get(h_exit))
        .route("/upload", get(h_upload))
        .route("/uploads", get(h_uploads))
        .route("/removeupload", get(h_remove_upload))
        .route("/downloads", get(h_downloads))
        .route("/filemetadata", get(h_filemetadata))
        .route("/fileinfo", get(h_fileinfo))
        .route("/isrunning", get(h_isrunning))
        .route("/errors", get(h_errors))
        .route("/crossdomain.xml", get(h_crossdomain))
        .route("/index", get(h_root))
        .route("/index.html", get(h_root))
        .route("/{md5}", get(h_short_link))
        .route("/file/download.caml", get(h_download_caml))
        .route("/file/delete.caml", get(h_delete_caml))
        .route("/login", get(h_login))
        .route("/isloggedin", get(h_isloggedin))
        .route("/getfiletoken", get(h_getfiletoken))
        .route("/buytoken", get(h_buytoken))
        .route("/transmittoken", get(h_transmittoken))
        .route("/upload.php", get(h_files_manager))
}

// ---- who calls ----

/// What the layer knows of a caller.
pub(crate) struct Caller {
    /// Presented the right admin secret.
    admin: bool,
    /// Presented a secret that is wrong.
    wrong_secret: bool,
    /// On the layer's own listener, from this machine, by a loopback name.
    local: bool,
    /// Signs of a web page on another site.
    cross_site: bool,
    /// The session token asked for (query `token` or the cookie).
    token: Option<String>,
    /// Both ends of the connection.
    conn: Option<Conn>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        let presented = cairn_api::auth::presented_in(headers, &parts.uri);
        let admin = presented
            .as_deref()
            .is_some_and(|p| cairn_api::auth::is_secret(&state.node, p));
        let own = parts.extensions.get::<Served>() == Some(&Served::Own);
        let conn = parts.extensions.get::<ConnectInfo<Conn>>().map(|c| c.0);
        let peer_local = conn.is_some_and(|c| c.peer.ip().to_canonical().is_loopback());
        let host = header_str(headers, header::HOST).unwrap_or("");
        let local = own && peer_local && is_local_authority(host);
        Ok(Self {
            admin,
            wrong_secret: presented.is_some() && !admin,
            local,
            cross_site: is_cross_site(headers, host),
            token: query_value(parts.uri.query(), "token").or_else(|| cookie(headers, COOKIE)),
            conn,
        })
    }
}

impl Caller {
    /// May make the calls a web page must not drive (see the module docs).
    fn may_act(&self) -> bool {
        self.admin || (self.local && !self.cross_site && !self.wrong_secret)
    }

    /// What `look_up` (a search of the kernel's socket tables) finds of
    /// the local process at the other end of the connection.
    async fn on_connection<T: Send + 'static>(
        &self,
        look_up: fn(SocketAddr, SocketAddr) -> std::io::Result<Option<T>>,
    ) -> Option<T> {
        let conn = self.conn?;
        match tokio::task::spawn_blocking(move || look_up(conn.peer, conn.local)).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the socket tables");
                None
            }
            Err(_) => None,
        }
    }

    /// On whose behalf a local path is opened: the operator's with the
    /// admin secret, else the local user calling, who gets only files they
    /// may read themselves.
    async fn path_caller(&self) -> Result<LocalCaller, Response> {
        if self.admin {
            return Ok(LocalCaller::Operator);
        }
        if !self.may_act() {
            return Err(self.refused());
        }
        match self.on_connection(LocalUser::of_connection).await {
            Some(user) => Ok(LocalCaller::User(user)),
            None => Err(failed(
                StatusCode::FORBIDDEN,
                "refused: cannot tell which local user is calling",
            )),
        }
    }

    /// May run the node (stop it, delete files, edit the lists and the
    /// files-manager fields): the admin, or a local caller running as the
    /// node's own user or as root, who could read the secret anyway.
    async fn may_operate(&self) -> Result<(), Response> {
        if self.admin {
            return Ok(());
        }
        if !self.may_act() {
            return Err(self.refused());
        }
        match self.on_connection(LocalUser::uid_of_connection).await {
            Some(uid) if LocalUser::runs_the_node(uid) => Ok(()),
            _ => Err(failed(
                StatusCode::FORBIDDEN,
                "refused: without the admin secret only the user the node runs as (or root) may do this",
            )),
        }
    }

    fn refused(&self) -> Response {
        let why = if self.cross_site {
            "refused: this call changes the node and came from another site"
        } else {
            "refused: this call needs the admin secret, or cacaoweb's own listener from this machine"
        };
        failed(StatusCode::FORBIDDEN, why)
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The host of a `host[:port]`, without an IPv6 address's brackets.
fn host_of(authority: &str) -> &str {
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => authority,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A `host[:port]` naming this machine.
fn is_local_authority(authority: &str) -> bool {
    matches!(
        host_of(authority).to_ascii_lowercase().as_str(),
        "127.0.0.1" | "localhost" | "::1" | "local.cacaoweb.org"
    )
}

/// A `Host` cacaoweb's own listener answers: a loopback name, an IP
/// address (a page cannot be re-pointed at this machine under one), or a
/// name the operator listed.
fn is_allowed_host(authority: &str, listed: &[String]) -> bool {
    let host = host_of(authority);
    is_local_authority(authority)
        || host.parse::<std::net::IpAddr>().is_ok()
        || listed.iter().any(|h| h.eq_ignore_ascii_case(host))
}

/// Guards every call of cacaoweb's own listener, which trusts loopback
/// callers: a request whose `Host` names anything else (a web page on a
/// name re-pointed at 127.0.0.1, DNS rebinding) is refused before any
/// handler runs.
async fn check_host(
    State(s): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    let listed = &s.node.config().gateway.cacaoweb_hosts;
    if host.is_some_and(|h| is_allowed_host(h, listed)) {
        return next.run(req).await;
    }
    failed(
        StatusCode::FORBIDDEN,
        "refused: the Host header must name this machine (a loopback name, an IP address, or one of [gateway] cacaoweb_hosts)",
    )
}

/// The `host[:port]` of an absolute http(s) URL.
fn authority_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    Some(rest.split(['/', '?', '#']).next().unwrap_or(""))
}

/// An `Origin` or `Referer` other than this very local origin, or a fetch
/// the browser marks as coming from elsewhere.
fn is_cross_site(headers: &HeaderMap, host: &str) -> bool {
    let foreign = |v: &str| match authority_of(v) {
        Some(a) => !(a.eq_ignore_ascii_case(host) && is_local_authority(a)),
        None => true,
    };
    if headers.get(header::ORIGIN).is_some()
        && header_str(headers, header::ORIGIN).is_none_or(foreign)
    {
        return true;
    }
    if headers.get(header::REFERER).is_some()
        && header_str(headers, header::REFERER).is_none_or(foreign)
    {
        return true;
    }
    header_str(headers, header::HeaderName::from_static("sec-fetch-site"))
        .is_some_and(|v| !matches!(v, "same-origin" | "none"))
}

fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query?)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// The account reading: the admin, the session's account, or nobody.
fn reader(s: &AppState, caller: &Caller) -> Reader {
    if caller.admin {
        return Reader::Admin;
    }
    match session(s, caller) {
        Some((user, _)) => Reader::User(user),
        None => Reader::Anonymous,
    }
}

fn session(s: &AppState, caller: &Caller) -> Option<(User, String)> {
    s.lists.session(caller.token.as_deref())
}

// ---- answers ----

fn text(body: impl Into<String>) -> Response {
    typed("text/html; charset=utf-8", body.into())
}

fn script(body: impl Into<String>) -> Response {
    typed("application/javascript", body.into())
}

fn xml(body: String) -> Response {
    let mut resp = typed("application/xml; charset=utf-8", body);
    resp.headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    resp
}

fn typed(content_type: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::VARY, "Accept-Encoding"),
        ],
        body,
    )
        .into_response()
}

/// An empty body with `status` and the reason in `x-cairn-error`.
fn failed(status: StatusCode, why: &str) -> Response {
    let mut resp = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")]).into_response();
    let why: String = why
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .take(300)
        .collect();
    if let Ok(v) = HeaderValue::from_str(&why) {
        resp.headers_mut().insert("x-cairn-error", v);
    }
    resp
}

fn node_failed(e: &NodeError) -> Response {
    let status = status_of(e.kind());
    if status.is_server_error() {
        tracing::error!(error = %e, "cacaoweb call failed");
    }
    failed(status, &e.to_string())
}

/// The status of each kind of failure (the body is empty, the reason in
/// `x-cairn-error`: what the manager page tested).
fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound | ErrorKind::PathNotFound => StatusCode::NOT_FOUND,
        ErrorKind::PathNotAllowed
        | ErrorKind::PathRefused
        | ErrorKind::Forbidden
        | ErrorKind::AddressNotAllowed => StatusCode::FORBIDDEN,
        ErrorKind::Invalid | ErrorKind::InvalidId | ErrorKind::UploadAborted => {
            StatusCode::BAD_REQUEST
        }
        ErrorKind::NameTaken | ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::PathUnreadable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::PaymentRequired | ErrorKind::BalanceInsufficient => StatusCode::PAYMENT_REQUIRED,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::StorageExceeded => StatusCode::INSUFFICIENT_STORAGE,
        ErrorKind::TrafficExceeded => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::ShuttingDown | ErrorKind::Cancelled | ErrorKind::Unavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ErrorKind::Network => StatusCode::BAD_GATEWAY,
        ErrorKind::Corrupt
        | ErrorKind::ClientGone
        | ErrorKind::DataDirInUse
        | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Escapes text for XML (the original did not: a title with `&` or `<`
/// broke its documents).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A JavaScript single-quoted string's inside.
fn js(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' | '.' | '@' | ' ' => vec![c],
            c => format!("\\u{:04x}", c as u32 & 0xFFFF).chars().collect(),
        })
        .collect()
}

/// A well-formed MD5 id, lower-cased.
fn md5_id(s: &str) -> Option<String> {
    (s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

fn flag(v: Option<&str>, name: &str) -> Result<bool, String> {
    match v {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(format!(
            "{name} is true or false, not '{}'",
            other.chars().take(40).collect::<String>()
        )),
    }
}

// ---- the documented calls ----

async fn h_version() -> Response {
    let mut parts = env!("CARGO_PKG_VERSION")
        .split('.')
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor, patch) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    text((major * 10_000 + minor * 100 + patch).to_string())
}

static DIGEST: OnceLock<String> = OnceLock::new();

async fn h_digest() -> Response {
    if let Some(d) = DIGEST.get() {
        return text(d.clone());
    }
    let computed = tokio::task::spawn_blocking(|| -> std::io::Result<String> {
        use md5::Digest;
        use std::io::Read;
        let mut f = std::fs::File::open(std::env::current_exe()?)?;
        // MD5 alone: the one digest cacaoweb's `/digest` answers.
        let mut hasher = md5::Md5::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hex::encode(hasher.finalize()))
    })
    .await;
    match computed {
        Ok(Ok(d)) => text(DIGEST.get_or_init(|| d).clone()),
        Ok(Err(e)) => failed(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot read the executable: {e}"),
        ),
        Err(e) => failed(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn h_exit(State(s): State<AppState>, caller: Caller) -> Response {
    if let Err(refused) = caller.may_operate().await {
        return refused;
    }
    tracing::info!("shutdown asked through cacaoweb's /exit");
    s.node.request_shutdown();
    text("OK")
}

#[derive(Deserialize)]
struct UploadParams {
    filepath: Option<String>,
    restricted: Option<String>,
    previewallowed: Option<String>,
}

async fn h_upload(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<UploadParams>,
) -> Response {
    let who = match caller.path_caller().await {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let Some(path) = p.filepath.filter(|f| !f.is_empty()) else {
        return failed(StatusCode::BAD_REQUEST, "filepath is missing");
    };
    let flags = flag(p.restricted.as_deref(), "restricted")
        .and_then(|r| flag(p.previewallowed.as_deref(), "previewallowed").map(|p| (r, p)));
    let (restricted, preview) = match flags {
        Ok(f) => f,
        Err(why) => return failed(StatusCode::BAD_REQUEST, &why),
    };
    let path = std::path::Path::new(&path);
    match s
        .lists
        .upload(&s.node, path, restricted, preview, who)
        .await
    {
        Ok(info) => match info.aliases.get("md5") {
            Some(md5) => text(md5.clone()),
            None => failed(
                StatusCode::INTERNAL_SERVER_ERROR,
                "stored, but its MD5 is missing",
            ),
        },
        Err(e) => node_failed(&e),
    }
}

async fn h_uploads(State(s): State<AppState>) -> Response {
    let items = match s.lists.uploads(&s.node).await {
        Ok(items) => items,
        Err(e) => return node_failed(&e),
    };
    let mut out = String::from("<?xml version=\"1.0\"?><results><fileitemslist>");
    for i in items {
        out.push_str(&format!(
            "<fileitem><fileid>{}</fileid><length>{}</length><progress>{}</progress><title>{}</title><bandwidth>{:.2}</bandwidth></fileitem>",
            esc(&i.fileid),
            i.length,
            i.progress,
            esc(&i.title),
            i.bandwidth
        ));
    }
    out.push_str("</fileitemslist></results>");
    xml(out)
}

#[derive(Deserialize)]
pub(crate) struct FileParam {
    f: Option<String>,
    request: Option<String>,
    startposition: Option<String>,
}

async fn h_remove_upload(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<FileParam>,
) -> Response {
    if let Err(refused) = caller.may_operate().await {
        return refused;
    }
    let Some(md5) = p.f.as_deref().and_then(md5_id) else {
        return failed(StatusCode::BAD_REQUEST, "f must be a file's MD5");
    };
    match files::remove_upload(&s.node, &md5).await {
        Ok(()) => text("OK"),
        Err(e) => node_failed(&e),
    }
}

static PLAYER: OnceLock<bool> = OnceLock::new();

/// Whether a `vlc` executable is on the PATH.
fn player_installed() -> bool {
    *PLAYER.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| {
                std::fs::metadata(dir.join("vlc"))
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
        })
    })
}

async fn h_downloads(State(s): State<AppState>) -> Response {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<results><playerinstalled>{}</playerinstalled><downloaditemslist></downloaditemslist><fileitemslist>",
        player_installed()
    );
    for d in s.lists.downloads() {
        out.push_str(&format!(
            "<fileitem><fileid>{}</fileid><length>{}</length><progress>{}</progress><title>{}</title></fileitem>",
            esc(&d.fileid),
            d.length,
            d.progress,
            esc(&d.title)
        ));
    }
    out.push_str("</fileitemslist></results>");
    xml(out)
}

/// The file with this MD5 that `reader` may see, waited for (bounded)
/// while unknown.
async fn wait_for_file(
    s: &AppState,
    md5: &str,
    reader: &Reader,
) -> Result<Option<EntryInfo>, NodeError> {
    let wait = Duration::from_millis(s.node.config().gateway.cacaoweb_metadata_wait_ms);
    let deadline = Instant::now() + wait;
    loop {
        if let Some(file) = files::find(&s.node, md5, reader).await? {
            return Ok(Some(file.info));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        tokio::time::sleep((deadline - now).min(Duration::from_millis(100))).await;
    }
}

/// The title: metadata `title`, else the file name.
fn title_of(info: &EntryInfo) -> String {
    info.metadata
        .get("title")
        .filter(|t| !t.is_empty())
        .cloned()
        .unwrap_or_else(|| info.entry.name.clone())
}

/// Files-manager fields shown by `/filemetadata`, in order.
const MANAGER_FIELDS: [&str; 6] = [
    "contenttype",
    "language",
    "subtitles",
    "season",
    "episode",
    "year",
];

fn metadata_xml(md5: &str, info: &EntryInfo) -> String {
    let terms = PaidTerms::of(&info.metadata);
    let mut out = format!(
        "<?xml version=\"1.0\"?><results><fileid>{}</fileid><title>{}</title><length>{}</length><restricted>{}</restricted><previewallowed>{}</previewallowed><price>{}</price>",
        esc(md5),
        esc(&title_of(info)),
        info.entry.size,
        terms.restricted,
        terms.preview_allowed,
        terms.price
    );
    for k in MANAGER_FIELDS {
        if let Some(v) = info.metadata.get(k) {
            out.push_str(&format!("<{k}>{}</{k}>", esc(v)));
        }
    }
    out.push_str("</results>");
    out
}

async fn h_filemetadata(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<FileParam>,
) -> Response {
    let empty = || xml("<?xml version=\"1.0\"?><results></results>".into());
    let Some(md5) = p.f.as_deref().and_then(md5_id) else {
        return empty();
    };
    match wait_for_file(&s, &md5, &reader(&s, &caller)).await {
        Ok(Some(info)) => xml(metadata_xml(&md5, &info)),
        Ok(None) => empty(),
        Err(e) => node_failed(&e),
    }
}

async fn h_fileinfo(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<FileParam>,
) -> Response {
    let Some(md5) = p.f.as_deref().and_then(md5_id) else {
        return failed(StatusCode::BAD_REQUEST, "f must be a file's MD5");
    };
    let info = match wait_for_file(&s, &md5, &reader(&s, &caller)).await {
        Ok(Some(info)) => info,
        Ok(None) => return failed(StatusCode::NOT_FOUND, "no file has this MD5"),
        Err(e) => return node_failed(&e),
    };
    match p.request.as_deref() {
        None | Some("title") => text(title_of(&info)),
        Some("meta") => {
            let t = PaidTerms::of(&info.metadata);
            // One title per line: a line break in it would shift the rest.
            let title = title_of(&info).replace(['\r', '\n'], " ");
            text(format!("{title}\n{}\n{}", t.restricted, t.preview_allowed))
        }
        Some(_) => failed(StatusCode::BAD_REQUEST, "request is title or meta"),
    }
}

async fn h_isrunning() -> Response {
    script("Cacaoweb.callbackIsRunning()")
}

/// The first problem worth a warning, in cacaoweb's codes (its first,
/// `outdated`, has no meaning here).
async fn h_errors(State(s): State<AppState>) -> Response {
    let code = match s.node.warning().await {
        Some(Warning::NotListening) => "noudp",
        Some(Warning::NoSpaceLeft) => "nospaceleft",
        Some(Warning::NotWritable) => "permissionproblem",
        Some(Warning::Unreachable) => "badrouter",
        None => "OK",
    };
    text(format!("callbackWarnings('{code}')"))
}

/// Flash's cross-domain policy, in the original's shape, but letting in
/// only the domains `[gateway] cacaoweb_crossdomain` lists (the original
/// let every site read the local API).
fn crossdomain(domains: &[String]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\"?>\n\
<!DOCTYPE cross-domain-policy SYSTEM \"http://www.adobe.com/xml/dtds/cross-domain-policy.dtd\">\n\
<cross-domain-policy>\n\
<site-control permitted-cross-domain-policies=\"master-only\"/>\n",
    );
    for d in domains {
        let d = esc(d);
        out.push_str(&format!(
            "<allow-access-from domain=\"{d}\"/>\n<allow-http-request-headers-from domain=\"{d}\" headers=\"*\"/>\n"
        ));
    }
    out.push_str("</cross-domain-policy>\n");
    out
}

async fn h_crossdomain(State(s): State<AppState>) -> Response {
    let policy = crossdomain(&s.node.config().gateway.cacaoweb_crossdomain);
    typed("text/x-cross-domain-policy", policy)
}

// ---- streams ----

/// `/`, `/index`, `/index.html`: a file's stream with `?f=`, else a page.
async fn h_root(
    state: State<AppState>,
    caller: Caller,
    axum::Extension(served): axum::Extension<Served>,
    Query(p): Query<FileParam>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    match p.f.as_deref() {
        Some(f) => {
            let start = p.startposition.as_deref();
            stream(&state, &caller, f, start, &method, &headers, false).await
        }
        None if served == Served::Main => {
            "cairn node: the API is under /api/v1 (see /api/v1/openapi.json)\n".into_response()
        }
        None => text(
            "cairn node, cacaoweb layer: stream a file at /?f=MD5, see /uploads and /downloads",
        ),
    }
}

async fn h_short_link(
    state: State<AppState>,
    caller: Caller,
    Path(md5): Path<String>,
    Query(p): Query<FileParam>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let start = p.startposition.as_deref();
    stream(&state, &caller, &md5, start, &method, &headers, false).await
}

#[derive(Deserialize)]
struct DownloadParams {
    downloadid: Option<String>,
    startposition: Option<String>,
}

async fn h_download_caml(
    state: State<AppState>,
    caller: Caller,
    Query(p): Query<DownloadParams>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let id = p.downloadid.unwrap_or_default();
    let start = p.startposition.as_deref();
    stream(&state, &caller, &id, start, &method, &headers, true).await
}

/// Streams the file with MD5 `f` within what the reader may read.
async fn stream(
    s: &AppState,
    caller: &Caller,
    f: &str,
    startposition: Option<&str>,
    method: &Method,
    headers: &HeaderMap,
    as_mp4: bool,
) -> Response {
    let Some(md5) = md5_id(f) else {
        return failed(StatusCode::NOT_FOUND, "not a file's MD5");
    };
    let reader = reader(s, caller);
    let (info, published) = match files::find(&s.node, &md5, &reader).await {
        Ok(Some(file)) => (file.info, file.published),
        Ok(None) => return failed(StatusCode::NOT_FOUND, "no file has this MD5"),
        Err(e) => return node_failed(&e),
    };
    // The handle refuses any read past what the reader may read.
    let opened = match s.node.paid().open_for(&info, &reader).await {
        Ok(opened) => opened,
        Err(e) => return node_failed(&e),
    };
    let status = &opened.status;
    let size = info.entry.size;
    let (code, asked) = match asked_span(startposition, headers, size) {
        Ok(x) => x,
        Err(resp) => return *resp,
    };
    let readable = status.access.readable(size);
    let span = asked.start..asked.end.min(readable.end);
    if span.is_empty() && !asked.is_empty() {
        let e = status
            .check_read(&asked)
            .err()
            .unwrap_or_else(|| NodeError::PaymentRequired("buy this file to read it".into()));
        return node_failed(&e);
    }
    let listed = published.then_some(md5.as_str());
    let body = body_of(s, &opened, listed, span.clone(), method).await;
    let mut resp = match body {
        Ok(body) => Response::new(body),
        Err(e) => return node_failed(&e),
    };
    *resp.status_mut() = code;
    let h = resp.headers_mut();
    let mut put = |k: header::HeaderName, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    put(header::CONTENT_LENGTH, (span.end - span.start).to_string());
    put(header::ACCEPT_RANGES, "bytes".into());
    put(
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{}\"", ascii_name(&info.entry.name)),
    );
    put(
        header::HeaderName::from_static("content-transfer-encoding"),
        "binary".into(),
    );
    if as_mp4 {
        put(header::CONTENT_TYPE, "video/mp4".into());
    }
    if code == StatusCode::PARTIAL_CONTENT && !span.is_empty() {
        put(
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{size}", span.start, span.end - 1),
        );
    }
    if let Access::Preview { bytes } = status.access {
        put(
            header::HeaderName::from_static("x-cairn-preview-end"),
            bytes.min(size).to_string(),
        );
    }
    resp
}

/// The range asked: `startposition` (200, from there to the end), else
/// the `Range` header (206), else all (200).
fn asked_span(
    startposition: Option<&str>,
    headers: &HeaderMap,
    size: u64,
) -> Result<(StatusCode, std::ops::Range<u64>), Box<Response>> {
    if let Some(sp) = startposition.filter(|s| !s.is_empty()) {
        return match sp.parse::<u64>() {
            Ok(n) if n <= size => Ok((StatusCode::OK, n..size)),
            _ => Err(Box::new(failed(
                StatusCode::RANGE_NOT_SATISFIABLE,
                &format!("startposition must be 0 to {size}"),
            ))),
        };
    }
    match range::parse(header_str(headers, header::RANGE), size) {
        Wanted::Whole => Ok((StatusCode::OK, 0..size)),
        Wanted::Part(r) => Ok((StatusCode::PARTIAL_CONTENT, r)),
        Wanted::Unsatisfiable => {
            let mut resp = failed(
                StatusCode::RANGE_NOT_SATISFIABLE,
                &format!("the range cannot be served from {size} bytes"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            Err(Box::new(resp))
        }
    }
}

fn ascii_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The verified bytes of `span`, counted in the downloads list under
/// `listed` (a published file's MD5; others are not listed); the first
/// piece is read before answering, so a bad start is a clean error.
async fn body_of(
    s: &AppState,
    opened: &OpenedFor,
    listed: Option<&str>,
    span: std::ops::Range<u64>,
    method: &Method,
) -> Result<Body, NodeError> {
    if *method == Method::HEAD || span.is_empty() {
        return Ok(Body::empty());
    }
    let (info, handle) = (&opened.info, opened.handle.clone());
    let ticket = listed.map(|md5| s.lists.download(md5, &info.entry.name, info.entry.size));
    let mut stream = s.node.blobs().stream(
        handle,
        span,
        info.entry.name.clone(),
        Some(info.entry.id.clone()),
    );
    let first = match stream.next().await {
        Some(Ok(piece)) => piece,
        Some(Err(e)) => return Err(e),
        None => Bytes::new(),
    };
    let count = move |n: usize| {
        if let Some(t) = &ticket {
            t.sent(n as u64);
        }
    };
    count(first.len());
    let rest = stream.map(move |piece| {
        if let Ok(p) = &piece {
            count(p.len());
        }
        piece
    });
    Ok(Body::from_stream(
        futures_util::stream::once(async { Ok::<_, NodeError>(first) }).chain(rest),
    ))
}

#[derive(Deserialize)]
struct DeleteParams {
    fileid: Option<String>,
}

async fn h_delete_caml(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<DeleteParams>,
) -> Response {
    if let Err(refused) = caller.may_operate().await {
        return refused;
    }
    let Some(md5) = p.fileid.as_deref().and_then(md5_id) else {
        return failed(StatusCode::BAD_REQUEST, "fileid must be a file's MD5");
    };
    match s.lists.delete(&s.node, &md5).await {
        Ok(_) => text("OK"),
        Err(e) => node_failed(&e),
    }
}

// ---- accounts and paid files ----

#[derive(Deserialize)]
struct LoginParams {
    username: Option<String>,
    password: Option<String>,
}

async fn h_login(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<LoginParams>,
) -> Response {
    if !caller.may_act() {
        return caller.refused();
    }
    let (login, key) = (
        p.username.unwrap_or_default(),
        p.password.unwrap_or_default(),
    );
    match s.lists.login(&s.node, &login, &key).await {
        Ok((_, token)) => {
            let mut resp = script("logincallback(1)");
            let c = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
            if let Ok(v) = HeaderValue::from_str(&c) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        Err(NodeError::Unauthorized) => script("logincallback(0)"),
        Err(e) => node_failed(&e),
    }
}

async fn h_isloggedin(State(s): State<AppState>, caller: Caller) -> Response {
    match session(&s, &caller) {
        Some((user, token)) => {
            let token = if caller.cross_site {
                String::new()
            } else {
                token
            };
            script(format!(
                "loginstatuscallback(true, '{}', '{}')",
                js(&user.login),
                js(&token)
            ))
        }
        None => script("loginstatuscallback(false, '', '')"),
    }
}

/// The file with MD5 `f` that `reader` may see.
async fn paid_file(s: &AppState, f: Option<&str>, reader: &Reader) -> Result<EntryInfo, Response> {
    let Some(md5) = f.and_then(md5_id) else {
        return Err(failed(StatusCode::BAD_REQUEST, "f must be a file's MD5"));
    };
    match files::find(&s.node, &md5, reader).await {
        Ok(Some(file)) => Ok(file.info),
        Ok(None) => Err(failed(StatusCode::NOT_FOUND, "no file has this MD5")),
        Err(e) => Err(node_failed(&e)),
    }
}

/// The file a token call names and the caller's session; the answer to
/// give instead when the file is unknown or there is no session (`NOS`).
async fn file_and_session(
    s: &AppState,
    caller: &Caller,
    f: Option<&str>,
) -> Result<(EntryInfo, User), Response> {
    let info = paid_file(s, f, &reader(s, caller)).await?;
    let (user, _) = session(s, caller).ok_or_else(|| text("NOS"))?;
    Ok((info, user))
}

async fn h_getfiletoken(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<FileParam>,
) -> Response {
    let (info, user) = match file_and_session(&s, &caller, p.f.as_deref()).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let status = match s
        .node
        .paid()
        .paid_status_of(&info, &Reader::User(user.clone()))
        .await
    {
        Ok(st) => st,
        Err(e) => return node_failed(&e),
    };
    if status.access == Access::Whole {
        return text("TOK");
    }
    let credits = match s.node.accounts().info(&user).await {
        Ok(a) => a.credits,
        Err(e) => return node_failed(&e),
    };
    let price = status.terms.price;
    let enough = if credits >= 0 && credits as u64 >= price {
        "OK"
    } else {
        "NOK"
    };
    text(format!("NOT\n{enough}|{price}\n{credits}"))
}

/// `/transmittoken?f=MD5&token=T` (the 2012 player's call after it got a
/// token): `OK` when session T may read the file whole (free, its own, or
/// bought), `NOK` when it may not (yet), `NOS` when there is no session.
async fn h_transmittoken(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<FileParam>,
) -> Response {
    let (info, user) = match file_and_session(&s, &caller, p.f.as_deref()).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    match s
        .node
        .paid()
        .paid_status_of(&info, &Reader::User(user))
        .await
    {
        Ok(st) if st.access == Access::Whole => text("OK"),
        Ok(_) => text("NOK"),
        Err(e) => node_failed(&e),
    }
}

async fn h_buytoken(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<FileParam>,
) -> Response {
    if !caller.may_act() {
        return caller.refused();
    }
    let (info, user) = match file_and_session(&s, &caller, p.f.as_deref()).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    match s.node.paid().buy_entry(&info.entry.id, &user).await {
        Ok(_) => text("OK"),
        Err(e) if e.kind() == ErrorKind::BalanceInsufficient => {
            let price = PaidTerms::of(&info.metadata).price;
            let credits = s.node.accounts().info(&user).await.map_or(0, |a| a.credits);
            text(format!("NOK|{price}|{credits}"))
        }
        Err(e) => node_failed(&e),
    }
}

/// `upload.php`'s fields and the metadata keys they are stored as.
const MANAGER_PARAMS: [(&str, &str); 8] = [
    ("title", "title"),
    ("contenttype", "contenttype"),
    ("language", "language"),
    ("subtitles", "subtitles"),
    ("season", "season"),
    ("episode", "episode"),
    ("year", "year"),
    ("numberofcredits", "price"),
];

async fn h_files_manager(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(refused) = caller.may_operate().await {
        return refused;
    }
    let get = |k: &str| p.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    // The files manager edits what cacaoweb publishes, nothing else.
    let info = match paid_file(&s, get("fileid"), &Reader::Anonymous).await {
        Ok(i) => i,
        Err(resp) => return resp,
    };
    let changes: std::collections::BTreeMap<String, Option<String>> = MANAGER_PARAMS
        .iter()
        .filter_map(|(param, key)| get(param).map(|v| ((*key).to_owned(), Some(v.to_owned()))))
        .collect();
    if changes.is_empty() {
        return text("OK");
    }
    match s.node.entries().set_metadata(&info.entry.id, changes).await {
        Ok(_) => text("OK"),
        Err(e) => node_failed(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_text_is_escaped() {
        assert_eq!(
            esc("a & <b> \"c\" 'd'"),
            "a &amp; &lt;b&gt; &quot;c&quot; &apos;d&apos;"
        );
        assert_eq!(esc("x\u{1}y"), "x\u{FFFD}y");
    }

    #[test]
    fn md5_ids_are_32_hex_and_lower_cased() {
        assert_eq!(
            md5_id("C9CD88165575CA8CB8DA5B963E81E6EC").as_deref(),
            Some("c9cd88165575ca8cb8da5b963e81e6ec")
        );
        assert!(md5_id("c9cd88165575ca8cb8da5b963e81e6e").is_none());
        assert!(md5_id("g9cd88165575ca8cb8da5b963e81e6ec").is_none());
    }

    #[test]
    fn only_this_local_origin_is_same_site() {
        let mut h = HeaderMap::new();
        assert!(!is_cross_site(&h, "127.0.0.1:4001"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:4001"),
        );
        assert!(!is_cross_site(&h, "127.0.0.1:4001"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(is_cross_site(&h, "127.0.0.1:4001"));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(is_cross_site(&h, "127.0.0.1:4001"));
        let mut h = HeaderMap::new();
        h.insert(
            header::REFERER,
            HeaderValue::from_static("http://localhost:4001/admin.html"),
        );
        assert!(
            is_cross_site(&h, "127.0.0.1:4001"),
            "another origin, though local"
        );
        assert!(!is_cross_site(&h, "localhost:4001"));
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(is_cross_site(&h, "127.0.0.1:4001"));
        assert!(is_local_authority("[::1]:4001"));
        assert!(is_local_authority("LOCALHOST"));
        assert!(!is_local_authority("evil.example:4001"));
    }

    #[test]
    fn javascript_strings_cannot_be_broken_out_of() {
        assert_eq!(js("a'b"), "a\\u0027b");
        assert_eq!(js("user.1@x"), "user.1@x");
    }
}
