//! The ledger: balances of bytes and credits, moved only by double-entry
//! transactions.
//!
//! Invariants, checked by the tests:
//! - every movement is one SQLite transaction (taken IMMEDIATE, so two
//!   connections never both read a balance and then both write it) that
//!   adds postings summing to zero per unit, and updates the balances by
//!   the same amounts;
//! - a `user` or `token` account never goes below zero: a movement that
//!   would make it is refused whole, and nothing moves;
//! - `system` accounts may go negative: `mint` is where deposits come from
//!   (its balance is minus everything ever issued), `spent` is where
//!   transfer costs go. So the balances of every account, summed per unit,
//!   are always exactly zero, and each account's balance equals the sum of
//!   its postings;
//! - no leg moves more than [`MAX_AMOUNT`] and no balance goes past
//!   ±[`MAX_BALANCE`]: a movement that would is refused whole. So no
//!   balance, no posting and no sum the audit takes can overflow, and the
//!   mint, which only ever goes down, reaches a bound that refuses
//!   deposits rather than one that breaks every later one;
//! - an access token is known by its SHA-256 only (the account named
//!   `token:<hex>`): the catalog never holds a token that a reader of its
//!   file could spend. A token has an account only once it was issued.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::StoreError;
use crate::catalog::{Catalog, now_ms};

type Result<T> = std::result::Result<T, StoreError>;

/// What a balance counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Transfer bytes (MetaDisk and Openload tokens).
    Bytes,
    /// Credits (cacaoweb's paid files).
    Credits,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Self::Bytes => "bytes",
            Self::Credits => "credits",
        }
    }
}

/// The kinds of account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    /// The node's own books (`mint`, `spent`); may go negative.
    System,
    /// A gateway user.
    User,
    /// An access token.
    Token,
}

/// The account deposits come from.
pub const MINT: &str = "mint";
/// The account transfer costs and withdrawals go to.
pub const SPENT: &str = "spent";

/// The largest amount one leg of a movement may carry: 2^53 − 1, the
/// largest integer that every JSON client (JavaScript's numbers are
/// doubles) reads exactly; 8 PiB of transfer bytes.
pub const MAX_AMOUNT: i64 = (1 << 53) - 1;

/// No balance goes past ±2^62. With each leg at most [`MAX_AMOUNT`], a
/// balance plus a leg never overflows an i64; the mint, minus everything
/// ever issued, may issue 2^62 (4 EiB of transfer bytes) before deposits
/// are refused.
pub const MAX_BALANCE: i64 = 1 << 62;

/// One leg of a movement: `amount` (signed) of `unit` on `account`.
#[derive(Debug, Clone)]
pub struct Leg<'a> {
    /// Account id.
    pub account: &'a str,
    /// Unit.
    pub unit: Unit,
    /// Signed amount.
    pub amount: i64,
}

impl Catalog {
    /// Creates an account named `name` (unique) and returns its id.
    pub fn create_account(&self, kind: AccountKind, name: &str) -> Result<String> {
        if kind == AccountKind::System {
            return Err(StoreError::Invalid("system accounts are built in".into()));
        }
        let id = cairn_core::EntryId::random().to_string();
        let kind = if kind == AccountKind::User {
            "user"
        } else {
            "token"
        };
        self.with(|c| {
            let done = c.execute(
                "INSERT INTO accounts (id, kind, name, created) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO NOTHING",
                params![id, kind, name, now_ms()],
            )?;
            if done == 0 {
                return Err(StoreError::NameTaken {
                    name: name.to_owned(),
                    existing: account_by_name(c, name)?.unwrap_or_default(),
                });
            }
            Ok(id)
        })
    }

    /// The id of the account named `name`.
    pub fn account_id(&self, name: &str) -> Result<Option<String>> {
        self.read(|c| account_by_name(c, name))
    }

    /// The balance of `account` in `unit` (0 when it never moved).
    pub fn balance(&self, account: &str, unit: Unit) -> Result<i64> {
        self.read(|c| balance_in(c, account, unit))
    }

