//! What cacaoweb's loopback listener trusts, against the real binary
//! (issue 15's attacks, each pinned): a name swapped for a symlink while
//! it is uploaded by path, a local user uploading a file they cannot read,
//! one answer for missing, outside and unreadable paths, private files
//! asked for by MD5 or listed, and foreign `Host` names (DNS rebinding).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Dirs, Endpoint, TestNode, data, wait_for_file};
use md5::{Digest, Md5};
use reqwest::Method;
use serde_json::json;

const CONFIG: &str = "[gateway]\ncacaoweb_metadata_wait_ms = 100\n[layers]\npowder = []\nbitdust = []\ncacaoweb = [\"127.0.0.1:0\"]\n";

struct Cacao {
    node: TestNode,
    base: String,
}

impl Cacao {
    async fn start() -> Self {
        let node = TestNode::start_with(CONFIG).await;
        let base = format!("http://{}", wait_for_file(&node.dir.join("cacaoweb.addr")));
        Self { node, base }
    }

    /// A GET on the layer's own listener: status, the reason header, body.
    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
        let mut r = self.node.http.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let why = resp
            .headers()
            .get("x-cairn-error")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, why, resp.bytes().await.unwrap().to_vec())
    }

    /// The same GET on the node's main listener, without the secret.
    async fn get_main(&self, path: &str) -> u16 {
        let r = self.node.http.get(self.node.root_url(path)).send().await;
        r.unwrap().status().as_u16()
    }

    fn upload_path(path: &Path) -> String {
        format!("/upload?filepath={}", path.display())
    }
}

fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The symlink race of issue 15: one name flips between a regular file and
/// a symlink to a secret outside the import roots while cacaoweb uploads
/// it again and again. Before the fix the secret was stored (and then
/// served by its MD5) in about one try in twelve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_swapped_for_a_symlink_never_uploads_its_target() {
    let c = Cacao::start().await;
    let outside = c.node.files.parent().unwrap().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let secret = data(5000, 77);
    std::fs::write(outside.join("secret.bin"), &secret).unwrap();
    let name = c.node.files.join("flip.bin");
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let (stop, name, dir) = (stop.clone(), name.clone(), c.node.files.clone());
        let target = outside.join("secret.bin");
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let (regular, link) = (dir.join("regular.tmp"), dir.join("link.tmp"));
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let _ = std::fs::write(&regular, b"a regular file");
                let _ = std::fs::rename(&regular, &name);
                let _ = std::os::unix::fs::symlink(&target, &link);
                let _ = std::fs::rename(&link, &name);
            }
        })
    };
    let (wanted, regular) = (md5_hex(&secret), md5_hex(b"a regular file"));
    let deadline = Instant::now() + Duration::from_secs(40);
    let (mut tries, mut stored) = (0, 0);
    while tries < 300 && Instant::now() < deadline {
        tries += 1;
        let (s, why, body) = c.get(&Cacao::upload_path(&name), &[]).await;
        let body = String::from_utf8(body).unwrap();
        assert_ne!(body, wanted, "try {tries} stored the secret");
        assert!(
            !why.contains("secret.bin"),
            "the refusal names the target: {why}"
        );
        if s == 200 {
            assert_eq!(body, regular);
            stored += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    flipper.join().unwrap();
    assert!(
        stored > 0,
        "no upload of the regular file went through in {tries} tries"
    );
    let (s, _, _) = c.get(&format!("/?f={wanted}"), &[]).await;
    assert_eq!(s, 404);
    let (s, _) = c.node.get_json(&format!("/blobs/{wanted}")).await;
    assert_eq!(s, 404, "the secret is nowhere in the catalog");
}

/// A link out of the roots, uploaded with the admin secret: refused, and
/// the answer names the path asked for, never where the link leads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_link_does_not_tell_where_it_leads() {
    let c = Cacao::start().await;
    let hidden = c.node.files.parent().unwrap().join("hidden-place");
    std::fs::create_dir_all(&hidden).unwrap();
    std::fs::write(hidden.join("target-name.txt"), b"x").unwrap();
    let link = c.node.files.join("innocent");
    std::os::unix::fs::symlink(hidden.join("target-name.txt"), &link).unwrap();
    let r = c
        .node
        .http
        .get(c.node.root_url(&Cacao::upload_path(&link)))
        .bearer_auth(&c.node.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let why = r.headers()["x-cairn-error"].to_str().unwrap().to_owned();
    assert!(why.contains("innocent"), "{why}");
    assert!(
        !why.contains("hidden-place") && !why.contains("target-name"),
        "{why}"
    );
    // The native import says the same.
    let (s, v) = c
        .node
        .send_json(
            Method::POST,
            "/import",
            json!({ "path": link, "wait": true }),
        )
        .await;
    assert_eq!(s, 403, "{v}");
    assert!(!v.to_string().contains("hidden-place"), "{v}");
}

/// Issue 15's local user: with the node running as root, `nobody` asked it
/// to upload a root-only file and then read it by its MD5. Runs only where
/// the test can switch uid (as root); the uid lookup itself is unit-tested
/// on a real loopback socket in the engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_user_uploads_only_what_they_could_read_themselves() {
    if euid() != 0 {
        eprintln!("not root: cannot act as another local user here");
        return;
    }
    let c = Cacao::start().await;
    // The way down to the files, open to others (tempfile made its folder
    // 0700; the data dir beside the files stays closed).
    chmod(c.node.files.parent().unwrap(), 0o755);
    chmod(&c.node.files, 0o755);
    let readable = c.node.file("open/readable.bin", &data(3000, 1));
    chmod(&c.node.files.join("open"), 0o755);
    chmod(&readable, 0o644);
    let secret_data = data(3000, 2);
    let secret = c.node.file("private/secret.bin", &secret_data);
    chmod(&c.node.files.join("private"), 0o755);
    chmod(&secret, 0o600);
    let shut_in = c.node.file("closed/readable-inside.bin", &data(3000, 3));
    chmod(&c.node.files.join("closed"), 0o700);
    chmod(&shut_in, 0o644);

    let as_nobody = |path: &str| curl_as(65534, &format!("{}{path}", c.base));
    // A file nobody may read: refused, with an empty body.
    let refused = as_nobody(&Cacao::upload_path(&secret));
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(refused.body.is_empty());
    // Missing, outside the roots, behind a folder they cannot enter:
    // the very same answer (no existence oracle).
    let secret_str = secret.display().to_string();
    for other in [
        c.node.files.join("private/missing.bin"),
        PathBuf::from("/etc/shadow"),
        PathBuf::from("/etc/hostname"),
        shut_in.clone(),
    ] {
        let a = as_nobody(&Cacao::upload_path(&other));
        let same = refused
            .reason
            .replace(&secret_str, &other.display().to_string());
        assert_eq!((a.status, &a.reason), (403, &same), "{other:?}");
    }
    // Nothing of the secret reached the node.
    let (s, _, _) = c.get(&format!("/?f={}", md5_hex(&secret_data)), &[]).await;
    assert_eq!(s, 404);
    // A file they can read goes in, and answers its MD5.
    let ok = as_nobody(&Cacao::upload_path(&readable));
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.body, md5_hex(&data(3000, 1)));
    // Running the node is for its own user (or root).
    let exit = as_nobody("/exit");
    assert_eq!(exit.status, 403, "{exit:?}");
    let (s, _) = c.node.get_json("/status").await;
    assert_eq!(s, 200, "still running");
    // Root, who may read the secret, may upload it.
    let (s, _, body) = c.get(&Cacao::upload_path(&secret), &[]).await;
    assert_eq!(
        (s, String::from_utf8(body).unwrap()),
        (200, md5_hex(&secret_data))
    );
}

fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    reason: String,
    body: String,
}

/// A GET by `curl` running as `uid`: a real client of another local user.
fn curl_as(uid: u32, url: &str) -> Answer {
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "--max-time", "30", url])
        .uid(uid)
        .gid(uid)
        .output()
        .expect("curl is installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let reason = head
        .lines()
        .find_map(|l| l.strip_prefix("x-cairn-error: "))
        .unwrap_or("")
        .to_owned();
    Answer {
        status,
        reason,
        body: body.to_owned(),
    }
}

