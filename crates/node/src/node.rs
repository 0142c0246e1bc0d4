//! The `Node` facade: start-up, status, shutdown, and the services.
//!
//! `Node::start` opens the data dir and builds the services bottom up,
//! each over [`Shared`] and the services below it: the blob store, the
//! network, blobs, entries, media, paid files, fetches, and the small ones
//! (tokens, accounts, links, jobs). Nothing below the facade knows `Node`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::crypt::ConvergenceSecret;
use cairn_store::Catalog;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::accounts::Accounts;
use crate::blobs::Blobs;
use crate::blobs::store::BlobStore;
use crate::entries::Entries;
use crate::events::{Event, Events};
use crate::fetches::Fetches;
use crate::identity::Identity;
use crate::jobs::{Jobs, Registry};
use crate::links::Links;
use crate::media::{Media, Segments, Tools};
use crate::network::Network;
use crate::paid::Paid;
use crate::shared::Shared;
use crate::tasks::blocking;
use crate::tokens::Tokens;
use crate::{Config, NodeError};

type Result<T> = std::result::Result<T, NodeError>;

/// A running node. Cheap to clone; all clones are the same node.
#[derive(Clone)]
pub struct Node(Arc<Inner>);

struct Inner {
    /// What every service works with.
    shared: Arc<Shared>,
    /// Whether the stop asked for is a restart.
    restart: std::sync::atomic::AtomicBool,
    data_dir: PathBuf,
    identity: Identity,
    started: Instant,
    store: Arc<BlobStore>,
    network: Network,
    blobs: Blobs,
    entries: Entries,
    media: Media,
    torrents: crate::torrents::Torrents,
    library: crate::library::Library,
    keys: crate::keys::Keys,
    people: crate::people::People,
    messages: crate::messages::Messages,
    shares: crate::shares::Shares,
    groups: crate::groups::Groups,
    backups: crate::backup::Backups,
    services: crate::services::Services,
    settings: crate::settings::Settings,
    paid: Paid,
    fetches: Fetches,
    tokens: Tokens,
    links: Links,
    accounts: Accounts,
    web: crate::web::Web,
    jobs: Jobs,
    /// The data dir's lock, held for as long as the node exists.
    _lock: crate::lock::DirLock,
}

/// A problem worth a warning ([`Node::warning`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warning {
    /// The network is on but listens nowhere.
    NotListening,
    /// The configured capacity is used up, or the disk is nearly full.
    NoSpaceLeft,
    /// The data dir cannot be written.
    NotWritable,
    /// AutoNAT found this node unreachable from outside.
    Unreachable,
}

/// What `status` reports.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Status {
    /// cairn's version.
    pub version: &'static str,
    /// The node id (libp2p PeerId).
    pub node_id: String,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// The data dir.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub data_dir: PathBuf,
    /// Bytes of blob files on this node's disk (ciphertext, equal to
    /// plaintext size); blobs whose local copy was dropped once placed on
    /// suppliers are not counted (`counts.blob_bytes` counts every blob).
    pub storage_used: u64,
    /// Capacity: configured, or used plus the filesystem's free space.
    pub storage_capacity: u64,
    /// Entry and blob counts.
    pub counts: crate::Counts,
    /// Jobs running now.
    pub jobs_running: usize,
    /// Media tools, encoders and HLS.
    pub media: crate::media::MediaStatus,
}

impl Node {
    /// Opens the data dir (creating it and everything in it on first
    /// start) and starts the background tasks. The data dir's lock is
    /// taken first, before anything in it is read, swept or opened: a
    /// node already running there refuses this one
    /// ([`NodeError::DataDirInUse`]), which then touches nothing.
    ///
    /// A data dir recovered from an identity's backup file (`cairn id
    /// recover`) first gets its catalog back from the network
    /// ([`crate::backup`]).
    pub async fn start(data_dir: &Path, config: Config) -> Result<Self> {
        if crate::backup::restore_pending(data_dir) && config.network.enabled {
            crate::backup::restore(data_dir, config.clone()).await;
        }
        Self::open(data_dir, config).await
    }

