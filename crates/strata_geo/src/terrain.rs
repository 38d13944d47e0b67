//! [`NoiseTerrain`]: an infinite heightmap terrain (fbm noise) with grass, dirt, stone, sandy
//! beaches and a sea, the generator of the flat-world examples and tests; its planet-shaped
//! sibling is [`PlanetGenerator`](crate::PlanetGenerator).

use crate::perlin::FbmNoise;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use strata_core::generator::{LodCells, surface_above};
use strata_core::{
    CHUNK_SIZE, Chunk, ChunkKey, DenseChunk, LocalPos, MaterialId, TileCache, TileKey, Up, VoxelPos, WorldGenerator,
};

/// The surface heights of a node's 32 × 32 columns ([`NoiseTerrain::height_tile`]): 4 KiB.
pub type HeightTile = [i32; CHUNK_SIZE * CHUNK_SIZE];

/// Names (in `assets/materials.ron`) of the materials [`NoiseTerrain`] places.
pub const TERRAIN_MATERIALS: [&str; 5] = ["stone", "dirt", "grass", "sand", "water"];

/// Material ids used by [`NoiseTerrain`] (matching `assets/materials.ron`).
pub mod terrain_ids {
    use strata_core::MaterialId;
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

/// Why a [`TerrainConfig`] was refused (by [`TerrainConfig::validate`]).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TerrainConfigError {
    /// A float field is NaN or infinite.
    #[error("terrain {field} is {value}, not a finite number")]
    NotFinite {
        /// The field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// A field lies outside its documented range.
    #[error("terrain {field} is {value}, outside {range}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// Its value.
        value: f64,
        /// The accepted range, in words.
        range: &'static str,
    },
}

impl TerrainConfig {
    /// Largest `|base_height|` and `|sea_level|` accepted: 2³⁰ voxels, half the `i32` range, so
    /// heights, the sea and the layers below them never reach the edge of the voxel range.
    pub const MAX_HEIGHT: i32 = 1 << 30;
    /// Largest `amplitude` accepted (2²⁴ voxels).
    pub const MAX_AMPLITUDE: f64 = (1u32 << 24) as f64;
    /// Largest `soil_depth` accepted (2²⁰ voxels).
    pub const MAX_SOIL_DEPTH: i32 = 1 << 20;
    /// Largest `octaves` accepted.
    pub const MAX_OCTAVES: usize = 12;

    /// Checks every field against its documented range: `base_height` and `sea_level` within
    /// ±[`Self::MAX_HEIGHT`], `amplitude` in `0..=`[`Self::MAX_AMPLITUDE`], `frequency` in
    /// `0..=1` (per voxel), `octaves` in `1..=`[`Self::MAX_OCTAVES`], `soil_depth` in
    /// `0..=`[`Self::MAX_SOIL_DEPTH`]. Settings read from a save or a file go through it (see
    /// [`NoiseTerrain::try_new`]).
    pub fn validate(&self) -> Result<(), TerrainConfigError> {
        for (field, value) in [("amplitude", self.amplitude), ("frequency", self.frequency)] {
            if !value.is_finite() {
                return Err(TerrainConfigError::NotFinite { field, value });
            }
        }
        let range = |field: &'static str, value: f64, lo: f64, hi: f64, words: &'static str| {
            if (lo..=hi).contains(&value) {
                Ok(())
            } else {
                Err(TerrainConfigError::OutOfRange { field, value, range: words })
            }
        };
        let h = f64::from(Self::MAX_HEIGHT);
        range("base_height", f64::from(self.base_height), -h, h, "±2^30")?;
        range("sea_level", f64::from(self.sea_level), -h, h, "±2^30")?;
        range("amplitude", self.amplitude, 0.0, Self::MAX_AMPLITUDE, "0..=2^24")?;
        range("frequency", self.frequency, 0.0, 1.0, "0..=1")?;
        range("octaves", self.octaves as f64, 1.0, Self::MAX_OCTAVES as f64, "1..=12")?;
        range("soil_depth", f64::from(self.soil_depth), 0.0, f64::from(Self::MAX_SOIL_DEPTH), "0..=2^20")?;
        Ok(())
    }
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
/// `generate` and `sample_lod` read the height map of the node's 32 × 32 columns from a tile
/// kept per column of nodes and level (the last [`NoiseTerrain::HEIGHT_TILES`] tiles used), so
/// a vertical stack of chunks, and the index's generated stubs beside them, evaluate the noise
/// (`octaves` Perlin samples per column) once per column, not once per chunk. They return a
/// uniform chunk without touching voxels when the node lies wholly above the terrain and sea,
/// or wholly below the soil; otherwise they fill 32³ voxels from the heights.
pub struct NoiseTerrain {
    config: TerrainConfig,
    fbm: FbmNoise,
    heights: TileCache<HeightTile>,
}

impl NoiseTerrain {
    /// A terrain with `config`, which is not checked: any values give a terrain without
    /// panicking (octaves are clamped to `1..=12`, heights saturate), but values outside the
    /// documented ranges make odd ones. Settings from a file or a save go through
    /// [`NoiseTerrain::try_new`].
    pub fn new(config: TerrainConfig) -> Self {
        let octaves = config.octaves.clamp(1, TerrainConfig::MAX_OCTAVES);
        // Octave `i` is Perlin noise seeded `seed + i`, wrapping: what `Fbm::new(seed)` makes,
        // bit for bit, without its unchecked addition (which panics for seeds near `u32::MAX`
        // in builds with overflow checks; found by the `configs` fuzz target).
        let fbm = FbmNoise::new(config.seed, octaves, 1.0);
        Self { config, fbm, heights: TileCache::new(Self::HEIGHT_TILES) }
    }

