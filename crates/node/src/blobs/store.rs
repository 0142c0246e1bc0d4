//! The blob store: the sealed blob files on this node's own disk, their
//! manifests (decoded and checked once, then kept in memory), the
//! convergence secret their keys come from, and their legacy digests.
//!
//! It sits below the network and the blobs service and knows nothing of
//! suppliers: a blob whose local file is gone is the blobs service's to
//! read from the network.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::{Arc, Mutex};

use cairn_core::crypt::{ConvergenceSecret, ReadKey};
use cairn_core::id::DigestRef;
use cairn_core::{BlobId, Manifest};
use cairn_store::StoreError;
use cairn_store::files::{BlobFiles, BlobReader, FsBlobFiles, TempBlob};

use super::ingest::{Sealed, Tap};
use super::read::BlobHandle;
use crate::NodeError;
use crate::events::Event;
use crate::jobs::Job;
use crate::shared::Shared;
use crate::tasks::blocking;

type Result<T> = std::result::Result<T, NodeError>;

/// Manifests kept decoded (and verified) in memory.
const MANIFEST_CACHE: usize = 256;

/// Blob files on this node's disk, and what reads and writes them.
pub(crate) struct BlobStore {
    shared: Arc<Shared>,
    files: Arc<dyn BlobFiles>,
    secret: ConvergenceSecret,
    manifests: Mutex<HashMap<BlobId, Arc<Manifest>>>,
}

impl BlobStore {
    /// Opens the blob files of `data_dir`.
    pub(crate) fn open(
        shared: Arc<Shared>,
        data_dir: &std::path::Path,
        secret: ConvergenceSecret,
    ) -> Result<Self> {
        Ok(Self {
            shared,
            files: Arc::new(FsBlobFiles::open(data_dir)?),
            secret,
            manifests: Mutex::default(),
        })
    }

    /// Removes blob files without a catalog row: leftovers of a commit that
    /// crashed before its transaction, or of a delete that crashed after.
    pub(crate) fn remove_orphans(&self) -> Result<usize> {
        let known: HashSet<BlobId> = self.shared.catalog.blob_ids()?.into_iter().collect();
        let mut removed = 0;
        for id in self.files.list()? {
            if !known.contains(&id) {
                self.files.remove(&id)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Bytes of blob files on this disk.
    pub(crate) fn used_bytes(&self) -> Result<u64> {
        Ok(self.files.used_bytes()?)
    }

    /// The blob a digest (id or alias) names in the catalog.
    pub(crate) fn resolve(&self, digest: &str) -> Result<BlobId> {
        let d: DigestRef = digest.parse()?;
        self.shared
            .catalog
            .resolve(&d)?
            .ok_or_else(|| NodeError::BlobNotFound(d.hex.clone()))
    }

    /// Blob `id`'s manifest, from the cache or the catalog.
    pub(crate) fn manifest(&self, id: &BlobId) -> Result<Arc<Manifest>> {
        if let Some(m) = self
            .manifests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
        {
            return Ok(m.clone());
        }
        let bytes = self
            .shared
            .catalog
            .manifest(id)?
            .ok_or_else(|| NodeError::BlobNotFound(id.to_hex()))?;
        let manifest =
            Arc::new(Manifest::decode(&bytes).map_err(|e| NodeError::Corrupt(e.to_string()))?);
        let mut cache = self.manifests.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MANIFEST_CACHE {
            cache.clear();
        }
        cache.insert(*id, manifest.clone());
        Ok(manifest)
    }

    /// The key that decrypts blob `id` (what a link carries).
    pub(crate) fn read_key(&self, id: &BlobId) -> ReadKey {
        self.secret.read_key(id)
    }

    /// The local blob file of `id`, to be read through once (placed,
    /// audited, repaired from).
    pub(crate) fn local_reader(&self, id: &BlobId) -> Result<Arc<dyn BlobReader>> {
        Ok(self.files.open_scan(id)?)
    }

    /// Blob `id` from its local file, or `None` when it has none.
    pub(crate) fn local_handle(&self, id: &BlobId) -> Result<Option<BlobHandle>> {
        self.handle_with(id, self.files.open(id))
    }

    /// [`BlobStore::local_handle`] for one pass over all of it: the file
    /// is read past the page cache.
    pub(crate) fn scan_handle(&self, id: &BlobId) -> Result<Option<BlobHandle>> {
        self.handle_with(id, self.files.open_scan(id))
    }

    fn handle_with(
        &self,
        id: &BlobId,
        opened: std::result::Result<Arc<dyn BlobReader>, StoreError>,
    ) -> Result<Option<BlobHandle>> {
        match opened {
            Ok(reader) => Ok(Some(BlobHandle::new(
                self.manifest(id)?,
                self.read_key(id),
                reader,
            ))),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Seals `src` into a temporary blob file (blocking), handing each
    /// encrypted segment to `tap` too when there is one.
    pub(crate) fn seal(&self, src: &mut dyn Read, job: &Job, tap: Option<Tap>) -> Result<Sealed> {
        let limit = self.shared.config.max_upload_bytes;
        super::ingest::seal_source(&*self.files, &self.secret, src, job, limit, tap)
    }

    /// Moves a sealed file into place as blob `id`'s (durably).
    pub(crate) fn commit(
        &self,
        temp: TempBlob,
        id: &BlobId,
    ) -> std::result::Result<(), StoreError> {
        self.files.commit(temp, id)
    }

    /// Removes blob `id`'s local file (its catalog row stays).
    pub(crate) fn remove_local_file(&self, id: &BlobId) -> Result<()> {
        Ok(self.files.remove(id)?)
    }

    /// Forgets blob `id` (gone from the catalog): its manifest and file.
    pub(crate) fn drop_blob(&self, id: &BlobId) {
        self.manifests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        if let Err(e) = self.files.remove(id) {
            // Left for the orphan sweep at the next start.
            tracing::warn!(blob = %id, error = %e, "cannot remove blob file");
        }
    }

    /// Whether blob `id`'s md5, sha1 and sha256 are recorded.
    pub(crate) fn has_digests(&self, id: &BlobId) -> Result<bool> {
        Ok(!self.shared.catalog.aliases(id)?.is_empty())
    }

    /// Computes and records the legacy aliases of the blob `handle` reads,
    /// as a "digest" job.
    pub(crate) async fn compute_digests(&self, handle: BlobHandle) -> Result<()> {
        let id = handle.id();
        let job = self
            .shared
            .jobs
            .start("digest", id.to_hex(), Some(handle.size()), false);
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let outcome = super::digests::compute(&handle, &job)
                .and_then(|d| Ok(shared.catalog.add_aliases(&id, &d.aliases())?));
            job.finish(outcome.as_ref().map(|_| serde_json::Value::Null));
            outcome
        })
        .await??;
        self.shared
            .events
            .send(Event::BlobAliases { blob: id.to_hex() });
        Ok(())
    }

    /// Whether blob `digest`'s ciphertext is on this disk.
    pub(crate) async fn is_local(self: &Arc<Self>, digest: &str) -> Result<bool> {
        let store = self.clone();
        let digest = digest.to_owned();
        blocking(move || {
            let id = store.resolve(&digest)?;
            Ok(store.local_reader(&id).is_ok())
        })
        .await
    }
}
