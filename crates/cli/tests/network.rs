//! Seven real nodes (the real binary) on 127.0.0.1 forming a network: a
//! file uploaded on one is placed 4+2 on the others and read byte-exact on
//! another node by its link, also with two suppliers stopped.

mod common;

use std::time::{Duration, Instant};

use common::{TestNode, b3, data};
use serde_json::Value;

fn net_config(bootstrap: Option<&str>) -> String {
    format!(
        "[network]\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\nmdns = false\nrequest_timeout_secs = 5\nbootstrap = [{}]\n",
        bootstrap.map(|b| format!("\"{b}\"")).unwrap_or_default()
    )
}

async fn p2p_addr(node: &TestNode) -> String {
    let (status, v) = node.get_json("/network").await;
    assert_eq!(status, 200, "{v}");
    format!(
        "{}/p2p/{}",
        v["listen"][0].as_str().unwrap(),
        v["peer_id"].as_str().unwrap()
    )
}

/// Waits (bounded) until `node` is connected to `want` peers.
async fn wait_peers(node: &TestNode, want: u64) {
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
async fn placed(node: &TestNode, blob: &str) -> Value {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_placed_on_six_suppliers_reads_exactly_from_another_node_even_with_two_gone() {
    let first = TestNode::start_with(&net_config(None)).await;
    let boot = p2p_addr(&first).await;
    let mut nodes = vec![first];
    for _ in 0..6 {
        nodes.push(TestNode::start_with(&net_config(Some(&boot))).await);
    }
    for n in &nodes {
        wait_peers(n, 6).await;
    }

    let owner = &nodes[1];
    let body = data(5 * 1024 * 1024 + 12345, 42);
    let (status, entry) = owner.upload("film.bin", body.clone(), "").await;
    assert_eq!(status, 201, "{entry}");
    let blob = entry["blob"].as_str().unwrap().to_owned();
    assert_eq!(blob, b3(&body));
    let job = placed(owner, &blob).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["result"]["coding"], "4+2", "{job}");
    let suppliers: Vec<String> = job["result"]["suppliers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(suppliers.len(), 6);
    let (_, status_v) = owner.get_json("/network").await;
    assert_eq!(status_v["suppliers"].as_array().unwrap().len(), 6);

    // Every supplier now keeps a shard file for the owner.
    let mut customers = 0;
    for n in nodes.iter().filter(|n| n.dir != owner.dir) {
        let (_, c) = n.get_json("/network/customers").await;
        customers += c["customers"].as_array().unwrap().len();
    }
    assert_eq!(customers, 6);

    let (_, link) = owner.get_json(&format!("/blobs/{blob}/link")).await;
    let link = link["link"].as_str().unwrap().to_owned();
    let reader = &nodes[6];
    let (status, _, got) = reader
        .content(&format!("/blobs/{link}/content"), None)
        .await;
    assert_eq!(status, 200);
    assert!(got == body, "bytes differ");
    let (status, _, got) = reader
        .content(
            &format!("/blobs/{link}/content"),
            Some("bytes=3000000-3100000"),
        )
        .await;
    assert_eq!(status, 206);
    assert!(got == body[3_000_000..=3_100_000]);
    // The CLI downloads by link too, and shows the network.
    let dest = reader.files.join("film.back");
    let out = tokio::task::block_in_place(|| {
        reader.cli(&["download", &link, "-o", dest.to_str().unwrap(), "-q"])
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(&dest).unwrap() == body);
    let out = tokio::task::block_in_place(|| owner.cli(&["net", "status"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("supplier ")).count(),
        6,
        "{text}"
    );
    // Without the key, a private file is not readable elsewhere.
    let (status, _, _) = reader
        .content(&format!("/blobs/{blob}/content"), None)
        .await;
    assert_eq!(status, 403);

    // Stop two suppliers other than the reader: any four shards still do.
    let reader_id = {
        let (_, v) = reader.get_json("/network").await;
        v["peer_id"].as_str().unwrap().to_owned()
    };
    let owner_dir = owner.dir.clone();
    let mut stopped = 0;
    for n in nodes.iter_mut() {
        if stopped == 2 {
            break;
        }
        let (_, v) = n.get_json("/network").await;
        let id = v["peer_id"].as_str().unwrap().to_owned();
        if id != reader_id && suppliers.contains(&id) && n.dir != owner_dir {
            n.kill9();
            stopped += 1;
        }
    }
    assert_eq!(stopped, 2);
    let reader = &nodes[6];
    let (status, _, got) = reader
        .content(&format!("/blobs/{link}/content"), None)
        .await;
    assert_eq!(status, 200);
    assert!(got == body, "bytes differ with two suppliers gone");
}
