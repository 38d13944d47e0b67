//! The plugin's world state: the hybrid world, its index and the material tables.

use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task};
use crossbeam_channel::Receiver;
use std::sync::Arc;
use strata_core::{ChunkChange, ChunkKey, EditLoading, MaterialRegistry, World};
use strata_index::{IndexMemory, IndexSnapshot, IndexWriter, RayShapes};
use strata_mesh::MaterialTable;
use strata_stream::{IndexBatchDone, IndexDriver, IndexPublished};

/// The world the plugin streams, with its index. Most code should use [`crate::VoxelWorld`].
#[derive(Resource)]
pub struct StrataWorld {
    /// The hybrid world (owned by the main thread; tasks get `ChunkSource`s and `Arc` snapshots).
    pub world: World,
    pub(crate) feed: Receiver<ChunkChange>,
    pub(crate) index: IndexTasks,
    /// Material definitions.
    pub registry: Arc<MaterialRegistry>,
    pub(crate) table: Arc<MaterialTable>,
    /// The boxes of the registry's shaped materials, for ray casts.
    pub(crate) ray_shapes: RayShapes,
    /// Bumped whenever `registry` is replaced (a materials reload): caches built from the
    /// registry (collision tables, mover filters) compare it.
    pub(crate) materials_version: u64,
    voxel_budget_bytes: usize,
    wanted: Receiver<ChunkKey>,
    wanted_tx: crossbeam_channel::Sender<ChunkKey>,
}

impl StrataWorld {
    /// The state over `world` and its (empty) index; stored chunks reach the index as loads
    /// and root scans ([`IndexDriver::ensure_scanned`]) from the world's store.
    pub(crate) fn new(
        mut world: World,
        writer: IndexWriter,
        registry: MaterialRegistry,
        voxel_budget_bytes: usize,
    ) -> Self {
        let feed = world.subscribe();
        world.track_evictions();
        // Edits never load on the main thread: `apply_edits` has the plan load what they wait
        // for on the I/O pool.
        world.set_edit_loading(EditLoading::Deferred);
        let table = Arc::new(MaterialTable::new(&registry));
        let (wanted_tx, wanted) = crossbeam_channel::unbounded();
        let store = world.store().clone();
        Self {
            world,
            feed,
            index: IndexTasks::new(IndexDriver::new(writer, store, crate::MAX_LOD_LEVEL)),
            ray_shapes: RayShapes::of_registry(&registry),
            registry: Arc::new(registry),
            table,
            materials_version: 0,
            voxel_budget_bytes,
            wanted,
            wanted_tx,
        }
    }

    /// Replaces the materials (a reload): the registry, its mesher table and the version the
    /// caches compare. Shown nodes keep their meshes until remeshed.
    pub(crate) fn set_registry(&mut self, registry: MaterialRegistry) {
        self.table = Arc::new(MaterialTable::new(&registry));
        self.ray_shapes = RayShapes::of_registry(&registry);
        self.registry = Arc::new(registry);
        self.materials_version += 1;
    }

    /// The game's value `name` as the save holds it
    /// ([`StrataPersistence::set_game_data`](crate::StrataPersistence::set_game_data) writes
    /// it; a value set but not written yet is not seen). Reads the store on this thread: call
    /// it once the save is open ([`StrataStatus::Ready`](crate::StrataStatus)), e.g. to place
    /// the player, not every frame. [`StoreError::Unavailable`](strata_core::StoreError::Unavailable)
    /// before the save is open.
    pub fn game_data(&self, name: &str) -> Result<Option<Vec<u8>>, strata_core::StoreError> {
        self.world.store().game_data(name)
    }

    /// How many times the materials were replaced since start-up (0: never).
    pub fn materials_version(&self) -> u64 {
        self.materials_version
    }

    /// Asks for `chunk`'s voxels to be made resident (a ray cast reached it after the index
    /// released it: [`RayError::NotResident`](strata_index::RayError::NotResident); or
    /// [`VoxelWorld::voxel`](crate::VoxelWorld::voxel) read it). The plugin loads it off the
    /// main thread; ask again in a later frame.
    pub fn request_resident(&self, chunk: ChunkKey) {
        // The receiver lives as long as `self`.
        let _ = self.wanted_tx.send(chunk);
    }

    /// The residency budget: voxel data held by the world cache and the index together, bytes
    /// ([`StrataConfig::voxel_budget_mib`](crate::StrataConfig::voxel_budget_mib)).
    pub fn voxel_budget_bytes(&self) -> usize {
        self.voxel_budget_bytes
    }

