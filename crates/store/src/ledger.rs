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
//!   its postings.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

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
        self.with(|c| account_by_name(c, name))
    }

    /// The balance of `account` in `unit` (0 when it never moved).
    pub fn balance(&self, account: &str, unit: Unit) -> Result<i64> {
        self.with(|c| balance_in(c, account, unit))
    }

    /// Moves amounts between accounts as one transaction: the legs must sum
    /// to zero per unit, and no user or token account may end below zero.
    /// Returns the transaction number.
    pub fn post(&self, legs: &[Leg<'_>], reason: &str) -> Result<i64> {
        check_balanced(legs)?;
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let number = post_in(&tx, legs, reason)?;
            tx.commit()?;
            Ok(number)
        })
    }

    /// The account of access token `token`, created when `create` is set
    /// (tokens are not stored when issued: any string acquires an account
    /// on its first deposit or redemption).
    pub fn token_account(&self, token: &str, create: bool) -> Result<Option<String>> {
        let name = format!("token:{token}");
        if let Some(id) = self.account_id(&name)? {
            return Ok(Some(id));
        }
        if !create {
            return Ok(None);
        }
        match self.create_account(AccountKind::Token, &name) {
            Ok(id) => Ok(Some(id)),
            Err(StoreError::NameTaken { .. }) => self.account_id(&name),
            Err(e) => Err(e),
        }
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
    /// (always none): the ledger's audit.
    pub fn audit_ledger(&self) -> Result<(i64, i64, i64)> {
        self.with(|c| {
            let sum = |unit: &str| -> rusqlite::Result<i64> {
                c.query_row("SELECT ifnull(sum(amount), 0) FROM balances WHERE unit = ?1", [unit], |r| r.get(0))
            };
            let drift: i64 = c.query_row(
                "SELECT count(*) FROM balances b WHERE b.amount != \
                 (SELECT ifnull(sum(p.amount), 0) FROM postings p WHERE p.account = b.account AND p.unit = b.unit)",
                [],
                |r| r.get(0),
            )?;
            Ok((sum("bytes")?, sum("credits")?, drift))
        })
    }
}

fn check_balanced(legs: &[Leg<'_>]) -> Result<()> {
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

/// Writes the postings of one movement inside the caller's transaction.
pub(crate) fn post_in(tx: &Connection, legs: &[Leg<'_>], reason: &str) -> Result<i64> {
    let number: i64 = tx.query_row("SELECT ifnull(max(tx), 0) + 1 FROM postings", [], |r| {
        r.get(0)
    })?;
    let now = now_ms();
    for leg in legs {
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
            .ok_or_else(|| StoreError::Invalid("balance out of range".into()))?;
        if after < 0 && kind != "system" {
            return Err(StoreError::Insufficient {
                account: leg.account.to_owned(),
                unit: leg.unit.name(),
                short: -after,
            });
        }
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
        assert_eq!(cat.token_account("abc", false).unwrap(), None);
        let a = cat.token_account("abc", true).unwrap().unwrap();
        assert_eq!(cat.token_account("abc", true).unwrap(), Some(a.clone()));
        let b = cat.token_account("xyz", true).unwrap().unwrap();
        assert!(cat.redeem_once(&a, "WELCOME", 500).unwrap());
        assert!(!cat.redeem_once(&a, "WELCOME", 500).unwrap());
        assert!(cat.redeem_once(&b, "WELCOME", 500).unwrap());
        assert_eq!(cat.balance(&a, Unit::Bytes).unwrap(), 500);
        assert_eq!(cat.audit_ledger().unwrap(), (0, 0, 0));
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
