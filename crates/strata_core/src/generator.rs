//! Deterministic world generators: the baseline every unedited chunk comes from.

use crate::chunk::{Chunk, DenseChunk};
use crate::coords::{CHUNK_SIZE, ChunkKey, LocalPos, VoxelPos};
use crate::material::MaterialId;
use crate::up::{Up, WorldUp};

/// Produces the voxels of chunks nobody has edited.
///
/// Implementations must be deterministic (same configuration and seed → same voxels, on every
/// machine and thread) and cheap to share (`Send + Sync`; the world calls them from worker
/// threads).
pub trait WorldGenerator: Send + Sync + 'static {
    /// The material at one voxel. The reference definition: [`WorldGenerator::generate`] must
    /// agree with it voxel for voxel.
    fn material_at(&self, pos: VoxelPos) -> MaterialId;

    /// The whole chunk at `key`. The default samples [`WorldGenerator::material_at`] per voxel;
    /// implementations override it with column-wise generation and uniform fast paths.
    fn generate(&self, key: ChunkKey) -> Chunk {
        let mut c = Chunk::Dense(DenseChunk::from_fn(|l| self.material_at(VoxelPos::from_parts(key, l))));
        c.normalize();
        c
    }

    /// Which way is up in this world: the side of a coarse cell the LOD rule takes as its
    /// surface ([`crate::downsample`]). The default is `+Y` everywhere; a planet's points away
    /// from its centre. Wrappers must forward it.
    fn world_up(&self) -> WorldUp {
        WorldUp::PlusY
    }

    /// The 32³ level-of-detail grid of the octree node `node` at `level` (level 0 is one chunk;
    /// level `k` covers 2ᵏ chunks per side, so each cell stands for (2ᵏ)³ voxels; `node` is the
    /// chunk key shifted right by `level`).
    ///
    /// Each cell is [`lod_cell`] (the LOD rule of [`crate::downsample`] as a generator can
    /// follow it: the cell-centre sample, showing the surface above it). Level 0 is exactly
    /// [`WorldGenerator::generate`]. The result is normalized (uniform when every cell agrees).
    /// Implementations may override it with a faster version that returns the same cells.
    ///
    /// # Runtime
    /// The default calls `material_at` 32³ times, plus 1 + (`level` − 1) times per non-air
    /// cell whose neighbour along up is air.
    fn sample_lod(&self, level: u32, node: ChunkKey) -> Chunk {
        if level == 0 {
            return self.generate(node);
        }
        let cells = LodCells::new(level, node);
        let up = self.world_up();
        let at = |p: [i64; 3]| self.material_at(LodCells::clamped(p));
        let mut c = Chunk::Dense(DenseChunk::from_fn(|l| lod_cell(&cells, l, &up, at)));
        c.normalize();
        c
    }

    /// A cheap answer to "is node `node` at `level` one material?", without sampling voxels:
    /// `Some(m)` promises that [`WorldGenerator::sample_lod`]`(level, node)` (at level 0,
    /// [`WorldGenerator::generate`]`(node)`) is `Chunk::Uniform(m)`; `None` means "don't know".
    ///
    /// Streaming asks it before generating ([`sample_hinted`]): a hinted chunk costs no
    /// generation task, no voxel sampling and, when its neighbours are hinted alike, no
    /// meshing. Typical answers come from bounds of the generator's formula, e.g. "above the
    /// highest possible terrain: air".
    ///
    /// # Contract
    /// It **never lies**: a wrong `Some` shows the wrong world. It must be O(1) (it is asked
    /// on the I/O path and for every stub of the index) and deterministic like the rest of the
    /// generator. The default answers `None` for every node; wrappers must forward it.
    fn uniform_hint(&self, level: u32, node: ChunkKey) -> Option<MaterialId> {
        let _ = (level, node);
        None
    }
}

/// The 32³ data of node `node` at `level` as `generator` makes it (level 0: the chunk), from
/// its [`WorldGenerator::uniform_hint`] when that answers, else sampled
/// ([`WorldGenerator::sample_lod`]). What every reader of generated data in Strata calls.
///
/// # Runtime
/// O(1) for a hinted node; otherwise one `sample_lod`.
pub fn sample_hinted<G: WorldGenerator + ?Sized>(generator: &G, level: u32, node: ChunkKey) -> Chunk {
    match generator.uniform_hint(level, node) {
        Some(m) => Chunk::Uniform(m),
        None => generator.sample_lod(level, node),
    }
}

