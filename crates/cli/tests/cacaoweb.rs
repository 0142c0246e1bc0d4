//! cacaoweb's local API on the layer's own loopback listener: the seed's
//! curl lines, the XML documents element by element, streams by MD5, paid
//! files with previews (bytes, and seconds measured with ffprobe on a clip
//! ffmpeg makes here), purchases on the ledger, the cross-site refusals,
//! and the ledger under parallel load. Most run on an in-process node;
//! what hashes the executable or ends its process runs the real binary.

mod common;

use std::path::Path;
use std::process::Command;

use cairn_node::Config;
use common::seeds::Cacaoweb;
use common::seeds::cacaoweb::{children, fields, pairs, parse};
use common::{Dirs, Endpoint, InProcNode, Listener, TestNode, data, wait_for_file};
use md5::{Digest, Md5};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// The layer's settings the tests rely on, for the binary's config.toml.
const CONFIG: &str = "[gateway]\npreview_bytes = 1000\npreview_seconds = 1\ncacaoweb_metadata_wait_ms = 300\n[layers]\npowder = []\nbitdust = []\ncacaoweb = [\"127.0.0.1:0\"]\n";

/// [`CONFIG`], for an in-process node.
fn config(c: &mut Config) {
    c.gateway.preview_bytes = 1000;
    c.gateway.preview_seconds = 1;
    c.gateway.cacaoweb_metadata_wait_ms = 300;
    c.layers.cacaoweb = vec!["127.0.0.1:0".parse().unwrap()];
}

/// A node (in process, or the real binary) with the cacaoweb layer on its
/// own loopback listener, and a client of that listener.
struct Cacao<N> {
    node: N,
    client: Cacaoweb,
    base: String,
}

impl Cacao<InProcNode> {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// With [`config`], then `change`.
    async fn start_with(change: impl FnOnce(&mut Config)) -> Self {
        let node = InProcNode::start_with(|c| {
            config(c);
            change(c);
        })
        .await;
        let client = Cacaoweb::on(&node.own_listener("cacaoweb"));
        Self::new(node, client)
    }
}

impl Cacao<TestNode> {
    /// On the real binary, for what only it does.
    async fn binary() -> Self {
        let node = TestNode::start_with(CONFIG).await;
        let own = Listener {
            addr: wait_for_file(&node.dir.join("cacaoweb.addr")),
            http: node.http.clone(),
            secret: node.secret.clone(),
        };
        Self::new(node, Cacaoweb::on(&own))
    }
}

impl<N: Endpoint> Cacao<N> {
    fn new(node: N, client: Cacaoweb) -> Self {
        let base = format!("http://{}", client.addr());
        Self { node, client, base }
    }

    fn url(&self, path: &str) -> String {
        self.client.url(path)
    }

    /// A GET on the layer's listener with extra headers.
    async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> (u16, HeaderMap, Vec<u8>) {
        self.client.get_with(path, headers).await
    }

    async fn get(&self, path: &str) -> (u16, HeaderMap, Vec<u8>) {
        self.client.get(path).await
    }

    async fn text(&self, path: &str) -> (u16, String) {
        self.client.text(path).await
    }

    /// `/upload?filepath=…` with the path written as the seed's curl line
    /// does (not encoded); answers the body.
    async fn upload(&self, path: &Path, extra: &str) -> String {
        self.client.upload(path, extra).await
    }

    /// `/login`; answers the session token from the cookie.
    async fn login(&self, login: &str, key: &str) -> String {
        self.client.login(login, key).await
    }

    /// A gateway account with `credits`; answers (login, key).
    async fn account(&self, login: &str, credits: u64) -> (String, String) {
        let (s, v) = self
            .node
            .send_json(Method::POST, "/accounts", json!({ "login": login }))
            .await;
        assert_eq!(s, 201, "{v}");
        if credits > 0 {
            self.deposit(login, credits).await;
        }
        (login.to_owned(), v["key"].as_str().unwrap().to_owned())
    }

