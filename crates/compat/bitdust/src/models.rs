//! BitDust's data-model snapshots (bitdust-details.md §3.4, §3.5) and its
//! event catalogue (§3.6) out of the engine's events.
//!
//! - **Models.** `enable_model_listener` turns a model on for the node
//!   (every frame goes to every client, as BitDust's did: a client that
//!   asked for none gets none, which BitDust's own CLI needs, since it
//!   fails on a frame it does not know); snapshots are then pushed as the
//!   objects change, and all of them at once on `request_all` or
//!   `request_model_data`. A snapshot is the object the matching list
//!   call answers (`keys_list` for `key`, `files_list` for
//!   `private_file`…), so the two never disagree.
//! - **Events.** The engine's events become BitDust's: a tracked upload's
//!   job `backup-started`/`backup-done`/`backup-aborted`, a download's
//!   `restore-started`/`restore-done`/`restore-failed`, a share granted
//!   `share-connected`; messages become `stream_message` frames both
//!   ways.

use std::collections::BTreeSet;

use cairn_node::Event;
use serde_json::{Map, Value, json};

use crate::BitDust;
use crate::envelope::Envelope;
use crate::methods::{Args, Signature, now_secs};

/// The models this layer snapshots.
const MODELS: &[&str] = &[
    "service",
    "key",
    "conversation",
    "message",
    "correspondent",
    "online_status",
    "private_file",
    "shared_file",
    "remote_version",
    "shared_location",
    "backup_rebuilder",
];

/// The methods of this module (WebSocket only: BitDust had no REST route
/// for them).
pub(crate) const SIGNATURES: &[Signature] = &[
    Signature {
        name: "enable_model_listener",
        args: &[("model_name", None), ("request_all", Some("false"))],
    },
    Signature {
        name: "disable_model_listener",
        args: &[("model_name", None)],
    },
    Signature {
        name: "request_model_data",
        args: &[("model_name", None), ("query_details", Some("null"))],
    },
];

/// Which models are on (`*`: all).
#[derive(Default)]
pub(crate) struct Listening(BTreeSet<String>);

impl BitDust {
    /// Answers the methods of this module.
    pub(crate) async fn run_models(&self, name: &str, a: &Args) -> Option<Envelope> {
        let model = a.text("model_name");
        Some(match name {
            "enable_model_listener" => {
                self.listening().0.insert(model.clone());
                if a.flag("request_all") {
                    self.snapshot_all(&model, &Value::Null).await;
                }
                Envelope::ok()
            }
            "disable_model_listener" => {
                let mut on = self.listening();
                on.0.remove(&model);
                if model == "*" {
                    on.0.clear();
                }
                Envelope::ok()
            }
            "request_model_data" => {
                self.snapshot_all(&model, a.value("query_details")).await;
                Envelope::ok()
            }
            _ => return None,
        })
    }

    fn listening(&self) -> std::sync::MutexGuard<'_, Listening> {
        self.0.models.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether snapshots of `model` are pushed.
    fn model_on(&self, model: &str) -> bool {
        let on = self.listening();
        on.0.contains(model) || on.0.contains("*")
    }

    /// Pushes a snapshot of object `id` of `model`, if that model is on;
    /// `None` data: the object was deleted.
    pub(crate) fn push_model(&self, model: &str, id: &str, data: Option<Value>) {
        if !self.model_on(model) {
            return;
        }
        let now = now_secs();
        let mut payload = json!({"name": model, "id": id, "created": now});
        match data {
            Some(d) => payload["data"] = d,
            None => {
                payload["data"] = Value::Null;
                payload["deleted"] = json!(now);
            }
        }
        self.push(json!({"type": "model", "payload": payload}));
    }

    /// Answers list method `method` (its defaults, then `args`) as a list.
    async fn listed(&self, method: &'static str, args: Map<String, Value>) -> Vec<Value> {
        match self.call_boxed(method, args).await {
            Ok(e) => match e.0.get("result") {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            },
            Err(_) => Vec::new(),
        }
    }

