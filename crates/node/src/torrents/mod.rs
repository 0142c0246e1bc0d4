//! Torrents (`node.torrents()`): a librqbit session inside the node.
//!
//! - add by magnet (`x.pe` peer addresses are honoured, as BEP 9 says),
//!   by `.torrent` bytes, by URL (fetched as every remote URL is; a
//!   redirect to a magnet followed), or by a path under the import roots
//!   (the admin);
//!   a magnet is answered at once in the `resolving` state while its
//!   metadata is fetched, so a torrent with no peers never holds the API;
//! - list, details (files, progress, speeds, peers), file selection,
//!   pause, resume, removal with or without the data;
//! - any file read by byte range while it downloads: librqbit fetches the
//!   pieces a reader needs first (32 MiB ahead of it);
//! - a finished torrent's files are imported into the store
//!   (`import.rs`), deduplicated and placed like any upload, under
//!   `Torrents/<name>/` in the catalog; reads then come from the store.
//!
//! The session keeps its state under `<data dir>/torrents/` (the data in
//! `files/`, what it needs to resume after a restart in `session/`), so a
//! node killed while a torrent downloads resumes it at start. librqbit
//! gives every open stream a permit from one semaphore that also gates its
//! disk writes; the session's is sized `[torrents] streams` + 8, and cairn
//! refuses a stream past `streams` (503) rather than let writes starve.

mod import;
mod jobs;
mod peers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use librqbit::api::TorrentIdOrHash;
use librqbit::dht::Id20;
use librqbit::limits::LimitsConfig;
use librqbit::{
    AddTorrent, AddTorrentOptions, AddTorrentResponse, ListenerOptions, ManagedTorrent, Session,
    SessionOptions, SessionPersistenceConfig, TorrentStatsState,
};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::io::ReaderStream;

use crate::NodeError;
use crate::entries::Entries;
use crate::shared::Shared;

type Result<T> = std::result::Result<T, NodeError>;

/// The tag namespace that names imported files (`<info hash>:<file>`).
const TAGS: &str = "torrents";

/// The largest `.torrent` file read from a path.
const MAX_TORRENT_FILE: u64 = 64 << 20;

/// How long a new limit waits for the torrent's data to be checked again.
const LIMIT_CHECK_WAIT: Duration = Duration::from_secs(30);

/// How long opening a stream may wait for librqbit.
const OPEN_WAIT: Duration = Duration::from_secs(20);

/// The torrents service. Cheap to clone.
#[derive(Clone)]
pub struct Torrents(Arc<State>);

struct State {
    shared: Arc<Shared>,
    entries: Entries,
    /// The session, or why there is none.
    session: std::result::Result<Arc<Session>, String>,
    streams: Arc<Semaphore>,
    /// Magnets whose metadata is being fetched, by info hash.
    resolving: Mutex<HashMap<String, Resolving>>,
    /// Torrents being imported now, by info hash.
    importing: Mutex<std::collections::HashSet<String>>,
    /// Peers given by hand and download limits, kept across restarts.
    remembered: peers::Remembered,
    /// The job of each torrent downloading or not yet imported.
    jobs: Mutex<HashMap<String, crate::jobs::Job>>,
}

struct Resolving {
    name: Option<String>,
    error: Option<String>,
    task: tokio::task::AbortHandle,
}

/// Where a torrent comes from.
#[derive(Debug, Clone)]
pub enum TorrentSource {
    /// A magnet link (or a bare 40-hex info hash).
    Magnet(String),
    /// The bytes of a `.torrent` file.
    File(Vec<u8>),
    /// A `.torrent` file on this machine, under the import roots.
    Path(PathBuf),
    /// A `.torrent` file (or a redirect to a magnet link, as search
    /// engines' download links are) at an http(s) URL, fetched as every
    /// remote URL is; `trusted` for an address the admin chose (a search
    /// engine on this machine): no address check then.
    Url {
        /// The URL.
        url: String,
        /// The admin chose its address.
        trusted: bool,
    },
}

