//! BitDust's API methods over cairn's engine: each by its API name, with
//! its keyword arguments (what a WebSocket caller passes; REST routes
//! map their own parameter names onto them, `rest.rs`), answering the
//! envelope BitDust answered.

use serde_json::{Map, Value, json};

use crate::BitDust;
use crate::envelope::Envelope;
use crate::ids;

/// A method's keyword arguments and their defaults (JSON text; `None`:
/// required), as the Python function declared them.
pub(crate) struct Signature {
    pub(crate) name: &'static str,
    pub(crate) args: &'static [(&'static str, Option<&'static str>)],
}

/// Every module's methods; a name is in one table only.
const TABLES: &[&[Signature]] = &[
    SIGNATURES,
    crate::files::SIGNATURES,
    crate::models::SIGNATURES,
    crate::services::SIGNATURES,
    crate::config::SIGNATURES,
    crate::netviews::SIGNATURES,
    crate::queues::SIGNATURES,
    crate::others::SIGNATURES,
];

/// The methods of this module, by name.
pub(crate) const SIGNATURES: &[Signature] = &[
    Signature {
        name: "process_health",
        args: &[],
    },
    Signature {
        name: "process_info",
        args: &[],
    },
    Signature {
        name: "process_debug",
        args: &[],
    },
    Signature {
        name: "process_restart",
        args: &[],
    },
    Signature {
        name: "identity_rotate",
        args: &[],
    },
    Signature {
        name: "process_stop",
        args: &[("instant", Some("true"))],
    },
    Signature {
        name: "identity_get",
        args: &[("include_xml_source", Some("false"))],
    },
    Signature {
        name: "identity_cache_list",
        args: &[],
    },
    Signature {
        name: "key_get",
        args: &[
            ("key_id", None),
            ("include_private", Some("false")),
            ("include_signature", Some("false")),
            ("generate_signature", Some("false")),
        ],
    },
    Signature {
        name: "keys_list",
        args: &[("sort", Some("false")), ("include_private", Some("false"))],
    },
    Signature {
        name: "key_create",
        args: &[
            ("key_alias", None),
            ("key_size", Some("null")),
            ("label", Some("\"\"")),
            ("active", Some("true")),
            ("include_private", Some("false")),
        ],
    },
    Signature {
        name: "key_label",
        args: &[("key_id", None), ("label", None), ("active", Some("null"))],
    },
    Signature {
        name: "key_erase",
        args: &[("key_id", None)],
    },
    Signature {
        name: "key_share",
        args: &[
            ("key_id", None),
            ("trusted_user_id", None),
            ("include_private", Some("false")),
            ("include_signature", Some("false")),
            ("include_label", Some("false")),
            ("timeout", Some("30")),
        ],
    },
    Signature {
        name: "key_audit",
        args: &[
            ("key_id", None),
            ("untrusted_user_id", None),
            ("is_private", Some("false")),
            ("timeout", Some("null")),
        ],
    },
    Signature {
        name: "friends_list",
        args: &[],
    },
    Signature {
        name: "friend_add",
        args: &[
            ("trusted_user_id", None),
            ("alias", Some("\"\"")),
            ("share_person_key", Some("true")),
        ],
    },
    Signature {
        name: "friend_remove",
        args: &[("user_id", None)],
    },
    Signature {
        name: "user_search",
        args: &[("nickname", None), ("attempts", Some("1"))],
    },
    Signature {
        name: "user_status",
        args: &[("user_id", None)],
    },
    Signature {
        name: "message_send",
        args: &[
            ("recipient_id", None),
            ("data", None),
            ("ping_timeout", Some("15")),
            ("message_ack_timeout", Some("15")),
        ],
    },
    Signature {
        name: "event_send",
        args: &[("event_id", None), ("data", Some("null"))],
    },
    Signature {
        name: "identity_create",
        args: &[
            ("username", None),
            ("preferred_servers", Some("[]")),
            ("join_network", Some("false")),
        ],
    },
    Signature {
        name: "identity_backup",
        args: &[("destination_filepath", Some("\"\""))],
    },
    Signature {
        name: "identity_recover",
        args: &[
            ("private_key_source", None),
            ("known_idurl", Some("null")),
            ("join_network", Some("false")),
        ],
    },
    Signature {
        name: "identity_erase",
        args: &[("erase_private_key", Some("false"))],
    },
    Signature {
        name: "user_ping",
        args: &[
            ("user_id", None),
            ("timeout", Some("null")),
            ("retries", Some("1")),
        ],
    },
    Signature {
        name: "user_status_check",
        args: &[("user_id", None), ("timeout", Some("null"))],
    },
    Signature {
        name: "user_observe",
        args: &[("nickname", None), ("attempts", Some("3"))],
    },
    Signature {
        name: "automats_list",
        args: &[],
    },
    Signature {
        name: "suppliers_list",
        args: &[("customer_id", Some("null")), ("verbose", Some("false"))],
    },
    Signature {
        name: "customers_list",
        args: &[("verbose", Some("false"))],
    },
    Signature {
        name: "customer_reject",
        args: &[("customer_id", None), ("erase_customer_key", Some("true"))],
    },
    Signature {
        name: "space_donated",
        args: &[],
    },
    Signature {
        name: "space_consumed",
        args: &[],
    },
    Signature {
        name: "space_local",
        args: &[],
    },
    Signature {
        name: "network_status",
        args: &[
            ("show_suppliers", Some("false")),
            ("show_customers", Some("false")),
            ("show_cache", Some("false")),
            ("show_tcp", Some("false")),
            ("show_udp", Some("false")),
            ("show_proxy", Some("false")),
            ("show_dht", Some("false")),
        ],
    },
    Signature {
        name: "network_connected",
        args: &[("wait_timeout", Some("5"))],
    },
    Signature {
        name: "dht_value_get",
        args: &[
            ("key", None),
            ("record_type", Some("\"skip_validation\"")),
            ("layer_id", Some("0")),
            ("use_cache_ttl", Some("null")),
        ],
    },
    Signature {
        name: "dht_value_set",
        args: &[
            ("key", None),
            ("value", None),
            ("expire", Some("null")),
            ("record_type", Some("\"skip_validation\"")),
            ("layer_id", Some("0")),
        ],
    },
    Signature {
        name: "dht_node_find",
        args: &[("node_id_64", Some("null")), ("layer_id", Some("0"))],
    },
    Signature {
        name: "events_list",
        args: &[],
    },
    Signature {
        name: "event_listen",
        args: &[("consumer_callback_id", None)],
    },
    Signature {
        name: "message_history",
        args: &[
            ("recipient_id", Some("null")),
            ("sender_id", Some("null")),
            ("message_type", Some("null")),
            ("offset", Some("0")),
            ("limit", Some("100")),
        ],
    },
    Signature {
        name: "message_conversations_list",
        args: &[
            ("message_types", Some("\"\"")),
            ("offset", Some("0")),
            ("limit", Some("100")),
        ],
    },
    Signature {
        name: "message_receive",
        args: &[
            ("consumer_callback_id", None),
            ("direction", Some("\"incoming\"")),
            ("message_types", Some("\"private_message,group_message\"")),
            ("polling_timeout", Some("60")),
        ],
    },
    Signature {
        name: "message_send_group",
        args: &[("group_key_id", None), ("data", None)],
    },
    Signature {
        name: "shares_list",
        args: &[
            ("only_active", Some("false")),
            ("include_mine", Some("true")),
            ("include_granted", Some("true")),
        ],
    },
    Signature {
        name: "share_info",
        args: &[("key_id", None)],
    },
    Signature {
        name: "share_create",
        args: &[
            ("owner_id", Some("null")),
            ("key_size", Some("null")),
            ("label", Some("\"\"")),
            ("active", Some("true")),
        ],
    },
    Signature {
        name: "share_delete",
        args: &[("key_id", None)],
    },
    Signature {
        name: "share_grant",
        args: &[
            ("key_id", None),
            ("trusted_user_id", None),
            ("timeout", Some("45")),
            ("publish_events", Some("true")),
        ],
    },
    Signature {
        name: "share_open",
        args: &[("key_id", None), ("publish_events", Some("false"))],
    },
    Signature {
        name: "share_close",
        args: &[("key_id", None)],
    },
    Signature {
        name: "groups_list",
        args: &[
            ("only_active", Some("false")),
            ("include_mine", Some("true")),
            ("include_granted", Some("true")),
        ],
    },
    Signature {
        name: "group_create",
        args: &[
            ("creator_id", Some("null")),
            ("key_size", Some("null")),
            ("label", Some("\"\"")),
            ("timeout", Some("30")),
        ],
    },
    Signature {
        name: "group_info",
        args: &[("group_key_id", None)],
    },
    Signature {
        name: "group_join",
        args: &[
            ("group_key_id", None),
            ("publish_events", Some("false")),
            ("use_dht_cache", Some("true")),
            ("wait_result", Some("true")),
        ],
    },
    Signature {
        name: "group_leave",
        args: &[("group_key_id", None), ("erase_key", Some("false"))],
    },
    Signature {
        name: "group_share",
        args: &[
            ("group_key_id", None),
            ("trusted_user_id", None),
            ("timeout", Some("45")),
            ("publish_events", Some("false")),
        ],
    },
];

