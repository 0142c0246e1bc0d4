//! Entries: the catalog's tree of folders and files, and what puts files
//! in it.
//!
//! [`Entries`] (`node.entries()`) lists, names, moves and deletes entries,
//! sets their metadata and tags, and stores new files: an upload's body
//! (`upload`), a local file or folder (`import`). Every new file goes
//! through the blob store's one-pass seal and, with the network on, is
//! placed on suppliers as it is stored or right after.
//!
//! - `upload`: bodies and local files sealed into new entries;
//! - `import`: local files and folders walked safely under the import
//!   roots;
//! - `multipart`: files sent in numbered parts, then completed into one;
//! - `resumable`: files sent in pieces over several requests, each
//!   continuing where the last stopped (tus);
//! - `paths`: entries named by slash-separated paths, as object stores do.

pub(crate) mod export;
pub(crate) mod import;
mod multipart;
mod paths;
mod resumable;
mod upload;

pub use export::{ExportTo, Exported};
pub use multipart::{ABANDONED_AFTER, Completed, MAX_PART_NUMBER, MultipartUpload, PartInfo};
pub use resumable::{NewResumable, RESUMABLE_KEPT, ResumableUpload};
pub(crate) use upload::BeforeCommit;
pub use upload::{CommitCheck, Md5Check, UploadTarget};

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_core::BlobId;
use serde::Serialize;

use crate::blobs::Blobs;
use crate::events::Event;
use crate::network::Network;
use crate::shared::Shared;
use crate::tasks::blocking;
use crate::{Entry, ListQuery, NodeError, Page};

type Result<T> = std::result::Result<T, NodeError>;

/// An entry with everything known about it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntryInfo {
    /// The entry.
    #[serde(flatten)]
    pub entry: Entry,
    /// Its free-form metadata.
    pub metadata: BTreeMap<String, String>,
    /// Its blob's aliases by kind (files only; may still be computing).
    pub aliases: BTreeMap<String, String>,
}

/// The entries service. Cheap to clone.
#[derive(Clone)]
pub struct Entries(Arc<State>);

struct State {
    shared: Arc<Shared>,
    blobs: Blobs,
    network: Network,
    /// Pages listed at the catalog's current generation.
    pages: std::sync::Mutex<Pages>,
    /// Streams being stored at once (each holds a blocking thread and a
    /// writer thread while it waits for its source).
    storing: tokio::sync::Semaphore,
    /// Resumable uploads' spool files, and which are being written.
    spool: Arc<resumable::Spool>,
}

/// Pages of folders as listed at one generation of the catalog: a folder
/// listed again before anything changed is answered from here.
#[derive(Default)]
struct Pages {
    generation: u64,
    pages: std::collections::HashMap<(Option<String>, ListQuery), Arc<Page>>,
}

/// Most pages kept.
const MAX_PAGES: usize = 256;

impl Entries {
    pub(crate) fn new(
        shared: Arc<Shared>,
        blobs: Blobs,
        network: Network,
        spool: std::path::PathBuf,
    ) -> Self {
        Self(Arc::new(State {
            shared,
            blobs,
            network,
            pages: Default::default(),
            storing: tokio::sync::Semaphore::new(upload::MAX_STORING),
            spool: Arc::new(resumable::Spool::new(spool)),
        }))
    }

    /// Entry `id` with its metadata and aliases.
    pub async fn entry(&self, id: &str) -> Result<EntryInfo> {
        let entries = self.clone();
        let id = id.to_owned();
        self.0.shared.lookup(move || entries.entry_info(&id)).await
    }

    pub(crate) fn entry_info(&self, id: &str) -> Result<EntryInfo> {
        let entry = self.0.shared.catalog.entry(id)?;
        let metadata = self.0.shared.catalog.metadata(id)?;
        let aliases = match entry.blob.as_deref().map(str::parse::<BlobId>) {
            Some(Ok(blob)) => self.0.shared.catalog.aliases(&blob)?,
            _ => BTreeMap::new(),
        };
        Ok(EntryInfo {
            entry,
            metadata,
            aliases,
        })
    }

    /// The folders from the root down to entry `id`.
    pub async fn path(&self, id: &str) -> Result<Vec<Entry>> {
        let entries = self.clone();
        let id = id.to_owned();
        self.0
            .shared
            .lookup(move || Ok(entries.0.shared.catalog.path_of(&id)?))
            .await
    }

