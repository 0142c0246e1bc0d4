//! Sealing (plaintext segments → ciphertext + manifest) and opening (the
//! inverse, verified).
//!
//! Sealing is split into a pure per-segment step, [`seal_segment`], that a
//! caller may run on any thread, and a [`ManifestBuilder`] that collects the
//! results in order. Opening a segment decrypts it and checks it against
//! the manifest, which was itself checked against the blob id: a segment
//! that comes back from [`open_segment`] is exactly what was stored.

use crate::BlobId;
use crate::crypt::{ConvergenceSecret, ReadKey, SegmentKey};
use crate::layout::{SEGMENT_SIZE, segment_count, segment_span};
use crate::manifest::{Manifest, SegmentRecord};
use crate::tree::{Leaf, hash_segment};

/// What sealing one segment produced besides its ciphertext.
#[derive(Debug, Clone, Copy)]
pub struct SealedSegment {
    /// The plaintext's chaining value.
    pub leaf: Leaf,
    /// The segment's key (unwrapped; wrap it before it leaves the node).
    pub key: SegmentKey,
    /// The root hash, meaningful for segment 0 of a one-segment blob.
    pub root: BlobId,
}

/// Hashes segment `index` and encrypts it in place.
pub fn seal_segment(secret: &ConvergenceSecret, index: u64, buf: &mut [u8]) -> SealedSegment {
    let (leaf, root) = hash_segment(buf, index);
    let key = secret.segment_key(&leaf);
    key.apply(0, buf);
    SealedSegment { leaf, key, root }
}

/// Why a segment could not be added to a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// A segment other than the last was shorter than a full segment.
    #[error("segment {index} is {len} bytes; only the last may be shorter than {SEGMENT_SIZE}")]
    ShortSegment {
        /// The short segment's index.
        index: u64,
        /// Its length.
        len: u64,
    },
}

/// Collects sealed segments, in order, into a manifest.
pub struct ManifestBuilder {
    secret: ConvergenceSecret,
    size: u64,
    sealed: Vec<SealedSegment>,
    last_len: u64,
}

impl ManifestBuilder {
    /// An empty builder for blobs sealed under `secret`.
    pub fn new(secret: ConvergenceSecret) -> Self {
        Self {
            secret,
            size: 0,
            sealed: Vec::new(),
            last_len: SEGMENT_SIZE,
        }
    }

    /// Plaintext bytes added so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Segments added so far (the index of the next one).
    pub fn next_index(&self) -> u64 {
        self.sealed.len() as u64
    }

    /// Adds the next segment, of `len` plaintext bytes.
    pub fn push(&mut self, sealed: SealedSegment, len: u64) -> Result<(), SealError> {
        if self.last_len != SEGMENT_SIZE || len > SEGMENT_SIZE || len == 0 {
            let index = self.next_index().saturating_sub(1);
            return Err(SealError::ShortSegment {
                index,
                len: self.last_len.min(len),
            });
        }
        self.sealed.push(sealed);
        self.size += len;
        self.last_len = len;
        Ok(())
    }

    /// The finished manifest, with its keys wrapped under the read key.
    pub fn finish(self) -> Manifest {
        let leaves: Vec<Leaf> = self.sealed.iter().map(|s| s.leaf).collect();
        let id = match self.sealed.len() {
            0 => BlobId::of(b""),
            1 => self.sealed[0].root,
            _ => crate::tree::root_of(&leaves).unwrap_or(BlobId([0; 32])),
        };
        let read_key = self.secret.read_key(&id);
        let segments = self
            .sealed
            .iter()
            .enumerate()
            .map(|(i, s)| SegmentRecord {
                leaf: s.leaf,
                wrapped_key: read_key.wrap(i as u64, &s.key.0),
            })
            .collect();
        Manifest {
            id,
            size: self.size,
            segments,
        }
    }
}

