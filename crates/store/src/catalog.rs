//! The catalog: one SQLite database (WAL) that is the source of truth for
//! what a node holds.
//!
//! Invariants kept here:
//! - an entry of kind `file` always points at a blob row, and that row is
//!   written in the same transaction as the entry, after the blob's bytes
//!   are durable (the caller commits the file inside [`Catalog::add_file`]);
//! - names are unique within a folder, and a folder never moves into its
//!   own subtree;
//! - a blob row with no entry pointing at it is garbage: [`Catalog::delete`]
//!   returns such blobs so the caller removes their files.
//!
//! All calls are synchronous and short; callers on an async runtime run
//! them on a blocking thread.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use cairn_core::id::DigestRef;
use cairn_core::{BlobId, DigestKind, EntryId};
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use crate::StoreError;
use crate::migrations::MIGRATIONS;

type Result<T> = std::result::Result<T, StoreError>;

/// Longest entry name, in bytes (as most filesystems allow).
pub const MAX_NAME: usize = 255;
/// Longest metadata key, in bytes.
pub const MAX_META_KEY: usize = 64;
/// Longest metadata value, in bytes.
pub const MAX_META_VALUE: usize = 4096;
/// Most metadata keys one entry may have.
pub const MAX_META_KEYS: usize = 64;
/// Most entries one page of a listing may hold.
pub const MAX_PAGE: u32 = 1000;

/// A file or a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A named blob.
    File,
    /// A container of entries.
    Folder,
}

/// One item of the catalog.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Entry {
    /// Short id.
    pub id: String,
    /// Containing folder; `None` for the root.
    pub parent: Option<String>,
    /// File or folder.
    pub kind: EntryKind,
    /// Name within its folder.
    pub name: String,
    /// Blob id (files only).
    pub blob: Option<String>,
    /// Plaintext bytes (0 for folders).
    pub size: u64,
    /// MIME type, sniffed at upload (files only).
    pub content_type: Option<String>,
    /// Creation time, Unix milliseconds.
    pub created: i64,
    /// Last change of name, place or metadata, Unix milliseconds.
    pub modified: i64,
    /// Completed downloads of the whole file.
    pub downloads: u64,
    /// The gateway account that owns it (inherited from its folder);
    /// `None` for the operator's own entries.
    pub owner: Option<String>,
}

/// What [`Catalog::folder_summary`] reads of a folder.
#[derive(Debug, Clone, Default)]
pub struct FolderSummary {
    /// Entries in each of its folders, by folder id.
    pub counts: std::collections::HashMap<String, u64>,
    /// Its entries that have the metadata key asked about.
    pub with_key: std::collections::HashSet<String>,
}

/// How to order a listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SortKey {
    /// By name (the default).
    #[default]
    Name,
    /// By size.
    Size,
    /// By creation time.
    Created,
    /// By last change.
    Modified,
    /// By download count.
    Downloads,
}

impl SortKey {
    /// Parses `name`, `size`, `created`, `modified` or `downloads`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "name" => Self::Name,
            "size" => Self::Size,
            "created" => Self::Created,
            "modified" => Self::Modified,
            "downloads" => Self::Downloads,
            _ => return None,
        })
    }

    fn column(self) -> &'static str {
        match self {
            Self::Name => "name COLLATE NOCASE",
            Self::Size => "size",
            Self::Created => "created",
            Self::Modified => "modified",
            Self::Downloads => "downloads",
        }
    }
}

/// A page request. Folders always come before files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListQuery {
    /// Entries to skip.
    pub offset: u64,
    /// Entries to return, at most [`MAX_PAGE`].
    pub limit: u32,
    /// Order.
    pub sort: SortKey,
    /// Descending instead of ascending.
    pub descending: bool,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            offset: 0,
            limit: 100,
            sort: SortKey::Name,
            descending: false,
        }
    }
}

/// One page of a folder listing.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page {
    /// Entries in the folder, in all.
    pub total: u64,
    /// This page's entries.
    pub entries: Vec<Entry>,
}

/// What to do when an added name is already taken in its folder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// Refuse with [`StoreError::NameTaken`] (unless the existing entry
    /// holds the very same blob: then it is returned as is).
    #[default]
    Fail,
    /// Add as "name (1).ext", "name (2).ext", ….
    Rename,
    /// Point the existing entry at the new blob.
    Replace,
}

impl OnConflict {
    /// Its name, as in the API (`fail`, `rename`, `replace`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fail => "fail",
            Self::Rename => "rename",
            Self::Replace => "replace",
        }
    }
}

impl std::str::FromStr for OnConflict {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fail" => Ok(Self::Fail),
            "rename" => Ok(Self::Rename),
            "replace" => Ok(Self::Replace),
            _ => Err(StoreError::Invalid(format!(
                "'{}' is not fail, rename or replace",
                s.chars().take(40).collect::<String>()
            ))),
        }
    }
}

