//! Seven real nodes (the real binary) on 127.0.0.1 forming a network: a
//! file uploaded on one is placed 4+2 on the others and read byte-exact on
//! another node by its link, also with two suppliers stopped. Smaller
//! networks pin repairs, suppliers passed over, and what a stranger may
//! keep on a supplier for the shards it holds for it.

mod common;

use std::time::{Duration, Instant};

use common::net::{
    link_of, net_config, network, no_part_files_left, node_of, p2p_addr, part_files, peer_id,
    placed, read_by_link, repair_config, repaired, shard_file, wait_peers,
};
use common::seeds::MetaDisk;
use common::{Endpoint, TestNode, b3, data};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_placed_on_six_suppliers_reads_exactly_from_another_node_even_with_two_gone() {
    let mut nodes = network(7, net_config).await;

    let owner = &nodes[1];
    let body = data(5 * 1024 * 1024 + 12345, 42);
    let (status, entry) = owner.upload("film.bin", body.clone(), "").await;
    assert_eq!(status, 201, "{entry}");
    let blob = entry["blob"].as_str().unwrap().to_owned();
    assert_eq!(blob, b3(&body));
    let job = placed(owner, &blob).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["result"]["coding"], "4+2", "{job}");
    // Placed while it was stored: written under a provisional id, then
    // sealed as the blob's.
    assert_eq!(job["result"]["while_storing"], true, "{job}");
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
    for n in nodes.iter().filter(|n| n.dir != owner.dir) {
        assert!(shard_file(n, &blob).is_some());
        assert_eq!(part_files(n), 0, "a provisional shard stayed");
    }
    // The same bytes again: the blob is stored already, so what the new
    // upload wrote to the suppliers as it went is deleted. (Big enough that
    // its upload cannot end before some of it is written: the placement
    // takes at most a few batches ahead of the suppliers.)
    let big = data(40 << 20, 43);
    let (_, first) = owner.upload("big.bin", big.clone(), "").await;
    let big_blob = first["blob"].as_str().unwrap().to_owned();
    assert_eq!(
        placed(owner, &big_blob).await["result"]["while_storing"],
        true
    );
    let (status, again) = owner.upload("big-again.bin", big, "").await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["blob"], big_blob.as_str());
    let others: Vec<&TestNode> = nodes.iter().filter(|n| n.dir != owner.dir).collect();
    no_part_files_left(&others).await;
    for n in &others {
        assert!(shard_file(n, &big_blob).is_some());
    }

    let link = link_of(owner, &blob).await;
    let reader = &nodes[6];
    let sent = || async {
        let (_, v) = reader.get_json("/network").await;
        v["lanes"]["requests"].as_u64().unwrap() + v["lanes"]["fallbacks"].as_u64().unwrap()
    };
    let before = sent().await;
    let (status, _, got) = reader
        .content(&format!("/blobs/{link}/content"), None)
        .await;
    assert_eq!(status, 200);
    assert!(got == body, "bytes differ");
    // Six segments, read in runs of four: two runs, each asking at most
    // all six positions (four, and a spare per supplier late on a loaded
    // machine), where reads of single segments ask at least three remote
    // suppliers six times.
    let asked = sent().await - before;
    assert!((1..=12).contains(&asked), "{asked} shard requests");
    // Ranges within a segment, across runs from the middle of one, and to
    // the short last segment.
    for (from, to) in [
        (3_000_000, 3_100_000),
        (1_500_000, 4_800_000),
        (2_000_000, body.len() - 1),
    ] {
        let (status, _, got) = reader
            .content(
                &format!("/blobs/{link}/content"),
                Some(&format!("bytes={from}-{to}")),
            )
            .await;
        assert_eq!(status, 206);
        assert!(got == body[from..=to], "bytes {from}-{to} differ");
    }
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
    // Shard bytes go by lane once one is open: the owner opened one to
    // each supplier as it placed, and the reader's later reads went by
    // lane.
    assert!(
        text.lines().any(|l| l.starts_with("lanes      port ")),
        "{text}"
    );
    let (_, v) = owner.get_json("/network").await;
    assert!(v["lanes"]["opened"].as_u64().unwrap() >= 6, "{v}");
    let (_, v) = reader.get_json("/network").await;
    assert!(v["lanes"]["requests"].as_u64().unwrap() > 0, "{v}");
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

