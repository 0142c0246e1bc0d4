//! Access tokens with byte balances, on the ledger.
//!
//! A token is issued by [`Tokens::issue`] in MetaDisk's format (16
//! base-62 digits): 63 random bits and a 32-bit HMAC of them under a key
//! derived from the node's identity, so the node knows a token it issued
//! without keeping anything; issuing, which anyone may ask for, writes
//! nothing. A token gets its ledger account (named by its SHA-256 only,
//! as account keys are kept) when bytes first come to it. Every call names
//! a token the node issued (signed here, or with an account from before
//! tokens were signed); any other string is refused as unknown
//! (MetaDisk's accounts service took any string and gave it an account on
//! its first deposit: fixed, so a typo or a made-up path does not mint a
//! token). Deposits come from the `mint` account, withdrawals
//! go to `spent`, so the books always balance (see `cairn_store::ledger`).
//! Amounts are checked here: from 1 to [`MAX_AMOUNT`] (MetaDisk accepted
//! negative amounts, letting a deposit lower a balance below zero, and
//! amounts that broke later deposits: fixed).

use std::sync::Arc;

use cairn_store::StoreError;
use cairn_store::ledger::{MAX_AMOUNT, MINT, SPENT, Unit};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

use crate::NodeError;
use crate::shared::Shared;
use crate::tasks::blocking;

type Result<T> = std::result::Result<T, NodeError>;

/// Longest token accepted, in bytes.
const MAX_TOKEN: usize = 128;

/// Random bits of a token; its 32 lower bits are their MAC. 63 + 32 bits
/// fit the 16 base-62 digits of MetaDisk's format (62^16 > 2^95).
const RANDOM_BITS: u32 = 63;

/// The tokens service: access tokens with byte balances (see the module
/// docs). Cheap to clone.
#[derive(Clone)]
pub struct Tokens {
    shared: Arc<Shared>,
}

impl Tokens {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Issues a fresh access token in MetaDisk's format (16 base-62
    /// characters) with a balance of 0. Nothing is stored: the token
    /// carries its own proof of issue (see the module docs), and this is
    /// the one time it is shown.
    pub async fn issue(&self) -> Result<String> {
        let random = rand::thread_rng().r#gen::<u64>() >> (64 - RANDOM_BITS);
        let value = (u128::from(random) << 32) | u128::from(self.token_mac(random));
        Ok(cairn_core::token::token_of(value))
    }

    fn token_hmac(&self, random: u64) -> Hmac<Sha256> {
        let key = self.shared.derived_key("metadisk tokens");
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(&random.to_be_bytes());
        mac
    }

    fn token_mac(&self, random: u64) -> u32 {
        let tag = self.token_hmac(random).finalize().into_bytes();
        u32::from_be_bytes([tag[0], tag[1], tag[2], tag[3]])
    }

    /// Whether this node signed `token` ([`Tokens::issue`]); the tag
    /// is compared in constant time.
    fn signed_here(&self, token: &str) -> bool {
        let Some(value) = cairn_core::token::token_value(token) else {
            return false;
        };
        if value >> (RANDOM_BITS + 32) != 0 {
            return false;
        }
        let (random, tag) = ((value >> 32) as u64, value as u32);
        self.token_hmac(random)
            .verify_truncated_left(&tag.to_be_bytes())
            .is_ok()
    }

    /// The byte packages for sale.
    pub fn prices(&self) -> &[crate::config::Price] {
        &self.shared.config.gateway.prices
    }

    /// The transfer-byte balance of `token`.
    pub async fn balance(&self, token: &str) -> Result<u64> {
        let node = self.clone();
        let token = token.to_owned();
        blocking(move || match node.issued(&token)? {
            Some(account) => Ok(node.shared.catalog.balance(&account, Unit::Bytes)?.max(0) as u64),
            None => Ok(0),
        })
        .await
    }

