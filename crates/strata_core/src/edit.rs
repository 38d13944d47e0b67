//! The delta log: edits appended in O(1) from any thread, applied in batches by the world.

use crate::coords::{ChunkKey, VoxelPos};
use crate::history::ProcessStamp;
use crate::material::MaterialId;
use crossbeam_channel::{Receiver, Sender};

/// One entry of the delta log. Entries apply in the order they were appended; within an entry,
/// later voxels win.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Edit {
    /// One voxel.
    Set(VoxelPos, MaterialId),
    /// Many voxels, applied in order (the batch edit API: one log append for the whole batch).
    Many(Vec<(VoxelPos, MaterialId)>),
    /// Every voxel with `min ≤ pos ≤ max` on all axes (inclusive corners).
    FillBox {
        /// Inclusive lower corner.
        min: VoxelPos,
        /// Inclusive upper corner.
        max: VoxelPos,
        /// What to fill with.
        material: MaterialId,
    },
    /// Every voxel whose centre lies within `radius` of `center`'s centre.
    FillSphere {
        /// Centre voxel.
        center: VoxelPos,
        /// Radius in voxels.
        radius: f32,
        /// What to fill with.
        material: MaterialId,
    },
    /// A process's result (erosion, deposition…), applied all or nothing: only if every voxel it
    /// writes still holds the material the process read (see [`ProcessBatch`]).
    Process(ProcessBatch),
    /// Sets (`Some`) or removes (`None`) the block data of one voxel ([`crate::side`]): kept
    /// in the voxel's chunk record, for the material the voxel holds when this edit applies,
    /// and dropped by the apply that changes that voxel's material. At most
    /// [`MAX_VALUE_LEN`](crate::side::MAX_VALUE_LEN) bytes.
    BlockData {
        /// The voxel.
        pos: VoxelPos,
        /// The game's bytes, or `None` to remove them.
        data: Option<Vec<u8>>,
    },
    /// Sets (`Some`) or removes (`None`) entity record `id` of chunk `chunk` ([`crate::side`]):
    /// kept in the chunk's record. At most [`MAX_VALUE_LEN`](crate::side::MAX_VALUE_LEN) bytes.
    EntityData {
        /// The chunk.
        chunk: ChunkKey,
        /// The entity's id (the game's; unique within the chunk).
        id: u64,
        /// The game's bytes, or `None` to remove them.
        data: Option<Vec<u8>>,
    },
}

/// One compare-and-set write of a [`ProcessBatch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProcessWrite {
    /// The voxel.
    pub pos: VoxelPos,
    /// What the process read there.
    pub expect: MaterialId,
    /// What it writes.
    pub material: MaterialId,
}

/// The writes of one process step over one region, computed from a snapshot.
///
/// # Conflict rule
/// Applied **all or nothing**: if any voxel no longer holds its `expect` material (a player, or
/// another process, changed it after the snapshot was taken), the whole batch is dropped and
/// counted in [`ApplyReport::rejected_batches`](crate::ApplyReport::rejected_batches); the
/// scheduler recomputes that region from a fresh snapshot later. So a process never overwrites
/// an edit it did not see, and a batch that moves material (erosion takes here, deposits there)
/// is never half applied, which keeps its mass balance. Every chunk it writes records `stamp` in
/// its [`ProcessHistory`](crate::ProcessHistory). Within a batch, each voxel may appear once.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessBatch {
    /// Which process, at which step.
    pub stamp: ProcessStamp,
    /// The writes.
    pub writes: Vec<ProcessWrite>,
}

/// The largest box or sphere an edit may fill, in voxels along each axis (a sphere's diameter):
/// 1,024 voxels = 32 chunks, so one edit touches at most 32³ chunks. Larger fills are split by
/// the caller; [`World::fill_box`](crate::World::fill_box) and
/// [`World::fill_sphere`](crate::World::fill_sphere) refuse them with [`EditError`], and
/// [`World::apply`](crate::World::apply) drops any that arrive through an [`EditSender`]
/// (counted in [`ApplyReport::rejected_edits`](crate::ApplyReport::rejected_edits)).
pub const MAX_EDIT_EXTENT: u32 = 1024;

