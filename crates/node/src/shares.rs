//! Shares (`node.shares()`): a folder of this node's catalog that other
//! identities may read from the network, with or without this node.
//!
//! A share has a random id and a symmetric key. Its index (each file's
//! path, size, type and link, `<blob id>.<read key>`) is a JSON document
//! stored as a blob of its own, pinned rather than named by an entry, and
//! placed on suppliers as every blob is. The DHT holds a record signed by
//! the owner, `/cairn/doc/<owner>/share-<id>`, whose version goes up with
//! each index and whose sealed part (ChaCha20-Poly1305 under the share's
//! key, bound to the owner, the share and the version) is the index's
//! link, or a tombstone once the share is deleted. A member, given the
//! share's id and key in a sealed message, reads the record, opens the
//! index and reads the files from the owner's suppliers by their links:
//! the owner's node need not be running.
//!
//! The index goes out again whenever what the folder holds changes (the
//! catalog's count of changes that matter moved, the one its backup
//! keeps, and the index's digest differs), and the
//! record every `republish_secs`. Revoking a member gives the share a new
//! key in the same transaction; the index goes out under it, and the
//! members left are handed it, each until it takes it (an away member
//! gets it when it comes back), so the revoked one can no longer open
//! what is published next. What it read before, it may have kept: a
//! revocation stops future access, as in every system that hands out
//! keys.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_store::shares::ShareRow;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::blobs::Blobs;
use crate::entries::Entries;
use crate::messages::{Messages, ShareGrant};
use crate::network::Network;
use crate::people::People;
use crate::shared::Shared;
use crate::tasks::blocking;
use crate::{BlobHandle, EntryKind, NodeError};

type Result<T> = std::result::Result<T, NodeError>;

/// How often own shares are looked at (a changed folder, a member
/// waiting for its key).
const ROUND: Duration = Duration::from_secs(2);

/// The most files one share's index lists.
pub const MAX_FILES: usize = 100_000;

/// The largest index read from the network.
const MAX_INDEX: u64 = 64 << 20;

/// The longest label, in characters.
const MAX_LABEL: usize = 256;

/// Grants tried in one round, at most.
const GRANTS_PER_ROUND: u32 = 32;

/// One share, as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShareInfo {
    /// Its id (32 hex digits).
    pub id: String,
    /// The identity that owns it (a peer id).
    pub owner: String,
    /// Whether this node owns it.
    pub mine: bool,
    /// What people call it.
    pub label: String,
    /// The folder it shows (own shares).
    pub folder: Option<String>,
    /// The peers it is granted to (own shares).
    pub members: Vec<String>,
    /// The version of its index last published (own) or read (granted).
    pub version: i64,
    /// `open`, or `closed` (its owner deleted it).
    pub state: String,
    /// When it was made or granted here, Unix milliseconds.
    pub created: i64,
    /// The blob holding its index as last published (own shares).
    pub index: Option<String>,
}

/// A file of a share.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShareFile {
    /// Its path in the share, `/`-separated.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// Its blob.
    pub blob: String,
    /// MIME type.
    pub content_type: Option<String>,
    /// Last change, Unix milliseconds.
    pub modified: i64,
}

/// A share and what it holds.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShareListing {
    /// The share.
    pub share: ShareInfo,
    /// The version of the index these files come from.
    pub version: u64,
    /// Its files, by path.
    pub files: Vec<ShareFile>,
}

/// The index, as published.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Index {
    share: String,
    owner: String,
    label: String,
    members: Vec<String>,
    files: Vec<IndexFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct IndexFile {
    path: String,
    size: u64,
    /// `<blob id>.<read key>`.
    link: String,
    content_type: Option<String>,
    modified: i64,
}

/// What the record's sealed part holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Pointer {
    /// The index's link; none once the share is deleted.
    index: Option<String>,
}

/// `pointer` sealed under share `share`'s key for its record `version`.
fn seal_pointer(
    key: &[u8; 32],
    owner: &str,
    share: &str,
    version: u64,
    pointer: &Pointer,
) -> Result<Vec<u8>> {
    let plain = serde_json::to_vec(pointer).map_err(|e| NodeError::Internal(e.to_string()))?;
    crate::docs::seal(key, owner, &doc_name(share), version, &plain)
}

