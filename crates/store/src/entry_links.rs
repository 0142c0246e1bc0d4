//! Share links of entries (migration 29): a file opened by whoever holds
//! its link, with no account, until the link expires or is revoked.
//!
//! A row names the link (a random id), the entry and when it ends; the
//! link's secret part is a signature of the id that the engine makes and
//! checks, so nothing here opens a file. Revoking deletes the row, and a
//! link of a deleted entry goes with it (a trigger).

use rusqlite::{OptionalExtension, params};

use crate::StoreError;
use crate::catalog::Catalog;

type Result<T> = std::result::Result<T, StoreError>;

/// A share link as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryLinkRow {
    /// Its id.
    pub id: String,
    /// The entry it opens.
    pub entry: String,
    /// When it was made, Unix milliseconds.
    pub created: i64,
    /// When it ends, Unix milliseconds (`None`: when revoked).
    pub expires: Option<i64>,
    /// How many times its content was fetched from the start.
    pub opened: u64,
}

const COLUMNS: &str = "id, entry, created, expires, opened";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EntryLinkRow> {
    Ok(EntryLinkRow {
        id: r.get(0)?,
        entry: r.get(1)?,
        created: r.get(2)?,
        expires: r.get(3)?,
        opened: r.get::<_, i64>(4)?.max(0) as u64,
    })
}

impl Catalog {
    /// Records a share link (its entry must exist).
    pub fn add_entry_link(&self, link: &EntryLinkRow) -> Result<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            let exists = tx
                .query_row("SELECT 1 FROM entries WHERE id = ?1", [&link.entry], |_| {
                    Ok(())
                })
                .optional()?
                .is_some();
            if !exists {
                return Err(StoreError::NotFound {
                    what: "entry",
                    id: link.entry.chars().take(80).collect(),
                });
            }
            tx.execute(
                &format!("INSERT INTO entry_links ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, 0)"),
                params![link.id, link.entry, link.created, link.expires],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Share link `id`, live at `now` (an expired one is as good as gone).
    pub fn entry_link(&self, id: &str, now: i64) -> Result<Option<EntryLinkRow>> {
        self.read(|c| {
            Ok(c.query_row(
                &format!(
                    "SELECT {COLUMNS} FROM entry_links WHERE id = ?1 \
                     AND (expires IS NULL OR expires > ?2)"
                ),
                params![id, now],
                row,
            )
            .optional()?)
        })
    }

    /// The share links of entry `entry`, expired ones too, newest first.
    pub fn entry_links(&self, entry: &str) -> Result<Vec<EntryLinkRow>> {
        self.read(|c| {
            let mut q = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM entry_links WHERE entry = ?1 ORDER BY created DESC, id"
            ))?;
            let rows = q.query_map([entry], row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Counts one opening of share link `id`.
    pub fn entry_link_opened(&self, id: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE entry_links SET opened = opened + 1 WHERE id = ?1",
                [id],
            )?;
            Ok(())
        })
    }

    /// Revokes share link `id`; whether there was one.
    pub fn revoke_entry_link(&self, id: &str) -> Result<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM entry_links WHERE id = ?1", [id])? > 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::now_ms;

    #[test]
    fn links_open_until_they_expire_are_revoked_or_their_entry_goes() {
        let cat = Catalog::open_in_memory().unwrap();
        let folder = cat.create_folder(None, "f").unwrap();
        let link = |id: &str, expires| EntryLinkRow {
            id: id.into(),
            entry: folder.id.clone(),
            created: now_ms(),
            expires,
            opened: 0,
        };
        cat.add_entry_link(&link("forever", None)).unwrap();
        cat.add_entry_link(&link("old", Some(now_ms() - 1)))
            .unwrap();
        cat.add_entry_link(&link("soon", Some(now_ms() + 60_000)))
            .unwrap();
        assert!(cat.entry_link("old", now_ms()).unwrap().is_none());
        assert!(cat.entry_link("soon", now_ms()).unwrap().is_some());
        cat.entry_link_opened("forever").unwrap();
        assert_eq!(
            cat.entry_link("forever", now_ms()).unwrap().unwrap().opened,
            1
        );
        assert_eq!(cat.entry_links(&folder.id).unwrap().len(), 3);
        assert!(cat.revoke_entry_link("soon").unwrap());
        assert!(!cat.revoke_entry_link("soon").unwrap());
        let mut gone = link("x", None);
        gone.entry = "nope".into();
        assert!(matches!(
            cat.add_entry_link(&gone),
            Err(StoreError::NotFound { .. })
        ));
        cat.delete(&folder.id, false, |_| {}).unwrap();
        assert!(
            cat.entry_links(&folder.id).unwrap().is_empty(),
            "they go with the entry"
        );
    }
}
