//! Access tokens with byte balances, on the ledger.
//!
//! A token is issued by [`Node::issue_token`], which records it (its
//! SHA-256 only, as account keys are kept) and shows it this once. Every
//! other call names a token the node issued; any other string is refused
//! as unknown (MetaDisk's accounts service took any string and gave it an
//! account on its first deposit: fixed, so a typo or a made-up path does
//! not mint a token). Deposits come from the `mint` account, withdrawals
//! go to `spent`, so the books always balance (see `cairn_store::ledger`).
//! Amounts are checked here: from 1 to [`MAX_AMOUNT`] (MetaDisk accepted
//! negative amounts, letting a deposit lower a balance below zero, and
//! amounts that broke later deposits: fixed).

use cairn_store::StoreError;
use cairn_store::ledger::{MAX_AMOUNT, MINT, SPENT, Unit};
use rand::RngCore;

use crate::node::blocking;
use crate::{Node, NodeError};

type Result<T> = std::result::Result<T, NodeError>;

/// Longest token accepted, in bytes.
const MAX_TOKEN: usize = 128;

/// Fresh tokens tried before giving up: 96 random bits collide with an
/// issued token about never, so a second try is already a bug's sign.
const ISSUE_TRIES: usize = 3;

impl Node {
    /// Issues a fresh access token in MetaDisk's format (16 base-62
    /// characters) with a balance of 0. Only its hash is kept: this is
    /// the one time it is shown.
    pub async fn issue_token(&self) -> Result<String> {
        let node = self.clone();
        blocking(move || {
            for _ in 0..ISSUE_TRIES {
                let token = random_token();
                match node.0.catalog.issue_token(&token) {
                    Ok(_) => return Ok(token),
                    Err(StoreError::NameTaken { .. }) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(NodeError::Internal(
                "fresh tokens collided with issued ones".into(),
            ))
        })
        .await
    }

    /// The byte packages for sale.
    pub fn prices(&self) -> &[crate::config::Price] {
        &self.0.config.gateway.prices
    }

    /// The transfer-byte balance of `token`.
    pub async fn token_balance(&self, token: &str) -> Result<u64> {
        let node = self.clone();
        let token = token.to_owned();
        blocking(move || {
            let account = node.issued_token(&token)?;
            Ok(node.0.catalog.balance(&account, Unit::Bytes)?.max(0) as u64)
        })
        .await
    }

    /// Redeems promo code `code` for `token`. `Ok(false)`: no such code, or
    /// this token redeemed it before.
    pub async fn redeem(&self, token: &str, code: &str) -> Result<bool> {
        let promo = self
            .0
            .config
            .gateway
            .promocodes
            .iter()
            .find(|p| p.code == code)
            .map(|p| p.bytes);
        let node = self.clone();
        let (token, code) = (token.to_owned(), code.to_owned());
        blocking(move || {
            let account = node.issued_token(&token)?;
            let Some(bytes) = promo else {
                return Ok(false);
            };
            if bytes == 0 {
                return Ok(true);
            }
            let bytes = amount(bytes)?;
            Ok(node.0.catalog.redeem_once(&account, &code, bytes)?)
        })
        .await
    }

    /// Adds `bytes` (1 to [`MAX_AMOUNT`]) to `token`'s balance (admin).
    pub async fn deposit(&self, token: &str, bytes: u64) -> Result<()> {
        let bytes = amount(bytes)?;
        let node = self.clone();
        let token = token.to_owned();
        blocking(move || {
            let account = node.issued_token(&token)?;
            node.0
                .catalog
                .transfer(MINT, &account, Unit::Bytes, bytes, "deposit")?;
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
            let account = node.issued_token(&token)?;
            node.0
                .catalog
                .transfer(&account, SPENT, Unit::Bytes, bytes, &reason)?;
            Ok(())
        })
        .await
    }

    /// The account of `token`, or [`NodeError::UnknownToken`] when this
    /// node never issued it.
    pub(crate) fn issued_token(&self, token: &str) -> Result<String> {
        if token.is_empty() || token.len() > MAX_TOKEN || token.chars().any(char::is_control) {
            return Err(NodeError::UnknownToken);
        }
        self.0
            .catalog
            .token_account(token)?
            .ok_or(NodeError::UnknownToken)
    }
}

fn random_token() -> String {
    let mut raw = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut raw);
    cairn_core::metadisk::token_from(raw)
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
            assert!(unknown(node.deposit(never, 5).await), "{never}");
            assert!(unknown(node.withdraw(never, 5, "w").await));
            assert!(unknown(node.token_balance(never).await.map(drop)));
            assert!(unknown(node.redeem(never, "ANY").await.map(drop)));
            assert_eq!(node.0.catalog.token_account(never).unwrap(), None);
        }
        let token = node.issue_token().await.unwrap();
        assert_eq!(token.len(), 16);
        assert_eq!(node.token_balance(&token).await.unwrap(), 0);
        for bad in [0, MAX_AMOUNT as u64 + 1, u64::MAX] {
            let refused = node.deposit(&token, bad).await;
            assert!(matches!(refused, Err(NodeError::Invalid(_))), "{bad}");
        }
        node.deposit(&token, MAX_AMOUNT as u64).await.unwrap();
        node.deposit(&token, 5).await.unwrap();
        node.withdraw(&token, 5, "w").await.unwrap();
        assert_eq!(node.token_balance(&token).await.unwrap(), MAX_AMOUNT as u64);
        assert_eq!(node.0.catalog.audit_ledger().unwrap(), (0, 0, 0));
        node.shutdown().await;
    }
}
