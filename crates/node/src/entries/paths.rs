//! Paths: entries named by slash-separated paths below a folder, as
//! object stores and sync tools name files (`photos/2026/a.jpg`).
//!
//! A path is walked one name at a time; folders on the way are made when
//! asked (two callers making the same folder at once both get it) and
//! removed again once empty when asked (an object store's "folder" is
//! only the prefix its files share). Listings read a folder's entries
//! with their MD5 and one metadata value in one query.

use std::collections::BTreeMap;

use cairn_core::BlobId;
use cairn_store::catalog::{Listed, NewFile, check_name};

use super::Entries;
use crate::events::Event;
use crate::tasks::blocking;
use crate::{Entry, EntryInfo, EntryKind, ErrorKind, NodeError, OnConflict};

type Result<T> = std::result::Result<T, NodeError>;

impl Entries {
    /// The entry named `name` in folder `parent` (`None`: the root).
    pub async fn child_named(&self, parent: Option<&str>, name: &str) -> Result<Option<Entry>> {
        let catalog = self.0.shared.catalog.clone();
        let (parent, name) = (parent.map(str::to_owned), name.to_owned());
        blocking(move || Ok(catalog.child_named(parent.as_deref(), &name)?)).await
    }

    /// The entry at `names` below folder `from`, if every name is there.
    pub async fn at_path(&self, from: Option<&str>, names: &[&str]) -> Result<Option<Entry>> {
        let catalog = self.0.shared.catalog.clone();
        let from = from.map(str::to_owned);
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        blocking(move || {
            let mut at: Option<Entry> = None;
            for name in &names {
                let parent = match &at {
                    Some(e) if e.kind != EntryKind::Folder => return Ok(None),
                    Some(e) => Some(e.id.clone()),
                    None => from.clone(),
                };
                match catalog.child_named(parent.as_deref(), name)? {
                    Some(e) => at = Some(e),
                    None => return Ok(None),
                }
            }
            Ok(at)
        })
        .await
    }

    /// The folder at `names` below folder `from`, made where missing. A
    /// file in the way is a conflict.
    pub async fn make_folders(&self, from: Option<&str>, names: &[&str]) -> Result<Option<String>> {
        let mut at = from.map(str::to_owned);
        for name in names {
            check_name(name)?;
            let found = match self.child_named(at.as_deref(), name).await? {
                Some(e) => e,
                None => match self.create_folder(at.clone(), (*name).to_owned()).await {
                    Ok(e) => e,
                    // Made by another caller meanwhile.
                    Err(e) if e.kind() == ErrorKind::NameTaken => self
                        .child_named(at.as_deref(), name)
                        .await?
                        .ok_or_else(|| NodeError::not_found("folder", name))?,
                    Err(e) => return Err(e),
                },
            };
            if found.kind != EntryKind::Folder {
                return Err(NodeError::Conflict(format!(
                    "'{}' is a file, not a folder",
                    found.name
                )));
            }
            at = Some(found.id);
        }
        Ok(at)
    }

    /// Removes folder `folder` and then each folder above it while empty,
    /// stopping below `keep`. Answers how many went.
    pub async fn prune_empty(&self, folder: &str, keep: &str) -> Result<usize> {
        let mut at = folder.to_owned();
        let mut removed = 0;
        while at != keep {
            let entry = self.entry(&at).await?.entry;
            if entry.kind != EntryKind::Folder
                || !self.children(Some(at.clone()), 1).await?.is_empty()
            {
                break;
            }
            // A file added meanwhile makes the folder refuse to go.
            if self.delete(&at, false).await.is_err() {
                break;
            }
            removed += 1;
            match entry.parent {
                Some(p) => at = p,
                None => break,
            }
        }
        Ok(removed)
    }

    /// Every entry of folder `parent` whose name starts with `prefix`,
    /// with its MD5 (when known) and its value of metadata key `key`, in
    /// no particular order.
    pub async fn listed(&self, parent: &str, prefix: &str, key: &str) -> Result<Vec<Listed>> {
        let catalog = self.0.shared.catalog.clone();
        let (parent, prefix, key) = (parent.to_owned(), prefix.to_owned(), key.to_owned());
        blocking(move || Ok(catalog.listed(&parent, &prefix, &key)?)).await
    }

    /// A new file `name` in folder `parent` with the content of file
    /// `source` (the same blob: nothing is read or written but the
    /// catalog) and `metadata`, replacing or renaming per `on_conflict`.
    /// The copy counts against its owner's quota as any new file; a file
    /// it replaces loses its metadata keys under `reset_prefix` that
    /// `metadata` does not set.
    pub async fn copy_file(
        &self,
        source: &str,
        parent: Option<String>,
        name: String,
        on_conflict: OnConflict,
        metadata: BTreeMap<String, String>,
        reset_prefix: Option<&str>,
    ) -> Result<EntryInfo> {
        check_name(&name)?;
        crate::paid::terms::check_initial(&metadata, on_conflict)?;
        let from = self.entry(source).await?.entry;
        let Some(blob) = from.blob.as_deref().and_then(|b| b.parse::<BlobId>().ok()) else {
            return Err(NodeError::Invalid(format!("'{}' is not a file", from.name)));
        };
        let entries = self.clone();
        let content_type = from.content_type.clone().unwrap_or_default();
        let reset_prefix = reset_prefix.map(str::to_owned);
        let entry = blocking(move || {
            let store = entries.0.blobs.store();
            let encoded = store.manifest(&blob)?.encode();
            let added = entries.0.shared.catalog.add_file_with_metadata(
                NewFile {
                    parent: parent.as_deref(),
                    name: &name,
                    blob,
                    size: from.size,
                    manifest: &encoded,
                    content_type: &content_type,
                    on_conflict,
                    md5: None,
                    reset_prefix: reset_prefix.as_deref(),
                    finishes: None,
                },
                &metadata,
                // The blob is known: nothing to commit.
                || Ok(()),
                |orphan| store.drop_blob(orphan),
            )?;
            if added.orphan.is_some() {
                entries.0.network.unplace_later();
            }
            entries.0.shared.events.send(Event::EntryAdded {
                entry: added.entry.clone(),
            });
            Ok(added.entry)
        })
        .await?;
        self.entry(&entry.id).await
    }
}
