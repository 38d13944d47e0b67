//! [`PlanetGenerator`]: the [`WorldGenerator`] of a planet, with its fast paths.

use crate::config::PlanetConfig;
use crate::error::{ConfigError, GeoError};
use crate::geo::{GeoCoord, GeoFrame};
use crate::ids::{AIR, WATER};
use crate::model::{Bounded, Model, radius_of, radius_range};
use crate::sources::{Direct, NodeMaps, Patch};
use std::cell::RefCell;
use strata_core::generator::{LodCells, surface_above};
use strata_core::{
    CHUNK_SIZE, CHUNK_VOLUME, Chunk, ChunkKey, DenseChunk, LocalIndex, LocalPos, MaterialId, VoxelPos, WorldGenerator,
    WorldUp,
};

/// LOD nodes whose patch would hold more fine nodes than this use hash maps instead.
const PATCH_LIMIT: u64 = 1 << 16;

/// Per-thread scratch: no allocation per chunk in steady state.
#[derive(Default)]
struct Scratch {
    patch: Patch,
    maps: NodeMaps,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// A planet: a sphere of [`PlanetConfig::radius`] voxels centred on voxel `(0, 0, 0)`, with
/// continents, oceans, mountain ranges, polar ice and layered geology (see the crate docs).
///
/// Deterministic: the same config gives the same voxels on every machine and thread.
pub struct PlanetGenerator {
    config: PlanetConfig,
    pub(crate) model: Model,
}

impl std::fmt::Debug for PlanetGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanetGenerator").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Default for PlanetGenerator {
    /// The default planet ([`PlanetConfig::default`]).
    fn default() -> Self {
        Self::from_valid(PlanetConfig::default())
    }
}