/// What to do with a torrent added.
#[derive(Debug, Clone, Default)]
pub struct AddOptions {
    /// Download only these files (indexes in the torrent); all when none.
    pub files: Option<Vec<usize>>,
    /// Add it paused.
    pub paused: bool,
    /// Peers to try at once, besides the DHT and trackers.
    pub peers: Vec<SocketAddr>,
}

/// A torrent's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TorrentState {
    /// A magnet whose metadata is being fetched from peers.
    Resolving,
    /// Its data on disk is being checked.
    Checking,
    /// Downloading.
    Downloading,
    /// Everything selected is here; it is shared with others.
    Seeding,
    /// Stopped by the user (or done, with seeding off).
    Paused,
    /// It failed: `error` says why.
    Error,
}

/// A torrent, as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TorrentInfo {
    /// The info hash, 40 hex digits.
    pub info_hash: String,
    /// Its name, once known.
    pub name: Option<String>,
    /// Where it is.
    pub state: TorrentState,
    /// Why it failed, in the `error` state.
    pub error: Option<String>,
    /// Bytes of the selected files here and checked.
    pub done_bytes: u64,
    /// Bytes of the selected files.
    pub total_bytes: u64,
    /// Fraction done, 0 to 1.
    pub progress: f64,
    /// Bytes per second coming in now.
    pub download_bps: u64,
    /// Bytes per second going out now.
    pub upload_bps: u64,
    /// Its own download limit in bytes per second, when it has one.
    pub download_limit_bps: Option<u32>,
    /// Bytes sent to others so far.
    pub uploaded_bytes: u64,
    /// Peers connected now.
    pub peers: u64,
    /// Its files (empty while resolving).
    pub files: Vec<TorrentFileInfo>,
}

/// One file of a torrent.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TorrentFileInfo {
    /// Its index in the torrent.
    pub index: usize,
    /// Its path inside the torrent.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Bytes of it here.
    pub done_bytes: u64,
    /// Selected for download.
    pub selected: bool,
    /// The catalog entry it was imported as, once finished.
    pub entry: Option<String>,
}

/// A torrent's file opened for reading.
#[derive(Debug, Clone)]
pub struct TorrentFile {
    /// The torrent's info hash.
    pub info_hash: String,
    /// Its index.
    pub index: usize,
    /// The file's name (its last path component).
    pub name: String,
    /// Its size.
    pub size: u64,
    /// The catalog entry it was imported as: read it from the store.
    pub entry: Option<crate::Entry>,
    /// All of it is here (and checked).
    pub complete: bool,
}

impl Torrents {
    /// Starts the session (unless `[torrents] enabled` is false); a session
    /// that cannot start leaves the service answering `unavailable`.
    pub(crate) async fn start(shared: Arc<Shared>, entries: Entries, data_dir: &Path) -> Self {
        let config = shared.config.torrents.clone();
        let session = if config.enabled {
            open_session(&shared, data_dir).await.map_err(|e| {
                tracing::warn!(error = %e, "torrents are off: the session did not start");
                format!("the torrent session did not start: {e}")
            })
        } else {
            Err("torrents are turned off ([torrents] enabled = false)".into())
        };
        let torrents = Self(Arc::new(State {
            streams: Arc::new(Semaphore::new(config.streams.max(1))),
            shared,
            entries,
            session,
            resolving: Mutex::new(HashMap::new()),
            importing: Mutex::new(Default::default()),
            remembered: peers::Remembered::open(&data_dir.join("torrents")),
            jobs: Mutex::new(HashMap::new()),
        }));
        if torrents.0.session.is_ok() {
            torrents.start_repeering();
            torrents.start_importer();
        }
        torrents
    }

    fn session(&self) -> Result<&Arc<Session>> {
        self.0
            .session
            .as_ref()
            .map_err(|why| NodeError::Unavailable(why.clone()))
    }