/// The pointer of share `share`'s record `version`, if `key` opens it.
fn open_pointer(
    key: &[u8; 32],
    owner: &str,
    share: &str,
    version: u64,
    sealed: &[u8],
) -> Option<Pointer> {
    let plain = crate::docs::open(key, owner, &doc_name(share), version, sealed)?;
    serde_json::from_slice(&plain).ok()
}

/// The shares service. Cheap to clone.
#[derive(Clone)]
pub struct Shares(Arc<State>);

struct State {
    shared: Arc<Shared>,
    entries: Entries,
    blobs: Blobs,
    network: Network,
    people: People,
    messages: Messages,
    me: String,
}

/// A path in a share, checked: `/`-separated names, none empty, `.` or
/// `..`, none with a NUL, at most 4096 bytes in all.
pub(crate) fn clean_path(path: &str) -> Result<Vec<String>> {
    let parts: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect();
    let bad = path.len() > 4096
        || parts
            .iter()
            .any(|p| p.is_empty() || p == "." || p == ".." || p.contains('\0') || p.len() > 255);
    if bad {
        return Err(NodeError::Invalid(format!(
            "'{}' is not a path in a share",
            path.chars().take(200).collect::<String>()
        )));
    }
    Ok(parts)
}

/// Checks a share id: 32 lowercase hex digits.
pub(crate) fn check_id(id: &str) -> Result<()> {
    if id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(NodeError::Invalid(format!(
            "'{}' is not a share id (32 hex digits)",
            id.chars().take(80).collect::<String>()
        )))
    }
}

/// A label as kept: no control characters, at most [`MAX_LABEL`].
pub(crate) fn clean_label(label: &str) -> String {
    label
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_LABEL)
        .collect()
}

/// A label given here: at most [`MAX_LABEL`] characters, kept without
/// control characters; empty once cleaned is refused.
pub(crate) fn check_label(label: &str) -> Result<String> {
    if label.chars().count() > MAX_LABEL {
        return Err(NodeError::Invalid(format!(
            "a label has at most {MAX_LABEL} characters"
        )));
    }
    let label = clean_label(label);
    if label.is_empty() {
        return Err(NodeError::Invalid("a label cannot be empty".into()));
    }
    Ok(label)
}

/// A new symmetric key (a share's, a group's).
pub(crate) fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    key
}

/// The pin holding share `id`'s index; the one before it is kept as
/// `share:<id>~` until the next, so a member that found the record before
/// still reads it. [`Shares::delete`] drops both.
fn pin_name(id: &str) -> String {
    format!("share:{id}")
}

/// The name of share `id`'s document in the DHT.
fn doc_name(id: &str) -> String {
    format!("share-{id}")
}

impl Shares {
    pub(crate) fn new(
        shared: Arc<Shared>,
        entries: Entries,
        blobs: Blobs,
        network: Network,
        people: People,
        messages: Messages,
        me: String,
    ) -> Self {
        let puts = messages.take_puts();
        let shares = Self(Arc::new(State {
            shared,
            entries,
            blobs,
            network,
            people,
            messages,
            me,
        }));
        let taking = shares.clone();
        shares
            .0
            .shared
            .spawn("share-puts", async move { taking.take_puts(puts).await });
        shares
    }

    /// Registers the `shares` service: publishing own shares as they
    /// change and handing their keys to the members that lack them (with
    /// the network on).
    pub(crate) fn register(&self, services: &crate::services::Services) {
        let maker = self.0.network.swarm().is_ok().then(|| {
            let shares = self.clone();
            let maker: crate::services::Maker =
                Arc::new(move |stop| Box::pin(shares.clone().publish_loop(stop)));
            maker
        });
        services.add(
            "shares",
            "shares: publishes their records as they change, hands keys to members",
            &["swarm"],
            maker,
        );
    }

