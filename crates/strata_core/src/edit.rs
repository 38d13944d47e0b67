//! The delta log: edits appended in O(1) from any thread, applied in batches by the world.

use crate::coords::VoxelPos;
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
