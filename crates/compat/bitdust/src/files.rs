//! BitDust's catalog (bitdust-details.md §4.5, §5.3) as a view of
//! cairn's: no second store.
//!
//! - **Catalogs by key.** `master$<me>` is the operator's own tree (the
//!   root's entries that no gateway account owns); `share_<id>$<me>` is an
//!   own share's folder; `share_<id>$<owner>` a granted share, its files as
//!   its owner last published them, read from the network. Other aliases
//!   hold no files here.
//! - **Path ids.** One number per level. An own entry's number is its
//!   entry id read as the 64-bit number it encodes, so a path id names one
//!   entry for good (renames included) and is resolved without a walk; a
//!   granted share's files, which have no entry here, are numbered by a
//!   hash of their names.
//! - **Versions.** A file has one version, its current content, named by
//!   the time it last changed as BitDust names versions
//!   (`F20240131054512PM`, UTC). `file_create` registers a file before
//!   its upload as an empty entry marked [`REGISTERED`], with no version.
//! - **Uploads and downloads** are the engine's import and export jobs:
//!   a local file sealed and placed like every upload; a file written out
//!   whole (temporary file, synced, renamed) from this disk or the
//!   suppliers. The layer remembers which job is which path's.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use base64::Engine as _;
use cairn_node::{Entry, EntryKind, ExportTo, FileImport, LocalCaller, OnConflict};
use serde_json::{Map, Value, json};

use crate::BitDust;
use crate::envelope::Envelope;
use crate::ids;
use crate::methods::{Args, Civil, Signature, now_secs, stamp_at};
use crate::rest::Route;

/// The metadata key that marks a file registered by `file_create` and not
/// uploaded yet.
pub(crate) const REGISTERED: &str = "bitdust-registered";

/// An own entry as an item below `prefix` (path ids below `ids`);
/// `summary`: its folder's.
fn item_of(
    e: &Entry,
    prefix: &str,
    ids: &str,
    summary: &cairn_node::FolderSummary,
) -> Option<Item> {
    let n = number_of(&e.id)?;
    let join = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_owned()
        } else {
            format!("{a}/{b}")
        }
    };
    let dir = e.kind == EntryKind::Folder;
    Some(Item {
        path: join(prefix, &e.name),
        path_id: join(ids, &n.to_string()),
        name: e.name.clone(),
        dir,
        size: e.size,
        modified: e.modified,
        childs: summary.counts.get(&e.id).copied().unwrap_or(0),
        entry: Some(e.id.clone()),
        registered: !dir && summary.with_key.contains(&e.id),
    })
}

/// Most entries one listing walks.
const MAX_ITEMS: u64 = 100_000;

/// The methods of this module.
pub(crate) const SIGNATURES: &[Signature] = &[
    Signature {
        name: "files_sync",
        args: &[("force", Some("false"))],
    },
    Signature {
        name: "files_list",
        args: &[
            ("remote_path", Some("null")),
            ("key_id", Some("null")),
            ("recursive", Some("true")),
            ("all_customers", Some("false")),
            ("include_uploads", Some("false")),
            ("include_downloads", Some("false")),
        ],
    },
    Signature {
        name: "file_exists",
        args: &[("remote_path", None)],
    },
    Signature {
        name: "file_info",
        args: &[
            ("remote_path", None),
            ("include_uploads", Some("true")),
            ("include_downloads", Some("true")),
        ],
    },
    Signature {
        name: "file_create",
        args: &[
            ("remote_path", None),
            ("as_folder", Some("false")),
            ("exist_ok", Some("false")),
            ("force_path_id", Some("null")),
        ],
    },
    Signature {
        name: "file_delete",
        args: &[("remote_path", None)],
    },
    Signature {
        name: "files_uploads",
        args: &[
            ("include_running", Some("true")),
            ("include_pending", Some("true")),
        ],
    },
    Signature {
        name: "file_upload_start",
        args: &[
            ("local_path", None),
            ("remote_path", None),
            ("wait_result", Some("false")),
            ("publish_events", Some("false")),
        ],
    },
    Signature {
        name: "file_upload_stop",
        args: &[("remote_path", None)],
    },
    Signature {
        name: "files_downloads",
        args: &[],
    },
    Signature {
        name: "file_download_start",
        args: &[
            ("remote_path", None),
            ("destination_path", Some("null")),
            ("wait_result", Some("false")),
            ("publish_events", Some("false")),
        ],
    },
    Signature {
        name: "file_download_stop",
        args: &[("remote_path", None)],
    },
    Signature {
        name: "file_explore",
        args: &[("local_path", None)],
    },
];

/// The routes of this module's methods.
pub(crate) const ROUTES: &[Route] = &[
    Route {
        verb: "GET",
        paths: &["/file/sync/v1", "/v1/file/sync", "/f/s"],
        method: "files_sync",
        params: &[p!(Query ["force"] => "force" = "0"; flag)],
    },
    Route {
        verb: "GET",
        paths: &["/file/list/v1", "/v1/file/list", "/f/l"],
        method: "files_list",
        params: &[
            p!(Query ["remote_path"] => "remote_path"),
            p!(Query ["key_id"] => "key_id"),
            p!(Query ["recursive"] => "recursive" = "0"; flag),
            p!(Query ["all_customers"] => "all_customers" = "0"; flag),
            p!(Query ["uploads"] => "include_uploads" = "0"; flag),
            p!(Query ["downloads"] => "include_downloads" = "0"; flag),
        ],
    },
    Route {
        verb: "GET",
        paths: &["/file/list/all/v1", "/v1/file/list/all", "/f/l/a"],
        method: "files_list",
        params: &[
            p!(Query [] => "all_customers" = "1"; flag),
            p!(Query [] => "recursive" = "1"; flag),
            p!(Query [] => "include_uploads" = "1"; flag),
            p!(Query [] => "include_downloads" = "1"; flag),
        ],
    },
    Route {
        verb: "GET",
        paths: &["/file/exists/v1", "/v1/file/exists", "/f/e"],
        method: "file_exists",
        params: &[p!(Query ["remote_path"] => "remote_path"; mandatory)],
    },
    Route {
        verb: "GET",
        paths: &["/file/info/v1", "/v1/file/info", "/f/i"],
        method: "file_info",
        params: &[
            p!(Query ["remote_path"] => "remote_path"; mandatory),
            p!(Query ["uploads"] => "include_uploads" = "1"; flag),
            p!(Query ["downloads"] => "include_downloads" = "1"; flag),
        ],
    },
    Route {
        verb: "POST",
        paths: &["/file/create/v1", "/v1/file/create", "/f/c"],
        method: "file_create",
        params: &[
            p!(Body ["remote_path"] => "remote_path"; mandatory),
            p!(Body ["as_folder"] => "as_folder" = "0"; flag),
        ],
    },
    Route {
        verb: "DELETE",
        paths: &["/file/delete/v1", "/v1/file/delete", "/f/d"],
        method: "file_delete",
        params: &[p!(Body ["remote_path"] => "remote_path"; mandatory)],
    },
    Route {
        verb: "GET",
        paths: &["/file/upload/v1", "/v1/file/upload", "/f/u/l"],
        method: "files_uploads",
        params: &[
            p!(Query ["running"] => "include_running" = "1"; flag),
            p!(Query ["pending"] => "include_pending" = "1"; flag),
        ],
    },
    Route {
        verb: "POST",
        paths: &["/file/upload/start/v1", "/v1/file/upload/start", "/f/u/o"],
        method: "file_upload_start",
        params: &[
            p!(Body ["local_path"] => "local_path"; mandatory),
            p!(Body ["remote_path"] => "remote_path"; mandatory),
            p!(Body ["wait_result"] => "wait_result" = "0"; flag),
            p!(Body ["publish_events"] => "publish_events" = "0"; flag),
        ],
    },
    Route {
        verb: "POST",
        paths: &["/file/upload/stop/v1", "/v1/file/upload/stop", "/f/u/c"],
        method: "file_upload_stop",
        params: &[p!(Body ["remote_path"] => "remote_path"; mandatory)],
    },
    Route {
        verb: "GET",
        paths: &["/file/download/v1", "/v1/file/download", "/f/d/l"],
        method: "files_downloads",
        params: &[],
    },
    Route {
        verb: "POST",
        paths: &[
            "/file/download/start/v1",
            "/v1/file/download/start",
            "/f/d/o",
        ],
        method: "file_download_start",
        params: &[
            p!(Body ["remote_path"] => "remote_path"; mandatory),
            p!(Body ["destination_folder"] => "destination_path"),
            p!(Body ["wait_result"] => "wait_result" = "0"; flag),
            p!(Body ["publish_events"] => "publish_events" = "0"; flag),
        ],
    },
    Route {
        verb: "POST",
        paths: &["/file/download/stop/v1", "/v1/file/download/stop", "/f/d/c"],
        method: "file_download_stop",
        params: &[p!(Body ["remote_path"] => "remote_path"; mandatory)],
    },
    Route {
        verb: "GET",
        paths: &["/file/explore/v1", "/v1/file/explore", "/f/x"],
        method: "file_explore",
        params: &[p!(Query ["local_path"] => "local_path"; mandatory)],
    },
];