    /// Height tiles kept (4 KiB each, so 8 MiB): about four times the columns of nodes in the
    /// default LOD-0 view (radius 12 chunks: ~450 columns), so a flight's recent columns stay.
    pub const HEIGHT_TILES: usize = 2048;

    /// The surface heights of the 32 × 32 columns node `node` at `level` samples (level 0: the
    /// chunk's voxel columns; level `k`: its cells' centre columns, [`LodCells::axis`]), x
    /// fastest (`heights[z * 32 + x]`, each [`NoiseTerrain::height`] of its column); from the
    /// tile cache, computed on a miss. For callers that walk columns themselves.
    ///
    /// # Runtime
    /// A hit: one hash and a short lock; a miss: 1,024 height evaluations.
    pub fn height_tile(&self, level: u32, node: ChunkKey) -> Arc<HeightTile> {
        let key = TileKey { level, x: node.x, z: node.z };
        self.heights.get_or_compute(key, || {
            let mut heights = [0i32; CHUNK_SIZE * CHUNK_SIZE];
            if level == 0 {
                let origin = node.min_voxel();
                for z in 0..CHUNK_SIZE {
                    for x in 0..CHUNK_SIZE {
                        heights[z * CHUNK_SIZE + x] =
                            self.height(origin.x.wrapping_add(x as i32), origin.z.wrapping_add(z as i32));
                    }
                }
            } else {
                let cells = LodCells::new(level, node);
                for z in 0..CHUNK_SIZE {
                    for x in 0..CHUNK_SIZE {
                        heights[z * CHUNK_SIZE + x] = self.height(cells.axis(0, x as u8), cells.axis(2, z as u8));
                    }
                }
            }
            heights
        })
    }

    /// A terrain with `config` after [`TerrainConfig::validate`].
    pub fn try_new(config: TerrainConfig) -> Result<Self, TerrainConfigError> {
        config.validate()?;
        Ok(Self::new(config))
    }

    /// The configuration.
    pub fn config(&self) -> &TerrainConfig {
        &self.config
    }

    /// Surface height at column (x, z): the topmost solid voxel.
    pub fn height(&self, x: i32, z: i32) -> i32 {
        let f = self.config.frequency;
        // The noise crate panics on coordinates that do not fit an `isize` after its octaves'
        // scaling (NaN, infinite, huge: only from unchecked frequencies): keep them in range.
        let at = |v: i32| {
            let p = f64::from(v) * f;
            if p.is_finite() { p.clamp(-1e15, 1e15) } else { 0.0 }
        };
        let n = self.fbm.get2([at(x), at(z)]);
        self.config.base_height.saturating_add((n * self.config.amplitude).floor() as i32)
    }

    /// Bounds of every column's surface height, from the formula alone: `base_height +
    /// ⌊n × amplitude⌋` with the fbm value `n` in [−1, 1] (each Perlin octave is clamped to
    /// ±1 and the octaves' weights are normalised to sum to 1; the bounds are widened by a
    /// billionth of the amplitude for rounding). `None` for an amplitude that is not finite.
    pub fn height_bounds(&self) -> Option<(i32, i32)> {
        let a = self.config.amplitude.abs();
        if !a.is_finite() {
            return None;
        }
        let widen = a * 1e-9;
        let base = self.config.base_height;
        Some((base.saturating_add((-a - widen).floor() as i32), base.saturating_add((a + widen).floor() as i32)))
    }

