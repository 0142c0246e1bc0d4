//! Writing a stored file out to a local folder (admin only), the way back
//! of an import: what BitDust calls a restore, what a user of any node
//! wants when the file should land on the node's own disk.
//!
//! The target folder is opened like an import's source (`open_under`: no
//! symlink followed out of the roots, the folder itself checked), and
//! every name below it is made or opened relative to the folder before it
//! with `O_NOFOLLOW`, so nothing swapped in on the way can send the write
//! elsewhere. The roots are the import roots and the node's own
//! `downloads` folder (where an export without a folder goes). Bytes go to
//! a hidden temporary file beside the target, read verified from wherever
//! the blob is (this disk or its suppliers); the file is synced and only
//! then renamed over the target, so a crash or a cancel never leaves a
//! half-written file under the name asked for.

use std::io::Write as _;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;
use serde::Serialize;

use super::Entries;
use crate::BlobHandle;
use crate::local::{Kind, LocalCaller, Roots, open_under};
use crate::shared::Shared;
use crate::{EntryKind, JobRecord, NodeError};

type Result<T, E = NodeError> = std::result::Result<T, E>;

/// Where an export goes.
#[derive(Debug, Clone, Default)]
pub struct ExportTo {
    /// An existing local folder under the import roots; `None`: a new
    /// folder (named by the job) in the node's `downloads` folder.
    pub folder: Option<PathBuf>,
    /// Names below the folder, the file's last (sub-folders are made as
    /// needed); empty: the file's own name.
    pub path: Vec<String>,
}

/// What an export wrote, as its job's result.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Exported {
    /// The file written (real path).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub path: PathBuf,
    /// Bytes written.
    pub size: u64,
}

/// The job's label and the blob to write.
pub(crate) struct Source {
    pub(crate) handle: BlobHandle,
    pub(crate) name: String,
}

/// Starts writing `source` out to `to` as an `export` job; with `wait`,
/// answers when it has ended. The folder is checked before the job
/// starts, so a refused folder is an error, not a failed job.
pub(crate) async fn start(
    shared: &Arc<Shared>,
    source: Source,
    to: ExportTo,
    wait: bool,
) -> Result<JobRecord> {
    let mut names = to.path.clone();
    if names.is_empty() {
        names.push(source.name.clone());
    }
    for name in &names {
        check_name(name)?;
    }
    let downloads = shared.downloads.clone();
    let mut roots = shared.config.import_roots.clone();
    roots.push(downloads.clone());
    let opened = tokio::task::spawn_blocking(move || {
        let folder = match to.folder {
            Some(folder) => folder,
            None => {
                let folder = downloads.join(cairn_core::EntryId::random().as_str());
                std::fs::create_dir_all(&folder)
                    .map_err(|e| NodeError::io("create", &folder, e))?;
                folder
            }
        };
        let opened = open_under(&folder, &Roots::resolve(&roots), &LocalCaller::Operator)?;
        if opened.kind != Kind::Folder {
            return Err(NodeError::Invalid(format!(
                "{} is a file, not a folder",
                folder.display()
            )));
        }
        Ok(opened)
    })
    .await??;
    let job = shared
        .jobs
        .start("export", &source.name, Some(source.handle.size()), true);
    let job_id = job.id().to_owned();
    let handle = tokio::task::spawn_blocking(move || {
        let outcome = write_out(
            &source.handle,
            OwnedFd::from(opened.file),
            &opened.real,
            &names,
            &job,
        );
        job.finish(
            outcome
                .as_ref()
                .map(|done| serde_json::to_value(done).unwrap_or_default()),
        );
    });
    if wait {
        handle.await?;
    }
    shared.jobs.get(&job_id)
}

/// A name a folder may hold: not empty, `.` or `..`, no `/` or NUL.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(NodeError::Invalid(format!(
            "'{}' cannot be a file or folder name",
            name.chars().take(200).collect::<String>()
        )));
    }
    Ok(())
}

/// Writes `handle`'s bytes to `names` below folder `dir` (real path
/// `real`), through a temporary file renamed in place once synced.
fn write_out(
    handle: &BlobHandle,
    dir: OwnedFd,
    real: &Path,
    names: &[String],
    job: &crate::jobs::Job,
) -> Result<Exported> {
    let Some((file_name, folders)) = names.split_last() else {
        return Err(NodeError::Invalid("an export needs a file name".into()));
    };
    let mut dir = dir;
    let mut at = real.to_path_buf();
    for folder in folders {
        at.push(folder);
        match rustix::fs::mkdirat(&dir, folder.as_str(), Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(NodeError::io("create", &at, e.into())),
        }
        dir = rustix::fs::openat(
            &dir,
            folder.as_str(),
            OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::NOTDIR | Errno::LOOP => {
                NodeError::Invalid(format!("{} is not a folder", at.display()))
            }
            e => NodeError::io("open", &at, e.into()),
        })?;
    }
    let target = at.join(file_name);
    let size = replace_in(&dir, &at, file_name, job.id(), 0o644, |file| {
        let mut size = 0u64;
        handle.for_each_piece(0..handle.size(), |piece: bytes::Bytes| {
            job.check()?;
            file.write_all(&piece)
                .map_err(|e| NodeError::io("write", &target, e))?;
            size += piece.len() as u64;
            job.advance(piece.len() as u64);
            Ok(())
        })?;
        Ok(size)
    })?;
    Ok(Exported { path: target, size })
}

