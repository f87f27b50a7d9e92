//! Sequence sets (RFC 9051 §9 `sequence-set`): `1:4,7,9:*`. The same
//! syntax names message sequence numbers or UIDs; `*` is the largest in
//! use, and `n:m` is the same as `m:n`.

/// One number of a set: a number, or `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNumber {
    Value(u32),
    Largest,
}

impl SeqNumber {
    fn resolve(self, largest: u32) -> u32 {
        match self {
            SeqNumber::Value(v) => v,
            SeqNumber::Largest => largest,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSet(pub Vec<(SeqNumber, SeqNumber)>);

/// At most this many ranges in one set: a set of a million single
/// numbers would be 7 MB of command, past the line limit anyway.
pub const MAX_RANGES: usize = 100_000;

impl SequenceSet {
    /// Parses `sequence-set`; `None` if it is not one.
    pub fn parse(s: &str) -> Option<SequenceSet> {
        let number = |p: &str| -> Option<SeqNumber> {
            if p == "*" {
                return Some(SeqNumber::Largest);
            }
            // nz-number: no leading zero, no sign, fits in 32 bits.
            if p.is_empty() || p.starts_with('0') || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse::<u32>().ok().map(SeqNumber::Value)
        };
        let mut ranges = Vec::new();
        for part in s.split(',') {
            if ranges.len() >= MAX_RANGES {
                return None;
            }
            let range = match part.split_once(':') {
                Some((a, b)) => (number(a)?, number(b)?),
                None => {
                    let n = number(part)?;
                    (n, n)
                }
            };
            ranges.push(range);
        }
        Some(SequenceSet(ranges))
    }

    /// The ranges as inclusive `(low, high)` with `*` read as `largest`.
    pub fn ranges(&self, largest: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.0.iter().map(move |(a, b)| {
            let (a, b) = (a.resolve(largest), b.resolve(largest));
            (a.min(b), a.max(b))
        })
    }

    /// Whether `n` is in the set.
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        self.ranges(largest).any(|(lo, hi)| (lo..=hi).contains(&n))
    }

    /// The members of `sorted` (ascending, no repeats) that are in the set,
    /// in order: what a command over message numbers or UIDs acts on. The
    /// work is bounded by the folder's size, never by the numbers written.
    pub fn pick(&self, sorted: &[u32], largest: u32) -> Vec<u32> {
        let mut ranges: Vec<(u32, u32)> = self.ranges(largest).collect();
        ranges.sort_unstable();
        let mut out = Vec::new();
        let mut r = ranges.iter().peekable();
        for &n in sorted {
            while r.peek().is_some_and(|(_, hi)| *hi < n) {
                r.next();
            }
            match r.peek() {
                Some((lo, _)) if *lo <= n => out.push(n),
                Some(_) => {}
                None => break,
            }
        }
        out
    }

    /// Writes a set of ascending numbers compactly (`1:3,7`), as UIDPLUS
    /// and ESEARCH answers want.
    pub fn compact(sorted: &[u32]) -> String {
        let mut out = String::new();
        let mut i = 0;
        while i < sorted.len() {
            let start = sorted[i];
            let mut end = start;
            while i + 1 < sorted.len() && sorted[i + 1] == end.wrapping_add(1) {
                i += 1;
                end = sorted[i];
            }
            if !out.is_empty() {
                out.push(',');
            }
            if start == end {
                out.push_str(&start.to_string());
            } else {
                out.push_str(&format!("{start}:{end}"));
            }
            i += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_picks() {
        let s = SequenceSet::parse("2:4,9,7:*").unwrap();
        let have = [1, 2, 3, 5, 7, 8, 10, 12];
        assert_eq!(s.pick(&have, 12), [2, 3, 7, 8, 10, 12]);
        // n:m is m:n (RFC 9051 §9).
        assert_eq!(SequenceSet::parse("4:2").unwrap().pick(&have, 12), [2, 3]);
        // "*" on an empty folder is 0, matching nothing.
        assert!(SequenceSet::parse("*").unwrap().pick(&[], 0).is_empty());
        for bad in [
            "",
            "0",
            "1:",
            ":2",
            "1,,2",
            "01",
            "-1",
            "1:2:3",
            "4294967296",
            "a",
        ] {
            assert_eq!(SequenceSet::parse(bad), None, "{bad:?}");
        }
        assert_eq!(SequenceSet::compact(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
    }

    proptest! {
        #[test]
        fn pick_agrees_with_contains(
            set in "[1-9][0-9]{0,2}(:([1-9][0-9]{0,2}|\\*))?(,[1-9][0-9]{0,2}(:[1-9][0-9]{0,2})?){0,4}",
            mut have in proptest::collection::vec(1u32..1200, 0..60),
        ) {
            have.sort_unstable();
            have.dedup();
            let s = SequenceSet::parse(&set).unwrap();
            let largest = have.last().copied().unwrap_or(0);
            let picked = s.pick(&have, largest);
            let expected: Vec<u32> = have.iter().copied().filter(|n| s.contains(*n, largest)).collect();
            prop_assert_eq!(picked, expected);
        }

        #[test]
        fn compact_round_trips(mut have in proptest::collection::vec(1u32..500, 1..60)) {
            have.sort_unstable();
            have.dedup();
            let s = SequenceSet::parse(&SequenceSet::compact(&have)).unwrap();
            prop_assert_eq!(s.pick(&have, *have.last().unwrap()), have.clone());
        }
    }
}
