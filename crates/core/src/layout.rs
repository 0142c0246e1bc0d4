//! How a blob is cut into segments, and how byte ranges map onto them.
//!
//! A segment is [`SEGMENT_SIZE`] bytes of plaintext (the last one may be
//! shorter). It is the unit of everything downstream: one convergent key,
//! one BLAKE3 subtree that verifies it, and (on the network) one
//! Reed-Solomon stripe. The size is a power of two at least one BLAKE3 chunk
//! long, so that every segment is a whole subtree of the blob's BLAKE3 tree.

use std::ops::Range;

/// The plaintext bytes in one segment: 1 MiB.
///
/// Small enough that a 1-byte range read costs one segment of work, large
/// enough that per-segment overhead (a key, a hash, a manifest record of 64
/// bytes) stays under 0.01 % of the data.
pub const SEGMENT_SIZE: u64 = 1 << 20;

/// The number of segments of a blob of `size` bytes (0 for an empty blob).
pub fn segment_count(size: u64) -> u64 {
    size.div_ceil(SEGMENT_SIZE)
}

/// The plaintext byte span of segment `index` of a blob of `size` bytes.
///
/// `index` must be below [`segment_count`]; the span is empty otherwise.
pub fn segment_span(size: u64, index: u64) -> Range<u64> {
    let start = index.saturating_mul(SEGMENT_SIZE).min(size);
    let end = start.saturating_add(SEGMENT_SIZE).min(size);
    start..end
}

/// The segments that hold the bytes of `range` (empty for an empty range).
pub fn segments_for(range: &Range<u64>) -> Range<u64> {
    if range.start >= range.end {
        return 0..0;
    }
    (range.start / SEGMENT_SIZE)..range.end.div_ceil(SEGMENT_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_and_boundary_sizes() {
        assert_eq!(segment_count(0), 0);
        assert_eq!(segment_count(1), 1);
        assert_eq!(segment_count(SEGMENT_SIZE), 1);
        assert_eq!(segment_count(SEGMENT_SIZE + 1), 2);
        assert_eq!(
            segment_span(SEGMENT_SIZE + 1, 1),
            SEGMENT_SIZE..SEGMENT_SIZE + 1
        );
        assert_eq!(segments_for(&(5..5)), 0..0);
    }

    proptest! {
        #[test]
        fn spans_tile_the_blob_exactly(size in 0u64..(64 * SEGMENT_SIZE)) {
            let mut next = 0;
            for i in 0..segment_count(size) {
                let span = segment_span(size, i);
                prop_assert_eq!(span.start, next);
                prop_assert!(!span.is_empty());
                prop_assert!(span.end - span.start <= SEGMENT_SIZE);
                next = span.end;
            }
            prop_assert_eq!(next, size);
        }

        #[test]
        fn range_segments_cover_the_range_and_nothing_more(
            size in 1u64..(64 * SEGMENT_SIZE), a in any::<u64>(), b in any::<u64>()
        ) {
            let (lo, hi) = (a % size, b % size);
            let range = lo.min(hi)..lo.max(hi) + 1;
            let segs = segments_for(&range);
            let first = segment_span(size, segs.start);
            let last = segment_span(size, segs.end - 1);
            prop_assert!(first.contains(&range.start));
            prop_assert!(last.contains(&(range.end - 1)));
            prop_assert!(segs.end <= segment_count(size));
        }
    }
}
