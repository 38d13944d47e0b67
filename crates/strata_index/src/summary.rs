//! Summaries of chunks and octree nodes: material histograms and what follows from them.

use strata_core::{CHUNK_SIZE, CHUNK_VOLUME, Chunk, ChunkSummary, MaterialId, ProcessHistory};

const _: () = assert!(CHUNK_SIZE == 32, "run starts of a row are a u32 bit mask");

/// Material ids below this are counted in a table by [`Histogram::of_chunk`].
const SMALL_IDS: usize = 64;

/// Exact material counts over a region, sorted by material id.
///
/// Invariant: entries are sorted by id, ids are unique and every count is `> 0`. A single
/// entry (a uniform chunk or region, the common case) is stored inline, without allocating.
#[derive(Clone, Debug, Default)]
pub struct Histogram {
    counts: Counts,
}

#[derive(Clone, Debug)]
enum Counts {
    One((MaterialId, u64)),
    Many(Vec<(MaterialId, u64)>),
}

impl Default for Counts {
    fn default() -> Self {
        Counts::Many(Vec::new())
    }
}

/// Counts being gathered for a dense chunk: small ids in a table (no search, predictable),
/// runs of other ids listed and sorted and merged once at the end: O(r log r) for r such runs,
/// whatever the content (32,768 distinct ids included).
struct Tally {
    small: [u64; SMALL_IDS],
    other: Vec<(MaterialId, u64)>,
}

impl Tally {
    fn new() -> Self {
        Self { small: [0; SMALL_IDS], other: Vec::new() }
    }

    #[inline(always)]
    fn add(&mut self, m: u16, n: u64) {
        match self.small.get_mut(usize::from(m)) {
            Some(c) => *c += n,
            None => self.other.push((MaterialId(m), n)),
        }
    }

    /// The histogram, every count multiplied by `weight`.
    fn finish(mut self, weight: u64) -> Histogram {
        self.other.sort_unstable_by_key(|e| e.0);
        self.other.dedup_by(|later, first| {
            let same = later.0 == first.0;
            if same {
                first.1 += later.1;
            }
            same
        });
        let small = self.small.iter().enumerate().map(|(m, n)| (MaterialId(m as u16), *n));
        let counts: Vec<(MaterialId, u64)> =
            small.chain(self.other).filter(|e| e.1 > 0).map(|(m, n)| (m, n * weight)).collect();
        match counts[..] {
            [e] => Histogram { counts: Counts::One(e) },
            _ => Histogram { counts: Counts::Many(counts) },
        }
    }
}

impl PartialEq for Histogram {
    fn eq(&self, o: &Self) -> bool {
        self.entries() == o.entries()
    }
}

impl Eq for Histogram {}

impl std::hash::Hash for Histogram {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.entries().hash(h);
    }
}

impl Histogram {
    /// An empty histogram.
    pub const fn new() -> Self {
        Self { counts: Counts::Many(Vec::new()) }
    }

    /// Bytes of the heap list (0 for one material, held inline).
    pub fn heap_bytes(&self) -> usize {
        match &self.counts {
            Counts::One(_) => 0,
            Counts::Many(v) => v.capacity() * size_of::<(MaterialId, u64)>(),
        }
    }

    /// The counts `entries`, which must have ids strictly increasing and counts > 0 (as a
    /// decoded stored summary guarantees).
    pub(crate) fn from_sorted(entries: impl IntoIterator<Item = (MaterialId, u64)>) -> Self {
        let v: Vec<(MaterialId, u64)> = entries.into_iter().collect();
        debug_assert!(v.windows(2).all(|w| w[0].0 < w[1].0) && v.iter().all(|e| e.1 > 0));
        match v[..] {
            [e] => Self { counts: Counts::One(e) },
            _ => Self { counts: Counts::Many(v) },
        }
    }

    /// One material filling `count` cells.
    pub fn uniform(m: MaterialId, count: u64) -> Self {
        if count == 0 {
            return Self::new();
        }
        Self { counts: Counts::One((m, count)) }
    }

    fn entries(&self) -> &[(MaterialId, u64)] {
        match &self.counts {
            Counts::One(e) => std::slice::from_ref(e),
            Counts::Many(v) => v,
        }
    }

    fn entries_mut(&mut self) -> &mut Vec<(MaterialId, u64)> {
        if let Counts::One(e) = self.counts {
            self.counts = Counts::Many(vec![e]);
        }
        match &mut self.counts {
            Counts::Many(v) => v,
            // Invariant: converted just above.
            Counts::One(_) => unreachable!("histogram made a list above"),
        }
    }