    /// Adds a torrent. A magnet is answered at once, `resolving`, while its
    /// metadata is fetched; a `.torrent` once its files are set up.
    pub async fn add(&self, source: TorrentSource, options: AddOptions) -> Result<TorrentInfo> {
        let session = self.session()?.clone();
        match source {
            TorrentSource::Magnet(link) => self.add_magnet(session, &link, options).await,
            TorrentSource::File(bytes) => self.add_bytes(&session, bytes, options).await,
            TorrentSource::Path(path) => {
                let bytes = self.read_under_roots(&path).await?;
                self.add_bytes(&session, bytes, options).await
            }
            TorrentSource::Url { url, trusted } => {
                let parsed = crate::fetches::parse(&url)?;
                let got = crate::fetches::get_following(
                    &self.0.shared.config.remote,
                    parsed,
                    Default::default(),
                    Default::default(),
                    !trusted,
                )
                .await?;
                match got {
                    crate::fetches::Got::Magnet(link) => {
                        self.add_magnet(session, &link, options).await
                    }
                    crate::fetches::Got::Response(resp) => {
                        let bytes =
                            crate::fetches::body_within(resp, MAX_TORRENT_FILE as usize).await?;
                        self.add_bytes(&session, bytes.to_vec(), options).await
                    }
                }
            }
        }
    }

    async fn add_bytes(
        &self,
        session: &Arc<Session>,
        bytes: Vec<u8>,
        options: AddOptions,
    ) -> Result<TorrentInfo> {
        let hash = librqbit::torrent_from_bytes(&bytes)
            .map_err(|e| NodeError::Invalid(format!("not a .torrent file: {e}")))?
            .info_hash
            .as_string();
        self.0.remembered.add(&hash, &options.peers)?;
        self.start_job(&hash, None);
        let added = session
            .add_torrent(AddTorrent::from_bytes(bytes), Some(add_options(options)))
            .await
            .map_err(|e| NodeError::Invalid(format!("cannot add the torrent: {e:#}")));
        let added = added.inspect_err(|e| self.end_job(&hash, Err(e)))?;
        self.added(added).await
    }

    async fn add_magnet(
        &self,
        session: Arc<Session>,
        link: &str,
        options: AddOptions,
    ) -> Result<TorrentInfo> {
        let magnet = librqbit::Magnet::parse(link.trim())
            .map_err(|e| NodeError::Invalid(format!("not a magnet link: {e:#}")))?;
        let hash = magnet
            .as_id20()
            .ok_or_else(|| {
                NodeError::Invalid("the magnet link has no BitTorrent v1 info hash".into())
            })?
            .as_string();
        if let Ok(known) = self.info(&hash).await {
            return Ok(known);
        }
        let mut options = options;
        options.peers.extend(magnet_peers(link));
        self.0.remembered.add(&hash, &options.peers)?;
        self.start_job(&hash, magnet.name.as_deref());
        let (link, key, torrents) = (link.trim().to_owned(), hash.clone(), self.clone());
        let shared = self.0.shared.clone();
        self.begin_resolving(&hash, magnet.name.clone(), move || {
            let task = shared.spawn("torrent-resolve", async move {
                let added = session
                    .add_torrent(AddTorrent::from_url(link), Some(add_options(options)))
                    .await;
                torrents.resolved(&key, added.err().map(|e| format!("{e:#}")));
                Ok(())
            });
            task.abort_handle()
        });
        self.info(&hash).await
    }

    /// Records a magnet resolving, with the task `start` spawns (unless one
    /// resolves it already).
    fn begin_resolving(
        &self,
        hash: &str,
        name: Option<String>,
        start: impl FnOnce() -> tokio::task::AbortHandle,
    ) {
        let mut resolving = self.resolving();
        if resolving.contains_key(hash) {
            return;
        }
        let task = start();
        resolving.insert(
            hash.to_owned(),
            Resolving {
                name,
                error: None,
                task,
            },
        );
    }

    /// A magnet's metadata came (it is a torrent like the others now), or
    /// could not be had (`error`).
    fn resolved(&self, hash: &str, error: Option<String>) {
        let mut resolving = self.resolving();
        match error {
            None => {
                resolving.remove(hash);
            }
            Some(e) => {
                tracing::warn!(torrent = %hash, error = %e, "a magnet did not resolve");
                self.end_job(hash, Err(&NodeError::Invalid(e.clone())));
                if let Some(r) = resolving.get_mut(hash) {
                    r.error = Some(e);
                }
            }
        }
    }

