//! Gateway users: accounts with an API login and key, a home folder, a
//! storage quota and a 24-hour traffic limit, and balances of bytes and
//! credits on the ledger.
//!
//! Keys are shown once, when the account is made, and only their SHA-256
//! is kept; a login and key are checked in constant time. Logins are 16
//! hex characters and keys 16 base64url characters when the node makes
//! them up (Openload's formats, with a longer key).
//!
//! An account with an email may also have a password, kept as an Argon2id
//! hash, to sign in with at the doors made for people (Powder Web, the
//! web UI): a sign-in opens a session for that door, a random 128-bit
//! token (32 hex digits, Powder's format) of which only the SHA-256 is
//! kept, expiring, surviving restarts.

use std::sync::Arc;

use cairn_store::StoreError;
use cairn_store::ledger::{MAX_AMOUNT, MINT, Unit};
use cairn_store::users::{NewUser, User};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::shared::Shared;
use crate::tasks::blocking;
use crate::{Entry, NodeError};

type Result<T> = std::result::Result<T, NodeError>;

/// Longest login accepted.
const MAX_LOGIN: usize = 64;

/// An account to create.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// API login; made up when absent. 1 to 64 of `a-z A-Z 0-9 _ - . @`;
    /// case-blind.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Za-z0-9_.@-]{1,64}$"))]
    pub login: Option<String>,
    /// Contact address.
    #[serde(default)]
    pub email: String,
    /// Storage quota in bytes (none: unlimited).
    #[serde(default)]
    pub storage_limit: Option<u64>,
    /// Traffic allowed per 24 hours in bytes (none: unlimited).
    #[serde(default)]
    pub traffic_limit: Option<u64>,
    /// A password to sign in with the email (8 to 1024 characters; the
    /// email must then be no other account's that has a password).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 1024))]
    pub password: Option<String>,
}

/// A session opened by a sign-in: its token, shown this once.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token (32 hex digits).
    pub token: String,
    /// When it ends, Unix milliseconds.
    pub expires: i64,
}

/// An account as its owner and the admin see it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountInfo {
    /// The ledger account id.
    pub account: String,
    /// API login.
    pub login: String,
    /// Contact address.
    pub email: String,
    /// The home folder's entry id.
    pub home: String,
    /// Sign-up time, Unix milliseconds.
    pub created: i64,
    /// Bytes of files owned.
    pub storage_used: u64,
    /// Storage quota (none: unlimited).
    pub storage_limit: Option<u64>,
    /// Traffic in the last 24 hours.
    pub traffic_used_24h: u64,
    /// Traffic limit per 24 hours (none: unlimited).
    pub traffic_limit: Option<u64>,
    /// Transfer-byte balance.
    pub bytes: i64,
    /// Credits balance.
    pub credits: i64,
}

/// A new account and its key, which is shown this once.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedAccount {
    /// The account.
    #[serde(flatten)]
    pub info: AccountInfo,
    /// The API key.
    pub key: String,
}

/// An access key and its secret, for the doors that sign requests (S3).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessKey {
    /// The key id (20 characters, `CRN` and 17 of `A-Z 2-7`).
    pub access_key_id: String,
    /// The secret (40 base64url characters).
    pub secret_access_key: String,
    /// The account's login; absent for the operator's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
}

/// The accounts service: gateway users (see the module docs). Cheap to
/// clone.
#[derive(Clone)]
pub struct Accounts {
    shared: Arc<Shared>,
}

impl Accounts {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Creates a gateway account (admin).
    pub async fn create(&self, req: NewAccount) -> Result<CreatedAccount> {
        let login = match req.login {
            Some(login) => {
                check_login(&login)?;
                login
            }
            None => random_login(),
        };
        let key = random_key();
        let node = self.clone();
        blocking(move || {
            let password = match &req.password {
                Some(p) => Some(password_hash(&req.email, p)?),
                None => None,
            };
            let user = node.shared.catalog.create_user(&NewUser {
                login: &login,
                key_hash: &key_hash(&key),
                email: &req.email,
                storage_limit: req.storage_limit,
                traffic_limit: req.traffic_limit,
                password_hash: password.as_deref(),
            })?;
            Ok(CreatedAccount {
                info: node.account_info(&user)?,
                key,
            })
        })
        .await
    }

    /// Every account (admin).
    pub async fn list(&self) -> Result<Vec<AccountInfo>> {
        let node = self.clone();
        blocking(move || {
            node.shared
                .catalog
                .users()?
                .iter()
                .map(|u| node.account_info(u))
                .collect()
        })
        .await
    }