impl PlanetGenerator {
    /// A planet with `config`.
    ///
    /// # Errors
    /// [`ConfigError`] when the config is outside its documented ranges
    /// ([`PlanetConfig::validate`]).
    pub fn new(config: PlanetConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self::from_valid(config))
    }

    fn from_valid(config: PlanetConfig) -> Self {
        let model = Model::new(&config);
        Self { config, model }
    }

    /// The configuration.
    pub fn config(&self) -> &PlanetConfig {
        &self.config
    }

    /// The geographic frame (sea-level radius) for latitude / longitude / altitude conversions.
    pub fn frame(&self) -> GeoFrame {
        GeoFrame::new(self.config.sea_level_radius())
    }

    /// The range of surface altitudes any direction can have (relative to sea level), from the
    /// clamped noise amplitudes: every surface lies inside.
    pub fn altitude_bounds(&self) -> (f64, f64) {
        let off = self.config.sea_level_offset as f64;
        (self.model.fields.global_min() - off, self.model.fields.global_max() - off)
    }

    /// The radius beyond which everything is air, and the radius below which the material
    /// depends on the radius alone (mantle, outer core, inner core).
    pub fn radial_bounds(&self) -> (f64, f64) {
        (self.model.air_r, self.model.mantle_floor)
    }

    /// The material at `lat_deg`, `lon_deg`, `alt` (the voxel nearest to that point; see
    /// [`GeoFrame::to_voxel`]).
    ///
    /// # Errors
    /// The errors of [`GeoFrame::to_voxel`]: NaN, infinite, or out-of-range input.
    ///
    /// # Runtime
    /// As [`WorldGenerator::material_at`].
    pub fn material_at_geo(&self, lat_deg: f64, lon_deg: f64, alt: f64) -> Result<MaterialId, GeoError> {
        let pos = self.frame().to_voxel(GeoCoord::new(lat_deg, lon_deg, alt))?;
        Ok(self.material_at(pos))
    }

    /// The terrain surface's altitude above sea level at `lat_deg`, `lon_deg` (negative: sea
    /// floor). The surface radius is `sea_level_radius + altitude`; voxels whose centres lie
    /// within it (along their own direction) are solid.
    ///
    /// # Errors
    /// [`GeoError::NotFinite`] or [`GeoError::LatitudeOutOfRange`].
    ///
    /// # Runtime
    /// Up to 4 fine and 8 coarse noise nodes (usually 4), a few µs.
    pub fn surface_altitude(&self, lat_deg: f64, lon_deg: f64) -> Result<f64, GeoError> {
        let c = GeoCoord::new(lat_deg, lon_deg, 0.0).validated()?;
        Ok(self.surface_altitude_dir(c.direction()))
    }

    /// The terrain surface's altitude above sea level in the direction of `pos` from the centre;
    /// `None` for the centre itself.
    pub fn surface_altitude_toward(&self, pos: VoxelPos) -> Option<f64> {
        (pos != VoxelPos::new(0, 0, 0)).then(|| self.surface_altitude_dir(pos.to_array().map(f64::from)))
    }

    fn surface_altitude_dir(&self, dir: [f64; 3]) -> f64 {
        let g = self.model.grid.pos(dir);
        (self.model.radius + self.model.height_at(g, &mut Direct::default())) - self.model.sea_r
    }

    /// The material when the radius alone decides it for every radius in `r_min..=r_max`.
    fn uniform_by_radius(&self, r_min: f64, r_max: f64) -> Option<MaterialId> {
        let m = &self.model;
        if r_min > m.air_r {
            return Some(AIR);
        }
        // `deep` is a monotone step function of the radius.
        (r_max < m.mantle_floor && m.deep(r_min) == m.deep(r_max)).then(|| m.deep(r_min))
    }

    /// What the height bounds of a box of voxels (`lo..=hi`, radii `r_min..=r_max`) decide.
    fn decide(&self, bounds: (f64, f64), lo: [i64; 3], hi: [i64; 3], r_min: f64, r_max: f64) -> BoxFill {
        let y_abs_max = lo[1].unsigned_abs().max(hi[1].unsigned_abs()) as f64;
        let ice_free = self.model.ice_free(y_abs_max, r_min);
        match self.model.decide_bounds(r_min, r_max, bounds, ice_free) {
            Some(Bounded::Air) => BoxFill::Uniform(AIR),
            Some(Bounded::Water) => BoxFill::Uniform(WATER),
            Some(Bounded::Rock) => BoxFill::Rock,
            None => BoxFill::Each,
        }
    }

    /// Fills the voxels of `axes` selected by `range` (per axis) in chunk index order.
    fn fill(
        &self,
        axes: &[[i64; CHUNK_SIZE]; 3],
        range: [std::ops::Range<usize>; 3],
        fill: BoxFill,
        patch: &mut Patch,
        voxels: &mut [u16],
    ) {
        let m = &self.model;
        for z in range[2].clone() {
            for y in range[1].clone() {
                let row = (z * CHUNK_SIZE + y) * CHUNK_SIZE;
                for x in range[0].clone() {
                    let p = [axes[0][x], axes[1][y], axes[2][z]];
                    voxels[row + x] = match fill {
                        BoxFill::Uniform(mat) => mat,
                        BoxFill::Rock => m.classify_rock(p, radius_of(p), patch),
                        BoxFill::Each => m.classify(p, radius_of(p), patch),
                    }
                    .0;
                }
            }
        }
    }

    /// Dense chunks: decides each 8³ block from the radius, then the coarse, then the fine height
    /// bounds under it, and classifies voxel by voxel only where the surface may pass.
    fn fill_blocks(&self, axes: &[[i64; CHUNK_SIZE]; 3], patch: &mut Patch, voxels: &mut [u16]) {
        const B: usize = 8;
        for bz in 0..CHUNK_SIZE / B {
            for by in 0..CHUNK_SIZE / B {
                for bx in 0..CHUNK_SIZE / B {
                    let range = [bx * B..bx * B + B, by * B..by * B + B, bz * B..bz * B + B];
                    let lo = [axes[0][bx * B], axes[1][by * B], axes[2][bz * B]];
                    let hi = [axes[0][bx * B + B - 1], axes[1][by * B + B - 1], axes[2][bz * B + B - 1]];
                    let (r_min, r_max) = radius_range(lo, hi);
                    let fill = match self.uniform_by_radius(r_min, r_max) {
                        Some(mat) => BoxFill::Uniform(mat),
                        None => match self.decide(patch.coarse_bounds(&self.model, lo, hi), lo, hi, r_min, r_max) {
                            BoxFill::Each => self.decide(patch.fine_bounds(&self.model, lo, hi), lo, hi, r_min, r_max),
                            decided => decided,
                        },
                    };
                    self.fill(axes, range, fill, patch, voxels);
                }
            }
        }
    }

    /// Generates the grid at `axes` (per-axis voxel coordinates, increasing). `lod`: the points
    /// are LOD cell centres, far apart: `classify` uses per-cell height bounds instead of blocks.
    fn grid(&self, axes: &[[i64; CHUNK_SIZE]; 3], lod: bool) -> Chunk {
        let lo = [axes[0][0], axes[1][0], axes[2][0]];
        let hi = [axes[0][CHUNK_SIZE - 1], axes[1][CHUNK_SIZE - 1], axes[2][CHUNK_SIZE - 1]];
        let (r_min, r_max) = radius_range(lo, hi);
        if let Some(mat) = self.uniform_by_radius(r_min, r_max) {
            return Chunk::Uniform(mat);
        }
        SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            let mut dense = DenseChunk::filled(AIR);
            let all = [0..CHUNK_SIZE, 0..CHUNK_SIZE, 0..CHUNK_SIZE];
            if !lod || Patch::area(&self.model, lo, hi) <= PATCH_LIMIT {
                s.patch.reset(&self.model, lo, hi, lod);
                match self.decide(s.patch.coarse_bounds(&self.model, lo, hi), lo, hi, r_min, r_max) {
                    BoxFill::Uniform(mat) => return Chunk::Uniform(mat),
                    BoxFill::Each if !lod => self.fill_blocks(axes, &mut s.patch, dense.as_mut_slice()),
                    fill => self.fill(axes, all, fill, &mut s.patch, dense.as_mut_slice()),
                }
            } else {
                s.maps.clear();
                let m = &self.model;
                let voxels = dense.as_mut_slice();
                let mut idx = 0;
                for &z in &axes[2] {
                    for &y in &axes[1] {
                        for &x in &axes[0] {
                            let p = [x, y, z];
                            voxels[idx] = m.classify(p, radius_of(p), &mut s.maps).0;
                            idx += 1;
                        }
                    }
                }
            }
            let mut chunk = Chunk::Dense(dense);
            chunk.normalize();
            chunk
        })
    }
}

