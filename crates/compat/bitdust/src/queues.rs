//! BitDust's message queues (bitdust-details.md §4.16) and the group
//! calls beside them (§4.7 `group_info_dht`, `group_reconnect`) over
//! cairn's groups and messages.
//!
//! BitDust carried a group's messages through a queue kept by a broker
//! among the creator's suppliers. cairn has no brokers: a group message
//! goes by gossip and, until each member took it, as a copy in the
//! sender's outbox; a private message waits in the outbox until its
//! recipient answers. So here:
//!
//! - `queues_list`: this node's outboxes, one queue per group
//!   (`group_<id>&<creator>&<me>`) and per recipient of private
//!   messages (`person&<recipient>&<me>`), with the messages waiting;
//! - `queue_consumers_list`, `queue_producers_list`: this node, consumer
//!   and producer of its joined groups' queues, with the messages it
//!   received and sent in them;
//! - `queue_streams_list`: each joined group, its members and its last
//!   message's number;
//! - `queue_keepers_list`, `queue_peddlers_list`: the brokers' side,
//!   which cairn has none of: empty, as on a BitDust node without
//!   `service_message_broker`;
//! - `group_info_dht`: a creator's brokers in the DHT: none, ever;
//! - `group_reconnect`: a joined group's state (the node's own loop keeps
//!   its subscription and copies going every 2 s).

use cairn_node::groups::GroupInfo;
use serde_json::{Value, json};

use crate::BitDust;
use crate::envelope::Envelope;
use crate::methods::{Args, Signature};
use crate::rest::Route;

/// The methods of this module.
pub(crate) const SIGNATURES: &[Signature] = &[
    Signature {
        name: "queues_list",
        args: &[],
    },
    Signature {
        name: "queue_consumers_list",
        args: &[],
    },
    Signature {
        name: "queue_producers_list",
        args: &[],
    },
    Signature {
        name: "queue_keepers_list",
        args: &[],
    },
    Signature {
        name: "queue_peddlers_list",
        args: &[],
    },
    Signature {
        name: "queue_streams_list",
        args: &[],
    },
    Signature {
        name: "group_info_dht",
        args: &[("group_creator_id", None)],
    },
    Signature {
        name: "group_reconnect",
        args: &[("group_key_id", None), ("use_dht_cache", Some("false"))],
    },
];

/// The routes of this module.
pub(crate) const ROUTES: &[Route] = &[
    bare!(
        "GET",
        "queues_list",
        ["/queue/list/v1", "/v1/queue/list", "/qu/l"]
    ),
    bare!(
        "GET",
        "queue_consumers_list",
        [
            "/queue/consumer/list/v1",
            "/v1/queue/consumer/list",
            "/qu/c/l"
        ]
    ),
    bare!(
        "GET",
        "queue_producers_list",
        [
            "/queue/producer/list/v1",
            "/v1/queue/producer/list",
            "/qu/p/l"
        ]
    ),
    bare!(
        "GET",
        "queue_keepers_list",
        ["/queue/keeper/list/v1", "/v1/queue/keeper/list"]
    ),
    bare!(
        "GET",
        "queue_peddlers_list",
        ["/queue/peddler/list/v1", "/v1/queue/peddler/list"]
    ),
    bare!(
        "GET",
        "queue_streams_list",
        ["/queue/stream/list/v1", "/v1/queue/stream/list"]
    ),
    Route {
        verb: "GET",
        paths: &["/group/info/dht/v1", "/v1/group/info/dht"],
        method: "group_info_dht",
        params: &[p!(Query ["group_creator_id"] => "group_creator_id"; mandatory)],
    },
    Route {
        verb: "PUT",
        paths: &["/group/reconnect/v1", "/v1/group/reconnect"],
        method: "group_reconnect",
        params: &[
            p!(Body ["group_key_id"] => "group_key_id"; mandatory),
            p!(Body ["use_dht_cache"] => "use_dht_cache" = "0"; flag),
        ],
    },
];

/// A group's queue on this node: `group_<id>&<creator>&<me>`.
fn group_queue(g: &GroupInfo, creator: &str, me: &str) -> String {
    format!("group_{}&{creator}&{me}", g.id)
}

impl BitDust {
    /// Runs a method of this module.
    pub(crate) async fn run_queues(&self, name: &str, a: &Args) -> Option<Envelope> {
        Some(match name {
            "queues_list" => self.queues_list().await,
            "queue_consumers_list" => self.queue_members(true).await,
            "queue_producers_list" => self.queue_members(false).await,
            "queue_keepers_list" | "queue_peddlers_list" => Envelope::result(json!([])),
            "queue_streams_list" => self.queue_streams_list().await,
            "group_info_dht" => self.group_info_dht(&a.text("group_creator_id")).await,
            "group_reconnect" => self.group_reconnect(&a.text("group_key_id")).await,
            _ => return None,
        })
    }

