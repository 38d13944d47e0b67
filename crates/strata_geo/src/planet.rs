//! [`PlanetGenerator`]: the [`WorldGenerator`] of a planet, with its fast paths.

use crate::config::PlanetConfig;
use crate::error::{ConfigError, GeoError};
use crate::geo::{GeoCoord, GeoFrame};
use crate::ids::{AIR, SEDIMENT, WATER};
use crate::model::{Bounded, Model, radius_of, radius_range};
use crate::sources::{Direct, Patch};
use std::cell::RefCell;
use strata_core::generator::{LodCells, surface_above};
use strata_core::{
    CHUNK_SIZE, CHUNK_VOLUME, Chunk, ChunkKey, DenseChunk, LocalIndex, LocalPos, MaterialId, VoxelPos, WorldGenerator,
    WorldUp,
};

thread_local! {
    /// Per-thread grid nodes: no allocation per chunk or LOD node in steady state.
    static SCRATCH: RefCell<Patch> = RefCell::new(Patch::default());
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

    /// Forgets the coarse fields and fine nodes computed so far (up to 28 + 16 MiB, shared by
    /// every call and thread; see the crate docs' *Exactness and complexity*): frees their
    /// memory, and later calls compute them again. Voxels never change. For measurements and
    /// memory pressure.
    pub fn clear_caches(&self) {
        self.model.coarse.clear();
        self.model.fine.clear();
    }

    /// Forgets the fine nodes computed so far (up to 16 MiB), keeping the coarse fields: later
    /// chunks cost what a place's first chunk costs. Voxels never change. For measurements.
    pub fn clear_fine_nodes(&self) {
        self.model.fine.clear();
    }

    /// Coarse-field tiles held now (14 KiB each, at most 2,048).
    pub fn cached_tiles(&self) -> usize {
        self.model.coarse.len()
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
    /// Up to 4 fine noise nodes and 8 (usually 4) coarse nodes from the shared cache: about
    /// 1 µs (a few µs more for a node's first tile).
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
            Some(Bounded::Sediment) => BoxFill::Uniform(SEDIMENT),
            None => BoxFill::Each,
        }
    }

    /// Fills the voxels of `axes` selected by `range` (per axis) in chunk index order, one loop
    /// per kind of fill; rock through [`PlanetGenerator::fill_rock`].
    fn fill(
        &self,
        axes: &[[i64; CHUNK_SIZE]; 3],
        range: [std::ops::Range<usize>; 3],
        fill: BoxFill,
        patch: &mut Patch,
        voxels: &mut [u16],
    ) {
        let m = &self.model;
        // One loop per kind (the kind is not matched per voxel).
        match fill {
            BoxFill::Uniform(mat) => {
                for z in range[2].clone() {
                    for y in range[1].clone() {
                        let row = (z * CHUNK_SIZE + y) * CHUNK_SIZE;
                        voxels[row + range[0].start..row + range[0].end].fill(mat.0);
                    }
                }
            }
            BoxFill::Within(bounds) => {
                let (lo, hi) = box_of(axes, &range);
                let (r_min, _) = radius_range(lo, hi);
                let y_abs_max = lo[1].unsigned_abs().max(hi[1].unsigned_abs()) as f64;
                // Two loops, so the ice-free one has no per-voxel latitude test.
                if m.ice_free(y_abs_max, r_min) {
                    each_voxel(axes, range, voxels, |p| m.classify_within(p, radius_of(p), bounds, true, patch));
                } else {
                    each_voxel(axes, range, voxels, |p| m.classify_within(p, radius_of(p), bounds, false, patch));
                }
            }
            BoxFill::Rock => self.fill_rock(axes, range, patch, voxels),
            BoxFill::Each => each_voxel(axes, range, voxels, |p| m.classify(p, radius_of(p), patch)),
        }
    }

    /// Fills rock (the caller proved every point of `range` lies at least the soil and sediment
    /// deep): one material where the coarse fields under the box decide it ([`Model::rock_box`]:
    /// inside one stratum, the granite, the basalt or one deep shell), else the box's octants
    /// the same way down to [`MIN_BLOCK`], then point by point.
    fn fill_rock(
        &self,
        axes: &[[i64; CHUNK_SIZE]; 3],
        range: [std::ops::Range<usize>; 3],
        patch: &mut Patch,
        voxels: &mut [u16],
    ) {
        let m = &self.model;
        let (lo, hi) = box_of(axes, &range);
        let (r_min, r_max) = radius_range(lo, hi);
        let decided = match patch.coarse_ranges(m, lo, hi, MAX_BOUND_CELLS) {
            Some(c) => m.rock_box(r_min, r_max, &c),
            None => None,
        };
        if let Some(mat) = decided {
            return self.fill(axes, range, BoxFill::Uniform(mat), patch, voxels);
        }
        if range.iter().any(|r| r.len() <= MIN_BLOCK) {
            return each_voxel(axes, range, voxels, |p| m.classify_rock(p, radius_of(p), patch));
        }
        let halves = |r: &std::ops::Range<usize>| {
            let mid = r.start + r.len() / 2;
            [r.start..mid, mid..r.end]
        };
        let [xs, ys, zs] = [halves(&range[0]), halves(&range[1]), halves(&range[2])];
        for z in &zs {
            for y in &ys {
                for x in &xs {
                    self.fill_rock(axes, [x.clone(), y.clone(), z.clone()], patch, voxels);
                }
            }
        }
    }

    /// Dense grids: decides each `b`³ block from the radius, then the coarse height bounds
    /// under it, then (`fine`) the fine ones, and classifies cell by cell only where the surface
    /// may pass.
    fn fill_blocks(&self, axes: &[[i64; CHUNK_SIZE]; 3], b: usize, fine: bool, patch: &mut Patch, voxels: &mut [u16]) {
        for bz in 0..CHUNK_SIZE / b {
            for by in 0..CHUNK_SIZE / b {
                for bx in 0..CHUNK_SIZE / b {
                    let range = [bx * b..bx * b + b, by * b..by * b + b, bz * b..bz * b + b];
                    let (lo, hi) = box_of(axes, &range);
                    let (r_min, r_max) = radius_range(lo, hi);
                    let fill = match self.uniform_by_radius(r_min, r_max) {
                        Some(mat) => BoxFill::Uniform(mat),
                        None => match self.decide_coarse(patch, lo, hi, r_min, r_max) {
                            BoxFill::Each if fine => {
                                self.decide(patch.fine_bounds(&self.model, lo, hi), lo, hi, r_min, r_max)
                            }
                            decided => decided,
                        },
                    };
                    match fill {
                        BoxFill::Each if fine => self.fill_fine(axes, range, b / 2, patch, voxels),
                        fill => self.fill(axes, range, fill, patch, voxels),
                    }
                }
            }
        }
    }

    /// Fills the voxels of `range` (a block the surface may cross) in `b`³ sub-blocks, each
    /// decided by the fine nodes under it where it can be, down to [`MIN_BLOCK`].
    fn fill_fine(
        &self,
        axes: &[[i64; CHUNK_SIZE]; 3],
        range: [std::ops::Range<usize>; 3],
        b: usize,
        patch: &mut Patch,
        voxels: &mut [u16],
    ) {
        for z in range[2].clone().step_by(b) {
            for y in range[1].clone().step_by(b) {
                for x in range[0].clone().step_by(b) {
                    let sub = [x..x + b, y..y + b, z..z + b];
                    let (lo, hi) = box_of(axes, &sub);
                    let (r_min, r_max) = radius_range(lo, hi);
                    let bounds = patch.fine_bounds(&self.model, lo, hi);
                    match self.decide(bounds, lo, hi, r_min, r_max) {
                        BoxFill::Each if b / 2 < MIN_BLOCK => {
                            self.fill(axes, sub, BoxFill::Within(bounds), patch, voxels);
                        }
                        BoxFill::Each => self.fill_fine(axes, sub, b / 2, patch, voxels),
                        fill => self.fill(axes, sub, fill, patch, voxels),
                    }
                }
            }
        }
    }

    /// Generates the grid at `axes` (per-axis voxel coordinates, increasing), with `patch` reset
    /// for it unless the radius alone decides the grid. `lod`: the points are LOD cell centres
    /// `lod` voxels apart: the patch also covers one cell beyond the grid (where the surface
    /// pass looks), blocks are decided by coarse bounds only and cells by their own bounds.
    fn grid(&self, axes: &[[i64; CHUNK_SIZE]; 3], lod: Option<i64>, patch: &mut Patch) -> Chunk {
        let (lo, hi) = box_of(axes, &WHOLE);
        let (r_min, r_max) = radius_range(lo, hi);
        if let Some(mat) = self.uniform_by_radius(r_min, r_max) {
            return Chunk::Uniform(mat);
        }
        match lod {
            None => patch.reset(&self.model, lo, hi, false),
            Some(size) => self.reset_for_lod(patch, lo, hi, size),
        }
        let mut dense = DenseChunk::filled(AIR);
        match self.decide_coarse(patch, lo, hi, r_min, r_max) {
            BoxFill::Uniform(mat) => return Chunk::Uniform(mat),
            // Chunks, and LOD nodes whose cells are nearly as dense as the fine nodes (levels 1
            // and 2 at the default spacing): fine bounds per block and sub-block. Sparser cells
            // read a few of the fine nodes under a block, which its bounds would all compute.
            BoxFill::Each if lod.is_none() || patch.fine_area() <= DENSE_LOD_FINE_AREA => {
                // The blocks' fine bounds computed the nodes undecided cells read: per-cell
                // bounds would only cost.
                patch.set_use_bounds(false);
                patch.share_fine_nodes();
                self.fill_blocks(axes, 8, true, patch, dense.as_mut_slice());
            }
            BoxFill::Each => self.fill_blocks(axes, LOD_BLOCK, false, patch, dense.as_mut_slice()),
            fill @ (BoxFill::Rock | BoxFill::Within(_)) => self.fill(axes, WHOLE, fill, patch, dense.as_mut_slice()),
        }
        let mut chunk = Chunk::Dense(dense);
        chunk.normalize();
        chunk
    }
}

