//! Opening a local path under the import roots, for a caller, without
//! following a symlink the caller could swap in.
//!
//! Checking a path by name and then opening it is a race: between the two,
//! a name can be replaced by a symlink to a file the caller must not get.
//! So the node resolves the path itself, one component at a time: each is
//! opened with `O_PATH | O_NOFOLLOW` beside the folder before it (such a
//! handle reads nothing and has no side effect, even on a device), a
//! symlink is read and its target walked the same way, and `..` steps back
//! along the folders actually opened. Only when the walk ends at a regular
//! file or a folder whose real path lies under an import root, and that the
//! caller may read, is that very object opened for reading, through its
//! handle; its dev and inode are compared with what was checked, and the
//! kernel's own name for it is checked against the roots once more (a
//! folder renamed out of a root during the walk is caught there). What is
//! read is what was checked; no name is ever checked and then opened again.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use super::user::{LocalUser, READ, SEARCH};
use crate::NodeError;

/// Symlinks followed in one walk before it is called a loop (the kernel's
/// limit).
const MAX_LINKS: u32 = 40;

/// On whose behalf a local path is opened.
#[derive(Debug, Clone)]
pub enum LocalCaller {
    /// The operator, with the admin secret: whatever the node itself can
    /// read under the import roots.
    Operator,
    /// A local user without the secret: only what they could read
    /// themselves, under the roots. Every refusal reads the same, so the
    /// answer tells them nothing about files they cannot see.
    User(LocalUser),
}

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Folder,
}

/// A local file or folder, open for reading, checked.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) file: File,
    /// Its real path (symlinks resolved), under an import root.
    pub(crate) real: PathBuf,
    pub(crate) kind: Kind,
    /// Bytes, for a file.
    pub(crate) size: u64,
}

impl Opened {
    /// The names in this folder, in byte order (`.` and `..` left out).
    pub(crate) fn names(&self) -> std::io::Result<Vec<OsString>> {
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.file)? {
            let name = entry?.file_name().to_bytes().to_vec();
            if name != b"." && name != b".." {
                names.push(OsString::from_vec(name));
            }
        }
        names.sort();
        Ok(names)
    }
}

/// Why a walk stopped.
#[derive(Debug)]
enum Refusal {
    NotFound,
    /// The caller may not search a folder on the way, or read the end.
    Denied,
    NotUnderRoots,
    NotFileOrFolder,
    Io(std::io::Error),
}

impl From<Errno> for Refusal {
    fn from(e: Errno) -> Self {
        match e {
            Errno::NOENT => Self::NotFound,
            e => Self::Io(e.into()),
        }
    }
}

impl From<std::io::Error> for Refusal {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// The import roots as real paths, resolved once for an import however
/// many files it opens (a root that does not exist is left out).
#[derive(Debug, Clone)]
pub(crate) struct Roots(Vec<PathBuf>);

impl Roots {
    /// Resolves the configured `roots`.
    pub(crate) fn resolve(roots: &[PathBuf]) -> Self {
        Self(roots.iter().filter_map(|r| r.canonicalize().ok()).collect())
    }

    /// Whether `real` is a root or lies beneath one (component-wise).
    fn hold(&self, real: &Path) -> bool {
        self.0.iter().any(|r| real.starts_with(r))
    }

