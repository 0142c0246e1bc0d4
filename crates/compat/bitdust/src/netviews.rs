//! BitDust's views of the network (bitdust-details.md §4.11, §4.12,
//! §4.15, §4.18, §4.19) over what the engine counts and holds:
//!
//! - `suppliers_ping`, `customers_ping`: every supplier and customer
//!   really pinged (a shard-protocol ping each, side by side);
//! - `supplier_change`: a position given to another peer (the one named,
//!   or a spare the engine chooses), every placed blob's shard rebuilt
//!   there (`change_supplier`);
//! - `suppliers_list_dht`: this node's suppliers by position from the
//!   catalog (cairn publishes no supplier list in the DHT: for anyone
//!   else, BitDust's "nothing found");
//! - `connections_list`, `streams_list`, `transfers_list`,
//!   `packets_list`, `packets_stats`: the swarm's connections with their
//!   socket bytes, and the requests it counted and has in flight
//!   (`node.network().connections()`, `traffic()`);
//! - `network_reconnect` redials every bootstrap peer; `network_stun`
//!   reads the addresses peers see this node at (identify) and AutoNAT;
//!   `network_configuration` the DHT's real settings;
//! - `dht_user_random` looks peers up around a random key;
//!   `dht_local_db_dump` lists the records this node's part of the DHT
//!   holds.

use serde_json::{Map, Value, json};

use crate::BitDust;
use crate::envelope::Envelope;
use crate::ids;
use crate::methods::{Args, Signature};
use crate::rest::Route;

/// The methods of this module.
pub(crate) const SIGNATURES: &[Signature] = &[
    Signature {
        name: "suppliers_ping",
        args: &[],
    },
    Signature {
        name: "customers_ping",
        args: &[],
    },
    Signature {
        name: "supplier_change",
        args: &[
            ("position", Some("null")),
            ("supplier_id", Some("null")),
            ("new_supplier_id", Some("null")),
        ],
    },
    Signature {
        name: "suppliers_list_dht",
        args: &[("customer_id", Some("null"))],
    },
    Signature {
        name: "connections_list",
        args: &[("protocols", Some("null"))],
    },
    Signature {
        name: "streams_list",
        args: &[("protocols", Some("null"))],
    },
    Signature {
        name: "transfers_list",
        args: &[],
    },
    Signature {
        name: "packets_list",
        args: &[],
    },
    Signature {
        name: "packets_stats",
        args: &[],
    },
    Signature {
        name: "network_reconnect",
        args: &[],
    },
    Signature {
        name: "network_configuration",
        args: &[],
    },
    Signature {
        name: "network_stun",
        args: &[("udp_port", Some("null")), ("dht_port", Some("null"))],
    },
    Signature {
        name: "dht_user_random",
        args: &[("layer_id", Some("0")), ("count", Some("1"))],
    },
    Signature {
        name: "dht_local_db_dump",
        args: &[],
    },
];

/// The parameters of `supplier_change`'s routes, the new supplier
/// optional or not.
macro_rules! change_params {
    ($($new:ident)?) => {
        &[
            p!(Body ["position", "pos", "index"] => "position"),
            p!(Body ["supplier_id", "supplier_idurl", "supplier_glob_id"] => "supplier_id"),
            p!(Body ["new_supplier_id", "new_global_id", "new_idurl"] => "new_supplier_id" $(; $new)?),
        ]
    };
}

