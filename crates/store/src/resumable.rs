//! Resumable uploads (migration 28), as the tus protocol has them.
//!
//! A row keeps where the file goes (folder, name, what to do when the
//! name is taken, metadata), its announced length, and how many of its
//! bytes are durably in the spool file the engine appends to: the count
//! moves only after those bytes were synced, so after a kill the spool is
//! cut back to it and the client, asking, sends the rest again. The row
//! learns the entry it became in the transaction that adds the entry
//! ([`crate::catalog::NewFile::finishes`]), so a finished upload is never
//! stored twice; it stays, answering with its entry, until it expires.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};

use crate::StoreError;
use crate::catalog::{Catalog, OnConflict};

type Result<T> = std::result::Result<T, StoreError>;

/// A resumable upload as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumableRow {
    /// Its id.
    pub id: String,
    /// The folder the file goes into.
    pub parent: String,
    /// The file's name.
    pub name: String,
    /// The file's length in bytes.
    pub length: u64,
    /// How many bytes are durably received.
    pub received: u64,
    /// The metadata the file gets.
    pub metadata: BTreeMap<String, String>,
    /// What happens when the name is taken at the end.
    pub on_conflict: OnConflict,
    /// The entry it became, once finished.
    pub entry: Option<String>,
    /// When it began, Unix milliseconds.
    pub created: i64,
    /// When it goes, Unix milliseconds.
    pub expires: i64,
}

const COLUMNS: &str =
    "id, parent, name, length, received, metadata, conflict, entry, created, expires";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ResumableRow> {
    let metadata: String = r.get(5)?;
    let conflict: String = r.get(6)?;
    Ok(ResumableRow {
        id: r.get(0)?,
        parent: r.get(1)?,
        name: r.get(2)?,
        length: r.get::<_, i64>(3)?.max(0) as u64,
        received: r.get::<_, i64>(4)?.max(0) as u64,
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
        on_conflict: conflict.parse().unwrap_or(OnConflict::Fail),
        entry: r.get(7)?,
        created: r.get(8)?,
        expires: r.get(9)?,
    })
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        what: "resumable upload",
        id: id.chars().take(80).collect(),
    }
}

impl Catalog {
    /// Records a new resumable upload.
    pub fn begin_resumable(&self, upload: &ResumableRow) -> Result<()> {
        let metadata = serde_json::to_string(&upload.metadata)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.with(|c| {
            c.execute(
                &format!("INSERT INTO resumable_uploads ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    upload.id,
                    upload.parent,
                    upload.name,
                    upload.length as i64,
                    upload.received as i64,
                    metadata,
                    upload.on_conflict.as_str(),
                    upload.entry,
                    upload.created,
                    upload.expires
                ],
            )?;
            Ok(())
        })
    }

    /// Resumable upload `id`.
    pub fn resumable(&self, id: &str) -> Result<ResumableRow> {
        self.read(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM resumable_uploads WHERE id = ?1"),
                [id],
                row,
            )
            .optional()?
            .ok_or_else(|| not_found(id))
        })
    }

    /// Records that `received` bytes of unfinished upload `id` are durable,
    /// and that it now expires at `expires`.
    pub fn resumable_received(&self, id: &str, received: u64, expires: i64) -> Result<()> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE resumable_uploads SET received = ?2, expires = ?3 \
                 WHERE id = ?1 AND entry IS NULL AND ?2 <= length",
                params![id, received as i64, expires],
            )?;
            if n == 0 {
                return Err(not_found(id));
            }
            Ok(())
        })
    }

    /// Drops resumable upload `id`; whether there was one.
    pub fn end_resumable(&self, id: &str) -> Result<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM resumable_uploads WHERE id = ?1", [id])? > 0))
    }

    /// Every resumable upload's id, and whether it expired by `now`.
    pub fn resumables(&self, now: i64) -> Result<Vec<(String, bool)>> {
        self.read(|c| {
            let mut q = c.prepare("SELECT id, expires <= ?1 FROM resumable_uploads")?;
            let rows = q.query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

/// Marks upload `id` finished as `entry`, in the transaction `tx` that
/// adds it; an upload gone (terminated, expired) or finished already
/// refuses the entry.
pub(crate) fn finish_in(tx: &rusqlite::Transaction<'_>, id: &str, entry: &str) -> Result<()> {
    let n = tx.execute(
        "UPDATE resumable_uploads SET entry = ?2, received = length \
         WHERE id = ?1 AND entry IS NULL",
        params![id, entry],
    )?;
    if n == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::now_ms;

    fn upload(id: &str) -> ResumableRow {
        ResumableRow {
            id: id.into(),
            parent: "root".into(),
            name: "a.bin".into(),
            length: 10,
            received: 0,
            metadata: BTreeMap::from([("k".into(), "v".into())]),
            on_conflict: OnConflict::Rename,
            entry: None,
            created: now_ms(),
            expires: now_ms() + 1000,
        }
    }

    #[test]
    fn received_moves_only_within_the_length_of_a_live_upload() {
        let cat = Catalog::open_in_memory().unwrap();
        cat.begin_resumable(&upload("u1")).unwrap();
        assert_eq!(cat.resumable("u1").unwrap(), upload("u1"));
        cat.resumable_received("u1", 4, 5).unwrap();
        let got = cat.resumable("u1").unwrap();
        assert_eq!((got.received, got.expires), (4, 5));
        assert!(cat.resumable_received("u1", 11, 5).is_err());
        assert!(matches!(
            cat.resumable_received("nope", 1, 5),
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(cat.resumables(6).unwrap(), vec![("u1".to_owned(), true)]);
        assert!(cat.end_resumable("u1").unwrap());
        assert!(!cat.end_resumable("u1").unwrap());
        assert!(matches!(
            cat.resumable("u1"),
            Err(StoreError::NotFound { .. })
        ));
    }
}
