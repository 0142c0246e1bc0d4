//! This node's suppliers (by position) and the placements of its blobs.
//!
//! A placement row is written only after every shard it names is sealed on
//! its supplier; it goes with its blob (ON DELETE CASCADE), and a trigger
//! then queues it in `unplaced`: the suppliers are owed a deletion of its
//! shards until they have all done it (or the blob is placed again).
//!
//! Beside each placement, `placement_shards` keeps the bytes of each of its
//! shard files and who holds it, written in the same transaction and gone
//! with it; triggers keep their sum per supplier in `held_by_suppliers`,
//! which the admission policy reads on every stranger's request past its
//! quota, so it is one row away.

use cairn_core::placement::{Placement, shard_file_len};
use rusqlite::{Connection, OptionalExtension, params};

use crate::StoreError;
use crate::catalog::{Catalog, now_ms};

type Result<T> = std::result::Result<T, StoreError>;

/// Failed attempts after which a shard deletion owed to suppliers is given
/// up: two weeks of audit rounds at the default ten minutes.
pub const UNPLACE_TRIES: i64 = 2016;

/// An audit challenge: every supplier of a placed blob is asked for the
/// BLAKE3 hash keyed by `nonce` of its piece of `segment`, and must give
/// the first 16 bytes its position has in `expected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The segment whose pieces are hashed.
    pub segment: u64,
    /// A random key, secret until used.
    pub nonce: [u8; 32],
    /// 16 bytes per position, in position order.
    pub expected: Vec<u8>,
}

