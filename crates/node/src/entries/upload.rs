//! New files: an upload's body, or a local file's bytes, sealed in one
//! pass into a blob and added to the catalog with their entry (and their
//! metadata) in one transaction. A body cut off, a check that refuses it,
//! a cancelled job: nothing is stored.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use cairn_core::Manifest;
use cairn_store::catalog::{NewFile, check_name};
use futures_util::{Stream, TryStreamExt};

use cairn_core::BlobId;

use super::Entries;
use crate::blobs::sniff;
use crate::events::Event;
use crate::jobs::Job;
use crate::{Entry, EntryInfo, NodeError, OnConflict};

type Result<T> = std::result::Result<T, NodeError>;

/// A check run on a sealed upload before it is committed.
pub(crate) type BeforeCommit = Box<dyn Fn(&Manifest) -> Result<()> + Send + Sync>;

/// A check an upload runs on its sealed size before it is committed (on
/// the upload's blocking thread): an error refuses the upload, and nothing
/// is stored.
pub type CommitCheck = Box<dyn Fn(u64) -> Result<()> + Send + Sync>;

/// A check of an upload's MD5 (32 hex digits) before it is committed: an
/// error refuses the upload, and nothing is stored.
pub type Md5Check = Box<dyn Fn(&str) -> Result<()> + Send + Sync>;

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

impl Entries {
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

