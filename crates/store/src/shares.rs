//! Shares and pins (migration 23).
//!
//! A pin keeps a blob no entry names (a share's published index, a file
//! added to another identity's share) under a name of its own: the blob
//! goes when its last pin and entry go, in the transaction that drops
//! them. A share is a random id, its owner ('' this node, else the peer
//! id that granted it), a label, a symmetric key, and, for an own share,
//! the folder it shows, the version and digest of the index last
//! published and the peers it is granted to. Each change is one
//! statement or one transaction: a kill leaves a share as it was or as
//! it became.

use cairn_core::BlobId;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::StoreError;
use crate::catalog::{Catalog, add_blob, drop_if_orphan, now_ms};

type Result<T> = std::result::Result<T, StoreError>;

/// A blob to pin, as sealed.
#[derive(Debug, Clone, Copy)]
pub struct NewBlob<'a> {
    /// Its id.
    pub id: BlobId,
    /// Its plaintext size.
    pub size: u64,
    /// Its encoded manifest.
    pub manifest: &'a [u8],
}

/// What a pin did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    /// The blob was not in the catalog before.
    pub new_blob: bool,
    /// The blob the pin named before, now named by nothing and dropped.
    pub orphan: Option<BlobId>,
}

/// One share as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRow {
    /// Its id (32 hex digits).
    pub id: String,
    /// '' this node, else the peer id of the identity that granted it.
    pub owner: String,
    /// What people call it.
    pub label: String,
    /// The folder it shows (an own share).
    pub folder: Option<String>,
    /// Its key.
    pub key: [u8; 32],
    /// The version of its index last published (own) or read (granted).
    pub version: i64,
    /// The digest of the index last published.
    pub digest: Option<String>,
    /// `open`, or `closed` (a granted share the owner deleted).
    pub state: String,
    /// When it was made or granted here, Unix milliseconds.
    pub created: i64,
    /// The peers it is granted to (an own share), in the order granted.
    pub members: Vec<String>,
}

const COLUMNS: &str = "id, owner, label, folder, key, version, digest, state, created";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ShareRow> {
    let key: Vec<u8> = r.get(4)?;
    Ok(ShareRow {
        id: r.get(0)?,
        owner: r.get(1)?,
        label: r.get(2)?,
        folder: r.get(3)?,
        key: key.try_into().unwrap_or([0; 32]),
        version: r.get(5)?,
        digest: r.get(6)?,
        state: r.get(7)?,
        created: r.get(8)?,
        members: Vec::new(),
    })
}

fn members(c: &rusqlite::Connection, share: &str) -> Result<Vec<String>> {
    let mut q =
        c.prepare_cached("SELECT peer FROM share_members WHERE share = ?1 ORDER BY added, peer")?;
    let rows = q.query_map([share], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        what: "share",
        id: id.chars().take(80).collect(),
    }
}