    async fn deposit(&self, login: &str, credits: u64) {
        let (s, v) = self
            .node
            .send_json(
                Method::POST,
                &format!("/accounts/{login}/deposit"),
                json!({ "unit": "credits", "amount": credits }),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }

    async fn credits(&self, login: &str) -> i64 {
        let (s, v) = self.node.get_json(&format!("/accounts/{login}")).await;
        assert_eq!(s, 200, "{v}");
        v["credits"].as_i64().unwrap()
    }

    /// The entry id holding the file with this MD5.
    async fn entry_of(&self, md5: &str) -> String {
        let (s, v) = self.node.get_json(&format!("/blobs/{md5}")).await;
        assert_eq!(s, 200, "{v}");
        v["entries"][0]["id"].as_str().unwrap().to_owned()
    }

    async fn set_meta(&self, md5: &str, meta: Value) -> (u16, Value) {
        let id = self.entry_of(md5).await;
        self.node
            .send_json(Method::PATCH, &format!("/entries/{id}/metadata"), meta)
            .await
    }

    async fn ledger(&self) -> Value {
        let (s, v) = self.node.get_json("/ledger").await;
        assert_eq!(s, 200, "{v}");
        v
    }
}

fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_and_the_flash_policy_answer_as_cacaoweb_did() {
    let c = Cacao::start_with(|c| c.capacity = Some(250_000)).await;
    let (s, h, b) = c.get("/errors?unique=7").await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(String::from_utf8(b).unwrap(), "callbackWarnings('OK')");
    // Past the configured capacity, the manager page is told so.
    let path = c.node.file("big.bin", &data(300_000, 5));
    c.upload(&path, "").await;
    let (s, body) = c.text("/errors?unique=8").await;
    assert_eq!((s, body.as_str()), (200, "callbackWarnings('nospaceleft')"));

    // The Flash policy lets no other site in unless the operator says so
    // (the original allowed every domain).
    assert_eq!(
        policy_rules(&c).await,
        ["site-control permitted-cross-domain-policies=master-only"]
    );
    let listed = Cacao::start_with(|c| {
        c.gateway.cacaoweb_crossdomain = vec!["player.example.org".into()];
    })
    .await;
    assert_eq!(
        policy_rules(&listed).await,
        [
            "site-control permitted-cross-domain-policies=master-only",
            "allow-access-from domain=player.example.org",
            "allow-http-request-headers-from domain=player.example.org headers=*",
        ]
    );
}

/// `/crossdomain.xml`'s rules, each as its name and sorted attributes.
async fn policy_rules<N: Endpoint>(c: &Cacao<N>) -> Vec<String> {
    let (s, h, b) = c.get("/crossdomain.xml").await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "text/x-cross-domain-policy");
    let policy = parse(std::str::from_utf8(&b).unwrap());
    assert_eq!(policy.name, "cross-domain-policy");
    children(&policy)
        .iter()
        .map(|e| {
            let mut attrs: Vec<_> = e
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            attrs.sort();
            format!("{} {}", e.name, attrs.join(" "))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_calls_answer_as_cacaoweb_did() {
    // The binary: `/digest` hashes it, and `/exit` ends its process.
    let mut c = Cacao::binary().await;

    // curl http://localhost:4001/version
    let (s, h, b) = c.get("/version").await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let version: u64 = String::from_utf8(b).unwrap().parse().expect("an integer");
    let mut v = env!("CARGO_PKG_VERSION")
        .split('.')
        .map(|p| p.parse::<u64>().unwrap());
    let want = v.next().unwrap() * 10_000 + v.next().unwrap() * 100 + v.next().unwrap();
    assert_eq!(version, want);

    // /digest: the MD5 of the executable on disk.
    let (s, digest) = c.text("/digest").await;
    assert_eq!(s, 200);
    assert_eq!(digest, md5_hex(&std::fs::read(common::BIN).unwrap()));

    let (s, h, b) = c.get("/isrunning?unique=42").await;
    assert_eq!(
        (s, b.as_slice()),
        (200, &b"Cacaoweb.callbackIsRunning()"[..])
    );
    assert_eq!(h["content-type"], "application/javascript");

    // curl http://localhost:4001/upload?filepath=/home/robert/movies/Avatar.720p.BDRip.mp4
    let avatar = data(300_000, 1);
    let avatar_path = c.node.file("movies/Avatar.720p.BDRip.mp4", &avatar);
    let avatar_md5 = c.upload(&avatar_path, "").await;
    assert_eq!(avatar_md5, md5_hex(&avatar), "the answer is the file's MD5");

    // ...&restricted=true&previewallowed=true, with a title XML must escape.
    let song = data(5_000, 2);
    let song_path = c.node.file("Say & <It> Right.mp3", &song);
    let encoded = song_path
        .display()
        .to_string()
        .replace('&', "%26")
        .replace('<', "%3C")
        .replace('>', "%3E")
        .replace(' ', "%20");
    let (s, song_md5) = c
        .text(&format!(
            "/upload?filepath={encoded}&restricted=true&previewallowed=true"
        ))
        .await;
    assert_eq!((s, song_md5.as_str()), (200, md5_hex(&song).as_str()));

    // Failures answer an empty body with the reason in a header.
    let (s, h, b) = c.get("/upload?filepath=/etc/passwd").await;
    assert_eq!((s, b.len()), (403, 0));
    assert!(
        h["x-cairn-error"]
            .to_str()
            .unwrap()
            .contains("import roots")
    );
    let (s, _, b) = c.get("/upload?filepath=/nonexistent/x").await;
    assert!(s >= 400 && b.is_empty(), "{s}");

    // /uploads: §3.1 exactly, no whitespace, newest first, done at 100.
    let (s, h, b) = c.get("/uploads").await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "application/xml; charset=utf-8");
    let xml = String::from_utf8(b).unwrap();
    assert!(
        xml.starts_with("<?xml version=\"1.0\"?><results><fileitemslist><fileitem><fileid>"),
        "{xml}"
    );
    assert!(!xml.contains('\n'), "{xml}");
    assert!(
        xml.contains("<title>Say &amp; &lt;It&gt; Right.mp3</title>"),
        "{xml}"
    );
    let root = parse(&xml);
    assert_eq!(root.name, "results");
    let lists = children(&root);
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].name, "fileitemslist");
    let items: Vec<_> = children(lists[0]).iter().map(|i| fields(i)).collect();
    assert_eq!(
        items,
        vec![
            pairs(&[
                ("fileid", &song_md5),
                ("length", "5000"),
                ("progress", "100"),
                ("title", "Say & <It> Right.mp3"),
                ("bandwidth", "0.00"),
            ]),
            pairs(&[
                ("fileid", &avatar_md5),
                ("length", "300000"),
                ("progress", "100"),
                ("title", "Avatar.720p.BDRip.mp4"),
                ("bandwidth", "0.00"),
            ]),
        ]
    );

