//! BitDust's services (bitdust-details.md §4.14) over the engine's real
//! services, against the real binary: the REST routes in the seed's curl
//! forms and their spellings, the A.6 object, and a stopped loop that
//! really stops (no audit round while the repair service is off), stays
//! stopped across a restart, and runs again once started, through
//! BitDust, the native API and the CLI.

mod common;

use std::time::Duration;

use common::net::repair_config;
use common::{Endpoint, TestNode};
use serde_json::{Value, json};

/// A BitDust REST call, with the secret; the envelope.
async fn call(node: &TestNode, method: &str, path: &str, body: Option<&str>) -> Value {
    let mut req = node
        .http
        .request(method.parse().unwrap(), node.root_url(path))
        .header("api_secret", &node.secret);
    if let Some(body) = body {
        req = req.body(body.to_owned());
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let v: Value = r.json().await.unwrap();
    assert!(v["execution"].is_string(), "{v}");
    v
}

/// The envelope's first error.
fn error(v: &Value) -> &str {
    assert_eq!(v["status"], "ERROR", "{v}");
    v["errors"][0].as_str().unwrap()
}

/// When the repair loop last ended a round (0: never since start).
async fn last_round(node: &TestNode) -> i64 {
    let (status, v) = node.get_json("/network/repair").await;
    assert_eq!(status, 200, "{v}");
    v["checked_at"].as_i64().unwrap()
}

/// Waits (bounded) for the repair loop to end a round after `after`.
async fn a_round_after(node: &TestNode, after: i64) -> i64 {
    for _ in 0..100 {
        let at = last_round(node).await;
        if at > after {
            return at;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no audit round after {after}");
}

/// Checks that the repair loop ends no round for 2.5 s (it runs every
/// second when on).
async fn no_round_for_a_while(node: &TestNode) {
    let before = last_round(node).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        last_round(node).await,
        before,
        "an audit round ran while stopped"
    );
}

#[tokio::test]
async fn services_are_listed_as_bitdust_lists_them_from_the_real_loops() {
    let node = TestNode::start_with(&repair_config(None)).await;
    let v = call(&node, "GET", "/service/list/v1?with_configs=1", None).await;
    assert_eq!(v["status"], "OK", "{v}");
    let list = v["result"].as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|s| s["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "sorted by name");
    for name in [
        "service_backups",
        "service_my_data",
        "service_shared_data",
        "service_private_messages",
        "service_private_groups",
        "service_message_history",
        "service_customer",
        "service_supplier",
        "service_data_motion",
        "service_entangled_dht",
        "service_gateway",
        "service_p2p_notifications",
        "service_rebuilding",
        "service_restores",
        "service_backup_db",
    ] {
        let s = list.iter().find(|s| s["name"] == name).expect(name);
        assert_eq!(s["state"], "ON", "{s}");
        assert_eq!(s["configs"][0]["key"], s["config_path"], "{s}");
    }

    // service_info, in its three spellings and BitDust's three names.
    let expected = json!({
        "index": 15,
        "id": "service_private_groups",
        "name": "service_private_groups",
        "state": "ON",
        "enabled": true,
        "installed": true,
        "config_path": "services/private-groups/enabled",
        "depends": ["service_private_messages"],
    });
    for path in [
        "/service/info/service_private_groups/v1",
        "/v1/service/info/private-groups",
        "/svc/i/private_groups/",
    ] {
        let v = call(&node, "GET", path, None).await;
        assert_eq!(v["result"], expected, "{path}");
    }
    let v = call(&node, "GET", "/service/info/service_nothing/v1", None).await;
    assert_eq!(error(&v), "service was not found");

    // service_health.
    let v = call(&node, "GET", "/service/health/service_supplier/v1", None).await;
    assert_eq!(v["result"], json!(true), "{v}");
    let v = call(&node, "GET", "/service/health/service_nothing/v1", None).await;
    assert_eq!(error(&v), "service service_nothing not found");

    // A required part refuses to stop, and stays on.
    let v = call(&node, "POST", "/service/stop/service_network/v1", None).await;
    assert!(error(&v).contains("required"), "{v}");
    let (status, swarm) = node.get_json("/services/swarm").await;
    assert_eq!((status, &swarm["state"]), (200, &json!("ON")), "{swarm}");

    // Unknown names, wrong verbs, wrong types: BitDust's errors, 200.
    let v = call(&node, "POST", "/service/start/service_nothing/v1", None).await;
    assert_eq!(error(&v), "service service_nothing was not found");
    let v = call(&node, "POST", "/svc/c/nothing/", None).await;
    assert_eq!(error(&v), "service nothing was not found");
    let v = call(&node, "GET", "/service/stop/service_supplier/v1", None).await;
    assert_eq!(
        error(&v),
        "method b'GET':b'/service/stop/service_supplier/v1' was not found"
    );
    let v = call(
        &node,
        "POST",
        "/service/restart/service_customer/v1",
        Some("[1, 2]"),
    )
    .await;
    assert_eq!(error(&v), "invalid json input");
    let v = call(
        &node,
        "POST",
        "/service/restart/service_customer/v1",
        Some(r#"{"wait_timeout": "soon"}"#),
    )
    .await;
    assert_eq!(v["status"], "ERROR", "{v}");
    let (status, v) = node.get_json("/services/nothing").await;
    assert_eq!(status, 404, "{v}");

    // The seed's restart.
    let v = call(&node, "POST", "/service/restart/service_customer/v1", None).await;
    assert_eq!(
        v["result"],
        json!([{"stopped": true}, {"started": true}]),
        "{v}"
    );
}

#[tokio::test]
async fn a_stopped_service_really_stops_stays_stopped_across_a_restart_and_starts_again() {
    let node = TestNode::start_with(&repair_config(None)).await;
    let first = a_round_after(&node, 0).await;
    a_round_after(&node, first).await;

    // Through BitDust: service_rebuilding is cairn's repair loop.
    let v = call(&node, "POST", "/service/stop/service_rebuilding/v1", None).await;
    assert_eq!(
        v,
        json!({"status": "OK", "message": "service service_rebuilding switched off", "execution": v["execution"]})
    );
    no_round_for_a_while(&node).await;
    let (_, repair) = node.get_json("/services/repair").await;
    assert_eq!(
        (&repair["state"], &repair["enabled"]),
        (&json!("OFF"), &json!(false))
    );
    // Every BitDust name over it went off with it.
    let v = call(&node, "GET", "/service/info/service_customer/v1", None).await;
    assert_eq!(
        (&v["result"]["state"], &v["result"]["enabled"]),
        (&json!("OFF"), &json!(false))
    );
    let v = call(&node, "POST", "/service/stop/service_rebuilding/v1", None).await;
    assert_eq!(error(&v), "service service_rebuilding already disabled");
    let v = call(&node, "GET", "/service/health/service_rebuilding/v1", None).await;
    assert_eq!(error(&v), "service service_rebuilding is disabled");

    // Across a restart it stays stopped: no round at all.
    let node = node.restart().await;
    let (_, repair) = node.get_json("/services/repair").await;
    assert_eq!(repair["state"], "OFF", "{repair}");
    no_round_for_a_while(&node).await;
    assert_eq!(last_round(&node).await, 0);

    // The CLI starts it again.
    let out = node.cli(&["service", "start", "repair"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("repair") && text.contains("ON"), "{text}");
    a_round_after(&node, 0).await;
    let out = node.cli(&["service", "ls"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("catalog") && l.contains("required")),
        "{text}"
    );

    // The native API stops and starts it.
    let (status, v) = node
        .send_json(reqwest::Method::POST, "/services/repair/stop", json!({}))
        .await;
    assert_eq!((status, &v["state"]), (200, &json!("OFF")), "{v}");
    no_round_for_a_while(&node).await;
    let (status, v) = node
        .send_json(reqwest::Method::POST, "/services/repair/restart", json!({}))
        .await;
    assert_eq!(status, 409, "a disabled service is not restarted: {v}");
    let (status, v) = node
        .send_json(reqwest::Method::POST, "/services/swarm/stop", json!({}))
        .await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = node
        .send_json(reqwest::Method::POST, "/services/repair/start", json!({}))
        .await;
    assert_eq!((status, &v["state"]), (200, &json!("ON")), "{v}");
    let at = last_round(&node).await;
    a_round_after(&node, at).await;

    // BitDust's start of a running service, and of a stopped one.
    let v = call(&node, "POST", "/service/start/service_rebuilding/v1", None).await;
    assert_eq!(error(&v), "service service_rebuilding already started");
    let v = call(&node, "POST", "/svc/c/supplier/", None).await;
    assert_eq!(v["message"], "service service_supplier switched off", "{v}");
    let v = call(&node, "POST", "/v1/service/start/supplier", None).await;
    assert_eq!(v["message"], "service service_supplier switched on", "{v}");
    let (_, shards) = node.get_json("/services/shards").await;
    assert_eq!(
        (&shards["state"], shards["starts"].as_u64()),
        (&json!("ON"), Some(2))
    );
}

#[tokio::test]
async fn without_the_network_its_services_are_not_installed() {
    let node = TestNode::start_with("[network]\nenabled = false\n").await;
    let v = call(&node, "GET", "/service/info/service_supplier/v1", None).await;
    assert_eq!(v["result"]["state"], "NOT_INSTALLED", "{v}");
    assert_eq!(v["result"]["installed"], false, "{v}");
    let v = call(&node, "GET", "/service/health/service_supplier/v1", None).await;
    assert_eq!(error(&v), "service service_supplier is not installed");
    let v = call(&node, "POST", "/service/stop/service_supplier/v1", None).await;
    assert_eq!(v["status"], "OK", "its flag is kept: {v}");
    let v = call(&node, "POST", "/service/start/service_supplier/v1", None).await;
    assert!(error(&v).contains("network"), "{v}");
    let v = call(&node, "GET", "/service/info/service_my_data/v1", None).await;
    assert_eq!(v["result"]["state"], "ON", "the catalog runs: {v}");
}
