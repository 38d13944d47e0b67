//! Deterministic world generators: the baseline every unedited chunk comes from.

use crate::chunk::{Chunk, DenseChunk};
use crate::coords::{CHUNK_SIZE, ChunkKey, LocalPos, VoxelPos};
use crate::material::MaterialId;
use noise::{Fbm, MultiFractal, NoiseFn, Perlin};
use serde::{Deserialize, Serialize};

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

    /// The 32³ level-of-detail grid of the octree node `node` at `level` (level 0 is one chunk;
    /// level `k` covers 2ᵏ chunks per side, so each cell stands for (2ᵏ)³ voxels; `node` is the
    /// chunk key shifted right by `level`).
    ///
    /// The rule is a **point sample at the cell centre**: cell `c` is `material_at` of voxel
    /// `origin + c·2ᵏ + 2ᵏ⁻¹`. Level 0 is exactly [`WorldGenerator::generate`]. The result is
    /// normalized (uniform when every cell agrees). Implementations may override it with a faster
    /// version that returns the same cells.
    ///
    /// # Runtime
    /// The default calls `material_at` 32³ times.
    fn sample_lod(&self, level: u32, node: ChunkKey) -> Chunk {
        if level == 0 {
            return self.generate(node);
        }
        let cell = LodCells::new(level, node);
        let mut c = Chunk::Dense(DenseChunk::from_fn(|l| self.material_at(cell.centre(l))));
        c.normalize();
        c
    }
}

/// Cell-centre arithmetic of [`WorldGenerator::sample_lod`], in `i64` so no level overflows.
#[derive(Clone, Copy, Debug)]
struct LodCells {
    origin: [i64; 3],
    size: i64,
}

impl LodCells {
    fn new(level: u32, node: ChunkKey) -> Self {
        let level = level.min(26);
        let size = 1i64 << level;
        let edge = size * CHUNK_SIZE as i64;
        Self { origin: node.to_array().map(|v| v as i64 * edge), size }
    }

    /// Centre coordinate of cell `c` on axis `axis`, clamped into the `i32` voxel range.
    fn axis(&self, axis: usize, c: u8) -> i32 {
        let v = self.origin[axis] + c as i64 * self.size + self.size / 2;
        v.clamp(i32::MIN as i64, i32::MAX as i64) as i32
    }

    fn centre(&self, l: LocalPos) -> VoxelPos {
        VoxelPos::new(self.axis(0, l.x), self.axis(1, l.y), self.axis(2, l.z))
    }
}

/// Names (in `assets/materials.ron`) of the materials [`NoiseTerrain`] places.
pub const TERRAIN_MATERIALS: [&str; 5] = ["stone", "dirt", "grass", "sand", "water"];

/// Material ids used by [`NoiseTerrain`] (matching `assets/materials.ron`).
pub mod terrain_ids {
    use crate::MaterialId;
    /// Stone.
    pub const STONE: MaterialId = MaterialId(1);
    /// Dirt.
    pub const DIRT: MaterialId = MaterialId(2);
    /// Grass.
    pub const GRASS: MaterialId = MaterialId(3);
    /// Sand.
    pub const SAND: MaterialId = MaterialId(4);
    /// Water.
    pub const WATER: MaterialId = MaterialId(5);
}

/// Parameters of [`NoiseTerrain`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TerrainConfig {
    /// Noise seed.
    pub seed: u32,
    /// Mean surface height, in voxels.
    pub base_height: i32,
    /// Surface height varies by up to ± this many voxels.
    pub amplitude: f64,
    /// Horizontal feature size: noise frequency per voxel.
    pub frequency: f64,
    /// fbm octaves.
    pub octaves: usize,
    /// Water fills air at or below this height.
    pub sea_level: i32,
    /// Depth of the dirt layer below the surface voxel.
    pub soil_depth: i32,
}

impl Default for TerrainConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            base_height: 0,
            amplitude: 48.0,
            frequency: 1.0 / 256.0,
            octaves: 5,
            sea_level: -8,
            soil_depth: 4,
        }
    }
}

/// A height-map terrain from fractal Perlin noise: stone, a dirt layer, grass (sand near the
/// sea), and water up to sea level.
///
/// # Runtime
/// `generate` evaluates the height map once per column (1024 per chunk) and returns a uniform
/// chunk without touching voxels when the chunk lies wholly above the terrain and sea, or wholly
/// below the soil.
pub struct NoiseTerrain {
    config: TerrainConfig,
    fbm: Fbm<Perlin>,
}

