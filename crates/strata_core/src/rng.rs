//! [`SplitMix64`]: a tiny deterministic random generator for tests, benchmarks and tools — the
//! same sequence for a seed on every platform and build, with no dependency. Not for anything
//! that must be unpredictable.

/// `SplitMix64` (Steele, Lea and Flood): each call adds a constant to the state and mixes it.
/// The state is the public field, so `SplitMix64(seed)` starts a sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// A generator seeded with `seed` (the same as `SplitMix64(seed)`).
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (0 when `n` is 0), by multiply-shift: no division, and a bias below
    /// `n / 2⁶⁴`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: i32, hi: i32) -> i32 {
        let span = (i64::from(hi) - i64::from(lo)).max(0) as u64;
        (i64::from(lo) + self.below(span) as i64) as i32
    }

    /// A value in `lo..=hi` (`lo` when `hi < lo`); any `i32` bounds.
    pub fn range_inclusive(&mut self, lo: i32, hi: i32) -> i32 {
        let span = (i64::from(hi) - i64::from(lo) + 1).max(0) as u64;
        (i64::from(lo) + self.below(span) as i64) as i32
    }

    /// A value in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_sequence_and_ranges() {
        // The first outputs for seed 0 published with the algorithm.
        let mut r = SplitMix64(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        let mut r = SplitMix64(7);
        for _ in 0..1000 {
            assert!((-3..5).contains(&r.range(-3, 5)));
            assert!((0.0..1.0).contains(&r.unit()));
            assert!(r.below(10) < 10);
        }
        assert_eq!(r.below(0), 0);
        assert_eq!(r.range(4, 4), 4);
        let (mut lo, mut hi) = (false, false);
        for _ in 0..1000 {
            let v = r.range_inclusive(i32::MAX - 1, i32::MAX);
            (lo, hi) = (lo || v == i32::MAX - 1, hi || v == i32::MAX);
        }
        assert!(lo && hi, "both ends of an inclusive range come up");
        assert_eq!(r.range_inclusive(i32::MIN, i32::MIN), i32::MIN);
    }
}
