//! MetaDisk's API: its file calls (`/api/upload`, `/api/download`,
//! `/api/find`, `/api/status`) and its token API (the `accounts` service,
//! under `/accounts/token/`).
//!
//! Files: upload takes multipart part `file` and optional form field
//! `token` and answers **201** `{"filehash", "key"}`; it is charged 4×B to
//! the token before anything is stored (402 `{"error":
//! "balance-insufficient"}` stores nothing). Download with the right `key`
//! gives the original bytes, without a key MetaDisk's ciphertext, both as
//! attachments, charged 1×B (every file is in the node's own store). A key
//! that is not this file's is refused (403 `{"error": "key-mismatch"}`)
//! rather than decrypting to garbage as the original did. Unknown hashes:
//! download 404 `{"error": "file-not-found"}`, find 404 `{"error": "File
//! not found"}`. `find` lists one upload place, this node's download URL.
//! `status` fills MetaDisk's fields with cairn's own figures: the transfer
//! meter, storage used and capacity, the upload size limit, empty sync
//! queues (cairn has no blockchain), and the coin objects the UIs read
//! (`florincoin`, `metachains`, `datacoin`) naming the node id.
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

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::AppState;

/// The token routes, to merge at the root of a listener.
pub(crate) fn routes(upload_limit: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/api/upload",
            post(h_upload).layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
        .route("/api/download/{filehash}", get(h_download))
        .route("/api/find/{filehash}", get(h_find))
        .route("/api/status", get(h_status))
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

/// Takes the multipart body apart: the `token` field wherever it comes, and
/// the `file` part streamed into the node (a spawned task) as it arrives.
async fn h_upload(State(s): State<AppState>, mut form: Multipart) -> Response {
    let error = |status: StatusCode, e: &str| answer(status, json!({ "error": e }));
    let mut token: Option<String> = None;
    let mut field = loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => return error(StatusCode::BAD_REQUEST, "no-file"),
            Err(_) => return error(StatusCode::BAD_REQUEST, "bad-request"),
        };
        match field.name() {
            Some("token") => token = field.text().await.ok().filter(|t| !t.is_empty()),
            Some("file") => break field,
            _ => {}
        }
    };
    let name = field.file_name().unwrap_or("file").to_owned();
    let (tx, rx) = crate::pumped::channel();
    let (token_tx, token_rx) = std::sync::mpsc::channel::<Option<String>>();
    let token_rx = std::sync::Mutex::new(token_rx);
    // Asked once the file is sealed: waits for the rest of the form to be
    // read; a form never read to its end stores nothing.
    let token_of = Box::new(move || {
        let rx = token_rx.lock().unwrap_or_else(|e| e.into_inner());
        rx.recv_timeout(std::time::Duration::from_secs(30))
            .map_err(|_| cairn_node::NodeError::Aborted("the form did not arrive whole".into()))
    });
    let body = crate::pumped::body(rx);
    let node = s.node.clone();
    let upload = tokio::spawn(async move { node.metadisk_upload(token_of, &name, body).await });
    crate::pumped::pump(&mut field, &tx).await;
    drop(tx);
    drop(field);
    // A token may also follow the file in the form.
    while let Ok(Some(f)) = form.next_field().await {
        if f.name() == Some("token") {
            token = f.text().await.ok().filter(|t| !t.is_empty()).or(token);
        }
    }
    let _ = token_tx.send(token);
    let stored = match upload.await {
        Ok(stored) => stored,
        Err(e) => Err(cairn_node::NodeError::Internal(e.to_string())),
    };
    match stored {
        Ok(st) => answer(
            StatusCode::CREATED,
            json!({ "filehash": st.filehash, "key": st.key }),
        ),
        Err(e) if e.code() == "balance_insufficient" => {
            error(StatusCode::PAYMENT_REQUIRED, "balance-insufficient")
        }
        Err(e) if e.code() == "too_large" => {
            error(StatusCode::PAYLOAD_TOO_LARGE, "upload-too-large")
        }
        Err(e) => {
            tracing::warn!(error = %e, "MetaDisk upload failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "upload-error")
        }
    }
}

