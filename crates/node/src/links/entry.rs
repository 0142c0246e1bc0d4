//! Share links of entries: a file opened by whoever holds its link, with
//! no account and no secret, until the link expires or is revoked.
//!
//! A link is `<id>.<signature>`: the id (12 random bytes) names the
//! catalog's row (`cairn_store::entry_links`: the entry, the expiry),
//! the signature (the `entry-link` purpose's, 16 bytes) proves the node
//! made it, so an id alone, or a guess, opens nothing. Nothing secret is
//! stored: the node can show a link again at any time, and revoking it
//! is deleting its row. Paid files are sold, not shared: they get no link,
//! and a file that became paid is no longer opened by the links it had.

use std::time::Duration;

use base64::Engine;
use cairn_store::catalog::now_ms;
use cairn_store::entry_links::EntryLinkRow;
use serde::Serialize;

use super::Links;
use crate::tasks::blocking;
use crate::{Entry, EntryKind, NodeError};

type Result<T> = std::result::Result<T, NodeError>;

/// The purpose share links are signed for.
const PURPOSE: &str = "entry-link";

/// A share link.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntryLink {
    /// Its id (what revoking names).
    pub id: String,
    /// The entry it opens.
    pub entry: String,
    /// The link's token: `<id>.<signature>`.
    pub token: String,
    /// Where it opens, on the node's main listener: `/s/<token>`.
    pub path: String,
    /// When it was made, Unix milliseconds.
    pub created: i64,
    /// When it ends, Unix milliseconds (`null`: when revoked).
    pub expires: Option<i64>,
    /// Whether it has ended.
    pub expired: bool,
    /// How many times its file was fetched from the start.
    pub opened: u64,
}

fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Links {
    fn token_of(&self, id: &str) -> String {
        let sig = self.sign(PURPOSE, &[id.as_bytes()]);
        format!("{id}.{}", encode(&sig[..16]))
    }

    fn link_of(&self, row: EntryLinkRow) -> EntryLink {
        let token = self.token_of(&row.id);
        EntryLink {
            path: format!("/s/{token}"),
            token,
            expired: row.expires.is_some_and(|e| e <= now_ms()),
            id: row.id,
            entry: row.entry,
            created: row.created,
            expires: row.expires,
            opened: row.opened,
        }
    }

    /// A new share link of file `entry`, ending after `ttl` (never, with
    /// `None`, until revoked). Folders and paid files get none.
    pub async fn share_entry(&self, entry: &str, ttl: Option<Duration>) -> Result<EntryLink> {
        let file = self.shareable(entry).await?;
        let mut id = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        let now = now_ms();
        let row = EntryLinkRow {
            id: encode(&id),
            entry: file.id,
            created: now,
            expires: ttl.map(|t| now.saturating_add(t.as_millis().min(i64::MAX as u128) as i64)),
            opened: 0,
        };
        let (catalog, kept) = (self.shared.catalog.clone(), row.clone());
        blocking(move || Ok(catalog.add_entry_link(&kept)?)).await?;
        Ok(self.link_of(row))
    }

    /// Entry `id` if it may have a link: a file, not paid.
    async fn shareable(&self, id: &str) -> Result<Entry> {
        let (catalog, id) = (self.shared.catalog.clone(), id.to_owned());
        let (entry, metadata) =
            blocking(move || Ok((catalog.entry(&id)?, catalog.metadata(&id)?))).await?;
        if entry.kind != EntryKind::File {
            return Err(NodeError::Invalid(format!(
                "'{}' is a folder: share links open files",
                entry.name
            )));
        }
        if crate::paid::terms::PaidTerms::of(&metadata).restricted {
            return Err(NodeError::Invalid(format!(
                "'{}' is a paid file: it is sold, not shared by link",
                entry.name
            )));
        }
        Ok(entry)
    }

    /// The share links of entry `entry`, ended ones too, newest first.
    pub async fn entry_links(&self, entry: &str) -> Result<Vec<EntryLink>> {
        let (catalog, entry) = (self.shared.catalog.clone(), entry.to_owned());
        let rows = blocking(move || {
            catalog.entry(&entry)?;
            Ok(catalog.entry_links(&entry)?)
        })
        .await?;
        Ok(rows.into_iter().map(|r| self.link_of(r)).collect())
    }

    /// Revokes share link `id`; whether there was one.
    pub async fn revoke_entry_link(&self, id: &str) -> Result<bool> {
        let (catalog, id) = (self.shared.catalog.clone(), id.to_owned());
        blocking(move || Ok(catalog.revoke_entry_link(&id)?)).await
    }

    /// What share link `token` opens, while it is live and its file may
    /// still be shared; `None` for anything else (unknown, forged,
    /// expired, revoked), all alike.
    pub async fn open_entry_link(&self, token: &str) -> Result<Option<(EntryLink, Entry)>> {
        let Some((id, sig)) = token.split_once('.') else {
            return Ok(None);
        };
        let Ok(sig) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig) else {
            return Ok(None);
        };
        if sig.len() != 16 || !self.signed(PURPOSE, &[id.as_bytes()], &sig) {
            return Ok(None);
        }
        let (catalog, key) = (self.shared.catalog.clone(), id.to_owned());
        let Some(row) = blocking(move || Ok(catalog.entry_link(&key, now_ms())?)).await? else {
            return Ok(None);
        };
        match self.shareable(&row.entry).await {
            Ok(entry) => Ok(Some((self.link_of(row), entry))),
            Err(_) => Ok(None),
        }
    }

    /// Counts one opening of share link `id` (its file fetched from the
    /// start).
    pub async fn count_entry_link(&self, id: &str) -> Result<()> {
        let (catalog, id) = (self.shared.catalog.clone(), id.to_owned());
        blocking(move || Ok(catalog.entry_link_opened(&id)?)).await
    }
}
