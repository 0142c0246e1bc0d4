//! The manifest: the record that says how to read a blob back.
//!
//! Binary, versioned, little-endian, and exactly as long as its segment
//! count says, so a truncated or padded record is refused rather than
//! guessed at:
//!
//! ```text
//! magic     8  "cairnmf1"
//! id       32  BLAKE3 of the plaintext (the blob id)
//! size      8  plaintext bytes
//! segment   4  segment size (must be SEGMENT_SIZE in v1)
//! count     8  number of segments (must match size)
//! records  64 × count: leaf (32) | wrapped segment key (32)
//! ```
//!
//! The network issue extends this with placement (erasure parameters,
//! shard hashes, suppliers) in a separate record, so this one stays what
//! every holder of the blob agrees on.

use crate::BlobId;
use crate::layout::{SEGMENT_SIZE, segment_count};
use crate::tree::{Leaf, root_of};

const MAGIC: &[u8; 8] = b"cairnmf1";
const HEADER_LEN: usize = 8 + 32 + 8 + 4 + 8;
const RECORD_LEN: usize = 64;

/// Why a manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not a cairn manifest, or one from an unknown version.
    #[error("not a cairn v1 manifest")]
    BadMagic,
    /// Shorter or longer than its header says.
    #[error("manifest is {got} bytes, its header implies {want}")]
    BadLength {
        /// Bytes present.
        got: usize,
        /// Bytes the header implies.
        want: u128,
    },
    /// A segment size this version does not use.
    #[error("segment size {0} is not supported")]
    SegmentSize(u32),
    /// The segment count does not fit the size.
    #[error("{count} segments do not fit a blob of {size} bytes")]
    Count {
        /// Segments listed.
        count: u64,
        /// Plaintext size.
        size: u64,
    },
    /// The leaves do not hash to the id.
    #[error("manifest leaves do not hash to blob {0}")]
    RootMismatch(BlobId),
}

/// One segment's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRecord {
    /// The BLAKE3 chaining value of the segment's plaintext.
    pub leaf: Leaf,
    /// The segment key, wrapped under the blob's read key.
    pub wrapped_key: [u8; 32],
}

/// How to read one blob back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The blob id.
    pub id: BlobId,
    /// Plaintext size in bytes.
    pub size: u64,
    /// One record per segment, in order.
    pub segments: Vec<SegmentRecord>,
}

impl Manifest {
    /// The binary form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + RECORD_LEN * self.segments.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&(SEGMENT_SIZE as u32).to_le_bytes());
        out.extend_from_slice(&(self.segments.len() as u64).to_le_bytes());
        for seg in &self.segments {
            out.extend_from_slice(&seg.leaf);
            out.extend_from_slice(&seg.wrapped_key);
        }
        out
    }

    /// Parses the binary form and checks that the leaves hash to the id.
    pub fn decode(bytes: &[u8]) -> Result<Self, ManifestError> {
        if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
            return Err(ManifestError::BadMagic);
        }
        let id = BlobId(take::<32>(bytes, 8));
        let size = u64::from_le_bytes(take::<8>(bytes, 40));
        let segment = u32::from_le_bytes(take::<4>(bytes, 48));
        let count = u64::from_le_bytes(take::<8>(bytes, 52));
        if u64::from(segment) != SEGMENT_SIZE {
            return Err(ManifestError::SegmentSize(segment));
        }
        if count != segment_count(size) {
            return Err(ManifestError::Count { count, size });
        }
        let want = HEADER_LEN as u128 + RECORD_LEN as u128 * u128::from(count);
        if bytes.len() as u128 != want {
            return Err(ManifestError::BadLength {
                got: bytes.len(),
                want,
            });
        }
        let segments = bytes[HEADER_LEN..]
            .chunks_exact(RECORD_LEN)
            .map(|r| SegmentRecord {
                leaf: take::<32>(r, 0),
                wrapped_key: take::<32>(r, 32),
            })
            .collect();
        let manifest = Self { id, size, segments };
        manifest.verify()?;
        Ok(manifest)
    }

    /// Checks that the leaves hash to the id. A blob of one segment has no
    /// parent nodes; its segment is checked against the id when read.
    pub fn verify(&self) -> Result<(), ManifestError> {
        let leaves: Vec<Leaf> = self.segments.iter().map(|s| s.leaf).collect();
        let ok = match leaves.len() {
            0 => self.id == BlobId::of(b""),
            1 => true,
            _ => root_of(&leaves) == Some(self.id),
        };
        if ok {
            Ok(())
        } else {
            Err(ManifestError::RootMismatch(self.id))
        }
    }
}

fn take<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypt::ConvergenceSecret;
    use crate::seal::seal_all;
    use proptest::prelude::*;

    fn sample(len: usize) -> Manifest {
        let mut data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        seal_all(&ConvergenceSecret([4; 32]), &mut data)
    }

    #[test]
    fn encode_decode_round_trip() {
        for len in [0, 1, 1 << 20, (3 << 20) + 5] {
            let m = sample(len);
            assert_eq!(Manifest::decode(&m.encode()).unwrap(), m, "len {len}");
        }
    }

    #[test]
    fn truncated_padded_and_tampered_manifests_are_refused() {
        let m = sample((2 << 20) + 1);
        let bytes = m.encode();
        assert!(Manifest::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(Manifest::decode(&padded).is_err());
        let mut tampered = bytes.clone();
        let last = tampered.len() - 40;
        tampered[last] ^= 1;
        assert_eq!(
            Manifest::decode(&tampered),
            Err(ManifestError::RootMismatch(m.id))
        );
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Manifest::decode(&bytes);
        }

        #[test]
        fn decoding_a_valid_header_with_random_tail_never_panics(
            size in any::<u64>(), count in any::<u64>(), tail in proptest::collection::vec(any::<u8>(), 0..200)
        ) {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&[0; 32]);
            bytes.extend_from_slice(&size.to_le_bytes());
            bytes.extend_from_slice(&(SEGMENT_SIZE as u32).to_le_bytes());
            bytes.extend_from_slice(&count.to_le_bytes());
            bytes.extend_from_slice(&tail);
            let _ = Manifest::decode(&bytes);
        }
    }
}