/// Issue 15: a file uploaded privately through the native API was listed
/// in `/downloads` and served whole by its MD5 to anyone, on cacaoweb's
/// listener and on the main port. Private files stay private on every
/// door; published ones (through cacaoweb, public, for sale) are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_files_are_neither_served_nor_listed_without_the_secret() {
    let c = Cacao::start().await;
    let private = data(4000, 9);
    let md5 = md5_hex(&private);
    let (s, entry) = c
        .node
        .upload("private.bin", private.clone(), "&digests=wait")
        .await;
    assert_eq!(s, 201);
    let id = entry["id"].as_str().unwrap().to_owned();
    // The admin streams it (seen with the secret) ...
    let r = c
        .node
        .http
        .get(c.node.root_url(&format!("/?f={md5}")))
        .bearer_auth(&c.node.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().to_vec(), private);
    // ... and nobody else finds it, by any door.
    for path in [
        format!("/?f={md5}"),
        format!("/{md5}"),
        format!("/file/download.caml?downloadid={md5}"),
        format!("/fileinfo?f={md5}"),
    ] {
        let (s, _, body) = c.get(&path, &[]).await;
        assert_eq!((s, body.len()), (404, 0), "{path}");
        assert_eq!(c.get_main(&path).await, 404, "main port {path}");
    }
    let (_, _, meta) = c.get(&format!("/filemetadata?f={md5}"), &[]).await;
    assert_eq!(meta, b"<?xml version=\"1.0\"?><results></results>");
    let (_, _, list) = c.get("/downloads", &[]).await;
    let list = String::from_utf8(list).unwrap();
    assert!(
        !list.contains(&md5) && !list.contains("private.bin"),
        "{list}"
    );
    for path in [
        format!("/api/v1/paid/{id}"),
        format!("/api/v1/paid/{id}/content"),
    ] {
        assert_eq!(c.get_main(&path).await, 404, "{path}");
    }

    // The operator publishes it: now anyone may read it.
    let (s, _) = c
        .node
        .send_json(
            Method::PATCH,
            &format!("/entries/{id}/metadata"),
            json!({ "public": "true" }),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _, body) = c.get(&format!("/?f={md5}"), &[]).await;
    assert_eq!((s, body), (200, private.clone()));
    assert_eq!(c.get_main(&format!("/api/v1/paid/{id}")).await, 200);
    let (_, _, list) = c.get("/downloads", &[]).await;
    assert!(String::from_utf8(list).unwrap().contains(&md5));
}

/// cacaoweb's delete removes what cacaoweb published, not the operator's
/// private copy of the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cacaoweb_delete_leaves_private_copies_alone() {
    let c = Cacao::start().await;
    let bytes = data(2500, 4);
    let md5 = md5_hex(&bytes);
    let (s, private) = c
        .node
        .upload("mine.bin", bytes.clone(), "&digests=wait")
        .await;
    assert_eq!(s, 201);
    let path = c.node.file("shared.bin", &bytes);
    let (s, _, body) = c.get(&Cacao::upload_path(&path), &[]).await;
    assert_eq!((s, String::from_utf8(body).unwrap()), (200, md5.clone()));
    let (s, _, _) = c.get(&format!("/file/delete.caml?fileid={md5}"), &[]).await;
    assert_eq!(s, 200);
    let (s, _, _) = c.get(&format!("/?f={md5}"), &[]).await;
    assert_eq!(s, 404, "the published copy is gone");
    let (s, v) = c
        .node
        .get_json(&format!("/entries/{}", private["id"].as_str().unwrap()))
        .await;
    assert_eq!(s, 200, "the private copy stays: {v}");
}

/// DNS rebinding: a page on a name re-pointed at 127.0.0.1 reaches the
/// listener with that name in `Host`. Every call refuses it, reads too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_of_the_loopback_listener_checks_the_host() {
    let c = Cacao::start().await;
    let path = c.node.file("pub.bin", &data(1200, 5));
    let (s, _, md5) = c.get(&Cacao::upload_path(&path), &[]).await;
    assert_eq!(s, 200);
    let md5 = String::from_utf8(md5).unwrap();
    let port = c.base.rsplit(':').next().unwrap().to_owned();
    let reads = [
        "/downloads".to_owned(),
        "/uploads".to_owned(),
        format!("/filemetadata?f={md5}"),
        format!("/?f={md5}"),
        format!("/{md5}"),
        "/version".to_owned(),
        "/crossdomain.xml".to_owned(),
        "/no-such-call".to_owned(),
    ];
    for host in [format!("evil.example:{port}"), "evil.example".to_owned()] {
        for p in &reads {
            let (s, _, body) = c.get(p, &[("host", &host)]).await;
            assert_eq!((s, body.len()), (403, 0), "{host} {p}");
        }
    }
    // Loopback names and IP addresses name this machine.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LOCAL.cacaoweb.org:{port}"),
        format!("[::1]:{port}"),
        format!("192.0.2.7:{port}"),
    ] {
        let (s, _, _) = c.get(&format!("/?f={md5}"), &[("host", &host)]).await;
        assert_eq!(s, 200, "{host}");
    }
}