    /// [`Entries::upload`] that sets `metadata` on the new entry in the same
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
        let job = self
            .start_upload(&target, size_hint, &metadata, true)
            .await?;
        self.store_stream_with(job, target, body, Box::new(|_| Ok(())), metadata)
            .await
    }

    /// [`Entries::upload_with_metadata`] that also answers the MD5 of the
    /// bytes, computed as they are sealed and recorded as the blob's `md5`
    /// alias (what object stores name a file's content by). `check` sees
    /// the MD5 before the commit and may refuse the upload (a body that
    /// is not what its sender hashed): then nothing is stored. A file it
    /// replaces loses its metadata keys under `reset_prefix` that
    /// `metadata` does not set, in the same transaction. The upload is a
    /// job of the registry but not of the catalog's job log: an object
    /// store's put is one request, and its object is its record.
    pub async fn upload_md5<S, E>(
        &self,
        target: UploadTarget,
        body: S,
        size_hint: Option<u64>,
        metadata: BTreeMap<String, String>,
        check: Md5Check,
        reset_prefix: Option<&str>,
    ) -> Result<(EntryInfo, String)>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let job = self
            .start_upload(&target, size_hint, &metadata, false)
            .await?;
        let none: BeforeCommit = Box::new(|_| Ok(()));
        let object = ObjectPut {
            check,
            reset_prefix: reset_prefix.map(str::to_owned),
        };
        let (info, md5) = self
            .store_stream_hashed(job, target, body, none, metadata, Some(object))
            .await?;
        Ok((info, md5.unwrap_or_default()))
    }

    /// [`Entries::upload`] with `check`, run on the sealed size before the
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

    /// [`Entries::upload`] with a check that sees the sealed blob before it is
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

    /// An upload with metadata, checked (the paid-file keys as at any
    /// upload, and [`Entries::check_upload`]) and started as a job,
    /// kept in the catalog's job log when `persist`.
    async fn start_upload(
        &self,
        target: &UploadTarget,
        size_hint: Option<u64>,
        metadata: &BTreeMap<String, String>,
        persist: bool,
    ) -> Result<Job> {
        crate::paid::terms::check_initial(metadata, target.on_conflict)?;
        self.check_upload(target, size_hint).await?;
        Ok(self
            .0
            .shared
            .jobs
            .start("upload", &target.name, size_hint, persist))
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

    /// [`Entries::store_stream`] with metadata set on the new entry in its
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
        let stored = self
            .store_stream_hashed(job, target, body, before_commit, metadata, None)
            .await?;
        Ok(stored.0)
    }

    /// [`Entries::store_stream_with`] that, for an `object`, also
    /// computes the MD5 of the bytes as they are sealed, has its check
    /// see it before the commit (it may refuse the upload), and records it
    /// as the blob's `md5` alias in the commit (with the metadata reset
    /// `object` asks).
    pub(crate) async fn store_stream_hashed<S, E>(
        &self,
        job: Job,
        target: UploadTarget,
        body: S,
        before_commit: BeforeCommit,
        metadata: BTreeMap<String, String>,
        object: Option<ObjectPut>,
    ) -> Result<(EntryInfo, Option<String>)>
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
        let entries = self.clone();
        let wait = target.wait_digests;
        let (check, reset_prefix) = match object {
            Some(o) => (Some(o.check), o.reset_prefix),
            None => (None, None),
        };
        let (sum, before_commit) = match check {
            None => (Md5Sum::default(), before_commit),
            Some(check) => {
                let sum = Md5Sum::on();
                let seen = sum.clone();
                let before: BeforeCommit = Box::new(move |manifest| {
                    check(&seen.hex().unwrap_or_default())?;
                    before_commit(manifest)
                });
                (sum, before)
            }
        };
        // Past the bound, a stream waits here, holding no thread, and its
        // client waits with it (its body is not read meanwhile).
        let _storing = self
            .0
            .storing
            .acquire()
            .await
            .map_err(|_| NodeError::Internal("the store has stopped".into()))?;
        let (entry, md5) = tokio::task::spawn_blocking(move || {
            let mut src = Md5Read::new(tokio_util::io::SyncIoBridge::new(reader), sum.clone());
            let extras = Extras {
                md5: sum.clone(),
                reset_prefix,
                finishes: None,
            };
            let outcome = entries.store_file_full(
                &mut src,
                &job,
                target.parent.as_deref(),
                &target.name,
                target.on_conflict,
                &*before_commit,
                &metadata,
                &extras,
            );
            job.finish(outcome.as_ref().map(|e| serde_json::json!({ "entry": e })));
            outcome.map(|entry| (entry, sum.hex()))
        })
        .await??;
        Ok((self.after_store(&entry, wait).await?, md5))
    }

    async fn after_store(&self, entry: &Entry, wait_digests: bool) -> Result<EntryInfo> {
        if let Some(Ok(blob)) = entry.blob.as_deref().map(str::parse::<BlobId>)
            && wait_digests
        {
            self.0.blobs.ensure_digests(blob).await?;
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

    /// [`Entries::store_file`], setting `metadata` on the new entry in the
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
        let extras = Extras::default();
        self.store_file_full(
            src,
            job,
            parent,
            name,
            on_conflict,
            before_commit,
            metadata,
            &extras,
        )
    }

    /// [`Entries::store_file_with`] with `extras` recorded in the same
    /// transaction.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn store_file_full(
        &self,
        src: &mut dyn Read,
        job: &Job,
        parent: Option<&str>,
        name: &str,
        on_conflict: OnConflict,
        before_commit: &dyn Fn(&Manifest) -> Result<()>,
        metadata: &BTreeMap<String, String>,
        extras: &Extras,
    ) -> Result<Entry> {
        let (network, store) = (&self.0.network, self.0.blobs.store());
        // Placed on suppliers as it is stored, when it can be; dropped
        // unless handed to `auto_place`, it deletes what it wrote.
        let (early, tap) = network.early_place(job.total()).unzip();
        let mut sealed = store.seal(src, job, tap)?;
        job.check()?;
        // Claimed before the blob is visible, so the rounds that place
        // blobs left unplaced never take a new one from its own placement.
        let claim = network.claim_placing(sealed.manifest.id);
        before_commit(&sealed.manifest)?;
        sealed.temp.sync()?;
        let manifest = sealed.manifest;
        let id = manifest.id;
        let encoded = manifest.encode();
        let content_type = sniff::content_type(name, &sealed.head);
        let (committer, temp) = (store.clone(), sealed.temp);
        let md5 = extras.md5.hex();
        let added = self.0.shared.catalog.add_file_with_metadata(
            NewFile {
                parent,
                name,
                blob: id,
                size: manifest.size,
                manifest: &encoded,
                content_type: &content_type,
                on_conflict,
                md5: md5.as_deref(),
                reset_prefix: extras.reset_prefix.as_deref(),
                finishes: extras.finishes.as_deref(),
            },
            metadata,
            move || committer.commit(temp, &id),
            |orphan| store.drop_blob(orphan),
        )?;
        tracing::info!(blob = %id, bytes = manifest.size, new = added.new_blob, entry = %added.entry.id, "stored");
        // With the network on, the aliases are computed once the blob is
        // placed (see `auto_place`): its safety comes first.
        if added.new_blob && self.0.shared.config.legacy_digests && !network.is_on() {
            self.0.blobs.queue_digests(id);
        }
        if added.new_blob && network.is_on() {
            let network = network.clone();
            self.0.shared.spawn("auto-place", async move {
                let _claim = claim;
                network.auto_place(id, early).await
            });
        }
        // A replaced file's blob, if placed, left its placement queued: its
        // suppliers are asked to free the shards.
        if added.orphan.is_some() {
            network.unplace_later();
        }
        self.0.shared.events.send(Event::EntryAdded {
            entry: added.entry.clone(),
        });
        Ok(added.entry)
    }
}

