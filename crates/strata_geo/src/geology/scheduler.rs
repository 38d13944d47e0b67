//! Running processes over a [`World`]: which regions, in which order, from which snapshot, and
//! how results reach the world. Engine-free: the Bevy plugin runs [`RegionJob`]s on its task
//! pools; [`GeologyScheduler::run_step`] runs them on scoped threads (tests, tools, benches).
//!
//! # Steps, regions and colours
//! The world is cut into cubic, chunk-aligned **regions** of `region_chunks` chunks per side. A
//! **step** runs one process over a set of regions; the processes take turns (thermal erosion,
//! hydraulic erosion, volcanism, as enabled). Step `s` runs process `s mod n` at its own step
//! `s div n` (what its randomness and block grids see); chunk histories record `s`.
//! 1. [`GeologyScheduler::begin_step`] takes from the world the chunks each region reads — its
//!    core grown by the process's halo, the **ghost zone** — as `Arc` clones (O(1) each,
//!    resident chunks only). Every region of a step therefore reads the world **as it was when
//!    the step began**: a step over many regions equals one step over their union, whatever the
//!    order and the threads (partition independence), and a flow that crosses a region border
//!    is taken on one side and deposited on the other from the same state, so it neither
//!    vanishes nor doubles.
//! 2. Regions are grouped in `m³` **colours** (region coordinates mod `m`, with
//!    `(m − 1) · size ≥ 2 · halo`): two regions of one colour are at least two halos apart, so
//!    **regions processed at the same time never overlap, halos included**. Colours run one
//!    after another.
//! 3. A [`RegionJob`] builds its snapshot, runs the process and returns a [`ProcessBatch`]: the
//!    writes of its core, for the world's delta log.
//!
//! # Player edits and geology (the conflict rule)
//! Batches are compare-and-set, all or nothing ([`ProcessBatch`]): a batch computed from a
//! snapshot in which any voxel it writes has since changed (a player edit, or anything else) is
//! dropped whole, and that region simply sits out the step; the next step reads a fresh
//! snapshot. So geology never overwrites an edit it did not see, and an edit never loses to a
//! stale geology result. Edits do not wait for geology, and geology never blocks the world's
//! owner: building snapshots and writing are off-thread, applying a batch is O(writes).
//!
//! # Mass
//! Within a step, erosion + deposition conserve each material class over the regions processed
//! (exactly for the block rules, see the processes). Flows across the **edge** of the processed
//! set (into a region that sits the step out, e.g. beyond the viewers' radius) are not applied
//! on the far side; keep the set closed (as the tests do) for exact totals.

use super::hydraulic::{HydraulicConfig, HydraulicErosion};
use super::process::{GeoProcess, GeologyError, Gravity, ProcessKind, StepContext};
use super::region::{RegionSnapshot, VoxelBox};
use super::thermal::{ThermalConfig, ThermalErosion};
use super::volcanism::{Volcanism, VolcanismConfig};
use std::sync::Arc;
use strata_core::{
    CHUNK_SIZE, Chunk, ChunkKey, Edit, MaterialId, ProcessBatch, ProcessId, ProcessStamp, ProcessWrite, StoreError,
    VoxelPos, World,
};

/// Largest radius [`GeologyScheduler::regions_near`] walks, in region sizes (with the default
/// one-chunk regions, 1,024 voxels).
pub const MAX_NEAR_REGIONS: u32 = 32;

/// Settings of a [`GeologyScheduler`]. A process whose config is `None` does not run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct GeologyConfig {
    /// Seed of every process's randomness.
    pub seed: u64,
    /// Which way is down.
    pub gravity: Gravity,
    /// Region side in chunks (≥ 1).
    pub region_chunks: u32,
    /// Thermal erosion.
    pub thermal: Option<ThermalConfig>,
    /// Hydraulic erosion and deposition.
    pub hydraulic: Option<HydraulicConfig>,
    /// Volcanism.
    pub volcanism: Option<VolcanismConfig>,
}

