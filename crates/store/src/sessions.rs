//! Passwords and sessions of gateway users (migration 19).
//!
//! A user may have a password (its slow hash, a PHC string, made by the
//! engine) and sign in with their email; the email is then no other
//! such user's. A sign-in opens a session: a random token whose SHA-256
//! names a row, for one door (`purpose`), until it expires. Sessions
//! outlive a restart; expired ones are never answered and are swept.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::StoreError;
use crate::catalog::{Catalog, now_ms};
use crate::users::{User, password_user_in};

type Result<T> = std::result::Result<T, StoreError>;

impl Catalog {
    /// The user who signs in with `email`, and their password's hash.
    pub fn password_user(&self, email: &str) -> Result<Option<(User, String)>> {
        self.read(|c| {
            let Some(user) = password_user_in(c, email)? else {
                return Ok(None);
            };
            let hash: String = c.query_row(
                "SELECT password_hash FROM users WHERE account = ?1",
                [&user.account],
                |r| r.get(0),
            )?;
            Ok(Some((user, hash)))
        })
    }

    /// Sets (or, with `None`, removes) the password of the user whose
    /// account is `account`; removing it also closes their sessions.
    pub fn set_password(&self, account: &str, hash: Option<&str>) -> Result<()> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let email: Option<String> = tx
                .query_row(
                    "SELECT email FROM users WHERE account = ?1",
                    [account],
                    |r| r.get(0),
                )
                .optional()?;
            let email = email.ok_or_else(|| StoreError::NotFound {
                what: "user",
                id: account.chars().take(80).collect(),
            })?;
            if hash.is_some() {
                if email.is_empty() {
                    return Err(StoreError::Invalid(
                        "an account needs an email to sign in with a password".into(),
                    ));
                }
                if let Some(other) = password_user_in(&tx, &email)?
                    && other.account != account
                {
                    return Err(StoreError::NameTaken {
                        name: email,
                        existing: other.account,
                    });
                }
            }
            tx.execute(
                "UPDATE users SET password_hash = ?2 WHERE account = ?1",
                params![account, hash],
            )?;
            if hash.is_none() {
                tx.execute("DELETE FROM sessions WHERE account = ?1", [account])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// How many gateway users there are.
    pub fn user_count(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        })
    }

    /// Records a session of `account` for `purpose`, named by its token's
    /// hash, until `expires` (Unix milliseconds); expired sessions go.
    pub fn open_session(
        &self,
        token_hash: &[u8],
        account: &str,
        purpose: &str,
        expires: i64,
    ) -> Result<()> {
        let now = now_ms();
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM sessions WHERE expires <= ?1", [now])?;
            tx.execute(
                "INSERT INTO sessions (token_hash, account, purpose, created, expires) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![token_hash, account, purpose, now, expires],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// The user whose live session for `purpose` the token hashed to
    /// `token_hash` is, and when it expires.
    pub fn session(&self, token_hash: &[u8], purpose: &str) -> Result<Option<(User, i64)>> {
        let now = now_ms();
        self.read(|c| {
            let found = c
                .query_row(
                    "SELECT s.expires, u.account, u.login, u.key_hash, u.email, u.home, \
                     u.storage_limit, u.traffic_limit, u.created \
                     FROM sessions s JOIN users u ON u.account = s.account \
                     WHERE s.token_hash = ?1 AND s.purpose = ?2 AND s.expires > ?3",
                    params![token_hash, purpose, now],
                    |r| {
                        let expires: i64 = r.get(0)?;
                        Ok((expires, user_from_row_at(r, 1)?))
                    },
                )
                .optional()?;
            Ok(found.map(|(expires, user)| (user, expires)))
        })
    }

    /// Ends the session named by `token_hash`; whether there was one.
    pub fn close_session(&self, token_hash: &[u8]) -> Result<bool> {
        self.with(|c| {
            Ok(c.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])? > 0)
        })
    }
}

/// A user from the row's columns from `at` on, in `USER_COLUMNS` order.
fn user_from_row_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<User> {
    Ok(User {
        account: r.get(at)?,
        login: r.get(at + 1)?,
        key_hash: r.get(at + 2)?,
        email: r.get(at + 3)?,
        home: r.get(at + 4)?,
        storage_limit: r.get::<_, Option<i64>>(at + 5)?.map(|v| v as u64),
        traffic_limit: r.get::<_, Option<i64>>(at + 6)?.map(|v| v as u64),
        created: r.get(at + 7)?,
    })
}

#[cfg(test)]
mod tests {
    use crate::catalog::Catalog;
    use crate::users::NewUser;
    use crate::{StoreError, catalog::now_ms};

    fn user(
        cat: &Catalog,
        login: &str,
        email: &str,
        password: Option<&str>,
    ) -> Result<crate::users::User, StoreError> {
        cat.create_user(&NewUser {
            login,
            key_hash: &[1; 32],
            email,
            storage_limit: None,
            traffic_limit: None,
            password_hash: password,
        })
    }

    #[test]
    fn one_password_user_per_email_and_sessions_expire() {
        let cat = Catalog::open_in_memory().unwrap();
        let ann = user(&cat, "ann", "Ann@Example.com", Some("$h1")).unwrap();
        // Another account may share the email, but not sign in with it.
        assert!(matches!(
            user(&cat, "ann2", "ann@example.com", Some("$h2")),
            Err(StoreError::NameTaken { .. })
        ));
        let other = user(&cat, "ann3", "ann@example.com", None).unwrap();
        assert!(matches!(
            cat.set_password(&other.account, Some("$h3")),
            Err(StoreError::NameTaken { .. })
        ));
        let (found, hash) = cat.password_user("ANN@example.com").unwrap().unwrap();
        assert_eq!(
            (found.account.as_str(), hash.as_str()),
            (ann.account.as_str(), "$h1")
        );
        assert!(cat.password_user("nobody@example.com").unwrap().is_none());
        assert_eq!(cat.user_count().unwrap(), 2);

        let later = now_ms() + 60_000;
        cat.open_session(b"t1", &ann.account, "powder", later)
            .unwrap();
        cat.open_session(b"t0", &ann.account, "powder", now_ms() - 1)
            .unwrap();
        let (who, expires) = cat.session(b"t1", "powder").unwrap().unwrap();
        assert_eq!((who.login.as_str(), expires), ("ann", later));
        assert!(
            cat.session(b"t1", "web").unwrap().is_none(),
            "another door's"
        );
        assert!(cat.session(b"t0", "powder").unwrap().is_none(), "expired");
        // Removing the password closes the sessions.
        cat.set_password(&ann.account, None).unwrap();
        assert!(cat.session(b"t1", "powder").unwrap().is_none());
        assert!(cat.password_user("ann@example.com").unwrap().is_none());
        cat.set_password(&ann.account, Some("$h4")).unwrap();
        cat.open_session(b"t2", &ann.account, "powder", later)
            .unwrap();
        assert!(cat.close_session(b"t2").unwrap());
        assert!(!cat.close_session(b"t2").unwrap());
    }
}