impl Entries {
    /// Seals `bytes` into a blob kept under pin `name` rather than an
    /// entry, placed on suppliers as an upload is. What the name pinned
    /// moves to pin `previous` when given (so a reader that found the
    /// version before still reads it), else is replaced; a blob no longer
    /// named by anything goes. Answers the blob's id.
    pub(crate) async fn store_pinned(
        &self,
        name: String,
        previous: Option<String>,
        bytes: Vec<u8>,
    ) -> Result<BlobId> {
        let entries = self.clone();
        crate::tasks::blocking(move || {
            let job = entries
                .0
                .shared
                .jobs
                .start("pin", &name, Some(bytes.len() as u64), false);
            let outcome = entries.pin_source(&name, previous.as_deref(), &mut &bytes[..], &job);
            job.finish(
                outcome
                    .as_ref()
                    .map(|id| serde_json::json!({ "blob": id.to_hex() })),
            );
            outcome
        })
        .await
    }

    /// [`Entries::store_pinned`] of the file at `path`.
    pub(crate) async fn store_pinned_file(
        &self,
        name: String,
        previous: Option<String>,
        path: std::path::PathBuf,
    ) -> Result<BlobId> {
        let entries = self.clone();
        crate::tasks::blocking(move || {
            let mut file =
                std::fs::File::open(&path).map_err(|e| NodeError::io("open", &path, e))?;
            let size = file
                .metadata()
                .map_err(|e| NodeError::io("read", &path, e))?
                .len();
            let job = entries.0.shared.jobs.start("pin", &name, Some(size), false);
            let outcome = entries.pin_source(&name, previous.as_deref(), &mut file, &job);
            job.finish(
                outcome
                    .as_ref()
                    .map(|id| serde_json::json!({ "blob": id.to_hex() })),
            );
            outcome
        })
        .await
    }

    fn pin_source(
        &self,
        name: &str,
        previous: Option<&str>,
        src: &mut dyn Read,
        job: &Job,
    ) -> Result<BlobId> {
        let (network, store) = (&self.0.network, self.0.blobs.store());
        let mut sealed = store.seal(src, job, None)?;
        job.check()?;
        let claim = network.claim_placing(sealed.manifest.id);
        sealed.temp.sync()?;
        let manifest = sealed.manifest;
        let id = manifest.id;
        let encoded = manifest.encode();
        let (committer, temp) = (store.clone(), sealed.temp);
        let pinned = self.0.shared.catalog.pin_blob(
            name,
            previous,
            cairn_store::shares::NewBlob {
                id,
                size: manifest.size,
                manifest: &encoded,
            },
            move || committer.commit(temp, &id),
            |orphan| store.drop_blob(orphan),
        )?;
        self.place_pinned(id, pinned.new_blob, pinned.orphan.is_some(), claim);
        Ok(id)
    }