    /// Publishes and grants every round until `stop`.
    async fn publish_loop(self, stop: tokio_util::sync::CancellationToken) -> Result<()> {
        let shares = self;
        let every = Duration::from_secs(shares.0.shared.config.network.republish_secs.max(1));
        let mut seen = None;
        let mut published: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = tokio::time::sleep(ROUND) => {}
            }
            // Entries, metadata, shares and members count; jobs,
            // message retries and the like do not, so a busy node
            // does not walk its shares' folders every round.
            let shared = shares.0.shared.clone();
            let changes = blocking(move || Ok(shared.catalog.backup_state()?.changes))
                .await
                .ok();
            let due = published.is_none_or(|at| at.elapsed() >= every);
            if changes.is_none() || seen != changes || due {
                match shares.publish_all(due).await {
                    Ok(()) => {
                        seen = changes;
                        if due {
                            published = Some(Instant::now());
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "shares not published yet"),
                }
            }
            shares.grant_pending().await;
        }
    }

    /// Makes a share of folder `folder` (an entry id of the operator's; a
    /// folder called `label` at the root when none), with a new key.
    pub async fn create(&self, label: &str, folder: Option<String>) -> Result<ShareInfo> {
        let label = check_label(label)?;
        let folder = match folder {
            Some(id) => {
                let entry = self.0.entries.entry(&id).await?.entry;
                if entry.kind != EntryKind::Folder {
                    return Err(NodeError::Invalid(format!(
                        "'{}' is a file, not a folder",
                        entry.name
                    )));
                }
                if entry.owner.is_some() {
                    return Err(NodeError::Forbidden(
                        "a share shows the operator's own folders".into(),
                    ));
                }
                entry.id
            }
            None => self.0.entries.create_folder(None, label.clone()).await?.id,
        };
        let mut id = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut id);
        let key = random_key();
        let row = ShareRow {
            id: hex::encode(id),
            owner: String::new(),
            label,
            folder: Some(folder),
            key,
            version: 0,
            digest: None,
            state: "open".into(),
            created: 0,
            members: Vec::new(),
        };
        let shared = self.0.shared.clone();
        let kept = blocking(move || Ok(shared.catalog.keep_share(&row)?)).await?;
        if self.0.network.swarm().is_ok()
            && let Err(e) = self.publish(&kept.id, false).await
        {
            tracing::info!(share = %kept.id, error = %e, "a new share is published later");
        }
        self.info(&kept.id).await
    }

    /// Every share this node owns or was granted.
    pub async fn list(&self) -> Result<Vec<ShareInfo>> {
        let shared = self.0.shared.clone();
        let rows = self
            .0
            .shared
            .lookup(move || Ok(shared.catalog.shares()?))
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.to_info(row).await?);
        }
        Ok(out)
    }

    /// Share `id`.
    pub async fn info(&self, id: &str) -> Result<ShareInfo> {
        let row = self.row(id).await?;
        self.to_info(row).await
    }

    async fn row(&self, id: &str) -> Result<ShareRow> {
        check_id(id)?;
        let (shared, owned) = (self.0.shared.clone(), id.to_owned());
        self.0
            .shared
            .lookup(move || Ok(shared.catalog.share(&owned)?))
            .await?
            .ok_or_else(|| NodeError::NotFound(format!("no share {id}")))
    }

    async fn own_row(&self, id: &str) -> Result<ShareRow> {
        let row = self.row(id).await?;
        if row.owner.is_empty() {
            Ok(row)
        } else {
            Err(NodeError::Forbidden(format!(
                "share {id} is {}'s: only its owner changes it",
                row.owner
            )))
        }
    }

    async fn to_info(&self, row: ShareRow) -> Result<ShareInfo> {
        let index = if row.owner.is_empty() {
            let (shared, name) = (self.0.shared.clone(), pin_name(&row.id));
            self.0
                .shared
                .lookup(move || Ok(shared.catalog.pinned(&name)?))
                .await?
                .map(|b| b.to_hex())
        } else {
            None
        };
        let mine = row.owner.is_empty();
        Ok(ShareInfo {
            owner: if mine { self.0.me.clone() } else { row.owner },
            mine,
            id: row.id,
            label: row.label,
            folder: row.folder,
            members: row.members,
            version: row.version,
            state: row.state,
            created: row.created,
            index,
        })
    }

    /// What share `id` holds: an own share's folder as it is now; a
    /// granted share's index as its owner last published it, read from
    /// the network.
    pub async fn files(&self, id: &str) -> Result<ShareListing> {
        let row = self.row(id).await?;
        let (version, index) = if row.owner.is_empty() {
            (row.version.max(0) as u64, self.index_of(&row).await?)
        } else {
            self.fetch_index(&row).await?
        };
        let row = self.row(id).await?;
        Ok(ShareListing {
            share: self.to_info(row).await?,
            version,
            files: index
                .files
                .into_iter()
                .map(|f| ShareFile {
                    blob: f
                        .link
                        .split_once('.')
                        .map_or(f.link.clone(), |(b, _)| b.to_owned()),
                    path: f.path,
                    size: f.size,
                    content_type: f.content_type,
                    modified: f.modified,
                })
                .collect(),
        })
    }

    /// Opens the file at `path` in share `id`, from wherever it is (this
    /// disk, or the owner's suppliers).
    pub async fn open(&self, id: &str, path: &str) -> Result<(BlobHandle, ShareFile)> {
        let row = self.row(id).await?;
        let index = if row.owner.is_empty() {
            self.index_of(&row).await?
        } else {
            self.fetch_index(&row).await?.1
        };
        let path = path.trim_matches('/');
        let file = index
            .files
            .into_iter()
            .find(|f| f.path == path)
            .ok_or_else(|| {
                NodeError::NotFound(format!(
                    "share {id} has no file '{}'",
                    path.chars().take(200).collect::<String>()
                ))
            })?;
        let handle = self.0.blobs.open(&file.link).await?;
        let blob = handle.id().to_hex();
        Ok((
            handle,
            ShareFile {
                path: file.path,
                size: file.size,
                blob,
                content_type: file.content_type,
                modified: file.modified,
            },
        ))
    }

    /// Writes the file at `path` in share `id` out to a local folder
    /// (see [`crate::ExportTo`]) as an `export` job, from wherever it is:
    /// a member reads a granted share's file from its owner's suppliers.
    pub async fn export(
        &self,
        id: &str,
        path: &str,
        to: crate::ExportTo,
        wait: bool,
    ) -> Result<crate::JobRecord> {
        let (handle, file) = self.open(id, path).await?;
        let name = file
            .path
            .rsplit('/')
            .next()
            .unwrap_or(&file.path)
            .to_owned();
        let source = crate::entries::export::Source { handle, name };
        crate::entries::export::start(&self.0.shared, source, to, wait).await
    }

    /// Puts file entry `entry` of this node into share `id`, granted to
    /// it, at `path`: its owner is handed a link to the bytes (on this
    /// node's suppliers once placed) and stores the file in the share's
    /// folder, replacing one at that path, then publishes the share again.
    /// Now: `network` when the owner cannot be reached.
    pub async fn put(&self, id: &str, path: &str, entry: &str) -> Result<()> {
        let row = self.row(id).await?;
        if row.owner.is_empty() {
            return Err(NodeError::Invalid(format!(
                "share {id} is this node's own: put files in its folder"
            )));
        }
        if row.state != "open" {
            return Err(NodeError::Conflict(format!(
                "share {id} was deleted by its owner"
            )));
        }
        let path = clean_path(path)?.join("/");
        let file = self.0.entries.entry(entry).await?.entry;
        let blob = match (file.kind, file.blob) {
            (EntryKind::File, Some(blob)) => blob,
            _ => {
                return Err(NodeError::Invalid(format!(
                    "'{}' is a folder: put its files one by one",
                    file.name
                )));
            }
        };
        let link = self.0.blobs.link(&blob).await?;
        let put = crate::messages::SharePut {
            share: id.to_owned(),
            path,
            link,
            size: file.size,
        };
        self.0.messages.put_share_file(&row.owner, &put).await
    }

    /// Takes the puts members send into own shares, one at a time, until
    /// the node stops.
    async fn take_puts(self, mut puts: crate::messages::Puts) -> Result<()> {
        loop {
            let (from, put) = tokio::select! {
                _ = self.0.shared.shutdown.cancelled() => return Ok(()),
                p = puts.recv() => match p { Some(p) => p, None => return Ok(()) },
            };
            let (share, path) = (put.share.clone(), put.path.clone());
            match self.take_put(&from, put).await {
                Ok(()) => tracing::info!(%from, share, path, "a member's file is in the share"),
                Err(e) => tracing::warn!(%from, share, path, error = %e, "a member's put refused"),
            }
        }
    }

    /// Stores what member `from` put into own share `put.share`: read by
    /// its link (from the member's node or suppliers), sealed and placed
    /// as every upload is, into the share's folder.
    async fn take_put(&self, from: &str, put: crate::messages::SharePut) -> Result<()> {
        let row = self.own_row(&put.share).await?;
        if !row.members.iter().any(|m| m == from) {
            return Err(NodeError::Forbidden(format!(
                "{from} is no member of share {}",
                put.share
            )));
        }
        let folder = row
            .folder
            .clone()
            .ok_or_else(|| NodeError::NotFound(format!("share {} has no folder", put.share)))?;
        let parts = clean_path(&put.path)?;
        let Some((name, dirs)) = parts.split_last() else {
            return Err(NodeError::Invalid("an empty path".into()));
        };
        let mut parent = folder;
        for dir in dirs {
            parent = self
                .0
                .entries
                .create_folder(Some(parent), dir.clone())
                .await?
                .id;
        }
        let handle = self.0.blobs.open(&put.link).await?;
        if handle.size() != put.size {
            return Err(NodeError::Invalid(format!(
                "the file is {} bytes, not the {} announced",
                handle.size(),
                put.size
            )));
        }
        let size = handle.size();
        let body = self
            .0
            .blobs
            .stream(handle, 0..size, format!("share put {name}"), None);
        let target = crate::UploadTarget {
            parent: Some(parent),
            name: name.clone(),
            on_conflict: crate::OnConflict::Replace,
            wait_digests: false,
        };
        self.0.entries.upload(target, body, Some(size)).await?;
        Ok(())
    }

    /// Grants own share `id` to `to` (a peer id, a friend's alias, or a
    /// nickname): it becomes a member, and is handed the share's key now
    /// or, when away, as soon as it is back. Answers the member's peer id
    /// and whether it took the key already.
    pub async fn grant(&self, id: &str, to: &str) -> Result<(String, bool)> {
        let row = self.own_row(id).await?;
        self.0.network.swarm()?;
        let peer = self.0.people.peer_of(to).await?;
        if peer == self.0.me {
            return Err(NodeError::Invalid(
                "a share granted to oneself goes nowhere".into(),
            ));
        }
        let (shared, share, member) = (self.0.shared.clone(), row.id.clone(), peer.clone());
        blocking(move || Ok(shared.catalog.add_share_member(&share, &member)?)).await?;
        let took = self.hand_key(&row, &peer).await.is_ok();
        if let Err(e) = self.publish(&row.id, false).await {
            tracing::info!(share = %row.id, error = %e, "the share's index goes out later");
        }
        Ok((peer, took))
    }

    /// Takes `who` out of own share `id`: the share gets a new key, its
    /// index goes out under it, and the members left are handed it.
    pub async fn revoke(&self, id: &str, who: &str) -> Result<String> {
        let row = self.own_row(id).await?;
        let peer = self.0.people.member_named(&row.members, who).await?;
        let key = random_key();
        let (shared, share, member) = (self.0.shared.clone(), row.id.clone(), peer.clone());
        let was =
            blocking(move || Ok(shared.catalog.revoke_share_member(&share, &member, &key)?))
                .await?;
        if !was {
            return Err(NodeError::NotFound(format!(
                "{peer} is not a member of share {id}"
            )));
        }
        if let Err(e) = self.publish(&row.id, false).await {
            tracing::info!(share = %row.id, error = %e, "the share's index goes out later");
        }
        self.grant_pending().await;
        Ok(peer)
    }

    /// Deletes share `id`. An own share's record says so (under its key,
    /// so its members learn it) and its index goes; the folder and its
    /// files stay. A granted share is forgotten here.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let row = self.row(id).await?;
        if row.owner.is_empty() && self.0.network.swarm().is_ok() {
            let version = row.version.max(0) as u64 + 1;
            let sealed = seal_pointer(
                &row.key,
                &self.0.me,
                &row.id,
                version,
                &Pointer { index: None },
            )?;
            if let Err(e) = self
                .0
                .network
                .publish_doc(&doc_name(&row.id), version, &sealed)
                .await
            {
                tracing::info!(share = %row.id, error = %e, "a deleted share's tombstone not published");
            }
        }
        if row.owner.is_empty() {
            self.0.entries.unpin(pin_name(&row.id)).await?;
        }
        let (shared, share) = (self.0.shared.clone(), row.id);
        blocking(move || Ok(shared.catalog.remove_share(&share)?)).await?;
        Ok(())
    }

    /// Hands share `row`'s current key to member `peer`, and notes that
    /// it took it.
    async fn hand_key(&self, row: &ShareRow, peer: &str) -> Result<()> {
        let grant = ShareGrant {
            id: row.id.clone(),
            label: row.label.clone(),
            key: hex::encode(row.key),
        };
        self.0.messages.grant_share(peer, &grant).await?;
        let (shared, share, member, key) = (
            self.0.shared.clone(),
            row.id.clone(),
            peer.to_owned(),
            row.key,
        );
        blocking(move || Ok(shared.catalog.share_key_granted(&share, &member, &key)?)).await
    }

    /// Hands their share's current key to the members that lack it.
    async fn grant_pending(&self) {
        let shared = self.0.shared.clone();
        let pending = match blocking(move || {
            Ok(shared.catalog.share_grants_pending(GRANTS_PER_ROUND)?)
        })
        .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the shares' pending grants");
                return;
            }
        };
        let mut rows: BTreeMap<String, Option<ShareRow>> = BTreeMap::new();
        let tries = pending.into_iter().map(|(share, peer)| {
            rows.entry(share.clone()).or_default();
            (share, peer)
        });
        let tries: Vec<_> = tries.collect();
        for (share, row) in rows.iter_mut() {
            *row = self.row(share).await.ok();
        }
        let rounds = tries.iter().filter_map(|(share, peer)| {
            let row = rows.get(share)?.as_ref()?;
            Some(async move {
                if let Err(e) = self.hand_key(row, peer).await {
                    tracing::debug!(share = %row.id, %peer, error = %e, "share key not handed yet");
                }
            })
        });
        futures_util::future::join_all(rounds).await;
    }

    /// Publishes each own share whose index changed; with `all`, also the
    /// records of those that did not (they expire in the DHT).
    async fn publish_all(&self, all: bool) -> Result<()> {
        let shared = self.0.shared.clone();
        let rows = blocking(move || Ok(shared.catalog.shares()?)).await?;
        for row in rows.into_iter().filter(|r| r.owner.is_empty()) {
            self.publish(&row.id, all).await?;
        }
        Ok(())
    }

    /// Publishes own share `id`'s index when it changed since last
    /// published (a new version), and with `again` its record when it
    /// did not.
    async fn publish(&self, id: &str, again: bool) -> Result<()> {
        let row = self.own_row(id).await?;
        let index = self.index_of(&row).await?;
        let json = serde_json::to_vec(&index).map_err(|e| NodeError::Internal(e.to_string()))?;
        let digest = blake3::hash(&json).to_hex().to_string();
        let pinned = {
            let (shared, name) = (self.0.shared.clone(), pin_name(&row.id));
            blocking(move || Ok(shared.catalog.pinned(&name)?)).await?
        };
        let (version, blob) = match pinned {
            Some(blob) if row.digest.as_deref() == Some(digest.as_str()) => {
                if !again {
                    return Ok(());
                }
                (row.version.max(0) as u64, blob)
            }
            _ => {
                let blob = self
                    .0
                    .entries
                    .store_pinned(
                        pin_name(&row.id),
                        Some(format!("{}~", pin_name(&row.id))),
                        json,
                    )
                    .await?;
                (row.version.max(0) as u64 + 1, blob)
            }
        };
        let link = self.0.blobs.link(&blob.to_hex()).await?;
        let sealed = seal_pointer(
            &row.key,
            &self.0.me,
            &row.id,
            version,
            &Pointer { index: Some(link) },
        )?;
        self.0
            .network
            .publish_doc(&doc_name(&row.id), version, &sealed)
            .await?;
        let (shared, share) = (self.0.shared.clone(), row.id.clone());
        blocking(move || {
            Ok(shared
                .catalog
                .share_published(&share, version as i64, Some(&digest))?)
        })
        .await?;
        tracing::info!(share = %row.id, version, "share published");
        Ok(())
    }

    /// Own share `row`'s index as its folder holds it now.
    async fn index_of(&self, row: &ShareRow) -> Result<Index> {
        let folder = row
            .folder
            .clone()
            .ok_or_else(|| NodeError::Corrupt(format!("own share {} has no folder", row.id)))?;
        let mut files = Vec::new();
        let mut folders = vec![(folder, String::new())];
        while let Some((folder, prefix)) = folders.pop() {
            let children = match self
                .0
                .entries
                .children(Some(folder), MAX_FILES as u64)
                .await
            {
                Ok(c) => c,
                // A folder deleted since: the share shows nothing.
                Err(e) if e.kind() == crate::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(e),
            };
            for child in children {
                let path = format!("{prefix}{}", child.name);
                match (child.kind, child.blob) {
                    (EntryKind::Folder, _) => folders.push((child.id, format!("{path}/"))),
                    (EntryKind::File, Some(blob)) => {
                        if files.len() >= MAX_FILES {
                            return Err(NodeError::Invalid(format!(
                                "a share lists at most {MAX_FILES} files"
                            )));
                        }
                        let read_key = self.0.blobs.store().read_key(&blob.parse()?);
                        files.push(IndexFile {
                            path,
                            size: child.size,
                            link: format!("{blob}.{}", hex::encode(read_key.0)),
                            content_type: child.content_type,
                            modified: child.modified,
                        });
                    }
                    (EntryKind::File, None) => {}
                }
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Index {
            share: row.id.clone(),
            owner: self.0.me.clone(),
            label: row.label.clone(),
            members: row.members.clone(),
            files,
        })
    }

    /// Granted share `row`'s index as its owner last published it: its
    /// record from the DHT, opened with the share's key, and the index
    /// read from wherever its blob is.
    async fn fetch_index(&self, row: &ShareRow) -> Result<(u64, Index)> {
        let (version, sealed) = self
            .0
            .network
            .lookup_doc(&row.owner, &doc_name(&row.id))
            .await?
            .ok_or_else(|| {
                NodeError::NotFound(format!(
                    "share {} is not published in the network (yet)",
                    row.id
                ))
            })?;
        let pointer = open_pointer(&row.key, &row.owner, &row.id, version, &sealed).ok_or_else(|| {
            NodeError::Forbidden(format!(
                "this node's key no longer opens share {}: its owner revoked it, or a new key has not come yet",
                row.id
            ))
        })?;
        let Some(link) = pointer.index else {
            let (shared, share) = (self.0.shared.clone(), row.id.clone());
            blocking(move || Ok(shared.catalog.close_share(&share)?)).await?;
            return Err(NodeError::NotFound(format!(
                "share {} was deleted by its owner",
                row.id
            )));
        };
        let handle = self.0.blobs.open(&link).await?;
        if handle.size() > MAX_INDEX {
            return Err(NodeError::Corrupt(format!(
                "share {}'s index is over {MAX_INDEX} bytes",
                row.id
            )));
        }
        let bytes = blocking(move || {
            let mut all = Vec::with_capacity(handle.size() as usize);
            handle.for_each_piece(0..handle.size(), |piece| {
                all.extend_from_slice(&piece);
                Ok(())
            })?;
            Ok(all)
        })
        .await?;
        let index: Index = serde_json::from_slice(&bytes)
            .map_err(|e| NodeError::Corrupt(format!("share {}'s index: {e}", row.id)))?;
        if index.share != row.id || index.owner != row.owner {
            return Err(NodeError::Corrupt(format!(
                "share {}'s record leads to another share's index",
                row.id
            )));
        }
        let (shared, share) = (self.0.shared.clone(), row.id.clone());
        blocking(move || {
            Ok(shared
                .catalog
                .share_published(&share, version as i64, None)?)
        })
        .await?;
        Ok((version, index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_labels_are_checked() {
        assert!(check_id(&"a1".repeat(16)).is_ok());
        for bad in [
            "",
            "A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1",
            "../x",
            &"a".repeat(33),
        ] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
        assert_eq!(clean_label("  cats\u{7}\n "), "cats");
        assert_eq!(clean_label(&"x".repeat(300)).len(), MAX_LABEL);
    }
}
