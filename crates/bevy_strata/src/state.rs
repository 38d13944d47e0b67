//! The plugin's world state: the hybrid world, its index and the material tables.

use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task};
use crossbeam_channel::Receiver;
use std::sync::Arc;
use strata_core::{Chunk, ChunkChange, ChunkKey, ChunkOrigin, MaterialRegistry, ProcessHistory, World};
use strata_index::{IndexMemory, IndexReader, IndexSnapshot, IndexWriter};
use strata_mesh::MaterialTable;

/// The world the plugin streams, with its index. Most code should use [`crate::VoxelWorld`].
#[derive(Resource)]
pub struct StrataWorld {
    /// The hybrid world (owned by the main thread; tasks get `ChunkSource`s and `Arc` snapshots).
    pub world: World,
    pub(crate) feed: Receiver<ChunkChange>,
    pub(crate) index: IndexDriver,
    /// Material definitions.
    pub registry: Arc<MaterialRegistry>,
    pub(crate) table: Arc<MaterialTable>,
    budget_bytes: usize,
    wanted: Receiver<ChunkKey>,
    wanted_tx: crossbeam_channel::Sender<ChunkKey>,
}

impl StrataWorld {
    /// The state over `world`, with an index read through `reader` whose writer the start-up
    /// task builds and hands in later ([`IndexDriver::install`]).
    pub(crate) fn new(mut world: World, reader: IndexReader, registry: MaterialRegistry, budget_bytes: usize) -> Self {
        let feed = world.subscribe();
        world.track_evictions();
        let table = Arc::new(MaterialTable::new(&registry));
        let (wanted_tx, wanted) = crossbeam_channel::unbounded();
        Self {
            world,
            feed,
            index: IndexDriver::new(reader),
            registry: Arc::new(registry),
            table,
            budget_bytes,
            wanted,
            wanted_tx,
        }
    }

    /// Asks for `chunk`'s voxels to be made resident again (a ray cast reached it after the
    /// index released it: [`RayError::NotResident`](strata_index::RayError::NotResident)). The
    /// plugin loads it off the main thread; cast again in a later frame.
    pub fn request_resident(&self, chunk: ChunkKey) {
        // The receiver lives as long as `self`.
        let _ = self.wanted_tx.send(chunk);
    }

    /// The residency budget: voxel data held by the world cache and the index together, bytes
    /// ([`StrataConfig::voxel_budget_mib`](crate::StrataConfig::voxel_budget_mib)).
    pub fn budget_bytes(&self) -> usize {
        self.budget_bytes
    }

    /// What the index held after its last update (bytes by kind; O(1), measured by the index
    /// task).
    pub fn index_memory(&self) -> IndexMemory {
        self.index.memory
    }

    /// Voxel bytes resident in the world cache and the index together: the cache's chunks
    /// plus what only the index holds (generated stubs, LOD grids). The index's known chunks
    /// are the cache's own (`Arc`s shared), released when the cache evicts them.
    pub fn resident_voxel_bytes(&self) -> usize {
        self.world.cache_bytes() + self.index.memory.own_voxel_bytes()
    }

    /// Hands evicted chunks to the index for release and fits the cache to what the budget
    /// leaves beside the index's own voxel data (never below a quarter of the budget).
    pub(crate) fn sync_residency(&mut self) {
        let evicted = self.world.take_evicted();
        self.index.queue_release(evicted);
        let cache = self.budget_bytes.saturating_sub(self.index.memory.own_voxel_bytes()).max(self.budget_bytes / 4);
        if cache != self.world.cache_budget() {
            self.world.set_cache_budget(cache);
            let evicted = self.world.take_evicted();
            self.index.queue_release(evicted);
        }
    }

    /// Chunks rays asked for since the last call.
    pub(crate) fn take_wanted(&self) -> Vec<ChunkKey> {
        self.wanted.try_iter().collect()
    }

    /// The newest published index snapshot (never blocks).
    pub fn index(&self) -> Arc<IndexSnapshot> {
        self.index.reader.snapshot()
    }
}