impl Default for GeologyConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            gravity: Gravity::NegY,
            region_chunks: 1,
            thermal: Some(ThermalConfig::default()),
            hydraulic: Some(HydraulicConfig::default()),
            volcanism: Some(VolcanismConfig::default()),
        }
    }
}

/// A region's coordinates: region `r` covers voxels `r · size ..= r · size + size − 1` per axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionKey {
    /// X.
    pub x: i32,
    /// Y.
    pub y: i32,
    /// Z.
    pub z: i32,
}

impl RegionKey {
    /// A region key.
    pub const fn new(x: i32, y: i32, z: i32) -> Self {
        Self { x, y, z }
    }
}

/// The work of one step, by colour (see the [module docs](crate::geology)).
pub struct StepPlan {
    /// The step number.
    pub step: u64,
    /// The process that runs.
    pub kind: ProcessKind,
    /// Jobs per colour; run the colours in order, the jobs of one colour in any order or at once.
    pub colors: Vec<Vec<RegionJob>>,
    /// Regions left out: a chunk they read is not resident.
    pub not_resident: usize,
    /// Regions left out: everything they read is one material (nothing can happen).
    pub uniform: usize,
}

impl StepPlan {
    /// Jobs over all colours.
    pub fn job_count(&self) -> usize {
        self.colors.iter().map(Vec::len).sum()
    }
}

/// One region of one step, ready to run on any thread.
pub struct RegionJob {
    /// The region.
    pub region: RegionKey,
    core: VoxelBox,
    read: VoxelBox,
    chunks: Vec<(ChunkKey, Arc<Chunk>)>,
    process: Arc<dyn GeoProcess>,
    ctx: StepContext,
    stamp: ProcessStamp,
}

/// What a [`RegionJob`] produced.
#[derive(Debug)]
pub struct RegionOutcome {
    /// The region.
    pub region: RegionKey,
    /// The writes for the world (`None` when the step changed nothing or failed).
    pub batch: Option<ProcessBatch>,
    /// Voxels the job read (core + halo).
    pub voxels_read: u64,
    /// Why the step failed, if it did (a bug, not an expected outcome: jobs are built covered).
    pub error: Option<GeologyError>,
}

impl RegionJob {
    /// Builds the snapshot, runs the step, and returns the writes.
    ///
    /// # Runtime
    /// O(read volume) to assemble the snapshot plus the process's step.
    pub fn run(self) -> RegionOutcome {
        let region = self.region;
        let voxels_read = self.read.volume();
        let result = assemble(self.read, &self.chunks).and_then(|snapshot| {
            let mut out = Vec::new();
            self.process.step(&snapshot, self.core, &self.ctx, &mut out)?;
            Ok(out)
        });
        match result {
            Ok(writes) if writes.is_empty() => RegionOutcome { region, batch: None, voxels_read, error: None },
            Ok(writes) => {
                let writes = writes
                    .into_iter()
                    .map(|w| ProcessWrite { pos: w.pos, expect: w.expect, material: w.material })
                    .collect();
                RegionOutcome {
                    region,
                    batch: Some(ProcessBatch { stamp: self.stamp, writes }),
                    voxels_read,
                    error: None,
                }
            }
            Err(e) => RegionOutcome { region, batch: None, voxels_read, error: Some(e) },
        }
    }
}

