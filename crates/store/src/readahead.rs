//! Reads of sealed shards for customers: past the page cache, through a
//! small readahead of our own.
//!
//! A download asks each supplier for one piece (a quarter MiB at 4+2) of
//! many segments in a row, several at once. Through the page cache, every
//! piece that is not cached costs fresh cache pages, which on the machine
//! of BENCHMARKS.md cost more than the read itself; a direct read of each
//! piece costs one request to the virtual disk apiece and loses the
//! kernel's readahead. So a miss reads the whole aligned MiB around the
//! piece directly into a reused buffer, and the next pieces of the same
//! MiB are copied from there. Requests that fall in a MiB being read wait
//! for it instead of reading it again. A shard read in order (the MiB
//! before this one is kept, or this is its first) has its next MiB read
//! ahead by a thread of the store's own, so the disk is already busy with
//! it while this one is sent; a read in the middle of a shard reads no
//! more than its own MiB. Audits do not come here: they must prove what
//! the disk holds.
//!
//! Invariant: a block holds the bytes of the sealed shard file as they
//! were read, and is found only by reads of that same file (its inode
//! and modification time, [`FileTag`]): a read that opened the file before
//! it was replaced can neither serve nor keep bytes for the new one.
//! [`Readahead::forget`] frees a shard's blocks whenever its file is
//! replaced or removed (seal, delete, reject).

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use crate::direct::{ALIGN, AlignedBuf, read_at, read_into};
use crate::shards::ShardId;

/// Bytes one block holds; reads larger than fit go around the blocks.
pub(crate) const BLOCK: u64 = 1 << 20;
/// Blocks kept (memory: this many MiB, whatever the load).
const BLOCKS: usize = 16;
/// Next MiBs waiting for the thread that reads ahead; more are not asked.
const AHEAD_QUEUE: usize = 2;

/// Which file a read is of: inode, and modification time in seconds and
/// nanoseconds.
pub(crate) type FileTag = (u64, i64, i64);

/// A sealed shard file open for reading.
pub(crate) struct Sealed<'a> {
    /// The shard.
    pub(crate) id: &'a ShardId,
    /// Which file it is (from its metadata).
    pub(crate) tag: FileTag,
    /// The file, opened by `direct::open_read`.
    pub(crate) file: &'a File,
    /// Whether `file` is open for direct reads.
    pub(crate) direct: bool,
    /// Its path (for a fallback through the page cache).
    pub(crate) path: &'a Path,
    /// Its length.
    pub(crate) size: u64,
}

impl Sealed<'_> {
    /// Reads `len` bytes at `offset` without the blocks.
    pub(crate) fn read_plain(
        &self,
        spare: &mut AlignedBuf,
        offset: u64,
        len: usize,
    ) -> io::Result<Vec<u8>> {
        read_at(self.file, self.direct, self.path, spare, offset, len)
    }
}

/// One block: `len` bytes of shard `id` from `start`.
struct Block {
    id: ShardId,
    file: FileTag,
    start: u64,
    len: usize,
    buf: AlignedBuf,
    /// Being read; its buffer is out.
    loading: bool,
    /// Forgotten while it was being read: not to be kept.
    stale: bool,
    /// When it was last used (a counter).
    used: u64,
    /// Which read claimed it (a counter): a block forgotten while loading
    /// and claimed again for the same bytes is another block.
    ticket: u64,
}

#[derive(Default)]
struct Blocks {
    blocks: Vec<Block>,
    clock: u64,
}

/// The blocks, and a signal for requests waiting on one being read.
#[derive(Default)]
struct Shared {
    state: Mutex<Blocks>,
    loaded: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Blocks> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands back the buffer of the block `ticket` claimed, now holding
    /// `span` bytes if `ok`, and wakes whoever waits for it. A block that
    /// failed or was forgotten meanwhile is not kept.
    fn loaded(&self, ticket: u64, buf: AlignedBuf, span: usize, ok: bool) {
        let mut state = self.lock();
        // The slot may have moved (forget removes blocks): find it again.
        let slot = state
            .blocks
            .iter()
            .position(|b| b.loading && b.ticket == ticket);
        if let Some(slot) = slot {
            let b = &mut state.blocks[slot];
            b.loading = false;
            b.buf = buf;
            b.len = span;
            if !ok || b.stale {
                state.blocks.swap_remove(slot);
            }
        }
        drop(state);
        self.loaded.notify_all();
    }
}