    /// The counts of a chunk's voxels, each weighted by `weight` (the voxels one cell stands
    /// for: 1 for a chunk, (2ᵏ)³ for a level-`k` grid).
    ///
    /// # Runtime
    /// O(1) for uniform chunks, O(32³) for dense ones: the voxels are counted as runs of equal
    /// ids in memory order. A row of 32 that continues the current run is one whole-row compare
    /// (vectorized); any other row costs one branch-free pass that marks where runs start, then
    /// one update per run.
    pub fn of_chunk(chunk: &Chunk, weight: u64) -> Self {
        match chunk {
            Chunk::Uniform(m) => Self::uniform(*m, CHUNK_VOLUME as u64 * weight),
            Chunk::Dense(d) => {
                let mut tally = Tally::new();
                let (rows, rest) = d.as_slice().as_chunks::<CHUNK_SIZE>();
                debug_assert!(rest.is_empty());
                let (mut run_m, mut run_n) = (rows[0][0], 0u64);
                for row in rows {
                    // A row that continues the current run: OR of every voxel XOR the run's
                    // material is 0 (no early exit, no memcmp call: vector instructions).
                    if row.iter().fold(0, |acc, &v| acc | (v ^ run_m)) == 0 {
                        run_n += CHUNK_SIZE as u64;
                        continue;
                    }
                    // Bit i: a new run starts at voxel i of the row (branch-free, vectorizes).
                    let mut starts = u32::from(row[0] != run_m);
                    for i in 1..CHUNK_SIZE {
                        starts |= u32::from(row[i] != row[i - 1]) << i;
                    }
                    let mut from = 0u32;
                    while starts != 0 {
                        let i = starts.trailing_zeros();
                        tally.add(run_m, run_n + u64::from(i - from));
                        (run_m, run_n, from) = (row[i as usize], 0, i);
                        starts &= starts - 1;
                    }
                    run_n += u64::from(CHUNK_SIZE as u32 - from);
                }
                tally.add(run_m, run_n);
                tally.finish(weight)
            }
        }
    }

    /// [`Histogram::of_chunk`] (weight 1) and the chunk's
    /// [chunk cell](strata_core::downsample::chunk_cell_of) with up `up`, from one read of its
    /// voxels ([`chunk_cell_counting`](strata_core::downsample::chunk_cell_counting)): what a
    /// full rebuild needs of each edited chunk.
    ///
    /// # Runtime
    /// O(1) for uniform chunks; for dense ones one pass over the voxels (slabs of one material
    /// at once, the rule in lock-step elsewhere) plus one count per run.
    pub fn of_chunk_and_cell(chunk: &Chunk, up: strata_core::Up) -> (Self, MaterialId) {
        if let Chunk::Uniform(m) = chunk {
            return (Self::uniform(*m, CHUNK_VOLUME as u64), *m);
        }
        let mut tally = Tally::new();
        let cell = strata_core::downsample::chunk_cell_counting(chunk, up, |m, n| tally.add(m, u64::from(n)));
        (tally.finish(1), cell)
    }

    /// Adds `n` cells of `m`.
    pub fn add(&mut self, m: MaterialId, n: u64) {
        if n == 0 {
            return;
        }
        match &mut self.counts {
            Counts::One(e) if e.0 == m => e.1 += n,
            Counts::Many(v) if v.is_empty() => self.counts = Counts::One((m, n)),
            _ => {
                let v = self.entries_mut();
                match v.binary_search_by_key(&m, |e| e.0) {
                    Ok(i) => v[i].1 += n,
                    Err(i) => v.insert(i, (m, n)),
                }
            }
        }
    }

    /// Removes `n` cells of `m` (saturating; an entry that reaches zero is dropped).
    pub fn sub(&mut self, m: MaterialId, n: u64) {
        match &mut self.counts {
            Counts::One(e) if e.0 == m => {
                e.1 = e.1.saturating_sub(n);
                if e.1 == 0 {
                    self.counts = Counts::Many(Vec::new());
                }
            }
            Counts::One(_) => {}
            Counts::Many(v) => {
                if let Ok(i) = v.binary_search_by_key(&m, |e| e.0) {
                    let c = &mut v[i].1;
                    *c = c.saturating_sub(n);
                    if *c == 0 {
                        v.remove(i);
                    }
                }
            }
        }
    }

