//! The `cairn` CLI driving a real node: the fixed interface of issue 2
//! (`upload` prints `<id>  <path>`, `download -o`, `status`, `--json`) and
//! the catalog commands.

mod common;

use common::{Dirs, Endpoint, TestNode, b3, data};
use serde_json::Value;

fn stdout(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "cairn failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn upload_prints_blake3_ids_and_download_is_byte_exact() {
    let node = TestNode::start().await;
    let big = data(3 * 1024 * 1024 + 17, 1);
    let f1 = node.file("big.bin", &big);
    let f2 = node.file("empty.txt", b"");
    let out = stdout(&node.cli(&["upload", "-q", f1.to_str().unwrap(), f2.to_str().unwrap()]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{}  {}", b3(&big), f1.display()),
            format!("{}  {}", b3(b""), f2.display()),
        ]
    );
    let dest = node.files.join("back.bin");
    stdout(&node.cli(&["download", &b3(&big), "-o", dest.to_str().unwrap(), "-q"]));
    assert_eq!(std::fs::read(&dest).unwrap(), big);
    let empty_back = node.files.join("empty.back");
    stdout(&node.cli(&["download", &b3(b""), "-o", empty_back.to_str().unwrap()]));
    assert_eq!(std::fs::read(&empty_back).unwrap(), b"");
}

#[tokio::test]
async fn a_download_to_a_pipe_writes_into_it_and_leaves_it_a_pipe() {
    use std::os::unix::fs::FileTypeExt;
    let node = TestNode::start().await;
    let content = data(300_000, 2);
    let f = node.file("pipe.bin", &content);
    stdout(&node.cli(&["upload", "-q", f.to_str().unwrap()]));
    // A named pipe stands for /dev/null and its kind: a file renamed over
    // it would replace it.
    let fifo = node.files.join("out.fifo");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo reads a valid C string.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    stdout(&node.cli(&[
        "download",
        &b3(&content),
        "-o",
        fifo.to_str().unwrap(),
        "-q",
    ]));
    // Checked first: a reader of a replaced pipe would wait forever.
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "the pipe was replaced: {kind:?}");
    assert_eq!(reader.join().unwrap(), content);
}

