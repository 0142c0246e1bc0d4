//! The cache of HLS segments made: files under `<data dir>/media-cache/`,
//! one folder per variant (a blob at one profile), within a size limit.
//!
//! A segment is written by its encoder head under the head's own folder
//! and renamed into place when ffmpeg has closed it, so a reader finds a
//! whole segment or none. Past the limit, the segments used least
//! recently go first. The cache is derived from plaintext, so it is
//! emptied at every start, like `media-tmp`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;

use crate::NodeError;

type Result<T> = std::result::Result<T, NodeError>;

/// The folder under the data dir.
pub(crate) const CACHE_DIR: &str = "media-cache";

/// The segment cache.
pub(crate) struct Segments {
    root: PathBuf,
    limit: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    used: u64,
    tick: u64,
    /// (variant, segment) → (bytes, last use).
    files: HashMap<(String, usize), (u64, u64)>,
}

impl Segments {
    /// Opens (and empties) the cache under `data_dir`, `limit` bytes big.
    pub(crate) fn open(data_dir: &Path, limit: u64) -> Result<Self> {
        let root = data_dir.join(CACHE_DIR);
        if root.exists() {
            std::fs::remove_dir_all(&root).map_err(|e| NodeError::io("empty", &root, e))?;
        }
        cairn_store::private::create_dir_all(&root)
            .map_err(|e| NodeError::io("create", &root, e))?;
        Ok(Self {
            root,
            limit,
            state: Mutex::new(State::default()),
        })
    }

    /// The folder of a variant (created).
    pub(crate) fn variant_dir(&self, variant: &str) -> Result<PathBuf> {
        let dir = self.root.join(variant);
        cairn_store::private::create_dir_all(&dir).map_err(|e| NodeError::io("create", &dir, e))?;
        Ok(dir)
    }

    fn path(&self, variant: &str, n: usize) -> PathBuf {
        self.root.join(variant).join(format!("{n}.ts"))
    }

    /// Whether segment `n` of `variant` is cached.
    pub(crate) fn has(&self, variant: &str, n: usize) -> bool {
        self.lock().files.contains_key(&(variant.to_owned(), n))
    }

    /// Moves a finished segment file into place; false (and the file
    /// removed) when the segment was already there.
    pub(crate) fn put(&self, variant: &str, n: usize, made: &Path) -> Result<bool> {
        let key = (variant.to_owned(), n);
        let size = std::fs::metadata(made)
            .map_err(|e| NodeError::io("read", made, e))?
            .len();
        let mut state = self.lock();
        if state.files.contains_key(&key) {
            drop(state);
            let _ = std::fs::remove_file(made);
            return Ok(false);
        }
        let path = self.path(variant, n);
        std::fs::rename(made, &path).map_err(|e| NodeError::io("rename", made, e))?;
        state.tick += 1;
        let tick = state.tick;
        state.files.insert(key.clone(), (size, tick));
        state.used += size;
        let evicted = self.evict(&mut state, &key);
        drop(state);
        for path in evicted {
            let _ = std::fs::remove_file(path);
        }
        Ok(true)
    }

    /// The bytes of segment `n` of `variant`, if cached.
    pub(crate) async fn read(&self, variant: &str, n: usize) -> Result<Option<Bytes>> {
        {
            let mut state = self.lock();
            state.tick += 1;
            let tick = state.tick;
            match state.files.get_mut(&(variant.to_owned(), n)) {
                Some(entry) => entry.1 = tick,
                None => return Ok(None),
            }
        }
        let path = self.path(variant, n);
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(Bytes::from(bytes))),
            // Evicted between the look-up and the read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(NodeError::io("read", &path, e)),
        }
    }

    /// Bytes cached now.
    pub(crate) fn used(&self) -> u64 {
        self.lock().used
    }

    /// Forgets the least recently used segments (never `keep`) until the
    /// cache fits; their paths, to remove outside the lock.
    fn evict(&self, state: &mut State, keep: &(String, usize)) -> Vec<PathBuf> {
        let mut gone = Vec::new();
        while state.used > self.limit {
            let Some(oldest) = state
                .files
                .iter()
                .filter(|(k, _)| *k != keep)
                .min_by_key(|(_, v)| v.1)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((size, _)) = state.files.remove(&oldest) {
                state.used -= size;
                gone.push(self.path(&oldest.0, oldest.1));
            }
        }
        gone
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(dir: &Path, name: &str, len: usize) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, vec![7u8; len]).unwrap();
        p
    }

    #[tokio::test]
    async fn segments_are_kept_within_the_limit_least_recent_first() {
        let data = tempfile::tempdir().unwrap();
        let cache = Segments::open(data.path(), 250).unwrap();
        let dir = cache.variant_dir("v").unwrap();
        assert!(cache.put("v", 0, &made(&dir, "a", 100)).unwrap());
        assert!(cache.put("v", 1, &made(&dir, "b", 100)).unwrap());
        // Segment 0 used again: 1 is now the oldest.
        assert_eq!(cache.read("v", 0).await.unwrap().unwrap().len(), 100);
        assert!(cache.put("v", 2, &made(&dir, "c", 100)).unwrap());
        assert!(cache.has("v", 0) && cache.has("v", 2));
        assert!(!cache.has("v", 1));
        assert!(!dir.join("1.ts").exists());
        assert_eq!(cache.used(), 200);
        assert!(cache.read("v", 1).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_segment_made_twice_is_kept_once() {
        let data = tempfile::tempdir().unwrap();
        let cache = Segments::open(data.path(), 1000).unwrap();
        let dir = cache.variant_dir("v").unwrap();
        assert!(cache.put("v", 3, &made(&dir, "a", 10)).unwrap());
        let again = made(&dir, "b", 20);
        assert!(!cache.put("v", 3, &again).unwrap());
        assert!(!again.exists());
        assert_eq!(cache.read("v", 3).await.unwrap().unwrap().len(), 10);
        assert_eq!(cache.used(), 10);
    }

    #[test]
    fn the_cache_is_emptied_at_open() {
        let data = tempfile::tempdir().unwrap();
        let old = data.path().join(CACHE_DIR).join("old");
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join("0.ts"), b"x").unwrap();
        let _cache = Segments::open(data.path(), 10).unwrap();
        assert!(!old.exists());
    }
}
