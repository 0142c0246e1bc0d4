//! The node's files are its own: what the store makes in the data dir is
//! created readable by the node's user alone (files 0600, folders 0700)
//! whatever the process's umask, and what an older install made more open
//! is tightened when the store opens it.
//!
//! Why not rely on the data dir's own 0700: a copy or a backup of the data
//! dir keeps the modes of the files in it, not always the dir's. The
//! catalog holds hashes of account keys and tokens and who owns what; blob
//! and shard files are ciphertext whose names and sizes still tell what a
//! node holds.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The mode of the files the node creates.
pub const FILE_MODE: u32 = 0o600;
/// The mode of the folders the node creates.
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` and its missing parents with [`DIR_MODE`]; an existing
/// folder is left as it is (see [`tighten`]).
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Open options that create a missing file with [`FILE_MODE`]; the caller
/// adds what it needs (`write`, `create_new`, …).
pub fn file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}

/// Writes `bytes` to `path` whole or not at all, with [`FILE_MODE`]: a
/// temporary file beside it, synced, renamed over it, the folder synced.
/// A kill at any moment leaves the old content or the new one.
pub fn write_whole(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(name);
    let written = file_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    std::fs::File::open(dir)?.sync_all()
}

/// Takes the group's and others' permissions off `path`, when it exists
/// and has any; a symlink is left alone (its target is not the node's to
/// change).
pub fn tighten(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mode = meta.permissions().mode() & 0o7777;
    if meta.file_type().is_symlink() || mode & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, Permissions::from_mode(mode & !0o077))
}

/// Panics naming the first file or folder under `root` (not `root`
/// itself, the test's) that its group or others may use.
#[cfg(test)]
pub(crate) fn assert_private_tree(root: &Path) {
    for item in std::fs::read_dir(root).unwrap() {
        let path = item.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
        if meta.is_dir() {
            assert_private_tree(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn what_is_created_or_tightened_is_the_owners_alone() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_dir_all(&dir).unwrap();
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("f");
        file_options()
            .write(true)
            .create_new(true)
            .open(&file)
            .unwrap();
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&file, Permissions::from_mode(0o755)).unwrap();
        tighten(&file).unwrap();
        assert_eq!(mode(&file), 0o700, "the owner's bits stay");
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        tighten(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        tighten(&dir.join("missing")).unwrap();
    }

    #[test]
    fn a_whole_write_replaces_the_file_and_leaves_nothing_beside_it() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("kept.json");
        write_whole(&file, b"one").unwrap();
        write_whole(&file, b"two, longer").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two, longer");
        assert_eq!(mode(&file), 0o600);
        let names: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("kept.json")]);
        let err = write_whole(&root.path().join("no/such/dir/f"), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