/// Why an edit was refused.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// A box or sphere larger than [`MAX_EDIT_EXTENT`] along some axis.
    #[error("the edit spans {extent} voxels along an axis; the most one edit may fill is {MAX_EDIT_EXTENT}")]
    TooLarge {
        /// Voxels along its longest axis (saturating).
        extent: u64,
    },
    /// A sphere radius that is negative, infinite or NaN.
    #[error("sphere radius {0} is not a finite number ≥ 0")]
    BadRadius(f32),
    /// Block data or an entity record longer than [`MAX_VALUE_LEN`](crate::side::MAX_VALUE_LEN).
    #[error("{len} bytes of game data; the most one value may hold is {}", crate::side::MAX_VALUE_LEN)]
    DataTooLarge {
        /// Its length.
        len: usize,
    },
}

/// An inclusive box of chunk keys: the chunks an edit may write, a region to query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChunkBox {
    /// Smallest corner (inclusive).
    pub min: ChunkKey,
    /// Largest corner (inclusive).
    pub max: ChunkKey,
}

impl ChunkBox {
    /// The box with corners `a` and `b` (in any order).
    pub fn new(a: ChunkKey, b: ChunkKey) -> Self {
        Self {
            min: ChunkKey::new(a.x.min(b.x), a.y.min(b.y), a.z.min(b.z)),
            max: ChunkKey::new(a.x.max(b.x), a.y.max(b.y), a.z.max(b.z)),
        }
    }

    /// The chunks holding the voxel box `min..=max` (`min <= max` on every axis).
    fn of_voxels(min: VoxelPos, max: VoxelPos) -> Self {
        Self { min: min.chunk(), max: max.chunk() }
    }

    /// The smallest box holding both.
    pub fn union(self, other: Self) -> Self {
        let (a, b) = (self.min, other.min);
        let (c, d) = (self.max, other.max);
        Self {
            min: ChunkKey::new(a.x.min(b.x), a.y.min(b.y), a.z.min(b.z)),
            max: ChunkKey::new(c.x.max(d.x), c.y.max(d.y), c.z.max(d.z)),
        }
    }

    /// Whether the two boxes share a chunk.
    pub fn overlaps(&self, other: &Self) -> bool {
        self.min.x <= other.max.x
            && other.min.x <= self.max.x
            && self.min.y <= other.max.y
            && other.min.y <= self.max.y
            && self.min.z <= other.max.z
            && other.min.z <= self.max.z
    }

    /// Whether `key` lies inside.
    pub fn contains(&self, key: ChunkKey) -> bool {
        self.overlaps(&Self { min: key, max: key })
    }
}

impl Edit {
    /// The chunks the edit may write (`None` if it writes none: an empty list or box, a
    /// sphere of negative or NaN radius).
    ///
    /// # Runtime
    /// O(1), or O(voxels) for [`Edit::Many`] and [`Edit::Process`].
    pub fn chunk_bounds(&self) -> Option<ChunkBox> {
        fn points(mut it: impl Iterator<Item = VoxelPos>) -> Option<ChunkBox> {
            let first = it.next()?;
            Some(it.fold(ChunkBox::of_voxels(first, first), |b, p| b.union(ChunkBox::of_voxels(p, p))))
        }
        match self {
            Edit::Set(p, _) => Some(ChunkBox::of_voxels(*p, *p)),
            Edit::Many(list) => points(list.iter().map(|(p, _)| *p)),
            Edit::Process(batch) => points(batch.writes.iter().map(|w| w.pos)),
            Edit::BlockData { pos, .. } => Some(ChunkBox::of_voxels(*pos, *pos)),
            Edit::EntityData { chunk, .. } => Some(ChunkBox { min: *chunk, max: *chunk }),
            Edit::FillBox { min, max, .. } => {
                (min.x <= max.x && min.y <= max.y && min.z <= max.z).then(|| ChunkBox::of_voxels(*min, *max))
            }
            Edit::FillSphere { center, radius, .. } => {
                if radius.is_nan() || *radius < 0.0 {
                    return None;
                }
                // Saturating: a sphere past the edge of the world covers up to the edge.
                let r = radius.ceil().min(i32::MAX as f32) as i32;
                let lo =
                    VoxelPos::new(center.x.saturating_sub(r), center.y.saturating_sub(r), center.z.saturating_sub(r));
                let hi =
                    VoxelPos::new(center.x.saturating_add(r), center.y.saturating_add(r), center.z.saturating_add(r));
                Some(ChunkBox::of_voxels(lo, hi))
            }
        }
    }