    /// One page of folder `parent` (`None` for the root).
    ///
    /// A page listed before, when nothing in the catalog changed since, is
    /// answered as it was, without a look-up.
    pub async fn list(&self, parent: Option<String>, query: ListQuery) -> Result<Arc<Page>> {
        let catalog = &self.0.shared.catalog;
        let generation = catalog.generation();
        let key = (parent, query);
        {
            let pages = self.0.pages.lock().unwrap_or_else(|p| p.into_inner());
            if pages.generation == generation
                && let Some(page) = pages.pages.get(&key)
            {
                return Ok(page.clone());
            }
        }
        let entries = self.clone();
        let parent = key.0.clone();
        let page = self
            .0
            .shared
            .lookup(move || Ok(entries.0.shared.catalog.list(parent.as_deref(), query)?))
            .await?;
        let page = Arc::new(page);
        let mut pages = self.0.pages.lock().unwrap_or_else(|p| p.into_inner());
        if pages.generation != generation {
            pages.pages.clear();
            pages.generation = generation;
        }
        if pages.pages.len() < MAX_PAGES && catalog.generation() == generation {
            pages.pages.insert(key, page.clone());
        }
        Ok(page)
    }

    /// The entries of folder `parent` (`None` for the root) by name, read
    /// a page at a time, at most `max` of them (what a playlist or a
    /// look for sidecar files reads, not a listing to page through).
    pub async fn children(&self, parent: Option<String>, max: u64) -> Result<Vec<Entry>> {
        const PAGE: u32 = 1000;
        let mut all = Vec::new();
        let mut offset = 0;
        while offset < max {
            let query = ListQuery {
                offset,
                limit: PAGE,
                ..Default::default()
            };
            let page = self.list(parent.clone(), query).await?;
            all.extend(page.entries.iter().cloned());
            offset += u64::from(PAGE);
            if offset >= page.total {
                break;
            }
        }
        all.truncate(usize::try_from(max).unwrap_or(usize::MAX));
        Ok(all)
    }

    /// How many entries each folder in folder `parent` holds, and which
    /// of its entries have metadata key `key`: what a listing shows beside
    /// the entries, read at once.
    pub async fn folder_summary(
        &self,
        parent: Option<String>,
        key: &str,
    ) -> Result<cairn_store::catalog::FolderSummary> {
        let entries = self.clone();
        let key = key.to_owned();
        self.0
            .shared
            .lookup(move || {
                Ok(entries
                    .0
                    .shared
                    .catalog
                    .folder_summary(parent.as_deref(), &key)?)
            })
            .await
    }

    /// Creates a folder (or returns the existing one of that name, which
    /// changes nothing and tells no one).
    pub async fn create_folder(&self, parent: Option<String>, name: String) -> Result<Entry> {
        let entries = self.clone();
        let (entry, new) = blocking(move || {
            let catalog = &entries.0.shared.catalog;
            Ok(catalog.ensure_folder(parent.as_deref(), &name)?)
        })
        .await?;
        if new {
            self.0.shared.events.send(Event::EntryAdded {
                entry: entry.clone(),
            });
        }
        Ok(entry)
    }

    /// Renames and/or moves entry `id`. `parent`: `None` leaves it where it
    /// is, `Some(None)` moves it to the root.
    pub async fn update_entry(
        &self,
        id: &str,
        name: Option<String>,
        parent: Option<Option<String>>,
    ) -> Result<Entry> {
        let entries = self.clone();
        let id = id.to_owned();
        let entry = blocking(move || {
            let mut entry = entries.0.shared.catalog.entry(&id)?;
            if let Some(parent) = parent {
                entry = entries.0.shared.catalog.move_to(&id, parent.as_deref())?;
            }
            if let Some(name) = name {
                entry = entries.0.shared.catalog.rename(&id, &name)?;
            }
            Ok(entry)
        })
        .await?;
        self.0.shared.events.send(Event::EntryChanged {
            entry: entry.clone(),
        });
        Ok(entry)
    }