    // curl http://localhost:4001/removeupload?f=<md5>: off the list, still
    // on the node.
    let (s, body) = c.text(&format!("/removeupload?f={avatar_md5}")).await;
    assert_eq!((s, body.as_str()), (200, "OK"));
    let (_, xml) = c.text("/uploads").await;
    let root = parse(&xml);
    let items = children(children(&root)[0]).len();
    assert_eq!(items, 1, "{xml}");
    assert!(!xml.contains(&avatar_md5));
    let (s, _, b) = c.get(&format!("/?f={avatar_md5}")).await;
    assert_eq!(s, 200);
    assert_eq!(b, avatar, "the file stays on the node");

    // /downloads: §3.2 exactly, one newline after the declaration.
    let (s, h, b) = c.get("/downloads").await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "application/xml; charset=utf-8");
    let xml = String::from_utf8(b).unwrap();
    let (decl, rest) = xml.split_once('\n').unwrap();
    assert_eq!(decl, "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>");
    assert!(!rest.contains('\n'), "{xml}");
    assert!(rest.starts_with("<results><playerinstalled>"), "{xml}");
    let root = parse(&xml);
    let parts = children(&root);
    let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["playerinstalled", "downloaditemslist", "fileitemslist"]
    );
    assert!(matches!(
        parts[0].get_text().unwrap().as_ref(),
        "true" | "false"
    ));
    assert!(children(parts[1]).is_empty());
    let downloads: Vec<_> = children(parts[2]).iter().map(|i| fields(i)).collect();
    assert_eq!(
        downloads,
        vec![pairs(&[
            ("fileid", &avatar_md5),
            ("length", "300000"),
            ("progress", "100"),
            ("title", "Avatar.720p.BDRip.mp4"),
        ])]
    );

    // /filemetadata: <results> with the documented fields.
    let (s, h, b) = c
        .get(&format!("/filemetadata?f={}", song_md5.to_uppercase()))
        .await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "application/xml; charset=utf-8");
    let root = parse(&String::from_utf8(b).unwrap());
    assert_eq!(root.name, "results");
    assert_eq!(
        fields(&root),
        pairs(&[
            ("fileid", &song_md5),
            ("title", "Say & <It> Right.mp3"),
            ("length", "5000"),
            ("restricted", "true"),
            ("previewallowed", "true"),
            ("price", "0"),
        ])
    );
    let (s, meta) = c
        .text(&format!("/fileinfo?f={song_md5}&request=meta"))
        .await;
    assert_eq!(
        (s, meta.as_str()),
        (200, "Say & <It> Right.mp3\ntrue\ntrue")
    );
    let (s, title) = c
        .text(&format!("/fileinfo?f={avatar_md5}&request=title"))
        .await;
    assert_eq!((s, title.as_str()), (200, "Avatar.720p.BDRip.mp4"));

    // An unknown file: after the bounded wait, an empty result.
    let unknown = "0123456789abcdef0123456789abcdef";
    let (s, xml) = c.text(&format!("/filemetadata?f={unknown}")).await;
    assert_eq!(
        (s, xml.as_str()),
        (200, "<?xml version=\"1.0\"?><results></results>")
    );
    assert!(children(&parse(&xml)).is_empty());
    let (s, _) = c.text(&format!("/fileinfo?f={unknown}")).await;
    assert_eq!(s, 404);

    // /file/delete.caml removes the file from the node.
    let (s, body) = c
        .text(&format!("/file/delete.caml?fileid={avatar_md5}"))
        .await;
    assert_eq!((s, body.as_str()), (200, "OK"));
    let (s, _, _) = c.get(&format!("/{avatar_md5}")).await;
    assert_eq!(s, 404);

    // curl http://localhost:4001/exit: the node stops cleanly.
    let (s, body) = c.text("/exit").await;
    assert_eq!((s, body.as_str()), (200, "OK"));
    assert_eq!(c.node.wait_exit(), Some(0), "the node exits cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_by_md5_are_byte_exact_with_ranges_and_startposition() {
    let c = Cacao::start().await;
    let body = data(3 * 1024 * 1024 + 17, 3);
    let path = c.node.file("clip.bin", &body);
    let md5 = c.upload(&path, "").await;

    let (s, h, b) = c.get(&format!("/?f={md5}")).await;
    assert_eq!(s, 200);
    assert!(b == body, "/?f= is byte-exact");
    assert_eq!(h["content-length"], body.len().to_string().as_str());
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["content-transfer-encoding"], "binary");
    assert_eq!(
        h["content-disposition"],
        "attachment; filename=\"clip.bin\""
    );
    assert!(h.get("content-type").is_none(), "as the original: no type");

    let (s, _, b) = c.get(&format!("/{}", md5.to_uppercase())).await;
    assert_eq!(s, 200);
    assert!(b == body, "/<MD5> is byte-exact");
    let (s, _, b) = c.get(&format!("/index.html?f={md5}")).await;
    assert!(s == 200 && b == body);

    let (s, h, b) = c
        .get_with(&format!("/{md5}"), &[("range", "bytes=1000-2000000")])
        .await;
    assert_eq!(s, 206);
    assert!(b == body[1000..=2_000_000]);
    assert_eq!(
        h["content-range"],
        format!("bytes 1000-2000000/{}", body.len()).as_str()
    );

    let (s, h, b) = c.get(&format!("/?f={md5}&startposition=1234567")).await;
    assert_eq!(s, 200);
    assert!(b == body[1_234_567..]);
    assert_eq!(
        h["content-length"],
        (body.len() - 1_234_567).to_string().as_str()
    );

    let (s, h, b) = c
        .get(&format!("/file/download.caml?downloadid={md5}"))
        .await;
    assert_eq!((s, h["content-type"].to_str().unwrap()), (200, "video/mp4"));
    assert!(b == body);

    // Unknown and malformed ids, and impossible ranges.
    let (s, _, _) = c.get("/?f=0123456789abcdef0123456789abcdef").await;
    assert_eq!(s, 404);
    let (s, _, _) = c.get("/?f=nothex").await;
    assert_eq!(s, 404);
    let (s, _, _) = c
        .get(&format!("/?f={md5}&startposition={}", body.len() + 1))
        .await;
    assert_eq!(s, 416);
    let (s, _, _) = c
        .get_with(&format!("/{md5}"), &[("range", "bytes=99999999-")])
        .await;
    assert_eq!(s, 416);

    // The same streams on the main listener.
    let (s, _, b) = {
        let r = c
            .node
            .http
            .get(c.node.root_url(&format!("/?f={md5}")))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), (), r.bytes().await.unwrap())
    };
    assert!(s == 200 && b == body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_files_give_previews_and_are_paid_once_to_their_owner() {
    let c = Cacao::start().await;
    let body = data(50_000, 4);
    let md5 = c
        .upload(
            &c.node.file("paid.bin", &body),
            "&restricted=true&previewallowed=true",
        )
        .await;
    let (s, v) = c.set_meta(&md5, json!({ "price": 30 })).await;
    assert_eq!(s, 200, "{v}");
    let (buyer, buyer_key) = c.account("buyer", 100).await;
    let (poor, poor_key) = c.account("poor", 0).await;

    // Nobody logged in: the stream ends at the byte preview's end.
    let (s, h, b) = c.get(&format!("/?f={md5}")).await;
    assert_eq!(s, 200);
    assert_eq!(b, body[..1000], "the preview is the first 1000 bytes");
    assert_eq!(h["content-length"], "1000");
    let (s, h, b) = c
        .get_with(&format!("/{md5}"), &[("range", "bytes=500-4999")])
        .await;
    assert_eq!((s, b.as_slice()), (206, &body[500..1000]));
    assert_eq!(h["content-range"], "bytes 500-999/50000");
    let (s, _, b) = c
        .get_with(&format!("/{md5}"), &[("range", "bytes=2000-3000")])
        .await;
    assert_eq!((s, b.len()), (402, 0), "past the preview: nothing");
    let (s, _, _) = c.get(&format!("/?f={md5}&startposition=1000")).await;
    assert_eq!(s, 402);
    let (s, t) = c.text(&format!("/getfiletoken?f={md5}")).await;
    assert_eq!((s, t.as_str()), (200, "NOS"));
    let (s, t) = c
        .text(&format!("/transmittoken?f={md5}&token=nobody"))
        .await;
    assert_eq!((s, t.as_str()), (200, "NOS"));

    // The buyer: told the price, pays once, then reads it whole.
    let token = c.login(&buyer, &buyer_key).await;
    let (_, t) = c
        .text(&format!("/getfiletoken?f={md5}&token={token}"))
        .await;
    assert_eq!(t, "NOT\nOK|30\n100");
    let (_, t) = c
        .text(&format!("/transmittoken?f={md5}&token={token}"))
        .await;
    assert_eq!(t, "NOK", "not bought yet");
    let (s, _, b) = c.get(&format!("/?f={md5}&token={token}")).await;
    assert_eq!((s, b.len()), (200, 1000), "not bought yet: the preview");
    let (_, t) = c.text(&format!("/buytoken?f={md5}&token={token}")).await;
    assert_eq!(t, "OK");
    assert_eq!(c.credits(&buyer).await, 70);
    let (_, t) = c.text(&format!("/buytoken?f={md5}&token={token}")).await;
    assert_eq!(t, "OK");
    assert_eq!(
        c.credits(&buyer).await,
        70,
        "the second buy charges nothing"
    );
    let (_, t) = c
        .text(&format!("/getfiletoken?f={md5}&token={token}"))
        .await;
    assert_eq!(t, "TOK");
    let (_, t) = c
        .text(&format!("/transmittoken?f={md5}&token={token}"))
        .await;
    assert_eq!(t, "OK");
    let (s, _, b) = c.get(&format!("/?f={md5}&token={token}")).await;
    assert!(s == 200 && b == body, "bought: the whole file");
    // The instance's account is the newest login, as in cacaoweb.
    let (s, _, b) = c.get(&format!("/{md5}")).await;
    assert!(s == 200 && b == body);
    let (_, t) = c.text("/isloggedin").await;
    assert_eq!(t, format!("loginstatuscallback(true, 'buyer', '{token}')"));

    // The operator's file: its price went to the operator's account.
    let ledger = c.ledger().await;
    assert_eq!(ledger["system"]["operator"]["credits"], 30, "{ledger}");

    // Too few credits: refused, nothing moves.
    let poor_token = c.login(&poor, &poor_key).await;
    let (_, t) = c
        .text(&format!("/getfiletoken?f={md5}&token={poor_token}"))
        .await;
    assert_eq!(t, "NOT\nNOK|30\n0");
    let (_, t) = c
        .text(&format!("/buytoken?f={md5}&token={poor_token}"))
        .await;
    assert_eq!(t, "NOK|30|0");
    let (_, _, b) = c.get(&format!("/{md5}?token={poor_token}")).await;
    assert_eq!(b.len(), 1000);
    let (_, t) = c.text("/login?username=poor&password=wrong").await;
    assert_eq!(t, "logincallback(0)");

    // A user's own paid file, uploaded natively into their home without a
    // preview: the price goes to them.
    let (seller, _) = c.account("seller", 0).await;
    let (_, acct) = c.node.get_json(&format!("/accounts/{seller}")).await;
    let home = acct["home"].as_str().unwrap();
    let art = data(20_000, 5);
    let (s, e) = c
        .node
        .upload(
            "art.bin",
            art.clone(),
            &format!("&parent={home}&restricted=true&price=20"),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    let art_id = e["id"].as_str().unwrap();
    let paid = |login: &str, key: &str, what: &str| {
        c.node.root_url(&format!(
            "/api/v1/paid/{art_id}{what}?login={login}&key={key}"
        ))
    };
    let r = c
        .node
        .http
        .get(paid(&poor, &poor_key, "/content"))
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 402, "no preview: not a byte");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "payment_required");
    let r = c
        .node
        .http
        .get(c.node.root_url(&format!("/api/v1/paid/{art_id}/content")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 402);
    let r = c
        .node
        .http
        .get(paid(&buyer, "wrongkey", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    for charged in [20, 0] {
        let r = c
            .node
            .http
            .post(paid(&buyer, &buyer_key, "/buy"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["charged"], charged, "{v}");
        assert_eq!(v["credits"], 50, "{v}");
    }
    assert_eq!(
        c.credits(&seller).await,
        20,
        "the owner's credits rise by the price"
    );
    let r = c
        .node
        .http
        .get(paid(&buyer, &buyer_key, "/content"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap() == art);
    let r = c
        .node
        .http
        .get(paid(&poor, &poor_key, ""))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["access"]["kind"], "nothing", "{v}");
    assert_eq!(v["terms"]["price"], 20, "{v}");

    // A paid file without a preview streams nothing to a non-buyer.
    let (_, _, b) = c.get(&format!("/{}?token={poor_token}", md5)).await;
    assert_eq!(b.len(), 1000);
    let closed = c
        .upload(
            &c.node.file("closed.bin", &data(3000, 6)),
            "&restricted=true&previewallowed=false",
        )
        .await;
    let (s, _) = c.set_meta(&closed, json!({ "price": "5" })).await;
    assert_eq!(s, 200);
    let (s, _, b) = c.get(&format!("/{closed}?token={poor_token}")).await;
    assert_eq!((s, b.len()), (402, 0));

    // A free file refuses any price and cannot become restricted; a paid
    // one cannot drop its restriction (its price can go to 0).
    let free = c.upload(&c.node.file("free.bin", &data(3000, 7)), "").await;
    // Issue 21: the rule that a free file stays free is a conflict (409),
    // not malformed input.
    let (s, v) = c.set_meta(&free, json!({ "price": 5 })).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("conflict")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("free"), "{v}");
    let (s, _) = c.set_meta(&free, json!({ "restricted": "true" })).await;
    assert_eq!(s, 409);
    let (s, _) = c
        .set_meta(&free, json!({ "price": "0", "title": "Free" }))
        .await;
    assert_eq!(s, 200);
    let (s, _) = c.set_meta(&md5, json!({ "restricted": "false" })).await;
    assert_eq!(s, 400);
    let (s, _) = c.set_meta(&md5, json!({ "price": "-3" })).await;
    assert_eq!(s, 400);
    let (s, h, b) = c
        .get(&format!("/upload.php?fileid={free}&numberofcredits=5"))
        .await;
    assert_eq!((s, b.len()), (409, 0));
    assert!(h["x-cairn-error"].to_str().unwrap().contains("free"));
    let (s, v) = c.node.upload("late.bin", vec![1, 2, 3], "&price=4").await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("conflict")),
        "a price on a free upload: {v}"
    );

    // The files manager's call stores its fields; numberofcredits is the
    // price.
    let (s, t) = c
        .text(&format!(
            "/upload.php?fileid={md5}&title=New%20%26%20Better&contenttype=movie&year=2011&numberofcredits=40"
        ))
        .await;
    assert_eq!((s, t.as_str()), (200, "OK"));
    let (_, xml) = c.text(&format!("/filemetadata?f={md5}")).await;
    assert_eq!(
        fields(&parse(&xml)),
        pairs(&[
            ("fileid", &md5),
            ("title", "New & Better"),
            ("length", "50000"),
            ("restricted", "true"),
            ("previewallowed", "true"),
            ("price", "40"),
            ("contenttype", "movie"),
            ("year", "2011"),
        ])
    );

    let ledger = c.ledger().await;
    assert_eq!(
        (&ledger["credits_sum"], &ledger["drift"]),
        (&json!(0), &json!(0)),
        "{ledger}"
    );
}

fn ffprobe_preview_end(path: &Path, seconds: f64) -> u64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=dts_time,pts_time,pos",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe is installed");
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let time = |p: &Value| {
        p.get("dts_time")
            .or_else(|| p.get("pts_time"))
            .and_then(|t| t.as_str())
            .and_then(|t| t.parse::<f64>().ok())
    };
    let packets = v["packets"].as_array().unwrap();
    let start = packets.iter().find_map(time).unwrap();
    packets
        .iter()
        .find_map(|p| {
            let pos = p.get("pos")?.as_str()?.parse::<u64>().ok()?;
            (time(p)? - start >= seconds).then_some(pos)
        })
        .expect("a packet one second in")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_media_preview_is_measured_in_seconds_with_ffprobe() {
    let c = Cacao::start().await;
    let clip = c.node.files.join("clip.mkv");
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=3:size=160x120:rate=10",
            "-c:v",
            "mpeg4",
            "-y",
        ])
        .arg(&clip)
        .status()
        .expect("ffmpeg is installed");
    assert!(made.success());
    let body = std::fs::read(&clip).unwrap();
    let want = ffprobe_preview_end(&clip, 1.0);
    assert!(
        want > 1000 && want < body.len() as u64,
        "one second of the clip is {want} of {} bytes",
        body.len()
    );
    let md5 = c
        .upload(&clip, "&restricted=true&previewallowed=true")
        .await;
    let (s, _) = c.set_meta(&md5, json!({ "price": 3 })).await;
    assert_eq!(s, 200);
    let (s, h, b) = c.get(&format!("/?f={md5}")).await;
    assert_eq!(s, 200);
    assert_eq!(h["x-cairn-preview-end"], want.to_string().as_str());
    assert_eq!(b.len() as u64, want, "the first second, by packet position");
    assert!(b == body[..want as usize]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changes_from_other_sites_or_without_the_secret_are_refused() {
    // The binary: the refused exits are checked by its exit code.
    let mut c = Cacao::binary().await;
    let path = c.node.file("x.bin", &data(2000, 8));
    let port = c.base.rsplit(':').next().unwrap().to_owned();
    let upload = format!("/upload?filepath={}", path.display());
    for (k, v) in [
        ("origin", "http://evil.example"),
        ("origin", "null"),
        ("referer", "http://evil.example/page.html"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let (s, _, b) = c.get_with(&upload, &[(k, v)]).await;
        assert_eq!((s, b.len()), (403, 0), "{k}: {v}");
    }
    // DNS rebinding: a foreign host name that resolves to loopback.
    let (s, _, _) = c
        .get_with(&upload, &[("host", &format!("evil.example:{port}"))])
        .await;
    assert_eq!(s, 403);
    let (_, xml) = c.text("/uploads").await;
    assert_eq!(
        xml,
        "<?xml version=\"1.0\"?><results><fileitemslist></fileitemslist></results>"
    );
    for call in [
        "/exit",
        "/login?username=a&password=b",
        "/removeupload?f=0123456789abcdef0123456789abcdef",
    ] {
        let (s, _, _) = c.get_with(call, &[("origin", "http://evil.example")]).await;
        assert_eq!(s, 403, "{call}");
    }
    // The same local origin is fine.
    let own = format!("http://127.0.0.1:{port}");
    let (s, _, b) = c.get_with(&upload, &[("origin", &own)]).await;
    assert_eq!(s, 200);
    assert_eq!(b.len(), 32);

    // The main listener: the secret is needed.
    let main = |p: &str| c.node.root_url(p);
    let r = c.node.http.get(main(&upload)).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .node
        .http
        .get(main("/exit"))
        .header("api_secret", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .node
        .http
        .get(main(&upload))
        .bearer_auth(&c.node.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Reads answer anyone.
    let r = c.node.http.get(main("/uploads")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // Still running: none of the refused exits went through.
    let (s, _) = c.node.get_json("/status").await;
    assert_eq!(s, 200);
    assert_eq!(c.node.terminate(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_deposits_and_purchases_keep_the_ledger_exact() {
    let c = Cacao::start().await;
    let prices = [7u64, 11, 13];
    let mut files = Vec::new();
    for (i, price) in prices.iter().enumerate() {
        let md5 = c
            .upload(
                &c.node
                    .file(&format!("p{i}.bin"), &data(3000, 100 + i as u64)),
                "&restricted=true&previewallowed=true",
            )
            .await;
        let (s, _) = c.set_meta(&md5, json!({ "price": price })).await;
        assert_eq!(s, 200);
        files.push((md5, *price));
    }
    // A file a user sells: purchases of it go to that user.
    let (seller, _) = c.account("seller", 0).await;
    let (_, acct) = c.node.get_json(&format!("/accounts/{seller}")).await;
    let (s, e) = c
        .node
        .upload(
            "own.bin",
            data(3000, 200),
            &format!(
                "&parent={}&restricted=true&price=5",
                acct["home"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    let own_id = e["id"].as_str().unwrap().to_owned();

    let mut buyers = Vec::new();
    for i in 0..5 {
        let (login, key) = c.account(&format!("b{i}"), 10).await;
        let token = c.login(&login, &key).await;
        buyers.push((login, key, token));
    }
    let deposited_first = 10 * buyers.len() as u64;

    // Every buyer: deposits of 1..=6 credits and three tries at each file,
    // all at once.
    let mut tasks = tokio::task::JoinSet::new();
    for (login, key, token) in &buyers {
        for amount in 1..=6u64 {
            let (http, url, secret) = (
                c.node.http.clone(),
                c.node.url(&format!("/accounts/{login}/deposit")),
                c.node.secret.clone(),
            );
            tasks.spawn(async move {
                let r = http
                    .post(url)
                    .bearer_auth(secret)
                    .json(&json!({ "unit": "credits", "amount": amount }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                amount
            });
        }
        for _ in 0..3 {
            for (md5, _) in &files {
                let (http, url) = (
                    c.node.http.clone(),
                    c.url(&format!("/buytoken?f={md5}&token={token}")),
                );
                tasks.spawn(async move {
                    let r = http.get(url).send().await.unwrap();
                    assert_eq!(r.status(), 200);
                    let t = r.text().await.unwrap();
                    assert!(t == "OK" || t.starts_with("NOK|"), "{t}");
                    0
                });
            }
            let (http, url) = (
                c.node.http.clone(),
                c.node.root_url(&format!(
                    "/api/v1/paid/{own_id}/buy?login={login}&key={key}"
                )),
            );
            tasks.spawn(async move {
                let r = http.post(url).send().await.unwrap();
                assert!(r.status() == 200 || r.status() == 402, "{}", r.status());
                0
            });
        }
    }
    let mut deposited = deposited_first;
    while let Some(done) = tasks.join_next().await {
        deposited += done.unwrap();
    }
    assert_eq!(deposited, deposited_first + 5 * 21);

    // Each buyer paid at most once per file: their credits are exactly
    // what they got less the price of each file they now hold.
    let mut sold_by_operator = 0i64;
    let mut sold_by_seller = 0i64;
    for (login, key, token) in &buyers {
        let mut spent = 0i64;
        for (md5, price) in &files {
            let (_, t) = c
                .text(&format!("/getfiletoken?f={md5}&token={token}"))
                .await;
            if t == "TOK" {
                spent += *price as i64;
                sold_by_operator += *price as i64;
            }
        }
        let r = c
            .node
            .http
            .get(
                c.node
                    .root_url(&format!("/api/v1/paid/{own_id}?login={login}&key={key}")),
            )
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        if v["bought"] == true {
            spent += 5;
            sold_by_seller += 5;
        }
        assert_eq!(c.credits(login).await, 10 + 21 - spent, "{login}");
    }
    assert_eq!(c.credits(&seller).await, sold_by_seller);
    // Each buyer could afford the 7-credit file from the start, so sales
    // happened; and 36 credits of files against 31 means some were refused.
    assert!(sold_by_operator + sold_by_seller > 0);
    assert!(sold_by_operator + sold_by_seller < 36 * buyers.len() as i64);

    // Every credit is somewhere: the accounts and the operator hold
    // exactly what was deposited.
    let (_, v) = c.node.get_json("/accounts").await;
    let users: i64 = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["credits"].as_i64().unwrap())
        .sum();
    let ledger = c.ledger().await;
    let operator = ledger["system"]["operator"]["credits"].as_i64().unwrap();
    assert_eq!(operator, sold_by_operator);
    assert_eq!(users + operator, deposited as i64, "{ledger}");
    assert_eq!(ledger["system"]["mint"]["credits"], -(deposited as i64));
    assert_eq!(ledger["credits_sum"], 0);
    assert_eq!(ledger["drift"], 0);
}
