//! BitDust's config (bitdust-details.md §4.2) over cairn's settings,
//! against the real binary: the seed's curl forms and the key-in-path
//! spellings, the option objects, changes kept across a restart (and
//! applied there), a service's enabled flag that stops and starts it,
//! BitDust's errors for bad keys and values; and `cairn config`.

mod common;

use common::net::repair_config;
use common::{Endpoint, TestNode};
use serde_json::{Value, json};

async fn call(node: &TestNode, method: &str, path: &str, body: Option<Value>) -> Value {
    let mut req = node
        .http
        .request(method.parse().unwrap(), node.root_url(path))
        .header("api_secret", &node.secret);
    if let Some(body) = body {
        req = req.body(body.to_string());
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

fn error(v: &Value) -> &str {
    assert_eq!(v["status"], "ERROR", "{v}");
    v["errors"][0].as_str().unwrap()
}

#[tokio::test]
async fn options_are_read_and_set_as_bitdust_did_and_kept_across_a_restart() {
    let node = TestNode::start_with(&repair_config(None)).await;
    // The tests' config says log = "warn": debug level 2.
    let v = call(&node, "GET", "/config/get/v1?key=logs/debug-level", None).await;
    assert_eq!(
        v["result"],
        json!([{"key": "logs/debug-level", "value": 2, "type": "positive integer",
                "label": "debug-level", "readonly": false, "default": 4, "min": 0}]),
        "{v}"
    );
    for path in [
        "/config/get/logs/debug-level/v1",
        "/v1/config/get/logs/debug-level",
        "/c/g/logs/debug-level/",
    ] {
        let v = call(&node, "GET", path, None).await;
        assert_eq!(v["result"][0]["value"], 2, "{path}: {v}");
    }

    // The seed's config_set.
    let v = call(
        &node,
        "POST",
        "/config/set/v1",
        Some(json!({"key": "logs/debug-level", "value": 8})),
    )
    .await;
    assert_eq!(v["result"][0]["old_value"], 2, "{v}");
    assert_eq!(v["result"][0]["value"], 8, "{v}");
    let (_, log) = node.get_json("/settings/log").await;
    assert_eq!(
        (&log["value"], &log["running"], &log["restart_needed"]),
        (&json!("debug"), &json!("warn"), &json!(true)),
        "{log}"
    );

    // The REST port is the node's, read-only.
    let v = call(&node, "GET", "/config/list/v1?sort=1", None).await;
    let all = v["result"].as_array().unwrap();
    let port = all
        .iter()
        .find(|o| o["key"] == "interface/api/rest-http-port")
        .unwrap();
    let real: u64 = node.addr.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(
        port,
        &json!({"key": "interface/api/rest-http-port", "value": real, "type": "port number",
                "label": "rest-http-port", "readonly": true, "default": 8180, "min": 1, "max": 65535})
    );
    let keys: Vec<&str> = all.iter().map(|o| o["key"].as_str().unwrap()).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted);
    assert!(keys.contains(&"cairn/network/check_secs"), "{keys:?}");
    let v = call(
        &node,
        "POST",
        "/config/set/v1",
        Some(json!({"key": "interface/api/rest-http-port", "value": 9000})),
    )
    .await;
    assert!(error(&v).contains("read-only"), "{v}");

    // The tree.
    let v = call(&node, "GET", "/config/tree/v1", None).await;
    assert_eq!(v["result"][0]["logs"]["debug-level"]["value"], 8, "{v}");
    assert_eq!(
        v["result"][0]["services"]["supplier"]["enabled"]["value"],
        true
    );

    // A branch: its enabled flag first, then the rest by key.
    let v = call(&node, "GET", "/c/g/services/supplier/", None).await;
    assert_eq!(v["result"][0]["key"], "services/supplier/enabled", "{v}");
    assert_eq!(
        v["result"][1]["key"], "services/supplier/donated-space",
        "{v}"
    );
    let v = call(&node, "GET", "/config/get/services/v1", None).await;
    assert!(
        v["result"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["key"] == "services/customer" && o["childs"].is_u64()),
        "{v}"
    );

    // Suppliers, donated space: cairn's ecc and donated bytes.
    let v = call(
        &node,
        "POST",
        "/config/set/services/customer/suppliers-number/v1",
        Some(json!({"value": 4})),
    )
    .await;
    assert_eq!(v["result"][0]["value"], 4, "{v}");
    assert_eq!(
        v["result"][0]["possible_values"],
        json!([2, 4, 7, 13, 18, 26, 64])
    );
    let (_, ecc) = node.get_json("/settings/network.ecc").await;
    assert_eq!(ecc["value"], "2+2", "{ecc}");
    let v = call(
        &node,
        "POST",
        "/c/s",
        Some(json!({"key": "services/supplier/donated-space", "value": "8 GB"})),
    )
    .await;
    assert_eq!(v["result"][0]["value"], "8 GB", "{v}");
    assert_eq!(v["result"][0]["old_value"], "10 GB", "{v}");

    // A service's flag stops and starts it.
    let v = call(
        &node,
        "POST",
        "/config/set/v1",
        Some(json!({"key": "services/rebuilding/enabled", "value": false})),
    )
    .await;
    assert_eq!(v["result"][0]["value"], false, "{v}");
    let (_, repair) = node.get_json("/services/repair").await;
    assert_eq!(repair["state"], "OFF", "{repair}");

    // Bad keys and values: BitDust's envelope.
    let v = call(&node, "GET", "/config/get/v1", None).await;
    assert_eq!(error(&v), "mandatory url query argument missed: key");
    let v = call(&node, "GET", "/config/get/v1?key=/", None).await;
    assert_eq!(error(&v), "empty key");
    let v = call(&node, "GET", "/config/get/v1?key=nothing/here", None).await;
    assert_eq!(error(&v), "option nothing/here does not exist");
    let v = call(
        &node,
        "POST",
        "/config/set/v1",
        Some(json!({"key": "logs/debug-level", "value": "loud"})),
    )
    .await;
    assert!(error(&v).contains("wrong value"), "{v}");
    let v = call(
        &node,
        "POST",
        "/config/set/v1",
        Some(json!({"key": "cairn/network/mdns", "value": "no"})),
    )
    .await;
    assert!(error(&v).contains("network.mdns"), "{v}");
    let v = call(
        &node,
        "POST",
        "/config/set/v1",
        Some(json!({"key": "services/my-data/enabled", "value": false})),
    )
    .await;
    assert!(error(&v).contains("required"), "{v}");
    let v = call(
        &node,
        "POST",
        "/config/set/v1",
        Some(json!({"key": "logs/debug-level"})),
    )
    .await;
    assert_eq!(v["status"], "ERROR", "{v}");

    // The CLI.
    let out = node.cli(&["config", "set", "network.check_secs", "2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "network.check_secs = 2 (applies at the next start)"
    );
    let out = node.cli(&["config", "set", "network.check_secs", "often"]);
    assert!(!out.status.success());
    let (status, _) = node
        .send_json(
            reqwest::Method::PUT,
            "/settings/network.nothing",
            json!({"value": 1}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = node
        .send_json(
            reqwest::Method::PUT,
            "/settings/listen",
            json!({"value": "0.0.0.0:1"}),
        )
        .await;
    assert_eq!(status, 400);

    // Kept across a restart, and applied there.
    let node = node.restart().await;
    let v = call(&node, "GET", "/config/get/v1?key=logs/debug-level", None).await;
    assert_eq!(v["result"][0]["value"], 8, "{v}");
    let (_, log) = node.get_json("/settings/log").await;
    assert_eq!(
        (&log["running"], &log["restart_needed"]),
        (&json!("debug"), &json!(false)),
        "{log}"
    );
    let (_, donated) = node.get_json("/settings/network.donated").await;
    assert_eq!(donated["running"], 8u64 << 30, "{donated}");
    let out = node.cli(&["config", "get", "network.check_secs"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "network.check_secs = 2"
    );
    let (_, repair) = node.get_json("/services/repair").await;
    assert_eq!(repair["state"], "OFF", "{repair}");
}
