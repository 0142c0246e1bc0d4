//! Prometheus metrics of a real node: `/metrics` parsed by the Python
//! client of Prometheus (`prometheus_client`, PyPI, its strict OpenMetrics
//! parser) before and after real work, whose counters must have moved by
//! exactly that work; the admin secret on the main listener, none on
//! `[metrics] listen`; the network's counters on two nodes.
//!
//! Runs under `bash scripts/test.sh`, which builds a venv with
//! prometheus_client (`target/prometheus-venv`) and points
//! `CAIRN_PROM_PYTHON` at it.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::net::{net_config, network, peer_id};
use common::{Endpoint, TestNode, data};
use reqwest::Method;
use serde_json::Value;

/// Parses an OpenMetrics scrape with prometheus_client and prints every
/// sample as JSON.
const PARSE: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        samples.append({"type": family.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(samples))
"#;

fn python() -> String {
    std::env::var("CAIRN_PROM_PYTHON").unwrap_or_else(|_| {
        let venv = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/prometheus-venv/bin/python"
        );
        assert!(
            std::path::Path::new(venv).exists(),
            "prometheus_client is missing: run `bash scripts/test.sh` once (it makes {venv}), \
             or set CAIRN_PROM_PYTHON to a python that can import prometheus_client"
        );
        venv.to_owned()
    })
}

/// A scrape's samples, as prometheus_client read them.
struct Scrape(Vec<Value>);

impl Scrape {
    /// Parses `text`; panics with the parser's error when it refuses it.
    fn parse(text: &str) -> Self {
        let mut child = Command::new(python())
            .args(["-c", PARSE])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run python");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "prometheus_client refused the scrape: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        let samples: Value = serde_json::from_slice(&out.stdout).unwrap();
        Self(samples.as_array().unwrap().clone())
    }