/// Copies the chunks' voxels inside `read` into a snapshot (uniform chunks: a fill per row).
fn assemble(read: VoxelBox, chunks: &[(ChunkKey, Arc<Chunk>)]) -> Result<RegionSnapshot, GeologyError> {
    let [sx, sy, _] = read.size().map(|s| s as usize);
    let mut voxels = vec![MaterialId::AIR; read.volume() as usize];
    for (key, chunk) in chunks {
        let b = VoxelBox::new(key.min_voxel(), key.max_voxel()).intersect(&read);
        if b.is_empty() {
            continue;
        }
        for z in b.min.z..=b.max.z {
            for y in b.min.y..=b.max.y {
                let row = ((z - read.min.z) as usize * sy + (y - read.min.y) as usize) * sx;
                let (x0, x1) = ((b.min.x - read.min.x) as usize, (b.max.x - read.min.x) as usize);
                let dst = &mut voxels[row + x0..=row + x1];
                match chunk.as_uniform() {
                    Some(m) => dst.fill(m),
                    None => {
                        for (i, d) in dst.iter_mut().enumerate() {
                            *d = chunk.get(VoxelPos::new(b.min.x + i as i32, y, z).local().index());
                        }
                    }
                }
            }
        }
    }
    RegionSnapshot::new(read, voxels)
}

/// What [`GeologyScheduler::run_step`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepReport {
    /// Regions processed.
    pub regions: usize,
    /// Voxels written by the batches the world accepted.
    pub voxels_changed: u64,
    /// Batches the world dropped by the conflict rule.
    pub rejected: usize,
    /// Regions left out (not resident or uniform).
    pub skipped: usize,
}

/// Plans geology steps over a world (see the [module docs](crate::geology)).
pub struct GeologyScheduler {
    processes: Vec<Arc<dyn GeoProcess>>,
    seed: u64,
    gravity: Gravity,
    region_size: u32,
    halo: u32,
    modulus: u32,
    step: u64,
}

impl GeologyScheduler {
    /// A scheduler running the processes `config` enables.
    ///
    /// # Errors
    /// [`GeologyError::InvalidConfig`] for `region_chunks` outside `1..=16` or a process config
    /// out of range.
    pub fn new(config: &GeologyConfig) -> Result<Self, GeologyError> {
        if !(1..=16).contains(&config.region_chunks) {
            return Err(GeologyError::InvalidConfig("region_chunks"));
        }
        let mut processes: Vec<Arc<dyn GeoProcess>> = Vec::new();
        if let Some(c) = &config.thermal {
            processes.push(Arc::new(ThermalErosion::new(c.clone())?));
        }
        if let Some(c) = &config.hydraulic {
            processes.push(Arc::new(HydraulicErosion::new(c.clone())?));
        }
        if let Some(c) = &config.volcanism {
            processes.push(Arc::new(Volcanism::new(c.clone())?));
        }
        let region_size = config.region_chunks * CHUNK_SIZE as u32;
        let halo = processes.iter().map(|p| p.halo()).max().unwrap_or(0);
        // Smallest m ≥ 2 with (m − 1) · size ≥ 2 · halo.
        let modulus = 1 + (2 * halo).div_ceil(region_size).max(1);
        Ok(Self { processes, seed: config.seed, gravity: config.gravity, region_size, halo, modulus, step: 0 })
    }

    /// Region side in voxels.
    pub fn region_size(&self) -> u32 {
        self.region_size
    }

    /// The widest halo of the enabled processes.
    pub fn halo(&self) -> u32 {
        self.halo
    }

    /// Colours per axis (`m`).
    pub fn modulus(&self) -> u32 {
        self.modulus
    }

    /// Steps begun so far (the next step's number).
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The process the next step runs, if any is enabled.
    pub fn next_process(&self) -> Option<ProcessKind> {
        self.process_of(self.step).map(|p| p.kind())
    }

    fn process_of(&self, step: u64) -> Option<&Arc<dyn GeoProcess>> {
        let n = self.processes.len() as u64;
        (n > 0).then(|| &self.processes[(step % n) as usize])
    }

    /// The region holding `pos`.
    pub fn region_of(&self, pos: VoxelPos) -> RegionKey {
        let s = self.region_size as i32;
        RegionKey::new(pos.x.div_euclid(s), pos.y.div_euclid(s), pos.z.div_euclid(s))
    }

