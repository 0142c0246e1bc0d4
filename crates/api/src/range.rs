//! HTTP byte ranges (RFC 9110 §14): one range per request.
//!
//! `bytes=a-b`, `bytes=a-` and `bytes=-n` are served as 206. A range that
//! starts past the end is unsatisfiable (416). A last position at or past
//! the end is clamped to the end, and so is a suffix longer than the body,
//! however many digits either has (§14.1.2): a number too big for 64 bits
//! is still just "past the end", so `bytes=0-99999999999999999999` is the
//! whole body and `bytes=99999999999999999999-` is unsatisfiable. A header
//! in another unit, or asking for several ranges, is ignored and the whole
//! body is sent (200), as the RFC allows; a `bytes=` header that does not
//! parse (positions are digits only) is answered 416 so a client learns its
//! request was wrong.

use std::ops::Range;

/// What to send for a request's Range header.
#[derive(Debug, PartialEq, Eq)]
pub enum Wanted {
    /// The whole body (200).
    Whole,
    /// One part (206).
    Part(Range<u64>),
    /// Nothing can be sent (416).
    Unsatisfiable,
}

/// A position as written in a range: a number, or one past `u64::MAX`
/// (past the end of any body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    At(u64),
    Huge,
}

/// One or more ASCII digits as a [`Pos`]; anything else is `None`.
fn pos(s: &str) -> Option<Pos> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Digits only, so the parse fails only when the number overflows.
    Some(s.parse().map_or(Pos::Huge, Pos::At))
}

/// What a `Range` header asks of a body of `size` bytes (module doc).
pub fn parse(header: Option<&str>, size: u64) -> Wanted {
    let Some(spec) = header.map(str::trim).and_then(|h| h.strip_prefix("bytes=")) else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Wanted::Unsatisfiable;
    };
    let range = match (a.trim(), b.trim()) {
        ("", suffix) => pos(suffix).and_then(|n| suffix_range(n, size)),
        (first, "") => pos(first).and_then(|f| from_range(f, size)),
        (first, last) => pos(first)
            .zip(pos(last))
            .and_then(|(f, l)| closed_range(f, l, size)),
    };
    match range {
        Some(r) if r.start < size => Wanted::Part(r),
        _ => Wanted::Unsatisfiable,
    }
}

/// `bytes=-n`: the last `n` bytes, or all of them if the body is shorter.
fn suffix_range(n: Pos, size: u64) -> Option<Range<u64>> {
    match n {
        Pos::At(0) => None,
        Pos::At(n) => Some(size.saturating_sub(n)..size),
        Pos::Huge => Some(0..size),
    }
}

/// `bytes=a-`: from `a` to the end.
fn from_range(first: Pos, size: u64) -> Option<Range<u64>> {
    match first {
        Pos::At(first) => Some(first..size),
        Pos::Huge => None,
    }
}

/// `bytes=a-b`: `b` clamped to the end; a `b` before `a` is invalid.
fn closed_range(first: Pos, last: Pos, size: u64) -> Option<Range<u64>> {
    match (first, last) {
        (Pos::At(f), Pos::At(l)) if l >= f => Some(f..l.saturating_add(1).min(size)),
        (Pos::At(f), Pos::Huge) => Some(f..size),
        _ => None,
    }
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

    #[test]
    fn positions_too_big_for_64_bits_are_past_the_end() {
        let huge = "99999999999999999999";
        let max = u64::MAX;
        assert_eq!(
            parse(Some(&format!("bytes=0-{huge}")), 10),
            Wanted::Part(0..10)
        );
        assert_eq!(
            parse(Some(&format!("bytes=9-{huge}")), 10),
            Wanted::Part(9..10)
        );
        assert_eq!(
            parse(Some(&format!("bytes=0-{max}")), 10),
            Wanted::Part(0..10)
        );
        assert_eq!(
            parse(Some(&format!("bytes=-{huge}")), 10),
            Wanted::Part(0..10)
        );
        assert_eq!(
            parse(Some(&format!("bytes=-{max}")), 10),
            Wanted::Part(0..10)
        );
        assert_eq!(
            parse(Some(&format!("bytes={huge}-")), 10),
            Wanted::Unsatisfiable
        );
        assert_eq!(
            parse(Some(&format!("bytes={huge}-{huge}")), 10),
            Wanted::Unsatisfiable
        );
        assert_eq!(
            parse(Some(&format!("bytes={huge}-5")), 10),
            Wanted::Unsatisfiable
        );
        assert_eq!(
            parse(Some(&format!("bytes={max}-")), max),
            Wanted::Unsatisfiable
        );
        assert_eq!(
            parse(Some(&format!("bytes={}-{huge}", max - 1)), max),
            Wanted::Part(max - 1..max)
        );
        assert_eq!(
            parse(Some(&format!("bytes=10-{huge}")), 10),
            Wanted::Unsatisfiable
        );
    }

    #[test]
    fn positions_are_digits_only() {
        for bad in [
            "bytes=+1-2",
            "bytes=1-+2",
            "bytes=-+2",
            "bytes=1x-2",
            "bytes=0x1-2",
            "bytes=1-2-3",
        ] {
            assert_eq!(parse(Some(bad), 10), Wanted::Unsatisfiable, "{bad}");
        }
    }

    /// RFC 9110 §14.1.2 read literally, on numbers as wide as the digits
    /// (u128 holds up to 38), with no shortcut the parser could share.
    fn model(first: &str, last: &str, size: u64) -> Wanted {
        let num = |s: &str| s.parse::<u128>().ok();
        let size = u128::from(size);
        let part = |start: u128, end: u128| {
            Wanted::Part(u64::try_from(start).unwrap()..u64::try_from(end).unwrap())
        };
        match (num(first), num(last)) {
            (None, Some(0)) => Wanted::Unsatisfiable,
            (None, Some(n)) if size > 0 => part(size.saturating_sub(n), size),
            (Some(f), None) if f < size => part(f, size),
            (Some(f), Some(l)) if l >= f && f < size => part(f, (l + 1).min(size)),
            _ => Wanted::Unsatisfiable,
        }
    }

    proptest! {
        #[test]
        fn a_served_range_always_lies_within_the_body(size in 0u64..1_000_000, h in "bytes=[0-9]{0,8}-[0-9]{0,8}") {
            if let Wanted::Part(r) = parse(Some(&h), size) {
                prop_assert!(r.start < r.end);
                prop_assert!(r.end <= size);
            }
        }

        #[test]
        fn the_parser_agrees_with_the_rfc_on_any_width(
            size in prop_oneof![0u64..100, Just(u64::MAX - 1), Just(u64::MAX), any::<u64>()],
            first in "[0-9]{0,25}",
            last in "[0-9]{0,25}",
        ) {
            let h = format!("bytes={first}-{last}");
            prop_assert_eq!(parse(Some(&h), size), model(&first, &last, size), "{}", h);
        }

        #[test]
        fn a_last_position_past_the_end_is_the_end(size in 1u64..u64::MAX, first in any::<u64>(), extra in "[0-9]{0,25}") {
            let first = first % size;
            let last = format!("{}{extra}", u64::MAX);
            let h = format!("bytes={first}-{last}");
            prop_assert_eq!(parse(Some(&h), size), Wanted::Part(first..size));
        }
    }
}
