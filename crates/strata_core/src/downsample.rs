//! The LOD downsampling rule, shared by the index's grids and the stored summaries of chunks.
//!
//! A coarse cell stands for a 2×2×2 block of finer cells. It is **non-air when at least half
//! (4 of 8) of them are non-air**. A non-air cell shows **the surface it contains**: the block
//! is read as four columns of two cells along the world's [up](crate::up) (the block's
//! [`Up`]), each column's top is its upper cell if that is non-air, else its lower one (a
//! column of air has none), and the cell holds **the most common top** (ties go to the smaller
//! id). A block of 8 equal cells keeps its value. Thin surfaces therefore neither vanish (a
//! half-solid block stays solid) nor bloat (a block that is mostly air stays air), and a coarse
//! cell under open air takes the material of its top layer (grass, sand, snow), not of the rock
//! under it. The rule is applied level by level, like texture mips, so a cell `k` levels up
//! shows the top of the solid inside it.
//!
//! Up is constant within a chunk ([`WorldUp::of_block`]): every function here that works
//! inside one chunk takes that chunk's [`Up`].
//!
//! Generators follow the same rule from the other side
//! ([`WorldGenerator::sample_lod`](crate::WorldGenerator::sample_lod)): they cannot count
//! voxels, so a cell is non-air when its centre sample is, and a non-air cell whose neighbour
//! along up is air shows the surface between the two centres.

use crate::chunk::{Chunk, DenseChunk};
use crate::coords::{CHUNK_SIZE, CHUNK_VOLUME, ChunkKey};
use crate::material::MaterialId;
use crate::up::Up;
pub use crate::up::WorldUp;

/// Cells per axis of a chunk at half resolution.
pub const HALF_SIZE: usize = CHUNK_SIZE / 2;
/// Cells of a chunk at half resolution (16³).
pub const HALF_VOLUME: usize = HALF_SIZE * HALF_SIZE * HALF_SIZE;

/// The material of one downsampled cell from its 8 sub-cells (index `x + 2y + 4z`) with up
/// `up` (see the module docs).
///
/// # Runtime
/// One pass over the 8 values; a block with air and solid, or with more than one solid, also
/// reads its four column tops.
#[inline]
pub fn downsample_cell(v: [u16; 8], up: Up) -> u16 {
    let a = v[0];
    let mut same = true;
    let mut solid = 0usize;
    for &x in &v {
        same &= x == a;
        solid += usize::from(x != 0);
    }
    if same {
        return a;
    }
    if solid < 4 {
        return 0;
    }
    let bit = 1usize << up.axis();
    let mut tops = [0u16; 4];
    let mut n = 0;
    for i in (0..8).filter(|i| i & bit == 0) {
        let (lower, upper) = if up.is_positive() { (v[i], v[i | bit]) } else { (v[i | bit], v[i]) };
        let top = if upper != 0 { upper } else { lower };
        if top != 0 {
            tops[n] = top;
            n += 1;
        }
    }
    let tops = &tops[..n];
    let (mut best, mut best_n) = (0u16, 0usize);
    for &m in tops {
        let c = tops.iter().filter(|&&x| x == m).count();
        if c > best_n || (c == best_n && m < best) {
            best = m;
            best_n = c;
        }
    }
    best
}

/// A chunk at half resolution: 16³ cells, each the downsampled 2×2×2 block of voxels (index
/// `x + 16·y + 256·z`), or one material for all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HalfCells {
    /// Every cell holds this material.
    Uniform(MaterialId),
    /// 16³ cells (not all equal).
    Dense(Box<[u16; HALF_VOLUME]>),
}

