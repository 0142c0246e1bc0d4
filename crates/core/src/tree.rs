//! The BLAKE3 tree over a blob's segments.
//!
//! Because [`SEGMENT_SIZE`](crate::SEGMENT_SIZE) is a power of two, every
//! segment is one subtree of BLAKE3's own tree, and the blob id is what the
//! segments' chaining values ("leaves") merge into. Storing the leaves (32
//! bytes per MiB) is therefore a verified-streaming outboard: check the
//! leaves against the id once, and afterwards any segment read back can be
//! checked on its own, so every byte range is verified before it is served.
//!
//! A blob of one segment has no parent nodes: its id is the plain hash of
//! its bytes, and that is what a read of it is checked against.

use blake3::hazmat::{HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root};

use crate::BlobId;

/// A BLAKE3 chaining value: the non-root hash of one subtree.
pub type Leaf = [u8; 32];

/// The chaining value of segment `index`'s plaintext, and its root hash
/// (meaningful only when the blob has this one segment).
pub fn hash_segment(data: &[u8], index: u64) -> (Leaf, BlobId) {
    let mut hasher = SegmentHasher::new(index);
    hasher.update(data);
    hasher.finish()
}

/// Hashes one segment fed in pieces; the incremental form of
/// [`hash_segment`].
pub struct SegmentHasher {
    hasher: blake3::Hasher,
    index: u64,
}

impl SegmentHasher {
    /// Starts hashing segment `index`.
    pub fn new(index: u64) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.set_input_offset(index * crate::SEGMENT_SIZE);
        Self { hasher, index }
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    /// The leaf and (for segment 0) the root hash, as [`hash_segment`]
    /// gives them. An empty segment has neither: it gives zeros, which
    /// match no leaf.
    pub fn finish(&self) -> (Leaf, BlobId) {
        if self.hasher.count() == 0 {
            return ([0; 32], BlobId([0; 32]));
        }
        let leaf = self.hasher.finalize_non_root();
        let root = if self.index == 0 {
            BlobId::from(self.hasher.finalize())
        } else {
            BlobId([0; 32])
        };
        (leaf, root)
    }
}

/// The blob id that at least two leaves merge into.
///
/// Returns `None` for fewer than two leaves: those blobs are verified by
/// hashing their only segment whole.
pub fn root_of(leaves: &[Leaf]) -> Option<BlobId> {
    if leaves.len() < 2 {
        return None;
    }
    let (left, right) = leaves.split_at(left_len(leaves.len()));
    Some(BlobId::from(merge_subtrees_root(
        &subtree(left),
        &subtree(right),
        Mode::Hash,
    )))
}

fn subtree(leaves: &[Leaf]) -> Leaf {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let (left, right) = leaves.split_at(left_len(leaves.len()));
    merge_subtrees_non_root(&subtree(left), &subtree(right), Mode::Hash)
}

/// BLAKE3's split rule: the left subtree holds the largest power of two
/// strictly below `n` leaves.
fn left_len(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SEGMENT_SIZE;

    fn leaves_of(data: &[u8]) -> Vec<Leaf> {
        data.chunks(SEGMENT_SIZE as usize)
            .enumerate()
            .map(|(i, seg)| hash_segment(seg, i as u64).0)
            .collect()
    }

    #[test]
    fn leaves_merge_into_the_plain_blake3_hash() {
        let seg = SEGMENT_SIZE as usize;
        for len in [seg + 1, 2 * seg, 3 * seg - 7, 5 * seg + 1024, 8 * seg + 3] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let root = root_of(&leaves_of(&data)).unwrap();
            assert_eq!(root, BlobId::of(&data), "len {len}");
        }
    }

    #[test]
    fn a_single_segment_reports_its_root_hash() {
        let data = vec![7u8; 1000];
        let (_, root) = hash_segment(&data, 0);
        assert_eq!(root, BlobId::of(&data));
        assert_eq!(root_of(&leaves_of(&data)), None);
    }

    #[test]
    fn a_changed_byte_changes_its_leaf_and_the_root() {
        let seg = SEGMENT_SIZE as usize;
        let mut data = vec![1u8; 3 * seg];
        let before = leaves_of(&data);
        data[seg + 5] ^= 1;
        let after = leaves_of(&data);
        assert_eq!(before[0], after[0]);
        assert_ne!(before[1], after[1]);
        assert_ne!(root_of(&before), root_of(&after));
    }

    #[test]
    fn left_len_is_the_largest_power_of_two_below_n() {
        assert_eq!(left_len(2), 1);
        assert_eq!(left_len(3), 2);
        assert_eq!(left_len(4), 2);
        assert_eq!(left_len(5), 4);
        assert_eq!(left_len(1025), 1024);
    }
}
