//! MetaDisk's files, over the engine's public API: uploads charged 4×B to a token
//! before anything is committed, downloads charged 1×B when the file is in
//! the node's own store (MetaDisk's "cached" case) and 2×B when it must
//! come from its suppliers, and the mapping between MetaDisk's file hashes
//! and cairn's entries (tags in the `metadisk` namespace).
//!
//! A MetaDisk upload is stored like any other file (plaintext blob,
//! encrypted at rest with cairn's own keys) in the folder `MetaDisk`, named
//! `<first 7 hex of filehash>_<safe name>` as MetaDisk named its cache
//! files. Its MetaDisk key is derived, never stored: HMAC of the blob's
//! sha256 alias. The MetaDisk ciphertext (what a download without the key
//! returns, and what `filehash` hashes) is produced on the fly.

use std::sync::{Arc, Mutex};

use crate::crypt::{Cipher, CounterStart, DEFAULT_PASSPHRASE, key};
use bytes::Bytes;
use cairn_node::{
    ByteStream, CommitCheck, Entry, EntryInfo, ErrorKind, Node, NodeError, OnConflict, UploadTarget,
};
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use sha2::{Digest, Sha256};

type Result<T> = std::result::Result<T, NodeError>;

/// The folder MetaDisk uploads go into.
const FOLDER: &str = "MetaDisk";

/// The tag namespace of MetaDisk's file hashes.
const TAGS: &str = "metadisk";

/// What an upload answers.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MetaDiskStored {
    /// SHA-256 of the MetaDisk ciphertext.
    pub(crate) filehash: String,
    /// The convergent key, 64 hex.
    pub(crate) key: String,
}

/// A MetaDisk file, found by its hash.
#[derive(Debug, Clone)]
pub(crate) struct MetaDiskFile {
    /// The entry holding it.
    pub(crate) entry: Entry,
    /// Its MetaDisk hash.
    pub(crate) filehash: String,
    /// When it was stored, Unix seconds.
    pub(crate) stored_secs: i64,
    key: [u8; 32],
}

impl MetaDiskFile {
    /// Whether `hex` is this file's key (compared in constant time: the
    /// key is what lets a caller read the file).
    pub(crate) fn key_matches(&self, hex: &str) -> bool {
        let Ok(given) = hex::decode(hex.trim()) else {
            return false;
        };
        cairn_api::auth::equal(&given, &self.key)
    }
}

fn counter_start(node: &Node) -> CounterStart {
    if node.config().gateway.metadisk_counter_start == 0 {
        CounterStart::Zero
    } else {
        CounterStart::One
    }
}

/// Charges `bytes` to `token`, or lets an anonymous transfer through if
/// the config allows it. A token the node never issued has nothing to
/// pay with, as web-core answered any refusal of the accounts service.
async fn charge(node: &Node, token: Option<&str>, bytes: u64, reason: &str) -> Result<()> {
    // The token is not named: this error may be kept in a job record.
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        if node.config().gateway.metadisk_anonymous {
            return Ok(());
        }
        return Err(NodeError::insufficient("anonymous", bytes));
    };
    let charged = if bytes == 0 {
        node.tokens().balance(token).await.map(drop)
    } else {
        node.tokens().withdraw(token, bytes, reason).await
    };
    match charged {
        Err(NodeError::UnknownToken) => Err(NodeError::insufficient("of an unknown token", bytes)),
        Err(e) if e.kind() == ErrorKind::Invalid => {
            Err(NodeError::insufficient("of this token", bytes))
        }
        other => other,
    }
}

/// Stores a MetaDisk upload: charges 4 × its size to the token that
/// `token` yields (asked once the body is sealed, so a token sent after
/// the file in a form still counts) before it is committed (refused:
/// nothing stored), then answers its hash and key.
pub(crate) async fn upload<S, E>(
    node: &Node,
    token: Box<dyn Fn() -> Result<Option<String>> + Send + Sync>,
    name: &str,
    body: S,
) -> Result<MetaDiskStored>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let folder = node.entries().create_folder(None, FOLDER.into()).await?;
    let (charging, runtime) = (node.clone(), tokio::runtime::Handle::current());
    // Run on the upload's blocking thread, before the commit.
    let check: CommitCheck = Box::new(move |size| {
        let token = token()?;
        runtime.block_on(charge(
            &charging,
            token.as_deref(),
            size.saturating_mul(4),
            "MetaDisk upload (4 x size)",
        ))
    });
    let target = UploadTarget {
        parent: Some(folder.id),
        name: safe_name(name),
        on_conflict: OnConflict::Rename,
        wait_digests: true,
    };
    let info = node
        .entries()
        .upload_checked(target, body, None, check)
        .await?;
    let key = metadisk_key(&info)?;
    let filehash = metadisk_hash(node, &info.entry, &key).await?;
    let named = format!("{}_{}", &filehash[..7], info.entry.name);
    let entry = match node
        .entries()
        .update_entry(&info.entry.id, Some(named), None)
        .await
    {
        Ok(e) => e,
        // An earlier upload of the same content already has the name.
        Err(e) if e.kind() == ErrorKind::NameTaken => info.entry.clone(),
        Err(e) => return Err(e),
    };
    node.entries().tag(TAGS, &filehash, &entry.id).await?;
    Ok(MetaDiskStored {
        filehash,
        key: hex::encode(key),
    })
}

/// SHA-256 of the MetaDisk ciphertext of `entry`.
async fn metadisk_hash(node: &Node, entry: &Entry, key: &[u8; 32]) -> Result<String> {
    let blob = entry.blob.clone().unwrap_or_default();
    let handle = node.blobs().open(&blob).await?;
    let (key, start) = (*key, counter_start(node));
    tokio::task::spawn_blocking(move || {
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
    .await?
}

/// The file MetaDisk's `filehash` names, if any.
pub(crate) async fn find(node: &Node, filehash: &str) -> Result<Option<MetaDiskFile>> {
    let Some((entry, created)) = node.entries().tagged(TAGS, filehash).await? else {
        return Ok(None);
    };
    let info = node.entries().entry(&entry.id).await?;
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
pub(crate) async fn download(
    node: &Node,
    token: Option<String>,
    file: &MetaDiskFile,
    plain: bool,
) -> Result<ByteStream> {
    let size = file.entry.size;
    let blob = file.entry.blob.as_deref().unwrap_or_default();
    let (cost, reason) = if node.blobs().is_local(blob).await? {
        (size, "MetaDisk download (1 x size, local)")
    } else {
        (
            size.saturating_mul(2),
            "MetaDisk download (2 x size, from the network)",
        )
    };
    charge(node, token.as_deref(), cost, reason).await?;
    let handle = node.blobs().open(blob).await?;
    let stream = node.blobs().stream(
        handle,
        0..size,
        file.entry.name.clone(),
        Some(file.entry.id.clone()),
    );
    if plain {
        return Ok(stream);
    }
    let cipher = Arc::new(Mutex::new(Cipher::new(&file.key, counter_start(node))));
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

/// The MetaDisk key of an entry: derived from its blob's sha256 alias, never
/// stored.
fn metadisk_key(info: &EntryInfo) -> Result<[u8; 32]> {
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
fn safe_name(name: &str) -> String {
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