    async fn added(&self, added: AddTorrentResponse) -> Result<TorrentInfo> {
        match added {
            AddTorrentResponse::Added(_, h) | AddTorrentResponse::AlreadyManaged(_, h) => {
                Ok(self.shown(&h).await)
            }
            AddTorrentResponse::ListOnly(_) => Err(NodeError::Internal("listed only".into())),
        }
    }

    /// Every torrent, those resolving first.
    pub async fn list(&self) -> Result<Vec<TorrentInfo>> {
        let session = self.session()?;
        let mut all: Vec<TorrentInfo> = self
            .resolving()
            .iter()
            .map(|(hash, r)| resolving_info(hash, r))
            .collect();
        let handles: Vec<Arc<ManagedTorrent>> =
            session.with_torrents(|it| it.map(|(_, h)| h.clone()).collect());
        for h in handles {
            let hash = h.info_hash().as_string();
            if !all.iter().any(|t| t.info_hash == hash) {
                all.push(self.shown(&h).await);
            }
        }
        Ok(all)
    }

    /// One torrent, by info hash.
    pub async fn info(&self, hash: &str) -> Result<TorrentInfo> {
        let hash = normal_hash(hash)?;
        if let Some(r) = self.resolving().get(&hash) {
            return Ok(resolving_info(&hash, r));
        }
        let handle = self.handle(&hash)?;
        Ok(self.shown(&handle).await)
    }

    /// Pauses a torrent.
    pub async fn pause(&self, hash: &str) -> Result<TorrentInfo> {
        let handle = self.handle(&normal_hash(hash)?)?;
        if !handle.is_paused() {
            self.session()?
                .pause(&handle)
                .await
                .map_err(|e| NodeError::Conflict(format!("cannot pause: {e:#}")))?;
        }
        self.info(hash).await
    }

    /// Resumes a paused torrent.
    pub async fn resume(&self, hash: &str) -> Result<TorrentInfo> {
        let handle = self.handle(&normal_hash(hash)?)?;
        if handle.is_paused() || matches!(handle.stats().state, TorrentStatsState::Error) {
            self.session()?
                .unpause(&handle)
                .await
                .map_err(|e| NodeError::Conflict(format!("cannot resume: {e:#}")))?;
        }
        self.info(hash).await
    }

    /// Downloads only `files` of a torrent from now on.
    pub async fn select(&self, hash: &str, files: &[usize]) -> Result<TorrentInfo> {
        let handle = self.handle(&normal_hash(hash)?)?;
        let count = file_count(&handle)?;
        if let Some(bad) = files.iter().find(|i| **i >= count) {
            return Err(NodeError::NotFound(format!(
                "no file {bad} in the torrent: it has {count} (counted from 0)"
            )));
        }
        let set = files.iter().copied().collect();
        self.session()?
            .update_only_files(&handle, &set)
            .await
            .map_err(|e| NodeError::Conflict(format!("cannot select files now: {e:#}")))?;
        self.info(hash).await
    }

    /// Removes a torrent, and its downloaded data when asked (files
    /// already imported into the store stay there).
    pub async fn remove(&self, hash: &str, delete_data: bool) -> Result<()> {
        let hash = normal_hash(hash)?;
        self.0.remembered.forget(&hash)?;
        self.end_job(&hash, Err(&NodeError::Cancelled));
        if let Some(r) = self.resolving().remove(&hash) {
            r.task.abort();
            return Ok(());
        }
        let handle = self.handle(&hash)?;
        self.session()?
            .delete(TorrentIdOrHash::Hash(handle.info_hash()), delete_data)
            .await
            .map_err(|e| NodeError::Conflict(format!("cannot remove: {e:#}")))
    }

