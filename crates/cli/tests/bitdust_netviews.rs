//! BitDust's network views on three real nodes: connections, packets
//! and transfers answer from what the swarm counted (and the counters
//! move when a file is placed or a supplier pinged), the DHT dump lists
//! the records a node holds, `network_stun` what the peers see, and
//! `network_reconnect` really dials the bootstrap peer; the native
//! routes and `cairn net` say the same.

mod common;

use common::net::{net_config, p2p_addr, placed, wait_peers};
use common::{Endpoint, TestNode};
use serde_json::Value;

/// A node whose BitDust WebSocket listens on a port of its own.
const WS: &str = "[layers]\ncacaoweb = []\npowder = []\nbitdust = [\"127.0.0.1:0\"]\n";

/// A BitDust REST call; answers its envelope (BitDust answers 200 to
/// everything).
async fn call(node: &TestNode, method: &str, path: &str) -> Value {
    let r = node
        .http
        .request(method.parse().unwrap(), node.root_url(path))
        .header("api_secret", node.secret.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

/// `packets_stats`' count of requests and messages one way.
async fn packets(node: &TestNode, way: &str) -> u64 {
    let v = call(node, "GET", "/pkt/i").await;
    v["result"][way]["total_packets"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn network_views_answer_from_what_the_swarm_counted() {
    let first = TestNode::start_with(&format!("{}{WS}", net_config(None))).await;
    let boot = p2p_addr(&first).await;
    let second = TestNode::start_with(&format!("{}{WS}", net_config(Some(&boot)))).await;
    let third = TestNode::start_with(&format!("{}{WS}", net_config(Some(&boot)))).await;
    for n in [&first, &second, &third] {
        wait_peers(n, 2).await;
    }
    let node = &first;

    // Connections: one per peer at least, with the bytes their sockets
    // carried.
    let conns = call(node, "GET", "/connection/list/v1?protocols=tcp,udp").await;
    let list = conns["result"].as_array().unwrap();
    assert!(list.len() >= 2, "{conns}");
    assert!(
        list.iter().all(|c| c["proto"] == "tcp"
            && c["host"].as_str().unwrap().starts_with("127.0.0.1:")
            && c["bytes_received"].as_u64().unwrap() > 0),
        "{conns}"
    );
    let none = call(node, "GET", "/con/l?protocols=udp").await;
    assert_eq!(none["result"], serde_json::json!([]), "no UDP in cairn");

    // A file placed: requests go out, bytes with them, and the suppliers
    // count them coming in.
    let (out_before, in_before) = (packets(node, "out").await, packets(&second, "in").await);
    let (status, entry) = node.upload("f.bin", common::data(300_000, 3), "").await;
    assert_eq!(status, 201);
    let job = placed(node, entry["blob"].as_str().unwrap()).await;
    assert_eq!(job["state"], "done", "{job}");
    let stats = call(node, "GET", "/packet/stats/v1").await;
    assert!(packets(node, "out").await > out_before, "{stats}");
    assert!(packets(&second, "in").await > in_before);
    let peers_out = stats["result"]["out"]["peers"].as_object().unwrap();
    assert!(
        peers_out.len() >= 2 && peers_out.values().all(|b| b.as_u64().unwrap() > 0),
        "{stats}"
    );
    assert!(
        stats["result"]["out"]["total_bytes"].as_u64().unwrap() > 300_000,
        "{stats}"
    );

    // The native view: the shard protocol's requests by direction.
    let (code, traffic) = node.get_json("/network/traffic").await;
    assert_eq!(code, 200, "{traffic}");
    let shards = traffic["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["protocol"] == "/cairn/shards/4")
        .cloned()
        .unwrap_or_default();
    assert!(shards["sent"].as_u64().unwrap_or(0) > 0, "{traffic}");
    let (code, supplier_traffic) = second.get_json("/network/traffic").await;
    assert_eq!(code, 200);
    assert!(
        supplier_traffic["protocols"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["protocol"] == "/cairn/shards/4" && p["received"].as_u64().unwrap() > 0),
        "{supplier_traffic}"
    );
    let (code, native) = node.get_json("/network/connections").await;
    assert_eq!(code, 200);
    assert!(
        native["connections"].as_array().unwrap().len() >= 2,
        "{native}"
    );
    let cli = node.cli(&["net", "connections"]);
    assert!(cli.status.success(), "{cli:?}");
    assert!(String::from_utf8_lossy(&cli.stdout).lines().count() >= 2);

    // Transfers: a line per supplier; nothing is on its way once placed.
    let transfers = call(node, "GET", "/transfer/list/v1").await;
    let per_supplier = transfers["result"].as_array().unwrap();
    assert_eq!(per_supplier.len(), 2, "{transfers}");
    assert!(
        per_supplier
            .iter()
            .all(|s| s["global_id"].as_str().unwrap().contains('@')
                && s["outgoing"].as_array().is_some()
                && s["incoming"].as_array().is_some())
    );
    let flights = call(node, "GET", "/packet/list/v1").await;
    assert!(flights["result"].as_array().is_some(), "{flights}");

    // Suppliers and customers pinged: the pings arrive.
    let in_before = packets(&second, "in").await;
    let ping = call(node, "POST", "/supplier/ping/v1").await;
    assert_eq!(ping["message"], "sent requests to all suppliers", "{ping}");
    assert!(packets(&second, "in").await > in_before);
    let in_before = packets(node, "in").await;
    let ping = call(&second, "POST", "/customer/ping/v1").await;
    assert_eq!(ping["message"], "sent requests to all customers", "{ping}");
    assert!(
        packets(node, "in").await > in_before,
        "the customer was pinged"
    );

    // The DHT: the placed blob's records are held here, and in BitDust's
    // list of this node's suppliers.
    let dump = call(node, "GET", "/dht/db/dump/v1").await;
    let records = dump["result"]["0"].as_array().unwrap();
    assert!(!records.is_empty(), "{dump}");
    assert!(
        records
            .iter()
            .all(|r| r["scope"] == "global" && r.get("value").is_some())
    );
    let (code, native) = node.get_json("/network/records").await;
    assert_eq!(code, 200);
    assert_eq!(native["records"].as_array().unwrap().len(), records.len());
    assert_eq!(native["settings"]["replication"], 20);
    let dht = call(node, "GET", "/supplier/list/dht/v1").await;
    assert_eq!(
        dht["result"]["suppliers"].as_array().unwrap().len(),
        2,
        "{dht}"
    );
    let random = call(node, "GET", "/dht/user/random/v1?count=2").await;
    assert_eq!(random["status"], "OK", "{random}");
    assert!(!random["result"].as_array().unwrap().is_empty());

    // What the peers see: loopback, the port this node's sockets use.
    let stun = call(&second, "GET", "/network/stun/v1").await;
    assert_eq!(stun["result"]["result"], "stun-success", "{stun}");
    assert_eq!(stun["result"]["ip"], "127.0.0.1");

    // Reconnect: the bootstrap peer is dialled again, for real.
    let (code, redials) = second
        .send_json(reqwest::Method::POST, "/network/reconnect", Value::Null)
        .await;
    assert_eq!(code, 200, "{redials}");
    assert_eq!(redials["redials"][0]["connected"], true, "{redials}");
    let reconnect = call(&second, "GET", "/network/reconnect/v1").await;
    assert_eq!(reconnect["message"], "reconnected", "{reconnect}");
}
