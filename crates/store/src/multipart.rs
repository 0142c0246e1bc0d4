//! Multipart uploads and access keys (migration 27).
//!
//! A multipart upload is a file sent in numbered parts, in any order and
//! at any pace, then completed into one file. The upload keeps where the
//! file goes (folder, name, metadata); each part is a blob of its own,
//! pinned under `multipart/<upload>/<number>` in the transaction that
//! records the part, so a part is either whole and named or not there:
//! a kill mid-part leaves an orphan the sweep removes. A part sent again
//! replaces the one before, whose blob goes when nothing else names it.
//! A part that arrives after its upload was aborted finds no upload and
//! is refused, its blob dropped. Aborting (or completing) drops the
//! upload, its parts and their pins in one transaction.
//!
//! An access key is an id (a name for a gateway account, or for the
//! operator when it has none); its secret is derived from the node's
//! identity by the engine, so the catalog holds nothing that signs.

use std::collections::BTreeMap;

use cairn_core::BlobId;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::StoreError;
use crate::catalog::{Catalog, add_blob, drop_if_orphan, now_ms};
use crate::shares::{NewBlob, repin};

type Result<T> = std::result::Result<T, StoreError>;

/// Prefix of the pins that keep parts.
const PIN_PREFIX: &str = "multipart/";

/// A multipart upload as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    /// Its id.
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

/// One part as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRow {
    /// Its number (1 to 10,000).
    pub number: u32,
    /// Its blob.
    pub blob: BlobId,
    /// Its bytes.
    pub size: u64,
    /// The MD5 of its bytes (32 hex digits).
    pub md5: String,
    /// When it arrived, Unix milliseconds.
    pub created: i64,
}

/// What recording a part did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartKept {
    /// The blob was not in the catalog before.
    pub new_blob: bool,
    /// The blob of the part it replaced, now named by nothing and dropped.
    pub orphan: Option<BlobId>,
}

fn pin_name(upload: &str, number: u32) -> String {
    format!("{PIN_PREFIX}{upload}/{number:05}")
}

fn upload_not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        what: "multipart upload",
        id: id.chars().take(80).collect(),
    }
}

fn upload_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UploadRow> {
    let metadata: String = r.get(3)?;
    Ok(UploadRow {
        id: r.get(0)?,
        parent: r.get(1)?,
        name: r.get(2)?,
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
        created: r.get(4)?,
    })
}