impl PlanetGenerator {
    /// Resets `patch` for LOD cells `size` voxels apart in box `lo..=hi`: the box grown by one
    /// cell (where the surface pass looks), with per-cell height bounds.
    fn reset_for_lod(&self, patch: &mut Patch, lo: [i64; 3], hi: [i64; 3], size: i64) {
        let (wlo, whi) = widened(lo, hi, size);
        patch.reset(&self.model, wlo, whi, true);
    }

    /// What the coarse height bounds under box `lo..=hi` decide ([`BoxFill::Each`] without
    /// looking when the box lies over more than [`MAX_BOUND_CELLS`] coarse cells).
    fn decide_coarse(&self, patch: &mut Patch, lo: [i64; 3], hi: [i64; 3], r_min: f64, r_max: f64) -> BoxFill {
        match patch.coarse_bounds_within(&self.model, lo, hi, MAX_BOUND_CELLS) {
            Some(bounds) => self.decide(bounds, lo, hi, r_min, r_max),
            None => BoxFill::Each,
        }
    }
}

/// Coarse cells a box's bounds may read: a chunk reads 1–4, a level-6 block of 8³ cells about
/// 16; LOD boxes over more are classified cell by cell, each from its own cell's bounds.
const MAX_BOUND_CELLS: usize = 64;

