//! Where blob ciphertext lives.
//!
//! The trait is deliberately small (create a temporary, commit it under an
//! id, open for positioned reads, remove, list) so that an S3-compatible
//! object store can back a node that outgrows its disk. The filesystem
//! implementation lays blobs out as `blobs/<first 2 hex>/<64 hex>` and
//! stages writes in `tmp/`.

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use cairn_core::BlobId;

use crate::StoreError;

type Result<T> = std::result::Result<T, StoreError>;

/// A blob being written: ciphertext appended in order, invisible until
/// committed.
pub struct TempBlob {
    file: File,
    /// The same file opened for writes past the page cache, where its
    /// file system allows.
    direct: Option<File>,
    buf: crate::direct::AlignedBuf,
    path: PathBuf,
    committed: bool,
    written: u64,
    flushed: u64,
}

/// Bytes written between two early-writeback kicks.
const WRITEBACK_STEP: u64 = 8 << 20;

impl TempBlob {
    /// Flushes the written bytes to disk (before taking any lock to commit).
    pub fn sync(&mut self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| StoreError::io("sync", &self.path, e))
    }

    /// Appends bytes, past the page cache where the file system allows
    /// (`direct.rs`: on some machines putting a GiB in the cache costs
    /// seconds of CPU, and an upload's bytes are seldom read again soon;
    /// a short last piece goes through the cache). Otherwise every few MiB
    /// it asks the kernel to start writing the last ones out (without
    /// waiting), so the disk works while the upload is still hashing and
    /// encrypting, and the final sync has little left to do.
    pub fn write_all(&mut self, data: &[u8]) -> Result<()> {
        crate::direct::write_at(
            &mut self.direct,
            &self.file,
            &mut self.buf,
            data,
            self.written,
        )
        .map_err(|e| StoreError::io("write", &self.path, e))?;
        self.written += data.len() as u64;
        if self.direct.is_none() && self.written - self.flushed >= WRITEBACK_STEP {
            self.start_writeback();
        }
        Ok(())
    }

    fn start_writeback(&mut self) {
        start_writeback(&self.file, self.flushed, self.written - self.flushed);
        self.flushed = self.written;
    }
}

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to
/// disk now, without waiting, so the fsync that makes them durable later
/// finds little left to do.
#[cfg(target_os = "linux")]
pub(crate) fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain syscall on an open descriptor; failure only means the
    // final sync does all the work, so it is ignored.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

impl Drop for TempBlob {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Positioned reads of one committed blob.
pub trait BlobReader: Send + Sync {
    /// Fills `buf` from `offset`; an error if the blob is shorter.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()>;

    /// Reads `len` bytes from `offset` into a new buffer. Implementations
    /// may skip zero-filling it first (the hot path of every download).
    fn read_vec_at(&self, len: usize, offset: u64) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.read_into(&mut buf, len, offset)?;
        Ok(buf)
    }

    /// Reads `len` bytes from `offset` into `buf`, replacing what it held
    /// and reusing its memory (a download's segment buffers are reused
    /// from one read to the next).
    fn read_into(&self, buf: &mut Vec<u8>, len: usize, offset: u64) -> Result<()> {
        buf.clear();
        buf.resize(len, 0);
        self.read_exact_at(buf, offset)
    }

    /// Reads `len` bytes from `offset` (one segment's ciphertext) and hands
    /// them to `open`, which decrypts and checks them in place: the bytes
    /// it accepts come back, `None` when it accepts none. A reader with
    /// more than one way to the bytes (other shards) may try another when
    /// `open` refuses; by default the bytes are read once.
    fn read_opened(
        &self,
        len: usize,
        offset: u64,
        open: &mut dyn FnMut(&mut [u8]) -> bool,
    ) -> Result<Option<Vec<u8>>> {
        let mut buf = self.read_vec_at(len, offset)?;
        Ok(open(&mut buf).then_some(buf))
    }

    /// Reads (of a segment, or of a run of them) worth having in flight
    /// at once: more than the cores when a read mostly waits (on the
    /// network) rather than computes.
    fn parallel_reads(&self) -> usize {
        1
    }

    /// Consecutive segments worth reading together, in one
    /// [`BlobReader::read_run_opened`].
    fn run_len(&self) -> u64 {
        1
    }

    /// [`BlobReader::read_opened`] of each of `spans` (consecutive
    /// segments), `open` told which one it is given: the bytes it
    /// accepts, `None` for a span it refused. A reader that gets several
    /// segments cheaper at once than one by one does so.
    fn read_run_opened(
        &self,
        spans: &[std::ops::Range<u64>],
        open: &mut dyn FnMut(usize, &mut [u8]) -> bool,
    ) -> Result<Vec<Option<Vec<u8>>>> {
        read_each_opened(self, spans, open)
    }
}