    /// Redeems promo code `code` for `token`. `Ok(false)`: no such code, or
    /// this token redeemed it before.
    pub async fn redeem(&self, token: &str, code: &str) -> Result<bool> {
        let promo = self
            .shared
            .config
            .gateway
            .promocodes
            .iter()
            .find(|p| p.code == code)
            .map(|p| p.bytes);
        let node = self.clone();
        let (token, code) = (token.to_owned(), code.to_owned());
        blocking(move || {
            node.issued(&token)?;
            let Some(bytes) = promo else {
                return Ok(false);
            };
            if bytes == 0 {
                return Ok(true);
            }
            let bytes = amount(bytes)?;
            let account = node.token_account(&token)?;
            let redeemed = node.shared.catalog.redeem_once(&account, &code, bytes)?;
            if redeemed {
                node.shared
                    .metrics
                    .ledger_moved(Unit::Bytes, "promo", bytes);
            }
            Ok(redeemed)
        })
        .await
    }

    /// Adds `bytes` (1 to [`MAX_AMOUNT`]) to `token`'s balance (admin).
    pub async fn deposit(&self, token: &str, bytes: u64) -> Result<()> {
        let bytes = amount(bytes)?;
        let node = self.clone();
        let token = token.to_owned();
        blocking(move || {
            let account = node.token_account(&token)?;
            node.shared
                .catalog
                .transfer(MINT, &account, Unit::Bytes, bytes, "deposit")?;
            node.shared
                .metrics
                .ledger_moved(Unit::Bytes, "deposit", bytes);
            Ok(())
        })
        .await
    }

    /// Takes `bytes` (1 to [`MAX_AMOUNT`]) from `token`'s balance, or
    /// fails with code `balance_insufficient` and takes nothing.
    pub async fn withdraw(&self, token: &str, bytes: u64, reason: &str) -> Result<()> {
        let bytes = amount(bytes)?;
        let node = self.clone();
        let (token, reason) = (token.to_owned(), reason.to_owned());
        blocking(move || {
            let Some(account) = node.issued(&token)? else {
                return Err(never_funded(bytes));
            };
            node.shared
                .catalog
                .transfer(&account, SPENT, Unit::Bytes, bytes, &reason)?;
            node.shared
                .metrics
                .ledger_moved(Unit::Bytes, "spend", bytes);
            Ok(())
        })
        .await
    }

    /// The account of `token` when it has one; `None` for a token this
    /// node issued that no bytes have come to yet; [`NodeError::UnknownToken`]
    /// when this node never issued it.
    pub(crate) fn issued(&self, token: &str) -> Result<Option<String>> {
        if token.is_empty() || token.len() > MAX_TOKEN || token.chars().any(char::is_control) {
            return Err(NodeError::UnknownToken);
        }
        if let Some(account) = self.shared.catalog.token_account(token)? {
            return Ok(Some(account));
        }
        if self.signed_here(token) {
            Ok(None)
        } else {
            Err(NodeError::UnknownToken)
        }
    }

    /// The account of issued `token`, made now if bytes are coming to it
    /// for the first time (by one of two racing calls; the other finds it).
    fn token_account(&self, token: &str) -> Result<String> {
        if let Some(account) = self.issued(token)? {
            return Ok(account);
        }
        match self.shared.catalog.issue_token(token) {
            Ok(account)
            | Err(StoreError::NameTaken {
                existing: account, ..
            }) => Ok(account),
            Err(e) => Err(e.into()),
        }
    }
}

/// The refusal of a charge to a token no bytes ever came to: the same as
/// for any balance too low (the token is not named: errors may be kept).
fn never_funded(bytes: i64) -> NodeError {
    NodeError::Store(StoreError::Insufficient {
        account: "of a token never funded".into(),
        unit: "bytes",
        short: bytes,
    })
}

