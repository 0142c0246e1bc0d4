//! What the catalog's backup needs from the catalog (migration 24): a
//! count of the changes that matter to a recovered node (kept by
//! triggers), the last backup made, and a consistent copy of the whole
//! catalog without what only this run of the node needs (jobs, sessions).

use std::path::Path;

use cairn_core::BlobId;
use rusqlite::{OptionalExtension, params};

use crate::StoreError;
use crate::catalog::{Catalog, now_ms};

type Result<T> = std::result::Result<T, StoreError>;

/// The pin of the last backup's blob, and of the one before it.
pub const PIN: &str = "catalog-backup";
/// The pin of the backup before the last.
pub const PIN_BEFORE: &str = "catalog-backup~";

/// Where the backups stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupState {
    /// Changes counted so far.
    pub changes: i64,
    /// The changes the last backup holds.
    pub backed: i64,
    /// The last backup's version (0: none yet).
    pub version: i64,
    /// The last backup's blob.
    pub blob: Option<BlobId>,
    /// When it was made, Unix milliseconds.
    pub at: i64,
}

impl Catalog {
    /// Where the backups stand.
    pub fn backup_state(&self) -> Result<BackupState> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT changes, backed, version, blob, at FROM backup_state",
                [],
                |r| {
                    let blob: Option<Vec<u8>> = r.get(3)?;
                    Ok(BackupState {
                        changes: r.get(0)?,
                        backed: r.get(1)?,
                        version: r.get(2)?,
                        blob: blob.and_then(|b| <[u8; 32]>::try_from(b).ok().map(BlobId)),
                        at: r.get(4)?,
                    })
                },
            )?)
        })
    }

    /// Notes that backup `version`, blob `blob`, holds the changes up to
    /// `changes`.
    pub fn backed_up(&self, changes: i64, version: i64, blob: &BlobId) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE backup_state SET backed = ?1, version = ?2, blob = ?3, at = ?4",
                params![changes, version, &blob.0[..], now_ms()],
            )?;
            Ok(())
        })
    }

    /// Writes a consistent copy of the catalog to `to` (which must not
    /// exist), without jobs and sessions; answers the changes it holds.
    pub fn snapshot(&self, to: &Path) -> Result<i64> {
        let target = to
            .to_str()
            .ok_or_else(|| StoreError::Conflict(format!("{} is not UTF-8", to.display())))?;
        self.read(|c| {
            c.execute("VACUUM INTO ?1", [target])?;
            Ok(())
        })?;
        // The copy is one consistent moment: its own count says which.
        let copy = rusqlite::Connection::open(to)?;
        let changes = copy.query_row("SELECT changes FROM backup_state", [], |r| r.get(0))?;
        copy.execute_batch("DELETE FROM jobs; DELETE FROM sessions;")?;
        drop(copy);
        Ok(changes)
    }

    /// The version of the last backup, if one was made.
    pub fn last_backup(&self) -> Result<Option<(i64, BlobId)>> {
        let state = self.backup_state()?;
        Ok(state.blob.map(|b| (state.version, b)))
    }

    /// Whether the catalog holds no entry at all (a new node's).
    pub fn is_empty(&self) -> Result<bool> {
        self.read(|c| {
            Ok(c.query_row("SELECT 1 FROM entries LIMIT 1", [], |_| Ok(()))
                .optional()?
                .is_none())
        })
    }
}

/// Checks that the file at `path` is a whole SQLite catalog (SQLite's
/// quick check, and the tables a catalog has).
pub fn check_copy(path: &Path) -> Result<()> {
    let c =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let ok: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if ok != "ok" {
        return Err(StoreError::Conflict(format!("the copy is damaged: {ok}")));
    }
    c.query_row("SELECT count(*) FROM entries", [], |r| r.get::<_, i64>(0))?;
    c.query_row("SELECT version FROM backup_state", [], |r| {
        r.get::<_, i64>(0)
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shares::NewBlob;

    #[test]
    fn changes_that_matter_are_counted_and_the_backup_s_own_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("c.db")).unwrap();
        let start = cat.backup_state().unwrap();
        assert_eq!(
            (start.changes, start.version, start.blob),
            (0, 0, None),
            "a new catalog has nothing to back up"
        );
        assert!(cat.is_empty().unwrap());
        let folder = cat.ensure_folder(None, "docs").unwrap().0;
        let after_folder = cat.backup_state().unwrap().changes;
        assert!(after_folder > start.changes);
        assert!(!cat.is_empty().unwrap());

        // The backup's own blob and its placement count for nothing.
        let id = BlobId::of(b"backup");
        cat.pin_blob(
            PIN,
            Some(PIN_BEFORE),
            NewBlob {
                id,
                size: 6,
                manifest: b"m",
            },
            || Ok(()),
            |_| {},
        )
        .unwrap();
        cat.save_placement(&id, b"placement").unwrap();
        assert_eq!(cat.backup_state().unwrap().changes, after_folder);
        cat.backed_up(after_folder, 7, &id).unwrap();
        assert_eq!(cat.last_backup().unwrap(), Some((7, id)));

        // A copy holds the catalog, without jobs or sessions.
        let copy = dir.path().join("copy.db");
        assert_eq!(cat.snapshot(&copy).unwrap(), after_folder);
        let restored = Catalog::open(&copy).unwrap();
        assert_eq!(restored.entry(&folder.id).unwrap().name, "docs");
        assert_eq!(restored.pinned(PIN).unwrap(), Some(id));
        assert!(cat.snapshot(&copy).is_err(), "never over a file");
        check_copy(&copy).unwrap();
        let cut = dir.path().join("cut.db");
        let bytes = std::fs::read(&copy).unwrap();
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        assert!(check_copy(&cut).is_err(), "a cut copy");
        std::fs::write(&cut, b"not a database at all").unwrap();
        assert!(check_copy(&cut).is_err());
    }
}