/// [`BlobReader::read_opened`] of each of `spans` in turn: what
/// [`BlobReader::read_run_opened`] does by default.
pub fn read_each_opened<R: BlobReader + ?Sized>(
    reader: &R,
    spans: &[std::ops::Range<u64>],
    open: &mut dyn FnMut(usize, &mut [u8]) -> bool,
) -> Result<Vec<Option<Vec<u8>>>> {
    spans
        .iter()
        .enumerate()
        .map(|(j, s)| reader.read_opened((s.end - s.start) as usize, s.start, &mut |b| open(j, b)))
        .collect()
}

/// The place blob ciphertext is kept.
pub trait BlobFiles: Send + Sync {
    /// A new temporary blob.
    fn create_temp(&self) -> Result<TempBlob>;
    /// Makes `temp` durable and visible as `id`.
    fn commit(&self, temp: TempBlob, id: &BlobId) -> Result<()>;
    /// Opens blob `id` for reads.
    fn open(&self, id: &BlobId) -> Result<Arc<dyn BlobReader>>;
    /// Opens blob `id` for one pass over the whole of it (the digest job,
    /// a placement): its reads need not pass through, or stay in, any
    /// cache.
    fn open_scan(&self, id: &BlobId) -> Result<Arc<dyn BlobReader>> {
        self.open(id)
    }
    /// Removes blob `id` (no error if it is already gone).
    fn remove(&self, id: &BlobId) -> Result<()>;
    /// Every committed blob.
    fn list(&self) -> Result<Vec<BlobId>>;
    /// Bytes used by committed blobs.
    fn used_bytes(&self) -> Result<u64>;
}

/// Blob files in a local directory.
pub struct FsBlobFiles {
    blobs: PathBuf,
    tmp: PathBuf,
    /// Bytes of committed blob files: counted once when the store opens,
    /// then kept by every commit and removal, so asking costs nothing (a
    /// node's status is asked often, and a walk stats every file).
    used: std::sync::atomic::AtomicU64,
}

impl FsBlobFiles {
    /// Opens (creating) the store under `root`, discarding leftovers of
    /// writes that never committed.
    pub fn open(root: &Path) -> Result<Self> {
        let blobs = root.join("blobs");
        let tmp = root.join("tmp");
        for dir in [&blobs, &tmp] {
            crate::private::create_dir_all(dir).map_err(|e| StoreError::io("create", dir, e))?;
            // An older install made them 0755: closing the folders closes
            // every blob in them, with no walk over all the files.
            crate::private::tighten(dir).map_err(|e| StoreError::io("tighten", dir, e))?;
        }
        let store = Self {
            blobs,
            tmp,
            used: Default::default(),
        };
        store.clear_temp()?;
        let used = store.walk()?.iter().map(|(_, len)| len).sum();
        store.used.store(used, Ordering::Relaxed);
        Ok(store)
    }

    fn clear_temp(&self) -> Result<()> {
        let entries = fs::read_dir(&self.tmp).map_err(|e| StoreError::io("list", &self.tmp, e))?;
        for entry in entries.flatten() {
            let _ = fs::remove_file(entry.path());
        }
        Ok(())
    }

    fn path_of(&self, id: &BlobId) -> PathBuf {
        let hex = id.to_hex();
        self.blobs.join(&hex[..2]).join(hex)
    }

    /// Takes `len` bytes off the count of used bytes.
    fn freed(&self, len: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(len))
            });
    }
}

struct FileReader {
    file: File,
    path: PathBuf,
}

/// The error of opening blob `id`'s file at `path`.
fn open_error(id: &BlobId, path: &Path, e: std::io::Error) -> StoreError {
    match e.kind() {
        // A placed blob whose local copy was dropped: the caller reads it
        // from its suppliers instead.
        std::io::ErrorKind::NotFound => StoreError::NotFound {
            what: "blob file",
            id: id.to_hex(),
        },
        _ => StoreError::io("open", path, e),
    }
}

/// A blob file read past the page cache (`direct`) where its file system
/// allows, through an aligned buffer of its own.
struct ScanReader {
    file: File,
    direct: bool,
    path: PathBuf,
    buf: crate::direct::Buffers,
}

impl BlobReader for ScanReader {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.buf
            .with(|aligned| {
                crate::direct::read_exact_at(
                    &self.file,
                    self.direct,
                    &self.path,
                    aligned,
                    offset,
                    buf,
                )
            })
            .map_err(|e| StoreError::io("read", &self.path, e))
    }
}