/// Why an opened segment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The segment index is past the end of the blob.
    #[error("segment {index} is past the end of blob {id}")]
    OutOfRange {
        /// The blob.
        id: BlobId,
        /// The index asked for.
        index: u64,
    },
    /// The ciphertext has the wrong length for the segment.
    #[error("segment {index} of blob {id} is {got} bytes, expected {want}")]
    Length {
        /// The blob.
        id: BlobId,
        /// The segment.
        index: u64,
        /// Bytes given.
        got: u64,
        /// Bytes expected.
        want: u64,
    },
    /// The decrypted bytes do not hash to the manifest's leaf or the id.
    #[error("segment {index} of blob {id} failed verification: stored data is corrupt")]
    Corrupt {
        /// The blob.
        id: BlobId,
        /// The segment.
        index: u64,
    },
}

/// Opens one segment incrementally: feed its ciphertext in order, in pieces
/// of any size, and each piece is decrypted in place and hashed while it is
/// still in cache; [`SegmentOpener::finish`] then says whether the whole
/// segment verified. Nothing fed may be served before `finish` says so.
pub struct SegmentOpener<'a> {
    manifest: &'a Manifest,
    index: u64,
    want: u64,
    fed: u64,
    key: SegmentKey,
    cipher: crate::crypt::SegmentCipher,
    hasher: crate::tree::SegmentHasher,
}

impl<'a> SegmentOpener<'a> {
    /// Starts opening segment `index` of `manifest`.
    pub fn new(manifest: &'a Manifest, read_key: &ReadKey, index: u64) -> Result<Self, OpenError> {
        let id = manifest.id;
        let record = usize::try_from(index)
            .ok()
            .and_then(|i| manifest.segments.get(i))
            .ok_or(OpenError::OutOfRange { id, index })?;
        let span = segment_span(manifest.size, index);
        let key = SegmentKey(read_key.wrap(index, &record.wrapped_key));
        Ok(Self {
            manifest,
            index,
            want: span.end - span.start,
            fed: 0,
            key,
            cipher: key.cipher(),
            hasher: crate::tree::SegmentHasher::new(index),
        })
    }

    /// Decrypts the next piece of ciphertext in place and hashes it.
    pub fn update(&mut self, piece: &mut [u8]) {
        self.cipher.apply(piece);
        self.hasher.update(piece);
        self.fed += piece.len() as u64;
    }

    /// Decrypts the whole segment in place in one pass (the widest
    /// keystream, [`SegmentKey::apply`]), then hashes it. Only as the
    /// first thing fed; after pieces, it is fed as one more piece.
    pub fn update_whole(&mut self, segment: &mut [u8]) {
        if self.fed != 0 {
            return self.update(segment);
        }
        self.key.apply(0, segment);
        self.hasher.update(segment);
        self.fed += segment.len() as u64;
    }

    /// Whether everything fed is exactly the segment the manifest names.
    pub fn finish(self) -> Result<(), OpenError> {
        let id = self.manifest.id;
        let index = self.index;
        if self.fed != self.want {
            return Err(OpenError::Length {
                id,
                index,
                got: self.fed,
                want: self.want,
            });
        }
        let (leaf, root) = self.hasher.finish();
        let ok = if segment_count(self.manifest.size) == 1 {
            root == id
        } else {
            self.manifest
                .segments
                .get(index as usize)
                .is_some_and(|r| r.leaf == leaf)
        };
        if ok {
            Ok(())
        } else {
            Err(OpenError::Corrupt { id, index })
        }
    }
}

/// Decrypts segment `index` of `manifest` in place and verifies it.
///
/// The segment is decrypted whole, then hashed: one keystream call lets
/// the cipher take its fastest path, which pays more than keeping pieces
/// in cache between the two passes (`cargo bench -p cairn-core`,
/// `open_and_verify`).
///
/// On error the buffer holds garbage and must not be served.
pub fn open_segment(
    manifest: &Manifest,
    read_key: &ReadKey,
    index: u64,
    buf: &mut [u8],
) -> Result<(), OpenError> {
    let mut opener = SegmentOpener::new(manifest, read_key, index)?;
    let want = opener.want;
    if buf.len() as u64 != want {
        return Err(OpenError::Length {
            id: manifest.id,
            index,
            got: buf.len() as u64,
            want,
        });
    }
    opener.update_whole(buf);
    opener.finish()
}

