//! Private messages (migration 22), sent and received, numbered in the
//! order this node kept them. A message is named by its sender and the id
//! the sender gave it, so one that arrives twice is kept once.

use rusqlite::params;
use serde::Serialize;

use crate::StoreError;
use crate::catalog::Catalog;

type Result<T> = std::result::Result<T, StoreError>;

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    /// Its number on this node (the order it was kept in).
    pub seq: i64,
    /// The id its sender gave it.
    pub id: String,
    /// The sender's peer id.
    pub sender: String,
    /// The recipient's peer id.
    pub recipient: String,
    /// The other side of the conversation.
    pub peer: String,
    /// Sent by this node.
    pub outgoing: bool,
    /// Its text.
    pub body: String,
    /// When its sender sent it, Unix milliseconds (the sender's clock).
    pub sent: i64,
    /// `queued` (not taken by its recipient yet), `delivered`, or
    /// `received`.
    pub state: String,
}

const COLUMNS: &str = "seq, id, sender, recipient, peer, outgoing, body, sent, state";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        seq: r.get(0)?,
        id: r.get(1)?,
        sender: r.get(2)?,
        recipient: r.get(3)?,
        peer: r.get(4)?,
        outgoing: r.get(5)?,
        body: r.get(6)?,
        sent: r.get(7)?,
        state: r.get(8)?,
    })
}

/// Keeps `m` on `c`; `None` if the same sender's message of that id is
/// kept already.
pub(crate) fn insert(c: &rusqlite::Connection, m: &Message) -> Result<Option<Message>> {
    let n = c.execute(
        "INSERT OR IGNORE INTO messages (id, sender, recipient, peer, outgoing, body, sent, state) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            m.id,
            m.sender,
            m.recipient,
            m.peer,
            m.outgoing,
            m.body,
            m.sent,
            m.state
        ],
    )?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(Message {
        seq: c.last_insert_rowid(),
        ..m.clone()
    }))
}

impl Catalog {
    /// Keeps a message (its `seq` is given here); `None` if the same
    /// sender's message of that id is kept already.
    pub fn add_message(&self, m: &Message) -> Result<Option<Message>> {
        self.with(|c| insert(c, m))
    }

    /// Marks outgoing message `seq` delivered.
    pub fn message_delivered(&self, seq: i64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE messages SET state = 'delivered' WHERE seq = ?1 AND outgoing",
                [seq],
            )?;
            Ok(())
        })
    }

    /// Counts a try at delivering message `seq`.
    pub fn message_tried(&self, seq: i64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE messages SET tries = tries + 1 WHERE seq = ?1",
                [seq],
            )?;
            Ok(())
        })
    }

    /// The oldest messages still queued, at most `limit`.
    pub fn queued_messages(&self, limit: u32) -> Result<Vec<Message>> {
        self.read(|c| {
            let mut q = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM messages WHERE state = 'queued' ORDER BY seq LIMIT ?1"
            ))?;
            let rows = q.query_map([limit], row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// How many messages are still queued, by peer.
    pub fn queued_message_counts(&self) -> Result<Vec<(String, i64)>> {
        self.read(|c| {
            let mut q = c.prepare_cached(
                "SELECT peer, COUNT(*) FROM messages WHERE state = 'queued' GROUP BY peer ORDER BY peer",
            )?;
            let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// By conversation (a peer, or `group:<id>`): messages sent, messages
    /// received, and the last one's number.
    pub fn message_counts(&self) -> Result<Vec<(String, i64, i64, i64)>> {
        self.read(|c| {
            let mut q = c.prepare_cached(
                "SELECT peer, SUM(outgoing), SUM(1 - outgoing), MAX(seq) FROM messages \
                 GROUP BY peer ORDER BY peer",
            )?;
            let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Messages numbered after `after` (with `peer` only, when given),
    /// oldest first, at most `limit`.
    pub fn messages(&self, peer: Option<&str>, after: i64, limit: u32) -> Result<Vec<Message>> {
        self.read(|c| {
            let mut q = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM messages WHERE seq > ?1 AND (?2 IS NULL OR peer = ?2) \
                 ORDER BY seq LIMIT ?3"
            ))?;
            let rows = q.query_map(params![after, peer, limit], row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_kept_once_and_delivered_once() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        let m = Message {
            seq: 0,
            id: "a1".into(),
            sender: "ME".into(),
            recipient: "BOB".into(),
            peer: "BOB".into(),
            outgoing: true,
            body: "hi".into(),
            sent: 1,
            state: "queued".into(),
        };
        let kept = cat.add_message(&m).unwrap().unwrap();
        assert!(cat.add_message(&m).unwrap().is_none(), "kept once");
        let back = Message {
            id: "b1".into(),
            sender: "BOB".into(),
            recipient: "ME".into(),
            outgoing: false,
            state: "received".into(),
            ..m.clone()
        };
        cat.add_message(&back).unwrap().unwrap();
        assert_eq!(cat.queued_messages(10).unwrap(), vec![kept.clone()]);
        cat.message_tried(kept.seq).unwrap();
        cat.message_delivered(kept.seq).unwrap();
        assert!(cat.queued_messages(10).unwrap().is_empty());
        let all = cat.messages(Some("BOB"), 0, 10).unwrap();
        assert_eq!(
            all.iter().map(|m| m.state.as_str()).collect::<Vec<_>>(),
            vec!["delivered", "received"]
        );
        assert_eq!(cat.messages(None, kept.seq, 10).unwrap().len(), 1);
        assert!(cat.messages(Some("CAROL"), 0, 10).unwrap().is_empty());
    }
}
