//! cacaoweb's files, lists and sessions, over the engine's public API:
//! uploads of local files named by path, the uploads and downloads lists,
//! files found by MD5, and the accounts logged in through `/login`. The
//! lists and sessions are the layer's own state, in memory.
//!
//! - An upload (`/upload?filepath=`) imports one local file under the
//!   import roots into the top-level folder `cacaoweb`, as an `upload` job.
//!   The folder is marked `published` (its files are published). Its
//!   md5/sha1/sha256 aliases are computed from the very bytes sealed, in
//!   the same pass (`Node::start_file_import`), and recorded before the call answers: the answer is the
//!   MD5, and the file is reachable by it at once. The paid flags and the
//!   listing mark are written in the transaction that adds the entry.
//! - The uploads list is the running cacaoweb uploads (in memory; their MD5
//!   is not known until the file is sealed, so their `fileid` is empty) and
//!   the finished ones still marked `cacaoweb.listed` (metadata, so the
//!   list survives a restart); `removeupload` removes the mark only, the
//!   file stays, as the seed says.
//! - The downloads list is the streams served through the layer since the
//!   node started (the newest 100), with the bytes sent.
//! - An MD5 names a blob; several entries may hold it. Only those the
//!   reader may see count: published files (uploaded through cacaoweb,
//!   marked public, or offered for sale), an account's own, and every file
//!   for the admin; the operator's private files are never found through
//!   cacaoweb without the secret, and the answer is the same as for an MD5
//!   nobody has. Of those, the one that governs access is a free one when
//!   there is any (its bytes are free to read anyway), else the oldest.
//! - The downloads list shows published files only.
//! - Logins: `/login` checks a gateway account's login and key and opens a
//!   session (a random token). The newest login is also the instance's
//!   account, used when a call names no session, as cacaoweb's one logged-in
//!   user was.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use cairn_node::paid::{PREVIEW_ALLOWED, PUBLISHED, PaidTerms, RESTRICTED};
use cairn_node::{
    EntryInfo, ErrorKind, FileImport, ListQuery, LocalCaller, Node, NodeError, OnConflict, Reader,
    SortKey, User,
};
use rand::RngCore;

type Result<T> = std::result::Result<T, NodeError>;

/// The folder cacaoweb uploads go into.
const FOLDER: &str = "cacaoweb";
/// Metadata key marking a finished upload still in the uploads list.
const LISTED: &str = "cacaoweb.listed";
/// Downloads remembered for the list.
const DOWNLOADS_KEPT: usize = 100;
/// Sessions kept (the oldest go first).
const SESSIONS_KEPT: usize = 1000;
/// Entries a listing page holds (the catalog's largest).
const PAGE: u32 = 1000;

/// The layer's state: its lists and sessions, in memory.
#[derive(Default)]
pub(crate) struct Lists {
    uploads: Mutex<Vec<LiveUpload>>,
    downloads: Mutex<VecDeque<Arc<LiveDownload>>>,
    sessions: Mutex<Sessions>,
}

#[derive(Default)]
struct Sessions {
    by_token: HashMap<String, User>,
    order: VecDeque<String>,
    current: Option<String>,
}

struct LiveUpload {
    job: String,
    title: String,
    length: u64,
    started: Instant,
}

struct LiveDownload {
    md5: String,
    title: String,
    length: u64,
    sent: AtomicU64,
}

/// One row of the uploads list.
#[derive(Debug, Clone)]
pub(crate) struct UploadItem {
    /// MD5, lower-case hex (empty while the file is being sealed).
    pub(crate) fileid: String,
    /// Bytes.
    pub(crate) length: u64,
    /// Percent, 0 to 100.
    pub(crate) progress: u8,
    /// The file's name.
    pub(crate) title: String,
    /// kB/s while running, 0 when done.
    pub(crate) bandwidth: f64,
}

/// One row of the downloads list.
#[derive(Debug, Clone)]
pub(crate) struct DownloadItem {
    /// MD5, lower-case hex.
    pub(crate) fileid: String,
    /// Bytes.
    pub(crate) length: u64,
    /// Percent of the file sent, 0 to 100.
    pub(crate) progress: u8,
    /// The file's name.
    pub(crate) title: String,
}

/// A file found by MD5 through cacaoweb.
#[derive(Debug, Clone)]
pub(crate) struct CacaowebFile {
    /// The entry that governs it.
    pub(crate) info: EntryInfo,
    /// Published (`Paid::published`): only such files are listed in the
    /// downloads list, which anyone may read.
    pub(crate) published: bool,
}

