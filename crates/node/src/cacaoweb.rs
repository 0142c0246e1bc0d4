//! The engine side of cacaoweb's local API: uploads of local files named
//! by path, the uploads and downloads lists, files found by MD5, and the
//! accounts logged in through `/login`.
//!
//! - An upload (`/upload?filepath=`) imports one local file under the
//!   import roots into the top-level folder `cacaoweb`, as an `upload` job.
//!   Its md5/sha1/sha256 aliases are computed from the very bytes sealed, in
//!   the same pass, and recorded before the call answers: the answer is the
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
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cairn_core::digest::LegacyHasher;
use cairn_store::users::User;
use rand::RngCore;
use serde::Serialize;

use crate::local::{self, LocalCaller};
use crate::node::blocking;
use crate::{EntryInfo, ListQuery, Node, NodeError, OnConflict, Reader, paid};

type Result<T> = std::result::Result<T, NodeError>;

/// The folder cacaoweb uploads go into.
pub const FOLDER: &str = "cacaoweb";
/// Metadata key marking a finished upload still in the uploads list.
pub const LISTED: &str = "cacaoweb.listed";
/// Downloads remembered for the list.
const DOWNLOADS_KEPT: usize = 100;
/// Sessions kept (the oldest go first).
const SESSIONS_KEPT: usize = 1000;

/// cacaoweb's state kept in memory.
#[derive(Default)]
pub(crate) struct CacaowebState {
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
#[derive(Debug, Clone, Serialize)]
pub struct UploadItem {
    /// MD5, lower-case hex (empty while the file is being sealed).
    pub fileid: String,
    /// Bytes.
    pub length: u64,
    /// Percent, 0 to 100.
    pub progress: u8,
    /// The file's name.
    pub title: String,
    /// kB/s while running, 0 when done.
    pub bandwidth: f64,
}

/// One row of the downloads list.
#[derive(Debug, Clone, Serialize)]
pub struct DownloadItem {
    /// MD5, lower-case hex.
    pub fileid: String,
    /// Bytes.
    pub length: u64,
    /// Percent of the file sent, 0 to 100.
    pub progress: u8,
    /// The file's name.
    pub title: String,
}

/// A file found by MD5 through cacaoweb.
#[derive(Debug, Clone)]
pub struct CacaowebFile {
    /// The entry that governs it.
    pub info: EntryInfo,
    /// Published (`Node::is_published`): only such files are listed in
    /// the downloads list, which anyone may read.
    pub published: bool,
}

/// Counts the bytes a stream sends, for the downloads list.
#[derive(Clone)]
pub struct DownloadTicket(Arc<LiveDownload>);

impl DownloadTicket {
    /// Records `n` more bytes sent.
    pub fn sent(&self, n: u64) {
        self.0.sent.fetch_add(n, Ordering::Relaxed);
    }
}

/// Hashes what passes through it: the legacy digests of exactly the bytes
/// sealed.
struct Hashing<'a, R> {
    inner: R,
    hasher: &'a mut LegacyHasher,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn percent(done: u64, total: u64) -> u8 {
    if total == 0 {
        return 100;
    }
    (done.saturating_mul(100) / total).min(100) as u8
}

