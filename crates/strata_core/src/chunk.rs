//! Chunks: 32³ voxels, stored as one value when uniform and as a dense array otherwise.

use crate::coords::{CHUNK_VOLUME, LocalIndex, LocalPos};
use crate::material::MaterialId;

/// Default homogeneity threshold: a chunk whose dominant material fills at least this fraction
/// is "homogeneous" for LOD and meshing shortcuts.
pub const DEFAULT_HOMOGENEITY_THRESHOLD: f32 = 0.95;

/// A dense chunk: 32³ material ids, `x + 32·y + 1024·z` order, 64 KiB.
///
/// The array is boxed so a [`Chunk`] stays small; it is also the fixed buffer the codec decodes into.
#[derive(Clone, PartialEq, Eq)]
pub struct DenseChunk {
    voxels: Box<[u16; CHUNK_VOLUME]>,
}

impl std::fmt::Debug for DenseChunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = ChunkSummary::of_slice(self.as_slice());
        f.debug_struct("DenseChunk").field("summary", &s).finish()
    }
}

impl DenseChunk {
    /// A dense chunk filled with `material`.
    pub fn filled(material: MaterialId) -> Self {
        // `vec!` then `into_boxed_slice` avoids a 64 KiB array on the stack.
        let boxed: Box<[u16]> = vec![material.0; CHUNK_VOLUME].into_boxed_slice();
        let voxels: Box<[u16; CHUNK_VOLUME]> = match boxed.try_into() {
            Ok(v) => v,
            // Invariant: the vector was built with exactly CHUNK_VOLUME elements.
            Err(_) => unreachable!("vector has CHUNK_VOLUME elements"),
        };
        Self { voxels }
    }

    /// Builds a chunk by calling `f` for every local position (x fastest).
    pub fn from_fn(mut f: impl FnMut(LocalPos) -> MaterialId) -> Self {
        let mut c = Self::filled(MaterialId::AIR);
        for (i, v) in c.voxels.iter_mut().enumerate() {
            *v = f(LocalIndex::new(i as u16).pos()).0;
        }
        c
    }

    /// The material at `index`.
    #[inline]
    pub fn get(&self, index: LocalIndex) -> MaterialId {
        MaterialId(self.voxels[index.get()])
    }

    /// Sets the material at `index`.
    #[inline]
    pub fn set(&mut self, index: LocalIndex, material: MaterialId) {
        self.voxels[index.get()] = material.0;
    }

    /// The raw ids, `x + 32·y + 1024·z` order.
    #[inline]
    pub fn as_slice(&self) -> &[u16; CHUNK_VOLUME] {
        &self.voxels
    }

    /// The raw ids, mutable.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u16; CHUNK_VOLUME] {
        &mut self.voxels
    }

    /// If every voxel holds the same material, that material.
    ///
    /// # Runtime
    /// O(32³) worst case, returns at the first differing voxel.
    pub fn uniform_material(&self) -> Option<MaterialId> {
        let first = self.voxels[0];
        self.voxels.iter().all(|&v| v == first).then_some(MaterialId(first))
    }
}

/// One chunk of voxels.
///
/// Invariant kept by [`Chunk::normalize`] (the world calls it after every edit batch): a stored
/// chunk whose voxels are all equal is `Uniform`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// Every voxel holds this material: 2 bytes instead of 64 KiB.
    Uniform(MaterialId),
    /// Voxels vary.
    Dense(DenseChunk),
}

impl Default for Chunk {
    fn default() -> Self {
        Chunk::Uniform(MaterialId::AIR)
    }
}

impl Chunk {
    /// The material at `index`.
    #[inline]
    pub fn get(&self, index: LocalIndex) -> MaterialId {
        match self {
            Chunk::Uniform(m) => *m,
            Chunk::Dense(d) => d.get(index),
        }
    }

    /// Sets one voxel, turning a uniform chunk dense only when the value differs.
    #[inline]
    pub fn set(&mut self, index: LocalIndex, material: MaterialId) {
        match self {
            Chunk::Uniform(m) if *m == material => {}
            Chunk::Uniform(m) => {
                let mut d = DenseChunk::filled(*m);
                d.set(index, material);
                *self = Chunk::Dense(d);
            }
            Chunk::Dense(d) => d.set(index, material),
        }
    }

    /// The dense voxels, converting a uniform chunk first.
    pub fn make_dense(&mut self) -> &mut DenseChunk {
        if let Chunk::Uniform(m) = *self {
            *self = Chunk::Dense(DenseChunk::filled(m));
        }
        match self {
            Chunk::Dense(d) => d,
            // Invariant: converted just above.
            Chunk::Uniform(_) => unreachable!("converted to dense above"),
        }
    }