/// Seals a whole in-memory buffer in place (tests and benchmarks).
pub fn seal_all(secret: &ConvergenceSecret, data: &mut [u8]) -> Manifest {
    let mut builder = ManifestBuilder::new(secret.clone());
    for (i, seg) in data.chunks_mut(SEGMENT_SIZE as usize).enumerate() {
        let len = seg.len() as u64;
        let sealed = seal_segment(secret, i as u64, seg);
        // Chunks of a slice are full but for the last, so push cannot fail.
        let _ = builder.push(sealed, len);
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(len: usize) {
        let secret = ConvergenceSecret([7; 32]);
        let plain: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
        let mut data = plain.clone();
        let m = seal_all(&secret, &mut data);
        assert_eq!(m.id, BlobId::of(&plain), "id is the plaintext BLAKE3");
        assert_eq!(m.size, len as u64);
        if len > 64 {
            assert_ne!(data, plain, "stored bytes are encrypted");
        }
        let rk = secret.read_key(&m.id);
        for (i, seg) in data.chunks_mut(SEGMENT_SIZE as usize).enumerate() {
            open_segment(&m, &rk, i as u64, seg).unwrap();
        }
        assert_eq!(data, plain);
    }

    #[test]
    fn sealing_then_opening_gives_the_plaintext_back() {
        for len in [
            0,
            1,
            1000,
            SEGMENT_SIZE as usize,
            (SEGMENT_SIZE as usize) * 3 + 17,
        ] {
            round_trip(len);
        }
    }

    #[test]
    fn equal_content_under_one_secret_seals_identically() {
        let secret = ConvergenceSecret([1; 32]);
        let mut a = vec![3u8; 3 << 20];
        let mut b = a.clone();
        assert_eq!(seal_all(&secret, &mut a), seal_all(&secret, &mut b));
        assert_eq!(a, b);
    }

    #[test]
    fn a_flipped_ciphertext_byte_is_caught() {
        let secret = ConvergenceSecret([2; 32]);
        for len in [100usize, (2 << 20) + 9] {
            let mut data = vec![5u8; len];
            let m = seal_all(&secret, &mut data);
            let last = data.len() - 1;
            data[last] ^= 0x40;
            let rk = secret.read_key(&m.id);
            let index = m.segments.len() as u64 - 1;
            let start = (index * SEGMENT_SIZE) as usize;
            let err = open_segment(&m, &rk, index, &mut data[start..]).unwrap_err();
            assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");
        }
    }

    #[test]
    fn a_wrong_read_key_is_caught() {
        let secret = ConvergenceSecret([2; 32]);
        let mut data = vec![5u8; 3000];
        let m = seal_all(&secret, &mut data);
        let wrong = ConvergenceSecret([3; 32]).read_key(&m.id);
        assert!(open_segment(&m, &wrong, 0, &mut data).is_err());
    }

    #[test]
    fn a_short_segment_before_the_end_is_refused() {
        let secret = ConvergenceSecret([2; 32]);
        let mut b = ManifestBuilder::new(secret.clone());
        let mut small = vec![1u8; 10];
        let s = seal_segment(&secret, 0, &mut small);
        b.push(s, 10).unwrap();
        assert!(b.push(s, 10).is_err());
    }

    #[test]
    fn wrong_lengths_and_indices_are_errors_not_panics() {
        let secret = ConvergenceSecret([2; 32]);
        let mut data = vec![5u8; 3000];
        let m = seal_all(&secret, &mut data);
        let rk = secret.read_key(&m.id);
        assert!(matches!(
            open_segment(&m, &rk, 0, &mut data[..10]),
            Err(OpenError::Length { .. })
        ));
        assert!(matches!(
            open_segment(&m, &rk, u64::MAX, &mut data),
            Err(OpenError::OutOfRange { .. })
        ));
    }
}