/// The uploads and downloads this layer started, by job id.
#[derive(Default)]
pub(crate) struct Transfers {
    uploads: HashMap<String, Transfer>,
    downloads: HashMap<String, Transfer>,
}

/// One upload or download: which file, and what BitDust shows of it.
#[derive(Clone)]
struct Transfer {
    job: String,
    /// The catalog's key id and the file's path id in it.
    key_id: String,
    path_id: String,
    /// The version (the backup id's last part).
    version: String,
    /// The local file read or written.
    local_path: String,
    /// Unix seconds.
    created: i64,
    /// Whether its start (1) and its end (2) were told as events.
    told: u8,
}

impl Transfer {
    fn backup_id(&self) -> String {
        format!("{}:{}/{}", self.key_id, self.path_id, self.version)
    }
}

/// A remote path read (§5.3): whose catalog, and where in it.
#[derive(Debug, Clone, PartialEq)]
struct RemotePath {
    alias: String,
    /// `None`: this node's.
    owner: Option<String>,
    /// A catalog path or a path id, without slashes at its ends.
    path: String,
    /// A version asked for (`#F…` or a path id's last part).
    version: Option<String>,
}

/// Whether `s` is a version name: `F`, digits, `AM` or `PM`, digits.
fn is_version(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('F') else {
        return false;
    };
    let Some(at) = rest.find(['A', 'P']) else {
        return false;
    };
    let (digits, tail) = rest.split_at(at);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (tail.starts_with("AM") || tail.starts_with("PM"))
        && tail[2..].bytes().all(|b| b.is_ascii_digit())
}

/// Whether `path` is a path id (`0/3/12`).
fn is_path_id(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('/')
            .all(|n| !n.is_empty() && n.len() <= 20 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Reads a remote path: `alias$user@host:path`, `user@host:path`, or a
/// bare path (this node's master catalog); `#version` or a path id's
/// version part kept apart. `None`: not a remote path at all.
fn parse_remote(input: &str, me: &str) -> Option<RemotePath> {
    let input = input.trim();
    let (key, path) = match input.split_once(':') {
        Some((key, path)) => (Some(key), path),
        None => (None, input),
    };
    let (alias, owner) = match key {
        None => ("master".to_owned(), None),
        Some(key) => {
            let id = ids::key_id(key, me)?;
            (id.alias, id.owner)
        }
    };
    let (mut path, mut version) = match path.split_once('#') {
        Some((p, v)) => (p.trim_matches('/').to_owned(), Some(v.to_owned())),
        None => (path.trim_matches('/').to_owned(), None),
    };
    if version.is_none()
        && let Some((id, last)) = path.rsplit_once('/')
        && is_version(last)
        && is_path_id(id)
    {
        version = Some(last.to_owned());
        path = id.to_owned();
    }
    Some(RemotePath {
        alias,
        owner,
        path,
        version,
    })
}

/// An own entry's path-id number: the 64-bit number its id encodes.
fn number_of(id: &str) -> Option<u64> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id)
        .ok()?;
    Some(u64::from_be_bytes(raw.try_into().ok()?))
}

/// The entry id path-id number `n` names.
fn entry_of(n: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n.to_be_bytes())
}

/// A granted share's file or folder name as a path-id number (FNV-1a,
/// 48 bits: stable, short, and unlikely to repeat among siblings).
fn number_of_name(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h & 0xffff_ffff_ffff
}

/// A version's name for content last changed at Unix milliseconds `ms`.
fn version_of(ms: i64) -> String {
    format!("F{}", stamp_at(ms.div_euclid(1000)))
}

/// A catalog to list: whose, and where its tree starts.
#[derive(Debug, Clone)]
enum Catalog {
    /// An own tree: the root (`None`) or a share's folder.
    Mine { root: Option<String> },
    /// A share granted to this node.
    Granted { share: String },
}

/// One catalog item.
#[derive(Debug, Clone)]
struct Item {
    path: String,
    path_id: String,
    name: String,
    dir: bool,
    size: u64,
    /// When its content last changed, Unix milliseconds.
    modified: i64,
    /// Children, for a folder.
    childs: u64,
    /// The own entry, if any.
    entry: Option<String>,
    /// Registered by `file_create`, not uploaded yet.
    registered: bool,
}

/// A catalog with its key id.
struct Scope {
    key_id: String,
    alias: String,
    /// The owner's global id and IDURL.
    gid: String,
    idurl: String,
    catalog: Catalog,
}

