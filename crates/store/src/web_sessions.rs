//! The web UI's sessions (migration 28): the operator's, or a gateway
//! account's, each named by its token's SHA-256 (the token itself is
//! only in the browser's cookie), until it expires. They outlive a
//! restart, so a page left open keeps working; an account's go with it.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::StoreError;
use crate::catalog::{Catalog, now_ms};

type Result<T> = std::result::Result<T, StoreError>;

/// Who a web session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// The account, or `None` for the operator.
    pub account: Option<String>,
    /// When it began, Unix milliseconds.
    pub created: i64,
    /// When it ends, Unix milliseconds.
    pub expires: i64,
}

impl Catalog {
    /// Records a web session named by `token_hash` for `account` (the
    /// operator with `None`) until `expires`; expired sessions go.
    pub fn open_web_session(
        &self,
        token_hash: &[u8],
        account: Option<&str>,
        expires: i64,
    ) -> Result<()> {
        let now = now_ms();
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM web_sessions WHERE expires <= ?1", [now])?;
            tx.execute(
                "INSERT INTO web_sessions (token_hash, account, created, expires) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![token_hash, account, now, expires],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// The live web session named by `token_hash`.
    pub fn web_session(&self, token_hash: &[u8]) -> Result<Option<WebSession>> {
        let now = now_ms();
        self.read(|c| {
            Ok(c.query_row(
                "SELECT account, created, expires FROM web_sessions \
                 WHERE token_hash = ?1 AND expires > ?2",
                params![token_hash, now],
                |r| {
                    Ok(WebSession {
                        account: r.get(0)?,
                        created: r.get(1)?,
                        expires: r.get(2)?,
                    })
                },
            )
            .optional()?)
        })
    }

    /// Ends the web session named by `token_hash`; whether there was one.
    pub fn close_web_session(&self, token_hash: &[u8]) -> Result<bool> {
        self.with(|c| {
            Ok(c.execute(
                "DELETE FROM web_sessions WHERE token_hash = ?1",
                [token_hash],
            )? > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::catalog::{Catalog, now_ms};

    #[test]
    fn web_sessions_answer_until_they_expire_or_close() {
        let cat = Catalog::open_in_memory().unwrap();
        cat.open_web_session(b"live", None, now_ms() + 60_000)
            .unwrap();
        cat.open_web_session(b"old", None, now_ms() - 1).unwrap();
        let live = cat.web_session(b"live").unwrap().unwrap();
        assert_eq!(live.account, None);
        assert!(cat.web_session(b"old").unwrap().is_none());
        assert!(cat.web_session(b"other").unwrap().is_none());
        assert!(cat.close_web_session(b"live").unwrap());
        assert!(cat.web_session(b"live").unwrap().is_none());
        assert!(!cat.close_web_session(b"live").unwrap());
    }
}