impl HalfCells {
    /// Downsamples `chunk` (whose blocks all have up `up`) by the rule in the module docs.
    ///
    /// # Runtime
    /// O(1) for a uniform chunk; for a dense one, one pass of row compares over its 8³ blocks
    /// (a uniform block gives its 4³ cells at once) and the rule for the cells of the others.
    pub fn of(chunk: &Chunk, up: Up) -> Self {
        let Chunk::Dense(d) = chunk else {
            // Invariant: the other variant is uniform.
            return HalfCells::Uniform(chunk.as_uniform().unwrap_or(MaterialId::AIR));
        };
        let v = d.as_slice();
        const Y: usize = CHUNK_SIZE;
        const Z: usize = CHUNK_SIZE * CHUNK_SIZE;
        const B: usize = 8;
        const H: usize = HALF_SIZE;
        let mut out = Box::new([0u16; HALF_VOLUME]);
        for (bx, by, bz) in (0..4).flat_map(|z| (0..4).flat_map(move |y| (0..4).map(move |x| (x, y, z)))) {
            let (x0, y0, z0) = (bx * B / 2, by * B / 2, bz * B / 2);
            if let Some(m) = block_uniform(v, [bx * B, by * B, bz * B]) {
                for z in z0..z0 + B / 2 {
                    for y in y0..y0 + B / 2 {
                        out[x0 + H * y + H * H * z..][..B / 2].fill(m);
                    }
                }
                continue;
            }
            for z in z0..z0 + B / 2 {
                for y in y0..y0 + B / 2 {
                    for x in x0..x0 + B / 2 {
                        let b = 2 * x + Y * 2 * y + Z * 2 * z;
                        let s = &v[b..b + Z + Y + 2];
                        out[x + H * y + H * H * z] =
                            downsample_cell([s[0], s[1], s[Y], s[Y + 1], s[Z], s[Z + 1], s[Z + Y], s[Z + Y + 1]], up);
                    }
                }
            }
        }
        Self::from_cells(out)
    }

    /// Cells as given, made [`HalfCells::Uniform`] when all are equal.
    pub fn from_cells(cells: Box<[u16; HALF_VOLUME]>) -> Self {
        let first = cells[0];
        if cells.iter().all(|&c| c == first) { HalfCells::Uniform(MaterialId(first)) } else { HalfCells::Dense(cells) }
    }

    /// The cell at `(x, y, z)`, each in `0..16`.
    #[inline]
    pub fn get(&self, x: usize, y: usize, z: usize) -> MaterialId {
        match self {
            HalfCells::Uniform(m) => *m,
            HalfCells::Dense(c) => MaterialId(c[x + HALF_SIZE * y + HALF_SIZE * HALF_SIZE * z]),
        }
    }

    /// `Some(material)` if every cell holds it.
    pub fn as_uniform(&self) -> Option<MaterialId> {
        match self {
            HalfCells::Uniform(m) => Some(*m),
            HalfCells::Dense(_) => None,
        }
    }
}

/// The chunk as **one cell**: its half-resolution cells downsampled four more times by the rule
/// (16³ → 8³ → 4³ → 2³ → 1). This is the cell a grid whose cells are one chunk wide (the
/// octree's level 5, the index's roots) gives the chunk, and what every coarser grid is made
/// from where the chunk was edited: it depends on this chunk alone.
///
/// # Runtime
/// O(1) for uniform cells; O(16³) rule applications otherwise.
pub fn chunk_cell(half: &HalfCells, up: Up) -> MaterialId {
    let HalfCells::Dense(cells) = half else { return half.as_uniform().unwrap_or(MaterialId::AIR) };
    MaterialId(reduce_cube(cells.to_vec(), HALF_SIZE, up))
}

/// An `n`³ grid of cells (index `x + n·y + n²·z`, `n` a power of two, every block with up
/// `up`) downsampled by the rule until one cell is left. O(`n`³).
pub fn reduce_cube(cells: Vec<u16>, n: usize, up: Up) -> u16 {
    reduce_to(cells, n, 1, up).first().copied().unwrap_or(0)
}

/// An `n`³ grid of cells (index `x + n·y + n²·z`) downsampled by the rule, halving each time,
/// until it is `target`³ (`n` and `target` powers of two, `target ≤ n`; every block with up
/// `up`). O(`n`³), in place.
pub fn reduce_to(mut cells: Vec<u16>, mut n: usize, target: usize, up: Up) -> Vec<u16> {
    debug_assert!(n.is_power_of_two() && target.is_power_of_two() && target <= n && cells.len() == n * n * n);
    while n > target {
        let h = n / 2;
        for z in 0..h {
            for y in 0..h {
                for x in 0..h {
                    let o = 2 * x + n * 2 * y + n * n * 2 * z;
                    let (y1, z1) = (n, n * n);
                    // In place: cell (x, y, z) of the half grid is written after every read of
                    // the cells before it in this pass (its index is never above `o`).
                    cells[x + h * y + h * h * z] = downsample_cell(block_of_2(&cells, o, y1, z1), up);
                }
            }
        }
        cells.truncate(h * h * h);
        n = h;
    }
    cells
}