/// LOD nodes over at most this many fine nodes are filled like chunks (16 per column: at the
/// default spacing a level-1 node has 1,500–3,000, level 2 4,500–11,000, level 3 18,000 and
/// more). Measured: level 1 2.2×, level 2 1.3× faster so; level 3 1.6× slower.
const DENSE_LOD_FINE_AREA: u64 = 16 * (CHUNK_SIZE * CHUNK_SIZE) as u64;

/// The smallest sub-block a chunk decides at once from the fine nodes under it.
const MIN_BLOCK: usize = 4;

/// Cells per block edge that LOD grids decide at once from coarse height bounds.
const LOD_BLOCK: usize = 8;

/// Every point of a grid.
const WHOLE: [std::ops::Range<usize>; 3] = [0..CHUNK_SIZE, 0..CHUNK_SIZE, 0..CHUNK_SIZE];

/// The least and greatest coordinates (per axis) of the points of `axes` selected by `range`
/// (non-empty; `axes` increase).
fn box_of(axes: &[[i64; CHUNK_SIZE]; 3], range: &[std::ops::Range<usize>; 3]) -> ([i64; 3], [i64; 3]) {
    (std::array::from_fn(|a| axes[a][range[a].start]), std::array::from_fn(|a| axes[a][range[a].end - 1]))
}