/// The routes of this module.
pub(crate) const ROUTES: &[Route] = &[
    Route {
        verb: "POST",
        paths: &["/supplier/ping/v1", "/v1/supplier/ping", "/su/png"],
        method: "suppliers_ping",
        params: &[],
    },
    Route {
        verb: "POST",
        paths: &["/customer/ping/v1", "/v1/customer/ping", "/cu/png"],
        method: "customers_ping",
        params: &[],
    },
    Route {
        verb: "POST",
        paths: &["/supplier/change/v1", "/v1/supplier/change", "/su/c"],
        method: "supplier_change",
        params: change_params!(),
    },
    Route {
        verb: "DELETE",
        paths: &["/supplier/replace/v1"],
        method: "supplier_change",
        params: &[
            p!(Body ["position", "pos", "index"] => "position"),
            p!(Body ["supplier_id", "supplier_idurl", "supplier_glob_id"] => "supplier_id"),
        ],
    },
    Route {
        verb: "PUT",
        paths: &["/supplier/switch/v1"],
        method: "supplier_change",
        params: change_params!(mandatory),
    },
    Route {
        verb: "GET",
        paths: &["/supplier/list/dht/v1", "/v1/supplier/list/dht", "/su/dht"],
        method: "suppliers_list_dht",
        params: &[p!(Query ["customer_id", "customer_idurl", "id"] => "customer_id")],
    },
    Route {
        verb: "GET",
        paths: &["/connection/list/v1", "/v1/connection/list", "/con/l"],
        method: "connections_list",
        params: &[p!(Query ["protocols"] => "protocols")],
    },
    Route {
        verb: "GET",
        paths: &["/stream/list/v1", "/v1/stream/list", "/str/l"],
        method: "streams_list",
        params: &[p!(Query ["protocols"] => "protocols")],
    },
    Route {
        verb: "GET",
        paths: &["/transfer/list/v1", "/v1/transfer/list", "/tr/l"],
        method: "transfers_list",
        params: &[],
    },
    Route {
        verb: "GET",
        paths: &["/packet/list/v1", "/v1/packet/list", "/pkt/l"],
        method: "packets_list",
        params: &[],
    },
    Route {
        verb: "GET",
        paths: &[
            "/packet/stats/v1",
            "/packet/info/v1",
            "/v1/packet/stats",
            "/v1/packet/info",
            "/pkt/i",
        ],
        method: "packets_stats",
        params: &[],
    },
    Route {
        verb: "GET",
        paths: &["/network/reconnect/v1", "/v1/network/reconnect", "/nw/rcon"],
        method: "network_reconnect",
        params: &[],
    },
    Route {
        verb: "GET",
        paths: &[
            "/network/configuration/v1",
            "/v1/network/configuration",
            "/nw/cf",
        ],
        method: "network_configuration",
        params: &[],
    },
    Route {
        verb: "GET",
        paths: &["/network/stun/v1", "/v1/network/stun", "/nw/stn"],
        method: "network_stun",
        params: &[
            p!(Query ["udp_port"] => "udp_port"),
            p!(Query ["dht_port"] => "dht_port"),
        ],
    },
    Route {
        verb: "GET",
        paths: &["/dht/user/random/v1", "/v1/dht/user/random", "/d/u/r"],
        method: "dht_user_random",
        params: &[
            p!(Query ["layer_id"] => "layer_id" = "0"; int),
            p!(Query ["count"] => "count" = "1"; int),
        ],
    },
    Route {
        verb: "GET",
        paths: &["/dht/db/dump/v1", "/v1/dht/db/dump", "/d/d/d"],
        method: "dht_local_db_dump",
        params: &[],
    },
];

/// The transports `protocols` asks for: all when it is absent, else its
/// comma-separated names, lower-cased (BitDust split a string; anything
/// else failed as Python did).
fn protocols(a: &Args) -> Result<Option<Vec<String>>, Envelope> {
    match a.value("protocols") {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(
            s.split(',')
                .map(|p| p.trim().to_ascii_lowercase())
                .collect(),
        )),
        Value::Array(_) => Err(Envelope::error("'list' object has no attribute 'split'")),
        Value::Object(_) => Err(Envelope::error("'dict' object has no attribute 'split'")),
        Value::Bool(_) => Err(Envelope::error("'bool' object has no attribute 'split'")),
        Value::Number(n) if n.is_f64() => {
            Err(Envelope::error("'float' object has no attribute 'split'"))
        }
        Value::Number(_) => Err(Envelope::error("'int' object has no attribute 'split'")),
    }
}

