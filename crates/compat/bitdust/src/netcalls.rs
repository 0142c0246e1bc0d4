//! BitDust's network calls (bitdust-details.md §4.11 to §4.19) answered
//! from cairn's network: suppliers, customers, space, network status,
//! the DHT, and the event long poll.

use serde_json::{Value, json};

use crate::BitDust;
use crate::envelope::Envelope;
use crate::ids;
use crate::methods::{Args, now_secs};

/// A share as BitDust writes a percentage: fixed precision, trailing
/// zeros and dot stripped, then `%`.
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".into();
    }
    let text = format!("{:.5}", part as f64 * 100.0 / whole as f64);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

impl BitDust {
    /// The peers this node is connected to now.
    pub(crate) async fn connected_peers(&self) -> Vec<String> {
        self.node()
            .network()
            .peers()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.peer_id.to_string())
            .collect()
    }

    pub(crate) async fn suppliers_list(&self) -> Envelope {
        let status = match self.node().network().status().await {
            Ok(s) => s,
            Err(_) => return Envelope::error("service_customer() is not started"),
        };
        let mut out = Vec::new();
        for s in status.suppliers {
            let nick = self.nickname_of(&s.peer).await;
            let state = if s.connected { "CONNECTED" } else { "OFFLINE" };
            out.push(json!({
                "position": s.position,
                "idurl": ids::idurl(&s.peer, nick.as_deref()),
                "global_id": ids::gid(&s.peer, nick.as_deref()),
                "supplier_state": if s.connected { "CONNECTED" } else { "DISCONNECTED" },
                "connected": "",
                "contact_state": state,
            }));
        }
        Envelope::result(Value::Array(out))
    }

    pub(crate) async fn customers_list(&self) -> Envelope {
        let customers = match self.node().network().customers().await {
            Ok(c) => c,
            Err(_) => return Envelope::error("service_supplier() is not started"),
        };
        let connected = self.connected_peers().await;
        let mut out = Vec::new();
        for (position, c) in customers.into_iter().enumerate() {
            let (gid, idurl, state) = match &c.peer {
                Some(peer) => {
                    let nick = self.nickname_of(peer).await;
                    (
                        ids::gid(peer, nick.as_deref()),
                        ids::idurl(peer, nick.as_deref()),
                        if connected.contains(peer) {
                            "CONNECTED"
                        } else {
                            "OFFLINE"
                        },
                    )
                }
                None => (String::new(), String::new(), "OFFLINE"),
            };
            out.push(json!({"position": position, "global_id": gid, "idurl": idurl, "contact_state": state}));
        }
        Envelope::result(Value::Array(out))
    }

    pub(crate) async fn customer_reject(&self, customer: &str) -> Envelope {
        let Some(peer) = self.peer_of(customer).await else {
            return Envelope::error("customer was not found");
        };
        let Ok(owner) = cairn_node::Network::customer_id_of(&peer) else {
            return Envelope::error("customer was not found");
        };
        let known = self
            .node()
            .network()
            .customers()
            .await
            .unwrap_or_default()
            .iter()
            .any(|c| c.owner == owner);
        if !known {
            return Envelope::error("customer was not found");
        }
        match self.node().network().reject_customer(&owner).await {
            Ok(freed) => Envelope::ok().message(format!(
                "all services for client {} have been stopped, {freed} bytes freed",
                self.idurl_of(&peer).await
            )),
            Err(e) => Envelope::error(e.to_string()),
        }
    }

    pub(crate) async fn space_donated(&self) -> Envelope {
        let status = self.node().network().status().await.ok();
        let customers = self.node().network().customers().await.unwrap_or_default();
        let (donated, used) = status
            .as_ref()
            .map(|s| (s.space.donated, s.space.used))
            .unwrap_or_default();
        let mut list = Vec::new();
        for c in &customers {
            let idurl = match &c.peer {
                Some(p) => self.idurl_of(p).await,
                None => String::new(),
            };
            list.push(
                json!({"idurl": idurl, "used": c.bytes, "consumed": c.allowance, "real": c.bytes}),
            );
        }
        let consumed: u64 = customers
            .iter()
            .map(|c| c.allowance.max(c.bytes))
            .sum::<u64>()
            .min(donated);
        Envelope::ok_with(json!({
            "consumed": consumed,
            "consumed_percent": percent(consumed, donated),
            "customers": list,
            "customers_num": customers.len(),
            "donated": donated,
            "free": donated.saturating_sub(used),
            "old_customers": [],
            "old_customers_real": 0,
            "old_customers_used": 0,
            "real": used,
            "used": used,
            "used_percent": percent(used, donated),
        }))
    }

    pub(crate) async fn space_consumed(&self) -> Envelope {
        let status = self.node().status().await.ok();
        let net = self.node().network().status().await.ok();
        let (files, folders, bytes) = status
            .as_ref()
            .map(|s| (s.counts.files, s.counts.folders, s.counts.blob_bytes))
            .unwrap_or_default();
        let suppliers = net.as_ref().map(|n| n.suppliers.len() as u64).unwrap_or(0);
        let keys = self
            .node()
            .keys()
            .list(false)
            .await
            .map(|k| k.len())
            .unwrap_or(0);
        let per = bytes.checked_div(suppliers).unwrap_or(0);
        Envelope::ok_with(json!({
            "suppliers_num": suppliers,
            "needed": bytes,
            "used": bytes,
            "available": 0,
            "needed_per_supplier": per,
            "used_per_supplier": per,
            "available_per_supplier": 0,
            "used_percent": percent(bytes, bytes),
            "my_catalog_items": files + folders,
            "my_files": files,
            "my_folders": folders,
            "my_files_size": bytes,
            "my_folders_size": 0,
            "my_backups_size": bytes,
            "my_keys": keys,
            "shared_catalog_items": 0,
            "shared_files": 0,
            "shared_folders": 0,
            "shared_files_size": 0,
            "shared_folders_size": 0,
            "shared_backups_size": 0,
            "shared_keys": 0,
        }))
    }

    pub(crate) async fn space_local(&self) -> Envelope {
        let status = self.node().status().await.ok();
        let net = self.node().network().status().await.ok();
        let backups = status.as_ref().map(|s| s.storage_used).unwrap_or(0);
        let customers = net.as_ref().map(|n| n.space.used).unwrap_or(0);
        let total = status.as_ref().map(|s| s.storage_capacity).unwrap_or(0);
        let free = total.saturating_sub(backups + customers);
        Envelope::ok_with(json!({
            "backups": backups,
            "temp": 0,
            "customers": customers,
            "total": backups + customers,
            "disktotal": total,
            "diskfree": free,
            "total_percent": percent(backups + customers, total),
            "diskfree_percent": percent(free, total),
        }))
    }

    pub(crate) async fn network_status(&self, a: &Args) -> Envelope {
        let Ok(net) = self.node().network().status().await else {
            return Envelope::error("service_network() is not started");
        };
        let me = self.me();
        let nick = self.nickname_of(&me).await;
        let connected = self.connected_peers().await;
        let mut out = json!({
            "p2p_connector_state": if net.peers > 0 { "CONNECTED" } else { "DISCONNECTED" },
            "network_connector_state": if net.peers > 0 { "CONNECTED" } else { "DISCONNECTED" },
            "idurl": ids::idurl(&me, nick.as_deref()),
            "global_id": ids::gid(&me, nick.as_deref()),
            "identity_sources": [ids::idurl(&me, nick.as_deref())],
            "identity_contacts": net.listen,
            "identity_revision": 0,
        });
        if a.flag("show_suppliers") {
            let mut peers = Vec::new();
            for s in &net.suppliers {
                let n = self.nickname_of(&s.peer).await;
                peers.push(json!({
                    "idurl": ids::idurl(&s.peer, n.as_deref()),
                    "global_id": ids::gid(&s.peer, n.as_deref()),
                    "state": if s.connected { "CONNECTED" } else { "OFFLINE" },
                }));
            }
            let total = net.suppliers.len();
            let up = net.suppliers.iter().filter(|s| s.connected).count();
            out["suppliers"] = json!({"desired": total, "requested": total, "connected": up, "total": total, "peers": peers});
        }
        if a.flag("show_customers") {
            let customers = self.node().network().customers().await.unwrap_or_default();
            let mut peers = Vec::new();
            for c in customers.iter().filter_map(|c| c.peer.clone()) {
                let n = self.nickname_of(&c).await;
                peers.push(json!({
                    "idurl": ids::idurl(&c, n.as_deref()),
                    "global_id": ids::gid(&c, n.as_deref()),
                    "state": if connected.contains(&c) { "CONNECTED" } else { "OFFLINE" },
                }));
            }
            let up = peers.iter().filter(|p| p["state"] == "CONNECTED").count();
            out["customers"] = json!({"connected": up, "total": customers.len(), "peers": peers});
        }
        if a.flag("show_cache") {
            let seen = self
                .node()
                .people()
                .identities(10_000)
                .await
                .unwrap_or_default();
            let peers: Vec<Value> = seen
                .iter()
                .map(|s| {
                    json!({
                        "idurl": ids::idurl(&s.peer, s.nickname.as_deref()),
                        "global_id": ids::gid(&s.peer, s.nickname.as_deref()),
                        "state": if connected.contains(&s.peer) { "CONNECTED" } else { "OFFLINE" },
                    })
                })
                .collect();
            let up = peers.iter().filter(|p| p["state"] == "CONNECTED").count();
            out["cache"] = json!({"total": peers.len(), "connected": up, "peers": peers});
        }
        if a.flag("show_tcp") {
            let sessions: Vec<Value> = self
                .node()
                .network()
                .peers()
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|p| {
                    let peer = p.peer_id.to_string();
                    json!({
                        "peer": peer,
                        "state": "CONNECTED",
                        "id": peer,
                        "idurl": ids::idurl(&peer, None),
                        "address": p.addresses.first().map(ToString::to_string).unwrap_or_default(),
                        "external_address": "",
                        "connection_address": "",
                        "bytes_received": 0,
                        "bytes_sent": 0,
                    })
                })
                .collect();
            out["tcp"] = json!({"sessions": sessions, "streams": []});
        }
        if a.flag("show_udp") {
            out["udp"] = json!({"sessions": [], "streams": [], "ports": []});
        }
        if a.flag("show_proxy") {
            out["proxy"] = json!({"sessions": []});
        }
        if a.flag("show_dht") {
            out["dht"] = json!({});
        }
        Envelope::ok_with(out)
    }

    /// Whether the node is on the network: its swarm runs and listens
    /// (a lone node that listens is as connected as BitDust's was once
    /// its transports were up; peers come to it).
    pub(crate) async fn network_connected(&self) -> Envelope {
        match self.node().network().status().await {
            Ok(net) if !net.listen.is_empty() => Envelope::ok_with(json!({
                "service_network": "started",
                "service_gateway": "started",
                "service_p2p_hookups": "started",
                "service_proxy_transport": "disabled",
            })),
            Ok(_) => Envelope::error("disconnected").with_reason("p2p_connector_disconnected"),
            Err(_) => Envelope::error("service_network() is disabled")
                .with_reason("service_network_disabled"),
        }
    }

    pub(crate) async fn dht_value_get(&self, key: &str) -> Envelope {
        let my_dht_id = ids::host(&self.me()).unwrap_or_default();
        match self.node().network().dht_get(key).await {
            Ok(Some(bytes)) => {
                let value = serde_json::from_slice::<Value>(&bytes)
                    .unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
                Envelope::ok_with(
                    json!({"read": "success", "my_dht_id": my_dht_id, "key": key, "value": value}),
                )
            }
            Ok(None) => Envelope::ok_with(
                json!({"read": "failed", "my_dht_id": my_dht_id, "key": key, "closest_nodes": []}),
            ),
            Err(e) => Envelope::error(e.to_string()),
        }
    }

    pub(crate) async fn dht_value_set(&self, key: &str, value: &Value) -> Envelope {
        let value = match value {
            Value::String(s) => match serde_json::from_str::<Value>(s) {
                Ok(v) => v,
                Err(_) => return Envelope::error("input value must be a json"),
            },
            Value::Object(_) | Value::Array(_) => value.clone(),
            _ => return Envelope::error("input value must be a json"),
        };
        let my_dht_id = ids::host(&self.me()).unwrap_or_default();
        match self
            .node()
            .network()
            .dht_put(key, value.to_string().into_bytes())
            .await
        {
            Ok(()) => Envelope::ok_with(
                json!({"write": "success", "my_dht_id": my_dht_id, "key": key, "value": value, "closest_nodes": []}),
            ),
            Err(e) => Envelope::error(e.to_string()),
        }
    }

    pub(crate) async fn dht_node_find(&self, node: &str) -> Envelope {
        let target = if node.is_empty() {
            self.me()
        } else {
            self.peer_of(node).await.unwrap_or_default()
        };
        let my_dht_id = ids::host(&self.me()).unwrap_or_default();
        match self.node().network().dht_find_node(&target).await {
            Ok(peers) => {
                let closest: Vec<Value> = peers
                    .iter()
                    .map(|p| json!({"dht_id": ids::host(p).unwrap_or_default(), "address": ""}))
                    .collect();
                Envelope::ok_with(json!({
                    "my_dht_id": my_dht_id,
                    "lookup": ids::host(&target).unwrap_or_default(),
                    "closest_nodes": closest,
                }))
            }
            Err(_) => Envelope::error("unexpected DHT response"),
        }
    }

    pub(crate) fn events_list(&self) -> Envelope {
        let counts = self.event_counts();
        let mut m = serde_json::Map::new();
        m.insert("identity-rotated".into(), json!(0));
        m.insert("my-identity-rotated".into(), json!(0));
        for (id, n) in counts {
            m.insert(id, json!(n));
        }
        Envelope::ok_with(Value::Object(m))
    }

    /// `event_listen`: what this consumer's queue holds, or the next
    /// event, whenever it comes.
    pub(crate) async fn event_listen(&self, consumer: &str) -> Envelope {
        let events = self.listen_events(consumer).await;
        let list: Vec<Value> = events
            .into_iter()
            .map(|(id, data, time)| json!({"id": id, "data": data, "time": time}))
            .collect();
        Envelope::ok_with(Value::Array(list))
    }
}

/// Now, for an event's time.
pub(crate) fn event_time() -> i64 {
    now_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_written_as_bitdust_wrote_them() {
        assert_eq!(percent(0, 0), "0%");
        assert_eq!(percent(0, 10), "0%");
        assert_eq!(percent(1, 8), "12.5%");
        assert_eq!(percent(1, 3), "33.33333%");
        assert_eq!(percent(5, 5), "100%");
    }
}
