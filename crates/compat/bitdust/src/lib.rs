//! BitDust's engine API (bitdust-details.md): the REST routes on the
//! node's main listener and the WebSocket on a listener of its own
//! (`[layers] bitdust`, default `127.0.0.1:8280`, BitDust's port), over
//! cairn's identities, keys, people and messages.
//!
//! - **Names** (§5, `ids.rs`): a cairn identity is BitDust's user
//!   `<nickname>@<host>`, the host its Ed25519 key in base32, so global
//!   ids, IDURLs and key ids name exactly one peer and read back without
//!   asking anyone.
//! - **REST** (`rest.rs`): every route in its three spellings and its
//!   verb; parameters by BitDust's REST names, flags as BitDust reads
//!   them; every answer 200 with the envelope (`envelope.rs`) written as
//!   BitDust writes JSON (`json.rs`), `execution` and its CORS headers.
//!   The secret is the node's API secret, in the `api_secret` header.
//! - **WebSocket** (`ws.rs`): `?api_secret=` (or `?a=`) in the URL;
//!   `api_call` frames answered with the call's id, every answer and
//!   every push sent to every client; events and `stream_message` pushes.
//! - **Methods** (`methods.rs`) call the engine's services; what BitDust
//!   got wrong (a REST `key_audit` that could not work) works here.
#![deny(missing_docs, unreachable_pub)]

#[macro_use]
mod rest;
mod config;
mod envelope;
mod files;
mod ids;
mod json;
mod methods;
mod models;
mod netcalls;
mod netviews;
mod others;
mod people;
mod queues;
mod services;
mod social;
mod ws;

use std::sync::Arc;

use axum::Router;
use cairn_api::Layer;
use cairn_node::Node;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// The BitDust layer, made once per node. Cheap to clone.
#[derive(Clone)]
pub struct BitDust(Arc<Inner>);

struct Inner {
    node: Node,
    me: String,
    /// Frames for every WebSocket client (compact JSON).
    pushes: broadcast::Sender<String>,
    /// The `message_receive` polls waiting, by consumer id.
    polls: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Notify>>>,
    /// Events sent, counted, and queued for `event_listen` consumers.
    events: std::sync::Mutex<EventQueues>,
    /// Rung when an event is queued.
    queued: tokio::sync::Notify,
    /// The uploads and downloads started through `file_*` calls.
    transfers: std::sync::Mutex<files::Transfers>,
    /// The data models whose snapshots are pushed.
    models: std::sync::Mutex<models::Listening>,
    /// The state machines (running jobs, by id) whose changes are
    /// published as `state-changed` events (`automat_events_start`).
    publishing: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// What `events_list` and `event_listen` read.
#[derive(Default)]
struct EventQueues {
    counts: std::collections::BTreeMap<String, u64>,
    consumers: std::collections::HashMap<String, Consumer>,
}

/// One `event_listen` consumer: its queue, and whether a call waits on
/// it (one that does not, with over [`MAX_PENDING`] events, is dropped).
#[derive(Default)]
struct Consumer {
    queue: std::collections::VecDeque<(String, Value, i64)>,
    waiting: bool,
}

/// Events a consumer with no call waiting may have queued.
const MAX_PENDING: usize = 100;

impl BitDust {
    /// The layer over `node`; it starts turning the node's events into
    /// WebSocket pushes (on the current runtime).
    pub fn new(node: Node) -> Self {
        let (pushes, _) = broadcast::channel(1024);
        let me = node.node_id();
        let layer = Self(Arc::new(Inner {
            node,
            me,
            pushes,
            polls: Default::default(),
            events: Default::default(),
            queued: tokio::sync::Notify::new(),
            transfers: Default::default(),
            models: Default::default(),
            publishing: Default::default(),
        }));
        ws::start_pushes(&layer);
        models::start_watching(&layer);
        layer.write_secret();
        layer
    }