    /// The account with login `login`.
    pub async fn get(&self, login: &str) -> Result<AccountInfo> {
        let node = self.clone();
        let login = login.to_owned();
        blocking(move || node.account_info(&node.user_named(&login)?)).await
    }

    /// Changes an account's limits (admin): `None` leaves a limit as it is,
    /// `Some(None)` lifts it.
    pub async fn set_limits(
        &self,
        login: &str,
        storage: Option<Option<u64>>,
        traffic: Option<Option<u64>>,
    ) -> Result<AccountInfo> {
        let node = self.clone();
        let login = login.to_owned();
        blocking(move || {
            let user = node
                .shared
                .catalog
                .set_user_limits(&login, storage, traffic)?;
            node.account_info(&user)
        })
        .await
    }

    /// Adds `amount` credits (or transfer bytes), 1 to [`MAX_AMOUNT`], to
    /// an account, from the mint (admin).
    pub async fn deposit(&self, login: &str, unit: Unit, amount: u64) -> Result<AccountInfo> {
        let amount = i64::try_from(amount)
            .ok()
            .filter(|a| (1..=MAX_AMOUNT).contains(a))
            .ok_or_else(|| {
                NodeError::Invalid(format!("amount is from 1 to {MAX_AMOUNT}, not {amount}"))
            })?;
        let node = self.clone();
        let login = login.to_owned();
        blocking(move || {
            let user = node.user_named(&login)?;
            node.shared
                .catalog
                .transfer(MINT, &user.account, unit, amount, "admin deposit")?;
            node.shared.metrics.ledger_moved(unit, "deposit", amount);
            node.account_info(&user)
        })
        .await
    }

    /// The user whose login and key these are, or
    /// [`NodeError::Unauthorized`].
    pub async fn authenticate(&self, login: &str, key: &str) -> Result<User> {
        if login.is_empty() || login.len() > MAX_LOGIN || key.is_empty() || key.len() > 256 {
            return Err(NodeError::Unauthorized);
        }
        let node = self.clone();
        let (login, key) = (login.to_owned(), key.to_owned());
        blocking(move || {
            let user = node.shared.catalog.user_by_login(&login)?;
            let presented = key_hash(&key);
            // Hash something even for an unknown login, so the answer takes
            // as long either way.
            let stored = user.as_ref().map_or(&[0u8; 32][..], |u| &u.key_hash[..]);
            let same = crate::links::same_bytes(stored, &presented);
            match user {
                Some(user) if same => Ok(user),
                _ => Err(NodeError::Unauthorized),
            }
        })
        .await
    }

    /// Sets `login`'s password (admin), or with `None` removes it and
    /// closes the account's sessions.
    pub async fn set_password(&self, login: &str, password: Option<String>) -> Result<()> {
        let (node, login) = (self.clone(), login.to_owned());
        blocking(move || {
            let user = node.user_named(&login)?;
            let hash = match &password {
                Some(p) => Some(password_hash(&user.email, p)?),
                None => None,
            };
            Ok(node
                .shared
                .catalog
                .set_password(&user.account, hash.as_deref())?)
        })
        .await
    }

