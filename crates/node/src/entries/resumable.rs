//! Resumable uploads: a file sent in pieces, in order, over as many
//! requests as it takes, each continuing where the last stopped (the tus
//! protocol's model; the HTTP layer speaks tus 1.0 over this).
//!
//! The bytes go to a spool file of the upload's own (`<data
//! dir>/resumable/<id>`), appended and synced; the catalog's row counts
//! how many are durable and moves only after a sync, every 256 MiB or 5
//! seconds and when a request ends cut off, so a
//! client that lost its connection asks and sends the rest. After a kill
//! the spool is cut back to the row's count before the next append.
//! A request that carries the rest of the file is sealed as it arrives,
//! its bytes also going to the spool (a cut leaves them there); one that
//! does not is only spooled, and the last byte in has the spool sealed.
//! Either way the transaction that adds the entry marks the upload finished
//! with it, so asking again answers the same file and never stores a
//! second. An upload not touched for [`RESUMABLE_KEPT`] goes, spool and
//! all.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use cairn_store::catalog::{check_name, now_ms};
use cairn_store::resumable::ResumableRow;
use futures_util::{Stream, TryStreamExt};
use serde::Serialize;

use super::Entries;
use super::upload::Extras;
use crate::tasks::blocking;
use crate::{EntryInfo, NodeError, OnConflict};

type Result<T> = std::result::Result<T, NodeError>;

/// How long an upload may go untouched before it goes (24 hours).
pub const RESUMABLE_KEPT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// How many bytes an append takes at most between two syncs of its
/// count.
const CHECKPOINT: u64 = 256 << 20;

/// How long an append goes at most between two syncs of its count: a
/// crash loses at most this much of a slow client's upload, and an upload
/// that ends sooner never syncs its spool at all (it is sealed and
/// deleted before the kernel writes it back).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// A resumable upload.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResumableUpload {
    /// Its id (32 hex digits).
    pub id: String,
    /// The folder the file goes into (`None` for the root).
    pub parent: Option<String>,
    /// The file's name.
    pub name: String,
    /// The file's length in bytes.
    pub length: u64,
    /// How many of its bytes the node holds durably: where the next
    /// append starts.
    pub received: u64,
    /// The metadata the file gets.
    pub metadata: BTreeMap<String, String>,
    /// What happens when the name is taken once it is finished.
    pub on_conflict: OnConflict,
    /// The file it became, once every byte was in.
    pub entry: Option<String>,
    /// When it began, Unix milliseconds.
    pub created: i64,
    /// When it goes unless touched again, Unix milliseconds.
    pub expires: i64,
}

impl From<ResumableRow> for ResumableUpload {
    fn from(r: ResumableRow) -> Self {
        Self {
            id: r.id,
            parent: (!r.parent.is_empty()).then_some(r.parent),
            name: r.name,
            length: r.length,
            received: r.received,
            metadata: r.metadata,
            on_conflict: r.on_conflict,
            entry: r.entry,
            created: r.created,
            expires: r.expires,
        }
    }
}

/// A resumable upload to begin.
#[derive(Debug, Clone, Default)]
pub struct NewResumable {
    /// The folder it goes under (`None` for the root).
    pub parent: Option<String>,
    /// Folders below `parent` to make (or find) first, outermost first:
    /// a file of a folder being uploaded.
    pub folders: Vec<String>,
    /// The file's name.
    pub name: String,
    /// Its length in bytes.
    pub length: u64,
    /// The metadata it gets (the paid-file keys checked as at any upload).
    pub metadata: BTreeMap<String, String>,
    /// What happens when the name is taken once it is finished.
    pub on_conflict: OnConflict,
}

/// The spool directory and the uploads an append is writing to now.
pub(crate) struct Spool {
    dir: PathBuf,
    busy: Mutex<HashSet<String>>,
}

impl Spool {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            busy: Mutex::default(),
        }
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Holds upload `id` for one request; another is refused meanwhile.
    fn hold(self: &Arc<Self>, id: &str) -> Result<Held> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        if !busy.insert(id.to_owned()) {
            return Err(NodeError::Conflict(format!(
                "another request is sending to upload {id}"
            )));
        }
        Ok(Held {
            spool: self.clone(),
            id: id.to_owned(),
        })
    }
}

/// An upload held by one request, let go when dropped.
struct Held {
    spool: Arc<Spool>,
    id: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut busy = self.spool.busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.remove(&self.id);
    }
}

/// A spool file's ids are 32 lowercase hex digits; nothing else names one.
fn valid_id(id: &str) -> Result<()> {
    if id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(NodeError::not_found("resumable upload", id))
    }
}

fn expiry() -> i64 {
    now_ms() + RESUMABLE_KEPT.as_millis() as i64
}