/// A file about to enter the catalog.
pub struct NewFile<'a> {
    /// Folder, or `None` for the root.
    pub parent: Option<&'a str>,
    /// Name within the folder.
    pub name: &'a str,
    /// Blob id.
    pub blob: BlobId,
    /// Plaintext size.
    pub size: u64,
    /// The encoded manifest.
    pub manifest: &'a [u8],
    /// Sniffed MIME type.
    pub content_type: &'a str,
    /// Name collision policy.
    pub on_conflict: OnConflict,
    /// The MD5 of the content, when the upload computed it: recorded as
    /// the blob's `md5` alias in the same transaction.
    pub md5: Option<&'a str>,
    /// When the file replaces one: the metadata keys it had with this
    /// prefix that the new metadata does not set are removed, in the
    /// same transaction.
    pub reset_prefix: Option<&'a str>,
    /// The resumable upload this file finishes: marked finished as this
    /// entry in the same transaction (an upload gone refuses the file).
    pub finishes: Option<&'a str>,
}

/// What [`Catalog::add_file`] did.
#[derive(Debug)]
pub struct Added {
    /// The entry now in the catalog.
    pub entry: Entry,
    /// Whether the blob row is new (its file was committed).
    pub new_blob: bool,
    /// A blob the replaced entry held and nothing else references.
    pub orphan: Option<BlobId>,
}

/// A job as recorded in the catalog.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobRecord {
    /// Job id.
    pub id: String,
    /// Its number: stable, increasing, never reused by a recorded job
    /// (what Openload's task ids and other layers' numbered lists show).
    pub seq: i64,
    /// The ledger account it belongs to, if a user asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// What it works on (a URL, an entry id), when that is not its label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The folder its result goes into.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// "upload", "import", "download", "digest", ….
    pub kind: String,
    /// "running", "done", "failed", "cancelled".
    pub state: String,
    /// What the job is about (a file name, a path).
    pub label: String,
    /// Bytes done.
    pub done: u64,
    /// Bytes in all, when known.
    pub total: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Its outcome, as JSON.
    pub result: Option<serde_json::Value>,
    /// Start, Unix milliseconds.
    pub created: i64,
    /// Last change, Unix milliseconds.
    pub updated: i64,
}

/// Counts for the status call.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Counts {
    /// File entries.
    pub files: u64,
    /// Folder entries.
    pub folders: u64,
    /// Distinct blobs.
    pub blobs: u64,
    /// Plaintext bytes of distinct blobs.
    pub blob_bytes: u64,
}

/// The catalog database.
pub struct Catalog {
    /// The one connection that writes (and reads inside its writes).
    conn: Mutex<Connection>,
    /// The database file, for read connections (`None` in memory: reads
    /// use the writer's connection).
    path: Option<std::path::PathBuf>,
    /// Read-only connections not in use. WAL lets them read while the
    /// writer writes, so a look-up never waits for a write.
    readers: Mutex<Vec<Connection>>,
    /// Goes up after every use of the writer's connection: what was read
    /// at an older generation may have changed since.
    generation: std::sync::atomic::AtomicU64,
}

/// Idle read connections kept for reuse; more are opened when more reads
/// run at once, and closed after.
const KEEP_READERS: usize = 16;

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

const ENTRY_COLUMNS: &str =
    "id, parent, kind, name, blob, size, content_type, created, modified, downloads, owner";

