//! BitDust's remaining methods (bitdust-details.md §4.4 `key_state`,
//! §4.20 automats, §4.21):
//!
//! - `key_state`: a key's active state, from the catalog (cairn keeps
//!   every key active, so a change to inactive is refused, saying so);
//! - `automat_info`, `automat_events_start`, `automat_events_stop`: the
//!   state machines are the running jobs (`automats_list`); a job whose
//!   events are on tells its end as `state-changed`;
//! - `network_create`, `network_select`, `network_disconnect`: cairn has
//!   one network, its bootstrap peers in the config: BitDust's own error
//!   texts, and `default` is the network selected;
//! - blockchain and device methods: BitDust's answer for a service not
//!   started, as cairn has neither (the list of devices is empty);
//!   billing: BitDust's own `method is not implemented yet`;
//! - `chunk_read`, `chunk_write`: BitDust read and wrote only under its
//!   temporary folder; cairn has none, so every path is refused with
//!   BitDust's text.

use serde_json::{Value, json};

use crate::BitDust;
use crate::envelope::Envelope;
use crate::methods::{Args, Signature};
use crate::rest::Route;

/// A method of one required argument, or none.
macro_rules! sig {
    ($name:literal) => {
        Signature {
            name: $name,
            args: &[],
        }
    };
    ($name:literal, $($arg:literal = $default:expr),+) => {
        Signature {
            name: $name,
            args: &[$(($arg, $default)),+],
        }
    };
}

/// The methods of this module.
pub(crate) const SIGNATURES: &[Signature] = &[
    sig!("key_state", "key_id" = None, "active" = Some("null")),
    sig!(
        "automat_info",
        "index" = Some("null"),
        "automat_id" = Some("null")
    ),
    sig!(
        "automat_events_start",
        "index" = Some("null"),
        "automat_id" = Some("null"),
        "state_unchanged" = Some("false")
    ),
    sig!(
        "automat_events_stop",
        "index" = Some("null"),
        "automat_id" = Some("null")
    ),
    sig!("network_create", "url" = None),
    sig!("network_select", "name" = None),
    sig!("network_disconnect"),
    sig!("blockchain_info"),
    sig!("blockchain_wallet_balance"),
    sig!(
        "blockchain_transaction_send",
        "recipient" = None,
        "amount" = None,
        "operation" = Some("\"\""),
        "data" = Some("\"\"")
    ),
    sig!("blockchain_block_produce"),
    sig!("devices_list", "sort" = Some("false")),
    sig!("device_info", "name" = None),
    sig!(
        "device_add",
        "name" = None,
        "routed" = Some("false"),
        "activate" = Some("true"),
        "wait_listening" = Some("false"),
        "web_socket_host" = Some("\"localhost\""),
        "web_socket_port" = Some("null"),
        "key_size" = Some("null")
    ),
    sig!(
        "device_start",
        "name" = None,
        "wait_listening" = Some("false")
    ),
    sig!("device_stop", "name" = None),
    sig!("device_remove", "name" = None),
    sig!(
        "device_authorization_request",
        "name" = None,
        "client_public_key" = None,
        "client_code" = None
    ),
    sig!(
        "device_authorization_generate",
        "name" = None,
        "client_public_key" = None
    ),
    sig!(
        "device_authorization_reset",
        "name" = None,
        "start" = Some("true"),
        "wait_listening" = Some("false")
    ),
    sig!(
        "device_authorization_client_code",
        "name" = None,
        "client_code" = None
    ),
    sig!("device_router_info"),
    sig!("share_history"),
    sig!("billing_info"),
    sig!("billing_offers_list"),
    sig!("billing_offer_create"),
    sig!("billing_bid_create"),
    sig!("billing_bid_accept"),
    sig!(
        "chunk_read",
        "path" = None,
        "offset" = Some("0"),
        "max_size" = Some("65536")
    ),
    sig!("chunk_write", "data" = None, "path" = Some("null")),
];

/// The routes of this module.
pub(crate) const ROUTES: &[Route] = &[
    Route {
        verb: "POST",
        paths: &["/key/state/v1", "/v1/key/state"],
        method: "key_state",
        params: &[
            p!(Body ["key_id"] => "key_id"; mandatory),
            p!(Body ["active"] => "active"),
        ],
    },
    Route {
        verb: "GET",
        paths: &["/automat/info/v1", "/v1/automat/info"],
        method: "automat_info",
        params: &[
            p!(Query ["index"] => "index"),
            p!(Query ["automat_id"] => "automat_id"),
        ],
    },
    Route {
        verb: "POST",
        paths: &["/automat/events/start/v1", "/v1/automat/events/start"],
        method: "automat_events_start",
        params: &[
            p!(Body ["index"] => "index"),
            p!(Body ["automat_id"] => "automat_id"),
            p!(Body ["state_unchanged"] => "state_unchanged" = "0"; flag),
        ],
    },
    Route {
        verb: "POST",
        paths: &["/automat/events/stop/v1", "/v1/automat/events/stop"],
        method: "automat_events_stop",
        params: &[
            p!(Body ["index"] => "index"),
            p!(Body ["automat_id"] => "automat_id"),
        ],
    },
    Route {
        verb: "POST",
        paths: &["/network/create/v1"],
        method: "network_create",
        params: &[p!(Body ["url"] => "url"; mandatory)],
    },
    Route {
        verb: "POST",
        paths: &["/network/select/v1"],
        method: "network_select",
        params: &[p!(Body ["name"] => "name"; mandatory)],
    },
    bare!(
        "GET",
        "share_history",
        ["/share/history/v1", "/v1/share/history", "/sh/h"]
    ),
    bare!(
        "GET",
        "network_disconnect",
        ["/network/disconnect/v1", "/v1/network/disconnect"]
    ),
    bare!(
        "GET",
        "blockchain_info",
        ["/blockchain/info/v1", "/v1/blockchain/info"]
    ),
    bare!(
        "GET",
        "blockchain_wallet_balance",
        [
            "/blockchain/wallet/balance/v1",
            "/v1/blockchain/wallet/balance"
        ]
    ),
    Route {
        verb: "POST",
        paths: &[
            "/blockchain/transaction/send/v1",
            "/v1/blockchain/transaction/send",
        ],
        method: "blockchain_transaction_send",
        params: &[
            p!(Body ["recipient"] => "recipient"; mandatory),
            p!(Body ["amount"] => "amount"; mandatory),
            p!(Body ["operation"] => "operation" = ""),
            p!(Body ["data"] => "data" = ""),
        ],
    },
    bare!(
        "POST",
        "blockchain_block_produce",
        [
            "/blockchain/block/produce/v1",
            "/v1/blockchain/block/produce"
        ]
    ),
    bare!(
        "GET",
        "devices_list",
        ["/device/list/v1", "/v1/device/list"]
    ),
];