impl Catalog {
    /// The suppliers by position.
    pub fn suppliers(&self) -> Result<Vec<(u8, String)>> {
        self.read(|c| {
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
            note_shards(&tx, &blob.0, record)?;
            tx.execute("DELETE FROM unplaced WHERE blob = ?1", [&blob.0[..]])?;
            // Challenges were made for the placement being replaced (its
            // coding may differ).
            tx.execute(
                "DELETE FROM audit_challenges WHERE blob = ?1",
                [&blob.0[..]],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Bytes supplier `peer` holds for this node: the shard files of our
    /// placements on it.
    pub fn held_by(&self, peer: &str) -> Result<u64> {
        self.read(|c| {
            let bytes: Option<i64> = c
                .query_row(
                    "SELECT bytes FROM held_by_suppliers WHERE peer = ?1",
                    [peer],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(bytes.map_or(0, |b| b.max(0) as u64))
        })
    }

    /// Every supplier holding shards for this node, and their bytes.
    pub fn held_by_suppliers(&self) -> Result<Vec<(String, u64)>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT peer, bytes FROM held_by_suppliers WHERE bytes > 0 ORDER BY peer",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Adds audit challenges of blob `blob`.
    pub fn add_challenges(
        &self,
        blob: &cairn_core::BlobId,
        challenges: &[Challenge],
    ) -> Result<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            let next: i64 = tx.query_row(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM audit_challenges WHERE blob = ?1",
                [&blob.0[..]],
                |r| r.get(0),
            )?;
            for (i, ch) in challenges.iter().enumerate() {
                tx.execute(
                    "INSERT INTO audit_challenges (blob, seq, segment, nonce, expected) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        &blob.0[..],
                        next + i as i64,
                        ch.segment as i64,
                        &ch.nonce[..],
                        &ch.expected
                    ],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Takes (removes and answers) the oldest audit challenge of blob
    /// `blob`: each is used once.
    pub fn take_challenge(&self, blob: &cairn_core::BlobId) -> Result<Option<Challenge>> {
        self.with(|c| {
            let tx = c.transaction()?;
            let row: Option<(i64, i64, Vec<u8>, Vec<u8>)> = tx
                .query_row(
                    "SELECT seq, segment, nonce, expected FROM audit_challenges \
                     WHERE blob = ?1 ORDER BY seq LIMIT 1",
                    [&blob.0[..]],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let Some((seq, segment, nonce, expected)) = row else {
                return Ok(None);
            };
            tx.execute(
                "DELETE FROM audit_challenges WHERE blob = ?1 AND seq = ?2",
                params![&blob.0[..], seq],
            )?;
            tx.commit()?;
            let nonce: [u8; 32] = nonce
                .try_into()
                .map_err(|_| StoreError::Corrupt("an audit nonce is not 32 bytes".into()))?;
            Ok(Some(Challenge {
                segment: segment as u64,
                nonce,
                expected,
            }))
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
    /// or one more attempt failed. After [`UNPLACE_TRIES`] failed ones the
    /// deletion is given up (the supplier is gone for good, or keeps what
    /// it holds until it rejects us).
    pub fn unplaced_attempt(&self, blob: &cairn_core::BlobId, done: bool) -> Result<()> {
        self.with(|c| {
            if done {
                c.execute("DELETE FROM unplaced WHERE blob = ?1", [&blob.0[..]])?;
            } else {
                c.execute(
                    "UPDATE unplaced SET tries = tries + 1 WHERE blob = ?1",
                    [&blob.0[..]],
                )?;
                c.execute(
                    "DELETE FROM unplaced WHERE blob = ?1 AND tries >= ?2",
                    params![&blob.0[..], UNPLACE_TRIES],
                )?;
            }
            Ok(())
        })
    }

    /// Up to `limit` blobs without a placement, oldest first: stored while
    /// the node had too few peers, or whose placement a failure or a crash
    /// cut short.
    pub fn blobs_not_placed(&self, limit: usize) -> Result<Vec<cairn_core::BlobId>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id FROM blobs WHERE id NOT IN (SELECT blob FROM placements) \
                 ORDER BY created, id LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit as i64], |r| r.get::<_, Vec<u8>>(0))?;
            let mut out = Vec::new();
            for raw in rows {
                if let Ok(id) = <[u8; 32]>::try_from(raw?.as_slice()) {
                    out.push(cairn_core::BlobId(id));
                }
            }
            Ok(out)
        })
    }

    /// The placement of blob `blob`, if it was placed.
    pub fn placement(&self, blob: &cairn_core::BlobId) -> Result<Option<Vec<u8>>> {
        self.read(|c| {
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
        self.read(|c| {
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

/// Records what each supplier of blob `blob`'s placement `record` holds:
/// the length of its shard file, from the blob's size. A placement that
/// does not decode (none is saved so) names nobody.
fn note_shards(c: &Connection, blob: &[u8; 32], record: &[u8]) -> Result<()> {
    c.execute("DELETE FROM placement_shards WHERE blob = ?1", [&blob[..]])?;
    let Ok(placement) = Placement::decode(record) else {
        return Ok(());
    };
    let size: Option<i64> = c
        .query_row("SELECT size FROM blobs WHERE id = ?1", [&blob[..]], |r| {
            r.get(0)
        })
        .optional()?;
    let bytes = shard_file_len(placement.coding, size.unwrap_or(0).max(0) as u64);
    for (position, peer) in placement.suppliers.iter().enumerate() {
        c.execute(
            "INSERT INTO placement_shards (blob, position, peer, bytes) VALUES (?1, ?2, ?3, ?4)",
            params![&blob[..], position as i64, peer, bytes as i64],
        )?;
    }
    Ok(())
}

/// Fills `placement_shards` for placements saved before it existed
/// (schema 10): once, when it is empty and placements are not.
pub(crate) fn fill_placement_shards(c: &mut Connection) -> Result<()> {
    let empty: bool = c.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM placement_shards) \
         AND EXISTS (SELECT 1 FROM placements)",
        [],
        |r| r.get(0),
    )?;
    if !empty {
        return Ok(());
    }
    let tx = c.transaction()?;
    let rows: Vec<(Vec<u8>, Vec<u8>)> = {
        let mut stmt = tx.prepare("SELECT blob, record FROM placements")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (blob, record) in rows {
        if let Ok(blob) = <[u8; 32]>::try_from(blob.as_slice()) {
            note_shards(&tx, &blob, &record)?;
        }
    }
    tx.commit()?;
    Ok(())
}
