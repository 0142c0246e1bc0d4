//! MetaDisk's token API (its `accounts` service), under `/accounts/token/`.
//!
//! Paths, bodies, status codes and shapes follow the final accounts service
//! as the seed details describe it, which is what MetaDisk's clients (the
//! web-core node and the two web UIs) relied on. Where the seed document
//! and the service disagree, the service wins:
//!
//! - `redeem` takes a JSON body `{"promocode": …}`, answers 201
//!   `{"status": "ok"}`, and 403 `{"status": "error"}` for a missing,
//!   unknown or already redeemed code;
//! - `deposit` and `withdraw` take a JSON body `{"bytes": …}` (a number or
//!   a numeric string) and the header `Authentication: <secret>` (the
//!   node's API secret); a bad secret is 401 before the body is read;
//!   insufficient balance is HTTP 402 `{"error": "balance-insufficient"}`.
//!
//! Fixed holes, interface kept: negative amounts are refused (400
//! `bad-request`) instead of moving money backwards. Every answer carries
//! `Access-Control-Allow-Origin: *` (the original's only CORS header was a
//! development leftover pointing at localhost:8000).
//!
//! The rest of the MetaDisk layer (`/api/upload`, `/api/download`,
//! `/api/find`, `/api/status`) comes with the gateway issue.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::AppState;

/// The token routes, to merge at the root of a listener.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts/token/new", post(h_new))
        .route("/accounts/token/prices", get(h_prices))
        .route("/accounts/token/balance/{token}", get(h_balance))
        .route("/accounts/token/redeem/{token}", post(h_redeem))
        .route("/accounts/token/deposit/{token}", post(h_deposit))
        .route("/accounts/token/withdraw/{token}", post(h_withdraw))
        .layer(axum::middleware::map_response(allow_any_origin))
}

async fn allow_any_origin(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn failure(e: cairn_node::NodeError) -> Response {
    match e.code() {
        "balance_insufficient" => answer(
            StatusCode::PAYMENT_REQUIRED,
            json!({ "error": "balance-insufficient" }),
        ),
        "invalid" => answer(StatusCode::BAD_REQUEST, json!({ "status": "bad-request" })),
        _ => {
            tracing::error!(error = %e, "token call failed");
            answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "status": "error" }),
            )
        }
    }
}

async fn h_new(State(s): State<AppState>) -> Response {
    answer(StatusCode::OK, json!({ "token": s.node.new_token() }))
}

async fn h_prices(State(s): State<AppState>) -> Response {
    let prices: Vec<Value> = s
        .node
        .prices()
        .iter()
        .map(|p| json!({ "amount": p.amount, "cost": p.cost }))
        .collect();
    answer(StatusCode::OK, json!({ "prices": prices }))
}

async fn h_balance(State(s): State<AppState>, Path(token): Path<String>) -> Response {
    match s.node.token_balance(&token).await {
        Ok(balance) => answer(StatusCode::OK, json!({ "balance": balance })),
        Err(e) => failure(e),
    }
}

async fn h_redeem(
    State(s): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let refused = || answer(StatusCode::FORBIDDEN, json!({ "status": "error" }));
    if !is_json(&headers) {
        return refused();
    }
    let Ok(v) = serde_json::from_str::<Value>(&body) else {
        return answer(StatusCode::BAD_REQUEST, json!({ "status": "bad-request" }));
    };
    let Some(code) = v
        .get("promocode")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
    else {
        return refused();
    };
    match s.node.redeem(&token, code).await {
        Ok(true) => answer(StatusCode::CREATED, json!({ "status": "ok" })),
        Ok(false) => refused(),
        Err(e) => failure(e),
    }
}

async fn h_deposit(
    State(s): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let bytes = match authorised_bytes(&s, &headers, &body) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    match s.node.deposit(&token, bytes).await {
        Ok(()) => answer(StatusCode::OK, json!({ "status": "ok" })),
        Err(e) => failure(e),
    }
}

async fn h_withdraw(
    State(s): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let bytes = match authorised_bytes(&s, &headers, &body) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    match s
        .node
        .withdraw(&token, bytes, "withdraw (MetaDisk accounts API)")
        .await
    {
        Ok(()) => answer(StatusCode::OK, json!({ "status": "ok" })),
        Err(e) => failure(e),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

/// Checks the `Authentication` header (401 first), then reads `bytes`.
#[allow(clippy::result_large_err)]
fn authorised_bytes(s: &AppState, headers: &HeaderMap, body: &str) -> Result<u64, Response> {
    let presented = headers
        .get("authentication")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if !presented.is_some_and(|p| crate::auth::equal(p.as_bytes(), s.node.api_secret().as_bytes()))
    {
        return Err(answer(
            StatusCode::UNAUTHORIZED,
            json!({ "status": "invalid-authentication" }),
        ));
    }
    let bad = || answer(StatusCode::BAD_REQUEST, json!({ "status": "bad-request" }));
    let v: Value = serde_json::from_str(body).map_err(|_| bad())?;
    parse_bytes(v.get("bytes")).ok_or_else(bad)
}

/// `bytes` as the accounts service took it (Python's `int()`): an integer,
/// a number (truncated) or a string of digits; never negative.
fn parse_bytes(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.is_finite())
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_parse_like_the_original_but_never_negative() {
        assert_eq!(parse_bytes(Some(&json!(30))), Some(30));
        assert_eq!(parse_bytes(Some(&json!("30"))), Some(30));
        assert_eq!(parse_bytes(Some(&json!(2.7))), Some(2));
        assert_eq!(parse_bytes(Some(&json!(-5))), None);
        assert_eq!(parse_bytes(Some(&json!("-5"))), None);
        assert_eq!(parse_bytes(Some(&json!("2.7"))), None);
        assert_eq!(parse_bytes(Some(&json!(null))), None);
        assert_eq!(parse_bytes(None), None);
    }
}