    /// After a blob kept under a pin is committed: a new one is placed
    /// on suppliers (under `claim`), and one left unnamed has its
    /// suppliers asked to free its shards.
    pub(crate) fn place_pinned(
        &self,
        id: BlobId,
        new_blob: bool,
        orphaned: bool,
        claim: Option<crate::network::Placing>,
    ) {
        let network = &self.0.network;
        if new_blob && network.is_on() {
            let network = network.clone();
            self.0.shared.spawn("auto-place", async move {
                let _claim = claim;
                network.auto_place(id, None).await
            });
        }
        if orphaned {
            network.unplace_later();
        }
    }

    /// Drops the pins whose names start with `prefix`; the blobs they
    /// kept go when nothing else names them.
    pub(crate) async fn unpin(&self, prefix: String) -> Result<()> {
        let entries = self.clone();
        crate::tasks::blocking(move || {
            let store = entries.0.blobs.store();
            let dropped = entries
                .0
                .shared
                .catalog
                .unpin(&prefix, |orphan| store.drop_blob(orphan))?;
            if !dropped.is_empty() {
                entries.0.network.unplace_later();
            }
            Ok(())
        })
        .await
    }
}

/// Streams stored at once (HTTP uploads, remote fetches); each holds a
/// thread of the blocking pool (512) and a writer thread while it waits
/// for its source, so a crowd of slow uploaders leaves most of the pool to
/// the rest of the node.
pub(crate) const MAX_STORING: usize = 128;

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

/// An object store's put: its MD5's check, and the metadata prefix a
/// replaced file is reset under.
pub(crate) struct ObjectPut {
    check: Md5Check,
    reset_prefix: Option<String>,
}

/// What an upload records in the transaction that adds its file, beyond
/// the file and its metadata.
#[derive(Clone, Default)]
pub(crate) struct Extras {
    /// The content's MD5, kept as the blob's `md5` alias (when on).
    pub(crate) md5: Md5Sum,
    /// A replaced file's metadata keys under this prefix that the new
    /// metadata does not set are removed.
    pub(crate) reset_prefix: Option<String>,
    /// The resumable upload the file finishes, marked so in the same
    /// transaction.
    pub(crate) finishes: Option<String>,
}

/// The MD5 of the bytes an [`Md5Read`] passed on so far, shared with
/// whoever checks it before the commit; off when not asked for.
#[derive(Clone, Default)]
pub(crate) struct Md5Sum(Option<Arc<Mutex<md5::Md5>>>);

impl Md5Sum {
    pub(crate) fn on() -> Self {
        use md5::Digest;
        Self(Some(Arc::new(Mutex::new(md5::Md5::new()))))
    }

    /// The MD5 so far (32 hex digits), if asked for.
    pub(crate) fn hex(&self) -> Option<String> {
        use md5::Digest;
        let m = self.0.as_ref()?;
        let state = m.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Some(hex::encode(state.finalize()))
    }
}

/// A reader that feeds what passes through it to an [`Md5Sum`].
pub(crate) struct Md5Read<R> {
    inner: R,
    sum: Md5Sum,
}

impl<R: Read> Md5Read<R> {
    pub(crate) fn new(inner: R, sum: Md5Sum) -> Self {
        Self { inner, sum }
    }
}

impl<R: Read> Read for Md5Read<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use md5::Digest;
        let n = self.inner.read(buf)?;
        if let Some(m) = &self.sum.0 {
            m.lock()
                .unwrap_or_else(|p| p.into_inner())
                .update(&buf[..n]);
        }
        Ok(n)
    }
}