/// How a box of voxels is filled.
#[derive(Clone, Copy, Debug)]
enum BoxFill {
    /// One material.
    Uniform(MaterialId),
    /// Rock whatever the surface height: `Model::classify_rock` per voxel.
    Rock,
    /// `Model::classify` per voxel.
    Each,
}

impl WorldGenerator for PlanetGenerator {
    /// # Runtime
    /// O(1) above the highest possible terrain and in the mantle and core; elsewhere up to 4 fine
    /// and 8 coarse noise nodes (usually 4; ~5–15 µs): use [`WorldGenerator::generate`] for many
    /// voxels.
    fn material_at(&self, pos: VoxelPos) -> MaterialId {
        let p = pos.to_array().map(i64::from);
        self.model.classify(p, radius_of(p), &mut Direct::default())
    }

    /// # Runtime
    /// O(1) (`Uniform`) when the chunk's radius range lies above every possible surface or inside
    /// the mantle, outer core or inner core. Otherwise the few coarse nodes under the chunk bound
    /// its height: air, sea and all-rock chunks skip fine noise (rock is still classified per
    /// voxel: the strata undulate). Else each 8³ block is decided the same way, first from the
    /// coarse, then from the fine nodes under it (each of the ~200–600 fine nodes under the chunk
    /// is evaluated once), and only blocks the surface may cross are classified per voxel (two
    /// bilinear interpolations and comparisons). About 0.1 µs uniform, 0.3–1.5 ms at the surface.
    fn generate(&self, key: ChunkKey) -> Chunk {
        self.grid(&node_axes(0, key), false)
    }

    /// The same cells as the default implementation ([`lod_cell`](strata_core::generator::lod_cell): cell `c` is non-air when
    /// `material_at(origin + c·2ᵏ + 2ᵏ⁻¹)` is, each coordinate clamped into `i32`, and a non-air
    /// cell under air shows the surface above its centre, found by bisection along up).
    ///
    /// # Runtime
    /// O(1) for nodes decided by radius alone (as `generate`). Otherwise per cell: radius checks,
    /// then the height bounds of its coarse cell, then of its four fine nodes' relief; only cells
    /// near the surface evaluate fine noise. Nodes are cached for the call (per-face arrays for
    /// small nodes, hash maps for large ones). A level-6 node at the surface takes 2–8 ms (more in
    /// mountains), level 8 about 5 ms, level 10 about 13 ms (every crust cell needs its own
    /// coarse nodes), level 11 about 2 ms. Then the surface pass: per non-air cell whose
    /// neighbour along up is air, `level` classifications (noise nodes cached for the call);
    /// a uniform non-air node classifies the next centres beyond its top face.
    fn sample_lod(&self, level: u32, node: ChunkKey) -> Chunk {
        if level == 0 {
            return self.generate(node);
        }
        // The rule of strata_core's `LodCells`: i64 arithmetic, level capped at 26, clamped.
        let grid = self.grid(&node_axes(level, node), true);
        self.surface_pass(grid, level.min(26), node)
    }