    /// The one material of a node whose rows of cells lie at heights `y0..=y1` (voxels at
    /// level 0, cell centres above, with `above` the centre above the top row; `y1` at level
    /// 0) over columns whose surfaces all lie in `lo..=hi`; `None` if its cells can differ.
    fn uniform_rows(&self, y0: i64, y1: i64, above: i64, lo: i32, hi: i32) -> Option<MaterialId> {
        let c = &self.config;
        if y0 > i64::from(hi.max(c.sea_level)) {
            return Some(MaterialId::AIR);
        }
        if y0 > i64::from(hi) && y1 <= i64::from(c.sea_level) {
            return Some(terrain_ids::WATER);
        }
        // All stone: below every column's surface and soil (a negative soil depth adds none),
        // and (above level 0) the next centre above the top cells is in the ground too.
        if y1 < i64::from(lo) && y1 <= i64::from(lo.saturating_sub(c.soil_depth)) && above <= i64::from(lo) {
            return Some(terrain_ids::STONE);
        }
        None
    }

    /// The material at height `y` in a column whose surface (topmost solid voxel) is `h`:
    /// `material_at(x, y, z) == material_in_column(y, height(x, z))`. Lets callers that walk
    /// columns evaluate the height map once per column.
    pub fn material_in_column(&self, y: i32, h: i32) -> MaterialId {
        use terrain_ids::*;
        let c = &self.config;
        let beach = h <= c.sea_level.saturating_add(1);
        if y > h {
            if y <= c.sea_level { WATER } else { MaterialId::AIR }
        } else if y == h {
            if beach { SAND } else { GRASS }
        } else if y > h.saturating_sub(c.soil_depth) {
            if beach { SAND } else { DIRT }
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
        let heights = self.height_tile(0, key);
        let (lo, hi) = min_max(&heights);
        let y0 = origin.y as i64;
        let y1 = y0 + CHUNK_SIZE as i64 - 1;
        if let Some(m) = self.uniform_rows(y0, y1, y1, lo, hi) {
            return Chunk::Uniform(m);
        }
        // x fastest, as the voxels lie (`x + 32·y + 1024·z`).
        let mut d = DenseChunk::filled(MaterialId::AIR);
        let voxels = d.as_mut_slice();
        for z in 0..CHUNK_SIZE {
            let row = &heights[z * CHUNK_SIZE..(z + 1) * CHUNK_SIZE];
            for y in 0..CHUNK_SIZE {
                let vy = origin.y.wrapping_add(y as i32);
                let out = &mut voxels[(z * CHUNK_SIZE + y) * CHUNK_SIZE..][..CHUNK_SIZE];
                for (v, &h) in out.iter_mut().zip(row) {
                    *v = self.material_in_column(vy, h).0;
                }
            }
        }
        let mut chunk = Chunk::Dense(d);
        chunk.normalize();
        chunk
    }

    /// Same cells as the default ([`lod_cell`](strata_core::generator::lod_cell): centre samples, the surface above them under
    /// air), with one height evaluation per column (each column crosses the surface once, so
    /// the bisection runs on the column's own formula) and uniform fast paths.
    fn sample_lod(&self, level: u32, node: ChunkKey) -> Chunk {
        if level == 0 {
            return self.generate(node);
        }
        let cells = LodCells::new(level, node);
        let heights = self.height_tile(level, node);
        let (lo, hi) = min_max(&heights);
        let ys: [i32; CHUNK_SIZE] = std::array::from_fn(|y| cells.axis(1, y as u8));
        let (y0, y1) = (ys[0], ys[CHUNK_SIZE - 1]);
        // Stone only if the next centre above the top cells stays in the ground too.
        let above = LodCells::clamped([0, i64::from(y1) + cells.size(), 0]).y;
        if let Some(m) = self.uniform_rows(y0.into(), y1.into(), above.into(), lo, hi) {
            return Chunk::Uniform(m);
        }
        let mut d = DenseChunk::filled(MaterialId::AIR);
        for z in 0..CHUNK_SIZE {
            for x in 0..CHUNK_SIZE {
                let h = heights[z * CHUNK_SIZE + x];
                let column = |p: [i64; 3]| self.material_in_column(LodCells::clamped(p).y, h);
                for (y, &vy) in ys.iter().enumerate() {
                    let m = self.material_in_column(vy, h);
                    let l = LocalPos::new(x as u8, y as u8, z as u8);
                    let shown = if m == MaterialId::AIR {
                        m
                    } else {
                        surface_above(cells.centre_unclamped(l), m, cells.size(), Up::PosY, None, column)
                    };
                    d.set(l.index(), shown);
                }
            }
        }
        let mut chunk = Chunk::Dense(d);
        chunk.normalize();
        chunk
    }

    /// From the bounds of the height map ([`NoiseTerrain::height_bounds`]): air above the
    /// highest possible surface and the sea, water between it and the sea, stone below the
    /// lowest possible soil; `None` for nodes the surface may cross.
    fn uniform_hint(&self, level: u32, node: ChunkKey) -> Option<MaterialId> {
        let (lo, hi) = self.height_bounds()?;
        if level == 0 {
            // The voxels themselves (no hint where they leave the `i32` range).
            let (y0, y1) = strata_core::generator::chunk_rows(node)?;
            return self.uniform_rows(y0, y1, y1, lo, hi);
        }
        let cells = LodCells::new(level, node);
        let (y0, y1) = (cells.axis(1, 0), cells.axis(1, CHUNK_SIZE as u8 - 1));
        let above = LodCells::clamped([0, i64::from(y1) + cells.size(), 0]).y;
        self.uniform_rows(y0.into(), y1.into(), above.into(), lo, hi)
    }
}

/// The lowest and highest of `heights`.
fn min_max(heights: &HeightTile) -> (i32, i32) {
    heights.iter().fold((i32::MAX, i32::MIN), |(lo, hi), &h| (lo.min(h), hi.max(h)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use noise::{Fbm, MultiFractal, NoiseFn, Perlin};
    use strata_core::LocalIndex;

    #[test]
    fn a_negative_soil_depth_keeps_generate_and_material_at_equal() {
        // Found by the `configs` fuzz target: the all-stone shortcut took `lo - soil_depth` as
        // the stone line, above the surface when the depth is negative.
        let config = TerrainConfig {
            amplitude: 0.0,
            base_height: -3,
            soil_depth: -5,
            sea_level: -100,
            ..TerrainConfig::default()
        };
        let g = NoiseTerrain::new(config);
        let key = ChunkKey::new(0, -1, 0);
        let chunk = g.generate(key);
        for y in 0..32u8 {
            let l = LocalPos::new(3, y, 4);
            assert_eq!(chunk.get(l.index()), g.material_at(VoxelPos::from_parts(key, l)), "y {y}");
        }
    }

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
            for i in (0..strata_core::CHUNK_VOLUME as u16).step_by(97) {
                let l = LocalIndex::new(i);
                assert_eq!(c.get(l), g.material_at(VoxelPos::from_parts(key, l.pos())), "{key:?} {l:?}");
            }
        }
    }

    #[test]
    fn terrain_config_validation_names_the_field() {
        TerrainConfig::default().validate().unwrap();
        let bad = |c: TerrainConfig| c.validate().unwrap_err();
        let d = TerrainConfig::default;
        assert!(matches!(
            bad(TerrainConfig { amplitude: f64::NAN, ..d() }),
            TerrainConfigError::NotFinite { field: "amplitude", .. }
        ));
        assert!(matches!(
            bad(TerrainConfig { frequency: f64::INFINITY, ..d() }),
            TerrainConfigError::NotFinite { field: "frequency", .. }
        ));
        for (c, name) in [
            (TerrainConfig { sea_level: i32::MAX, ..d() }, "sea_level"),
            (TerrainConfig { base_height: i32::MIN, ..d() }, "base_height"),
            (TerrainConfig { amplitude: -1.0, ..d() }, "amplitude"),
            (TerrainConfig { octaves: 0, ..d() }, "octaves"),
            (TerrainConfig { octaves: 13, ..d() }, "octaves"),
            (TerrainConfig { soil_depth: -1, ..d() }, "soil_depth"),
            (TerrainConfig { frequency: 2.0, ..d() }, "frequency"),
        ] {
            assert!(matches!(bad(c.clone()), TerrainConfigError::OutOfRange { field, .. } if field == name), "{c:?}");
            assert!(NoiseTerrain::try_new(c).is_err());
        }
    }

    /// Unchecked extreme settings still generate (saturating, no overflow) — what
    /// `NoiseTerrain::new` promises.
    #[test]
    fn extreme_settings_generate_without_overflow() {
        for c in [
            TerrainConfig { sea_level: i32::MAX, ..TerrainConfig::default() },
            TerrainConfig { sea_level: i32::MIN, soil_depth: i32::MAX, ..TerrainConfig::default() },
            TerrainConfig { base_height: i32::MAX, amplitude: f64::MAX, ..TerrainConfig::default() },
            TerrainConfig {
                base_height: i32::MIN,
                amplitude: f64::INFINITY,
                soil_depth: i32::MIN,
                ..TerrainConfig::default()
            },
            // Found by the `configs` fuzz target: the noise crate panicked on these coordinates.
            TerrainConfig { frequency: f64::NAN, amplitude: f64::NAN, ..TerrainConfig::default() },
            TerrainConfig { frequency: f64::MAX, octaves: 40, ..TerrainConfig::default() },
            TerrainConfig { seed: u32::MAX, ..TerrainConfig::default() },
        ] {
            let g = NoiseTerrain::new(c);
            for key in
                [ChunkKey::new(0, 0, 0), ChunkKey::new(strata_core::CHUNK_COORD_MAX, strata_core::CHUNK_COORD_MAX, 0)]
            {
                let chunk = g.generate(key);
                assert_eq!(chunk.get(LocalIndex::new(0)), g.material_at(key.min_voxel()));
                let _ = g.sample_lod(3, ChunkKey::new(0, 0, 0));
            }
        }
    }

    /// The octave sources are built by hand (to wrap the seed): the terrain is the one
    /// `Fbm::new(seed)` makes, so existing worlds keep their ground.
    #[test]
    fn terrain_is_the_fbm_of_its_seed() {
        for seed in [0, 7, 123_456] {
            let g = NoiseTerrain::new(TerrainConfig { seed, ..TerrainConfig::default() });
            let reference = Fbm::<Perlin>::new(seed).set_octaves(5).set_frequency(1.0);
            for (x, z) in [(0, 0), (17, -300), (-4000, 999), (123_457, -77)] {
                let f = g.config().frequency;
                let n = reference.get([f64::from(x) * f, f64::from(z) * f]);
                assert_eq!(g.height(x, z), (n * g.config().amplitude).floor() as i32, "seed {seed} at {x},{z}");
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

    /// The height tiles are shared by every call of one terrain: stacked chunks, every level
    /// over the same columns, several threads, and more columns than the cache keeps. Each
    /// answer still matches the per-voxel reference (the trait's defaults over `material_at`).
    #[test]
    fn cached_heights_give_the_reference_voxels_at_every_level_and_thread() {
        struct Plain(NoiseTerrain);
        impl WorldGenerator for Plain {
            fn material_at(&self, pos: VoxelPos) -> MaterialId {
                self.0.material_at(pos)
            }
        }
        let config = TerrainConfig { amplitude: 80.0, ..TerrainConfig::default() };
        let g = NoiseTerrain::new(config.clone());
        let plain = Plain(NoiseTerrain::new(config));
        // Level-k node (x, y, z) and the chunk stack below its corner share columns only if
        // the cache keys tiles by level; the stacks fill the cache past its capacity.
        let mut nodes = Vec::new();
        for level in 0..4u32 {
            for y in -2..=2 {
                nodes.push((level, ChunkKey::new(0, y, 0)));
                nodes.push((level, ChunkKey::new(-1, y, 1)));
            }
        }
        std::thread::scope(|s| {
            for t in 0..2 {
                let (g, plain, nodes) = (&g, &plain, &nodes);
                s.spawn(move || {
                    for round in 0..2 {
                        for &(level, key) in nodes.iter().skip(t) {
                            assert_eq!(g.sample_lod(level, key), plain.sample_lod(level, key), "{level} {key:?}");
                        }
                        // Evicts (most of) what the first round cached.
                        if round == 0 {
                            for i in 0..(NoiseTerrain::HEIGHT_TILES as i32 / 2) {
                                let _ = g.height_tile(0, ChunkKey::new(1000 + i, 0, 2 * t as i32));
                            }
                        }
                    }
                });
            }
        });
        assert!(g.heights.len() <= g.heights.capacity());
    }

    /// The reference: `NoiseTerrain`'s voxels with the trait's default `generate` and
    /// `sample_lod` (per-voxel sampling, the LOD rule walked on `material_at`), no hint.
    struct Reference(NoiseTerrain);
    impl WorldGenerator for Reference {
        fn material_at(&self, pos: VoxelPos) -> MaterialId {
            self.0.material_at(pos)
        }
    }

    /// Node `y` at `level` whose cells sit around height `target`, `dy` nodes off.
    fn node_y_near(target: i32, level: u32, dy: i32) -> i32 {
        (target.div_euclid(32 << level)).saturating_add(dy)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Every node the hint calls uniform is uniform voxel for voxel (level 0) or cell for
        /// cell under the reference LOD rule (above), on terrains whose bounds are tight
        /// (amplitude 0: every column at `base_height`) and loose, for nodes around the edges
        /// the hint reasons about (the soil's bottom, the lowest and highest surface, the sea).
        #[test]
        fn the_uniform_hint_never_lies(
            seed in proptest::prelude::any::<u32>(),
            base in -150i32..150,
            amplitude in proptest::prop_oneof![proptest::strategy::Just(0.0), 0.0f64..4.0, 0.0f64..64.0],
            sea in -200i32..200,
            soil in 0i32..20,
            octaves in 1usize..5,
            level in 0u32..6,
            x in -40i32..40,
            z in -40i32..40,
            dy in -2i32..=2,
            edge in 0usize..4,
        ) {
            let config = TerrainConfig { seed, base_height: base, amplitude, sea_level: sea, soil_depth: soil, octaves, ..TerrainConfig::default() };
            let g = NoiseTerrain::new(config.clone());
            let (lo, hi) = g.height_bounds().unwrap();
            let target = [lo - soil, lo, hi, sea][edge];
            let node = ChunkKey::new(x, node_y_near(target, level, dy), z);
            if let Some(m) = g.uniform_hint(level, node) {
                let reference = Reference(NoiseTerrain::new(config));
                let want = if level == 0 {
                    // Voxel for voxel.
                    let origin = node.min_voxel();
                    let mut all = true;
                    'voxels: for lz in 0..32 { for ly in 0..32 { for lx in 0..32 {
                        let p = VoxelPos::new(origin.x + lx, origin.y + ly, origin.z + lz);
                        if reference.material_at(p) != m { all = false; break 'voxels; }
                    }}}
                    all
                } else {
                    reference.sample_lod(level, node) == Chunk::Uniform(m)
                };
                proptest::prop_assert!(want, "hint {m:?} for {level} {node:?} (bounds {lo}..={hi}, sea {sea}, soil {soil})");
                proptest::prop_assert_eq!(g.sample_lod(level, node), Chunk::Uniform(m));
            }
        }
    }

    #[test]
    fn the_hint_answers_away_from_the_surface_and_not_across_it() {
        let g = NoiseTerrain::new(TerrainConfig {
            amplitude: 0.0,
            base_height: 0,
            sea_level: -8,
            soil_depth: 4,
            ..TerrainConfig::default()
        });
        assert_eq!(g.height_bounds(), Some((0, 0)));
        assert_eq!(g.uniform_hint(0, ChunkKey::new(3, 0, 1)), None, "the surface crosses chunk y 0");
        assert_eq!(g.uniform_hint(0, ChunkKey::new(3, 1, 1)), Some(MaterialId::AIR));
        assert_eq!(g.uniform_hint(0, ChunkKey::new(3, -1, 1)), None, "y -32..=-1 holds the soil (-3..=-1)");
        assert_eq!(g.uniform_hint(0, ChunkKey::new(3, -2, 1)), Some(terrain_ids::STONE));
        assert_eq!(
            g.uniform_hint(2, ChunkKey::new(0, -1, 0)),
            None,
            "the next centre above the top cells is the surface"
        );
        assert_eq!(g.uniform_hint(2, ChunkKey::new(0, -2, 0)), Some(terrain_ids::STONE));
        let sea = NoiseTerrain::new(TerrainConfig {
            amplitude: 0.0,
            base_height: -100,
            sea_level: 40,
            ..TerrainConfig::default()
        });
        assert_eq!(sea.uniform_hint(0, ChunkKey::new(0, 0, 0)), Some(terrain_ids::WATER));
        assert_eq!(sea.uniform_hint(0, ChunkKey::new(0, 1, 0)), None, "the sea's top");
        assert_eq!(sea.uniform_hint(0, ChunkKey::new(0, 2, 0)), Some(MaterialId::AIR));
        let wild = NoiseTerrain::new(TerrainConfig { amplitude: f64::INFINITY, ..TerrainConfig::default() });
        assert_eq!(wild.uniform_hint(0, ChunkKey::new(0, 1000, 0)), None, "no bounds, no hint");
    }
}
