//! The `Node` facade: start-up, the calls the API makes, shutdown.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cairn_core::crypt::ConvergenceSecret;
use cairn_core::id::DigestRef;
use cairn_core::{BlobId, Manifest};
use cairn_store::Catalog;
use cairn_store::catalog::{NewFile, check_name};
use cairn_store::files::{BlobFiles, FsBlobFiles};
use futures_util::{Stream, TryStreamExt};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::events::{Event, Events};
use crate::identity::Identity;
use crate::import::{self, FileImport, FileImporting, ImportRequest, ImportedFile, Plan};
use crate::jobs::{Job, Jobs, Registry};
use crate::local::{LocalCaller, Roots};
use crate::read::{BlobHandle, ByteStream};
use crate::shared::Shared;
use crate::tasks::blocking;
use crate::{Config, Entry, JobRecord, ListQuery, NodeError, OnConflict, Page, sniff, tasks};

type Result<T> = std::result::Result<T, NodeError>;

/// A check run on a sealed upload before it is committed.
pub(crate) type BeforeCommit = Box<dyn Fn(&Manifest) -> Result<()> + Send + Sync>;

/// A check an upload runs on its sealed size before it is committed (on
/// the upload's blocking thread): an error refuses the upload, and nothing
/// is stored.
pub type CommitCheck = Box<dyn Fn(u64) -> Result<()> + Send + Sync>;

/// Manifests kept decoded (and verified) in memory.
const MANIFEST_CACHE: usize = 256;

/// A running node. Cheap to clone; all clones are the same node.
#[derive(Clone)]
pub struct Node(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    /// What every service works with.
    pub(crate) shared: Arc<Shared>,
    data_dir: PathBuf,
    identity: Identity,
    pub(crate) secret: ConvergenceSecret,
    files: Arc<dyn BlobFiles>,
    manifests: Mutex<HashMap<BlobId, Arc<Manifest>>>,
    digest_queue: mpsc::UnboundedSender<BlobId>,
    started: Instant,
    pub(crate) shutdown: CancellationToken,
    pub(crate) net: Option<crate::network::Net>,
    pub(crate) repair: crate::network::repair::RepairState,
    /// Blobs an automatic placement is working on ([`Node::claim_placing`]).
    pub(crate) placing: std::sync::Mutex<std::collections::HashSet<BlobId>>,
    /// Paid files: measured preview lengths.
    pub(crate) paid: crate::paid::PaidState,
    pub(crate) media: crate::media::Media,
    /// Access tokens with byte balances.
    tokens: crate::tokens::Tokens,
    /// Signed links.
    links: crate::links::Links,
    /// Gateway users.
    accounts: crate::accounts::Accounts,
    /// Jobs, for the doors.
    jobs: Jobs,
    /// The data dir's lock, held for as long as the node exists.
    _lock: crate::lock::DirLock,
}

/// Where an uploaded body goes.
#[derive(Debug, Clone)]
pub struct UploadTarget {
    /// Folder (`None` for the root).
    pub parent: Option<String>,
    /// File name.
    pub name: String,
    /// Name collision policy.
    pub on_conflict: OnConflict,
    /// Compute md5/sha1/sha256 before answering instead of in the background.
    pub wait_digests: bool,
}

/// An entry with everything known about it.
#[derive(Debug, Clone, Serialize)]
pub struct EntryInfo {
    /// The entry.
    #[serde(flatten)]
    pub entry: Entry,
    /// Its free-form metadata.
    pub metadata: BTreeMap<String, String>,
    /// Its blob's aliases by kind (files only; may still be computing).
    pub aliases: BTreeMap<String, String>,
}

/// A blob and the entries that name it.
#[derive(Debug, Clone, Serialize)]
pub struct BlobInfo {
    /// BLAKE3 hex.
    pub id: String,
    /// Plaintext bytes.
    pub size: u64,
    /// Segments it is stored in.
    pub segments: u64,
    /// md5, sha1, sha256 (once computed).
    pub aliases: BTreeMap<String, String>,
    /// Entries holding it.
    pub entries: Vec<Entry>,
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
pub struct Status {
    /// cairn's version.
    pub version: &'static str,
    /// The node id (libp2p PeerId).
    pub node_id: String,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// The data dir.
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
}

impl Node {
    /// Opens the data dir (creating it and everything in it on first
    /// start) and starts the background tasks. The data dir's lock is
    /// taken first, before anything in it is read, swept or opened: a
    /// node already running there refuses this one
    /// ([`NodeError::DataDirInUse`]), which then touches nothing.
    pub async fn start(data_dir: &Path, config: Config) -> Result<Self> {
        create_private_dir(data_dir)?;
        let lock = crate::lock::DirLock::take(data_dir)?;
        let identity = Identity::load_or_create(data_dir)?;
        let catalog = Arc::new(Catalog::open(&data_dir.join("catalog.db"))?);
        let files: Arc<dyn BlobFiles> = Arc::new(FsBlobFiles::open(data_dir)?);
        let interrupted =
            catalog.fail_interrupted_jobs("interrupted: the node stopped while it ran")?;
        let events = Events::new();
        let jobs = Registry::new(catalog.clone(), events.clone(), config.jobs_kept)?;
        let (digest_queue, digest_rx) = mpsc::unbounded_channel();
        let secret = ConvergenceSecret(identity.convergence);
        let media = crate::media::Media::open(data_dir)?;
        let (net, net_start) =
            match crate::network::open(identity.key.to_bytes(), &config.network, data_dir)? {
                Some((net, start)) => (Some(net), Some(start)),
                None => (None, None),
            };
        let key = identity.key.to_bytes();
        let shared = Arc::new(Shared::new(config, catalog, jobs, events, key));
        let node = Self(Arc::new(Inner {
            tokens: crate::tokens::Tokens::new(shared.clone()),
            links: crate::links::Links::new(shared.clone()),
            accounts: crate::accounts::Accounts::new(shared.clone()),
            jobs: Jobs::new(shared.jobs.clone()),
            shared,
            data_dir: data_dir.to_path_buf(),
            identity,
            secret,
            files,
            manifests: Mutex::default(),
            digest_queue,
            started: Instant::now(),
            shutdown: CancellationToken::new(),
            paid: crate::paid::PaidState::default(),
            media,
            net,
            repair: crate::network::repair::RepairState::default(),
            placing: Default::default(),
            _lock: lock,
        }));
        let orphans = node.remove_orphan_files()?;
        tracing::info!(node = %node.node_id(), interrupted, orphans, "node opened");
        node.start_tasks(digest_rx)?;
        if let Some(start) = net_start {
            node.start_network(start);
        }
        Ok(node)
    }

