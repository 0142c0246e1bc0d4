//! HTTP byte ranges (RFC 9110 §14): one range per request.
//!
//! `bytes=a-b`, `bytes=a-` and `bytes=-n` are served as 206. A range that
//! starts past the end is unsatisfiable (416). A header in another unit, or
//! asking for several ranges, is ignored and the whole body is sent (200),
//! as the RFC allows; a `bytes=` header that does not parse is answered 416
//! so a client learns its request was wrong.

use std::ops::Range;

/// What to send for a request's Range header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// The whole body (200).
    Whole,
    /// One part (206).
    Part(Range<u64>),
    /// Nothing can be sent (416).
    Unsatisfiable,
}

pub(crate) fn parse(header: Option<&str>, size: u64) -> Wanted {
    let Some(spec) = header.map(str::trim).and_then(|h| h.strip_prefix("bytes=")) else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Wanted::Unsatisfiable;
    };
    let (a, b) = (a.trim(), b.trim());
    let number = |s: &str| s.parse::<u64>().ok();
    let range = match (a.is_empty(), b.is_empty()) {
        (true, false) => match number(b) {
            Some(0) | None => return Wanted::Unsatisfiable,
            Some(n) => size.saturating_sub(n)..size,
        },
        (false, _) => {
            let Some(start) = number(a) else {
                return Wanted::Unsatisfiable;
            };
            let end = if b.is_empty() {
                size
            } else {
                match number(b) {
                    Some(last) if last >= start => last.saturating_add(1).min(size),
                    _ => return Wanted::Unsatisfiable,
                }
            };
            start..end
        }
        (true, true) => return Wanted::Unsatisfiable,
    };
    if range.start >= size {
        return Wanted::Unsatisfiable;
    }
    Wanted::Part(range)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_three_forms_and_the_bad_ones() {
        assert_eq!(parse(None, 10), Wanted::Whole);
        assert_eq!(parse(Some("bytes=2-4"), 10), Wanted::Part(2..5));
        assert_eq!(parse(Some("bytes=2-"), 10), Wanted::Part(2..10));
        assert_eq!(parse(Some("bytes=-3"), 10), Wanted::Part(7..10));
        assert_eq!(parse(Some("bytes=-30"), 10), Wanted::Part(0..10));
        assert_eq!(parse(Some("bytes=5-100"), 10), Wanted::Part(5..10));
        assert_eq!(parse(Some("bytes=10-"), 10), Wanted::Unsatisfiable);
        assert_eq!(parse(Some("bytes=4-2"), 10), Wanted::Unsatisfiable);
        assert_eq!(parse(Some("bytes=x-2"), 10), Wanted::Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 10), Wanted::Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-"), 0), Wanted::Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-1,4-5"), 10), Wanted::Whole);
        assert_eq!(parse(Some("items=0-1"), 10), Wanted::Whole);
    }

    proptest! {
        #[test]
        fn a_served_range_always_lies_within_the_body(size in 0u64..1_000_000, h in "bytes=[0-9]{0,8}-[0-9]{0,8}") {
            if let Wanted::Part(r) = parse(Some(&h), size) {
                prop_assert!(r.start < r.end);
                prop_assert!(r.end <= size);
            }
        }
    }
}
