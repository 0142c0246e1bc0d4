//! Keys the identity holds besides its own Ed25519 one (migration 20):
//! RSA keys by maker and alias, the private part only where this node has
//! it. The engine makes and checks them; this is where they are kept, one
//! row each, written in one statement (a kill leaves a key whole or
//! absent).

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::StoreError;
use crate::catalog::{Catalog, now_ms};

type Result<T> = std::result::Result<T, StoreError>;

/// One key as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    /// Who made it: '' this node, else the peer id of the identity that
    /// shared it.
    pub owner: String,
    /// Its name among its maker's keys.
    pub alias: String,
    /// What people call it.
    pub label: String,
    /// `rsa`.
    pub algorithm: String,
    /// Its size in bits.
    pub size: u32,
    /// The public key, OpenSSH form (`ssh-rsa AAAA…`).
    pub public_key: String,
    /// The private key (PKCS#1 PEM), when this node has it.
    pub private_key: Option<String>,
    /// In use.
    pub active: bool,
    /// A small number of its own on this node, never reused.
    pub local_id: i64,
    /// When it was kept here, Unix milliseconds.
    pub created: i64,
}

/// A new key, as the engine made it.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    /// '' this node, else the identity that shared it.
    pub owner: &'a str,
    /// Its alias.
    pub alias: &'a str,
    /// Its label.
    pub label: &'a str,
    /// `rsa`.
    pub algorithm: &'a str,
    /// Bits.
    pub size: u32,
    /// OpenSSH public key.
    pub public_key: &'a str,
    /// PKCS#1 PEM private key, if any.
    pub private_key: Option<&'a str>,
    /// In use.
    pub active: bool,
}

const COLUMNS: &str =
    "owner, alias, label, algorithm, size, public_key, private_key, active, local_id, created";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok(KeyRow {
        owner: r.get(0)?,
        alias: r.get(1)?,
        label: r.get(2)?,
        algorithm: r.get(3)?,
        size: r.get(4)?,
        public_key: r.get(5)?,
        private_key: r.get(6)?,
        active: r.get(7)?,
        local_id: r.get(8)?,
        created: r.get(9)?,
    })
}

impl Catalog {
    /// Keeps a new key; `Conflict` if its maker already has one of that
    /// alias.
    pub fn add_key(&self, key: &NewKey<'_>) -> Result<KeyRow> {
        let created = now_ms();
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let taken: bool = tx.query_row(
                "SELECT count(*) > 0 FROM keys WHERE owner = ?1 AND alias = ?2",
                params![key.owner, key.alias],
                |r| r.get(0),
            )?;
            if taken {
                return Err(StoreError::Conflict(format!(
                    "key '{}' already exists",
                    key.alias
                )));
            }
            let local_id: i64 = tx.query_row("SELECT next FROM key_numbers", [], |r| r.get(0))?;
            tx.execute("UPDATE key_numbers SET next = next + 1", [])?;
            tx.execute(
                &format!(
                    "INSERT INTO keys ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ),
                params![
                    key.owner,
                    key.alias,
                    key.label,
                    key.algorithm,
                    key.size,
                    key.public_key,
                    key.private_key,
                    key.active,
                    local_id,
                    created
                ],
            )?;
            tx.commit()?;
            Ok(KeyRow {
                owner: key.owner.to_owned(),
                alias: key.alias.to_owned(),
                label: key.label.to_owned(),
                algorithm: key.algorithm.to_owned(),
                size: key.size,
                public_key: key.public_key.to_owned(),
                private_key: key.private_key.map(str::to_owned),
                active: key.active,
                local_id,
                created,
            })
        })
    }

    /// The key `alias` of `owner`.
    pub fn key(&self, owner: &str, alias: &str) -> Result<Option<KeyRow>> {
        self.read(|c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM keys WHERE owner = ?1 AND alias = ?2"),
                params![owner, alias],
                row,
            )
            .optional()?)
        })
    }

    /// Every key, this node's first, then by maker and alias.
    pub fn keys(&self) -> Result<Vec<KeyRow>> {
        self.read(|c| {
            let mut q = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM keys ORDER BY owner <> '', owner, alias"
            ))?;
            let rows = q.query_map([], row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Changes the label of a key; `NotFound` if there is none.
    pub fn set_key_label(&self, owner: &str, alias: &str, label: &str) -> Result<()> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE keys SET label = ?3 WHERE owner = ?1 AND alias = ?2",
                params![owner, alias, label],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound {
                    what: "key",
                    id: alias.chars().take(80).collect(),
                });
            }
            Ok(())
        })
    }

    /// Forgets a key; whether there was one.
    pub fn remove_key(&self, owner: &str, alias: &str) -> Result<bool> {
        self.with(|c| {
            Ok(c.execute(
                "DELETE FROM keys WHERE owner = ?1 AND alias = ?2",
                params![owner, alias],
            )? > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(owner: &'a str, alias: &'a str) -> NewKey<'a> {
        NewKey {
            owner,
            alias,
            label: "a label",
            algorithm: "rsa",
            size: 2048,
            public_key: "ssh-rsa AAAA",
            private_key: Some("-----BEGIN RSA PRIVATE KEY-----"),
            active: true,
        }
    }

    #[test]
    fn keys_are_kept_by_maker_and_alias_and_numbers_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        let a = cat.add_key(&key("", "cats")).unwrap();
        let b = cat.add_key(&key("12D3Koo", "cats")).unwrap();
        assert_ne!(a.local_id, b.local_id);
        assert!(matches!(
            cat.add_key(&key("", "cats")),
            Err(StoreError::Conflict(_))
        ));
        cat.set_key_label("", "cats", "Cats and Dogs").unwrap();
        assert_eq!(cat.key("", "cats").unwrap().unwrap().label, "Cats and Dogs");
        let all = cat.keys().unwrap();
        assert_eq!(
            all.iter().map(|k| k.owner.as_str()).collect::<Vec<_>>(),
            vec!["", "12D3Koo"]
        );
        assert!(cat.remove_key("", "cats").unwrap());
        assert!(!cat.remove_key("", "cats").unwrap());
        assert!(matches!(
            cat.set_key_label("", "cats", "x"),
            Err(StoreError::NotFound { .. })
        ));
        let c = cat.add_key(&key("", "cats")).unwrap();
        assert!(c.local_id > b.local_id, "a number is never given twice");
    }
}
