//! `GET /api/v1/events`: a WebSocket that sends every node event as one
//! JSON text message. A client too slow to keep up is sent
//! `{"type": "lagged", "missed": n}` and carries on from the newest event.

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;
use crate::error::ApiResult;

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
