//! BitDust's WebSocket (bitdust-details.md §3): the secret in the URL's
//! query (`?api_secret=<secret>` or `?a=<secret>`, nothing else after
//! it), one JSON object per frame, `api_call` answered by
//! `{"type": "api_call", "payload": {"call_id", "response"}}`, every
//! answer and every push sent to every client; frames that are not JSON,
//! or not an `api_call`, ignored. Refused, a connection is answered 403
//! (BitDust closed it without any answer).

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use cairn_node::Event;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};

use crate::BitDust;

/// The listener's application: the WebSocket at any path.
pub(crate) fn router(layer: BitDust) -> Router {
    Router::new().fallback(upgrade).with_state(layer)
}

async fn upgrade(
    State(layer): State<BitDust>,
    uri: Uri,
    ConnectInfo(conn): ConnectInfo<cairn_api::Conn>,
    ws: WebSocketUpgrade,
) -> Response {
    let secret = uri.query().and_then(|q| {
        let (name, value) = q.split_once('=')?;
        matches!(name, "api_secret" | "a").then_some(value)
    });
    if !layer.secret_matches(secret.map(str::as_bytes)) {
        layer.push_event("web-socket-access-denied", json!({}));
        return StatusCode::FORBIDDEN.into_response();
    }
    let peer = format!("TCP://{}:{}", conn.peer.ip(), conn.peer.port());
    ws.on_upgrade(move |socket| serve(layer, socket, peer))
}

async fn serve(layer: BitDust, socket: WebSocket, peer: String) {
    let (mut tx, mut rx) = socket.split();
    let mut pushes = layer.0.pushes.subscribe();
    layer.push_event("web-socket-connected", json!({"peer": peer}));
    loop {
        tokio::select! {
            frame = pushes.recv() => match frame {
                Ok(text) => {
                    if tx.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(missed = n, "a BitDust WebSocket client fell behind");
                }
                Err(_) => break,
            },
            frame = rx.next() => match frame {
                Some(Ok(Message::Text(text))) => call(&layer, text.as_bytes()),
                Some(Ok(Message::Binary(bytes))) => call(&layer, &bytes),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    layer.push_event("web-socket-disconnected", json!({"peer": peer}));
}

/// Runs an `api_call` frame; its answer goes to every client.
fn call(layer: &BitDust, frame: &[u8]) {
    let Ok(Value::Object(frame)) = serde_json::from_slice::<Value>(frame) else {
        return;
    };
    if frame.get("command").and_then(Value::as_str) != Some("api_call") {
        return;
    }
    let call_id = frame.get("call_id").cloned().unwrap_or(Value::Null);
    let method = frame
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let kwargs = match frame.get("kwargs") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            layer.push(json!({"type": "api_call", "payload": {"call_id": call_id, "errors": [format!("{method}() argument after ** must be a mapping")]}}));
            return;
        }
    };
    let layer = layer.clone();
    tokio::spawn(async move {
        let payload = match layer.call(&method, kwargs).await {
            Ok(envelope) => json!({"call_id": call_id, "response": envelope.into_value()}),
            Err(e) => json!({"call_id": call_id, "errors": [e.0]}),
        };
        layer.push(json!({"type": "api_call", "payload": payload}));
    });
}

/// Turns the node's events into pushes: each message kept (in or out) a
/// `stream_message`.
pub(crate) fn start_pushes(layer: &BitDust) {
    let mut events = layer.node().events();
    let layer = layer.clone();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(Event::Shutdown) | Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    return;
                }
                Ok(event) => layer.on_event(&event).await,
                Err(_) => {}
            }
        }
    });
}

impl BitDust {
    /// A message as BitDust's chat history writes it (§4.10).
    pub(crate) async fn message_document(&self, m: &cairn_node::Message) -> Value {
        let group = m.peer.strip_prefix("group:");
        let data = match serde_json::from_str::<Value>(&m.body) {
            Ok(Value::Object(o)) => Value::Object(o),
            _ => json!({"message": m.body}),
        };
        let sender = format!("master${}", self.gid_of(&m.sender).await);
        let recipient = match group {
            Some(g) => format!("group_{g}${}", self.gid_of(&m.sender).await),
            None => format!("master${}", self.gid_of(&m.recipient).await),
        };
        let kind = if group.is_some() {
            "group_message"
        } else {
            "private_message"
        };
        json!({
            "payload": {
                "msg_type": kind,
                "message_id": if group.is_some() { m.seq.to_string() } else { format!("private_{}", m.seq) },
                "time": m.sent / 1000,
                "data": data,
            },
            "sender": {"glob_id": sender},
            "recipient": {"glob_id": recipient},
            "direction": if m.outgoing { "out" } else { "in" },
            "conversation_id": conversation_id(&m.peer),
        })
    }
}

/// A conversation's id, `<a>&<b>`: one number per side, stable for the
/// other side (a group: the same number twice).
pub(crate) fn conversation_id(peer: &str) -> String {
    let n = peer
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 1_000_000
        + 2;
    if peer.starts_with("group:") {
        format!("{n}&{n}")
    } else {
        format!("1&{n}")
    }
}
