//! Where a blob's shards live, and the DHT record that lets any node read it.
//!
//! A [`Placement`] says how a blob was coded (k + m), the shard stride (the
//! shard length of a full segment: shard i of segment s sits at offset
//! `s * stride` of supplier i's shard file), the suppliers by position, the
//! owner (whose shard files they are), and the BLAKE3 hash of every shard
//! of every segment, so a fetched shard is checked before it is decoded.
//!
//! A [`BlobRecord`] is what the owner publishes under the blob's id: the
//! manifest, the placement, and for a public file the read key. Nothing in
//! it needs to be trusted: the manifest is checked against the id, and the
//! decoded segments against the manifest, before a byte is served; a forged
//! record can only make a read fail.
//!
//! Encoding: magic `cairnpl1`, then fixed-width little-endian fields; the
//! decoder is strict (lengths checked against what is left, no trailing
//! bytes).

use crate::erasure::{Coding, MAX_SHARDS};

const MAGIC: &[u8; 8] = b"cairnpl1";
const RECORD_MAGIC: &[u8; 8] = b"cairnrc1";
/// Longest supplier id (a libp2p peer id in text).
const MAX_PEER: usize = 128;

/// Where a blob's shards are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The coding.
    pub coding: Coding,
    /// Shard length of a full segment.
    pub stride: u32,
    /// The customer id of the owner (BLAKE3 of its peer id).
    pub owner: [u8; 32],
    /// Supplier peer ids by position (n of them).
    pub suppliers: Vec<String>,
    /// Shard hashes: segment-major, n per segment.
    pub hashes: Vec<[u8; 32]>,
}

/// The hash that seals a shard file: BLAKE3 of the BLAKE3 hashes of its
/// pieces (one piece per segment, `stride` bytes, the last one shorter),
/// in order. The owner knows the piece hashes already (they are in the
/// placement), so sealing costs it no second pass over the bytes; the
/// supplier hashes its file piece by piece and compares.
pub fn pieces_hash<'a>(hashes: impl IntoIterator<Item = &'a [u8; 32]>) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    for piece in hashes {
        h.update(piece);
    }
    *h.finalize().as_bytes()
}

/// The length of one supplier's shard file for a blob of `size` bytes
/// coded with `coding`: a full stride per segment but the last, which is
/// shorter.
pub fn shard_file_len(coding: Coding, size: u64) -> u64 {
    use crate::layout::{SEGMENT_SIZE, segment_count, segment_span};
    let segments = segment_count(size);
    if segments == 0 {
        return 0;
    }
    let last = segment_span(size, segments - 1);
    let stride = coding.shard_len(SEGMENT_SIZE as usize) as u64;
    (segments - 1) * stride + coding.shard_len((last.end - last.start) as usize) as u64
}

/// A placement or record that cannot be decoded.
#[derive(Debug, thiserror::Error)]
#[error("malformed placement record: {0}")]
pub struct PlacementError(&'static str);

impl Placement {
    /// The hash of shard `position` of segment `segment`.
    pub fn hash(&self, segment: u64, position: usize) -> Option<&[u8; 32]> {
        let n = self.coding.n();
        let i = usize::try_from(segment)
            .ok()?
            .checked_mul(n)?
            .checked_add(position)?;
        self.hashes.get(i)
    }

    /// The hash a supplier checks when it seals shard file `position`:
    /// [`pieces_hash`] of that position's shard hashes, segment by segment.
    pub fn seal_hash(&self, position: usize) -> [u8; 32] {
        let n = self.coding.n();
        pieces_hash(self.hashes.iter().skip(position).step_by(n.max(1)))
    }

    /// Encodes the placement.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.hashes.len() * 32);
        out.extend_from_slice(MAGIC);
        out.push(self.coding.k);
        out.push(self.coding.m);
        out.extend_from_slice(&self.stride.to_le_bytes());
        out.extend_from_slice(&self.owner);
        for s in &self.suppliers {
            out.push(s.len() as u8);
            out.extend_from_slice(s.as_bytes());
        }
        out.extend_from_slice(&(self.hashes.len() as u64).to_le_bytes());
        for h in &self.hashes {
            out.extend_from_slice(h);
        }
        out
    }

    /// Decodes a placement, strictly.
    pub fn decode(bytes: &[u8]) -> Result<Self, PlacementError> {
        let mut r = Reader(bytes);
        let p = Self::read(&mut r)?;
        r.end()?;
        Ok(p)
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, PlacementError> {
        if r.take(8)? != MAGIC {
            return Err(PlacementError("bad magic"));
        }
        let (k, m) = (r.u8()?, r.u8()?);
        let coding = Coding::new(k, m).map_err(|_| PlacementError("bad coding"))?;
        let stride = u32::from_le_bytes(r.array()?);
        let owner = r.array()?;
        let mut suppliers = Vec::with_capacity(coding.n());
        for _ in 0..coding.n() {
            let len = usize::from(r.u8()?);
            if len > MAX_PEER {
                return Err(PlacementError("supplier id too long"));
            }
            let s = std::str::from_utf8(r.take(len)?).map_err(|_| PlacementError("supplier id"))?;
            suppliers.push(s.to_owned());
        }
        let count = u64::from_le_bytes(r.array()?);
        let count = usize::try_from(count).map_err(|_| PlacementError("hash count"))?;
        if count % coding.n() != 0 || count.checked_mul(32).is_none_or(|b| b > r.0.len()) {
            return Err(PlacementError("hash count"));
        }
        let mut hashes = Vec::with_capacity(count);
        for _ in 0..count {
            hashes.push(r.array()?);
        }
        debug_assert!(coding.n() <= MAX_SHARDS);
        Ok(Self {
            coding,
            stride,
            owner,
            suppliers,
            hashes,
        })
    }
}

/// What an owner publishes in the DHT under a blob id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRecord {
    /// The encoded manifest.
    pub manifest: Vec<u8>,
    /// The placement.
    pub placement: Placement,
    /// The read key, for a public file.
    pub read_key: Option<[u8; 32]>,
}

