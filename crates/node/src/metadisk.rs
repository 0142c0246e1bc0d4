//! The engine side of MetaDisk's file API: uploads charged 4×B to a token
//! before anything is committed, downloads charged 1×B when the file is in
//! the node's own store (MetaDisk's "cached" case) and 2×B when it must
//! come from its suppliers, and the mapping between MetaDisk's file hashes
//! and cairn's entries.
//!
//! A MetaDisk upload is stored like any other file (plaintext blob,
//! encrypted at rest with cairn's own keys) in the folder `MetaDisk`, named
//! `<first 7 hex of filehash>_<safe name>` as MetaDisk named its cache
//! files. Its MetaDisk key is derived, never stored: HMAC of the blob's
//! sha256 alias. The MetaDisk ciphertext (what a download without the key
//! returns, and what `filehash` hashes) is produced on the fly.

use std::sync::Arc;

use bytes::Bytes;
use cairn_core::metadisk::{Cipher, CounterStart, DEFAULT_PASSPHRASE, key};
use cairn_store::ledger::{SPENT, Unit};
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::node::{BeforeCommit, blocking};
use crate::read::ByteStream;
use crate::{Entry, Node, NodeError, OnConflict, UploadTarget};

type Result<T> = std::result::Result<T, NodeError>;

/// The folder MetaDisk uploads go into.
const FOLDER: &str = "MetaDisk";

/// What an upload answers.
#[derive(Debug, Clone, Serialize)]
pub struct MetaDiskStored {
    /// SHA-256 of the MetaDisk ciphertext.
    pub filehash: String,
    /// The convergent key, 64 hex.
    pub key: String,
}

/// A MetaDisk file, found by its hash.
#[derive(Debug, Clone)]
pub struct MetaDiskFile {
    /// The entry holding it.
    pub entry: Entry,
    /// Its MetaDisk hash.
    pub filehash: String,
    /// When it was stored, Unix seconds.
    pub stored_secs: i64,
    key: [u8; 32],
}

impl MetaDiskFile {
    /// Whether `hex` is this file's key (compared in constant time: the
    /// key is what lets a caller read the file).
    pub fn key_matches(&self, hex: &str) -> bool {
        let Ok(given) = hex::decode(hex.trim()) else {
            return false;
        };
        given.len() == self.key.len()
            && given
                .iter()
                .zip(&self.key)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

impl Node {
    fn counter_start(&self) -> CounterStart {
        if self.0.config.gateway.metadisk_counter_start == 0 {
            CounterStart::Zero
        } else {
            CounterStart::One
        }
    }

    /// Charges `bytes` to `token`, or lets an anonymous transfer through if
    /// the config allows it. A token the node never issued has nothing to
    /// pay with, as web-core answered any refusal of the accounts service.
    fn charge(&self, token: Option<&str>, bytes: u64, reason: &str) -> Result<()> {
        // The token is not named: this error may be kept in a job record.
        let insufficient = |account: &str| {
            NodeError::Store(cairn_store::StoreError::Insufficient {
                account: account.into(),
                unit: "bytes",
                short: i64::try_from(bytes).unwrap_or(i64::MAX),
            })
        };
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            if self.0.config.gateway.metadisk_anonymous {
                return Ok(());
            }
            return Err(insufficient("anonymous"));
        };
        let account = match self.issued_token(token) {
            Ok(Some(account)) => account,
            Ok(None) if bytes == 0 => return Ok(()),
            Ok(None) => return Err(insufficient("of a token never funded")),
            Err(NodeError::UnknownToken) => return Err(insufficient("of an unknown token")),
            Err(e) => return Err(e),
        };
        let amount = i64::try_from(bytes).map_err(|_| insufficient(&account))?;
        if amount > 0 {
            self.0
                .catalog
                .transfer(&account, SPENT, Unit::Bytes, amount, reason)?;
        }
        Ok(())
    }

    /// The transfer meter (bytes in and out, in all and this month).
    pub async fn transfer_meter(&self) -> Result<cairn_store::meter::Meter> {
        let node = self.clone();
        blocking(move || Ok(node.0.catalog.meter()?)).await
    }

    /// Stores a MetaDisk upload: charges 4 × its size to the token that
    /// `token` yields (asked once the body is sealed, so a token sent after
    /// the file in a form still counts) before it is committed (refused:
    /// nothing stored), then answers its hash and key.
    pub async fn metadisk_upload<S, E>(
        &self,
        token: Box<dyn Fn() -> Result<Option<String>> + Send + Sync>,
        name: &str,
        body: S,
    ) -> Result<MetaDiskStored>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let folder = self.create_folder(None, FOLDER.into()).await?;
        let node = self.clone();
        let charge: BeforeCommit = Box::new(move |manifest| {
            node.charge(
                token()?.as_deref(),
                manifest.size.saturating_mul(4),
                "MetaDisk upload (4 x size)",
            )
        });
        let target = UploadTarget {
            parent: Some(folder.id),
            name: safe_name(name),
            on_conflict: OnConflict::Rename,
            wait_digests: true,
        };
        let info = self.upload_with(target, body, None, charge).await?;
        let key = metadisk_key(&info)?;
        let filehash = self.metadisk_hash(&info.entry, &key).await?;
        let named = format!("{}_{}", &filehash[..7], info.entry.name);
        let entry = match self.update_entry(&info.entry.id, Some(named), None).await {
            Ok(e) => e,
            // An earlier upload of the same content already has the name.
            Err(NodeError::Store(cairn_store::StoreError::NameTaken { .. })) => info.entry.clone(),
            Err(e) => return Err(e),
        };
        let node = self.clone();
        let fh = filehash.clone();
        blocking(move || Ok(node.0.catalog.metadisk_put(&fh, &entry.id)?)).await?;
        Ok(MetaDiskStored {
            filehash,
            key: hex::encode(key),
        })
    }

