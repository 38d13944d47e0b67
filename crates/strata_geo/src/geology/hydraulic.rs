//! Hydraulic erosion: rain, downhill flow, erosion, sediment transport and deposition.

use super::process::{
    GeoProcess, GeologyError, MaterialTable, ProcessKind, StepContext, hash, p64, step_checked, unit,
};
use super::region::{RegionSnapshot, VoxelBox, VoxelWrite};
use crate::ids;
use std::sync::Mutex;
use strata_core::{Face, MaterialId, VoxelPos};

/// Most sub-steps per step.
pub const MAX_SUBSTEPS: u32 = 16;

/// Configuration of [`HydraulicErosion`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct HydraulicConfig {
    /// Flow hops per step (`1..=16`); the halo is `2 · substeps + 4`.
    pub substeps: u32,
    /// Water units rained on every surface cell at the start of a step.
    pub rain: u32,
    /// Per sub-step, a downhill cell carrying no sediment erodes its top voxel with chance
    /// `erosion_rate × water` (`0..=1`).
    pub erosion_rate: f32,
    /// Water a cell needs to erode or to move its sediment on (less: it deposits).
    pub min_carry_water: u32,
    /// Materials water erodes (they are deposited as [`ids::SEDIMENT`]).
    pub erodible: Vec<MaterialId>,
}

impl Default for HydraulicConfig {
    fn default() -> Self {
        Self {
            substeps: 4,
            rain: 1,
            erosion_rate: 0.02,
            min_carry_water: 1,
            erodible: vec![ids::SEDIMENT, ids::SAND, ids::DIRT, ids::GRASS, ids::SNOW],
        }
    }
}

const NONE: u32 = u32::MAX;

/// A surface cell: a ground voxel with air above (along its own gravity), whose deposit voxel
/// (the air above) has the same gravity.
#[derive(Clone, Copy, Debug)]
struct Cell {
    voxel: u32,
    pos: VoxelPos,
    down: Face,
    target: u32,
}

/// Buffers reused between steps.
struct Scratch {
    work: VoxelBox,
    cell_of: Vec<u32>,
    cells: Vec<Cell>,
    water: Vec<u32>,
    water_next: Vec<u32>,
    sediment: Vec<bool>,
    eroded: Vec<bool>,
    claim: Vec<u32>,
}

impl Default for Scratch {
    fn default() -> Self {
        Self {
            work: VoxelBox::cube(VoxelPos::new(0, 0, 0), 0),
            cell_of: Vec::new(),
            cells: Vec::new(),
            water: Vec::new(),
            water_next: Vec::new(),
            sediment: Vec::new(),
            eroded: Vec::new(),
            claim: Vec::new(),
        }
    }
}

/// Hydraulic erosion (a cellular rule on surface cells, see the [module docs](super)).
pub struct HydraulicErosion {
    config: HydraulicConfig,
    erodible: MaterialTable<bool>,
    pool: Mutex<Vec<Scratch>>,
}

impl std::fmt::Debug for HydraulicErosion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HydraulicErosion").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Default for HydraulicErosion {
    fn default() -> Self {
        // Invariant: the default config is valid.
        Self::new(HydraulicConfig::default()).unwrap_or_else(|_| unreachable!("default config is valid"))
    }
}

/// Ground: anything but air and water.
#[inline]
fn is_ground(m: MaterialId) -> bool {
    m != ids::AIR && m != ids::WATER
}

impl HydraulicErosion {
    /// A process with `config`.
    ///
    /// # Errors
    /// [`GeologyError::InvalidConfig`] when `substeps` is outside `1..=16`, `erosion_rate`
    /// outside `0..=1`, or air / water is erodible.
    pub fn new(config: HydraulicConfig) -> Result<Self, GeologyError> {
        if !(1..=MAX_SUBSTEPS).contains(&config.substeps) {
            return Err(GeologyError::InvalidConfig("substeps"));
        }
        if !(0.0..=1.0).contains(&config.erosion_rate) {
            return Err(GeologyError::InvalidConfig("erosion_rate"));
        }
        if config.erodible.iter().any(|&m| !is_ground(m)) {
            return Err(GeologyError::InvalidConfig("erodible"));
        }
        let erodible = MaterialTable::new(false, config.erodible.iter().map(|&m| (m, true)));
        Ok(Self { config, erodible, pool: Mutex::new(Vec::new()) })
    }

