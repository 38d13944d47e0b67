//! The process trait, its context, gravity, hashing and partitioned runs.

use super::region::{RegionSnapshot, VoxelBox, VoxelWrite, sort_writes};
use strata_core::{Face, VoxelPos};

/// Bad arguments to a geology call. Never a panic.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GeologyError {
    /// The snapshot does not cover the core region grown by the process's halo.
    #[error("snapshot {have:?} does not cover {needed:?} (core + halo)")]
    NotCovered {
        /// The box the step needs.
        needed: VoxelBox,
        /// The snapshot's box.
        have: VoxelBox,
    },
    /// The voxel count does not match the box's volume.
    #[error("snapshot holds {got} voxels, its box {expected}")]
    SnapshotSize {
        /// The box's volume.
        expected: u64,
        /// The number of voxels given.
        got: u64,
    },
    /// A snapshot box is empty.
    #[error("empty box")]
    EmptyBox,
    /// A snapshot box is larger than [`MAX_SNAPSHOT_VOLUME`](super::MAX_SNAPSHOT_VOLUME).
    #[error("region of {volume} voxels is too large")]
    RegionTooLarge {
        /// The requested volume.
        volume: u64,
    },
    /// A partition count or alignment is 0, or a partition boundary is not aligned.
    #[error("bad partition {parts:?} with alignment {alignment}")]
    BadPartition {
        /// Partitions per axis.
        parts: [u32; 3],
        /// The process's alignment.
        alignment: u32,
    },
    /// A configuration value is outside its documented range.
    #[error("config field {0} is out of range")]
    InvalidConfig(&'static str),
}

/// Which process; stable small ids (`0..16`) recorded per chunk as process-history flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum ProcessKind {
    /// [`ThermalErosion`](super::ThermalErosion): loose material slides down to its talus angle.
    ThermalErosion = 0,
    /// [`HydraulicErosion`](super::HydraulicErosion): rain, flow, erosion, deposition.
    HydraulicErosion = 1,
    /// [`Volcanism`](super::Volcanism): magma at vents, flowing and cooling to basalt.
    Volcanism = 2,
}

impl ProcessKind {
    /// Every kind, in id order.
    pub const ALL: [ProcessKind; 3] =
        [ProcessKind::ThermalErosion, ProcessKind::HydraulicErosion, ProcessKind::Volcanism];

    /// The stable id (`0..16`).
    pub const fn id(self) -> u8 {
        self as u8
    }

    /// The kind with id `id`, if any.
    pub fn from_id(id: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.id() == id)
    }

    /// The history bit of this kind (`1 << id`).
    pub const fn flag(self) -> u16 {
        1 << self as u8
    }
}

/// Which way is down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Gravity {
    /// −Y everywhere (flat worlds).
    #[default]
    NegY,
    /// Toward the planet centre at voxel (0, 0, 0), cube-sphere style: at a point, down is the
    /// direction toward the centre along the axis where the point's |coordinate| is largest
    /// (ties: Y before X before Z), so each of the six pyramids under a cube face has one down.
    /// The point is the voxel's centre (`pos + ½`) for per-voxel rules and the block's centre for
    /// block rules: a function of absolute position only.
    TowardOrigin,
}

impl Gravity {
    /// Down at the point whose doubled coordinates are `c2` (so voxel centres are `2·pos + 1`).
    pub fn down_at_doubled(self, c2: [i64; 3]) -> Face {
        match self {
            Gravity::NegY => Face::NegY,
            // At the centre itself (a 2³ block around it) down is arbitrary: +Y, as always.
            Gravity::TowardOrigin if c2 == [0; 3] => Face::PosY,
            // Toward the centre along the dominant axis: the planet's up (`Face::dominant`,
            // ties y, x, z), reversed.
            Gravity::TowardOrigin => Face::dominant(c2).opposite(),
        }
    }

    /// Down at voxel `pos` (its centre).
    #[inline]
    pub fn down(self, pos: VoxelPos) -> Face {
        self.down_at_doubled(pos.to_array().map(|c| 2 * i64::from(c) + 1))
    }
}

/// What a step may depend on besides its input: seed, step number and gravity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct StepContext {
    /// World seed.
    pub seed: u64,
    /// Step number (alternates block grids, varies the hashes).
    pub step: u64,
    /// Which way is down.
    pub gravity: Gravity,
}

/// A geological process: a pure function from a snapshot of a core region plus its halo to a
/// batch of writes inside the core.
///
/// **Contract** (tested for every process): the material written at voxel `v` depends only on
/// the input within [`halo`](GeoProcess::halo) voxels of `v` (Chebyshev distance) and on
/// `(seed, step, absolute position)`. So running a core as one piece, or as partitions each with
/// its own halo from the same snapshot, gives the same writes.
pub trait GeoProcess: Send + Sync {
    /// Which process.
    fn kind(&self) -> ProcessKind;