/// Sets each voxel of `axes` selected by `range` (in chunk index order) to `material(point)`.
#[inline(always)]
fn each_voxel(
    axes: &[[i64; CHUNK_SIZE]; 3],
    range: [std::ops::Range<usize>; 3],
    voxels: &mut [u16],
    mut material: impl FnMut([i64; 3]) -> MaterialId,
) {
    for z in range[2].clone() {
        for y in range[1].clone() {
            let row = (z * CHUNK_SIZE + y) * CHUNK_SIZE;
            for x in range[0].clone() {
                voxels[row + x] = material([axes[0][x], axes[1][y], axes[2][z]]).0;
            }
        }
    }
}

/// Box `lo..=hi` grown by `by` on every side, within the `i32` voxel range.
fn widened(lo: [i64; 3], hi: [i64; 3], by: i64) -> ([i64; 3], [i64; 3]) {
    let clamp = |v: i64| v.clamp(i32::MIN as i64, i32::MAX as i64);
    (lo.map(|v| clamp(v - by)), hi.map(|v| clamp(v + by)))
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
    /// `Model::classify_within` per voxel: the terrain height lies within these bounds.
    Within((f64, f64)),
}

impl WorldGenerator for PlanetGenerator {
    /// # Runtime
    /// O(1) above the highest possible terrain and in the mantle and core; elsewhere up to 4 fine
    /// noise nodes and 8 (usually 4) cached coarse nodes (~1 µs; ~5–15 µs for a node's first
    /// tile): use [`WorldGenerator::generate`] for many voxels.
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
    /// is evaluated once), undecided blocks again per 4³ sub-block (air, sea, sediment, rock).
    /// Rock is filled in bulk where the coarse fields' ranges over a box or its octants leave one
    /// material, else per voxel. In sub-blocks the top soil may cross, the
    /// radius against the sub-block's fine bounds decides most voxels; the rest interpolate
    /// their height (four loads and a bilinear interpolation). About 0.2 µs uniform, 0.2–0.4 ms
    /// at the surface and in the strata under it.
    fn generate(&self, key: ChunkKey) -> Chunk {
        SCRATCH.with(|patch| self.grid(&node_axes(0, key), None, &mut patch.borrow_mut()))
    }

