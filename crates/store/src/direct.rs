//! Reads and writes that bypass the page cache (`O_DIRECT`), for shard
//! bytes and for the node's own blob files.
//!
//! A supplier keeps other people's shards: it reads each one back once, to
//! seal it, and then rarely. Writing them through the page cache costs a
//! copy into newly allocated cache pages, and on virtual machines that
//! hand free memory back to their host (free page reporting) touching
//! such a page is far dearer than the copy: on the machine of
//! BENCHMARKS.md, `dd` spent 3.8 – 4.4 s of system time putting 1 GiB into
//! the cache when memory had been idle, and 0.2 s writing it directly. A
//! blob of the node's own is written directly too (`files.rs`): its
//! placement takes the segments from the upload's own buffers as they are
//! stored, and the passes over the whole blob that follow (the md5, sha1
//! and sha256 job, a placement from the local copy) read it directly. Reads
//! of parts of it (downloads, streaming) go through the cache, with the
//! kernel's readahead.
//!
//! `O_DIRECT` wants the memory, the file offset and the length aligned to
//! the device's block size. [`write_at`] copies the aligned part of the
//! bytes into a reused aligned buffer and writes it directly, and writes an
//! unaligned rest (a shard's last bytes) through the page cache. A file
//! system that refuses `O_DIRECT` (tmpfs) gets every write through the page
//! cache.
//!
//! A seal that must read pieces back (a write that did not say their
//! length) reads them the same way, once: on that machine `dd` read 1 GiB
//! that was not in the cache with 3.1 s of system time through the cache
//! and 0.16 s directly ([`read_at`] reads the aligned span around the
//! bytes asked for into the buffer and copies them out). Reads for
//! customers go the same way a MiB at a time (`readahead.rs`): piece by
//! piece, direct reads lost the kernel's readahead and served downloads
//! slower than the cache.
//!
//! Durability is unchanged: `O_DIRECT` skips the cache, not the device's
//! own, so a shard is still fsynced when it is sealed.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Mutex;

/// Alignment of memory, offsets and lengths: the largest logical block
/// size of common devices.
pub(crate) const ALIGN: usize = 4096;

/// A reusable buffer with an [`ALIGN`]-aligned region: a vector one
/// alignment longer than the region, used from its first aligned byte.
#[derive(Default)]
pub(crate) struct AlignedBuf(Vec<u8>);

impl AlignedBuf {
    /// The first `len` aligned bytes, growing the buffer when it is too
    /// small.
    pub(crate) fn region(&mut self, len: usize) -> &mut [u8] {
        if self.0.len() < len + ALIGN {
            self.0 = vec![0; len + ALIGN];
        }
        let start = self.0.as_ptr().align_offset(ALIGN);
        &mut self.0[start..start + len]
    }

    /// An aligned copy of `src`.
    fn fill(&mut self, src: &[u8]) -> &[u8] {
        let region = self.region(src.len());
        region.copy_from_slice(src);
        region
    }
}

/// A few aligned buffers, reused so that their memory stays warm (a fresh
/// page is what costs on the machines above).
#[derive(Default)]
pub(crate) struct Buffers(Mutex<Vec<AlignedBuf>>);

/// Buffers kept for reuse; more at once are dropped after use.
const KEPT_BUFFERS: usize = 8;

impl Buffers {
    /// Runs `f` with a buffer of the pool.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut AlignedBuf) -> T) -> T {
        let mut buf = self.pool().pop().unwrap_or_default();
        let out = f(&mut buf);
        let mut pool = self.pool();
        if pool.len() < KEPT_BUFFERS {
            pool.push(buf);
        }
        out
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Vec<AlignedBuf>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The file at `path` opened for reading, past the page cache when its
/// file system allows (then `true`).
pub(crate) fn open_read(path: &Path) -> io::Result<(File, bool)> {
    match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(f) => Ok((f, true)),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok((File::open(path)?, false)),
        Err(e) => Err(e),
    }
}

/// Reads exactly `len` bytes at `offset` of `file` (opened by
/// [`open_read`]; `direct` as it answered) into a new vector: directly
/// through `buf` when it can, else through the page cache.
pub(crate) fn read_at(
    file: &File,
    direct: bool,
    path: &Path,
    buf: &mut AlignedBuf,
    offset: u64,
    len: usize,
) -> io::Result<Vec<u8>> {
    let mut out = vec![0u8; len];
    read_exact_at(file, direct, path, buf, offset, &mut out)?;
    Ok(out)
}

/// Fills `out` from `offset` of `file`, as [`read_at`] does.
pub(crate) fn read_exact_at(
    file: &File,
    direct: bool,
    path: &Path,
    buf: &mut AlignedBuf,
    offset: u64,
    out: &mut [u8],
) -> io::Result<()> {
    let len = out.len();
    if len == 0 {
        return Ok(());
    }
    if direct {
        let start = offset / ALIGN as u64 * ALIGN as u64;
        let lead = (offset - start) as usize;
        let span = (lead + len).div_ceil(ALIGN) * ALIGN;
        match read_direct(file, buf.region(span), start, lead + len) {
            Ok(()) => {
                out.copy_from_slice(&buf.region(span)[lead..lead + len]);
                return Ok(());
            }
            // Accepted at open, refused at read: the page cache does it.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) => return Err(e),
        }
    }
    let cached = if direct { &File::open(path)? } else { file };
    cached.read_exact_at(out, offset)
}

