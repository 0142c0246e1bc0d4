//! This node's suppliers (by position) and the placements of its blobs.
//!
//! A placement row is written only after every shard it names is sealed on
//! its supplier; it goes with its blob (ON DELETE CASCADE).

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

    /// Records (or replaces) the placement of blob `blob`.
    pub fn save_placement(&self, blob: &cairn_core::BlobId, record: &[u8]) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO placements (blob, record, created) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (blob) DO UPDATE SET record = ?2",
                params![&blob.0[..], record, now_ms()],
            )?;
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

    /// The placements of the blobs entry `id` and everything under it
    /// hold (read before a delete, which drops them with the blobs).
    pub fn placements_under(&self, id: &str) -> Result<Vec<(cairn_core::BlobId, Vec<u8>)>> {
        self.with(|c| {
            let mut out = Vec::new();
            for eid in crate::catalog::subtree_ids(c, id)? {
                let row: Option<(Vec<u8>, Vec<u8>)> = c
                    .query_row(
                        "SELECT p.blob, p.record FROM entries e JOIN placements p ON p.blob = e.blob \
                         WHERE e.id = ?1",
                        [&eid],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                if let Some((raw, record)) = row
                    && let Ok(id) = <[u8; 32]>::try_from(raw.as_slice())
                {
                    out.push((cairn_core::BlobId(id), record));
                }
            }
            Ok(out)
        })
    }

    /// The blob and placement of the file named `name` in `parent`, if it
    /// is placed (read before a replace, which drops them).
    pub fn placement_at(
        &self,
        parent: Option<&str>,
        name: &str,
    ) -> Result<Option<(cairn_core::BlobId, Vec<u8>)>> {
        self.with(|c| {
            let row: Option<(Vec<u8>, Vec<u8>)> = c
                .query_row(
                    "SELECT p.blob, p.record FROM entries e JOIN placements p ON p.blob = e.blob \
                     WHERE e.parent IS ?1 AND e.name = ?2",
                    params![parent, name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            Ok(row.and_then(|(raw, record)| {
                <[u8; 32]>::try_from(raw.as_slice())
                    .ok()
                    .map(|id| (cairn_core::BlobId(id), record))
            }))
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