    /// The same cells as the default implementation ([`lod_cell`](strata_core::generator::lod_cell): cell `c` is non-air when
    /// `material_at(origin + c·2ᵏ + 2ᵏ⁻¹)` is, each coordinate clamped into `i32`, and a non-air
    /// cell under air shows the surface above its centre, found by bisection along up).
    ///
    /// # Runtime
    /// O(1) for nodes decided by radius alone (as `generate`). Levels 1 and 2 (cells nearly as
    /// dense as the fine nodes) are filled like chunks. Otherwise blocks of 8³ cells over at most 64 coarse
    /// cells are decided by their coarse bounds; remaining cells by radius,
    /// then the height bounds of their coarse cell, then of their four fine nodes' relief; only
    /// cells near the surface evaluate fine noise. Coarse nodes come from the planet's shared
    /// cache, fine nodes are kept for the call (per-face rectangles for small nodes, fixed
    /// per-thread tables for large ones: no allocation). Then the surface pass: per non-air cell
    /// whose neighbour along up is air, `level` classifications (each bisection sample near the
    /// surface reads its own four fine nodes: most of the time of a surface node); a uniform
    /// non-air node classifies the next centres beyond its top face. A level-6 node at the
    /// surface takes about 4 ms, level 1 about 0.9 ms, level 2 1.5 ms, level 8 about 4 ms,
    /// level 10 10–16 ms, level 12 about 0.5 ms.
    fn sample_lod(&self, level: u32, node: ChunkKey) -> Chunk {
        if level == 0 {
            return self.generate(node);
        }
        // The rule of strata_core's `LodCells`: i64 arithmetic, level capped at 26, clamped.
        let level = level.min(26);
        let axes = node_axes(level, node);
        SCRATCH.with(|patch| {
            let patch = &mut *patch.borrow_mut();
            let grid = self.grid(&axes, Some(1 << level), patch);
            match grid.as_uniform() {
                Some(AIR) => grid,
                Some(_) => {
                    // Decided without the patch or before looking beyond the grid: (re)set it.
                    let (lo, hi) = box_of(&axes, &WHOLE);
                    self.reset_for_lod(patch, lo, hi, 1 << level);
                    self.surface_pass(grid, level, node, patch)
                }
                None => self.surface_pass(grid, level, node, patch),
            }
        })
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
        let (lo, hi) = box_of(&axes, &WHOLE);
        let (r_min, r_max) = radius_range(lo, hi);
        let m = self.uniform_by_radius(r_min, r_max)?;
        if level == 0 || m == AIR {
            return Some(m);
        }
        // The next centres along up lie within one cell of the box.
        let (wlo, whi) = widened(lo, hi, 1i64 << level.min(26));
        let (_, reach) = radius_range(wlo, whi);
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
    /// `patch` covers the grid and one cell beyond it.
    fn surface_pass(&self, mut grid: Chunk, level: u32, node: ChunkKey, patch: &mut Patch) -> Chunk {
        let cells = LodCells::new(level, node);
        let size = cells.size();
        let world_up = self.world_up();
        let mut classify = |p: [i64; 3]| {
            let v = LodCells::clamped(p).to_array().map(i64::from);
            self.model.classify(v, radius_of(v), patch)
        };
        // Each up's region of space is convex and cell (or, up to level 5, chunk) centres are
        // affine in the cell index: when the eight corner cells share an up, every cell has it.
        let up_of = |l: LocalPos| world_up.of_block(cells.min(l), size);
        let last = CHUNK_SIZE as u8 - 1;
        let corner_up = up_of(LocalPos::new(0, 0, 0));
        let shared_up = (0..8u8)
            .all(|c| up_of(LocalPos::new((c & 1) * last, (c >> 1 & 1) * last, (c >> 2) * last)) == corner_up)
            .then_some(corner_up);
        let mut changed = Vec::new();
        for i in 0..CHUNK_VOLUME {
            let l = LocalIndex::new(i as u16).pos();
            let m = grid.get(l.index());
            if m == AIR {
                continue;
            }
            let up = shared_up.unwrap_or_else(|| up_of(l));
            let step = up.step();
            let n = [l.x, l.y, l.z].map(i64::from);
            let next = [0, 1, 2].map(|a| n[a] + step[a]);
            let next = next
                .iter()
                .all(|v| (0..CHUNK_SIZE as i64).contains(v))
                .then(|| grid.get(LocalPos::new(next[0] as u8, next[1] as u8, next[2] as u8).index()));
            if next.is_some_and(|n| n != AIR) {
                // `surface_above` keeps `m` under a non-air neighbour.
                continue;
            }
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