impl NoiseTerrain {
    /// A terrain with `config`.
    pub fn new(config: TerrainConfig) -> Self {
        let fbm = Fbm::<Perlin>::new(config.seed).set_octaves(config.octaves.clamp(1, 12)).set_frequency(1.0);
        Self { config, fbm }
    }

    /// The configuration.
    pub fn config(&self) -> &TerrainConfig {
        &self.config
    }

    /// Surface height at column (x, z): the topmost solid voxel.
    pub fn height(&self, x: i32, z: i32) -> i32 {
        let f = self.config.frequency;
        let n = self.fbm.get([x as f64 * f, z as f64 * f]);
        self.config.base_height.saturating_add((n * self.config.amplitude).floor() as i32)
    }

    /// The material at height `y` in a column whose surface (topmost solid voxel) is `h`:
    /// `material_at(x, y, z) == material_in_column(y, height(x, z))`. Lets callers that walk
    /// columns evaluate the height map once per column.
    pub fn material_in_column(&self, y: i32, h: i32) -> MaterialId {
        use terrain_ids::*;
        let c = &self.config;
        if y > h {
            if y <= c.sea_level { WATER } else { MaterialId::AIR }
        } else if y == h {
            if h <= c.sea_level + 1 { SAND } else { GRASS }
        } else if y > h.saturating_sub(c.soil_depth) {
            if h <= c.sea_level + 1 { SAND } else { DIRT }
        } else {
            STONE
        }
    }
}

impl WorldGenerator for NoiseTerrain {
    fn material_at(&self, pos: VoxelPos) -> MaterialId {
        self.material_in_column(pos.y, self.height(pos.x, pos.z))
    }

    fn generate(&self, key: ChunkKey) -> Chunk {
        let origin = key.min_voxel();
        let mut heights = [0i32; CHUNK_SIZE * CHUNK_SIZE];
        let (mut lo, mut hi) = (i32::MAX, i32::MIN);
        for z in 0..CHUNK_SIZE {
            for x in 0..CHUNK_SIZE {
                let h = self.height(origin.x.wrapping_add(x as i32), origin.z.wrapping_add(z as i32));
                heights[z * CHUNK_SIZE + x] = h;
                lo = lo.min(h);
                hi = hi.max(h);
            }
        }
        let y0 = origin.y as i64;
        let y1 = y0 + CHUNK_SIZE as i64 - 1;
        let c = &self.config;
        if y0 > hi.max(c.sea_level) as i64 {
            return Chunk::Uniform(MaterialId::AIR);
        }
        if y0 > hi as i64 && y1 <= c.sea_level as i64 {
            return Chunk::Uniform(terrain_ids::WATER);
        }
        if y1 <= lo.saturating_sub(c.soil_depth) as i64 {
            return Chunk::Uniform(terrain_ids::STONE);
        }
        let mut d = DenseChunk::filled(MaterialId::AIR);
        for z in 0..CHUNK_SIZE {
            for x in 0..CHUNK_SIZE {
                let h = heights[z * CHUNK_SIZE + x];
                for y in 0..CHUNK_SIZE {
                    let m = self.material_in_column(origin.y.wrapping_add(y as i32), h);
                    d.set(LocalPos::new(x as u8, y as u8, z as u8).index(), m);
                }
            }
        }
        let mut chunk = Chunk::Dense(d);
        chunk.normalize();
        chunk
    }

    /// Same cells as the default (cell-centre point samples), with one height evaluation per
    /// column and uniform fast paths.
    fn sample_lod(&self, level: u32, node: ChunkKey) -> Chunk {
        if level == 0 {
            return self.generate(node);
        }
        let cells = LodCells::new(level, node);
        let mut heights = [0i32; CHUNK_SIZE * CHUNK_SIZE];
        let (mut lo, mut hi) = (i32::MAX, i32::MIN);
        for z in 0..CHUNK_SIZE {
            for x in 0..CHUNK_SIZE {
                let h = self.height(cells.axis(0, x as u8), cells.axis(2, z as u8));
                heights[z * CHUNK_SIZE + x] = h;
                lo = lo.min(h);
                hi = hi.max(h);
            }
        }
        let ys: [i32; CHUNK_SIZE] = std::array::from_fn(|y| cells.axis(1, y as u8));
        let (y0, y1) = (ys[0], ys[CHUNK_SIZE - 1]);
        let c = &self.config;
        if y0 > hi.max(c.sea_level) {
            return Chunk::Uniform(MaterialId::AIR);
        }
        if y0 > hi && y1 <= c.sea_level {
            return Chunk::Uniform(terrain_ids::WATER);
        }
        if y1 <= lo.saturating_sub(c.soil_depth) {
            return Chunk::Uniform(terrain_ids::STONE);
        }
        let mut d = DenseChunk::filled(MaterialId::AIR);
        for z in 0..CHUNK_SIZE {
            for x in 0..CHUNK_SIZE {
                let h = heights[z * CHUNK_SIZE + x];
                for (y, &vy) in ys.iter().enumerate() {
                    d.set(LocalPos::new(x as u8, y as u8, z as u8).index(), self.material_in_column(vy, h));
                }
            }
        }
        let mut chunk = Chunk::Dense(d);
        chunk.normalize();
        chunk
    }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coords::LocalIndex;