/// The LOD cell `l` of `cells` for a generator whose voxels are `material_at` (positions
/// clamped with [`LodCells::clamped`]) and whose up is `world_up`: the generator's side of the
/// one LOD rule ([`crate::downsample`]).
///
/// A cell is **non-air when its centre sample is** (generators cannot count a cell's voxels).
/// A non-air cell shows **the surface above its centre**: if the sample at the centre of the
/// next cell along up ([`WorldUp::of_block`]) is air, the surface lies between the two, and
/// the cell takes the material of the last non-air voxel found by bisecting that span of the
/// column (the top of the ground, or of the sea, when the column crosses the surface once);
/// otherwise, its centre sample.
///
/// # Runtime
/// One `material_at` for air cells, two for cells with solid above, 1 + `level` at most for
/// cells at the surface.
pub fn lod_cell(
    cells: &LodCells,
    l: LocalPos,
    world_up: &WorldUp,
    mut material_at: impl FnMut([i64; 3]) -> MaterialId,
) -> MaterialId {
    let centre = cells.centre_unclamped(l);
    let m = material_at(centre);
    if m == MaterialId::AIR {
        return m;
    }
    let up = world_up.of_block(cells.min(l), cells.size);
    surface_above(centre, m, cells.size, up, None, material_at)
}

/// The material a non-air LOD cell of `size` voxels shows (see [`lod_cell`]): `m` is the
/// sample at its `centre`, `next` the sample at the next centre along `up` if the caller
/// already has it.
pub fn surface_above(
    centre: [i64; 3],
    m: MaterialId,
    size: i64,
    up: Up,
    next: Option<MaterialId>,
    mut material_at: impl FnMut([i64; 3]) -> MaterialId,
) -> MaterialId {
    let step = up.step();
    let along = |d: i64| std::array::from_fn(|a| centre[a] + step[a] * d);
    let next = next.unwrap_or_else(|| material_at(along(size)));
    if next != MaterialId::AIR {
        return m;
    }
    // Invariant: `lo` is non-air (its material `top`), `hi` is air.
    let (mut lo, mut hi, mut top) = (0, size, m);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let v = material_at(along(mid));
        if v == MaterialId::AIR {
            hi = mid;
        } else {
            (lo, top) = (mid, v);
        }
    }
    top
}

/// Cell-centre arithmetic of [`WorldGenerator::sample_lod`], in `i64` so no level overflows:
/// for generators that override `sample_lod` and must sample the same points.
#[derive(Clone, Copy, Debug)]
pub struct LodCells {
    origin: [i64; 3],
    size: i64,
}

impl LodCells {
    /// The cells of node `node` at `level` (levels above 26 are treated as 26).
    pub fn new(level: u32, node: ChunkKey) -> Self {
        let level = level.min(26);
        let size = 1i64 << level;
        let edge = size * CHUNK_SIZE as i64;
        Self { origin: node.to_array().map(|v| v as i64 * edge), size }
    }

    /// Centre coordinate of cell `c` on axis `axis`, clamped into the `i32` voxel range.
    pub fn axis(&self, axis: usize, c: u8) -> i32 {
        let v = self.origin[axis] + c as i64 * self.size + self.size / 2;
        v.clamp(i32::MIN as i64, i32::MAX as i64) as i32
    }

    /// Cell width in voxels (2^level).
    pub fn size(&self) -> i64 {
        self.size
    }

    /// The smallest voxel of cell `l` (not clamped).
    pub fn min(&self, l: LocalPos) -> [i64; 3] {
        let c = [l.x, l.y, l.z];
        std::array::from_fn(|a| self.origin[a] + c[a] as i64 * self.size)
    }

    /// The centre voxel of cell `l`, not clamped (see [`LodCells::clamped`]).
    pub fn centre_unclamped(&self, l: LocalPos) -> [i64; 3] {
        self.min(l).map(|v| v + self.size / 2)
    }

