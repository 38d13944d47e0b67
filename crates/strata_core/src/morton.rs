//! Morton (Z-order) keys: the store's sort key, so spatially close chunks are close in key order.
//!
//! A chunk coordinate spans 27 bits (`i32 >> 5`). Each is offset by 2²⁶ to make it unsigned, then the
//! three are bit-interleaved: bit `i` of x, y, z lands at bits `3i`, `3i + 1`, `3i + 2`. Three
//! 27-bit axes need 81 bits, so the key is a `u128` (a `u64` would cut the world to ±2²⁵ voxels).
//!
//! Because the offset is applied before interleaving, key order is a Z-order curve over the whole
//! world, and every aligned cube of 2ᵏ chunks per side is one contiguous key range whose keys share
//! the prefix `key >> 3k` ([`MortonKey::region`]) — the basis of range scans and of sharding.

use crate::coords::{CHUNK_COORD_MIN, ChunkKey};
use serde::{Deserialize, Serialize};

const AXIS_BITS: u32 = 27;
/// Number of meaningful bits in a key (3 × 27).
pub const MORTON_BITS: u32 = 3 * AXIS_BITS;

/// A chunk's position on the Z-order curve. Total bijection with valid [`ChunkKey`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MortonKey(pub u128);

#[inline]
fn spread21(v: u64) -> u64 {
    // Spread the low 21 bits of v to every third bit.
    let mut x = v & 0x1f_ffff;
    x = (x | (x << 32)) & 0x001f_0000_0000_ffff;
    x = (x | (x << 16)) & 0x001f_0000_ff00_00ff;
    x = (x | (x << 8)) & 0x100f_00f0_0f00_f00f;
    x = (x | (x << 4)) & 0x10c3_0c30_c30c_30c3;
    x = (x | (x << 2)) & 0x1249_2492_4924_9249;
    x
}

#[inline]
fn compact21(v: u64) -> u64 {
    let mut x = v & 0x1249_2492_4924_9249;
    x = (x | (x >> 2)) & 0x10c3_0c30_c30c_30c3;
    x = (x | (x >> 4)) & 0x100f_00f0_0f00_f00f;
    x = (x | (x >> 8)) & 0x001f_0000_ff00_00ff;
    x = (x | (x >> 16)) & 0x001f_0000_0000_ffff;
    x = (x | (x >> 32)) & 0x1f_ffff;
    x
}

#[inline]
fn to_unsigned(v: i32) -> u64 {
    // Valid chunk coordinates are in [-2^26, 2^26); the result is in [0, 2^27).
    (v as i64 - CHUNK_COORD_MIN as i64) as u64 & ((1 << AXIS_BITS) - 1)
}

impl MortonKey {
    /// The key of a chunk. Coordinates outside the valid range are wrapped into it (only hand-made
    /// keys can be out of range; [`ChunkKey::is_valid`] tells).
    #[inline]
    pub fn from_chunk(key: ChunkKey) -> Self {
        let (x, y, z) = (to_unsigned(key.x), to_unsigned(key.y), to_unsigned(key.z));
        let lo = spread21(x) | (spread21(y) << 1) | (spread21(z) << 2);
        let hi = spread21(x >> 21) | (spread21(y >> 21) << 1) | (spread21(z >> 21) << 2);
        Self((lo as u128) | ((hi as u128) << 63))
    }

    /// The chunk this key addresses.
    #[inline]
    pub fn to_chunk(self) -> ChunkKey {
        let lo = (self.0 & ((1u128 << 63) - 1)) as u64;
        let hi = (self.0 >> 63) as u64;
        let axis = |shift: u32| -> i32 {
            let v = compact21(lo >> shift) | (compact21(hi >> shift) << 21);
            (v as i64 + CHUNK_COORD_MIN as i64) as i32
        };
        ChunkKey::new(axis(0), axis(1), axis(2))
    }

