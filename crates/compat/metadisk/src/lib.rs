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
//! - `deposit` and `withdraw` take a JSON body `{"bytes": …}` and the
//!   header `Authentication: <secret>` (the node's API secret); a bad
//!   secret is 401 before the body is read; insufficient balance is HTTP
//!   402 `{"error": "balance-insufficient"}`.
//!
//! Fixed holes, interface kept:
//!
//! - tokens are signed by the node when `new` issues them (nothing is
//!   stored until bytes come to one, and then only its SHA-256; the token
//!   is shown that once), and `balance`, `redeem`, `deposit` and
//!   `withdraw` of a token never issued answer 404 `{"error":
//!   "token-not-found"}`, where the service gave any string an account
//!   (a deposit to `nonexistent` or `../x` minted a token). The 404 takes
//!   the key of web-core's own `file-not-found`. An upload or download
//!   with such a token is refused like one without balance (402), as
//!   web-core answered every refusal of the accounts service;
//! - `bytes` is a JSON integer from 1 to 2^53 − 1. The service converted
//!   it with Python's `int()`, taking `"30"`, truncating `2.7` and
//!   accepting negative amounts that moved money backwards; cairn refuses
//!   all of those, and zero, with 400 `{"status": "bad-request", "field":
//!   "bytes", "message": …}` (the `status` clients read, plus what was
//!   wrong). web-core itself always sent an integer;
//! - an upload form that is cut off, or has no end boundary, is 400
//!   `{"error": "bad-request"}` (like the other bad forms; 413
//!   `upload-too-large` past the body limit) and stores nothing: the file
//!   commits only once the whole form has been read.
//!
//! Every answer carries `Access-Control-Allow-Origin: *` (the original's
//! only CORS header was a development leftover pointing at
//! localhost:8000).
#![deny(missing_docs, unreachable_pub)]

pub mod crypt;
mod files;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use cairn_api::AppState;
use cairn_node::{ErrorKind, Node};
use files::MetaDiskStored;

/// MetaDisk's API and token service: one per node.
pub struct MetaDisk {
    state: AppState,
}

impl MetaDisk {
    /// The layer over `node`.
    pub fn new(node: Node) -> Self {
        Self {
            state: AppState { node },
        }
    }
}

impl cairn_api::Layer for MetaDisk {
    fn name(&self) -> &'static str {
        "metadisk"
    }

    fn router(&self) -> Router {
        routes(cairn_api::upload_limit(&self.state.node)).with_state(self.state.clone())
    }
}

/// The token routes, to merge at the root of a listener.
fn routes(upload_limit: usize) -> Router<AppState> {
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

/// What MetaDisk's answers tell apart among the engine's failures: each
/// kind said once here, so a new kind does not compile until it is.
enum Failure {
    /// A balance too low to pay.
    Balance,
    /// No such token (or file).
    NotFound,
    /// The request is wrong.
    BadRequest,
    /// The upload is over the size limit.
    TooLarge,
    /// Anything else: web-core answered its generic error.
    Other,
}

fn failure_of(kind: ErrorKind) -> Failure {
    match kind {
        ErrorKind::BalanceInsufficient => Failure::Balance,
        ErrorKind::NotFound => Failure::NotFound,
        ErrorKind::Invalid | ErrorKind::InvalidId => Failure::BadRequest,
        ErrorKind::TooLarge => Failure::TooLarge,
        ErrorKind::NameTaken
        | ErrorKind::Conflict
        | ErrorKind::Corrupt
        | ErrorKind::StorageExceeded
        | ErrorKind::TrafficExceeded
        | ErrorKind::PathNotFound
        | ErrorKind::PathUnreadable
        | ErrorKind::PathNotAllowed
        | ErrorKind::PathRefused
        | ErrorKind::AddressNotAllowed
        | ErrorKind::UploadAborted
        | ErrorKind::Cancelled
        | ErrorKind::ClientGone
        | ErrorKind::ShuttingDown
        | ErrorKind::DataDirInUse
        | ErrorKind::Unavailable
        | ErrorKind::Network
        | ErrorKind::Unauthorized
        | ErrorKind::Forbidden
        | ErrorKind::PaymentRequired
        | ErrorKind::Internal => Failure::Other,
    }
}

/// A token call's failure, in the accounts service's shapes.
fn failure(e: cairn_node::NodeError) -> Response {
    match failure_of(e.kind()) {
        Failure::Balance => answer(
            StatusCode::PAYMENT_REQUIRED,
            json!({ "error": "balance-insufficient" }),
        ),
        Failure::NotFound => answer(StatusCode::NOT_FOUND, json!({ "error": "token-not-found" })),
        Failure::BadRequest => answer(
            StatusCode::BAD_REQUEST,
            json!({ "status": "bad-request", "message": e.to_string() }),
        ),
        Failure::TooLarge | Failure::Other => {
            tracing::error!(error = %e, "token call failed");
            answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "status": "error" }),
            )
        }
    }
}

