//! The web UI's sign-ins: who a browser is.
//!
//! A browser signs in once, with a one-time login link the node prints
//! (as Jupyter's token URL; `cairn open` asks for a fresh one) or with
//! the admin secret pasted into the page, and from then on carries a
//! session token in a cookie. The catalog keeps the token's SHA-256 only
//! (`cairn_store::web_sessions`), so sessions outlive a restart and a copy
//! of the catalog signs no one in. A login link is good once, for
//! [`LOGIN_LINK_TTL`], and lives in memory only: a restart forgets the
//! links it gave, never a session.
//!
//! Every session has a CSRF token, derived from its token (an HMAC under
//! a key of the identity's), which the page sends in a header with every
//! call that changes something: a page of another site, which the
//! browser may let send the cookie, cannot read it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::NodeError;
use crate::shared::Shared;
use crate::tasks::blocking;

type Result<T> = std::result::Result<T, NodeError>;

/// How long a login link is good for (15 minutes).
pub const LOGIN_LINK_TTL: Duration = Duration::from_secs(15 * 60);

/// How long a session lasts (30 days).
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Most login links outstanding at once; the oldest go first.
const MAX_LOGIN_LINKS: usize = 64;

/// The web sign-ins service. Cheap to clone.
#[derive(Clone)]
pub struct Web {
    shared: Arc<Shared>,
    /// The admin secret, which signs the operator in.
    secret: Arc<str>,
    /// Signs the sessions' CSRF tokens.
    signer: crate::links::Links,
    /// The login links given and not used, by their token's hash.
    links: Arc<Mutex<HashMap<[u8; 32], Instant>>>,
}

/// A session just opened: its token goes in the browser's cookie.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The session's token (43 URL-safe characters).
    pub token: String,
    /// When it ends, Unix milliseconds.
    pub expires: i64,
}

/// A live session.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebSession {
    /// The gateway account it is, or `None` for the operator.
    pub account: Option<String>,
    /// When it began, Unix milliseconds.
    pub created: i64,
    /// When it ends, Unix milliseconds.
    pub expires: i64,
    /// The token the page sends in `X-CSRF-Token` with every call that
    /// changes something.
    pub csrf: String,
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}

impl Web {
    pub(crate) fn new(shared: Arc<Shared>, signer: crate::links::Links, secret: &str) -> Self {
        Self {
            shared,
            signer,
            secret: secret.into(),
            links: Arc::default(),
        }
    }

    /// A fresh one-time login link's token, good for [`LOGIN_LINK_TTL`].
    pub fn login_link(&self) -> String {
        let token = random_token();
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        links.retain(|_, given| given.elapsed() < LOGIN_LINK_TTL);
        while links.len() >= MAX_LOGIN_LINKS {
            let Some(oldest) = links.iter().min_by_key(|(_, t)| **t).map(|(k, _)| *k) else {
                break;
            };
            links.remove(&oldest);
        }
        links.insert(token_hash(&token), Instant::now());
        token
    }

    /// Signs the operator in with login link `token`, which is then used
    /// up; an unknown, used or expired link is refused.
    pub async fn redeem(&self, token: &str) -> Result<SignedIn> {
        let given = {
            let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
            links.remove(&token_hash(token))
        };
        match given {
            Some(at) if at.elapsed() < LOGIN_LINK_TTL => self.open(None).await,
            _ => Err(NodeError::Unauthorized),
        }
    }

    /// Signs the operator in with the admin secret.
    pub async fn sign_in_secret(&self, secret: &str) -> Result<SignedIn> {
        if !crate::links::same_bytes(self.secret.as_bytes(), secret.as_bytes()) {
            return Err(NodeError::Unauthorized);
        }
        self.open(None).await
    }

    async fn open(&self, account: Option<String>) -> Result<SignedIn> {
        let token = random_token();
        let expires = cairn_store::catalog::now_ms() + SESSION_TTL.as_millis() as i64;
        let (catalog, hash) = (self.shared.catalog.clone(), token_hash(&token));
        blocking(move || Ok(catalog.open_web_session(&hash, account.as_deref(), expires)?)).await?;
        Ok(SignedIn { token, expires })
    }

    /// The live session whose token is `token`.
    pub async fn session(&self, token: &str) -> Result<Option<WebSession>> {
        let (catalog, hash) = (self.shared.catalog.clone(), token_hash(token));
        let found = self
            .shared
            .lookup(move || Ok(catalog.web_session(&hash)?))
            .await?;
        Ok(found.map(|s| WebSession {
            account: s.account,
            created: s.created,
            expires: s.expires,
            csrf: self.csrf(token),
        }))
    }

    /// Ends the session whose token is `token`; whether there was one.
    pub async fn sign_out(&self, token: &str) -> Result<bool> {
        let (catalog, hash) = (self.shared.catalog.clone(), token_hash(token));
        blocking(move || Ok(catalog.close_web_session(&hash)?)).await
    }

    /// The CSRF token of the session whose token is `token`.
    pub fn csrf(&self, token: &str) -> String {
        let tag = self.signer.sign("web-csrf", &[&token_hash(token)]);
        hex::encode(&tag[..16])
    }
}
