//! People (migration 21): the identities this node has seen on the
//! network, each a peer id and the nickname it goes by (from signed DHT
//! records, so a nickname here is the one that peer claims), and the
//! friends the operator keeps, each a peer id and what they call it.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::StoreError;
use crate::catalog::{Catalog, now_ms};

type Result<T> = std::result::Result<T, StoreError>;

/// An identity seen on the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Seen {
    /// Its peer id.
    pub peer: String,
    /// The nickname it goes by, when known.
    pub nickname: Option<String>,
    /// When first seen, Unix milliseconds.
    pub first_seen: i64,
    /// When last seen.
    pub last_seen: i64,
}

/// A friend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Friend {
    /// Their peer id.
    pub peer: String,
    /// What the operator calls them.
    pub alias: String,
    /// The nickname they go by, when known.
    pub nickname: Option<String>,
    /// When added, Unix milliseconds.
    pub added: i64,
}

impl Catalog {
    /// Notes that `peer` was seen, going by `nickname` (a nickname once
    /// known stays until another replaces it).
    pub fn seen(&self, peer: &str, nickname: Option<&str>) -> Result<()> {
        let now = now_ms();
        self.with(|c| {
            c.execute(
                "INSERT INTO identities (peer, nickname, first_seen, last_seen) \
                 VALUES (?1, ?2, ?3, ?3) ON CONFLICT (peer) DO UPDATE SET \
                 nickname = coalesce(excluded.nickname, nickname), last_seen = excluded.last_seen",
                params![peer, nickname, now],
            )?;
            Ok(())
        })
    }

    /// The nickname peer `peer` was last seen going by, if any.
    pub fn nickname_of(&self, peer: &str) -> Result<Option<String>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT nickname FROM identities WHERE peer = ?1",
                [peer],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
        })
    }

    /// The identities seen, by nickname (those without one last), then
    /// peer id.
    pub fn identities_seen(&self, limit: u32) -> Result<Vec<Seen>> {
        self.read(|c| {
            let mut q = c.prepare_cached(
                "SELECT peer, nickname, first_seen, last_seen FROM identities \
                 ORDER BY nickname IS NULL, nickname, peer LIMIT ?1",
            )?;
            let rows = q.query_map([limit], |r| {
                Ok(Seen {
                    peer: r.get(0)?,
                    nickname: r.get(1)?,
                    first_seen: r.get(2)?,
                    last_seen: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Keeps `peer` as a friend called `alias` (a friend already kept is
    /// renamed); `Conflict` if another friend is called that.
    pub fn add_friend(&self, peer: &str, alias: &str) -> Result<Friend> {
        let added = now_ms();
        self.with(|c| {
            let tx = c.transaction()?;
            let other: Option<String> = tx
                .query_row(
                    "SELECT peer FROM friends WHERE alias = ?1 AND peer <> ?2",
                    params![alias, peer],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(other) = other {
                return Err(StoreError::Conflict(format!(
                    "'{alias}' is already the friend {other}"
                )));
            }
            tx.execute(
                "INSERT INTO friends (peer, alias, added) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (peer) DO UPDATE SET alias = excluded.alias",
                params![peer, alias, added],
            )?;
            let friend = friend_in(&tx, peer)?.ok_or_else(|| StoreError::NotFound {
                what: "friend",
                id: peer.to_owned(),
            })?;
            tx.commit()?;
            Ok(friend)
        })
    }

    /// The friend with peer id or alias `who`.
    pub fn friend(&self, who: &str) -> Result<Option<Friend>> {
        self.read(|c| {
            let peer: Option<String> = c
                .query_row(
                    "SELECT peer FROM friends WHERE peer = ?1 OR alias = ?1",
                    [who],
                    |r| r.get(0),
                )
                .optional()?;
            match peer {
                Some(p) => friend_in(c, &p),
                None => Ok(None),
            }
        })
    }

    /// Every friend, by alias.
    pub fn friends(&self) -> Result<Vec<Friend>> {
        self.read(|c| {
            let mut q = c.prepare_cached(&format!("{FRIEND_SELECT} ORDER BY f.alias"))?;
            let rows = q.query_map([], friend_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Forgets friend `peer`; whether there was one.
    pub fn remove_friend(&self, peer: &str) -> Result<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM friends WHERE peer = ?1", [peer])? > 0))
    }
}

const FRIEND_SELECT: &str = "SELECT f.peer, f.alias, i.nickname, f.added FROM friends f \
     LEFT JOIN identities i ON i.peer = f.peer";

fn friend_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Friend> {
    Ok(Friend {
        peer: r.get(0)?,
        alias: r.get(1)?,
        nickname: r.get(2)?,
        added: r.get(3)?,
    })
}

fn friend_in(c: &rusqlite::Connection, peer: &str) -> Result<Option<Friend>> {
    Ok(c.query_row(
        &format!("{FRIEND_SELECT} WHERE f.peer = ?1"),
        [peer],
        friend_row,
    )
    .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_seen_keep_their_nickname_and_friends_their_alias() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        cat.seen("P1", Some("carol")).unwrap();
        cat.seen("P1", None).unwrap();
        cat.seen("P2", None).unwrap();
        let seen = cat.identities_seen(10).unwrap();
        assert_eq!(
            seen.iter()
                .map(|s| (s.peer.as_str(), s.nickname.as_deref()))
                .collect::<Vec<_>>(),
            vec![("P1", Some("carol")), ("P2", None)]
        );
        assert_eq!(cat.nickname_of("P1").unwrap().as_deref(), Some("carol"));
        assert_eq!(cat.nickname_of("P2").unwrap(), None);
        assert_eq!(cat.nickname_of("P3").unwrap(), None, "never seen");
        let f = cat.add_friend("P1", "Caro").unwrap();
        assert_eq!(f.nickname.as_deref(), Some("carol"));
        assert!(matches!(
            cat.add_friend("P2", "Caro"),
            Err(StoreError::Conflict(_))
        ));
        cat.add_friend("P1", "C").unwrap();
        assert_eq!(cat.friend("C").unwrap().unwrap().peer, "P1");
        assert_eq!(cat.friend("P1").unwrap().unwrap().alias, "C");
        assert_eq!(cat.friends().unwrap().len(), 1);
        assert!(cat.remove_friend("P1").unwrap());
        assert!(!cat.remove_friend("P1").unwrap());
        assert!(cat.friend("C").unwrap().is_none());
    }
}
