//! Writes that bypass the page cache (`O_DIRECT`), for shard bytes.
//!
//! A supplier keeps other people's shards: it reads each one back once, to
//! seal it, and then rarely. Writing them through the page cache costs a
//! copy into newly allocated cache pages, and on virtual machines that
//! hand free memory back to their host (free page reporting) touching
//! such a page is far dearer than the copy: on the machine of
//! BENCHMARKS.md, `dd` spent 3.8 – 4.4 s of system time putting 1 GiB into
//! the cache when memory had been idle, and 0.2 s writing it directly. (A
//! blob of the node's own is written through the cache: its placement
//! reads it again at once, and reading back what the device put in memory
//! cost the owner more there than the cached write.)
//!
//! `O_DIRECT` wants the memory, the file offset and the length aligned to
//! the device's block size. [`write_at`] copies the aligned part of the
//! bytes into a reused aligned buffer and writes it directly, and writes an
//! unaligned rest (a shard's last bytes) through the page cache. A file
//! system that refuses `O_DIRECT` (tmpfs) gets every write through the page
//! cache.
//!
//! Durability is unchanged: `O_DIRECT` skips the cache, not the device's
//! own, so a shard is still fsynced when it is sealed.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// Alignment of memory, offsets and lengths: the largest logical block
/// size of common devices.
pub(crate) const ALIGN: usize = 4096;

/// A reusable buffer with an [`ALIGN`]-aligned region: a vector one
/// alignment longer than the region, used from its first aligned byte.
#[derive(Default)]
pub(crate) struct AlignedBuf(Vec<u8>);

impl AlignedBuf {
    /// An aligned copy of `src`, growing the buffer when it is too small.
    fn fill(&mut self, src: &[u8]) -> &[u8] {
        if self.0.len() < src.len() + ALIGN {
            self.0 = vec![0; src.len() + ALIGN];
        }
        let start = self.0.as_ptr().align_offset(ALIGN);
        let region = &mut self.0[start..start + src.len()];
        region.copy_from_slice(src);
        region
    }
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
}