/// `bytes` in lowercase hex (`hex::encode` builds its string a char at a
/// time: a listing spent 5 % of its time there).
fn hex_of(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    // The buffer is exactly twice as long, so this cannot fail.
    let _ = hex::encode_to_slice(bytes, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<Entry> {
    let kind: String = row.get(2)?;
    let blob: Option<Vec<u8>> = row.get(4)?;
    Ok(Entry {
        id: row.get(0)?,
        parent: row.get(1)?,
        kind: if kind == "folder" {
            EntryKind::Folder
        } else {
            EntryKind::File
        },
        name: row.get(3)?,
        blob: blob.map(|b| hex_of(&b)),
        size: row.get::<_, i64>(5)? as u64,
        content_type: row.get(6)?,
        created: row.get(7)?,
        modified: row.get(8)?,
        downloads: row.get::<_, i64>(9)? as u64,
        owner: row.get(10)?,
    })
}

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<JobRecord> {
    let result: Option<String> = row.get(7)?;
    Ok(JobRecord {
        id: row.get(0)?,
        kind: row.get(1)?,
        state: row.get(2)?,
        label: row.get(3)?,
        done: row.get::<_, i64>(4)? as u64,
        total: row.get::<_, Option<i64>>(5)?.map(|t| t as u64),
        error: row.get(6)?,
        result: result.and_then(|r| serde_json::from_str(&r).ok()),
        created: row.get(8)?,
        updated: row.get(9)?,
        seq: row.get::<_, Option<i64>>(10)?.unwrap_or(0),
        account: row.get(11)?,
        subject: row.get(12)?,
        folder: row.get(13)?,
    })
}

/// The columns [`job_from_row`] reads, in its order.
const JOB_COLUMNS: &str = "id, kind, state, label, done, total, error, result, created, updated, seq, account, subject, folder";

/// Checks an entry name: non-empty, at most [`MAX_NAME`] bytes, no `/`,
/// no control characters, not `.` or `..`.
pub fn check_name(name: &str) -> Result<()> {
    let bad = |why: &str| Err(StoreError::Invalid(format!("invalid name: {why}")));
    if name.is_empty() || name.trim().is_empty() {
        return bad("it is empty");
    }
    if name.len() > MAX_NAME {
        return bad(&format!("{} bytes, at most {MAX_NAME} allowed", name.len()));
    }
    if name.contains('/') || name.chars().any(char::is_control) {
        return bad("it contains '/' or a control character");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are reserved");
    }
    Ok(())
}

fn check_meta(key: &str, value: Option<&str>) -> Result<()> {
    let key_ok = !key.is_empty()
        && key.len() <= MAX_META_KEY
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !key_ok {
        return Err(StoreError::Invalid(format!(
            "invalid metadata key '{}': 1 to {MAX_META_KEY} of a-z A-Z 0-9 _ - .",
            key.chars().take(80).collect::<String>()
        )));
    }
    if value.is_some_and(|v| v.len() > MAX_META_VALUE) {
        return Err(StoreError::Invalid(format!(
            "metadata value of '{key}' is over {MAX_META_VALUE} bytes"
        )));
    }
    Ok(())
}

fn not_found(what: &'static str, id: &str) -> StoreError {
    StoreError::NotFound {
        what,
        id: id.chars().take(80).collect(),
    }
}

impl Catalog {
    /// Opens (creating and migrating) the catalog at `path`. The database
    /// is created 0600 before SQLite opens it, so its WAL and shared-memory
    /// files, which SQLite gives the database's mode, are 0600 too; an
    /// older install's files are tightened first.
    pub fn open(path: &Path) -> Result<Self> {
        private_files(path)?;
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        migrate(&mut conn)?;
        crate::placements::fill_placement_shards(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path: Some(path.to_owned()),
            readers: Mutex::new(Vec::new()),
            generation: Default::default(),
        })
    }

    /// An in-memory catalog (tests).
    pub fn open_in_memory() -> Result<Self> {
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path: None,
            readers: Mutex::new(Vec::new()),
            generation: Default::default(),
        })
    }

    /// Runs `f` on the writer's connection (also for the other modules of
    /// the store): every write, and reads that must see a write's own
    /// state.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let out = f(&mut conn);
        // After the change is committed (or rolled back), before the lock
        // goes: a reader that took the generation before its read never
        // keeps what it read past this change.
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        out
    }

    /// The catalog's generation: it goes up with every change (and every
    /// use of the writer's connection), so what was read at one generation
    /// is still true while the generation is the same. Take it before the
    /// read it validates.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs `f`, which only reads, on a read-only connection of its own:
    /// it sees every write committed before it started and never waits
    /// for the writer, nor the writer for it.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let Some(path) = &self.path else {
            return self.with(|c| f(c));
        };
        let idle = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                use rusqlite::OpenFlags;
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                conn.busy_timeout(std::time::Duration::from_secs(10))?;
                conn
            }
        };
        let out = f(&conn);
        let mut idle = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < KEEP_READERS {
            idle.push(conn);
        }
        out
    }

    /// The schema version in use.
    pub fn schema_version(&self) -> Result<i64> {
        self.with(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?))
    }

    // ---- blobs and aliases ----

    /// The encoded manifest of blob `id`.
    pub fn manifest(&self, id: &BlobId) -> Result<Option<Vec<u8>>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT manifest FROM blobs WHERE id = ?1",
                [&id.0[..]],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    /// The blob a user-given digest names: a blob id, or an md5, sha1 or
    /// sha256 alias.
    pub fn resolve(&self, digest: &DigestRef) -> Result<Option<BlobId>> {
        self.read(|c| {
            for kind in digest.kinds {
                let found: Option<Vec<u8>> = if *kind == DigestKind::Blake3 {
                    let raw = hex::decode(&digest.hex).unwrap_or_default();
                    c.query_row("SELECT id FROM blobs WHERE id = ?1", [raw], |r| r.get(0))
                        .optional()?
                } else {
                    c.query_row(
                        "SELECT blob FROM aliases WHERE kind = ?1 AND digest = ?2",
                        params![kind.name(), digest.hex],
                        |r| r.get(0),
                    )
                    .optional()?
                };
                if let Some(raw) = found.and_then(|r| <[u8; 32]>::try_from(r).ok()) {
                    return Ok(Some(BlobId(raw)));
                }
            }
            Ok(None)
        })
    }

    /// Records aliases of blob `id` (ignored if the blob is gone meanwhile).
    pub fn add_aliases(&self, id: &BlobId, aliases: &[(DigestKind, String)]) -> Result<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            let exists: bool = tx
                .query_row("SELECT 1 FROM blobs WHERE id = ?1", [&id.0[..]], |_| Ok(()))
                .optional()?
                .is_some();
            if exists {
                for (kind, hex) in aliases {
                    tx.execute(
                        "INSERT OR IGNORE INTO aliases (kind, digest, blob) VALUES (?1, ?2, ?3)",
                        params![kind.name(), hex, &id.0[..]],
                    )?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// The aliases of blob `id`, by kind.
    pub fn aliases(&self, id: &BlobId) -> Result<BTreeMap<String, String>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT kind, digest FROM aliases WHERE blob = ?1")?;
            let rows = stmt.query_map([&id.0[..]], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Blobs an entry names that have no legacy aliases yet (their digest
    /// job was interrupted or never ran); a pinned blob (a share's index,
    /// a catalog's backup) has no use for them.
    pub fn blobs_without_aliases(&self) -> Result<Vec<BlobId>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id FROM blobs WHERE NOT EXISTS (SELECT 1 FROM aliases WHERE blob = blobs.id) \
                 AND EXISTS (SELECT 1 FROM entries WHERE blob = blobs.id)",
            )?;
            let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
            let mut out = Vec::new();
            for raw in rows {
                if let Ok(raw) = <[u8; 32]>::try_from(raw?) {
                    out.push(BlobId(raw));
                }
            }
            Ok(out)
        })
    }

    /// Every blob id with a row.
    pub fn blob_ids(&self) -> Result<Vec<BlobId>> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT id FROM blobs")?;
            let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
            let mut out = Vec::new();
            for raw in rows {
                if let Ok(raw) = <[u8; 32]>::try_from(raw?) {
                    out.push(BlobId(raw));
                }
            }
            Ok(out)
        })
    }

    // ---- entries ----

    /// Entry `id`.
    pub fn entry(&self, id: &str) -> Result<Entry> {
        self.read(|c| entry_in(c, id))
    }

    /// The file entries that hold blob `id`.
    pub fn entries_of_blob(&self, id: &BlobId) -> Result<Vec<Entry>> {
        self.read(|c| {
            let sql =
                format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE blob = ?1 ORDER BY created");
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map([&id.0[..]], entry_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Creates folder `name` in `parent`; an existing folder of that name is
    /// returned as is.
    pub fn create_folder(&self, parent: Option<&str>, name: &str) -> Result<Entry> {
        self.ensure_folder(parent, name).map(|(entry, _)| entry)
    }

    /// [`Catalog::create_folder`], also telling whether the folder is new.
    pub fn ensure_folder(&self, parent: Option<&str>, name: &str) -> Result<(Entry, bool)> {
        check_name(name)?;
        self.with(|c| {
            let tx = c.transaction()?;
            check_folder(&tx, parent)?;
            if let Some(existing) = by_name(&tx, parent, name)? {
                if existing.kind == EntryKind::Folder {
                    return Ok((existing, false));
                }
                return Err(StoreError::NameTaken {
                    name: name.to_owned(),
                    existing: existing.id,
                });
            }
            let id = EntryId::random().to_string();
            let now = now_ms();
            tx.execute(
                "INSERT INTO entries (id, parent, kind, name, created, modified, owner) \
                 VALUES (?1, ?2, 'folder', ?3, ?4, ?4, (SELECT owner FROM entries WHERE id = ?2))",
                params![id, parent, name, now],
            )?;
            let entry = entry_in(&tx, &id)?;
            tx.commit()?;
            Ok((entry, true))
        })
    }

    /// Adds a file entry (and its blob row when new), committing the blob's
    /// bytes with `commit_blob` inside the transaction when the row is new,
    /// so that a blob row never exists without its bytes. A blob the entry
    /// replaced and nothing else uses is passed to `remove_blob` after the
    /// commit, still under the catalog lock, so no concurrent upload of the
    /// same content can slip in between.
    pub fn add_file(
        &self,
        file: NewFile<'_>,
        commit_blob: impl FnOnce() -> Result<()>,
        remove_blob: impl Fn(&BlobId),
    ) -> Result<Added> {
        self.add_file_with_metadata(file, &BTreeMap::new(), commit_blob, remove_blob)
    }

    /// [`Catalog::add_file`], also setting `metadata` on the new entry in
    /// the same transaction (a crash never leaves the file without it).
    pub fn add_file_with_metadata(
        &self,
        file: NewFile<'_>,
        metadata: &BTreeMap<String, String>,
        commit_blob: impl FnOnce() -> Result<()>,
        remove_blob: impl Fn(&BlobId),
    ) -> Result<Added> {
        check_name(file.name)?;
        for (k, v) in metadata {
            check_meta(k, Some(v))?;
        }
        self.with(|c| {
            let tx = c.transaction()?;
            check_folder(&tx, file.parent)?;
            let new_blob = add_blob(&tx, &file.blob, file.size, file.manifest)?;
            let (entry, orphan) = place_file(&tx, &file)?;
            if let Some(prefix) = file.reset_prefix {
                let old: Vec<String> = {
                    let mut q = tx.prepare_cached(
                        "SELECT key FROM metadata WHERE entry = ?1 AND substr(key, 1, length(?2)) = ?2",
                    )?;
                    let rows = q.query_map(params![entry.id, prefix], |r| r.get(0))?;
                    rows.collect::<rusqlite::Result<_>>()?
                };
                for key in old.iter().filter(|k| !metadata.contains_key(*k)) {
                    tx.execute(
                        "DELETE FROM metadata WHERE entry = ?1 AND key = ?2",
                        params![entry.id, key],
                    )?;
                }
            }
            if let Some(upload) = file.finishes {
                crate::resumable::finish_in(&tx, upload, &entry.id)?;
            }
            if let Some(md5) = file.md5 {
                tx.execute(
                    "INSERT OR IGNORE INTO aliases (kind, digest, blob) VALUES ('md5', ?1, ?2)",
                    params![md5, &file.blob.0[..]],
                )?;
            }
            for (k, v) in metadata {
                tx.execute(
                    "INSERT INTO metadata (entry, key, value) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (entry, key) DO UPDATE SET value = excluded.value",
                    params![entry.id, k, v],
                )?;
            }
            if let Some(owner) = &entry.owner {
                crate::users::check_storage(&tx, owner, file.size)?;
            }
            if new_blob {
                commit_blob()?;
            }
            tx.commit()?;
            if let Some(orphan) = &orphan {
                remove_blob(orphan);
            }
            Ok(Added {
                entry,
                new_blob,
                orphan,
            })
        })
    }

    /// One page of folder `parent` (`None` for the root).
    pub fn list(&self, parent: Option<&str>, q: ListQuery) -> Result<Page> {
        if q.limit > MAX_PAGE {
            return Err(StoreError::Invalid(format!(
                "limit {} is over the maximum page of {MAX_PAGE}",
                q.limit
            )));
        }
        self.read(|c| {
            check_folder(c, parent)?;
            // Kept by migration 17's triggers: one look-up, not a count.
            let total: i64 = c
                .prepare_cached("SELECT n FROM children WHERE parent = ifnull(?1, '')")?
                .query_row([parent], |r| r.get(0))
                .optional()?
                .unwrap_or(0);
            let dir = if q.descending { "DESC" } else { "ASC" };
            // The order of one of migration 17's indexes: a page is read
            // from it, not sorted.
            let sql = format!(
                "SELECT {ENTRY_COLUMNS} FROM entries WHERE parent IS ?1 \
                 ORDER BY kind = 'file', {} {dir}, id LIMIT ?2 OFFSET ?3",
                q.sort.column()
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let offset = i64::try_from(q.offset).unwrap_or(i64::MAX);
            let rows = stmt.query_map(params![parent, q.limit, offset], entry_from_row)?;
            Ok(Page {
                total: total as u64,
                entries: rows.collect::<rusqlite::Result<_>>()?,
            })
        })
    }

    /// What a listing of folder `parent` (`None` for the root) shows
    /// beside its entries, in two reads instead of one per entry: how
    /// many entries each of its folders holds, and which of its entries
    /// have metadata key `key`.
    pub fn folder_summary(&self, parent: Option<&str>, key: &str) -> Result<FolderSummary> {
        self.read(|c| {
            check_folder(c, parent)?;
            let mut counts = c.prepare_cached(
                "SELECT e.id, ifnull(c.n, 0) FROM entries e \
                 LEFT JOIN children c ON c.parent = e.id \
                 WHERE e.parent IS ?1 AND e.kind = 'folder'",
            )?;
            let counts = counts
                .query_map([parent], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut keyed = c.prepare_cached(
                "SELECT m.entry FROM metadata m JOIN entries e ON e.id = m.entry \
                 WHERE e.parent IS ?1 AND m.key = ?2",
            )?;
            let with_key = keyed
                .query_map(params![parent, key], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(FolderSummary { counts, with_key })
        })
    }

    /// The chain of folders from the root down to `id` (inclusive).
    pub fn path_of(&self, id: &str) -> Result<Vec<Entry>> {
        self.read(|c| {
            let mut chain = vec![entry_in(c, id)?];
            while let Some(parent) = chain.last().and_then(|e| e.parent.clone()) {
                if chain.len() > 10_000 {
                    return Err(StoreError::Corrupt(format!("folder loop above entry {id}")));
                }
                chain.push(entry_in(c, &parent)?);
            }
            chain.reverse();
            Ok(chain)
        })
    }

    /// Renames entry `id`.
    pub fn rename(&self, id: &str, name: &str) -> Result<Entry> {
        check_name(name)?;
        self.with(|c| {
            let tx = c.transaction()?;
            let entry = entry_in(&tx, id)?;
            if let Some(other) = by_name(&tx, entry.parent.as_deref(), name)?
                && other.id != entry.id
            {
                return Err(StoreError::NameTaken {
                    name: name.to_owned(),
                    existing: other.id,
                });
            }
            tx.execute(
                "UPDATE entries SET name = ?2, modified = ?3 WHERE id = ?1",
                params![id, name, now_ms()],
            )?;
            let entry = entry_in(&tx, id)?;
            tx.commit()?;
            Ok(entry)
        })
    }

    /// Moves entry `id` into folder `parent` (`None` for the root).
    pub fn move_to(&self, id: &str, parent: Option<&str>) -> Result<Entry> {
        self.with(|c| {
            let tx = c.transaction()?;
            let entry = entry_in(&tx, id)?;
            check_folder(&tx, parent)?;
            if let Some(target) = parent
                && entry.kind == EntryKind::Folder
                && is_within(&tx, target, id)?
            {
                return Err(StoreError::Conflict(format!(
                    "cannot move folder '{}' into itself or its own subfolder",
                    entry.name
                )));
            }
            if let Some(other) = by_name(&tx, parent, &entry.name)?
                && other.id != entry.id
            {
                return Err(StoreError::NameTaken {
                    name: entry.name,
                    existing: other.id,
                });
            }
            let new_owner = match parent {
                Some(p) => entry_in(&tx, p)?.owner,
                None => None,
            };
            if new_owner != entry.owner {
                return Err(StoreError::Conflict(format!(
                    "'{}' cannot move to a folder of another account",
                    entry.name
                )));
            }
            tx.execute(
                "UPDATE entries SET parent = ?2, modified = ?3 WHERE id = ?1",
                params![id, parent, now_ms()],
            )?;
            let entry = entry_in(&tx, id)?;
            tx.commit()?;
            Ok(entry)
        })
    }

    /// Deletes entry `id` (a non-empty folder only when `recursive`). A
    /// gateway user's home folder, or a folder holding one, is refused
    /// (`conflict`): a home lasts as long as its account. Blobs
    /// no entry references any more lose their rows and are passed to
    /// `remove_blob` after the commit, under the catalog lock (a crash in
    /// between leaves an orphan file, removed at the next start). Returns
    /// those blobs.
    pub fn delete(
        &self,
        id: &str,
        recursive: bool,
        remove_blob: impl Fn(&BlobId),
    ) -> Result<Vec<BlobId>> {
        self.with(|c| {
            let tx = c.transaction()?;
            let entry = entry_in(&tx, id)?;
            let ids = subtree_ids(&tx, id)?;
            if ids.len() > 1 && !recursive {
                let n = ids.len() - 1;
                return Err(StoreError::Conflict(format!(
                    "folder '{}' is not empty; delete it recursively to remove its {n} {}",
                    entry.name,
                    if n == 1 { "entry" } else { "entries" }
                )));
            }
            refuse_homes(&tx, &entry, &ids)?;
            let mut blobs = Vec::new();
            for eid in ids.iter().rev() {
                let blob: Option<Vec<u8>> =
                    tx.query_row("SELECT blob FROM entries WHERE id = ?1", [eid], |r| {
                        r.get(0)
                    })?;
                tx.execute("DELETE FROM entries WHERE id = ?1", [eid])?;
                blobs.extend(blob);
            }
            let mut orphans = Vec::new();
            for raw in blobs {
                if let Some(id) = drop_if_orphan(&tx, &raw)? {
                    orphans.push(id);
                }
            }
            tx.commit()?;
            orphans.iter().for_each(&remove_blob);
            Ok(orphans)
        })
    }

    /// Counts one completed download of entry `id`.
    pub fn count_download(&self, id: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE entries SET downloads = downloads + 1 WHERE id = ?1",
                [id],
            )?;
            Ok(())
        })
    }

    /// The metadata of entry `id`.
    pub fn metadata(&self, id: &str) -> Result<BTreeMap<String, String>> {
        self.read(|c| {
            entry_in(c, id)?;
            let mut stmt = c.prepare("SELECT key, value FROM metadata WHERE entry = ?1")?;
            let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Sets (`Some`) or removes (`None`) metadata keys of entry `id`, all
    /// or nothing, and returns the metadata after the change.
    pub fn set_metadata(
        &self,
        id: &str,
        changes: &BTreeMap<String, Option<String>>,
    ) -> Result<BTreeMap<String, String>> {
        for (k, v) in changes {
            check_meta(k, v.as_deref())?;
        }
        self.with(|c| {
            let tx = c.transaction()?;
            entry_in(&tx, id)?;
            for (k, v) in changes {
                match v {
                    Some(v) => tx.execute(
                        "INSERT INTO metadata (entry, key, value) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (entry, key) DO UPDATE SET value = excluded.value",
                        params![id, k, v],
                    )?,
                    None => tx.execute(
                        "DELETE FROM metadata WHERE entry = ?1 AND key = ?2",
                        params![id, k],
                    )?,
                };
            }
            let count: i64 = tx.query_row(
                "SELECT count(*) FROM metadata WHERE entry = ?1",
                [id],
                |r| r.get(0),
            )?;
            if count as usize > MAX_META_KEYS {
                return Err(StoreError::Invalid(format!(
                    "an entry may have at most {MAX_META_KEYS} metadata keys"
                )));
            }
            tx.execute(
                "UPDATE entries SET modified = ?2 WHERE id = ?1",
                params![id, now_ms()],
            )?;
            tx.commit()?;
            Ok(())
        })?;
        self.metadata(id)
    }

    /// Entry and blob counts, as the triggers of migration 16 keep them
    /// (one look-up, not a scan).
    pub fn counts(&self) -> Result<Counts> {
        self.read(|c| {
            let mut counts = Counts::default();
            let mut q = c.prepare_cached("SELECT name, value FROM counters")?;
            let rows = q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            for row in rows {
                let (name, value) = row?;
                let value = u64::try_from(value).unwrap_or(0);
                match name.as_str() {
                    "files" => counts.files = value,
                    "folders" => counts.folders = value,
                    "blobs" => counts.blobs = value,
                    "blob_bytes" => counts.blob_bytes = value,
                    _ => {}
                }
            }
            Ok(counts)
        })
    }

    // ---- jobs ----

    /// Inserts or updates a job record.
    pub fn save_job(&self, job: &JobRecord) -> Result<()> {
        let result = job.result.as_ref().map(|r| r.to_string());
        self.with(|c| {
            c.execute(
                "INSERT INTO jobs (id, kind, state, label, done, total, error, result, created, updated, \
                 seq, account, subject, folder) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, done = excluded.done, \
                 total = excluded.total, error = excluded.error, result = excluded.result, updated = excluded.updated",
                params![
                    job.id,
                    job.kind,
                    job.state,
                    job.label,
                    job.done as i64,
                    job.total.map(|t| t as i64),
                    job.error,
                    result,
                    job.created,
                    job.updated,
                    job.seq,
                    job.account,
                    job.subject,
                    job.folder
                ],
            )?;
            Ok(())
        })
    }

    /// Job `id`.
    pub fn job(&self, id: &str) -> Result<JobRecord> {
        self.read(|c| {
            c.query_row(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
                [id],
                job_from_row,
            )
            .optional()?
            .ok_or_else(|| not_found("job", id))
        })
    }

    /// The newest `limit` jobs.
    pub fn jobs(&self, limit: u32) -> Result<Vec<JobRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs ORDER BY created DESC, id LIMIT ?1"
            ))?;
            let rows = stmt.query_map([limit], job_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// `account`'s newest `limit` jobs of `kind` (only number `seq` when
    /// given), newest first.
    pub fn jobs_of(
        &self,
        account: &str,
        kind: &str,
        seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<JobRecord>> {
        if limit > MAX_PAGE {
            return Err(StoreError::Invalid(format!("limit {limit} is too large")));
        }
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE account = ?1 AND kind = ?2 \
                 AND (?3 IS NULL OR seq = ?3) ORDER BY seq DESC LIMIT ?4"
            ))?;
            let rows = stmt.query_map(params![account, kind, seq, limit], job_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The highest job number recorded (0 before any).
    pub fn last_job_seq(&self) -> Result<i64> {
        self.with(|c| Ok(c.query_row("SELECT coalesce(max(seq), 0) FROM jobs", [], |r| r.get(0))?))
    }

    /// Marks every job still recorded as running as failed with `reason`
    /// (called at start: such jobs died with the previous process).
    pub fn fail_interrupted_jobs(&self, reason: &str) -> Result<usize> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE jobs SET state = 'failed', error = ?1, updated = ?2 WHERE state = 'running'",
                params![reason, now_ms()],
            )?)
        })
    }
}

/// Creates the database file at `path` 0600 when it is missing, and takes
/// the group's and others' permissions off it and its WAL, shared-memory
/// and journal files when they have any.
fn private_files(path: &Path) -> Result<()> {
    crate::private::file_options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| StoreError::io("create", path, e))?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = std::path::PathBuf::from(name);
        crate::private::tighten(&file).map_err(|e| StoreError::io("tighten", &file, e))?;
    }
    Ok(())
}

