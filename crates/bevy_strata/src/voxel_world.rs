//! [`VoxelWorld`]: the system parameter for reading, editing and querying the world.

use crate::state::StrataWorld;
use crate::viewer::StrataOrigin;
use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use strata_core::{
    BlockData, ChunkKey, ChunkSide, Edit, EditError, EditLog, EditSender, MaterialId, VoxelPos, WorldStats,
};
use strata_index::{ChunkBox, HitFilter, HomogeneousRegion, NodeId, Ray, RayError, RayHit, RayOptions, RayShapes};

/// A ray hit in render space.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VoxelHit {
    /// The voxel hit.
    pub voxel: VoxelPos,
    /// Outward normal of the face the ray entered through (zero if it started inside).
    pub normal: IVec3,
    /// Distance along the ray, in voxels (= render units).
    pub distance: f32,
    /// The voxel's material.
    pub material: MaterialId,
    /// The entry point in render space.
    pub position: Vec3,
}

impl VoxelHit {
    /// The empty voxel in front of the face hit (where a block would be placed).
    pub fn adjacent(&self) -> VoxelPos {
        VoxelPos::new(
            self.voxel.x.wrapping_add(self.normal.x),
            self.voxel.y.wrapping_add(self.normal.y),
            self.voxel.z.wrapping_add(self.normal.z),
        )
    }
}

pub(crate) fn face_normal(face: Option<strata_core::Face>) -> IVec3 {
    face.map_or(IVec3::ZERO, |f| {
        let [x, y, z] = f.offset();
        IVec3::new(x, y, z)
    })
}

/// Get and set voxels, fill boxes and spheres, batch edits, cast rays and query homogeneity.
///
/// Edits are O(1) appends to the delta log; the plugin applies them in
/// [`crate::StrataSystems::ApplyEdits`] the same frame (or the next, if issued after it),
/// remeshes every affected chunk and commits them durably in the background.
///
/// **Shared access.** It reads the world's resources without taking them exclusively (`Res`):
/// edits are deferred like `Commands` (appended to the delta log, applied by the plugin's
/// systems), and a read that needs a chunk only asks for it. So any number of game systems
/// using it run in parallel with each other; they are ordered against the plugin's systems
/// (which change the world) by the scheduler.
///
/// **On a multiplayer client** (`StrataNetClientPlugin`, feature `net`) the world is the
/// server's: the edits go to the server as the player's (`NetClient::edit`: shown at once,
/// durable once the server answers, undone if it refuses), so the same game code edits a
/// world of its own and a server's. A list longer than the protocol allows for one edit
/// (`strata_net::message::MAX_EDIT_VOXELS`) travels as several edits, each settled on its own.
/// An [`EditSender`] from [`VoxelWorld::edit_sender`] sends there too; one taken from the core
/// world itself (`World::edit_sender`) changes only the client's own world.
#[derive(SystemParam)]
pub struct VoxelWorld<'w> {
    strata: Res<'w, StrataWorld>,
    origin: Res<'w, StrataOrigin>,
    route: Option<Res<'w, EditRoute>>,
}

/// Where [`VoxelWorld`]'s edits go instead of the world: on a multiplayer client, the net
/// client plugin inserts it and hands what it collects to the server each frame.
#[derive(Resource, Debug, Default)]
pub(crate) struct EditRoute {
    log: EditLog,
}

impl EditRoute {
    /// The edits made since the last call, in order.
    #[cfg_attr(not(feature = "net"), allow(dead_code))]
    pub(crate) fn take(&self) -> Vec<Edit> {
        self.log.drain().collect()
    }
}