/// Counts the bytes a stream sends, for the downloads list.
#[derive(Clone)]
pub(crate) struct DownloadTicket(Arc<LiveDownload>);

impl DownloadTicket {
    /// Records `n` more bytes sent.
    pub(crate) fn sent(&self, n: u64) {
        self.0.sent.fetch_add(n, Ordering::Relaxed);
    }
}

fn percent(done: u64, total: u64) -> u8 {
    if total == 0 {
        return 100;
    }
    (done.saturating_mul(100) / total).min(100) as u8
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The upload folder, made (and marked published) on first use.
async fn folder(node: &Node) -> Result<String> {
    let folder = node.entries().create_folder(None, FOLDER.into()).await?;
    let info = node.entries().entry(&folder.id).await?;
    if info.metadata.get(PUBLISHED).is_none_or(|v| v != "true") {
        let mark = BTreeMap::from([(PUBLISHED.to_owned(), Some("true".to_owned()))]);
        node.entries().set_metadata(&folder.id, mark).await?;
    }
    Ok(folder.id)
}

/// The entries holding the file with this MD5 (none for an MD5 no file
/// has, or one that does not parse).
async fn holders(node: &Node, md5: &str) -> Result<Vec<EntryInfo>> {
    let blob = match node.blobs().info(md5).await {
        Ok(b) => b,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidId) => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let mut out = Vec::with_capacity(blob.entries.len());
    for e in &blob.entries {
        out.push(node.entries().entry(&e.id).await?);
    }
    Ok(out)
}

impl Lists {
    /// Uploads the local file `path` (under the import roots) the cacaoweb
    /// way, for `caller`: a local user without the admin secret only a file
    /// they could read themselves. Answers when it is stored with its MD5
    /// known.
    pub(crate) async fn upload(
        &self,
        node: &Node,
        path: &Path,
        restricted: bool,
        preview_allowed: bool,
        caller: LocalCaller,
    ) -> Result<EntryInfo> {
        let mut metadata = BTreeMap::from([(LISTED.to_owned(), "true".to_owned())]);
        if restricted {
            metadata.insert(RESTRICTED.into(), "true".into());
            metadata.insert(PREVIEW_ALLOWED.into(), preview_allowed.to_string());
        }
        let req = FileImport {
            path: path.to_path_buf(),
            parent: Some(folder(node).await?),
            on_conflict: OnConflict::Rename,
            metadata,
            caller,
        };
        let importing = node.entries().start_file_import(req).await?;
        let job = importing.job().to_owned();
        locked(&self.uploads).push(LiveUpload {
            job: job.clone(),
            title: importing.name().to_owned(),
            length: importing.size(),
            started: Instant::now(),
        });
        let stored = importing.finish().await;
        locked(&self.uploads).retain(|u| u.job != job);
        stored
    }

    /// The uploads list: running uploads, then finished ones still listed
    /// (each MD5 once).
    pub(crate) async fn uploads(&self, node: &Node) -> Result<Vec<UploadItem>> {
        let live: Vec<(String, String, u64, f64)> = locked(&self.uploads)
            .iter()
            .map(|u| {
                let secs = u.started.elapsed().as_secs_f64();
                (u.job.clone(), u.title.clone(), u.length, secs)
            })
            .collect();
        let mut items: Vec<UploadItem> = Vec::new();
        for (job, title, length, secs) in live {
            let done = node.jobs().get(&job).await.map(|j| j.done).unwrap_or(0);
            items.push(UploadItem {
                fileid: String::new(),
                length,
                progress: percent(done, length).min(99),
                title,
                bandwidth: if secs > 0.0 {
                    done as f64 / 1000.0 / secs
                } else {
                    0.0
                },
            });
        }
        for info in listed(node).await? {
            let fileid = info.aliases.get("md5").cloned().unwrap_or_default();
            if items
                .iter()
                .any(|i| !fileid.is_empty() && i.fileid == fileid)
            {
                continue;
            }
            items.push(UploadItem {
                fileid,
                length: info.entry.size,
                progress: 100,
                title: info.entry.name.clone(),
                bandwidth: 0.0,
            });
        }
        Ok(items)
    }

    /// Deletes every published entry holding the file with this MD5 (the
    /// operator's other entries of the same content stay); answers how
    /// many.
    pub(crate) async fn delete(&self, node: &Node, md5: &str) -> Result<usize> {
        let md5 = md5.to_ascii_lowercase();
        let mut deleted = 0;
        for info in holders(node, &md5).await? {
            if node.paid().published(&info).await? {
                node.entries().delete(&info.entry.id, false).await?;
                deleted += 1;
            }
        }
        locked(&self.downloads).retain(|d| d.md5 != md5);
        Ok(deleted)
    }

    /// Starts a row of the downloads list.
    pub(crate) fn download(&self, md5: &str, title: &str, length: u64) -> DownloadTicket {
        let item = Arc::new(LiveDownload {
            md5: md5.to_ascii_lowercase(),
            title: title.to_owned(),
            length,
            sent: AtomicU64::new(0),
        });
        let mut list = locked(&self.downloads);
        list.retain(|d| d.md5 != item.md5);
        list.push_front(item.clone());
        list.truncate(DOWNLOADS_KEPT);
        DownloadTicket(item)
    }

    /// The downloads list, newest first.
    pub(crate) fn downloads(&self) -> Vec<DownloadItem> {
        locked(&self.downloads)
            .iter()
            .map(|d| DownloadItem {
                fileid: d.md5.clone(),
                length: d.length,
                progress: percent(d.sent.load(Ordering::Relaxed), d.length),
                title: d.title.clone(),
            })
            .collect()
    }

    /// Logs a gateway account in: a new session, which also becomes the
    /// instance's account. Answers the session token.
    pub(crate) async fn login(
        &self,
        node: &Node,
        login: &str,
        key: &str,
    ) -> Result<(User, String)> {
        let user = node.accounts().authenticate(login, key).await?;
        let mut raw = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = hex::encode(raw);
        let mut s = locked(&self.sessions);
        s.by_token.insert(token.clone(), user.clone());
        s.order.push_back(token.clone());
        while s.order.len() > SESSIONS_KEPT {
            if let Some(old) = s.order.pop_front() {
                s.by_token.remove(&old);
            }
        }
        s.current = Some(token.clone());
        Ok((user, token))
    }

    /// The account of session `token`, or with none given the instance's
    /// logged-in account; with its token.
    pub(crate) fn session(&self, token: Option<&str>) -> Option<(User, String)> {
        let s = locked(&self.sessions);
        let token = match token {
            Some(t) => t.to_owned(),
            None => s.current.clone()?,
        };
        s.by_token.get(&token).map(|u| (u.clone(), token))
    }
}

/// Files of the upload folder still marked listed, newest first.
async fn listed(node: &Node) -> Result<Vec<EntryInfo>> {
    let folder = folder(node).await?;
    let mut out = Vec::new();
    let mut offset = 0;
    // Bounded: at most 100 pages of 1000.
    for _ in 0..100 {
        let query = ListQuery {
            offset,
            limit: PAGE,
            sort: SortKey::Created,
            descending: true,
        };
        let page = node.entries().list(Some(folder.clone()), query).await?;
        for e in &page.entries {
            let info = node.entries().entry(&e.id).await?;
            if info.metadata.get(LISTED).is_some_and(|v| v == "true") {
                out.push(info);
            }
        }
        if page.entries.len() < PAGE as usize {
            break;
        }
        offset += u64::from(PAGE);
    }
    Ok(out)
}

/// Takes the files with this MD5 off the uploads list (they stay on the
/// node).
pub(crate) async fn remove_upload(node: &Node, md5: &str) -> Result<()> {
    for info in holders(node, &md5.to_ascii_lowercase()).await? {
        if info.metadata.contains_key(LISTED) {
            let unmark = BTreeMap::from([(LISTED.to_owned(), None)]);
            node.entries().set_metadata(&info.entry.id, unmark).await?;
        }
    }
    Ok(())
}

/// The entry that governs the file with this MD5 among those `reader`
/// may see: a free one when any is, else the oldest. `None` when there is
/// none, whether no file has this MD5 or the reader may not see the ones
/// that do.
pub(crate) async fn find(node: &Node, md5: &str, reader: &Reader) -> Result<Option<CacaowebFile>> {
    let mut found = Vec::new();
    for info in holders(node, &md5.to_ascii_lowercase()).await? {
        let published = node.paid().published(&info).await?;
        if published || reader.sees_unpublished(&info) {
            found.push(CacaowebFile { info, published });
        }
    }
    found.sort_by_key(|f| {
        (
            PaidTerms::of(&f.info.metadata).is_paid(),
            f.info.entry.created,
        )
    });
    Ok(found.into_iter().next())
}
