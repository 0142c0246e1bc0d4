//! Importing local files and folders (admin only).
//!
//! The path is resolved (symlinks included) and must lie under one of the
//! configured import roots. A folder is imported recursively: its tree is
//! recreated in the catalog and every file is sealed in turn, as one job
//! whose progress counts bytes over the whole tree. A file that cannot be
//! read is reported in the job's result and the others still go in.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{Entry, NodeError, OnConflict};

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
pub struct ImportedFile {
    /// The local path.
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
}

impl Plan {
    pub(crate) fn total(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Resolves `path`, checks it against `roots` and lists what to import.
pub(crate) fn plan(path: &Path, roots: &[PathBuf]) -> Result<Plan, NodeError> {
    let real = resolve(path)?;
    check_roots(&real, roots)?;
    let meta = std::fs::metadata(&real).map_err(|source| NodeError::PathUnreadable {
        path: real.clone(),
        source,
    })?;
    let name = file_name(&real);
    let mut plan = Plan {
        top: None,
        files: Vec::new(),
        folders: Vec::new(),
        unreadable: Vec::new(),
    };
    if meta.is_dir() {
        std::fs::read_dir(&real).map_err(|source| NodeError::PathUnreadable {
            path: real.clone(),
            source,
        })?;
        plan.top = Some(name);
        walk(&real, &mut Vec::new(), roots, &mut plan);
    } else if meta.is_file() {
        std::fs::File::open(&real).map_err(|source| NodeError::PathUnreadable {
            path: real.clone(),
            source,
        })?;
        plan.files.push(PlannedFile {
            path: real,
            dirs: Vec::new(),
            name,
            size: meta.len(),
        });
    } else {
        return Err(NodeError::Invalid(format!(
            "{} is neither a regular file nor a folder",
            real.display()
        )));
    }
    Ok(plan)
}

fn resolve(path: &Path) -> Result<PathBuf, NodeError> {
    if !path.is_absolute() {
        return Err(NodeError::Invalid(format!(
            "{} is not an absolute path",
            path.display()
        )));
    }
    path.canonicalize().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            NodeError::PathNotFound(path.to_path_buf())
        } else {
            NodeError::PathUnreadable {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

fn check_roots(real: &Path, roots: &[PathBuf]) -> Result<(), NodeError> {
    let allowed = roots
        .iter()
        .filter_map(|r| r.canonicalize().ok())
        .any(|r| real.starts_with(r));
    if allowed {
        return Ok(());
    }
    Err(NodeError::PathNotAllowed {
        path: real.to_path_buf(),
        roots: roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".into())
}

/// Walks `dir` depth-first in name order. Symlinks are followed to files
/// inside the roots; symlinked folders are skipped (they could loop).
fn walk(dir: &Path, rel: &mut Vec<String>, roots: &[PathBuf], plan: &mut Plan) {
    let mut children: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
        Err(e) => {
            plan.unreadable.push(failed(dir, &e.to_string()));
            return;
        }
    };
    children.sort();
    for child in children {
        let Ok(link_meta) = std::fs::symlink_metadata(&child) else {
            continue;
        };
        let name = file_name(&child);
        if link_meta.is_dir() {
            rel.push(name);
            plan.folders.push(rel.clone());
            walk(&child, rel, roots, plan);
            rel.pop();
            continue;
        }
        let target = match child.canonicalize() {
            Ok(t) if check_roots(&t, roots).is_ok() => t,
            Ok(_) => {
                plan.unreadable
                    .push(failed(&child, "links outside the import roots"));
                continue;
            }
            Err(e) => {
                plan.unreadable.push(failed(&child, &e.to_string()));
                continue;
            }
        };
        match std::fs::metadata(&target) {
            Ok(m) if m.is_file() => plan.files.push(PlannedFile {
                path: child,
                dirs: rel.clone(),
                name,
                size: m.len(),
            }),
            Ok(_) => {}
            Err(e) => plan.unreadable.push(failed(&child, &e.to_string())),
        }
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
            plan(&f, &roots),
            Err(NodeError::PathNotAllowed { .. })
        ));
        let missing = root.path().join("nope");
        assert!(matches!(
            plan(&missing, &roots),
            Err(NodeError::PathNotFound(_))
        ));
        assert!(matches!(
            plan(Path::new("rel/path"), &roots),
            Err(NodeError::Invalid(_))
        ));
        let link = root.path().join("sneaky");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(matches!(
            plan(&link, &roots),
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
        let p = plan(&top, &[root.path().to_path_buf()]).unwrap();
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
}