impl Node {
    /// Uploads the local file `path` (under the import roots) the cacaoweb
    /// way, for `caller`: a local user without the admin secret only a file
    /// they could read themselves. Answers when it is stored with its MD5
    /// known.
    pub async fn cacaoweb_upload(
        &self,
        path: &Path,
        restricted: bool,
        preview_allowed: bool,
        caller: LocalCaller,
    ) -> Result<EntryInfo> {
        let roots = self.0.config.import_roots.clone();
        let p = path.to_path_buf();
        let opened =
            blocking(move || local::open_under(&p, &local::Roots::resolve(&roots), &caller))
                .await?;
        if opened.kind != local::Kind::File {
            return Err(NodeError::Invalid(format!(
                "{} is a folder, not a file",
                path.display()
            )));
        }
        let name = opened
            .real
            .file_name()
            .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
        let mut metadata = BTreeMap::from([(LISTED.to_owned(), "true".to_owned())]);
        if restricted {
            metadata.insert(paid::RESTRICTED.into(), "true".into());
            metadata.insert(paid::PREVIEW_ALLOWED.into(), preview_allowed.to_string());
        }
        paid::check_initial(&metadata, OnConflict::Rename)?;
        let folder = self.create_folder(None, FOLDER.into()).await?.id;
        let job = self
            .jobs_registry()
            .start("upload", &name, Some(opened.size), true);
        let job_id = job.id().to_owned();
        self.lock_uploads().push(LiveUpload {
            job: job_id.clone(),
            title: name.clone(),
            length: opened.size,
            started: Instant::now(),
        });
        let node = self.clone();
        let stored = tokio::task::spawn_blocking(move || {
            let outcome = node.seal_local(opened.file, &name, &folder, &metadata, &job);
            job.finish(
                outcome
                    .as_ref()
                    .map(|e| serde_json::json!({ "entry": e.entry })),
            );
            outcome
        })
        .await;
        self.lock_uploads().retain(|u| u.job != job_id);
        stored?
    }

    fn seal_local(
        &self,
        file: std::fs::File,
        name: &str,
        folder: &str,
        metadata: &BTreeMap<String, String>,
        job: &crate::jobs::Job,
    ) -> Result<EntryInfo> {
        let mut hasher = LegacyHasher::default();
        let mut src = Hashing {
            inner: file,
            hasher: &mut hasher,
        };
        let entry = self.store_file_with(
            &mut src,
            job,
            Some(folder),
            name,
            OnConflict::Rename,
            &|_| Ok(()),
            metadata,
        )?;
        if let Some(Ok(blob)) = entry.blob.as_deref().map(str::parse::<cairn_core::BlobId>) {
            self.0
                .catalog
                .add_aliases(&blob, &hasher.finish().aliases())?;
        }
        self.entry_info(&entry.id)
    }

