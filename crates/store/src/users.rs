//! Gateway users: an API login and a hashed key, a home folder whose
//! subtree the user owns, a storage quota and a 24-hour traffic limit; and
//! the purchases of paid files.
//!
//! Invariants, checked by the tests:
//! - a user owns exactly the entries below their home folder (an entry
//!   takes its folder's owner when created, and never moves to another
//!   owner's folder);
//! - storage is checked inside the transaction that adds the file, so
//!   parallel uploads cannot together pass the quota;
//! - traffic is counted and checked in one IMMEDIATE transaction, so
//!   parallel downloads cannot together pass the limit;
//! - a purchase moves the price from buyer to seller and records the
//!   purchase in one transaction: a file is paid for at most once.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::StoreError;
use crate::catalog::{Catalog, now_ms};
use crate::ledger::{Leg, Unit, post_in};

type Result<T> = std::result::Result<T, StoreError>;

/// The top-level folder that holds every user's home.
pub const HOMES: &str = ".users";

/// How long traffic counts against the limit, in milliseconds.
pub const TRAFFIC_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// A gateway user.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// The user's ledger account id.
    pub account: String,
    /// API login.
    pub login: String,
    /// SHA-256 of the API key.
    #[serde(skip)]
    pub key_hash: Vec<u8>,
    /// Contact address (may be empty).
    pub email: String,
    /// The folder the user's files live under.
    pub home: String,
    /// Storage quota in bytes; `None` is unlimited.
    pub storage_limit: Option<u64>,
    /// Traffic allowed in any 24 hours, in bytes; `None` is unlimited.
    pub traffic_limit: Option<u64>,
    /// Sign-up time, Unix milliseconds.
    pub created: i64,
}

/// A user about to be created.
pub struct NewUser<'a> {
    /// API login (unique).
    pub login: &'a str,
    /// SHA-256 of the API key.
    pub key_hash: &'a [u8],
    /// Contact address.
    pub email: &'a str,
    /// Storage quota in bytes.
    pub storage_limit: Option<u64>,
    /// Traffic limit per 24 hours, in bytes.
    pub traffic_limit: Option<u64>,
    /// A slow hash of a password (PHC string), for signing in with the
    /// email; the email must then be no other such user's.
    pub password_hash: Option<&'a str>,
}

const USER_COLUMNS: &str =
    "account, login, key_hash, email, home, storage_limit, traffic_limit, created";

fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        account: r.get(0)?,
        login: r.get(1)?,
        key_hash: r.get(2)?,
        email: r.get(3)?,
        home: r.get(4)?,
        storage_limit: r.get::<_, Option<i64>>(5)?.map(|v| v as u64),
        traffic_limit: r.get::<_, Option<i64>>(6)?.map(|v| v as u64),
        created: r.get(7)?,
    })
}

fn limit(v: Option<u64>) -> Result<Option<i64>> {
    v.map(|v| {
        i64::try_from(v).map_err(|_| StoreError::Invalid(format!("limit {v} is out of range")))
    })
    .transpose()
}

