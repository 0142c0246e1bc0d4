//! The catalog's backup (`node.backups()`): what lets a node recovered
//! from its identity's backup file alone, on an empty disk, find its
//! catalog again and read its files from its suppliers.
//!
//! A backup is a consistent copy of the whole catalog (entries,
//! manifests, placements, shares, keys, friends, messages, accounts;
//! not jobs or sessions), stored as a blob pinned rather than named by an
//! entry (its local copy and its shards encrypted as every blob's) and
//! placed on the suppliers; the one before it is kept too. The DHT holds
//! the node's signed document `/cairn/doc/<peer>/catalog`: a version (the
//! time it was made) and the blob's link, sealed under a key derived from
//! the identity, so only the identity can open it. One is made when the
//! catalog changed in ways that matter (counted by triggers, the
//! backup's own blob and placement not counted), at most every
//! `backup_secs`; the record is republished every `republish_secs`.
//!
//! Recovery: `cairn id recover` leaves a mark in the new data dir. At the
//! first start the node runs once with an empty catalog, asks the DHT for
//! the record (for up to `restore_wait_secs`), reads the copy from the
//! suppliers into a file beside the catalog, stops, and puts the copy in
//! the catalog's place; then it starts for real. A catalog that holds
//! entries is never replaced; the mark stays until a copy is in place or
//! the catalog has entries of its own.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_store::backup::{PIN, PIN_BEFORE};
use serde::{Deserialize, Serialize};

use crate::blobs::Blobs;
use crate::entries::Entries;
use crate::network::Network;
use crate::shared::Shared;
use crate::tasks::blocking;
use crate::{Config, NodeError};

type Result<T> = std::result::Result<T, NodeError>;

/// The document's name in the DHT.
const DOC: &str = "catalog";

/// What derives the key the record is sealed under.
const KEY_PURPOSE: &str = "catalog backup";

/// The mark `cairn id recover` leaves: restore the catalog at first start.
pub const RESTORE_MARK: &str = "restore-catalog";

/// How often the task looks whether a backup is due.
const ROUND: Duration = Duration::from_secs(1);

/// The largest copy read back.
const MAX_COPY: u64 = 16 << 30;

/// Where the catalog's backups stand.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupStatus {
    /// The last backup's version (the Unix milliseconds it was made at); 0
    /// before the first.
    pub version: i64,
    /// The blob holding it.
    pub blob: Option<String>,
    /// When it was made, Unix milliseconds.
    pub at: i64,
    /// Changes made since that it does not hold.
    pub pending: i64,
    /// Changes that matter made to the catalog since it was made: its
    /// revision (what a backup holds, counted the same way).
    pub changes: i64,
    /// Made at most this often, in seconds (0: never).
    pub every_secs: u64,
}

/// What the record's sealed part holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pointer {
    /// The copy's link, `<blob id>.<read key>`.
    copy: String,
    /// Its size.
    size: u64,
}

/// The backup service. Cheap to clone.
#[derive(Clone)]
pub struct Backups(Arc<State>);

struct State {
    shared: Arc<Shared>,
    entries: Entries,
    blobs: Blobs,
    network: Network,
    me: String,
    data_dir: PathBuf,
    /// One backup at a time.
    making: tokio::sync::Mutex<()>,
}

impl Backups {
    pub(crate) fn new(
        shared: Arc<Shared>,
        entries: Entries,
        blobs: Blobs,
        network: Network,
        me: String,
        data_dir: PathBuf,
    ) -> Self {
        Self(Arc::new(State {
            shared,
            entries,
            blobs,
            network,
            me,
            data_dir,
            making: tokio::sync::Mutex::new(()),
        }))
    }

    /// Registers the `catalog-backup` service: backing the catalog up
    /// when due and republishing the record (with the network on and
    /// `backup_secs` > 0).
    pub(crate) fn register(&self, services: &crate::services::Services) {
        let every = self.0.shared.config.network.backup_secs;
        let maker = (every > 0 && self.0.network.swarm().is_ok()).then(|| {
            let backups = self.clone();
            let maker: crate::services::Maker =
                Arc::new(move |stop| Box::pin(backups.clone().backup_loop(every, stop)));
            maker
        });
        services.add(
            "catalog-backup",
            "backs the catalog up on the suppliers when it changed, republishes its record",
            &["swarm", "catalog"],
            maker,
        );
    }

