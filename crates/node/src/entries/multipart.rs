//! Multipart uploads: a file sent in numbered parts, in any order, at any
//! pace, over several connections, then completed into one file.
//!
//! Each part is sealed through the normal pipeline into a blob of its
//! own, pinned by the upload (`cairn_store::multipart`), with the MD5 of
//! its bytes computed in the same pass. Completing reads the parts
//! verified, in the order asked, through one more seal into the file's
//! one blob (with its MD5 alias), adds the entry and its metadata in one
//! transaction, then drops the upload and its parts' blobs. Aborting
//! drops them at once; a part still arriving then finds no upload and is
//! refused. Uploads left alone for [`ABANDONED_AFTER`] are aborted by a
//! sweep. A kill at any point leaves either the parts or the file, never
//! a file made of some of them.

use std::collections::BTreeMap;
use std::io::Read;
use std::ops::Range;

use bytes::Bytes;
use cairn_store::catalog::check_name;
use cairn_store::multipart::{PartRow, UploadRow};
use cairn_store::shares::NewBlob;
use futures_util::{Stream, TryStreamExt};
use serde::Serialize;

use super::Entries;
use super::upload::{Extras, Md5Read, Md5Sum};
use crate::blobs::read::BlobHandle;
use crate::tasks::blocking;
use crate::{EntryInfo, NodeError, OnConflict};

type Result<T> = std::result::Result<T, NodeError>;

/// The highest part number.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// How long an upload may go without being completed before the sweep
/// aborts it (7 days).
pub const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// A multipart upload.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MultipartUpload {
    /// Its id (32 hex digits).
    pub id: String,
    /// The folder the file goes into.
    pub parent: String,
    /// The file's name.
    pub name: String,
    /// The metadata the file gets.
    pub metadata: BTreeMap<String, String>,
    /// When it began, Unix milliseconds.
    pub created: i64,
}

/// One part of a multipart upload.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PartInfo {
    /// Its number.
    pub number: u32,
    /// Its bytes.
    pub size: u64,
    /// The MD5 of its bytes (32 hex digits).
    pub md5: String,
    /// When it arrived, Unix milliseconds.
    pub created: i64,
}

/// A completed multipart upload.
#[derive(Debug, Clone)]
pub struct Completed {
    /// The new file.
    pub info: EntryInfo,
    /// The MD5 of the whole file (32 hex digits).
    pub md5: String,
}

impl From<UploadRow> for MultipartUpload {
    fn from(r: UploadRow) -> Self {
        Self {
            id: r.id,
            parent: r.parent,
            name: r.name,
            metadata: r.metadata,
            created: r.created,
        }
    }
}

impl From<&PartRow> for PartInfo {
    fn from(r: &PartRow) -> Self {
        Self {
            number: r.number,
            size: r.size,
            md5: r.md5.clone(),
            created: r.created,
        }
    }
}

impl Entries {
    /// Begins a multipart upload of file `name` into folder `parent`,
    /// which gets `metadata` when completed (the paid-file keys checked as
    /// at any upload).
    pub async fn begin_multipart(
        &self,
        parent: String,
        name: String,
        metadata: BTreeMap<String, String>,
    ) -> Result<MultipartUpload> {
        check_name(&name)?;
        self.check_folder(&parent).await?;
        crate::paid::terms::check_initial(&metadata, OnConflict::Replace)?;
        let mut id = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        let row = UploadRow {
            id: hex::encode(id),
            parent,
            name,
            metadata,
            created: cairn_store::catalog::now_ms(),
        };
        let catalog = self.0.shared.catalog.clone();
        let kept = row.clone();
        blocking(move || Ok(catalog.begin_upload(&kept)?)).await?;
        Ok(row.into())
    }

    /// Multipart upload `id`.
    pub async fn multipart(&self, id: &str) -> Result<MultipartUpload> {
        let (catalog, id) = (self.0.shared.catalog.clone(), id.to_owned());
        Ok(blocking(move || Ok(catalog.upload(&id)?)).await?.into())
    }

