//! `GET /api/v1/events`: a WebSocket that sends every node event as one
//! JSON text message. A client too slow to keep up is sent
//! `{"type": "lagged", "missed": n}` and carries on from the newest event.

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;

/// Every node event as one JSON text message on a WebSocket (a hello
/// first); a request that is no WebSocket handshake is answered as an
/// error.
#[utoipa::path(get, path = "/events", tag = "node",
    params(
        ("Connection" = String, Header, description = "`Upgrade`."),
        ("Upgrade" = String, Header, description = "`websocket`."),
        ("Sec-WebSocket-Version" = String, Header, description = "`13`."),
        ("Sec-WebSocket-Key" = String, Header, description = "16 random bytes in base64."),
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket."),
        (status = 400, description = "Not a WebSocket handshake.", body = crate::error::ErrorBody),
        (status = 426, description = "A WebSocket version this server does not speak.", body = crate::error::ErrorBody),
    ))]
pub(crate) async fn h_events(
    State(s): State<AppState>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let events = s.node.events();
    let stop = s.node.clone();
    Ok(ws?.on_upgrade(move |socket| forward(socket, events, stop)))
}

async fn forward(
    mut socket: WebSocket,
    mut events: tokio::sync::broadcast::Receiver<cairn_node::Event>,
    node: cairn_node::Node,
) {
    let hello = serde_json::json!({ "type": "hello", "node_id": node.node_id() });
    if socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let text = tokio::select! {
            _ = node.stopped() => break,
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            },
            event = events.recv() => match event {
                Ok(e) => serde_json::to_string(&e).unwrap_or_default(),
                Err(RecvError::Lagged(n)) => serde_json::json!({ "type": "lagged", "missed": n }).to_string(),
                Err(RecvError::Closed) => break,
            },
        };
        if socket.send(Message::Text(text.into())).await.is_err() {
            break;
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PollParams {
    /// The last event number seen (0: from the oldest kept).
    #[param(minimum = 0, maximum = 9007199254740991_i64)]
    after: Option<u64>,
    /// Seconds to wait for an event when there is none yet (default 30,
    /// at most 60).
    #[param(minimum = 0, maximum = 60)]
    wait: Option<u64>,
    /// Most events given (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// What a long poll got.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct PolledBody {
    /// The events after the number asked, oldest first: each the
    /// WebSocket's message with its number, `seq`.
    #[schema(value_type = Vec<Object>)]
    events: Vec<cairn_node::events::Numbered>,
    /// What to ask after next time.
    next: u64,
    /// Some events after the number asked are no longer kept (the node
    /// keeps its last 1024).
    missed: bool,
}

/// The node's events for a client without a WebSocket: those numbered
/// after `after`, at once when there are some, else the first to come
/// within `wait` seconds (an empty list when none does).
#[utoipa::path(get, path = "/events/poll", tag = "node", params(PollParams),
    responses(
        (status = 200, description = "The events.", body = PolledBody),
        (status = 400, description = "A wait or limit out of bounds.", body = crate::error::ErrorBody),
    ))]
pub(crate) async fn h_poll_events(
    State(s): State<AppState>,
    QueryParams(p): QueryParams<PollParams>,
) -> ApiResult<Response> {
    let wait = p.wait.unwrap_or(30);
    if wait > 60 {
        return Err(ApiError::invalid(format!(
            "wait {wait}: give 0 to 60 seconds"
        )));
    }
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid(format!("limit {limit}: give 1 to 1000")));
    }
    if p.after.is_some_and(|a| a > cairn_node::MAX_AMOUNT as u64) {
        return Err(ApiError::invalid("after must be 0 to 9007199254740991"));
    }
    let polled = s
        .node
        .poll_events(
            p.after.unwrap_or(0),
            std::time::Duration::from_secs(wait),
            limit,
        )
        .await;
    Ok(axum::Json(PolledBody {
        events: polled.events,
        next: polled.next,
        missed: polled.missed,
    })
    .into_response())
}
