//! The hashes of shard pieces taken as their bytes arrive, so that a seal
//! need not read a whole shard back from disk.
//!
//! An owner's `Write` says how long a piece of the shard is (its stride).
//! The supplier hashes each piece the write holds from its start before
//! writing it, and keeps the hash beside the piece's length. A seal then
//! hashes only the pieces it has no hash for. On the machine of
//! BENCHMARKS.md, reading a shard back through the page cache cost about
//! 3 s of system time per GiB, most of a supplier's work.
//!
//! Invariant: a kept hash is the hash of the bytes the file holds at that
//! piece. Every write forgets the hashes of the pieces it touches before it
//! writes, and keeps new ones only once its bytes are written, all under
//! the shard store's write lock; removing a partial shard forgets its
//! hashes. A node that restarts has none, and removes partial shards.
//!
//! Memory is bounded: strides under [`MIN_STRIDE`] are not hashed on
//! arrival, and at most [`MAX_KEPT`] hashes are kept in all; past that the
//! seal reads the pieces back.

use std::collections::{BTreeMap, HashMap};

use crate::shards::ShardId;

/// Pieces shorter than this are hashed at the seal only.
pub(crate) const MIN_STRIDE: u32 = 4096;
/// Most piece hashes kept over every partial shard (at 48 bytes or so
/// each, a few MiB).
pub(crate) const MAX_KEPT: usize = 1 << 18;

/// What one write contributes: the pieces it starts, hashed.
pub(crate) struct Hashed {
    stride: u32,
    /// Index, BLAKE3 hash and length of every piece the write starts.
    pieces: Vec<(u64, [u8; 32], u32)>,
}

/// Hashes the pieces of `stride` bytes that `data`, written at `offset`,
/// starts (the last may be cut short by the write's end). `None` when the
/// stride is not hashed on arrival.
pub(crate) fn hash_pieces(offset: u64, stride: u32, data: &[u8]) -> Option<Hashed> {
    if stride < MIN_STRIDE || u64::from(stride) > cairn_core::layout::SEGMENT_SIZE {
        return None;
    }
    let s = u64::from(stride);
    // The first piece that starts inside the write.
    let first = offset.div_ceil(s);
    let skip = usize::try_from(first * s - offset).ok()?;
    let pieces = data
        .get(skip..)
        .unwrap_or_default()
        .chunks(stride as usize)
        .zip(first..)
        .map(|(bytes, index)| (index, *blake3::hash(bytes).as_bytes(), bytes.len() as u32))
        .collect();
    Some(Hashed { stride, pieces })
}

/// One partial shard's kept hashes.
struct Shard {
    stride: u32,
    /// Piece index → hash and length.
    pieces: BTreeMap<u64, ([u8; 32], u32)>,
}

/// The kept hashes of every partial shard.
#[derive(Default)]
pub(crate) struct Arrived {
    shards: HashMap<ShardId, Shard>,
    kept: usize,
}

impl Arrived {
    /// Forgets the hashes of every piece of `id` that `len` bytes at
    /// `offset` touch; all of them when `stride` is not the one kept.
    pub(crate) fn forget_range(&mut self, id: &ShardId, stride: u32, offset: u64, len: u64) {
        let Some(shard) = self.shards.get_mut(id) else {
            return;
        };
        if shard.stride != stride {
            self.forget(id);
            return;
        }
        let s = u64::from(shard.stride);
        let end = offset.saturating_add(len);
        let touched: Vec<u64> = shard
            .pieces
            .range(offset / s..end.div_ceil(s))
            .map(|(i, _)| *i)
            .collect();
        for i in touched {
            shard.pieces.remove(&i);
            self.kept -= 1;
        }
    }

    /// Keeps the hashes a written write took, as far as the bound allows.
    pub(crate) fn keep(&mut self, id: &ShardId, hashed: Hashed) {
        if hashed.pieces.is_empty() {
            return;
        }
        let shard = self.shards.entry(*id).or_insert_with(|| Shard {
            stride: hashed.stride,
            pieces: BTreeMap::new(),
        });
        if shard.stride != hashed.stride {
            return;
        }
        for (index, hash, len) in hashed.pieces {
            if self.kept >= MAX_KEPT {
                return;
            }
            if shard.pieces.insert(index, (hash, len)).is_none() {
                self.kept += 1;
            }
        }
    }

