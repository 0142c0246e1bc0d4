//! Several nodes on one network, on loopback: their configs, waiting until
//! they have met, and what a test asks of them afterwards (placements,
//! links, repairs, the shard files a supplier keeps). The waits and
//! questions go over HTTP and the data dir, so they work on either kind
//! of node; `network` starts real binaries, `net_settings` configures an
//! in-process node.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::TestNode;
use super::endpoint::{Dirs, Endpoint};

/// A node's `[network]` section: loopback only, no mDNS, 5 s requests,
/// bootstrapping from `bootstrap` when given.
pub fn net_config(bootstrap: Option<&str>) -> String {
    format!(
        "[network]\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\nmdns = false\nrequest_timeout_secs = 5\nbootstrap = [{}]\n",
        bootstrap.map(|b| format!("\"{b}\"")).unwrap_or_default()
    )
}

/// [`net_config`], for an in-process node (whose network the harness
/// leaves off).
pub fn net_settings(config: &mut cairn_node::Config, bootstrap: Option<&str>) {
    let net = &mut config.network;
    net.enabled = true;
    net.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    net.mdns = false;
    net.request_timeout_secs = 5;
    net.bootstrap = bootstrap.map(str::to_owned).into_iter().collect();
}

/// [`net_config`] with audits every second, 2 s requests, and suppliers
/// replaced after 2 s away.
pub fn repair_config(bootstrap: Option<&str>) -> String {
    format!(
        "{}check_secs = 1\noffline_grace_secs = 2\n",
        net_config(bootstrap).replace("request_timeout_secs = 5", "request_timeout_secs = 2")
    )
}

/// The node's libp2p address, with its peer id.
pub async fn p2p_addr(node: &impl Endpoint) -> String {
    let (status, v) = node.get_json("/network").await;
    assert_eq!(status, 200, "{v}");
    format!(
        "{}/p2p/{}",
        v["listen"][0].as_str().unwrap(),
        v["peer_id"].as_str().unwrap()
    )
}

/// Waits (bounded) until `node` is connected to `want` peers.
pub async fn wait_peers(node: &impl Endpoint, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = node.get_json("/network").await;
        if v["peers"].as_u64().unwrap_or(0) >= want {
            return;
        }
        assert!(Instant::now() < deadline, "only {} peers: {v}", v["peers"]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (bounded) for the place job of `blob` to end; returns it.
pub async fn placed(node: &impl Endpoint, blob: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, jobs) = node.get_json("/jobs?limit=50").await;
        if let Some(job) = jobs
            .as_array()
            .into_iter()
            .flatten()
            .find(|j| j["kind"] == "place" && j["label"] == blob && j["state"] != "running")
        {
            return job.clone();
        }
        assert!(Instant::now() < deadline, "no placement of {blob}: {jobs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `count` nodes on one network, each started with `config(bootstrap)`
/// (the first with none, the others bootstrapping from it), once every
/// one is connected to all the others.
pub async fn network(count: usize, config: impl Fn(Option<&str>) -> String) -> Vec<TestNode> {
    let first = TestNode::start_with(&config(None)).await;
    let boot = p2p_addr(&first).await;
    let mut nodes = vec![first];
    for _ in 1..count {
        nodes.push(TestNode::start_with(&config(Some(&boot))).await);
    }
    for n in &nodes {
        wait_peers(n, count as u64 - 1).await;
    }
    nodes
}

/// The link (id and read key) of `owner`'s blob `blob`.
pub async fn link_of(owner: &impl Endpoint, blob: &str) -> String {
    let (_, v) = owner.get_json(&format!("/blobs/{blob}/link")).await;
    v["link"].as_str().unwrap().to_owned()
}

/// Reads `owner`'s blob `blob` on `reader` by its link (200 or fail).
pub async fn read_by_link(owner: &impl Endpoint, blob: &str, reader: &impl Endpoint) -> Vec<u8> {
    let link = link_of(owner, blob).await;
    let (status, _, got) = reader
        .content(&format!("/blobs/{link}/content"), None)
        .await;
    assert_eq!(status, 200);
    got
}

/// Waits (bounded) for a finished repair job of `blob` at `position` on
/// `node` (one that was not in `seen`); returns it.
pub async fn repaired(node: &impl Endpoint, blob: &str, position: usize, seen: &[String]) -> Value {
    let label = format!("{blob}:{position}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, jobs) = node.get_json("/jobs?limit=100").await;
        if let Some(job) = jobs.as_array().into_iter().flatten().find(|j| {
            j["kind"] == "repair"
                && j["label"] == label.as_str()
                && j["state"] == "done"
                && !seen.contains(&j["id"].as_str().unwrap_or("").to_owned())
        }) {
            return job.clone();
        }
        assert!(Instant::now() < deadline, "no repair of {label}: {jobs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The shard file of `blob` a node keeps, if any: (path, position).
pub fn shard_file(node: &impl Dirs, blob: &str) -> Option<(PathBuf, usize)> {
    for owner in std::fs::read_dir(node.dir().join("shards")).ok()? {
        for f in std::fs::read_dir(owner.ok()?.path()).ok()? {
            let path = f.ok()?.path();
            let name = path.file_name()?.to_string_lossy().into_owned();
            if let Some(pos) = name.strip_prefix(&format!("{blob}."))
                && let Ok(pos) = pos.parse()
            {
                return Some((path, pos));
            }
        }
    }
    None
}

/// How many partial (unsealed) shard files a node keeps.
pub fn part_files(node: &impl Dirs) -> usize {
    let Ok(owners) = std::fs::read_dir(node.dir().join("shards")) else {
        return 0;
    };
    owners
        .flatten()
        .filter_map(|o| std::fs::read_dir(o.path()).ok())
        .flatten()
        .flatten()
        .filter(|f| f.path().extension().is_some_and(|e| e == "part"))
        .count()
}

/// Waits (bounded) until none of `nodes` keeps a partial shard file.
pub async fn no_part_files_left<N: Dirs>(nodes: &[&N]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left: Vec<usize> = nodes.iter().map(|n| part_files(*n)).collect();
        if left.iter().all(|&n| n == 0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "partial shards left on the suppliers: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The peer id a node reports.
pub async fn peer_id(node: &impl Endpoint) -> String {
    let (_, v) = node.get_json("/network").await;
    v["peer_id"].as_str().unwrap().to_owned()
}

/// The index in `nodes` of the node whose peer id is `peer`.
pub async fn node_of<N: Endpoint>(nodes: &[N], peer: &Value) -> usize {
    for (i, n) in nodes.iter().enumerate() {
        if peer_id(n).await == peer.as_str().unwrap() {
            return i;
        }
    }
    panic!("{peer} is none of the nodes")
}