/// What a call failed at before the method ran (BitDust answers these
/// outside the envelope over the WebSocket, inside it over REST).
#[derive(Debug)]
pub(crate) struct CallError(pub(crate) String);

/// A method's arguments, defaults filled in.
pub(crate) struct Args(Map<String, Value>);

impl Args {
    pub(crate) fn value(&self, name: &str) -> &Value {
        self.0.get(name).unwrap_or(&Value::Null)
    }

    /// As text (a number as written; null and absent as "").
    pub(crate) fn text(&self, name: &str) -> String {
        match self.value(name) {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// BitDust's truth: `true`, `1`, or one of `1 true True yes Yes YES ok`.
    pub(crate) fn flag(&self, name: &str) -> bool {
        truthy(self.value(name))
    }
}

/// Whether a value is true as BitDust reads flags.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_i64() == Some(1),
        Value::String(s) => matches!(
            s.as_str(),
            "1" | "true" | "True" | "yes" | "Yes" | "YES" | "ok"
        ),
        _ => false,
    }
}

impl BitDust {
    /// Calls method `name` with keyword arguments `kwargs`, as BitDust's
    /// dispatcher did: an unknown method or argument, or a required one
    /// missing, fails the call before the method runs.
    pub(crate) async fn call(
        &self,
        name: &str,
        kwargs: Map<String, Value>,
    ) -> Result<Envelope, CallError> {
        if name.is_empty() {
            return Err(CallError("api method name was not provided".into()));
        }
        let sig = TABLES
            .iter()
            .flat_map(|t| t.iter())
            .find(|s| s.name == name)
            .ok_or_else(|| CallError("invalid api method name".into()))?;
        if let Some(unknown) = kwargs
            .keys()
            .find(|k| !sig.args.iter().any(|(a, _)| a == k))
        {
            return Err(CallError(format!(
                "{name}() got an unexpected keyword argument '{unknown}'"
            )));
        }
        let mut args = kwargs;
        for (arg, default) in sig.args {
            if args.contains_key(*arg) {
                continue;
            }
            match default {
                Some(text) => {
                    args.insert(
                        (*arg).into(),
                        serde_json::from_str(text).unwrap_or(Value::Null),
                    );
                }
                None => {
                    return Err(CallError(format!(
                        "{name}() missing 1 required positional argument: '{arg}'"
                    )));
                }
            }
        }
        Ok(self.run(name, Args(args)).await)
    }