    /// Blob files without a catalog row are leftovers of a commit that
    /// crashed before its transaction, or of a delete that crashed after.
    fn remove_orphan_files(&self) -> Result<usize> {
        let known: std::collections::HashSet<BlobId> =
            self.0.shared.catalog.blob_ids()?.into_iter().collect();
        let mut removed = 0;
        for id in self.0.files.list()? {
            if !known.contains(&id) {
                self.0.files.remove(&id)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn start_network(&self, start: crate::network::NetStart) {
        let driver = start.driver;
        let stop = self.0.shutdown.clone();
        tasks::spawn(&self.0.shared.tasks, "swarm", async move {
            tokio::select! {
                () = driver.run() => {}
                () = stop.cancelled() => {}
            }
            Ok(())
        });
        let node = self.clone();
        tasks::spawn(
            &self.0.shared.tasks,
            "shards",
            node.serve_shards(start.inbound),
        );
        let node = self.clone();
        let bootstrap = self.0.shared.config.network.bootstrap.clone();
        tasks::spawn(
            &self.0.shared.tasks,
            "bootstrap",
            node.keep_connected(bootstrap),
        );
        let node = self.clone();
        tasks::spawn(&self.0.shared.tasks, "repair", node.repair_loop());
    }

    pub(crate) fn jobs_registry(&self) -> &Arc<Registry> {
        &self.0.shared.jobs
    }

    /// Spawns background work `name` on the node's tracker (see `tasks`).
    pub(crate) fn spawn_task<F>(&self, name: &'static str, fut: F) -> tokio::task::JoinHandle<()>
    where
        F: std::future::Future<Output = Result<()>> + Send + 'static,
    {
        self.0.shared.spawn(name, fut)
    }

    fn start_tasks(&self, digest_rx: mpsc::UnboundedReceiver<BlobId>) -> Result<()> {
        let node = self.clone();
        tasks::spawn(&self.0.shared.tasks, "progress", async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tokio::select! {
                    _ = node.0.shutdown.cancelled() => return Ok(()),
                    _ = tick.tick() => node.0.shared.jobs.report_progress(),
                }
            }
        });
        let node = self.clone();
        tasks::spawn(
            &self.0.shared.tasks,
            "digests",
            node.digest_worker(digest_rx),
        );
        if self.0.shared.config.legacy_digests {
            for id in self.0.shared.catalog.blobs_without_aliases()? {
                let _ = self.0.digest_queue.send(id);
            }
        }
        Ok(())
    }

    async fn digest_worker(self, mut rx: mpsc::UnboundedReceiver<BlobId>) -> Result<()> {
        loop {
            let id = tokio::select! {
                _ = self.0.shutdown.cancelled() => return Ok(()),
                id = rx.recv() => match id { Some(id) => id, None => return Ok(()) },
            };
            if let Err(e) = self.ensure_digests(id).await {
                tracing::warn!(blob = %id, error = %e, "cannot compute aliases");
            }
        }
    }

    /// Computes and records the legacy aliases of blob `id`, unless it has
    /// them already.
    pub(crate) async fn ensure_digests(&self, id: BlobId) -> Result<()> {
        if !self.0.shared.catalog.aliases(&id)?.is_empty() {
            return Ok(());
        }
        let handle = self.scan_handle(&id)?;
        let job = self
            .0
            .shared
            .jobs
            .start("digest", id.to_hex(), Some(handle.size()), false);
        let node = self.clone();
        tokio::task::spawn_blocking(move || {
            let outcome = crate::digests::compute(&handle, &job)
                .and_then(|d| Ok(node.0.shared.catalog.add_aliases(&id, &d.aliases())?));
            job.finish(outcome.as_ref().map(|_| serde_json::Value::Null));
            outcome
        })
        .await??;
        self.0
            .shared
            .events
            .send(Event::BlobAliases { blob: id.to_hex() });
        if self.0.net.is_some() {
            // A placed blob's aliases go to the DHT with its record.
            let node = self.clone();
            tasks::spawn(&self.0.shared.tasks, "republish", async move {
                node.republish(id).await
            });
        }
        Ok(())
    }

    // ---- services ----

    /// Access tokens with byte balances.
    pub fn tokens(&self) -> &crate::tokens::Tokens {
        &self.0.tokens
    }

    /// Jobs: what the node runs and ran, numbered, with progress.
    pub fn jobs(&self) -> &Jobs {
        &self.0.jobs
    }

    /// Gateway users: logins and keys, limits, traffic, balances.
    pub fn accounts(&self) -> &crate::accounts::Accounts {
        &self.0.accounts
    }

    /// Signed links: what a door hands out, signed per purpose.
    pub fn links(&self) -> &crate::links::Links {
        &self.0.links
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

    /// Asks the node to stop (the admin call, a signal): running jobs are
    /// cancelled at once, so open downloads and uploads end and the HTTP
    /// server can drain; [`Node::stopped`] fires.
    pub fn request_shutdown(&self) {
        self.0.shutdown.cancel();
        self.0.shared.jobs.cancel_all();
    }

    /// Resolves once a shutdown was requested.
    pub async fn stopped(&self) {
        self.0.shutdown.cancelled().await;
    }

    /// Stops: cancels running jobs and waits (bounded) for background
    /// tasks to end.
    pub async fn shutdown(&self) {
        self.0.shared.events.send(Event::Shutdown);
        self.0.shutdown.cancel();
        self.0.shared.jobs.cancel_all();
        self.0.shared.tasks.close();
        if tokio::time::timeout(Duration::from_secs(10), self.0.shared.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop within 10 s");
        }
        if let Some(net) = &self.0.net {
            // The swarm task ended above; the network's own tasks (lanes,
            // answers in flight) end with it.
            net.network.stop().await;
            if tokio::time::timeout(Duration::from_secs(5), net.network.stopped())
                .await
                .is_err()
            {
                tracing::warn!("network tasks did not stop within 5 s");
            }
        }
        tracing::info!("node stopped");
    }

    /// Whether every background task has ended (after [`Node::shutdown`]):
    /// the node's own and the network's.
    pub async fn tasks_ended(&self) -> bool {
        let own = self.0.shared.tasks.is_closed() && self.0.shared.tasks.is_empty();
        let net = match &self.0.net {
            // Polled once: already ended, or not.
            Some(net) => tokio::time::timeout(Duration::ZERO, net.network.stopped())
                .await
                .is_ok(),
            None => true,
        };
        own && net
    }

    /// The first problem worth a warning, in this order: the network is
    /// on but listens nowhere, no space is left (the configured capacity
    /// is used up, or less than 256 MiB is free on the data dir's disk),
    /// the data dir cannot be written, AutoNAT found this node unreachable
    /// from outside.
    pub async fn warning(&self) -> Option<Warning> {
        let network = match self.0.net {
            Some(_) => self.network_status().await.ok(),
            None => None,
        };
        if network.as_ref().is_some_and(|n| n.listen.is_empty()) {
            return Some(Warning::NotListening);
        }
        let node = self.clone();
        let (full, writable) = blocking(move || {
            let used = node.0.files.used_bytes()?;
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

    /// Node status.
    pub async fn status(&self) -> Result<Status> {
        let node = self.clone();
        blocking(move || {
            let counts = node.0.shared.catalog.counts()?;
            let used = node.0.files.used_bytes()?;
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
            })
        })
        .await
    }

    // ---- catalog ----

    /// Entry `id` with its metadata and aliases.
    pub async fn entry(&self, id: &str) -> Result<EntryInfo> {
        let node = self.clone();
        let id = id.to_owned();
        blocking(move || node.entry_info(&id)).await
    }

    pub(crate) fn entry_info(&self, id: &str) -> Result<EntryInfo> {
        let entry = self.0.shared.catalog.entry(id)?;
        let metadata = self.0.shared.catalog.metadata(id)?;
        let aliases = match entry.blob.as_deref().map(str::parse::<BlobId>) {
            Some(Ok(blob)) => self.0.shared.catalog.aliases(&blob)?,
            _ => BTreeMap::new(),
        };
        Ok(EntryInfo {
            entry,
            metadata,
            aliases,
        })
    }

    /// The folders from the root down to entry `id`.
    pub async fn path(&self, id: &str) -> Result<Vec<Entry>> {
        let node = self.clone();
        let id = id.to_owned();
        blocking(move || Ok(node.0.shared.catalog.path_of(&id)?)).await
    }

    /// One page of folder `parent` (`None` for the root).
    pub async fn list(&self, parent: Option<String>, query: ListQuery) -> Result<Page> {
        let node = self.clone();
        blocking(move || Ok(node.0.shared.catalog.list(parent.as_deref(), query)?)).await
    }

    /// Creates a folder (or returns the existing one of that name, which
    /// changes nothing and tells no one).
    pub async fn create_folder(&self, parent: Option<String>, name: String) -> Result<Entry> {
        let node = self.clone();
        let (entry, new) = blocking(move || {
            let catalog = &node.0.shared.catalog;
            Ok(catalog.ensure_folder(parent.as_deref(), &name)?)
        })
        .await?;
        if new {
            self.0.shared.events.send(Event::EntryAdded {
                entry: entry.clone(),
            });
        }
        Ok(entry)
    }

    /// Renames and/or moves entry `id`. `parent`: `None` leaves it where it
    /// is, `Some(None)` moves it to the root.
    pub async fn update_entry(
        &self,
        id: &str,
        name: Option<String>,
        parent: Option<Option<String>>,
    ) -> Result<Entry> {
        let node = self.clone();
        let id = id.to_owned();
        let entry = blocking(move || {
            let mut entry = node.0.shared.catalog.entry(&id)?;
            if let Some(parent) = parent {
                entry = node.0.shared.catalog.move_to(&id, parent.as_deref())?;
            }
            if let Some(name) = name {
                entry = node.0.shared.catalog.rename(&id, &name)?;
            }
            Ok(entry)
        })
        .await?;
        self.0.shared.events.send(Event::EntryChanged {
            entry: entry.clone(),
        });
        Ok(entry)
    }

    /// Deletes entry `id` (a non-empty folder only when `recursive`);
    /// blobs nothing else names are removed from disk.
    pub async fn delete(&self, id: &str, recursive: bool) -> Result<usize> {
        let node = self.clone();
        let eid = id.to_owned();
        let removed = blocking(move || {
            Ok(node
                .0
                .shared
                .catalog
                .delete(&eid, recursive, |blob| node.drop_blob(blob))?
                .len())
        })
        .await?;
        // Blobs gone from the catalog left their placements queued: their
        // suppliers are asked to free the shards.
        if removed > 0 && self.0.net.is_some() {
            let node = self.clone();
            tasks::spawn(&self.0.shared.tasks, "unplace", node.unplace());
        }
        self.0
            .shared
            .events
            .send(Event::EntryRemoved { id: id.to_owned() });
        Ok(removed)
    }

    /// Removes blob `id`'s local file (its catalog row stays).
    pub(crate) fn remove_local_file(&self, id: &BlobId) -> Result<()> {
        Ok(self.0.files.remove(id)?)
    }

    fn drop_blob(&self, id: &BlobId) {
        self.0
            .manifests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        if let Err(e) = self.0.files.remove(id) {
            // Left for the orphan sweep at the next start.
            tracing::warn!(blob = %id, error = %e, "cannot remove blob file");
        }
    }

    /// Sets (`Some`) or removes (`None`) metadata keys of entry `id`.
    pub async fn set_metadata(
        &self,
        id: &str,
        changes: BTreeMap<String, Option<String>>,
    ) -> Result<EntryInfo> {
        let node = self.clone();
        let id = id.to_owned();
        let public_changed = changes.contains_key("public");
        let info = blocking(move || {
            // The paid-file keys are checked first; `restricted` never
            // changes after the upload, so the check cannot go stale.
            node.check_paid_changes(&id, &changes)?;
            node.0.shared.catalog.set_metadata(&id, &changes)?;
            node.entry_info(&id)
        })
        .await?;
        self.0.shared.events.send(Event::EntryChanged {
            entry: info.entry.clone(),
        });
        if public_changed
            && self.0.net.is_some()
            && let Some(Ok(blob)) = info.entry.blob.as_deref().map(str::parse::<BlobId>)
        {
            // Making a file public (or private) republishes its record,
            // with (or without) its read key.
            self.republish(blob).await?;
        }
        Ok(info)
    }

    /// The blob a digest names (id or alias) and the entries holding it.
    pub async fn blob_info(&self, digest: &str) -> Result<BlobInfo> {
        let node = self.clone();
        let digest = digest.to_owned();
        blocking(move || {
            let id = node.resolve(&digest)?;
            let manifest = node.manifest(&id)?;
            Ok(BlobInfo {
                id: id.to_hex(),
                size: manifest.size,
                segments: manifest.segments.len() as u64,
                aliases: node.0.shared.catalog.aliases(&id)?,
                entries: node.0.shared.catalog.entries_of_blob(&id)?,
            })
        })
        .await
    }

    // ---- uploads ----

    /// Stores an HTTP body as a new file entry. The body is sealed as it
    /// arrives; if it fails or is cut off, nothing is stored.
    pub async fn upload<S, E>(
        &self,
        target: UploadTarget,
        body: S,
        size_hint: Option<u64>,
    ) -> Result<EntryInfo>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.upload_with(target, body, size_hint, Box::new(|_| Ok(())))
            .await
    }

    /// [`Node::upload`] that sets `metadata` on the new entry in the same
    /// transaction as the entry itself. The paid-file keys (`restricted`,
    /// `previewallowed`, `price`) are checked as at upload: this is where
    /// a file becomes restricted, never later.
    pub async fn upload_with_metadata<S, E>(
        &self,
        target: UploadTarget,
        body: S,
        size_hint: Option<u64>,
        metadata: BTreeMap<String, String>,
    ) -> Result<EntryInfo>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        crate::paid::check_initial(&metadata, target.on_conflict)?;
        self.check_upload(&target, size_hint).await?;
        let job = self
            .0
            .shared
            .jobs
            .start("upload", &target.name, size_hint, true);
        self.store_stream_with(job, target, body, Box::new(|_| Ok(())), metadata)
            .await
    }

    /// [`Node::upload`] with `check`, run on the sealed size before the
    /// commit: a charge that cannot be paid refuses the upload, and nothing
    /// is stored.
    pub async fn upload_checked<S, E>(
        &self,
        target: UploadTarget,
        body: S,
        size_hint: Option<u64>,
        check: CommitCheck,
    ) -> Result<EntryInfo>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let before: BeforeCommit = Box::new(move |manifest| check(manifest.size));
        self.upload_with(target, body, size_hint, before).await
    }

    /// [`Node::upload`] with a check that sees the sealed blob before it is
    /// committed and may refuse it (nothing is then stored).
    pub(crate) async fn upload_with<S, E>(
        &self,
        target: UploadTarget,
        body: S,
        size_hint: Option<u64>,
        before_commit: BeforeCommit,
    ) -> Result<EntryInfo>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.check_upload(&target, size_hint).await?;
        let job = self
            .0
            .shared
            .jobs
            .start("upload", &target.name, size_hint, true);
        self.store_stream(job, target, body, before_commit).await
    }