    #[test]
    fn generate_agrees_with_material_at() {
        let g = NoiseTerrain::new(TerrainConfig::default());
        for key in [
            ChunkKey::new(0, 0, 0),
            ChunkKey::new(-3, -1, 5),
            ChunkKey::new(2, 1, -2),
            ChunkKey::new(0, -5, 0),
            ChunkKey::new(0, 6, 0),
        ] {
            let c = g.generate(key);
            for i in (0..crate::CHUNK_VOLUME as u16).step_by(97) {
                let l = LocalIndex::new(i);
                assert_eq!(c.get(l), g.material_at(VoxelPos::from_parts(key, l.pos())), "{key:?} {l:?}");
            }
        }
    }

    #[test]
    fn deterministic_and_seeded() {
        let a = NoiseTerrain::new(TerrainConfig::default());
        let b = NoiseTerrain::new(TerrainConfig::default());
        let c = NoiseTerrain::new(TerrainConfig { seed: 99, ..TerrainConfig::default() });
        let k = ChunkKey::new(1, 0, 1);
        assert_eq!(a.generate(k), b.generate(k));
        assert_ne!(a.generate(k), c.generate(k));
    }

    #[test]
    fn far_away_and_extreme_chunks_are_uniform() {
        let g = NoiseTerrain::new(TerrainConfig::default());
        assert_eq!(g.generate(ChunkKey::new(0, 100, 0)), Chunk::Uniform(MaterialId::AIR));
        assert_eq!(g.generate(ChunkKey::new(0, -100, 0)), Chunk::Uniform(terrain_ids::STONE));
        let far = VoxelPos::new(i32::MAX, i32::MIN, i32::MIN).chunk();
        assert_eq!(g.generate(far), Chunk::Uniform(terrain_ids::STONE));
    }

    #[test]
    fn sample_lod_override_matches_default() {
        struct Plain(NoiseTerrain);
        impl WorldGenerator for Plain {
            fn material_at(&self, pos: VoxelPos) -> MaterialId {
                self.0.material_at(pos)
            }
        }
        let g = NoiseTerrain::new(TerrainConfig::default());
        let plain = Plain(NoiseTerrain::new(TerrainConfig::default()));
        for (level, key) in [
            (1, ChunkKey::new(0, 0, 0)),
            (2, ChunkKey::new(-1, -1, 0)),
            (3, ChunkKey::new(0, 2, -1)),
            (4, ChunkKey::new(0, -3, 0)),
            (0, ChunkKey::new(0, 0, 1)),
        ] {
            assert_eq!(g.sample_lod(level, key), plain.sample_lod(level, key), "level {level} {key:?}");
        }
        let far = VoxelPos::new(i32::MAX, i32::MIN, i32::MIN).chunk();
        assert_eq!(
            g.sample_lod(3, ChunkKey::new(far.x >> 3, far.y >> 3, far.z >> 3)),
            Chunk::Uniform(terrain_ids::STONE)
        );
    }

    #[test]
    fn flat_default_generate() {
        let g = FlatGenerator { height: 3, material: MaterialId(1) };
        assert_eq!(g.generate(ChunkKey::new(0, 1, 0)), Chunk::Uniform(MaterialId::AIR));
        let c = g.generate(ChunkKey::new(0, 0, 0));
        assert_eq!(c.get(LocalPos::new(0, 3, 0).index()), MaterialId(1));
        assert_eq!(c.get(LocalPos::new(0, 4, 0).index()), MaterialId::AIR);
    }
}