    /// The configuration.
    pub fn config(&self) -> &HydraulicConfig {
        &self.config
    }

    /// Whether water erodes `m`.
    pub fn is_erodible(&self, m: MaterialId) -> bool {
        self.erodible.get(m)
    }

    fn take_scratch(&self) -> Scratch {
        self.pool.lock().ok().and_then(|mut p| p.pop()).unwrap_or_default()
    }

    fn put_scratch(&self, s: Scratch) {
        if let Ok(mut p) = self.pool.lock()
            && p.len() < 8
        {
            p.push(s);
        }
    }

    /// Finds the surface cells of `work` (inside the snapshot).
    fn find_cells(&self, input: &RegionSnapshot, work: VoxelBox, ctx: &StepContext, s: &mut Scratch) {
        let voxels = input.voxels();
        let [nx, ny, nz] = work.size().map(|n| n as usize);
        let [sx, sy, _] = input.dims();
        s.work = work;
        s.cell_of.clear();
        s.cell_of.resize(nx * ny * nz, NONE);
        s.cells.clear();
        let min = work.min;
        let mut w = 0usize;
        for z in 0..nz {
            for y in 0..ny {
                let row = VoxelPos::new(min.x, min.y + y as i32, min.z + z as i32);
                // Invariant: `work` lies inside the snapshot (checked by the caller).
                let Some(first) = input.index(row) else {
                    w += nx;
                    continue;
                };
                for x in 0..nx {
                    let i = first + x;
                    let m = voxels[i];
                    if is_ground(m) {
                        let pos = VoxelPos::new(min.x + x as i32, row.y, row.z);
                        let down = ctx.gravity.down(pos);
                        let o = down.opposite().offset();
                        if let Some(qpos) = step_checked(pos, down.opposite())
                            && work.contains(qpos)
                        {
                            let j = (i as isize
                                + o[0] as isize
                                + (o[1] as isize) * sx as isize
                                + (o[2] as isize) * (sx * sy) as isize) as usize;
                            if voxels[j] == ids::AIR && ctx.gravity.down(qpos) == down {
                                s.cell_of[w] = s.cells.len() as u32;
                                s.cells.push(Cell { voxel: i as u32, pos, down, target: NONE });
                            }
                        }
                    }
                    w += 1;
                }
            }
        }
    }

    /// The cell at `pos` with gravity `down`, if any.
    #[inline]
    fn cell_at(s: &Scratch, pos: VoxelPos, down: Face) -> u32 {
        if !s.work.contains(pos) {
            return NONE;
        }
        let [nx, ny, _] = s.work.size().map(|n| n as usize);
        let x = (i64::from(pos.x) - i64::from(s.work.min.x)) as usize;
        let y = (i64::from(pos.y) - i64::from(s.work.min.y)) as usize;
        let z = (i64::from(pos.z) - i64::from(s.work.min.z)) as usize;
        let c = s.cell_of[x + nx * (y + ny * z)];
        if c != NONE && s.cells[c as usize].down == down { c } else { NONE }
    }

    /// Picks each cell's downhill target: a lateral neighbour surface exactly one voxel lower,
    /// chosen by hash among several.
    fn find_targets(&self, input: &RegionSnapshot, ctx: &StepContext, s: &mut Scratch) {
        let salt = u64::from(self.kind().id()) << 32;
        for c in 0..s.cells.len() {
            let cell = s.cells[c];
            let axis = cell.down.axis();
            let d = cell.down.offset();
            let mut lower = [NONE; 4];
            let mut n = 0;
            for face in Face::ALL {
                if face.axis() == axis {
                    continue;
                }
                let o = face.offset();
                // One lower: pos + lateral + down. (Checked add: no overflow at the i32 edge.)
                let q = (|| {
                    Some(VoxelPos::new(
                        cell.pos.x.checked_add(o[0] + d[0])?,
                        cell.pos.y.checked_add(o[1] + d[1])?,
                        cell.pos.z.checked_add(o[2] + d[2])?,
                    ))
                })();
                let Some(q) = q else { continue };
                // The lateral voxel itself must be open (air), or the lower cell is not reachable.
                let side = VoxelPos::new(q.x - d[0], q.y - d[1], q.z - d[2]);
                if input.get(side) != Some(ids::AIR) {
                    continue;
                }
                let t = Self::cell_at(s, q, cell.down);
                if t != NONE {
                    lower[n] = t;
                    n += 1;
                }
            }
            if n > 0 {
                let h = hash(ctx.seed, ctx.step, salt, p64(cell.pos));
                s.cells[c].target = lower[(h % n as u64) as usize];
            }
        }
    }

