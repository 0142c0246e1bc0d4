//! Reed-Solomon erasure coding of segments into k + m shards.
//!
//! A segment's ciphertext (at most 1 MiB) is cut into k data shards of
//! equal length (the last padded with zeros) and m parity shards are added;
//! any k of the n = k + m shards give the segment back. Shard i of every
//! segment of a blob goes to supplier i, so a supplier holds one "shard
//! file" per blob: its shard of segment s at offset `s * shard_len`.
//!
//! The shard length is the segment length over k rounded up to an even
//! number of bytes (the codec works on 16-bit symbols). With m = 0 there is
//! no parity: the data shards alone, which is how a lone node keeps one
//! local copy.

/// How a blob is spread: k data shards and m parity shards per segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Coding {
    /// Data shards: any k shards rebuild a segment.
    pub k: u8,
    /// Parity shards: how many may be lost.
    pub m: u8,
}

/// Erasure coding failures.
#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    /// k is zero, or k + m is over the limit.
    #[error("invalid coding {k}+{m}: k must be 1 or more and k + m at most {MAX_SHARDS}")]
    InvalidCoding {
        /// k.
        k: u8,
        /// m.
        m: u8,
    },
    /// Fewer than k shards, or shards of the wrong length.
    #[error("cannot rebuild a segment: {0}")]
    NotEnough(String),
    /// The codec refused.
    #[error("erasure codec: {0}")]
    Codec(String),
}

/// Most shards per segment (and so suppliers per blob).
pub const MAX_SHARDS: usize = 64;

thread_local! {
    /// This thread's encoder, whose work buffers outlive one segment.
    static ENCODER: std::cell::RefCell<Option<reed_solomon_simd::ReedSolomonEncoder>> =
        const { std::cell::RefCell::new(None) };
}

impl Coding {
    /// A checked coding.
    pub fn new(k: u8, m: u8) -> Result<Self, ErasureError> {
        if k == 0 || usize::from(k) + usize::from(m) > MAX_SHARDS {
            return Err(ErasureError::InvalidCoding { k, m });
        }
        Ok(Self { k, m })
    }

    /// n = k + m.
    pub fn n(self) -> usize {
        usize::from(self.k) + usize::from(self.m)
    }

    /// The length of each shard of a segment of `segment_len` bytes.
    pub fn shard_len(self, segment_len: usize) -> usize {
        let per = segment_len.div_ceil(usize::from(self.k)).max(1);
        per + (per & 1)
    }

    /// The n shards of `segment`: k data shards then m parity shards.
    pub fn encode(self, segment: &[u8]) -> Result<Vec<Vec<u8>>, ErasureError> {
        let len = self.shard_len(segment.len());
        let mut shards = vec![Vec::with_capacity(len); self.n()];
        self.encode_into(segment, &mut shards)?;
        Ok(shards)
    }

    /// Appends the n shards of `segment` to `out` (shard i to `out[i]`),
    /// so the shards of consecutive segments for one supplier gather in
    /// one buffer without a copy per shard.
    pub fn encode_into(self, segment: &[u8], out: &mut [Vec<u8>]) -> Result<(), ErasureError> {
        if out.len() != self.n() {
            return Err(ErasureError::NotEnough(format!(
                "{} shard buffers for a {}+{} coding",
                out.len(),
                self.k,
                self.m
            )));
        }
        let len = self.shard_len(segment.len());
        let k = usize::from(self.k);
        for (i, shard) in out[..k].iter_mut().enumerate() {
            let start = (i * len).min(segment.len());
            let end = ((i + 1) * len).min(segment.len());
            let at = shard.len();
            shard.extend_from_slice(&segment[start..end]);
            shard.resize(at + len, 0);
        }
        self.add_parity(len, out)
    }