/// Reads `need` bytes at the aligned `offset` of `file` (opened direct)
/// into the start of `buf`'s aligned region (fewer only at the file's
/// end, which is an error).
pub(crate) fn read_into(
    file: &File,
    buf: &mut AlignedBuf,
    offset: u64,
    need: usize,
) -> io::Result<()> {
    read_direct(file, buf.region(need.div_ceil(ALIGN) * ALIGN), offset, need)
}

/// Fills at least the first `need` bytes of the aligned `region` from the
/// aligned `offset` (a direct read may stop at the file's end, short of the
/// region's end).
fn read_direct(file: &File, region: &mut [u8], offset: u64, need: usize) -> io::Result<()> {
    let mut done = 0;
    while done < need {
        match file.read_at(&mut region[done..], offset + done as u64)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            // Only a read that ends at the file's end is unaligned, and
            // then it holds everything needed or the file is short.
            n if !n.is_multiple_of(ALIGN) && done + n < need => {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            n => done += n,
        }
    }
    Ok(())
}

/// The file at `path` opened again for direct writes; `None` when its file
/// system refuses them.
pub(crate) fn open_direct(path: &Path) -> io::Result<Option<File>> {
    match OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `data` at `offset`: its aligned part through `direct` (with
/// `buf`) when there is one and `offset` is aligned, the rest through
/// `cached`. A direct write the file system refuses turns `direct` off and
/// goes through `cached`.
pub(crate) fn write_at(
    direct: &mut Option<File>,
    cached: &File,
    buf: &mut AlignedBuf,
    data: &[u8],
    offset: u64,
) -> io::Result<()> {
    let aligned = match direct {
        Some(_) if offset.is_multiple_of(ALIGN as u64) => data.len() / ALIGN * ALIGN,
        _ => 0,
    };
    let mut done = 0;
    if let (Some(file), true) = (direct.as_ref(), aligned > 0) {
        match file.write_all_at(buf.fill(&data[..aligned]), offset) {
            Ok(()) => done = aligned,
            // Some file systems accept the flag at open and refuse the
            // write; nothing was written, so the page cache takes it all.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => *direct = None,
            Err(e) => return Err(e),
        }
    }
    if done < data.len() {
        cached.write_all_at(&data[done..], offset + done as u64)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_unaligned_parts_land_where_they_belong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let cached = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap();
        let mut direct = open_direct(&path).unwrap();
        let mut buf = AlignedBuf::default();
        let a: Vec<u8> = (0..3 * ALIGN + 100).map(|i| (i % 251) as u8).collect();
        let b: Vec<u8> = (0..ALIGN + 7).map(|i| (i % 13) as u8).collect();
        let c: Vec<u8> = vec![9; 50];
        // An aligned offset with an unaligned length, a later aligned one
        // (the buffer grows), and an unaligned offset.
        write_at(&mut direct, &cached, &mut buf, &c, 10).unwrap();
        write_at(&mut direct, &cached, &mut buf, &b, 4 * ALIGN as u64).unwrap();
        write_at(&mut direct, &cached, &mut buf, &a, 0).unwrap();
        let mut want = vec![0u8; 5 * ALIGN + 7];
        want[..a.len()].copy_from_slice(&a);
        want[4 * ALIGN..].copy_from_slice(&b);
        assert_eq!(std::fs::read(&path).unwrap(), want);
    }

    #[test]
    fn reads_at_any_offset_and_length_give_the_file_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..5 * ALIGN + 123).map(|i| (i * 31 % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let (file, direct) = open_read(&path).unwrap();
        let mut buf = AlignedBuf::default();
        let size = data.len() as u64;
        for (offset, len) in [
            (0, data.len()),
            (0, ALIGN),
            (1, ALIGN),
            (ALIGN as u64 - 1, 2),
            (3 * ALIGN as u64 + 5, 2 * ALIGN + 118),
            (size - 1, 1),
            (size, 0),
            (17, 0),
        ] {
            let got = read_at(&file, direct, &path, &mut buf, offset, len).unwrap();
            let at = offset as usize;
            assert_eq!(got, data[at..at + len], "{len} bytes at {offset}");
        }
        for (offset, len) in [(size - 1, 2), (size, 1), (size + ALIGN as u64, 1)] {
            let err = read_at(&file, direct, &path, &mut buf, offset, len).unwrap_err();
            assert_eq!(
                err.kind(),
                io::ErrorKind::UnexpectedEof,
                "{len} at {offset}"
            );
        }
    }
}