/// A whole number from an argument (a number, or its text).
fn whole(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl BitDust {
    /// Runs a method of this module.
    pub(crate) async fn run_others(&self, name: &str, a: &Args) -> Option<Envelope> {
        Some(match name {
            "key_state" => self.key_state(a).await,
            "automat_info" => match self.automat(a).await {
                Ok((short, _)) => Envelope::ok_with(short),
                Err(e) => e,
            },
            "automat_events_start" => self.automat_events(a, true).await,
            "automat_events_stop" => self.automat_events(a, false).await,
            "network_create" => Envelope::error(format!(
                "incorrect network configuration: cairn joins one network, set by [network] bootstrap; '{}' cannot be added",
                a.text("url")
            )),
            "network_select" => match a.text("name").as_str() {
                "default" => Envelope::ok_with(json!([true])),
                other => Envelope::error(format!("network '{other}' does not exist")),
            },
            "network_disconnect" => Envelope::error(
                "incorrect network configuration: cairn has one network, set by [network] bootstrap, and stays in it while it runs",
            ),
            "blockchain_info" | "blockchain_block_produce" => {
                Envelope::error("service_bismuth_blockchain() is not started")
            }
            "blockchain_wallet_balance" | "blockchain_transaction_send" => {
                Envelope::error("service_bismuth_wallet() is not started")
            }
            // No remote API device exists here: the list is empty.
            "devices_list" => Envelope::result(json!([])),
            n if n.starts_with("device_") => {
                Envelope::error("service_web_socket_communicator() is not started")
            }
            // BitDust never implemented it either (bitdust-details.md §4.6).
            "share_history" => Envelope::error("method is not implemented yet"),
            n if n.starts_with("billing_") => Envelope::error("method is not implemented yet"),
            "chunk_read" | "chunk_write" => Envelope::error("wrong path location provided"),
            _ => return None,
        })
    }

    /// A key's state: the key info with `active`; a change to inactive
    /// is refused (cairn keeps every key active).
    async fn key_state(&self, a: &Args) -> Envelope {
        let key_id = a.text("key_id");
        let key = match self.find_key(&key_id, false).await {
            Ok(key) => key,
            Err(e) => return e,
        };
        let wanted = match a.value("active") {
            Value::Null => None,
            v => Some(crate::methods::truthy(v)),
        };
        if wanted.is_some_and(|w| w != key.active) {
            return Envelope::error(format!(
                "key {key_id} cannot be deactivated: cairn keeps every key active"
            ));
        }
        let mut info = self.key_info(&key).await;
        info.insert("active".into(), json!(key.active));
        Envelope::ok_with(Value::Object(info))
    }

    /// The running job `index` (its number) or `automat_id` names, as
    /// BitDust's short automat object, and its id.
    async fn automat(&self, a: &Args) -> Result<(Value, String), Envelope> {
        let index = a.value("index");
        let id = a.text("automat_id");
        let job = match (index.is_null() || index.as_str() == Some(""), id.is_empty()) {
            (true, true) => return Err(Envelope::error("one of the identifiers must be provided")),
            (false, false) => {
                return Err(Envelope::error(
                    "only one of the identifiers must be provided",
                ));
            }
            (false, true) => {
                let wanted = whole(index);
                let jobs = self.node().jobs().list(1000).await.unwrap_or_default();
                jobs.into_iter()
                    .find(|j| j.state == "running" && Some(j.seq) == wanted)
            }
            (true, false) => self
                .node()
                .jobs()
                .get(&id)
                .await
                .ok()
                .filter(|j| j.state == "running"),
        };
        let job = job.ok_or_else(|| Envelope::error("state machine instance was not found"))?;
        let short = json!({
            "index": job.seq,
            "id": job.id,
            "name": job.kind,
            "state": job.state.to_ascii_uppercase(),
        });
        Ok((short, job.id))
    }

    async fn automat_events(&self, a: &Args, on: bool) -> Envelope {
        let (short, id) = match self.automat(a).await {
            Ok(found) => found,
            Err(e) => return e,
        };
        self.set_publishing(&id, on);
        let what = if on { "started" } else { "stopped" };
        Envelope::ok_with(short).message(format!("{what} publishing events from the state machine"))
    }
}