    fn list(&self) -> String {
        self.0
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Opens `path` for `caller` if it is a regular file or a folder under one
/// of `roots` that the caller may read. Errors name `path` as given, never
/// where its symlinks lead.
pub(crate) fn open_under(
    path: &Path,
    roots: &Roots,
    caller: &LocalCaller,
) -> Result<Opened, NodeError> {
    if !path.is_absolute() {
        return Err(NodeError::Invalid(format!(
            "{} is not an absolute path",
            path.display()
        )));
    }
    open_checked(path, roots, caller).map_err(|r| refused(path, r, roots.list(), caller))
}

fn refused(path: &Path, why: Refusal, roots: String, caller: &LocalCaller) -> NodeError {
    let path = path.to_path_buf();
    if let LocalCaller::User(_) = caller {
        return NodeError::PathRefused(path);
    }
    match why {
        Refusal::NotFound => NodeError::PathNotFound(path),
        Refusal::NotUnderRoots => NodeError::PathNotAllowed { path, roots },
        Refusal::NotFileOrFolder => NodeError::Invalid(format!(
            "{} is neither a regular file nor a folder",
            path.display()
        )),
        Refusal::Denied => NodeError::PathRefused(path),
        Refusal::Io(source) => NodeError::PathUnreadable { path, source },
    }
}

fn open_checked(path: &Path, roots: &Roots, caller: &LocalCaller) -> Result<Opened, Refusal> {
    let found = walk(path, caller)?;
    if !roots.hold(&found.real) {
        return Err(Refusal::NotUnderRoots);
    }
    let kind = match FileType::from_raw_mode(found.st.st_mode) {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Folder,
        _ => return Err(Refusal::NotFileOrFolder),
    };
    let want = if kind == Kind::Folder {
        READ | SEARCH
    } else {
        READ
    };
    if !may(caller, &found.fd, &found.st, want)? {
        return Err(Refusal::Denied);
    }
    let file = reopen(&found, kind)?;
    let real = kernel_path(&file).unwrap_or(found.real);
    if !roots.hold(&real) {
        return Err(Refusal::NotUnderRoots);
    }
    Ok(Opened {
        file,
        real,
        kind,
        size: u64::try_from(found.st.st_size).unwrap_or(0),
    })
}

fn may(caller: &LocalCaller, fd: &OwnedFd, st: &Stat, want: u32) -> Result<bool, Refusal> {
    match caller {
        LocalCaller::Operator => Ok(true),
        LocalCaller::User(user) => Ok(user.may(fd, st, want)?),
    }
}

/// Refuses a caller who may not look into the folder `dir`.
fn may_search(caller: &LocalCaller, dir: &OwnedFd) -> Result<(), Refusal> {
    if let LocalCaller::User(user) = caller {
        let st = rustix::fs::fstat(dir)?;
        if !user.may(dir, &st, SEARCH)? {
            return Err(Refusal::Denied);
        }
    }
    Ok(())
}

/// The end of a walk: an `O_PATH` handle on a non-symlink, what it is, its
/// real path, and the folder it was found in (with its name there).
struct Found {
    fd: OwnedFd,
    st: Stat,
    real: PathBuf,
    parent: Option<(OwnedFd, OsString)>,
}

/// Resolves `path` the way the kernel would, but by hand: see the module
/// docs. The caller's search permission is checked on every folder looked
/// into, as the kernel checks it.
fn walk(path: &Path, caller: &LocalCaller) -> Result<Found, Refusal> {
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // The folders opened so far, from `/`, with their names.
    let mut dirs: Vec<(OwnedFd, OsString)> = vec![(root, OsString::new())];
    let mut todo: Vec<OsString> = Vec::new();
    push_components(&mut todo, path);
    let mut links = 0;
    while let Some(name) = todo.pop() {
        let here = &dirs.last().ok_or(Refusal::NotFound)?.0;
        may_search(caller, here)?;
        if name == ".." {
            if dirs.len() > 1 {
                dirs.pop();
            }
            continue;
        }
        let fd = rustix::fs::openat(
            here,
            name.as_os_str(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let st = rustix::fs::fstat(&fd)?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Refusal::Io(Errno::LOOP.into()));
                }
                let target = rustix::fs::readlinkat(&fd, "", Vec::new())?;
                let target = PathBuf::from(OsStr::from_bytes(target.to_bytes()));
                if target.is_absolute() {
                    dirs.truncate(1);
                }
                push_components(&mut todo, &target);
            }
            FileType::Directory => dirs.push((fd, name)),
            _ if !todo.is_empty() => return Err(Refusal::Io(Errno::NOTDIR.into())),
            _ => {
                let real = real_path(&dirs).join(&name);
                let parent = dirs.pop().map(|(fd, _)| (fd, name));
                return Ok(Found {
                    fd,
                    st,
                    real,
                    parent,
                });
            }
        }
    }
    // The walk ended on a folder.
    let real = real_path(&dirs);
    let (fd, name) = dirs.pop().ok_or(Refusal::NotFound)?;
    let st = rustix::fs::fstat(&fd)?;
    let parent = dirs.pop().map(|(p, _)| (p, name));
    Ok(Found {
        fd,
        st,
        real,
        parent,
    })
}

/// Pushes `path`'s components onto the stack `todo`, the first on top.
fn push_components(todo: &mut Vec<OsString>, path: &Path) {
    let names: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    todo.extend(names.into_iter().rev());
}

fn real_path(dirs: &[(OwnedFd, OsString)]) -> PathBuf {
    let mut p = PathBuf::from("/");
    for (_, name) in dirs.iter().skip(1) {
        p.push(name);
    }
    p
}

/// Opens the very object `found` names for reading: through its handle in
/// `/proc/self/fd`, else (no `/proc`) by name beside its folder without
/// following a link; either way its dev and inode must be the ones checked.
fn reopen(found: &Found, kind: Kind) -> Result<File, Refusal> {
    let mut flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
    if kind == Kind::Folder {
        flags |= OFlags::DIRECTORY;
    }
    let by_handle = format!("/proc/self/fd/{}", found.fd.as_raw_fd());
    let fd = match rustix::fs::open(by_handle.as_str(), flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => match &found.parent {
            Some((dir, name)) => rustix::fs::openat(
                dir,
                name.as_os_str(),
                flags | OFlags::NOFOLLOW,
                Mode::empty(),
            )?,
            None => rustix::fs::open("/", flags, Mode::empty())?,
        },
        Err(e) => return Err(Refusal::Io(e.into())),
    };
    let st = rustix::fs::fstat(&fd)?;
    if (st.st_dev, st.st_ino) != (found.st.st_dev, found.st.st_ino) {
        // Swapped between the check and the open (only possible without
        // /proc): refuse rather than read something else.
        return Err(Refusal::NotFound);
    }
    // Reads wait as usual from here; the flag only kept the open itself
    // from waiting.
    rustix::fs::fcntl_setfl(fd.as_fd(), OFlags::empty())?;
    Ok(File::from(fd))
}

/// The kernel's name for an open file, when `/proc` tells it.
fn kernel_path(file: &File) -> Option<PathBuf> {
    let link = format!("/proc/self/fd/{}", file.as_raw_fd());
    let name = rustix::fs::readlink(link.as_str(), Vec::new()).ok()?;
    let bytes = name.to_bytes();
    let bytes = bytes.strip_suffix(b" (deleted)").unwrap_or(bytes);
    bytes
        .starts_with(b"/")
        .then(|| PathBuf::from(OsStr::from_bytes(bytes)))
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let root = base.join("root");
        let outside = base.join("outside");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("sub/inside.txt"), b"inside").unwrap();
        std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
        (tmp, root, outside)
    }

    fn read(o: Opened) -> String {
        let mut s = String::new();
        let mut f = o.file;
        f.read_to_string(&mut s).unwrap();
        s
    }

    fn op(path: &Path, root: &Path) -> Result<Opened, NodeError> {
        open_under(
            path,
            &Roots::resolve(&[root.to_path_buf()]),
            &LocalCaller::Operator,
        )
    }

    #[test]
    fn files_and_folders_under_a_root_open() {
        let (_t, root, _) = setup();
        let f = op(&root.join("sub/inside.txt"), &root).unwrap();
        assert_eq!((f.kind, f.size), (Kind::File, 6));
        assert_eq!(f.real, root.join("sub/inside.txt"));
        assert_eq!(read(f), "inside");
        let d = op(&root.join("sub"), &root).unwrap();
        assert_eq!(d.kind, Kind::Folder);
        assert_eq!(d.names().unwrap(), vec![OsString::from("inside.txt")]);
        // `.` and `..` that stay inside resolve like the kernel.
        let f = op(&root.join("sub/./../sub/inside.txt"), &root).unwrap();
        assert_eq!(read(f), "inside");
    }

    #[test]
    fn links_inside_the_roots_are_followed_links_out_are_refused() {
        let (_t, root, outside) = setup();
        symlink("sub/inside.txt", root.join("rel")).unwrap();
        symlink(root.join("sub"), root.join("abs")).unwrap();
        assert_eq!(read(op(&root.join("rel"), &root).unwrap()), "inside");
        let via = op(&root.join("abs/inside.txt"), &root).unwrap();
        assert_eq!(via.real, root.join("sub/inside.txt"));
        symlink(outside.join("secret.txt"), root.join("out")).unwrap();
        symlink("../outside", root.join("outdir")).unwrap();
        for p in [root.join("out"), root.join("outdir/secret.txt")] {
            let e = op(&p, &root).unwrap_err();
            assert!(matches!(e, NodeError::PathNotAllowed { .. }), "{p:?}: {e}");
            // The error names the path asked, never where the link leads.
            assert!(!e.to_string().contains("secret.txt") || p.ends_with("secret.txt"));
            assert!(!e.to_string().contains(outside.to_str().unwrap()));
        }
        assert!(matches!(
            op(&root.join("../outside/secret.txt"), &root),
            Err(NodeError::PathNotAllowed { .. })
        ));
    }

    #[test]
    fn loops_missing_paths_and_special_files_are_refused() {
        let (_t, root, _) = setup();
        symlink("b", root.join("a")).unwrap();
        symlink("a", root.join("b")).unwrap();
        assert!(matches!(
            op(&root.join("a"), &root),
            Err(NodeError::PathUnreadable { .. })
        ));
        assert!(matches!(
            op(&root.join("nope"), &root),
            Err(NodeError::PathNotFound(_))
        ));
        assert!(matches!(
            op(&root.join("sub/inside.txt/x"), &root),
            Err(NodeError::PathUnreadable { .. })
        ));
        assert!(matches!(
            op(Path::new("rel/x"), &root),
            Err(NodeError::Invalid(_))
        ));
        let fifo = root.join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, Mode::from_raw_mode(0o600)).unwrap();
        // Refused without opening it (an open would wait for a writer).
        assert!(matches!(op(&fifo, &root), Err(NodeError::Invalid(_))));
        assert!(matches!(
            op(Path::new("/dev/null"), Path::new("/dev")),
            Err(NodeError::Invalid(_))
        ));
    }

    #[test]
    fn a_local_user_gets_only_what_they_may_read_and_one_answer_for_the_rest() {
        let (_t, root, _) = setup();
        // tempfile makes its folder 0700: open the way down for others.
        set_mode(root.parent().unwrap(), 0o755);
        let me = LocalUser::of_this_process();
        let user = LocalCaller::User(LocalUser::with_groups(me.uid().wrapping_add(12345), vec![]));
        let roots = Roots::resolve(std::slice::from_ref(&root));
        std::fs::write(root.join("open.txt"), b"open").unwrap();
        set_mode(&root.join("open.txt"), 0o644);
        assert_eq!(
            read(open_under(&root.join("open.txt"), &roots, &user).unwrap()),
            "open"
        );
        set_mode(&root.join("sub/inside.txt"), 0o600);
        let missing = open_under(&root.join("missing"), &roots, &user).unwrap_err();
        let unreadable = open_under(&root.join("sub/inside.txt"), &roots, &user).unwrap_err();
        let outside = open_under(Path::new("/etc/hostname"), &roots, &user).unwrap_err();
        for e in [&missing, &unreadable, &outside] {
            assert!(matches!(e, NodeError::PathRefused(_)), "{e}");
        }
        // A folder the user cannot search hides a readable file inside it.
        set_mode(&root.join("sub/inside.txt"), 0o644);
        set_mode(&root.join("sub"), 0o700);
        assert!(matches!(
            open_under(&root.join("sub/inside.txt"), &roots, &user),
            Err(NodeError::PathRefused(_))
        ));
        set_mode(&root.join("sub"), 0o755);
        assert!(open_under(&root.join("sub/inside.txt"), &roots, &user).is_ok());
    }

    #[test]
    fn an_acl_that_names_the_user_beats_the_mode_bits() {
        let (_t, root, _) = setup();
        set_mode(root.parent().unwrap(), 0o755);
        let uid = LocalUser::of_this_process().uid().wrapping_add(4242);
        let user = LocalCaller::User(LocalUser::with_groups(uid, vec![]));
        let file = root.join("acl.txt");
        std::fs::write(&file, b"acl").unwrap();
        set_mode(&file, 0o644);
        let roots = Roots::resolve(std::slice::from_ref(&root));
        assert!(open_under(&file, &roots, &user).is_ok());
        // user:<uid>:---, mask r--: the mode still says "others read".
        let mut acl = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in [
            (0x01u16, 6u16, u32::MAX),
            (0x02, 0, uid),
            (0x04, 4, u32::MAX),
            (0x10, 4, u32::MAX),
            (0x20, 4, u32::MAX),
        ] {
            acl.extend(tag.to_le_bytes());
            acl.extend(perm.to_le_bytes());
            acl.extend(id.to_le_bytes());
        }
        rustix::fs::setxattr(
            &file,
            "system.posix_acl_access",
            &acl,
            rustix::fs::XattrFlags::empty(),
        )
        .expect("the test's file system keeps POSIX ACLs");
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert!(matches!(
            open_under(&file, &roots, &user),
            Err(NodeError::PathRefused(_))
        ));
        // The operator is not bound by the caller's rights.
        assert!(op(&file, &root).is_ok());
    }

    fn set_mode(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The attack of issue 15: a name flipped between a regular file and a
    /// symlink to a secret outside the roots, while it is opened again and
    /// again. Whatever is opened must never be the secret.
    #[test]
    fn a_name_swapped_for_a_symlink_never_opens_what_it_points_to() {
        let (_t, root, outside) = setup();
        let name = root.join("flip");
        let regular = root.join("regular.tmp");
        let link = root.join("link.tmp");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flipper = {
            let (stop, name, regular, link, secret) = (
                stop.clone(),
                name.clone(),
                regular.clone(),
                link.clone(),
                outside.join("secret.txt"),
            );
            std::thread::spawn(move || {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
                while !stop.load(std::sync::atomic::Ordering::Relaxed)
                    && std::time::Instant::now() < deadline
                {
                    let _ = std::fs::write(&regular, b"regular");
                    let _ = std::fs::rename(&regular, &name);
                    let _ = symlink(&secret, &link);
                    let _ = std::fs::rename(&link, &name);
                }
            })
        };
        let (mut opened, mut refused) = (0, 0);
        for _ in 0..3000 {
            match op(&name, &root) {
                Ok(o) => {
                    assert_eq!(read(o), "regular");
                    opened += 1;
                }
                Err(_) => refused += 1,
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        flipper.join().unwrap();
        assert_eq!(opened + refused, 3000);
    }
}