/// The deepest level [`node_grid`] builds: one cell per chunk.
pub const MAX_NODE_GRID_LEVEL: u8 = 5;

/// Errors of [`node_grid`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DownsampleError {
    /// Above level 5 a cell would be larger than a chunk.
    #[error("LOD level {level} is deeper than {MAX_NODE_GRID_LEVEL} (one cell per chunk)")]
    LevelTooDeep {
        /// The requested level.
        level: u8,
    },
}

/// The 32³ grid of the octree node `node` (its first chunk's key shifted right by `level`, as
/// the index names nodes) at `level` (`0..=5`) from its chunks: the node covers `n = 2^level`
/// chunks per axis and `chunk_at([cx, cy, cz])` gives the chunk at offset `c` (each in `0..n`)
/// inside it; each chunk's blocks use that chunk's up in `world_up`. Each cell is the rule of the module docs applied `level` times
/// (level by level, like the index's grids, which equal this for every node whose chunks it
/// knows); level 0 is the chunk itself. The result is normalized (uniform when all cells are
/// equal). This is what to mesh at LOD `level` when a game builds its own grids.
///
/// # Runtime
/// Per chunk: O(1) if uniform, else [`HalfCells::of`] plus O(16³) rule applications.
pub fn node_grid<'a>(
    level: u8,
    node: ChunkKey,
    world_up: &WorldUp,
    chunk_at: impl Fn([usize; 3]) -> &'a Chunk,
) -> Result<Chunk, DownsampleError> {
    if level > MAX_NODE_GRID_LEVEL {
        return Err(DownsampleError::LevelTooDeep { level });
    }
    if level == 0 {
        return Ok(chunk_at([0, 0, 0]).clone());
    }
    let n = 1usize << level;
    let per = CHUNK_SIZE / n;
    let mut grid = DenseChunk::filled(MaterialId::AIR);
    let out = grid.as_mut_slice();
    for (cx, cy, cz) in (0..n).flat_map(|z| (0..n).flat_map(move |y| (0..n).map(move |x| (x, y, z)))) {
        let key = node.to_array();
        let up = world_up.of_chunk(ChunkKey::new(
            (key[0] << level) + cx as i32,
            (key[1] << level) + cy as i32,
            (key[2] << level) + cz as i32,
        ));
        let cells = match HalfCells::of(chunk_at([cx, cy, cz]), up) {
            HalfCells::Uniform(m) => vec![m.0; per * per * per],
            HalfCells::Dense(cells) => reduce_to(cells.to_vec(), HALF_SIZE, per, up),
        };
        for z in 0..per {
            for y in 0..per {
                let row = cx * per + CHUNK_SIZE * (cy * per + y) + CHUNK_SIZE * CHUNK_SIZE * (cz * per + z);
                out[row..row + per].copy_from_slice(&cells[per * y + per * per * z..][..per]);
            }
        }
    }
    let mut chunk = Chunk::Dense(grid);
    chunk.normalize();
    Ok(chunk)
}