    /// Moves amounts between accounts as one transaction: the legs must sum
    /// to zero per unit, none may move more than [`MAX_AMOUNT`], no user or
    /// token account may end below zero and no account past
    /// ±[`MAX_BALANCE`]. Returns the transaction number.
    pub fn post(&self, legs: &[Leg<'_>], reason: &str) -> Result<i64> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let number = post_in(&tx, legs, reason)?;
            tx.commit()?;
            Ok(number)
        })
    }

    /// Opens the account of access token `token`: a token account named by
    /// the token's hash, with nothing in it. [`StoreError::NameTaken`] if
    /// it has one already.
    pub fn issue_token(&self, token: &str) -> Result<String> {
        self.create_account(AccountKind::Token, &token_name(token))
    }

    /// The account of access token `token`; `None` when it has none.
    pub fn token_account(&self, token: &str) -> Result<Option<String>> {
        self.account_id(&token_name(token))
    }

    /// Credits `bytes` from `mint` to `account` for promo code `code`, once
    /// per account and code; `Ok(false)` if this account redeemed it before.
    pub fn redeem_once(&self, account: &str, code: &str, bytes: i64) -> Result<bool> {
        let legs = [
            Leg {
                account: MINT,
                unit: Unit::Bytes,
                amount: -bytes,
            },
            Leg {
                account,
                unit: Unit::Bytes,
                amount: bytes,
            },
        ];
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let fresh = tx.execute(
                "INSERT INTO promocode_uses (account, code, created) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (account, code) DO NOTHING",
                params![account, code, now_ms()],
            )?;
            if fresh == 0 {
                return Ok(false);
            }
            post_in(&tx, &legs, &format!("promo code {code}"))?;
            tx.commit()?;
            Ok(true)
        })
    }

    /// Moves `amount` of `unit` from one account to another.
    pub fn transfer(
        &self,
        from: &str,
        to: &str,
        unit: Unit,
        amount: i64,
        reason: &str,
    ) -> Result<i64> {
        if amount <= 0 {
            return Err(StoreError::Invalid(format!(
                "amount must be positive, not {amount}"
            )));
        }
        self.post(
            &[
                Leg {
                    account: from,
                    unit,
                    amount: -amount,
                },
                Leg {
                    account: to,
                    unit,
                    amount,
                },
            ],
            reason,
        )
    }

    /// Every balance summed per unit (always zero) and the number of
    /// accounts whose balance differs from the sum of their postings
    /// (always none): the ledger's audit. Sums are taken in 128 bits, so
    /// no number of postings can overflow them.
    pub fn audit_ledger(&self) -> Result<(i64, i64, i64)> {
        self.with(|c| {
            let balances = amounts(c, "SELECT account, unit, amount FROM balances")?;
            let mut postings = amounts(c, "SELECT account, unit, amount FROM postings")?;
            let mut drift = 0;
            let (mut bytes, mut credits) = (0i128, 0i128);
            for (key, amount) in &balances {
                match key.1.as_str() {
                    "bytes" => bytes += amount,
                    _ => credits += amount,
                }
                if postings.remove(key).unwrap_or(0) != *amount {
                    drift += 1;
                }
            }
            drift += postings.values().filter(|sum| **sum != 0).count() as i64;
            Ok((saturate(bytes), saturate(credits), drift))
        })
    }
}

/// The name of access token `token`'s account: `token:` and the hex of
/// its SHA-256.
fn token_name(token: &str) -> String {
    format!("token:{}", sha256_hex(token))
}

/// The hex of the SHA-256 of `text` (also the SQL function the migration
/// that hashed stored tokens calls).
pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Amounts summed per (account, unit) from the rows of a query of those
/// three columns.
fn amounts(c: &Connection, sql: &str) -> Result<HashMap<(String, String), i128>> {
    let mut stmt = c.prepare(sql)?;
    let mut rows = stmt.query([])?;
    let mut sums: HashMap<(String, String), i128> = HashMap::new();
    while let Some(r) = rows.next()? {
        *sums.entry((r.get(0)?, r.get(1)?)).or_default() += i128::from(r.get::<_, i64>(2)?);
    }
    Ok(sums)
}

fn saturate(sum: i128) -> i64 {
    i64::try_from(sum).unwrap_or(if sum < 0 { i64::MIN } else { i64::MAX })
}

