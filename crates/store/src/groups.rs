//! Groups (migration 25): each a random id, its creator ('' this node,
//! else the creator's peer id), a label, its current key and that key's
//! epoch, a version that goes up with each change of its members, and
//! whether this node is in it; its members; and the outbox of group
//! messages' sealed copies, one per member until that member takes it.
//! Each change is one statement or one transaction.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::StoreError;
use crate::catalog::{Catalog, now_ms};

type Result<T> = std::result::Result<T, StoreError>;

/// One group as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    /// Its id (32 hex digits).
    pub id: String,
    /// '' this node, else the creator's peer id.
    pub creator: String,
    /// What people call it.
    pub label: String,
    /// Its current key.
    pub key: [u8; 32],
    /// The current key's number (each new key one more).
    pub epoch: i64,
    /// Goes up with each change of members.
    pub version: i64,
    /// `joined`, or `left`.
    pub state: String,
    /// When it was made or joined here, Unix milliseconds.
    pub created: i64,
    /// Its members' peer ids, in the order added (the creator's own node
    /// not among them on the creator).
    pub members: Vec<String>,
}

/// A sealed copy of a group message waiting for a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCopy {
    /// Its number in the outbox.
    pub seq: i64,
    /// The group.
    pub group: String,
    /// The message's id.
    pub message: String,
    /// The member it is for.
    pub peer: String,
    /// The sealed message.
    pub envelope: Vec<u8>,
}

const COLUMNS: &str = "id, creator, label, key, epoch, version, state, created";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<GroupRow> {
    let key: Vec<u8> = r.get(3)?;
    Ok(GroupRow {
        id: r.get(0)?,
        creator: r.get(1)?,
        label: r.get(2)?,
        key: key.try_into().unwrap_or([0; 32]),
        epoch: r.get(4)?,
        version: r.get(5)?,
        state: r.get(6)?,
        created: r.get(7)?,
        members: Vec::new(),
    })
}

fn members(c: &rusqlite::Connection, group: &str) -> Result<Vec<String>> {
    let mut q =
        c.prepare_cached("SELECT peer FROM group_members WHERE grp = ?1 ORDER BY added, peer")?;
    let rows = q.query_map([group], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        what: "group",
        id: id.chars().take(80).collect(),
    }
}