impl VoxelWorld<'_> {
    /// The material definitions (names, colours, kinds).
    pub fn registry(&self) -> &strata_core::MaterialRegistry {
        &self.strata.registry
    }

    /// The material at `pos` (applied edits), from resident data: never waits for the store.
    /// `None` while its chunk is not resident; the plugin then loads it off the main thread
    /// (the I/O pool, before the view's loads), and a call a few frames later answers. O(1).
    pub fn voxel(&self, pos: VoxelPos) -> Option<MaterialId> {
        let found = self.resident_voxel(pos);
        if found.is_none() {
            self.strata.request_resident(pos.chunk());
        }
        found
    }

    /// The material at `pos` if its chunk is resident; unlike [`VoxelWorld::voxel`] it does not
    /// ask for the chunk otherwise (for reads that may fall anywhere, e.g. under a pointer). O(1).
    pub fn resident_voxel(&self, pos: VoxelPos) -> Option<MaterialId> {
        let (key, local) = pos.split();
        self.strata.world.resident_chunk(key).map(|c| c.get(local.index()))
    }

    /// Appends `edit` to the world's log, or (on a client) to the edits for the server, after
    /// its shape checks ([`Edit::check`]): a refused edit goes nowhere.
    fn push(&self, edit: Edit) -> Result<(), EditError> {
        edit.check()?;
        // The log (the world's or the route's) lives as long as this borrow: the send succeeds.
        self.edit_sender().send(edit);
        Ok(())
    }

    /// Sets one voxel.
    pub fn set_voxel(&self, pos: VoxelPos, material: MaterialId) {
        // A single voxel passes every shape check.
        let _ = self.push(Edit::Set(pos, material));
    }

    /// Sets many voxels (one log entry).
    pub fn set_many(&self, edits: Vec<(VoxelPos, MaterialId)>) {
        // A list passes every shape check.
        let _ = self.push(Edit::Many(edits));
    }

    /// Fills a box (inclusive corners). A box wider than
    /// [`MAX_EDIT_EXTENT`](strata_core::MAX_EDIT_EXTENT) voxels along an axis is refused.
    pub fn fill_box(&self, min: VoxelPos, max: VoxelPos, material: MaterialId) -> Result<(), EditError> {
        self.push(Edit::FillBox { min, max, material })
    }

    /// Sets (`Some`) or removes (`None`) the block data at `pos`: the game's bytes for that
    /// voxel (a chest's contents, a sign's text), saved in the voxel's chunk record in the same
    /// commit as the voxels, for as long as the voxel holds the material it holds when the
    /// edit applies (mining the chest drops its data in the same commit; see
    /// [`strata_core::side`]). Data longer than
    /// [`MAX_VALUE_LEN`](strata_core::side::MAX_VALUE_LEN) is refused.
    pub fn set_block_data(&self, pos: VoxelPos, data: Option<Vec<u8>>) -> Result<(), EditError> {
        self.push(Edit::BlockData { pos, data })
    }

    /// Sets (`Some`) or removes (`None`) entity record `id` of chunk `key`: the game's bytes for
    /// something that lives in that chunk, saved in its record with its voxels. Refused like
    /// [`VoxelWorld::set_block_data`].
    pub fn set_entity_data(&self, key: ChunkKey, id: u64, data: Option<Vec<u8>>) -> Result<(), EditError> {
        self.push(Edit::EntityData { chunk: key, id, data })
    }

    /// The game data of chunk `key` (block data and entity records, applied edits), from
    /// resident data: `None` while the chunk is not resident (the plugin then loads it, as for
    /// [`VoxelWorld::voxel`]). O(1).
    pub fn chunk_side(&self, key: ChunkKey) -> Option<std::sync::Arc<ChunkSide>> {
        let found = self.strata.world.resident_side(key);
        if found.is_none() {
            self.strata.request_resident(key);
        }
        found
    }

    /// The block data at `pos` (applied edits): `None` when the voxel has none, or while its
    /// chunk is not resident (see [`VoxelWorld::chunk_side`] to tell them apart). O(log n).
    pub fn block_data(&self, pos: VoxelPos) -> Option<BlockData> {
        let (key, local) = pos.split();
        self.chunk_side(key)?.block(local.index()).cloned()
    }

    /// Stamps `scene` (a MagicaVoxel model read by [`strata_core::vox::VoxScene::parse`]) into
    /// the world, its voxels moved by `at`, each palette index made the material `materials`
    /// gives it ([`strata_core::vox::VoxScene::materials`]); voxels the model leaves empty are
    /// left as they are, voxels outside the world and indices `materials` lacks are skipped.
    /// One batch of edits, like [`VoxelWorld::set_many`]. Returns the voxels set.
    ///
    /// # Runtime
    /// O(the scene's voxels).
    pub fn paste(
        &self,
        scene: &strata_core::vox::VoxScene,
        materials: &std::collections::HashMap<u8, MaterialId>,
        at: VoxelPos,
    ) -> usize {
        let edits: Vec<(VoxelPos, MaterialId)> = scene
            .voxels
            .iter()
            .filter_map(|&(p, index)| {
                let m = *materials.get(&index)?;
                let [x, y, z] = [p[0].checked_add(at.x)?, p[1].checked_add(at.y)?, p[2].checked_add(at.z)?];
                Some((VoxelPos::new(x, y, z), m))
            })
            .collect();
        let n = edits.len();
        self.set_many(edits);
        n
    }

    /// Fills a sphere. A radius that is not finite and ≥ 0, or a sphere wider than
    /// [`MAX_EDIT_EXTENT`](strata_core::MAX_EDIT_EXTENT) voxels, is refused.
    pub fn fill_sphere(&self, center: VoxelPos, radius: f32, material: MaterialId) -> Result<(), EditError> {
        self.push(Edit::FillSphere { center, radius, material })
    }

    /// A handle for editing from other threads or tasks (on a multiplayer client, its edits
    /// go to the server like the others: see the type's docs).
    pub fn edit_sender(&self) -> EditSender {
        match &self.route {
            Some(route) => route.log.sender(),
            None => self.strata.world.edit_sender(),
        }
    }

    /// Casts a render-space ray (e.g. from `Camera::viewport_to_world`) against solid voxels of
    /// the indexed (loaded) world; shaped blocks are hit on their boxes (a ray over a slab's
    /// empty half passes). `None` also while the ray reaches a chunk whose voxels were
    /// released: the plugin loads it, and a cast a few frames later is exact (see
    /// [`VoxelWorld::raycast_world`]).
    pub fn raycast(&self, ray: Ray3d, max_distance: f32) -> Option<VoxelHit> {
        let origin = self.origin.to_world(ray.origin).to_array();
        let d = ray.direction.as_vec3();
        let options = RayOptions {
            max_distance: f64::from(max_distance),
            filter: HitFilter::solid_only(&self.strata.registry),
            shapes: self.strata.ray_shapes.clone(),
        };
        let hit = self.raycast_world(origin, [f64::from(d.x), f64::from(d.y), f64::from(d.z)], &options).ok()??;
        Some(VoxelHit {
            voxel: hit.voxel,
            normal: face_normal(hit.face),
            distance: hit.distance as f32,
            material: hit.material,
            position: ray.origin + d * hit.distance as f32,
        })
    }

    /// The boxes of the registry's shaped materials, for [`RayOptions::shapes`] in
    /// [`VoxelWorld::raycast_world`].
    pub fn ray_shapes(&self) -> RayShapes {
        self.strata.ray_shapes.clone()
    }

    /// Casts a ray in world voxel coordinates with full control over the options.
    ///
    /// Exact wherever the voxels are resident. A ray that reaches a chunk whose voxels were
    /// released (it left the view) gives the pending result [`RayError::NotResident`] naming
    /// it, and the plugin starts loading it off the main thread (the I/O pool); once loaded
    /// and indexed (usually the next few frames) the same cast is exact.
    pub fn raycast_world(
        &self,
        origin: [f64; 3],
        direction: [f64; 3],
        options: &RayOptions,
    ) -> Result<Option<RayHit>, RayError> {
        let ray = Ray::new(origin, direction)?;
        let result = self.strata.index().cast_ray(&ray, options);
        if let Err(RayError::NotResident { chunk }) = &result {
            self.strata.request_resident(*chunk);
        }
        result
    }

    /// Whether the dominant material of `node` fills at least `threshold` of it.
    pub fn is_homogeneous(&self, node: NodeId, threshold: f32) -> bool {
        self.strata.index().is_homogeneous(node, threshold)
    }

    /// Maximal homogeneous boxes inside `bounds`, from nodes of at least `min_level`.
    pub fn homogeneous_regions(&self, bounds: ChunkBox, min_level: u32) -> Vec<HomogeneousRegion> {
        self.strata.index().homogeneous_regions(bounds, min_level)
    }

    /// World counters.
    pub fn stats(&self) -> WorldStats {
        self.strata.world.stats()
    }

    /// The floating origin.
    pub fn origin(&self) -> StrataOrigin {
        *self.origin
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::ecs::system::ReadOnlySystemParam;

    /// Systems using `VoxelWorld` take no exclusive access, so they run in parallel (this fails
    /// to compile if a field takes `ResMut`).
    #[test]
    fn voxel_world_is_a_read_only_system_param() {
        fn read_only<P: ReadOnlySystemParam>() {}
        read_only::<VoxelWorld<'static>>();
    }
}
