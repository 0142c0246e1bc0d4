//! BitDust's engine API against the real binary: the REST routes in the
//! seed's curl forms (bitdust-api.txt) and their spellings, the envelope
//! and headers byte for byte, the errors BitDust answered, and the
//! WebSocket's `api_call`, broadcast and pushes (bitdust-details.md).

mod common;

use std::time::{Duration, Instant};

use common::net::{net_config, p2p_addr, peer_id, wait_peers};
use common::{Endpoint, TestNode};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// A node whose BitDust WebSocket listens on a port of its own.
const WS: &str = "[layers]\ncacaoweb = []\npowder = []\nbitdust = [\"127.0.0.1:0\"]\n";

/// A BitDust REST call: method, path, body; answers the status, the
/// headers and the body as text.
async fn rest(
    node: &TestNode,
    method: &str,
    path: &str,
    body: Option<&str>,
    secret: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = node
        .http
        .request(method.parse().unwrap(), node.root_url(path));
    let secret = secret
        .map(str::to_owned)
        .unwrap_or_else(|| node.secret.clone());
    req = req.header("api_secret", secret);
    if let Some(body) = body {
        req = req.body(body.to_owned());
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

/// [`rest`] as JSON, checking that BitDust's status and headers came.
async fn call(node: &TestNode, method: &str, path: &str, body: Option<Value>) -> Value {
    let body = body.map(|b| b.to_string());
    let (status, headers, text) = rest(node, method, path, body.as_deref(), None).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["content-type"], "application/json");
    assert!(text.ends_with("}\n"), "{text:?}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(
        v["execution"].as_str().is_some_and(|e| e.contains('.')),
        "{v}"
    );
    v
}

#[tokio::test]
async fn the_envelope_headers_and_errors_are_bitdust_s() {
    let node = TestNode::start_with(WS).await;
    // process_health, byte for byte but the time.
    let (status, headers, text) = rest(&node, "GET", "/process/health/v1", None, None).await;
    assert_eq!(status, 200);
    let exec = serde_json::from_str::<Value>(&text).unwrap()["execution"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        text,
        format!("{{\n  \"execution\": \"{exec}\",\n  \"status\": \"OK\"\n}}\n")
    );
    for (name, value) in [
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "GET, POST, PUT, DELETE"),
        (
            "access-control-allow-headers",
            "x-prototype-version,x-requested-with",
        ),
        ("access-control-max-age", "2520"),
    ] {
        assert_eq!(headers[name], value, "{name}");
    }
    // Three spellings of one route.
    for path in ["/v1/process/health", "/p/h"] {
        assert_eq!(
            call(&node, "GET", path, None).await["status"],
            "OK",
            "{path}"
        );
    }
    // A wrong secret, a wrong verb: 200 and an error envelope.
    let (status, _, text) = rest(&node, "GET", "/process/health/v1", None, Some("wrong")).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (status, v["status"].as_str(), v["errors"].clone()),
        (200, Some("ERROR"), json!(["access denied"]))
    );
    let v = call(&node, "POST", "/process/health/v1", None).await;
    assert_eq!(
        v["errors"],
        json!(["method b'POST':b'/process/health/v1' was not found"])
    );
    // Mandatory parameters, as BitDust's server worded it.
    let v = call(&node, "POST", "/key/create/v1", None).await;
    assert_eq!(
        v["errors"],
        json!(["mandatory json input missed: ['alias']"])
    );
    let v = call(
        &node,
        "POST",
        "/key/create/v1",
        Some(json!({"key_size": 1024})),
    )
    .await;
    assert_eq!(
        v["errors"],
        json!(["one of mandatory parameters missed: ['alias']"])
    );
    let v = call(&node, "GET", "/key/get/v1", None).await;
    assert_eq!(
        v["errors"],
        json!(["mandatory url query argument missed: key_id"])
    );
    let v = call(&node, "POST", "/friend/add/v1", Some(json!({"alias": "x"}))).await;
    assert_eq!(
        v["errors"],
        json!(["not all arguments converted during string formatting"])
    );
    let (_, _, text) = rest(&node, "POST", "/key/create/v1", Some("{not json"), None).await;
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["errors"],
        json!(["invalid json input"])
    );
    let (_, _, text) = rest(&node, "POST", "/key/create/v1", Some("null"), None).await;
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["errors"],
        json!(["argument of type 'NoneType' is not iterable"])
    );
}

