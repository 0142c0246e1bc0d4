//! Importing local files and folders (admin only).
//!
//! The path is opened through `local::open_under`, which resolves it
//! without following a symlink out of the configured import roots and
//! checks what it opened; every file of a folder is opened the same way
//! when its turn comes. A folder is imported recursively: its tree is
//! recreated in the catalog and every file is sealed in turn, as one job
//! whose progress counts bytes over the whole tree. A file that cannot be
//! read is reported in the job's result and the others still go in.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;

use cairn_core::BlobId;

use super::Entries;
use crate::jobs::Job;
use crate::local::{Kind, LocalCaller, Opened, Roots, open_under};
use crate::tasks::blocking;
use crate::{Entry, EntryInfo, JobRecord, NodeError, OnConflict};

type Result<T, E = NodeError> = std::result::Result<T, E>;

/// What to import and where.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// A local file or folder.
    pub path: PathBuf,
    /// The folder to import into (`None` for the root).
    pub parent: Option<String>,
    /// Name collision policy.
    pub on_conflict: OnConflict,
}

/// One file of an import, as reported in the job's result.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportedFile {
    /// The local path.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub path: PathBuf,
    /// The blob id (BLAKE3 hex), when stored.
    pub blob: Option<String>,
    /// The entry, when stored.
    pub entry: Option<Entry>,
    /// Why it was not stored.
    pub error: Option<String>,
}

/// One file to import: its path and the folders (relative to the import's
/// top) it goes into.
pub(crate) struct PlannedFile {
    pub(crate) path: PathBuf,
    pub(crate) dirs: Vec<String>,
    pub(crate) name: String,
    pub(crate) size: u64,
}

/// The resolved, checked import.
pub(crate) struct Plan {
    /// For a folder: its name, created in the target folder.
    pub(crate) top: Option<String>,
    pub(crate) files: Vec<PlannedFile>,
    /// Sub-folders, relative to the top, parents before children.
    pub(crate) folders: Vec<Vec<String>>,
    pub(crate) unreadable: Vec<ImportedFile>,
    /// The roots the plan was checked against; each file is opened again
    /// under them.
    pub(crate) roots: Roots,
}

impl Plan {
    pub(crate) fn total(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Folders deeper than this below an import's top are reported, not
/// walked.
const MAX_DEPTH: usize = 128;

/// Opens `path` for `caller` (see [`open_under`]), checks it and lists what
/// to import. Every path in the plan is named under `path` as given, and
/// every file is opened again the same safe way when it is imported.
pub(crate) fn plan(path: &Path, roots: Roots, caller: &LocalCaller) -> Result<Plan, NodeError> {
    let top = open_under(path, &roots, caller)?;
    let name = file_name(&top.real);
    let mut plan = Plan {
        top: None,
        files: Vec::new(),
        folders: Vec::new(),
        unreadable: Vec::new(),
        roots: roots.clone(),
    };
    match top.kind {
        Kind::Folder => {
            let names = top.names().map_err(|source| NodeError::PathUnreadable {
                path: path.to_path_buf(),
                source,
            })?;
            plan.top = Some(name);
            let mut walk = Walk {
                roots: &roots,
                caller,
                plan: &mut plan,
                rel: Vec::new(),
            };
            walk.folder(&top.real, path, names);
        }
        Kind::File => plan.files.push(PlannedFile {
            path: path.to_path_buf(),
            dirs: Vec::new(),
            name,
            size: top.size,
        }),
    }
    Ok(plan)
}

/// One local file to import as it is read, into the catalog (see
/// [`Entries::start_file_import`]).
#[derive(Debug, Clone)]
pub struct FileImport {
    /// The local file; it must lie under the import roots and, for a local
    /// user, be one they may read.
    pub path: PathBuf,
    /// The folder it goes into (`None` for the root).
    pub parent: Option<String>,
    /// What happens when the name is taken.
    pub on_conflict: OnConflict,
    /// Metadata set in the transaction that adds the entry (the paid-file
    /// keys checked as at upload).
    pub metadata: BTreeMap<String, String>,
    /// Who asks.
    pub caller: LocalCaller,
}

/// A file import under way: its job, and the entry once it is stored.
pub struct FileImporting {
    pub(crate) job: String,
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) done: tokio::task::JoinHandle<Result<crate::EntryInfo, NodeError>>,
}

impl FileImporting {
    /// The job that reports its progress.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// The entry's name: the file's own.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's size when it was opened.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Waits for the entry: stored, with its md5, sha1 and sha256 aliases
    /// (computed from the very bytes sealed, in the same pass).
    pub async fn finish(self) -> Result<crate::EntryInfo, NodeError> {
        self.done.await?
    }
}

/// Hashes what passes through it: the legacy digests of exactly the bytes
/// sealed.
pub(crate) struct Hashing<'a, R> {
    pub(crate) inner: R,
    pub(crate) hasher: &'a mut cairn_core::digest::LegacyHasher,
}