    /// [`BitDust::call`], boxed: a list call made for a snapshot runs
    /// inside a call itself (`request_model_data`).
    fn call_boxed(
        &self,
        method: &'static str,
        args: Map<String, Value>,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<Envelope, crate::methods::CallError>>
                + Send
                + '_,
        >,
    > {
        Box::pin(self.call(method, args))
    }

    /// Pushes every object of `model` (every model's for `*`), narrowed
    /// by `query` (`key_id`, `remote_path`, `backup_id`) where it applies.
    async fn snapshot_all(&self, model: &str, query: &Value) {
        let models: Vec<&str> = if model == "*" {
            MODELS.to_vec()
        } else {
            MODELS.iter().copied().filter(|m| *m == model).collect()
        };
        for model in models {
            for (id, data) in self.objects(model, query).await {
                self.push_requested(model, &id, data);
            }
        }
    }

    /// Pushes a snapshot asked for, whether or not its model is on.
    fn push_requested(&self, model: &str, id: &str, data: Value) {
        let payload = json!({"name": model, "id": id, "data": data, "created": now_secs()});
        self.push(json!({"type": "model", "payload": payload}));
    }

    /// Every object of `model` now, by snapshot id.
    async fn objects(&self, model: &str, query: &Value) -> Vec<(String, Value)> {
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        match model {
            "service" => self
                .listed("services_list", Map::new())
                .await
                .into_iter()
                .filter_map(|s| Some((text(&s, "name")?, s)))
                .collect(),
            "key" => self
                .listed("keys_list", Map::new())
                .await
                .into_iter()
                .filter_map(|k| Some((text(&k, "key_id")?, k)))
                .filter(|(id, _)| text(query, "key_id").is_none_or(|q| &q == id))
                .collect(),
            "conversation" => self
                .listed("message_conversations_list", Map::new())
                .await
                .into_iter()
                .filter_map(|c| Some((text(&c, "conversation_id")?, c)))
                .collect(),
            "correspondent" | "online_status" => self
                .listed("friends_list", Map::new())
                .await
                .into_iter()
                .filter_map(|f| {
                    let idurl = text(&f, "idurl")?;
                    let data = if model == "correspondent" {
                        json!({"idurl": idurl, "nickname": f["username"]})
                    } else {
                        json!({
                            "idurl": idurl,
                            "global_id": f["global_id"],
                            "state": f["contact_state"],
                        })
                    };
                    Some((idurl, data))
                })
                .collect(),
            "shared_location" => self
                .listed("shares_list", Map::new())
                .await
                .into_iter()
                .filter_map(|s| Some((text(&s, "key_id")?, s)))
                .filter(|(id, _)| text(query, "key_id").is_none_or(|q| &q == id))
                .collect(),
            "private_file" | "shared_file" | "remote_version" => {
                let mut args = Map::new();
                args.insert("all_customers".into(), json!(true));
                if let Some(key) = text(query, "key_id") {
                    args.insert("key_id".into(), json!(key));
                    args.insert("all_customers".into(), json!(false));
                }
                if let Some(path) = text(query, "remote_path") {
                    args.insert("remote_path".into(), json!(path));
                    args.insert("all_customers".into(), json!(false));
                }
                let items = self.listed("files_list", args).await;
                let mut out = Vec::new();
                for item in items {
                    let private = item["key_alias"] == "master";
                    if model == "remote_version" {
                        out.extend(
                            version_snapshots(&item).into_iter().filter(|(id, _)| {
                                text(query, "backup_id").is_none_or(|q| &q == id)
                            }),
                        );
                    } else if private == (model == "private_file")
                        && let Some((id, data)) = file_snapshot(&item)
                    {
                        out.push((id, data));
                    }
                }
                out
            }
            "backup_rebuilder" => {
                let rebuilding = self
                    .node()
                    .jobs()
                    .list(200)
                    .await
                    .unwrap_or_default()
                    .iter()
                    .any(|j| j.kind == "repair" && j.state == "running");
                vec![(
                    "1".to_owned(),
                    json!({
                        "index": 1,
                        "id": "backup_rebuilder",
                        "name": "backup_rebuilder",
                        "state": if rebuilding { "REBUILDING" } else { "READY" },
                        "rebuilding": rebuilding,
                    }),
                )]
            }
            _ => Vec::new(),
        }
    }

    /// Turns one engine event into BitDust's frames.
    pub(crate) async fn on_event(&self, event: &Event) {
        match event {
            Event::Message { message } => {
                let doc = self.message_document(message).await;
                self.push(json!({"type": "stream_message", "payload": doc.clone()}));
                self.message_models(message, doc).await;
            }
            Event::Job { job } => {
                self.automat_changed(job);
                self.job_events(job);
            }
            Event::EntryAdded { entry } | Event::EntryChanged { entry }
                if self.model_on("private_file") || self.model_on("remote_version") =>
            {
                self.entry_models(&entry.id).await;
            }
            Event::ShareGranted { share, .. } => {
                let listed = self.listed("shares_list", Map::new()).await;
                if let Some(object) = listed.into_iter().find(|s| {
                    s["key_id"]
                        .as_str()
                        .is_some_and(|k| k.contains(share.as_str()))
                }) {
                    let id = object["key_id"].as_str().unwrap_or("").to_owned();
                    self.push_event("share-connected", object.clone());
                    self.push_model("shared_location", &id, Some(object));
                }
            }
            _ => {}
        }
    }

    /// What BitDust pushed for a message this node sent: its
    /// `stream_message` frame and snapshots.
    pub(crate) async fn sent_message(&self, message: &cairn_node::Message) {
        let doc = self.message_document(message).await;
        self.push(json!({"type": "stream_message", "payload": doc.clone()}));
        self.message_models(message, doc).await;
    }

    /// A message's `message` and `conversation` snapshots.
    pub(crate) async fn message_models(&self, message: &cairn_node::Message, doc: Value) {
        if self.model_on("message") {
            let conversation = doc["conversation_id"].as_str().unwrap_or("").to_owned();
            let id = format!(
                "{conversation}/{}",
                doc["payload"]["message_id"].as_str().unwrap_or("")
            );
            let payload =
                json!({"name": "message", "id": id, "data": doc, "created": message.sent / 1000});
            self.push(json!({"type": "model", "payload": payload}));
        }
        if self.model_on("conversation") {
            let conversation = crate::ws::conversation_id(&message.peer);
            for (id, data) in self.objects("conversation", &Value::Null).await {
                if id == conversation {
                    self.push_model("conversation", &id, Some(data));
                }
            }
        }
    }

    /// The events of a job this layer started (an upload or a download),
    /// each told once: its start (also when only its end is seen), then
    /// its end.
    pub(crate) fn job_events(&self, job: &cairn_node::JobRecord) {
        let end = job.state != "running";
        if end {
            self.job_event(job, false);
        }
        self.job_event(job, end);
    }

    fn job_event(&self, job: &cairn_node::JobRecord, end: bool) {
        let Some((upload, backup_id, source)) = self.news_of(&job.id, end) else {
            return;
        };
        let state = if end { job.state.as_str() } else { "running" };
        let (id, data) = match (upload, state) {
            (true, "running") => ("backup-started", json!({"backup_id": backup_id})),
            (true, "done") => (
                "backup-done",
                json!({"backup_id": backup_id, "source_path": source}),
            ),
            (true, _) => (
                "backup-aborted",
                json!({"backup_id": backup_id, "source_path": source}),
            ),
            (false, "running") => ("restore-started", json!({"backup_id": backup_id})),
            (false, "done") => (
                "restore-done",
                json!({
                    "backup_id": backup_id,
                    "output_location": job.result.as_ref().map_or(Value::Null, |r| r["path"].clone()),
                }),
            ),
            (false, state) => (
                "restore-failed",
                json!({
                    "backup_id": backup_id,
                    "reason": job.error.clone().unwrap_or_else(|| state.to_owned()),
                }),
            ),
        };
        self.push_event(id, data);
    }

    /// The `private_file` and `remote_version` snapshots of own entry
    /// `id`, when it lies in the master catalog.
    async fn entry_models(&self, id: &str) {
        let Some(item) = self.master_item(id).await else {
            return;
        };
        if let Some((gid, data)) = file_snapshot(&item) {
            self.push_model("private_file", &gid, Some(data));
        }
        for (bid, data) in version_snapshots(&item) {
            self.push_model("remote_version", &bid, Some(data));
        }
    }
}

/// How often the peers connected and the services' states are compared
/// with what they were.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Starts telling, until the node stops, what changes in the peers
/// connected and the services' states, as BitDust's events
/// (`node-connected`/`-disconnected`, `friend-connected`/`-disconnected`
/// for friends, `service-started`/`-stopped` for each BitDust service a
/// cairn service does the work of) and `online_status`/`service`
/// snapshots; both are read from the node once a second.
pub(crate) fn start_watching(layer: &BitDust) {
    let layer = layer.clone();
    tokio::spawn(async move {
        let node = layer.node().clone();
        let mut peers: BTreeSet<String> = BTreeSet::new();
        let mut services: std::collections::BTreeMap<String, &'static str> = Default::default();
        let mut first = true;
        loop {
            if !first {
                tokio::select! {
                    _ = node.stopped() => return,
                    _ = tokio::time::sleep(WATCH_EVERY) => {}
                }
            }
            let now: BTreeSet<String> = layer.connected_peers().await.into_iter().collect();
            let states: std::collections::BTreeMap<String, &'static str> = node
                .services()
                .list()
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|s| (s.name, s.state.as_str()))
                .collect();
            if !first {
                layer.tell_peers(&peers, &now).await;
                layer.tell_services(&services, &states).await;
            }
            (peers, services, first) = (now, states, false);
        }
    });
}