    /// Adds every count of `other`.
    ///
    /// # Runtime
    /// O(|self| + |other|): one pass over both sorted lists (one binary search when `other`
    /// holds a single material).
    pub fn merge(&mut self, other: &Histogram) {
        self.combine(other, |a, b| a + b);
    }

    /// Removes every count of `other` (saturating; entries that reach zero are dropped).
    ///
    /// # Runtime
    /// As [`Histogram::merge`].
    pub fn unmerge(&mut self, other: &Histogram) {
        self.combine(other, u64::saturating_sub);
    }

    /// `self[m] = f(self[m], other[m])` for every material of `other`, as one merge of the two
    /// sorted lists; zero counts are dropped.
    fn combine(&mut self, other: &Histogram, f: impl Fn(u64, u64) -> u64) {
        let theirs = other.entries();
        if let [(m, n)] = theirs {
            // The common case (a uniform chunk, a one-material node): no new list.
            let have = self.entries().binary_search_by_key(m, |e| e.0).map_or(0, |i| self.entries()[i].1);
            let want = f(have, *n);
            if want >= have {
                self.add(*m, want - have);
            } else {
                self.sub(*m, have - want);
            }
            return;
        }
        let ours = self.entries();
        let mut out = Vec::with_capacity(ours.len() + theirs.len());
        let (mut i, mut j) = (0, 0);
        while i < ours.len() || j < theirs.len() {
            let e = match (ours.get(i), theirs.get(j)) {
                (Some(a), Some(b)) if a.0 == b.0 => {
                    (i, j) = (i + 1, j + 1);
                    (a.0, f(a.1, b.1))
                }
                (Some(a), Some(b)) if a.0 < b.0 => {
                    i += 1;
                    *a
                }
                (Some(a), None) => {
                    i += 1;
                    *a
                }
                (_, Some(b)) => {
                    j += 1;
                    (b.0, f(0, b.1))
                }
                (None, None) => break,
            };
            if e.1 > 0 {
                out.push(e);
            }
        }
        self.counts = match out[..] {
            [e] => Counts::One(e),
            _ => Counts::Many(out),
        };
    }

    /// The entries, sorted by id.
    pub fn iter(&self) -> impl Iterator<Item = (MaterialId, u64)> + '_ {
        self.entries().iter().copied()
    }

    /// Total cells counted.
    pub fn total(&self) -> u64 {
        self.entries().iter().map(|e| e.1).sum()
    }

    /// The most common material and its count (ties go to the smaller id); air if empty.
    pub fn dominant(&self) -> (MaterialId, u64) {
        let mut best = (MaterialId::AIR, 0);
        for &(m, n) in self.entries() {
            if n > best.1 {
                best = (m, n);
            }
        }
        best
    }

    /// Cells that are not air.
    pub fn non_air(&self) -> u64 {
        self.entries().iter().filter(|e| !e.0.is_air()).map(|e| e.1).sum()
    }

    /// Number of distinct materials.
    pub fn distinct(&self) -> u32 {
        self.entries().len() as u32
    }
}

/// Whether a region is empty, full or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Occupancy {
    /// Every voxel is air.
    Empty,
    /// No voxel is air.
    Solid,
    /// Some air, some not.
    Mixed,
}

/// Where a node's summary and LOD grid come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataSource {
    /// Every chunk below is known to the index (loaded, edited or bulk-loaded): counts are exact
    /// and the LOD grid is downsampled from the chunks.
    Exact,
    /// Nothing below is known: summary and LOD grid come from
    /// [`WorldGenerator::sample_lod`](strata_core::WorldGenerator::sample_lod) at this level
    /// (generator cells, [`strata_core::generator::lod_cell`]; counts are those cells weighted by
    /// the cell volume).
    Generated,
    /// Some children are exact, some generated; each part follows its own rule.
    Mixed,
}

/// What an octree node holds, in a few numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeSummary {
    /// Octree level (0 = one chunk).
    pub level: u32,
    /// The most common material (ties go to the smaller id).
    pub dominant: MaterialId,
    /// Voxels holding `dominant`.
    pub dominant_count: u64,
    /// Voxels in the node: 32³ · 8^level.
    pub volume: u64,
    /// Distinct materials.
    pub distinct: u32,
    /// Voxels that are not air.
    pub non_air_count: u64,
    /// Largest world version of any chunk below (0 for never-edited data).
    pub version: u64,
    /// Where the numbers come from.
    pub source: DataSource,
    /// The processes (erosion, deposition…) that changed any chunk below, with the latest step
    /// of each (the union of the chunks' [`ProcessHistory`]).
    pub history: ProcessHistory,
}