impl BlobReader for FileReader {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| StoreError::io("read", &self.path, e))
    }

    fn read_into(&self, buf: &mut Vec<u8>, len: usize, offset: u64) -> Result<()> {
        use std::os::fd::AsRawFd;
        buf.clear();
        buf.reserve_exact(len);
        let mut filled = 0usize;
        while filled < len {
            let at = offset + filled as u64;
            // SAFETY: the pointer and length stay within the vector's spare
            // capacity; pread only writes there, and `set_len` below covers
            // only bytes it reported written.
            let n = unsafe {
                libc::pread(
                    self.file.as_raw_fd(),
                    buf.as_mut_ptr().add(filled).cast(),
                    len - filled,
                    at as libc::off_t,
                )
            };
            match n {
                n if n > 0 => filled += n as usize,
                0 => {
                    let eof = std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("blob ends before byte {}", offset + len as u64),
                    );
                    return Err(StoreError::io("read", &self.path, eof));
                }
                _ => {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != std::io::ErrorKind::Interrupted {
                        return Err(StoreError::io("read", &self.path, e));
                    }
                }
            }
        }
        // SAFETY: pread initialised exactly `filled == len` bytes.
        unsafe { buf.set_len(filled) };
        Ok(())
    }
}

impl BlobFiles for FsBlobFiles {
    fn create_temp(&self) -> Result<TempBlob> {
        let name = format!("{:016x}.part", rand::random::<u64>());
        let path = self.tmp.join(name);
        let file = crate::private::file_options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| StoreError::io("create", &path, e))?;
        let direct =
            crate::direct::open_direct(&path).map_err(|e| StoreError::io("open", &path, e))?;
        Ok(TempBlob {
            file,
            direct,
            buf: Default::default(),
            path,
            committed: false,
            written: 0,
            flushed: 0,
        })
    }

    fn commit(&self, mut temp: TempBlob, id: &BlobId) -> Result<()> {
        temp.file
            .sync_data()
            .map_err(|e| StoreError::io("sync", &temp.path, e))?;
        let len = temp
            .file
            .metadata()
            .map_err(|e| StoreError::io("stat", &temp.path, e))?
            .len();
        let dest = self.path_of(id);
        let dir = dest.parent().unwrap_or(&self.blobs);
        crate::private::create_dir_all(dir).map_err(|e| StoreError::io("create", dir, e))?;
        let replaced = fs::metadata(&dest).map(|m| m.len()).ok();
        fs::rename(&temp.path, &dest).map_err(|e| StoreError::io("rename into", &dest, e))?;
        temp.committed = true;
        self.freed(replaced.unwrap_or(0));
        self.used.fetch_add(len, Ordering::Relaxed);
        sync_dir(dir)?;
        sync_dir(&self.blobs)
    }

    fn open(&self, id: &BlobId) -> Result<Arc<dyn BlobReader>> {
        let path = self.path_of(id);
        let file = File::open(&path).map_err(|e| open_error(id, &path, e))?;
        Ok(Arc::new(FileReader { file, path }))
    }

    /// Past the page cache where the file system allows: a blob is written
    /// so too, and on the machines of `direct.rs` reading one through the
    /// cache that is not in it costs many times the direct read.
    fn open_scan(&self, id: &BlobId) -> Result<Arc<dyn BlobReader>> {
        let path = self.path_of(id);
        let (file, direct) =
            crate::direct::open_read(&path).map_err(|e| open_error(id, &path, e))?;
        Ok(Arc::new(ScanReader {
            file,
            direct,
            path,
            buf: Default::default(),
        }))
    }

    fn remove(&self, id: &BlobId) -> Result<()> {
        let path = self.path_of(id);
        let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        match fs::remove_file(&path) {
            Ok(()) => {
                self.freed(len);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("remove", &path, e)),
        }
    }

    fn list(&self) -> Result<Vec<BlobId>> {
        let mut out = Vec::new();
        for (path, _) in self.walk()? {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Ok(id) = name.parse() {
                out.push(id);
            }
        }
        Ok(out)
    }

    fn used_bytes(&self) -> Result<u64> {
        Ok(self.used.load(Ordering::Relaxed))
    }
}