    /// [`Node::start`], without a restore.
    pub(crate) async fn open(data_dir: &Path, config: Config) -> Result<Self> {
        create_private_dir(data_dir)?;
        let lock = crate::lock::DirLock::take(data_dir)?;
        let identity = Identity::load_or_create(data_dir)?;
        let catalog = Arc::new(Catalog::open(&data_dir.join("catalog.db"))?);
        let config = crate::settings::apply(config, &catalog.settings()?);
        let interrupted =
            catalog.fail_interrupted_jobs("interrupted: the node stopped while it ran")?;
        let events = Events::new();
        let jobs = Registry::new(catalog.clone(), events.clone(), config.jobs_kept)?;
        let tools = Tools::open(data_dir)?;
        let (net, net_start) =
            match crate::network::open(identity.key.to_bytes(), &config.network, data_dir)? {
                Some((net, start)) => (Some(net), Some(start)),
                None => (None, None),
            };
        let key = identity.key.to_bytes();
        let shared = Arc::new(Shared::new(
            config,
            catalog,
            jobs,
            events,
            key,
            data_dir.join("downloads"),
        ));
        let secret = ConvergenceSecret(identity.convergence);
        let store = Arc::new(BlobStore::open(shared.clone(), data_dir, secret)?);
        let network = Network::new(shared.clone(), store.clone(), net, data_dir);
        let (blobs, digest_queue) = Blobs::new(shared.clone(), store.clone(), network.clone());
        let entries = Entries::new(
            shared.clone(),
            blobs.clone(),
            network.clone(),
            data_dir.join("resumable"),
        );
        let cache = Segments::open(data_dir, shared.config.media.cache_mib << 20)?;
        let media = Media::new(shared.clone(), tools, cache, blobs.clone(), entries.clone());
        let torrents =
            crate::torrents::Torrents::start(shared.clone(), entries.clone(), data_dir).await;
        let library = crate::library::Library::new(shared.clone(), entries.clone());
        let keys = crate::keys::Keys::new(shared.clone(), data_dir.to_path_buf());
        let people =
            crate::people::People::new(shared.clone(), network.clone(), identity.peer_id());
        let messages = crate::messages::Messages::new(
            shared.clone(),
            network.clone(),
            people.clone(),
            identity.key.clone(),
            identity.peer_id(),
        );
        let shares = crate::shares::Shares::new(
            shared.clone(),
            entries.clone(),
            blobs.clone(),
            network.clone(),
            people.clone(),
            messages.clone(),
            identity.peer_id(),
        );
        let groups = crate::groups::Groups::new(
            shared.clone(),
            network.clone(),
            people.clone(),
            messages.clone(),
            identity.key.clone(),
            identity.peer_id(),
        );
        let backups = crate::backup::Backups::new(
            shared.clone(),
            entries.clone(),
            blobs.clone(),
            network.clone(),
            identity.peer_id(),
            data_dir.to_path_buf(),
        );
        let services = crate::services::Services::new(shared.clone());
        let settings = crate::settings::Settings::new(shared.clone(), network.clone());
        let node = Self(Arc::new(Inner {
            restart: std::sync::atomic::AtomicBool::new(false),
            paid: Paid::new(
                shared.clone(),
                entries.clone(),
                blobs.clone(),
                media.clone(),
            ),
            fetches: Fetches::new(shared.clone(), entries.clone()),
            tokens: Tokens::new(shared.clone()),
            links: Links::new(shared.clone()),
            accounts: Accounts::new(shared.clone()),
            web: crate::web::Web::new(
                shared.clone(),
                Links::new(shared.clone()),
                &identity.api_secret,
            ),
            jobs: Jobs::new(shared.jobs.clone()),
            shared,
            data_dir: data_dir.to_path_buf(),
            identity,
            started: Instant::now(),
            store,
            network,
            blobs,
            entries,
            media,
            torrents,
            library,
            keys,
            people,
            messages,
            shares,
            groups,
            backups,
            services,
            settings,
            _lock: lock,
        }));
        let orphans = node.0.store.remove_orphans()?;
        tracing::info!(node = %node.node_id(), interrupted, orphans, "node opened");
        node.start_progress();
        node.start_multipart_sweep();
        node.0.blobs.start(digest_queue)?;
        node.register_services(net_start)?;
        Ok(node)
    }

    /// Lists the catalog and the swarm, registers the services' loops
    /// and starts those enabled.
    fn register_services(&self, net_start: Option<crate::network::NetStart>) -> Result<()> {
        let services = &self.0.services;
        services.required(
            "catalog",
            "the catalog: entries, keys, messages, settings",
            true,
        );
        self.0.network.start(net_start, services);
        self.0.messages.register(services);
        self.0.shares.register(services);
        self.0.groups.register(services);
        self.0.backups.register(services);
        services.start_enabled()
    }