impl Entries {
    /// Begins a resumable upload: its folders are made now (so a file in
    /// their way is refused at once), its spool is empty.
    pub async fn begin_resumable(&self, new: NewResumable) -> Result<ResumableUpload> {
        check_name(&new.name)?;
        let limit = self.0.shared.config.max_upload_bytes;
        if new.length > limit {
            return Err(NodeError::TooLarge { limit });
        }
        crate::paid::terms::check_initial(&new.metadata, new.on_conflict)?;
        let names: Vec<&str> = new.folders.iter().map(String::as_str).collect();
        let parent = self.make_folders(new.parent.as_deref(), &names).await?;
        if let Some(p) = &parent {
            self.check_folder(p).await?;
        }
        // A name taken is refused now rather than after the last byte.
        if new.on_conflict == OnConflict::Fail
            && let Some(taken) = self.child_named(parent.as_deref(), &new.name).await?
        {
            return Err(NodeError::Store(cairn_store::StoreError::NameTaken {
                name: new.name,
                existing: taken.id,
            }));
        }
        let mut id = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        let row = ResumableRow {
            id: hex::encode(id),
            parent: parent.unwrap_or_default(),
            name: new.name,
            length: new.length,
            received: 0,
            metadata: new.metadata,
            on_conflict: new.on_conflict,
            entry: None,
            created: now_ms(),
            expires: expiry(),
        };
        let (catalog, spool, kept) = (
            self.0.shared.catalog.clone(),
            self.0.spool.clone(),
            row.clone(),
        );
        blocking(move || {
            // The row first: the sweep lists spool files before rows, so
            // it never takes this file for an orphan.
            catalog.begin_resumable(&kept)?;
            let made = std::fs::create_dir_all(&spool.dir)
                .and_then(|()| std::fs::File::create(spool.path(&kept.id)));
            if let Err(e) = made {
                catalog.end_resumable(&kept.id)?;
                return Err(NodeError::io("create", &spool.path(&kept.id), e));
            }
            Ok(())
        })
        .await?;
        Ok(row.into())
    }

    /// Resumable upload `id`, as it is now. One whose every byte is in
    /// but whose file was not made (the node stopped while sealing it) is
    /// finished first.
    pub async fn resumable(&self, id: &str) -> Result<ResumableUpload> {
        let row = self.resumable_row(id).await?;
        if row.entry.is_none()
            && row.received == row.length
            && let Ok(held) = self.0.spool.hold(id)
        {
            return self.finish_resumable(row.into(), held).await;
        }
        Ok(row.into())
    }

    async fn resumable_row(&self, id: &str) -> Result<ResumableRow> {
        valid_id(id)?;
        let (catalog, id) = (self.0.shared.catalog.clone(), id.to_owned());
        blocking(move || Ok(catalog.resumable(&id)?)).await
    }