#[tokio::test]
async fn a_folder_uploads_recursively_and_keeps_its_tree() {
    let node = TestNode::start().await;
    node.file("album/a.txt", b"first");
    node.file("album/disc 2/b.txt", b"second");
    node.file("album/disc 2/deeper/c.txt", b"third");
    let out = stdout(&node.cli(&["upload", "-q", node.files.join("album").to_str().unwrap()]));
    assert_eq!(out.lines().count(), 3, "{out}");
    for content in [&b"first"[..], b"second", b"third"] {
        assert!(out.contains(&b3(content)), "{out}");
    }
    let ls: Value = serde_json::from_str(&stdout(&node.cli(&["--json", "ls"]))).unwrap();
    let album = &ls["entries"][0];
    assert_eq!(album["name"], "album");
    assert_eq!(album["kind"], "folder");
    let inner: Value = serde_json::from_str(&stdout(&node.cli(&[
        "--json",
        "ls",
        album["id"].as_str().unwrap(),
    ])))
    .unwrap();
    let names: Vec<&str> = inner["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["disc 2", "a.txt"], "folders first, then files");
}

#[tokio::test]
async fn files_outside_the_import_roots_stream_over_http_instead() {
    let node = TestNode::start().await;
    let elsewhere = tempfile::tempdir().unwrap();
    let path = elsewhere.path().join("outside.bin");
    let content = data(1_500_000, 2);
    std::fs::write(&path, &content).unwrap();
    let out = stdout(&node.cli(&["upload", "-q", path.to_str().unwrap()]));
    assert_eq!(out.trim(), format!("{}  {}", b3(&content), path.display()));
}

#[tokio::test]
async fn upload_of_a_missing_path_fails_clearly() {
    let node = TestNode::start().await;
    let missing = node.files.join("nope.bin");
    let o = node.cli(&["upload", missing.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("does not exist"), "{err}");
}

#[tokio::test]
async fn catalog_commands_and_json_output() {
    let node = TestNode::start().await;
    let f = node.file("movie.mkv", &data(1000, 3));
    stdout(&node.cli(&["upload", "-q", f.to_str().unwrap()]));
    let folder = stdout(&node.cli(&["mkdir", "Films"])).trim().to_owned();
    assert_eq!(folder.len(), 11);
    let ls: Value = serde_json::from_str(&stdout(&node.cli(&["--json", "ls"]))).unwrap();
    let movie = ls["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "movie.mkv")
        .unwrap()
        .clone();
    let id = movie["id"].as_str().unwrap();
    stdout(&node.cli(&["mv", id, "--to", &folder, "--name", "Night.mkv"]));
    stdout(&node.cli(&[
        "meta",
        "set",
        id,
        "title=Night of the Living Dead",
        "year=1968",
    ]));
    let meta = stdout(&node.cli(&["meta", "get", id]));
    assert!(
        meta.contains("title=Night of the Living Dead") && meta.contains("year=1968"),
        "{meta}"
    );
    stdout(&node.cli(&["meta", "set", id, "year="]));
    let info: Value = serde_json::from_str(&stdout(&node.cli(&["--json", "info", id]))).unwrap();
    assert_eq!(info["name"], "Night.mkv");
    assert_eq!(info["parent"], folder.as_str());
    assert!(info["metadata"].get("year").is_none());
    let status: Value = serde_json::from_str(&stdout(&node.cli(&["--json", "status"]))).unwrap();
    assert_eq!(status["counts"]["files"], 1);
    assert_eq!(status["counts"]["folders"], 1);
    assert!(status["node_id"].as_str().unwrap().starts_with("12D3KooW"));
    let o = node.cli(&["rm", &folder]);
    assert!(!o.status.success(), "a non-empty folder needs -r");
    stdout(&node.cli(&["rm", "-r", &folder]));
    let jobs: Value = serde_json::from_str(&stdout(&node.cli(&["--json", "jobs"]))).unwrap();
    assert!(
        jobs.as_array()
            .unwrap()
            .iter()
            .any(|j| j["kind"] == "import" && j["state"] == "done")
    );
}

#[tokio::test]
async fn stop_ends_the_daemon_cleanly() {
    let mut node = TestNode::start().await;
    stdout(&node.cli(&["stop"]));
    assert_eq!(node.wait_exit(), Some(0));
    assert!(
        !node.dir.join("api.addr").exists(),
        "the address file goes with the node"
    );
    let o = node.cli(&["status"]);
    assert!(!o.status.success());
}

#[test]
fn a_new_data_dir_is_created_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fresh/data");
    let mut child = std::process::Command::new(common::BIN)
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "node",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !dir.join("api.addr").exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    for secret in ["apisecret", "identity.key", "convergence.key"] {
        assert!(
            dir.join(secret).exists(),
            "{secret} is created on first start"
        );
    }
}

/// The CLI sends the admin secret with every call: it must reach the node
/// itself, never a proxy the environment names (which would see the
/// secret in the clear).
#[tokio::test]
async fn the_cli_never_sends_the_secret_through_a_proxy() {
    let node = TestNode::start().await;
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    // The proxy hangs up on whoever dials it (a CLI that uses it fails
    // rather than waits), and counts them.
    let dialled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = dialled.clone();
    std::thread::spawn(move || {
        for conn in proxy.incoming() {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(conn);
        }
    });
    let out = std::process::Command::new(common::BIN)
        .arg("--data-dir")
        .arg(&node.dir)
        .args(["status", "--json"])
        .env("HTTP_PROXY", &proxy_url)
        .env("http_proxy", &proxy_url)
        .env("ALL_PROXY", &proxy_url)
        .env("all_proxy", &proxy_url)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    let status: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(status["version"].is_string(), "{status}");
    assert_eq!(
        dialled.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the CLI dialled the proxy"
    );
}

/// Issue 18, keys: RSA keys made by the node, checked with OpenSSH's own
/// `ssh-keygen` (the public key's form, and the private key giving the
/// same public key), kept across a kill.
#[tokio::test]
async fn rsa_keys_are_made_listed_labelled_and_erased() {
    let mut node = TestNode::start().await;
    let ls = stdout(&node.cli(&["key", "ls"]));
    assert!(ls.starts_with("master"), "the master first: {ls}");
    assert!(ls.lines().next().unwrap().contains(" 2048 "), "{ls}");

    let made = stdout(&node.cli(&[
        "key",
        "create",
        "cats",
        "--size",
        "1024",
        "--label",
        "Cats and Dogs",
    ]));
    assert!(
        made.starts_with("ssh-rsa ") && made.contains("-----BEGIN RSA PRIVATE KEY-----"),
        "{made}"
    );
    let public = stdout(&node.cli(&["key", "get", "cats"])).trim().to_owned();
    assert!(made.starts_with(&public));
    let pub_file = node.file("cats.pub", format!("{public}\n").as_bytes());
    let out = std::process::Command::new("ssh-keygen")
        .arg("-l")
        .arg("-f")
        .arg(&pub_file)
        .output()
        .expect("ssh-keygen (openssh-client, installed by scripts/test.sh)");
    let print = stdout(&out);
    assert!(
        print.starts_with("1024 SHA256:") && print.contains("(RSA)"),
        "{print}"
    );
    let private = stdout(&node.cli(&["key", "get", "cats", "--private"]));
    let key_file = node.file("cats.pem", private.as_bytes());
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let derived = stdout(
        &std::process::Command::new("ssh-keygen")
            .arg("-y")
            .arg("-f")
            .arg(&key_file)
            .output()
            .unwrap(),
    );
    assert_eq!(
        derived.trim(),
        public,
        "the private key is the public key's"
    );

    // Taken, malformed, the master: clear refusals.
    for (args, says) in [
        (vec!["key", "create", "cats"], "already exists"),
        (vec!["key", "create", "Ab"], "not a key alias"),
        (vec!["key", "create", "dogs", "--size", "1000"], "not made"),
        (vec!["key", "create", "master"], "identity's own key"),
        (vec!["key", "rm", "master"], "cannot be erased"),
        (vec!["key", "label", "master", "x"], "cannot be changed"),
        (vec!["key", "get", "nothere"], "no key"),
    ] {
        let out = node.cli(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{args:?}: {err}"
        );
    }
    let (status, _) = node
        .send_json(
            reqwest::Method::POST,
            "/keys",
            serde_json::json!({ "alias": "dogs", "size": 512 }),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = node.get_json("/keys/nothere").await;
    assert_eq!(status, 404);

    stdout(&node.cli(&["key", "label", "cats", "Pets"]));
    // Kept across a kill, master and all.
    let master = stdout(&node.cli(&["key", "get", "master"]));
    node.kill9();
    let node = node.restart().await;
    assert_eq!(stdout(&node.cli(&["key", "get", "master"])), master);
    let (status, k) = node.get_json("/keys/cats").await;
    assert_eq!(status, 200, "{k}");
    assert_eq!(
        (
            k["label"].as_str(),
            k["public"].as_str(),
            k["private"].clone()
        ),
        (Some("Pets"), Some(public.as_str()), Value::Null),
        "no private part unless asked"
    );
    let list = stdout(&node.cli(&["--json", "key", "ls"]));
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    stdout(&node.cli(&["key", "rm", "cats"]));
    let (status, _) = node.get_json("/keys/cats").await;
    assert_eq!(status, 404);
}

/// Issue 18, identity backup: a backup file alone makes a new data dir the
/// same identity (peer id, RSA master key); a cut or forged file, or a
/// data dir that already is someone, is refused and left as it was.
#[tokio::test]
async fn an_identity_comes_back_from_its_backup_alone() {
    let mut node = TestNode::start().await;
    let shown: Value = serde_json::from_str(&stdout(&node.cli(&["--json", "id", "show"]))).unwrap();
    let peer = shown["peer_id"].as_str().unwrap().to_owned();
    assert!(
        shown["master_key"]
            .as_str()
            .unwrap()
            .starts_with("ssh-rsa ")
    );
    let master_pem = stdout(&node.cli(&["key", "get", "master", "--private"]));
    let backup = node.files.join("alice.backup");
    stdout(&node.cli(&["id", "backup", "-o", backup.to_str().unwrap()]));
    let mode = std::fs::metadata(&backup).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&backup).unwrap();
    assert!(text.contains(&format!("peer {peer}\n")), "{text}");
    node.terminate();

    let recover = |dir: &std::path::Path, file: &std::path::Path| {
        std::process::Command::new(common::BIN)
            .arg("--data-dir")
            .arg(dir)
            .args(["id", "recover"])
            .arg(file)
            .output()
            .unwrap()
    };
    let refused = |out: std::process::Output, says: &str| {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success() && err.contains(says), "{says}: {err}");
    };
    let tmp = tempfile::tempdir().unwrap();
    // Cut short, or a seed that is not the peer's: refused, nothing written.
    let cut = tmp.path().join("cut.backup");
    std::fs::write(&cut, &text[..text.len() - 40]).unwrap();
    let empty = tmp.path().join("empty");
    refused(recover(&empty, &cut), "cut short");
    let forged = tmp.path().join("forged.backup");
    let seed = text.lines().find(|l| l.starts_with("seed ")).unwrap();
    let other_seed = format!("seed {}", "ab".repeat(32));
    std::fs::write(&forged, text.replace(seed, &other_seed)).unwrap();
    refused(recover(&empty, &forged), "not the peer's");
    assert!(!empty.join("identity.key").exists());

    // A new data dir becomes the identity, its master key and all.
    let dir = tmp.path().join("data");
    let out = recover(&dir, &backup);
    assert!(stdout(&out).contains(&peer));
    refused(recover(&dir, &backup), "already the identity");
    let node = TestNode::start_in(&dir).await;
    let again: Value = serde_json::from_str(&stdout(&node.cli(&["--json", "id", "show"]))).unwrap();
    assert_eq!(again["peer_id"], peer.as_str());
    assert_eq!(again["master_key"], shown["master_key"]);
    assert_eq!(
        stdout(&node.cli(&["key", "get", "master", "--private"])),
        master_pem
    );
    assert!(!dir.join("recovered-master.pem").exists());
    // A data dir that is someone else is never overwritten.
    let other = TestNode::start().await;
    refused(recover(&other.dir, &backup), "another identity");
    refused(recover(&node.dir, &backup), "already the identity");
}