impl<R: std::io::Read> std::io::Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Opens one planned file for its import, checked again.
pub(crate) fn open_file(
    path: &Path,
    roots: &Roots,
    caller: &LocalCaller,
) -> Result<std::fs::File, NodeError> {
    let opened = open_under(path, roots, caller)?;
    match opened.kind {
        Kind::File => Ok(opened.file),
        Kind::Folder => Err(NodeError::Invalid(format!(
            "{} is a folder, not a file",
            path.display()
        ))),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".into())
}

/// A folder import's walk, depth-first in name order.
struct Walk<'a> {
    roots: &'a Roots,
    caller: &'a LocalCaller,
    plan: &'a mut Plan,
    /// The folders from the top down to the one walked.
    rel: Vec<String>,
}

impl Walk<'_> {
    /// Plans the children `names` of the folder whose real path is `real`
    /// and which the import names `shown`. A child is opened the safe way:
    /// a symlink is followed to a file inside the roots; a symlink to a
    /// folder is skipped (it could loop).
    fn folder(&mut self, real: &Path, shown: &Path, names: Vec<std::ffi::OsString>) {
        if self.rel.len() >= MAX_DEPTH {
            self.plan
                .unreadable
                .push(failed(shown, "folders nest too deep here"));
            return;
        }
        for os_name in names {
            let child = shown.join(&os_name);
            let name = os_name.to_string_lossy().into_owned();
            match open_under(&child, self.roots, self.caller) {
                Ok(o) if o.kind == Kind::Folder => {
                    if o.real != real.join(&os_name) {
                        continue;
                    }
                    self.subfolder(o, &child, name);
                }
                Ok(o) => self.plan.files.push(PlannedFile {
                    path: child,
                    dirs: self.rel.clone(),
                    name,
                    size: o.size,
                }),
                Err(e) => self.plan.unreadable.push(failed(&child, &e.to_string())),
            }
        }
    }

    fn subfolder(&mut self, opened: Opened, shown: &Path, name: String) {
        let names = match opened.names() {
            Ok(n) => n,
            Err(e) => {
                self.plan.unreadable.push(failed(shown, &e.to_string()));
                return;
            }
        };
        // The folder's handle is let go before walking on: open files stay
        // few however deep the tree.
        let real = opened.real.clone();
        drop(opened);
        self.rel.push(name);
        self.plan.folders.push(self.rel.clone());
        self.folder(&real, shown, names);
        self.rel.pop();
    }
}

pub(crate) fn failed(path: &Path, error: &str) -> ImportedFile {
    ImportedFile {
        path: path.to_path_buf(),
        blob: None,
        entry: None,
        error: Some(error.to_owned()),
    }
}

