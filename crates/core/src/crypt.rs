//! Convergent per-segment keys and the segment cipher.
//!
//! Each segment is encrypted with AES-256-CTR under its own key, derived
//! from a convergence secret and the segment's BLAKE3 leaf. Equal content
//! under the same secret gives equal ciphertext, so it is stored once;
//! without the secret the keys cannot be guessed from the content. Because
//! the key depends only on that one segment, an upload needs a single read
//! pass: hash, encrypt and write each segment while it is in memory.
//!
//! Keys never go in a manifest in the clear: they are wrapped (XORed with a
//! pad) under the blob's read key, derived from the secret and the blob id.
//! Holding the read key is what "may read this blob" means; a share link
//! carries it. CTR never reuses a keystream across different plaintexts here
//! because a key is unique to one segment's content and position.

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};

use crate::BlobId;
use crate::tree::Leaf;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// A node's (or a group of nodes') secret that scopes deduplication.
#[derive(Clone)]
pub struct ConvergenceSecret(pub [u8; 32]);

/// The key of one segment.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SegmentKey(pub [u8; 32]);

/// The key that unwraps a blob's segment keys.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ReadKey(pub [u8; 32]);

impl std::fmt::Debug for SegmentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SegmentKey(..)")
    }
}

impl std::fmt::Debug for ReadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadKey(..)")
    }
}

const SEGMENT_KEY_CONTEXT: &str = "cairn 2026-11-22 segment key v1";
const READ_KEY_CONTEXT: &str = "cairn 2026-11-22 read key v1";

impl ConvergenceSecret {
    /// The key of the segment whose leaf is `leaf`.
    pub fn segment_key(&self, leaf: &Leaf) -> SegmentKey {
        let mut h = blake3::Hasher::new_derive_key(SEGMENT_KEY_CONTEXT);
        h.update(&self.0);
        h.update(leaf);
        SegmentKey(*h.finalize().as_bytes())
    }

    /// The read key of blob `id`.
    pub fn read_key(&self, id: &BlobId) -> ReadKey {
        let mut h = blake3::Hasher::new_derive_key(READ_KEY_CONTEXT);
        h.update(&self.0);
        h.update(id.as_bytes());
        ReadKey(*h.finalize().as_bytes())
    }
}

impl ReadKey {
    /// Wraps (or, applied again, unwraps) the key of segment `index`.
    pub fn wrap(&self, index: u64, key: &[u8; 32]) -> [u8; 32] {
        let pad = blake3::keyed_hash(&self.0, &index.to_le_bytes());
        let mut out = *key;
        for (o, p) in out.iter_mut().zip(pad.as_bytes()) {
            *o ^= p;
        }
        out
    }
}

impl SegmentKey {
    /// Encrypts or decrypts `data`, which starts `offset` bytes into the
    /// segment, in place.
    pub fn apply(&self, offset: u64, data: &mut [u8]) {
        let mut cipher = self.cipher();
        cipher.0.seek(offset);
        cipher.apply(data);
    }

    /// A cipher positioned at the start of the segment, for pieces fed in
    /// order.
    pub fn cipher(&self) -> SegmentCipher {
        SegmentCipher(Aes256Ctr::new(&self.0.into(), &[0u8; 16].into()))
    }
}

/// The keystream of one segment, consumed in order.
pub struct SegmentCipher(Aes256Ctr);

impl SegmentCipher {
    /// Encrypts or decrypts the next bytes of the segment in place.
    pub fn apply(&mut self, data: &mut [u8]) {
        self.0.apply_keystream(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_round_trips_and_seeks() {
        let key = SegmentKey([9; 32]);
        let plain: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let mut whole = plain.clone();
        key.apply(0, &mut whole);
        assert_ne!(whole, plain);
        let mut tail = plain[1234..].to_vec();
        key.apply(1234, &mut tail);
        assert_eq!(tail, whole[1234..]);
        key.apply(0, &mut whole);
        assert_eq!(whole, plain);
    }

    #[test]
    fn keys_depend_on_secret_and_content() {
        let a = ConvergenceSecret([1; 32]);
        let b = ConvergenceSecret([2; 32]);
        assert_eq!(a.segment_key(&[5; 32]), a.segment_key(&[5; 32]));
        assert_ne!(a.segment_key(&[5; 32]), a.segment_key(&[6; 32]));
        assert_ne!(a.segment_key(&[5; 32]), b.segment_key(&[5; 32]));
    }

    #[test]
    fn wrapping_twice_gives_the_key_back_and_depends_on_the_index() {
        let rk = ReadKey([3; 32]);
        let k = [8u8; 32];
        assert_eq!(rk.wrap(4, &rk.wrap(4, &k)), k);
        assert_ne!(rk.wrap(4, &k), rk.wrap(5, &k));
    }
}