    /// Aborts multipart uploads left alone too long, and drops expired
    /// resumable uploads, at start and hourly.
    fn start_multipart_sweep(&self) {
        let (shared, entries) = (self.0.shared.clone(), self.0.entries.clone());
        self.0.shared.spawn("multipart-sweep", async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tokio::select! {
                    _ = shared.shutdown.cancelled() => return Ok(()),
                    _ = tick.tick() => {
                        match entries.sweep_multiparts().await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(uploads = n, "abandoned multipart uploads aborted"),
                            Err(e) => tracing::warn!(error = %e, "cannot sweep multipart uploads"),
                        }
                        match entries.sweep_resumables().await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(uploads = n, "expired resumable uploads dropped"),
                            Err(e) => tracing::warn!(error = %e, "cannot sweep resumable uploads"),
                        }
                    }
                }
            }
        });
    }

    /// Reports running jobs' progress on the event stream, and writes the
    /// transfer meter, five times a second.
    fn start_progress(&self) {
        let shared = self.0.shared.clone();
        self.0.shared.spawn("progress", async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tokio::select! {
                    _ = shared.shutdown.cancelled() => return Ok(()),
                    _ = tick.tick() => {
                        shared.jobs.report_progress();
                        let jobs = shared.jobs.clone();
                        let _ = crate::tasks::blocking(move || {
                            jobs.flush_meter();
                            Ok(())
                        })
                        .await;
                    }
                }
            }
        });
    }

    // ---- services ----

    /// Blobs: open by digest or link, stream ranges, digests.
    pub fn blobs(&self) -> &Blobs {
        &self.0.blobs
    }

    /// Entries: the tree of folders and files, uploads, imports, tags.
    pub fn entries(&self) -> &Entries {
        &self.0.entries
    }

    /// The network: peers, suppliers, placement, repair, the DHT.
    pub fn network(&self) -> &Network {
        &self.0.network
    }

    /// Media: ffprobe and ffmpeg (durations, converts, frames).
    pub fn media(&self) -> &Media {
        &self.0.media
    }

    /// Torrents: add, list, pause, read files as they arrive, import.
    pub fn torrents(&self) -> &crate::torrents::Torrents {
        &self.0.torrents
    }

    /// The library: each viewer's watch history.
    pub fn library(&self) -> &crate::library::Library {
        &self.0.library
    }

    /// Keys: the identity's RSA keys besides its Ed25519 one.
    pub fn keys(&self) -> &crate::keys::Keys {
        &self.0.keys
    }

    /// Private messages between identities.
    pub fn messages(&self) -> &crate::messages::Messages {
        &self.0.messages
    }

    /// Shares: folders other identities read from the network.
    pub fn shares(&self) -> &crate::shares::Shares {
        &self.0.shares
    }

    /// Groups: conversations among several identities.
    pub fn groups(&self) -> &crate::groups::Groups {
        &self.0.groups
    }

    /// The node's long-running services: list, stop, start, restart.
    pub fn services(&self) -> &crate::services::Services {
        &self.0.services
    }

    /// Settings: the config read and changed at run time, kept across
    /// restarts.
    pub fn settings(&self) -> &crate::settings::Settings {
        &self.0.settings
    }

    /// The catalog's backups on the suppliers.
    pub fn backups(&self) -> &crate::backup::Backups {
        &self.0.backups
    }

    /// Whether the catalog holds no entry (a new node's).
    pub(crate) async fn catalog_is_empty(&self) -> bool {
        let shared = self.0.shared.clone();
        blocking(move || Ok(shared.catalog.is_empty()?))
            .await
            .unwrap_or(false)
    }

    /// People: the identities seen on the network, and friends.
    pub fn people(&self) -> &crate::people::People {
        &self.0.people
    }

    /// Paid files: who may read what, purchases, the ledger's report.
    pub fn paid(&self) -> &Paid {
        &self.0.paid
    }

    /// Remote URL uploads.
    pub fn fetches(&self) -> &Fetches {
        &self.0.fetches
    }

    /// Access tokens with byte balances.
    pub fn tokens(&self) -> &Tokens {
        &self.0.tokens
    }

    /// Jobs: what the node runs and ran, numbered, with progress.
    pub fn jobs(&self) -> &Jobs {
        &self.0.jobs
    }

    /// Gateway users: logins and keys, limits, traffic, balances.
    pub fn accounts(&self) -> &Accounts {
        &self.0.accounts
    }

    /// The web UI's sign-ins: login links and sessions.
    pub fn web(&self) -> &crate::web::Web {
        &self.0.web
    }

    /// Signed links: what a door hands out, signed per purpose.
    pub fn links(&self) -> &Links {
        &self.0.links
    }

    /// What every service works with (for the engine's own tests).
    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Shared {
        &self.0.shared
    }

    // ---- identity and lifecycle ----

    /// The node's config.
    pub fn config(&self) -> &Config {
        &self.0.shared.config
    }

    /// The admin API secret.
    pub fn api_secret(&self) -> &str {
        &self.0.identity.api_secret
    }

    /// The identity's backup: what makes another machine this node (its
    /// seed, convergence secret and RSA master key; see
    /// [`crate::identity::recover`]).
    pub async fn identity_backup(&self) -> Result<String> {
        let master = self.keys().master(true).await?;
        let pem = master
            .private
            .ok_or_else(|| NodeError::Internal("the master key has no private part".into()))?;
        Ok(self.0.identity.backup_text(&pem))
    }

    /// Writes [`Node::identity_backup`] to local file `path` (absolute, in
    /// a folder under the import roots), readable by the node's user
    /// alone, replaced whole; answers the real path written.
    pub async fn write_identity_backup(&self, path: &Path) -> Result<PathBuf> {
        let text = self.identity_backup().await?;
        crate::entries::export::write_private(&self.0.shared, path, text.into_bytes()).await
    }

    /// The node id (libp2p PeerId).
    pub fn node_id(&self) -> String {
        self.0.identity.peer_id()
    }

    /// The data dir.
    pub fn data_dir(&self) -> &Path {
        &self.0.data_dir
    }

    /// Subscribes to events.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.0.shared.events.subscribe()
    }

    /// The events numbered after `after` (at most `max`, of the last
    /// [`crate::events::KEPT`]), waiting up to `wait` for one.
    pub async fn poll_events(
        &self,
        after: u64,
        wait: std::time::Duration,
        max: usize,
    ) -> crate::events::Polled {
        self.0.shared.events.poll(after, wait, max).await
    }

    /// Asks the node to stop (the admin call, a signal): running jobs are
    /// cancelled at once, so open downloads and uploads end and the HTTP
    /// server can drain; [`Node::stopped`] fires.
    pub fn request_shutdown(&self) {
        self.0.shared.shutdown.cancel();
        self.0.shared.jobs.cancel_all();
    }

    /// Asks the node to stop as [`Node::request_shutdown`] does, and its
    /// process to start again once it has (`cairn node` runs itself anew,
    /// with the same arguments and process id).
    pub fn request_restart(&self) {
        self.0
            .restart
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.request_shutdown();
    }

    /// Whether the stop asked for is a restart.
    pub fn restart_requested(&self) -> bool {
        self.0.restart.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether a stop (or restart) was asked for.
    pub fn stopping(&self) -> bool {
        self.0.shared.shutdown.is_cancelled()
    }

    /// Resolves once a shutdown was requested.
    pub async fn stopped(&self) {
        self.0.shared.shutdown.cancelled().await;
    }

    /// Stops: cancels running jobs and waits (bounded) for background
    /// tasks to end.
    pub async fn shutdown(&self) {
        self.0.shared.events.send(Event::Shutdown);
        self.0.shared.shutdown.cancel();
        self.0.shared.jobs.cancel_all();
        self.0.shared.tasks.close();
        if tokio::time::timeout(Duration::from_secs(10), self.0.shared.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop within 10 s");
        }
        // The swarm task ended above; the network's own tasks (lanes,
        // answers in flight) end with it.
        self.0.network.stop().await;
        self.0.shared.jobs.flush_meter();
        tracing::info!("node stopped");
    }

    /// Whether every background task has ended (after [`Node::shutdown`]):
    /// the node's own and the network's.
    pub async fn tasks_ended(&self) -> bool {
        let own = self.0.shared.tasks.is_closed() && self.0.shared.tasks.is_empty();
        own && self.0.network.has_stopped().await
    }

    /// The first problem worth a warning, in this order: the network is
    /// on but listens nowhere, no space is left (the configured capacity
    /// is used up, or less than 256 MiB is free on the data dir's disk),
    /// the data dir cannot be written, AutoNAT found this node unreachable
    /// from outside.
    pub async fn warning(&self) -> Option<Warning> {
        let network = match self.0.network.is_on() {
            true => self.0.network.status().await.ok(),
            false => None,
        };
        if network.as_ref().is_some_and(|n| n.listen.is_empty()) {
            return Some(Warning::NotListening);
        }
        let node = self.clone();
        let (full, writable) = blocking(move || {
            let used = node.0.store.used_bytes()?;
            let free = free_space(&node.0.data_dir);
            let full = node.0.shared.config.capacity.is_some_and(|c| used >= c) || free < LOW_SPACE;
            let probe = node.0.data_dir.join("tmp").join(".write-probe");
            let writable = cairn_store::private::file_options()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&probe)
                .and_then(|_| std::fs::remove_file(&probe));
            Ok((full, writable.is_ok()))
        })
        .await
        .unwrap_or((false, false));
        if full {
            Some(Warning::NoSpaceLeft)
        } else if !writable {
            Some(Warning::NotWritable)
        } else if network.is_some_and(|n| n.nat == "private") {
            Some(Warning::Unreachable)
        } else {
            None
        }
    }

    /// The metrics registry: the engine's counters, and where a door
    /// registers its own.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.0.shared.metrics
    }

    /// Every metric now, in the OpenMetrics text format
    /// ([`crate::metrics::CONTENT_TYPE`]): the counters, and the state read
    /// from what the node keeps (no table scanned, no blob file statted).
    pub async fn scrape(&self) -> Result<String> {
        let jobs = self.0.shared.jobs.running_by_kind();
        let gauges = crate::metrics::gather(self, jobs).await?;
        Ok(self.0.shared.metrics.encode(&gauges))
    }

    /// Node status.
    pub async fn status(&self) -> Result<Status> {
        let node = self.clone();
        self.0
            .shared
            .lookup(move || {
                let counts = node.0.shared.catalog.counts()?;
                let used = node.0.store.used_bytes()?;
                let capacity = node
                    .0
                    .shared
                    .config
                    .capacity
                    .unwrap_or_else(|| used + free_space(&node.0.data_dir));
                Ok(Status {
                    version: env!("CARGO_PKG_VERSION"),
                    node_id: node.node_id(),
                    uptime_secs: node.0.started.elapsed().as_secs(),
                    data_dir: node.0.data_dir.clone(),
                    storage_used: used,
                    storage_capacity: capacity,
                    counts,
                    jobs_running: node.0.shared.jobs.running(),
                    media: node.0.media.status(),
                })
            })
            .await
    }
}