    /// Backs up when due until `stop`.
    async fn backup_loop(
        self,
        every: u64,
        stop: tokio_util::sync::CancellationToken,
    ) -> Result<()> {
        let backups = self;
        let republish = Duration::from_secs(backups.0.shared.config.network.republish_secs.max(1));
        let mut published = Instant::now();
        // When changes were first seen waiting: a backup holds what
        // is at least `backup_secs` old, so a burst of changes makes
        // one backup, not one per change.
        let mut waiting: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = tokio::time::sleep(ROUND) => {}
            }
            // A recovered node backs up nothing before its catalog
            // is back: an empty copy would hide the real one.
            if restore_pending(&backups.0.data_dir) {
                let shared = backups.0.shared.clone();
                let empty = blocking(move || Ok(shared.catalog.is_empty()?))
                    .await
                    .unwrap_or(true);
                if empty {
                    continue;
                }
                let _ = std::fs::remove_file(backups.0.data_dir.join(RESTORE_MARK));
            }
            let status = match backups.status().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the backup's state");
                    continue;
                }
            };
            let age = cairn_store::catalog::now_ms() - status.at;
            let since = *waiting.get_or_insert_with(Instant::now);
            if status.pending == 0 {
                waiting = None;
            }
            if status.pending > 0
                && since.elapsed() >= Duration::from_secs(every)
                && age >= (every as i64).saturating_mul(1000)
            {
                match backups.make().await {
                    Ok(made) => {
                        tracing::info!(version = made.version, "catalog backed up");
                        published = Instant::now();
                        waiting = None;
                    }
                    Err(e) => tracing::info!(error = %e, "catalog not backed up yet"),
                }
            } else if status.version > 0 && published.elapsed() >= republish {
                match backups.republish().await {
                    Ok(()) => published = Instant::now(),
                    Err(e) => tracing::debug!(error = %e, "backup record not republished"),
                }
            }
        }
    }

    /// Where the backups stand.
    pub async fn status(&self) -> Result<BackupStatus> {
        let shared = self.0.shared.clone();
        let state = self
            .0
            .shared
            .lookup(move || Ok(shared.catalog.backup_state()?))
            .await?;
        Ok(BackupStatus {
            version: state.version,
            blob: state.blob.map(|b| b.to_hex()),
            at: state.at,
            pending: state.changes - state.backed,
            changes: state.changes,
            every_secs: self.0.shared.config.network.backup_secs,
        })
    }

    /// Makes a backup now: the copy stored and placed, the record
    /// published.
    pub async fn make(&self) -> Result<BackupStatus> {
        self.0.network.swarm()?;
        let _one = self.0.making.lock().await;
        let tmp = self.0.data_dir.join("tmp");
        let copy = tmp.join(format!("catalog-backup-{}.db", std::process::id()));
        let (shared, at) = (self.0.shared.clone(), copy.clone());
        let changes = blocking(move || {
            cairn_store::private::create_dir_all(at.parent().unwrap_or(Path::new(".")))
                .map_err(|e| NodeError::io("create", &at, e))?;
            let _ = std::fs::remove_file(&at);
            Ok(shared.catalog.snapshot(&at)?)
        })
        .await?;
        let stored = self
            .0
            .entries
            .store_pinned_file(PIN.into(), Some(PIN_BEFORE.into()), copy.clone())
            .await;
        let _ = std::fs::remove_file(&copy);
        let blob = stored?;
        let last = self.status().await?.version;
        let version = cairn_store::catalog::now_ms().max(last + 1);
        self.publish(&blob, version as u64).await?;
        let shared = self.0.shared.clone();
        blocking(move || Ok(shared.catalog.backed_up(changes, version, &blob)?)).await?;
        self.status().await
    }

    /// Publishes the record of the last backup again.
    async fn republish(&self) -> Result<()> {
        let status = self.status().await?;
        let Some(blob) = status.blob else {
            return Ok(());
        };
        self.publish(&blob.parse()?, status.version as u64).await
    }

    async fn publish(&self, blob: &cairn_core::BlobId, version: u64) -> Result<()> {
        let handle = self.0.blobs.open(&blob.to_hex()).await?;
        let pointer = Pointer {
            copy: self.0.blobs.link(&blob.to_hex()).await?,
            size: handle.size(),
        };
        let plain = serde_json::to_vec(&pointer).map_err(|e| NodeError::Internal(e.to_string()))?;
        let key = self.0.shared.derived_key(KEY_PURPOSE);
        let sealed = crate::docs::seal(&key, &self.0.me, DOC, version, &plain)?;
        self.0.network.publish_doc(DOC, version, &sealed).await
    }

    /// Reads this identity's last backup from the network into `to`,
    /// waiting up to `wait` for the network to find it; answers what it
    /// was, or `None` when none was found in time.
    async fn fetch(&self, to: &Path, wait: Duration) -> Result<Option<Fetched>> {
        let deadline = Instant::now() + wait;
        let key = self.0.shared.derived_key(KEY_PURPOSE);
        let (version, pointer) = loop {
            match self.0.network.lookup_doc(&self.0.me, DOC).await {
                Ok(Some((version, sealed))) => {
                    let plain = crate::docs::open(&key, &self.0.me, DOC, version, &sealed)
                        .ok_or_else(|| {
                            NodeError::Corrupt("the catalog's backup record does not open".into())
                        })?;
                    let pointer: Pointer = serde_json::from_slice(&plain)
                        .map_err(|e| NodeError::Corrupt(format!("the backup record: {e}")))?;
                    break (version, pointer);
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, "the backup record not found yet"),
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        if pointer.size > MAX_COPY {
            return Err(NodeError::Corrupt(format!(
                "the catalog's backup is over {MAX_COPY} bytes"
            )));
        }
        // The suppliers may answer a moment after the DHT does.
        let handle = loop {
            match self.0.blobs.open(&pointer.copy).await {
                Ok(h) => break h,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, "the catalog's backup not readable yet");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let id = handle.id();
        let record = self.0.network.remote_blob(&id).await?;
        let fetched = Fetched {
            version,
            blob: id,
            size: record.manifest.size,
            manifest: record.manifest.encode(),
            placement: record.placement.encode(),
        };
        let to = to.to_path_buf();
        blocking(move || {
            use std::io::Write;
            let part = to.with_extension("part");
            let mut file = cairn_store::private::file_options()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&part)
                .map_err(|e| NodeError::io("create", &part, e))?;
            handle.for_each_piece(0..handle.size(), |piece| {
                file.write_all(&piece)
                    .map_err(|e| NodeError::io("write", &part, e))
            })?;
            file.sync_all()
                .map_err(|e| NodeError::io("sync", &part, e))?;
            std::fs::rename(&part, &to).map_err(|e| NodeError::io("rename", &to, e))?;
            Ok(())
        })
        .await?;
        Ok(Some(fetched))
    }
}

/// A backup read back: its version, and its blob as the DHT gave it.
struct Fetched {
    version: u64,
    blob: cairn_core::BlobId,
    size: u64,
    manifest: Vec<u8>,
    placement: Vec<u8>,
}

/// Whether `data_dir` waits for its catalog to be restored.
pub(crate) fn restore_pending(data_dir: &Path) -> bool {
    data_dir.join(RESTORE_MARK).exists()
}

/// Restores the catalog of a recovered identity from the network (see
/// the module's comment). Never fails the start: what went wrong is
/// logged, and the mark stays for the next start unless the catalog has
/// entries of its own.
pub(crate) async fn restore(data_dir: &Path, config: Config) {
    if config.network.bootstrap.is_empty() && !config.network.mdns {
        tracing::warn!(
            "a recovered identity's catalog comes back from the network, and this node has no way to it ([network] bootstrap, mdns): it starts empty and looks again at its next start"
        );
        return;
    }
    let wait = Duration::from_secs(config.network.restore_wait_secs);
    tracing::info!(
        wait_secs = wait.as_secs(),
        "a recovered identity: its catalog is looked for in the network before the node serves"
    );
    let copy = data_dir.join("catalog.restored");
    // The recovered master key waits for the catalog that is kept: the
    // one run here must not take it into the empty one.
    let master = data_dir.join(crate::identity::PENDING_MASTER);
    let held = data_dir.join("recovered-master.held");
    if master.exists()
        && let Err(e) = std::fs::rename(&master, &held)
    {
        tracing::warn!(error = %e, "cannot hold the recovered master key aside");
        return;
    }
    restore_with(data_dir, config, &copy, wait).await;
    let _ = std::fs::remove_file(&copy);
    if held.exists() {
        let kept = cairn_store::Catalog::open(&data_dir.join("catalog.db"))
            .and_then(|c| c.key("", crate::keys::MASTER))
            .is_ok_and(|k| k.is_some());
        let back = if kept {
            std::fs::remove_file(&held)
        } else {
            std::fs::rename(&held, &master)
        };
        if let Err(e) = back {
            tracing::warn!(error = %e, "the recovered master key stays in recovered-master.held");
        }
    }
}

async fn restore_with(data_dir: &Path, config: Config, copy: &Path, wait: Duration) {
    let node = match crate::Node::open(data_dir, config).await {
        Ok(node) => node,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start to restore the catalog");
            return;
        }
    };
    let empty = node.catalog_is_empty().await;
    let fetched = if empty {
        tracing::info!("restoring the catalog from the network");
        node.backups().fetch(copy, wait).await
    } else {
        Ok(None)
    };
    node.shutdown().await;
    drop(node);
    let mark = data_dir.join(RESTORE_MARK);
    match fetched {
        Ok(Some(fetched)) => match install(data_dir, copy, &fetched) {
            Ok(()) => {
                let _ = std::fs::remove_file(&mark);
                tracing::info!(
                    version = fetched.version,
                    "catalog restored from its backup"
                );
            }
            Err(e) => tracing::warn!(error = %e, "cannot put the restored catalog in place"),
        },
        Ok(None) if !empty => {
            let _ = std::fs::remove_file(&mark);
        }
        Ok(None) => tracing::warn!(
            "no backup of this identity's catalog was found in time: the node starts empty and looks again at its next start"
        ),
        Err(e) => tracing::warn!(error = %e, "the catalog's backup cannot be read"),
    }
}