    /// File `index` of a torrent, for reading.
    pub async fn file(&self, hash: &str, index: usize) -> Result<TorrentFile> {
        let hash = normal_hash(hash)?;
        let handle = self.handle(&hash)?;
        let (path, size) = file_at(&handle, index)?;
        let entry = self
            .0
            .entries
            .tagged(TAGS, &tag(&hash, index))
            .await?
            .map(|(entry, _)| entry);
        let complete = handle.stats().file_progress.get(index) == Some(&size);
        Ok(TorrentFile {
            complete,
            info_hash: hash,
            index,
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| format!("file-{index}")),
            size,
            entry,
        })
    }

    /// Bytes `range` of a torrent's file as they arrive (the pieces a
    /// reader needs are fetched first). Refused (503) past `[torrents]
    /// streams` readers at once.
    pub async fn read(&self, file: &TorrentFile, range: Range<u64>) -> Result<TorrentBytes> {
        let permit = self.0.streams.clone().try_acquire_owned().map_err(|_| {
            NodeError::Unavailable(format!(
                "all {} torrent streams are in use; try again shortly",
                self.0.shared.config.torrents.streams
            ))
        })?;
        let handle = self.handle(&file.info_hash)?;
        let mut stream = tokio::time::timeout(OPEN_WAIT, handle.stream(file.index))
            .await
            .map_err(|_| NodeError::Unavailable("the torrent is not ready to stream yet".into()))?
            .map_err(|e| NodeError::Invalid(format!("cannot stream the file: {e:#}")))?;
        stream
            .seek(std::io::SeekFrom::Start(range.start))
            .await
            .map_err(|e| NodeError::Invalid(format!("cannot seek in the file: {e}")))?;
        let reader: Box<dyn AsyncRead + Send + Unpin> =
            Box::new(stream.take(range.end - range.start));
        Ok(TorrentBytes {
            bytes: ReaderStream::with_capacity(reader, 256 * 1024),
            _permit: permit,
        })
    }

    fn handle(&self, hash: &str) -> Result<Arc<ManagedTorrent>> {
        self.session()?
            .get(TorrentIdOrHash::Hash(id_of(hash)?))
            .ok_or_else(|| NodeError::NotFound(format!("no torrent {hash}")))
    }

    /// The files of `hash` imported so far, by index (from the tags).
    async fn imported(&self, hash: &str, count: usize) -> HashMap<usize, String> {
        let mut found = HashMap::new();
        for i in 0..count {
            if let Ok(Some((entry, _))) = self.0.entries.tagged(TAGS, &tag(hash, i)).await {
                found.insert(i, entry.id);
            }
        }
        found
    }

    /// What the API shows of a managed torrent.
    async fn shown(&self, handle: &ManagedTorrent) -> TorrentInfo {
        let hash = handle.info_hash().as_string();
        let count = file_count(handle).unwrap_or(0);
        let mut info = info_of(handle, &self.imported(&hash, count).await);
        info.download_limit_bps = self.0.remembered.of(&hash).download_bps;
        info
    }

    /// Limits how fast torrent `hash` downloads, in bytes per second (at
    /// least 16384), besides the node's own limit; `None` lifts it.
    /// librqbit takes a torrent's limit only when it is added, so the
    /// torrent is added again, its data kept and checked (streams of it
    /// break off; players ask again). The limit is kept across restarts.
    pub async fn limit(&self, hash: &str, download_bps: Option<u32>) -> Result<TorrentInfo> {
        if let Some(bps) = download_bps
            && bps < 16384
        {
            return Err(NodeError::Invalid(format!(
                "a limit of {bps} B/s is too low: at least 16384, or none"
            )));
        }
        let hash = normal_hash(hash)?;
        let handle = self.handle(&hash)?;
        if handle.with_metadata(|_| ()).is_err() {
            return Err(NodeError::Conflict(
                "the torrent has no metadata yet: limit it once it has".into(),
            ));
        }
        let peers = self.0.remembered.of(&hash).peers;
        self.add_again(&handle, peers, download_bps.and_then(NonZeroU32::new))
            .await?;
        self.0.remembered.set_limit(&hash, download_bps)?;
        // Answered once its data is checked again, so what the caller does
        // next (pause, read) finds it live; a large torrent is answered
        // while it is still checking.
        let again = self.handle(&hash)?;
        let _ = tokio::time::timeout(LIMIT_CHECK_WAIT, again.wait_until_initialized()).await;
        self.info(&hash).await
    }

    async fn read_under_roots(&self, path: &Path) -> Result<Vec<u8>> {
        let roots = self.0.shared.config.import_roots.clone();
        let path = path.to_path_buf();
        crate::tasks::blocking(move || {
            use std::io::Read;
            let roots = crate::local::Roots::resolve(&roots);
            let caller = crate::LocalCaller::Operator;
            let mut file = crate::entries::import::open_file(&path, &roots, &caller)?;
            let mut bytes = Vec::new();
            (&mut file)
                .take(MAX_TORRENT_FILE)
                .read_to_end(&mut bytes)
                .map_err(|e| NodeError::io("read", &path, e))?;
            Ok(bytes)
        })
        .await
    }

    fn resolving(&self) -> std::sync::MutexGuard<'_, HashMap<String, Resolving>> {
        self.0.resolving.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A torrent file's bytes as they arrive; holds a stream permit.