impl NodeSummary {
    /// Builds the summary of a histogram covering a level-`level` node.
    pub fn from_histogram(level: u32, hist: &Histogram, version: u64, source: DataSource) -> Self {
        let (dominant, dominant_count) = hist.dominant();
        Self {
            level,
            dominant,
            dominant_count,
            volume: node_volume(level),
            distinct: hist.distinct(),
            non_air_count: hist.non_air(),
            version,
            source,
            history: ProcessHistory::EMPTY,
        }
    }

    /// Fraction of voxels holding the dominant material, in `0.0..=1.0`.
    pub fn homogeneity(&self) -> f64 {
        self.dominant_count as f64 / self.volume as f64
    }

    /// Whether the dominant material fills at least `threshold` of the node.
    pub fn is_homogeneous(&self, threshold: f32) -> bool {
        self.homogeneity() >= threshold as f64
    }

    /// Whether one material fills the whole node.
    pub fn is_uniform(&self) -> bool {
        self.distinct == 1
    }

    /// Empty, solid or mixed.
    pub fn occupancy(&self) -> Occupancy {
        if self.non_air_count == 0 {
            Occupancy::Empty
        } else if self.non_air_count == self.volume {
            Occupancy::Solid
        } else {
            Occupancy::Mixed
        }
    }

    /// The level-0 summary as `strata_core` defines it (counts fit `u32` at level 0).
    pub fn to_chunk_summary(&self) -> ChunkSummary {
        ChunkSummary {
            dominant: self.dominant,
            dominant_count: self.dominant_count.min(u32::MAX as u64) as u32,
            distinct: self.distinct,
            non_air_count: self.non_air_count.min(u32::MAX as u64) as u32,
        }
    }
}