/// A next MiB to read ahead: the block `ticket` claimed, of `file`.
struct Ahead {
    file: File,
    ticket: u64,
    start: u64,
    span: usize,
}

/// The blocks, and the thread that reads next MiBs ahead (started with the
/// first one it is given; it ends with the store).
#[derive(Default)]
pub(crate) struct Readahead {
    shared: Arc<Shared>,
    ahead: OnceLock<Option<SyncSender<Ahead>>>,
}

impl Readahead {
    fn lock(&self) -> MutexGuard<'_, Blocks> {
        self.shared.lock()
    }

    /// Reads exactly `len` bytes at `offset` of sealed shard file `f`.
    pub(crate) fn read(
        &self,
        f: &Sealed<'_>,
        offset: u64,
        len: usize,
        spare: &mut AlignedBuf,
    ) -> io::Result<Vec<u8>> {
        let (id, tag) = (f.id, f.tag);
        let Some(start) = block_start(offset, len as u64).filter(|_| f.direct) else {
            return f.read_plain(spare, offset, len);
        };
        let span = (f.size.saturating_sub(start)).min(BLOCK) as usize;
        if offset + len as u64 > start + span as u64 {
            // Past the file's end: the plain read says so.
            return f.read_plain(spare, offset, len);
        }
        let mut state = self.lock();
        loop {
            let found = state
                .blocks
                .iter()
                .position(|b| b.id == *id && b.file == tag && b.start == start && !b.stale);
            match found {
                Some(i) if state.blocks[i].loading => {
                    // Bounded: a reader that never comes back (a panic)
                    // leaves a block loading; the wait then reads itself.
                    let (s, timeout) = self
                        .shared
                        .loaded
                        .wait_timeout(state, Duration::from_secs(5))
                        .unwrap_or_else(|p| p.into_inner());
                    state = s;
                    if timeout.timed_out() {
                        drop(state);
                        return f.read_plain(spare, offset, len);
                    }
                }
                Some(i) => {
                    state.clock += 1;
                    let clock = state.clock;
                    let b = &mut state.blocks[i];
                    b.used = clock;
                    let at = (offset - start) as usize;
                    let out = b.buf.region(b.len)[at..at + len].to_vec();
                    drop(state);
                    self.read_next(f, start);
                    return Ok(out);
                }
                None => break,
            }
        }
        // A miss: claim the least recently used block that is not being
        // read (or a new one), read the MiB into its buffer, keep it.
        let Some(slot) = claim(&mut state, id, tag, start) else {
            drop(state);
            return f.read_plain(spare, offset, len);
        };
        let ticket = state.blocks[slot].ticket;
        let mut buf = std::mem::take(&mut state.blocks[slot].buf);
        drop(state);
        self.read_next(f, start);
        let read = read_into(f.file, &mut buf, start, span);
        let out = read.is_ok().then(|| {
            let at = (offset - start) as usize;
            buf.region(span)[at..at + len].to_vec()
        });
        self.shared.loaded(ticket, buf, span, read.is_ok());
        match out {
            Some(bytes) => Ok(bytes),
            None => f.read_plain(spare, offset, len),
        }
    }

    /// After a read in block `start` of `f`: when the shard is being read
    /// in order (block `start` is its first, or the one before it is
    /// kept), claims its next block, if not had yet, for the thread that
    /// reads ahead. Reads of that block meanwhile wait for it as for any
    /// block being read. Nothing is read ahead when the thread is busy
    /// with [`AHEAD_QUEUE`] blocks already.
    fn read_next(&self, f: &Sealed<'_>, start: u64) {
        let next = start + BLOCK;
        if !start.is_multiple_of(BLOCK) || next >= f.size {
            return;
        }
        let (id, tag) = (f.id, f.tag);
        let mut state = self.lock();
        let kept = |state: &Blocks, at: u64| {
            state
                .blocks
                .iter()
                .any(|b| b.id == *id && b.file == tag && b.start == at && !b.stale)
        };
        if (start > 0 && !kept(&state, start - BLOCK)) || kept(&state, next) {
            return;
        }
        let Some(ahead) = self.ahead_thread() else {
            return;
        };
        let Ok(file) = f.file.try_clone() else {
            return;
        };
        let Some(slot) = claim(&mut state, id, tag, next) else {
            return;
        };
        let ticket = state.blocks[slot].ticket;
        let span = (f.size - next).min(BLOCK) as usize;
        let job = Ahead {
            file,
            ticket,
            start: next,
            span,
        };
        if ahead.try_send(job).is_err() {
            // Not to be read after all: nobody waits for it yet (the lock
            // is held), so it goes at once.
            state.blocks.swap_remove(slot);
        }
    }

    /// The sender to the thread that reads ahead, started the first time;
    /// none if it could not be.
    fn ahead_thread(&self) -> Option<&SyncSender<Ahead>> {
        self.ahead
            .get_or_init(|| {
                let (tx, rx) = std::sync::mpsc::sync_channel(AHEAD_QUEUE);
                let shared = self.shared.clone();
                std::thread::Builder::new()
                    .name("cairn-readahead".into())
                    .spawn(move || read_ahead(&shared, rx))
                    .ok()
                    .map(|_| tx)
            })
            .as_ref()
    }

    /// Drops every block of shard `id` (its file is being replaced or
    /// removed). A read of it under way finishes but keeps nothing.
    pub(crate) fn forget(&self, id: &ShardId) {
        self.forget_where(|b| b.id == *id);
    }

    /// Drops every block of customer `owner`'s shards.
    pub(crate) fn forget_owner(&self, owner: &[u8; 32]) {
        self.forget_where(|b| b.id.owner == *owner);
    }

    fn forget_where(&self, matches: impl Fn(&Block) -> bool) {
        let mut state = self.lock();
        for b in state.blocks.iter_mut().filter(|b| matches(b)) {
            b.stale = true;
        }
        state.blocks.retain(|b| b.loading || !b.stale);
    }

    /// How many blocks are kept.
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.lock().blocks.len()
    }

    /// Where the kept blocks start (being read or not), in order.
    #[cfg(test)]
    fn starts(&self) -> Vec<u64> {
        let mut starts: Vec<u64> = self.lock().blocks.iter().map(|b| b.start).collect();
        starts.sort_unstable();
        starts
    }
}