    /// Deletes entry `id` (a non-empty folder only when `recursive`);
    /// blobs nothing else names are removed from disk.
    pub async fn delete(&self, id: &str, recursive: bool) -> Result<usize> {
        let entries = self.clone();
        let eid = id.to_owned();
        let removed = blocking(move || {
            Ok(entries
                .0
                .shared
                .catalog
                .delete(&eid, recursive, |blob| {
                    entries.0.blobs.store().drop_blob(blob)
                })?
                .len())
        })
        .await?;
        // Blobs gone from the catalog left their placements queued: their
        // suppliers are asked to free the shards.
        if removed > 0 {
            self.0.network.unplace_later();
        }
        self.0
            .shared
            .events
            .send(Event::EntryRemoved { id: id.to_owned() });
        Ok(removed)
    }

    /// Sets (`Some`) or removes (`None`) metadata keys of entry `id`.
    pub async fn set_metadata(
        &self,
        id: &str,
        changes: BTreeMap<String, Option<String>>,
    ) -> Result<EntryInfo> {
        let entries = self.clone();
        let id = id.to_owned();
        let public_changed = changes.contains_key("public");
        let info = blocking(move || {
            // The paid-file keys are checked first; `restricted` never
            // changes after the upload, so the check cannot go stale.
            crate::paid::terms::check_changes(&entries.0.shared.catalog, &id, &changes)?;
            entries.0.shared.catalog.set_metadata(&id, &changes)?;
            entries.entry_info(&id)
        })
        .await?;
        self.0.shared.events.send(Event::EntryChanged {
            entry: info.entry.clone(),
        });
        if public_changed
            && self.0.network.is_on()
            && let Some(Ok(blob)) = info.entry.blob.as_deref().map(str::parse::<BlobId>)
        {
            // Making a file public (or private) republishes its record,
            // with (or without) its read key.
            self.0.network.republish(blob).await?;
        }
        Ok(info)
    }

    /// Names entry `entry` `name` in `namespace` (a layer's own: MetaDisk's
    /// file hashes are `metadisk`), moving the name if another entry had
    /// it. The name goes with the entry when it is deleted.
    pub async fn tag(&self, namespace: &str, name: &str, entry: &str) -> Result<()> {
        let entries = self.clone();
        let (ns, name, entry) = (namespace.to_owned(), name.to_owned(), entry.to_owned());
        blocking(move || Ok(entries.0.shared.catalog.tag(&ns, &name, &entry)?)).await
    }

    /// The entry `name` names in `namespace`, and when the name was given
    /// (Unix milliseconds).
    pub async fn tagged(&self, namespace: &str, name: &str) -> Result<Option<(Entry, i64)>> {
        let entries = self.clone();
        let (ns, name) = (namespace.to_owned(), name.to_owned());
        blocking(move || Ok(entries.0.shared.catalog.tagged(&ns, &name)?)).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{ListQuery, Page};

    use crate::{Config, Node};

    /// A page listed twice with nothing changed between is the same page;
    /// after any change (a new entry, a rename, a delete) the listing
    /// shows the change.
    #[tokio::test]
    async fn a_listed_page_is_kept_only_until_the_catalog_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.network.enabled = false;
        let node = Node::start(dir.path(), config).await.unwrap();
        let entries = node.entries();
        let names =
            |page: &Page| -> Vec<String> { page.entries.iter().map(|e| e.name.clone()).collect() };
        let q = ListQuery::default();
        let a = entries.create_folder(None, "a".into()).await.unwrap();
        let first = entries.list(None, q).await.unwrap();
        let again = entries.list(None, q).await.unwrap();
        assert!(Arc::ptr_eq(&first, &again), "listed twice with no change");
        entries.create_folder(None, "b".into()).await.unwrap();
        let after_new = entries.list(None, q).await.unwrap();
        assert_eq!(
            (after_new.total, names(&after_new)),
            (2, vec!["a".into(), "b".into()])
        );
        entries
            .update_entry(&a.id, Some("c".into()), None)
            .await
            .unwrap();
        assert_eq!(names(&entries.list(None, q).await.unwrap()), ["b", "c"]);
        entries.delete(&a.id, false).await.unwrap();
        let after_delete = entries.list(None, q).await.unwrap();
        assert_eq!(
            (after_delete.total, names(&after_delete)),
            (1, vec!["b".into()])
        );
        node.shutdown().await;
    }
}