    /// The aligned region of 2^`level` chunks per side that contains this key: the key's prefix.
    #[inline]
    pub fn region(self, level: u32) -> u128 {
        if level >= AXIS_BITS { 0 } else { self.0 >> (3 * level) }
    }

    /// The inclusive key range covering the aligned region of 2^`level` chunks per side that
    /// contains `chunk`.
    pub fn region_range(chunk: ChunkKey, level: u32) -> std::ops::RangeInclusive<MortonKey> {
        let key = Self::from_chunk(chunk);
        if level >= AXIS_BITS {
            return MortonKey(0)..=MortonKey((1u128 << MORTON_BITS) - 1);
        }
        let low_bits = (1u128 << (3 * level)) - 1;
        MortonKey(key.0 & !low_bits)..=MortonKey(key.0 | low_bits)
    }
}

impl From<ChunkKey> for MortonKey {
    fn from(k: ChunkKey) -> Self {
        Self::from_chunk(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coords::CHUNK_COORD_MAX;
    use proptest::prelude::*;

    fn chunk_coord() -> impl Strategy<Value = i32> {
        CHUNK_COORD_MIN..=CHUNK_COORD_MAX
    }

    fn brute(key: ChunkKey) -> u128 {
        let mut out = 0u128;
        for (axis, v) in key.to_array().into_iter().enumerate() {
            let u = (v as i64 - CHUNK_COORD_MIN as i64) as u128;
            for bit in 0..AXIS_BITS {
                out |= ((u >> bit) & 1) << (3 * bit as usize + axis);
            }
        }
        out
    }

    #[test]
    fn extremes() {
        for v in [CHUNK_COORD_MIN, -1, 0, 1, CHUNK_COORD_MAX] {
            let k = ChunkKey::new(v, -v.saturating_add(1).max(CHUNK_COORD_MIN), v / 2);
            assert_eq!(MortonKey::from_chunk(k).to_chunk(), k);
            assert_eq!(MortonKey::from_chunk(k).0, brute(k));
        }
        assert_eq!(MortonKey::from_chunk(ChunkKey::new(CHUNK_COORD_MIN, CHUNK_COORD_MIN, CHUNK_COORD_MIN)).0, 0);
        let max = ChunkKey::new(CHUNK_COORD_MAX, CHUNK_COORD_MAX, CHUNK_COORD_MAX);
        assert_eq!(MortonKey::from_chunk(max).0, (1u128 << MORTON_BITS) - 1);
    }

    #[test]
    fn regions_are_contiguous() {
        let range = MortonKey::region_range(ChunkKey::new(-3, 5, 2), 2);
        let mut inside = 0;
        for x in -8..8 {
            for y in 0..8 {
                for z in 0..8 {
                    let c = ChunkKey::new(x, y, z);
                    let same = (x >> 2, y >> 2, z >> 2) == (-1, 1, 0);
                    assert_eq!(range.contains(&c.morton()), same, "{c:?}");
                    inside += same as usize;
                }
            }
        }
        assert_eq!(inside, 64);
    }

    proptest! {
        #[test]
        fn round_trip_matches_brute_force(x in chunk_coord(), y in chunk_coord(), z in chunk_coord()) {
            let k = ChunkKey::new(x, y, z);
            let m = MortonKey::from_chunk(k);
            prop_assert_eq!(m.0, brute(k));
            prop_assert_eq!(m.to_chunk(), k);
        }

        #[test]
        fn region_prefix_matches_aligned_cube(x in chunk_coord(), y in chunk_coord(), z in chunk_coord(), level in 0u32..27) {
            let k = ChunkKey::new(x, y, z);
            let r = MortonKey::region_range(k, level);
            prop_assert!(r.contains(&k.morton()));
            prop_assert_eq!(r.start().region(level), k.morton().region(level));
            prop_assert_eq!(r.end().region(level), k.morton().region(level));
        }
    }
}