    /// The sample `name` whose labels are exactly `labels`, if any.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0
            .iter()
            .find(|s| {
                let have = s["labels"].as_object().unwrap();
                s["name"] == name
                    && have.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| have.get(*k) == Some(&(*v).into()))
            })
            .map(|s| s["value"].as_f64().unwrap())
    }

    /// [`Scrape::get`], a sample that must be there.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no {name}{labels:?} in the scrape"))
    }

    /// How much sample `name{labels}` grew from `before` (absent before:
    /// from zero, as a counter not yet touched).
    fn grew(&self, before: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels) - before.get(name, labels).unwrap_or(0.0)
    }

    /// Every label value of every sample.
    fn label_values(&self) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|s| {
                s["labels"]
                    .as_object()
                    .unwrap()
                    .values()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// `/metrics` of `node`'s main listener, with the secret.
async fn scrape(node: &impl Endpoint) -> Scrape {
    let r = node
        .http()
        .get(node.root_url("/metrics"))
        .bearer_auth(node.secret())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    Scrape::parse(&r.text().await.unwrap())
}

#[tokio::test]
async fn counters_move_by_the_work_done_and_the_scrape_parses() {
    let node = TestNode::start_with("[metrics]\nlisten = \"127.0.0.1:0\"\n").await;
    let before = scrape(&node).await;
    let sizes = [1000usize, 5000, 70_000];
    let mut ids = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let (status, entry) = node
            .upload(&format!("f{i}"), data(*size, 40 + i as u64), "")
            .await;
        assert_eq!(status, 201, "{entry}");
        ids.push(entry["id"].as_str().unwrap().to_owned());
    }
    let total: usize = sizes.iter().sum();
    let (status, _, body) = node
        .content(&format!("/entries/{}/content", ids[2]), None)
        .await;
    assert_eq!((status, body.len()), (200, 70_000));
    assert_eq!(node.get_json(&format!("/entries/{}", ids[0])).await.0, 200);
    assert_eq!(node.get_json("/no/such/call").await.0, 404);
    let openload = node
        .http()
        .get(node.root_url("/1/account/info?login=nobody&key=wrong"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
        .to_string();
    let after = scrape(&node).await;

    // Jobs, counted by the job registry.
    let upload = [("kind", "upload")];
    assert_eq!(
        after.grew(&before, "cairn_jobs_started_total", &upload),
        3.0
    );
    let done = [("kind", "upload"), ("state", "done")];
    assert_eq!(after.grew(&before, "cairn_jobs_ended_total", &done), 3.0);
    let count = "cairn_job_duration_seconds_count";
    assert_eq!(after.grew(&before, count, &upload), 3.0);
    let bytes = after.grew(&before, "cairn_job_bytes_total", &upload);
    assert_eq!(bytes, total as f64);

    // Requests by layer, route template, method and status.
    let requests = |route: &'static str, method: &'static str, status: &'static str| {
        [
            ("layer", "native"),
            ("route", route),
            ("method", method),
            ("status", status),
        ]
    };
    let http = "cairn_http_requests_total";
    let uploads = requests("/api/v1/upload", "POST", "201");
    assert_eq!(after.grew(&before, http, &uploads), 3.0);
    let content = requests("/api/v1/entries/{id}/content", "GET", "200");
    assert_eq!(after.grew(&before, http, &content), 1.0);
    let entry = requests("/api/v1/entries/{id}", "GET", "200");
    assert_eq!(after.grew(&before, http, &entry), 1.0);
    let unmatched = requests("unmatched", "GET", "404");
    assert_eq!(after.grew(&before, http, &unmatched), 1.0);
    // The first scrape was counted once its answer was made.
    let scrapes = requests("/metrics", "GET", "200");
    assert_eq!(after.grew(&before, http, &scrapes), 1.0);
    let openload = [
        ("layer", "openload"),
        ("route", "/1/account/info"),
        ("method", "GET"),
        ("status", openload.as_str()),
    ];
    assert_eq!(after.grew(&before, http, &openload), 1.0);
    // Routes are templates: no label names an entry.
    let labels = after.label_values();
    for id in &ids {
        assert!(
            !labels.iter().any(|l| l.contains(id.as_str())),
            "{id} in a label"
        );
    }

    // Body bytes by layer.
    let body = "cairn_http_body_bytes_total";
    let bytes_in = after.grew(&before, body, &[("layer", "native"), ("direction", "in")]);
    assert!(bytes_in >= total as f64, "{bytes_in}");
    let out = after.grew(&before, body, &[("layer", "native"), ("direction", "out")]);
    assert!(out >= 70_000.0, "{out}");

    // State, from the catalog's counters.
    let files = [("type", "file")];
    assert_eq!(after.grew(&before, "cairn_entries", &files), 3.0);
    assert_eq!(after.grew(&before, "cairn_blobs", &[]), 3.0);
    assert_eq!(after.grew(&before, "cairn_blob_bytes", &[]), total as f64);
    assert_eq!(
        after.grew(&before, "cairn_storage_used_bytes", &[]),
        total as f64
    );
    for process in [
        "cairn_process_resident_memory_bytes",
        "cairn_process_open_fds",
        "cairn_tokio_tasks",
    ] {
        assert!(after.value(process, &[]) > 0.0, "{process}");
    }
    assert_eq!(after.value("cairn_network_peers", &[]), 0.0);
}

#[tokio::test]
async fn the_main_listener_asks_the_secret_and_the_metrics_listener_does_not() {
    let node = TestNode::start_with("[metrics]\nlisten = \"127.0.0.1:0\"\n").await;
    let url = node.root_url("/metrics");
    let anonymous = node.http().get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = node.http().get(&url).bearer_auth("wrong").send().await;
    assert_eq!(wrong.unwrap().status(), 401);

    let addr = std::fs::read_to_string(node.dir.join("metrics.addr")).unwrap();
    let addr = addr.trim();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let open = node
        .http()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
    let text = open.text().await.unwrap();
    let samples = Scrape::parse(&text);
    assert!(samples.get("cairn_entries", &[("type", "file")]).is_some());
    // It serves the metrics and nothing else.
    let other = node
        .http()
        .get(format!("http://{addr}/api/v1/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);

    // `cairn metrics` prints the scrape, through the secret.
    let out = node.cli(&["metrics"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = Scrape::parse(&String::from_utf8(out.stdout).unwrap());
    let scrapes = [
        ("layer", "native"),
        ("route", "/metrics"),
        ("method", "GET"),
        ("status", "401"),
    ];
    assert_eq!(printed.value("cairn_http_requests_total", &scrapes), 2.0);
}

#[tokio::test]
async fn a_metrics_listener_off_loopback_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        "listen = \"127.0.0.1:0\"\n[metrics]\nlisten = \"0.0.0.0:0\"\n",
    )
    .unwrap();
    let out = Command::new(common::BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("node")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("allow_remote"), "{stderr}");
    assert!(!dir.path().join("api.addr").exists());
}

#[tokio::test]
async fn network_counters_move_with_a_request_between_two_nodes() {
    let nodes = network(2, net_config).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let (before_a, before_b) = (scrape(a).await, scrape(b).await);
    let peer = peer_id(b).await;
    let (status, pong) = a
        .send_json(Method::POST, &format!("/network/ping/{peer}"), Value::Null)
        .await;
    assert_eq!(status, 200, "{pong}");
    let (after_a, after_b) = (scrape(a).await, scrape(b).await);

    for after in [&after_a, &after_b] {
        assert_eq!(after.value("cairn_network_peers", &[]), 1.0);
    }
    let shards = "/cairn/shards/4";
    let sent = [("protocol", shards), ("direction", "sent")];
    let requests = "cairn_network_requests_total";
    assert_eq!(after_a.grew(&before_a, requests, &sent), 1.0);
    let received = [("protocol", shards), ("direction", "received")];
    assert_eq!(after_b.grew(&before_b, requests, &received), 1.0);
    let bytes = "cairn_network_bytes_total";
    let libp2p_sent = [("path", "libp2p"), ("direction", "sent")];
    assert!(after_a.grew(&before_a, bytes, &libp2p_sent) > 0.0);
    let lane_sent = [("path", "lane"), ("direction", "sent")];
    assert_eq!(after_a.grew(&before_a, bytes, &lane_sent), 0.0);
    let connected = [("state", "connected")];
    assert_eq!(after_a.value("cairn_suppliers", &connected), 0.0);
}