/// Writes file `name` in folder `dir` (real path `at`) whole or not at
/// all: `fill` writes a hidden temporary file (named with `tag`, made
/// with `mode`), which is synced and renamed over `name`, and the folder
/// synced; on an error the temporary file goes. Answers what `fill` did.
fn replace_in<T>(
    dir: &OwnedFd,
    at: &Path,
    name: &str,
    tag: &str,
    mode: u32,
    fill: impl FnOnce(&mut std::fs::File) -> Result<T>,
) -> Result<T> {
    let target = at.join(name);
    let temp = format!(".{name}.{tag}.part");
    let fd = rustix::fs::openat(
        dir,
        temp.as_str(),
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )
    .map_err(|e| NodeError::io("create", &at.join(&temp), e.into()))?;
    let mut file = std::fs::File::from(fd);
    let written = (|| {
        let done = fill(&mut file)?;
        file.sync_all()
            .map_err(|e| NodeError::io("sync", &target, e))?;
        rustix::fs::renameat(dir, temp.as_str(), dir, name)
            .map_err(|e| NodeError::io("rename", &target, e.into()))?;
        rustix::fs::fsync(dir.as_fd()).map_err(|e| NodeError::io("sync", at, e.into()))?;
        Ok(done)
    })();
    if written.is_err() {
        let _ = rustix::fs::unlinkat(dir, temp.as_str(), AtFlags::empty());
    }
    written
}

/// Writes `bytes` to local file `path` (absolute; its folder under the
/// import roots or the node's `downloads` folder), replaced whole, and
/// readable by the node's user alone: what the node writes out on the
/// operator's behalf that is not a stored file (an identity backup).
pub(crate) async fn write_private(
    shared: &Arc<Shared>,
    path: &Path,
    bytes: Vec<u8>,
) -> Result<PathBuf> {
    if !path.is_absolute() {
        return Err(NodeError::Invalid(format!(
            "{} is not an absolute path",
            path.display()
        )));
    }
    let (Some(folder), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(NodeError::Invalid(format!(
            "{} names no file",
            path.display()
        )));
    };
    let name = name.to_string_lossy().into_owned();
    check_name(&name)?;
    let mut roots = shared.config.import_roots.clone();
    roots.push(shared.downloads.clone());
    let folder = folder.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let opened = open_under(&folder, &Roots::resolve(&roots), &LocalCaller::Operator)?;
        if opened.kind != Kind::Folder {
            return Err(NodeError::Invalid(format!(
                "{} is a file, not a folder",
                folder.display()
            )));
        }
        let dir = OwnedFd::from(opened.file);
        let tag = cairn_core::EntryId::random();
        replace_in(&dir, &opened.real, &name, tag.as_str(), 0o600, |file| {
            file.write_all(&bytes)
                .map_err(|e| NodeError::io("write", &opened.real.join(&name), e))
        })?;
        Ok(opened.real.join(&name))
    })
    .await?
}

impl Entries {
    /// Writes file entry `id` out to a local folder (see [`ExportTo`]) as
    /// an `export` job: its bytes from this disk or its suppliers,
    /// verified, landing whole or not at all. With `wait`, answers when
    /// the job has ended; otherwise at once, with the job running.
    pub async fn export(&self, id: &str, to: ExportTo, wait: bool) -> Result<JobRecord> {
        let entry = self.entry(id).await?.entry;
        if entry.kind != EntryKind::File {
            return Err(NodeError::Conflict(format!(
                "'{}' is a folder: export its files one by one",
                entry.name
            )));
        }
        let blob = entry
            .blob
            .as_deref()
            .ok_or_else(|| NodeError::NotFound(format!("'{}' has no content", entry.name)))?;
        let handle = self.0.blobs.open(blob).await?;
        let source = Source {
            handle,
            name: entry.name,
        };
        start(&self.0.shared, source, to, wait).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_leave_the_folder_are_refused() {
        for bad in ["", ".", "..", "a/b", "a\0b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["a", ".hidden", "x..y", "naïve ✓.txt"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }
}
