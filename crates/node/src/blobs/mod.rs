//! Blobs: content-addressed files, sealed once and read verified.
//!
//! [`Blobs`] (`node.blobs()`) opens any blob by a digest (its BLAKE3 id,
//! an md5, sha1 or sha256 alias) or a link: from this node's own file when
//! it has one, else from its suppliers, else, when no entry here names it,
//! from the network by its published record. It streams ranges as
//! download jobs and computes the legacy digests in the background.
//!
//! Beneath it:
//! - `store`: the blob files on this disk, their manifests and keys;
//! - `ingest`: the one-pass upload pipeline (read → hash → encrypt →
//!   write);
//! - `read`: verified range reads ([`BlobHandle`]), streamed without
//!   holding a thread;
//! - `pool`: the read workers and the budget of segment buffers every
//!   stream shares;
//! - `digests`: md5, sha1 and sha256 from a read of the blob;
//! - `sniff`: a file's content type from its name and first bytes.

pub(crate) mod digests;
pub(crate) mod ingest;
pub(crate) mod pool;
pub(crate) mod read;
pub(crate) mod sniff;
pub(crate) mod store;

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use cairn_core::BlobId;
use cairn_core::placement::Placement;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::network::Network;
use crate::shared::Shared;
use crate::tasks::blocking;
use crate::{Entry, NodeError};
use pool::ReadPool;
use read::{BlobHandle, ByteStream};
use store::BlobStore;

type Result<T> = std::result::Result<T, NodeError>;

/// A blob and the entries that name it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// The blobs service. Cheap to clone.
#[derive(Clone)]
pub struct Blobs(Arc<State>);

struct State {
    shared: Arc<Shared>,
    store: Arc<BlobStore>,
    network: Network,
    /// Blobs whose legacy digests the worker computes next.
    digest_queue: mpsc::UnboundedSender<BlobId>,
    /// What every stream reads with.
    reads: ReadPool,
}

impl Blobs {
    /// The service over `store`, and the digest worker's queue (handed to
    /// [`Blobs::start`]).
    pub(crate) fn new(
        shared: Arc<Shared>,
        store: Arc<BlobStore>,
        network: Network,
    ) -> (Self, mpsc::UnboundedReceiver<BlobId>) {
        let (digest_queue, rx) = mpsc::unbounded_channel();
        let config = &shared.config.read;
        let reads = ReadPool::new(config.worker_threads(), config.buffer_mib);
        let state = State {
            shared,
            store,
            network,
            digest_queue,
            reads,
        };
        (Self(Arc::new(state)), rx)
    }

    /// Starts the digest worker, queueing the blobs a restart left without
    /// their legacy digests.
    pub(crate) fn start(&self, queue: mpsc::UnboundedReceiver<BlobId>) -> Result<()> {
        let blobs = self.clone();
        self.0.shared.spawn("digests", blobs.digest_worker(queue));
        let (budget, stop) = (self.0.reads.budget.clone(), self.0.shared.shutdown.clone());
        self.0.shared.spawn("read buffers", async move {
            // Spare segment buffers a burst left are freed once unused.
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            while tokio::select! { _ = tick.tick() => true, () = stop.cancelled() => false } {
                budget.trim();
            }
            Ok(())
        });
        if self.0.shared.config.legacy_digests {
            for id in self.0.shared.catalog.blobs_without_aliases()? {
                self.queue_digests(id);
            }
        }
        Ok(())
    }

    /// The blob files on this disk.
    pub(crate) fn store(&self) -> &Arc<BlobStore> {
        &self.0.store
    }

    /// Has the digest worker compute blob `id`'s legacy digests.
    pub(crate) fn queue_digests(&self, id: BlobId) {
        let _ = self.0.digest_queue.send(id);
    }

    async fn digest_worker(self, mut rx: mpsc::UnboundedReceiver<BlobId>) -> Result<()> {
        loop {
            let id = tokio::select! {
                _ = self.0.shared.shutdown.cancelled() => return Ok(()),
                id = rx.recv() => match id { Some(id) => id, None => return Ok(()) },
            };
            if let Err(e) = self.ensure_digests(id).await {
                tracing::warn!(blob = %id, error = %e, "cannot compute aliases");
            }
        }
    }

    /// Computes and records the legacy aliases of blob `id`, unless it has
    /// them already; a placed blob's record is published again with them.
    pub(crate) async fn ensure_digests(&self, id: BlobId) -> Result<()> {
        if self.0.store.has_digests(&id)? {
            return Ok(());
        }
        let handle = self.scan_handle(&id)?;
        self.0.store.compute_digests(handle).await?;
        self.0.network.republish_later(id);
        Ok(())
    }