/// The thread that reads ahead: each next block it is given, into the
/// buffer of the slot claimed for it, until the store is dropped.
fn read_ahead(shared: &Shared, jobs: Receiver<Ahead>) {
    for job in jobs {
        let mut buf = {
            let mut state = shared.lock();
            let slot = state
                .blocks
                .iter_mut()
                .find(|b| b.loading && b.ticket == job.ticket);
            match slot {
                Some(b) => std::mem::take(&mut b.buf),
                None => continue,
            }
        };
        let read = read_into(&job.file, &mut buf, job.start, job.span);
        shared.loaded(job.ticket, buf, job.span, read.is_ok());
    }
}

/// Where the block holding `len` bytes at `offset` starts: the MiB they
/// fall in, or (for bytes across a MiB's end) the aligned offset before
/// them; none when they do not fit in one block.
fn block_start(offset: u64, len: u64) -> Option<u64> {
    let end = offset.checked_add(len)?;
    let whole = offset / BLOCK * BLOCK;
    if end <= whole + BLOCK {
        return Some(whole);
    }
    let aligned = offset / ALIGN as u64 * ALIGN as u64;
    (end <= aligned + BLOCK).then_some(aligned)
}

/// A block to read `start` of `id` into, marked loading: a new one while
/// there are fewer than [`BLOCKS`], else the least recently used of those
/// not being read.
fn claim(state: &mut Blocks, id: &ShardId, tag: FileTag, start: u64) -> Option<usize> {
    let slot = if state.blocks.len() < BLOCKS {
        state.blocks.push(Block {
            id: *id,
            file: tag,
            start,
            len: 0,
            buf: AlignedBuf::default(),
            loading: true,
            stale: false,
            used: 0,
            ticket: 0,
        });
        state.blocks.len() - 1
    } else {
        let (i, _) = state
            .blocks
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.loading)
            .min_by_key(|(_, b)| b.used)?;
        i
    };
    state.clock += 1;
    let clock = state.clock;
    let b = &mut state.blocks[slot];
    (b.id, b.file, b.start, b.len) = (*id, tag, start, 0);
    (b.loading, b.stale) = (true, false);
    (b.used, b.ticket) = (clock, clock);
    Some(slot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::direct::open_read;
    use std::path::PathBuf;

    const TAG: FileTag = (1, 2, 3);

    fn sealed<'a>(
        id: &'a ShardId,
        tag: FileTag,
        file: &'a File,
        direct: bool,
        path: &'a Path,
        size: u64,
    ) -> Sealed<'a> {
        Sealed {
            id,
            tag,
            file,
            direct,
            path,
            size,
        }
    }

    fn id(p: u8) -> ShardId {
        ShardId {
            owner: [1; 32],
            blob: [2; 32],
            position: p,
        }
    }

    #[test]
    fn blocks_start_at_the_mib_or_just_before_bytes_that_cross_one() {
        assert_eq!(block_start(0, 1000), Some(0));
        assert_eq!(block_start(BLOCK - 10, 10), Some(0));
        assert_eq!(block_start(BLOCK + 5, 100), Some(BLOCK));
        assert_eq!(block_start(BLOCK - 10, 20), Some(BLOCK - ALIGN as u64));
        assert_eq!(block_start(5, BLOCK), None, "too long for one block");
        assert_eq!(block_start(u64::MAX, 2), None);
    }

    #[test]
    fn reads_give_the_file_bytes_from_blocks_and_forget_drops_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let size = 2 * BLOCK as usize + 3000;
        let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let (file, direct) = open_read(&path).unwrap();
        let r = Readahead::default();
        let mut spare = AlignedBuf::default();
        let mut read = |offset: u64, len: usize| {
            r.read(
                &sealed(&id(0), TAG, &file, direct, &path, size as u64),
                offset,
                len,
                &mut spare,
            )
        };
        for (offset, len) in [
            (0u64, 262_144usize),
            (262_144, 262_144),
            (BLOCK - 100, 300),
            (2 * BLOCK, 3000),
            (2 * BLOCK + 2999, 1),
            (17, 0),
        ] {
            let at = offset as usize;
            assert_eq!(
                read(offset, len).unwrap(),
                data[at..at + len],
                "{len} at {offset}"
            );
        }
        assert!(read(size as u64 - 1, 2).is_err(), "past the end");
        assert!(r.kept() >= 2);
        // The file changes (a new seal): forgotten blocks are read again.
        let other: Vec<u8> = data.iter().map(|b| b ^ 0xff).collect();
        std::fs::write(&path, &other).unwrap();
        let (file, direct) = open_read(&path).unwrap();
        r.forget(&id(0));
        assert_eq!(r.kept(), 0);
        let got = r
            .read(
                &sealed(&id(0), TAG, &file, direct, &path, size as u64),
                10,
                100,
                &mut spare,
            )
            .unwrap();
        assert_eq!(got, other[10..110]);
        // A read of another file of the same shard (replaced, and not yet
        // forgotten) never gets the old file's blocks.
        std::fs::write(&path, &data).unwrap();
        let (file, direct) = open_read(&path).unwrap();
        let newer = (TAG.0, TAG.1, TAG.2 + 1);
        let got = r
            .read(
                &sealed(&id(0), newer, &file, direct, &path, size as u64),
                10,
                100,
                &mut spare,
            )
            .unwrap();
        assert_eq!(got, data[10..110]);
    }

    /// A shard file of `size` bytes open for direct reads, which are all
    /// blocks are kept for. It lies under the build's target folder:
    /// `/tmp` may be a tmpfs, which takes none.
    fn direct_shard(size: usize, step: usize) -> (tempfile::TempDir, PathBuf, Vec<u8>, File) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tmp");
        std::fs::create_dir_all(&root).unwrap();
        let dir = tempfile::tempdir_in(&root).unwrap();
        let path = dir.path().join("s");
        let data: Vec<u8> = (0..size).map(|i| (i * step % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let (file, direct) = open_read(&path).unwrap();
        assert!(direct, "{} takes no direct reads", root.display());
        (dir, path, data, file)
    }

    #[test]
    fn a_shard_read_in_order_has_its_next_mib_read_ahead() {
        let size = 5 * BLOCK as usize + 1000;
        let (_dir, path, data, file) = direct_shard(size, 11);
        let direct = true;
        let r = Readahead::default();
        let mut spare = AlignedBuf::default();
        let piece = 262_144;
        let mut read = |offset: u64| {
            let got = r
                .read(
                    &sealed(&id(0), TAG, &file, direct, &path, size as u64),
                    offset,
                    piece,
                    &mut spare,
                )
                .unwrap();
            let at = offset as usize;
            assert!(got == data[at..at + piece], "{piece} at {offset}");
        };
        // A read in the middle reads its own MiB only.
        read(3 * BLOCK + 5);
        assert_eq!(r.starts(), [3 * BLOCK]);
        // The first MiB is a start in order: the second is claimed at once.
        read(0);
        assert_eq!(r.starts(), [0, BLOCK, 3 * BLOCK]);
        read(BLOCK);
        read(BLOCK + piece as u64);
        assert_eq!(r.starts(), [0, BLOCK, 2 * BLOCK, 3 * BLOCK]);
        // The last, short block is read ahead too, and what was read ahead
        // is the file's bytes.
        read(4 * BLOCK);
        assert_eq!(
            r.starts(),
            [0, BLOCK, 2 * BLOCK, 3 * BLOCK, 4 * BLOCK, 5 * BLOCK]
        );
        for offset in [
            2 * BLOCK,
            2 * BLOCK + 3 * piece as u64,
            5 * BLOCK - piece as u64,
        ] {
            read(offset);
        }
        let tail = r
            .read(
                &sealed(&id(0), TAG, &file, direct, &path, size as u64),
                5 * BLOCK,
                1000,
                &mut spare,
            )
            .unwrap();
        assert_eq!(tail, data[5 * BLOCK as usize..]);
        assert!(r.kept() <= BLOCKS);
    }

    #[test]
    fn a_block_read_ahead_of_a_replaced_file_is_never_served() {
        let size = 3 * BLOCK as usize;
        let (dir, path, data, file) = direct_shard(size, 3);
        let direct = true;
        let r = Readahead::default();
        let mut spare = AlignedBuf::default();
        for offset in [0, BLOCK] {
            r.read(
                &sealed(&id(0), TAG, &file, direct, &path, size as u64),
                offset,
                4096,
                &mut spare,
            )
            .unwrap();
        }
        // Block 2 is being read ahead (or was): the shard's file is
        // replaced and forgotten, and the next read sees the new bytes,
        // even with a tag that cannot tell the two files apart.
        assert!(r.starts().contains(&(2 * BLOCK)));
        let other: Vec<u8> = data.iter().map(|b| b ^ 0x5a).collect();
        let replaced = dir.path().join("t");
        std::fs::write(&replaced, &other).unwrap();
        std::fs::rename(&replaced, &path).unwrap();
        r.forget(&id(0));
        let (file, direct) = open_read(&path).unwrap();
        let got = r
            .read(
                &sealed(&id(0), TAG, &file, direct, &path, size as u64),
                2 * BLOCK + 10,
                100,
                &mut spare,
            )
            .unwrap();
        assert_eq!(got, other[2 * BLOCK as usize + 10..][..100]);
    }

    #[test]
    fn no_more_than_the_bound_is_kept_and_parallel_readers_agree() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let size = (BLOCKS as u64 + 4) * BLOCK;
        let data: Vec<u8> = (0..size as usize).map(|i| (i * 13 % 241) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let r = Readahead::default();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (r, data, path) = (&r, &data, &path);
                s.spawn(move || {
                    let (file, direct) = open_read(path).unwrap();
                    let mut spare = AlignedBuf::default();
                    for i in 0..(size / 65_536) {
                        let offset = ((i * 65_536) + t * 4096) % (size - 70_000);
                        let got = r
                            .read(
                                &sealed(&id(1), TAG, &file, direct, path, size),
                                offset,
                                65_536,
                                &mut spare,
                            )
                            .unwrap();
                        let at = offset as usize;
                        assert!(got == data[at..at + 65_536], "{offset}");
                    }
                });
            }
        });
        assert!(r.kept() <= BLOCKS);
    }
}
