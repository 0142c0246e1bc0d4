//! Access tokens with byte balances, on the ledger.
//!
//! A token is any string (MetaDisk's accounts service never stored the
//! tokens it issued): it gets a ledger account on its first deposit or
//! redemption, and a token never seen has a balance of 0. Deposits come
//! from the `mint` account, withdrawals go to `spent`, so the books always
//! balance (see `cairn_store::ledger`). Amounts are checked here: from 1
//! to [`MAX_AMOUNT`] (MetaDisk accepted negative amounts, letting a
//! deposit lower a balance below zero, and any amount at all, so one
//! could break every later deposit: fixed).

use cairn_store::StoreError;
use cairn_store::ledger::{MAX_AMOUNT, MINT, SPENT, Unit};
use rand::RngCore;

use crate::node::blocking;
use crate::{Node, NodeError};

type Result<T> = std::result::Result<T, NodeError>;

/// Longest token accepted, in bytes.
const MAX_TOKEN: usize = 128;

impl Node {
    /// A fresh access token in MetaDisk's format (16 base-62 characters).
    pub fn new_token(&self) -> String {
        let mut raw = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut raw);
        cairn_core::metadisk::token_from(raw)
    }

    /// The byte packages for sale.
    pub fn prices(&self) -> &[crate::config::Price] {
        &self.0.config.gateway.prices
    }

    /// The transfer-byte balance of `token` (0 for a token never funded).
    pub async fn token_balance(&self, token: &str) -> Result<u64> {
        check_token(token)?;
        let node = self.clone();
        let token = token.to_owned();
        blocking(move || {
            let Some(account) = node.0.catalog.token_account(&token, false)? else {
                return Ok(0);
            };
            Ok(node.0.catalog.balance(&account, Unit::Bytes)?.max(0) as u64)
        })
        .await
    }

    /// Redeems promo code `code` for `token`. `Ok(false)`: no such code, or
    /// this token redeemed it before.
    pub async fn redeem(&self, token: &str, code: &str) -> Result<bool> {
        check_token(token)?;
        let Some(promo) = self
            .0
            .config
            .gateway
            .promocodes
            .iter()
            .find(|p| p.code == code)
        else {
            return Ok(false);
        };
        let promo_bytes = promo.bytes;
        let node = self.clone();
        let (token, code) = (token.to_owned(), code.to_owned());
        blocking(move || {
            let account = node.token_account_created(&token)?;
            if promo_bytes == 0 {
                return Ok(true);
            }
            let bytes = amount(promo_bytes)?;
            Ok(node.0.catalog.redeem_once(&account, &code, bytes)?)
        })
        .await
    }

    /// Adds `bytes` (1 to [`MAX_AMOUNT`]) to `token`'s balance (admin).
    pub async fn deposit(&self, token: &str, bytes: u64) -> Result<()> {
        check_token(token)?;
        let bytes = amount(bytes)?;
        let node = self.clone();
        let token = token.to_owned();
        blocking(move || {
            let account = node.token_account_created(&token)?;
            if bytes > 0 {
                node.0
                    .catalog
                    .transfer(MINT, &account, Unit::Bytes, bytes, "deposit")?;
            }
            Ok(())
        })
        .await
    }

    /// Takes `bytes` (1 to [`MAX_AMOUNT`]) from `token`'s balance, or
    /// fails with code `balance_insufficient` and takes nothing. A token
    /// never funded has nothing to take.
    pub async fn withdraw(&self, token: &str, bytes: u64, reason: &str) -> Result<()> {
        check_token(token)?;
        let bytes = amount(bytes)?;
        let node = self.clone();
        let (token, reason) = (token.to_owned(), reason.to_owned());
        blocking(move || {
            let account = node
                .0
                .catalog
                .token_account(&token, false)?
                .ok_or_else(|| {
                    NodeError::Store(StoreError::Insufficient {
                        account: token.clone(),
                        unit: "bytes",
                        short: bytes,
                    })
                })?;
            if bytes > 0 {
                node.0
                    .catalog
                    .transfer(&account, SPENT, Unit::Bytes, bytes, &reason)?;
            }
            Ok(())
        })
        .await
    }

    fn token_account_created(&self, token: &str) -> Result<String> {
        self.0
            .catalog
            .token_account(token, true)?
            .ok_or_else(|| NodeError::Internal(format!("no account for token {token}")))
    }
}

fn check_token(token: &str) -> Result<()> {
    if token.is_empty() || token.len() > MAX_TOKEN || token.chars().any(char::is_control) {
        return Err(NodeError::Invalid(format!(
            "a token is 1 to {MAX_TOKEN} printable characters"
        )));
    }
    Ok(())
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
