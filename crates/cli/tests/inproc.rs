//! The in-process harness itself (`common::inproc`): a node in the test's
//! own process serves the native API and every seed's layer as the binary
//! does, its own listener's callers are found as local users like the
//! binary's, the seed clients work on it, several of them form a network
//! in one process, and none leaves a task behind once stopped.

mod common;

use common::net::{link_of, net_settings, p2p_addr, placed, read_by_link, wait_peers};
use common::seeds::cacaoweb::fields;
use common::seeds::{Cacaoweb, MetaDisk, Openload};
use common::{Dirs, Endpoint, InProcNode, b3, data};
use md5::{Digest, Md5};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_process_node_serves_every_layer_and_stops_with_no_task_left() {
    let node = InProcNode::start_with(|c| {
        c.gateway.cacaoweb_metadata_wait_ms = 100;
        c.layers.cacaoweb = vec!["127.0.0.1:0".parse().unwrap()];
        c.layers.metadisk = vec!["127.0.0.1:0".parse().unwrap()];
    })
    .await;
    // The native API, behind the secret.
    let (s, status) = node.get_json("/status").await;
    assert_eq!(s, 200, "{status}");
    let r = node.http.get(node.url("/status")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // cacaoweb on its own listener: this process is a local caller running
    // as the node's user, so it may import without the secret.
    let cacaoweb = Cacaoweb::on(&node.own_listener("cacaoweb"));
    let body = data(10_000, 1);
    let md5 = cacaoweb.upload(&node.file("a.bin", &body), "").await;
    assert_eq!(md5, hex::encode(Md5::digest(&body)));
    let (s, meta) = cacaoweb.xml(&format!("/filemetadata?f={md5}")).await;
    assert_eq!(s, 200);
    assert_eq!(
        fields(&meta)[..3],
        [
            ("fileid".to_owned(), md5.clone()),
            ("title".to_owned(), "a.bin".to_owned()),
            ("length".to_owned(), "10000".to_owned()),
        ]
    );
    let (s, token) = cacaoweb.by_md5("getfiletoken", &md5, None).await;
    assert_eq!((s, token.as_str()), (200, "NOS"));
    // On the main listener, an import needs the secret.
    let (s, _, _) = Cacaoweb::on(&node)
        .get(&format!(
            "/upload?filepath={}",
            node.files.join("a.bin").display()
        ))
        .await;
    assert_eq!(s, 403);

    // MetaDisk on its own listener and on the main one.
    let own = MetaDisk::on(&node.own_listener("metadisk"));
    let token = own.funded_token(1000).await;
    assert_eq!(MetaDisk::on(&node).token_balance(&token).await, 1000);
    let (s, v) = own.get("/api/status").await;
    assert_eq!(s, 200, "{v}");

    // Openload on the main listener only.
    let openload = Openload::on(&node);
    let refused = openload.call("account/info", &[]).await;
    assert!(matches!(refused, Err((403, _))), "{refused:?}");
    let (s, account) = node
        .send_json(reqwest::Method::POST, "/accounts", json!({}))
        .await;
    assert_eq!(s, 201, "{account}");
    let auth = [
        ("login", account["login"].as_str().unwrap()),
        ("key", account["key"].as_str().unwrap()),
    ];
    let info = openload.call("account/info", &auth).await.unwrap();
    assert_eq!(info["storage_used"], "0");
    assert!(node.own_addr("openload").is_none());

    node.stop().await;
}

/// rqbit's end-to-end shape: several nodes in one process on loopback, a
/// file placed from one and read by its link on another, then every node
/// stopped with none of its tasks (the network's included) left running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_in_one_process_place_and_read_a_file_and_leave_no_task() {
    let networked = |boot: Option<String>| {
        move |c: &mut cairn_node::Config| {
            net_settings(c, boot.as_deref());
            c.network.ecc = "1+1".into();
        }
    };
    let owner = InProcNode::start_with(networked(None)).await;
    let boot = p2p_addr(&owner).await;
    let peers = [
        InProcNode::start_with(networked(Some(boot.clone()))).await,
        InProcNode::start_with(networked(Some(boot))).await,
    ];
    wait_peers(&owner, 2).await;
    for peer in &peers {
        wait_peers(peer, 2).await;
    }

    let body = data(1_500_000, 2);
    let (s, entry) = owner.upload("placed.bin", body.clone(), "").await;
    assert_eq!(s, 201, "{entry}");
    let blob = entry["blob"].as_str().unwrap().to_owned();
    assert_eq!(blob, b3(&body));
    let job = placed(&owner, &blob).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["result"]["coding"], "1+1", "{job}");
    assert!(read_by_link(&owner, &blob, &peers[1]).await == body);
    let link = link_of(&owner, &blob).await;
    let (s, _, got) = peers[0]
        .content(&format!("/blobs/{link}/content"), Some("bytes=1000-1999"))
        .await;
    assert_eq!(s, 206);
    assert!(got == body[1000..2000]);

    let [a, b] = peers;
    for node in [owner, a, b] {
        node.stop().await;
    }
}