    async fn run(&self, name: &str, a: Args) -> Envelope {
        match name {
            "process_health" | "process_debug" => Envelope::ok(),
            "process_info" => self.process_info().await,
            "process_stop" => {
                self.node().request_shutdown();
                Envelope::ok()
            }
            "process_restart" => {
                // The answer goes out first; the restart begins 0.1 s
                // later, as BitDust's did.
                let node = self.node().clone();
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    node.request_restart();
                });
                Envelope::ok_with(json!({"restarted": true}))
            }
            "identity_rotate" => self.identity_rotate().await,
            "identity_get" => self.identity_get(a.flag("include_xml_source")).await,
            "identity_cache_list" => self.identity_cache_list().await,
            "key_get" => {
                self.key_get(&a.text("key_id"), a.flag("include_private"))
                    .await
            }
            "keys_list" => {
                self.keys_list(a.flag("sort"), a.flag("include_private"))
                    .await
            }
            "key_create" => self.key_create(&a).await,
            "key_label" => self.key_label(&a.text("key_id"), &a.text("label")).await,
            "key_erase" => self.key_erase(&a.text("key_id")).await,
            "key_share" => {
                self.key_share(&a.text("key_id"), &a.text("trusted_user_id"))
                    .await
            }
            "key_audit" => {
                self.key_audit(
                    &a.text("key_id"),
                    &a.text("untrusted_user_id"),
                    a.flag("is_private"),
                )
                .await
            }
            "friends_list" => self.friends_list().await,
            "friend_add" => {
                self.friend_add(&a.text("trusted_user_id"), &a.text("alias"))
                    .await
            }
            "friend_remove" => self.friend_remove(&a.text("user_id")).await,
            "user_search" => self.user_search(&a.text("nickname")).await,
            "user_status" => self.user_status(&a.text("user_id")).await,
            "message_send" => {
                self.message_send(&a.text("recipient_id"), a.value("data"))
                    .await
            }
            "event_send" => {
                let event = a.text("event_id");
                self.push_event(&event, a.value("data").clone());
                Envelope::ok_with(json!({"event_id": event, "created": now_secs()}))
            }
            "identity_create" => self.identity_create(&a.text("username")).await,
            "identity_backup" => self.identity_backup(&a.text("destination_filepath")).await,
            "identity_recover" => Envelope::error("local identity already exist"),
            "identity_erase" => self.identity_erase(a.flag("erase_private_key")).await,
            "user_ping" => self.user_ping(&a.text("user_id")).await,
            "user_status_check" => self.user_status_check(&a.text("user_id")).await,
            "user_observe" => self.user_observe(&a.text("nickname")).await,
            "automats_list" => self.automats_list(&a).await,
            "suppliers_list" => self.suppliers_list().await,
            "customers_list" => self.customers_list().await,
            "customer_reject" => self.customer_reject(&a.text("customer_id")).await,
            "space_donated" => self.space_donated().await,
            "space_consumed" => self.space_consumed().await,
            "space_local" => self.space_local().await,
            "network_status" => self.network_status(&a).await,
            "network_connected" => self.network_connected().await,
            "dht_value_get" => self.dht_value_get(&a.text("key")).await,
            "dht_value_set" => self.dht_value_set(&a.text("key"), a.value("value")).await,
            "dht_node_find" => self.dht_node_find(&a.text("node_id_64")).await,
            "events_list" => self.events_list(),
            "event_listen" => self.event_listen(&a.text("consumer_callback_id")).await,
            "message_history" => self.message_history(&a).await,
            "message_conversations_list" => self.message_conversations_list(&a).await,
            "message_receive" => self.message_receive(&a).await,
            "message_send_group" => {
                self.message_send_group(&a.text("group_key_id"), a.value("data"))
                    .await
            }
            "shares_list" => self.shares_list(&a).await,
            "share_info" => self.share_info(&a.text("key_id")).await,
            "share_create" => self.share_create(&a).await,
            "share_delete" => self.share_delete(&a.text("key_id")).await,
            "share_grant" => {
                self.share_grant(&a.text("key_id"), &a.text("trusted_user_id"))
                    .await
            }
            "share_open" => self.share_open(&a.text("key_id"), true).await,
            "share_close" => self.share_open(&a.text("key_id"), false).await,
            "groups_list" => self.groups_list(&a).await,
            "group_create" => self.group_create(&a.text("label")).await,
            "group_info" => self.group_info(&a.text("group_key_id")).await,
            "group_join" => self.group_join(&a.text("group_key_id")).await,
            "group_leave" => {
                self.group_leave(&a.text("group_key_id"), a.flag("erase_key"))
                    .await
            }
            "group_share" => {
                self.group_share(&a.text("group_key_id"), &a.text("trusted_user_id"))
                    .await
            }
            other => self.run_more(other, a).await,
        }
    }

    /// Calls a method of another module's table.
    async fn run_more(&self, name: &str, a: Args) -> Envelope {
        if let Some(e) = self.run_files(name, &a).await {
            return e;
        }
        if let Some(e) = self.run_models(name, &a).await {
            return e;
        }
        if let Some(answer) = self.run_services(name, &a).await {
            return answer;
        }
        if let Some(answer) = self.run_config(name, &a).await {
            return answer;
        }
        if let Some(answer) = self.run_netviews(name, &a).await {
            return answer;
        }
        if let Some(answer) = self.run_queues(name, &a).await {
            return answer;
        }
        if let Some(answer) = self.run_others(name, &a).await {
            return answer;
        }
        Envelope::error(format!("method {name} is not available"))
    }

    // ---- people and names ----

    /// The nickname `peer` goes by here (this node's own, or the one a
    /// signed record gave it), if any.
    pub(crate) async fn nickname_of(&self, peer: &str) -> Option<String> {
        if peer == self.me() {
            return self.node().network().nickname();
        }
        self.node().people().nickname(peer).await.ok().flatten()
    }

    pub(crate) async fn gid_of(&self, peer: &str) -> String {
        ids::gid(peer, self.nickname_of(peer).await.as_deref())
    }

    pub(crate) async fn idurl_of(&self, peer: &str) -> String {
        ids::idurl(peer, self.nickname_of(peer).await.as_deref())
    }

    /// The peer a user input names: a global id, IDURL or key id read
    /// directly, a bare name looked up (a friend's alias, a nickname).
    pub(crate) async fn peer_of(&self, input: &str) -> Option<String> {
        match ids::user(input)? {
            ids::User::Peer(peer) => Some(peer),
            ids::User::Name(name) => self.node().people().peer_of(&name).await.ok(),
        }
    }

    // ---- process ----

    async fn process_info(&self) -> Envelope {
        let node = self.node();
        let status = node.status().await.ok();
        let keys = node.keys().list(false).await.map(|k| k.len()).unwrap_or(0);
        let friends = node.people().friends().await.map(|f| f.len()).unwrap_or(0);
        let seen = node
            .people()
            .identities(10_000)
            .await
            .map(|s| s.len())
            .unwrap_or(0);
        let net = node.network().status().await.ok();
        let shares = node.shares().list().await.map(|s| s.len()).unwrap_or(0);
        let groups = node.groups().list().await.map(|g| g.len()).unwrap_or(0);
        let (files, folders, bytes) = status
            .as_ref()
            .map(|s| (s.counts.files, s.counts.folders, s.counts.blob_bytes))
            .unwrap_or_default();
        let suppliers = net.as_ref().map(|n| n.suppliers.len()).unwrap_or(0);
        let active = net
            .as_ref()
            .map(|n| n.suppliers.iter().filter(|s| s.connected).count())
            .unwrap_or(0);
        Envelope::ok_with(json!({
            "config": {"options": 0},
            "identity": {"ready": true, "cache": seen, "cache_ids": seen, "cache_contacts": seen},
            "contact": {
                "active": net.as_ref().map(|n| n.peers).unwrap_or(0),
                "correspondents": friends,
                "customers": net.as_ref().map(|n| n.space.customers).unwrap_or(0),
                "suppliers_hired": suppliers,
                "suppliers_total": suppliers,
                "suppliers_active": active,
                "customer_assistants": 0,
            },
            "service": {"active": 0},
            "key": {"registered": keys},
            "file": {
                "items": files + folders,
                "files": files,
                "files_size": bytes,
                "folders": folders,
                "folders_size": 0,
                "backups_size": bytes,
                "customers": net.as_ref().map(|n| n.space.customers).unwrap_or(0),
            },
            "dht": {"layers": {}, "bytes_out": 0, "bytes_in": 0},
            "share": {"active": shares},
            "group": {"active": groups},
            "network": {"protocols": 1, "packets_out": 0, "packets_out_total": 0, "packets_in": 0, "packets_in_total": 0},
            "stream": {"queues": 0, "consumers": 0, "producers": 0, "keepers": 0, "peddlers": 0, "supplier_queues": 0},
            "automats": {"active": status.as_ref().map(|s| s.jobs_running).unwrap_or(0)},
        }))
    }

    // ---- identity ----

    /// This node's identity object (appendix A.3).
    pub(crate) async fn identity_object(&self, peer: &str) -> Value {
        let nick = self.nickname_of(peer).await;
        let nick = nick.as_deref();
        let public = if peer == self.me() {
            self.node()
                .keys()
                .master(false)
                .await
                .map(|k| k.public)
                .unwrap_or_default()
        } else {
            String::new()
        };
        json!({
            "name": nick.unwrap_or(ids::NO_NICKNAME),
            "idurl": ids::idurl(peer, nick),
            "global_id": ids::gid(peer, nick),
            "sources": [ids::idurl(peer, nick)],
            "contacts": [format!("p2p://{peer}")],
            "certificates": [],
            "scrubbers": [],
            "postage": "1",
            "date": "",
            "version": "",
            "revision": "0",
            "publickey": public,
            "signature": "",
        })
    }

    async fn identity_get(&self, xml: bool) -> Envelope {
        let mut identity = self.identity_object(&self.me()).await;
        if xml {
            identity["xml"] = json!("");
        }
        Envelope::ok_with(identity)
    }

    /// A cairn identity is its key: there are no identity servers to
    /// move it between, so a rotation publishes its nickname record again
    /// (a new revision) and says so.
    async fn identity_rotate(&self) -> Envelope {
        let Some(nick) = self.node().network().nickname() else {
            return Envelope::error(
                "local identity is not ready: it has no nickname yet (identity_create)",
            );
        };
        let me = self.me();
        let before = self.idurl_of(&me).await;
        if let Err(e) = self.node().network().set_nickname(&nick).await {
            return Envelope::error(e.to_string());
        }
        let mut identity = self.identity_object(&me).await;
        identity["old_sources"] = json!([before]);
        identity["rotated"] = json!(false);
        self.push_event("my-identity-rotate-complete", json!({}));
        Envelope::ok_with(identity).message(
            "a cairn identity is its key, with no identity servers to move between: its nickname record was published again",
        )
    }

    /// BitDust never erased an identity (always an error). Here the
    /// nickname goes: no longer published, the node known by its key
    /// alone. The private key stays: it is the root of every key that
    /// opens this node's stored files, so erasing it would lose them all.
    async fn identity_erase(&self, erase_private_key: bool) -> Envelope {
        if erase_private_key {
            return Envelope::error(
                "the private key is the root of every key that opens this node's files: erasing it would lose them all. Stop the node and remove its data dir to erase everything",
            );
        }
        if let Err(e) = self.node().network().clear_nickname().await {
            return Envelope::error(e.to_string());
        }
        self.push_event("local-identity-erased", json!({}));
        Envelope::ok().message("local identity erased: its nickname is no longer published")
    }

    async fn identity_cache_list(&self) -> Envelope {
        let seen = self
            .node()
            .people()
            .identities(10_000)
            .await
            .unwrap_or_default();
        let mut out = Vec::with_capacity(seen.len());
        for s in seen {
            out.push(self.identity_object(&s.peer).await);
        }
        out.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        Envelope::result(Value::Array(out))
    }

    // ---- keys ----

    /// A key info object (appendix A.1).
    pub(crate) async fn key_info(&self, key: &cairn_node::keys::KeyInfo) -> Map<String, Value> {
        let owner = key.owner.clone().unwrap_or_else(|| self.me());
        let gid = self.gid_of(&owner).await;
        let key_id = format!("{}${gid}", key.alias);
        let mut m = Map::new();
        m.insert("key_id".into(), json!(key_id));
        m.insert("alias".into(), json!(key.alias));
        m.insert("creator".into(), json!(self.idurl_of(&owner).await));
        m.insert("public".into(), json!(key.public));
        m.insert("private".into(), json!(key.private));
        m.insert(
            "label".into(),
            json!(if key.alias == cairn_node::keys::MASTER {
                key_id.clone()
            } else {
                key.label.clone()
            }),
        );
        m.insert("is_public".into(), json!(key.private.is_none()));
        m.insert("size".into(), json!(key.size.to_string()));
        m
    }

    pub(crate) async fn find_key(
        &self,
        key_id: &str,
        private: bool,
    ) -> Result<cairn_node::keys::KeyInfo, Envelope> {
        let id = ids::key_id(key_id, &self.me())
            .ok_or_else(|| Envelope::error(format!("incorrect key_id format: {key_id}")))?;
        let keys = self.node().keys();
        let found = match &id.owner {
            None => keys.get(&id.alias, private).await,
            Some(owner) => keys.shared_with_me(owner, &id.alias, private).await,
        };
        found.map_err(|e| match e.kind() {
            cairn_node::ErrorKind::Conflict => {
                Envelope::error("this key contains only public component")
            }
            cairn_node::ErrorKind::InvalidId | cairn_node::ErrorKind::Invalid => {
                Envelope::error(format!("incorrect key_id format: {key_id}"))
            }
            _ => Envelope::error(format!("key {key_id} is not registered")),
        })
    }

    async fn key_get(&self, key_id: &str, private: bool) -> Envelope {
        match self.find_key(key_id, private).await {
            Ok(key) => {
                let mut info = self.key_info(&key).await;
                if key.alias == cairn_node::keys::MASTER {
                    info.insert("active".into(), json!(true));
                }
                Envelope::ok_with(Value::Object(info))
            }
            Err(e) => e,
        }
    }

    async fn keys_list(&self, sort: bool, private: bool) -> Envelope {
        let keys = match self.node().keys().list(private).await {
            Ok(k) => k,
            Err(e) => return Envelope::error(e.to_string()),
        };
        let mut master = None;
        let mut rest = Vec::new();
        for key in &keys {
            let mut info = self.key_info(key).await;
            info.insert("active".into(), json!(key.active));
            if key.alias == cairn_node::keys::MASTER && key.owner.is_none() {
                info.insert("is_public".into(), json!(false));
                info.insert("include_private".into(), json!(private));
                master = Some(Value::Object(info));
            } else {
                info.insert("local_key_id".into(), json!(key.local_id));
                rest.push(Value::Object(info));
            }
        }
        if sort {
            rest.sort_by(|a, b| a["alias"].as_str().cmp(&b["alias"].as_str()));
        }
        Envelope::result(Value::Array(master.into_iter().chain(rest).collect()))
    }

    async fn key_create(&self, a: &Args) -> Envelope {
        let alias = a.text("key_alias").trim().to_ascii_lowercase();
        let gid = self.gid_of(&self.me()).await;
        let key_id = format!("{alias}${gid}");
        let size = match a.value("key_size") {
            Value::Null => None,
            v => match v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            {
                Some(n) => u32::try_from(n).ok(),
                None => return Envelope::error(format!("invalid key size: {v}")),
            },
        };
        let label = match a.text("label") {
            l if l.is_empty() => format!("key{}", version_stamp()),
            l => l,
        };
        match self.node().keys().create(&alias, size, Some(&label)).await {
            Ok(key) => {
                let mut info = self.key_info(&key).await;
                info.insert("active".into(), json!(true));
                self.push_event(
                    "key-generated",
                    json!({"key_id": key_id, "label": label, "key_size": key.size}),
                );
                let mut snapshot = info.clone();
                snapshot.insert("private".into(), Value::Null);
                snapshot.insert("include_private".into(), json!(false));
                snapshot.insert("event".into(), json!("key-generated"));
                snapshot.insert("local_key_id".into(), json!(key.local_id));
                self.push_model("key", &key_id, Some(Value::Object(snapshot)));
                if !a.flag("include_private") {
                    info.insert("private".into(), Value::Null);
                    info.insert("is_public".into(), json!(true));
                }
                Envelope::ok_with(Value::Object(info)).message(format!(
                    "new private key {alias} was generated successfully"
                ))
            }
            Err(e) if e.kind() == cairn_node::ErrorKind::Conflict => {
                Envelope::error(format!("key {key_id} already exist"))
            }
            Err(e) if e.kind() == cairn_node::ErrorKind::Invalid => {
                if e.to_string().contains("bits") {
                    Envelope::error(format!("failed to generate private key {key_id}"))
                } else {
                    Envelope::error(format!("key {key_id} is not valid"))
                }
            }
            Err(_) => Envelope::error(format!("failed to generate private key {key_id}")),
        }
    }

    async fn key_label(&self, key_id: &str, label: &str) -> Envelope {
        let Some(id) = ids::key_id(key_id, &self.me()) else {
            return Envelope::error(format!("key {key_id} is not valid"));
        };
        if id.alias == cairn_node::keys::MASTER {
            return Envelope::error("master key label can not be changed");
        }
        if id.owner.is_some() {
            return Envelope::error(format!("key {key_id} does not exist"));
        }
        match self.node().keys().label(&id.alias, label).await {
            Ok(_) => {
                Envelope::ok().message(format!("label for the key {key_id} updated successfully"))
            }
            Err(e) if e.kind() == cairn_node::ErrorKind::NotFound => {
                Envelope::error(format!("key {key_id} does not exist"))
            }
            Err(_) => Envelope::error(format!("key {key_id} is not valid")),
        }
    }

    async fn key_erase(&self, key_id: &str) -> Envelope {
        let Some(id) = ids::key_id(key_id, &self.me()) else {
            return Envelope::error("incorrect key_id format");
        };
        if id.alias == cairn_node::keys::MASTER {
            return Envelope::error("\"master\" key can not be erased");
        }
        if id.owner.is_some() {
            return Envelope::error(format!("failed to erase private key {key_id}"));
        }
        match self.node().keys().erase(&id.alias).await {
            Ok(()) => {
                self.push_event("key-erased", json!({"key_id": key_id, "is_private": true}));
                self.push_model("key", key_id, None);
                Envelope::ok().message(format!("key {key_id} was erased"))
            }
            Err(_) => Envelope::error(format!("failed to erase private key {key_id}")),
        }
    }

    async fn key_share(&self, key_id: &str, trusted: &str) -> Envelope {
        let Some(id) = ids::key_id(key_id, &self.me()) else {
            return Envelope::error("incorrect key_id format");
        };
        if id.alias == cairn_node::keys::MASTER {
            return Envelope::error("\"master\" key can not be shared");
        }
        let Some(peer) = self.peer_of(trusted).await else {
            return Envelope::error(format!("not found \"{trusted}\" in identity cache"));
        };
        let key = match self.find_key(key_id, true).await {
            Ok(k) => k,
            Err(_) => return Envelope::error(format!("unknown key: \"{key_id}\"")),
        };
        match self.node().messages().share_key(&key, &peer).await {
            Ok(_) => {
                self.push_event(
                    "private-key-shared",
                    json!({
                        "global_id": self.gid_of(&peer).await,
                        "remote_idurl": self.idurl_of(&peer).await,
                        "key_id": key_id,
                    }),
                );
                Envelope::ok_with(json!(format!("signed{{Ack({key_id})}}")))
            }
            Err(e) => Envelope::error(e.to_string()),
        }
    }

    async fn key_audit(&self, key_id: &str, untrusted: &str, private: bool) -> Envelope {
        let key = match self.find_key(key_id, true).await {
            Ok(k) => k,
            Err(_) => return Envelope::error(format!("unknown key: \"{key_id}\"")),
        };
        let Some(peer) = self.peer_of(untrusted).await else {
            return Envelope::error(format!("not found \"{untrusted}\" in identity cache"));
        };
        match self.node().messages().audit_key(&key, &peer, private).await {
            Ok((_, holds)) => Envelope::ok_with(json!(if holds { "True" } else { "False" })),
            Err(e) if e.kind() == cairn_node::ErrorKind::NotFound => {
                Envelope::ok_with(json!("False"))
            }
            Err(e) => Envelope::error(e.to_string()),
        }
    }

    // ---- friends and users ----

    async fn friends_list(&self) -> Envelope {
        let friends = self.node().people().friends().await.unwrap_or_default();
        let peers = self.connected_peers().await;
        let list = friends
            .into_iter()
            .map(|f| {
                let nick = f.nickname.as_deref();
                json!({
                    "idurl": ids::idurl(&f.peer, nick),
                    "global_id": ids::gid(&f.peer, nick),
                    "idhost": ids::host(&f.peer).unwrap_or_default(),
                    "username": nick.unwrap_or(ids::NO_NICKNAME),
                    "alias": f.alias,
                    "contact_state": if peers.contains(&f.peer) { "CONNECTED" } else { "OFFLINE" },
                })
            })
            .collect();
        Envelope::result(Value::Array(list))
    }

    async fn friend_add(&self, trusted: &str, alias: &str) -> Envelope {
        if trusted.trim().is_empty() {
            return Envelope::error("you must specify the global IDURL address of remote user");
        }
        let Some(peer) = self.peer_of(trusted).await else {
            return Envelope::error("failed caching user identity");
        };
        if peer == self.me() {
            return Envelope::error("can not add my own identity as a new friend");
        }
        let known = self
            .node()
            .people()
            .friends()
            .await
            .unwrap_or_default()
            .into_iter()
            .any(|f| f.peer == peer);
        if known {
            return Envelope::ok().message("this friend has been already added");
        }
        let alias = Some(alias.trim()).filter(|a| !a.is_empty());
        match self.node().people().add_friend(&peer, alias).await {
            Ok(f) => {
                let gid = ids::gid(&peer, f.nickname.as_deref());
                let idurl = ids::idurl(&peer, f.nickname.as_deref());
                self.push_event(
                    "friend-added",
                    json!({"idurl": idurl, "global_id": gid, "alias": f.alias}),
                );
                self.push_model(
                    "correspondent",
                    &idurl,
                    Some(json!({"idurl": idurl, "nickname": f.nickname.as_deref().unwrap_or(ids::NO_NICKNAME)})),
                );
                Envelope::ok().message("new friend has been added")
            }
            Err(e) => Envelope::error(e.to_string()),
        }
    }

    async fn friend_remove(&self, user: &str) -> Envelope {
        if user.trim().is_empty() {
            return Envelope::error("you must specify IDURL or user ID in short form");
        }
        let Some(peer) = self.peer_of(user).await else {
            return Envelope::error("failed caching user identity");
        };
        let gid = self.gid_of(&peer).await;
        match self.node().people().remove_friend(&peer).await {
            Ok(()) => {
                let idurl = self.idurl_of(&peer).await;
                self.push_event("friend-removed", json!({"idurl": idurl, "global_id": gid}));
                self.push_model("correspondent", &idurl, None);
                Envelope::ok().message("friend has been removed")
            }
            Err(_) => Envelope::error(format!("friend {gid} was not found")),
        }
    }

    async fn user_search(&self, nickname: &str) -> Envelope {
        match self.user_search_result(nickname).await {
            Ok(Some(found)) => Envelope::ok_with(found),
            Ok(None) => Envelope::ok_with(json!({
                "result": "not exist",
                "nickname": nickname,
                "position": -1,
                "global_id": "",
                "idurl": "",
            })),
            Err(e) => e,
        }
    }

    async fn user_status(&self, user: &str) -> Envelope {
        let Some(peer) = self.peer_of(user).await else {
            return Envelope::error("unknown user");
        };
        let connected = self.connected_peers().await.contains(&peer);
        Envelope::ok_with(json!({
            "contact_state": if connected { "CONNECTED" } else { "OFFLINE" },
            "idurl": self.idurl_of(&peer).await,
            "global_id": self.gid_of(&peer).await,
        }))
    }

    // ---- messages ----

    async fn message_send(&self, recipient: &str, data: &Value) -> Envelope {
        let Some(peer) = self.peer_of(recipient).await else {
            return Envelope::error("recipient was not found");
        };
        let mut data = match data {
            Value::Object(m) => m.clone(),
            _ => return Envelope::error("wrong recipient"),
        };
        data.insert("msg_type".into(), json!("private_message"));
        data.insert("action".into(), json!("read"));
        let body = Value::Object(data).to_string();
        match self.node().messages().send(&peer, &body).await {
            Ok(m) => {
                self.sent_message(&m).await;
                Envelope::ok_with(json!({"consumed": m.state == "delivered"}))
                    .message("message sent")
            }
            Err(e) => Envelope::error(e.to_string()),
        }
    }
}

