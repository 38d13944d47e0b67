//! Messages the plugin sends (read them with `MessageReader`).

use crate::persistence::CommitRequest;
use bevy::picking::pointer::PointerButton;
use bevy::prelude::*;
use std::sync::Arc;
use std::time::Duration;
use strata_core::{Chunk, ChunkKey, MaterialId, VoxelPos};
use strata_index::NodeId;

/// A node of the view (an octree node: one chunk at level 0, 2ⁿ chunks a side at level n) got
/// its first mesh and is shown; its entity appeared.
///
/// **The mesh hook.** Read it (and [`NodeRemeshed`]) to attach a game's own components to a
/// node's entity when its mesh is built — navigation data, props, colliders of its own — from
/// the voxels that were meshed. The entity is the mesh's (transparent and fluid faces are on a
/// child of it); a node is placed at its first chunk's smallest corner. While the meshes of
/// the nodes it replaces are still on screen (the LOD hand-over, [`strata_stream::handover`]) the
/// entity is `Visibility::Hidden`; the plugin reveals it in the frame they go.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct NodeMeshed {
    /// The node and its level (`node.level`; 0 = one chunk).
    pub node: NodeId,
    /// Its entity, if it has visible geometry (`None`: all air or buried, nothing spawned).
    pub entity: Option<Entity>,
    /// The 32³ cells that were meshed: the chunk's voxels at level 0 (edits applied), the
    /// node's LOD grid above (each cell stands for 2ⁿ voxels a side). Shared, not copied.
    pub voxels: Arc<Chunk>,
}

/// A node left the selection (the view, or a change of level). Its entity (if any) is
/// despawned now or, when nodes replacing it are still being meshed, in the frame the last of
/// them is (the LOD hand-over, [`StrataStreaming::retired_displays`](crate::StrataStreaming::retired_displays)).
#[derive(Message, Clone, Debug, PartialEq)]
pub struct NodeUnloaded {
    /// The node.
    pub node: NodeId,
}

/// A shown node got a new mesh (after an edit or a change of its neighbours' LOD).
#[derive(Message, Clone, Debug, PartialEq)]
pub struct NodeRemeshed {
    /// The node.
    pub node: NodeId,
    /// Its entity, if it has visible geometry.
    pub entity: Option<Entity>,
    /// The 32³ cells that were meshed (see [`NodeMeshed::voxels`]).
    pub voxels: Arc<Chunk>,
}

/// Edits were applied to these chunks (world version `version`).
#[derive(Message, Clone, Debug, PartialEq)]
pub struct VoxelsEdited {
    /// Changed chunks.
    pub chunks: Vec<ChunkKey>,
    /// World version after the edits.
    pub version: u64,
}

/// The game data (block data or entity records) of these chunks changed, their voxels did not
/// (world version `version`): a chest's contents were written. Chunks whose voxels changed too
/// are in [`VoxelsEdited`] (their game data may have changed with them: mining a chest drops
/// its contents).
#[derive(Message, Clone, Debug, PartialEq)]
pub struct GameDataEdited {
    /// The chunks.
    pub chunks: Vec<ChunkKey>,
    /// World version after the edits.
    pub version: u64,
}

/// The voxel under a pointer, from the picking backend: sent when the voxel or face a
/// pointer's ray (per camera) hits changes — it enters a voxel, moves to another, or hits again
/// after hitting nothing — and when a button is pressed over it ([`VoxelPicked::pressed`]); not
/// every frame while it stays put. For every frame's hits, use `bevy_picking`'s pointer events
/// on node entities.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct VoxelPicked {
    /// The camera whose ray hit.
    pub camera: Entity,
    /// The voxel hit.
    pub voxel: VoxelPos,
    /// Outward normal of the face hit (zero when the ray started inside the voxel).
    pub normal: IVec3,
    /// Its material.
    pub material: MaterialId,
    /// Distance along the ray, in voxels.
    pub distance: f32,
    /// Where the ray started, in world voxels (`f64`, independent of the floating origin).
    pub ray_origin: bevy::math::DVec3,
    /// The ray's unit direction.
    pub ray_direction: Vec3,
    /// The button pressed over the voxel this frame; `None` for a hover change.
    pub pressed: Option<PointerButton>,
}

/// A change to [`crate::StrataConfig`] (or [`crate::GeologySettings`]) failed validation and
/// was undone: the resource holds the last accepted values again.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct StrataConfigRejected {
    /// Which resource: `"StrataConfig"` or `"GeologySettings"`.
    pub resource: &'static str,
    /// Why, naming the field (the [`crate::ConfigError`]'s message).
    pub reason: String,
}

/// A commit succeeded: every edit applied at or before world `version` (compare with
/// [`VoxelsEdited::version`]) is durable, except `held_edits` edits whose chunk could not be
/// loaded (they stay queued).
#[derive(Message, Clone, Debug, Default, PartialEq)]
pub struct EditsCommitted {
    /// The world version the commit covers.
    pub version: u64,
    /// The latest [`crate::StrataPersistence::commit_now`] request whose edits are all durable now.
    pub request: CommitRequest,
    /// Chunk records written (0 when nothing was dirty).
    pub chunks: usize,
    /// Encoded bytes written.
    pub bytes: usize,
    /// Wall time of the store commit, durability included.
    pub duration: Duration,
    /// Edits held back because their chunk could not be loaded: not covered.
    pub held_edits: usize,
}

/// A commit failed (the store was unreachable, the disk full, …): its edits stay queued and the
/// next commit retries them; nothing is lost while the app runs.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct CommitFailed {
    /// The store's error.
    pub reason: String,
}
