//! Runtime geology: processes as pure, deterministic, partitionable functions.
//!
//! A process reads a [`RegionSnapshot`] covering a core [`VoxelBox`] grown by its
//! [`halo`](GeoProcess::halo) and appends [`VoxelWrite`]s inside the core. The written material
//! at voxel `v` depends only on the input within `halo` of `v` and on `(seed, step, absolute
//! position)`: randomness comes from hashing those (splitmix64), never from iteration order or an
//! RNG stream. So a core processed whole or as partitions — each with its halo, from the same
//! snapshot — gives identical writes ([`run_partitioned`]), and the writes can be applied as one
//! compare-and-set batch ([`apply_writes`]).
//!
//! Bad arguments (snapshot not covering core + halo, zero partition counts, bad configs) are a
//! typed [`GeologyError`], never a panic; a failing step writes nothing.
//!
//! [`Gravity`]: `NegY` for flat worlds; `TowardOrigin` for the planet, where down is toward the
//! centre along the axis of the largest |coordinate| (cube-sphere pyramids).
mod blocks;
mod hydraulic;
mod process;
mod region;
mod thermal;
mod volcanism;

pub use hydraulic::{HydraulicConfig, HydraulicErosion, MAX_SUBSTEPS};
pub use process::{GeoProcess, GeologyError, Gravity, ProcessKind, StepContext, run_partitioned};
pub use region::{ApplyStats, MAX_SNAPSHOT_VOLUME, RegionSnapshot, VoxelBox, VoxelWrite, apply_writes, sort_writes};
pub use thermal::{LooseMaterial, ThermalConfig, ThermalErosion};
pub use volcanism::{Volcanism, VolcanismConfig};

#[cfg(test)]
mod tests;
