//! The S3-compatible API driven by the real clients: aws-cli (Debian's
//! `awscli`) and rclone (Debian's), with raw signed requests (a small
//! SigV4 signer below) for what no client sends on purpose: cut bodies,
//! forged and replayed chunk signatures, an abort racing a part.

mod common;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Endpoint, TestNode, data, wait_for_file};
use serde_json::Value;

/// A node with its S3 listener on.
struct S3Node {
    node: TestNode,
    s3: String,
    tmp: tempfile::TempDir,
}

/// An access key and its secret.
#[derive(Clone)]
struct Key {
    id: String,
    secret: String,
}

impl S3Node {
    async fn start() -> Self {
        let node = TestNode::start_with("[s3]\nenabled = true\nlisten = \"127.0.0.1:0\"\n").await;
        let s3 = wait_for_file(&node.dir.join("s3.addr"));
        Self {
            node,
            s3,
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.s3)
    }

    /// The key `cairn account s3-key [login]` prints as JSON.
    fn key(&self, login: Option<&str>) -> Key {
        let mut args = vec!["--json", "account", "s3-key"];
        args.extend(login);
        let out = self.node.cli(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        Key {
            id: v["access_key_id"].as_str().unwrap().to_owned(),
            secret: v["secret_access_key"].as_str().unwrap().to_owned(),
        }
    }

    /// aws-cli as `key`, with no config of the machine's.
    fn aws(&self, key: &Key, args: &[&str]) -> Output {
        let bin = std::env::var("CAIRN_AWS").unwrap_or_else(|_| "/usr/bin/aws".into());
        Command::new(&bin)
            .arg("--endpoint-url")
            .arg(self.endpoint())
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.tmp.path())
            .env("AWS_ACCESS_KEY_ID", &key.id)
            .env("AWS_SECRET_ACCESS_KEY", &key.secret)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "")
            .output()
            .unwrap_or_else(|e| panic!("run {bin} (install awscli; scripts/test.sh does): {e}"))
    }

    /// aws-cli that must succeed; its stdout.
    fn aws_ok(&self, key: &Key, args: &[&str]) -> String {
        let out = self.aws(key, args);
        assert!(
            out.status.success(),
            "aws {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// aws-cli that must fail with S3 error `code`.
    fn aws_err(&self, key: &Key, args: &[&str], code: &str) {
        let out = self.aws(key, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "aws {args:?} succeeded");
        assert!(
            err.contains(&format!("({code})")),
            "aws {args:?}: wanted {code}, got {err}"
        );
    }

    /// rclone with a remote `cairn:` signed by `key`.
    fn rclone(&self, key: &Key, args: &[&str]) -> Output {
        let conf = self.tmp.path().join(format!("rclone-{}.conf", key.id));
        std::fs::write(
            &conf,
            format!(
                "[cairn]\ntype = s3\nprovider = Other\naccess_key_id = {}\nsecret_access_key = {}\nendpoint = {}\nregion = us-east-1\n",
                key.id,
                key.secret,
                self.endpoint()
            ),
        )
        .unwrap();
        let bin = std::env::var("CAIRN_RCLONE").unwrap_or_else(|_| "rclone".into());
        Command::new(&bin)
            .arg("--config")
            .arg(&conf)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.tmp.path())
            .output()
            .unwrap_or_else(|e| panic!("run {bin} (install rclone; scripts/test.sh does): {e}"))
    }

    fn rclone_ok(&self, key: &Key, args: &[&str]) -> String {
        let out = self.rclone(key, args);
        assert!(
            out.status.success(),
            "rclone {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.tmp.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    async fn counts(&self) -> Value {
        let (status, v) = self.node.get_json("/status").await;
        assert_eq!(status, 200, "{v}");
        v["counts"].clone()
    }
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_cli_copies_in_parts_lists_reads_ranges_and_presigns() {
    let s3 = S3Node::start().await;
    let op = s3.key(None);
    s3.aws_ok(&op, &["s3", "mb", "s3://media"]);
    assert!(s3.aws_ok(&op, &["s3", "ls"]).contains("media"));

    // 100 MiB: aws-cli sends it in 8 MiB parts (13 of them).
    let big = data(100 << 20, 7);
    let path = s3.file("big.bin", &big);
    let path = path.to_str().unwrap();
    s3.aws_ok(
        &op,
        &[
            "s3",
            "cp",
            "--no-progress",
            path,
            "s3://media/videos/big.bin",
        ],
    );
    let head: Value = serde_json::from_str(&s3.aws_ok(
        &op,
        &[
            "s3api",
            "head-object",
            "--bucket",
            "media",
            "--key",
            "videos/big.bin",
        ],
    ))
    .unwrap();
    assert_eq!(head["ContentLength"], 100 << 20);
    let etag = head["ETag"].as_str().unwrap().trim_matches('"').to_owned();
    assert!(etag.ends_with("-13"), "a multipart ETag: {etag}");
    // One file, one blob: the parts went with their upload.
    let counts = s3.counts().await;
    assert_eq!(
        (counts["files"].as_u64(), counts["blobs"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(counts["blob_bytes"], 100 << 20);
    let uploads = s3.aws_ok(
        &op,
        &["s3api", "list-multipart-uploads", "--bucket", "media"],
    );
    assert!(!uploads.contains("UploadId"), "{uploads}");

    let ls = s3.aws_ok(&op, &["s3", "ls", "s3://media/videos/"]);
    assert!(ls.contains(&format!("{} big.bin", 100 << 20)), "{ls}");
    let ls = s3.aws_ok(&op, &["s3", "ls", "s3://media/"]);
    assert!(ls.contains("PRE videos/"), "{ls}");

    let part = s3.tmp.path().join("range.out");
    s3.aws_ok(
        &op,
        &[
            "s3api",
            "get-object",
            "--bucket",
            "media",
            "--key",
            "videos/big.bin",
            "--range",
            "bytes=1000000-1000999",
            part.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&part).unwrap(), &big[1_000_000..1_001_000]);
    let back = s3.tmp.path().join("back.bin");
    s3.aws_ok(
        &op,
        &[
            "s3",
            "cp",
            "--no-progress",
            "s3://media/videos/big.bin",
            back.to_str().unwrap(),
        ],
    );
    assert!(std::fs::read(&back).unwrap() == big, "the download differs");

    // A presigned URL, fetched by curl.
    let url = s3.aws_ok(
        &op,
        &[
            "s3",
            "presign",
            "s3://media/videos/big.bin",
            "--expires-in",
            "60",
        ],
    );
    let got = Command::new("curl")
        .args(["-s", "-f", "-r", "0-65535", url.trim()])
        .output()
        .unwrap();
    assert!(got.status.success());
    assert_eq!(got.stdout, &big[..65536]);
    let url = s3.aws_ok(
        &op,
        &[
            "s3",
            "presign",
            "s3://media/videos/big.bin",
            "--expires-in",
            "1",
        ],
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let got = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", url.trim()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&got.stdout);
    assert!(
        text.ends_with("\n403") && text.contains("<Code>AccessDenied</Code>"),
        "{text}"
    );

    // A single-part object's ETag is its MD5; metadata round-trips.
    let small = data(300_000, 8);
    let path = s3.file("small.bin", &small);
    let put: Value = serde_json::from_str(&s3.aws_ok(
        &op,
        &[
            "s3api",
            "put-object",
            "--bucket",
            "media",
            "--key",
            "notes/small.bin",
            "--body",
            path.to_str().unwrap(),
            "--metadata",
            "mtime=1700000000.5,md5chksum=abc",
            "--content-type",
            "text/x-test",
        ],
    ))
    .unwrap();
    assert_eq!(
        put["ETag"].as_str().unwrap().trim_matches('"'),
        md5_hex(&small)
    );
    let head: Value = serde_json::from_str(&s3.aws_ok(
        &op,
        &[
            "s3api",
            "head-object",
            "--bucket",
            "media",
            "--key",
            "notes/small.bin",
        ],
    ))
    .unwrap();
    assert_eq!(head["Metadata"]["mtime"], "1700000000.5");
    assert_eq!(head["Metadata"]["md5chksum"], "abc");
    assert_eq!(head["ContentType"], "text/x-test");
    // Put again without them: the object's old metadata goes with it.
    s3.aws_ok(
        &op,
        &[
            "s3api",
            "put-object",
            "--bucket",
            "media",
            "--key",
            "notes/again.bin",
            "--body",
            path.to_str().unwrap(),
            "--metadata",
            "a=1,b=2",
        ],
    );
    s3.aws_ok(
        &op,
        &[
            "s3api",
            "put-object",
            "--bucket",
            "media",
            "--key",
            "notes/again.bin",
            "--body",
            path.to_str().unwrap(),
            "--metadata",
            "b=3",
        ],
    );
    let head: Value = serde_json::from_str(&s3.aws_ok(
        &op,
        &[
            "s3api",
            "head-object",
            "--bucket",
            "media",
            "--key",
            "notes/again.bin",
        ],
    ))
    .unwrap();
    assert_eq!(head["Metadata"], serde_json::json!({ "b": "3" }));
    s3.aws_ok(&op, &["s3", "rm", "s3://media/notes/again.bin"]);

    // Copy: the same content, a new key; conditional reads.
    s3.aws_ok(
        &op,
        &[
            "s3api",
            "copy-object",
            "--bucket",
            "media",
            "--key",
            "copy.bin",
            "--copy-source",
            "media/notes/small.bin",
        ],
    );
    let head: Value = serde_json::from_str(&s3.aws_ok(
        &op,
        &[
            "s3api",
            "head-object",
            "--bucket",
            "media",
            "--key",
            "copy.bin",
        ],
    ))
    .unwrap();
    assert_eq!(
        head["ETag"].as_str().unwrap().trim_matches('"'),
        md5_hex(&small)
    );
    assert_eq!(head["Metadata"]["mtime"], "1700000000.5");
    let tag = format!("\"{}\"", md5_hex(&small));
    // Never /dev/null: aws-cli removes the output file of a failed get.
    let sink = s3.tmp.path().join("conditional.out");
    let sink = sink.to_str().unwrap();
    let out = s3.aws(
        &op,
        &[
            "s3api",
            "get-object",
            "--bucket",
            "media",
            "--key",
            "copy.bin",
            "--if-none-match",
            &tag,
            sink,
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("304"),
        "{out:?}"
    );
    s3.aws_err(
        &op,
        &[
            "s3api",
            "get-object",
            "--bucket",
            "media",
            "--key",
            "copy.bin",
            "--if-match",
            "\"0000\"",
            sink,
        ],
        "PreconditionFailed",
    );

    // aws-chunked with a trailing checksum (CRC32), as aws-cli sends it.
    let path = s3.file("crc.bin", &data(2 << 20, 9));
    s3.aws_ok(
        &op,
        &[
            "s3api",
            "put-object",
            "--checksum-algorithm",
            "CRC32",
            "--bucket",
            "media",
            "--key",
            "crc.bin",
            "--body",
            path.to_str().unwrap(),
        ],
    );
    let back = s3.tmp.path().join("crc.back");
    s3.aws_ok(
        &op,
        &[
            "s3",
            "cp",
            "--no-progress",
            "s3://media/crc.bin",
            back.to_str().unwrap(),
        ],
    );
    assert!(std::fs::read(&back).unwrap() == data(2 << 20, 9));

    // Deletes, and the folders they leave empty go.
    s3.aws_ok(&op, &["s3", "rm", "s3://media/notes/small.bin"]);
    let ls = s3.aws_ok(&op, &["s3", "ls", "s3://media/"]);
    assert!(!ls.contains("notes/"), "{ls}");
    s3.aws_err(
        &op,
        &[
            "s3api",
            "head-object",
            "--bucket",
            "media",
            "--key",
            "notes/small.bin",
        ],
        "404",
    );
    s3.aws_err(&op, &["s3", "rb", "s3://media"], "BucketNotEmpty");
    s3.aws_ok(&op, &["s3", "rm", "--recursive", "s3://media/"]);
    s3.aws_ok(&op, &["s3", "rb", "s3://media"]);
    assert!(!s3.aws_ok(&op, &["s3", "ls"]).contains("media"));
}

#[tokio::test(flavor = "multi_thread")]
async fn rclone_copies_lists_reads_syncs_and_checks() {
    let s3 = S3Node::start().await;
    let op = s3.key(None);
    let src = s3.tmp.path().join("src");
    for (name, len, seed) in [
        ("a.bin", 100_000, 1),
        ("b.bin", 200_000, 2),
        ("sub/c d+e.txt", 1_000, 3),
        ("sub/deep/big.bin", 12 << 20, 4),
        ("sub/é ünïcode.bin", 5_000, 5),
    ] {
        let path = src.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data(len, seed)).unwrap();
    }
    let src_s = src.to_str().unwrap();
    // Parts of 5 MiB past 5 MiB: the 12 MiB file goes in three.
    let parts = ["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"];
    let mut args = vec!["copy", src_s, "cairn:photos"];
    args.extend(parts);
    s3.rclone_ok(&op, &args);
    let ls = s3.rclone_ok(&op, &["ls", "cairn:photos"]);
    assert!(
        ls.contains(&format!("{} sub/deep/big.bin", 12 << 20)),
        "{ls}"
    );
    assert!(ls.contains("1000 sub/c d+e.txt"), "{ls}");
    let mut lsf: Vec<String> = s3
        .rclone_ok(&op, &["lsf", "-R", "--files-only", "cairn:photos"])
        .lines()
        .map(str::to_owned)
        .collect();
    lsf.sort();
    assert_eq!(
        lsf,
        [
            "a.bin",
            "b.bin",
            "sub/c d+e.txt",
            "sub/deep/big.bin",
            "sub/é ünïcode.bin"
        ]
    );
    let cat = s3.rclone(
        &op,
        &[
            "cat",
            "--offset",
            "6000000",
            "--count",
            "100",
            "cairn:photos/sub/deep/big.bin",
        ],
    );
    assert!(
        cat.status.success(),
        "{}",
        String::from_utf8_lossy(&cat.stderr)
    );
    assert_eq!(cat.stdout, &data(12 << 20, 4)[6_000_000..6_000_100]);
    let check = s3.rclone(&op, &["check", src_s, "cairn:photos"]);
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(
        check.status.success() && said.contains("0 differences found"),
        "{said}"
    );
    assert!(said.contains("5 matching files"), "{said}");

    // Sync with deletes.
    std::fs::remove_file(src.join("b.bin")).unwrap();
    std::fs::remove_dir_all(src.join("sub/deep")).unwrap();
    std::fs::write(src.join("new.txt"), b"new").unwrap();
    s3.rclone_ok(&op, &["sync", src_s, "cairn:photos"]);
    let mut lsf: Vec<String> = s3
        .rclone_ok(&op, &["lsf", "-R", "cairn:photos"])
        .lines()
        .map(str::to_owned)
        .collect();
    lsf.sort();
    assert_eq!(
        lsf,
        [
            "a.bin",
            "new.txt",
            "sub/",
            "sub/c d+e.txt",
            "sub/é ünïcode.bin"
        ]
    );
    let check = s3.rclone(&op, &["check", src_s, "cairn:photos"]);
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(
        check.status.success() && said.contains("0 differences found"),
        "{said}"
    );
    // What sync removed is gone from the node too (its blobs with it).
    let counts = s3.counts().await;
    assert_eq!(counts["files"], 4, "{counts}");
    assert_eq!(counts["blobs"], 4, "{counts}");
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_see_their_own_buckets_within_their_quota() {
    let s3 = S3Node::start().await;
    for (login, quota) in [("alice", "1500000"), ("bob", "10000000")] {
        let out = s3.node.cli(&[
            "account",
            "create",
            "--login",
            login,
            "--storage-limit",
            quota,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (alice, bob) = (s3.key(Some("alice")), s3.key(Some("bob")));
    assert_ne!(alice.id, bob.id);
    // The same key until rotated; a rotated key's predecessor is refused.
    assert_eq!(s3.key(Some("alice")).id, alice.id);

    s3.aws_ok(&alice, &["s3", "mb", "s3://photos"]);
    let one = s3.file("one.bin", &data(1_000_000, 1));
    s3.aws_ok(
        &alice,
        &["s3", "cp", one.to_str().unwrap(), "s3://photos/one.bin"],
    );
    // Bob sees none of it: his buckets are his home's folders.
    assert!(!s3.aws_ok(&bob, &["s3", "ls"]).contains("photos"));
    s3.aws_err(
        &bob,
        &[
            "s3api",
            "head-object",
            "--bucket",
            "photos",
            "--key",
            "one.bin",
        ],
        "404",
    );
    s3.aws_ok(&bob, &["s3", "mb", "s3://photos"]);
    assert_eq!(s3.aws_ok(&bob, &["s3", "ls", "s3://photos/"]), "");
    // Over the quota: refused, nothing stored.
    let two = s3.file("two.bin", &data(1_000_000, 2));
    s3.aws_err(
        &alice,
        &[
            "s3api",
            "put-object",
            "--bucket",
            "photos",
            "--key",
            "two.bin",
            "--body",
            two.to_str().unwrap(),
        ],
        "QuotaExceeded",
    );
    let ls = s3.aws_ok(&alice, &["s3", "ls", "s3://photos/"]);
    assert!(ls.contains("one.bin") && !ls.contains("two.bin"), "{ls}");

    // Parts count against the quota before the upload is complete.
    let up: Value = serde_json::from_str(&s3.aws_ok(
        &alice,
        &[
            "s3api",
            "create-multipart-upload",
            "--bucket",
            "photos",
            "--key",
            "mp.bin",
        ],
    ))
    .unwrap();
    let id = up["UploadId"].as_str().unwrap();
    s3.aws_err(
        &alice,
        &[
            "s3api",
            "upload-part",
            "--bucket",
            "photos",
            "--key",
            "mp.bin",
            "--upload-id",
            id,
            "--part-number",
            "1",
            "--body",
            two.to_str().unwrap(),
        ],
        "QuotaExceeded",
    );

    let old = alice.clone();
    let out = s3
        .node
        .cli(&["--json", "account", "s3-key", "alice", "--rotate"]);
    assert!(out.status.success());
    s3.aws_err(&old, &["s3", "ls"], "InvalidAccessKeyId");
    let new = s3.key(Some("alice"));
    assert_ne!(new.id, old.id);
    assert!(s3.aws_ok(&new, &["s3", "ls"]).contains("photos"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_s3s_errors_and_store_nothing() {
    let s3 = S3Node::start().await;
    let op = s3.key(None);
    s3.aws_ok(&op, &["s3", "mb", "s3://box"]);
    let wrong = Key {
        id: op.id.clone(),
        secret: "x".repeat(40),
    };
    s3.aws_err(&wrong, &["s3", "ls"], "SignatureDoesNotMatch");
    let nobody = Key {
        id: "CRNAAAAAAAAAAAAAAAAA".into(),
        secret: "x".repeat(40),
    };
    s3.aws_err(&nobody, &["s3", "ls"], "InvalidAccessKeyId");
    // Unsigned: refused.
    let unsigned = reqwest::get(format!("{}/box", s3.endpoint()))
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    assert!(
        unsigned
            .text()
            .await
            .unwrap()
            .contains("<Code>AccessDenied</Code>")
    );

    for bad in ["ab", "Upper", "under_score", "-dash", "a..b", "192.168.0.1"] {
        let arg = format!("--bucket={bad}");
        s3.aws_err(&op, &["s3api", "create-bucket", &arg], "InvalidBucketName");
    }
    let body = s3.file("body.bin", b"content");
    let body = body.to_str().unwrap();
    let long = "k".repeat(1025);
    for (key, code) in [
        ("a/../b", "InvalidArgument"),
        ("a//b", "InvalidArgument"),
        ("./a", "InvalidArgument"),
        (long.as_str(), "KeyTooLongError"),
    ] {
        s3.aws_err(
            &op,
            &[
                "s3api",
                "put-object",
                "--bucket",
                "box",
                "--key",
                key,
                "--body",
                body,
            ],
            code,
        );
    }
    s3.aws_err(
        &op,
        &[
            "s3api",
            "put-object",
            "--bucket",
            "nope",
            "--key",
            "k",
            "--body",
            body,
        ],
        "NoSuchBucket",
    );
    // A body that is not what Content-MD5 says: refused, the object kept.
    s3.aws_ok(
        &op,
        &[
            "s3api",
            "put-object",
            "--bucket",
            "box",
            "--key",
            "kept",
            "--body",
            body,
        ],
    );
    s3.aws_err(
        &op,
        &[
            "s3api",
            "put-object",
            "--bucket",
            "box",
            "--key",
            "kept",
            "--body",
            body,
            "--content-md5",
            "AAAAAAAAAAAAAAAAAAAAAA==",
        ],
        "BadDigest",
    );
    let head: Value = serde_json::from_str(&s3.aws_ok(
        &op,
        &["s3api", "head-object", "--bucket", "box", "--key", "kept"],
    ))
    .unwrap();
    assert_eq!(
        head["ETag"].as_str().unwrap().trim_matches('"'),
        md5_hex(b"content")
    );

    // Multipart completed wrongly: S3's errors, and nothing stored.
    let up: Value = serde_json::from_str(&s3.aws_ok(
        &op,
        &[
            "s3api",
            "create-multipart-upload",
            "--bucket",
            "box",
            "--key",
            "mp/file.bin",
        ],
    ))
    .unwrap();
    let id = up["UploadId"].as_str().unwrap().to_owned();
    let p1 = s3.file("p1", &data(5 << 20, 1));
    let p2 = s3.file("p2", &data(1000, 2));
    let mut tags = Vec::new();
    for (n, p) in [("1", &p1), ("2", &p2)] {
        let v: Value = serde_json::from_str(&s3.aws_ok(
            &op,
            &[
                "s3api",
                "upload-part",
                "--bucket",
                "box",
                "--key",
                "mp/file.bin",
                "--upload-id",
                &id,
                "--part-number",
                n,
                "--body",
                p.to_str().unwrap(),
            ],
        ))
        .unwrap();
        tags.push(v["ETag"].as_str().unwrap().to_owned());
    }
    let complete = |parts: &str, code: &str| {
        let spec = s3.file("parts.json", parts.as_bytes());
        s3.aws_err(
            &op,
            &[
                "s3api",
                "complete-multipart-upload",
                "--bucket",
                "box",
                "--key",
                "mp/file.bin",
                "--upload-id",
                &id,
                "--multipart-upload",
                &format!("file://{}", spec.display()),
            ],
            code,
        );
    };
    let part = |n: u32, tag: &str| {
        format!(
            "{{\"PartNumber\":{n},\"ETag\":{}}}",
            serde_json::to_string(tag).unwrap()
        )
    };
    complete(
        &format!(
            "{{\"Parts\":[{},{}]}}",
            part(2, &tags[1]),
            part(1, &tags[0])
        ),
        "InvalidPartOrder",
    );
    complete(
        &format!(
            "{{\"Parts\":[{},{}]}}",
            part(1, &tags[0]),
            part(3, &tags[1])
        ),
        "InvalidPart",
    );
    complete(
        &format!(
            "{{\"Parts\":[{},{}]}}",
            part(1, "\"00000000000000000000000000000000\""),
            part(2, &tags[1])
        ),
        "InvalidPart",
    );
    complete(
        &format!(
            "{{\"Parts\":[{},{}]}}",
            part(2, &tags[1]),
            part(3, &tags[1])
        ),
        "InvalidPart",
    );
    s3.aws_err(
        &op,
        &[
            "s3api",
            "head-object",
            "--bucket",
            "box",
            "--key",
            "mp/file.bin",
        ],
        "404",
    );
    let parts: Value = serde_json::from_str(&s3.aws_ok(
        &op,
        &[
            "s3api",
            "list-parts",
            "--bucket",
            "box",
            "--key",
            "mp/file.bin",
            "--upload-id",
            &id,
        ],
    ))
    .unwrap();
    assert_eq!(parts["Parts"].as_array().unwrap().len(), 2);
    s3.aws_ok(
        &op,
        &[
            "s3api",
            "abort-multipart-upload",
            "--bucket",
            "box",
            "--key",
            "mp/file.bin",
            "--upload-id",
            &id,
        ],
    );
    s3.aws_err(
        &op,
        &[
            "s3api",
            "list-parts",
            "--bucket",
            "box",
            "--key",
            "mp/file.bin",
            "--upload-id",
            &id,
        ],
        "NoSuchUpload",
    );
    // Only `kept` is left: no part's blob, no folder of the upload's.
    let counts = s3.counts().await;
    assert_eq!(
        (counts["files"].as_u64(), counts["blobs"].as_u64()),
        (Some(1), Some(1)),
        "{counts}"
    );
    assert!(!s3.aws_ok(&op, &["s3", "ls", "s3://box/"]).contains("mp/"));
}

/// A SigV4 signer for requests no client sends on purpose.
mod sigv4 {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};

    pub const EMPTY_SHA256: &str =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn hmac(key: &[u8], msg: &str) -> Vec<u8> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
        m.update(msg.as_bytes());
        m.finalize().into_bytes().to_vec()
    }

    pub fn sha256_hex(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// `(YYYYMMDD'T'HHMMSS'Z', YYYYMMDD)` of a Unix time.
    pub fn dates(secs: u64) -> (String, String) {
        let days = (secs / 86400) as i64;
        let rem = secs % 86400;
        // Civil from days (H. Hinnant).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        let date = format!("{y:04}{m:02}{d:02}");
        let stamp = format!(
            "{date}T{:02}{:02}{:02}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        );
        (stamp, date)
    }

    pub struct Signer {
        pub id: String,
        pub secret: String,
        pub stamp: String,
        pub date: String,
    }

    impl Signer {
        pub fn scope(&self) -> String {
            format!("{}/us-east-1/s3/aws4_request", self.date)
        }

        fn key(&self) -> Vec<u8> {
            let k = hmac(format!("AWS4{}", self.secret).as_bytes(), &self.date);
            let k = hmac(&k, "us-east-1");
            let k = hmac(&k, "s3");
            hmac(&k, "aws4_request")
        }

        /// The seed signature of a request whose headers (lowercase,
        /// sorted) are all signed.
        pub fn sign(
            &self,
            method: &str,
            path: &str,
            query: &str,
            headers: &[(&str, String)],
            payload: &str,
        ) -> String {
            let canonical_headers: String =
                headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
            let signed: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
            let request = format!(
                "{method}\n{path}\n{query}\n{canonical_headers}\n{}\n{payload}",
                signed.join(";")
            );
            let to_sign = format!(
                "AWS4-HMAC-SHA256\n{}\n{}\n{}",
                self.stamp,
                self.scope(),
                sha256_hex(request.as_bytes())
            );
            hex::encode(hmac(&self.key(), &to_sign))
        }

        pub fn authorization(&self, headers: &[(&str, String)], signature: &str) -> String {
            let signed: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, Signature={signature}",
                self.id,
                self.scope(),
                signed.join(";")
            )
        }

        /// The signature of one chunk after `previous`.
        pub fn chunk(&self, previous: &str, chunk: &[u8]) -> String {
            let to_sign = format!(
                "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{previous}\n{EMPTY_SHA256}\n{}",
                self.stamp,
                self.scope(),
                sha256_hex(chunk)
            );
            hex::encode(hmac(&self.key(), &to_sign))
        }
    }
}

fn signer(key: &Key) -> sigv4::Signer {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (stamp, date) = sigv4::dates(now);
    sigv4::Signer {
        id: key.id.clone(),
        secret: key.secret.clone(),
        stamp,
        date,
    }
}

/// How a streaming upload's chunks are signed.
#[derive(Clone, Copy, Debug)]
enum Chunks {
    Right,
    /// The second chunk carries the first one's signature.
    Replayed,
    /// The second chunk's signature is forged.
    Forged,
    /// The second chunk has no signature at all.
    Missing,
}

/// A PUT of `body` in 64 KiB chunks signed as `how` (STREAMING-AWS4-
/// HMAC-SHA256-PAYLOAD, as the Java and Go SDKs send); the status line
/// and the answer.
fn streaming_put(addr: &str, key: &Key, path: &str, body: &[u8], how: Chunks) -> String {
    let s = signer(key);
    let mut encoded = Vec::new();
    let chunks: Vec<&[u8]> = body
        .chunks(64 << 10)
        .chain(std::iter::once(&[][..]))
        .collect();
    let headers_base = |len: usize| {
        vec![
            ("content-encoding", "aws-chunked".to_owned()),
            ("content-length", len.to_string()),
            ("host", addr.to_owned()),
            (
                "x-amz-content-sha256",
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_owned(),
            ),
            ("x-amz-date", s.stamp.clone()),
            ("x-amz-decoded-content-length", body.len().to_string()),
        ]
    };
    // The encoded length is known before the signatures (64 hex digits each).
    let sig_len = 64;
    let total: usize = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let head = format!("{:x};chunk-signature=", c.len()).len() + sig_len + 2;
            let head = if i == 1 && matches!(how, Chunks::Missing) {
                format!("{:x}", c.len()).len() + 2
            } else {
                head
            };
            head + c.len() + 2
        })
        .sum();
    let headers = headers_base(total);
    let seed = s.sign(
        "PUT",
        path,
        "",
        &headers,
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    );
    let mut previous = seed.clone();
    let mut first = String::new();
    for (i, c) in chunks.iter().enumerate() {
        let mut sig = s.chunk(&previous, c);
        previous = sig.clone();
        if i == 0 {
            first = sig.clone();
        }
        if i == 1 {
            match how {
                Chunks::Right => {}
                Chunks::Replayed => sig = first.clone(),
                Chunks::Forged => sig = "0".repeat(64),
                Chunks::Missing => {
                    encoded.extend(format!("{:x}\r\n", c.len()).bytes());
                    encoded.extend_from_slice(c);
                    encoded.extend(b"\r\n");
                    continue;
                }
            }
        }
        encoded.extend(format!("{:x};chunk-signature={sig}\r\n", c.len()).bytes());
        encoded.extend_from_slice(c);
        encoded.extend(b"\r\n");
    }
    assert_eq!(encoded.len(), total);
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!("PUT {path} HTTP/1.1\r\n");
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "authorization: {}\r\nconnection: close\r\n\r\n",
        s.authorization(&headers, &seed)
    ));
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(&encoded);
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// Starts a signed UploadPart of `len` bytes (an unsigned payload), sends
/// `sent` of them, and hands back the open connection.
fn start_part(
    addr: &str,
    key: &Key,
    bucket: &str,
    obj: &str,
    upload: &str,
    len: usize,
    sent: usize,
) -> std::net::TcpStream {
    let s = signer(key);
    let path = format!("/{bucket}/{obj}");
    let query = format!("partNumber=1&uploadId={upload}");
    let headers = vec![
        ("content-length", len.to_string()),
        ("host", addr.to_owned()),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD".to_owned()),
        ("x-amz-date", s.stamp.clone()),
    ];
    let sig = s.sign("PUT", &path, &query, &headers, "UNSIGNED-PAYLOAD");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!("PUT {path}?{query} HTTP/1.1\r\n");
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "authorization: {}\r\nconnection: close\r\n\r\n",
        s.authorization(&headers, &sig)
    ));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&data(sent, 3)).unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread")]
async fn chunk_signatures_cut_parts_and_aborts_store_nothing_half() {
    let s3 = S3Node::start().await;
    let op = s3.key(None);
    s3.aws_ok(&op, &["s3", "mb", "s3://raw"]);
    let body = data(200_000, 5);
    let ok = streaming_put(&s3.s3, &op, "/raw/signed.bin", &body, Chunks::Right);
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let back = s3.tmp.path().join("signed.back");
    s3.aws_ok(
        &op,
        &["s3", "cp", "s3://raw/signed.bin", back.to_str().unwrap()],
    );
    assert!(std::fs::read(&back).unwrap() == body);
    for how in [Chunks::Replayed, Chunks::Forged, Chunks::Missing] {
        let answer = streaming_put(&s3.s3, &op, "/raw/bad.bin", &body, how);
        assert!(answer.starts_with("HTTP/1.1 4"), "{how:?}: {answer}");
        if !matches!(how, Chunks::Missing) {
            assert!(
                answer.contains("SignatureDoesNotMatch"),
                "{how:?}: {answer}"
            );
        }
        s3.aws_err(
            &op,
            &[
                "s3api",
                "head-object",
                "--bucket",
                "raw",
                "--key",
                "bad.bin",
            ],
            "404",
        );
    }

    // A client that goes away mid-part leaves no part.
    let up: Value = serde_json::from_str(&s3.aws_ok(
        &op,
        &[
            "s3api",
            "create-multipart-upload",
            "--bucket",
            "raw",
            "--key",
            "cut.bin",
        ],
    ))
    .unwrap();
    let id = up["UploadId"].as_str().unwrap().to_owned();
    let blobs_before = s3.counts().await["blobs"].as_u64().unwrap();
    let stream = start_part(&s3.s3, &op, "raw", "cut.bin", &id, 8 << 20, 3 << 20);
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let parts: Value = serde_json::from_str(&s3.aws_ok(
            &op,
            &[
                "s3api",
                "list-parts",
                "--bucket",
                "raw",
                "--key",
                "cut.bin",
                "--upload-id",
                &id,
            ],
        ))
        .unwrap();
        assert!(
            parts["Parts"].as_array().is_none_or(Vec::is_empty),
            "{parts}"
        );
        let jobs = s3.node.get_json("/jobs").await.1;
        let running =
            jobs.to_string().contains("upload-part") && jobs.to_string().contains("running");
        if !running || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s3.counts().await["blobs"].as_u64().unwrap(), blobs_before);

    // An abort while a part is on its way: the part is refused, and no
    // blob of it stays.
    let mut stream = start_part(&s3.s3, &op, "raw", "cut.bin", &id, 6 << 20, 2 << 20);
    s3.aws_ok(
        &op,
        &[
            "s3api",
            "abort-multipart-upload",
            "--bucket",
            "raw",
            "--key",
            "cut.bin",
            "--upload-id",
            &id,
        ],
    );
    stream.write_all(&data(4 << 20, 4)).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 404") && answer.contains("NoSuchUpload"),
        "{answer}"
    );
    assert_eq!(s3.counts().await["blobs"].as_u64().unwrap(), blobs_before);
    let uploads = s3.aws_ok(&op, &["s3api", "list-multipart-uploads", "--bucket", "raw"]);
    assert!(!uploads.contains("UploadId"), "{uploads}");
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_page_in_s3s_key_order() {
    let s3 = S3Node::start().await;
    let op = s3.key(None);
    s3.aws_ok(&op, &["s3", "mb", "s3://order"]);
    let body = s3.file("x", b"x");
    // Bytewise: '-' < '.' < '/' < '0', so the folder `a` sorts between.
    let keys = ["a0", "a/b", "a-b", "a/c/d", "a.c", "b", "a/c/e"];
    for key in keys {
        s3.aws_ok(
            &op,
            &[
                "s3api",
                "put-object",
                "--bucket",
                "order",
                "--key",
                key,
                "--body",
                body.to_str().unwrap(),
            ],
        );
    }
    let mut want: Vec<&str> = keys.to_vec();
    want.sort();
    for (call, size) in [
        ("list-objects-v2", "1"),
        ("list-objects-v2", "2"),
        ("list-objects", "1"),
        ("list-objects", "3"),
    ] {
        let out: Value = serde_json::from_str(&s3.aws_ok(
            &op,
            &["s3api", call, "--bucket", "order", "--page-size", size],
        ))
        .unwrap();
        let got: Vec<&str> = out["Contents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["Key"].as_str().unwrap())
            .collect();
        assert_eq!(got, want, "{call} by {size}");
    }
    for size in ["1", "2", "10"] {
        let out: Value = serde_json::from_str(&s3.aws_ok(
            &op,
            &[
                "s3api",
                "list-objects-v2",
                "--bucket",
                "order",
                "--delimiter",
                "/",
                "--page-size",
                size,
            ],
        ))
        .unwrap();
        let files: Vec<&str> = out["Contents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["Key"].as_str().unwrap())
            .collect();
        let dirs: Vec<&str> = out["CommonPrefixes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["Prefix"].as_str().unwrap())
            .collect();
        assert_eq!(
            (files, dirs),
            (vec!["a-b", "a.c", "a0", "b"], vec!["a/"]),
            "by {size}"
        );
    }
    let out: Value = serde_json::from_str(&s3.aws_ok(
        &op,
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            "order",
            "--prefix",
            "a/c/",
            "--delimiter",
            "/",
        ],
    ))
    .unwrap();
    let files: Vec<&str> = out["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["Key"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["a/c/d", "a/c/e"]);
    let out: Value = serde_json::from_str(&s3.aws_ok(
        &op,
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            "order",
            "--start-after",
            "a/b",
        ],
    ))
    .unwrap();
    let files: Vec<&str> = out["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["Key"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["a/c/d", "a/c/e", "a0", "b"]);
}