impl Entries {
    /// Imports a local file or folder as a job. With `wait`, answers when
    /// the job has ended; otherwise at once, with the job running.
    pub async fn import(&self, req: ImportRequest, wait: bool) -> Result<JobRecord> {
        if let Some(parent) = &req.parent {
            self.check_folder(parent).await?;
        }
        let roots = self.0.shared.config.import_roots.clone();
        let path = req.path.clone();
        let plan =
            blocking(move || plan(&path, Roots::resolve(&roots), &LocalCaller::Operator)).await?;
        let job = self.0.shared.jobs.start(
            "import",
            req.path.display().to_string(),
            Some(plan.total()),
            true,
        );
        let job_id = job.id().to_owned();
        let entries = self.clone();
        let handle = tokio::task::spawn_blocking(move || {
            let outcome = entries.run_import(&req, plan, &job);
            job.finish(
                outcome
                    .as_ref()
                    .map(|files| serde_json::json!({ "files": files })),
            );
        });
        if wait {
            handle.await?;
        }
        self.0.shared.jobs.get(&job_id)
    }

    /// Starts importing one local file for `req.caller` (a local user
    /// without the admin secret: only a file they may read), as an
    /// `upload` job whose md5, sha1 and sha256 are computed in the same
    /// pass as the seal. Answers once the file is opened, the job running.
    pub async fn start_file_import(&self, req: FileImport) -> Result<FileImporting> {
        crate::paid::terms::check_initial(&req.metadata, req.on_conflict)?;
        if let Some(parent) = &req.parent {
            self.check_folder(parent).await?;
        }
        let roots = self.0.shared.config.import_roots.clone();
        let (path, caller) = (req.path.clone(), req.caller.clone());
        let opened =
            blocking(move || crate::local::open_under(&path, &Roots::resolve(&roots), &caller))
                .await?;
        if opened.kind != crate::local::Kind::File {
            return Err(NodeError::Invalid(format!(
                "{} is a folder, not a file",
                req.path.display()
            )));
        }
        let name = opened
            .real
            .file_name()
            .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
        let job = self
            .0
            .shared
            .jobs
            .start("upload", &name, Some(opened.size), true);
        let (job_id, size, entries, n) =
            (job.id().to_owned(), opened.size, self.clone(), name.clone());
        let done = tokio::task::spawn_blocking(move || {
            let outcome = entries.seal_hashed(opened.file, &n, &req, &job);
            let record = outcome
                .as_ref()
                .map(|e| serde_json::json!({ "entry": e.entry }));
            job.finish(record);
            outcome
        });
        Ok(FileImporting {
            job: job_id,
            name,
            size,
            done,
        })
    }

    /// Seals a local file as `name`, computing its legacy digests from the
    /// bytes sealed, and records them with the entry (blocking).
    fn seal_hashed(
        &self,
        file: std::fs::File,
        name: &str,
        req: &FileImport,
        job: &Job,
    ) -> Result<EntryInfo> {
        let mut hasher = cairn_core::digest::LegacyHasher::default();
        let mut src = Hashing {
            inner: file,
            hasher: &mut hasher,
        };
        let entry = self.store_file_with(
            &mut src,
            job,
            req.parent.as_deref(),
            name,
            req.on_conflict,
            &|_| Ok(()),
            &req.metadata,
        )?;
        if let Some(Ok(blob)) = entry.blob.as_deref().map(str::parse::<BlobId>) {
            self.0
                .shared
                .catalog
                .add_aliases(&blob, &hasher.finish().aliases())?;
        }
        self.entry_info(&entry.id)
    }