impl Catalog {
    /// Begins a multipart upload of file `name` into folder `parent`.
    pub fn begin_upload(&self, upload: &UploadRow) -> Result<()> {
        let metadata = serde_json::to_string(&upload.metadata)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.with(|c| {
            c.execute(
                "INSERT INTO multipart_uploads (id, parent, name, metadata, created) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    upload.id,
                    upload.parent,
                    upload.name,
                    metadata,
                    upload.created
                ],
            )?;
            Ok(())
        })
    }

    /// Multipart upload `id`.
    pub fn upload(&self, id: &str) -> Result<UploadRow> {
        self.read(|c| {
            c.query_row(
                "SELECT id, parent, name, metadata, created FROM multipart_uploads WHERE id = ?1",
                [id],
                upload_row,
            )
            .optional()?
            .ok_or_else(|| upload_not_found(id))
        })
    }

    /// The multipart uploads into folder `parent` whose names start with
    /// `prefix`, by name then age, at most `limit`.
    pub fn uploads_in(&self, parent: &str, prefix: &str, limit: u32) -> Result<Vec<UploadRow>> {
        self.read(|c| {
            let mut q = c.prepare_cached(
                "SELECT id, parent, name, metadata, created FROM multipart_uploads \
                 WHERE parent = ?1 AND substr(name, 1, length(?2)) = ?2 \
                 ORDER BY name, created, id LIMIT ?3",
            )?;
            let rows = q.query_map(params![parent, prefix, limit], upload_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The multipart uploads begun before `before` (Unix milliseconds).
    pub fn uploads_before(&self, before: i64) -> Result<Vec<String>> {
        self.read(|c| {
            let mut q = c.prepare("SELECT id FROM multipart_uploads WHERE created < ?1")?;
            let rows = q.query_map([before], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Records part `number` of upload `upload` (adding its blob when new
    /// and pinning it), replacing a part of that number; `commit_blob`
    /// runs before the commit for a new blob, `remove_blob` after it for
    /// the blob left unnamed. An upload that is gone refuses the part.
    pub fn keep_part(
        &self,
        upload: &str,
        part: &PartRow,
        blob: NewBlob<'_>,
        commit_blob: impl FnOnce() -> Result<()>,
        remove_blob: impl Fn(&BlobId),
    ) -> Result<PartKept> {
        let kept = self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists = tx
                .query_row(
                    "SELECT 1 FROM multipart_uploads WHERE id = ?1",
                    [upload],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !exists {
                return Err(upload_not_found(upload));
            }
            let new_blob = add_blob(&tx, &blob.id, blob.size, blob.manifest)?;
            let old = repin(&tx, &pin_name(upload, part.number), &blob.id.0)?;
            tx.execute(
                "INSERT INTO multipart_parts (upload, number, blob, size, md5, created) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (upload, number) DO UPDATE SET blob = excluded.blob, \
                 size = excluded.size, md5 = excluded.md5, created = excluded.created",
                params![
                    upload,
                    part.number,
                    &part.blob.0[..],
                    part.size as i64,
                    part.md5,
                    part.created
                ],
            )?;
            let orphan = match old {
                Some(old) if old[..] != blob.id.0[..] => drop_if_orphan(&tx, &old)?,
                _ => None,
            };
            if new_blob {
                commit_blob()?;
            }
            tx.commit()?;
            Ok(PartKept { new_blob, orphan })
        })?;
        if let Some(orphan) = &kept.orphan {
            remove_blob(orphan);
        }
        Ok(kept)
    }

    /// The parts of upload `upload`, by number, from after `after`, at
    /// most `limit`.
    pub fn parts(&self, upload: &str, after: u32, limit: u32) -> Result<Vec<PartRow>> {
        self.read(|c| {
            let mut q = c.prepare_cached(
                "SELECT number, blob, size, md5, created FROM multipart_parts \
                 WHERE upload = ?1 AND number > ?2 ORDER BY number LIMIT ?3",
            )?;
            let rows = q.query_map(params![upload, after, limit], |r| {
                let raw: Vec<u8> = r.get(1)?;
                Ok(PartRow {
                    number: r.get(0)?,
                    blob: BlobId(raw.try_into().unwrap_or([0; 32])),
                    size: r.get::<_, i64>(2)? as u64,
                    md5: r.get(3)?,
                    created: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Drops upload `upload`, its parts and their pins; the blobs left
    /// unnamed go to `remove_blob` after the commit. `false` when there
    /// was no such upload.
    pub fn end_upload(&self, upload: &str, remove_blob: impl Fn(&BlobId)) -> Result<bool> {
        let prefix = format!("{PIN_PREFIX}{upload}/");
        let (found, orphans) = self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let blobs: Vec<Vec<u8>> = {
                let mut q =
                    tx.prepare("SELECT blob FROM pins WHERE substr(name, 1, length(?1)) = ?1")?;
                let rows = q.query_map([&prefix], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            tx.execute(
                "DELETE FROM pins WHERE substr(name, 1, length(?1)) = ?1",
                [&prefix],
            )?;
            let found = tx.execute("DELETE FROM multipart_uploads WHERE id = ?1", [upload])? > 0;
            let mut orphans = Vec::new();
            for raw in blobs {
                if let Some(id) = drop_if_orphan(&tx, &raw)? {
                    orphans.push(id);
                }
            }
            tx.commit()?;
            Ok((found, orphans))
        })?;
        orphans.iter().for_each(remove_blob);
        Ok(found)
    }

    /// Adds access key `id` for `account` (`None`: the operator).
    pub fn add_access_key(&self, id: &str, account: Option<&str>) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO access_keys (id, account, created) VALUES (?1, ?2, ?3)",
                params![id, account, now_ms()],
            )?;
            Ok(())
        })
    }

    /// The access keys of `account` (`None`: the operator's), oldest first.
    pub fn access_keys_of(&self, account: Option<&str>) -> Result<Vec<String>> {
        self.read(|c| {
            let mut q = c.prepare_cached(
                "SELECT id FROM access_keys WHERE account IS ?1 ORDER BY created, id",
            )?;
            let rows = q.query_map([account], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Whose access key `id` is: `Some(None)` the operator's,
    /// `Some(Some(account))` an account's, `None` no key's.
    pub fn access_key(&self, id: &str) -> Result<Option<Option<String>>> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT account FROM access_keys WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })
    }

    /// Removes the access keys of `account` (`None`: the operator's).
    pub fn remove_access_keys(&self, account: Option<&str>) -> Result<usize> {
        self.with(|c| Ok(c.execute("DELETE FROM access_keys WHERE account IS ?1", [account])?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        (dir, cat)
    }

    fn part(number: u32, byte: u8) -> (PartRow, Vec<u8>) {
        let blob = BlobId([byte; 32]);
        let row = PartRow {
            number,
            blob,
            size: 10,
            md5: format!("{byte:032x}"),
            created: 1,
        };
        (row, vec![byte; 8])
    }

    fn upload(id: &str) -> UploadRow {
        UploadRow {
            id: id.into(),
            parent: "root".into(),
            name: "big.bin".into(),
            metadata: BTreeMap::from([("k".into(), "v".into())]),
            created: 5,
        }
    }

    #[test]
    fn a_part_replaces_the_one_before_and_its_blob_goes() {
        let (_dir, cat) = catalog();
        cat.begin_upload(&upload("u1")).unwrap();
        let (p1, m1) = part(1, 1);
        let blob = |p: &PartRow, m: &'static [u8]| NewBlob {
            id: p.blob,
            size: p.size,
            manifest: m,
        };
        let m1: &'static [u8] = m1.leak();
        cat.keep_part("u1", &p1, blob(&p1, m1), || Ok(()), |_| {})
            .unwrap();
        let (p1b, m1b) = part(1, 2);
        let m1b: &'static [u8] = m1b.leak();
        let removed = std::cell::RefCell::new(Vec::new());
        let kept = cat
            .keep_part(
                "u1",
                &p1b,
                blob(&p1b, m1b),
                || Ok(()),
                |b| removed.borrow_mut().push(*b),
            )
            .unwrap();
        assert!(kept.new_blob);
        assert_eq!(kept.orphan, Some(BlobId([1; 32])));
        assert_eq!(removed.into_inner(), vec![BlobId([1; 32])]);
        let parts = cat.parts("u1", 0, 100).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].blob, BlobId([2; 32]));
        assert_eq!(cat.upload("u1").unwrap().metadata["k"], "v");
    }

    #[test]
    fn a_part_after_the_abort_is_refused_and_nothing_stays() {
        let (_dir, cat) = catalog();
        cat.begin_upload(&upload("u2")).unwrap();
        let (p1, m1) = part(1, 3);
        let m1: &'static [u8] = m1.leak();
        let nb = NewBlob {
            id: p1.blob,
            size: p1.size,
            manifest: m1,
        };
        cat.keep_part("u2", &p1, nb, || Ok(()), |_| {}).unwrap();
        let removed = std::cell::RefCell::new(Vec::new());
        assert!(
            cat.end_upload("u2", |b| removed.borrow_mut().push(*b))
                .unwrap()
        );
        assert_eq!(removed.into_inner(), vec![BlobId([3; 32])]);
        assert!(!cat.end_upload("u2", |_| {}).unwrap());
        let (p2, m2) = part(2, 4);
        let m2: &'static [u8] = m2.leak();
        let nb = NewBlob {
            id: p2.blob,
            size: p2.size,
            manifest: m2,
        };
        let committed = std::cell::Cell::new(false);
        let err = cat
            .keep_part(
                "u2",
                &p2,
                nb,
                || {
                    committed.set(true);
                    Ok(())
                },
                |_| {},
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
        assert!(!committed.get(), "a refused part's blob is never committed");
        assert!(cat.upload("u2").is_err());
        assert!(cat.pinned(&pin_name("u2", 2)).unwrap().is_none());
    }

    #[test]
    fn access_keys_name_their_account_or_the_operator() {
        let (_dir, cat) = catalog();
        cat.add_access_key("OPKEY", None).unwrap();
        assert_eq!(cat.access_key("OPKEY").unwrap(), Some(None));
        assert_eq!(cat.access_key("NOPE").unwrap(), None);
        assert_eq!(cat.access_keys_of(None).unwrap(), vec!["OPKEY".to_owned()]);
        assert_eq!(cat.remove_access_keys(None).unwrap(), 1);
        assert_eq!(cat.access_key("OPKEY").unwrap(), None);
    }
}