/// Refuses a delete of `entry` (whose subtree is `ids`) that would take a
/// gateway user's home folder.
fn refuse_homes(tx: &rusqlite::Transaction<'_>, entry: &Entry, ids: &[String]) -> Result<()> {
    let mut stmt = tx.prepare_cached("SELECT login FROM users WHERE home = ?1")?;
    for id in ids {
        let login: Option<String> = stmt.query_row([id], |r| r.get(0)).optional()?;
        let Some(login) = login else { continue };
        let what = if *id == entry.id {
            format!("folder '{}' is the home folder", entry.name)
        } else {
            format!("folder '{}' holds the home folder", entry.name)
        };
        return Err(StoreError::Conflict(format!(
            "{what} of account '{login}': a home lasts as long as its account"
        )));
    }
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    conn.create_scalar_function(
        "cairn_sha256_hex",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(crate::ledger::sha256_hex(&ctx.get::<String>(0)?)),
    )?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    scrub_if_pending(conn)
}

/// While a migration that replaced secrets has left a row in
/// `scrub_pending`: rewrites the whole database (VACUUM), then empties the
/// table and the WAL, so that neither a free page nor an old WAL frame
/// keeps what the migration replaced. Killed before the end, it runs
/// again at the next open.
fn scrub_if_pending(conn: &Connection) -> Result<()> {
    let pending: i64 = conn.query_row("SELECT count(*) FROM scrub_pending", [], |r| r.get(0))?;
    if pending == 0 {
        return Ok(());
    }
    conn.execute_batch("VACUUM")?;
    conn.execute("DELETE FROM scrub_pending", [])?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

pub(crate) fn entry_in(c: &Connection, id: &str) -> Result<Entry> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE id = ?1");
    c.query_row(&sql, [id], entry_from_row)
        .optional()?
        .ok_or_else(|| not_found("entry", id))
}