/// Now, in Unix seconds.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The local time as BitDust stamps versions and default labels
/// (`YYYYMMDDhhmmss` on a 12-hour clock, then `AM` or `PM`), in UTC.
pub(crate) fn version_stamp() -> String {
    stamp_at(now_secs())
}

/// [`version_stamp`] of Unix time `secs`.
pub(crate) fn stamp_at(secs: i64) -> String {
    let t = Civil::of(secs);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}{}",
        t.year,
        t.month,
        t.day,
        t.hour12(),
        t.minute,
        t.second,
        t.meridiem()
    )
}

/// A UTC calendar time, as BitDust's labels and dates spell it.
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: i64,
    pub(crate) day: i64,
    pub(crate) hour: i64,
    pub(crate) minute: i64,
    pub(crate) second: i64,
    /// 0 for Monday .. 6 for Sunday.
    pub(crate) weekday: i64,
}

impl Civil {
    /// Unix time `secs` in UTC.
    pub(crate) fn of(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Civil date from days since 1970-01-01 (Howard Hinnant's method).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        Self {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            // 1970-01-01 was a Thursday.
            weekday: (days + 3).rem_euclid(7),
        }
    }

    pub(crate) fn hour12(&self) -> i64 {
        match self.hour % 12 {
            0 => 12,
            h => h,
        }
    }