/// Puts the copy at `copy` in the place of the catalog (which no one has
/// open any more): checked first, then renamed over it, the old one's
/// write-ahead log removed so it is never applied to the copy. The
/// backup it came from is then its last (pinned, with its placement), so
/// its shards are kept until the next replaces it and freed after.
fn install(data_dir: &Path, copy: &Path, fetched: &Fetched) -> Result<()> {
    cairn_store::backup::check_copy(copy)
        .map_err(|e| NodeError::Corrupt(format!("the restored catalog: {e}")))?;
    let catalog = data_dir.join("catalog.db");
    for side in ["catalog.db-wal", "catalog.db-shm"] {
        let path = data_dir.join(side);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(NodeError::io("remove", &path, e)),
        }
    }
    std::fs::rename(copy, &catalog).map_err(|e| NodeError::io("rename", &catalog, e))?;
    std::fs::File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| NodeError::io("sync", data_dir, e))?;
    let catalog = cairn_store::Catalog::open(&catalog)?;
    let held = catalog.backup_state()?.changes;
    catalog.pin_blob(
        PIN,
        Some(PIN_BEFORE),
        cairn_store::shares::NewBlob {
            id: fetched.blob,
            size: fetched.size,
            manifest: &fetched.manifest,
        },
        || Ok(()),
        |_| {},
    )?;
    catalog.save_placement(&fetched.blob, &fetched.placement)?;
    catalog.backed_up(held, fetched.version as i64, &fetched.blob)?;
    Ok(())
}