/// A folder's entry as an object store lists it: with its blob's MD5
/// alias and the value of one metadata key, read in the same query.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The entry.
    pub entry: Entry,
    /// Its blob's `md5` alias, when known.
    pub md5: Option<String>,
    /// Its value of the metadata key asked for.
    pub value: Option<String>,
}

impl Catalog {
    /// The entry named `name` in folder `parent` (`None`: the root).
    pub fn child_named(&self, parent: Option<&str>, name: &str) -> Result<Option<Entry>> {
        self.read(|c| by_name(c, parent, name))
    }

    /// Every entry of folder `parent` whose name starts with `prefix`,
    /// with its MD5 alias and its value of metadata key `key`, in no
    /// particular order.
    pub fn listed(&self, parent: &str, prefix: &str, key: &str) -> Result<Vec<Listed>> {
        self.read(|c| {
            let sql = format!(
                "SELECT {ENTRY_COLUMNS}, \
                 (SELECT digest FROM aliases a WHERE a.blob = entries.blob AND a.kind = 'md5'), \
                 (SELECT value FROM metadata m WHERE m.entry = entries.id AND m.key = ?3) \
                 FROM entries WHERE parent = ?1 AND substr(name, 1, length(?2)) = ?2"
            );
            let mut q = c.prepare_cached(&sql)?;
            let rows = q.query_map(params![parent, prefix, key], |r| {
                Ok(Listed {
                    entry: entry_from_row(r)?,
                    md5: r.get(11)?,
                    value: r.get(12)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

fn by_name(c: &Connection, parent: Option<&str>, name: &str) -> Result<Option<Entry>> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE parent IS ?1 AND name = ?2");
    Ok(c.query_row(&sql, params![parent, name], entry_from_row)
        .optional()?)
}

fn check_folder(c: &Connection, parent: Option<&str>) -> Result<()> {
    let Some(parent) = parent else {
        return Ok(());
    };
    match entry_in(c, parent) {
        Ok(e) if e.kind == EntryKind::Folder => Ok(()),
        Ok(e) => Err(StoreError::Conflict(format!(
            "'{}' is a file, not a folder",
            e.name
        ))),
        Err(StoreError::NotFound { id, .. }) => Err(StoreError::NotFound { what: "folder", id }),
        Err(e) => Err(e),
    }
}

/// Whether folder `inner` is `outer` or lies somewhere below it.
fn is_within(c: &Connection, inner: &str, outer: &str) -> Result<bool> {
    let found: Option<i64> = c
        .query_row(
            "WITH RECURSIVE up(id, parent) AS ( \
               SELECT id, parent FROM entries WHERE id = ?1 \
               UNION SELECT e.id, e.parent FROM entries e JOIN up ON e.id = up.parent) \
             SELECT 1 FROM up WHERE id = ?2",
            params![inner, outer],
            |r| r.get(0),
        )
        .optional()?;
    Ok(found.is_some())
}

pub(crate) fn subtree_ids(c: &Connection, id: &str) -> Result<Vec<String>> {
    let mut stmt = c.prepare(
        "WITH RECURSIVE down(id) AS ( \
           SELECT ?1 UNION SELECT e.id FROM entries e JOIN down ON e.parent = down.id) \
         SELECT id FROM down",
    )?;
    let rows = stmt.query_map([id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Adds blob `id`'s row unless it has one; whether it was new.
pub(crate) fn add_blob(c: &Connection, id: &BlobId, size: u64, manifest: &[u8]) -> Result<bool> {
    let known = c
        .query_row("SELECT 1 FROM blobs WHERE id = ?1", [&id.0[..]], |_| Ok(()))
        .optional()?
        .is_some();
    if !known {
        c.execute(
            "INSERT INTO blobs (id, size, manifest, created) VALUES (?1, ?2, ?3, ?4)",
            params![&id.0[..], size as i64, manifest, now_ms()],
        )?;
    }
    Ok(!known)
}

pub(crate) fn drop_if_orphan(c: &Connection, raw: &[u8]) -> Result<Option<BlobId>> {
    let used: Option<i64> = c
        .query_row(
            "SELECT 1 FROM entries WHERE blob = ?1 UNION ALL SELECT 1 FROM pins WHERE blob = ?1 LIMIT 1",
            [raw],
            |r| r.get(0),
        )
        .optional()?;
    if used.is_some() {
        return Ok(None);
    }
    c.execute("DELETE FROM blobs WHERE id = ?1", [raw])?;
    Ok(<[u8; 32]>::try_from(raw).ok().map(BlobId))
}

/// Finds the name under the conflict policy and writes the entry.
fn place_file(c: &Connection, f: &NewFile<'_>) -> Result<(Entry, Option<BlobId>)> {
    let now = now_ms();
    let existing = by_name(c, f.parent, f.name)?;
    let hex = f.blob.to_hex();
    let name = match (existing, f.on_conflict) {
        (None, _) => f.name.to_owned(),
        (Some(e), _) if e.blob.as_deref() == Some(hex.as_str()) => return Ok((e, None)),
        (Some(e), OnConflict::Fail) => {
            return Err(StoreError::NameTaken {
                name: f.name.to_owned(),
                existing: e.id,
            });
        }
        (Some(e), OnConflict::Replace) if e.kind == EntryKind::File => {
            let old = hex::decode(e.blob.as_deref().unwrap_or_default()).unwrap_or_default();
            c.execute(
                "UPDATE entries SET blob = ?2, size = ?3, content_type = ?4, modified = ?5 WHERE id = ?1",
                params![e.id, &f.blob.0[..], f.size as i64, f.content_type, now],
            )?;
            let orphan = drop_if_orphan(c, &old)?;
            return Ok((entry_in(c, &e.id)?, orphan));
        }
        (Some(_), _) => free_name(c, f.parent, f.name)?,
    };
    let id = EntryId::random().to_string();
    c.execute(
        "INSERT INTO entries (id, parent, kind, name, blob, size, content_type, created, modified, owner) \
         VALUES (?1, ?2, 'file', ?3, ?4, ?5, ?6, ?7, ?7, (SELECT owner FROM entries WHERE id = ?2))",
        params![
            id,
            f.parent,
            name,
            &f.blob.0[..],
            f.size as i64,
            f.content_type,
            now
        ],
    )?;
    Ok((entry_in(c, &id)?, None))
}

/// "name (n).ext" for the smallest free n.
fn free_name(c: &Connection, parent: Option<&str>, name: &str) -> Result<String> {
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => (&name[..dot], &name[dot..]),
        _ => (name, ""),
    };
    for n in 1..10_000 {
        let candidate = format!("{stem} ({n}){ext}");
        if candidate.len() > MAX_NAME {
            break;
        }
        if by_name(c, parent, &candidate)?.is_none() {
            return Ok(candidate);
        }
    }
    Err(StoreError::Conflict(format!(
        "no free name like '{name}' in this folder"
    )))
}

#[cfg(test)]
mod tests;