    /// The account that signs in with `email` and `password`: not found
    /// when no account signs in with that email, unauthorized when the
    /// password is wrong. The hash is worked out either way.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<User> {
        if email.is_empty() || email.len() > 320 || password.len() > MAX_PASSWORD {
            return Err(NodeError::Unauthorized);
        }
        let node = self.clone();
        let (email, password) = (email.to_owned(), password.to_owned());
        blocking(move || {
            let found = node.shared.catalog.password_user(&email)?;
            let stored = found.as_ref().map_or(DUMMY_HASH, |(_, h)| h.as_str());
            let right = password_matches(stored, &password);
            match found {
                Some((user, _)) if right => Ok(user),
                Some(_) => Err(NodeError::Unauthorized),
                None => Err(NodeError::NotFound(
                    "no account signs in with this email".into(),
                )),
            }
        })
        .await
    }

    /// How many accounts there are.
    pub async fn count(&self) -> Result<u64> {
        let node = self.clone();
        blocking(move || Ok(node.shared.catalog.user_count()?)).await
    }

    /// Opens a session of `user` at the door `purpose` for `ttl`.
    pub async fn open_session(
        &self,
        user: &User,
        purpose: &str,
        ttl: std::time::Duration,
    ) -> Result<Session> {
        let mut raw = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = hex::encode(raw);
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        let expires = cairn_store::catalog::now_ms().saturating_add(ttl_ms);
        let (node, account, purpose, hash) = (
            self.clone(),
            user.account.clone(),
            purpose.to_owned(),
            key_hash(&token),
        );
        blocking(move || {
            Ok(node
                .shared
                .catalog
                .open_session(&hash, &account, &purpose, expires)?)
        })
        .await?;
        Ok(Session { token, expires })
    }

    /// The user whose live session at `purpose` `token` is, with its end.
    pub async fn session(&self, purpose: &str, token: &str) -> Result<Option<(User, i64)>> {
        if token.is_empty() || token.len() > 256 {
            return Ok(None);
        }
        let (shared, purpose, hash) = (self.shared.clone(), purpose.to_owned(), key_hash(token));
        self.shared
            .lookup(move || Ok(shared.catalog.session(&hash, &purpose)?))
            .await
    }

    /// Ends the session `token`; whether there was one.
    pub async fn close_session(&self, token: &str) -> Result<bool> {
        let (node, hash) = (self.clone(), key_hash(token));
        blocking(move || Ok(node.shared.catalog.close_session(&hash)?)).await
    }

    /// The current figures of `user`'s account.
    pub async fn info(&self, user: &User) -> Result<AccountInfo> {
        let node = self.clone();
        let user = user.clone();
        blocking(move || node.account_info(&user)).await
    }

    /// Counts `bytes` of traffic against `user`'s 24-hour limit, or refuses
    /// with code `traffic_exceeded` and counts nothing.
    pub async fn charge_traffic(&self, user: &User, bytes: u64) -> Result<()> {
        let node = self.clone();
        let (account, limit) = (user.account.clone(), user.traffic_limit);
        blocking(move || Ok(node.shared.catalog.charge_traffic(&account, bytes, limit)?)).await
    }

    /// The access key of `login`'s account (`None`: the operator's), for
    /// the doors that sign requests with a key id and secret (S3): the
    /// oldest one, made when there is none; with `rotate`, every key
    /// before is removed and a new one made. The secret is derived from
    /// the node's identity and the key id, never kept.
    pub async fn access_key(&self, login: Option<&str>, rotate: bool) -> Result<AccessKey> {
        let account = match login {
            Some(login) => Some(self.get(login).await?),
            None => None,
        };
        let (shared, owner) = (
            self.shared.clone(),
            account.as_ref().map(|a| a.account.clone()),
        );
        let id = blocking(move || {
            let catalog = &shared.catalog;
            if rotate {
                catalog.remove_access_keys(owner.as_deref())?;
            }
            if let Some(id) = catalog.access_keys_of(owner.as_deref())?.into_iter().next() {
                return Ok(id);
            }
            let id = random_access_key_id();
            catalog.add_access_key(&id, owner.as_deref())?;
            Ok(id)
        })
        .await?;
        Ok(AccessKey {
            secret_access_key: self.access_secret_of(&id),
            access_key_id: id,
            login: account.map(|a| a.login),
        })
    }

    /// Whose access key `id` is and its secret: `None` for no key; the
    /// operator's as `Some((None, secret))`.
    pub async fn access_secret(&self, id: &str) -> Result<Option<(Option<User>, String)>> {
        if id.is_empty() || id.len() > 128 {
            return Ok(None);
        }
        let (shared, wanted) = (self.shared.clone(), id.to_owned());
        let owner = self
            .shared
            .lookup(move || Ok(shared.catalog.access_key(&wanted)?))
            .await?;
        let user = match owner {
            None => return Ok(None),
            Some(None) => None,
            Some(Some(account)) => match self.user(&account).await? {
                Some(user) => Some(user),
                None => return Ok(None),
            },
        };
        Ok(Some((user, self.access_secret_of(id))))
    }

    /// The secret of access key `id`: 40 base64url characters of an HMAC
    /// of the id under a key derived from the identity.
    fn access_secret_of(&self, id: &str) -> String {
        use base64::Engine;
        use hmac::{Hmac, Mac};
        let key = self.shared.derived_key("access key secrets");
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        m.update(id.as_bytes());
        let tag = m.finalize().into_bytes();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag[..30])
    }

    /// The gateway user whose ledger account is `account`, if any.
    pub async fn user(&self, account: &str) -> Result<Option<User>> {
        let (node, account) = (self.clone(), account.to_owned());
        blocking(move || Ok(node.shared.catalog.user_by_account(&account)?)).await
    }

    /// Entry `id` if `user` owns it; else [`NodeError::Forbidden`] (or not
    /// found).
    pub async fn owned_entry(&self, user: &User, id: &str) -> Result<Entry> {
        let (shared, wanted) = (self.shared.clone(), id.to_owned());
        let entry = blocking(move || Ok(shared.catalog.entry(&wanted)?)).await?;
        if entry.owner.as_deref() == Some(user.account.as_str()) {
            Ok(entry)
        } else {
            Err(NodeError::Forbidden(format!(
                "entry '{id}' does not belong to {}",
                user.login
            )))
        }
    }

    fn user_named(&self, login: &str) -> Result<User> {
        self.shared.catalog.user_by_login(login)?.ok_or_else(|| {
            NodeError::Store(StoreError::NotFound {
                what: "account",
                id: login.chars().take(80).collect(),
            })
        })
    }

    fn account_info(&self, user: &User) -> Result<AccountInfo> {
        let catalog = &self.shared.catalog;
        Ok(AccountInfo {
            account: user.account.clone(),
            login: user.login.clone(),
            email: user.email.clone(),
            home: user.home.clone(),
            created: user.created,
            storage_used: catalog.storage_used(&user.account)?,
            storage_limit: user.storage_limit,
            traffic_used_24h: catalog.traffic_used(&user.account)?,
            traffic_limit: user.traffic_limit,
            bytes: catalog.balance(&user.account, Unit::Bytes)?,
            credits: catalog.balance(&user.account, Unit::Credits)?,
        })
    }
}