    /// Appends the m parity shards of one segment to `out[k..]`, from the
    /// `len` bytes that end each of `out[..k]` (its data shards, put there
    /// by the caller: read straight from a file, say, with no copy of the
    /// segment). The codec's work buffers are kept per thread, so coding
    /// many segments allocates them once.
    pub fn add_parity(self, len: usize, out: &mut [Vec<u8>]) -> Result<(), ErasureError> {
        let k = usize::from(self.k);
        let m = usize::from(self.m);
        if out.len() != self.n() || out[..k].iter().any(|s| s.len() < len) || !len.is_multiple_of(2)
        {
            return Err(ErasureError::NotEnough(format!(
                "{} shard buffers of {len} bytes for a {k}+{m} coding",
                out.len()
            )));
        }
        if m == 0 {
            return Ok(());
        }
        let codec = |e: reed_solomon_simd::Error| ErasureError::Codec(e.to_string());
        ENCODER.with_borrow_mut(|encoder| {
            let encoder = match encoder {
                Some(e) => {
                    e.reset(k, m, len).map_err(codec)?;
                    e
                }
                None => encoder
                    .insert(reed_solomon_simd::ReedSolomonEncoder::new(k, m, len).map_err(codec)?),
            };
            for shard in &out[..k] {
                encoder
                    .add_original_shard(&shard[shard.len() - len..])
                    .map_err(codec)?;
            }
            let parity = encoder.encode().map_err(codec)?;
            for (shard, p) in out[k..].iter_mut().zip(parity.recovery_iter()) {
                shard.extend_from_slice(p);
            }
            Ok(())
        })
    }