/// [`chunk_cell`] of the chunk's half-resolution cells, computed from the voxels directly: each
/// 8³ block that holds one material is its cell at once, the others go 8³ → 4³ → 2³ → 1 on the
/// stack, then the 4³ blocks → 2³ → 1. The same cell, with no allocation.
///
/// # Runtime
/// O(1) for a uniform chunk; per 8³ block, a row compare, and 73 rule applications if the
/// block is mixed.
pub fn chunk_cell_of(chunk: &Chunk, up: Up) -> MaterialId {
    let Chunk::Dense(d) = chunk else { return chunk.as_uniform().unwrap_or(MaterialId::AIR) };
    let v = d.as_slice();
    const Y: usize = CHUNK_SIZE;
    const Z: usize = CHUNK_SIZE * CHUNK_SIZE;
    let mut blocks = [0u16; 64];
    for (b, cell) in blocks.iter_mut().enumerate() {
        let corner = [8 * (b % 4), 8 * (b / 4 % 4), 8 * (b / 16)];
        if let Some(m) = block_uniform(v, corner) {
            *cell = m;
            continue;
        }
        let base = corner[0] + Y * corner[1] + Z * corner[2];
        let mut c4 = [0u16; 64];
        // Per 4³ quarter: one material makes its eight cells that material (the rule keeps a
        // uniform block), else each cell from its 2³ voxels.
        for q in 0..8 {
            let q = [q & 1, q >> 1 & 1, q >> 2];
            let at = base + 4 * q[0] + Y * 4 * q[1] + Z * 4 * q[2];
            let uniform = cube_uniform::<4>(v, at);
            for d in 0..8 {
                let d = [d & 1, d >> 1 & 1, d >> 2];
                let i = (2 * q[0] + d[0]) + 4 * (2 * q[1] + d[1]) + 16 * (2 * q[2] + d[2]);
                c4[i] = match uniform {
                    Some(m) => m,
                    None => {
                        let o = at + 2 * d[0] + Y * 2 * d[1] + Z * 2 * d[2];
                        downsample_cell(block_of_2(v, o, Y, Z), up)
                    }
                };
            }
        }
        *cell = halve_4(&c4, up);
    }
    MaterialId(halve_4(&blocks, up))
}

/// A 4³ grid (index `x + 4y + 16z`) downsampled twice: 4³ → 2³ → 1.
fn halve_4(c: &[u16; 64], up: Up) -> u16 {
    let c2: [u16; 8] = std::array::from_fn(|i| {
        let o = 2 * (i & 1) + 8 * (i >> 1 & 1) + 32 * (i >> 2);
        downsample_cell(block_of_2(c, o, 4, 16), up)
    });
    downsample_cell(c2, up)
}

/// `Some(material)` if the 8³ block of a dense chunk's voxels with smallest corner `c` holds
/// one material (rows of 8 compared whole, so it vectorizes).
#[inline]
pub fn block_uniform(v: &[u16; CHUNK_VOLUME], c: [usize; 3]) -> Option<u16> {
    cube_uniform::<8>(v, c[0] + CHUNK_SIZE * c[1] + CHUNK_SIZE * CHUNK_SIZE * c[2])
}

/// `Some(material)` if the `N`³ block of a dense chunk's voxels starting at index `at` holds
/// one material (rows of `N` compared whole: a fixed-size array compare, vector instructions,
/// no memcmp call).
#[inline]
fn cube_uniform<const N: usize>(v: &[u16; CHUNK_VOLUME], at: usize) -> Option<u16> {
    let row = [v[at]; N];
    for z in 0..N {
        for y in 0..N {
            let i = at + CHUNK_SIZE * y + CHUNK_SIZE * CHUNK_SIZE * z;
            if v[i..i + N].first_chunk::<N>() != Some(&row) {
                return None;
            }
        }
    }
    Some(row[0])
}

/// The 2³ block of `cells` at index `o` of a grid whose rows are `y` and layers `z` apart, in
/// [`downsample_cell`]'s order (`x + 2y + 4z`).
#[inline(always)]
fn block_of_2(cells: &[u16], o: usize, y: usize, z: usize) -> [u16; 8] {
    [
        cells[o],
        cells[o + 1],
        cells[o + y],
        cells[o + y + 1],
        cells[o + z],
        cells[o + z + 1],
        cells[o + z + y],
        cells[o + z + y + 1],
    ]
}