    /// The voxels of region `r` (clamped to the `i32` range).
    pub fn region_box(&self, r: RegionKey) -> VoxelBox {
        let s = i64::from(self.region_size);
        let min = |c: i32| (i64::from(c) * s).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        VoxelBox::cube(VoxelPos::new(min(r.x), min(r.y), min(r.z)), self.region_size)
    }

    /// The regions whose centre lies within `radius` voxels of one of `centers`, sorted.
    /// `radius` is clamped to `0..=`[`MAX_NEAR_REGIONS`] region sizes (NaN counts as 0), so no
    /// radius overflows or walks an unbounded number of regions.
    ///
    /// # Runtime
    /// O(centers × (radius / size)³ + result log result), at most O(centers × 67³).
    pub fn regions_near(&self, centers: &[VoxelPos], radius: f64) -> Vec<RegionKey> {
        let s = f64::from(self.region_size);
        let radius = if radius.is_nan() { 0.0 } else { radius.clamp(0.0, f64::from(MAX_NEAR_REGIONS) * s) };
        let r = (radius / s).ceil() as i32 + 1;
        let mut out = Vec::new();
        for c in centers {
            let home = self.region_of(*c);
            for dz in -r..=r {
                for dy in -r..=r {
                    for dx in -r..=r {
                        // Region coordinates are voxel coordinates / size (|c| < 2^26): no overflow.
                        let k = RegionKey::new(home.x + dx, home.y + dy, home.z + dz);
                        let centre = [k.x, k.y, k.z].map(|v| (f64::from(v) + 0.5) * s);
                        let d2: f64 = centre.iter().zip(c.to_array()).map(|(a, b)| (a - f64::from(b)).powi(2)).sum();
                        if d2 <= radius * radius {
                            out.push(k);
                        }
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn color(&self, r: RegionKey) -> usize {
        let m = self.modulus as i32;
        let c = |v: i32| v.rem_euclid(m) as usize;
        c(r.x) + self.modulus as usize * (c(r.y) + self.modulus as usize * c(r.z))
    }

    /// Starts the next step over `regions`: takes the chunks each reads from `world` (resident
    /// chunks only; a region with a chunk that is not resident sits the step out) and groups
    /// the jobs by colour. `None` when no process is enabled.
    ///
    /// # Runtime
    /// O(regions × chunks per read box) cache lookups and `Arc` clones; no voxel is copied.
    pub fn begin_step(&mut self, world: &World, regions: &[RegionKey]) -> Option<StepPlan> {
        let process = self.process_of(self.step)?.clone();
        let step = self.step;
        self.step += 1;
        let kind = process.kind();
        // Each process counts its own steps (the block rules cycle their grid offsets through
        // consecutive step numbers); the history records the global step, the world's clock.
        let own_step = step / self.processes.len() as u64;
        let ctx = StepContext { seed: self.seed, step: own_step, gravity: self.gravity };
        // Invariant: ProcessKind ids are < 16 (ProcessKind::id's contract).
        let id = ProcessId::new(kind.id()).unwrap_or_else(|| unreachable!("process ids are below 16"));
        let stamp = ProcessStamp { process: id, step: step as u32 };
        let mut plan = StepPlan {
            step,
            kind,
            colors: (0..self.modulus.pow(3)).map(|_| Vec::new()).collect(),
            not_resident: 0,
            uniform: 0,
        };
        let halo = process.halo();
        'regions: for &region in regions {
            let core = self.region_box(region);
            let read = core.expand(halo);
            let (lo, hi) = (read.min.chunk(), read.max.chunk());
            let mut chunks = Vec::with_capacity(((hi.x - lo.x + 1) * (hi.y - lo.y + 1) * (hi.z - lo.z + 1)) as usize);
            let mut first_uniform = None;
            let mut all_same = true;
            for z in lo.z..=hi.z {
                for y in lo.y..=hi.y {
                    for x in lo.x..=hi.x {
                        let key = ChunkKey::new(x, y, z);
                        let Some(chunk) = world.resident_chunk(key) else {
                            plan.not_resident += 1;
                            continue 'regions;
                        };
                        match chunk.as_uniform() {
                            Some(m) if *first_uniform.get_or_insert(m) == m => {}
                            _ => all_same = false,
                        }
                        chunks.push((key, chunk));
                    }
                }
            }
            if all_same {
                plan.uniform += 1;
                continue;
            }
            let job = RegionJob { region, core, read, chunks, process: process.clone(), ctx, stamp };
            plan.colors[self.color(region)].push(job);
        }
        Some(plan)
    }

    /// Runs one whole step over `regions` on up to `threads` threads (the caller's included):
    /// each colour's jobs in parallel, their batches appended to the world's log in region
    /// order and applied before the next colour. Deterministic whatever `threads` is.
    ///
    /// # Errors
    /// A store error from [`World::apply`] (the batches stay queued in the log).
    pub fn run_step(
        &mut self,
        world: &mut World,
        regions: &[RegionKey],
        threads: usize,
    ) -> Result<StepReport, StoreError> {
        let Some(plan) = self.begin_step(world, regions) else { return Ok(StepReport::default()) };
        let mut report = StepReport { skipped: plan.not_resident + plan.uniform, ..StepReport::default() };
        for jobs in plan.colors {
            report.regions += jobs.len();
            let mut outcomes = run_jobs(jobs, threads.max(1));
            outcomes.sort_unstable_by_key(|o| o.region);
            for o in outcomes {
                if let Some(batch) = o.batch {
                    world.push_edit(Edit::Process(batch));
                }
            }
            let applied = world.apply()?;
            report.voxels_changed += applied.voxels;
            report.rejected += applied.rejected_batches;
        }
        Ok(report)
    }
}

/// Runs `jobs` on `threads` scoped threads (jobs dealt round-robin).
fn run_jobs(jobs: Vec<RegionJob>, threads: usize) -> Vec<RegionOutcome> {
    if threads == 1 || jobs.len() < 2 {
        return jobs.into_iter().map(RegionJob::run).collect();
    }
    let mut lanes: Vec<Vec<RegionJob>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, job) in jobs.into_iter().enumerate() {
        lanes[i % threads].push(job);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = lanes
            .into_iter()
            .map(|lane| s.spawn(move || lane.into_iter().map(RegionJob::run).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any radius (infinite, huge, NaN, negative) at any position, even at the edge of the voxel
    /// range, gives a bounded list without overflowing; a normal radius gives exactly the
    /// regions whose centre lies within it (counted here over a wider box).
    #[test]
    fn regions_near_is_exact_and_bounded_for_any_radius() {
        let s = GeologyScheduler::new(&GeologyConfig::default()).unwrap();
        let size = f64::from(s.region_size());
        let edge = [VoxelPos::new(i32::MAX, i32::MIN, i32::MAX), VoxelPos::new(0, 0, 0)];
        let most = 2 * (2 * MAX_NEAR_REGIONS as usize + 3).pow(3);
        for r in [f64::INFINITY, f64::MAX, 1e10, f64::NAN, -5.0, f64::NEG_INFINITY] {
            assert!(s.regions_near(&edge, r).len() <= most, "radius {r}");
        }
        assert!(s.regions_near(&edge, f64::NAN).is_empty());
        let c = VoxelPos::new(-37, 5, 90);
        let radius = 100.0;
        let home = s.region_of(c);
        let mut want = Vec::new();
        for z in home.z - 10..=home.z + 10 {
            for y in home.y - 10..=home.y + 10 {
                for x in home.x - 10..=home.x + 10 {
                    let centre = [x, y, z].map(|v| (f64::from(v) + 0.5) * size);
                    let d2: f64 = centre.iter().zip(c.to_array()).map(|(a, b)| (a - f64::from(b)).powi(2)).sum();
                    if d2 <= radius * radius {
                        want.push(RegionKey::new(x, y, z));
                    }
                }
            }
        }
        want.sort_unstable();
        assert_eq!(s.regions_near(&[c], radius), want);
    }
}