#[derive(serde::Deserialize)]
struct DownloadParams {
    key: Option<String>,
    token: Option<String>,
}

async fn h_download(
    State(s): State<AppState>,
    Path(filehash): Path<String>,
    Query(p): Query<DownloadParams>,
) -> Response {
    let not_found = || answer(StatusCode::NOT_FOUND, json!({ "error": "file-not-found" }));
    let file = match s.node.metadisk_file(&filehash).await {
        Ok(Some(f)) => f,
        Ok(None) => return not_found(),
        Err(e) => return download_failure(e),
    };
    let key = p.key.filter(|k| !k.is_empty());
    if let Some(k) = &key
        && !file.key_matches(k)
    {
        return answer(StatusCode::FORBIDDEN, json!({ "error": "key-mismatch" }));
    }
    let stream = match s
        .node
        .metadisk_download(p.token, &file, key.is_some())
        .await
    {
        Ok(stream) => stream,
        Err(e) => return download_failure(e),
    };
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    let name = &file.entry.name;
    let (content_type, disposition) = if key.is_some() {
        (
            "application/octet-stream".to_owned(),
            format!("attachment;filename={name}"),
        )
    } else {
        (
            file.entry
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into()),
            format!("attachment; filename={name}"),
        )
    };
    for (k, v) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_DISPOSITION, disposition),
        (header::CONTENT_LENGTH, file.entry.size.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    resp
}

fn download_failure(e: cairn_node::NodeError) -> Response {
    if e.code() == "balance_insufficient" {
        return answer(
            StatusCode::PAYMENT_REQUIRED,
            json!({ "error": "balance-insufficient" }),
        );
    }
    tracing::warn!(error = %e, "MetaDisk download failed");
    answer(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({ "error": "error-downloading-file" }),
    )
}

async fn h_find(
    State(s): State<AppState>,
    Path(filehash): Path<String>,
    headers: HeaderMap,
) -> Response {
    let file = match s.node.metadisk_file(&filehash).await {
        Ok(Some(f)) => f,
        Ok(None) => return answer(StatusCode::NOT_FOUND, json!({ "error": "File not found" })),
        Err(e) => return download_failure(e),
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    answer(
        StatusCode::OK,
        json!({
            "datetime": file.stored_secs.to_string(),
            "filehash": file.filehash,
            "filename": file.entry.name,
            "filesize": file.entry.size,
            "uploads": [{ "host_name": "cairn", "url": format!("http://{host}/api/download/{}", file.filehash) }],
            "version": "0.2",
        }),
    )
}

async fn h_status(State(s): State<AppState>) -> Response {
    let (status, meter) = match (s.node.status().await, s.node.transfer_meter().await) {
        (Ok(st), Ok(m)) => (st, m),
        (Err(e), _) | (_, Err(e)) => return download_failure(e),
    };
    let zero = json!({ "count": 0, "size": 0 });
    answer(
        StatusCode::OK,
        json!({
            "bandwidth": {
                "total": { "incoming": meter.total_incoming, "outgoing": meter.total_outgoing },
                "current": { "incoming": meter.month_incoming, "outgoing": meter.month_outgoing },
                "limits": { "incoming": 0, "outgoing": 0 },
            },
            "storage": {
                "capacity": status.storage_capacity,
                "used": status.storage_used,
                "max_file_size": s.node.config().max_upload_bytes,
            },
            "sync": { "blockchain_queue": zero, "cloud_queue": zero },
            "florincoin": { "balance": 0, "address": status.node_id, "block": 0 },
            "metachains": { "coin": "cairn", "address": status.node_id, "block": 0 },
            "datacoin": { "balance": 0, "address": status.node_id },
        }),
    )
}
