//! The daemon's listeners that a reload may change: each compatibility
//! layer's own addresses (`[layers]`) and the S3 API's (`[s3]`), and the
//! `[http]` limits every HTTP listener reads. A SIGHUP applies the config
//! file again: listeners no longer asked for stop (their connections
//! finish the request under way), new ones are bound, the others keep
//! running, and new connections get the new limits. The `.addr` files
//! follow.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Context, Result};
use cairn_node::config::HttpConfig;
use cairn_node::{Config, Node};
use tokio_util::sync::CancellationToken;

/// The name the S3 API's listener goes by (its `.addr` file too).
const S3: &str = "s3";

/// One listener serving.
struct Running {
    name: String,
    /// The address asked for (a port 0 stays one listener across reloads).
    want: SocketAddr,
    stop: CancellationToken,
}

/// The listeners and what they serve (see the module docs).
pub(crate) struct Listeners {
    node: Node,
    data_dir: PathBuf,
    http: tokio::sync::watch::Sender<HttpConfig>,
    /// Each app served on listeners of its own, by name: the seeds'
    /// layers, then the S3 API.
    apps: Vec<(String, axum::Router)>,
    running: Mutex<Vec<Running>>,
    addr_files: Mutex<AddrFiles>,
    tasks: tokio_util::task::TaskTracker,
}

impl Listeners {
    pub(crate) fn new(
        node: &Node,
        data_dir: PathBuf,
        seeds: &[cairn_cli::Seed],
        http: &cairn_api::metrics::Http,
    ) -> Self {
        let mut apps: Vec<(String, axum::Router)> = seeds
            .iter()
            .map(|(layer, _)| {
                let app = http.count(layer.own_router(), layer.name());
                (layer.name().to_owned(), app)
            })
            .collect();
        apps.push((
            S3.to_owned(),
            http.count(cairn_s3::router(node.clone()), S3),
        ));
        let (http, _) = tokio::sync::watch::channel(node.config().http.clone());
        Self {
            node: node.clone(),
            data_dir,
            http,
            apps,
            running: Mutex::default(),
            addr_files: Mutex::default(),
            tasks: tokio_util::task::TaskTracker::new(),
        }
    }

    /// What a listener's loop takes: the limits as they are now and
    /// after each reload, and a stop of its own.
    pub(crate) fn serving(&self, stop: CancellationToken) -> cairn_api::Serving {
        cairn_api::Serving {
            http: self.http.subscribe(),
            stop,
        }
    }

    /// Writes `<data dir>/<name>.addr`.
    pub(crate) fn write_addr(&self, name: &str, addr: &SocketAddr) -> Result<()> {
        let file = self.data_dir.join(format!("{name}.addr"));
        self.addr_files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write(file, addr)
    }

    /// The addresses `config` asks each app's listeners on.
    fn wanted(config: &Config, name: &str) -> Vec<SocketAddr> {
        if name == S3 {
            return if config.s3.enabled {
                vec![config.s3.listen]
            } else {
                Vec::new()
            };
        }
        cairn_cli::layer_addrs(config, name)
    }