    /// Ghost-zone width in voxels read around the core region for one step.
    fn halo(&self) -> u32;

    /// Alignment that partition boundaries must respect; 1 if none.
    fn alignment(&self) -> u32 {
        1
    }

    /// One step over `core`: appends writes (each voxel at most once, all inside `core`, `expect`
    /// = the snapshot's material) to `out`. An empty core writes nothing.
    ///
    /// # Errors
    /// [`GeologyError::NotCovered`] when `input` does not cover `core.expand(halo)` (nothing is
    /// written then).
    fn step(
        &self,
        input: &RegionSnapshot,
        core: VoxelBox,
        ctx: &StepContext,
        out: &mut Vec<VoxelWrite>,
    ) -> Result<(), GeologyError> {
        if core.is_empty() {
            return Ok(());
        }
        check_covered(input, &core, self.halo())?;
        self.step_covered(input, core, ctx, out);
        Ok(())
    }

    /// The step itself, which [`GeoProcess::step`] calls once `core` is known to be non-empty
    /// and covered by `input` with the halo: the same contract for the writes.
    fn step_covered(&self, input: &RegionSnapshot, core: VoxelBox, ctx: &StepContext, out: &mut Vec<VoxelWrite>);
}

/// Checks that `input` covers `core` grown by `halo`.
fn check_covered(input: &RegionSnapshot, core: &VoxelBox, halo: u32) -> Result<(), GeologyError> {
    let needed = core.expand(halo);
    if input.bounds().contains_box(&needed) {
        Ok(())
    } else {
        Err(GeologyError::NotCovered { needed, have: input.bounds() })
    }
}

/// Runs one step of `process` over `core` cut into `parts` partitions per axis (boundaries on
/// multiples of the process's alignment), each from its own crop of `snapshot` to the partition
/// plus the halo — exactly what a scheduler running partitions on different threads does.
/// Returns the writes sorted by position (z slowest).
///
/// # Errors
/// [`GeologyError::BadPartition`] for a zero count; [`GeologyError::NotCovered`] when `snapshot`
/// does not cover `core` plus the halo.
///
/// # Runtime
/// The step's, plus copying each partition's crop.
pub fn run_partitioned(
    process: &dyn GeoProcess,
    snapshot: &RegionSnapshot,
    core: VoxelBox,
    parts: [u32; 3],
    ctx: &StepContext,
) -> Result<Vec<VoxelWrite>, GeologyError> {
    let halo = process.halo();
    check_covered(snapshot, &core, halo)?;
    let mut out = Vec::new();
    for part in core.split(parts, process.alignment())? {
        let crop = snapshot.crop(part.expand(halo))?;
        process.step(&crop, part, ctx, &mut out)?;
    }
    sort_writes(&mut out);
    Ok(out)
}

/// splitmix64's finaliser.
#[inline]
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of `(seed, step, salt, position)`: the only source of randomness of every process.
#[inline]
pub(crate) fn hash(seed: u64, step: u64, salt: u64, p: [i64; 3]) -> u64 {
    let mut h = mix(seed ^ 0x5EED_6E01_0000_0000);
    h = mix(h ^ step);
    h = mix(h ^ salt);
    h = mix(h ^ p[0] as u64);
    h = mix(h ^ p[1] as u64);
    mix(h ^ p[2] as u64)
}

/// A uniform number in `[0, 1)` from a hash.
#[inline]
pub(crate) fn unit(h: u64) -> f32 {
    (h >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}

/// Position as `i64`s.
#[inline]
pub(crate) fn p64(p: VoxelPos) -> [i64; 3] {
    p.to_array().map(i64::from)
}

/// `p` one voxel toward `face`, or `None` outside the `i32` range.
#[inline]
pub(crate) fn step_checked(p: VoxelPos, face: Face) -> Option<VoxelPos> {
    let o = face.offset();
    Some(VoxelPos::new(p.x.checked_add(o[0])?, p.y.checked_add(o[1])?, p.z.checked_add(o[2])?))
}

/// A lookup table from material id to a value, with a default beyond its length.
#[derive(Clone, Debug)]
pub(crate) struct MaterialTable<T: Copy> {
    values: Vec<T>,
    default: T,
}

impl<T: Copy> MaterialTable<T> {
    pub(crate) fn new(default: T, entries: impl IntoIterator<Item = (strata_core::MaterialId, T)>) -> Self {
        let mut values = Vec::new();
        for (m, v) in entries {
            let i = usize::from(m.0);
            if values.len() <= i {
                values.resize(i + 1, default);
            }
            values[i] = v;
        }
        Self { values, default }
    }

    #[inline]
    pub(crate) fn get(&self, m: strata_core::MaterialId) -> T {
        self.values.get(usize::from(m.0)).copied().unwrap_or(self.default)
    }
}