async fn h_new(State(s): State<AppState>) -> Response {
    match s.node.tokens().issue().await {
        Ok(token) => answer(StatusCode::OK, json!({ "token": token })),
        Err(e) => failure(e),
    }
}

async fn h_prices(State(s): State<AppState>) -> Response {
    let prices: Vec<Value> = s
        .node
        .tokens()
        .prices()
        .iter()
        .map(|p| json!({ "amount": p.amount, "cost": p.cost }))
        .collect();
    answer(StatusCode::OK, json!({ "prices": prices }))
}

async fn h_balance(State(s): State<AppState>, Path(token): Path<String>) -> Response {
    match s.node.tokens().balance(&token).await {
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
    match s.node.tokens().redeem(&token, code).await {
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
    match s.node.tokens().deposit(&token, bytes).await {
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
        .tokens()
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
    if !presented
        .is_some_and(|p| cairn_api::auth::equal(p.as_bytes(), s.node.api_secret().as_bytes()))
    {
        return Err(answer(
            StatusCode::UNAUTHORIZED,
            json!({ "status": "invalid-authentication" }),
        ));
    }
    let v: Value = serde_json::from_str(body).map_err(|_| {
        answer(
            StatusCode::BAD_REQUEST,
            json!({ "status": "bad-request", "message": "the body must be JSON: {\"bytes\": <integer>}" }),
        )
    })?;
    cairn_api::amount::positive(v.get("bytes")).ok_or_else(|| {
        answer(
            StatusCode::BAD_REQUEST,
            json!({ "status": "bad-request", "field": "bytes", "message": cairn_api::amount::rule("bytes") }),
        )
    })
}

/// A MetaDisk upload that failed, answered in MetaDisk's shape
/// (`{"error": …}`).
enum UploadFailure {
    /// The form is malformed or cut off (400 `bad-request`), or over the
    /// body limit (413 `upload-too-large`): the client's doing.
    Form(StatusCode),
    /// The form has no `file` part (400 `no-file`).
    NoFile,
    /// The node refused or failed to store the file.
    Node(cairn_node::NodeError),
}

impl From<MultipartError> for UploadFailure {
    fn from(e: MultipartError) -> Self {
        Self::Form(e.status())
    }
}

impl UploadFailure {
    fn answer(self) -> Response {
        let (status, error) = match self {
            Self::Form(StatusCode::PAYLOAD_TOO_LARGE) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "upload-too-large")
            }
            Self::Form(_) => (StatusCode::BAD_REQUEST, "bad-request"),
            Self::NoFile => (StatusCode::BAD_REQUEST, "no-file"),
            Self::Node(e) => upload_error(&e),
        };
        answer(status, json!({ "error": error }))
    }
}

async fn h_upload(State(s): State<AppState>, form: Multipart) -> Response {
    match upload(&s, form).await {
        Ok(st) => answer(
            StatusCode::CREATED,
            json!({ "filehash": st.filehash, "key": st.key }),
        ),
        Err(failure) => failure.answer(),
    }
}

/// Takes the multipart body apart: the `token` field wherever it comes, and
/// the `file` part streamed into the node (a spawned task) as it arrives.
/// The upload commits only once the whole form has been read: a form that
/// is cut off or never ends stores nothing, and is answered as the client's
/// fault whatever the upload made of it.
async fn upload(s: &AppState, mut form: Multipart) -> Result<MetaDiskStored, UploadFailure> {
    // The form up to its `file` part, and a `token` field before it (read
    // here: today's borrow checker refuses a helper that returns, from a
    // loop, the part it borrowed from the form).
    let mut token = None;
    let mut field = loop {
        let field = form.next_field().await?.ok_or(UploadFailure::NoFile)?;
        match field.name() {
            Some("token") => token = token_text(field).await?.or(token),
            Some("file") => break field,
            _ => {}
        }
    };
    let name = field.file_name().unwrap_or("file").to_owned();
    let (tx, rx) = cairn_api::pumped::channel();
    let (token_tx, token_of) = token_channel();
    let body = cairn_api::pumped::body(rx);
    let node = s.node.clone();
    let upload = tokio::spawn(async move { files::upload(&node, token_of, &name, body).await });
    let pumped = cairn_api::pumped::pump(&mut field, &tx).await;
    if pumped.is_ok() {
        // The body may end here: the commit waits for the token, which is
        // sent only once the whole form has been read.
        cairn_api::pumped::end(&tx, Ok(())).await;
    }
    drop(tx);
    drop(field);
    let rest = match pumped {
        Ok(()) => rest_of_form(&mut form, token).await,
        Err(broken) => Err(UploadFailure::Form(broken.status)),
    };
    if let Ok(token) = &rest {
        let _ = token_tx.send(token.clone());
    }
    // Without a token sent, the upload gives up before its commit.
    drop(token_tx);
    let stored = upload.await;
    rest?;
    stored
        .map_err(|e| cairn_node::NodeError::Internal(e.to_string()))
        .and_then(|r| r)
        .map_err(UploadFailure::Node)
}

/// Reads the form after the `file` part to its end: a `token` field there
/// wins over one before.
async fn rest_of_form(
    form: &mut Multipart,
    mut token: Option<String>,
) -> Result<Option<String>, UploadFailure> {
    while let Some(field) = form.next_field().await? {
        if field.name() == Some("token") {
            token = token_text(field).await?.or(token);
        }
    }
    Ok(token)
}

/// A `token` field's value; an empty one is none.
async fn token_text(field: Field<'_>) -> Result<Option<String>, UploadFailure> {
    Ok(Some(field.text().await?).filter(|t| !t.is_empty()))
}

type TokenOf = Box<dyn Fn() -> Result<Option<String>, cairn_node::NodeError> + Send + Sync>;

/// The channel the form's token goes through to the upload, which asks for
/// it once the file is sealed: it waits for the rest of the form to be read,
/// and a sender dropped unsent (the form never arrived whole) fails it.
fn token_channel() -> (std::sync::mpsc::Sender<Option<String>>, TokenOf) {
    let (token_tx, token_rx) = std::sync::mpsc::channel::<Option<String>>();
    let token_rx = std::sync::Mutex::new(token_rx);
    let token_of: TokenOf = Box::new(move || {
        let rx = token_rx.lock().unwrap_or_else(|e| e.into_inner());
        rx.recv_timeout(std::time::Duration::from_secs(30))
            .map_err(|_| cairn_node::NodeError::Aborted("the form did not arrive whole".into()))
    });
    (token_tx, token_of)
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
    let file = match files::find(&s.node, &filehash).await {
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
    let stream = match files::download(&s.node, p.token, &file, key.is_some()).await {
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
    match failure_of(e.kind()) {
        Failure::Balance => answer(
            StatusCode::PAYMENT_REQUIRED,
            json!({ "error": "balance-insufficient" }),
        ),
        // web-core answered every other failure of a download alike.
        Failure::NotFound | Failure::BadRequest | Failure::TooLarge | Failure::Other => {
            tracing::warn!(error = %e, "MetaDisk download failed");
            answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": "error-downloading-file" }),
            )
        }
    }
}

/// An upload the node refused or failed to store: its status and
/// web-core's error string.
fn upload_error(e: &cairn_node::NodeError) -> (StatusCode, &'static str) {
    match failure_of(e.kind()) {
        Failure::Balance => (StatusCode::PAYMENT_REQUIRED, "balance-insufficient"),
        Failure::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "upload-too-large"),
        Failure::NotFound | Failure::BadRequest | Failure::Other => {
            tracing::warn!(error = %e, "MetaDisk upload failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "upload-error")
        }
    }
}

async fn h_find(
    State(s): State<AppState>,
    Path(filehash): Path<String>,
    headers: HeaderMap,
) -> Response {
    let file = match files::find(&s.node, &filehash).await {
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
    let (status, meter) = match (s.node.status().await, s.node.jobs().meter().await) {
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