    /// SHA-256 of the MetaDisk ciphertext of `entry`.
    async fn metadisk_hash(&self, entry: &Entry, key: &[u8; 32]) -> Result<String> {
        let blob = entry.blob.clone().unwrap_or_default();
        let handle = self.open_blob(&blob).await?;
        let (key, start) = (*key, self.counter_start());
        blocking(move || {
            let mut cipher = Cipher::new(&key, start);
            let mut hasher = Sha256::new();
            handle.for_each_piece(0..handle.size(), |piece| {
                let mut piece = piece.to_vec();
                cipher.apply(&mut piece);
                hasher.update(&piece);
                Ok(())
            })?;
            Ok(hex::encode(hasher.finalize()))
        })
        .await
    }

    /// The file MetaDisk's `filehash` names, if any.
    pub async fn metadisk_file(&self, filehash: &str) -> Result<Option<MetaDiskFile>> {
        let node = self.clone();
        let fh = filehash.to_owned();
        let Some((entry, created)) =
            blocking(move || Ok(node.0.catalog.metadisk_get(&fh)?)).await?
        else {
            return Ok(None);
        };
        let info = self.entry(&entry.id).await?;
        Ok(Some(MetaDiskFile {
            entry,
            filehash: filehash.to_owned(),
            stored_secs: created / 1000,
            key: metadisk_key(&info)?,
        }))
    }

    /// Charges a download of `file` (1 × its size when it is in the local
    /// store, 2 × when it comes from the network) and streams it: the
    /// plaintext when `plain`, else MetaDisk's ciphertext.
    pub async fn metadisk_download(
        &self,
        token: Option<String>,
        file: &MetaDiskFile,
        plain: bool,
    ) -> Result<ByteStream> {
        let node = self.clone();
        let size = file.entry.size;
        let blob: Option<cairn_core::BlobId> =
            file.entry.blob.as_deref().and_then(|b| b.parse().ok());
        blocking(move || {
            let local = blob.is_some_and(|b| node.local_reader(&b).is_ok());
            let (cost, reason) = if local {
                (size, "MetaDisk download (1 x size, local)")
            } else {
                (
                    size.saturating_mul(2),
                    "MetaDisk download (2 x size, from the network)",
                )
            };
            node.charge(token.as_deref(), cost, reason)
        })
        .await?;
        let handle = self
            .open_blob(file.entry.blob.as_deref().unwrap_or_default())
            .await?;
        let stream = self.stream(
            handle,
            0..size,
            file.entry.name.clone(),
            Some(file.entry.id.clone()),
        );
        if plain {
            return Ok(stream);
        }
        let cipher = Arc::new(std::sync::Mutex::new(Cipher::new(
            &file.key,
            self.counter_start(),
        )));
        Ok(Box::pin(stream.map(move |piece| {
            piece.map(|p| {
                let mut p = p.to_vec();
                cipher
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .apply(&mut p);
                Bytes::from(p)
            })
        })))
    }
}

/// The MetaDisk key of an entry: derived from its blob's sha256 alias, never
/// stored.
fn metadisk_key(info: &crate::EntryInfo) -> Result<[u8; 32]> {
    let sha256 = info
        .aliases
        .get("sha256")
        .and_then(|h| <[u8; 32]>::try_from(hex::decode(h).unwrap_or_default()).ok())
        .ok_or_else(|| {
            NodeError::Internal(format!("entry {} has no sha256 alias yet", info.entry.id))
        })?;
    Ok(key(&sha256, DEFAULT_PASSPHRASE))
}

/// A file name as Werkzeug's `secure_filename` made it: ASCII letters,
/// digits, `.`, `_` and `-`, spaces as `_`, no leading dots or underscores.
pub(crate) fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    let trimmed = cleaned.trim_start_matches(['.', '_']);
    if trimmed.is_empty() {
        "file".into()
    } else {
        trimmed.chars().take(200).collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_made_safe_like_werkzeug() {
        use super::safe_name;
        assert_eq!(safe_name("What is Storj.pdf"), "What_is_Storj.pdf");
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("..."), "file");
        assert_eq!(safe_name("héllo wörld.txt"), "hllo_wrld.txt");
    }
}
