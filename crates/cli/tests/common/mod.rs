//! Starts the real `cairn` binary on 127.0.0.1 with a throwaway data dir
//! and talks to it over HTTP and through the CLI; and the rest of the
//! harness every test crate shares:
//!
//! - [`endpoint`]: what a test talks to, either kind of node;
//! - [`inproc`]: a node in the test's own process, for fast layer tests;
//! - [`seeds`]: one small client per seed (cacaoweb, MetaDisk, Openload);
//! - [`net`]: helpers for tests of several nodes on one network.
#![allow(dead_code)]

pub mod endpoint;
pub mod inproc;
pub mod media;
pub mod net;
pub mod seeder;
pub mod seeds;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

// Each test crate uses some of the harness.
#[allow(unused_imports)]
pub use endpoint::{Dirs, Endpoint, Listener};
#[allow(unused_imports)]
pub use inproc::InProcNode;

pub const BIN: &str = env!("CARGO_BIN_EXE_cairn");

/// A running node and its data dir.
pub struct TestNode {
    pub dir: PathBuf,
    /// Files the tests make; the node's only import root.
    pub files: PathBuf,
    child: Option<Child>,
    pub addr: String,
    pub secret: String,
    pub http: reqwest::Client,
    _keep: Option<tempfile::TempDir>,
}

impl TestNode {
    /// A new node in a new temporary data dir.
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    /// A new node whose config.toml ends with `extra`.
    pub async fn start_with(extra: &str) -> Self {
        Self::start_with_env(extra, &[]).await
    }

    /// A new node whose config.toml ends with `extra`, started with extra
    /// environment variables (e.g. a `PATH` without ffmpeg).
    pub async fn start_with_env(extra: &str, env: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("data");
        let mut node = Self::start_in_with(&dir, extra, env).await;
        node._keep = Some(tmp);
        node
    }

    /// A node on `dir` (created with a config on first use).
    pub async fn start_in(dir: &Path) -> Self {
        Self::start_in_with(dir, "", &[]).await
    }

    /// The `[torrents]` section of the tests: loopback, no DHT, trackers
    /// or LAN discovery.
    pub const TORRENTS_LOOPBACK: &str = "[torrents]\nlisten = \"127.0.0.1:0\"\ndht = false\ntrackers = false\nlocal_discovery = false\n";

    async fn start_in_with(dir: &Path, extra: &str, env: &[(&str, &str)]) -> Self {
        let files = dir.parent().unwrap().join("files");
        std::fs::create_dir_all(&files).unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("config.toml");
        if !config.exists() {
            std::fs::write(
                &config,
                format!(
                    "{}import_roots = [\"{}\"]\nlog = \"warn\"\n{extra}\n{}",
                    // A test that needs the same address after a restart
                    // gives its own `listen` first.
                    if extra.starts_with("listen") {
                        ""
                    } else {
                        "listen = \"127.0.0.1:0\"\n"
                    },
                    files.display(),
                    // Tests never take cacaoweb's fixed port unless they ask.
                    if extra.contains("[layers]") {
                        ""
                    } else {
                        "[layers]\ncacaoweb = []\npowder = []\nbitdust = []\n"
                    },
                ) + if extra.contains("[network]") {
                    ""
                } else {
                    // Loopback only, no LAN discovery: tests never meet
                    // other tests' nodes unless they ask to.
                    "[network]\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\nmdns = false\n"
                } + if extra.contains("[torrents]") {
                    ""
                } else {
                    // Torrents find peers only where a test points them.
                    Self::TORRENTS_LOOPBACK
                },
            )
            .unwrap();
        }
        let _ = std::fs::remove_file(dir.join("api.addr"));
        let child = Command::new(BIN)
            .arg("--data-dir")
            .arg(dir)
            .arg("node")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start cairn node");
        let addr = wait_for_file(&dir.join("api.addr"));
        let secret = std::fs::read_to_string(dir.join("apisecret"))
            .unwrap()
            .trim()
            .to_owned();
        let node = Self {
            dir: dir.to_path_buf(),
            files,
            child: Some(child),
            addr,
            secret,
            http: endpoint::client(),
            _keep: None,
        };
        node.wait_ready().await;
        node
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self
                .http
                .get(self.url("/openapi.json"))
                .send()
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("node at {} did not answer within 30 s", self.addr);
    }

    /// Runs the CLI against this node.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--data-dir")
            .arg(&self.dir)
            .args(args)
            .output()
            .expect("run cairn")
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// kill -9.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits (bounded) for a clean exit; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        wait_exit(&mut child)
    }

    /// Waits (bounded) for the process to exit by itself.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        wait_exit(&mut child)
    }

    /// Restarts on the same data dir (after kill9 or terminate).
    pub async fn restart(mut self) -> Self {
        self.kill9();
        let mut next = Self::start_in(&self.dir).await;
        next._keep = self._keep.take();
        next
    }

    /// Restarts on the same data dir (after a kill -9), in place.
    pub async fn restart_here(&mut self) {
        self.kill9();
        let mut next = Self::start_in(&self.dir).await;
        next._keep = self._keep.take();
        *self = next;
    }

    /// Opens a raw TCP connection to the node (for cut-off bodies).
    pub fn raw(&self) -> TcpStream {
        TcpStream::connect(&self.addr).unwrap()
    }
}

impl Endpoint for TestNode {
    fn addr(&self) -> &str {
        &self.addr
    }

    fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn secret(&self) -> &str {
        &self.secret
    }
}

impl Dirs for TestNode {
    fn dir(&self) -> &Path {
        &self.dir
    }

    fn files(&self) -> &Path {
        &self.files
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn wait_exit(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

/// Waits (bounded) for a file the node writes (an address) and reads it.
pub fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(s) = std::fs::read_to_string(path)
            && !s.trim().is_empty()
        {
            return s.trim().to_owned();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} did not appear within 30 s", path.display());
}

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn b3(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// Sends a request head and part of a body, then closes the connection.
pub fn send_partial(stream: &mut TcpStream, head: &str, body: &[u8]) {
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    stream.flush().unwrap();
}

/// Reads whatever the server answers until it closes (bounded).
pub fn read_answer(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Multipart bodies (boundary `XyZ`) whose form breaks in or after a file
/// part named `field` (one of them in a field named `after` that follows
/// it): each with what is wrong with it. None may store anything.
pub fn broken_forms(field: &str, after: &str) -> Vec<(&'static str, Vec<u8>)> {
    let head = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"cut.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let file = data(300_000, 61);
    let with = |tail: &[u8], cut: usize| {
        let mut b = head.as_bytes().to_vec();
        b.extend_from_slice(&file[..cut]);
        b.extend_from_slice(tail);
        b
    };
    vec![
        ("cut off mid-part", with(b"", 123_456)),
        (
            "part ended, no end boundary",
            with(b"\r\n--XyZ", file.len()),
        ),
        (
            "part ended, no end boundary, CRLF",
            with(b"\r\n--XyZ\r\n", file.len()),
        ),
        (
            "cut off in a field after the file",
            with(
                format!("\r\n--XyZ\r\nContent-Disposition: form-data; name=\"{after}\"\r\n\r\nabc")
                    .as_bytes(),
                file.len(),
            ),
        ),
        (
            "cut off in the headers",
            b"--XyZ\r\nContent-Disposition: form-da".to_vec(),
        ),
    ]
}