    /// Collapses a dense chunk whose voxels are all equal into `Uniform`. Returns whether it did.
    ///
    /// # Runtime
    /// O(32³) for dense chunks, O(1) for uniform ones.
    pub fn normalize(&mut self) -> bool {
        if let Chunk::Dense(d) = self
            && let Some(m) = d.uniform_material()
        {
            *self = Chunk::Uniform(m);
            return true;
        }
        false
    }

    /// `Some(material)` if the chunk is stored uniform.
    #[inline]
    pub fn as_uniform(&self) -> Option<MaterialId> {
        match self {
            Chunk::Uniform(m) => Some(*m),
            Chunk::Dense(_) => None,
        }
    }

    /// Bytes of voxel data held in memory (2 for uniform, 65536 for dense).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Chunk::Uniform(_) => 2,
            Chunk::Dense(_) => CHUNK_VOLUME * 2,
        }
    }

    /// Counts per material, dominant material and homogeneity, in one pass.
    pub fn summary(&self) -> ChunkSummary {
        match self {
            Chunk::Uniform(m) => ChunkSummary::uniform(*m),
            Chunk::Dense(d) => ChunkSummary::of_slice(d.as_slice()),
        }
    }
}

/// What a chunk holds, in a few numbers: the input to LOD, meshing skips and the indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChunkSummary {
    /// The most common material (ties go to the smaller id).
    pub dominant: MaterialId,
    /// How many voxels hold `dominant`.
    pub dominant_count: u32,
    /// How many distinct materials occur.
    pub distinct: u32,
    /// How many voxels are not air.
    pub non_air_count: u32,
}

impl ChunkSummary {
    /// The summary of a uniform chunk.
    pub const fn uniform(m: MaterialId) -> Self {
        Self {
            dominant: m,
            dominant_count: CHUNK_VOLUME as u32,
            distinct: 1,
            non_air_count: if m.is_air() { 0 } else { CHUNK_VOLUME as u32 },
        }
    }

    /// Summarises 32³ raw ids in one pass.
    ///
    /// # Runtime
    /// O(32³) plus O(r log r) for r runs of ids ≥ 256: runs of equal ids cost one counter update
    /// each, ids below 256 count in a table, other runs are sorted once and merged — linear-ish
    /// whatever the content (a chunk of 32,768 distinct ids is no longer quadratic).
    pub fn of_slice(voxels: &[u16; CHUNK_VOLUME]) -> Self {
        let mut small = [0u32; 256];
        let mut other: Vec<(u16, u32)> = Vec::new();
        let mut i = 0;
        while i < CHUNK_VOLUME {
            let v = voxels[i];
            let mut j = i + 1;
            while j < CHUNK_VOLUME && voxels[j] == v {
                j += 1;
            }
            let run = (j - i) as u32;
            match small.get_mut(usize::from(v)) {
                Some(c) => *c += run,
                None => other.push((v, run)),
            }
            i = j;
        }
        other.sort_unstable_by_key(|e| e.0);
        let (mut distinct, mut best) = (0u32, (0u16, 0u32));
        let mut consider = |m: u16, n: u32| {
            distinct += 1;
            // Ids arrive increasing: a strictly larger count wins, so ties keep the smaller id.
            if n > best.1 {
                best = (m, n);
            }
        };
        for (m, &n) in small.iter().enumerate().filter(|(_, n)| **n > 0) {
            consider(m as u16, n);
        }
        let mut k = 0;
        while k < other.len() {
            let m = other[k].0;
            let mut n = 0;
            while k < other.len() && other[k].0 == m {
                n += other[k].1;
                k += 1;
            }
            consider(m, n);
        }
        Self {
            dominant: MaterialId(best.0),
            dominant_count: best.1,
            distinct,
            non_air_count: CHUNK_VOLUME as u32 - small[0],
        }
    }

    /// Fraction of voxels holding the dominant material, in `0.0..=1.0`.
    pub fn homogeneity(&self) -> f32 {
        self.dominant_count as f32 / CHUNK_VOLUME as f32
    }

    /// Whether the dominant material fills at least `threshold` of the chunk.
    pub fn is_homogeneous(&self, threshold: f32) -> bool {
        self.homogeneity() >= threshold
    }

    /// Whether one material fills the whole chunk.
    pub fn is_uniform(&self) -> bool {
        self.distinct == 1
    }