#[tokio::test]
async fn keys_and_the_identity_answer_in_bitdust_s_shapes() {
    let node = TestNode::start_with(WS).await;
    let me = call(&node, "GET", "/identity/get/v1", None).await;
    let gid = me["result"]["global_id"].as_str().unwrap().to_owned();
    let (user, host) = gid.split_once('@').unwrap();
    assert_eq!((user, host.len()), ("cairn", 52), "{me}");
    assert_eq!(me["result"]["idurl"], format!("http://{host}/cairn.xml"));
    assert!(
        me["result"]["publickey"]
            .as_str()
            .unwrap()
            .starts_with("ssh-rsa ")
    );

    // The seed's curl form, with the route's real body key (`alias`).
    let made = call(
        &node,
        "POST",
        "/key/create/v1",
        Some(json!({"alias": "abcd1234", "key_size": 1024, "label": "Cats and Dogs"})),
    )
    .await;
    let key_id = format!("abcd1234${gid}");
    assert_eq!(
        made["message"],
        "new private key abcd1234 was generated successfully"
    );
    let r = &made["result"];
    assert_eq!(
        (
            r["key_id"].as_str(),
            r["alias"].as_str(),
            r["size"].as_str(),
            r["label"].as_str()
        ),
        (
            Some(key_id.as_str()),
            Some("abcd1234"),
            Some("1024"),
            Some("Cats and Dogs")
        )
    );
    assert_eq!(
        (
            r["active"].as_bool(),
            r["is_public"].as_bool(),
            r["private"].clone()
        ),
        (Some(true), Some(true), Value::Null)
    );
    let again = call(&node, "POST", "/k/c", Some(json!({"alias": "abcd1234"}))).await;
    assert_eq!(
        again["errors"],
        json!([format!("key {key_id} already exist")])
    );
    let bad = call(
        &node,
        "POST",
        "/key/create/v1",
        Some(json!({"alias": "1bad"})),
    )
    .await;
    assert_eq!(
        bad["errors"],
        json!([format!("key 1bad${gid} is not valid")])
    );

    let got = call(
        &node,
        "GET",
        &format!("/key/get/v1?key_id={key_id}&include_private=1"),
        None,
    )
    .await;
    assert!(
        got["result"]["private"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----")
    );
    assert_eq!(got["result"]["is_public"], false);
    let master = call(&node, "GET", "/k/g?key_id=master", None).await;
    assert_eq!(master["result"]["key_id"], format!("master${gid}"));
    assert_eq!(master["result"]["label"], format!("master${gid}"));
    let list = call(&node, "GET", "/key/list/v1", None).await;
    let list = list["result"].as_array().unwrap().clone();
    assert_eq!(list[0]["alias"], "master");
    assert_eq!(list[0]["include_private"], false);
    assert!(list[1]["local_key_id"].as_i64().is_some(), "{list:?}");
    let missing = call(
        &node,
        "GET",
        &format!("/key/get/v1?key_id=nothere${gid}"),
        None,
    )
    .await;
    assert_eq!(
        missing["errors"],
        json!([format!("key nothere${gid} is not registered")])
    );

    let labelled = call(
        &node,
        "POST",
        "/key/label/v1",
        Some(json!({"key_id": key_id, "label": "Pets"})),
    )
    .await;
    assert_eq!(
        labelled["message"],
        format!("label for the key {key_id} updated successfully")
    );
    let master_label = call(
        &node,
        "POST",
        "/key/label/v1",
        Some(json!({"key_id": "master", "label": "x"})),
    )
    .await;
    assert_eq!(
        master_label["errors"],
        json!(["master key label can not be changed"])
    );
    let erased = call(
        &node,
        "DELETE",
        "/key/erase/v1",
        Some(json!({"key_id": key_id})),
    )
    .await;
    assert_eq!(erased["message"], format!("key {key_id} was erased"));
    let master_erase = call(&node, "DELETE", "/k/d", Some(json!({"key_id": "master"}))).await;
    assert_eq!(
        master_erase["errors"],
        json!(["\"master\" key can not be erased"])
    );
    let list = call(&node, "GET", "/k/l", None).await;
    assert_eq!(list["result"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friends_messages_and_the_websocket_between_two_nodes() {
    let first = TestNode::start_with(&format!("{}{WS}", net_config(None))).await;
    let boot = p2p_addr(&first).await;
    let bob = TestNode::start_with(&format!("{}{WS}", net_config(Some(&boot)))).await;
    wait_peers(&first, 1).await;
    wait_peers(&bob, 1).await;
    let alice = first;
    let bob_peer = peer_id(&bob).await;
    let bob_gid = call(&bob, "GET", "/i/g", None).await["result"]["global_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Friends by global id.
    let added = call(
        &alice,
        "POST",
        "/friend/add/v1",
        Some(json!({"trusted_user_id": bob_gid, "alias": "Bob"})),
    )
    .await;
    assert_eq!(added["message"], "new friend has been added", "{added}");
    let twice = call(&alice, "POST", "/fr/a", Some(json!({"global_id": bob_gid}))).await;
    assert_eq!(twice["message"], "this friend has been already added");
    let friends = call(&alice, "GET", "/friend/list/v1", None).await;
    let f = &friends["result"][0];
    assert_eq!(
        (
            f["global_id"].as_str(),
            f["alias"].as_str(),
            f["contact_state"].as_str()
        ),
        (Some(bob_gid.as_str()), Some("Bob"), Some("CONNECTED")),
        "{friends}"
    );
    let status = call(
        &alice,
        "GET",
        &format!("/user/status/v1?id={bob_gid}"),
        None,
    )
    .await;
    assert_eq!(status["result"]["contact_state"], "CONNECTED");
    let unknown = call(&alice, "GET", "/user/status/v1?user_id=whoever", None).await;
    assert_eq!(
        unknown["errors"],
        json!(["unknown user"]),
        "user_id is not read over REST"
    );

    // Bob listens on his WebSocket; two clients, both get every frame.
    let ws_addr = std::fs::read_to_string(bob.dir.join("bitdust.addr")).unwrap();
    let url = format!("ws://{}/?api_secret={}", ws_addr.trim(), bob.secret);
    let (mut one, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (mut two, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let refused =
        tokio_tungstenite::connect_async(format!("ws://{}/?api_secret=wrong", ws_addr.trim()))
            .await;
    assert!(refused.is_err(), "a wrong secret is refused");
    let extra = tokio_tungstenite::connect_async(format!("{url}&x=1")).await;
    assert!(extra.is_err(), "nothing may follow the secret");

    one.send(Message::text("not json")).await.unwrap();
    one.send(Message::text(
        json!({"command": "api_call", "method": "process_health", "kwargs": {}, "call_id": 1})
            .to_string(),
    ))
    .await
    .unwrap();
    one.send(Message::text(
        json!({"command": "api_call", "method": "no_such", "call_id": "x"}).to_string(),
    ))
    .await
    .unwrap();
    one.send(Message::text(json!({"command": "api_call", "method": "process_health", "kwargs": {"bad": 1}, "call_id": 2}).to_string()))
        .await
        .unwrap();
    for client in [&mut one, &mut two] {
        let replies = frames(client, 3, |f| f["type"] == "api_call").await;
        let by_id = |id: Value| {
            replies
                .iter()
                .find(|r| r["payload"]["call_id"] == id)
                .unwrap()
                .clone()
        };
        assert_eq!(
            by_id(json!(1))["payload"]["response"],
            json!({"status": "OK"})
        );
        assert_eq!(
            by_id(json!("x"))["payload"],
            json!({"call_id": "x", "errors": ["invalid api method name"]})
        );
        assert_eq!(
            by_id(json!(2))["payload"]["errors"],
            json!(["process_health() got an unexpected keyword argument 'bad'"])
        );
    }

    // Alice writes as BitDust's clients do; Bob's clients see it pushed.
    let sent = call(
        &alice,
        "POST",
        "/message/send/v1",
        Some(json!({"id": bob_gid, "data": {"message": "Hola Amigo!"}})),
    )
    .await;
    assert_eq!(sent["message"], "message sent", "{sent}");
    assert_eq!(sent["result"]["consumed"], true);
    for client in [&mut one, &mut two] {
        let pushed = frames(client, 1, |f| f["type"] == "stream_message").await;
        let doc = &pushed[0]["payload"];
        assert_eq!(doc["payload"]["data"]["message"], "Hola Amigo!", "{doc}");
        assert_eq!(doc["payload"]["msg_type"], "private_message");
        assert_eq!(doc["direction"], "in");
        assert_eq!(doc["recipient"]["glob_id"], format!("master${bob_gid}"));
    }
    let (_, got) = bob.get_json("/messages").await;
    assert_eq!(got[0]["recipient"], bob_peer.as_str());

    // Bob takes a name; Alice finds him by it, pings him, checks him.
    let named = call(
        &bob,
        "POST",
        "/identity/create/v1",
        Some(json!({"username": "bobby"})),
    )
    .await;
    assert_eq!(named["result"]["name"], "bobby", "{named}");
    let bob_named = named["result"]["global_id"].as_str().unwrap().to_owned();
    assert!(bob_named.starts_with("bobby@"));
    let again = call(&bob, "POST", "/i/c", Some(json!({"username": "other"}))).await;
    assert_eq!(again["errors"], json!(["local identity already exist"]));
    let found = call(&alice, "GET", "/user/search/bobby/v1", None).await;
    assert_eq!(
        (
            found["result"]["result"].as_str(),
            found["result"]["global_id"].as_str()
        ),
        (Some("exist"), Some(bob_named.as_str())),
        "{found}"
    );
    let nobody = call(&alice, "GET", "/us/s?nickname=nobody-here", None).await;
    assert_eq!(nobody["result"]["result"], "not exist");
    let observed = call(&alice, "GET", "/user/observe/v1?nickname=bobby", None).await;
    assert_eq!(observed["result"][0]["global_id"], bob_named.as_str());
    let pinged = call(
        &alice,
        "GET",
        &format!("/user/ping/v1?id={bob_named}"),
        None,
    )
    .await;
    assert_eq!(pinged["message"], "connected", "{pinged}");
    let checked = call(
        &alice,
        "GET",
        &format!("/user/status/check/v1?id={bob_named}"),
        None,
    )
    .await;
    assert_eq!(checked["result"]["contact_state"], "CONNECTED");
    let empty = call(&alice, "POST", "/user/ping/v1", Some(json!({}))).await;
    assert_eq!(empty["errors"], json!(["empty idurl provided"]));
    // Only where the node may write for its operator: an absolute path
    // under the import roots.
    for refused in [
        json!("alice.backup"),
        json!(alice.dir.join("alice.backup")),
        json!("/etc/alice.backup"),
    ] {
        let v = call(
            &alice,
            "POST",
            "/identity/backup/v1",
            Some(json!({"destination_filepath": refused})),
        )
        .await;
        assert_eq!(
            v["errors"],
            json!([format!("error writing to {}\n", refused.as_str().unwrap())]),
            "{v}"
        );
    }
    assert!(!std::path::Path::new("alice.backup").exists());
    let backup = alice.files.join("alice.backup");
    let saved = call(
        &alice,
        "POST",
        "/identity/backup/v1",
        Some(json!({"destination_filepath": backup})),
    )
    .await;
    assert_eq!(
        saved["result"]["local_path"],
        backup.to_str().unwrap(),
        "{saved}"
    );
    assert!(std::fs::read_to_string(&backup).unwrap().contains("seed "));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the key readable by the node's user alone"
        );
    }
    let recover = call(
        &alice,
        "POST",
        "/identity/recover/v1",
        Some(json!({"private_key_source": "x"})),
    )
    .await;
    assert_eq!(recover["errors"], json!(["local identity already exist"]));
    assert_eq!(
        call(&alice, "GET", "/automat/list/v1", None).await["status"],
        "OK"
    );

    let removed = call(
        &alice,
        "DELETE",
        "/friend/remove/v1",
        Some(json!({"global_id": bob_gid})),
    )
    .await;
    assert_eq!(removed["message"], "friend has been removed");
    assert_eq!(
        call(&alice, "GET", "/fr/l", None).await["result"],
        json!([])
    );
}

/// Reads frames from `ws` (bounded) until `want` of them match `keep`.
async fn frames(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    want: usize,
    keep: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    while out.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, ws.next())
            .await
            .expect("frames in time")
            .expect("an open socket")
            .unwrap();
        if let Message::Text(text) = frame {
            let v: Value = serde_json::from_str(&text).unwrap();
            assert!(v.get("payload").is_some(), "every frame has a payload: {v}");
            if keep(&v) {
                out.push(v);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_long_polls_shares_and_groups_over_rest() {
    let first = TestNode::start_with(&format!("{}{WS}", net_config(None))).await;
    let boot = p2p_addr(&first).await;
    let bob = TestNode::start_with(&format!("{}{WS}", net_config(Some(&boot)))).await;
    // A third node, so that Alice's files have somewhere to be placed.
    let _third = TestNode::start_with(&format!("{}{WS}", net_config(Some(&boot)))).await;
    wait_peers(&first, 2).await;
    wait_peers(&bob, 2).await;
    let alice = first;
    let gid = |v: Value| v["result"]["global_id"].as_str().unwrap().to_owned();
    let alice_gid = gid(call(&alice, "GET", "/i/g", None).await);
    let bob_gid = gid(call(&bob, "GET", "/i/g", None).await);

    // Bob polls; Alice writes; the poll answers with it.
    let poll = spawn_get(&bob, "/message/receive/c1/v1?polling_timeout=20");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = call(
        &alice,
        "POST",
        "/msg/s",
        Some(json!({"global_id": bob_gid, "data": {"message": "polled"}})),
    )
    .await;
    assert_eq!(sent["status"], "OK", "{sent}");
    let got = poll.await.unwrap();
    let m = &got["result"][0];
    assert_eq!(
        (
            m["data"]["message"].as_str(),
            m["dir"].as_str(),
            m["sender"].as_str()
        ),
        (
            Some("polled"),
            Some("incoming"),
            Some(format!("master${alice_gid}").as_str())
        ),
        "{got}"
    );
    let quiet = call(
        &bob,
        "GET",
        "/message/receive/c2/v1?polling_timeout=1",
        None,
    )
    .await;
    assert_eq!(quiet["result"], json!([]));

    // History and conversations, on both sides.
    let history = call(
        &alice,
        "GET",
        &format!("/message/history/v1?id={bob_gid}"),
        None,
    )
    .await;
    let doc = &history["result"][0]["doc"];
    assert_eq!(
        (
            doc["direction"].as_str(),
            doc["payload"]["data"]["message"].as_str()
        ),
        (Some("out"), Some("polled")),
        "{history}"
    );
    let none = call(&alice, "GET", "/message/history/v1", None).await;
    assert_eq!(
        none["errors"],
        json!(["mandatory url query argument missed: id"])
    );
    let conversations = call(&bob, "GET", "/msg/c", None).await;
    let c = &conversations["result"][0];
    assert_eq!(
        (c["type"].as_str(), c["key_id"].as_str()),
        (
            Some("private_message"),
            Some(format!("master${alice_gid}").as_str())
        ),
        "{conversations}"
    );

    // A share made, filled and granted through BitDust's calls.
    let made = call(
        &alice,
        "POST",
        "/share/create/v1",
        Some(json!({"label": "docs"})),
    )
    .await;
    let key_id = made["result"]["key_id"].as_str().unwrap().to_owned();
    assert!(
        key_id.starts_with("share_") && key_id.ends_with(&format!("${alice_gid}")),
        "{made}"
    );
    assert_eq!(
        made["message"],
        format!("new share {key_id} created successfully")
    );
    let share = key_id[6..38].to_owned();
    let (_, own) = alice.get_json(&format!("/shares/{share}")).await;
    let folder = own["share"]["folder"].as_str().unwrap().to_owned();
    let (status, entry) = alice
        .upload(
            "a.txt",
            b"shared through bitdust".to_vec(),
            &format!("&parent={folder}"),
        )
        .await;
    assert_eq!(status, 201, "{entry}");
    let granted = call(
        &alice,
        "PUT",
        "/share/grant/v1",
        Some(json!({"key_id": key_id, "trusted_user_id": bob_gid})),
    )
    .await;
    assert_eq!(granted["message"], "access granted", "{granted}");
    let listed = call(&bob, "GET", "/share/list/v1", None).await;
    assert_eq!(
        (
            listed["result"][0]["key_id"].as_str(),
            listed["result"][0]["creator"].as_str()
        ),
        (Some(key_id.as_str()), Some(alice_gid.as_str())),
        "{listed}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let opened = call(
            &bob,
            "POST",
            "/share/open/v1",
            Some(json!({"key_id": key_id})),
        )
        .await;
        if opened["status"] == "OK" {
            assert_eq!(opened["result"]["state"], "CONNECTED");
            assert_eq!(
                opened["message"],
                format!("share {key_id} opened successfully")
            );
            let (_, files) = bob.get_json(&format!("/shares/{share}")).await;
            if files["files"].as_array().is_some_and(|f| f.len() == 1) {
                break;
            }
        }
        assert!(Instant::now() < deadline, "never opened: {opened}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let bad = call(&bob, "GET", "/share/info/v1?key_id=nope", None).await;
    assert_eq!(bad["errors"], json!(["invalid share id"]));

    // The share as a BitDust catalog: listed on both sides, and Bob
    // downloads its file (read from Alice's suppliers) to his disk.
    let mine = call(&alice, "GET", &format!("/f/l?key_id={key_id}"), None).await;
    let theirs = call(&bob, "GET", &format!("/file/list/v1?key_id={key_id}"), None).await;
    for listing in [&mine, &theirs] {
        let item = &listing["result"][0];
        assert_eq!(
            (
                item["remote_path"].as_str(),
                item["type"].as_str(),
                item["size"].as_u64(),
                item["customer"].as_str(),
                item["versions"].as_array().map(Vec::len),
            ),
            (
                Some(format!("{key_id}:a.txt").as_str()),
                Some("file"),
                Some(22),
                Some(alice_gid.as_str()),
                Some(1)
            ),
            "{listing}"
        );
    }
    let dest = bob.files.join("from-alice");
    std::fs::create_dir(&dest).unwrap();
    let got = call(
        &bob,
        "POST",
        "/file/download/start/v1",
        Some(json!({
            "remote_path": format!("{key_id}:a.txt"),
            "destination_folder": dest,
            "wait_result": "1",
        })),
    )
    .await;
    assert_eq!(got["result"]["downloaded"], true, "{got}");
    assert_eq!(
        std::fs::read(dest.join("a.txt")).unwrap(),
        b"shared through bitdust"
    );
    let refused = call(
        &bob,
        "POST",
        "/file/create/v1",
        Some(json!({"remote_path": format!("{key_id}:b.txt")})),
    )
    .await;
    assert_eq!(refused["status"], "ERROR", "{refused}");

    // A group: made, shared, written to.
    let group = call(
        &alice,
        "POST",
        "/group/create/v1",
        Some(json!({"label": "friends"})),
    )
    .await;
    let group_key_id = group["result"]["group_key_id"].as_str().unwrap().to_owned();
    assert_eq!(
        group["message"],
        format!("new group {group_key_id} created successfully")
    );
    let shared = call(
        &alice,
        "PUT",
        "/group/share/v1",
        Some(json!({"group_key_id": group_key_id, "trusted_user_id": bob_gid})),
    )
    .await;
    assert_eq!(shared["message"], "access granted", "{shared}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let groups = call(&bob, "GET", "/group/list/v1", None).await;
        if groups["result"].as_array().is_some_and(|g| g.len() == 1) {
            let g = &groups["result"][0];
            assert_eq!(
                (
                    g["group_key_id"].as_str(),
                    g["state"].as_str(),
                    g["label"].as_str()
                ),
                (
                    Some(group_key_id.as_str()),
                    Some("CONNECTED"),
                    Some("friends")
                )
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Bob never got the group: {groups}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await; // the topic's subscriptions go round
    let said = call(
        &alice,
        "POST",
        "/message/send/group/v1",
        Some(json!({"group_key_id": group_key_id, "data": {"message": "hi group"}})),
    )
    .await;
    assert_eq!(said["message"], "group message sent", "{said}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let h = call(
            &bob,
            "GET",
            &format!("/message/history/v1?id={group_key_id}&message_type=group_message"),
            None,
        )
        .await;
        if let Some(doc) = h["result"]
            .as_array()
            .and_then(|r| r.first())
            .map(|d| d["doc"].clone())
        {
            assert_eq!(
                (
                    doc["payload"]["msg_type"].as_str(),
                    doc["payload"]["data"]["message"].as_str()
                ),
                (Some("group_message"), Some("hi group")),
                "{h}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Bob never got the group message: {h}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left = call(
        &bob,
        "DELETE",
        "/group/leave/v1",
        Some(json!({"group_key_id": group_key_id})),
    )
    .await;
    assert_eq!(
        (left["message"].as_str(), left["result"]["state"].as_str()),
        (Some("group deactivated"), Some("CLOSED")),
        "{left}"
    );
    let bad = call(&bob, "GET", "/group/info/v1?group_key_id=nope", None).await;
    assert_eq!(bad["errors"], json!(["invalid group id"]));
}

/// A node started from a symlink named `BitDust-node`, killed when
/// dropped.
struct Named(std::process::Child);

impl Drop for Named {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// BitDust's own command-line client (PyPI `bitdust` 0.1.24.265, in the
/// venv `scripts/test.sh` makes) drives the real node. That client finds
/// a running BitDust by its process name and calls the WebSocket at
/// `ws://localhost:8280` with the secret from `~/.bitdust/apisecret`; so
/// the node runs as `BitDust-node` (a symlink to cairn) with the BitDust
/// WebSocket on 8280, and the client's HOME holds the node's secret. The
/// only test on that port.
#[tokio::test]
async fn bitdust_s_own_client_drives_the_node() {
    let client = std::env::var("CAIRN_BITDUST_BIN").expect(
        "BitDust's client: run scripts/test.sh, which installs it (target/bitdust-venv), \
         or set CAIRN_BITDUST_BIN to its `bitdust`",
    );
    let tmp = tempfile::tempdir().unwrap();
    let link = tmp.path().join("BitDust-node");
    std::os::unix::fs::symlink(common::BIN, &link).unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let home = tmp.path().join("home");
    // The node writes its secret where BitDust's client reads it.
    std::fs::write(
        data.join("config.toml"),
        format!(
            "listen = \"127.0.0.1:0\"\nlog = \"warn\"\n[network]\nenabled = false\n\
             [layers]\ncacaoweb = []\npowder = []\nbitdust = [\"127.0.0.1:8280\"]\n\
             [torrents]\nenabled = false\n[bitdust]\nsecret_file = \"{}/.bitdust/apisecret\"\n",
            home.display()
        ),
    )
    .unwrap();
    let _node = Named(
        std::process::Command::new(&link)
            .arg("--data-dir")
            .arg(&data)
            .arg("node")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    common::wait_for_file(&data.join("api.addr"));
    assert_eq!(
        common::wait_for_file(&data.join("bitdust.addr")),
        "127.0.0.1:8280"
    );
    assert_eq!(
        std::fs::read_to_string(home.join(".bitdust/apisecret")).unwrap(),
        std::fs::read_to_string(data.join("apisecret"))
            .unwrap()
            .trim()
    );
    let bitdust = |args: &[&str]| {
        let out = std::process::Command::new(&client)
            .args(args)
            .env("HOME", &home)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };

    let (_, health) = bitdust(&["api", "process_health"]);
    assert!(health.contains("\"status\": \"OK\""), "{health}");
    let (_, me) = bitdust(&["api", "identity_get"]);
    assert!(me.contains("\"global_id\": \"cairn@"), "{me}");
    let (_, made) = bitdust(&["api", "key_create", "key_alias=cats"]);
    assert!(
        made.contains("new private key cats was generated successfully"),
        "{made}"
    );
    let (_, keys) = bitdust(&["key", "list"]);
    assert!(
        keys.contains("master$cairn@") && keys.contains("cats$cairn@"),
        "{keys}"
    );
    let (_, missing) = bitdust(&["api", "key_get", "key_id=nothere"]);
    assert!(missing.contains("is not registered"), "{missing}");
    let (_, group) = bitdust(&["api", "group_create", "label=friends"]);
    assert!(group.contains("created successfully"), "{group}");
    let (_, groups) = bitdust(&["api", "groups_list"]);
    assert!(groups.contains("\"label\": \"friends\""), "{groups}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_calls_answer_from_the_node_s_state() {
    let first = TestNode::start_with(&format!("{}{WS}", net_config(None))).await;
    let boot = p2p_addr(&first).await;
    let second = TestNode::start_with(&format!("{}{WS}", net_config(Some(&boot)))).await;
    let third = TestNode::start_with(&format!("{}{WS}", net_config(Some(&boot)))).await;
    for n in [&first, &second, &third] {
        wait_peers(n, 2).await;
    }
    let node = first;
    // A file placed: its suppliers are BitDust's suppliers, and it is
    // their customer.
    let (status, entry) = node.upload("f.bin", common::data(100_000, 7), "").await;
    assert_eq!(status, 201);
    let job = common::net::placed(&node, entry["blob"].as_str().unwrap()).await;
    assert_eq!(job["state"], "done", "{job}");
    let suppliers = call(&node, "GET", "/supplier/list/v1", None).await;
    let list = suppliers["result"].as_array().unwrap();
    assert_eq!(list.len(), 2, "1+1 on two peers: {suppliers}");
    assert!(list.iter().all(|s| s["supplier_state"] == "CONNECTED"
        && s["global_id"].as_str().unwrap().starts_with("cairn@")));
    let node_gid = call(&node, "GET", "/i/g", None).await["result"]["global_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut customers_seen = 0;
    for other in [&second, &third] {
        let c = call(other, "GET", "/cu/l", None).await;
        customers_seen += c["result"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["global_id"] == node_gid.as_str())
            .count();
        let donated = call(other, "GET", "/space/donated/v1", None).await;
        assert!(
            donated["result"]["donated"].as_u64().unwrap() > 0,
            "{donated}"
        );
        assert!(
            donated["result"]["used_percent"]
                .as_str()
                .unwrap()
                .ends_with('%')
        );
    }
    assert_eq!(customers_seen, 2, "each supplier lists it as a customer");
    let status = call(&node, "GET", "/network/info/v1", None).await;
    assert_eq!(status["result"]["global_id"], node_gid.as_str());
    assert_eq!(status["result"]["suppliers"]["connected"], 2, "{status}");
    let short = call(&node, "GET", "/nw/st", None).await;
    assert!(
        short["result"].get("suppliers").is_none(),
        "flags default off: {short}"
    );
    let connected = call(&node, "GET", "/network/connected/v1", None).await;
    assert_eq!(connected["result"]["service_network"], "started");
    let local = call(&node, "GET", "/sp/l", None).await;
    assert!(
        local["result"]["disktotal"].as_u64().unwrap() > 0,
        "{local}"
    );

    // The DHT: a value written on one node is read on another.
    let set = call(
        &node,
        "POST",
        "/dht/value/set/v1",
        Some(json!({"key": "abcd", "value": {"text": "A-B-C-D"}})),
    )
    .await;
    assert_eq!(set["result"]["write"], "success", "{set}");
    let got = call(&second, "GET", "/dht/value/get/v1?key=abcd", None).await;
    assert_eq!(
        (
            got["result"]["read"].as_str(),
            got["result"]["value"].clone()
        ),
        (Some("success"), json!({"text": "A-B-C-D"})),
        "{got}"
    );
    let missing = call(&second, "GET", "/d/v/g?key=nothing-here", None).await;
    assert_eq!(missing["result"]["read"], "failed");

    // Events: sent, counted, and handed to a consumer that listens.
    let first_call = spawn_get(&node, "/event/listen/me/v1");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = call(
        &node,
        "POST",
        "/event/send/client-event-abc/v1",
        Some(json!({"k": "v"})),
    )
    .await;
    assert_eq!(sent["result"]["event_id"], "client-event-abc", "{sent}");
    // The node's own events (a peer connected) may come first: the
    // consumer listens again until the one sent is there.
    let mut heard = first_call.await.unwrap();
    for _ in 0..10 {
        if heard["result"]
            .as_array()
            .is_some_and(|r| r.iter().any(|e| e["id"] == "client-event-abc"))
        {
            break;
        }
        heard = spawn_get(&node, "/event/listen/me/v1").await.unwrap();
    }
    let e = heard["result"]
        .as_array()
        .and_then(|r| r.iter().find(|e| e["id"] == "client-event-abc"))
        .unwrap_or_else(|| panic!("never heard: {heard}"));
    assert_eq!(e["data"], json!({"k": "v"}), "{heard}");
    let counts = call(&node, "GET", "/event/list/v1", None).await;
    assert_eq!(counts["result"]["client-event-abc"], 1, "{counts}");
    assert_eq!(counts["result"]["identity-rotated"], 0);

    let synced = call(&node, "GET", "/file/sync/v1", None).await;
    assert_eq!(
        synced["result"],
        json!(["the main files sync loop has been restarted"]),
        "{synced}"
    );

    // A peer going away is told on the WebSocket.
    let third_gid = call(&third, "GET", "/i/g", None).await["result"]["global_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ws_addr = std::fs::read_to_string(node.dir.join("bitdust.addr")).unwrap();
    let url = format!("ws://{}/?api_secret={}", ws_addr.trim(), node.secret);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut third = third;
    third.terminate();
    let gone = frames(&mut ws, 1, |f| {
        f["payload"]["event_id"] == "node-disconnected"
            && f["payload"]["data"]["global_id"] == third_gid.as_str()
    })
    .await;
    assert_eq!(gone[0]["payload"]["data"]["new_state"], "OFFLINE");
}

/// Polls `files_uploads` until nothing runs (bounded).
async fn uploads_done(node: &TestNode) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = call(node, "GET", "/file/upload/v1", None).await;
        if v["result"]["running"].as_array().is_some_and(Vec::is_empty) {
            assert_eq!(v["result"]["pending"], json!([]));
            return;
        }
        assert!(Instant::now() < deadline, "uploads never ended: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_catalog_in_bitdust_s_terms() {
    let node = TestNode::start_with(WS).await;
    let gid = call(&node, "GET", "/i/g", None).await["result"]["global_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let master = format!("master${gid}");

    // Registered first: missing folders are made, the file has no
    // version yet.
    let made = call(
        &node,
        "POST",
        "/file/create/v1",
        Some(json!({"remote_path": "cats/pussy.png"})),
    )
    .await;
    let r = &made["result"];
    let path_id = r["path_id"].as_str().unwrap().to_owned();
    assert_eq!(path_id.split('/').count(), 2, "{made}");
    assert!(path_id.split('/').all(|n| n.parse::<u64>().is_ok()));
    assert_eq!(
        made["message"],
        format!("new file created in {master}:{path_id} successfully")
    );
    assert_eq!(
        (
            r["remote_path"].as_str(),
            r["global_id"].as_str(),
            r["key_id"].as_str(),
            r["created"].as_bool(),
            r["type"].as_str(),
        ),
        (
            Some(format!("{master}:cats/pussy.png").as_str()),
            Some(format!("{master}:{path_id}").as_str()),
            Some(master.as_str()),
            Some(true),
            Some("file")
        )
    );
    assert!(r["customer"].as_str().unwrap().starts_with("http://"));
    let again = call(
        &node,
        "POST",
        "/f/c",
        Some(json!({"remote_path": "cats/pussy.png"})),
    )
    .await;
    assert_eq!(
        again["errors"],
        json!([format!(
            "remote path cats/pussy.png already exists in the catalog: {path_id}"
        )])
    );
    let folder = call(
        &node,
        "POST",
        "/v1/file/create",
        Some(json!({"remote_path": "movies", "as_folder": "true"})),
    )
    .await;
    assert_eq!(folder["result"]["type"], "dir", "{folder}");

    // Exists, by path and by path id; listed (REST: not recursive).
    let exists = call(
        &node,
        "GET",
        "/file/exists/v1?remote_path=cats/pussy.png",
        None,
    )
    .await;
    assert_eq!(exists["result"], json!({"exist": true, "path_id": path_id}));
    let by_id = call(
        &node,
        "GET",
        &format!("/f/e?remote_path={master}:{path_id}"),
        None,
    )
    .await;
    assert_eq!(by_id["result"]["exist"], true, "{by_id}");
    let absent = call(&node, "GET", "/f/e?remote_path=dogs/rex.png", None).await;
    assert_eq!(
        (absent["result"].clone(), absent["message"].as_str()),
        (
            json!({"exist": false, "path_id": null}),
            Some("path dogs/rex.png was not found in the catalog")
        )
    );
    let top = call(&node, "GET", "/file/list/v1", None).await;
    let names: Vec<(&str, &str, Value)> = top["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["path"].as_str().unwrap(),
                i["type"].as_str().unwrap(),
                i["childs"].clone(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![("cats", "dir", json!(1)), ("movies", "dir", json!(0))],
        "{top}"
    );
    assert!(top["revision"].as_i64().unwrap() > 0, "{top}");
    let all = call(&node, "GET", "/f/l?recursive=1", None).await;
    let file = all["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"] == "cats/pussy.png")
        .unwrap()
        .clone();
    assert_eq!(
        (
            file["versions"].clone(),
            file["childs"].clone(),
            file["latest"].clone()
        ),
        (json!([]), json!(false), json!("")),
        "registered, not uploaded: {file}"
    );

    // Uploaded from a local file: a real import job, the same path id.
    let data = common::data(3 << 20, 11);
    std::fs::write(node.files.join("pussy.png"), &data).unwrap();
    let started = call(
        &node,
        "POST",
        "/file/upload/start/v1",
        Some(json!({
            "local_path": node.files.join("pussy.png"),
            "remote_path": "cats/pussy.png",
        })),
    )
    .await;
    assert_eq!(
        started["result"]["path_id"].as_str(),
        Some(path_id.as_str()),
        "{started}"
    );
    assert!(
        started["message"]
            .as_str()
            .unwrap()
            .starts_with("uploading task for cats/pussy.png started, local path is "),
        "{started}"
    );
    uploads_done(&node).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let info = loop {
        let info = call(
            &node,
            "GET",
            "/file/info/v1?remote_path=cats/pussy.png",
            None,
        )
        .await;
        if info["result"]["versions"]
            .as_array()
            .is_some_and(|v| v.len() == 1)
        {
            break info;
        }
        assert!(Instant::now() < deadline, "no version: {info}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let v = &info["result"]["versions"][0];
    let backup_id = v["backup_id"].as_str().unwrap().to_owned();
    let version = backup_id.rsplit('/').next().unwrap().to_owned();
    assert!(
        backup_id.starts_with(&format!("{master}:{path_id}/F"))
            && (version.ends_with("AM") || version.ends_with("PM")),
        "{info}"
    );
    assert_eq!(
        (v["size"].as_u64(), info["result"]["size"].as_u64()),
        (Some(3 << 20), Some(3 << 20))
    );
    assert!(v["label"].as_str().unwrap().len() == 22, "{v}");
    assert_eq!(info["result"]["latest"].as_str().unwrap().len(), 19);

    // Downloaded to a folder: waited for, then by version id in the
    // background.
    let out = node.files.join("out");
    std::fs::create_dir(&out).unwrap();
    let got = call(
        &node,
        "POST",
        "/file/download/start/v1",
        Some(json!({
            "remote_path": "cats/pussy.png",
            "destination_folder": out,
            "wait_result": 1,
        })),
    )
    .await;
    assert_eq!(
        (
            got["result"]["downloaded"].as_bool(),
            got["result"]["backup_id"].as_str()
        ),
        (Some(true), Some(backup_id.as_str())),
        "{got}"
    );
    assert_eq!(std::fs::read(out.join("cats/pussy.png")).unwrap(), data);
    let out2 = node.files.join("out2");
    std::fs::create_dir(&out2).unwrap();
    let got = call(
        &node,
        "POST",
        "/f/d/o",
        Some(json!({
            "remote_path": format!("{master}:{path_id}/{version}"),
            "destination_folder": out2,
        })),
    )
    .await;
    assert_eq!(got["result"]["downloaded"], false, "{got}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = call(&node, "GET", "/file/download/v1", None).await;
        let jobs = list["result"].as_array().unwrap();
        // Running ones are neither done nor aborted.
        if jobs
            .iter()
            .all(|j| j["done"] == true || j["aborted"] == true)
        {
            break;
        }
        assert!(Instant::now() < deadline, "{list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The catalog path, for a path id asked.
    let written = out2.join("cats/pussy.png");
    assert_eq!(std::fs::read(written).unwrap(), data);
    assert!(
        std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().ends_with(".part")),
        "no temporary file left"
    );

    // What cannot be done is told.
    for (body, error) in [
        (
            json!({"remote_path": "cats/pussy.png", "destination_folder": "/"}),
            "failed, result is",
        ),
        (
            json!({"remote_path": "movies"}),
            "no remotely stored versions found",
        ),
        (
            json!({"remote_path": format!("{master}:{path_id}/F20000101120000AM")}),
            "was not found in the catalog",
        ),
    ] {
        let v = call(&node, "POST", "/file/download/start/v1", Some(body.clone())).await;
        assert!(
            v["status"] == "ERROR" && v["errors"][0].as_str().unwrap().contains(error),
            "{body}: {v}"
        );
    }
    for (body, error) in [
        (
            json!({"local_path": node.files.join("pussy.png"), "remote_path": "dogs/rex.png"}),
            "path dogs/rex.png was not registered yet".to_owned(),
        ),
        (
            json!({"local_path": node.files.join("nothing"), "remote_path": "cats/pussy.png"}),
            format!(
                "local file or folder {} not exist",
                node.files.join("nothing").display()
            ),
        ),
        (
            json!({"local_path": "x", "remote_path": "bob@server-b.com:x"}),
            "invalid \"remote_path\" format".to_owned(),
        ),
        (
            json!({"local_path": "x", "remote_path": format!("abc${gid}:x")}),
            format!("key abc${gid} holds no catalog on this node"),
        ),
    ] {
        let v = call(&node, "POST", "/f/u/o", Some(body.clone())).await;
        assert_eq!(v["errors"], json!([error]), "{body}: {v}");
    }
    let gone = call(
        &node,
        "GET",
        &format!("/f/e?remote_path={master}:1/2"),
        None,
    )
    .await;
    assert_eq!(
        gone["message"], "item 1/2 was not found in the catalog",
        "{gone}"
    );
    let wrong_type = call(
        &node,
        "GET",
        "/file/list/v1?remote_path=%5B1%2C2%5D&recursive=maybe",
        None,
    )
    .await;
    assert_eq!(wrong_type["status"], "ERROR", "{wrong_type}");
    let explore = call(&node, "GET", "/f/x?local_path=/nowhere/at/all", None).await;
    assert_eq!(explore["errors"], json!(["local path not exist"]));
    let synced = call(&node, "GET", "/f/s", None).await;
    assert_eq!(
        synced["result"],
        json!(["the main files sync loop has been restarted"]),
        "{synced}"
    );

    // Deleted: gone from the catalog, and from the node's listing.
    let deleted = call(
        &node,
        "DELETE",
        "/file/delete/v1",
        Some(json!({"remote_path": "cats/pussy.png"})),
    )
    .await;
    assert_eq!(
        deleted["message"],
        format!("item {master}:{path_id} was deleted from remote suppliers"),
        "{deleted}"
    );
    let after = call(&node, "GET", "/f/e?remote_path=cats/pussy.png", None).await;
    assert_eq!(after["result"]["exist"], false);
    let (_, listing) = node.get_json("/entries").await;
    assert!(!listing.to_string().contains("pussy.png"), "{listing}");

    // The node's own door to the same capability: cairn export.
    let (status, entry) = node.upload("e.bin", common::data(50_000, 3), "").await;
    assert_eq!(status, 201);
    let out = node.cli(&[
        "export",
        entry["id"].as_str().unwrap(),
        "--to",
        node.files.to_str().unwrap(),
        "--path",
        "sub/e.bin",
    ]);
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.trim().ends_with("sub/e.bin"), "{printed}");
    assert_eq!(
        std::fs::read(node.files.join("sub/e.bin")).unwrap(),
        common::data(50_000, 3)
    );
    let refused = node.cli(&["export", entry["id"].as_str().unwrap(), "--to", "/etc"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("import roots"),
        "{refused:?}"
    );
    let default = node.cli(&["export", entry["id"].as_str().unwrap()]);
    assert!(default.status.success(), "{default:?}");
    let path = String::from_utf8(default.stdout).unwrap();
    assert!(
        path.trim()
            .starts_with(node.dir.join("downloads").to_str().unwrap()),
        "{path}"
    );
    assert_eq!(std::fs::read(path.trim()).unwrap(), common::data(50_000, 3));
}

/// A BitDust GET to `node` that waits (a long poll) in a task of its own;
/// answers its JSON.
fn spawn_get(node: &TestNode, path: &str) -> tokio::task::JoinHandle<Value> {
    let (url, secret, http) = (node.root_url(path), node.secret.clone(), node.http.clone());
    tokio::spawn(async move {
        http.get(url)
            .header("api_secret", secret)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    })
}

#[tokio::test]
async fn models_events_and_a_restart_over_the_websocket() {
    let mut node = TestNode::start_with(WS).await;
    let ws_addr = std::fs::read_to_string(node.dir.join("bitdust.addr")).unwrap();
    let url = format!("ws://{}/?api_secret={}", ws_addr.trim(), node.secret);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let api_call = |method: &str, kwargs: Value, id: u32| {
        Message::text(
            json!({"command": "api_call", "method": method, "kwargs": kwargs, "call_id": id})
                .to_string(),
        )
    };

    // No model frames until a model is asked for.
    let made = call(
        &node,
        "POST",
        "/file/create/v1",
        Some(json!({"remote_path": "before.txt"})),
    )
    .await;
    assert_eq!(made["status"], "OK", "{made}");
    ws.send(api_call(
        "enable_model_listener",
        json!({"model_name": "private_file", "request_all": true}),
        1,
    ))
    .await
    .unwrap();
    let got = frames(&mut ws, 2, |f| {
        f["type"] == "model" || f["type"] == "api_call"
    })
    .await;
    assert!(
        got.iter()
            .all(|f| f["type"] != "model" || f["payload"]["name"] == "private_file"),
        "{got:?}"
    );
    let snapshot = got.iter().find(|f| f["type"] == "model").unwrap();
    assert_eq!(
        snapshot["payload"]["data"]["remote_path"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next(),
        Some("before.txt"),
        "{snapshot}"
    );
    // Live: a file registered and uploaded comes as snapshots, its upload
    // as backup-started and backup-done.
    call(
        &node,
        "POST",
        "/file/create/v1",
        Some(json!({"remote_path": "live.bin"})),
    )
    .await;
    std::fs::write(node.files.join("live.bin"), common::data(200_000, 5)).unwrap();
    let started = call(
        &node,
        "POST",
        "/file/upload/start/v1",
        Some(json!({"local_path": node.files.join("live.bin"), "remote_path": "live.bin"})),
    )
    .await;
    assert_eq!(started["status"], "OK", "{started}");
    let seen = frames(&mut ws, 1, |f| {
        f["type"] == "event" && f["payload"]["event_id"] == "backup-done"
    })
    .await;
    assert!(
        seen[0]["payload"]["data"]["backup_id"]
            .as_str()
            .unwrap()
            .contains(':'),
        "{seen:?}"
    );
    let live = frames(&mut ws, 1, |f| {
        f["type"] == "model"
            && f["payload"]["data"]["remote_path"]
                .as_str()
                .is_some_and(|p| p.ends_with(":live.bin"))
            && f["payload"]["data"]["versions"]
                .as_array()
                .is_some_and(|v| v.len() == 1)
    })
    .await;
    assert_eq!(live[0]["payload"]["name"], "private_file");
    // A download: restore-started, restore-done with where it went.
    let out = node.files.join("restored");
    std::fs::create_dir(&out).unwrap();
    call(
        &node,
        "POST",
        "/file/download/start/v1",
        Some(json!({"remote_path": "live.bin", "destination_folder": out})),
    )
    .await;
    let done = frames(&mut ws, 1, |f| f["payload"]["event_id"] == "restore-done").await;
    assert_eq!(
        done[0]["payload"]["data"]["output_location"],
        json!(out.join("live.bin")),
        "{done:?}"
    );
    // Keys as models too; disabled, nothing more comes.
    ws.send(api_call(
        "enable_model_listener",
        json!({"model_name": "key"}),
        2,
    ))
    .await
    .unwrap();
    frames(&mut ws, 1, |f| f["payload"]["call_id"] == 2).await;
    ws.send(api_call(
        "key_create",
        json!({"key_alias": "cats", "key_size": 1024}),
        3,
    ))
    .await
    .unwrap();
    let key = frames(&mut ws, 2, |f| {
        f["payload"]["name"] == "key" || f["payload"]["event_id"] == "key-generated"
    })
    .await;
    assert!(
        key.iter().all(|f| f["payload"]["id"] == json!(null)
            || f["payload"]["id"].as_str().unwrap().starts_with("cats$")),
        "{key:?}"
    );
    ws.send(api_call(
        "disable_model_listener",
        json!({"model_name": "*"}),
        4,
    ))
    .await
    .unwrap();
    frames(&mut ws, 1, |f| f["payload"]["call_id"] == 4).await;
    let unknown_model = call(&node, "GET", "/process/health/v1", None).await;
    assert_eq!(unknown_model["status"], "OK");

    // A service stopped and started (cairn's groups, BitDust's private
    // groups): told stopped, then started.
    ws.send(api_call(
        "enable_model_listener",
        json!({"model_name": "service"}),
        5,
    ))
    .await
    .unwrap();
    frames(&mut ws, 1, |f| f["payload"]["call_id"] == 5).await;
    let (status, _) = node
        .send_json(reqwest::Method::POST, "/services/groups/stop", json!({}))
        .await;
    assert_eq!(status, 200);
    let told = frames(&mut ws, 2, |f| {
        (f["payload"]["event_id"] == "service-stopped"
            && f["payload"]["data"]["name"] == "service_private_groups")
            || (f["type"] == "model"
                && f["payload"]["name"] == "service"
                && f["payload"]["id"] == "service_private_groups")
    })
    .await;
    assert!(
        told.iter()
            .any(|f| f["payload"]["data"]["event"] == "stopped"),
        "{told:?}"
    );
    let (status, _) = node
        .send_json(reqwest::Method::POST, "/services/groups/start", json!({}))
        .await;
    assert_eq!(status, 200);
    frames(&mut ws, 1, |f| {
        f["payload"]["event_id"] == "service-started"
            && f["payload"]["data"]["name"] == "service_private_groups"
    })
    .await;

    // A restart: the same process, a new listener, everything kept.
    let pid = node.pid();
    let before = std::fs::read_to_string(node.dir.join("api.addr")).unwrap();
    let restarted = call(&node, "GET", "/process/restart/v1", None).await;
    assert_eq!(restarted["result"], json!({"restarted": true}));
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        if let Ok(addr) = std::fs::read_to_string(node.dir.join("api.addr"))
            && addr != before
            && !addr.is_empty()
        {
            break addr;
        }
        assert!(Instant::now() < deadline, "never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    node.addr = after.trim().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = node
            .http
            .get(node.root_url("/p/h"))
            .header("api_secret", &node.secret)
            .send()
            .await;
        if health.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "never answered again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(node.pid(), pid, "the same process");
    let still = call(&node, "GET", "/f/e?remote_path=live.bin", None).await;
    assert_eq!(still["result"]["exist"], true, "{still}");
    // The nickname record published again: BitDust's rotation.
    let named = call(&node, "POST", "/i/c", Some(json!({"username": "alice"}))).await;
    assert_eq!(named["status"], "OK", "{named}");
    let rotated = call(&node, "PUT", "/identity/rotate/v1", None).await;
    assert_eq!(
        (
            rotated["status"].as_str(),
            rotated["result"]["rotated"].as_bool(),
            rotated["result"]["name"].as_str()
        ),
        (Some("OK"), Some(false), Some("alice")),
        "{rotated}"
    );
    // Erased: the nickname goes (the key stays, and says why).
    let kept = call(
        &node,
        "DELETE",
        "/identity/erase/v1",
        Some(json!({"erase_private_key": true})),
    )
    .await;
    assert!(
        kept["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("the private key is the root"),
        "{kept}"
    );
    let erased = call(&node, "DELETE", "/i/d", Some(json!({}))).await;
    assert_eq!(erased["status"], "OK", "{erased}");
    let (_, me) = node.get_json("/identity").await;
    assert!(me["nickname"].is_null(), "{me}");
    let again = node.cli(&["id", "nick", "bob"]);
    assert!(again.status.success(), "{again:?}");
    let unnick = node.cli(&["id", "unnick"]);
    assert!(unnick.status.success(), "{unnick:?}");
    assert_eq!(
        call(&node, "GET", "/i/g", None).await["result"]["name"],
        "cairn"
    );
}

/// Every curl form of BitDust's API document (bitdust-api.txt), in its
/// order, as written there (the document's `alice@server-a.com` is this
/// node, its files under the test's folder; bob, carol and dave stay
/// strangers).
const SEED_FORMS: &[(&str, &str, Option<&str>)] = &[
    ("GET", "/process/stop/v1", None),
    ("GET", "/process/restart/v1", None),
    ("GET", "/process/health/v1", None),
    ("GET", "/process/info/v1", None),
    ("GET", "/process/debug/v1", None),
    ("GET", "/config/get/v1?key=logs/debug-level", None),
    (
        "POST",
        "/config/set/v1",
        Some(r#"{"key": "logs/debug-level", "value": 12}"#),
    ),
    ("GET", "/config/list/v1", None),
    ("GET", "/config/tree/v1", None),
    ("GET", "/identity/get/v1", None),
    (
        "POST",
        "/identity/create/v1",
        Some(r#"{"username": "alice", "join_network": 1}"#),
    ),
    (
        "POST",
        "/identity/backup/v1",
        Some(r#"{"destination_filepath": "/tmp/alice_backup.key"}"#),
    ),
    (
        "POST",
        "/identity/recover/v1",
        Some(
            r#"{"private_key_source": "http://some-host.com/alice.xml\n-----BEGIN RSA PRIVATE KEY-----\nMIIEogIBAAKC..."}"#,
        ),
    ),
    (
        "DELETE",
        "/identity/erase/v1",
        Some(r#"{"erase_private_key": true}"#),
    ),
    ("PUT", "/identity/rotate/v1", None),
    ("GET", "/identity/cache/list/v1", None),
    (
        "GET",
        "/key/get/v1?key_id=abcd1234$alice@server-a.com",
        None,
    ),
    ("GET", "/key/list/v1?include_private=1", None),
    (
        "POST",
        "/key/create/v1",
        Some(r#"{"key_alias": "abcd1234", "key_size": 1024, "label": "Cats and Dogs"}"#),
    ),
    (
        "POST",
        "/key/label/v1",
        Some(r#"{"key_id": "abcd1234$alice@server-a.com", "label": "Man and Woman"}"#),
    ),
    (
        "DELETE",
        "/key/erase/v1",
        Some(r#"{"key_id": "abcd1234$alice@server-a.com"}"#),
    ),
    (
        "PUT",
        "/key/share/v1",
        Some(
            r#"{"key_id": "abcd1234$alice@server-a.com", "trusted_user_id": "bob@machine-b.net"}"#,
        ),
    ),
    (
        "POST",
        "/key/audit/v1",
        Some(
            r#"{"key_id": "abcd1234$alice@server-a.com", "untrusted_user_id": "carol@computer-c.net", "is_private": 1}"#,
        ),
    ),
    ("GET", "/file/sync/v1", None),
    (
        "GET",
        "/file/list/v1?remote_path=abcd1234$alice@server-a.com:pictures/cats/",
        None,
    ),
    (
        "GET",
        "/file/exists/v1?remote_path=abcd1234$alice@server-a.com:pictures/cats/pussy.png",
        None,
    ),
    (
        "GET",
        "/file/info/v1?remote_path=abcd1234$alice@server-a.com:pictures/dogs/bobby.jpeg",
        None,
    ),
    (
        "POST",
        "/file/create/v1",
        Some(r#"{"remote_path": "abcd1234$alice@server-a.com:movies/travels/safari.mp4"}"#),
    ),
    (
        "DELETE",
        "/file/delete/v1",
        Some(r#"{"remote_path": "abcd1234$alice@server-a.com:cars/ferrari.gif"}"#),
    ),
    ("GET", "/file/upload/v1", None),
    (
        "POST",
        "/file/upload/start/v1",
        Some(
            r#"{"remote_path": "abcd1234$alice@server-a.com:cars/fiat.jpeg", "local_path": "/tmp/fiat.jpeg"}"#,
        ),
    ),
    (
        "POST",
        "/file/upload/stop/v1",
        Some(r#"{"remote_path": "abcd1234$alice@server-a.com:cars/fiat.jpeg"}"#),
    ),
    ("GET", "/file/download/v1", None),
    (
        "POST",
        "/file/download/start/v1",
        Some(
            r#"{"remote_path": "abcd1234$alice@server-a.com:movies/back_to_the_future.mp4", "local_path": "/tmp/films/"}"#,
        ),
    ),
    (
        "POST",
        "/file/download/stop/v1",
        Some(r#"{"remote_path": "abcd1234$alice@server-a.com:cars/fiat.jpeg"}"#),
    ),
    (
        "GET",
        "/file/explore/v1?local_path=/tmp/movies/back_to_the_future.mp4",
        None,
    ),
    ("GET", "/share/list/v1?only_active=1", None),
    (
        "POST",
        "/share/create/v1",
        Some(r#"{"label": "my summer holidays"}"#),
    ),
    (
        "DELETE",
        "/share/delete/v1",
        Some(r#"{"key_id": "share_7e9726e2dccf9ebe6077070e98e78082$alice@server-a.com"}"#),
    ),
    (
        "PUT",
        "/share/grant/v1",
        Some(
            r#"{"key_id": "share_7e9726e2dccf9ebe6077070e98e78082$alice@server-a.com", "trusted_user_id": "bob@machine-b.net"}"#,
        ),
    ),
    (
        "PUT",
        "/share/open/v1",
        Some(r#"{"key_id": "share_7e9726e2dccf9ebe6077070e98e78082$alice@server-a.com"}"#),
    ),
    (
        "PUT",
        "/share/close/v1",
        Some(r#"{"key_id": "share_7e9726e2dccf9ebe6077070e98e78082$alice@server-a.com"}"#),
    ),
    ("GET", "/group/list/v1", None),
    (
        "POST",
        "/group/create/v1",
        Some(r#"{"label": "chat with my friends"}"#),
    ),
    (
        "GET",
        "/group/info/v1?group_key_id=group_95d0fedc46308e2254477fcb96364af9$alice@server-a.com",
        None,
    ),
    (
        "POST",
        "/group/join/v1",
        Some(r#"{"group_key_id": "group_95d0fedc46308e2254477fcb96364af9$alice@server-a.com"}"#),
    ),
    (
        "DELETE",
        "/group/leave/v1",
        Some(r#"{"group_key_id": "group_95d0fedc46308e2254477fcb96364af9$alice@server-a.com"}"#),
    ),
    (
        "PUT",
        "/group/share/v1",
        Some(
            r#"{"group_key_id": "group_95d0fedc46308e2254477fcb96364af9$alice@server-a.com", "trusted_user_id": "bob@machine-b.net"}"#,
        ),
    ),
    ("GET", "/friend/list/v1", None),
    (
        "POST",
        "/friend/add/v1",
        Some(r#"{"trusted_user_id": "dave@device-d.gov", "alias": "SuperMario"}"#),
    ),
    (
        "DELETE",
        "/friend/add/v1",
        Some(r#"{"user_id": "dave@device-d.gov"}"#),
    ),
    ("GET", "/user/ping/v1?user_id=carol@computer-c.net", None),
    ("GET", "/user/status/v1?user_id=carol@computer-c.net", None),
    (
        "GET",
        "/user/status/check/v1?user_id=carol@computer-c.net",
        None,
    ),
    ("GET", "/user/search/v1?nickname=carol", None),
    ("GET", "/user/observe/v1?nickname=carol", None),
    (
        "GET",
        "/message/history/v1?message_type=group_message&recipient_id=group_95d0fedc46308e2254477fcb96364af9$alice@server-a.com",
        None,
    ),
    (
        "GET",
        "/message/conversation/v1?message_types=group_message,private_message",
        None,
    ),
    (
        "POST",
        "/message/send/v1",
        Some(r#"{"recipient_id": "carlos@computer-c.net", "data": {"message": "Hola Amigo!"}}"#),
    ),
    (
        "POST",
        "/message/send/group/v1",
        Some(
            r#"{"group_key_id": "group_95d0fedc46308e2254477fcb96364af9$alice@server-a.com", "data": {"message": "Hola Amigos!"}}"#,
        ),
    ),
    (
        "GET",
        "/message/receive/my-client-group-messages/v1?message_types=group_message",
        None,
    ),
    ("GET", "/supplier/list/v1", None),
    (
        "POST",
        "/supplier/change/v1",
        Some(r#"{"position": 1, "new_supplier_id": "carol@computer-c.net"}"#),
    ),
    ("POST", "/supplier/ping/v1", None),
    (
        "GET",
        "/supplier/list/dht/v1?customer_id=alice@server-a.com",
        None,
    ),
    ("GET", "/customer/list/v1", None),
    (
        "DELETE",
        "/customer/reject/v1",
        Some(r#"{"customer_id": "dave@device-d.gov"}"#),
    ),
    ("POST", "/customer/ping/v1", None),
    ("GET", "/space/donated/v1", None),
    ("GET", "/space/consumed/v1", None),
    ("GET", "/space/local/v1", None),
    ("GET", "/service/list/v1?with_configs=1", None),
    ("GET", "/service/info/service_private_groups/v1", None),
    ("POST", "/service/start/service_supplier/v1", None),
    ("POST", "/service/stop/service_supplier/v1", None),
    ("POST", "/service/restart/service_customer/v1", None),
    ("GET", "/packet/list/v1", None),
    ("GET", "/packet/stats/v1", None),
    ("GET", "/transfer/list/v1", None),
    ("GET", "/connection/list/v1?protocols=tcp,udp,proxy", None),
    ("GET", "/stream/list/v1", None),
    ("GET", "/queue/list/v1", None),
    ("GET", "/queue/consumer/list/v1", None),
    ("GET", "/queue/producer/list/v1", None),
    (
        "POST",
        "/event/send/client-event-abc/v1",
        Some(r#"{"data": {"some_key": "some_value"}}"#),
    ),
    ("GET", "/event/listen/my-client-event-hook/v1", None),
    ("GET", "/network/stun/v1", None),
    ("GET", "/network/reconnect/v1", None),
    ("GET", "/network/connected/v1", None),
    ("GET", "/network/status/v1?cache=1&suppliers=1&dht=1", None),
    ("GET", "/network/configuration/v1", None),
    (
        "GET",
        "/dht/node/find/v1?node_id_64=4271c8f079695d77f80186ac9365e3df949ff74d",
        None,
    ),
    ("GET", "/dht/user/random/v1?count=2&layer_id=2", None),
    ("GET", "/dht/value/get/v1?key=abcd", None),
    (
        "POST",
        "/dht/value/set/v1",
        Some(r#"{"key": "abcd", "value": {"text": "A-B-C-D"}}"#),
    ),
    ("GET", "/dht/db/dump/v1", None),
    ("GET", "/automat/list/v1", None),
];

/// Runs one curl form with the real `curl`: the HTTP status and the body.
fn curl_form(node: &TestNode, verb: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-s", "--max-time", "30", "-X", verb, "-w", "\n%{http_code}"])
        .args(["-H", &format!("api_secret:{}", node.secret)])
        .arg(node.root_url(path));
    if let Some(body) = body {
        cmd.args(["-d", body]);
    }
    let out = cmd.output().expect("curl runs");
    let text = String::from_utf8(out.stdout).unwrap();
    let (json, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    let v = serde_json::from_str(json).unwrap_or_else(|_| json!({"not json": json}));
    (code.parse().unwrap_or(0), v)
}

#[tokio::test]
async fn every_curl_form_of_the_seed_is_answered() {
    let mut node = TestNode::start_with(WS).await;
    let me = call(&node, "GET", "/i/g", None).await["result"]["global_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let films = node.files.join("films");
    std::fs::create_dir(&films).unwrap();
    let backup = node.files.join("alice_backup.key");
    // Each path replaced once: the test's folders may themselves lie
    // under /tmp/, so a replaced path must not be replaced again.
    let local = |s: &str| {
        let s = s
            .replace("alice@server-a.com", &me)
            .replace("/tmp/alice_backup.key", "\u{1}backup")
            .replace("/tmp/films/", "\u{1}films")
            .replace("/tmp/", "\u{1}files/");
        s.replace("\u{1}backup", backup.to_str().unwrap())
            .replace("\u{1}films", films.to_str().unwrap())
            .replace("\u{1}files/", &format!("{}/", node.files.to_str().unwrap()))
    };
    let (mut answered, mut unanswered) = (Vec::new(), Vec::new());
    for (verb, path, body) in SEED_FORMS {
        if path.starts_with("/process/stop/") || path.starts_with("/process/restart/") {
            continue;
        }
        let (path, body) = (local(path), body.map(local));
        // The long polls: a message poll bounded, an event poll answered
        // by an event sent while it waits.
        let path = if path.starts_with("/message/receive/") {
            format!("{path}&polling_timeout=1")
        } else {
            path
        };
        let (code, v) = if path.starts_with("/event/listen/") {
            let (n, p) = ((node.root_url("/"), node.secret.clone()), path.clone());
            let waiting = std::thread::spawn(move || {
                let out = std::process::Command::new("curl")
                    .args([
                        "-s",
                        "--max-time",
                        "30",
                        "-H",
                        &format!("api_secret:{}", n.1),
                    ])
                    .arg(format!("{}{}", n.0.trim_end_matches('/'), p))
                    .output()
                    .unwrap();
                serde_json::from_slice::<Value>(&out.stdout).unwrap()
            });
            tokio::time::sleep(Duration::from_millis(500)).await;
            curl_form(&node, "POST", "/event/send/wake-up/v1", Some("{}"));
            (200, waiting.join().unwrap())
        } else {
            curl_form(&node, verb, &path, body.as_deref())
        };
        let status = v["status"].as_str().unwrap_or("");
        let error = v["errors"][0].as_str().unwrap_or("");
        if code != 200
            || !(status == "OK" || status == "ERROR")
            || error.starts_with("method b'")
            || error == "invalid api method name"
            || error.contains("is not available")
        {
            unanswered.push(format!("{verb} {path}: {code} {v}"));
        }
        answered.push((format!("{verb} {path}"), status.to_owned(), v));
    }
    assert!(unanswered.is_empty(), "not answered: {unanswered:#?}");
    let ok: Vec<&str> = answered
        .iter()
        .filter(|(_, s, _)| s == "OK")
        .map(|(c, _, _)| c.as_str())
        .collect();
    for must in SEED_FORMS_OK {
        assert!(
            ok.iter().any(|c| c.starts_with(must)),
            "{must} answered: {:?}",
            answered.iter().find(|(c, _, _)| c.starts_with(must))
        );
    }
    assert!(backup.exists(), "identity_backup wrote the file");

    // The last two: a restart (the same process comes back), then a stop.
    let before = std::fs::read_to_string(node.dir.join("api.addr")).unwrap();
    let (code, v) = curl_form(&node, "GET", "/process/restart/v1", None);
    assert_eq!(
        (code, v["result"].clone()),
        (200, json!({"restarted": true}))
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(addr) = std::fs::read_to_string(node.dir.join("api.addr"))
            && addr != before
            && !addr.is_empty()
        {
            node.addr = addr.trim().to_owned();
            if curl_form(&node, "GET", "/process/health/v1", None).1["status"] == "OK" {
                break;
            }
        }
        assert!(Instant::now() < deadline, "never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, v) = curl_form(&node, "GET", "/process/stop/v1", None);
    assert_eq!((code, v["status"].as_str()), (200, Some("OK")), "{v}");
    assert_eq!(node.wait_exit(), Some(0), "the node stopped");
}

/// The seed's forms that succeed on a node of its own (the others name
/// strangers, shares and groups that do not exist here, or need peers:
/// they answer BitDust's errors).
const SEED_FORMS_OK: &[&str] = &[
    "GET /process/health/v1",
    "GET /process/info/v1",
    "GET /process/debug/v1",
    "GET /identity/get/v1",
    "POST /identity/backup/v1",
    "GET /identity/cache/list/v1",
    "GET /key/list/v1",
    "POST /key/create/v1",
    "POST /key/label/v1",
    "DELETE /key/erase/v1",
    "GET /file/sync/v1",
    "GET /file/upload/v1",
    "GET /file/download/v1",
    "GET /share/list/v1",
    "POST /share/create/v1",
    "GET /group/list/v1",
    "POST /group/create/v1",
    "GET /friend/list/v1",
    "GET /user/search/v1",
    "GET /message/conversation/v1",
    "GET /supplier/list/v1",
    "GET /customer/list/v1",
    "GET /space/donated/v1",
    "GET /space/consumed/v1",
    "GET /space/local/v1",
    "POST /event/send/",
    "GET /event/listen/",
    "GET /network/connected/v1",
    "GET /network/status/v1",
    "GET /automat/list/v1",
    "POST /supplier/ping/v1",
    "GET /supplier/list/dht/v1",
    "POST /customer/ping/v1",
    "GET /packet/list/v1",
    "GET /packet/stats/v1",
    "GET /transfer/list/v1",
    "GET /connection/list/v1",
    "GET /stream/list/v1",
    "GET /queue/list/v1",
    "GET /queue/consumer/list/v1",
    "GET /queue/producer/list/v1",
    "GET /network/stun/v1",
    "GET /network/reconnect/v1",
    "GET /network/configuration/v1",
    "GET /dht/db/dump/v1",
];

#[tokio::test]
async fn wrong_types_in_every_parameter_get_an_error_envelope() {
    let node = TestNode::start_with(WS).await;
    let long = "x".repeat(20_000);
    let wrong: Vec<Value> = vec![
        json!(123),
        json!(-1.5),
        json!([1, "two"]),
        json!({"a": {"b": 1}}),
        json!(null),
        json!(true),
        json!(long),
        json!("../../etc/passwd"),
        json!("\u{202e}\u{0000}<b>"),
    ];
    let mut calls = 0;
    for (verb, path, body) in SEED_FORMS {
        if path.starts_with("/process/stop/")
            || path.starts_with("/process/restart/")
            || path.starts_with("/event/listen/")
        {
            continue;
        }
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        let route = if route.starts_with("/message/receive/") {
            format!("{route}?polling_timeout=0&")
        } else {
            format!("{route}?")
        };
        // Each query parameter in turn, as each wrong value's text.
        for (i, _) in query.split('&').enumerate().filter(|_| !query.is_empty()) {
            for w in &wrong {
                let text = match w {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let q: Vec<String> = query
                    .split('&')
                    .enumerate()
                    .map(|(j, kv)| {
                        let k = kv.split('=').next().unwrap();
                        if i == j {
                            format!("{k}={}", urlencode(&text))
                        } else {
                            kv.to_owned()
                        }
                    })
                    .collect();
                let url = format!("{route}{}", q.join("&"));
                let (status, _, text) = rest(&node, verb, &url, body.as_deref(), None).await;
                check_envelope(status, &text, verb, &url);
                calls += 1;
            }
        }
        // Each body field in turn; and bodies that are not objects.
        if let Some(body) = body {
            let v: Value = serde_json::from_str(body).unwrap();
            for k in v.as_object().unwrap().keys() {
                for w in &wrong {
                    let mut b = v.clone();
                    b[k] = w.clone();
                    let b = b.to_string();
                    let (status, _, text) = rest(&node, verb, path, Some(&b), None).await;
                    check_envelope(status, &text, verb, &format!("{path} {k}={w}"));
                    calls += 1;
                }
            }
            for b in ["[]", "\"x\"", "null", "{", "1e999"] {
                let (status, _, text) = rest(&node, verb, path, Some(b), None).await;
                check_envelope(status, &text, verb, &format!("{path} body {b}"));
                calls += 1;
            }
        }
    }
    assert!(calls > 500, "{calls}");
    // Over the WebSocket: every method of the forms, each keyword argument
    // of a wrong type.
    let ws_addr = std::fs::read_to_string(node.dir.join("bitdust.addr")).unwrap();
    let url = format!("ws://{}/?api_secret={}", ws_addr.trim(), node.secret);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let kwargs_sets = [
        ("key_get", json!({}), "key_id"),
        ("file_info", json!({}), "remote_path"),
        ("files_list", json!({}), "recursive"),
        ("message_send", json!({"recipient_id": "bob"}), "data"),
        ("message_send", json!({"data": {"m": 1}}), "recipient_id"),
        ("message_conversations_list", json!({}), "message_types"),
        ("user_ping", json!({"user_id": "bob"}), "timeout"),
        (
            "share_grant",
            json!({"key_id": "share_x"}),
            "trusted_user_id",
        ),
        ("group_join", json!({}), "group_key_id"),
        (
            "file_download_start",
            json!({"remote_path": "a"}),
            "destination_path",
        ),
        ("file_create", json!({}), "remote_path"),
        ("key_create", json!({"key_alias": "cats"}), "key_size"),
        ("enable_model_listener", json!({}), "model_name"),
    ];
    let mut id = 0;
    for (method, base, arg) in kwargs_sets {
        for w in &wrong {
            id += 1;
            let mut kwargs = base.clone();
            kwargs[arg] = w.clone();
            let frame =
                json!({"command": "api_call", "method": method, "kwargs": kwargs, "call_id": id});
            ws.send(Message::text(frame.to_string())).await.unwrap();
            let reply = frames(&mut ws, 1, |f| f["payload"]["call_id"] == id).await;
            let status = reply[0]["payload"]["response"]["status"].as_str();
            assert!(
                matches!(status, Some("OK") | Some("ERROR")),
                "{method}({arg}={w}): {reply:?}"
            );
        }
    }
    // And the node is still well.
    assert_eq!(call(&node, "GET", "/p/h", None).await["status"], "OK");
}

/// A 500 page, an empty body or anything but BitDust's envelope fails.
fn check_envelope(status: u16, text: &str, verb: &str, what: &str) {
    assert_eq!(status, 200, "{verb} {what}: {text}");
    let v: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{verb} {what}: {e}: {text}"));
    assert!(
        matches!(v["status"].as_str(), Some("OK") | Some("ERROR")),
        "{verb} {what}: {v}"
    );
}

/// Percent-encodes a query value.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The 138 method names BitDust 0.1.24.265's WebSocket accepted
/// (bitdust-details.md §4.0).
const BITDUST_METHODS: &[&str] = &[
    "automat_events_start",
    "automat_events_stop",
    "automat_info",
    "automats_list",
    "billing_bid_accept",
    "billing_bid_create",
    "billing_info",
    "billing_offer_create",
    "billing_offers_list",
    "blockchain_block_produce",
    "blockchain_info",
    "blockchain_transaction_send",
    "blockchain_wallet_balance",
    "chunk_read",
    "chunk_write",
    "config_get",
    "config_set",
    "configs_list",
    "configs_tree",
    "connections_list",
    "customer_reject",
    "customers_list",
    "customers_ping",
    "device_add",
    "device_authorization_client_code",
    "device_authorization_generate",
    "device_authorization_request",
    "device_authorization_reset",
    "device_info",
    "device_remove",
    "device_router_info",
    "device_start",
    "device_stop",
    "devices_list",
    "dht_local_db_dump",
    "dht_node_find",
    "dht_user_random",
    "dht_value_get",
    "dht_value_set",
    "disable_model_listener",
    "enable_model_listener",
    "event_listen",
    "event_send",
    "events_list",
    "file_create",
    "file_delete",
    "file_download_start",
    "file_download_stop",
    "file_exists",
    "file_explore",
    "file_info",
    "file_upload_start",
    "file_upload_stop",
    "files_downloads",
    "files_list",
    "files_sync",
    "files_uploads",
    "friend_add",
    "friend_remove",
    "friends_list",
    "group_create",
    "group_info",
    "group_info_dht",
    "group_join",
    "group_leave",
    "group_reconnect",
    "group_share",
    "groups_list",
    "identity_backup",
    "identity_cache_list",
    "identity_create",
    "identity_erase",
    "identity_get",
    "identity_recover",
    "identity_rotate",
    "key_audit",
    "key_create",
    "key_erase",
    "key_get",
    "key_label",
    "key_share",
    "key_state",
    "keys_list",
    "message_conversations_list",
    "message_history",
    "message_receive",
    "message_send",
    "message_send_group",
    "network_configuration",
    "network_connected",
    "network_create",
    "network_disconnect",
    "network_reconnect",
    "network_select",
    "network_status",
    "network_stun",
    "packets_list",
    "packets_stats",
    "process_debug",
    "process_health",
    "process_info",
    "process_restart",
    "process_stop",
    "queue_consumers_list",
    "queue_keepers_list",
    "queue_peddlers_list",
    "queue_producers_list",
    "queue_streams_list",
    "queues_list",
    "request_model_data",
    "service_health",
    "service_info",
    "service_restart",
    "service_start",
    "service_stop",
    "services_list",
    "share_close",
    "share_create",
    "share_delete",
    "share_grant",
    "share_history",
    "share_info",
    "share_open",
    "shares_list",
    "space_consumed",
    "space_donated",
    "space_local",
    "streams_list",
    "supplier_change",
    "suppliers_list",
    "suppliers_list_dht",
    "suppliers_ping",
    "transfers_list",
    "user_observe",
    "user_ping",
    "user_search",
    "user_status",
    "user_status_check",
];

#[tokio::test]
async fn every_method_name_bitdust_accepted_is_answered() {
    let node = TestNode::start_with(WS).await;
    let ws_addr = std::fs::read_to_string(node.dir.join("bitdust.addr")).unwrap();
    let url = format!("ws://{}/?api_secret={}", ws_addr.trim(), node.secret);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    assert_eq!(BITDUST_METHODS.len(), 138);
    let mut unknown = Vec::new();
    for (id, method) in BITDUST_METHODS.iter().enumerate() {
        // Those two stop the node: answered in their own tests.
        if *method == "process_stop" || *method == "process_restart" {
            continue;
        }
        // No arguments: a method that needs some answers Python's
        // TypeError, which still shows it is there.
        let frame = json!({"command": "api_call", "method": method, "kwargs": {}, "call_id": id});
        ws.send(Message::text(frame.to_string())).await.unwrap();
        let reply = frames(&mut ws, 1, |f| f["payload"]["call_id"] == id).await;
        let p = &reply[0]["payload"];
        let error = p["errors"][0]
            .as_str()
            .or(p["response"]["errors"][0].as_str())
            .unwrap_or("");
        if error == "invalid api method name" || error.contains("is not available") {
            unknown.push(*method);
        }
        assert!(
            p.get("response").is_some() || p.get("errors").is_some(),
            "{method}: {reply:?}"
        );
    }
    assert!(unknown.is_empty(), "not answered: {unknown:?}");
    let unknown = json!({"command": "api_call", "method": "no_such_method", "call_id": "x"});
    ws.send(Message::text(unknown.to_string())).await.unwrap();
    let reply = frames(&mut ws, 1, |f| f["payload"]["call_id"] == "x").await;
    assert_eq!(
        reply[0]["payload"]["errors"],
        json!(["invalid api method name"])
    );
}