/// Voxels in a node at `level`: 32³ · 8^level (saturating past level 19).
pub fn node_volume(level: u32) -> u64 {
    (CHUNK_VOLUME as u64).saturating_mul(1u64.checked_shl(3 * level).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::DenseChunk;

    #[test]
    fn histogram_matches_core_summary() {
        let d = DenseChunk::from_fn(|p| MaterialId((p.y as u16 / 5) % 3));
        let c = Chunk::Dense(d);
        let h = Histogram::of_chunk(&c, 1);
        let s = NodeSummary::from_histogram(0, &h, 0, DataSource::Exact);
        assert_eq!(s.to_chunk_summary(), c.summary());
        assert_eq!(h.total(), CHUNK_VOLUME as u64);
        let mut h2 = h.clone();
        h2.merge(&h);
        h2.unmerge(&h);
        assert_eq!(h2, h);
        assert_eq!(s.occupancy(), Occupancy::Mixed);
        assert_eq!(node_volume(2), CHUNK_VOLUME as u64 * 64);
    }

    fn brute_force(c: &Chunk, weight: u64) -> Histogram {
        let mut h = Histogram::new();
        for i in 0..CHUNK_VOLUME {
            h.add(c.get(strata_core::LocalIndex::new(i as u16)), weight);
        }
        h
    }

    /// Counted one voxel at a time into a map (not through `Histogram::add`).
    fn by_hand(c: &Chunk, weight: u64) -> Vec<(MaterialId, u64)> {
        let mut counts = std::collections::BTreeMap::new();
        for i in 0..CHUNK_VOLUME {
            *counts.entry(c.get(strata_core::LocalIndex::new(i as u16))).or_insert(0) += weight;
        }
        counts.into_iter().collect()
    }

    /// A chunk of 32,768 distinct ids: counted exactly with one sort, and merged up
    /// the tree in passes over sorted lists, not an insertion per id.
    #[test]
    fn a_chunk_of_32768_distinct_ids_is_counted_and_merged_exactly() {
        let d = DenseChunk::from_fn(|p| {
            MaterialId((u16::from(p.x) << 10 | u16::from(p.y) << 5 | u16::from(p.z)).wrapping_mul(40503))
        });
        let c = Chunk::Dense(d);
        let h = Histogram::of_chunk(&c, 8);
        assert_eq!(h.iter().collect::<Vec<_>>(), by_hand(&c, 8));
        assert_eq!(h.distinct(), 32768);
        let mut parent = Histogram::of_chunk(&Chunk::Uniform(MaterialId(7)), 1);
        parent.merge(&h);
        parent.merge(&h);
        assert_eq!(parent.total(), CHUNK_VOLUME as u64 * (1 + 16));
        parent.unmerge(&h);
        parent.unmerge(&h);
        assert_eq!(parent, Histogram::of_chunk(&Chunk::Uniform(MaterialId(7)), 1));
    }

    proptest::proptest! {
        /// Merging and unmerging agree with adding and removing counts in a map, one material
        /// at a time.
        #[test]
        fn merge_and_unmerge_equal_a_map(
            a in proptest::collection::vec((0u16..50, 1u64..100), 0..30),
            b in proptest::collection::vec((0u16..50, 1u64..100), 0..30),
            take_back in proptest::collection::vec((0u16..50, 1u64..200), 0..30),
        ) {
            let hist = |entries: &[(u16, u64)]| {
                let mut h = Histogram::new();
                for &(m, n) in entries {
                    h.add(MaterialId(m), n);
                }
                h
            };
            let mut model = std::collections::BTreeMap::new();
            for &(m, n) in a.iter().chain(&b) {
                *model.entry(MaterialId(m)).or_insert(0u64) += n;
            }
            let mut h = hist(&a);
            h.merge(&hist(&b));
            proptest::prop_assert_eq!(h.iter().collect::<Vec<_>>(), model.iter().map(|(m, n)| (*m, *n)).collect::<Vec<_>>());
            let back = hist(&take_back);
            for (m, n) in back.iter() {
                if let Some(c) = model.get_mut(&m) {
                    *c = c.saturating_sub(n);
                }
            }
            model.retain(|_, c| *c > 0);
            h.unmerge(&back);
            proptest::prop_assert_eq!(h.iter().collect::<Vec<_>>(), model.into_iter().collect::<Vec<_>>());
        }

        /// The run counter agrees with one-by-one counting on chunks made of runs of random
        /// length (crossing rows or not) and on noisy ones.
        #[test]
        fn of_chunk_equals_brute_force(
            runs in proptest::collection::vec((0u16..6, 1usize..80), 1..400),
            noise in proptest::collection::vec((0usize..CHUNK_VOLUME, 0u16..1000), 0..40),
            weight in 1u64..1000,
        ) {
            let mut d = DenseChunk::filled(MaterialId::AIR);
            let v = d.as_mut_slice();
            let mut i = 0;
            for (m, n) in runs.iter().cycle().take(CHUNK_VOLUME) {
                for _ in 0..*n {
                    if i < CHUNK_VOLUME {
                        v[i] = *m;
                        i += 1;
                    }
                }
            }
            for (at, m) in &noise {
                v[*at] = *m;
            }
            let c = Chunk::Dense(d);
            proptest::prop_assert_eq!(Histogram::of_chunk(&c, weight), brute_force(&c, weight));
            // The one-read variant: the same counts (by hand, not through `add`), and the chunk
            // cell of `chunk_cell_of` (tested against the rule's statement in strata_core).
            let up = strata_core::Up::ALL[weight as usize % 6];
            let (h, cell) = Histogram::of_chunk_and_cell(&c, up);
            proptest::prop_assert_eq!(h.iter().collect::<Vec<_>>(), by_hand(&c, 1));
            proptest::prop_assert_eq!(cell, strata_core::downsample::chunk_cell_of(&c, up));
        }
    }

    proptest::proptest! {
        /// Adds, removes and merges agree with a map, whether one entry (inline) or several.
        #[test]
        fn add_sub_merge_equal_a_map(ops in proptest::collection::vec((0u16..4, 0u64..50, proptest::bool::ANY), 0..60)) {
            let mut h = Histogram::new();
            let mut want: std::collections::BTreeMap<u16, u64> = std::collections::BTreeMap::new();
            for (m, n, add) in ops {
                if add {
                    h.add(MaterialId(m), n);
                    *want.entry(m).or_default() += n;
                } else {
                    h.sub(MaterialId(m), n);
                    if let Some(c) = want.get_mut(&m) {
                        *c = c.saturating_sub(n);
                    }
                }
                want.retain(|_, c| *c > 0);
                let got: Vec<(u16, u64)> = h.iter().map(|(m, n)| (m.0, n)).collect();
                let w: Vec<(u16, u64)> = want.iter().map(|(m, n)| (*m, *n)).collect();
                proptest::prop_assert_eq!(&got, &w);
                let mut rebuilt = Histogram::new();
                for (m, n) in &w {
                    rebuilt.merge(&Histogram::uniform(MaterialId(*m), *n));
                }
                proptest::prop_assert_eq!(&rebuilt, &h);
            }
        }
    }
}