fn key_hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// Longest password accepted.
const MAX_PASSWORD: usize = 1024;

/// A hash no password matches, checked when no account has the email so
/// an unknown email takes as long as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// The Argon2id hash (PHC string) of `password`, for an account with
/// `email`.
fn password_hash(email: &str, password: &str) -> Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    // A rule between the password and the account's email (which may be
    // stored state): a conflict, not a malformed request.
    if email.is_empty() || !email.contains('@') {
        return Err(NodeError::Conflict(
            "an account signs in with a password by its email: give it one first".into(),
        ));
    }
    let chars = password.chars().count();
    if !(8..=MAX_PASSWORD).contains(&chars) {
        return Err(NodeError::Invalid(
            "a password has 8 to 1024 characters".into(),
        ));
    }
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| NodeError::Internal(format!("password salt: {e}")))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| NodeError::Internal(format!("password hash: {e}")))
}

/// Whether `password` is the one hashed in `stored`.
fn password_matches(stored: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(stored).is_ok_and(|hash| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

fn random_login() -> String {
    let mut raw = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

fn random_key() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut raw = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut raw);
    raw.iter()
        .map(|b| ALPHABET[usize::from(b & 63)] as char)
        .collect()
}

fn check_login(login: &str) -> Result<()> {
    let ok = !login.is_empty()
        && login.len() <= MAX_LOGIN
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(NodeError::Invalid(format!(
            "a login is 1 to {MAX_LOGIN} of a-z A-Z 0-9 _ - . @"
        )))
    }
}

/// A new access key id: `CRN` and 17 base-32 characters (85 bits).
fn random_access_key_id() -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut raw = [0u8; 17];
    rand::thread_rng().fill_bytes(&mut raw);
    let tail: String = raw
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect();
    format!("CRN{tail}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn made_up_logins_and_keys_have_their_formats() {
        let login = super::random_login();
        assert_eq!(login.len(), 16);
        assert!(login.bytes().all(|b| b.is_ascii_hexdigit()));
        let key = super::random_key();
        assert_eq!(key.len(), 16);
        assert!(super::check_login(&login).is_ok());
        assert!(super::check_login("a/b").is_err());
        assert!(super::check_login("").is_err());
        assert_ne!(super::random_key(), key);
    }

    #[test]
    fn passwords_hash_slowly_and_an_unknown_email_costs_a_whole_check() {
        use argon2::password_hash::PasswordHash;
        let hash = super::password_hash("ann@example.com", "correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(super::password_matches(&hash, "correct horse"));
        assert!(!super::password_matches(&hash, "correct horsf"));
        // The hash checked for an unknown email parses, with the same
        // parameters as a real one: the check runs whole, as long.
        let dummy = PasswordHash::new(super::DUMMY_HASH).unwrap();
        let real = PasswordHash::new(&hash).unwrap();
        assert_eq!(dummy.params, real.params);
        assert!(!super::password_matches(super::DUMMY_HASH, "correct horse"));
        assert!(super::password_hash("", "correct horse").is_err());
        assert!(super::password_hash("ann@example.com", "short").is_err());
    }
}