    fn world_up(&self) -> WorldUp {
        WorldUp::AwayFrom { centre: [0, 0, 0] }
    }

    /// By radius alone, as `generate` and `sample_lod` decide first: air when every voxel (every
    /// cell centre, above level 0) lies beyond the highest possible surface; the mantle's, outer
    /// core's or inner core's material when all of them lie in one of those shells (and, above
    /// level 0, every next centre the surface rule looks at lies in rock, so no cell shows a
    /// surface). O(1).
    fn uniform_hint(&self, level: u32, node: ChunkKey) -> Option<MaterialId> {
        let axes = node_axes(level, node);
        let lo = [axes[0][0], axes[1][0], axes[2][0]];
        let hi = [axes[0][CHUNK_SIZE - 1], axes[1][CHUNK_SIZE - 1], axes[2][CHUNK_SIZE - 1]];
        let (r_min, r_max) = radius_range(lo, hi);
        let m = self.uniform_by_radius(r_min, r_max)?;
        if level == 0 || m == AIR {
            return Some(m);
        }
        // The next centres along up lie within one cell of the box.
        let size = 1i64 << level.min(26);
        let clamp = |v: i64| v.clamp(i32::MIN as i64, i32::MAX as i64);
        let (_, reach) = radius_range(lo.map(|v| clamp(v - size)), hi.map(|v| clamp(v + size)));
        (reach < self.model.rock_ceiling).then_some(m)
    }
}

/// The per-axis voxel coordinates `generate` (level 0: the chunk's voxels) and `sample_lod`
/// (above: cell centres, `LodCells`' rule, clamped into `i32`) sample for `node`.
fn node_axes(level: u32, node: ChunkKey) -> [[i64; CHUNK_SIZE]; 3] {
    let level = level.min(26);
    let n = node.to_array();
    if level == 0 {
        let o = node.min_voxel().to_array().map(i64::from);
        return std::array::from_fn(|a| std::array::from_fn(|c| o[a] + c as i64));
    }
    let size = 1i64 << level;
    let edge = size * CHUNK_SIZE as i64;
    std::array::from_fn(|a| {
        std::array::from_fn(|c| {
            (n[a] as i64 * edge + c as i64 * size + size / 2).clamp(i32::MIN as i64, i32::MAX as i64)
        })
    })
}

impl PlanetGenerator {
    /// The surface half of the LOD rule over a grid of centre samples ([`surface_above`] for
    /// every non-air cell, with the grid's own samples as next centres where it has them).
    fn surface_pass(&self, mut grid: Chunk, level: u32, node: ChunkKey) -> Chunk {
        if grid.as_uniform() == Some(AIR) {
            return grid;
        }
        let cells = LodCells::new(level, node);
        let size = cells.size();
        let world_up = self.world_up();
        let mut maps = NodeMaps::default();
        let mut classify = |p: [i64; 3]| {
            let v = LodCells::clamped(p).to_array().map(i64::from);
            self.model.classify(v, radius_of(v), &mut maps)
        };
        let mut changed = Vec::new();
        for i in 0..CHUNK_VOLUME {
            let l = LocalIndex::new(i as u16).pos();
            let m = grid.get(l.index());
            if m == AIR {
                continue;
            }
            let up = world_up.of_block(cells.min(l), size);
            let step = up.step();
            let n = [l.x, l.y, l.z].map(i64::from);
            let next = [0, 1, 2].map(|a| n[a] + step[a]);
            let next = next
                .iter()
                .all(|v| (0..CHUNK_SIZE as i64).contains(v))
                .then(|| grid.get(LocalPos::new(next[0] as u8, next[1] as u8, next[2] as u8).index()));
            let shown = surface_above(cells.centre_unclamped(l), m, size, up, next, &mut classify);
            if shown != m {
                changed.push((l.index(), shown));
            }
        }
        for (i, m) in changed {
            grid.set(i, m);
        }
        grid.normalize();
        grid
    }
}