    /// `p` with each axis clamped into the `i32` voxel range: where a generator samples a
    /// position of the LOD rule.
    pub fn clamped(p: [i64; 3]) -> VoxelPos {
        let c = p.map(|v| v.clamp(i32::MIN as i64, i32::MAX as i64) as i32);
        VoxelPos::new(c[0], c[1], c[2])
    }

    /// The voxel at the centre of cell `l`, each axis clamped like [`LodCells::axis`].
    pub fn centre(&self, l: LocalPos) -> VoxelPos {
        VoxelPos::new(self.axis(0, l.x), self.axis(1, l.y), self.axis(2, l.z))
    }
}

/// The lowest and highest voxel row (`y`) of chunk `key`, or `None` for a hand-made key whose
/// voxels leave the `i32` range (`generate` wraps those): where a generator's level-0
/// [`WorldGenerator::uniform_hint`] reasons about rows.
pub fn chunk_rows(key: ChunkKey) -> Option<(i64, i64)> {
    let y0 = i64::from(key.y) * CHUNK_SIZE as i64;
    let y1 = y0 + CHUNK_SIZE as i64 - 1;
    (y0 >= i64::from(i32::MIN) && y1 <= i64::from(i32::MAX)).then_some((y0, y1))
}

/// A flat world: `material` at and below `height`, air above. Handy for tests and tools.
#[derive(Clone, Debug)]
pub struct FlatGenerator {
    /// Top solid layer.
    pub height: i32,
    /// The ground.
    pub material: MaterialId,
}

impl WorldGenerator for FlatGenerator {
    fn material_at(&self, pos: VoxelPos) -> MaterialId {
        if pos.y <= self.height { self.material } else { MaterialId::AIR }
    }