    /// Whether the edit is within the limits every edit must keep ([`MAX_EDIT_EXTENT`], a
    /// finite radius). O(1).
    pub fn check(&self) -> Result<(), EditError> {
        match self {
            Edit::FillBox { min, max, .. } => {
                let d = |a: i32, b: i32| if b < a { 0 } else { (b as i64 - a as i64 + 1) as u64 };
                let extent = d(min.x, max.x).max(d(min.y, max.y)).max(d(min.z, max.z));
                if extent > u64::from(MAX_EDIT_EXTENT) { Err(EditError::TooLarge { extent }) } else { Ok(()) }
            }
            Edit::FillSphere { radius, .. } => {
                if !radius.is_finite() || *radius < 0.0 {
                    return Err(EditError::BadRadius(*radius));
                }
                let extent = ((f64::from(*radius) * 2.0).ceil() as u64).saturating_add(1);
                if extent > u64::from(MAX_EDIT_EXTENT) { Err(EditError::TooLarge { extent }) } else { Ok(()) }
            }
            Edit::BlockData { data: Some(d), .. } | Edit::EntityData { data: Some(d), .. }
                if d.len() > crate::side::MAX_VALUE_LEN =>
            {
                Err(EditError::DataTooLarge { len: d.len() })
            }
            _ => Ok(()),
        }
    }

    /// How many voxels the edit names (box and sphere: their volume; saturating at
    /// `u64::MAX`).
    pub fn voxel_count(&self) -> u64 {
        match self {
            Edit::Set(..) => 1,
            Edit::Many(v) => v.len() as u64,
            Edit::FillBox { min, max, .. } => {
                let d = |a: i32, b: i32| if b < a { 0 } else { (b as i64 - a as i64 + 1) as u64 };
                d(min.x, max.x).saturating_mul(d(min.y, max.y)).saturating_mul(d(min.z, max.z))
            }
            Edit::FillSphere { radius, .. } => {
                let r = radius.max(0.0) as f64;
                (4.0 / 3.0 * std::f64::consts::PI * r * r * r) as u64
            }
            Edit::Process(b) => b.writes.len() as u64,
            Edit::BlockData { .. } | Edit::EntityData { .. } => 0,
        }
    }
}

/// A cloneable handle that appends to a world's delta log from any thread.
///
/// # Runtime
/// Each call is one channel send: O(1), no lock shared with the world's reader.
#[derive(Clone, Debug)]
pub struct EditSender {
    tx: Sender<Edit>,
}

impl EditSender {
    /// Appends an edit. Returns `false` if the world is gone.
    pub fn send(&self, edit: Edit) -> bool {
        self.tx.send(edit).is_ok()
    }

    /// Sets one voxel.
    pub fn set(&self, pos: VoxelPos, material: MaterialId) -> bool {
        self.send(Edit::Set(pos, material))
    }

    /// Sets many voxels in one append.
    pub fn set_many(&self, edits: Vec<(VoxelPos, MaterialId)>) -> bool {
        self.send(Edit::Many(edits))
    }
}

/// A delta log: [`EditSender`]s append edits from any thread, its owner takes them in order.
/// Each [`World`](crate::World) owns one (its edits wait there until applied); an engine that
/// hands edits elsewhere instead of to a world (a multiplayer client sends its player's to the
/// server) owns one of its own.
///
/// # Runtime
/// A send or a take of one edit is O(1); nothing is shared with the senders but the channel.
#[derive(Debug)]
pub struct EditLog {
    tx: Sender<Edit>,
    rx: Receiver<Edit>,
}

impl Default for EditLog {
    fn default() -> Self {
        Self::new()
    }
}

impl EditLog {
    /// An empty log.
    pub fn new() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Self { tx, rx }
    }

    /// A handle appending to this log (its sends fail once the log is dropped).
    pub fn sender(&self) -> EditSender {
        EditSender { tx: self.tx.clone() }
    }

    /// Edits waiting.
    pub fn pending(&self) -> usize {
        self.rx.len()
    }

    /// Takes every waiting edit, in the order appended.
    pub fn drain(&self) -> impl Iterator<Item = Edit> + '_ {
        self.rx.try_iter()
    }
}
