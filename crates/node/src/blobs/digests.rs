//! md5, sha1 and sha256 aliases, computed after an upload by a background
//! worker that reads the blob back (verified), so the upload itself stays a
//! single BLAKE3 pass. Blobs left without aliases by a restart are queued
//! again at start.

use cairn_core::digest::{LegacyDigests, LegacyHasher};

use super::read::BlobHandle;
use crate::NodeError;
use crate::jobs::Job;

/// Pieces read ahead of the hashing.
const AHEAD: usize = 2;

/// Reads the whole blob and computes its legacy digests: one thread reads
/// and verifies the pieces while this one hashes them, so neither waits
/// for the other (nor for the disk: the local file is read past the page
/// cache, without the kernel's readahead).
pub(crate) fn compute(handle: &BlobHandle, job: &Job) -> Result<LegacyDigests, NodeError> {
    let mut hasher = LegacyHasher::default();
    let (tx, rx) = std::sync::mpsc::sync_channel(AHEAD);
    std::thread::scope(|s| {
        let reader = s.spawn(move || {
            handle.for_each_piece(0..handle.size(), |piece| {
                job.check()?;
                // Gone: the hashing stopped, and says why.
                tx.send(piece).map_err(|_| NodeError::Cancelled)
            })
        });
        for piece in rx {
            hasher.update(&piece);
            job.advance(piece.len() as u64);
        }
        reader
            .join()
            .map_err(|_| NodeError::Internal("digest reader thread panicked".into()))?
    })?;
    Ok(hasher.finish())
}