    /// Air when every cell (its centre, above level 0) lies above `height`, `material` when
    /// every one lies at or below it (a solid cell shows `material` whatever lies above it:
    /// the world has one).
    fn uniform_hint(&self, level: u32, node: ChunkKey) -> Option<MaterialId> {
        let height = i64::from(self.height);
        if level == 0 {
            // No hint for voxels outside the `i32` range.
            chunk_rows(node)?;
        }
        let cells = LodCells::new(level, node);
        let (lowest, highest) = (i64::from(cells.axis(1, 0)), i64::from(cells.axis(1, CHUNK_SIZE as u8 - 1)));
        if lowest > height {
            Some(MaterialId::AIR)
        } else if highest <= height {
            Some(self.material)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Rolling hills: stone, then dirt, then one voxel of grass at `height(x, z)` (−165..−35);
    /// water up to y = −100 above lower ground. Monotone along +Y.
    struct Hills;

    impl Hills {
        fn height(x: i32, z: i32) -> i32 {
            ((x as f64 / 37.0).sin() * 40.0 + (z as f64 / 23.0).cos() * 25.0) as i32 - 100
        }
    }

    impl WorldGenerator for Hills {
        fn material_at(&self, p: VoxelPos) -> MaterialId {
            let h = Self::height(p.x, p.z);
            MaterialId(match p.y - h {
                1.. if p.y <= -100 => 5,
                1.. => 0,
                0 => 3,
                -4..0 => 2,
                _ => 1,
            })
        }
    }

    /// The rule by its words, walked voxel by voxel: air if the centre is; else, if the next
    /// centre up is air, the last non-air voxel before the first air going up from the centre;
    /// else the centre.
    fn walked(g: &dyn WorldGenerator, level: u32, node: ChunkKey, l: LocalPos) -> MaterialId {
        let size = 1i32 << level;
        let c = [l.x, l.y, l.z].map(i32::from);
        let k = node.to_array();
        let centre: [i32; 3] = std::array::from_fn(|a| k[a] * 32 * size + c[a] * size + size / 2);
        let at = |dy: i32| g.material_at(VoxelPos::new(centre[0], centre[1] + dy, centre[2]));
        let m = at(0);
        if m == MaterialId::AIR || at(size) != MaterialId::AIR {
            return m;
        }
        let mut top = m;
        for dy in 1..size {
            match at(dy) {
                MaterialId::AIR => break,
                v => top = v,
            }
        }
        top
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// On ground that crosses each column once, the bisection finds exactly the top voxel.
        #[test]
        fn sample_lod_shows_the_top_of_the_ground(level in 1u32..=4, x in -3i32..3, y in -2i32..1, z in -3i32..3) {
            let node = ChunkKey::new(x, y, z);
            let grid = Hills.sample_lod(level, node);
            for i in 0..crate::coords::CHUNK_VOLUME as u16 {
                let l = crate::LocalIndex::new(i).pos();
                prop_assert_eq!(grid.get(l.index()), walked(&Hills, level, node, l), "{:?}", l);
            }
        }
    }

    #[test]
    fn coarse_cells_under_open_air_are_grass_and_the_sea_is_water() {
        // Level 3 (8-voxel cells), a node holding the whole surface: every column's top cell
        // shows grass or water, never the dirt or stone of its centre.
        let grid = Hills.sample_lod(3, ChunkKey::new(0, -1, 0));
        let mut tops = std::collections::BTreeMap::<u16, usize>::new();
        for x in 0..32u8 {
            for z in 0..32u8 {
                let top =
                    (0..32u8).rev().map(|y| grid.get(LocalPos::new(x, y, z).index())).find(|m| *m != MaterialId::AIR);
                *tops.entry(top.map_or(0, |m| m.0)).or_default() += 1;
            }
        }
        assert!(tops.keys().all(|m| [3, 5].contains(m)), "{tops:?}");
        assert!(tops.contains_key(&3), "{tops:?}");
    }

    #[test]
    fn flat_default_generate() {
        let g = FlatGenerator { height: 3, material: MaterialId(1) };
        assert_eq!(g.generate(ChunkKey::new(0, 1, 0)), Chunk::Uniform(MaterialId::AIR));
        let c = g.generate(ChunkKey::new(0, 0, 0));
        assert_eq!(c.get(LocalPos::new(0, 3, 0).index()), MaterialId(1));
        assert_eq!(c.get(LocalPos::new(0, 4, 0).index()), MaterialId::AIR);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// The flat world's uniform hint never lies: against its per-voxel `generate` and its
        /// default `sample_lod` (neither asks the hint), for nodes around the ground's top.
        #[test]
        fn the_flat_hint_never_lies(y in -90i32..90, level in 0u32..7, top in any::<bool>(), d in -2i32..=2, x in -9i32..9) {
            // The ground's top within two voxels of the node's lowest or highest cell centre.
            let size = 1i32 << level;
            let lowest = y * 32 * size + size / 2;
            let height = if top { lowest + 31 * size + d } else { lowest + d };
            let g = FlatGenerator { height, material: MaterialId(4) };
            let node = ChunkKey::new(x, y, -x);
            if let Some(m) = g.uniform_hint(level, node) {
                prop_assert_eq!(g.sample_lod(level, node), Chunk::Uniform(m), "{} {:?}", level, node);
            }
            prop_assert_eq!(sample_hinted(&g, level, node), g.sample_lod(level, node));
        }
    }

    #[test]
    fn the_flat_hint_answers_off_the_surface() {
        let g = FlatGenerator { height: 3, material: MaterialId(1) };
        assert_eq!(g.uniform_hint(0, ChunkKey::new(5, 1, 5)), Some(MaterialId::AIR));
        assert_eq!(g.uniform_hint(0, ChunkKey::new(5, 0, 5)), None);
        assert_eq!(g.uniform_hint(0, ChunkKey::new(5, -1, 5)), Some(MaterialId(1)));
        // Level 3 node y -1: cells 8 voxels tall, centres -252..=-4.
        assert_eq!(g.uniform_hint(3, ChunkKey::new(0, -1, 0)), Some(MaterialId(1)));
        assert_eq!(g.uniform_hint(3, ChunkKey::new(0, 0, 0)), Some(MaterialId::AIR), "centres 4..=252");
        let hill = FlatGenerator { height: 100, ..g };
        assert_eq!(hill.uniform_hint(3, ChunkKey::new(0, 0, 0)), None, "the ground's top at 100 between them");
    }
}