    /// Writes the node's API secret where `[bitdust] secret_file` says
    /// BitDust's clients look for it (readable by the owner alone).
    fn write_secret(&self) {
        let Some(path) = self.0.node.config().bitdust.secret_file.clone() else {
            return;
        };
        let path = match (path.strip_prefix("~"), std::env::var_os("HOME")) {
            (Ok(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
            _ => path,
        };
        let written = path
            .parent()
            .map_or(Ok(()), cairn_node::private::create_dir_all)
            .and_then(|()| {
                cairn_node::private::write_whole(&path, self.0.node.api_secret().as_bytes())
            });
        match written {
            Ok(()) => {
                tracing::info!(path = %path.display(), "API secret written for BitDust's clients")
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot write the API secret for BitDust's clients")
            }
        }
    }

    pub(crate) fn node(&self) -> &Node {
        &self.0.node
    }

    /// This node's peer id.
    pub(crate) fn me(&self) -> String {
        self.0.me.clone()
    }

    /// Whether `presented` is the secret, byte for byte.
    pub(crate) fn secret_matches(&self, presented: Option<&[u8]>) -> bool {
        let secret = self.0.node.api_secret().as_bytes();
        presented.is_some_and(|p| {
            p.len() == secret.len()
                && p.iter().zip(secret).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
        })
    }

    /// Registers a `message_receive` poll of `consumer`: an earlier one
    /// of the same consumer is told to answer `reset`. Answers what tells
    /// this one.
    pub(crate) fn take_poll(&self, consumer: &str) -> Arc<tokio::sync::Notify> {
        let mine = Arc::new(tokio::sync::Notify::new());
        let mut polls = self.0.polls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(earlier) = polls.insert(consumer.to_owned(), mine.clone()) {
            earlier.notify_one();
        }
        mine
    }

    /// The poll of `consumer` that `mine` tells answered (a newer one of
    /// the same consumer stays).
    pub(crate) fn end_poll(&self, consumer: &str, mine: &Arc<tokio::sync::Notify>) {
        let mut polls = self.0.polls.lock().unwrap_or_else(|p| p.into_inner());
        if polls.get(consumer).is_some_and(|p| Arc::ptr_eq(p, mine)) {
            polls.remove(consumer);
        }
    }

    /// Sends `frame` to every WebSocket client.
    pub(crate) fn push(&self, frame: Value) {
        let _ = self.0.pushes.send(json::compact(&frame));
    }

    /// Sends event `event_id` with `data` to every WebSocket client, and
    /// queues it for every `event_listen` consumer.
    pub(crate) fn push_event(&self, event_id: &str, data: Value) {
        {
            let mut events = self.0.events.lock().unwrap_or_else(|p| p.into_inner());
            *events.counts.entry(event_id.to_owned()).or_default() += 1;
            let time = netcalls::event_time();
            events.consumers.retain(|_, c| {
                c.queue.push_back((event_id.to_owned(), data.clone(), time));
                c.waiting || c.queue.len() <= MAX_PENDING
            });
        }
        self.0.queued.notify_waiters();
        self.push(json!({"type": "event", "payload": {"event_id": event_id, "data": data}}));
    }

    /// Turns the publishing of state machine `id`'s changes on or off.
    pub(crate) fn set_publishing(&self, id: &str, on: bool) {
        let mut publishing = self.0.publishing.lock().unwrap_or_else(|p| p.into_inner());
        if on {
            publishing.insert(id.to_owned());
        } else {
            publishing.remove(id);
        }
    }

    /// Whether state machine `id`'s changes are published.
    pub(crate) fn is_publishing(&self, id: &str) -> bool {
        let publishing = self.0.publishing.lock().unwrap_or_else(|p| p.into_inner());
        publishing.contains(id)
    }

    /// A job's change, as a `state-changed` event when its machine
    /// publishes them; a job that ended publishes no more.
    pub(crate) fn automat_changed(&self, job: &cairn_node::JobRecord) {
        if job.state == "running" || !self.is_publishing(&job.id) {
            return;
        }
        self.set_publishing(&job.id, false);
        let state = job.state.to_ascii_uppercase();
        self.push_event(
            "state-changed",
            json!({
                "index": job.seq,
                "id": job.id,
                "name": job.kind,
                "newstate": state,
                "oldstate": "RUNNING",
                "event": job.state,
            }),
        );
    }

    /// How many of each event were sent since the node started.
    pub(crate) fn event_counts(&self) -> Vec<(String, u64)> {
        let events = self.0.events.lock().unwrap_or_else(|p| p.into_inner());
        events.counts.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// The events queued for `consumer` (registered at its first call),
    /// waiting for one when there are none.
    pub(crate) async fn listen_events(&self, consumer: &str) -> Vec<(String, Value, i64)> {
        loop {
            let ring = self.0.queued.notified();
            {
                let mut events = self.0.events.lock().unwrap_or_else(|p| p.into_inner());
                let c = events.consumers.entry(consumer.to_owned()).or_default();
                if !c.queue.is_empty() {
                    c.waiting = false;
                    return c.queue.drain(..).collect();
                }
                c.waiting = true;
            }
            tokio::select! {
                _ = ring => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = self.0.node.stopped() => return Vec::new(),
            }
        }
    }
}

impl Layer for BitDust {
    fn name(&self) -> &'static str {
        "bitdust"
    }

    fn router(&self) -> Router {
        rest::router(self.clone())
    }

    fn own_router(&self) -> Router {
        ws::router(self.clone())
    }
}
