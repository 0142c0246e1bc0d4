//! The web UI: its pages and assets, compiled into the binary, and its
//! sign-in.
//!
//! The UI is a page of plain ES modules (`crates/api/web/`, no build
//! step) over the native API. It is served at `/` on the main listener
//! (a request for `/` with cacaoweb's `?f=` goes on to that layer) and at
//! every `/ui/…` path, which the page routes itself.
//!
//! Sign-in:
//!
//! - `GET /ui/login?token=` takes a one-time login link (`cairn node`
//!   prints one, `cairn open` asks for a fresh one), sets the session
//!   cookie and sends the browser on to `/ui/files`, so the link leaves
//!   the address bar at once;
//! - `POST /ui/session` takes the admin secret pasted into the page;
//! - `GET /ui/session` says who is signed in, with the CSRF token;
//!   `DELETE` signs out.
//!
//! Share links (`/s/<token>`, `share`): the page's public view of one
//! file, its details and its content with ranges, for anyone holding a
//! live link, no session.
//!
//! Powder Web's UI ([`powder_ui`]) is served on Powder's own listener by
//! the powder crate: its own page over Powder's API and keys.
//!
//! The cookie is `HttpOnly` and `SameSite=Strict`. A call that changes
//! something must also carry the session's CSRF token in `X-CSRF-Token`,
//! and a request with another site's `Origin` is refused. Every page and
//! asset goes out with a Content-Security-Policy that allows scripts and
//! styles from the node alone (no inline code) and no framing.

mod assets;
mod powder;
mod share;

pub use powder::powder_ui;

use axum::Json;
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// The session cookie's name.
pub const COOKIE: &str = "cairn_session";

/// The header a call that changes something carries the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The policy every page and asset of the UI goes out with.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; \
    font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
    form-action 'self'";

/// The UI's routes on the main listener (`/` is [`serve_root`]'s).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/ui/login", get(h_login))
        .route(
            "/ui/session",
            get(h_session).post(h_sign_in).delete(h_sign_out),
        )
        .route("/ui/assets/{*path}", get(assets::h_asset))
        .route("/ui", get(h_page))
        .route("/ui/", get(h_page))
        .route("/ui/{*rest}", get(h_page))
        .route("/s/{token}", get(share::h_shared_page))
        .route("/s/{token}/info", get(share::h_shared_info))
        .route("/s/{token}/content", get(share::h_shared_content))
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(state)
}

/// Serves the UI's page for `GET /` without a query the layers know
/// (cacaoweb's `?f=`); anything else goes on.
pub async fn serve_root(req: Request, next: Next) -> Response {
    let root = req.uri().path() == "/"
        && matches!(*req.method(), Method::GET | Method::HEAD)
        && !req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "f" || p.starts_with("f=")));
    if root {
        secure_headers(assets::page(req.headers())).await
    } else {
        next.run(req).await
    }
}

async fn h_page(headers: HeaderMap) -> Response {
    assets::page(&headers)
}

/// The security headers of every UI answer.
async fn secure_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

#[derive(Deserialize)]
struct LoginQuery {
    token: Option<String>,
}

/// A one-time login link: the session cookie, and on to the files page
/// (or to the sign-in form, saying why, when the link is no good).
async fn h_login(State(s): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    let token = q.token.unwrap_or_default();
    match s.node.web().redeem(&token).await {
        Ok(signed) => {
            let mut resp = redirect("/ui/files");
            set_cookie(&mut resp, &signed.token, signed.expires);
            resp
        }
        Err(_) => redirect("/ui/signin?link=used"),
    }
}

fn redirect(to: &'static str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    resp.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn set_cookie(resp: &mut Response, token: &str, expires: i64) {
    let max_age = ((expires - now_ms()) / 1000).max(0);
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Now, in Unix milliseconds.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What the page learns of its session.
#[derive(serde::Serialize)]
struct SessionBody {
    /// `operator`, the account's id, or `null` when not signed in.
    who: Option<String>,
    /// When it ends, Unix milliseconds (0 when not signed in).
    expires: i64,
    /// The token for `X-CSRF-Token` (empty when not signed in).
    csrf: String,
}

/// Who is signed in: a 200 either way, so a page that is not yet signed
/// in logs no error for asking.
async fn h_session(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let session = match cookie(&headers) {
        Some(token) => s.node.web().session(token).await?,
        None => None,
    };
    let body = match session {
        Some(session) => SessionBody {
            who: Some(session.account.unwrap_or_else(|| "operator".into())),
            expires: session.expires,
            csrf: session.csrf,
        },
        None => SessionBody {
            who: None,
            expires: 0,
            csrf: String::new(),
        },
    };
    let mut resp = Json(body).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[derive(Deserialize)]
struct SignIn {
    secret: String,
}

/// Signs in with the admin secret, pasted into the page (a JSON body, so
/// no form of another site can post it).
async fn h_sign_in(
    State(s): State<AppState>,
    crate::extract::JsonBody(body): crate::extract::JsonBody<SignIn>,
) -> ApiResult<Response> {
    let signed = s
        .node
        .web()
        .sign_in_secret(body.secret.trim())
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "that is not this node's admin secret",
            )
        })?;
    let csrf = s.node.web().csrf(&signed.token);
    let mut resp = Json(SessionBody {
        who: Some("operator".into()),
        expires: signed.expires,
        csrf,
    })
    .into_response();
    set_cookie(&mut resp, &signed.token, signed.expires);
    Ok(resp)
}

async fn h_sign_out(
    State(s): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let token = cookie(&headers).ok_or_else(signed_out)?.to_owned();
    let session = s.node.web().session(&token).await?.ok_or_else(signed_out)?;
    check_request(&headers, &method, &session.csrf)?;
    s.node.web().sign_out(&token).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let gone = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&gone) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

fn signed_out() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "not signed in")
}

/// The session token in the request's cookie.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// Whether `req` comes with the operator's live web session, and, when
/// it may change something, its CSRF token; never from another site.
pub(crate) async fn operator_session(
    node: &cairn_node::Node,
    headers: &HeaderMap,
    method: &Method,
) -> ApiResult<()> {
    let token = cookie(headers).ok_or_else(ApiError::unauthorized)?;
    let session = node
        .web()
        .session(token)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    if session.account.is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this call is the operator's",
        ));
    }
    check_request(headers, method, &session.csrf)
}

/// Refuses a request from another site's page, and one that may change
/// something without the session's CSRF token.
fn check_request(headers: &HeaderMap, method: &Method, csrf: &str) -> ApiResult<()> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let same = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .is_some_and(|(_, rest)| Some(rest) == host);
        if !same {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "a request from another site's page",
            ));
        }
    }
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if safe || sent.is_some_and(|t| crate::auth::equal(t.as_bytes(), csrf.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "a call that changes something needs the session's X-CSRF-Token",
        ))
    }
}
