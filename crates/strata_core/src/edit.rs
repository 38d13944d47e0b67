//! The delta log: edits appended in O(1) from any thread, applied in batches by the world.

use crate::coords::VoxelPos;
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

impl Edit {
    /// How many voxels the edit names (box and sphere: their volume).
    pub fn voxel_count(&self) -> u64 {
        match self {
            Edit::Set(..) => 1,
            Edit::Many(v) => v.len() as u64,
            Edit::FillBox { min, max, .. } => {
                let d = |a: i32, b: i32| if b < a { 0 } else { (b as i64 - a as i64 + 1) as u64 };
                d(min.x, max.x) * d(min.y, max.y) * d(min.z, max.z)
            }
            Edit::FillSphere { radius, .. } => {
                let r = radius.max(0.0) as f64;
                (4.0 / 3.0 * std::f64::consts::PI * r * r * r) as u64
            }
            Edit::Process(b) => b.writes.len() as u64,
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

/// The receiving end, owned by the world.
#[derive(Debug)]
pub(crate) struct EditLog {
    tx: Sender<Edit>,
    rx: Receiver<Edit>,
}

impl EditLog {
    pub(crate) fn new() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Self { tx, rx }
    }

    pub(crate) fn sender(&self) -> EditSender {
        EditSender { tx: self.tx.clone() }
    }

    /// Edits waiting to be applied.
    pub(crate) fn pending(&self) -> usize {
        self.rx.len()
    }

    /// Takes every pending edit, in order.
    pub(crate) fn drain(&self) -> impl Iterator<Item = Edit> + '_ {
        self.rx.try_iter()
    }
}