    /// The multipart uploads into folder `parent` whose names start with
    /// `prefix`, by name then age, at most `limit`.
    pub async fn multiparts_in(
        &self,
        parent: &str,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<MultipartUpload>> {
        let catalog = self.0.shared.catalog.clone();
        let (parent, prefix) = (parent.to_owned(), prefix.to_owned());
        let rows = blocking(move || Ok(catalog.uploads_in(&parent, &prefix, limit)?)).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Stores `body` as part `number` of upload `upload`, replacing a part
    /// of that number. A body cut off, or an upload aborted meanwhile:
    /// nothing is kept.
    pub async fn put_part<S, E>(
        &self,
        upload: &str,
        number: u32,
        body: S,
        size_hint: Option<u64>,
    ) -> Result<PartInfo>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        if !(1..=MAX_PART_NUMBER).contains(&number) {
            return Err(NodeError::Invalid(format!(
                "part number {number} is not between 1 and {MAX_PART_NUMBER}"
            )));
        }
        if size_hint.is_some_and(|s| s > self.0.shared.config.max_upload_bytes) {
            return Err(NodeError::TooLarge {
                limit: self.0.shared.config.max_upload_bytes,
            });
        }
        let upload = self.multipart(upload).await?.id;
        let job = self.0.shared.jobs.start(
            "upload-part",
            format!("{upload}/{number}"),
            size_hint,
            false,
        );
        let body = body.map_err(|e| std::io::Error::other(NodeError::Aborted(e.to_string())));
        let reader = tokio_util::io::StreamReader::new(body);
        let entries = self.clone();
        let _storing = self
            .0
            .storing
            .acquire()
            .await
            .map_err(|_| NodeError::Internal("the store has stopped".into()))?;
        tokio::task::spawn_blocking(move || {
            let sum = Md5Sum::on();
            let mut src = Md5Read::new(tokio_util::io::SyncIoBridge::new(reader), sum.clone());
            let outcome = entries.keep_part(&mut src, &sum, &job, &upload, number);
            job.finish(outcome.as_ref().map(|p| serde_json::json!({ "part": p })));
            outcome
        })
        .await?
    }

    /// Seals `src` and records it as part `number` of `upload` (blocking).
    fn keep_part(
        &self,
        src: &mut dyn Read,
        sum: &Md5Sum,
        job: &crate::jobs::Job,
        upload: &str,
        number: u32,
    ) -> Result<PartInfo> {
        let (network, store) = (&self.0.network, self.0.blobs.store());
        let mut sealed = store.seal(src, job, None)?;
        job.check()?;
        let claim = network.claim_placing(sealed.manifest.id);
        sealed.temp.sync()?;
        let manifest = sealed.manifest;
        let id = manifest.id;
        let encoded = manifest.encode();
        let md5 = sum.hex().unwrap_or_default();
        let row = PartRow {
            number,
            blob: id,
            size: manifest.size,
            md5,
            created: cairn_store::catalog::now_ms(),
        };
        let (committer, temp) = (store.clone(), sealed.temp);
        let kept = self.0.shared.catalog.keep_part(
            upload,
            &row,
            NewBlob {
                id,
                size: manifest.size,
                manifest: &encoded,
            },
            move || committer.commit(temp, &id),
            |orphan| store.drop_blob(orphan),
        )?;
        self.place_pinned(id, kept.new_blob, kept.orphan.is_some(), claim);
        Ok(PartInfo::from(&row))
    }

    /// The parts of upload `upload` numbered above `after`, at most
    /// `limit`, by number.
    pub async fn parts(&self, upload: &str, after: u32, limit: u32) -> Result<Vec<PartInfo>> {
        let (catalog, upload) = (self.0.shared.catalog.clone(), upload.to_owned());
        let rows = blocking(move || {
            catalog.upload(&upload)?;
            Ok(catalog.parts(&upload, after, limit)?)
        })
        .await?;
        Ok(rows.iter().map(PartInfo::from).collect())
    }

    /// Completes upload `upload` from its parts `numbers`, in that order
    /// (each must exist; they must go up), into its file (replacing a
    /// file of that name), with `extra` metadata over the upload's own.
    /// The upload and its parts go once the file is stored.
    pub async fn complete_multipart(
        &self,
        upload: &str,
        numbers: &[u32],
        extra: BTreeMap<String, String>,
        reset_prefix: Option<&str>,
    ) -> Result<Completed> {
        if numbers.is_empty() {
            return Err(NodeError::Invalid(
                "a multipart upload needs at least one part".into(),
            ));
        }
        if numbers.windows(2).any(|w| w[0] >= w[1]) {
            return Err(NodeError::Invalid(
                "the parts must be listed in ascending order".into(),
            ));
        }
        let up = self.multipart(upload).await?;
        let all = self.all_parts(upload).await?;
        let mut chosen = Vec::with_capacity(numbers.len());
        for n in numbers {
            let part = all
                .iter()
                .find(|p| p.number == *n)
                .ok_or_else(|| NodeError::not_found("part", &format!("{upload}/{n}")))?;
            chosen.push(part.blob);
        }
        let mut metadata = up.metadata.clone();
        metadata.extend(extra);
        let entries = self.clone();
        let reset_prefix = reset_prefix.map(str::to_owned);
        let total: u64 = all
            .iter()
            .filter(|p| numbers.contains(&p.number))
            .map(|p| p.size)
            .sum();
        let job = self
            .0
            .shared
            .jobs
            .start("upload", &up.name, Some(total), false);
        let (entry, md5) = blocking(move || {
            let handles = chosen
                .iter()
                .map(|b| entries.0.blobs.scan_handle(b))
                .collect::<Result<Vec<_>>>()?;
            let sum = Md5Sum::on();
            let mut src = Md5Read::new(Concat::new(handles), sum.clone());
            let extras = Extras {
                md5: sum.clone(),
                reset_prefix,
                finishes: None,
            };
            let outcome = entries.store_file_full(
                &mut src,
                &job,
                Some(&up.parent),
                &up.name,
                OnConflict::Replace,
                &|_| Ok(()),
                &metadata,
                &extras,
            );
            job.finish(outcome.as_ref().map(|e| serde_json::json!({ "entry": e })));
            Ok((outcome?, sum.hex().unwrap_or_default()))
        })
        .await?;
        self.abort_multipart(upload).await?;
        let info = self.entry(&entry.id).await?;
        Ok(Completed { info, md5 })
    }

    async fn all_parts(&self, upload: &str) -> Result<Vec<PartRow>> {
        let (catalog, upload) = (self.0.shared.catalog.clone(), upload.to_owned());
        blocking(move || Ok(catalog.parts(&upload, 0, MAX_PART_NUMBER)?)).await
    }

    /// Drops upload `upload` and its parts. `false` when there was none.
    pub async fn abort_multipart(&self, upload: &str) -> Result<bool> {
        let entries = self.clone();
        let upload = upload.to_owned();
        blocking(move || {
            let store = entries.0.blobs.store();
            let found = entries
                .0
                .shared
                .catalog
                .end_upload(&upload, |orphan| store.drop_blob(orphan))?;
            entries.0.network.unplace_later();
            Ok(found)
        })
        .await
    }

    /// Aborts the uploads begun more than [`ABANDONED_AFTER`] ago;
    /// answers how many.
    pub(crate) async fn sweep_multiparts(&self) -> Result<usize> {
        let catalog = self.0.shared.catalog.clone();
        let before = cairn_store::catalog::now_ms() - ABANDONED_AFTER.as_millis() as i64;
        let old = blocking(move || Ok(catalog.uploads_before(before)?)).await?;
        for id in &old {
            self.abort_multipart(id).await?;
        }
        Ok(old.len())
    }
}

/// The verified plaintext of several blobs, one after the other, read a
/// segment at a time.
struct Concat {
    handles: std::vec::IntoIter<BlobHandle>,
    current: Option<(BlobHandle, u64)>,
    buffered: Bytes,
}

impl Concat {
    fn new(handles: Vec<BlobHandle>) -> Self {
        Self {
            handles: handles.into_iter(),
            current: None,
            buffered: Bytes::new(),
        }
    }