    fn run_import(&self, req: &ImportRequest, plan: Plan, job: &Job) -> Result<Vec<ImportedFile>> {
        let (mut report, roots) = (plan.unreadable, plan.roots);
        let mut folders: HashMap<Vec<String>, Option<String>> = HashMap::new();
        let top = match &plan.top {
            Some(name) => Some(
                self.0
                    .shared
                    .catalog
                    .create_folder(req.parent.as_deref(), name)?
                    .id,
            ),
            None => req.parent.clone(),
        };
        folders.insert(Vec::new(), top.clone());
        for rel in &plan.folders {
            let parent = folders.get(&rel[..rel.len() - 1]).cloned().flatten();
            let id = self
                .0
                .shared
                .catalog
                .create_folder(parent.as_deref(), &rel[rel.len() - 1])?
                .id;
            folders.insert(rel.clone(), Some(id));
        }
        for file in plan.files {
            job.check()?;
            let parent = folders.get(&file.dirs).cloned().flatten();
            let outcome =
                open_file(&file.path, &roots, &LocalCaller::Operator).and_then(|mut f| {
                    self.store_file(
                        &mut f,
                        job,
                        parent.as_deref(),
                        &file.name,
                        req.on_conflict,
                        &|_| Ok(()),
                    )
                });
            report.push(match outcome {
                Ok(entry) => ImportedFile {
                    path: file.path,
                    blob: entry.blob.clone(),
                    entry: Some(entry),
                    error: None,
                },
                Err(NodeError::Cancelled) => return Err(NodeError::Cancelled),
                Err(e) => failed(&file.path, &e.to_string()),
            });
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_roots_and_missing_paths_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let f = other.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        let roots = vec![root.path().to_path_buf()];
        assert!(matches!(
            plan(&f, Roots::resolve(&roots), &LocalCaller::Operator),
            Err(NodeError::PathNotAllowed { .. })
        ));
        let missing = root.path().join("nope");
        assert!(matches!(
            plan(&missing, Roots::resolve(&roots), &LocalCaller::Operator),
            Err(NodeError::PathNotFound(_))
        ));
        assert!(matches!(
            plan(
                Path::new("rel/path"),
                Roots::resolve(&roots),
                &LocalCaller::Operator
            ),
            Err(NodeError::Invalid(_))
        ));
        let link = root.path().join("sneaky");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(matches!(
            plan(&link, Roots::resolve(&roots), &LocalCaller::Operator),
            Err(NodeError::PathNotAllowed { .. })
        ));
    }

    #[test]
    fn folders_are_walked_in_order_with_their_tree() {
        let root = tempfile::tempdir().unwrap();
        let top = root.path().join("top");
        std::fs::create_dir_all(top.join("b/c")).unwrap();
        std::fs::write(top.join("a.txt"), b"12").unwrap();
        std::fs::write(top.join("b/c/d.txt"), b"345").unwrap();
        let p = plan(
            &top,
            Roots::resolve(&[root.path().to_path_buf()]),
            &LocalCaller::Operator,
        )
        .unwrap();
        assert_eq!(p.top.as_deref(), Some("top"));
        assert_eq!(
            p.folders,
            vec![vec!["b".to_owned()], vec!["b".to_owned(), "c".to_owned()]]
        );
        let files: Vec<(&str, usize)> = p
            .files
            .iter()
            .map(|f| (f.name.as_str(), f.dirs.len()))
            .collect();
        assert_eq!(files, [("a.txt", 0), ("d.txt", 2)]);
        assert_eq!(p.total(), 5);
    }

    #[test]
    fn a_folder_walk_follows_links_to_files_inside_and_names_no_target() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let top = root.join("top");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(top.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(top.join("sub/real.txt"), b"1234").unwrap();
        std::fs::write(outside.join("hidden-target.txt"), b"secret").unwrap();
        std::os::unix::fs::symlink("sub/real.txt", top.join("alias.txt")).unwrap();
        std::os::unix::fs::symlink(outside.join("hidden-target.txt"), top.join("leak")).unwrap();
        std::os::unix::fs::symlink("sub", top.join("loop")).unwrap();
        let p = plan(&top, Roots::resolve(&[root]), &LocalCaller::Operator).unwrap();
        let files: Vec<&str> = p.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(files, ["alias.txt", "real.txt"]);
        // The linked folder is not walked a second time.
        assert_eq!(p.folders, vec![vec!["sub".to_owned()]]);
        assert_eq!(p.unreadable.len(), 1);
        let refused = &p.unreadable[0];
        assert_eq!(refused.path, top.join("leak"));
        let why = refused.error.as_deref().unwrap();
        assert!(!why.contains("hidden-target"), "{why}");
        assert!(!why.contains(outside.to_str().unwrap()), "{why}");
    }
}
