//! The syntax of `Nats-Trace-Hop` values: each server numbers the servers it forwards to
//! `1`, `2`, … and prefixes its own hop, so hops read `1`, `1.2`, `1.2.1`. This module knows
//! a hop's parent, the numeric order of hops, and how to hash them for the stitcher's tables.

use std::cmp::Ordering;
use std::hash::{BuildHasher, Hasher};

use compact_str::CompactString;

/// The parent hop of `hop`: `"1.2"` → `"1"`, `"1"` → `""` (the origin).
pub fn parent_hop(hop: &str) -> &str {
    match hop.rfind('.') {
        Some(pos) => &hop[..pos],
        None => "",
    }
}

/// Orders hops numerically per dotted component: `1.2` < `1.10` < `2`.
pub fn compare_hops(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = compare_component(x, y);
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

fn compare_component(x: &str, y: &str) -> Ordering {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match (numeric(x), numeric(y)) {
        (true, true) => {
            let x = x.trim_start_matches('0');
            let y = y.trim_start_matches('0');
            x.len().cmp(&y.len()).then_with(|| x.cmp(y))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => x.cmp(y),
    }
}

/// A table keyed by hop, hashed with [`HopHashing`].
pub type HopMap<V> = std::collections::HashMap<CompactString, V, HopHashing>;

/// Hashes hops so that siblings (`1.7`, `1.8`, `1.9`, …) land in neighbouring buckets.
///
/// Servers number the hops they forward to one after the other, and their traces tend to
/// arrive in that order, so with a hash that scatters them every arrival on a large
/// fan-out is a cache miss in a table far bigger than the caches. Here the parent part is
/// hashed with foldhash (seeded per process) and the numeric last component is added to
/// it: the bucket index (the low bits) follows the sibling number, while the top seven bits,
/// which hashbrown compares before the keys, still come from a mix of the number. A hop
/// whose last component is not a plain number (digits, no leading zero, below
/// [`MAX_SIBLING`]) is hashed whole with foldhash, so hops that differ only in padding do not
/// share a hash and crafted numbers cannot crowd one bucket.
#[derive(Debug, Clone, Default)]
pub struct HopHashing {
    seed: foldhash::fast::RandomState,
}

impl BuildHasher for HopHashing {
    type Hasher = HopHasher;

    fn build_hasher(&self) -> HopHasher {
        HopHasher {
            seed: self.seed.clone(),
            hash: 0,
        }
    }
}

/// The hasher of [`HopHashing`]; meant for one `str` (a hop) per hash.
#[derive(Debug, Clone)]
pub struct HopHasher {
    seed: foldhash::fast::RandomState,
    hash: u64,
}

/// Sibling numbers below this take the neighbouring-buckets path; others are hashed whole.
/// Numbers that agree modulo the table's size share a bucket, so a crafted set of hops
/// could otherwise fill one bucket chain and make the table quadratic; below this bound, a
/// table of *n* entries can only get about `MAX_SIBLING / n` of them into one bucket, a
/// bounded amount of extra work in all. Servers number siblings from 1 up to the number of
/// connections they forward to, far below it.
const MAX_SIBLING: u64 = 1 << 20;

/// The bits hashbrown uses as a tag, compared before any key.
const TAG_BITS: u64 = 0xfe00_0000_0000_0000;

impl Hasher for HopHasher {
    fn write(&mut self, bytes: &[u8]) {
        let (parent, last) = match bytes.iter().rposition(|b| *b == b'.') {
            Some(dot) => (&bytes[..dot], &bytes[dot + 1..]),
            None => (&bytes[..0], bytes),
        };
        // Only plain numbers below MAX_SIBLING: `01` and `1` must not share a hash, and the
        // bound keeps crafted hops from piling up in one bucket (see MAX_SIBLING).
        let plain = !last.is_empty()
            && last.len() <= 7
            && last.iter().all(u8::is_ascii_digit)
            && (last[0] != b'0' || last.len() == 1);
        let number = plain
            .then(|| last.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
            .filter(|n| *n < MAX_SIBLING);
        self.hash = match number {
            Some(number) => {
                let base = self.seed.hash_one(parent);
                let tag = number.wrapping_mul(0x9e37_79b9_7f4a_7c15) & TAG_BITS;
                (base.wrapping_add(number) & !TAG_BITS) | tag
            }
            None => self.seed.hash_one(bytes),
        };
    }

    /// `str` hashing ends with a 0xff byte, which adds nothing to a hop's hash.
    fn write_u8(&mut self, _: u8) {}

    /// A length, should `str` hashing ever add one (the bytes already say it): ignored, so
    /// that it cannot replace the hop's hash. Only speed rests on how the standard library
    /// feeds a `str` and on hashbrown's tag bits, never correctness (equal hops always hash
    /// equally); `siblings_hash_next_to_each_other_with_different_tags` fails if either
    /// changes.
    fn write_usize(&mut self, _: usize) {}

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_hash_next_to_each_other_with_different_tags() {
        let hashing = HopHashing::default();
        let hash = |hop: &str| hashing.hash_one(CompactString::from(hop));
        assert_eq!(hash("1.2.8").wrapping_sub(hash("1.2.7")) & !TAG_BITS, 1);
        assert_ne!(hash("1.2.8") & TAG_BITS, hash("1.2.7") & TAG_BITS);
        assert_eq!(
            hash("41") & !TAG_BITS,
            hash("40").wrapping_add(1) & !TAG_BITS
        );
        // Equal hops hash equally, whatever their shape.
        for hop in [
            "",
            "1",
            "1.x",
            "1048576",
            "1.2.3",
            "007",
            "99999999999999999999",
            "é.1",
        ] {
            assert_eq!(hash(hop), hash(hop));
        }
        let mut map: HopMap<usize> = HopMap::default();
        for (i, hop) in [
            "1",
            "01",
            "1.1",
            "1.01",
            "a",
            "1.a",
            "",
            "18446744073709551616",
        ]
        .iter()
        .enumerate()
        {
            map.insert(CompactString::from(*hop), i);
        }
        assert_eq!(map.len(), 8);
        assert_eq!(map.get("1.01"), Some(&3));
        assert_eq!(map.get("01"), Some(&1));
    }

    #[test]
    fn zero_padded_siblings_do_not_share_a_hash() {
        let hashing = HopHashing::default();
        let hashes: std::collections::HashSet<u64> = (1..=64)
            .map(|width| hashing.hash_one(CompactString::from(format!("1.{:0width$}", 7))))
            .collect();
        // `1.7`, `1.07`, `1.007`, …: only the first takes the numeric path.
        assert_eq!(hashes.len(), 64);
    }

    #[test]
    fn siblings_that_agree_modulo_a_table_size_spread_out() {
        // 4,096 hops whose numbers agree modulo 2^17 would share a bucket of a 2^17-bucket
        // table on the neighbouring path; past MAX_SIBLING they are hashed whole.
        let hashing = HopHashing::default();
        let buckets: std::collections::HashSet<u64> = (0..4096u64)
            .map(|i| hashing.hash_one(CompactString::from(format!("1.{}", 5 + (i << 17)))))
            .map(|h| h & ((1 << 17) - 1))
            .collect();
        assert!(buckets.len() > 3900, "{} buckets", buckets.len());
    }

    #[test]
    fn parents_and_order() {
        assert_eq!(parent_hop("1.2.3"), "1.2");
        assert_eq!(parent_hop("1"), "");
        assert_eq!(compare_hops("1.2", "1.10"), Ordering::Less);
        assert_eq!(compare_hops("2", "1.10"), Ordering::Greater);
    }
}