    /// Serves what `config` asks and nothing else. At the start a bind
    /// that fails is an error (but for the default ports of cacaoweb,
    /// Powder and BitDust: another program on one must not keep the node
    /// from starting); at a reload it is logged, and the rest applies.
    pub(crate) fn apply(&self, config: &Config, starting: bool) -> Result<()> {
        for (name, app) in &self.apps {
            let want = Self::wanted(config, name);
            self.stop_unwanted(name, &want);
            for (i, addr) in want.iter().enumerate() {
                if self.is_running(name, addr) {
                    continue;
                }
                match self.start(name, app, *addr, i == 0) {
                    Ok(()) => {}
                    Err(e) if starting && !is_default_port(*addr) => return Err(e),
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "{name} not served on {addr}")
                    }
                }
            }
            if !self.any_running(name) {
                let file = self.data_dir.join(format!("{name}.addr"));
                self.addr_files
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&file);
            }
        }
        Ok(())
    }

    /// Applies `config` again: the `[http]` limits for new connections,
    /// then the listeners.
    pub(crate) fn reload(&self, config: &Config) {
        self.http.send_replace(config.http.clone());
        if let Err(e) = self.apply(config, false) {
            tracing::warn!(error = %format!("{e:#}"), "listeners not reloaded");
        }
    }

    fn start(&self, name: &str, app: &axum::Router, want: SocketAddr, first: bool) -> Result<()> {
        let listener = cairn_api::listen(want, self.http.borrow().backlog)
            .with_context(|| format!("cannot listen on {want} for {name}"))?;
        let addr = listener.local_addr()?;
        if first {
            self.write_addr(name, &addr)?;
        }
        println!("{name} listening on http://{addr}");
        tracing::info!(%addr, "{name} listening");
        let stop = CancellationToken::new();
        let app = cairn_api::own_app(app.clone());
        let serve =
            cairn_api::serve_app_with(self.node.clone(), listener, app, self.serving(stop.clone()));
        let label = name.to_owned();
        self.tasks.spawn(async move {
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "the {label} listener on {addr} failed");
            }
        });
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Running {
                name: name.to_owned(),
                want,
                stop,
            });
        Ok(())
    }

    fn stop_unwanted(&self, name: &str, want: &[SocketAddr]) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.retain(|r| {
            let keep = r.name != name || want.contains(&r.want);
            if !keep {
                tracing::info!(addr = %r.want, "{name} no longer served there");
                r.stop.cancel();
            }
            keep
        });
    }

    fn is_running(&self, name: &str, want: &SocketAddr) -> bool {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.iter().any(|r| r.name == name && r.want == *want)
    }

    fn any_running(&self, name: &str) -> bool {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.iter().any(|r| r.name == name)
    }

    /// Removes the `.addr` files now (the signal task still holds these
    /// listeners when the node has stopped).
    pub(crate) fn remove_addr_files(&self) {
        drop(std::mem::take(
            &mut *self.addr_files.lock().unwrap_or_else(|p| p.into_inner()),
        ));
    }

    /// Waits for every listener to end (they end with the node).
    pub(crate) async fn ended(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// cacaoweb's, Powder's and BitDust's default ports: a convenience, not a
/// promise.
fn is_default_port(addr: SocketAddr) -> bool {
    addr == cairn_node::config::CACAOWEB_ADDR
        || addr == cairn_node::config::POWDER_ADDR
        || addr == cairn_node::config::BITDUST_ADDR
}

/// The address files this node wrote (`api.addr`, `<layer>.addr`,
/// `s3.addr`), by which clients find it: removed when this drops, which
/// happens while the node, and so the data dir's lock, is still held.
#[derive(Default)]
pub(crate) struct AddrFiles(Vec<PathBuf>);

impl AddrFiles {
    /// Writes `addr` to `file` (0600, like every file of the node) through
    /// a temporary name, so a reader never sees half an address.
    pub(crate) fn write(&mut self, file: PathBuf, addr: &SocketAddr) -> Result<()> {
        use std::io::Write;
        let tmp = file.with_extension("addr.tmp");
        cairn_node::private::file_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .and_then(|mut f| f.write_all(format!("{addr}\n").as_bytes()))
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &file)?;
        if !self.0.contains(&file) {
            self.0.push(file);
        }
        Ok(())
    }

    /// Removes `file`, if this wrote it.
    fn remove(&mut self, file: &PathBuf) {
        if let Some(at) = self.0.iter().position(|f| f == file) {
            let _ = std::fs::remove_file(file);
            self.0.remove(at);
        }
    }
}

impl Drop for AddrFiles {
    fn drop(&mut self) {
        for file in &self.0 {
            let _ = std::fs::remove_file(file);
        }
    }
}