    fn lock_uploads(&self) -> std::sync::MutexGuard<'_, Vec<LiveUpload>> {
        self.0
            .cacaoweb
            .uploads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The uploads list: running uploads, then finished ones still listed
    /// (each MD5 once).
    pub async fn cacaoweb_uploads(&self) -> Result<Vec<UploadItem>> {
        let mut items: Vec<UploadItem> = Vec::new();
        let live: Vec<(String, String, u64, f64)> = self
            .lock_uploads()
            .iter()
            .map(|u| {
                (
                    u.job.clone(),
                    u.title.clone(),
                    u.length,
                    u.started.elapsed().as_secs_f64(),
                )
            })
            .collect();
        for (job, title, length, secs) in live {
            let done = self.jobs_registry().get(&job).map(|j| j.done).unwrap_or(0);
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
        for info in self.cacaoweb_listed().await? {
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

    /// Files of the cacaoweb folder still marked listed, newest first.
    async fn cacaoweb_listed(&self) -> Result<Vec<EntryInfo>> {
        let node = self.clone();
        blocking(move || {
            // The folder is made on first use (by an upload, or here).
            let folder = node.0.catalog.create_folder(None, FOLDER)?;
            let mut out = Vec::new();
            let mut offset = 0;
            // Bounded: at most 100 pages of 1000.
            for _ in 0..100 {
                let page = node.0.catalog.list(
                    Some(&folder.id),
                    ListQuery {
                        offset,
                        limit: cairn_store::catalog::MAX_PAGE,
                        sort: crate::SortKey::Created,
                        descending: true,
                    },
                )?;
                for e in &page.entries {
                    let info = node.entry_info(&e.id)?;
                    if info.metadata.get(LISTED).is_some_and(|v| v == "true") {
                        out.push(info);
                    }
                }
                if page.entries.len() < cairn_store::catalog::MAX_PAGE as usize {
                    break;
                }
                offset += u64::from(cairn_store::catalog::MAX_PAGE);
            }
            Ok(out)
        })
        .await
    }

    /// Takes the files with this MD5 off the uploads list (they stay on the
    /// node).
    pub async fn cacaoweb_remove_upload(&self, md5: &str) -> Result<()> {
        let node = self.clone();
        let md5 = md5.to_ascii_lowercase();
        blocking(move || {
            let Ok(blob) = node.resolve(&md5) else {
                return Ok(());
            };
            for e in node.0.catalog.entries_of_blob(&blob)? {
                if node.0.catalog.metadata(&e.id)?.contains_key(LISTED) {
                    node.0
                        .catalog
                        .set_metadata(&e.id, &BTreeMap::from([(LISTED.to_owned(), None)]))?;
                }
            }
            Ok(())
        })
        .await
    }

    /// The entry that governs the file with this MD5 among those `reader`
    /// may see (`Node::may_see`): a free one when any is, else the
    /// oldest. `None` when there is none, whether no file has this MD5 or
    /// the reader may not see the ones that do.
    pub async fn cacaoweb_file(&self, md5: &str, reader: &Reader) -> Result<Option<CacaowebFile>> {
        let (node, reader) = (self.clone(), reader.clone());
        let md5 = md5.to_ascii_lowercase();
        blocking(move || {
            let Ok(blob) = node.resolve(&md5) else {
                return Ok(None);
            };
            let mut found = Vec::new();
            for e in node.0.catalog.entries_of_blob(&blob)? {
                let info = node.entry_info(&e.id)?;
                let published = node.is_published(&info)?;
                if published || reader.sees_unpublished(&info) {
                    found.push(CacaowebFile { info, published });
                }
            }
            found.sort_by_key(|f| {
                (
                    paid::PaidTerms::of(&f.info.metadata).is_paid(),
                    f.info.entry.created,
                )
            });
            Ok(found.into_iter().next())
        })
        .await
    }

    /// Deletes every published entry holding the file with this MD5 (the
    /// operator's other entries of the same content stay); answers how
    /// many.
    pub async fn cacaoweb_delete(&self, md5: &str) -> Result<usize> {
        let md5 = md5.to_ascii_lowercase();
        let node = self.clone();
        let m = md5.clone();
        let entries = blocking(move || {
            let Ok(blob) = node.resolve(&m) else {
                return Ok(Vec::new());
            };
            let mut published = Vec::new();
            for e in node.0.catalog.entries_of_blob(&blob)? {
                if node.is_published(&node.entry_info(&e.id)?)? {
                    published.push(e);
                }
            }
            Ok(published)
        })
        .await?;
        for e in &entries {
            self.delete(&e.id, false).await?;
        }
        self.0
            .cacaoweb
            .downloads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|d| d.md5 != md5);
        Ok(entries.len())
    }

    /// Starts a row of the downloads list.
    pub fn cacaoweb_download(&self, md5: &str, title: &str, length: u64) -> DownloadTicket {
        let item = Arc::new(LiveDownload {
            md5: md5.to_ascii_lowercase(),
            title: title.to_owned(),
            length,
            sent: AtomicU64::new(0),
        });
        let mut list = self
            .0
            .cacaoweb
            .downloads
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        list.retain(|d| d.md5 != item.md5);
        list.push_front(item.clone());
        list.truncate(DOWNLOADS_KEPT);
        DownloadTicket(item)
    }

    /// The downloads list, newest first.
    pub fn cacaoweb_downloads(&self) -> Vec<DownloadItem> {
        self.0
            .cacaoweb
            .downloads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
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
    pub async fn cacaoweb_login(&self, login: &str, key: &str) -> Result<(User, String)> {
        let user = self.authenticate(login, key).await?;
        let mut raw = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = hex::encode(raw);
        let mut s = self
            .0
            .cacaoweb
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
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
    pub fn cacaoweb_session(&self, token: Option<&str>) -> Option<(User, String)> {
        let s = self
            .0
            .cacaoweb
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let token = match token {
            Some(t) => t.to_owned(),
            None => s.current.clone()?,
        };
        s.by_token.get(&token).map(|u| (u.clone(), token))
    }
}
