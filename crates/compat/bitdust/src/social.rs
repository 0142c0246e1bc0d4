//! BitDust's shares, groups and message history (bitdust-details.md
//! §4.6, §4.7, §4.10) over cairn's shares, groups and messages.
//!
//! A cairn share is BitDust's share key `share_<id>$<owner>`, a cairn
//! group its group key `group_<id>$<creator>` (the same 32 hex digits).
//! Their keys are symmetric, not RSA: their key info has no public key
//! (`public` empty, `size` `"0"`, which BitDust used for an unknown
//! size).

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_node::Message;
use cairn_node::groups::GroupInfo;
use cairn_node::shares::ShareInfo;
use serde_json::{Map, Value, json};

use crate::BitDust;
use crate::envelope::Envelope;
use crate::ids;
use crate::methods::{Args, version_stamp};

/// The id a share or group key names: `share_<32 hex>` or
/// `group_<32 hex>`, then (optionally) `$` and its owner.
pub(crate) fn id_in(key_id: &str, prefix: &str) -> Option<String> {
    let alias = key_id.trim().split('$').next()?;
    let id = alias.strip_prefix(prefix)?;
    (id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| id.to_owned())
}

impl BitDust {
    // ---- shares ----

    async fn share_object(&self, s: &ShareInfo, opened: bool) -> Value {
        let creator = self.gid_of(&s.owner).await;
        let key_id = format!("share_{}${creator}", s.id);
        let state = match (s.state.as_str(), opened) {
            ("closed", _) => "CLOSED",
            (_, true) => "CONNECTED",
            _ => "DISCONNECTED",
        };
        let suppliers = if s.mine {
            self.node()
                .network()
                .status()
                .await
                .map(|n| {
                    n.suppliers
                        .iter()
                        .map(|p| ids::gid(&p.peer, None))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        json!({
            "index": if opened { json!(0) } else { Value::Null },
            "id": if opened { json!(key_id) } else { Value::Null },
            "name": if opened { json!("SharedAccessCoordinator") } else { Value::Null },
            "state": if opened { json!(state) } else { Value::Null },
            "active": s.state == "open",
            "key_id": key_id,
            "alias": format!("share_{}", s.id),
            "label": s.label,
            "creator": creator,
            "suppliers": suppliers,
            "ecc_map": Value::Null,
            "revision": s.version,
        })
    }

    async fn share_of(&self, key_id: &str) -> Result<ShareInfo, Envelope> {
        let id = id_in(key_id, "share_").ok_or_else(|| Envelope::error("invalid share id"))?;
        self.node()
            .shares()
            .info(&id)
            .await
            .map_err(|_| Envelope::error(format!("share {key_id} was not opened")))
    }

    pub(crate) async fn shares_list(&self, a: &Args) -> Envelope {
        let (mine, granted) = (a.flag("include_mine"), a.flag("include_granted"));
        let only_active = a.flag("only_active");
        let mut out = Vec::new();
        for s in self.node().shares().list().await.unwrap_or_default() {
            if (s.mine && !mine) || (!s.mine && !granted) || (only_active && s.state != "open") {
                continue;
            }
            out.push(self.share_object(&s, s.state == "open").await);
        }
        Envelope::result(Value::Array(out))
    }

    pub(crate) async fn share_info(&self, key_id: &str) -> Envelope {
        match self.share_of(key_id).await {
            Ok(s) => {
                let opened = s.state == "open";
                Envelope::ok_with(self.share_object(&s, opened).await)
            }
            Err(e) => e,
        }
    }

    pub(crate) async fn share_create(&self, a: &Args) -> Envelope {
        let label = match a.text("label") {
            l if l.is_empty() => format!("share{}", version_stamp()),
            l => l,
        };
        match self.node().shares().create(&label, None).await {
            Ok(s) => {
                let creator = self.gid_of(&s.owner).await;
                let key_id = format!("share_{}${creator}", s.id);
                Envelope::ok_with(json!({
                    "key_id": key_id,
                    "alias": format!("share_{}", s.id),
                    "creator": self.idurl_of(&s.owner).await,
                    "public": "",
                    "private": Value::Null,
                    "label": s.label,
                    "active": true,
                    "is_public": true,
                    "size": "0",
                }))
                .message(format!("new share {key_id} created successfully"))
            }
            Err(e) => Envelope::error(e.to_string()),
        }
    }

    pub(crate) async fn share_delete(&self, key_id: &str) -> Envelope {
        let s = match self.share_of(key_id).await {
            Ok(s) => s,
            Err(e) => return e,
        };
        let object = self.share_object(&s, false).await;
        match self.node().shares().delete(&s.id).await {
            Ok(()) => {
                Envelope::ok_with(object).message(format!("share {key_id} deleted successfully"))
            }
            Err(e) => Envelope::error(e.to_string()),
        }
    }

    pub(crate) async fn share_grant(&self, key_id: &str, trusted: &str) -> Envelope {
        let s = match self.share_of(key_id).await {
            Ok(s) => s,
            Err(e) => return e,
        };
        let Some(peer) = self.peer_of(trusted).await else {
            return Envelope::error("wrong user id");
        };
        match self.node().shares().grant(&s.id, &peer).await {
            Ok(_) => Envelope::ok().message("access granted"),
            Err(e) => {
                tracing::info!(error = %e, "BitDust share_grant failed");
                Envelope::error("grant access failed")
            }
        }
    }

    /// `share_open`: the share read now (a granted one from the network);
    /// `share_close`: nothing to stop here, the share as it is.
    pub(crate) async fn share_open(&self, key_id: &str, open: bool) -> Envelope {
        let s = match self.share_of(key_id).await {
            Ok(s) => s,
            Err(e) => return e,
        };
        if !open {
            let object = self.share_object(&s, false).await;
            return Envelope::ok_with(object).message(format!("share {key_id} closed"));
        }
        match self.node().shares().files(&s.id).await {
            Ok(listing) => Envelope::ok_with(self.share_object(&listing.share, true).await)
                .message(format!("share {key_id} opened successfully")),
            Err(e) => {
                tracing::info!(error = %e, "BitDust share_open: not readable");
                let mut out = Envelope::error(format!("share {key_id} disconnected"));
                if let Value::Object(m) = self.share_object(&s, false).await {
                    for (k, v) in m {
                        out.0.entry(k).or_insert(v);
                    }
                }
                out.0.insert("state".into(), json!("DISCONNECTED"));
                out
            }
        }
    }

    // ---- groups ----

    async fn group_key_info(&self, g: &GroupInfo) -> Map<String, Value> {
        let creator = self.gid_of(&g.creator).await;
        let mut m = Map::new();
        m.insert("key_id".into(), json!(format!("group_{}${creator}", g.id)));
        m.insert("alias".into(), json!(format!("group_{}", g.id)));
        m.insert("creator".into(), json!(self.idurl_of(&g.creator).await));
        m.insert("public".into(), json!(""));
        m.insert("private".into(), Value::Null);
        m.insert("label".into(), json!(g.label));
        m.insert("is_public".into(), json!(true));
        m.insert("size".into(), json!("0"));
        m
    }

    pub(crate) async fn participant(&self, g: &GroupInfo, closed: bool) -> Map<String, Value> {
        let creator = self.gid_of(&g.creator).await;
        let alias = format!("group_{}", g.id);
        let count = self
            .node()
            .groups()
            .messages(&g.id, 0, 1000)
            .await
            .map(|m| m.len())
            .unwrap_or(0) as i64;
        let mut m = Map::new();
        m.insert("index".into(), json!(0));
        m.insert(
            "id".into(),
            json!(format!("group_participant_{alias}${creator}")),
        );
        m.insert("name".into(), json!("GroupParticipant"));
        m.insert(
            "state".into(),
            json!(if closed { "CLOSED" } else { "CONNECTED" }),
        );
        m.insert("active".into(), json!(!closed));
        m.insert(
            "participant_id".into(),
            json!(self.gid_of(&self.me()).await),
        );
        m.insert("group_key_id".into(), json!(format!("{alias}${creator}")));
        m.insert("alias".into(), json!(alias));
        m.insert("label".into(), json!(g.label));
        m.insert("creator".into(), json!(creator));
        m.insert("active_supplier_pos".into(), Value::Null);
        m.insert("active_supplier_id".into(), Value::Null);
        m.insert("active_queue_id".into(), Value::Null);
        m.insert("last_sequence_id".into(), json!(count - 1));
        m.insert("sequence_head".into(), json!(0));
        m.insert("sequence_tail".into(), json!(count));
        m.insert("sequence_count".into(), json!(count));
        m
    }

    async fn group_object(&self, g: &GroupInfo) -> Value {
        let joined = g.state == "joined";
        let mut m = if joined {
            self.participant(g, false).await
        } else {
            Map::new()
        };
        let creator = self.gid_of(&g.creator).await;
        m.insert(
            "group_key_id".into(),
            json!(format!("group_{}${creator}", g.id)),
        );
        m.insert(
            "state".into(),
            json!(if joined { "CONNECTED" } else { "CLOSED" }),
        );
        m.insert("alias".into(), json!(format!("group_{}", g.id)));
        m.insert("label".into(), json!(g.label));
        m.insert("active".into(), json!(joined));
        m.insert(
            "group_key_info".into(),
            Value::Object(self.group_key_info(g).await),
        );
        if !joined {
            m.insert("last_sequence_id".into(), json!(-1));
        }
        Value::Object(m)
    }

    pub(crate) async fn group_of(&self, key_id: &str) -> Result<GroupInfo, Envelope> {
        let id = id_in(key_id, "group_").ok_or_else(|| Envelope::error("invalid group id"))?;
        self.node()
            .groups()
            .info(&id)
            .await
            .map_err(|_| Envelope::error(format!("group key {key_id} was not found")))
    }

    pub(crate) async fn groups_list(&self, a: &Args) -> Envelope {
        let (mine, granted, only_active) = (
            a.flag("include_mine"),
            a.flag("include_granted"),
            a.flag("only_active"),
        );
        let mut out = Vec::new();
        for g in self.node().groups().list().await.unwrap_or_default() {
            if (g.mine && !mine) || (!g.mine && !granted) {
                continue;
            }
            if only_active {
                if g.state == "joined" {
                    out.push(Value::Object(self.participant(&g, false).await));
                }
            } else {
                out.push(self.group_object(&g).await);
            }
        }
        Envelope::result(Value::Array(out))
    }

    pub(crate) async fn group_info(&self, key_id: &str) -> Envelope {
        match self.group_of(key_id).await {
            Ok(g) => Envelope::ok_with(self.group_object(&g).await),
            Err(e) => e,
        }
    }

    pub(crate) async fn group_create(&self, label: &str) -> Envelope {
        let label = match label {
            "" => format!("group{}", version_stamp()),
            l => l.to_owned(),
        };
        match self.node().groups().create(&label).await {
            Ok(g) => {
                let mut info = self.group_key_info(&g).await;
                let key_id = info.remove("key_id").unwrap_or(Value::Null);
                let id = key_id.as_str().unwrap_or("").to_owned();
                info.insert("group_key_id".into(), key_id);
                Envelope::ok_with(Value::Object(info))
                    .message(format!("new group {id} created successfully"))
            }
            Err(e) => {
                tracing::info!(error = %e, "BitDust group_create failed");
                Envelope::error("failed to create new group")
            }
        }
    }

    pub(crate) async fn group_join(&self, key_id: &str) -> Envelope {
        let g = match self.group_of(key_id).await {
            Ok(g) => g,
            Err(e) if id_in(key_id, "group_").is_none() => return e,
            Err(_) => return Envelope::error("group key is not registered"),
        };
        if g.state != "joined" {
            return Envelope::error("group is disconnected");
        }
        Envelope::ok_with(Value::Object(self.participant(&g, false).await))
            .message("group is already active")
    }

    pub(crate) async fn group_leave(&self, key_id: &str, erase: bool) -> Envelope {
        let g = match self.group_of(key_id).await {
            Ok(g) => g,
            Err(e) if id_in(key_id, "group_").is_none() => return e,
            Err(_) => return Envelope::error("unknown group key"),
        };
        let joined = g.state == "joined";
        let participant = self.participant(&g, true).await;
        let done = if erase {
            self.node().groups().forget(&g.id).await
        } else if joined {
            self.node().groups().leave(&g.id).await
        } else {
            Ok(())
        };
        if let Err(e) = done {
            return Envelope::error(e.to_string());
        }
        match (joined, erase) {
            (true, false) => {
                Envelope::ok_with(Value::Object(participant)).message("group deactivated")
            }
            (true, true) => Envelope::ok_with(Value::Object(participant))
                .message("group deactivated and deleted"),
            (false, false) => Envelope::ok().message("group deactivated"),
            (false, true) => Envelope::ok().message("group deleted"),
        }
    }

    pub(crate) async fn group_share(&self, key_id: &str, trusted: &str) -> Envelope {
        let g = match self.group_of(key_id).await {
            Ok(g) => g,
            Err(e) => return e,
        };
        let Some(peer) = self.peer_of(trusted).await else {
            return Envelope::error("wrong user id");
        };
        match self.node().groups().invite(&g.id, &peer).await {
            Ok(_) => Envelope::ok().message("access granted"),
            Err(e) => {
                tracing::info!(error = %e, "BitDust group_share failed");
                Envelope::error("grant access failed")
            }
        }
    }

    pub(crate) async fn message_send_group(&self, key_id: &str, data: &Value) -> Envelope {
        let g = match self.group_of(key_id).await {
            Ok(g) => g,
            Err(e) if id_in(key_id, "group_").is_none() => return e,
            Err(_) => return Envelope::error("unknown group key"),
        };
        if g.state != "joined" {
            return Envelope::error("group is not active");
        }
        let mut data = match data {
            Value::Object(m) => m.clone(),
            other => {
                let mut m = Map::new();
                m.insert("message".into(), other.clone());
                m
            }
        };
        data.insert("msg_type".into(), json!("group_message"));
        match self
            .node()
            .groups()
            .send(&g.id, &Value::Object(data).to_string())
            .await
        {
            Ok(m) => {
                self.sent_message(&m).await;
                Envelope::ok().message("group message sent")
            }
            Err(e) => Envelope::error(e.to_string()),
        }
    }

    // ---- history ----

    /// Every message kept here, oldest first (at most 100,000).
    async fn all_messages(&self) -> Vec<Message> {
        let mut all = Vec::new();
        let mut after = 0;
        while all.len() < 100_000 {
            let page = self
                .node()
                .messages()
                .list(None, after, 1000)
                .await
                .unwrap_or_default();
            let Some(last) = page.last() else { break };
            after = last.seq;
            let done = page.len() < 1000;
            all.extend(page);
            if done {
                break;
            }
        }
        all
    }

    pub(crate) async fn message_history(&self, a: &Args) -> Envelope {
        let (recipient, sender) = (a.text("recipient_id"), a.text("sender_id"));
        if recipient.is_empty() && sender.is_empty() {
            return Envelope::error("recipient_id or sender_id is required");
        }
        let kind = match a.text("message_type") {
            k if k.is_empty() => "private_message".to_owned(),
            k => k,
        };
        let who = if recipient.is_empty() {
            &sender
        } else {
            &recipient
        };
        let peer = if kind == "group_message" {
            match id_in(who, "group_") {
                Some(id) => format!("group:{id}"),
                None => return Envelope::error(format!("invalid recipient_id: {who}")),
            }
        } else {
            match self.peer_of(who).await {
                Some(p) => p,
                None => return Envelope::error("recipient was not found"),
            }
        };
        let mut docs = Vec::new();
        for m in self
            .all_messages()
            .await
            .into_iter()
            .filter(|m| m.peer == peer)
        {
            docs.push(self.message_document(&m).await);
        }
        // By message id, descending as text, as BitDust ordered them.
        docs.sort_by(|x, y| {
            let id = |d: &Value| d["payload"]["message_id"].as_str().unwrap_or("").to_owned();
            id(y).cmp(&id(x))
        });
        let offset = a.text("offset").parse::<usize>().unwrap_or(0);
        let limit = a.text("limit").parse::<usize>().unwrap_or(100);
        let page: Vec<Value> = docs
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|d| json!({"doc": d}))
            .collect();
        Envelope::result(Value::Array(page))
    }

    pub(crate) async fn message_conversations_list(&self, a: &Args) -> Envelope {
        // A comma-separated string, as BitDust read it; the list the
        // seed's example passes works too (BitDust failed on it).
        let types = match a.value("message_types") {
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            _ => a.text("message_types"),
        };
        let wanted: Vec<&str> = types
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        let mut by_peer: BTreeMap<String, (i64, i64, String)> = BTreeMap::new();
        for m in self.all_messages().await {
            let entry = by_peer
                .entry(m.peer.clone())
                .or_insert((m.sent, m.sent, String::new()));
            entry.0 = entry.0.min(m.sent);
            if m.sent >= entry.1 {
                entry.1 = m.sent;
                entry.2 = if m.peer.starts_with("group:") {
                    m.seq.to_string()
                } else {
                    format!("private_{}", m.seq)
                };
            }
        }
        let mut out = Vec::new();
        for (peer, (started, last, last_id)) in by_peer {
            let group = peer.strip_prefix("group:");
            let kind = if group.is_some() {
                "group_message"
            } else {
                "private_message"
            };
            if !wanted.is_empty() && !wanted.contains(&kind) {
                continue;
            }
            let (key_id, label, state) = match group {
                Some(id) => match self.node().groups().info(id).await {
                    Ok(g) => (
                        format!("group_{id}${}", self.gid_of(&g.creator).await),
                        g.label,
                        if g.state == "joined" {
                            "CONNECTED"
                        } else {
                            "CLOSED"
                        }
                        .to_owned(),
                    ),
                    Err(_) => (format!("group_{id}"), String::new(), "CLOSED".to_owned()),
                },
                None => {
                    let nick = self.nickname_of(&peer).await;
                    let connected = self.connected_peers().await.contains(&peer);
                    (
                        format!("master${}", ids::gid(&peer, nick.as_deref())),
                        nick.unwrap_or_else(|| ids::NO_NICKNAME.to_owned()),
                        if connected { "CONNECTED" } else { "OFFLINE" }.to_owned(),
                    )
                }
            };
            out.push(json!({
                "conversation_id": crate::ws::conversation_id(&peer),
                "type": kind,
                "started": started / 1000,
                "last_updated": last / 1000,
                "last_message_id": last_id,
                "key_id": key_id,
                "label": label,
                "state": state,
                "index": Value::Null,
                "id": Value::Null,
                "name": Value::Null,
                "events": Value::Null,
            }));
        }
        out.sort_by(|x, y| y["last_updated"].as_i64().cmp(&x["last_updated"].as_i64()));
        let offset = a.text("offset").parse::<usize>().unwrap_or(0);
        let limit = a.text("limit").parse::<usize>().unwrap_or(100);
        Envelope::result(Value::Array(
            out.into_iter().skip(offset).take(limit).collect(),
        ))
    }

    /// `message_receive`: the messages that arrive while the poll waits
    /// (at least one, or none after `polling_timeout`); a second poll of
    /// the same consumer answers the first `reset`.
    pub(crate) async fn message_receive(&self, a: &Args) -> Envelope {
        let consumer = a.text("consumer_callback_id");
        let direction = a.text("direction");
        // A comma-separated string, as BitDust read it; the list the
        // seed's example passes works too (BitDust failed on it).
        let types = match a.value("message_types") {
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            _ => a.text("message_types"),
        };
        let wanted: Vec<String> = types
            .split(',')
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        let timeout = a
            .text("polling_timeout")
            .parse::<u64>()
            .unwrap_or(60)
            .min(3600);
        let mut events = self.node().events();
        let reset = self.take_poll(&consumer);
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        loop {
            let event = tokio::select! {
                _ = &mut deadline => {
                    self.end_poll(&consumer, &reset);
                    return Envelope::result(json!([]));
                }
                _ = reset.notified() => return Envelope::error("reset"),
                e = events.recv() => e,
            };
            let message = match event {
                Ok(cairn_node::Event::Message { message }) => message,
                Ok(cairn_node::Event::Shutdown)
                | Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    return Envelope::result(json!([]));
                }
                _ => continue,
            };
            let dir = if message.outgoing {
                "outgoing"
            } else {
                "incoming"
            };
            if !direction.is_empty() && direction != dir {
                continue;
            }
            let doc = self.message_document(&message).await;
            let kind = doc["payload"]["msg_type"].as_str().unwrap_or("").to_owned();
            if !wanted.is_empty() && !wanted.contains(&kind) {
                continue;
            }
            self.end_poll(&consumer, &reset);
            return Envelope::result(json!([{
                "data": doc["payload"]["data"],
                "recipient": doc["recipient"]["glob_id"],
                "sender": doc["sender"]["glob_id"],
                "time": doc["payload"]["time"],
                "message_id": doc["payload"]["message_id"],
                "dir": dir,
            }]));
        }
    }
}
