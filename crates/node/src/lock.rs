//! One node per data dir: an exclusive `flock` on `<data dir>/lock`.
//!
//! Two nodes on one data dir break each other: the second sweeps `tmp/`
//! under the first one's uploads, opens the same catalog, and overwrites
//! the address files clients find the node by. So [`DirLock::take`] is the
//! first thing a node does with its data dir, before it creates, sweeps or
//! opens anything in it, and the lock is held for the node's whole life.
//!
//! `flock` rather than a pid file checked by hand: the kernel releases the
//! lock when the process ends, however it ends (kill -9 included), so a
//! node restarted after a crash never finds a stale lock; and the check
//! and the taking are one atomic call, so two nodes started at once cannot
//! both win. The file holds the holder's pid only to name it in the
//! message the loser prints; nothing trusts it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::NodeError;

/// The lock file's name in the data dir.
pub(crate) const LOCK_FILE: &str = "lock";

/// The data dir's lock, held while this value lives (the kernel drops it
/// with the descriptor, or with the process).
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock of `data_dir` (which must exist) and writes our pid
    /// into it; refuses at once, naming the holder, when another process
    /// has it.
    pub(crate) fn take(data_dir: &Path) -> Result<Self, NodeError> {
        let path = data_dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| NodeError::io("open", &path, e))?;
        if let Err(e) = try_flock(&file) {
            return Err(match e.raw_os_error() {
                Some(libc::EWOULDBLOCK) => in_use(data_dir, &mut file),
                _ => NodeError::io("lock", &path, e),
            });
        }
        write_pid(&mut file).map_err(|e| NodeError::io("write", &path, e))?;
        Ok(Self { _file: file })
    }
}

/// `flock(LOCK_EX | LOCK_NB)`: exclusive, without waiting.
fn try_flock(file: &File) -> std::io::Result<()> {
    // SAFETY: flock only reads the descriptor, which `file` keeps open for
    // the duration of the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn write_pid(file: &mut File) -> std::io::Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    file.sync_all()
}

/// The refusal: the holder's pid (from the lock file) and API address
/// (from `api.addr`), where they can be read.
fn in_use(data_dir: &Path, file: &mut File) -> NodeError {
    let mut text = String::new();
    let pid = file
        .read_to_string(&mut text)
        .ok()
        .and_then(|_| text.trim().parse().ok());
    let api = std::fs::read_to_string(data_dir.join("api.addr"))
        .ok()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty());
    NodeError::DataDirInUse {
        dir: data_dir.to_path_buf(),
        pid,
        api,
    }
}

/// How the refusal names the running node.
pub(crate) fn holder(pid: &Option<u32>, api: &Option<String>) -> String {
    let pid = pid.map_or("pid unknown".to_owned(), |p| format!("pid {p}"));
    match api {
        Some(api) => format!("{pid}, API on http://{api}"),
        None => format!("{pid}, its API not listening yet"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_data_dir_is_refused_with_the_holder_named_until_the_first_goes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("api.addr"), "127.0.0.1:8181\n").unwrap();
        let first = DirLock::take(dir.path()).unwrap();
        // flock locks conflict between two opens of a file even in one
        // process, so this stands for a second node.
        let refused = DirLock::take(dir.path()).unwrap_err();
        let message = refused.to_string();
        assert!(
            matches!(&refused, NodeError::DataDirInUse { pid: Some(p), api: Some(a), .. }
                if *p == std::process::id() && a == "127.0.0.1:8181"),
            "{refused:?}"
        );
        assert!(
            message.contains(&format!("pid {}", std::process::id()))
                && message.contains("http://127.0.0.1:8181"),
            "{message}"
        );
        drop(first);
        let again = DirLock::take(dir.path());
        assert!(again.is_ok(), "{again:?}");
    }
}