impl Catalog {
    /// Creates a user with their ledger account and home folder.
    pub fn create_user(&self, new: &NewUser<'_>) -> Result<User> {
        crate::catalog::check_name(new.login)?;
        let (storage, traffic) = (limit(new.storage_limit)?, limit(new.traffic_limit)?);
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let taken: Option<String> = tx
                .query_row(
                    "SELECT account FROM users WHERE login = ?1 COLLATE NOCASE",
                    [new.login],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(existing) = taken {
                return Err(StoreError::NameTaken {
                    name: new.login.to_owned(),
                    existing,
                });
            }
            if new.password_hash.is_some()
                && let Some(existing) = password_user_in(&tx, new.email)?
            {
                return Err(StoreError::NameTaken {
                    name: new.email.to_owned(),
                    existing: existing.account,
                });
            }
            let now = now_ms();
            let account = cairn_core::EntryId::random().to_string();
            tx.execute(
                "INSERT INTO accounts (id, kind, name, created) VALUES (?1, 'user', ?2, ?3)",
                params![account, format!("user:{}", new.login), now],
            )?;
            let homes = homes_folder(&tx)?;
            let home = cairn_core::EntryId::random().to_string();
            tx.execute(
                "INSERT INTO entries (id, parent, kind, name, created, modified, owner) \
                 VALUES (?1, ?2, 'folder', ?3, ?4, ?4, ?5)",
                params![home, homes, new.login, now, account],
            )?;
            tx.execute(
                "INSERT INTO users (account, login, key_hash, email, home, storage_limit, traffic_limit, \
                 created, password_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    account,
                    new.login,
                    new.key_hash,
                    new.email,
                    home,
                    storage,
                    traffic,
                    now,
                    new.password_hash
                ],
            )?;
            let user = user_in(&tx, "login", new.login)?.ok_or_else(|| {
                StoreError::Corrupt("a user just created is missing".into())
            })?;
            tx.commit()?;
            Ok(user)
        })
    }

    /// The user with API login `login`, in any case (`Bob` is `bob`).
    pub fn user_by_login(&self, login: &str) -> Result<Option<User>> {
        self.read(|c| user_by_login_in(c, login))
    }

    /// The user whose ledger account is `account`.
    pub fn user_by_account(&self, account: &str) -> Result<Option<User>> {
        self.read(|c| user_in(c, "account", account))
    }

    /// Every user, by login.
    pub fn users(&self) -> Result<Vec<User>> {
        self.read(|c| {
            let mut stmt =
                c.prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY login"))?;
            let rows = stmt.query_map([], user_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Changes a user's limits (`None` leaves one as it is; `Some(None)`
    /// makes it unlimited).
    pub fn set_user_limits(
        &self,
        login: &str,
        storage: Option<Option<u64>>,
        traffic: Option<Option<u64>>,
    ) -> Result<User> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let user = user_by_login_in(&tx, login)?.ok_or_else(|| StoreError::NotFound {
                what: "user",
                id: login.chars().take(80).collect(),
            })?;
            if let Some(s) = storage {
                tx.execute(
                    "UPDATE users SET storage_limit = ?2 WHERE account = ?1",
                    params![user.account, limit(s)?],
                )?;
            }
            if let Some(t) = traffic {
                tx.execute(
                    "UPDATE users SET traffic_limit = ?2 WHERE account = ?1",
                    params![user.account, limit(t)?],
                )?;
            }
            let user = user_by_login_in(&tx, login)?
                .ok_or_else(|| StoreError::Corrupt("a user vanished".into()))?;
            tx.commit()?;
            Ok(user)
        })
    }

    /// Bytes of the files `account` owns.
    pub fn storage_used(&self, account: &str) -> Result<u64> {
        self.read(|c| storage_used_in(c, account))
    }

    /// Bytes `account` moved in the last 24 hours.
    pub fn traffic_used(&self, account: &str) -> Result<u64> {
        self.read(|c| traffic_in(c, account, now_ms()))
    }

    /// Counts `bytes` of traffic for `account`, or refuses with
    /// [`StoreError::OverLimit`] (counting nothing) when that would pass
    /// `limit` within 24 hours.
    pub fn charge_traffic(&self, account: &str, bytes: u64, limit: Option<u64>) -> Result<()> {
        let amount = i64::try_from(bytes)
            .map_err(|_| StoreError::Invalid(format!("{bytes} bytes is out of range")))?;
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = now_ms();
            tx.execute(
                "DELETE FROM traffic WHERE account = ?1 AND at <= ?2",
                params![account, now - TRAFFIC_WINDOW_MS],
            )?;
            if let Some(limit) = limit {
                let used = traffic_in(&tx, account, now)?;
                if used.saturating_add(bytes) > limit {
                    return Err(StoreError::OverLimit {
                        what: "traffic",
                        limit,
                        used,
                        wanted: bytes,
                    });
                }
            }
            tx.execute(
                "INSERT INTO traffic (account, at, bytes) VALUES (?1, ?2, ?3)",
                params![account, now, amount],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Whether `buyer` has bought entry `entry`.
    pub fn has_bought(&self, entry: &str, buyer: &str) -> Result<bool> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT 1 FROM purchases WHERE entry = ?1 AND buyer = ?2",
                params![entry, buyer],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })
    }

    /// `buyer` buys entry `entry` for `price` credits paid to `seller`, in
    /// one transaction. `Ok(false)`: bought before, nothing moved. Refused
    /// whole with [`StoreError::Insufficient`] when the buyer is short.
    pub fn buy(&self, entry: &str, buyer: &str, seller: &str, price: i64) -> Result<bool> {
        if price < 0 {
            return Err(StoreError::Invalid(format!(
                "a price cannot be negative ({price})"
            )));
        }
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            crate::catalog::entry_in(&tx, entry)?;
            let fresh = tx.execute(
                "INSERT INTO purchases (entry, buyer, price, tx, created) VALUES (?1, ?2, ?3, 0, ?4) \
                 ON CONFLICT (entry, buyer) DO NOTHING",
                params![entry, buyer, price, now_ms()],
            )?;
            if fresh == 0 {
                return Ok(false);
            }
            if price > 0 {
                let legs = [
                    Leg { account: buyer, unit: Unit::Credits, amount: -price },
                    Leg { account: seller, unit: Unit::Credits, amount: price },
                ];
                let number = post_in(&tx, &legs, &format!("purchase of {entry}"))?;
                tx.execute(
                    "UPDATE purchases SET tx = ?3 WHERE entry = ?1 AND buyer = ?2",
                    params![entry, buyer, number],
                )?;
            }
            tx.commit()?;
            Ok(true)
        })
    }
}