/// Refuses a movement whose legs do not sum to zero per unit, or one with
/// a leg past [`MAX_AMOUNT`].
fn check_legs(legs: &[Leg<'_>]) -> Result<()> {
    if let Some(leg) = legs
        .iter()
        .find(|l| l.amount.unsigned_abs() > MAX_AMOUNT as u64)
    {
        return Err(StoreError::Invalid(format!(
            "an amount is at most {MAX_AMOUNT} (2^53 - 1), not {}",
            leg.amount.unsigned_abs()
        )));
    }
    for unit in [Unit::Bytes, Unit::Credits] {
        let sum: i128 = legs
            .iter()
            .filter(|l| l.unit == unit)
            .map(|l| i128::from(l.amount))
            .sum();
        if sum != 0 {
            return Err(StoreError::Invalid(format!(
                "a movement must balance: its {} legs sum to {sum}",
                unit.name()
            )));
        }
    }
    Ok(())
}

/// Writes the postings of one movement inside the caller's transaction,
/// after checking its legs; every refusal leaves the caller's transaction
/// to be rolled back.
pub(crate) fn post_in(tx: &Connection, legs: &[Leg<'_>], reason: &str) -> Result<i64> {
    check_legs(legs)?;
    let number: i64 = tx.query_row("SELECT ifnull(max(tx), 0) + 1 FROM postings", [], |r| {
        r.get(0)
    })?;
    let now = now_ms();
    for leg in legs {
        let after = balance_after(tx, leg)?;
        tx.execute(
            "INSERT INTO balances (account, unit, amount) VALUES (?1, ?2, ?3) \
             ON CONFLICT (account, unit) DO UPDATE SET amount = ?3",
            params![leg.account, leg.unit.name(), after],
        )?;
        tx.execute(
            "INSERT INTO postings (tx, account, unit, amount, reason, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![number, leg.account, leg.unit.name(), leg.amount, reason, now],
        )?;
    }
    Ok(number)
}

/// The balance `leg` leaves on its account, or the refusal: no such
/// account, a user or token account below zero, any account past
/// ±[`MAX_BALANCE`].
fn balance_after(tx: &Connection, leg: &Leg<'_>) -> Result<i64> {
    let kind: Option<String> = tx
        .query_row(
            "SELECT kind FROM accounts WHERE id = ?1",
            [leg.account],
            |r| r.get(0),
        )
        .optional()?;
    let kind = kind.ok_or_else(|| StoreError::NotFound {
        what: "account",
        id: leg.account.to_owned(),
    })?;
    let after = balance_in(tx, leg.account, leg.unit)?
        .checked_add(leg.amount)
        .filter(|a| a.unsigned_abs() <= MAX_BALANCE as u64)
        .ok_or_else(|| {
            StoreError::Invalid(format!(
                "account {} cannot hold that many {}: a balance stays within \
                 ±{MAX_BALANCE} (2^62); nothing moved",
                leg.account,
                leg.unit.name()
            ))
        })?;
    if after < 0 && kind != "system" {
        return Err(StoreError::Insufficient {
            account: leg.account.to_owned(),
            unit: leg.unit.name(),
            short: -after,
        });
    }
    Ok(after)
}

fn account_by_name(c: &Connection, name: &str) -> Result<Option<String>> {
    Ok(
        c.query_row("SELECT id FROM accounts WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?,
    )
}

fn balance_in(c: &Connection, account: &str, unit: Unit) -> Result<i64> {
    Ok(c.query_row(
        "SELECT amount FROM balances WHERE account = ?1 AND unit = ?2",
        params![account, unit.name()],
        |r| r.get(0),
    )
    .optional()?
    .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deposits_transfers_and_refusals_keep_the_books_exact() {
        let cat = Catalog::open_in_memory().unwrap();
        let alice = cat.create_account(AccountKind::Token, "alice").unwrap();
        let bob = cat.create_account(AccountKind::User, "bob").unwrap();
        assert!(matches!(
            cat.create_account(AccountKind::Token, "alice"),
            Err(StoreError::NameTaken { .. })
        ));
        cat.transfer(MINT, &alice, Unit::Bytes, 1000, "deposit")
            .unwrap();
        cat.transfer(&alice, SPENT, Unit::Bytes, 400, "upload of 100 bytes")
            .unwrap();
        let refused = cat.transfer(&alice, &bob, Unit::Bytes, 601, "too much");
        assert!(
            matches!(refused, Err(StoreError::Insufficient { short: 1, .. })),
            "{refused:?}"
        );
        assert_eq!(
            cat.balance(&alice, Unit::Bytes).unwrap(),
            600,
            "a refused movement moves nothing"
        );
        assert_eq!(cat.balance(&bob, Unit::Bytes).unwrap(), 0);
        assert_eq!(cat.balance(MINT, Unit::Bytes).unwrap(), -1000);
        assert_eq!(cat.audit_ledger().unwrap(), (0, 0, 0));
        assert!(
            cat.transfer(&alice, &bob, Unit::Bytes, 0, "nothing")
                .is_err()
        );
        assert!(cat.transfer(&alice, "nobody", Unit::Bytes, 1, "x").is_err());
        let unbalanced = [Leg {
            account: &alice,
            unit: Unit::Bytes,
            amount: -1,
        }];
        assert!(matches!(
            cat.post(&unbalanced, "leak"),
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(cat.audit_ledger().unwrap(), (0, 0, 0));
    }

    #[test]
    fn a_promo_code_is_redeemed_once_per_account() {
        let cat = Catalog::open_in_memory().unwrap();
        let a = cat.issue_token("abc").unwrap();
        let b = cat.issue_token("xyz").unwrap();
        assert!(cat.redeem_once(&a, "WELCOME", 500).unwrap());
        assert!(!cat.redeem_once(&a, "WELCOME", 500).unwrap());
        assert!(cat.redeem_once(&b, "WELCOME", 500).unwrap());
        assert_eq!(cat.balance(&a, Unit::Bytes).unwrap(), 500);
        assert_eq!(cat.audit_ledger().unwrap(), (0, 0, 0));
    }

    #[test]
    fn tokens_are_known_only_once_issued_and_only_by_their_hash() {
        let cat = Catalog::open_in_memory().unwrap();
        assert_eq!(cat.token_account("abc").unwrap(), None);
        let a = cat.issue_token("abc").unwrap();
        assert_eq!(cat.token_account("abc").unwrap(), Some(a));
        assert!(matches!(
            cat.issue_token("abc"),
            Err(StoreError::NameTaken { .. })
        ));
        assert_eq!(cat.token_account("abd").unwrap(), None);
        let names: Vec<String> = cat
            .with(|c| {
                let mut stmt = c.prepare("SELECT name FROM accounts WHERE kind = 'token'")?;
                let names = stmt.query_map([], |r| r.get(0))?;
                Ok(names.collect::<rusqlite::Result<_>>()?)
            })
            .unwrap();
        assert_eq!(names, vec![format!("token:{}", sha256_hex("abc"))]);
    }

    #[test]
    fn an_amount_past_the_maximum_is_refused_and_later_deposits_still_work() {
        let cat = Catalog::open_in_memory().unwrap();
        let t = cat.issue_token("t").unwrap();
        for past in [MAX_AMOUNT + 1, i64::MAX] {
            let refused = cat.transfer(MINT, &t, Unit::Bytes, past, "deposit");
            assert!(
                matches!(refused, Err(StoreError::Invalid(_))),
                "{refused:?}"
            );
            let legs = [
                Leg {
                    account: MINT,
                    unit: Unit::Bytes,
                    amount: -past,
                },
                Leg {
                    account: &t,
                    unit: Unit::Bytes,
                    amount: past,
                },
            ];
            assert!(cat.post(&legs, "deposit").is_err());
            assert!(cat.redeem_once(&t, "BIG", past).is_err());
        }
        assert_eq!(cat.balance(&t, Unit::Bytes).unwrap(), 0, "nothing moved");
        cat.transfer(MINT, &t, Unit::Bytes, MAX_AMOUNT, "deposit")
            .unwrap();
        cat.transfer(MINT, &t, Unit::Bytes, 5, "deposit").unwrap();
        assert_eq!(cat.balance(&t, Unit::Bytes).unwrap(), MAX_AMOUNT + 5);
        assert_eq!(cat.balance(MINT, Unit::Bytes).unwrap(), -MAX_AMOUNT - 5);
        assert_eq!(cat.audit_ledger().unwrap(), (0, 0, 0));
    }

    #[test]
    fn no_balance_goes_past_the_bound_and_the_books_still_add_up() {
        let cat = Catalog::open_in_memory().unwrap();
        let (a, b) = (cat.issue_token("a").unwrap(), cat.issue_token("b").unwrap());
        // 512 deposits of the maximum leave a and the mint 512 short of
        // the bound.
        for _ in 0..512 {
            cat.transfer(MINT, &a, Unit::Bytes, MAX_AMOUNT, "deposit")
                .unwrap();
        }
        assert_eq!(cat.balance(&a, Unit::Bytes).unwrap(), MAX_BALANCE - 512);
        let refused = cat.transfer(MINT, &b, Unit::Bytes, 513, "deposit");
        assert!(
            matches!(refused, Err(StoreError::Invalid(_))),
            "{refused:?}"
        );
        assert_eq!(cat.balance(&b, Unit::Bytes).unwrap(), 0, "nothing moved");
        cat.transfer(MINT, &b, Unit::Bytes, 512, "deposit").unwrap();
        assert_eq!(cat.balance(MINT, Unit::Bytes).unwrap(), -MAX_BALANCE);
        assert!(
            cat.transfer(MINT, &b, Unit::Bytes, 1, "deposit").is_err(),
            "the mint is at its bound"
        );
        // A full account takes no more either, and can still spend.
        cat.transfer(&b, &a, Unit::Bytes, 512, "gift").unwrap();
        assert_eq!(cat.balance(&a, Unit::Bytes).unwrap(), MAX_BALANCE);
        let refused = cat.transfer(SPENT, &a, Unit::Bytes, 1, "refund");
        assert!(
            matches!(refused, Err(StoreError::Invalid(_))),
            "{refused:?}"
        );
        cat.transfer(&a, SPENT, Unit::Bytes, MAX_AMOUNT, "download")
            .unwrap();
        assert_eq!(
            cat.audit_ledger().unwrap(),
            (0, 0, 0),
            "sums of balances near the bound do not overflow"
        );
    }

    #[test]
    fn concurrent_movements_on_separate_connections_conserve_every_balance() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let cat = Catalog::open(&path).unwrap();
        let accounts: Vec<String> = (0..6)
            .map(|i| {
                cat.create_account(AccountKind::Token, &format!("t{i}"))
                    .unwrap()
            })
            .collect();
        for a in &accounts {
            cat.transfer(MINT, a, Unit::Bytes, 10_000, "deposit")
                .unwrap();
            cat.transfer(MINT, a, Unit::Credits, 50, "credits").unwrap();
        }
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let (path, accounts) = (path.clone(), accounts.clone());
                std::thread::spawn(move || {
                    let cat = Catalog::open(&path).unwrap();
                    let (mut ok, mut refused) = (0, 0);
                    for i in 0..150usize {
                        let from = &accounts[(t + i) % accounts.len()];
                        let to = &accounts[(t * 7 + i * 3 + 1) % accounts.len()];
                        let outcome = match i % 3 {
                            0 => cat.transfer(from, to, Unit::Bytes, 900, "transfer"),
                            1 => cat.transfer(from, SPENT, Unit::Bytes, 350, "download cost"),
                            _ => cat.post(
                                &[
                                    Leg {
                                        account: from,
                                        unit: Unit::Credits,
                                        amount: -7,
                                    },
                                    Leg {
                                        account: to,
                                        unit: Unit::Credits,
                                        amount: 7,
                                    },
                                    Leg {
                                        account: from,
                                        unit: Unit::Bytes,
                                        amount: 100,
                                    },
                                    Leg {
                                        account: MINT,
                                        unit: Unit::Bytes,
                                        amount: -100,
                                    },
                                ],
                                "purchase with a bonus",
                            ),
                        };
                        match outcome {
                            Ok(_) => ok += 1,
                            Err(StoreError::Insufficient { .. }) => refused += 1,
                            Err(e) => panic!("unexpected: {e}"),
                        }
                    }
                    (ok, refused)
                })
            })
            .collect();
        let mut total_ok = 0;
        for t in threads {
            let (ok, _) = t.join().unwrap();
            total_ok += ok;
        }
        assert!(total_ok > 0);
        assert_eq!(
            cat.audit_ledger().unwrap(),
            (0, 0, 0),
            "nothing counted twice or lost"
        );
        for a in &accounts {
            assert!(cat.balance(a, Unit::Bytes).unwrap() >= 0);
            assert!(cat.balance(a, Unit::Credits).unwrap() >= 0);
        }
    }
}