impl BitDust {
    async fn tell_peers(&self, before: &BTreeSet<String>, now: &BTreeSet<String>) {
        if before == now {
            return;
        }
        let friends: BTreeSet<String> = self
            .node()
            .people()
            .friends()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|f| f.peer)
            .collect();
        let came = now.difference(before).map(|p| (p, true));
        let went = before.difference(now).map(|p| (p, false));
        for (peer, up) in came.chain(went) {
            let (old, new) = if up {
                ("OFFLINE", "CONNECTED")
            } else {
                ("CONNECTED", "OFFLINE")
            };
            let idurl = self.idurl_of(peer).await;
            let data = json!({
                "global_id": self.gid_of(peer).await,
                "idurl": idurl,
                "old_state": old,
                "new_state": new,
            });
            let side = if up { "connected" } else { "disconnected" };
            self.push_event(&format!("node-{side}"), data.clone());
            if friends.contains(peer) {
                self.push_event(&format!("friend-{side}"), data.clone());
                self.push_model(
                    "online_status",
                    &idurl,
                    Some(json!({
                        "idurl": idurl,
                        "global_id": data["global_id"],
                        "state": new,
                    })),
                );
            }
        }
    }

    async fn tell_services(
        &self,
        before: &std::collections::BTreeMap<String, &'static str>,
        now: &std::collections::BTreeMap<String, &'static str>,
    ) {
        for (name, state) in now {
            let was = before.get(name).copied().unwrap_or("OFF");
            let told = match (was == "ON", *state == "ON") {
                (false, true) => "started",
                (true, false) => "stopped",
                _ => continue,
            };
            for bitdust in crate::services::bitdust_names_of(name) {
                self.push_event(&format!("service-{told}"), json!({"name": bitdust}));
                for (id, mut data) in self.objects("service", &json!({})).await {
                    if id == bitdust {
                        data["event"] = json!(told);
                        self.push_model("service", &id, Some(data));
                    }
                }
            }
        }
    }
}