impl BitDust {
    /// Answers the methods of this module.
    pub(crate) async fn run_files(&self, name: &str, a: &Args) -> Option<Envelope> {
        Some(match name {
            "files_sync" => self.files_sync().await,
            "files_list" => self.files_list(a).await,
            "file_exists" => self.file_exists(&a.text("remote_path")).await,
            "file_info" => {
                self.file_info(
                    &a.text("remote_path"),
                    a.flag("include_uploads"),
                    a.flag("include_downloads"),
                )
                .await
            }
            "file_create" => self.file_create(a).await,
            "file_delete" => self.file_delete(&a.text("remote_path")).await,
            "files_uploads" => self.files_uploads(a.flag("include_running")).await,
            "file_upload_start" => self.file_upload_start(a).await,
            "file_upload_stop" => self.file_upload_stop(&a.text("remote_path")).await,
            "files_downloads" => self.files_downloads().await,
            "file_download_start" => self.file_download_start(a).await,
            "file_download_stop" => self.file_download_stop(&a.text("remote_path")).await,
            "file_explore" => file_explore(&a.text("local_path")).await,
            _ => return None,
        })
    }

    // ---- catalogs ----

    /// The catalog a remote path's key names.
    async fn scope_of(&self, rp: &RemotePath) -> Result<Scope, Envelope> {
        let owner = rp.owner.clone().unwrap_or_else(|| self.me());
        let gid = self.gid_of(&owner).await;
        let key_id = format!("{}${gid}", rp.alias);
        let unknown = || {
            Envelope::error(format!(
                "customer {} was not found",
                ids::idurl(&owner, None)
            ))
        };
        let catalog = if rp.alias == "master" {
            if rp.owner.is_some() {
                return Err(unknown());
            }
            Catalog::Mine { root: None }
        } else if let Some(id) = rp.alias.strip_prefix("share_") {
            let share = self
                .node()
                .shares()
                .info(id)
                .await
                .map_err(|_| Envelope::error(format!("share {key_id} was not opened")))?;
            if share.owner != owner {
                return Err(Envelope::error(format!("share {key_id} was not opened")));
            }
            if share.mine {
                Catalog::Mine {
                    root: share.folder.clone(),
                }
            } else {
                Catalog::Granted {
                    share: share.id.clone(),
                }
            }
        } else {
            return Err(Envelope::error(format!(
                "key {key_id} holds no catalog on this node"
            )));
        };
        let idurl = self.idurl_of(&owner).await;
        Ok(Scope {
            key_id,
            alias: rp.alias.clone(),
            gid,
            idurl,
            catalog,
        })
    }

    /// Every item of a catalog under folder `under` (a catalog path, ""
    /// for the top), recursively or not.
    async fn items(
        &self,
        scope: &Scope,
        under: &str,
        recursive: bool,
    ) -> Result<Vec<Item>, Envelope> {
        match &scope.catalog {
            Catalog::Mine { root } => {
                let (folder, prefix, ids) = if under.is_empty() {
                    (root.clone(), String::new(), String::new())
                } else {
                    let item = self.find_path(scope, under).await?;
                    if !item.dir {
                        return Err(Envelope::error(format!("path \"{under}\" is a file")));
                    }
                    (item.entry.clone(), item.path.clone(), item.path_id.clone())
                };
                let mut out = Vec::new();
                self.walk(folder, &prefix, &ids, recursive, root.is_none(), &mut out)
                    .await?;
                Ok(out)
            }
            Catalog::Granted { share } => {
                let all = self.granted_items(share).await?;
                let prefix = if under.is_empty() {
                    String::new()
                } else {
                    format!("{under}/")
                };
                if !under.is_empty() && !all.iter().any(|i| i.path == under && i.dir) {
                    return Err(Envelope::error(format!("path \"{under}\" not found")));
                }
                Ok(all
                    .into_iter()
                    .filter(|i| {
                        i.path.strip_prefix(&prefix).is_some_and(|rest| {
                            !rest.is_empty() && (recursive || !rest.contains('/'))
                        })
                    })
                    .collect())
            }
        }
    }