    /// What every upload checks before it starts: the name, the folder,
    /// the announced size.
    async fn check_upload(&self, target: &UploadTarget, size_hint: Option<u64>) -> Result<()> {
        check_name(&target.name)?;
        if let Some(parent) = &target.parent {
            self.check_folder(parent).await?;
        }
        if size_hint.is_some_and(|s| s > self.0.shared.config.max_upload_bytes) {
            return Err(NodeError::TooLarge {
                limit: self.0.shared.config.max_upload_bytes,
            });
        }
        Ok(())
    }

    /// Seals `body` into a new entry as `job` (which it finishes), then
    /// answers the entry.
    pub(crate) async fn store_stream<S, E>(
        &self,
        job: Job,
        target: UploadTarget,
        body: S,
        before_commit: BeforeCommit,
    ) -> Result<EntryInfo>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.store_stream_with(job, target, body, before_commit, BTreeMap::new())
            .await
    }

    /// [`Node::store_stream`] with metadata set on the new entry in its
    /// own transaction.
    pub(crate) async fn store_stream_with<S, E>(
        &self,
        job: Job,
        target: UploadTarget,
        body: S,
        before_commit: BeforeCommit,
        metadata: BTreeMap<String, String>,
    ) -> Result<EntryInfo>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let token = job.token();
        let body = body.map_err(|e| std::io::Error::other(NodeError::Aborted(e.to_string())));
        let body = CancelOnToken {
            inner: body,
            cancelled: Box::pin(token.cancelled_owned()),
        };
        let reader = tokio_util::io::StreamReader::new(body);
        let node = self.clone();
        let wait = target.wait_digests;
        let entry = tokio::task::spawn_blocking(move || {
            let mut src = tokio_util::io::SyncIoBridge::new(reader);
            let outcome = node.store_file_with(
                &mut src,
                &job,
                target.parent.as_deref(),
                &target.name,
                target.on_conflict,
                &*before_commit,
                &metadata,
            );
            job.finish(outcome.as_ref().map(|e| serde_json::json!({ "entry": e })));
            outcome
        })
        .await??;
        self.after_store(&entry, wait).await
    }

    async fn after_store(&self, entry: &Entry, wait_digests: bool) -> Result<EntryInfo> {
        if let Some(Ok(blob)) = entry.blob.as_deref().map(str::parse::<BlobId>)
            && wait_digests
        {
            self.ensure_digests(blob).await?;
        }
        self.entry(&entry.id).await
    }

    pub(crate) async fn check_folder(&self, id: &str) -> Result<()> {
        let entry = self.entry(id).await?.entry;
        if entry.kind == crate::EntryKind::Folder {
            Ok(())
        } else {
            Err(NodeError::Invalid(format!(
                "'{}' is a file, not a folder",
                entry.name
            )))
        }
    }

    /// Seals `src` and adds it to the catalog (blocking). `before_commit`
    /// sees the sealed blob's manifest and may refuse it (a charge that
    /// cannot be paid): then nothing is stored.
    pub(crate) fn store_file(
        &self,
        src: &mut dyn Read,
        job: &Job,
        parent: Option<&str>,
        name: &str,
        on_conflict: OnConflict,
        before_commit: &dyn Fn(&Manifest) -> Result<()>,
    ) -> Result<Entry> {
        self.store_file_with(
            src,
            job,
            parent,
            name,
            on_conflict,
            before_commit,
            &BTreeMap::new(),
        )
    }

    /// [`Node::store_file`], setting `metadata` on the new entry in the
    /// transaction that adds it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn store_file_with(
        &self,
        src: &mut dyn Read,
        job: &Job,
        parent: Option<&str>,
        name: &str,
        on_conflict: OnConflict,
        before_commit: &dyn Fn(&Manifest) -> Result<()>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Entry> {
        let limit = self.0.shared.config.max_upload_bytes;
        // Placed on suppliers as it is stored, when it can be; dropped
        // unless handed to `auto_place`, it deletes what it wrote.
        let (early, tap) = self.early_place(job.total()).unzip();
        let mut sealed =
            crate::ingest::seal_source(&*self.0.files, &self.0.secret, src, job, limit, tap)?;
        job.check()?;
        // Claimed before the blob is visible, so the rounds that place
        // blobs left unplaced never take a new one from its own placement.
        let claim = self.claim_placing(sealed.manifest.id);
        before_commit(&sealed.manifest)?;
        sealed.temp.sync()?;
        let manifest = sealed.manifest;
        let id = manifest.id;
        let encoded = manifest.encode();
        let content_type = sniff::content_type(name, &sealed.head);
        let files = self.0.files.clone();
        let temp = sealed.temp;
        let added = self.0.shared.catalog.add_file_with_metadata(
            NewFile {
                parent,
                name,
                blob: id,
                size: manifest.size,
                manifest: &encoded,
                content_type: &content_type,
                on_conflict,
            },
            metadata,
            move || files.commit(temp, &id),
            |orphan| self.drop_blob(orphan),
        )?;
        tracing::info!(blob = %id, bytes = manifest.size, new = added.new_blob, entry = %added.entry.id, "stored");
        // With the network on, the aliases are computed once the blob is
        // placed (see `auto_place`): its safety comes first.
        if added.new_blob && self.0.shared.config.legacy_digests && self.0.net.is_none() {
            let _ = self.0.digest_queue.send(id);
        }
        if added.new_blob && self.0.net.is_some() {
            let node = self.clone();
            tasks::spawn(&self.0.shared.tasks, "auto-place", async move {
                let _claim = claim;
                node.auto_place(id, early).await
            });
        }
        // A replaced file's blob, if placed, left its placement queued: its
        // suppliers are asked to free the shards.
        if added.orphan.is_some() && self.0.net.is_some() {
            let node = self.clone();
            tasks::spawn(&self.0.shared.tasks, "unplace", node.unplace());
        }
        self.0.shared.events.send(Event::EntryAdded {
            entry: added.entry.clone(),
        });
        Ok(added.entry)
    }

    /// Imports a local file or folder as a job. With `wait`, answers when
    /// the job has ended; otherwise at once, with the job running.
    pub async fn import(&self, req: ImportRequest, wait: bool) -> Result<JobRecord> {
        if let Some(parent) = &req.parent {
            self.check_folder(parent).await?;
        }
        let roots = self.0.shared.config.import_roots.clone();
        let path = req.path.clone();
        let plan =
            blocking(move || import::plan(&path, Roots::resolve(&roots), &LocalCaller::Operator))
                .await?;
        let job = self.0.shared.jobs.start(
            "import",
            req.path.display().to_string(),
            Some(plan.total()),
            true,
        );
        let job_id = job.id().to_owned();
        let node = self.clone();
        let handle = tokio::task::spawn_blocking(move || {
            let outcome = node.run_import(&req, plan, &job);
            job.finish(
                outcome
                    .as_ref()
                    .map(|files| serde_json::json!({ "files": files })),
            );
        });
        if wait {
            handle.await?;
        }
        self.0.shared.jobs.get(&job_id)
    }

    /// Starts importing one local file for `req.caller` (a local user
    /// without the admin secret: only a file they may read), as an
    /// `upload` job whose md5, sha1 and sha256 are computed in the same
    /// pass as the seal. Answers once the file is opened, the job running.
    pub async fn start_file_import(&self, req: FileImport) -> Result<FileImporting> {
        crate::paid::check_initial(&req.metadata, req.on_conflict)?;
        if let Some(parent) = &req.parent {
            self.check_folder(parent).await?;
        }
        let roots = self.0.shared.config.import_roots.clone();
        let (path, caller) = (req.path.clone(), req.caller.clone());
        let opened =
            blocking(move || crate::local::open_under(&path, &Roots::resolve(&roots), &caller))
                .await?;
        if opened.kind != crate::local::Kind::File {
            return Err(NodeError::Invalid(format!(
                "{} is a folder, not a file",
                req.path.display()
            )));
        }
        let name = opened
            .real
            .file_name()
            .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
        let job = self
            .0
            .shared
            .jobs
            .start("upload", &name, Some(opened.size), true);
        let (job_id, size, node, n) =
            (job.id().to_owned(), opened.size, self.clone(), name.clone());
        let done = tokio::task::spawn_blocking(move || {
            let outcome = node.seal_hashed(opened.file, &n, &req, &job);
            let record = outcome
                .as_ref()
                .map(|e| serde_json::json!({ "entry": e.entry }));
            job.finish(record);
            outcome
        });
        Ok(FileImporting {
            job: job_id,
            name,
            size,
            done,
        })
    }

    /// Seals a local file as `name`, computing its legacy digests from the
    /// bytes sealed, and records them with the entry (blocking).
    fn seal_hashed(
        &self,
        file: std::fs::File,
        name: &str,
        req: &FileImport,
        job: &Job,
    ) -> Result<EntryInfo> {
        let mut hasher = cairn_core::digest::LegacyHasher::default();
        let mut src = import::Hashing {
            inner: file,
            hasher: &mut hasher,
        };
        let entry = self.store_file_with(
            &mut src,
            job,
            req.parent.as_deref(),
            name,
            req.on_conflict,
            &|_| Ok(()),
            &req.metadata,
        )?;
        if let Some(Ok(blob)) = entry.blob.as_deref().map(str::parse::<BlobId>) {
            self.0
                .shared
                .catalog
                .add_aliases(&blob, &hasher.finish().aliases())?;
        }
        self.entry_info(&entry.id)
    }

    fn run_import(&self, req: &ImportRequest, plan: Plan, job: &Job) -> Result<Vec<ImportedFile>> {
        let (mut report, roots) = (plan.unreadable, plan.roots);
        let mut folders: HashMap<Vec<String>, Option<String>> = HashMap::new();
        let top = match &plan.top {
            Some(name) => Some(
                self.0
                    .shared
                    .catalog
                    .create_folder(req.parent.as_deref(), name)?
                    .id,
            ),
            None => req.parent.clone(),
        };
        folders.insert(Vec::new(), top.clone());
        for rel in &plan.folders {
            let parent = folders.get(&rel[..rel.len() - 1]).cloned().flatten();
            let id = self
                .0
                .shared
                .catalog
                .create_folder(parent.as_deref(), &rel[rel.len() - 1])?
                .id;
            folders.insert(rel.clone(), Some(id));
        }
        for file in plan.files {
            job.check()?;
            let parent = folders.get(&file.dirs).cloned().flatten();
            let outcome =
                import::open_file(&file.path, &roots, &LocalCaller::Operator).and_then(|mut f| {
                    self.store_file(
                        &mut f,
                        job,
                        parent.as_deref(),
                        &file.name,
                        req.on_conflict,
                        &|_| Ok(()),
                    )
                });
            report.push(match outcome {
                Ok(entry) => ImportedFile {
                    path: file.path,
                    blob: entry.blob.clone(),
                    entry: Some(entry),
                    error: None,
                },
                Err(NodeError::Cancelled) => return Err(NodeError::Cancelled),
                Err(e) => import::failed(&file.path, &e.to_string()),
            });
        }
        Ok(report)
    }

    // ---- reads ----

    pub(crate) fn resolve(&self, digest: &str) -> Result<BlobId> {
        let d: DigestRef = digest.parse()?;
        self.0
            .shared
            .catalog
            .resolve(&d)?
            .ok_or_else(|| NodeError::BlobNotFound(d.hex.clone()))
    }

    pub(crate) fn manifest(&self, id: &BlobId) -> Result<Arc<Manifest>> {
        if let Some(m) = self
            .0
            .manifests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
        {
            return Ok(m.clone());
        }
        let bytes = self
            .0
            .shared
            .catalog
            .manifest(id)?
            .ok_or_else(|| NodeError::BlobNotFound(id.to_hex()))?;
        let manifest =
            Arc::new(Manifest::decode(&bytes).map_err(|e| NodeError::Corrupt(e.to_string()))?);
        let mut cache = self.0.manifests.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MANIFEST_CACHE {
            cache.clear();
        }
        cache.insert(*id, manifest.clone());
        Ok(manifest)
    }

    /// The local blob file of `id`, to be read through once (placed,
    /// audited, repaired from).
    pub(crate) fn local_reader(
        &self,
        id: &BlobId,
    ) -> Result<Arc<dyn cairn_store::files::BlobReader>> {
        Ok(self.0.files.open_scan(id)?)
    }

    /// Blob `id`, as [`Node::handle`], for one pass over all of it: its
    /// local file is read past the page cache.
    pub(crate) fn scan_handle(&self, id: &BlobId) -> Result<BlobHandle> {
        match self.0.files.open_scan(id) {
            Ok(reader) => Ok(BlobHandle::new(
                self.manifest(id)?,
                self.0.secret.read_key(id),
                reader,
            )),
            Err(cairn_store::StoreError::NotFound { .. }) => self.handle(id),
            Err(e) => Err(e.into()),
        }
    }

    /// Blob `id`, read from its local file when there is one, else from
    /// its suppliers.
    pub(crate) fn handle(&self, id: &BlobId) -> Result<BlobHandle> {
        let manifest = self.manifest(id)?;
        let reader = match self.0.files.open(id) {
            Ok(r) => r,
            Err(cairn_store::StoreError::NotFound { .. }) => {
                let placement = match self.0.shared.catalog.placement(id)? {
                    Some(p) if self.0.net.is_some() => p,
                    _ => {
                        return Err(NodeError::Corrupt(format!(
                            "the file of blob {id} is missing and the blob is not on suppliers"
                        )));
                    }
                };
                let placement = cairn_core::placement::Placement::decode(&placement)
                    .map_err(|e| NodeError::Corrupt(e.to_string()))?;
                self.net_reader(id, placement, manifest.size)?
            }
            Err(e) => return Err(e.into()),
        };
        Ok(BlobHandle::new(
            manifest,
            self.0.secret.read_key(id),
            reader,
        ))
    }

    /// Opens the blob a digest (id or alias) names, or a link
    /// (`<id>.<read key>`). A blob this node does not know is looked up in
    /// the network and read from its suppliers.
    pub async fn open_blob(&self, digest: &str) -> Result<BlobHandle> {
        let (digest, key) = match digest.split_once('.') {
            Some((id, key)) => (id, Some(parse_key(key)?)),
            None => (digest, None),
        };
        let node = self.clone();
        let owned = digest.to_owned();
        match blocking(move || node.handle(&node.resolve(&owned)?)).await {
            Err(NodeError::BlobNotFound(_)) if self.0.net.is_some() => {
                if let Ok(id) = digest.parse::<BlobId>() {
                    match self.remote_handle(&id, key).await {
                        Err(NodeError::BlobNotFound(_)) => {}
                        other => return other,
                    }
                }
                match self.remote_alias(digest).await? {
                    Some(id) => self.remote_handle(&id, key).await,
                    None => Err(NodeError::BlobNotFound(digest.to_owned())),
                }
            }
            other => other,
        }
    }

    async fn remote_handle(&self, id: &BlobId, key: Option<[u8; 32]>) -> Result<BlobHandle> {
        let blob = self.remote_blob(id).await?;
        let key = key.or(blob.read_key).ok_or_else(|| {
            NodeError::Forbidden(format!(
                "{id} is a private file: read it with its link (<id>.<key>)"
            ))
        })?;
        let reader = self.net_reader(id, blob.placement.clone(), blob.manifest.size)?;
        Ok(BlobHandle::new(
            blob.manifest.clone(),
            cairn_core::crypt::ReadKey(key),
            reader,
        ))
    }

    /// A link to blob `digest` that any node can read it by:
    /// `<id>.<read key>` (admin; the key decrypts the file).
    pub async fn link(&self, digest: &str) -> Result<String> {
        let node = self.clone();
        let digest = digest.to_owned();
        blocking(move || {
            let id = node.resolve(&digest)?;
            Ok(format!(
                "{}.{}",
                id.to_hex(),
                hex::encode(node.0.secret.read_key(&id).0)
            ))
        })
        .await
    }

    /// Streams `range` of `handle` as a download job. When the whole blob
    /// is sent and `entry` is given, the entry's download count goes up.
    pub fn stream(
        &self,
        handle: BlobHandle,
        range: Range<u64>,
        label: String,
        entry: Option<String>,
    ) -> ByteStream {
        let job = self
            .0
            .shared
            .jobs
            .start("download", label, Some(range.end - range.start), false);
        let whole = range.start == 0 && range.end == handle.size();
        let catalog = self.0.shared.catalog.clone();
        handle.stream(range, job, move || {
            if let (true, Some(entry)) = (whole, entry)
                && let Err(e) = catalog.count_download(&entry)
            {
                tracing::warn!(entry, error = %e, "cannot count download");
            }
        })
    }

    /// Whether blob `digest`'s ciphertext is on this node's own disk (else
    /// a read comes from its suppliers).
    pub async fn is_local(&self, digest: &str) -> Result<bool> {
        let node = self.clone();
        let digest = digest.to_owned();
        blocking(move || {
            let id = node.resolve(&digest)?;
            Ok(node.local_reader(&id).is_ok())
        })
        .await
    }

    /// The transfer meter (bytes in and out, in all and this month).
    pub async fn transfer_meter(&self) -> Result<crate::Meter> {
        let node = self.clone();
        blocking(move || Ok(node.0.shared.catalog.meter()?)).await
    }

    // ---- tags ----

    /// Names entry `entry` `name` in `namespace` (a layer's own: MetaDisk's
    /// file hashes are `metadisk`), moving the name if another entry had
    /// it. The name goes with the entry when it is deleted.
    pub async fn tag(&self, namespace: &str, name: &str, entry: &str) -> Result<()> {
        let node = self.clone();
        let (ns, name, entry) = (namespace.to_owned(), name.to_owned(), entry.to_owned());
        blocking(move || Ok(node.0.shared.catalog.tag(&ns, &name, &entry)?)).await
    }

    /// The entry `name` names in `namespace`, and when the name was given
    /// (Unix milliseconds).
    pub async fn tagged(&self, namespace: &str, name: &str) -> Result<Option<(Entry, i64)>> {
        let node = self.clone();
        let (ns, name) = (namespace.to_owned(), name.to_owned());
        blocking(move || Ok(node.0.shared.catalog.tagged(&ns, &name)?)).await
    }
}