/// A `private_file`/`shared_file` snapshot of a `files_list` item.
pub(crate) fn file_snapshot(item: &Value) -> Option<(String, Value)> {
    let id = item["global_id"].as_str()?.to_owned();
    let versions: Vec<Value> = item["versions"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|v| v["backup_id"].as_str()?.rsplit('/').next())
                .map(|name| json!({"backup_id": name}))
                .collect()
        })
        .unwrap_or_default();
    Some((
        id.clone(),
        json!({
            "global_id": id,
            "remote_path": item["remote_path"],
            "size": item["size"],
            "type": item["type"],
            "customer": item["customer"],
            "versions": versions,
        }),
    ))
}

/// The `remote_version` snapshots of a `files_list` item.
fn version_snapshots(item: &Value) -> Vec<(String, Value)> {
    item["versions"]
        .as_array()
        .map(|versions| {
            versions
                .iter()
                .filter_map(|v| {
                    let id = v["backup_id"].as_str()?.to_owned();
                    Some((
                        id.clone(),
                        json!({
                            "backup_id": id,
                            "max_block": v["size"].as_u64().map_or(0, |s| s.div_ceil(1 << 20).saturating_sub(1)),
                            "remote_path": item["remote_path"],
                            "global_id": item["global_id"],
                            "type": item["type"],
                            "filesize": v["size"],
                            "size": v["size"],
                            "key_id": item["key_id"],
                        }),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}