    /// Lists own folder `folder` into `out` (its sub-folders too when
    /// `recursive`); `top`: the operator's root, where gateway accounts'
    /// folders are left out.
    async fn walk(
        &self,
        folder: Option<String>,
        prefix: &str,
        ids: &str,
        recursive: bool,
        top: bool,
        out: &mut Vec<Item>,
    ) -> Result<(), Envelope> {
        let mut stack = vec![(folder, prefix.to_owned(), ids.to_owned(), top)];
        while let Some((folder, prefix, ids, top)) = stack.pop() {
            let children = self
                .node()
                .entries()
                .children(folder.clone(), MAX_ITEMS)
                .await
                .map_err(|e| Envelope::error(e.to_string()))?;
            let summary = self.summary_of(folder).await.unwrap_or_default();
            for child in children {
                if top && child.owner.is_some() {
                    continue;
                }
                let Some(item) = item_of(&child, &prefix, &ids, &summary) else {
                    continue;
                };
                if recursive && item.dir && (out.len() as u64) < MAX_ITEMS {
                    stack.push((
                        item.entry.clone(),
                        item.path.clone(),
                        item.path_id.clone(),
                        false,
                    ));
                }
                out.push(item);
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(())
    }

    /// The summary of own folder `folder` (child counts, registered
    /// files), read once for all its entries.
    async fn summary_of(&self, folder: Option<String>) -> Option<cairn_node::FolderSummary> {
        self.node()
            .entries()
            .folder_summary(folder, REGISTERED)
            .await
            .ok()
    }

    /// A granted share's files and the folders their paths make.
    async fn granted_items(&self, share: &str) -> Result<Vec<Item>, Envelope> {
        let listing = self
            .node()
            .shares()
            .files(share)
            .await
            .map_err(|e| Envelope::error(format!("share is disconnected: {e}")))?;
        let mut items: BTreeMap<String, Item> = BTreeMap::new();
        for file in listing.files {
            let parts: Vec<&str> = file.path.split('/').filter(|p| !p.is_empty()).collect();
            let mut path = String::new();
            let mut path_id = String::new();
            for (i, part) in parts.iter().enumerate() {
                if !path.is_empty() {
                    path.push('/');
                    path_id.push('/');
                }
                let parent = path.trim_end_matches('/').to_owned();
                path.push_str(part);
                path_id.push_str(&number_of_name(part).to_string());
                let last = i + 1 == parts.len();
                if !last
                    && !items.contains_key(&path)
                    && let Some(p) = items.get_mut(&parent)
                {
                    p.childs += 1;
                }
                let item = items.entry(path.clone()).or_insert_with(|| Item {
                    path: path.clone(),
                    path_id: path_id.clone(),
                    name: (*part).to_owned(),
                    dir: !last,
                    size: 0,
                    modified: file.modified,
                    childs: 0,
                    entry: None,
                    registered: false,
                });
                if last {
                    item.size = file.size;
                    item.modified = file.modified;
                    if let Some(p) = items.get_mut(&parent) {
                        p.childs += 1;
                    }
                }
            }
        }
        Ok(items.into_values().collect())
    }

    /// The item a catalog path or path id names.
    async fn find(&self, scope: &Scope, path: &str) -> Result<Item, Envelope> {
        if is_path_id(path) {
            self.find_id(scope, path).await
        } else {
            self.find_path(scope, path).await
        }
    }

    async fn find_path(&self, scope: &Scope, path: &str) -> Result<Item, Envelope> {
        let not_found = || Envelope::error(format!("path {path} was not found in the catalog"));
        match &scope.catalog {
            Catalog::Mine { root } => {
                let mut folder = root.clone();
                let mut item: Option<Item> = None;
                let (mut prefix, mut ids) = (String::new(), String::new());
                for part in path.split('/').filter(|p| !p.is_empty()) {
                    if item.as_ref().is_some_and(|i| !i.dir) {
                        return Err(not_found());
                    }
                    let children = self
                        .node()
                        .entries()
                        .children(folder.clone(), MAX_ITEMS)
                        .await
                        .map_err(|_| not_found())?;
                    let top = folder.is_none();
                    let child = children
                        .into_iter()
                        .find(|c| c.name == part && !(top && c.owner.is_some()))
                        .ok_or_else(not_found)?;
                    let summary = self.summary_of(folder.clone()).await.unwrap_or_default();
                    let found = item_of(&child, &prefix, &ids, &summary).ok_or_else(not_found)?;
                    prefix.clone_from(&found.path);
                    ids.clone_from(&found.path_id);
                    folder = found.entry.clone();
                    item = Some(found);
                }
                item.ok_or_else(not_found)
            }
            Catalog::Granted { share } => self
                .granted_items(share)
                .await?
                .into_iter()
                .find(|i| i.path == path)
                .ok_or_else(not_found),
        }
    }

    async fn find_id(&self, scope: &Scope, path_id: &str) -> Result<Item, Envelope> {
        let not_found = || Envelope::error(format!("item {path_id} was not found in the catalog"));
        match &scope.catalog {
            Catalog::Mine { root } => {
                let numbers: Vec<u64> = path_id
                    .split('/')
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .map_err(|_| not_found())?;
                let last = entry_of(*numbers.last().ok_or_else(not_found)?);
                let chain = self
                    .node()
                    .entries()
                    .path(&last)
                    .await
                    .map_err(|_| not_found())?;
                // The entries below the catalog's top must be the path id's.
                let below: Vec<&Entry> = match root {
                    None => chain.iter().collect(),
                    Some(root) => {
                        let at = chain
                            .iter()
                            .position(|e| &e.id == root)
                            .ok_or_else(not_found)?;
                        chain[at + 1..].iter().collect()
                    }
                };
                if below.len() != numbers.len()
                    || below
                        .iter()
                        .zip(&numbers)
                        .any(|(e, n)| number_of(&e.id) != Some(*n))
                    || (root.is_none() && below.first().is_some_and(|e| e.owner.is_some()))
                {
                    return Err(not_found());
                }
                let prefix: Vec<&str> = below[..below.len() - 1]
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect();
                let ids: Vec<String> = numbers[..numbers.len() - 1]
                    .iter()
                    .map(u64::to_string)
                    .collect();
                let entry = below[below.len() - 1];
                let summary = self
                    .summary_of(entry.parent.clone())
                    .await
                    .unwrap_or_default();
                item_of(entry, &prefix.join("/"), &ids.join("/"), &summary).ok_or_else(not_found)
            }
            Catalog::Granted { share } => self
                .granted_items(share)
                .await?
                .into_iter()
                .find(|i| i.path_id == path_id)
                .ok_or_else(not_found),
        }
    }

    /// A remote path read and its catalog, or BitDust's error.
    async fn resolve(&self, remote_path: &str) -> Result<(RemotePath, Scope), Envelope> {
        let rp = parse_remote(remote_path, &self.me())
            .filter(|rp| !rp.path.is_empty())
            .ok_or_else(|| Envelope::error("invalid \"remote_path\" format"))?;
        let scope = self.scope_of(&rp).await?;
        Ok((rp, scope))
    }

    /// Own entry `id` as a `files_list` item of the master catalog, when
    /// it lies there.
    pub(crate) async fn master_item(&self, id: &str) -> Option<Value> {
        let chain = self.node().entries().path(id).await.ok()?;
        if chain.first().is_none_or(|top| top.owner.is_some()) {
            return None;
        }
        let path_id = chain
            .iter()
            .map(|e| number_of(&e.id).map(|n| n.to_string()))
            .collect::<Option<Vec<_>>>()?
            .join("/");
        let rp = RemotePath {
            alias: "master".into(),
            owner: None,
            path: path_id.clone(),
            version: None,
        };
        let scope = self.scope_of(&rp).await.ok()?;
        let item = self.find_id(&scope, &path_id).await.ok()?;
        Some(Value::Object(
            self.item_object(&scope, &item, false, false).await,
        ))
    }

    /// Whether job `job` is an upload (`true`) or a download this layer
    /// started, with its backup id and local path, if its start (`end`:
    /// its end) was not told yet; it is then marked told.
    pub(crate) fn news_of(&self, job: &str, end: bool) -> Option<(bool, String, String)> {
        let bit = if end { 2 } else { 1 };
        let mut t = self.transfers();
        let (upload, tr) = match t.uploads.get_mut(job) {
            Some(tr) => (true, tr),
            None => (false, t.downloads.get_mut(job)?),
        };
        if tr.told & bit != 0 {
            return None;
        }
        tr.told |= bit;
        Some((upload, tr.backup_id(), tr.local_path.clone()))
    }

    /// Tells job `job`'s news now, if the engine's events came before the
    /// layer knew the job was its own.
    async fn tell_job(&self, job: &str) {
        if let Ok(record) = self.node().jobs().get(job).await {
            self.job_events(&record);
        }
    }

    // ---- objects ----

    fn version_object(&self, scope: &Scope, item: &Item) -> Value {
        let secs = item.modified.div_euclid(1000);
        let version = version_of(item.modified);
        json!({
            "backup_id": format!("{}:{}/{version}", scope.key_id, item.path_id),
            "label": Civil::of(secs).label(),
            "time": secs as f64,
            "size": item.size,
        })
    }

    fn versions(&self, scope: &Scope, item: &Item) -> Vec<Value> {
        if item.dir || item.registered {
            Vec::new()
        } else {
            vec![self.version_object(scope, item)]
        }
    }

    async fn item_object(
        &self,
        scope: &Scope,
        item: &Item,
        uploads: bool,
        downloads: bool,
    ) -> Map<String, Value> {
        let (idurl, gid) = (&scope.idurl, &scope.gid);
        let mut m = Map::new();
        m.insert(
            "remote_path".into(),
            json!(format!("{}:{}", scope.key_id, item.path)),
        );
        m.insert(
            "global_id".into(),
            json!(format!("{}:{}", scope.key_id, item.path_id)),
        );
        m.insert("customer".into(), json!(gid));
        m.insert("idurl".into(), json!(idurl));
        m.insert("path_id".into(), json!(item.path_id));
        m.insert("name".into(), json!(item.name));
        m.insert("path".into(), json!(item.path));
        m.insert("type".into(), json!(if item.dir { "dir" } else { "file" }));
        m.insert("size".into(), json!(item.size));
        m.insert("local_size".into(), json!(-1));
        m.insert(
            "latest".into(),
            json!(if item.dir || item.registered {
                String::new()
            } else {
                Civil::of(item.modified.div_euclid(1000)).date_time()
            }),
        );
        m.insert("key_id".into(), json!(scope.key_id));
        m.insert("key_alias".into(), json!(scope.alias));
        m.insert(
            "childs".into(),
            if item.dir {
                json!(item.childs)
            } else {
                json!(false)
            },
        );
        m.insert("versions".into(), Value::Array(self.versions(scope, item)));
        let (running, downs) = {
            let t = self.transfers();
            let mine = |tr: &&Transfer| tr.key_id == scope.key_id && tr.path_id == item.path_id;
            (
                if uploads {
                    t.uploads.values().filter(mine).cloned().collect()
                } else {
                    Vec::new()
                },
                if downloads {
                    t.downloads.values().filter(mine).cloned().collect()
                } else {
                    Vec::new()
                },
            )
        };
        let mut up = Vec::new();
        for tr in running {
            if let Some(v) = self.upload_object(&tr, "backup_id").await {
                up.push(v);
            }
        }
        let mut down = Vec::new();
        for tr in downs {
            if let Some(v) = self.download_object(&tr, false).await {
                down.push(v);
            }
        }
        m.insert("uploads".into(), json!({"running": up, "pending": []}));
        m.insert("downloads".into(), Value::Array(down));
        m.insert("local_path".into(), json!(""));
        m
    }

    fn transfers(&self) -> std::sync::MutexGuard<'_, Transfers> {
        self.0.transfers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A running upload (§4.5), its id under `id_key`; `None` once its job
    /// has ended (it is then forgotten).
    async fn upload_object(&self, tr: &Transfer, id_key: &str) -> Option<Value> {
        let job = self.node().jobs().get(&tr.job).await.ok();
        let Some(job) = job.filter(|j| j.state == "running") else {
            self.transfers().uploads.remove(&tr.job);
            return None;
        };
        let total = job.total.unwrap_or(0);
        let segment = 1u64 << 20;
        let ecc = self.node().config().network.ecc.replace('+', "x");
        let mut m = Map::new();
        m.insert(id_key.into(), json!(tr.backup_id()));
        m.insert("key_id".into(), json!(tr.key_id));
        m.insert("source_path".into(), json!(tr.local_path));
        m.insert("eccmap".into(), json!(format!("ecc/{ecc}")));
        m.insert("pipe".into(), json!("closed"));
        m.insert("block_size".into(), json!(segment));
        m.insert("aborting".into(), json!(false));
        m.insert("terminating".into(), json!(false));
        m.insert("eof_state".into(), json!(job.done >= total && total > 0));
        m.insert("reading".into(), json!(job.done < total));
        m.insert("closed".into(), json!(false));
        m.insert("work_blocks".into(), json!(u64::from(job.done < total)));
        m.insert("block_number".into(), json!(job.done / segment));
        m.insert("bytes_processed".into(), json!(job.done));
        m.insert("total_size".into(), json!(total));
        m.insert("progress".into(), json!(percent(job.done, total)));
        Some(Value::Object(m))
    }

    /// A download job (§4.5); a finished one is shown once more, then
    /// forgotten.
    async fn download_object(&self, tr: &Transfer, with_key: bool) -> Option<Value> {
        let job = self.node().jobs().get(&tr.job).await.ok();
        let (done, aborted, bytes) = match &job {
            Some(j) if j.state == "running" => (false, false, j.done),
            Some(j) => {
                self.transfers().downloads.remove(&tr.job);
                (j.state == "done", j.state != "done", j.done)
            }
            None => {
                self.transfers().downloads.remove(&tr.job);
                return None;
            }
        };
        let creator = tr.key_id.split_once('$').map_or("", |(_, u)| u);
        let creator = match ids::user(creator) {
            Some(ids::User::Peer(p)) => self.idurl_of(&p).await,
            _ => String::new(),
        };
        let mut m = Map::new();
        m.insert("backup_id".into(), json!(tr.backup_id()));
        m.insert("creator_id".into(), json!(creator));
        m.insert("path_id".into(), json!(tr.path_id));
        m.insert("version".into(), json!(tr.version));
        m.insert("block_number".into(), json!(bytes >> 20));
        m.insert("bytes_processed".into(), json!(bytes));
        m.insert("created".into(), json!(Civil::of(tr.created).asctime()));
        m.insert("aborted".into(), json!(aborted));
        m.insert("done".into(), json!(done));
        m.insert("eccmap".into(), json!(""));
        if with_key {
            m.insert("key_id".into(), json!(tr.key_id));
        }
        Some(Value::Object(m))
    }

    // ---- methods ----

    async fn files_sync(&self) -> Envelope {
        match self.node().network().sync_now().await {
            Ok(()) => Envelope::ok_with(json!(["the main files sync loop has been restarted"])),
            Err(e) => Envelope::error(e.to_string()),
        }
    }

    async fn files_list(&self, a: &Args) -> Envelope {
        let remote = a.text("remote_path");
        let key = a.text("key_id");
        let input = match (remote.trim().is_empty(), key.trim().is_empty()) {
            (true, true) => String::new(),
            (true, false) => format!("{}:", key.trim()),
            (false, false) if !remote.contains(':') => format!("{}:{}", key.trim(), remote.trim()),
            _ => remote,
        };
        let Some(rp) = parse_remote(&input, &self.me()) else {
            return Envelope::error("invalid \"remote_path\" format");
        };
        let recursive = a.flag("recursive");
        let (uploads, downloads) = (a.flag("include_uploads"), a.flag("include_downloads"));
        let mut scopes = vec![rp.clone()];
        if a.flag("all_customers") && input.is_empty() {
            for share in self.node().shares().list().await.unwrap_or_default() {
                scopes.push(RemotePath {
                    alias: format!("share_{}", share.id),
                    owner: (!share.mine).then(|| share.owner.clone()),
                    path: String::new(),
                    version: None,
                });
            }
        }
        let mut out = Vec::new();
        for (n, rp) in scopes.iter().enumerate() {
            let scope = match self.scope_of(rp).await {
                Ok(s) => s,
                Err(e) if n == 0 => return e,
                Err(_) => continue,
            };
            let under = if is_path_id(&rp.path) {
                match self.find_id(&scope, &rp.path).await {
                    Ok(item) => item.path,
                    Err(e) => return e,
                }
            } else {
                rp.path.clone()
            };
            let items = match self.items(&scope, &under, recursive).await {
                Ok(i) => i,
                Err(e) if n == 0 => return e,
                Err(_) => continue,
            };
            for item in &items {
                out.push(Value::Object(
                    self.item_object(&scope, item, uploads, downloads).await,
                ));
            }
        }
        let mut e = Envelope::result(Value::Array(out));
        let revision = self
            .node()
            .backups()
            .status()
            .await
            .map_or(-1, |s| s.changes);
        e.0.insert("revision".into(), json!(revision));
        e
    }

    async fn file_exists(&self, remote_path: &str) -> Envelope {
        let (rp, scope) = match self.resolve(remote_path).await {
            Ok(r) => r,
            Err(e) => return e,
        };
        match self.find(&scope, &rp.path).await {
            Ok(item) => Envelope::ok_with(json!({"exist": true, "path_id": item.path_id})),
            Err(e) => {
                let why =
                    e.0.get("errors")
                        .and_then(|v| v[0].as_str())
                        .unwrap_or("")
                        .to_owned();
                Envelope::ok_with(json!({"exist": false, "path_id": null})).message(why)
            }
        }
    }

    async fn file_info(&self, remote_path: &str, uploads: bool, downloads: bool) -> Envelope {
        let (rp, scope) = match self.resolve(remote_path).await {
            Ok(r) => r,
            Err(e) => return e,
        };
        let item = match self.find(&scope, &rp.path).await {
            Ok(i) => i,
            Err(e) => return e,
        };
        let mut m = self.item_object(&scope, &item, uploads, downloads).await;
        m.remove("idurl");
        m.remove("key_alias");
        m.remove("childs");
        m.remove("local_size");
        m.insert("revision".into(), json!(0));
        Envelope::ok_with(Value::Object(m))
    }

    async fn file_create(&self, a: &Args) -> Envelope {
        let remote_path = a.text("remote_path");
        let (rp, scope) = match self.resolve(&remote_path).await {
            Ok(r) => r,
            Err(e) => return e,
        };
        let Catalog::Mine { root } = &scope.catalog else {
            return Envelope::error(
                "remote path can not be assigned, a granted share is read-only here",
            );
        };
        if is_path_id(&rp.path) {
            return Envelope::error("invalid \"remote_path\" format");
        }
        let as_folder = a.flag("as_folder");
        let parts: Vec<&str> = rp.path.split('/').filter(|p| !p.is_empty()).collect();
        let Some((name, parents)) = parts.split_last() else {
            return Envelope::error("invalid \"remote_path\" format");
        };
        let what = if as_folder { "folder" } else { "file" };
        if let Ok(existing) = self.find_path(&scope, &rp.path).await {
            let global = format!("{}:{}", scope.key_id, existing.path_id);
            if a.flag("exist_ok") {
                return Envelope::ok_with(self.created_object(&scope, &existing, false).await)
                    .message(format!(
                        "remote path {what} already exists in the catalog: {global}"
                    ));
            }
            return Envelope::error(format!(
                "remote path {} already exists in the catalog: {}",
                rp.path, existing.path_id
            ));
        }
        // Missing parent folders are made.
        let entries = self.node().entries();
        let mut folder = root.clone();
        let mut at = String::new();
        for part in parents {
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(part);
            match self.find_path(&scope, &at).await {
                Ok(item) if item.dir => folder = item.entry,
                Ok(_) => {
                    return Envelope::error(format!(
                        "remote path can not be assigned, file {at} already exists"
                    ));
                }
                Err(_) => match entries
                    .create_folder(folder.clone(), (*part).to_owned())
                    .await
                {
                    Ok(e) => folder = Some(e.id),
                    Err(_) => {
                        return Envelope::error(format!(
                            "remote path can not be assigned, failed to create new item {at}"
                        ));
                    }
                },
            }
        }
        let made = if as_folder {
            entries
                .create_folder(folder, (*name).to_owned())
                .await
                .map(|_| ())
        } else {
            let target = cairn_node::UploadTarget {
                parent: folder,
                name: (*name).to_owned(),
                on_conflict: OnConflict::Fail,
                wait_digests: false,
            };
            let empty = futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>();
            let marker = BTreeMap::from([(REGISTERED.to_owned(), "1".to_owned())]);
            entries
                .upload_with_metadata(target, empty, Some(0), marker)
                .await
                .map(|_| ())
        };
        if let Err(e) = made {
            return Envelope::error(format!(
                "remote path can not be assigned, failed to create new item {}: {e}",
                rp.path
            ));
        }
        let item = match self.find_path(&scope, &rp.path).await {
            Ok(i) => i,
            Err(e) => return e,
        };
        let global = format!("{}:{}", scope.key_id, item.path_id);
        let object = self.created_object(&scope, &item, true).await;
        let listed = self.item_object(&scope, &item, false, false).await;
        if let Some((id, data)) = crate::models::file_snapshot(&Value::Object(listed)) {
            self.push_model(file_model(&scope), &id, Some(data));
        }
        Envelope::ok_with(object).message(format!("new {what} created in {global} successfully"))
    }

    async fn created_object(&self, scope: &Scope, item: &Item, created: bool) -> Value {
        json!({
            "path_id": item.path_id,
            "key_id": scope.key_id,
            "path": item.path,
            "remote_path": format!("{}:{}", scope.key_id, item.path),
            "global_id": format!("{}:{}", scope.key_id, item.path_id),
            "customer": scope.idurl,
            "created": created,
            "type": if item.dir { "dir" } else { "file" },
        })
    }

    async fn file_delete(&self, remote_path: &str) -> Envelope {
        let (rp, scope) = match self.resolve(remote_path).await {
            Ok(r) => r,
            Err(e) => return e,
        };
        if !matches!(scope.catalog, Catalog::Mine { .. }) {
            return Envelope::error(format!("remote path {} was not found", rp.path));
        }
        let item = match self.find(&scope, &rp.path).await {
            Ok(i) => i,
            Err(_) => return Envelope::error(format!("remote path {} was not found", rp.path)),
        };
        let Some(entry) = item.entry.clone() else {
            return Envelope::error(format!("invalid item found: {}", item.path_id));
        };
        let global = format!("{}:{}", scope.key_id, item.path_id);
        if let Err(e) = self.node().entries().delete(&entry, true).await {
            return Envelope::error(format!("remote item {global} was not found: {e}"));
        }
        self.push_model(file_model(&scope), &global, None);
        Envelope::ok_with(json!({
            "path_id": global,
            "path": item.path,
            "remote_path": format!("{}:{}", scope.key_id, item.path),
            "global_id": global,
            "customer": scope.idurl,
        }))
        .message(format!("item {global} was deleted from remote suppliers"))
    }

    /// The uploads running (each looked at, so ended ones are forgotten);
    /// none is ever pending here: an upload's job starts at once.
    async fn files_uploads(&self, running: bool) -> Envelope {
        let all: Vec<Transfer> = self.transfers().uploads.values().cloned().collect();
        let mut list = Vec::new();
        for tr in all {
            if let Some(v) = self.upload_object(&tr, "version").await
                && running
            {
                list.push(v);
            }
        }
        Envelope::result(json!({"running": list, "pending": []}))
    }

    async fn file_upload_start(&self, a: &Args) -> Envelope {
        let local = a.text("local_path");
        let remote_path = a.text("remote_path");
        let (rp, scope) = match self.resolve(&remote_path).await {
            Ok(r) => r,
            Err(e) => return e,
        };
        if matches!(scope.catalog, Catalog::Granted { .. }) {
            return Envelope::error("service_shared_data() is not started");
        }
        let item = match self.find(&scope, &rp.path).await {
            Ok(i) => i,
            Err(_) => return Envelope::error(format!("path {remote_path} was not registered yet")),
        };
        let path = PathBuf::from(&local);
        let Some(entry) = item.entry.clone() else {
            return Envelope::error(format!("path {remote_path} was not registered yet"));
        };
        let entries = self.node().entries();
        let parent = match entries.path(&entry).await {
            Ok(chain) if item.dir => Some(entry.clone()).filter(|_| !chain.is_empty()),
            Ok(chain) => chain.iter().rev().nth(1).map(|e| e.id.clone()),
            Err(e) => return Envelope::error(e.to_string()),
        };
        let job = if item.dir {
            let req = cairn_node::ImportRequest {
                path: path.clone(),
                parent,
                on_conflict: OnConflict::Replace,
            };
            entries.import(req, false).await.map(|j| j.id)
        } else {
            let req = FileImport {
                path: path.clone(),
                parent,
                on_conflict: OnConflict::Replace,
                metadata: BTreeMap::new(),
                caller: LocalCaller::Operator,
            };
            match entries.start_file_import(req).await {
                Ok(importing) => {
                    let job = importing.job().to_owned();
                    let (entries, id) = (entries.clone(), entry.clone());
                    tokio::spawn(async move {
                        if importing.finish().await.is_ok() {
                            let unmark = BTreeMap::from([(REGISTERED.to_owned(), None)]);
                            if let Err(e) = entries.set_metadata(&id, unmark).await {
                                tracing::warn!(entry = id, error = %e, "cannot clear the registered mark");
                            }
                        }
                    });
                    Ok(job)
                }
                Err(e) => Err(e),
            }
        };
        let job = match job {
            Ok(j) => j,
            Err(cairn_node::NodeError::PathNotFound(_)) => {
                return Envelope::error(format!("local file or folder {local} not exist"));
            }
            Err(e) => return Envelope::error(e.to_string()),
        };
        let version = version_of(now_secs() * 1000);
        let tr = Transfer {
            job: job.clone(),
            key_id: scope.key_id.clone(),
            path_id: item.path_id.clone(),
            version: version.clone(),
            local_path: local.clone(),
            created: now_secs(),
            told: 0,
        };
        self.transfers().uploads.insert(job.clone(), tr.clone());
        self.tell_job(&job).await;
        let mut result = json!({
            "remote_path": remote_path,
            "key_id": scope.key_id,
            "source_path": local,
            "path_id": item.path_id,
        });
        if a.flag("wait_result") {
            result["version"] = json!(tr.backup_id());
            return Envelope::ok_with(result).message(format!(
                "item {remote_path} is uploading, local path is {local}"
            ));
        }
        Envelope::ok_with(result).message(format!(
            "uploading task for {remote_path} started, local path is {local}"
        ))
    }

    async fn file_upload_stop(&self, remote_path: &str) -> Envelope {
        let (rp, scope) = match self.resolve(remote_path).await {
            Ok(r) => r,
            Err(e) => return e,
        };
        let item = match self.find(&scope, &rp.path).await {
            Ok(i) => i,
            Err(_) => return Envelope::error(format!("remote path {} was not found", rp.path)),
        };
        let global = format!("{}:{}", scope.key_id, item.path_id);
        let tasks: Vec<Transfer> = self
            .transfers()
            .uploads
            .values()
            .filter(|t| t.key_id == scope.key_id && t.path_id == item.path_id)
            .cloned()
            .collect();
        let mut aborted = Vec::new();
        for tr in tasks {
            if self.node().jobs().cancel(&tr.job).is_ok() {
                aborted.push(tr.backup_id());
            }
            self.transfers().uploads.remove(&tr.job);
        }
        if aborted.is_empty() {
            return Envelope::error(format!(
                "no running or pending tasks for path {global} were found"
            ));
        }
        let message = aborted
            .iter()
            .map(|id| format!("uploading task {id} was aborted"))
            .collect::<Vec<_>>()
            .join(", ");
        Envelope::ok_with(json!(aborted)).message(message)
    }

    async fn files_downloads(&self) -> Envelope {
        let all: Vec<Transfer> = self.transfers().downloads.values().cloned().collect();
        let mut list = Vec::new();
        for tr in all {
            if let Some(v) = self.download_object(&tr, true).await {
                list.push(v);
            }
        }
        Envelope::result(Value::Array(list))
    }

    async fn file_download_start(&self, a: &Args) -> Envelope {
        let remote_path = a.text("remote_path");
        let (rp, scope) = match self.resolve(&remote_path).await {
            Ok(r) => r,
            Err(e) => return e,
        };
        let item = match self.find(&scope, &rp.path).await {
            Ok(i) => i,
            Err(e) => return e,
        };
        if item.dir || item.registered {
            return Envelope::error("no remotely stored versions found");
        }
        let version = version_of(item.modified);
        if rp.version.as_deref().is_some_and(|v| v != version) {
            return Envelope::error(format!(
                "location {}:{}/{} was not found in the catalog",
                scope.key_id,
                item.path_id,
                rp.version.as_deref().unwrap_or("")
            ));
        }
        let uploading: Vec<String> = self
            .transfers()
            .uploads
            .values()
            .filter(|t| t.key_id == scope.key_id && t.path_id == item.path_id)
            .map(|t| t.job.clone())
            .collect();
        if self.any_running(&uploading).await {
            return Envelope::error(format!(
                "downloading is not possible, uploading task {}:{} is currently in progress",
                scope.key_id, item.path_id
            ));
        }
        let backup_id = format!("{}:{}/{version}", scope.key_id, item.path_id);
        let scheduled: Vec<String> = self
            .transfers()
            .downloads
            .values()
            .filter(|t| t.backup_id() == backup_id)
            .map(|t| t.job.clone())
            .collect();
        if self.any_running(&scheduled).await {
            return Envelope::error(format!(
                "downloading task {backup_id} was already scheduled"
            ));
        }
        // The file lands at the destination plus the path part of the
        // input (a path id input: the catalog path).
        let input_path = if is_path_id(&rp.path) {
            item.path.clone()
        } else {
            rp.path.clone()
        };
        let destination = match a.value("destination_path") {
            Value::Null => None,
            _ => Some(a.text("destination_path"))
                .filter(|d| !d.trim().is_empty())
                .map(PathBuf::from),
        };
        let to = ExportTo {
            folder: destination.clone(),
            path: input_path.split('/').map(str::to_owned).collect(),
        };
        let wait = a.flag("wait_result");
        let job = match &scope.catalog {
            Catalog::Mine { .. } => {
                let Some(entry) = item.entry.as_deref() else {
                    return Envelope::error(format!(
                        "item {} was not found in the catalog",
                        item.path_id
                    ));
                };
                self.node().entries().export(entry, to, false).await
            }
            Catalog::Granted { share } => {
                self.node()
                    .shares()
                    .export(share, &item.path, to, false)
                    .await
            }
        };
        let job = match job {
            Ok(j) => j,
            Err(e) => {
                return Envelope::error(format!(
                    "downloading task {backup_id} failed, result is {e}"
                ));
            }
        };
        let tr = Transfer {
            job: job.id.clone(),
            key_id: scope.key_id.clone(),
            path_id: item.path_id.clone(),
            version: version.clone(),
            local_path: String::new(),
            created: now_secs(),
            told: 0,
        };
        self.transfers().downloads.insert(job.id.clone(), tr);
        self.tell_job(&job.id).await;
        let dir = destination.as_ref().map_or_else(
            || {
                self.node()
                    .data_dir()
                    .join("downloads")
                    .display()
                    .to_string()
            },
            |d| d.display().to_string(),
        );
        let local_path = match &destination {
            Some(d) => d.join(&input_path).display().to_string(),
            None => String::new(),
        };
        let mut result = json!({
            "downloaded": false,
            "key_id": scope.key_id,
            "backup_id": backup_id,
            "local_path": local_path,
            "path_id": item.path_id,
            "remote_path": item.path,
        });
        if !wait {
            return Envelope::ok_with(result).message(format!(
                "downloading task {backup_id} started, destination is {dir}"
            ));
        }
        let (state, path, error) = self.wait_job(&job.id).await;
        if let Some(path) = path {
            result["local_path"] = json!(path);
        }
        if state == "done" {
            result["downloaded"] = json!(true);
            return Envelope::ok_with(result).message(format!(
                "version {backup_id} downloaded to {dir} successfully"
            ));
        }
        let mut e = Envelope::error(format!(
            "downloading task {backup_id} failed, result is {}",
            error.unwrap_or(state)
        ));
        if let Value::Object(fields) = result {
            e.0.extend(fields);
        }
        e
    }

    /// Whether any of `jobs` still runs.
    async fn any_running(&self, jobs: &[String]) -> bool {
        for job in jobs {
            if self
                .node()
                .jobs()
                .get(job)
                .await
                .is_ok_and(|j| j.state == "running")
            {
                return true;
            }
        }
        false
    }

    /// Waits for job `id` to end (polling its record): its state, the
    /// path written, and why it failed.
    async fn wait_job(&self, id: &str) -> (String, Option<String>, Option<String>) {
        let mut wait = std::time::Duration::from_millis(5);
        loop {
            match self.node().jobs().get(id).await {
                Ok(j) if j.state != "running" => {
                    let path = j
                        .result
                        .as_ref()
                        .and_then(|r| r["path"].as_str())
                        .map(str::to_owned);
                    return (j.state, path, j.error);
                }
                Ok(_) => {}
                Err(e) => return ("failed".into(), None, Some(e.to_string())),
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(std::time::Duration::from_millis(200));
        }
    }

    async fn file_download_stop(&self, remote_path: &str) -> Envelope {
        let (rp, scope) = match self.resolve(remote_path).await {
            Ok(r) => r,
            Err(e) => return e,
        };
        let item = match self.find(&scope, &rp.path).await {
            Ok(i) => i,
            Err(e) => return e,
        };
        if item.dir || item.registered {
            return Envelope::error("no remotely stored versions found");
        }
        let tasks: Vec<Transfer> = self
            .transfers()
            .downloads
            .values()
            .filter(|t| t.key_id == scope.key_id && t.path_id == item.path_id)
            .filter(|t| rp.version.as_ref().is_none_or(|v| v == &t.version))
            .cloned()
            .collect();
        let versions = if tasks.is_empty() {
            vec![(
                format!(
                    "{}:{}/{}",
                    scope.key_id,
                    item.path_id,
                    version_of(item.modified)
                ),
                false,
            )]
        } else {
            tasks
                .iter()
                .map(|tr| {
                    let aborted = self
                        .node()
                        .jobs()
                        .cancel(&tr.job)
                        .is_ok_and(|j| j.state != "done");
                    (tr.backup_id(), aborted)
                })
                .collect()
        };
        Envelope::result(Value::Array(
            versions
                .into_iter()
                .map(|(id, aborted)| json!({"backup_id": id, "aborted": aborted}))
                .collect(),
        ))
    }
}

/// The model a catalog's files are snapshots of.
fn file_model(scope: &Scope) -> &'static str {
    if scope.alias == "master" {
        "private_file"
    } else {
        "shared_file"
    }
}

/// `file_explore`: cairn runs without a desktop, so there is no explorer
/// to open; a path that does not exist is told as BitDust told it.
async fn file_explore(local_path: &str) -> Envelope {
    let path = PathBuf::from(local_path);
    let exists = tokio::task::spawn_blocking(move || path.exists())
        .await
        .unwrap_or(false);
    if local_path.trim().is_empty() || !exists {
        return Envelope::error("local path not exist");
    }
    Envelope::error("no file explorer to open: the node runs without a desktop")
}

/// `37.5%`.
fn percent(done: u64, total: u64) -> String {
    if total == 0 {
        return "0%".into();
    }
    let p = done as f64 * 100.0 / total as f64;
    format!("{}%", (p * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "12D3KooWLDaPGFhAXWRot2JkB4zoHAuJbkbQX2ho8c914GZtGASF";

    #[test]
    fn remote_paths_read_as_bitdust_reads_them() {
        let host = ids::host(PEER).unwrap();
        let me = "12D3KooWGBKiB5mKF1JMmKicqddkSE14iw5kyhauCKxbBbtKhZfz";
        let mine = |path: &str, version: Option<&str>| RemotePath {
            alias: "master".into(),
            owner: None,
            path: path.into(),
            version: version.map(Into::into),
        };
        assert_eq!(
            parse_remote("cats/a.png", me),
            Some(mine("cats/a.png", None))
        );
        assert_eq!(
            parse_remote("/cats/a.png/", me),
            Some(mine("cats/a.png", None))
        );
        assert_eq!(
            parse_remote("cats/a.png#F20240131054512PM", me),
            Some(mine("cats/a.png", Some("F20240131054512PM")))
        );
        assert_eq!(
            parse_remote("0/12/F20240131054512PM1", me),
            Some(mine("0/12", Some("F20240131054512PM1")))
        );
        assert_eq!(
            parse_remote(&format!("share_ab$alice@{host}:x/y"), me),
            Some(RemotePath {
                alias: "share_ab".into(),
                owner: Some(PEER.into()),
                path: "x/y".into(),
                version: None,
            })
        );
        assert_eq!(
            parse_remote(&format!("alice@{host}:x"), PEER),
            Some(mine("x", None))
        );
        assert_eq!(parse_remote("master$bob@server-b.com:x", me), None);
    }

    #[test]
    fn version_names_and_path_ids_are_told_apart() {
        assert!(is_version("F20240131054512PM"));
        assert!(is_version("F20240131054512AM12"));
        assert!(!is_version("F20240131054512"));
        assert!(!is_version("20240131054512PM"));
        assert!(!is_version("FPM"));
        assert!(is_path_id("0/3/12"));
        assert!(!is_path_id("0//3"));
        assert!(!is_path_id("cats/3"));
        assert!(!is_path_id(""));
        assert_eq!(version_of(1_706_723_112_000), "F20240131054512PM");
    }

    #[test]
    fn an_entry_id_and_its_number_name_each_other() {
        for n in [0, 1, 0xdead_beef, u64::MAX] {
            assert_eq!(number_of(&entry_of(n)), Some(n));
        }
        assert_eq!(entry_of(1), "AAAAAAAAAAE");
        assert_eq!(number_of("e1"), None);
        assert_eq!(percent(3, 8), "37.5%");
        assert_eq!(percent(0, 0), "0%");
        assert_eq!(percent(1, 3), "33.3%");
    }
}