/// Whether `wanted` takes cairn's one transport, TCP.
fn takes_tcp(wanted: &Option<Vec<String>>) -> bool {
    wanted.as_ref().is_none_or(|w| w.iter().any(|p| p == "tcp"))
}

/// `ip:port` of a multiaddr's first IP and TCP parts.
fn host_port(addr: &str) -> Option<(String, u16)> {
    let parts: Vec<&str> = addr.split('/').collect();
    let at = |name: &str| {
        parts
            .iter()
            .position(|p| *p == name)
            .and_then(|i| parts.get(i + 1))
    };
    let ip = at("ip4")
        .or_else(|| at("ip6"))
        .or_else(|| at("dns4"))
        .or_else(|| at("dns"))?;
    let port = at("tcp")?.parse().ok()?;
    Some(((*ip).to_owned(), port))
}

/// A multiaddr as BitDust writes a host: `ip:port`, else as it is.
fn host_of(addr: &str) -> String {
    host_port(addr).map_or_else(|| addr.to_owned(), |(ip, port)| format!("{ip}:{port}"))
}

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
    pub(crate) async fn run_netviews(&self, name: &str, a: &Args) -> Option<Envelope> {
        Some(match name {
            "suppliers_ping" => self.suppliers_ping().await,
            "customers_ping" => self.customers_ping().await,
            "supplier_change" => self.supplier_change(a).await,
            "suppliers_list_dht" => self.suppliers_list_dht(a).await,
            "connections_list" => self.connections_list(a).await,
            "streams_list" => self.streams_list(a),
            "transfers_list" => self.transfers_list().await,
            "packets_list" => self.packets_list().await,
            "packets_stats" => self.packets_stats().await,
            "network_reconnect" => self.network_reconnect().await,
            "network_configuration" => self.network_configuration(),
            "network_stun" => self.network_stun().await,
            "dht_user_random" => self.dht_user_random(a).await,
            "dht_local_db_dump" => self.dht_local_db_dump().await,
            _ => return None,
        })
    }

    async fn suppliers_ping(&self) -> Envelope {
        let network = self.node().network();
        let Ok(status) = network.status().await else {
            return Envelope::error("service_customer() is not started");
        };
        let pings = status.suppliers.iter().map(|s| network.ping(&s.peer));
        futures_util::future::join_all(pings).await;
        Envelope::ok().message("sent requests to all suppliers")
    }

    async fn customers_ping(&self) -> Envelope {
        let network = self.node().network();
        let Ok(customers) = network.customers().await else {
            return Envelope::error("service_supplier() is not started");
        };
        let peers: Vec<String> = customers.into_iter().filter_map(|c| c.peer).collect();
        futures_util::future::join_all(peers.iter().map(|p| network.ping(p))).await;
        Envelope::ok().message("sent requests to all customers")
    }

    /// The position `supplier_change` names (`position`, or the one of
    /// the supplier `supplier_id` names) and its supplier.
    async fn position_of(&self, a: &Args) -> Result<(u8, String), Envelope> {
        let status = self
            .node()
            .network()
            .status()
            .await
            .map_err(|_| Envelope::error("service_employer() is not started"))?;
        let by_position = whole(a.value("position"));
        let by_id = match a.text("supplier_id") {
            id if id.is_empty() => None,
            id => self.peer_of(&id).await,
        };
        status
            .suppliers
            .into_iter()
            .find(|s| {
                by_position == Some(i64::from(s.position))
                    || by_id.as_deref() == Some(s.peer.as_str())
            })
            .map(|s| (s.position, s.peer))
            .ok_or_else(|| Envelope::error("supplier was not found"))
    }

    /// The peer `new_supplier_id` names, if any, refused when it is a
    /// supplier or a customer already.
    async fn new_supplier(&self, a: &Args) -> Result<Option<String>, Envelope> {
        let id = a.text("new_supplier_id");
        if id.is_empty() {
            return Ok(None);
        }
        let peer = self
            .peer_of(&id)
            .await
            .ok_or_else(|| Envelope::error(format!("user {id} is not a known identity")))?;
        let network = self.node().network();
        let suppliers = network
            .status()
            .await
            .map(|s| s.suppliers)
            .unwrap_or_default();
        let idurl = self.idurl_of(&peer).await;
        if suppliers.iter().any(|s| s.peer == peer) {
            return Err(Envelope::error(format!(
                "user {idurl} is already a known supplier"
            )));
        }
        let customers = network.customers().await.unwrap_or_default();
        if customers.iter().any(|c| c.peer.as_deref() == Some(&peer)) {
            return Err(Envelope::error(format!(
                "user {idurl} is already a customer and cannot be a supplier at the same time"
            )));
        }
        Ok(Some(peer))
    }

    async fn supplier_change(&self, a: &Args) -> Envelope {
        let (position, old) = match self.position_of(a).await {
            Ok(found) => found,
            Err(e) => return e,
        };
        let new = match self.new_supplier(a).await {
            Ok(new) => new,
            Err(e) => return e,
        };
        let network = self.node().network();
        if let Err(e) = network.change_supplier(position, new.as_deref()).await {
            return Envelope::error(e.to_string());
        }
        let was = self.idurl_of(&old).await;
        let by = match &new {
            Some(peer) => self.idurl_of(peer).await,
            None => "a randomly selected user".into(),
        };
        Envelope::ok().message(format!("supplier {was} will be replaced by {by}"))
    }

    /// This node's suppliers by position (cairn keeps them in its
    /// catalog and publishes no list of them, so another customer's are
    /// "nothing found").
    async fn suppliers_list_dht(&self, a: &Args) -> Envelope {
        let me = self.me();
        let customer = match a.text("customer_id") {
            id if id.is_empty() => Some(me.clone()),
            id => self.peer_of(&id).await,
        };
        let Some(customer) = customer else {
            return Envelope::error("wrong customer identity");
        };
        let status = self.node().network().status().await.ok();
        let suppliers = match (&status, customer == me) {
            (Some(s), true) if !s.suppliers.is_empty() => &s.suppliers,
            _ => {
                return Envelope::result(json!({
                    "suppliers": [],
                    "ecc_map": null,
                    "customer_idurl": self.idurl_of(&customer).await,
                    "revision": 0,
                    "publisher_idurl": null,
                    "timestamp": null,
                }));
            }
        };
        let most = suppliers.iter().map(|s| usize::from(s.position) + 1).max();
        let mut list = vec![Value::String(String::new()); most.unwrap_or(0)];
        for s in suppliers {
            list[usize::from(s.position)] = json!(self.idurl_of(&s.peer).await);
        }
        let ecc = self.node().config().network.ecc.trim().to_owned();
        Envelope::result(json!({
            "suppliers": list,
            "ecc_map": (ecc != "auto").then(|| format!("ecc/{ecc}")),
            "customer_idurl": self.idurl_of(&me).await,
            "revision": 0,
            "publisher_idurl": self.idurl_of(&me).await,
            "timestamp": null,
        }))
    }

    async fn connections_list(&self, a: &Args) -> Envelope {
        let wanted = match protocols(a) {
            Ok(w) => w,
            Err(e) => return e,
        };
        let Ok(connections) = self.node().network().connections() else {
            return Envelope::error("service_gateway() is not started");
        };
        let mut list = Vec::new();
        for c in connections.iter().filter(|_| takes_tcp(&wanted)) {
            list.push(json!({
                "status": "active",
                "state": "CONNECTED",
                "proto": "tcp",
                "host": host_of(&c.remote),
                "global_id": self.gid_of(&c.peer).await,
                "idurl": self.idurl_of(&c.peer).await,
                "direction": c.direction,
                "bytes_sent": c.bytes_sent,
                "bytes_received": c.bytes_received,
            }));
        }
        Envelope::result(Value::Array(list))
    }

    /// Shard data on its way: a write or a read in flight, either way.
    fn streams_list(&self, a: &Args) -> Envelope {
        let wanted = match protocols(a) {
            Ok(w) => w,
            Err(e) => return e,
        };
        let Ok(traffic) = self.node().network().traffic() else {
            return Envelope::error("service_data_motion() is not started");
        };
        let list: Vec<Value> = traffic
            .in_flight
            .iter()
            .filter(|f| takes_tcp(&wanted) && matches!(f.kind.as_str(), "write" | "read"))
            .map(|f| {
                // The bytes go out with an outgoing write or an incoming
                // read's answer; they come in otherwise.
                let out = (f.direction == "outgoing") == (f.kind == "write");
                json!({
                    "proto": "tcp",
                    "stream_id": f.id,
                    "type": if out { "out" } else { "in" },
                    "bytes_current": -1,
                    "bytes_total": f.bytes,
                    "progress": "",
                })
            })
            .collect();
        Envelope::result(Value::Array(list))
    }

    /// One flight as BitDust's transfer item.
    async fn transfer_item(&self, f: &cairn_node::Flight) -> Value {
        let me = self.gid_of(&self.me()).await;
        let blob = f.blob.clone().unwrap_or_default();
        let mut item = json!({
            "packet_id": format!("{blob}/{}-{}-{}", f.offset, f.position.unwrap_or(0), f.kind),
            "owner_id": me,
            "remote_id": self.gid_of(&f.peer).await,
            "customer": me,
            "remote_path": blob,
            "filename": format!("{blob}-{}", f.position.unwrap_or(0)),
            "created": f.started,
        });
        let key = if f.kind == "read" {
            "requested"
        } else {
            "sent"
        };
        item[key] = json!(f.started);
        item
    }

    /// Per supplier: the shard requests on their way to it now (writes,
    /// seals, deletes go out; reads come in).
    async fn transfers_list(&self) -> Envelope {
        let network = self.node().network();
        let (Ok(status), Ok(traffic)) = (network.status().await, network.traffic()) else {
            return Envelope::error("service_data_motion() is not started");
        };
        let mut peers: Vec<String> = status.suppliers.iter().map(|s| s.peer.clone()).collect();
        let shard_flights: Vec<&cairn_node::Flight> = traffic
            .in_flight
            .iter()
            .filter(|f| f.direction == "outgoing" && f.blob.is_some())
            .collect();
        for f in &shard_flights {
            if !peers.contains(&f.peer) {
                peers.push(f.peer.clone());
            }
        }
        let mut list = Vec::new();
        for peer in peers {
            let (mut outgoing, mut incoming) = (Vec::new(), Vec::new());
            for f in shard_flights.iter().filter(|f| f.peer == peer) {
                let item = self.transfer_item(f).await;
                if f.kind == "read" {
                    incoming.push(item);
                } else {
                    outgoing.push(item);
                }
            }
            list.push(json!({
                "idurl": self.idurl_of(&peer).await,
                "global_id": self.gid_of(&peer).await,
                "outgoing": outgoing,
                "incoming": incoming,
            }));
        }
        Envelope::result(Value::Array(list))
    }

    /// The requests and messages on their way now, each way.
    async fn packets_list(&self) -> Envelope {
        let network = self.node().network();
        let Ok(traffic) = network.traffic() else {
            return Envelope::error("service_gateway() is not started");
        };
        let hosts: Vec<(String, String)> = network
            .connections()
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.peer, host_of(&c.remote)))
            .collect();
        let timeout = self.node().config().network.request_timeout_secs;
        let mut list = Vec::new();
        for f in &traffic.in_flight {
            let host = hosts
                .iter()
                .find(|(p, _)| *p == f.peer)
                .map_or_else(String::new, |(_, h)| h.clone());
            let target = self.idurl_of(&f.peer).await;
            let description = match &f.blob {
                Some(blob) => format!("{} {blob} at {}", f.kind, f.offset),
                None => f.kind.clone(),
            };
            list.push(if f.direction == "outgoing" {
                json!({
                    "direction": "outgoing",
                    "command": f.kind,
                    "packet_id": f.id.to_string(),
                    "label": f.protocol,
                    "target": target,
                    "description": description,
                    "response_timeout": timeout,
                    "items": [{"transfer_id": f.id, "proto": "tcp", "host": host, "size": f.bytes}],
                })
            } else {
                json!({
                    "direction": "incoming",
                    "transfer_id": f.id,
                    "label": f.protocol,
                    "target": target,
                    "timeout": timeout,
                    "proto": "tcp",
                    "host": host,
                    "size": f.bytes,
                })
            });
        }
        Envelope::result(Value::Array(list))
    }

    /// Counts since the node started: bytes (every connection's socket
    /// and lane frames), requests and messages (every protocol), by peer.
    async fn packets_stats(&self) -> Envelope {
        let Ok(traffic) = self.node().network().traffic() else {
            return Envelope::error("service_gateway() is not started");
        };
        let (mut peers_in, mut peers_out) = (Map::new(), Map::new());
        for p in &traffic.peers {
            let idurl = self.idurl_of(&p.peer).await;
            peers_in.insert(idurl.clone(), json!(p.bytes_received));
            peers_out.insert(idurl, json!(p.bytes_sent));
        }
        let sum = |f: fn(&cairn_node::ProtocolTraffic) -> u64| -> u64 {
            traffic.protocols.iter().map(f).sum()
        };
        let seen = self
            .node()
            .people()
            .identities(100_000)
            .await
            .map(|s| s.len())
            .unwrap_or(0);
        // Every connection is authenticated (noise): nothing arrives from
        // an unknown sender.
        Envelope::ok_with(json!({
            "in": {
                "total_bytes": traffic.bytes_received,
                "unknown_bytes": 0,
                "total_packets": sum(|p| p.received),
                "unknown_packets": 0,
                "failed_packets": sum(|p| p.failed_received),
                "identity_cache_count": seen,
                "peers": peers_in,
            },
            "out": {
                "total_bytes": traffic.bytes_sent,
                "unknown_bytes": 0,
                "total_packets": sum(|p| p.sent),
                "unknown_packets": 0,
                "failed_packets": sum(|p| p.failed_sent),
                "peers": peers_out,
            },
        }))
    }

    async fn network_reconnect(&self) -> Envelope {
        let Ok(redials) = self.node().network().reconnect().await else {
            return Envelope::error("service_network() is not started");
        };
        if redials.is_empty() || redials.iter().any(|r| r.connected) {
            return Envelope::ok().message("reconnected");
        }
        let why: Vec<String> = redials
            .iter()
            .map(|r| format!("{}: {}", r.address, r.error.as_deref().unwrap_or("")))
            .collect();
        Envelope::error(format!("reconnect failed: {}", why.join("; ")))
    }

    /// The DHT's real settings and known nodes (the bootstrap peers), and
    /// the transport's session keys (noise).
    fn network_configuration(&self) -> Envelope {
        let Ok(dht) = self.node().network().dht_settings() else {
            return Envelope::error("service_network() is not started");
        };
        let known: Vec<Value> = self
            .node()
            .config()
            .network
            .bootstrap
            .iter()
            .filter_map(|a| host_port(a))
            .map(|(host, port)| json!({"host": host, "udp_port": port}))
            .collect();
        Envelope::ok_with(json!({
            "current_network": "default",
            "service_entangled_dht": {
                "bucket_size": dht.replication,
                "default_age": dht.record_ttl_secs,
                "known_nodes": known,
                "max_age": dht.record_ttl_secs,
                "parallel_calls": dht.parallelism,
                "refresh_timeout": dht.replication_interval_secs,
                "rpc_timeout": dht.query_timeout_secs,
            },
            "service_gateway": {"session_key_type": "Noise_XX_25519_ChaChaPoly_SHA256"},
        }))
    }

    /// Where peers see this node (identify's observed addresses, else
    /// AutoNAT's public address): one port everywhere is a NAT that keeps
    /// it (`non-symmetric`), several a symmetric one.
    async fn network_stun(&self) -> Envelope {
        let Ok(status) = self.node().network().status().await else {
            return Envelope::error("service_network() is not started");
        };
        let mut seen: Vec<(String, String, u16)> = Vec::new();
        for o in &status.observed {
            if let Some((ip, port)) = host_port(&o.address) {
                seen.push((self.gid_of(&o.peer).await, ip, port));
            }
        }
        if seen.is_empty()
            && let Some((ip, port)) = status.nat.strip_prefix("public ").and_then(host_port)
        {
            seen.push((String::new(), ip, port));
        }
        let Some((_, ip, port)) = seen.first().cloned() else {
            return Envelope::ok_with(json!({
                "result": "stun-failed",
                "type": null,
                "ip": null,
                "details": ["no connected peer has told this node the address it sees, and AutoNAT found no public address"],
            }));
        };
        let result = if seen.iter().all(|(_, _, p)| *p == port) {
            json!({"result": "stun-success", "type": "non-symmetric", "ip": ip, "details": port})
        } else {
            let by: Map<String, Value> = seen
                .into_iter()
                .map(|(who, ip, port)| (who, json!(format!("{ip}:{port}"))))
                .collect();
            json!({"result": "stun-success", "type": "symmetric", "ip": ip, "details": by})
        };
        Envelope::ok_with(result)
    }

    async fn dht_user_random(&self, a: &Args) -> Envelope {
        let (Some(layer), Some(count)) = (whole(a.value("layer_id")), whole(a.value("count")))
        else {
            return Envelope::error("layer_id and count must be whole numbers");
        };
        if layer != 0 {
            return Envelope::error(format!(
                "DHT layer {layer} is not known: cairn's DHT has one layer, 0"
            ));
        }
        let count = usize::try_from(count.clamp(1, 100)).unwrap_or(1);
        let found = match self.node().network().dht_random_peers(count).await {
            Ok(found) => found,
            Err(_) => return Envelope::error("service_nodes_lookup() is not started"),
        };
        if found.is_empty() {
            return Envelope::error("no users were found");
        }
        let mut list = Vec::new();
        for peer in found {
            list.push(json!(self.idurl_of(&peer).await));
        }
        Envelope::result(Value::Array(list))
    }

    /// The records this node's part of the DHT holds, as layer 0's.
    async fn dht_local_db_dump(&self) -> Envelope {
        let Ok(records) = self.node().network().local_records().await else {
            return Envelope::result(Value::Null);
        };
        let list: Vec<Value> = records
            .into_iter()
            .map(|r| {
                let value = serde_json::from_slice::<Value>(&r.value).unwrap_or_else(|_| {
                    match String::from_utf8(r.value.clone()) {
                        Ok(text) => json!(text),
                        Err(_) => json!(
                            r.value
                                .iter()
                                .map(|b| format!("{b:02x}"))
                                .collect::<String>()
                        ),
                    }
                });
                json!({
                    "key": r.key,
                    "value": value,
                    "lastPublished": r.last_stored,
                    "originallyPublished": r.first_stored,
                    "originalPublisherID": r.publisher.as_deref().and_then(ids::host),
                    "expireSeconds": r.expires_in_secs,
                    "revision": null,
                    "scope": "global",
                })
            })
            .collect();
        Envelope::result(json!({"0": list}))
    }
}