    /// Appends `body` to upload `id` at `offset`, which must be where the
    /// upload stands (`received`). What arrives is kept, even when the
    /// body is cut off (the error says so, and the upload says how far it
    /// got); past the upload's length nothing is taken (a `size_hint`
    /// past it is refused before a byte is read). The last byte in
    /// makes the file: when `size_hint` says the body is the rest of it,
    /// it is sealed as it arrives.
    pub async fn append_resumable<S, E>(
        &self,
        id: &str,
        offset: u64,
        body: S,
        size_hint: Option<u64>,
    ) -> Result<ResumableUpload>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        valid_id(id)?;
        let held = self.0.spool.hold(id)?;
        let row = self.resumable_row(id).await?;
        if row.entry.is_some() || offset != row.received {
            return Err(NodeError::Conflict(format!(
                "upload {id} stands at byte {}, not {offset}",
                row.received
            )));
        }
        if let Some(n) = size_hint
            && offset.checked_add(n).is_none_or(|end| end > row.length)
        {
            return Err(NodeError::Invalid(format!(
                "{n} bytes at {offset} go past the upload's length ({} bytes)",
                row.length
            )));
        }
        let body = body.map_err(|e| std::io::Error::other(NodeError::Aborted(e.to_string())));
        let reader = tokio_util::io::StreamReader::new(body);
        if size_hint.is_some_and(|n| offset + n == row.length) && row.length > 0 {
            return self.seal_arriving(row.into(), offset, reader, held).await;
        }
        let tee = self.tee(&row, offset)?;
        let appended = tokio::task::spawn_blocking(move || {
            let mut src = tokio_util::io::SyncIoBridge::new(reader);
            tee.drain(&mut src)
        })
        .await?;
        let mut row = ResumableUpload::from(self.resumable_row(id).await?);
        appended??;
        if row.received == row.length {
            row = self.finish_resumable(row, held).await?;
        }
        Ok(row)
    }

    /// A writer of `row`'s spool from `offset` on.
    fn tee(&self, row: &ResumableRow, offset: u64) -> Result<Tee> {
        Tee::open(
            self.0.shared.catalog.clone(),
            self.0.spool.path(&row.id),
            &row.id,
            offset,
            row.length,
        )
    }

    /// Seals the spool's first `offset` bytes and then `body`, the rest of
    /// the file, as it arrives, its bytes also going to the spool: the
    /// file is made at its last byte, and a body cut off leaves what came
    /// in the spool, counted, for the client to go on from.
    async fn seal_arriving<R>(
        &self,
        upload: ResumableUpload,
        offset: u64,
        body: R,
        held: Held,
    ) -> Result<ResumableUpload>
    where
        R: tokio::io::AsyncRead + Send + Unpin + 'static,
    {
        let row = self.resumable_row(&upload.id).await?;
        let tee = self.tee(&row, offset)?;
        let (_storing, job) = self.upload_job(&upload).await?;
        let (entries, kept) = (self.clone(), upload.clone());
        let path = self.0.spool.path(&upload.id);
        let sealed = tokio::task::spawn_blocking(move || {
            let _held = held;
            let prefix = std::fs::File::open(&path)
                .map_err(|e| NodeError::io("open", &path, e))?
                .take(offset);
            let mut tee = tee.reading(tokio_util::io::SyncIoBridge::new(body));
            let outcome = entries.store_upload(&mut prefix.chain(&mut tee), &job, &kept);
            job.finish(outcome.as_ref().map(|e| serde_json::json!({ "entry": e })));
            match outcome {
                Ok(_) => {
                    let _ = std::fs::remove_file(&path);
                    Ok(())
                }
                Err(e) => {
                    tee.finish()?;
                    Err(e)
                }
            }
        })
        .await?;
        sealed?;
        Ok(self.resumable_row(&upload.id).await?.into())
    }

    /// A place among the uploads being stored, and the job that stores
    /// `upload`'s file.
    async fn upload_job(
        &self,
        upload: &ResumableUpload,
    ) -> Result<(tokio::sync::SemaphorePermit<'_>, crate::jobs::Job)> {
        let storing = self
            .0
            .storing
            .acquire()
            .await
            .map_err(|_| NodeError::Internal("the store has stopped".into()))?;
        let job = self
            .0
            .shared
            .jobs
            .start("upload", &upload.name, Some(upload.length), true);
        Ok((storing, job))
    }

    /// Seals `src` into `upload`'s file, marking the upload finished in
    /// the entry's transaction; a source of another length than the
    /// upload's is refused (blocking).
    fn store_upload(
        &self,
        src: &mut dyn Read,
        job: &crate::jobs::Job,
        upload: &ResumableUpload,
    ) -> Result<crate::Entry> {
        let extras = Extras {
            finishes: Some(upload.id.clone()),
            ..Extras::default()
        };
        let length = upload.length;
        self.store_file_full(
            src,
            job,
            upload.parent.as_deref(),
            &upload.name,
            upload.on_conflict,
            &|manifest| {
                if manifest.size == length {
                    Ok(())
                } else {
                    Err(NodeError::Aborted(format!(
                        "the body ended at byte {} of {length}",
                        manifest.size
                    )))
                }
            },
            &upload.metadata,
            &extras,
        )
    }

    /// Seals the spool of `upload` (every byte in) into its file.
    async fn finish_resumable(
        &self,
        upload: ResumableUpload,
        held: Held,
    ) -> Result<ResumableUpload> {
        let path = self.0.spool.path(&upload.id);
        let (_storing, job) = self.upload_job(&upload).await?;
        let entries = self.clone();
        let kept = upload.clone();
        blocking(move || {
            let _held = held;
            let file = std::fs::File::open(&path).map_err(|e| NodeError::io("open", &path, e))?;
            let outcome = entries.store_upload(&mut file.take(kept.length), &job, &kept);
            job.finish(outcome.as_ref().map(|e| serde_json::json!({ "entry": e })));
            outcome?;
            let _ = std::fs::remove_file(&path);
            Ok(())
        })
        .await?;
        Ok(self.resumable_row(&upload.id).await?.into())
    }

    /// Drops upload `id` and its spool (a file it made stays); whether
    /// there was one.
    pub async fn terminate_resumable(&self, id: &str) -> Result<bool> {
        valid_id(id)?;
        let (catalog, spool, id) = (
            self.0.shared.catalog.clone(),
            self.0.spool.clone(),
            id.to_owned(),
        );
        blocking(move || {
            let found = catalog.end_resumable(&id)?;
            let _ = std::fs::remove_file(spool.path(&id));
            Ok(found)
        })
        .await
    }

    /// The file upload `id` became.
    pub async fn resumable_entry(&self, id: &str) -> Result<Option<EntryInfo>> {
        match self.resumable(id).await?.entry {
            Some(entry) => Ok(Some(self.entry(&entry).await?)),
            None => Ok(None),
        }
    }

    /// Drops the uploads untouched for [`RESUMABLE_KEPT`], and spool files
    /// no upload names; answers how many uploads went.
    pub(crate) async fn sweep_resumables(&self) -> Result<usize> {
        let (catalog, spool) = (self.0.shared.catalog.clone(), self.0.spool.clone());
        blocking(move || {
            let files: Vec<String> = match std::fs::read_dir(&spool.dir) {
                Ok(dir) => dir
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect(),
                Err(_) => Vec::new(),
            };
            let rows = catalog.resumables(now_ms())?;
            let mut gone = 0;
            for (id, expired) in &rows {
                if *expired && spool.hold(id).is_ok() {
                    catalog.end_resumable(id)?;
                    let _ = std::fs::remove_file(spool.path(id));
                    gone += 1;
                }
            }
            for file in files
                .iter()
                .filter(|f| !rows.iter().any(|(id, _)| id == *f))
            {
                let _ = std::fs::remove_file(spool.path(file));
            }
            Ok(gone)
        })
        .await
    }
}