impl BlobRecord {
    /// Encodes the record.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(RECORD_MAGIC);
        out.extend_from_slice(&(self.manifest.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.manifest);
        match &self.read_key {
            Some(k) => {
                out.push(1);
                out.extend_from_slice(k);
            }
            None => out.push(0),
        }
        out.extend_from_slice(&self.placement.encode());
        out
    }

    /// Decodes a record, strictly (the manifest inside is decoded by the
    /// caller, who checks it against the id).
    pub fn decode(bytes: &[u8]) -> Result<Self, PlacementError> {
        let mut r = Reader(bytes);
        if r.take(8)? != RECORD_MAGIC {
            return Err(PlacementError("bad record magic"));
        }
        let len = u64::from_le_bytes(r.array()?);
        let len = usize::try_from(len).map_err(|_| PlacementError("manifest length"))?;
        let manifest = r.take(len)?.to_vec();
        let read_key = match r.u8()? {
            0 => None,
            1 => Some(r.array()?),
            _ => return Err(PlacementError("read key flag")),
        };
        let placement = Placement::read(&mut r)?;
        r.end()?;
        Ok(Self {
            manifest,
            placement,
            read_key,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PlacementError> {
        if self.0.len() < n {
            return Err(PlacementError("cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PlacementError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, PlacementError> {
        Ok(self.take(1)?[0])
    }

    fn end(&self) -> Result<(), PlacementError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(PlacementError("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn placement() -> Placement {
        Placement {
            coding: Coding::new(4, 2).unwrap(),
            stride: 1 << 18,
            owner: [5; 32],
            suppliers: (0..6).map(|i| format!("12D3KooWpeer{i}")).collect(),
            hashes: (0..12u8).map(|i| [i; 32]).collect(),
        }
    }

    #[test]
    fn a_seal_hash_covers_one_position_in_segment_order() {
        let p = placement();
        // Position 2 of segments 0 and 1: hashes 2 and 8.
        assert_eq!(p.seal_hash(2), pieces_hash([&[2; 32], &[8; 32]]));
        assert_ne!(p.seal_hash(2), pieces_hash([&[8; 32], &[2; 32]]));
        assert_ne!(p.seal_hash(2), p.seal_hash(3));
    }

    #[test]
    fn placements_and_records_round_trip() {
        let p = placement();
        assert_eq!(Placement::decode(&p.encode()).unwrap(), p);
        assert_eq!(p.hash(1, 2), Some(&[8; 32]));
        assert_eq!(p.hash(2, 0), None);
        for key in [None, Some([3; 32])] {
            let r = BlobRecord {
                manifest: vec![1, 2, 3],
                placement: p.clone(),
                read_key: key,
            };
            assert_eq!(BlobRecord::decode(&r.encode()).unwrap(), r);
        }
        let mut bad = p.encode();
        bad.push(0);
        assert!(Placement::decode(&bad).is_err());
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Placement::decode(&bytes);
            let _ = BlobRecord::decode(&bytes);
            let mut framed = b"cairnpl1".to_vec();
            framed.extend_from_slice(&bytes);
            let _ = Placement::decode(&framed);
        }
    }
}