    /// The next verified piece, or `None` at the end of the last blob.
    fn next_piece(&mut self) -> std::io::Result<Option<Bytes>> {
        loop {
            if self.current.is_none() {
                match self.handles.next() {
                    Some(h) => self.current = Some((h, 0)),
                    None => return Ok(None),
                }
            }
            let Some((handle, at)) = &mut self.current else {
                continue;
            };
            if *at >= handle.size() {
                self.current = None;
                continue;
            }
            let range: Range<u64> = *at..(*at + SEGMENT).min(handle.size());
            let mut piece = Bytes::new();
            handle
                .for_each_piece(range.clone(), |p| {
                    piece = if piece.is_empty() {
                        p
                    } else {
                        [piece.as_ref(), p.as_ref()].concat().into()
                    };
                    Ok(())
                })
                .map_err(std::io::Error::other)?;
            *at = range.end;
            return Ok(Some(piece));
        }
    }
}

/// How much of a blob [`Concat`] reads at once: one segment when aligned.
const SEGMENT: u64 = cairn_core::layout::SEGMENT_SIZE;

impl Read for Concat {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.buffered.is_empty() {
            match self.next_piece()? {
                Some(piece) => self.buffered = piece,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.buffered.len());
        buf[..n].copy_from_slice(&self.buffered[..n]);
        self.buffered = self.buffered.slice(n..);
        Ok(n)
    }
}