/// Pins the blob `raw` under `name` (in the caller's transaction);
/// answers the blob the name pinned before.
pub(crate) fn repin(c: &rusqlite::Connection, name: &str, raw: &[u8]) -> Result<Option<Vec<u8>>> {
    let old: Option<Vec<u8>> = c
        .query_row("SELECT blob FROM pins WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?;
    c.execute(
        "INSERT INTO pins (name, blob) VALUES (?1, ?2) \
         ON CONFLICT (name) DO UPDATE SET blob = excluded.blob",
        params![name, raw],
    )?;
    Ok(old)
}

impl Catalog {
    /// Pins `blob` under `name` (adding the blob when new), replacing what
    /// the name pinned before, which moves to pin `previous` when given
    /// (replacing what that pinned); `commit_blob` runs before the commit
    /// for a new blob, `remove_blob` after it for the one left unnamed.
    pub fn pin_blob(
        &self,
        name: &str,
        previous: Option<&str>,
        blob: NewBlob<'_>,
        commit_blob: impl FnOnce() -> Result<()>,
        remove_blob: impl Fn(&BlobId),
    ) -> Result<Pinned> {
        let outcome = self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let new_blob = add_blob(&tx, &blob.id, blob.size, blob.manifest)?;
            let old = repin(&tx, name, &blob.id.0)?;
            let dropped = match (old, previous) {
                (Some(old), _) if old[..] == blob.id.0[..] => None,
                (Some(old), Some(previous)) => repin(&tx, previous, &old)?,
                (old, _) => old,
            };
            let orphan = match dropped {
                Some(raw) => drop_if_orphan(&tx, &raw)?,
                None => None,
            };
            if new_blob {
                commit_blob()?;
            }
            tx.commit()?;
            Ok(Pinned { new_blob, orphan })
        })?;
        if let Some(orphan) = &outcome.orphan {
            remove_blob(orphan);
        }
        Ok(outcome)
    }

    /// The blob pinned under `name`.
    pub fn pinned(&self, name: &str) -> Result<Option<BlobId>> {
        self.read(|c| {
            let raw: Option<Vec<u8>> = c
                .query_row("SELECT blob FROM pins WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()?;
            Ok(raw.and_then(|r| <[u8; 32]>::try_from(r).ok().map(BlobId)))
        })
    }

    /// Drops the pins whose names start with `prefix`, and the blobs left
    /// unnamed (handed to `remove_blob` after the commit).
    pub fn unpin(&self, prefix: &str, remove_blob: impl Fn(&BlobId)) -> Result<Vec<BlobId>> {
        let orphans = self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let blobs: Vec<Vec<u8>> = {
                let mut q =
                    tx.prepare("SELECT blob FROM pins WHERE substr(name, 1, length(?1)) = ?1")?;
                let rows = q.query_map([prefix], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            tx.execute(
                "DELETE FROM pins WHERE substr(name, 1, length(?1)) = ?1",
                [prefix],
            )?;
            let mut orphans = Vec::new();
            for raw in blobs {
                if let Some(id) = drop_if_orphan(&tx, &raw)? {
                    orphans.push(id);
                }
            }
            tx.commit()?;
            Ok(orphans)
        })?;
        orphans.iter().for_each(remove_blob);
        Ok(orphans)
    }

    /// Keeps a share made here, or one granted by `share.owner`: a grant
    /// of one already kept from that owner brings its new label and key.
    /// `Conflict` if the id is another owner's.
    pub fn keep_share(&self, share: &ShareRow) -> Result<ShareRow> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let owner: Option<String> = tx
                .query_row("SELECT owner FROM shares WHERE id = ?1", [&share.id], |r| {
                    r.get(0)
                })
                .optional()?;
            match owner {
                Some(o) if o != share.owner => {
                    return Err(StoreError::Conflict(format!(
                        "share {} is another identity's",
                        share.id
                    )));
                }
                Some(_) => {
                    tx.execute(
                        "UPDATE shares SET label = ?2, key = ?3, state = 'open' WHERE id = ?1",
                        params![share.id, share.label, &share.key[..]],
                    )?;
                }
                None => {
                    tx.execute(
                        &format!(
                            "INSERT INTO shares ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                        ),
                        params![
                            share.id,
                            share.owner,
                            share.label,
                            share.folder,
                            &share.key[..],
                            share.version,
                            share.digest,
                            share.state,
                            now_ms()
                        ],
                    )?;
                }
            }
            let kept = tx.query_row(
                &format!("SELECT {COLUMNS} FROM shares WHERE id = ?1"),
                [&share.id],
                row,
            )?;
            tx.commit()?;
            Ok(kept)
        })
    }

    /// Share `id`, with its members.
    pub fn share(&self, id: &str) -> Result<Option<ShareRow>> {
        self.read(|c| {
            let found = c
                .query_row(
                    &format!("SELECT {COLUMNS} FROM shares WHERE id = ?1"),
                    [id],
                    row,
                )
                .optional()?;
            match found {
                Some(mut s) => {
                    s.members = members(c, &s.id)?;
                    Ok(Some(s))
                }
                None => Ok(None),
            }
        })
    }

    /// Every share, own first, then by when it came.
    pub fn shares(&self) -> Result<Vec<ShareRow>> {
        self.read(|c| {
            let mut q = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM shares ORDER BY owner <> '', created, id"
            ))?;
            let mut rows = q
                .query_map([], row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for s in &mut rows {
                s.members = members(c, &s.id)?;
            }
            Ok(rows)
        })
    }

    /// Notes that version `version` of share `id`'s index, of `digest`,
    /// is published (own) or read (granted).
    pub fn share_published(&self, id: &str, version: i64, digest: Option<&str>) -> Result<()> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE shares SET version = ?2, digest = coalesce(?3, digest) WHERE id = ?1",
                params![id, version, digest],
            )?;
            if n == 0 {
                return Err(not_found(id));
            }
            Ok(())
        })
    }

    /// Gives share `id` a new key, and forgets the digest last published
    /// (its index goes out again, under the new key).
    pub fn set_share_key(&self, id: &str, key: &[u8; 32]) -> Result<()> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE shares SET key = ?2, digest = NULL WHERE id = ?1",
                params![id, &key[..]],
            )?;
            if n == 0 {
                return Err(not_found(id));
            }
            Ok(())
        })
    }

    /// Marks share `id` closed (its owner deleted it).
    pub fn close_share(&self, id: &str) -> Result<()> {
        self.with(|c| {
            c.execute("UPDATE shares SET state = 'closed' WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    /// Adds `peer` to share `id`'s members (not yet handed its key);
    /// whether it was not one.
    pub fn add_share_member(&self, id: &str, peer: &str) -> Result<bool> {
        self.with(|c| {
            Ok(c.execute(
                "INSERT INTO share_members (share, peer, added) VALUES (?1, ?2, ?3) \
                 ON CONFLICT DO NOTHING",
                params![id, peer, now_ms()],
            )? > 0)
        })
    }

    /// Notes that member `peer` of share `id` took key `key`.
    pub fn share_key_granted(&self, id: &str, peer: &str, key: &[u8; 32]) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE share_members SET granted_key = ?3 WHERE share = ?1 AND peer = ?2",
                params![id, peer, &key[..]],
            )?;
            Ok(())
        })
    }

    /// The members of own shares that were not handed their share's
    /// current key: (share, peer), at most `limit`.
    pub fn share_grants_pending(&self, limit: u32) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut q = c.prepare_cached(
                "SELECT m.share, m.peer FROM share_members m JOIN shares s ON s.id = m.share \
                 WHERE s.owner = '' AND (m.granted_key IS NULL OR m.granted_key <> s.key) \
                 ORDER BY m.added LIMIT ?1",
            )?;
            let rows = q.query_map([limit], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Takes `peer` out of share `id`'s members and gives the share `key`
    /// in the same transaction (a kill never leaves a revoked member
    /// holding the current key); whether it was a member.
    pub fn revoke_share_member(&self, id: &str, peer: &str, key: &[u8; 32]) -> Result<bool> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let was = tx.execute(
                "DELETE FROM share_members WHERE share = ?1 AND peer = ?2",
                params![id, peer],
            )? > 0;
            if was {
                tx.execute(
                    "UPDATE shares SET key = ?2, digest = NULL WHERE id = ?1",
                    params![id, &key[..]],
                )?;
            }
            tx.commit()?;
            Ok(was)
        })
    }

    /// Forgets share `id` and its members; whether there was one.
    pub fn remove_share(&self, id: &str) -> Result<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM shares WHERE id = ?1", [id])? > 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(id: &str, owner: &str) -> ShareRow {
        ShareRow {
            id: id.into(),
            owner: owner.into(),
            label: "photos".into(),
            folder: None,
            key: [7; 32],
            version: 0,
            digest: None,
            state: "open".into(),
            created: 0,
            members: vec![],
        }
    }

    #[test]
    fn a_pinned_blob_stays_until_its_last_pin_and_entry_go() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("c.db")).unwrap();
        let (a, b) = (BlobId::of(b"a"), BlobId::of(b"b"));
        let blob = |id| NewBlob {
            id,
            size: 1,
            manifest: b"m",
        };
        let removed = std::cell::RefCell::new(Vec::new());
        let pinned = cat
            .pin_blob(
                "share:1",
                None,
                blob(a),
                || Ok(()),
                |id| removed.borrow_mut().push(*id),
            )
            .unwrap();
        assert_eq!(
            pinned,
            Pinned {
                new_blob: true,
                orphan: None
            }
        );
        cat.pin_blob("share:2", None, blob(a), || Ok(()), |_| {})
            .unwrap();
        assert_eq!(cat.pinned("share:1").unwrap(), Some(a));
        // Replaced under one name: still pinned under the other.
        let again = cat
            .pin_blob(
                "share:1",
                None,
                blob(b),
                || Ok(()),
                |id| removed.borrow_mut().push(*id),
            )
            .unwrap();
        assert_eq!(again.orphan, None);
        assert_eq!(
            cat.unpin("share:2", |id| removed.borrow_mut().push(*id))
                .unwrap(),
            vec![a]
        );
        assert_eq!(*removed.borrow(), vec![a]);
        // A failed commit leaves nothing.
        let failed = cat.pin_blob(
            "share:3",
            None,
            blob(BlobId::of(b"c")),
            || Err(StoreError::Conflict("disk".into())),
            |_| {},
        );
        assert!(failed.is_err());
        assert_eq!(cat.pinned("share:3").unwrap(), None);
        assert_eq!(cat.unpin("share:", |_| {}).unwrap(), vec![b]);

        // Kept as the previous one: the blob before that goes.
        let c = BlobId::of(b"c");
        let gone = std::cell::RefCell::new(Vec::new());
        for id in [a, b, c] {
            cat.pin_blob(
                "s",
                Some("s~"),
                blob(id),
                || Ok(()),
                |o| gone.borrow_mut().push(*o),
            )
            .unwrap();
        }
        assert_eq!(
            (cat.pinned("s").unwrap(), cat.pinned("s~").unwrap()),
            (Some(c), Some(b))
        );
        assert_eq!(*gone.borrow(), vec![a]);
    }

    #[test]
    fn shares_keep_their_owner_members_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("c.db")).unwrap();
        cat.keep_share(&share("s1", "")).unwrap();
        cat.keep_share(&share("s2", "peerA")).unwrap();
        assert!(
            cat.keep_share(&share("s2", "peerB")).is_err(),
            "an id is one owner's"
        );
        let mut regrant = share("s2", "peerA");
        regrant.key = [9; 32];
        assert_eq!(cat.keep_share(&regrant).unwrap().key, [9; 32]);
        assert!(cat.add_share_member("s1", "bob").unwrap());
        assert!(!cat.add_share_member("s1", "bob").unwrap());
        cat.add_share_member("s1", "carol").unwrap();
        let pending = |cat: &Catalog| cat.share_grants_pending(10).unwrap();
        assert_eq!(pending(&cat).len(), 2);
        cat.share_key_granted("s1", "bob", &[7; 32]).unwrap();
        cat.share_key_granted("s1", "carol", &[7; 32]).unwrap();
        assert!(pending(&cat).is_empty());
        cat.share_published("s1", 3, Some("d")).unwrap();
        assert!(cat.revoke_share_member("s1", "bob", &[1; 32]).unwrap());
        assert_eq!(
            pending(&cat),
            [("s1".to_owned(), "carol".to_owned())],
            "a new key goes to the members left"
        );
        let s1 = cat.share("s1").unwrap().unwrap();
        assert_eq!(
            (s1.members, s1.key, s1.version, s1.digest),
            (vec!["carol".to_owned()], [1; 32], 3, None)
        );
        let all = cat.shares().unwrap();
        assert_eq!(
            all.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["s1", "s2"]
        );
        assert!(cat.remove_share("s1").unwrap());
        assert!(cat.share("s1").unwrap().is_none());
        assert!(cat.share_published("s1", 4, None).is_err());
    }
}
