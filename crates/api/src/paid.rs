//! Paid files on the native API, for gateway accounts as well as the admin:
//!
//! - `GET /api/v1/paid/{id}`: the entry's terms and what the caller may
//!   read (`access`: whole, preview with its end, or nothing);
//! - `POST /api/v1/paid/{id}/buy`: buys it (an account only): the price
//!   moves to its owner once; buying again charges nothing;
//! - `GET|HEAD /api/v1/paid/{id}/content`: the content with Range support;
//!   a read past what the caller may read is **402** `payment_required`
//!   (a whole-file read by a non-buyer included: ask a Range inside the
//!   preview);
//! - `GET /api/v1/ledger` (admin): the ledger's audit (balances sum to zero
//!   per unit, no drift) and the system accounts' balances.
//!
//! The caller: the admin secret (as everywhere), or an account's `login`
//! and `key` as query parameters (Openload's convention), or nobody. A
//! wrong secret or key is 401, never read as "nobody". Without the secret,
//! only published files and the account's own are found
//! (`Paid::may_see`); any other id is 404, as if it did not exist.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use cairn_node::{LedgerReport, PaidStatus, Purchase, Reader};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::content::{self, Presentation};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::PathParams;
use crate::range::{self, Wanted};
use crate::routes::EntryId;

/// The routes outside the admin check.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(h_paid_status))
        .routes(routes!(h_buy))
        .routes(routes!(h_paid_content))
}

/// Who reads: an account's login and key (else, without the admin
/// secret, nobody in particular).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Credentials {
    /// The account's login.
    login: Option<String>,
    /// The account's key.
    key: Option<String>,
}

async fn reader_of(s: &AppState, headers: &HeaderMap, uri: &Uri) -> ApiResult<Reader> {
    if let Some(secret) = crate::auth::presented_in(headers, uri) {
        return if crate::auth::is_secret(&s.node, &secret) {
            Ok(Reader::Admin)
        } else {
            Err(ApiError::unauthorized())
        };
    }
    let creds: Credentials =
        serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or(Credentials {
            login: None,
            key: None,
        });
    match (creds.login, creds.key) {
        (None, None) => Ok(Reader::Anonymous),
        (login, key) => Ok(Reader::User(
            s.node
                .accounts()
                .authenticate(&login.unwrap_or_default(), &key.unwrap_or_default())
                .await?,
        )),
    }
}

/// A file's terms and what the caller may read of it.
#[utoipa::path(get, path = "/paid/{id}", tag = "paid", params(EntryId, Credentials),
    security((), ("bearer" = []), ("header" = [])),
    responses(
        (status = 200, description = "Its terms and the caller's access.", body = PaidStatus),
        (status = 401, description = "A wrong secret, or a wrong login or key.", body = ErrorBody),
        (status = 404, description = "No such file the caller may see (a folder is none).", body = ErrorBody),
    ))]
async fn h_paid_status(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult<Response> {
    let reader = reader_of(&s, &headers, &uri).await?;
    Ok(Json(s.node.paid().paid_status(&id, &reader).await?).into_response())
}

/// Buys a file (an account only): its price moves to its owner once;
/// buying again, a free file or one's own charges nothing.
#[utoipa::path(post, path = "/paid/{id}/buy", tag = "paid", params(EntryId, Credentials),
    security((), ("bearer" = []), ("header" = [])),
    responses(
        (status = 200, description = "Bought (or already).", body = Purchase),
        (status = 401, description = "No account given, or a wrong secret, login or key.", body = ErrorBody),
        (status = 402, description = "The buyer's credits are short.", body = ErrorBody),
        (status = 404, description = "No such file the caller may see (a folder is none).", body = ErrorBody),
    ))]
async fn h_buy(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult<Response> {
    let Reader::User(user) = reader_of(&s, &headers, &uri).await? else {
        return Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "buying needs an account: give login and key",
        ));
    };
    Ok(Json(s.node.paid().buy_entry(&id, &user).await?).into_response())
}

/// A file's content, as far as the caller may read it: a read past that
/// (a whole file by a non-buyer included: ask a Range inside the preview)
/// is 402.
#[utoipa::path(get, path = "/paid/{id}/content", tag = "paid", params(EntryId, Credentials),
    security((), ("bearer" = []), ("header" = [])),
    responses(
        crate::routes::ContentAnswers,
        (status = 400, description = "A folder.", body = ErrorBody),
        (status = 401, description = "A wrong secret, or a wrong login or key.", body = ErrorBody),
        (status = 402, description = "Past what the caller may read.", body = ErrorBody),
        (status = 404, description = "No such file the caller may see.", body = ErrorBody),
    ))]
async fn h_paid_content(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult<Response> {
    let reader = reader_of(&s, &headers, &uri).await?;
    // The handle refuses any read past what the reader may read; asking
    // first answers a clean 402 before any header goes out.
    let opened = s.node.paid().open_entry_for(&id, &reader).await?;
    let size = opened.info.entry.size;
    let asked = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    match range::parse(asked, size) {
        Wanted::Whole => opened.status.check_read(&(0..size))?,
        Wanted::Part(r) => opened.status.check_read(&r)?,
        Wanted::Unsatisfiable => {}
    }
    let how = Presentation::of_entry(&opened.info.entry, false);
    let handle = opened.handle;
    // The check above saw the Range header; the answer must serve that
    // very range, so If-Range may not widen it to the whole file.
    let mut headers = headers;
    headers.remove(header::IF_RANGE);
    content::respond(&s.node, &method, &headers, handle, how).await
}

/// The ledger's audit (balances sum to zero per unit, no drift) and the
/// system accounts' balances.
#[utoipa::path(get, path = "/ledger", tag = "paid",
    responses((status = 200, description = "The report.", body = LedgerReport)))]
pub(crate) async fn h_ledger(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(s.node.paid().ledger_report().await?).into_response())
}
