//! md5, sha1 and sha256 aliases, computed after an upload by a background
//! worker that reads the blob back (verified), so the upload itself stays a
//! single BLAKE3 pass. Blobs left without aliases by a restart are queued
//! again at start.

use cairn_core::digest::{LegacyDigests, LegacyHasher};

use crate::NodeError;
use crate::jobs::Job;
use crate::read::BlobHandle;

/// Reads the whole blob and computes its legacy digests.
pub(crate) fn compute(handle: &BlobHandle, job: &Job) -> Result<LegacyDigests, NodeError> {
    let mut hasher = LegacyHasher::default();
    handle.for_each_piece(0..handle.size(), |piece| {
        job.check()?;
        hasher.update(&piece);
        job.advance(piece.len() as u64);
        Ok(())
    })?;
    Ok(hasher.finish())
}