    /// The groups this node is in now, with their queues' ids.
    async fn joined_queues(&self) -> Vec<(GroupInfo, String)> {
        let me = self.gid_of(&self.me()).await;
        let mut out = Vec::new();
        for g in self.node().groups().list().await.unwrap_or_default() {
            if g.state == "joined" {
                let creator = self.gid_of(&g.creator).await;
                let queue = group_queue(&g, &creator, &me);
                out.push((g, queue));
            }
        }
        out
    }

    /// The outboxes: each group's copies waiting, each recipient's
    /// private messages waiting.
    async fn queues_list(&self) -> Envelope {
        let me = self.gid_of(&self.me()).await;
        let groups = self.node().groups();
        let copies = groups.outbox().await.unwrap_or_default();
        let mut list = Vec::new();
        for g in groups.list().await.unwrap_or_default() {
            let waiting = copies.iter().find(|(id, _)| *id == g.id).map_or(0, |c| c.1);
            if g.state == "joined" || waiting > 0 {
                let creator = self.gid_of(&g.creator).await;
                list.push(json!({"queue_id": group_queue(&g, &creator, &me), "messages": waiting}));
            }
        }
        for (peer, waiting) in self.node().messages().outbox().await.unwrap_or_default() {
            let to = self.gid_of(&peer).await;
            list.push(json!({"queue_id": format!("person&{to}&{me}"), "messages": waiting}));
        }
        Envelope::result(Value::Array(list))
    }

    /// This node as consumer (`consumers`) or producer of its joined
    /// groups' queues, with the messages it received or sent there.
    async fn queue_members(&self, consumers: bool) -> Envelope {
        let joined = self.joined_queues().await;
        if joined.is_empty() {
            return Envelope::result(json!([]));
        }
        let counts = self.node().messages().counts().await.unwrap_or_default();
        let counted: i64 = joined
            .iter()
            .filter_map(|(g, _)| {
                let peer = format!("group:{}", g.id);
                counts.iter().find(|c| c.0 == peer)
            })
            .map(|c| if consumers { c.2 } else { c.1 })
            .sum();
        let queues: Vec<String> = joined.into_iter().map(|(_, q)| q).collect();
        let me = self.gid_of(&self.me()).await;
        let state = if self.node().network().is_on() {
            "CONNECTED"
        } else {
            "DISCONNECTED"
        };
        Envelope::result(if consumers {
            json!([{
                "consumer_id": me,
                "queues": queues,
                "commands": [format!("group_message: {}", queues.join(","))],
                "state": state,
                "consumed": counted,
            }])
        } else {
            json!([{"producer_id": me, "queues": queues, "state": state, "produced": counted}])
        })
    }

    /// Each joined group: its members (all consume and produce) and its
    /// last message's number here.
    async fn queue_streams_list(&self) -> Envelope {
        let counts = self.node().messages().counts().await.unwrap_or_default();
        let mut list = Vec::new();
        for (g, queue) in self.joined_queues().await {
            let mut members = vec![self.gid_of(&g.creator).await];
            for m in &g.members {
                members.push(self.gid_of(m).await);
            }
            let peer = format!("group:{}", g.id);
            let last = counts.iter().find(|c| c.0 == peer).map_or(-1, |c| c.3);
            list.push(json!({
                "queue_id": queue,
                "active": true,
                "consumers": members,
                "producers": members,
                "sequence_id": last,
            }));
        }
        Envelope::result(Value::Array(list))
    }

    /// A creator's message brokers in the DHT: cairn's groups have none.
    async fn group_info_dht(&self, creator: &str) -> Envelope {
        if self.peer_of(creator).await.is_none() {
            return Envelope::error("wrong group creator id");
        }
        Envelope::result(json!([]))
    }

    /// A joined group's participant object: the node's loop keeps it
    /// connected (subscribed, copies handed over) every 2 s.
    async fn group_reconnect(&self, key_id: &str) -> Envelope {
        if crate::social::id_in(key_id, "group_").is_none() {
            return Envelope::error("invalid group id");
        }
        let g = match self.group_of(key_id).await {
            Ok(g) => g,
            Err(_) => return Envelope::error("group key is not registered"),
        };
        if g.state != "joined" {
            return Envelope::error("group is disconnected");
        }
        Envelope::ok_with(Value::Object(self.participant(&g, false).await))
            .message("group is connected")
    }
}
