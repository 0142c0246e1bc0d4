//! This node's suppliers (by position) and the placements of its blobs.
//!
//! A placement row is written only after every shard it names is sealed on
//! its supplier; it goes with its blob (ON DELETE CASCADE), and a trigger
//! then queues it in `unplaced`: the suppliers are owed a deletion of its
//! shards until they have all done it (or the blob is placed again).

use rusqlite::{OptionalExtension, params};

use crate::StoreError;
use crate::catalog::{Catalog, now_ms};

type Result<T> = std::result::Result<T, StoreError>;

impl Catalog {
    /// The suppliers by position.
    pub fn suppliers(&self) -> Result<Vec<(u8, String)>> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT position, peer FROM suppliers ORDER BY position")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u8, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Hires `peer` at `position` (replacing whoever was there).
    pub fn set_supplier(&self, position: u8, peer: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO suppliers (position, peer, hired) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (position) DO UPDATE SET peer = ?2, hired = ?3",
                params![position, peer, now_ms()],
            )?;
            Ok(())
        })
    }

    /// Records (or replaces) the placement of blob `blob`. A blob placed
    /// again is no longer owed a deletion.
    pub fn save_placement(&self, blob: &cairn_core::BlobId, record: &[u8]) -> Result<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO placements (blob, record, created) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (blob) DO UPDATE SET record = ?2",
                params![&blob.0[..], record, now_ms()],
            )?;
            tx.execute("DELETE FROM unplaced WHERE blob = ?1", [&blob.0[..]])?;
            tx.commit()?;
            Ok(())
        })
    }

    /// The placements of blobs that are gone and whose shards some
    /// supplier may still hold, oldest first.
    pub fn unplaced(&self) -> Result<Vec<(cairn_core::BlobId, Vec<u8>)>> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT blob, record FROM unplaced ORDER BY since, blob")?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
                })?
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(rows
                .into_iter()
                .filter_map(|(b, record)| {
                    let id: [u8; 32] = b.try_into().ok()?;
                    Some((cairn_core::BlobId(id), record))
                })
                .collect())
        })
    }

    /// Every supplier of gone blob `blob` has deleted its shard (`done`),
    /// or one more attempt failed.
    pub fn unplaced_attempt(&self, blob: &cairn_core::BlobId, done: bool) -> Result<()> {
        self.with(|c| {
            if done {
                c.execute("DELETE FROM unplaced WHERE blob = ?1", [&blob.0[..]])?;
            } else {
                c.execute(
                    "UPDATE unplaced SET tries = tries + 1 WHERE blob = ?1",
                    [&blob.0[..]],
                )?;
            }
            Ok(())
        })
    }

    /// The placement of blob `blob`, if it was placed.
    pub fn placement(&self, blob: &cairn_core::BlobId) -> Result<Option<Vec<u8>>> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT record FROM placements WHERE blob = ?1",
                [&blob.0[..]],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    /// Every placed blob and its placement.
    pub fn placements(&self) -> Result<Vec<(cairn_core::BlobId, Vec<u8>)>> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT blob, record FROM placements")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get(1)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (raw, record) = row?;
                if let Ok(id) = <[u8; 32]>::try_from(raw.as_slice()) {
                    out.push((cairn_core::BlobId(id), record));
                }
            }
            Ok(out)
        })
    }
}