fn parse_key(hex_key: &str) -> Result<[u8; 32]> {
    hex::decode(hex_key)
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| NodeError::Invalid("a link's key is 64 hex characters".into()))
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

/// Ends a body stream with an error as soon as its job is cancelled, so a
/// cancelled upload stops even while it waits for the client.
struct CancelOnToken<S> {
    inner: S,
    cancelled: std::pin::Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
}

impl<S> Stream for CancelOnToken<S>
where
    S: Stream<Item = std::io::Result<Bytes>> + Unpin,
{
    type Item = std::io::Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.cancelled.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(Some(Err(std::io::Error::other(NodeError::Cancelled))));
        }
        std::pin::Pin::new(&mut self.inner).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer asks for its folder on every call (cacaoweb's uploads
    /// list): only the call that makes it tells the event stream.
    #[tokio::test]
    async fn asking_for_an_existing_folder_changes_nothing_and_tells_no_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.network.enabled = false;
        let node = Node::start(dir.path(), config).await.unwrap();
        let mut events = node.events();
        let made = node.create_folder(None, "f".into()).await.unwrap();
        let again = node.create_folder(None, "f".into()).await.unwrap();
        assert_eq!(made.id, again.id);
        let added = std::iter::from_fn(|| events.try_recv().ok())
            .filter(|e| matches!(e, Event::EntryAdded { .. }))
            .count();
        assert_eq!(added, 1);
        node.shutdown().await;
    }
}