impl FsBlobFiles {
    fn walk(&self) -> Result<Vec<(PathBuf, u64)>> {
        let mut out = Vec::new();
        let top = fs::read_dir(&self.blobs).map_err(|e| StoreError::io("list", &self.blobs, e))?;
        for dir in top.flatten() {
            let Ok(files) = fs::read_dir(dir.path()) else {
                continue;
            };
            for f in files.flatten() {
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                out.push((f.path(), len));
            }
        }
        Ok(out)
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("sync", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_files_and_their_folders_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // An older install's folder, made under a 022 umask.
        fs::create_dir(dir.path().join("blobs")).unwrap();
        fs::set_permissions(dir.path().join("blobs"), fs::Permissions::from_mode(0o755)).unwrap();
        let store = FsBlobFiles::open(dir.path()).unwrap();
        let mut t = store.create_temp().unwrap();
        t.write_all(b"ciphertext").unwrap();
        t.sync().unwrap();
        store.commit(t, &BlobId([7; 32])).unwrap();
        let mut left = store.create_temp().unwrap();
        left.write_all(b"half").unwrap();
        crate::private::assert_private_tree(dir.path());
    }

    #[test]
    fn blobs_are_written_and_scanned_past_the_page_cache_byte_exact() {
        // Under the build's target folder: `/tmp` may be a tmpfs, which
        // takes no direct writes.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tmp");
        fs::create_dir_all(&root).unwrap();
        let dir = tempfile::tempdir_in(&root).unwrap();
        let store = FsBlobFiles::open(dir.path()).unwrap();
        let mib = 1 << 20;
        let data: Vec<u8> = (0..3 * mib + 12345).map(|i| (i * 7 % 253) as u8).collect();
        let mut t = store.create_temp().unwrap();
        assert!(
            t.direct.is_some(),
            "{} takes no direct writes",
            root.display()
        );
        // Whole segments, then a short last one, as an upload writes them.
        for piece in data.chunks(mib) {
            t.write_all(piece).unwrap();
        }
        assert!(t.direct.is_some(), "a direct write was refused");
        t.sync().unwrap();
        let id = BlobId([5; 32]);
        store.commit(t, &id).unwrap();
        assert_eq!(fs::read(store.path_of(&id)).unwrap(), data);
        let scan = store.open_scan(&id).unwrap();
        for (offset, len) in [
            (0, data.len()),
            (mib - 3, 10),
            (3 * mib + 12000, 345),
            (1, mib),
        ] {
            let mut got = vec![0; len];
            scan.read_exact_at(&mut got, offset as u64).unwrap();
            assert!(got == data[offset..offset + len], "at {offset}");
        }
        let mut past = vec![0; 10];
        assert!(
            scan.read_exact_at(&mut past, data.len() as u64 - 5)
                .is_err()
        );
        assert!(matches!(
            store.open_scan(&BlobId([6; 32])),
            Err(StoreError::NotFound { .. })
        ));
    }

    #[test]
    fn uncommitted_writes_are_invisible_and_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobFiles::open(dir.path()).unwrap();
        let mut t = store.create_temp().unwrap();
        t.write_all(b"half").unwrap();
        std::mem::forget(t); // as if the process died mid-write
        assert!(store.list().unwrap().is_empty());
        let reopened = FsBlobFiles::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        assert!(reopened.list().unwrap().is_empty());
    }

    /// The used bytes are a count kept by commits and removals: it agrees
    /// with a walk of the files at every step, and again once reopened.
    #[test]
    fn used_bytes_are_counted_as_blobs_come_and_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobFiles::open(dir.path()).unwrap();
        let walked = |s: &FsBlobFiles| s.walk().unwrap().iter().map(|(_, l)| l).sum::<u64>();
        let put = |id: &BlobId, len: usize| {
            let mut t = store.create_temp().unwrap();
            t.write_all(&vec![7u8; len]).unwrap();
            store.commit(t, id).unwrap();
        };
        let (a, b) = (BlobId::of(b"a"), BlobId::of(b"b"));
        put(&a, 1000);
        put(&b, 300);
        assert_eq!(store.used_bytes().unwrap(), 1300);
        put(&b, 500);
        assert_eq!(
            store.used_bytes().unwrap(),
            1500,
            "a replaced file counts once"
        );
        store.remove(&a).unwrap();
        store.remove(&a).unwrap();
        store.remove(&BlobId::of(b"never")).unwrap();
        assert_eq!(store.used_bytes().unwrap(), 500);
        assert_eq!(walked(&store), 500);
        drop(store);
        let again = FsBlobFiles::open(dir.path()).unwrap();
        assert_eq!(again.used_bytes().unwrap(), 500);
    }

    #[test]
    fn committed_blobs_read_back_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobFiles::open(dir.path()).unwrap();
        let id = BlobId::of(b"x");
        let mut t = store.create_temp().unwrap();
        t.write_all(b"ciphertext").unwrap();
        store.commit(t, &id).unwrap();
        let mut buf = [0u8; 4];
        store.open(&id).unwrap().read_exact_at(&mut buf, 6).unwrap();
        assert_eq!(&buf, b"text");
        assert_eq!(store.list().unwrap(), vec![id]);
        assert_eq!(store.used_bytes().unwrap(), 10);
        let mut past_end = [0u8; 4];
        assert!(
            store
                .open(&id)
                .unwrap()
                .read_exact_at(&mut past_end, 8)
                .is_err()
        );
        store.remove(&id).unwrap();
        store.remove(&id).unwrap();
        assert!(store.open(&id).is_err());
    }
}