pub struct TorrentBytes {
    bytes: ReaderStream<Box<dyn AsyncRead + Send + Unpin>>,
    _permit: OwnedSemaphorePermit,
}

impl Stream for TorrentBytes {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.bytes).poll_next(cx)
    }
}

async fn open_session(shared: &Arc<Shared>, data_dir: &Path) -> Result<Arc<Session>> {
    let config = &shared.config.torrents;
    let dir = data_dir.join("torrents");
    for sub in ["files", "session"] {
        let d = dir.join(sub);
        cairn_store::private::create_dir_all(&d).map_err(|e| NodeError::io("create", &d, e))?;
    }
    let dht = config.dht.then(|| librqbit::DhtSessionConfig {
        bootstrap_addrs: None,
        port: None,
        persistence: Some(librqbit::dht::DhtPersistenceConfig {
            dump_interval: None,
            config_filename: Some(dir.join("dht.json")),
        }),
    });
    let options = SessionOptions {
        dht,
        disable_trackers: !config.trackers,
        disable_local_service_discovery: !config.local_discovery,
        persistence: Some(SessionPersistenceConfig::Json {
            folder: Some(dir.join("session")),
        }),
        fastresume: true,
        listen: Some(ListenerOptions {
            listen_addr: config.listen,
            ..Default::default()
        }),
        runtime_worker_threads: Some(config.streams.max(1) + 8),
        cancellation_token: Some(shared.shutdown.child_token()),
        ratelimits: LimitsConfig {
            upload_bps: NonZeroU32::new(config.upload_bps),
            download_bps: NonZeroU32::new(config.download_bps),
        },
        ..Default::default()
    };
    let session = Session::new_with_opts(dir.join("files"), options)
        .await
        .map_err(|e| NodeError::Internal(format!("{e:#}")))?;
    tracing::info!(listen = ?session.listen_addr(), "torrent session started");
    Ok(session)
}

fn add_options(options: AddOptions) -> AddTorrentOptions {
    AddTorrentOptions {
        paused: options.paused,
        only_files: options.files,
        // Files left by a kill, or the same torrent added again, are
        // checked and kept, not refused.
        overwrite: true,
        initial_peers: (!options.peers.is_empty()).then_some(options.peers),
        ..Default::default()
    }
}

/// The tag that names file `index` of torrent `hash` once imported.
fn tag(hash: &str, index: usize) -> String {
    format!("{hash}:{index}")
}

/// The `x.pe` peer addresses of a magnet link (BEP 9).
fn magnet_peers(link: &str) -> Vec<SocketAddr> {
    let Ok(url) = reqwest::Url::parse(link) else {
        return Vec::new();
    };
    url.query_pairs()
        .filter(|(k, _)| k == "x.pe")
        .filter_map(|(_, v)| v.parse().ok())
        .collect()
}

/// An info hash as 40 lower-case hex digits.
fn normal_hash(hash: &str) -> Result<String> {
    let hash = hash.trim().to_ascii_lowercase();
    if hash.len() == 40 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hash)
    } else {
        Err(NodeError::Invalid(format!(
            "'{}' is not an info hash (40 hex digits)",
            hash.chars().take(64).collect::<String>()
        )))
    }
}

/// An info hash as librqbit's id.
fn id_of(hash: &str) -> Result<Id20> {
    use std::str::FromStr;
    Id20::from_str(&normal_hash(hash)?)
        .map_err(|e| NodeError::Invalid(format!("not an info hash: {e}")))
}

fn file_count(handle: &ManagedTorrent) -> Result<usize> {
    handle
        .with_metadata(|m| m.file_infos.len())
        .map_err(|_| NodeError::Conflict("the torrent has no metadata yet".into()))
}

