//! Runtime geology: processes as pure, deterministic, partitionable functions.
//!
//! A process ([`GeoProcess`]) reads a [`RegionSnapshot`] covering a core [`VoxelBox`] grown by
//! its [`halo`](GeoProcess::halo) and appends [`VoxelWrite`]s (`pos`, `expect`ed material,
//! new `material`) inside the core, each voxel at most once.
//!
//! ```
//! use strata_core::VoxelPos;
//! use strata_geo::geology::{
//!     GeoProcess, Gravity, RegionSnapshot, StepContext, ThermalErosion, VoxelBox, apply_writes,
//! };
//! use strata_geo::ids;
//!
//! let core = VoxelBox::new(VoxelPos::new(0, 0, 0), VoxelPos::new(15, 15, 15));
//! let thermal = ThermalErosion::default();
//! // A sand column on a granite floor.
//! let mut snap = RegionSnapshot::from_fn(core.expand(thermal.halo()), |p| match p {
//!     p if p.y < 2 => ids::GRANITE,
//!     p if p.x == 8 && p.z == 8 && p.y < 10 => ids::SAND,
//!     _ => ids::AIR,
//! })
//! .unwrap();
//! let mut writes = Vec::new();
//! for step in 0..64 {
//!     writes.clear();
//!     let ctx = StepContext { seed: 1, step, gravity: Gravity::NegY };
//!     thermal.step(&snap, core, &ctx, &mut writes).unwrap();
//!     apply_writes(&mut snap, &writes); // compare-and-set
//! }
//! assert_eq!(snap.count_in(&core, |m| m == ids::SAND), 8); // conserved
//! assert_eq!(snap.get(VoxelPos::new(8, 9, 8)), Some(ids::AIR)); // the column slumped
//! ```
//!
//! # Contract: locality, determinism, partitions
//! The material written at voxel `v` is a function only of the input within `halo` voxels of
//! `v` (Chebyshev distance) and of `(seed, step, absolute position)`. Randomness comes from
//! hashing `(seed, step, process, absolute coordinates)` with splitmix64 — never from iteration
//! order or an RNG stream. So a core processed whole, or as partitions each with its own halo
//! read from the same snapshot, gives **identical** writes ([`run_partitioned`] does the latter;
//! tested for every process, over several steps, with ragged partitions). Every process here
//! has [`alignment`](GeoProcess::alignment) 1: any partition boundaries work. The writes of all
//! partitions of one step form one compare-and-set batch ([`apply_writes`]).
//!
//! **Applying.** A step's writes were all computed from one snapshot; block rules write swaps
//! (grain → air here, air → grain there). Apply one step's batch all-or-nothing (or at least
//! per 2×2×2 block) if a conflicting edit can intervene: applying half of a swap duplicates or
//! loses a grain. Advance `step` by one per step: thermal erosion and magma flow cycle their
//! block grid through `step % 8`, and a scheduler that skips steps in a pattern (e.g. only even
//! steps) would leave some neighbour pairs never sharing a block.
//!
//! Bad arguments are a typed [`GeologyError`], never a panic: a snapshot that does not cover
//! core + halo ([`GeologyError::NotCovered`]; the step writes nothing), zero partition counts,
//! wrong voxel counts, oversized boxes, invalid configs. Boxes at the `i32` limits work
//! (expansion clamps; blocks reaching past the limits are left unchanged).
//!
//! # Gravity
//! [`Gravity::NegY`]: −Y. [`Gravity::TowardOrigin`] (the planet, centred at voxel (0, 0, 0)):
//! down is the direction toward the centre along the axis of the largest |coordinate| of the
//! point (ties: Y, then X, then Z) — the six pyramids under the faces of a cube, each with one
//! down. The point is the voxel's centre for per-voxel rules (hydraulic erosion, extrusion) and
//! the 2×2×2 block's centre for block rules (thermal erosion, magma flow): absolute position
//! only, so partitions agree. Where two pyramids meet (|x| = |y| …), neighbouring voxels have
//! different downs; material there moves by either rule but water does not flow across the
//! border (see below).
//!
//! # Thermal erosion ([`ThermalErosion`]) — halo 1, alignment 1, exact conservation
//! A **Margolus block rule**. Per step the grid is cut into 2×2×2 blocks with corners at
//! `offset + 2k`, the offset's bits taken from `step % 8` (x: bit 0, y: bit 1, z: bit 2), so
//! within 8 steps every pair of neighbouring voxels, straight or diagonal, shares a block. In a
//! block (its two layers along the block's gravity, four columns):
//! 1. a loose grain above an *empty* cell (air or water by default) falls straight down (swap);
//! 2. a loose grain resting on something slides diagonally down into a neighbouring column
//!    that is empty in both layers — the surface beside it lies ≥ 2 lower, a slope over 45° —
//!    with the material's `slide_chance` per step (columns in a hashed order).
//!
//! Contents are only **permuted**: every material id is conserved exactly in any region that
//! no grain leaves. Loose by default: sand (slides with chance 1), sediment (0.75), dirt and
//! grass (0.5), snow (0.25); ids stay as they are when moved. The talus angle a 2-voxel block
//! can express is 45° (a drop of at most 1 per voxel across); materials with `slide_chance` 0
//! only fall (cohesive, any slope); rock, ice and magma never move. When the rule settles (no
//! writes for 8 steps), no loose voxel has an empty voxel below it and none stands beside a
//! drop of 2 (tested). A voxel's block lies within 1 of it, so a partition computes the blocks
//! straddling its border from its halo exactly as its neighbour does.
//!
//! # Runtime
//! O(core volume): 8 reads per block; blocks without a loose or without an empty cell are
//! skipped after those reads; a few hashes per block with loose material. No allocation.
//!
//! # Hydraulic erosion ([`HydraulicErosion`]) — halo `2·substeps + 4` (12), alignment 1, exact conservation
//! A **cellular rule on surface cells**, over `substeps` (default 4) sub-steps per step. A
//! *surface cell* is a ground voxel (not air, not water) with air above it along its own
//! gravity, where the air voxel has the same gravity. Its *target* is a neighbouring surface
//! cell (one of the four lateral directions) exactly one voxel lower, chosen by hash among
//! several; none on flats, in pits, beside cliffs (drops ≥ 2: thermal erosion's business) or
//! across a gravity-pyramid border. Water lives only inside a step (never written as voxels):
//! 1. rain: every surface cell gets `rain` units;
//! 2. per sub-step: **flow** — all water moves one hop to the target, cells without one keep
//!    theirs; **erosion** — a cell with a target, water ≥ `min_carry_water`, no load and an
//!    erodible top (sediment, sand, dirt, grass, snow) erodes it with chance
//!    `erosion_rate × water`, and carries one unit of sediment (at most once per cell and step);
//!    **transport** — each loaded cell with enough water offers its unit to its target; a target
//!    without a load accepts the first offer in position order (the same order in every crop);
//! 3. **deposition**: every unit still carried at the end is deposited as [`ids::SEDIMENT`](crate::ids::SEDIMENT) —
//!    on the cell itself if that cell was eroded (it stays solid, as sediment), else on the air
//!    voxel above it (flat ground, basins, the foot of slopes, where flow stops).
//!
//! Conservation: eroded voxels = sediment units created = units deposited, and every deposit
//! lands on a distinct voxel, so the counts of air, of non-erodible ground and of
//! erodible + sediment are **exact** in any region no sediment leaves (tested with proptest on
//! random terrains under both gravities, run as partitions, alternating with thermal erosion).
//! A core region alone trades sediment with its neighbours across its border: those writes
//! belong to the neighbour's core. Locality: with targets reading 1 voxel around a cell, water
//! spreading 1 hop and sediment decisions 2 hops per sub-step, a written voxel depends on the
//! input within `2·substeps + 3` voxels; the halo adds one for safety.
//!
//! # Runtime
//! O((core + 2·halo)³) per step: one scan for surface cells (per-voxel gravity under
//! `TowardOrigin`), then O(cells × substeps). Buffers are pooled inside the process (a mutex
//! around a short list), so steady-state steps allocate nothing.
//!
//! # Volcanism ([`Volcanism`]) — halo 1, alignment 1, adds mass
//! Vents are hashed from `(seed, coarse cell)`: the plane across gravity is cut into cells of
//! `vent_spacing` voxels (per gravity face); each holds a vent with `vent_chance`, at a hashed
//! spot at least a quarter cell from its borders. A vent erupts during a whole
//! `eruption_period` with `active_chance`. One step, per core voxel:
//! 1. magma flows: the thermal block rule with magma as the only loose material
//!    (`flow_chance` = viscosity) and air / water as empty;
//! 2. a magma voxel that the flow left in place and that rests on something (not air or water
//!    below it at the step's start) cools to [`ids::BASALT`](crate::ids::BASALT) with `cooling_chance`: falling magma
//!    lands before it hardens, so basalt never hangs in the air;
//! 3. an open voxel (air or water, before and after the flow) resting on ground that is neither
//!    open nor magma, on an erupting vent's column, becomes [`ids::MAGMA`](crate::ids::MAGMA) — so an active vent
//!    extrudes a voxel whenever the last one has flowed away or hardened, and builds a cone of
//!    basalt (steeper than the flows' 45° where magma hardens on top; tested). Extruding onto
//!    magma as well once grew towers of floating basalt, a voxel higher every step.
//!
//! It **adds** mass: magma comes from below (not modelled). Flow alone conserves magma exactly.
//!
//! # Runtime
//! O(core volume): the block rule, plus one gravity and a few hashes per open voxel whose
//! block is unchanged and that rests on ground.
mod blocks;
mod hydraulic;
mod process;
mod region;
mod scheduler;
mod thermal;
mod volcanism;

pub use hydraulic::{HydraulicConfig, HydraulicErosion, MAX_SUBSTEPS};
pub use process::{GeoProcess, GeologyError, Gravity, ProcessKind, StepContext, run_partitioned};
pub use region::{ApplyStats, MAX_SNAPSHOT_VOLUME, RegionSnapshot, VoxelBox, VoxelWrite, apply_writes, sort_writes};
pub use scheduler::{
    GeologyConfig, GeologyScheduler, MAX_NEAR_REGIONS, RegionJob, RegionKey, RegionOutcome, StepPlan, StepReport,
};
pub use thermal::{LooseMaterial, ThermalConfig, ThermalErosion};
pub use volcanism::{Volcanism, VolcanismConfig};

#[cfg(test)]
mod tests;