/// A spool being appended to from `at` on: what it takes is written to
/// the file, synced and counted at checkpoints, and never past the
/// upload's length. Blocking.
struct Tee<R = std::io::Empty> {
    catalog: std::sync::Arc<cairn_store::catalog::Catalog>,
    path: PathBuf,
    id: String,
    file: std::fs::File,
    length: u64,
    at: u64,
    synced: u64,
    since: std::time::Instant,
    src: R,
}

impl Tee {
    /// The spool of upload `id` at `path`, cut back to `offset` (bytes
    /// past the durable count are a killed request's).
    fn open(
        catalog: std::sync::Arc<cairn_store::catalog::Catalog>,
        path: PathBuf,
        id: &str,
        offset: u64,
        length: u64,
    ) -> Result<Self> {
        let io = |action, e| NodeError::io(action, &path, e);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| io("open", e))?;
        file.set_len(offset).map_err(|e| io("truncate", e))?;
        file.seek(std::io::SeekFrom::Start(offset))
            .map_err(|e| io("seek", e))?;
        Ok(Self {
            catalog,
            id: id.to_owned(),
            file,
            length,
            at: offset,
            synced: offset,
            since: std::time::Instant::now(),
            src: std::io::empty(),
            path,
        })
    }

    /// This spool, taking what `src` gives as it is read.
    fn reading<R: Read>(self, src: R) -> Tee<R> {
        Tee {
            catalog: self.catalog,
            path: self.path,
            id: self.id,
            file: self.file,
            length: self.length,
            at: self.at,
            synced: self.synced,
            since: self.since,
            src,
        }
    }

    /// Takes all of `src` (blocking). The outer error is the node's; the
    /// inner one a body cut off or too long, after what came was kept and
    /// counted.
    fn drain(self, src: &mut dyn Read) -> Result<Result<()>> {
        let mut tee = self.reading(src);
        let outcome = std::io::copy(&mut tee, &mut std::io::sink());
        tee.finish()?;
        Ok(outcome.map(|_| ()).map_err(body_error))
    }
}

impl<R> Tee<R> {
    /// Syncs what was taken and counts it.
    fn checkpoint(&mut self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| NodeError::io("sync", &self.path, e))?;
        self.catalog
            .resumable_received(&self.id, self.at, expiry())?;
        (self.synced, self.since) = (self.at, std::time::Instant::now());
        Ok(())
    }

    /// Syncs and counts what came since the last checkpoint.
    fn finish(&mut self) -> Result<()> {
        if self.at > self.synced {
            self.checkpoint()?;
        }
        Ok(())
    }
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = loop {
            match self.src.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        let take = (n as u64).min(self.length - self.at) as usize;
        self.file.write_all(&buf[..take])?;
        self.at += take as u64;
        if take < n {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                NodeError::Invalid(format!(
                    "the body goes past the upload's length ({} bytes)",
                    self.length
                )),
            ));
        }
        if self.at - self.synced >= CHECKPOINT
            || (self.at > self.synced && self.since.elapsed() >= CHECKPOINT_EVERY)
        {
            self.checkpoint().map_err(std::io::Error::other)?;
        }
        Ok(take)
    }
}

/// What a failed read of a body means for its client.
fn body_error(e: std::io::Error) -> NodeError {
    match e.into_inner().map(|inner| inner.downcast::<NodeError>()) {
        Some(Ok(node)) => *node,
        Some(Err(other)) => NodeError::Aborted(other.to_string()),
        None => NodeError::Aborted("the body was cut off".into()),
    }
}