/// One update for the index, in the order the world saw it.
pub(crate) enum IndexOp {
    /// A chunk the world loaded (or already held, for a ray that needs it back).
    Loaded(ChunkKey, Arc<Chunk>, ChunkOrigin, ProcessHistory),
    /// A change from the world's change feed.
    Change(ChunkChange),
    /// The world evicted the chunk: the index releases its voxels.
    Release(ChunkKey),
}

/// What an index task hands back.
type IndexTaskOutput = (IndexWriter, Vec<ChunkKey>, IndexMemory);

/// Drives the index writer on the async compute pool: one task at a time takes the writer and
/// the pending updates, folds them in (in the order queued: loads, changes and releases of one
/// chunk never overtake each other), publishes a snapshot, measures what the index holds and
/// hands the writer back. Readers keep reading the previous snapshot meanwhile.
pub(crate) struct IndexDriver {
    writer: Option<IndexWriter>,
    task: Option<Task<IndexTaskOutput>>,
    pub reader: IndexReader,
    ops: Vec<IndexOp>,
    /// Index updates folded in so far.
    pub updates: u64,
    /// What the index held after the last task.
    pub memory: IndexMemory,
}

impl IndexDriver {
    /// A driver without a writer yet: updates queue until [`IndexDriver::install`].
    fn new(reader: IndexReader) -> Self {
        Self { writer: None, task: None, reader, ops: Vec::new(), updates: 0, memory: IndexMemory::default() }
    }

    /// Hands in the writer the start-up task built (the one `reader` reads).
    pub fn install(&mut self, writer: IndexWriter) {
        self.memory = writer.memory();
        self.writer = Some(writer);
    }

    pub fn queue_loaded(&mut self, key: ChunkKey, chunk: Arc<Chunk>, origin: ChunkOrigin, history: ProcessHistory) {
        self.ops.push(IndexOp::Loaded(key, chunk, origin, history));
    }

    pub fn queue_change(&mut self, change: ChunkChange) {
        self.ops.push(IndexOp::Change(change));
    }

    pub fn queue_release(&mut self, keys: impl IntoIterator<Item = ChunkKey>) {
        self.ops.extend(keys.into_iter().map(IndexOp::Release));
    }

    /// Updates waiting for the next index task.
    pub fn queue_depth(&self) -> usize {
        self.ops.len()
    }

    /// Starts an index task if the writer is idle and there is work.
    pub fn dispatch(&mut self) {
        if self.task.is_some() || self.ops.is_empty() {
            return;
        }
        let Some(mut writer) = self.writer.take() else { return };
        let ops = std::mem::take(&mut self.ops);
        self.updates += ops.len() as u64;
        self.task = Some(AsyncComputeTaskPool::get().spawn(async move {
            let mut changed = Vec::new();
            for op in ops {
                match op {
                    IndexOp::Loaded(k, c, origin, history) => {
                        writer.insert_loaded_from(k, c, origin, history);
                    }
                    IndexOp::Change(c) => {
                        writer.apply_change(&c);
                        changed.push(c.key);
                    }
                    IndexOp::Release(k) => {
                        writer.release(k);
                    }
                }
            }
            writer.publish();
            let memory = writer.memory();
            (writer, changed, memory)
        }));
    }

    /// Collects a finished index task; returns the chunks whose edits it published.
    pub fn poll(&mut self) -> Option<Vec<ChunkKey>> {
        let task = self.task.as_mut()?;
        let (writer, changed, memory) = bevy::tasks::futures::check_ready(task)?;
        self.task = None;
        self.writer = Some(writer);
        self.memory = memory;
        Some(changed)
    }

    /// Waits for the running index task (used on exit only).
    pub fn finish(&mut self) {
        if let Some(task) = self.task.take() {
            let (writer, _, memory) = bevy::tasks::block_on(task);
            self.writer = Some(writer);
            self.memory = memory;
        }
    }
}