/// Creates the data dir readable by its owner only (0700); an existing dir
/// keeps the mode its owner gave it.
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| NodeError::io("create", dir, e))
}

/// Free bytes on the data dir's disk under which the node warns.
pub(crate) const LOW_SPACE: u64 = 256 << 20;

fn free_space(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return 0;
    };
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    st.f_bavail as u64 * st.f_frsize as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 22: a status call touches no blob file (it used to stat every
    /// one): with the blob folder moved away it still tells the bytes used.
    #[tokio::test]
    async fn status_touches_no_blob_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.network.enabled = false;
        let node = Node::start(dir.path(), config).await.unwrap();
        let target = |name: &str| crate::UploadTarget {
            parent: None,
            name: name.into(),
            on_conflict: crate::OnConflict::Fail,
            wait_digests: false,
        };
        for (name, len) in [("a", 3000usize), ("b", 5000)] {
            let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(
                vec![name.as_bytes()[0]; len],
            ))]);
            node.entries()
                .upload(target(name), body, None)
                .await
                .unwrap();
        }
        let blobs = dir.path().join("blobs");
        let away = dir.path().join("blobs.away");
        std::fs::rename(&blobs, &away).unwrap();
        let status = node.status().await;
        std::fs::rename(&away, &blobs).unwrap();
        assert_eq!(status.unwrap().storage_used, 8000);
        node.shutdown().await;
    }

    /// A layer asks for its folder on every call (cacaoweb's uploads
    /// list): only the call that makes it tells the event stream.
    #[tokio::test]
    async fn asking_for_an_existing_folder_changes_nothing_and_tells_no_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.network.enabled = false;
        let node = Node::start(dir.path(), config).await.unwrap();
        let mut events = node.events();
        let made = node
            .entries()
            .create_folder(None, "f".into())
            .await
            .unwrap();
        let again = node
            .entries()
            .create_folder(None, "f".into())
            .await
            .unwrap();
        assert_eq!(made.id, again.id);
        let added = std::iter::from_fn(|| events.try_recv().ok())
            .filter(|e| matches!(e, Event::EntryAdded { .. }))
            .count();
        assert_eq!(added, 1);
        node.shutdown().await;
    }
}
