//! Powder's keys (§2): the master key made at each start, user tokens
//! (engine sessions of accounts with a password), the embed token.

use std::path::Path;
use std::time::Duration;

use cairn_node::User;
use rand::RngCore;

use crate::AppState;

/// The door's name for its sessions.
pub(crate) const SESSIONS: &str = "powder";

/// How long a user token lives: 7 days, as Powder's.
pub(crate) const TOKEN_LIFE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The history of callers with the embed token (Powder kept it under
/// `undefined`).
pub(crate) const EMBED_VIEWER: &str = "powder:embed";

/// The history of callers with the args key (Powder's `true`).
pub(crate) const ARGS_VIEWER: &str = "powder:args";

/// The keys this layer made.
pub(crate) struct Keys {
    master: String,
    args: String,
}

impl Keys {
    /// A new master key, logged and written to `<data dir>/powder.key`.
    pub(crate) fn new(data_dir: &Path) -> Self {
        let master = random_hex();
        tracing::info!(target: "powder", "master key: {master}");
        let file = data_dir.join("powder.key");
        if let Err(e) = crate::write_atomically(&file, format!("{master}\n").as_bytes()) {
            tracing::warn!(error = %e, file = %file.display(), "the Powder master key was not written");
        }
        Self {
            master,
            args: random_hex(),
        }
    }

    pub(crate) fn master(&self) -> &str {
        &self.master
    }

    /// The args key: new at each start, a user's power, what the master
    /// hands a phone (`qrCode`).
    pub(crate) fn args(&self) -> &str {
        &self.args
    }
}

/// 32 random hex digits (128 bits), Powder's key format.
pub(crate) fn random_hex() -> String {
    let mut raw = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

/// Who is calling.
#[derive(Clone)]
pub(crate) enum Caller {
    /// The master key: every method, every setting.
    Master,
    /// A user's token.
    User(User),
    /// The embed token: the embedded player's methods only.
    Embed,
    /// The args key: a user's methods, the master's files.
    Args,
}

impl Caller {
    pub(crate) fn is_master(&self) -> bool {
        matches!(self, Self::Master)
    }

    /// Whose history this caller keeps.
    pub(crate) fn viewer(&self) -> String {
        match self {
            Self::Master => String::new(),
            Self::User(u) => u.account.clone(),
            Self::Embed => EMBED_VIEWER.into(),
            Self::Args => ARGS_VIEWER.into(),
        }
    }

    /// Who reads stored files.
    pub(crate) fn reader(&self) -> cairn_node::Reader {
        match self {
            Self::Master | Self::Args => cairn_node::Reader::Admin,
            Self::User(u) => cairn_node::Reader::User(u.clone()),
            Self::Embed => cairn_node::Reader::Anonymous,
        }
    }
}

/// The caller `key` makes, if it is a key at all.
pub(crate) async fn caller(state: &AppState, key: &str) -> Option<Caller> {
    if key.is_empty() {
        return None;
    }
    if cairn_api::auth::equal(key.as_bytes(), state.keys.master().as_bytes()) {
        return Some(Caller::Master);
    }
    if cairn_api::auth::equal(key.as_bytes(), state.keys.args().as_bytes()) {
        return Some(Caller::Args);
    }
    let embed = state.settings.embed_token();
    if !embed.is_empty() && cairn_api::auth::equal(key.as_bytes(), embed.as_bytes()) {
        return Some(Caller::Embed);
    }
    match state.node.accounts().session(SESSIONS, key).await {
        Ok(Some((user, _))) => Some(Caller::User(user)),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "a Powder token could not be checked");
            None
        }
    }
}