/// `bytes` as a ledger amount: 1 to [`MAX_AMOUNT`].
fn amount(bytes: u64) -> Result<i64> {
    i64::try_from(bytes)
        .ok()
        .filter(|b| (1..=MAX_AMOUNT).contains(b))
        .ok_or_else(|| {
            NodeError::Invalid(format!(
                "an amount of bytes is from 1 to {MAX_AMOUNT}, not {bytes}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Node;

    #[tokio::test]
    async fn only_issued_tokens_move_and_amounts_stay_in_bounds() {
        let dir = tempfile::tempdir().unwrap();
        // No network: the ledger is all this test needs, and it talks to
        // nothing beyond the process.
        let mut config = crate::Config::default();
        config.network.enabled = false;
        let node = Node::start(dir.path(), config).await.unwrap();
        let unknown = |r: Result<()>| matches!(r, Err(NodeError::UnknownToken));
        for never in ["nonexistent", "../x", ""] {
            assert!(unknown(node.tokens().deposit(never, 5).await), "{never}");
            assert!(unknown(node.tokens().withdraw(never, 5, "w").await));
            assert!(unknown(node.tokens().balance(never).await.map(drop)));
            assert!(unknown(node.tokens().redeem(never, "ANY").await.map(drop)));
            assert_eq!(node.shared().catalog.token_account(never).unwrap(), None);
        }
        let token = node.tokens().issue().await.unwrap();
        assert_eq!(token.len(), 16);
        assert_eq!(node.tokens().balance(&token).await.unwrap(), 0);
        // A token nobody funded yet cannot pay.
        assert_eq!(
            node.tokens()
                .withdraw(&token, 1, "w")
                .await
                .map_err(|e| e.code()),
            Err("balance_insufficient")
        );
        for bad in [0, MAX_AMOUNT as u64 + 1, u64::MAX] {
            let refused = node.tokens().deposit(&token, bad).await;
            assert!(matches!(refused, Err(NodeError::Invalid(_))), "{bad}");
        }
        node.tokens()
            .deposit(&token, MAX_AMOUNT as u64)
            .await
            .unwrap();
        node.tokens().deposit(&token, 5).await.unwrap();
        node.tokens().withdraw(&token, 5, "w").await.unwrap();
        assert_eq!(
            node.tokens().balance(&token).await.unwrap(),
            MAX_AMOUNT as u64
        );
        assert_eq!(node.shared().catalog.audit_ledger().unwrap(), (0, 0, 0));
        node.shutdown().await;
    }

    /// Issuing, which anyone may ask for, writes nothing; a token is known
    /// by its signature until bytes come to it, and a changed digit or
    /// another node's token is unknown.
    #[tokio::test]
    async fn tokens_are_known_by_their_signature_and_issuing_writes_nothing() {
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut config = crate::Config::default();
        config.network.enabled = false;
        let a = Node::start(a_dir.path(), config.clone()).await.unwrap();
        let b = Node::start(b_dir.path(), config).await.unwrap();
        let mut tokens = Vec::new();
        for _ in 0..200 {
            tokens.push(a.tokens().issue().await.unwrap());
        }
        for t in &tokens {
            assert_eq!(
                a.shared().catalog.token_account(t).unwrap(),
                None,
                "issuing stored nothing"
            );
            assert_eq!(a.tokens().balance(t).await.unwrap(), 0);
            assert!(matches!(
                b.tokens().balance(t).await,
                Err(NodeError::UnknownToken)
            ));
            let last = t.chars().last().unwrap();
            let changed = format!("{}{}", &t[..15], if last == '0' { '1' } else { '0' });
            assert!(matches!(
                a.tokens().balance(&changed).await,
                Err(NodeError::UnknownToken)
            ));
        }
        a.tokens().deposit(&tokens[0], 7).await.unwrap();
        assert!(
            a.shared()
                .catalog
                .token_account(&tokens[0])
                .unwrap()
                .is_some(),
            "an account once bytes came"
        );
        assert_eq!(a.shared().catalog.token_account(&tokens[1]).unwrap(), None);
        assert_eq!(a.tokens().balance(&tokens[0]).await.unwrap(), 7);
        a.shutdown().await;
        b.shutdown().await;
    }
}
