//! An in-process node: the engine started with `Node::start` in the test's
//! own process and served on 127.0.0.1 as the binary serves it (the
//! native API and every seed's layer on the main listener, a layer's own
//! listener where the config gives it one, each through
//! `cairn_api::serve_app`, so handlers see the same `Conn`). A layer's
//! tests run here without starting a process; stopping the node checks
//! that no task (the node's or its network's) outlived it.
//!
//! What only the binary does is not here, and its tests keep
//! [`super::TestNode`]: signals and exit codes, restarts, the CLI, the
//! address files, the process's umask, `/digest` of the executable, a
//! node started with another environment. Calls on the engine are limited
//! to `Node::start`, `shutdown`, `tasks_ended` and `api_secret`: the rest
//! goes over HTTP, as in the binary's tests.
//!
//! The layers are the binary's own list (`cairn_cli::seed_layers`); the
//! listeners below follow `serve_layers` in `crates/cli/src/daemon.rs`.

use std::path::{Path, PathBuf};

use cairn_node::{Config, Node};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::endpoint::{Dirs, Endpoint, Listener};

/// A node running in this process, served on loopback; stopped (and
/// checked for leaked tasks) by [`InProcNode::stop`] or when dropped.
pub struct InProcNode {
    pub dir: PathBuf,
    /// Files the tests make; the node's only import root.
    pub files: PathBuf,
    /// The main listener's `host:port`.
    pub addr: String,
    pub secret: String,
    pub http: reqwest::Client,
    /// `None` once stopped.
    node: Option<Node>,
    served: Served,
    _tmp: tempfile::TempDir,
}

/// The listeners serving a node: each layer's own (the first of its
/// config's list) and every listener's task.
struct Served {
    own: Vec<(&'static str, String)>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl InProcNode {
    /// A node with the harness's config ([`InProcNode::config`]).
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A node whose config is the harness's, then changed by `change`.
    pub async fn start_with(change: impl FnOnce(&mut Config)) -> Self {
        log_warnings();
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("data");
        let files = tmp.path().join("files");
        std::fs::create_dir_all(&files).unwrap();
        let mut config = Self::config(&files);
        change(&mut config);
        let node = Node::start(&dir, config.clone())
            .await
            .expect("start the node");
        let (addr, served) = serve(&node, &config).await;
        Self {
            dir,
            files,
            addr,
            secret: node.api_secret().to_owned(),
            http: super::endpoint::client(),
            node: Some(node),
            served,
            _tmp: tmp,
        }
    }

    /// The harness's config: what `TestNode` writes to config.toml. The
    /// files folder is the only import root; no layer takes a listener of
    /// its own (cacaoweb's fixed port stays free); the network is off,
    /// and a test that turns it on gets loopback only, without mDNS.
    pub fn config(files: &Path) -> Config {
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            import_roots: vec![files.to_path_buf()],
            log: "warn".into(),
            ..Config::default()
        };
        config.layers.cacaoweb = Vec::new();
        config.layers.powder = Vec::new();
        config.layers.bitdust = Vec::new();
        config.network.enabled = false;
        config.network.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
        config.network.mdns = false;
        config.torrents.listen = "127.0.0.1:0".parse().unwrap();
        config.torrents.dht = false;
        config.torrents.trackers = false;
        config.torrents.local_discovery = false;
        config
    }

    /// The `host:port` of layer `name`'s own listener, if it has one.
    pub fn own_addr(&self, name: &str) -> Option<&str> {
        self.served
            .own
            .iter()
            .find(|(layer, _)| *layer == name)
            .map(|(_, addr)| addr.as_str())
    }

    /// Layer `name`'s own listener, as an endpoint (panics without one).
    pub fn own_listener(&self, name: &str) -> Listener {
        let addr = self
            .own_addr(name)
            .unwrap_or_else(|| panic!("the {name} layer has no listener of its own"));
        Listener {
            addr: addr.to_owned(),
            http: self.http.clone(),
            secret: self.secret.clone(),
        }
    }

    /// Stops the node, waits for its listeners to end, and checks that
    /// none of its tasks outlived it.
    pub async fn stop(mut self) {
        self.shut_down().await;
    }

    async fn shut_down(&mut self) {
        let Some(node) = self.node.take() else {
            return;
        };
        // The check below means something only if it fails on a node that
        // runs.
        assert!(!node.tasks_ended().await, "a running node has no task");
        node.shutdown().await;
        for task in self.served.tasks.drain(..) {
            task.await
                .expect("a listener's task panicked")
                .expect("a listener failed");
        }
        assert!(
            node.tasks_ended().await,
            "a task outlived the node served on {}",
            self.addr
        );
    }
}

impl Drop for InProcNode {
    /// Stops the node as [`InProcNode::stop`] does. Waiting needs a
    /// multi-thread runtime (a current-thread one cannot run the node's
    /// tasks while its only thread waits here): a test on one must call
    /// `stop().await` itself. After a failed assertion nothing is checked.
    fn drop(&mut self) {
        if self.node.is_none() || std::thread::panicking() {
            return;
        }
        let runtime = tokio::runtime::Handle::try_current().ok();
        match runtime {
            Some(rt) if rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| rt.block_on(self.shut_down()));
            }
            _ => panic!(
                "an InProcNode outside a multi-thread runtime must be stopped with `stop().await`"
            ),
        }
    }
}

impl Endpoint for InProcNode {
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

impl Dirs for InProcNode {
    fn dir(&self) -> &Path {
        &self.dir
    }

    fn files(&self) -> &Path {
        &self.files
    }
}

/// Serves `node` as the binary does: the main listener on 127.0.0.1:0
/// with the native API and every layer's routes, then each layer's own
/// listeners; answers the main listener's address.
async fn serve(node: &Node, config: &Config) -> (String, Served) {
    let seeds = cairn_cli::seed_layers(node, config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let main = cairn_api::main_app(
        cairn_api::router(node.clone()),
        seeds.iter().map(|(layer, _)| layer.router()),
    );
    let mut served = Served {
        own: Vec::new(),
        tasks: vec![tokio::spawn(cairn_api::serve_app(
            node.clone(),
            listener,
            main,
        ))],
    };
    serve_own(node, &seeds, &mut served).await;
    let inputs = cairn_api::media_inputs(node).expect("media inputs listener");
    served.tasks.push(tokio::spawn(inputs));
    (addr, served)
}

/// Binds and serves each layer's own listeners, noting the first address
/// of each.
async fn serve_own(node: &Node, seeds: &[cairn_cli::Seed], served: &mut Served) {
    for (layer, addrs) in seeds {
        for (i, want) in addrs.iter().enumerate() {
            let listener = TcpListener::bind(want)
                .await
                .unwrap_or_else(|e| panic!("{} layer on {want}: {e}", layer.name()));
            if i == 0 {
                let addr = listener.local_addr().unwrap().to_string();
                served.own.push((layer.name(), addr));
            }
            let app = cairn_api::own_app(layer.own_router());
            let task = tokio::spawn(cairn_api::serve_app(node.clone(), listener, app));
            served.tasks.push(task);
        }
    }
}

/// The engine's warnings on the test's stderr, as a `TestNode`'s
/// (`log = "warn"`); `RUST_LOG` wins. Once per test process.
fn log_warnings() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