    pub(crate) fn meridiem(&self) -> &'static str {
        if self.hour < 12 { "AM" } else { "PM" }
    }

    /// `2024-01-31 05:45:12 PM`, a version's label.
    pub(crate) fn label(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {}",
            self.year,
            self.month,
            self.day,
            self.hour12(),
            self.minute,
            self.second,
            self.meridiem()
        )
    }

    /// `2024-01-31 17:45:12`.
    pub(crate) fn date_time(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// C's `asctime`: `Wed Jan 31 17:45:12 2024`.
    pub(crate) fn asctime(&self) -> String {
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        format!(
            "{} {} {:2} {:02}:{:02}:{:02} {}",
            DAYS[self.weekday as usize],
            MONTHS[(self.month - 1) as usize],
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.year
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_true_as_bitdust_reads_them() {
        for yes in [
            json!(true),
            json!(1),
            json!("1"),
            json!("true"),
            json!("True"),
            json!("yes"),
            json!("YES"),
            json!("ok"),
        ] {
            assert!(truthy(&yes), "{yes}");
        }
        for no in [
            json!(false),
            json!(0),
            json!(2),
            json!("on"),
            json!("TRUE"),
            json!(""),
            json!(null),
            json!("0"),
        ] {
            assert!(!truthy(&no), "{no}");
        }
    }

    #[test]
    fn times_are_spelled_as_bitdust_spells_them() {
        // 2024-01-31 17:45:12 UTC, a Wednesday.
        let t = Civil::of(1_706_723_112);
        assert_eq!(stamp_at(1_706_723_112), "F20240131054512PM"[1..]);
        assert_eq!(t.label(), "2024-01-31 05:45:12 PM");
        assert_eq!(t.date_time(), "2024-01-31 17:45:12");
        assert_eq!(t.asctime(), "Wed Jan 31 17:45:12 2024");
        assert_eq!(Civil::of(0).asctime(), "Thu Jan  1 00:00:00 1970");
        assert_eq!(stamp_at(43_200), "19700101120000PM");
        assert_eq!(stamp_at(0), "19700101120000AM");
    }

    #[test]
    fn a_version_stamp_is_as_bitdust_writes_it() {
        let stamp = version_stamp();
        assert_eq!(stamp.len(), 16, "{stamp}");
        assert!(stamp.ends_with("AM") || stamp.ends_with("PM"));
        assert!(stamp[..14].bytes().all(|b| b.is_ascii_digit()));
    }
}