    /// Blob `id`, read from its local file when there is one, else from
    /// its suppliers.
    pub(crate) fn handle(&self, id: &BlobId) -> Result<BlobHandle> {
        match self.0.store.local_handle(id)? {
            Some(handle) => Ok(handle),
            None => self.on_suppliers(id),
        }
    }

    /// Blob `id`, as [`Blobs::handle`], for one pass over all of it: its
    /// local file is read past the page cache.
    pub(crate) fn scan_handle(&self, id: &BlobId) -> Result<BlobHandle> {
        match self.0.store.scan_handle(id)? {
            Some(handle) => Ok(handle),
            None => self.on_suppliers(id),
        }
    }

    /// Blob `id`, whose local file is gone, read from the suppliers its
    /// placement names.
    fn on_suppliers(&self, id: &BlobId) -> Result<BlobHandle> {
        let manifest = self.0.store.manifest(id)?;
        let placement = match self.0.shared.catalog.placement(id)? {
            Some(p) if self.0.network.is_on() => p,
            _ => {
                return Err(NodeError::Corrupt(format!(
                    "the file of blob {id} is missing and the blob is not on suppliers"
                )));
            }
        };
        let placement =
            Placement::decode(&placement).map_err(|e| NodeError::Corrupt(e.to_string()))?;
        let reader = self.0.network.net_reader(id, placement, manifest.size)?;
        Ok(BlobHandle::new(manifest, self.0.store.read_key(id), reader.clone()).gathered(reader))
    }

    /// Opens the blob a digest (id or alias) names, or a link
    /// (`<id>.<read key>`). A blob this node does not know is looked up in
    /// the network and read from its suppliers.
    pub async fn open(&self, digest: &str) -> Result<BlobHandle> {
        let (digest, key) = match digest.split_once('.') {
            Some((id, key)) => (id, Some(parse_key(key)?)),
            None => (digest, None),
        };
        let blobs = self.clone();
        let owned = digest.to_owned();
        let lookup = self
            .0
            .shared
            .lookup(move || blobs.handle(&blobs.0.store.resolve(&owned)?));
        match lookup.await {
            Err(NodeError::BlobNotFound(_)) if self.0.network.is_on() => {
                if let Ok(id) = digest.parse::<BlobId>() {
                    match self.remote_handle(&id, key).await {
                        Err(NodeError::BlobNotFound(_)) => {}
                        other => return other,
                    }
                }
                match self.0.network.remote_alias(digest).await? {
                    Some(id) => self.remote_handle(&id, key).await,
                    None => Err(NodeError::BlobNotFound(digest.to_owned())),
                }
            }
            other => other,
        }
    }

    async fn remote_handle(&self, id: &BlobId, key: Option<[u8; 32]>) -> Result<BlobHandle> {
        let blob = self.0.network.remote_blob(id).await?;
        let key = key.or(blob.read_key).ok_or_else(|| {
            NodeError::Forbidden(format!(
                "{id} is a private file: read it with its link (<id>.<key>)"
            ))
        })?;
        let reader = self
            .0
            .network
            .net_reader(id, blob.placement.clone(), blob.manifest.size)?;
        Ok(BlobHandle::new(
            blob.manifest.clone(),
            cairn_core::crypt::ReadKey(key),
            reader.clone(),
        )
        .gathered(reader))
    }

    /// The blob a digest names (id or alias) and the entries holding it.
    pub async fn info(&self, digest: &str) -> Result<BlobInfo> {
        let blobs = self.clone();
        let digest = digest.to_owned();
        blocking(move || {
            let (store, catalog) = (&blobs.0.store, &blobs.0.shared.catalog);
            let id = store.resolve(&digest)?;
            let manifest = store.manifest(&id)?;
            Ok(BlobInfo {
                id: id.to_hex(),
                size: manifest.size,
                segments: manifest.segments.len() as u64,
                aliases: catalog.aliases(&id)?,
                entries: catalog.entries_of_blob(&id)?,
            })
        })
        .await
    }

    /// A link to blob `digest` that any node can read it by:
    /// `<id>.<read key>` (admin; the key decrypts the file).
    pub async fn link(&self, digest: &str) -> Result<String> {
        let store = self.0.store.clone();
        let digest = digest.to_owned();
        blocking(move || {
            let id = store.resolve(&digest)?;
            Ok(format!(
                "{}.{}",
                id.to_hex(),
                hex::encode(store.read_key(&id).0)
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
        handle.stream(range, job, self.0.reads.clone(), move || {
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
        self.0.store.is_local(digest).await
    }
}

fn parse_key(hex_key: &str) -> Result<[u8; 32]> {
    hex::decode(hex_key)
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| NodeError::Invalid("a link's key is 64 hex characters".into()))
}