    /// Rain, then `substeps` rounds of flow, erosion and transport.
    fn simulate(&self, input: &RegionSnapshot, ctx: &StepContext, s: &mut Scratch) {
        let n = s.cells.len();
        let cfg = &self.config;
        s.water.clear();
        s.water.resize(n, cfg.rain);
        s.water_next.clear();
        s.water_next.resize(n, 0);
        s.sediment.clear();
        s.sediment.resize(n, false);
        s.eroded.clear();
        s.eroded.resize(n, false);
        s.claim.clear();
        s.claim.resize(n, NONE);
        let voxels = input.voxels();
        let salt = (u64::from(self.kind().id()) << 32) | 1;
        for sub in 0..u64::from(cfg.substeps) {
            // Flow: all water moves one hop to the target; cells without one keep theirs (pools).
            s.water_next.fill(0);
            for c in 0..n {
                let t = s.cells[c].target;
                let dst = if t == NONE { c } else { t as usize };
                s.water_next[dst] = s.water_next[dst].saturating_add(s.water[c]);
            }
            std::mem::swap(&mut s.water, &mut s.water_next);
            // Erosion: downhill cells with water and no load may pick up their top voxel.
            for c in 0..n {
                let cell = s.cells[c];
                if s.sediment[c]
                    || s.eroded[c]
                    || cell.target == NONE
                    || s.water[c] < cfg.min_carry_water
                    || !self.erodible.get(voxels[cell.voxel as usize])
                {
                    continue;
                }
                let chance = cfg.erosion_rate * s.water[c] as f32;
                if unit(hash(ctx.seed, ctx.step.wrapping_mul(64).wrapping_add(sub), salt, p64(cell.pos))) < chance {
                    s.eroded[c] = true;
                    s.sediment[c] = true;
                }
            }
            // Transport: each empty target takes the load of its first loaded source (cell order
            // = position order, the same in every crop).
            s.claim.fill(NONE);
            for c in 0..n {
                let t = s.cells[c].target;
                if s.sediment[c] && t != NONE && s.water[c] >= cfg.min_carry_water {
                    let t = t as usize;
                    if !s.sediment[t] && s.claim[t] == NONE {
                        s.claim[t] = c as u32;
                    }
                }
            }
            for c in 0..n {
                let t = s.cells[c].target;
                if t != NONE && s.claim[t as usize] == c as u32 {
                    s.sediment[c] = false;
                    s.sediment[t as usize] = true;
                }
            }
        }
    }
}

impl GeoProcess for HydraulicErosion {
    fn kind(&self) -> ProcessKind {
        ProcessKind::HydraulicErosion
    }

    fn halo(&self) -> u32 {
        2 * self.config.substeps + 4
    }

    fn step_covered(&self, input: &RegionSnapshot, core: VoxelBox, ctx: &StepContext, out: &mut Vec<VoxelWrite>) {
        let mut s = self.take_scratch();
        self.find_cells(input, core.expand(self.halo()), ctx, &mut s);
        if !s.cells.is_empty() {
            self.find_targets(input, ctx, &mut s);
            self.simulate(input, ctx, &mut s);
            // Deposit everything still carried: an eroded cell keeps it in place (as sediment),
            // any other cell stacks it on the air voxel above.
            let voxels = input.voxels();
            for c in 0..s.cells.len() {
                let cell = s.cells[c];
                let (pos, expect, material) = if s.eroded[c] {
                    let m = if s.sediment[c] { ids::SEDIMENT } else { ids::AIR };
                    (cell.pos, voxels[cell.voxel as usize], m)
                } else if s.sediment[c] {
                    let o = cell.down.opposite().offset();
                    (VoxelPos::new(cell.pos.x + o[0], cell.pos.y + o[1], cell.pos.z + o[2]), ids::AIR, ids::SEDIMENT)
                } else {
                    continue;
                };
                if expect != material && core.contains(pos) {
                    out.push(VoxelWrite { pos, expect, material });
                }
            }
        }
        self.put_scratch(s);
    }
}