fn user_in(c: &Connection, column: &str, value: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = ?1");
    Ok(c.query_row(&sql, [value], user_from_row).optional()?)
}

/// The user who signs in with `email` and a password, with the password's
/// hash (emails are told apart without regard to ASCII case).
pub(crate) fn password_user_in(c: &Connection, email: &str) -> Result<Option<User>> {
    if email.is_empty() {
        return Ok(None);
    }
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = ?1 COLLATE NOCASE \
         AND password_hash IS NOT NULL ORDER BY created LIMIT 1"
    );
    Ok(c.query_row(&sql, [email], user_from_row).optional()?)
}

/// Logins are told apart without regard to ASCII case, so `bob` and `BOB`
/// are one account: a new login equal to one in another case is taken.
/// Where an older database holds both, the exact spelling wins, then the
/// oldest.
fn user_by_login_in(c: &Connection, login: &str) -> Result<Option<User>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE login = ?1 COLLATE NOCASE \
         ORDER BY login = ?1 DESC, created LIMIT 1"
    );
    Ok(c.query_row(&sql, [login], user_from_row).optional()?)
}

/// The top-level folder of homes, created on first use.
fn homes_folder(c: &Connection) -> Result<String> {
    let found: Option<String> = c
        .query_row(
            "SELECT id FROM entries WHERE parent IS NULL AND name = ?1 AND kind = 'folder'",
            [HOMES],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    let id = cairn_core::EntryId::random().to_string();
    let now = now_ms();
    c.execute(
        "INSERT INTO entries (id, parent, kind, name, created, modified) VALUES (?1, NULL, 'folder', ?2, ?3, ?3)",
        params![id, HOMES, now],
    )
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            StoreError::Conflict(format!("a file named '{HOMES}' is in the way of the users' folder"))
        }
        e => e.into(),
    })?;
    Ok(id)
}

fn storage_used_in(c: &Connection, account: &str) -> Result<u64> {
    let used: i64 = c.query_row(
        "SELECT ifnull(sum(size), 0) FROM entries WHERE owner = ?1 AND kind = 'file'",
        [account],
        |r| r.get(0),
    )?;
    Ok(used as u64)
}

fn traffic_in(c: &Connection, account: &str, now: i64) -> Result<u64> {
    let used: i64 = c.query_row(
        "SELECT ifnull(sum(bytes), 0) FROM traffic WHERE account = ?1 AND at > ?2",
        params![account, now - TRAFFIC_WINDOW_MS],
        |r| r.get(0),
    )?;
    Ok(used as u64)
}

/// Refuses (inside the caller's transaction) when `account` owns more than
/// its storage quota.
pub(crate) fn check_storage(c: &Connection, account: &str, added: u64) -> Result<()> {
    let quota: Option<Option<i64>> = c
        .query_row(
            "SELECT storage_limit FROM users WHERE account = ?1",
            [account],
            |r| r.get(0),
        )
        .optional()?;
    let Some(Some(quota)) = quota else {
        return Ok(());
    };
    let used = storage_used_in(c, account)?;
    if used > quota as u64 {
        return Err(StoreError::OverLimit {
            what: "storage",
            limit: quota as u64,
            used: used.saturating_sub(added),
            wanted: added,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