    /// What the index held after its last update (bytes by kind; O(1), measured by the index
    /// task).
    pub fn index_memory(&self) -> IndexMemory {
        self.index.driver.memory()
    }

    /// Voxel bytes resident in the world cache and the index together: the cache's chunks
    /// plus what only the index holds (LOD grids, released chunks' contributions). The index's
    /// known chunks are the cache's own (`Arc`s shared), released when the cache evicts them.
    pub fn resident_voxel_bytes(&self) -> usize {
        self.world.cache_used_bytes() + self.index.driver.memory().own_voxel_bytes()
    }

    /// Hands evicted chunks to the index for release and fits the cache to what the budget
    /// leaves beside the index's own voxel data (never below a quarter of the budget).
    pub(crate) fn sync_residency(&mut self) {
        let evicted = self.world.take_evicted();
        self.index.driver.queue_release(evicted);
        let cache = self
            .voxel_budget_bytes
            .saturating_sub(self.index.driver.memory().own_voxel_bytes())
            .max(self.voxel_budget_bytes / 4);
        if cache != self.world.cache_budget_bytes() {
            self.world.set_cache_budget_bytes(cache);
            let evicted = self.world.take_evicted();
            self.index.driver.queue_release(evicted);
        }
    }

    /// Range scans of the store done so far: one per coarse node whose grid was needed before
    /// anything above it was read, so its stored chunks reached the index first (levels 1 to
    /// [`ROOT_LEVEL`](strata_index::ROOT_LEVEL): their summaries; above: their chunk cells).
    pub fn stored_scans(&self) -> u64 {
        self.index.driver.scans()
    }

    /// Stored records that scans skipped because they do not decode (each is logged with
    /// its key; `strata verify --save <path>` lists them).
    pub fn skipped_records(&self) -> usize {
        self.index.driver.skipped_records()
    }

    /// Chunks rays asked for since the last call.
    pub(crate) fn take_wanted(&self) -> Vec<ChunkKey> {
        self.wanted.try_iter().collect()
    }

    /// The newest published index snapshot (never blocks).
    pub fn index(&self) -> Arc<IndexSnapshot> {
        self.index.driver.reader().snapshot()
    }
}

/// Runs the index driver's batches on the async compute pool, one at a time
/// ([`strata_stream::IndexDriver`] decides what goes in a batch and keeps the scan bookkeeping;
/// this only spawns the batch, collects it and logs what it reports).
pub(crate) struct IndexTasks {
    /// The engine-free driver: queue updates and ask for scans here.
    pub driver: IndexDriver,
    task: Option<Task<Result<IndexBatchDone, String>>>,
}

impl IndexTasks {
    fn new(driver: IndexDriver) -> Self {
        Self { driver, task: None }
    }

    /// Starts a batch on the async compute pool if the writer is idle and there is work.
    pub fn dispatch(&mut self) {
        if self.task.is_some() {
            return;
        }
        let Some(batch) = self.driver.take_batch() else { return };
        self.task = Some(AsyncComputeTaskPool::get().spawn(async move { crate::jobs::contained(move || batch.run()) }));
    }

    /// Collects a finished batch: what it published.
    pub fn poll(&mut self) -> Option<IndexPublished> {
        let task = self.task.as_mut()?;
        let done = bevy::tasks::futures::check_ready(task)?;
        self.task = None;
        self.finished(done)
    }

    fn finished(&mut self, done: Result<IndexBatchDone, String>) -> Option<IndexPublished> {
        match done {
            Ok(done) => {
                let published = self.driver.finish_batch(done);
                for (key, why) in &published.newly_skipped {
                    warn!("strata: stored chunk {key:?} does not decode and was skipped: {why}");
                }
                for (node, e) in &published.failed_scans {
                    warn!("strata: reading the stored chunks of {node:?} failed, retried when needed: {e}");
                }
                Some(published)
            }
            // A bug in the index: its writer is gone with the task, so the index stops
            // updating (what it published stays readable); the app goes on.
            Err(panic) => {
                error!("strata: the index update panicked, the index no longer updates: {panic}");
                self.driver.lose_batch();
                None
            }
        }
    }

    /// Waits for the running batch (used on exit only).
    pub fn finish(&mut self) {
        if let Some(task) = self.task.take() {
            let done = bevy::tasks::block_on(task);
            self.finished(done);
        }
    }
}