const _: () = assert!(CHUNK_VOLUME == 8 * HALF_VOLUME);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::DenseChunk;
    use crate::coords::LocalPos;
    use crate::up::Up;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// The rule as the module docs state it, counted plainly: sub-cell `i` sits at
    /// `(i & 1, i >> 1 & 1, i >> 2)`; a column is the two sub-cells that differ only along up.
    fn rule_reference(v: [u16; 8], up: Up) -> u16 {
        let solid = v.iter().filter(|&&x| x != 0).count();
        if v.iter().all(|&x| x == v[0]) {
            return v[0];
        }
        if solid < 4 {
            return 0;
        }
        let pos = |i: usize| [i & 1, i >> 1 & 1, i >> 2];
        let step = up.step();
        let mut counts: BTreeMap<u16, usize> = BTreeMap::new();
        for lower in 0..8 {
            // The lower cell of a column: the coordinate along up is its low end.
            let p = pos(lower);
            let low_end = if step[up.axis()] > 0 { 0 } else { 1 };
            if p[up.axis()] != low_end {
                continue;
            }
            let upper = (0..8)
                .find(|&j| {
                    let q = pos(j);
                    (0..3).all(|a| if a == up.axis() { q[a] != p[a] } else { q[a] == p[a] })
                })
                .unwrap();
            let top = if v[upper] != 0 { v[upper] } else { v[lower] };
            if top != 0 {
                *counts.entry(top).or_default() += 1;
            }
        }
        let best = counts.values().copied().max().unwrap_or(0);
        counts.into_iter().find(|&(_, n)| n == best).map_or(0, |(m, _)| m)
    }

    fn up_strategy() -> impl Strategy<Value = Up> {
        (0u8..6).prop_map(|c| Up::from_code(c).unwrap())
    }

    #[test]
    fn the_rule_agrees_with_its_statement_on_every_cell_of_four_materials() {
        // Every 8-tuple over {air, 1, 2, 3}, for every up: 6 · 4⁸ = 393,216 cases.
        for up in Up::ALL {
            for n in 0u32..65_536 {
                let v: [u16; 8] = std::array::from_fn(|i| ((n >> (2 * i)) & 3) as u16);
                assert_eq!(downsample_cell(v, up), rule_reference(v, up), "{v:?} {up:?}");
            }
        }
    }

    #[test]
    fn rule_examples() {
        let y = Up::PosY;
        assert_eq!(downsample_cell([3; 8], y), 3);
        assert_eq!(downsample_cell([0, 0, 0, 0, 0, 2, 2, 2], y), 0);
        assert_eq!(downsample_cell([0, 0, 0, 0, 5, 2, 2, 5], y), 2);
        assert_eq!(downsample_cell([0, 0, 0, 7, 5, 7, 5, 5], y), 5);
        // Solid, grass (3) over dirt (2): the top layer, whichever way is up.
        let layered = [2, 2, 3, 3, 2, 2, 3, 3];
        assert_eq!(downsample_cell(layered, Up::PosY), 3);
        assert_eq!(downsample_cell(layered, Up::NegY), 2);
        assert_eq!(downsample_cell([2, 3, 2, 3, 2, 3, 2, 3], Up::PosX), 3);
        // Grass on the lower layer under air: the column tops are the grass.
        assert_eq!(downsample_cell([3, 3, 0, 0, 3, 3, 0, 0], y), 3);
        // Sand on one column, grass on three: the most common top.
        assert_eq!(downsample_cell([2, 2, 4, 3, 2, 2, 3, 3], y), 3);
    }

    proptest! {
        /// Each half-resolution cell is the rule applied to the 8 voxels it covers, read one by
        /// one through the chunk's own accessor (not the slice arithmetic of `of`).
        #[test]
        fn half_cells_downsample_each_block(seed in any::<u64>(), materials in 1u16..5, uniform_blocks in any::<u64>(), up in up_strategy()) {
            // Each 8³ block is one material (bit set in `uniform_blocks`) or random voxels.
            let mut rng = crate::rng::SplitMix64(seed);
            let chunk = Chunk::Dense(DenseChunk::from_fn(|p| {
                let block = usize::from(p.x / 8) + 4 * usize::from(p.y / 8) + 16 * usize::from(p.z / 8);
                if uniform_blocks & (1 << block) != 0 {
                    return MaterialId((block as u16 * 7) % (materials + 1));
                }
                MaterialId(rng.below(u64::from(materials + 1)) as u16)
            }));
            let half = HalfCells::of(&chunk, up);
            for (x, y, z) in (0..16).flat_map(|x| (0..16).flat_map(move |y| (0..16).map(move |z| (x, y, z)))) {
                let mut v = [0u16; 8];
                for (i, slot) in v.iter_mut().enumerate() {
                    let p = LocalPos::new((2 * x + (i & 1)) as u8, (2 * y + ((i >> 1) & 1)) as u8, (2 * z + (i >> 2)) as u8);
                    *slot = chunk.get(p.index()).0;
                }
                prop_assert_eq!(half.get(x, y, z).0, rule_reference(v, up), "cell {:?}", (x, y, z));
            }
        }
    }

    /// The reference for [`chunk_cell`]: written on its own from the rule's words — a block
    /// of `size`³ voxels is one voxel, or its 8 half-size blocks (recursively) taken by the
    /// rule's statement.
    fn block_cell(chunk: &Chunk, origin: [usize; 3], size: usize, up: Up) -> u16 {
        if size == 1 {
            return chunk.get(LocalPos::new(origin[0] as u8, origin[1] as u8, origin[2] as u8).index()).0;
        }
        let h = size / 2;
        let mut subs = [0u16; 8];
        for (i, sub) in subs.iter_mut().enumerate() {
            let d = [i & 1, i >> 1 & 1, i >> 2].map(|b| b * h);
            *sub = block_cell(chunk, [origin[0] + d[0], origin[1] + d[1], origin[2] + d[2]], h, up);
        }
        rule_reference(subs, up)
    }

    proptest! {
        #[test]
        fn chunk_cell_is_the_rule_applied_five_times(seed in any::<u64>(), materials in 1u16..4, air_bias in 0u64..4, up in up_strategy()) {
            let chunk = test_chunk(seed, materials, air_bias);
            let want = block_cell(&chunk, [0, 0, 0], CHUNK_SIZE, up);
            prop_assert_eq!(chunk_cell(&HalfCells::of(&chunk, up), up).0, want);
            prop_assert_eq!(chunk_cell_of(&chunk, up).0, want);
        }
    }

    /// A test chunk: whole 4³ blocks of one value half the time (so coarse cells see every
    /// mix), random voxels elsewhere; one seed in five gives a uniform chunk.
    fn test_chunk(seed: u64, materials: u16, air_bias: u64) -> Chunk {
        let mut rng = crate::rng::SplitMix64(seed);
        let mut chunk = Chunk::Dense(DenseChunk::from_fn(|p| {
            let s = rng.next_u64();
            let block = (u64::from(p.x / 4) * 7 + u64::from(p.y / 4) * 13 + u64::from(p.z / 4) * 29) ^ seed;
            let r = if block.is_multiple_of(2) { block >> 3 } else { s };
            if r % 8 < air_bias { MaterialId::AIR } else { MaterialId((r % u64::from(materials + 1)) as u16) }
        }));
        if seed.is_multiple_of(5) {
            chunk = Chunk::Uniform(MaterialId((seed % 3) as u16));
        }
        chunk
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// Every cell of a node's grid is the rule applied to its block of voxels, by the
        /// recursive reference.
        #[test]
        fn node_grid_cells_are_the_rule_over_their_blocks(seed in any::<u64>(), level in 0u8..=3, materials in 1u16..4, air_bias in 0u64..5, centre in proptest::array::uniform3(-64i64..320)) {
            let n = 1usize << level;
            let chunks: Vec<Chunk> =
                (0..n * n * n).map(|i| test_chunk(seed.wrapping_add(i as u64 * 0x9e37), materials, air_bias)).collect();
            let at = |[x, y, z]: [usize; 3]| &chunks[x + n * y + n * n * z];
            // A planet centred near the node, so its chunks point different ways.
            let world_up = WorldUp::AwayFrom { centre };
            let node = ChunkKey::new(1, 0, -1);
            let grid = node_grid(level, node, &world_up, at).unwrap();
            let size = CHUNK_SIZE / n; // cells per chunk and axis
            for i in 0..CHUNK_VOLUME {
                let p = crate::LocalIndex::new(i as u16).pos();
                let (x, y, z) = (p.x as usize, p.y as usize, p.z as usize);
                let chunk = at([x / size, y / size, z / size]);
                let origin = [(x % size) * n, (y % size) * n, (z % size) * n];
                let c = [x / size, y / size, z / size].map(|v| v as i32);
                let key = ChunkKey::new((1 << level) + c[0], c[1], -(1 << level) + c[2]);
                let up = world_up.of_chunk(key);
                prop_assert_eq!(grid.get(p.index()).0, block_cell(chunk, origin, n, up), "cell {:?}", p);
            }
        }
    }

    const K: ChunkKey = ChunkKey::new(0, 0, 0);
    const Y: WorldUp = WorldUp::PlusY;

    #[test]
    fn node_grid_levels() {
        let stone = Chunk::Uniform(MaterialId(1));
        assert_eq!(node_grid(6, K, &Y, |_| &stone), Err(DownsampleError::LevelTooDeep { level: 6 }));
        assert_eq!(node_grid(5, K, &Y, |_| &stone), Ok(stone.clone()));
        let half = Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(if p.y < 16 { 3 } else { 0 })));
        assert_eq!(node_grid(0, K, &Y, |_| &half), Ok(half.clone()));
        // Level 1, the lower chunks stone and the upper ones the half-filled chunk: the upper
        // chunks' lower halves are cells 16..24.
        let grid = node_grid(1, K, &Y, |[_, y, _]| if y == 0 { &stone } else { &half }).unwrap();
        for (y, want) in [(15, 1), (16, 3), (23, 3), (24, 0)] {
            assert_eq!(grid.get(LocalPos::new(5, y, 20).index()), MaterialId(want), "y {y}");
        }
        // Level by level, not a majority of the whole block: a floor one voxel thick is half of
        // each 2³ block above it, then half of each 4³ block, so a level-2 cell over it is
        // ground although only 16 of its 64 voxels are.
        let floor = Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(if p.y == 0 { 3 } else { 0 })));
        let air = Chunk::Uniform(MaterialId::AIR);
        let grid = node_grid(2, K, &Y, |[_, y, _]| if y == 0 { &floor } else { &air }).unwrap();
        assert_eq!(grid.get(LocalPos::new(9, 0, 30).index()), MaterialId(3));
        assert_eq!(grid.get(LocalPos::new(9, 1, 30).index()), MaterialId::AIR);
    }

    #[test]
    fn chunk_cell_examples() {
        assert_eq!(chunk_cell(&HalfCells::Uniform(MaterialId(9)), Up::PosY), MaterialId(9));
        // The lower half stone, the upper air: half the sub-cells are non-air → stone.
        let half = Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(if p.y < 16 { 3 } else { 0 })));
        assert_eq!(chunk_cell(&HalfCells::of(&half, Up::PosY), Up::PosY), MaterialId(3));
        // One octant: 1 of 8 sub-cells at the last step → air.
        let octant =
            Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(if p.x < 16 && p.y < 16 && p.z < 16 { 3 } else { 0 })));
        assert_eq!(chunk_cell(&HalfCells::of(&octant, Up::PosY), Up::PosY), MaterialId::AIR);
        // The rule rounds half up at every step: a floor 2 voxels thick is half of the cells
        // below it at each level, so the whole chunk counts as ground.
        let floor = Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(if p.y < 2 { 3 } else { 0 })));
        assert_eq!(chunk_cell(&HalfCells::of(&floor, Up::PosY), Up::PosY), MaterialId(3));
    }

    #[test]
    fn a_top_layer_one_voxel_thick_colours_the_chunk_cell() {
        // Stone below y = 15, grass at y = 15, air above: the chunk under open air is grass
        // from every level, and stone only if up pointed down.
        let ground = Chunk::Dense(DenseChunk::from_fn(|p| {
            MaterialId(match p.y {
                0..15 => 1,
                15 => 3,
                _ => 0,
            })
        }));
        assert_eq!(chunk_cell(&HalfCells::of(&ground, Up::PosY), Up::PosY), MaterialId(3));
        assert_eq!(chunk_cell_of(&ground, Up::PosY), MaterialId(3));
        assert_eq!(chunk_cell_of(&ground, Up::NegY), MaterialId(1));
        // The same chunk lying on its side, up +X.
        let side = Chunk::Dense(DenseChunk::from_fn(|p| ground.get(LocalPos::new(p.y, p.x, p.z).index())));
        assert_eq!(chunk_cell_of(&side, Up::PosX), MaterialId(3));
        assert_eq!(chunk_cell_of(&side, Up::PosY), MaterialId(1), "seen from the side, the majority");
    }

    #[test]
    fn uniform_chunks_and_uniform_results_are_uniform() {
        assert_eq!(HalfCells::of(&Chunk::Uniform(MaterialId(4)), Up::NegZ), HalfCells::Uniform(MaterialId(4)));
        // Scattered single voxels: every block is mostly air.
        let sparse =
            Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(u16::from(p.x % 2 == 0 && p.y % 2 == 0 && p.z % 2 == 0))));
        assert_eq!(HalfCells::of(&sparse, Up::PosY), HalfCells::Uniform(MaterialId::AIR));
    }
}