/// The path and size of file `index`.
fn file_at(handle: &ManagedTorrent, index: usize) -> Result<(PathBuf, u64)> {
    let found = handle
        .with_metadata(|m| {
            m.file_infos
                .get(index)
                .filter(|f| !f.attrs.padding)
                .map(|f| (f.relative_filename.clone(), f.len))
        })
        .map_err(|_| NodeError::Conflict("the torrent has no metadata yet".into()))?;
    found.ok_or_else(|| {
        NodeError::NotFound(format!(
            "no file {index} in the torrent: it has {} (counted from 0)",
            file_count(handle).unwrap_or(0)
        ))
    })
}

fn resolving_info(hash: &str, r: &Resolving) -> TorrentInfo {
    TorrentInfo {
        info_hash: hash.to_owned(),
        name: r.name.clone(),
        state: if r.error.is_some() {
            TorrentState::Error
        } else {
            TorrentState::Resolving
        },
        error: r.error.clone(),
        done_bytes: 0,
        total_bytes: 0,
        progress: 0.0,
        download_bps: 0,
        upload_bps: 0,
        download_limit_bps: None,
        uploaded_bytes: 0,
        peers: 0,
        files: Vec::new(),
    }
}

fn info_of(handle: &ManagedTorrent, imported: &HashMap<usize, String>) -> TorrentInfo {
    let stats = handle.stats();
    let only = handle.only_files();
    let files = handle
        .with_metadata(|m| {
            m.file_infos
                .iter()
                .enumerate()
                .filter(|(_, f)| !f.attrs.padding)
                .map(|(i, f)| TorrentFileInfo {
                    index: i,
                    path: f.relative_filename.to_string_lossy().into_owned(),
                    size: f.len,
                    done_bytes: stats.file_progress.get(i).copied().unwrap_or(0),
                    selected: only.as_ref().is_none_or(|o| o.contains(&i)),
                    entry: imported.get(&i).cloned(),
                })
                .collect()
        })
        .unwrap_or_default();
    let live = stats.live.as_ref();
    let mib = |mbps: f64| (mbps * 1_048_576.0) as u64;
    let state = match stats.state {
        TorrentStatsState::Initializing { .. } => TorrentState::Checking,
        TorrentStatsState::Error => TorrentState::Error,
        TorrentStatsState::Paused => TorrentState::Paused,
        TorrentStatsState::Live if stats.finished => TorrentState::Seeding,
        TorrentStatsState::Live => TorrentState::Downloading,
    };
    TorrentInfo {
        info_hash: handle.info_hash().as_string(),
        name: handle.name(),
        state,
        error: stats.error.clone(),
        done_bytes: stats.progress_bytes,
        total_bytes: stats.total_bytes,
        progress: if stats.total_bytes == 0 {
            0.0
        } else {
            stats.progress_bytes as f64 / stats.total_bytes as f64
        },
        download_bps: live.map_or(0, |l| mib(l.download_speed.mbps)),
        upload_bps: live.map_or(0, |l| mib(l.upload_speed.mbps)),
        download_limit_bps: None,
        uploaded_bytes: stats.uploaded_bytes,
        peers: live.map_or(0, |l| l.snapshot.peer_stats.live as u64),
        files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magnet_peers_are_read_from_x_pe() {
        let link = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567\
                    &x.pe=127.0.0.1:6881&x.pe=%5B%3A%3A1%5D%3A7000&x.pe=nonsense";
        let peers = magnet_peers(link);
        assert_eq!(
            peers,
            vec![
                "127.0.0.1:6881".parse::<SocketAddr>().unwrap(),
                "[::1]:7000".parse().unwrap()
            ]
        );
        assert!(magnet_peers("not a url").is_empty());
    }

    #[test]
    fn info_hashes_are_forty_hex_digits() {
        assert_eq!(
            normal_hash(" 0123456789ABCDEF0123456789abcdef01234567 ").unwrap(),
            "0123456789abcdef0123456789abcdef01234567"
        );
        assert!(normal_hash("xyz").is_err());
        assert!(normal_hash(&"a".repeat(41)).is_err());
    }
}