    /// Forgets every hash of `id`.
    pub(crate) fn forget(&mut self, id: &ShardId) {
        if let Some(shard) = self.shards.remove(id) {
            self.kept -= shard.pieces.len();
        }
    }

    /// Forgets every hash of customer `owner`'s shards.
    pub(crate) fn forget_owner(&mut self, owner: &[u8; 32]) {
        let ids: Vec<ShardId> = self
            .shards
            .keys()
            .filter(|id| &id.owner == owner)
            .copied()
            .collect();
        for id in ids {
            self.forget(&id);
        }
    }

    /// Takes `id`'s hashes out for its seal with pieces of `stride`: piece
    /// index → hash and length. Empty when none were kept for that stride.
    pub(crate) fn take(&mut self, id: &ShardId, stride: u32) -> BTreeMap<u64, ([u8; 32], u32)> {
        match self.shards.remove(id) {
            Some(shard) => {
                self.kept -= shard.pieces.len();
                if shard.stride == stride {
                    shard.pieces
                } else {
                    BTreeMap::new()
                }
            }
            None => BTreeMap::new(),
        }
    }

    /// How many hashes are kept in all.
    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u32 = MIN_STRIDE;

    fn id(p: u8) -> ShardId {
        ShardId {
            owner: [1; 32],
            blob: [2; 32],
            position: p,
        }
    }

    fn bytes(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
    }

    #[test]
    fn a_write_hashes_the_pieces_it_starts_and_no_other() {
        let s = u64::from(S);
        let data = bytes(3 * S as usize + 10, 1);
        let h = hash_pieces(s, S, &data).unwrap();
        let indices: Vec<(u64, u32)> = h.pieces.iter().map(|p| (p.0, p.2)).collect();
        assert_eq!(indices, [(1, S), (2, S), (3, S), (4, 10)]);
        assert_eq!(
            h.pieces[1].1,
            *blake3::hash(&data[S as usize..2 * S as usize]).as_bytes()
        );
        // A write that starts inside a piece starts the next one only.
        let h = hash_pieces(s + 100, S, &data).unwrap();
        assert_eq!(h.pieces[0].0, 2);
        assert_eq!(
            h.pieces[0].1,
            *blake3::hash(&data[S as usize - 100..2 * S as usize - 100]).as_bytes()
        );
        // A write inside one piece starts none.
        assert!(
            hash_pieces(s + 1, S, &data[..100])
                .unwrap()
                .pieces
                .is_empty()
        );
        assert!(hash_pieces(0, S - 1, &data).is_none(), "a stride too short");
        assert!(
            hash_pieces(0, u32::MAX, &data).is_none(),
            "a stride over a segment"
        );
    }

    #[test]
    fn a_write_over_kept_pieces_forgets_them_and_a_new_stride_forgets_all() {
        let s = u64::from(S);
        let mut a = Arrived::default();
        a.keep(
            &id(0),
            hash_pieces(0, S, &bytes(4 * S as usize, 1)).unwrap(),
        );
        a.keep(&id(1), hash_pieces(0, S, &bytes(S as usize, 1)).unwrap());
        assert_eq!(a.kept(), 5);
        // One byte at the end of piece 1 and the start of piece 2.
        a.forget_range(&id(0), S, 2 * s - 1, 2);
        assert_eq!(a.kept(), 3);
        let left: Vec<u64> = a.take(&id(0), S).keys().copied().collect();
        assert_eq!(left, [0, 3]);
        assert_eq!(a.kept(), 1);
        a.forget_range(&id(1), 2 * S, 0, 1);
        assert_eq!(a.kept(), 0, "another stride forgets the shard's hashes");
        a.keep(&id(1), hash_pieces(0, S, &bytes(S as usize, 1)).unwrap());
        assert!(
            a.take(&id(1), 2 * S).is_empty(),
            "a seal with another stride finds none"
        );
        a.keep(&id(2), hash_pieces(0, S, &bytes(S as usize, 1)).unwrap());
        a.forget_owner(&[1; 32]);
        assert_eq!(a.kept(), 0);
    }

    #[test]
    fn no_more_than_the_bound_is_kept() {
        let mut a = Arrived::default();
        let many = Hashed {
            stride: S,
            pieces: (0..MAX_KEPT as u64 + 10).map(|i| (i, [0; 32], S)).collect(),
        };
        a.keep(&id(0), many);
        assert_eq!(a.kept(), MAX_KEPT);
        a.forget(&id(0));
        assert_eq!(a.kept(), 0);
    }
}