    /// Rebuilds a segment of `segment_len` bytes from the shards present
    /// (`shards[i]` is shard i, or `None`); at least k must be there.
    /// The shards may be buffers of their own or pieces of larger ones.
    pub fn decode<S: AsRef<[u8]>>(
        self,
        segment_len: usize,
        shards: &[Option<S>],
    ) -> Result<Vec<u8>, ErasureError> {
        let shards: Vec<Option<&[u8]>> = shards
            .iter()
            .map(|s| s.as_ref().map(AsRef::as_ref))
            .collect();
        let len = self.shard_len(segment_len);
        let k = usize::from(self.k);
        if shards.len() != self.n() {
            return Err(ErasureError::NotEnough(format!(
                "{} shard slots for a {}+{} coding",
                shards.len(),
                self.k,
                self.m
            )));
        }
        if let Some(bad) = shards.iter().flatten().find(|s| s.len() != len) {
            return Err(ErasureError::NotEnough(format!(
                "a shard of {} bytes where {len} were expected",
                bad.len()
            )));
        }
        let present = shards.iter().filter(|s| s.is_some()).count();
        if present < k {
            return Err(ErasureError::NotEnough(format!(
                "{present} of the {k} shards needed"
            )));
        }
        // Data shards present are read where they are; only missing ones
        // are rebuilt (into buffers of their own).
        let mut restored = std::collections::BTreeMap::new();
        if shards[..k].iter().any(Option::is_none) {
            let originals = shards[..k]
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.map(|s| (i, s)));
            let recovery = shards[k..]
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.map(|s| (i, s)));
            restored = reed_solomon_simd::decode(k, usize::from(self.m), originals, recovery)
                .map_err(|e| ErasureError::Codec(e.to_string()))?;
        }
        let mut segment = Vec::with_capacity(k * len);
        for (i, s) in shards[..k].iter().enumerate() {
            let s = s
                .or_else(|| restored.get(&i).map(Vec::as_slice))
                .ok_or_else(|| ErasureError::NotEnough("a data shard is missing".into()))?;
            segment.extend_from_slice(s);
        }
        segment.truncate(segment_len);
        Ok(segment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn segment(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn any_k_of_n_shards_rebuild_the_segment() {
        let c = Coding::new(4, 2).unwrap();
        let seg = segment(1 << 20);
        let shards = c.encode(&seg).unwrap();
        assert_eq!(shards.len(), 6);
        assert!(shards.iter().all(|s| s.len() == 1 << 18));
        for lost in [[0, 1], [2, 5], [4, 5], [0, 3]] {
            let mut have: Vec<Option<Vec<u8>>> = shards.iter().cloned().map(Some).collect();
            for i in lost {
                have[i] = None;
            }
            assert_eq!(c.decode(seg.len(), &have).unwrap(), seg, "lost {lost:?}");
        }
        let mut three: Vec<Option<Vec<u8>>> = shards.into_iter().map(Some).collect();
        three[0] = None;
        three[1] = None;
        three[2] = None;
        assert!(matches!(
            c.decode(seg.len(), &three),
            Err(ErasureError::NotEnough(_))
        ));
    }

    #[test]
    fn a_lone_copy_and_odd_lengths_work() {
        let c = Coding::new(1, 0).unwrap();
        let seg = segment(1001);
        let shards = c.encode(&seg).unwrap();
        assert_eq!(shards.len(), 1);
        assert_eq!(c.decode(1001, &[Some(shards[0].clone())]).unwrap(), seg);
        assert!(Coding::new(0, 2).is_err());
        assert!(Coding::new(40, 40).is_err());
        assert_eq!(Coding::new(3, 1).unwrap().shard_len(0), 2);
        let empty = Coding::new(3, 1).unwrap().encode(&[]).unwrap();
        assert_eq!(
            Coding::new(3, 1)
                .unwrap()
                .decode(0, &empty.into_iter().map(Some).collect::<Vec<_>>())
                .unwrap(),
            b""
        );
    }

    #[test]
    fn parity_from_one_reused_encoder_matches_a_fresh_one_across_codings() {
        // One thread codes segments of several codings and lengths in
        // turn: each time the parity is what the codec gives afresh.
        for (k, m, len) in [
            (4u8, 2u8, 4096usize),
            (2, 1, 1002),
            (4, 2, 4096),
            (3, 3, 64),
            (4, 2, 8),
        ] {
            let c = Coding::new(k, m).unwrap();
            let data: Vec<Vec<u8>> = (0..usize::from(k))
                .map(|i| (0..len).map(|j| (i * 131 + j * 7) as u8).collect())
                .collect();
            let want = reed_solomon_simd::encode(usize::from(k), usize::from(m), &data).unwrap();
            let mut out: Vec<Vec<u8>> = data.clone();
            out.resize(c.n(), vec![1, 2]); // parity buffers with bytes already in
            c.add_parity(len, &mut out).unwrap();
            assert_eq!(out[..usize::from(k)], data[..]);
            for (got, want) in out[usize::from(k)..].iter().zip(&want) {
                assert_eq!(&got[..2], &[1, 2]);
                assert_eq!(&got[2..], &want[..]);
            }
        }
        // Shards shorter than the length asked, or an odd length, are
        // refused.
        let c = Coding::new(2, 1).unwrap();
        assert!(
            c.add_parity(10, &mut [vec![0; 10], vec![0; 8], Vec::new()])
                .is_err()
        );
        assert!(
            c.add_parity(9, &mut [vec![0; 9], vec![0; 9], Vec::new()])
                .is_err()
        );
        assert!(c.add_parity(10, &mut [vec![0; 10], vec![0; 10]]).is_err());
    }

    #[test]
    fn encoding_into_appends_what_encode_gives() {
        let c = Coding::new(4, 2).unwrap();
        let a: Vec<u8> = (0..4096u32).map(|i| (i * 7) as u8).collect();
        let b: Vec<u8> = (0..1001u32).map(|i| (i * 13) as u8).collect();
        let mut out = vec![Vec::new(); 6];
        c.encode_into(&a, &mut out).unwrap();
        c.encode_into(&b, &mut out).unwrap();
        let (ea, eb) = (c.encode(&a).unwrap(), c.encode(&b).unwrap());
        for i in 0..6 {
            assert_eq!(out[i], [ea[i].clone(), eb[i].clone()].concat(), "shard {i}");
        }
        assert!(c.encode_into(&a, &mut out[..5]).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]
        #[test]
        fn round_trips_with_m_shards_lost(len in 0usize..5000, k in 1u8..7, m in 1u8..4, seed in any::<u64>()) {
            let c = Coding::new(k, m).unwrap();
            let seg = segment(len);
            let shards = c.encode(&seg).unwrap();
            let mut have: Vec<Option<Vec<u8>>> = shards.into_iter().map(Some).collect();
            let n = have.len();
            for j in 0..usize::from(m) {
                let i = (seed as usize).wrapping_add(j * 7) % n;
                have[i] = None;
            }
            prop_assert_eq!(c.decode(len, &have).unwrap(), seg);
        }
    }
}