/// MetaDisk's cost model across the network: a download is 1 × its size
/// while the node holds the file, 2 × once it must come from suppliers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadisk_downloads_cost_double_once_the_file_lives_on_suppliers_only() {
    let first = TestNode::start_with(&net_config(None)).await;
    let boot = p2p_addr(&first).await;
    let owner = TestNode::start_with(&format!(
        "{}ecc = \"1+1\"\n[gateway]\nmetadisk_anonymous = false\n",
        net_config(Some(&boot))
    ))
    .await;
    let _third = TestNode::start_with(&net_config(Some(&boot))).await;
    wait_peers(&owner, 2).await;

    let metadisk = MetaDisk::on(&owner);
    let token = metadisk.funded_token(20_000_000).await;
    let token = token.as_str();
    let body = data(1_500_000, 9);
    let form = reqwest::multipart::Form::new()
        .text("token", token.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(body.clone()).file_name("m.bin"),
        );
    let r = owner
        .http
        .post(owner.root_url("/api/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let up: Value = r.json().await.unwrap();
    let after_upload = metadisk.token_balance(token).await;
    assert_eq!(after_upload, 20_000_000 - 4 * 1_500_000);
    let blob = b3(&body);
    let job = placed(&owner, &blob).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["result"]["coding"], "1+1");

    let download = |node: &TestNode| {
        let url = node.root_url(&format!(
            "/api/download/{}?key={}&token={token}",
            up["filehash"].as_str().unwrap(),
            up["key"].as_str().unwrap()
        ));
        let http = node.http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            let status = r.status();
            let bytes = r.bytes().await.unwrap().to_vec();
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
            bytes
        }
    };
    assert!(download(&owner).await == body);
    assert_eq!(
        metadisk.token_balance(token).await,
        after_upload - 1_500_000,
        "local: 1 x"
    );

    let (_, before) = owner.get_json("/status").await;
    let (status, v) = owner
        .send_json(
            reqwest::Method::POST,
            &format!("/blobs/{blob}/drop-local"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["freed"], 1_500_000);
    // The status counts what the node's disk holds: the copy is gone.
    let (_, after) = owner.get_json("/status").await;
    assert_eq!(
        before["storage_used"].as_u64().unwrap() - after["storage_used"].as_u64().unwrap(),
        1_500_000,
        "{before} {after}"
    );
    assert_eq!(after["counts"], before["counts"], "the file is still there");
    assert!(
        download(&owner).await == body,
        "read back from the suppliers"
    );
    assert_eq!(
        metadisk.token_balance(token).await,
        after_upload - 3 * 1_500_000,
        "from the network: 2 x"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_shards_are_never_served_and_lost_suppliers_are_replaced() {
    let mut nodes = network(8, repair_config).await;
    let owner_dir = nodes[1].dir.clone();
    let body = data(3 * 1024 * 1024 + 777, 5);
    let (status, entry) = nodes[1].upload("a.bin", body.clone(), "").await;
    assert_eq!(status, 201, "{entry}");
    let blob = entry["blob"].as_str().unwrap().to_owned();
    let job = placed(&nodes[1], &blob).await;
    assert_eq!(job["state"], "done", "{job}");
    let link = link_of(&nodes[1], &blob).await;

    // Flip a byte in every segment's piece of one supplier's shard file.
    let mut holders: Vec<usize> = (0..nodes.len())
        .filter(|&i| shard_file(&nodes[i], &blob).is_some())
        .collect();
    assert_eq!(holders.len(), 6);
    // The victim holds position 0, a data shard: a read takes the data
    // shards first, so the wrong bytes do go into a segment, which fails
    // its check and is fetched again shard by shard.
    holders.sort_by_key(|&i| shard_file(&nodes[i], &blob).unwrap().1 != 0);
    let victim = holders[0];
    let (path, position) = shard_file(&nodes[victim], &blob).unwrap();
    let original = std::fs::read(&path).unwrap();
    let mut bad = original.clone();
    for s in 0..4 {
        let at = (s * (bad.len() / 4) + 5).min(bad.len() - 1);
        bad[at] ^= 0x5a;
    }
    std::fs::write(&path, &bad).unwrap();
    // Never served: a reader elsewhere still gets the exact bytes.
    let reader = holders[1];
    let (status, _, got) = nodes[reader]
        .content(&format!("/blobs/{link}/content"), None)
        .await;
    assert_eq!(status, 200);
    assert!(got == body, "corrupt shard bytes were served");
    // Detected by the audit (a challenge: the owner keeps its copy) and
    // rebuilt in place.
    let job = repaired(&nodes[1], &blob, position, &[]).await;
    assert_eq!(job["result"]["to"], job["result"]["from"], "{job}");
    let (_, audit) = nodes[1].get_json("/network/repair").await;
    assert!(audit["challenged"].as_u64().unwrap() > 0, "{audit}");
    assert_eq!(audit["challenged"], audit["positions"], "{audit}");
    assert!(
        std::fs::read(&path).unwrap() == original,
        "shard file rebuilt"
    );

    // A supplier that stays away is replaced by the spare node.
    let gone = holders[2];
    let (_, gone_pos) = shard_file(&nodes[gone], &blob).unwrap();
    let gone_id = {
        let (_, v) = nodes[gone].get_json("/network").await;
        v["peer_id"].as_str().unwrap().to_owned()
    };
    nodes[gone].kill9();
    let job = repaired(&nodes[1], &blob, gone_pos, &[]).await;
    assert_eq!(job["result"]["from"], gone_id.as_str(), "{job}");
    assert_ne!(job["result"]["to"], gone_id.as_str());
    let spare = (0..nodes.len())
        .find(|&i| i != 1 && !holders.contains(&i))
        .unwrap();
    assert_eq!(
        shard_file(&nodes[spare], &blob).map(|(_, p)| p),
        Some(gone_pos)
    );
    let (_, status_v) = nodes[1].get_json("/network/repair").await;
    assert!(status_v["blobs"].as_u64() >= Some(1), "{status_v}");

    // Back to six live shards: two more may go and reads stay exact.
    let mut killed = 0;
    for &i in &holders[3..] {
        if killed < 2 && i != reader {
            nodes[i].kill9();
            killed += 1;
        }
    }
    assert_eq!(killed, 2);
    assert!(nodes[reader].dir != owner_dir);
    let (status, _, got) = nodes[reader]
        .content(&format!("/blobs/{link}/content"), None)
        .await;
    assert_eq!(status, 200);
    assert!(got == body, "bytes differ after repair and two more losses");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_every_node_restarts_a_placed_file_still_reads_elsewhere() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let first = TestNode::start_with(&format!(
        "{}check_secs = 1\n",
        net_config(None).replace("/tcp/0", &format!("/tcp/{port}"))
    ))
    .await;
    let boot = p2p_addr(&first).await;
    let mut nodes = vec![first];
    for _ in 0..3 {
        nodes.push(
            TestNode::start_with(&format!("{}check_secs = 1\n", net_config(Some(&boot)))).await,
        );
    }
    for n in &nodes {
        wait_peers(n, 3).await;
    }
    let body = data(2 * 1024 * 1024 + 99, 8);
    let (status, entry) = nodes[1].upload("b.bin", body.clone(), "").await;
    assert_eq!(status, 201);
    let blob = entry["blob"].as_str().unwrap().to_owned();
    let job = placed(&nodes[1], &blob).await;
    assert_eq!(job["result"]["coding"], "2+1", "{job}");
    let link = link_of(&nodes[1], &blob).await;

    let mut restarted = Vec::new();
    for n in nodes {
        restarted.push(n.restart().await);
    }
    for n in &restarted {
        wait_peers(n, 3).await;
    }
    // The owner republishes its records once it has peers again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, got) = restarted[3]
            .content(&format!("/blobs/{link}/content"), None)
            .await;
        if status == 200 {
            assert!(got == body, "bytes differ after the restart");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not readable after restart: {status}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (status, _, got) = restarted[1]
        .content(&format!("/blobs/{blob}/content"), None)
        .await;
    assert_eq!(status, 200);
    assert!(got == body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_suppliers_are_passed_over_and_a_rejected_customer_moves_elsewhere() {
    let cfg =
        |boot: Option<&str>, extra: &str| format!("{}check_secs = 1\n{extra}", net_config(boot));
    let tiny = TestNode::start_with(&cfg(None, "donated = 300000\n")).await;
    let boot = p2p_addr(&tiny).await;
    let owner = TestNode::start_with(&cfg(Some(&boot), "ecc = \"2+1\"\n")).await;
    let b = TestNode::start_with(&cfg(Some(&boot), "")).await;
    let c = TestNode::start_with(&cfg(Some(&boot), "")).await;
    wait_peers(&owner, 3).await;

    // A small file goes to the three peers there are, the tiny one too.
    let small = data(100_000, 1);
    let (_, e) = owner.upload("small.bin", small.clone(), "").await;
    let small_blob = e["blob"].as_str().unwrap().to_owned();
    let job = placed(&owner, &small_blob).await;
    assert_eq!(job["state"], "done", "{job}");
    assert!(shard_file(&tiny, &small_blob).is_some());

    // A big one does not fit the tiny supplier: a fourth peer takes its place.
    let d = TestNode::start_with(&cfg(Some(&boot), "")).await;
    wait_peers(&owner, 4).await;
    let big = data(2 * 1024 * 1024, 2);
    let (_, e) = owner.upload("big.bin", big.clone(), "").await;
    let big_blob = e["blob"].as_str().unwrap().to_owned();
    let job = placed(&owner, &big_blob).await;
    assert_eq!(job["state"], "done", "{job}");
    assert!(
        shard_file(&tiny, &big_blob).is_none(),
        "a full supplier got a shard"
    );
    assert!(shard_file(&d, &big_blob).is_some());

    // b rejects the owner: its shards go, and the owner rebuilds the small
    // file's elsewhere (d is the only peer with room not holding it).
    let (_, customers) = b.get_json("/network/customers").await;
    let customer = customers["customers"][0]["owner"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, v) = b
        .send_json(
            reqwest::Method::POST,
            &format!("/network/customers/{customer}/reject"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert!(v["freed"].as_u64().unwrap() > 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while shard_file(&d, &small_blob).is_none() {
        assert!(
            Instant::now() < deadline,
            "the rejected shard was not rebuilt elsewhere"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(shard_file(&b, &small_blob).is_none());
    assert!(read_by_link(&owner, &small_blob, &c).await == small);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_files_aliases_and_nicknames_are_found_through_the_dht() {
    let first = TestNode::start_with(&net_config(None)).await;
    let boot = p2p_addr(&first).await;
    let owner = TestNode::start_with(&format!(
        "{}nickname = \"alice\"\ncheck_secs = 1\n",
        net_config(Some(&boot))
    ))
    .await;
    let reader = TestNode::start_with(&net_config(Some(&boot))).await;
    wait_peers(&owner, 2).await;
    wait_peers(&reader, 2).await;

    let body = data(1_200_000, 77);
    let (_, entry) = owner.upload("pub.bin", body.clone(), "&digests=wait").await;
    let blob = entry["blob"].as_str().unwrap().to_owned();
    let md5 = entry["aliases"]["md5"].as_str().unwrap().to_owned();
    assert_eq!(placed(&owner, &blob).await["state"], "done");
    let path = format!("/blobs/{blob}/content");
    let (status, _, _) = reader.content(&path, None).await;
    assert_eq!(status, 403, "private until made public");

    let (status, v) = owner
        .send_json(
            reqwest::Method::PATCH,
            &format!("/entries/{}/metadata", entry["id"].as_str().unwrap()),
            serde_json::json!({ "public": "true" }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    for what in [path, format!("/blobs/{md5}/content")] {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, _, got) = reader.content(&what, None).await;
            if status == 200 {
                assert!(got == body, "{what}: bytes differ");
                break;
            }
            assert!(Instant::now() < deadline, "{what}: {status}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let owner_id = {
        let (_, v) = owner.get_json("/network").await;
        v["peer_id"].as_str().unwrap().to_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, v) = reader.get_json("/network/nick/alice").await;
        if status == 200 {
            assert_eq!(v["peer"], owner_id.as_str());
            break;
        }
        assert!(Instant::now() < deadline, "nickname not found: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = reader.get_json("/network/nick/nobody").await;
    assert_eq!(status, 404);
    // Anyone can put a value in its own DHT store, but a nickname that its
    // peer did not sign names nobody: "mallory" pointing at the owner is
    // ignored.
    let status = reader
        .req(
            reqwest::Method::PUT,
            "/network/dht/%2Fcairn%2Fnick%2Fmallory",
        )
        .body(owner_id.clone())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    let got = reader
        .req(
            reqwest::Method::GET,
            "/network/dht/%2Fcairn%2Fnick%2Fmallory",
        )
        .send()
        .await
        .unwrap();
    // It sits in the reader's own store, but no read of the DHT, raw or
    // by name, returns a nickname record that does not verify.
    assert_eq!(got.status(), 404, "the forged record was returned");
    let (status, v) = reader.get_json("/network/nick/mallory").await;
    assert_eq!(status, 404, "{v}");

    // Aliases are signed by their publisher too. The reader forges two,
    // unsigned, through the DHT API: the real file's md5 sent to another
    // blob, and another content's md5 sent to the real file. The other
    // nodes refuse to store them, and a lookup ignores them.
    let forge = |key: String, value: String| {
        let req = reader
            .req(
                reqwest::Method::PUT,
                &format!("/network/dht/{}", key.replace('/', "%2F")),
            )
            .body(value);
        async move { req.send().await.unwrap().status() }
    };
    let other_md5 = hex::encode(<md5::Md5 as md5::Digest>::digest(data(1000, 99)));
    let elsewhere = b3(&data(1000, 99));
    assert_eq!(
        forge(format!("/cairn/alias/md5/{md5}"), elsewhere).await,
        204
    );
    assert_eq!(
        forge(format!("/cairn/alias/md5/{other_md5}"), blob.clone()).await,
        204
    );
    let (status, _, got) = first.content(&format!("/blobs/{md5}/content"), None).await;
    assert_eq!(status, 200, "a forged record replaced the real alias");
    assert!(got == body, "the real md5 reads another file");
    let (status, _, _) = first
        .content(&format!("/blobs/{other_md5}/content"), None)
        .await;
    assert_eq!(status, 404, "a forged alias was followed");
    // The reader keeps its own forgery (a local put is not filtered); its
    // lookup passes over it to the real record the others hold.
    let (status, _, got) = reader.content(&format!("/blobs/{md5}/content"), None).await;
    assert_eq!(status, 200, "the reader's own forgery hid the real alias");
    assert!(got == body, "the real md5 reads another file on the reader");

    // Replacing the file frees the old blob's shards on the suppliers.
    assert!(shard_file(&first, &blob).is_some() || shard_file(&reader, &blob).is_some());
    let newer = data(900_000, 78);
    let (status, replaced) = owner
        .upload("pub.bin", newer.clone(), "&on_conflict=replace")
        .await;
    assert_eq!(status, 201, "{replaced}");
    assert_eq!(replaced["id"], entry["id"], "a replace keeps the entry");
    let deadline = Instant::now() + Duration::from_secs(30);
    while shard_file(&first, &blob).is_some() || shard_file(&reader, &blob).is_some() {
        assert!(
            Instant::now() < deadline,
            "shards of a replaced blob stayed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let blob = replaced["blob"].as_str().unwrap().to_owned();
    assert_eq!(placed(&owner, &blob).await["state"], "done");

    // Deleting the file frees its shards on the suppliers.
    assert!(shard_file(&first, &blob).is_some() || shard_file(&reader, &blob).is_some());
    let (status, _) = owner
        .send_json(
            reqwest::Method::DELETE,
            &format!("/entries/{}", entry["id"].as_str().unwrap()),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while shard_file(&first, &blob).is_some() || shard_file(&reader, &blob).is_some() {
        assert!(Instant::now() < deadline, "shards of a deleted file stayed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supplier_away_when_a_file_is_deleted_frees_its_shard_when_back() {
    let cfg = |boot: Option<&str>| {
        format!(
            "{}check_secs = 1\n",
            net_config(boot).replace("request_timeout_secs = 5", "request_timeout_secs = 2")
        )
    };
    // The owner is everyone's bootstrap, so a supplier that comes back
    // dials it straight away.
    let owner = TestNode::start_with(&format!("{}ecc = \"2+1\"\n", cfg(None))).await;
    let boot = p2p_addr(&owner).await;
    let mut suppliers = Vec::new();
    for _ in 0..3 {
        suppliers.push(TestNode::start_with(&cfg(Some(&boot))).await);
    }
    wait_peers(&owner, 3).await;
    let (status, entry) = owner.upload("gone.bin", data(700_000, 31), "").await;
    assert_eq!(status, 201, "{entry}");
    let blob = entry["blob"].as_str().unwrap().to_owned();
    assert_eq!(placed(&owner, &blob).await["state"], "done");
    for s in &suppliers {
        assert!(
            shard_file(s, &blob).is_some(),
            "every supplier holds a shard"
        );
    }

    // One supplier is away when the file is deleted: the two others free
    // their shards at once, it keeps its own.
    let mut away = suppliers.pop().unwrap();
    away.terminate();
    let (status, _) = owner
        .send_json(
            reqwest::Method::DELETE,
            &format!("/entries/{}", entry["id"].as_str().unwrap()),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while suppliers.iter().any(|s| shard_file(s, &blob).is_some()) {
        assert!(Instant::now() < deadline, "shards of a deleted file stayed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(shard_file(&away, &blob).is_some(), "it was away");

    // Back, it is asked again (the deletion was owed, and a restart of the
    // owner would not have lost it) and frees the shard.
    let back = away.restart().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while shard_file(&back, &blob).is_some() {
        assert!(
            Instant::now() < deadline,
            "the returning supplier kept the shard of a deleted file"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supplier_past_its_limit_per_customer_is_passed_over() {
    let first = TestNode::start_with(&net_config(None)).await;
    let boot = p2p_addr(&first).await;
    let owner = TestNode::start_with(&format!("{}ecc = \"2+1\"\n", net_config(Some(&boot)))).await;
    let limited = TestNode::start_with(&format!(
        "{}customer_quota = 200000\n",
        net_config(Some(&boot))
    ))
    .await;
    let second = TestNode::start_with(&net_config(Some(&boot))).await;
    wait_peers(&owner, 3).await;
    let (_, v) = limited.get_json("/network").await;
    assert_eq!(v["space"]["per_customer"], 200000, "{v}");

    // A small file fits the limit: with three peers, the limited node is
    // one of its suppliers.
    let (_, e) = owner.upload("small.bin", data(150_000, 5), "").await;
    let small = e["blob"].as_str().unwrap().to_owned();
    assert_eq!(placed(&owner, &small).await["state"], "done");
    assert!(shard_file(&limited, &small).is_some());
    // A 1 MiB shard does not fit: a fourth peer takes its position.
    let spare = TestNode::start_with(&net_config(Some(&boot))).await;
    wait_peers(&owner, 4).await;
    let big = data(2 * 1024 * 1024, 6);
    let (_, e) = owner.upload("big.bin", big.clone(), "").await;
    let big_blob = e["blob"].as_str().unwrap().to_owned();
    let job = placed(&owner, &big_blob).await;
    assert_eq!(job["state"], "done", "{job}");
    assert!(shard_file(&limited, &big_blob).is_none(), "over its limit");
    for n in [&first, &second, &spare] {
        assert!(shard_file(n, &big_blob).is_some());
    }
    assert!(read_by_link(&owner, &big_blob, &spare).await == big);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supplier_failing_writes_mid_placement_is_passed_over() {
    let first = TestNode::start_with(&net_config(None)).await;
    let boot = p2p_addr(&first).await;
    let owner = TestNode::start_with(&format!("{}ecc = \"2+1\"\n", net_config(Some(&boot)))).await;
    let broken = TestNode::start_with(&net_config(Some(&boot))).await;
    let third = TestNode::start_with(&net_config(Some(&boot))).await;
    wait_peers(&owner, 3).await;
    // With three peers, all three supply the first file.
    let (_, e) = owner.upload("small.bin", data(100_000, 3), "").await;
    let small = e["blob"].as_str().unwrap().to_owned();
    assert_eq!(placed(&owner, &small).await["state"], "done");
    assert!(shard_file(&broken, &small).is_some());
    let spare = TestNode::start_with(&net_config(Some(&boot))).await;
    wait_peers(&owner, 4).await;

    // The broken supplier still says it has room, but its disk fails every
    // write: the customer's folder is now a plain file.
    let (_, customers) = broken.get_json("/network/customers").await;
    let customer = customers["customers"][0]["owner"].as_str().unwrap();
    let folder = broken.dir.join("shards").join(customer);
    std::fs::remove_dir_all(&folder).unwrap();
    std::fs::write(&folder, b"not a folder").unwrap();

    let big = data(3 * 1024 * 1024 + 5, 4);
    let (_, e) = owner.upload("big.bin", big.clone(), "").await;
    let blob = e["blob"].as_str().unwrap().to_owned();
    let job = placed(&owner, &blob).await;
    assert_eq!(job["state"], "done", "{job}");
    // The placement begun while the file was stored failed on the broken
    // supplier; the file was placed again from its local copy.
    assert_eq!(job["result"]["while_storing"], false, "{job}");
    let suppliers: Vec<String> = job["result"]["suppliers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    assert!(!suppliers.contains(&peer_id(&broken).await), "{job}");
    assert!(suppliers.contains(&peer_id(&spare).await), "{job}");
    for n in [&first, &third, &spare] {
        assert!(shard_file(n, &blob).is_some());
    }
    // What the first attempt wrote under its provisional id is gone.
    no_part_files_left(&[&first, &third, &spare]).await;
    assert!(read_by_link(&owner, &blob, &spare).await == big);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_supplier_is_outrun_by_the_others() {
    // Requests would wait two minutes for a supplier that never answers.
    let cfg = |boot: Option<&str>| {
        net_config(boot).replace("request_timeout_secs = 5", "request_timeout_secs = 120")
    };
    let nodes = network(7, cfg).await;
    let body = data(6 * 1024 * 1024 + 3, 12);
    let (_, entry) = nodes[1].upload("s.bin", body.clone(), "").await;
    let blob = entry["blob"].as_str().unwrap().to_owned();
    let job = placed(&nodes[1], &blob).await;
    assert_eq!(job["result"]["coding"], "4+2", "{job}");
    let link = link_of(&nodes[1], &blob).await;

    // The supplier of position 0, asked first for every segment, stops
    // answering without closing its connections.
    let stalled = node_of(&nodes, &job["result"]["suppliers"][0]).await;
    let reader = (2..nodes.len()).find(|&i| i != stalled).unwrap();
    unsafe {
        libc::kill(nodes[stalled].pid(), libc::SIGSTOP);
    }
    // Exact bytes, well within the two minutes a request to it would wait:
    // a spare shard is asked for beside the late one (here the first
    // segments waited 1.5 s for it, then the stalled supplier was asked
    // last; without that the read took until libp2p dropped the
    // connection, about 10 s later).
    let read = tokio::time::timeout(
        Duration::from_secs(60),
        nodes[reader].content(&format!("/blobs/{link}/content"), None),
    )
    .await;
    unsafe {
        libc::kill(nodes[stalled].pid(), libc::SIGCONT);
    }
    let (status, _, got) = read.expect("the read waited on the stalled supplier");
    assert_eq!(status, 200);
    assert!(got == body, "bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_stored_while_alone_is_placed_once_peers_come() {
    let cfg = |boot: Option<&str>| format!("{}check_secs = 1\n", net_config(boot));
    let owner = TestNode::start_with(&cfg(None)).await;
    let body = data(2 * 1024 * 1024 + 77, 21);
    let (status, entry) = owner.upload("alone.bin", body.clone(), "").await;
    assert_eq!(status, 201, "{entry}");
    let blob = entry["blob"].as_str().unwrap().to_owned();
    // Alone, it keeps its local copy only: a few rounds go by and nothing
    // is placed.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, v) = owner.get_json("/network").await;
    assert_eq!(v["suppliers"].as_array().map(Vec::len), Some(0), "{v}");

    // Two peers: 1+1. The next round places the file with nobody asking.
    let boot = p2p_addr(&owner).await;
    let peers = [
        TestNode::start_with(&cfg(Some(&boot))).await,
        TestNode::start_with(&cfg(Some(&boot))).await,
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let (_, jobs) = owner.get_json("/jobs?limit=50").await;
        if let Some(job) = jobs.as_array().into_iter().flatten().find(|j| {
            j["kind"] == "place" && j["label"] == blob.as_str() && j["result"]["placed"] == true
        }) {
            break job.clone();
        }
        assert!(Instant::now() < deadline, "never placed: {jobs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(job["result"]["coding"], "1+1", "{job}");
    assert!(read_by_link(&owner, &blob, &peers[0]).await == body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supplier_that_stalls_mid_upload_does_not_hold_the_upload_up() {
    use std::io::{Read, Write};
    // A request to the stalled supplier would wait two minutes.
    let cfg = |boot: Option<&str>| {
        net_config(boot).replace("request_timeout_secs = 5", "request_timeout_secs = 120")
    };
    let nodes = network(7, cfg).await;
    let owner = &nodes[1];
    // A first file hires the six suppliers.
    let (_, e) = owner.upload("first.bin", data(100_000, 1), "").await;
    let first = e["blob"].as_str().unwrap().to_owned();
    let job = placed(owner, &first).await;
    let stalled = node_of(&nodes, &job["result"]["suppliers"][0]).await;

    // The next upload's body comes in two parts; between them, once the
    // placement beside it has begun, the supplier stops answering.
    let body = data(24 << 20, 2);
    let head = format!(
        "POST /api/v1/upload?name=second.bin HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
        owner.addr,
        owner.secret,
        body.len()
    );
    let mut conn = owner.raw();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let cut = 4 << 20;
    let mut conn = tokio::task::spawn_blocking({
        let part = body[..cut].to_vec();
        move || {
            conn.write_all(head.as_bytes()).unwrap();
            conn.write_all(&part).unwrap();
            conn
        }
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, jobs) = owner.get_json("/jobs").await;
        if jobs.as_array().unwrap().iter().any(|j| {
            j["kind"] == "upload"
                && j["label"] == "second.bin"
                && j["done"].as_u64() >= Some(cut as u64)
        }) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the upload never started: {jobs}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    unsafe {
        libc::kill(nodes[stalled].pid(), libc::SIGSTOP);
    }
    // The upload ends long before a request to the supplier would give up.
    let answer = tokio::task::spawn_blocking({
        let rest = body[cut..].to_vec();
        move || {
            conn.write_all(&rest).unwrap();
            let mut answer = vec![0; 4096];
            let n = conn.read(&mut answer).unwrap_or(0);
            String::from_utf8_lossy(&answer[..n]).into_owned()
        }
    })
    .await
    .unwrap();
    unsafe {
        libc::kill(nodes[stalled].pid(), libc::SIGCONT);
    }
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    // Once the supplier answers again, the file is placed from its local
    // copy, the placement begun beside the upload having stopped short.
    let blob = b3(&body);
    let job = placed(owner, &blob).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["result"]["while_storing"], false, "{job}");
}

/// Issue 15: what a stranger may keep here grows with what it holds for
/// this node as its supplier; a stranger that holds nothing for it keeps
/// no more than `stranger_quota`, and a node placing a file passes over a
/// supplier that would not take it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_holding_our_shards_may_keep_more_than_a_strangers_quota() {
    let cfg =
        |boot: Option<&str>, extra: &str| format!("{}ecc = \"1+1\"\n{extra}", net_config(boot));
    let supplier = TestNode::start_with(&cfg(None, "stranger_quota = 400000\n")).await;
    let boot = p2p_addr(&supplier).await;
    let partner = TestNode::start_with(&cfg(Some(&boot), "")).await;
    let other = TestNode::start_with(&cfg(Some(&boot), "")).await;
    for n in [&supplier, &partner, &other] {
        wait_peers(n, 2).await;
    }
    // The supplier places a file of its own, 1+1 on its two peers: the
    // partner holds a whole copy, 600 000 bytes.
    let (_, e) = supplier.upload("ours.bin", data(600_000, 21), "").await;
    let ours = e["blob"].as_str().unwrap().to_owned();
    assert_eq!(placed(&supplier, &ours).await["state"], "done");
    assert!(shard_file(&partner, &ours).is_some());

    // The partner places 800 000 bytes: past the supplier's stranger
    // quota, within it plus what the partner holds for it. With two
    // peers, the supplier must be one of its suppliers.
    let (_, e) = partner.upload("theirs.bin", data(800_000, 22), "").await;
    let theirs = e["blob"].as_str().unwrap().to_owned();
    let job = placed(&partner, &theirs).await;
    assert_eq!(job["state"], "done", "{job}");
    assert!(shard_file(&supplier, &theirs).is_some(), "{job}");

    // A newcomer that holds nothing for the supplier is passed over there.
    let newcomer = TestNode::start_with(&cfg(Some(&boot), "")).await;
    wait_peers(&newcomer, 3).await;
    let (_, e) = newcomer.upload("new.bin", data(800_000, 23), "").await;
    let new = e["blob"].as_str().unwrap().to_owned();
    let job = placed(&newcomer, &new).await;
    assert_eq!(job["state"], "done", "{job}");
    assert!(shard_file(&supplier, &new).is_none(), "{job}");
    assert!(shard_file(&partner, &new).is_some() && shard_file(&other, &new).is_some());

    let (_, v) = supplier.get_json("/network/customers").await;
    let partner_id = peer_id(&partner).await;
    let customers = v["customers"].as_array().unwrap();
    let c = customers
        .iter()
        .find(|c| c["peer"] == partner_id.as_str())
        .unwrap_or_else(|| panic!("the partner is no customer: {v}"));
    assert_eq!(c["standing"], "stranger", "{c}");
    assert_eq!(c["bytes"], 800_000, "{c}");
    assert_eq!(c["holds_for_us"], 600_000, "{c}");
    assert_eq!(c["allowance"], 1_000_000, "{c}");
    assert_eq!(
        customers.len(),
        1,
        "only the partner keeps shards here: {v}"
    );
    let out = supplier.cli(&["net", "customers"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("stranger  800000 of 1000000 bytes, holds 600000 for us")
            && text.contains(&partner_id),
        "{text}"
    );
}

/// Issue 18: a nickname set at run time (`cairn id nick`) is published
/// both ways, nickname → peer and peer → nickname, each record signed by
/// the peer it names; a forged one is ignored; the name outlives a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nickname_set_at_run_time_is_found_both_ways_and_kept() {
    let first = TestNode::start_with(&net_config(None)).await;
    let boot = p2p_addr(&first).await;
    let owner = TestNode::start_with(&format!("{}check_secs = 1\n", net_config(Some(&boot)))).await;
    let reader = TestNode::start_with(&net_config(Some(&boot))).await;
    wait_peers(&owner, 2).await;
    wait_peers(&reader, 2).await;
    let owner_id = {
        let (_, v) = owner.get_json("/network").await;
        v["peer_id"].as_str().unwrap().to_owned()
    };
    let bad = owner.cli(&["id", "nick", "9lives"]);
    assert!(
        !bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("not a nickname")
    );
    let out = owner.cli(&["id", "nick", "Carol"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{owner_id} is carol")
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (by_nick, v) = reader.get_json("/network/nick/carol").await;
        let (by_peer, w) = reader.get_json(&format!("/network/name/{owner_id}")).await;
        if by_nick == 200 && by_peer == 200 {
            assert_eq!(v["peer"], owner_id.as_str());
            assert_eq!(w["nickname"], "carol");
            break;
        }
        assert!(Instant::now() < deadline, "not found both ways: {v} {w}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let named = reader.cli(&["net", "name", &owner_id]);
    assert_eq!(String::from_utf8_lossy(&named.stdout).trim(), "carol");
    let reader_id = {
        let (_, v) = reader.get_json("/network").await;
        v["peer_id"].as_str().unwrap().to_owned()
    };
    let (status, _) = reader.get_json(&format!("/network/name/{reader_id}")).await;
    assert_eq!(status, 404, "the reader named itself nothing");
    // A name record for the owner that the owner did not sign is ignored,
    // even in the reader's own store.
    let key = format!("/cairn/name/{owner_id}").replace('/', "%2F");
    let status = reader
        .req(reqwest::Method::PUT, &format!("/network/dht/{key}"))
        .body("\u{7}mallory")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    let (status, w) = reader.get_json(&format!("/network/name/{owner_id}")).await;
    assert_eq!(
        (status, w["nickname"].as_str()),
        (200, Some("carol")),
        "{w}"
    );

    // The reader has seen carol, and keeps her as a friend by nickname.
    let seen = String::from_utf8_lossy(&reader.cli(&["id", "seen"]).stdout).into_owned();
    assert!(seen.contains("carol") && seen.contains(&owner_id), "{seen}");
    let add = reader.cli(&["--json", "friend", "add", "carol"]);
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let friend: Value = serde_json::from_slice(&add.stdout).unwrap();
    assert_eq!(
        (
            friend["peer"].as_str(),
            friend["alias"].as_str(),
            friend["nickname"].as_str()
        ),
        (Some(owner_id.as_str()), Some("carol"), Some("carol"))
    );
    for (who, says) in [
        ("nobody", "no node calls itself"),
        (reader_id.as_str(), "its own friend"),
    ] {
        let out = reader.cli(&["friend", "add", who]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{who}: {err}");
    }
    let (status, f) = reader
        .send_json(
            reqwest::Method::POST,
            "/friends",
            serde_json::json!({ "who": owner_id, "alias": "Caro" }),
        )
        .await;
    assert_eq!(
        (status, f["alias"].as_str()),
        (201, Some("Caro")),
        "renamed: {f}"
    );
    let ls = String::from_utf8_lossy(&reader.cli(&["friend", "ls"]).stdout).into_owned();
    assert!(
        ls.starts_with("Caro") && ls.contains("carol") && ls.contains(&owner_id),
        "{ls}"
    );
    assert!(reader.cli(&["friend", "rm", "Caro"]).status.success());
    let (status, friends) = reader.get_json("/friends").await;
    assert_eq!((status, friends), (200, serde_json::json!([])));
    assert!(!reader.cli(&["friend", "rm", "Caro"]).status.success());

    // Kept across a restart.
    let owner = owner.restart().await;
    let (_, id) = owner.get_json("/identity").await;
    assert_eq!(id["nickname"], "carol");
}

/// Issue 18: private messages between two real nodes, signed and sealed:
/// delivered at once when the recipient is there (and seen on its events),
/// queued while it is away and delivered when it comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_messages_reach_their_recipient_also_after_it_was_away() {
    let first = TestNode::start_with(&net_config(None)).await;
    let boot = p2p_addr(&first).await;
    let alice = TestNode::start_with(&net_config(Some(&boot))).await;
    let mut bob = TestNode::start_with(&net_config(Some(&boot))).await;
    wait_peers(&alice, 2).await;
    wait_peers(&bob, 2).await;
    let id_of = |v: Value| v["peer_id"].as_str().unwrap().to_owned();
    let alice_id = id_of(alice.get_json("/network").await.1);
    let bob_id = id_of(bob.get_json("/network").await.1);
    let (_, mark) = bob.get_json("/events/poll?wait=0").await;
    let after = mark["next"].as_u64().unwrap();

    let send = |text: &str| {
        let out = alice.cli(&["--json", "msg", "send", &bob_id, text]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let sent = send("hello bob");
    assert_eq!(sent["state"], "delivered", "{sent}");
    let (_, got) = bob.get_json("/messages").await;
    assert_eq!(
        (
            got[0]["sender"].as_str(),
            got[0]["body"].as_str(),
            got[0]["state"].as_str()
        ),
        (Some(alice_id.as_str()), Some("hello bob"), Some("received")),
        "{got}"
    );
    assert_eq!(got[0]["id"], sent["id"]);
    let (_, events) = bob
        .get_json(&format!("/events/poll?after={after}&wait=5&limit=1000"))
        .await;
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "message" && e["message"]["body"] == "hello bob"),
        "{events}"
    );
    let ls = String::from_utf8_lossy(&bob.cli(&["msg", "ls"]).stdout).into_owned();
    assert_eq!(ls.trim(), format!("<- {alice_id}: hello bob"));

    // Refused: to oneself, to nobody, empty.
    for (to, text, says) in [
        (alice_id.as_str(), "me", "oneself"),
        ("nobody", "hi", "no friend or node"),
        (bob_id.as_str(), "", "1 to"),
    ] {
        let out = alice.cli(&["msg", "send", to, text]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{to}: {err}");
    }

    // A key shared with Bob: he holds it, private part and all, as
    // Alice's; the master key is never shared.
    assert!(
        alice
            .cli(&["key", "create", "cats", "--size", "1024"])
            .status
            .success()
    );
    let shared = alice.cli(&["key", "share", "cats", &bob_id]);
    assert!(
        shared.status.success(),
        "{}",
        String::from_utf8_lossy(&shared.stderr)
    );
    let (_, mine) = alice.get_json("/keys/cats?private=true").await;
    let (status, his) = bob
        .get_json(&format!("/keys/cats?owner={alice_id}&private=true"))
        .await;
    assert_eq!(status, 200, "{his}");
    assert_eq!(
        (
            his["owner"].as_str(),
            his["public"].clone(),
            his["private"].clone()
        ),
        (
            Some(alice_id.as_str()),
            mine["public"].clone(),
            mine["private"].clone()
        )
    );
    let (status, _) = bob.get_json("/keys/cats").await;
    assert_eq!(status, 404, "Bob's own keys are his");
    // Bob proves he holds it, both parts, without sending it; a key he
    // was never given he cannot prove.
    for part in [
        &["key", "audit", "cats", bob_id.as_str(), "--private"][..],
        &["key", "audit", "cats", bob_id.as_str()],
    ] {
        let mut args = vec!["--json"];
        args.extend_from_slice(part);
        let out = alice.cli(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (v["holds"].as_bool(), v["holder"].as_str()),
            (Some(true), Some(bob_id.as_str())),
            "{v}"
        );
    }
    assert!(
        alice
            .cli(&["key", "create", "dogs", "--size", "1024"])
            .status
            .success()
    );
    let (status, err) = alice
        .send_json(
            reqwest::Method::POST,
            "/keys/dogs/audit",
            serde_json::json!({ "holder": bob_id, "private": true }),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (404, Some("not_found")),
        "{err}"
    );
    let master = alice.cli(&["key", "share", "master", &bob_id]);
    assert!(String::from_utf8_lossy(&master.stderr).contains("cannot be shared"));

    // Bob goes away: the message waits in Alice's outbox, and reaches him
    // when he is back.
    bob.terminate();
    let away = alice.cli(&["key", "share", "cats", &bob_id]);
    assert!(!away.status.success(), "a key is never left queued");
    let queued = send("while you were away");
    assert_eq!(queued["state"], "queued", "{queued}");
    assert_eq!(send("and again")["state"], "queued");
    let bob = bob.restart().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, got) = bob.get_json(&format!("/messages?with={alice_id}")).await;
        if got.as_array().unwrap().len() == 3 {
            assert_eq!(got[1]["body"], "while you were away");
            assert_eq!(got[2]["body"], "and again", "in the order sent");
            break;
        }
        assert!(Instant::now() < deadline, "never delivered: {got}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, mine) = alice.get_json("/messages").await;
        if mine[1]["state"] == "delivered" && mine[2]["state"] == "delivered" {
            break;
        }
        assert!(Instant::now() < deadline, "not marked delivered: {mine}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Issue 18: Alice shares a folder with Bob and Carol. Bob lists it and
/// reads its files byte-exact from Alice's suppliers with Alice's node
/// stopped. Carol, revoked, can no longer open what Alice publishes next,
/// while Bob is handed the new key and sees the file added since; once
/// Alice deletes the share, Bob is told so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_reads_from_the_owner_s_suppliers_while_the_owner_is_away() {
    let nodes = network(5, net_config).await;
    let Ok([_first, _second, alice, bob, carol]) = <[TestNode; 5]>::try_from(nodes) else {
        panic!("five nodes");
    };
    let alice_id = peer_id(&alice).await;
    let bob_id = peer_id(&bob).await;
    let carol_id = peer_id(&carol).await;

    let share = cli_json(&alice, &["share", "create", "holiday"]);
    let id = share["id"].as_str().unwrap().to_owned();
    let folder = share["folder"].as_str().unwrap().to_owned();
    assert_eq!(
        (share["mine"].as_bool(), share["owner"].as_str()),
        (Some(true), Some(alice_id.as_str()))
    );
    let a = data(300 << 10, 181);
    let b = data((3 << 20) + 77, 182);
    let (status, entry_a) = alice
        .upload("a.txt", a.clone(), &format!("&parent={folder}"))
        .await;
    assert_eq!(status, 201, "{entry_a}");
    let sub = cli_json(&alice, &["mkdir", "sub", "--parent", &folder]);
    let sub = sub["id"].as_str().unwrap().to_owned();
    let (status, entry_b) = alice
        .upload("b.bin", b.clone(), &format!("&parent={sub}"))
        .await;
    assert_eq!(status, 201, "{entry_b}");
    for entry in [&entry_a, &entry_b] {
        let job = placed(&alice, entry["blob"].as_str().unwrap()).await;
        assert_eq!(job["state"], "done", "{job}");
    }
    let (_, mark) = bob.get_json("/events/poll?wait=0").await;
    let after = mark["next"].as_u64().unwrap();
    for member in [&bob_id, &carol_id] {
        let granted = cli_json(&alice, &["share", "grant", &id, member]);
        assert_eq!(
            (granted["peer"].as_str(), granted["delivered"].as_bool()),
            (Some(member.as_str()), Some(true))
        );
    }
    let (_, events) = bob
        .get_json(&format!("/events/poll?after={after}&wait=5&limit=1000"))
        .await;
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "share_granted"
                && e["share"] == id.as_str()
                && e["owner"] == alice_id.as_str()),
        "{events}"
    );

    // Bob writes into the share: his file, placed on his suppliers, is
    // handed to Alice, who stores it in the share's folder. A path that
    // leaves the share is refused.
    let c = data(200 << 10, 183);
    let (status, entry_c) = bob.upload("c.txt", c.clone(), "").await;
    assert_eq!(status, 201, "{entry_c}");
    let job = placed(&bob, entry_c["blob"].as_str().unwrap()).await;
    assert_eq!(job["state"], "done", "{job}");
    let entry_c = entry_c["id"].as_str().unwrap();
    let put = cli_json(&bob, &["share", "put", &id, entry_c, "sub/c.txt"]);
    assert_eq!(put["path"], "sub/c.txt", "{put}");
    let escape = bob.cli(&["share", "put", &id, entry_c, "../c.txt"]);
    assert!(!escape.status.success(), "{escape:?}");
    let own_put = alice.cli(&["share", "put", &id, entry_a["id"].as_str().unwrap(), "x"]);
    assert!(
        !own_put.status.success(),
        "an owner puts files in the folder"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, own) = alice.get_json(&format!("/shares/{id}")).await;
        if own["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "sub/c.txt")
        {
            break;
        }
        assert!(Instant::now() < deadline, "Bob's file never arrived: {own}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The index as it stands once both are members, placed before Alice
    // goes.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, own) = alice.get_json(&format!("/shares/{id}")).await;
        let members = own["share"]["members"].as_array().map_or(0, Vec::len);
        let paths: Vec<&str> = own["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert_eq!(paths, ["a.txt", "sub/b.bin", "sub/c.txt"], "{own}");
        if let (2, Some(index)) = (members, own["share"]["index"].as_str()) {
            let job = placed(&alice, index).await;
            let (_, again) = alice.get_json(&format!("/shares/{id}")).await;
            // Published too: what a member reads is this index.
            let (_, theirs) = carol.get_json(&format!("/shares/{id}")).await;
            let seen = theirs["files"].as_array().map_or(0, Vec::len);
            if job["state"] == "done" && again["share"]["index"] == index && seen == 3 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "never published whole: {own}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, listed) = bob.get_json("/shares").await;
    assert_eq!(
        (
            listed[0]["id"].as_str(),
            listed[0]["mine"].as_bool(),
            listed[0]["label"].as_str()
        ),
        (Some(id.as_str()), Some(false), Some("holiday")),
        "{listed}"
    );

    // Alice's node stops: Bob and Carol still read the share.
    let mut alice = alice;
    alice.terminate();
    for member in [&bob, &carol] {
        let (status, got) = member.get_json(&format!("/shares/{id}")).await;
        assert_eq!(status, 200, "{got}");
        let files: Vec<(&str, u64)> = got["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["path"].as_str().unwrap(), f["size"].as_u64().unwrap()))
            .collect();
        assert_eq!(
            files,
            [
                ("a.txt", a.len() as u64),
                ("sub/b.bin", b.len() as u64),
                ("sub/c.txt", c.len() as u64)
            ]
        );
        assert_eq!(got["share"]["owner"], alice_id.as_str());
    }
    let (status, _, got) = bob
        .content(&format!("/shares/{id}/content?path=a.txt"), None)
        .await;
    assert_eq!((status, got == a), (200, true));
    // Carol reads Bob's file from Alice's suppliers, Alice away.
    let (status, _, got) = carol
        .content(&format!("/shares/{id}/content?path=sub/c.txt"), None)
        .await;
    assert_eq!((status, got == c), (200, true));
    let (status, _, got) = bob
        .content(
            &format!("/shares/{id}/content?path=sub/b.bin"),
            Some("bytes=1000000-1000099"),
        )
        .await;
    assert_eq!((status, got.as_slice()), (206, &b[1_000_000..1_000_100]));
    let out = carol.dir.join("b.bin");
    let saved = cli_json(
        &carol,
        &[
            "share",
            "get",
            &id,
            "sub/b.bin",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(saved["bytes"], b.len() as u64);
    assert_eq!(b3(&std::fs::read(&out).unwrap()), b3(&b));
    let (status, _, _) = bob
        .content(&format!("/shares/{id}/content?path=nothing.txt"), None)
        .await;
    assert_eq!(status, 404);
    // Only the owner changes a share.
    let (status, _) = bob
        .send_json(
            reqwest::Method::POST,
            &format!("/shares/{id}/members"),
            serde_json::json!({ "to": carol_id }),
        )
        .await;
    assert_eq!(status, 403);

    // Back, Alice revokes Carol and adds a file: Bob sees it, Carol's key
    // no longer opens the share.
    let alice = alice.restart().await;
    wait_peers(&alice, 4).await;
    let revoked = alice.cli(&["share", "revoke", &id, &carol_id]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let c = data(1000, 183);
    let (status, _) = alice
        .upload("c.txt", c.clone(), &format!("&parent={folder}"))
        .await;
    assert_eq!(status, 201);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, got) = bob.get_json(&format!("/shares/{id}")).await;
        if status == 200 && got["files"].as_array().unwrap().len() == 4 {
            assert_eq!(got["files"][1]["path"], "c.txt");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Bob never saw c.txt: {status} {got}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _, got) = bob
        .content(&format!("/shares/{id}/content?path=c.txt"), None)
        .await;
    assert_eq!((status, got == c), (200, true));
    let (status, err) = carol.get_json(&format!("/shares/{id}")).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (403, Some("forbidden")),
        "{err}"
    );
    let (_, own) = alice.get_json(&format!("/shares/{id}")).await;
    assert_eq!(own["share"]["members"], serde_json::json!([bob_id]));

    // Deleted by Alice: Bob is told, and the share shows closed.
    assert!(alice.cli(&["share", "rm", &id]).status.success());
    let (status, err) = bob.get_json(&format!("/shares/{id}")).await;
    assert_eq!(status, 404, "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("deleted"),
        "{err}"
    );
    let (_, listed) = bob.get_json("/shares").await;
    assert_eq!(listed[0]["state"], "closed");
    let (status, _) = alice.get_json(&format!("/shares/{id}")).await;
    assert_eq!(status, 404);
    let (_, folder_entry) = alice.get_json(&format!("/entries/{folder}")).await;
    assert_eq!(folder_entry["name"], "holiday", "the folder stays");
}

/// Issue 18: Alice backs her identity up to a file and loses her disk. A
/// new data dir made from the file alone gets her catalog back from the
/// network at its first start: her folder and file (read from her
/// suppliers), metadata, her share and her messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovered_identity_gets_its_catalog_back_from_the_network() {
    let config = |boot: Option<&str>| format!("{}backup_secs = 1\n", net_config(boot));
    let nodes = network(4, config).await;
    let Ok([_first, bob, _third, mut alice]) = <[TestNode; 4]>::try_from(nodes) else {
        panic!("four nodes");
    };
    let bob_id = peer_id(&bob).await;
    let share = cli_json(&alice, &["share", "create", "docs"]);
    let folder = share["folder"].as_str().unwrap().to_owned();
    let body = data((2 << 20) + 5, 191);
    let (status, entry) = alice
        .upload("report.pdf", body.clone(), &format!("&parent={folder}"))
        .await;
    assert_eq!(status, 201, "{entry}");
    let file = entry["id"].as_str().unwrap().to_owned();
    assert!(
        alice
            .cli(&["meta", "set", &file, "author=alice"])
            .status
            .success()
    );
    let sent = cli_json(&alice, &["msg", "send", &bob_id, "kept for later"]);
    assert_eq!(sent["state"], "delivered");
    let job = placed(&alice, entry["blob"].as_str().unwrap()).await;
    assert_eq!(job["state"], "done", "{job}");

    // A backup holding all of it, placed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let version = loop {
        let (_, state) = alice.get_json("/identity/catalog-backup").await;
        if state["pending"] == 0 && state["version"].as_i64() > Some(0) {
            let blob = state["blob"].as_str().unwrap();
            if placed(&alice, blob).await["state"] == "done" {
                break state["version"].as_i64().unwrap();
            }
        }
        assert!(Instant::now() < deadline, "never backed up: {state}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let backup = alice.files.join("alice.backup");
    assert!(
        alice
            .cli(&["id", "backup", "-o", backup.to_str().unwrap()])
            .status
            .success()
    );

    // The disk is lost; the backup file alone makes a new one.
    alice.terminate();
    let config = std::fs::read_to_string(alice.dir.join("config.toml")).unwrap();
    std::fs::remove_dir_all(&alice.dir).unwrap();
    std::fs::create_dir_all(&alice.dir).unwrap();
    std::fs::write(alice.dir.join("config.toml"), config).unwrap();
    let recovered = std::process::Command::new(common::BIN)
        .arg("--data-dir")
        .arg(&alice.dir)
        .args(["id", "recover"])
        .arg(&backup)
        .output()
        .unwrap();
    assert!(
        recovered.status.success(),
        "{}",
        String::from_utf8_lossy(&recovered.stderr)
    );
    let started = Instant::now();
    let again = TestNode::start_in(&alice.dir).await;
    eprintln!("recovered in {:?}", started.elapsed());
    assert!(!alice.dir.join("restore-catalog").exists());

    // The backup it came from is its last, holding all it has (until the
    // read below counts a download).
    let (_, state) = again.get_json("/identity/catalog-backup").await;
    assert_eq!(
        (state["version"].as_i64(), state["pending"].as_i64()),
        (Some(version), Some(0)),
        "{state}"
    );
    let (status, got) = again.get_json(&format!("/entries/{file}")).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        (got["name"].as_str(), got["metadata"]["author"].as_str()),
        (Some("report.pdf"), Some("alice")),
        "{got}"
    );
    let (status, _, bytes) = again
        .content(&format!("/entries/{file}/content"), None)
        .await;
    assert_eq!(
        (status, b3(&bytes)),
        (200, b3(&body)),
        "read from the suppliers"
    );
    let (_, shares) = again.get_json("/shares").await;
    assert_eq!(
        (shares[0]["label"].as_str(), shares[0]["folder"].as_str()),
        (Some("docs"), Some(folder.as_str())),
        "{shares}"
    );
    let (_, messages) = again.get_json("/messages").await;
    assert_eq!(messages[0]["body"], "kept for later", "{messages}");
}

/// Issue 18: a group of Alice (its creator), Bob and Carol. A message
/// reaches every member; one sent while Bob is away reaches him when he
/// is back (its sender's copy); once Carol is removed, the group has a
/// new key, and what is sent after reaches Bob, not her, while what she
/// sends under the old key is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_message_reaches_every_member_also_one_that_was_away() {
    let nodes = network(4, net_config).await;
    let Ok([_first, alice, bob, carol]) = <[TestNode; 4]>::try_from(nodes) else {
        panic!("four nodes");
    };
    let alice_id = peer_id(&alice).await;
    let bob_id = peer_id(&bob).await;
    let carol_id = peer_id(&carol).await;
    let (_, mark) = bob.get_json("/events/poll?wait=0").await;
    let after = mark["next"].as_u64().unwrap();
    let group = cli_json(&alice, &["group", "create", "dinner"]);
    let id = group["id"].as_str().unwrap().to_owned();
    for member in [&bob_id, &carol_id] {
        let invited = cli_json(&alice, &["group", "invite", &id, member]);
        assert_eq!(invited["delivered"], true, "{invited}");
    }
    // Each member learns of the other.
    for member in [&bob, &carol] {
        let got = wait_json(
            member,
            &format!("/groups/{id}"),
            "never had both members",
            |g| g["members"].as_array().is_some_and(|m| m.len() == 2),
        )
        .await;
        assert_eq!(
            (got["creator"].as_str(), got["mine"].as_bool()),
            (Some(alice_id.as_str()), Some(false))
        );
    }
    let (_, events) = bob
        .get_json(&format!("/events/poll?after={after}&wait=5&limit=1000"))
        .await;
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "group_changed" && e["group"] == id.as_str()),
        "{events}"
    );

    let has = |body: &'static str| {
        move |list: &Value| {
            list.as_array()
                .is_some_and(|l| l.iter().any(|m| m["body"] == body))
        }
    };
    let sent = cli_json(&alice, &["group", "send", &id, "hello all"]);
    assert_eq!(
        (sent["state"].as_str(), sent["peer"].as_str()),
        (Some("sent"), Some(format!("group:{id}").as_str()))
    );
    for member in [&bob, &carol] {
        let got = wait_json(
            member,
            &format!("/groups/{id}/messages"),
            "never got hello",
            has("hello all"),
        )
        .await;
        let m = got
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["body"] == "hello all")
            .unwrap();
        assert_eq!(
            (m["sender"].as_str(), m["state"].as_str()),
            (Some(alice_id.as_str()), Some("received"))
        );
    }

    // Bob is away while Carol writes: he gets it when he is back.
    let mut bob = bob;
    bob.terminate();
    cli_json(&carol, &["group", "send", &id, "while bob is away"]);
    wait_json(
        &alice,
        &format!("/groups/{id}/messages"),
        "Alice never got Carol's",
        has("while bob is away"),
    )
    .await;
    let bob = bob.restart().await;
    wait_json(
        &bob,
        &format!("/groups/{id}/messages"),
        "Bob never got what was sent while away",
        has("while bob is away"),
    )
    .await;

    // Carol is removed: a new key, which Bob gets and she does not.
    assert!(
        alice
            .cli(&["group", "remove", &id, &carol_id])
            .status
            .success()
    );
    let got = wait_json(
        &bob,
        &format!("/groups/{id}"),
        "Bob never got the new key",
        |g| g["epoch"] == 1,
    )
    .await;
    assert_eq!(got["members"], serde_json::json!([bob_id]));
    cli_json(&carol, &["group", "send", &id, "carol under the old key"]);
    cli_json(&alice, &["group", "send", &id, "after carol left"]);
    wait_json(
        &bob,
        &format!("/groups/{id}/messages"),
        "Bob never got the last",
        has("after carol left"),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, hers) = carol.get_json(&format!("/groups/{id}/messages")).await;
    assert!(
        !has("after carol left")(&hers),
        "Carol read past her removal: {hers}"
    );
    for node in [&alice, &bob] {
        let (_, theirs) = node.get_json(&format!("/groups/{id}/messages")).await;
        assert!(!has("carol under the old key")(&theirs), "{theirs}");
    }

    // Bob leaves: Alice's group loses him (and changes key again).
    assert!(bob.cli(&["group", "leave", &id]).status.success());
    wait_json(
        &alice,
        &format!("/groups/{id}"),
        "Alice never saw Bob leave",
        |g| g["members"] == serde_json::json!([]),
    )
    .await;
    let (status, _) = bob.get_json(&format!("/groups/{id}")).await;
    assert_eq!(status, 404, "left and forgotten");
    let (status, _) = bob
        .send_json(
            reqwest::Method::POST,
            &format!("/groups/{id}/messages"),
            serde_json::json!({ "text": "x" }),
        )
        .await;
    assert_eq!(status, 404);
    let (_, history) = bob.get_json("/messages?limit=1000").await;
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["body"] == "after carol left"),
        "the history stays: {history}"
    );
}

/// Waits (bounded) until `ok` holds of what `node` answers at `path`.
async fn wait_json(node: &TestNode, path: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, got) = node.get_json(path).await;
        if ok(&got) {
            return got;
        }
        assert!(Instant::now() < deadline, "{what}: {got}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the CLI with `--json` against `node`; it must succeed, and its
/// output is the JSON answered.
fn cli_json(node: &TestNode, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = node.cli(&all);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout).unwrap()
}