    /// Whether the chunk is all air.
    pub fn is_empty(&self) -> bool {
        self.non_air_count == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn set_densifies_and_normalize_collapses() {
        let mut c = Chunk::Uniform(MaterialId(3));
        c.set(LocalIndex::new(5), MaterialId(3));
        assert!(c.as_uniform().is_some(), "same value keeps it uniform");
        c.set(LocalIndex::new(5), MaterialId(4));
        assert_eq!(c.get(LocalIndex::new(5)), MaterialId(4));
        assert_eq!(c.get(LocalIndex::new(6)), MaterialId(3));
        assert!(!c.normalize());
        c.set(LocalIndex::new(5), MaterialId(3));
        assert!(c.normalize());
        assert_eq!(c, Chunk::Uniform(MaterialId(3)));
    }

    /// Counted one voxel at a time into a map, the dominant picked by the documented rule.
    fn summary_by_hand(c: &Chunk) -> ChunkSummary {
        let mut counts: HashMap<u16, u32> = HashMap::new();
        for i in 0..CHUNK_VOLUME {
            *counts.entry(c.get(LocalIndex::new(i as u16)).0).or_default() += 1;
        }
        let (&dominant, &dominant_count) =
            counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).expect("a chunk has voxels");
        ChunkSummary {
            dominant: MaterialId(dominant),
            dominant_count,
            distinct: counts.len() as u32,
            non_air_count: CHUNK_VOLUME as u32 - counts.get(&0).copied().unwrap_or(0),
        }
    }

    /// A record can hold 32,768 distinct ids: counted exactly, in one sort instead
    /// of a search per voxel.
    #[test]
    fn a_chunk_of_32768_distinct_ids_summarises_exactly() {
        // Multiplying by an odd number is a bijection on u16: every voxel a different id.
        let mut d = DenseChunk::from_fn(|p| {
            MaterialId((u16::from(p.x) << 10 | u16::from(p.y) << 5 | u16::from(p.z)).wrapping_mul(40503))
        });
        let c = Chunk::Dense(d.clone());
        let s = c.summary();
        assert_eq!(s, summary_by_hand(&c));
        assert_eq!((s.distinct, s.dominant_count), (32768, 1));
        // Three voxels share one large id: it dominates.
        for i in [3u16, 900, 31000] {
            d.set(LocalIndex::new(i), MaterialId(60000));
        }
        let c = Chunk::Dense(d);
        assert_eq!(c.summary(), summary_by_hand(&c));
        assert_eq!(c.summary().dominant, MaterialId(60000));
    }

    #[test]
    fn uniform_summary() {
        let s = Chunk::Uniform(MaterialId::AIR).summary();
        assert!(s.is_empty() && s.is_uniform() && s.is_homogeneous(1.0));
        let s = Chunk::Uniform(MaterialId(1)).summary();
        assert_eq!(s.non_air_count, CHUNK_VOLUME as u32);
    }

    proptest! {
        #[test]
        fn summary_matches_brute_force(seed in proptest::collection::vec((0u16..4, 1usize..5000), 1..20)) {
            // Build a chunk from runs of random materials.
            let mut d = DenseChunk::filled(MaterialId::AIR);
            let mut i = 0;
            for (m, len) in seed.iter().cycle().take(200) {
                for _ in 0..*len {
                    if i >= CHUNK_VOLUME { break; }
                    d.as_mut_slice()[i] = *m;
                    i += 1;
                }
            }
            let s = ChunkSummary::of_slice(d.as_slice());
            let mut hist: HashMap<u16, u32> = HashMap::new();
            for &v in d.as_slice().iter() { *hist.entry(v).or_default() += 1; }
            let best = hist.iter().map(|(m, c)| (*c, std::cmp::Reverse(*m))).max().unwrap();
            prop_assert_eq!(s.dominant_count, best.0);
            prop_assert_eq!(s.dominant.0, best.1.0);
            prop_assert_eq!(s.distinct as usize, hist.len());
            prop_assert_eq!(s.non_air_count, CHUNK_VOLUME as u32 - hist.get(&0).copied().unwrap_or(0));
        }

        /// Ids anywhere in the u16 range (the table below 256 and the sorted runs above it),
        /// in runs and as noise.
        #[test]
        fn summary_matches_the_hand_count_for_any_ids(
            runs in proptest::collection::vec((any::<u16>(), 1usize..3000), 1..60),
            noise in proptest::collection::vec((0u16..32768, any::<u16>()), 0..300),
        ) {
            let mut d = DenseChunk::filled(MaterialId::AIR);
            let mut i = 0;
            for (m, len) in runs.iter().cycle().take(400) {
                for _ in 0..*len {
                    if i < CHUNK_VOLUME {
                        d.as_mut_slice()[i] = *m;
                        i += 1;
                    }
                }
            }
            for (at, m) in noise {
                d.set(LocalIndex::new(at), MaterialId(m));
            }
            let c = Chunk::Dense(d);
            prop_assert_eq!(c.summary(), summary_by_hand(&c));
        }
    }
}