impl Catalog {
    /// Keeps a group made here (`group.members` ignored), or what its
    /// creator handed this node: a newer version replaces the kept one
    /// (key, epoch, label, members), an older or equal one changes
    /// nothing. `Conflict` if the id is another creator's. Answers
    /// whether anything changed.
    pub fn keep_group(&self, group: &GroupRow) -> Result<bool> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let kept: Option<(String, i64, String)> = tx
                .query_row(
                    "SELECT creator, version, state FROM groups WHERE id = ?1",
                    [&group.id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            match kept {
                Some((creator, _, _)) if creator != group.creator => {
                    return Err(StoreError::Conflict(format!(
                        "group {} is another creator's",
                        group.id
                    )));
                }
                Some((_, version, _)) if version >= group.version => return Ok(false),
                Some((_, _, state)) => {
                    tx.execute(
                        "UPDATE groups SET label = ?2, key = ?3, epoch = ?4, version = ?5 WHERE id = ?1",
                        params![group.id, group.label, &group.key[..], group.epoch, group.version],
                    )?;
                    tx.execute("DELETE FROM group_members WHERE grp = ?1", [&group.id])?;
                    let _ = state;
                }
                None => {
                    tx.execute(
                        &format!("INSERT INTO groups ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                        params![
                            group.id,
                            group.creator,
                            group.label,
                            &group.key[..],
                            group.epoch,
                            group.version,
                            group.state,
                            now_ms()
                        ],
                    )?;
                }
            }
            if !group.creator.is_empty() {
                let now = now_ms();
                for (i, peer) in group.members.iter().enumerate() {
                    tx.execute(
                        "INSERT OR IGNORE INTO group_members (grp, peer, added) VALUES (?1, ?2, ?3)",
                        params![group.id, peer, now + i as i64],
                    )?;
                }
            }
            tx.commit()?;
            Ok(true)
        })
    }

    /// Group `id`, with its members.
    pub fn group(&self, id: &str) -> Result<Option<GroupRow>> {
        self.read(|c| {
            let found = c
                .query_row(
                    &format!("SELECT {COLUMNS} FROM groups WHERE id = ?1"),
                    [id],
                    row,
                )
                .optional()?;
            match found {
                Some(mut g) => {
                    g.members = members(c, &g.id)?;
                    Ok(Some(g))
                }
                None => Ok(None),
            }
        })
    }

    /// Every group, own first, then by when it came.
    pub fn groups(&self) -> Result<Vec<GroupRow>> {
        self.read(|c| {
            let mut q = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM groups ORDER BY creator <> '', created, id"
            ))?;
            let mut rows = q
                .query_map([], row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for g in &mut rows {
                g.members = members(c, &g.id)?;
            }
            Ok(rows)
        })
    }

    /// Adds `peer` to own group `id` (a new version); whether it was not
    /// a member.
    pub fn add_group_member(&self, id: &str, peer: &str) -> Result<bool> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let added = tx.execute(
                "INSERT INTO group_members (grp, peer, added) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![id, peer, now_ms()],
            )? > 0;
            if added {
                tx.execute("UPDATE groups SET version = version + 1 WHERE id = ?1", [id])?;
            }
            tx.commit()?;
            Ok(added)
        })
    }

    /// Takes `peer` out of own group `id` and gives the group `key` as a
    /// new epoch in the same transaction (a new version); whether it was
    /// a member. Its waiting copies go with it.
    pub fn remove_group_member(&self, id: &str, peer: &str, key: &[u8; 32]) -> Result<bool> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let was = tx.execute(
                "DELETE FROM group_members WHERE grp = ?1 AND peer = ?2",
                params![id, peer],
            )? > 0;
            if was {
                tx.execute(
                    "UPDATE groups SET key = ?2, epoch = epoch + 1, version = version + 1 WHERE id = ?1",
                    params![id, &key[..]],
                )?;
                tx.execute(
                    "DELETE FROM group_outbox WHERE grp = ?1 AND peer = ?2",
                    params![id, peer],
                )?;
            }
            tx.commit()?;
            Ok(was)
        })
    }

    /// Notes that member `peer` of own group `id` took version `version`.
    pub fn group_granted(&self, id: &str, peer: &str, version: i64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE group_members SET granted = ?3 WHERE grp = ?1 AND peer = ?2",
                params![id, peer, version],
            )?;
            Ok(())
        })
    }

    /// The members of own groups not handed their group's current
    /// version: (group, peer), at most `limit`.
    pub fn group_grants_pending(&self, limit: u32) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut q = c.prepare_cached(
                "SELECT m.grp, m.peer FROM group_members m JOIN groups g ON g.id = m.grp \
                 WHERE g.creator = '' AND g.state = 'joined' \
                 AND (m.granted IS NULL OR m.granted <> g.version) \
                 ORDER BY m.added LIMIT ?1",
            )?;
            let rows = q.query_map([limit], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Marks group `id` left (or joined again).
    pub fn set_group_state(&self, id: &str, state: &str) -> Result<()> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE groups SET state = ?2 WHERE id = ?1",
                params![id, state],
            )?;
            if n == 0 {
                return Err(not_found(id));
            }
            if state != "joined" {
                c.execute("DELETE FROM group_outbox WHERE grp = ?1", [id])?;
            }
            Ok(())
        })
    }

    /// Forgets group `id`, its members and waiting copies; whether there
    /// was one.
    pub fn remove_group(&self, id: &str) -> Result<bool> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM group_outbox WHERE grp = ?1", [id])?;
            let was = tx.execute("DELETE FROM groups WHERE id = ?1", [id])? > 0;
            tx.commit()?;
            Ok(was)
        })
    }

    /// Keeps a group message sent here (`message`, numbered) and its
    /// sealed copy for each of `peers`, in one transaction.
    pub fn add_group_message(
        &self,
        message: &crate::messages::Message,
        peers: &[String],
        envelope: &[u8],
    ) -> Result<crate::messages::Message> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let kept = crate::messages::insert(&tx, message)?.ok_or_else(|| {
                StoreError::Conflict("a new message id was taken".into())
            })?;
            for peer in peers {
                tx.execute(
                    "INSERT OR IGNORE INTO group_outbox (grp, message, peer, envelope) VALUES (?1, ?2, ?3, ?4)",
                    params![message.peer.strip_prefix("group:").unwrap_or(&message.peer), message.id, peer, envelope],
                )?;
            }
            tx.commit()?;
            Ok(kept)
        })
    }

    /// Copies waiting for their members, oldest first, at most `limit`.
    pub fn group_copies(&self, limit: u32) -> Result<Vec<GroupCopy>> {
        self.read(|c| {
            let mut q = c.prepare_cached(
                "SELECT seq, grp, message, peer, envelope FROM group_outbox ORDER BY seq LIMIT ?1",
            )?;
            let rows = q.query_map([limit], |r| {
                Ok(GroupCopy {
                    seq: r.get(0)?,
                    group: r.get(1)?,
                    message: r.get(2)?,
                    peer: r.get(3)?,
                    envelope: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// How many copies wait in the outbox, by group.
    pub fn group_outbox_counts(&self) -> Result<Vec<(String, i64)>> {
        self.read(|c| {
            let mut q = c.prepare_cached(
                "SELECT grp, COUNT(*) FROM group_outbox GROUP BY grp ORDER BY grp",
            )?;
            let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// A copy was taken (`done`), or tried once more.
    pub fn group_copy_tried(&self, seq: i64, done: bool) -> Result<()> {
        self.with(|c| {
            if done {
                c.execute("DELETE FROM group_outbox WHERE seq = ?1", [seq])?;
            } else {
                c.execute(
                    "UPDATE group_outbox SET tries = tries + 1 WHERE seq = ?1",
                    [seq],
                )?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: &str, creator: &str, version: i64, members: &[&str]) -> GroupRow {
        GroupRow {
            id: id.into(),
            creator: creator.into(),
            label: "friends".into(),
            key: [version as u8; 32],
            epoch: version,
            version,
            state: "joined".into(),
            created: 0,
            members: members.iter().map(|m| m.to_string()).collect(),
        }
    }

    #[test]
    fn a_group_changes_only_by_newer_versions_of_its_own_creator() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("c.db")).unwrap();
        assert!(
            cat.keep_group(&group("g1", "alice", 1, &["alice", "bob"]))
                .unwrap()
        );
        assert!(
            !cat.keep_group(&group("g1", "alice", 1, &["alice"]))
                .unwrap()
        );
        assert!(cat.keep_group(&group("g1", "mallory", 5, &[])).is_err());
        assert!(
            cat.keep_group(&group("g1", "alice", 3, &["alice", "carol"]))
                .unwrap()
        );
        let g = cat.group("g1").unwrap().unwrap();
        assert_eq!(
            (g.version, g.key, g.members),
            (3, [3; 32], vec!["alice".to_owned(), "carol".to_owned()])
        );
        assert!(
            !cat.keep_group(&group("g1", "alice", 2, &[])).unwrap(),
            "an older version"
        );
    }

    #[test]
    fn members_grants_and_copies_follow_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("c.db")).unwrap();
        cat.keep_group(&group("g", "", 0, &[])).unwrap();
        assert!(cat.add_group_member("g", "bob").unwrap());
        assert!(!cat.add_group_member("g", "bob").unwrap());
        cat.add_group_member("g", "carol").unwrap();
        assert_eq!(cat.group_grants_pending(10).unwrap().len(), 2);
        let version = cat.group("g").unwrap().unwrap().version;
        assert_eq!(version, 2);
        cat.group_granted("g", "bob", version).unwrap();
        cat.group_granted("g", "carol", version).unwrap();
        assert!(cat.group_grants_pending(10).unwrap().is_empty());

        let message = crate::messages::Message {
            seq: 0,
            id: "m1".into(),
            sender: "me".into(),
            recipient: "group:g".into(),
            peer: "group:g".into(),
            outgoing: true,
            body: "hi".into(),
            sent: 1,
            state: "sent".into(),
        };
        cat.add_group_message(&message, &["bob".into(), "carol".into()], b"sealed")
            .unwrap();
        let copies = cat.group_copies(10).unwrap();
        assert_eq!(copies.len(), 2);
        cat.group_copy_tried(copies[0].seq, true).unwrap();

        // Carol goes: a new key and epoch, her copy with her.
        assert!(cat.remove_group_member("g", "carol", &[9; 32]).unwrap());
        let g = cat.group("g").unwrap().unwrap();
        assert_eq!(
            (g.epoch, g.key, g.members.clone()),
            (1, [9; 32], vec!["bob".to_owned()])
        );
        assert!(cat.group_copies(10).unwrap().is_empty());
        assert_eq!(
            cat.group_grants_pending(10).unwrap(),
            [("g".to_owned(), "bob".to_owned())]
        );
        cat.set_group_state("g", "left").unwrap();
        assert!(cat.group_grants_pending(10).unwrap().is_empty());
        assert!(cat.remove_group("g").unwrap());
        assert!(cat.group("g").unwrap().is_none());
    }
}
