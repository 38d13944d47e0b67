//! The plugin's world state: the hybrid world, its index and the material tables.

use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task};
use crossbeam_channel::Receiver;
use std::collections::HashSet;
use std::sync::Arc;
use strata_core::{
    Chunk, ChunkChange, ChunkKey, ChunkOrigin, ChunkStore, EditLoading, MaterialRegistry, ProcessHistory, StoreError,
    World,
};
use strata_index::{IndexMemory, IndexReader, IndexSnapshot, IndexWriter, NodeId, ROOT_LEVEL, StoreLoad};
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
    voxel_budget_bytes: usize,
    wanted: Receiver<ChunkKey>,
    wanted_tx: crossbeam_channel::Sender<ChunkKey>,
}

impl StrataWorld {
    /// The state over `world` and its (empty) index; stored chunks reach the index as loads
    /// and root scans (`IndexDriver::ensure_scanned`) from the world's store.
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
            index: IndexDriver::new(writer, store),
            registry: Arc::new(registry),
            table,
            voxel_budget_bytes,
            wanted,
            wanted_tx,
        }
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
        self.index.memory
    }

    /// Voxel bytes resident in the world cache and the index together: the cache's chunks
    /// plus what only the index holds (LOD grids, released chunks' contributions). The index's
    /// known chunks are the cache's own (`Arc`s shared), released when the cache evicts them.
    pub fn resident_voxel_bytes(&self) -> usize {
        self.world.cache_used_bytes() + self.index.memory.own_voxel_bytes()
    }

    /// Hands evicted chunks to the index for release and fits the cache to what the budget
    /// leaves beside the index's own voxel data (never below a quarter of the budget).
    pub(crate) fn sync_residency(&mut self) {
        let evicted = self.world.take_evicted();
        self.index.queue_release(evicted);
        let cache = self
            .voxel_budget_bytes
            .saturating_sub(self.index.memory.own_voxel_bytes())
            .max(self.voxel_budget_bytes / 4);
        if cache != self.world.cache_budget_bytes() {
            self.world.set_cache_budget_bytes(cache);
            let evicted = self.world.take_evicted();
            self.index.queue_release(evicted);
        }
    }

    /// Range scans of the store done so far: one per coarse node whose grid was needed before
    /// anything above it was read, so its stored chunks reached the index first (levels 1 to
    /// [`ROOT_LEVEL`]: their summaries; above: their chunk cells).
    pub fn stored_scans(&self) -> u64 {
        self.index.scans()
    }

    /// Stored records that scans skipped because they do not decode (each is logged with
    /// its key; `strata verify --save <path>` lists them).
    pub fn skipped_records(&self) -> usize {
        self.index.skipped_records()
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
    /// Read the stored chunks under a node into the index (as released chunks).
    Scan(NodeId),
    /// Read the chunk cells of the stored chunks under a node (above [`ROOT_LEVEL`]).
    ScanCells(NodeId),
}

/// What an index task hands back.
struct IndexTaskOutput {
    writer: IndexWriter,
    changed: Vec<ChunkKey>,
    cells_changed: Vec<ChunkKey>,
    memory: IndexMemory,
    /// Each scanned node with what it read, or why the store failed.
    scans: Vec<(NodeId, Result<StoreLoad, StoreError>)>,
}

/// What a finished index task published.
pub(crate) struct IndexPublished {
    /// Chunks whose edits it published.
    pub changed: Vec<ChunkKey>,
    /// Chunks whose chunk cell (what grids above the roots show of them) changed.
    pub cells_changed: Vec<ChunkKey>,
    /// Nodes whose scan finished (successfully or not: a failed one is retried on request).
    pub scanned: Vec<NodeId>,
}

/// Drives the index writer on the async compute pool: one task at a time takes the writer and
/// the pending updates, folds them in (in the order queued: loads, changes and releases of one
/// chunk never overtake each other), publishes a snapshot, measures what the index holds and
/// hands the writer back. Readers keep reading the previous snapshot meanwhile.
pub(crate) struct IndexDriver {
    writer: Option<IndexWriter>,
    task: Option<Task<Result<IndexTaskOutput, String>>>,
    pub reader: IndexReader,
    ops: Vec<IndexOp>,
    /// Index updates folded in so far.
    pub updates: u64,
    /// What the index held after the last task.
    pub memory: IndexMemory,
    /// The world's store, for root scans.
    store: Arc<dyn ChunkStore>,
    /// Nodes (levels 1 to [`ROOT_LEVEL`]) whose stored chunks the published index knows.
    scanned: ScannedNodes,
    /// Nodes (above [`ROOT_LEVEL`]) whose stored chunks' chunk cells the published index knows.
    cells_scanned: ScannedNodes,
    /// Nodes queued for a scan or being scanned.
    scanning: HashSet<NodeId>,
    /// Range scans done.
    scans: u64,
    /// Stored records scans skipped because they do not decode (each logged once).
    skipped: HashSet<ChunkKey>,
}

impl IndexDriver {
    fn new(writer: IndexWriter, store: Arc<dyn ChunkStore>) -> Self {
        let reader = writer.reader();
        let memory = writer.memory();
        Self {
            writer: Some(writer),
            task: None,
            reader,
            ops: Vec::new(),
            updates: 0,
            memory,
            store,
            scanned: ScannedNodes::up_to(ROOT_LEVEL),
            cells_scanned: ScannedNodes::up_to(crate::MAX_LOD_LEVEL),
            scanning: HashSet::new(),
            scans: 0,
            skipped: HashSet::new(),
        }
    }

    /// Whether every stored chunk under `node` is known to the published index as far as its
    /// grid needs (levels 1 to [`ROOT_LEVEL`]: summaries; above: chunk cells): `node` or one of
    /// its ancestors was scanned. If not, queues a scan of `node`'s key range (once; again after
    /// a failed scan) and returns `false`: ask again after the next [`IndexDriver::poll`].
    pub fn ensure_scanned(&mut self, node: NodeId) -> bool {
        let above = node.level > ROOT_LEVEL;
        if if above { self.cells_scanned.covers(node) } else { self.scanned.covers(node) } {
            return true;
        }
        if self.scanning.insert(node) {
            self.ops.push(if above { IndexOp::ScanCells(node) } else { IndexOp::Scan(node) });
        }
        false
    }

    /// Range scans done so far.
    pub fn scans(&self) -> u64 {
        self.scans
    }

    /// Distinct stored records scans skipped because they do not decode.
    pub fn skipped_records(&self) -> usize {
        self.skipped.len()
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
        let store = self.store.clone();
        self.task = Some(AsyncComputeTaskPool::get().spawn(async move {
            crate::jobs::contained(move || {
                let mut changed = Vec::new();
                let mut scans = Vec::new();
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
                        IndexOp::Scan(node) => scans.push((node, writer.scan_stored(store.as_ref(), node))),
                        IndexOp::ScanCells(node) => scans.push((node, writer.scan_chunk_cells(store.as_ref(), node))),
                    }
                }
                writer.publish();
                let cells_changed = writer.take_changed_cells();
                let memory = writer.memory();
                IndexTaskOutput { writer, changed, cells_changed, memory, scans }
            })
        }));
    }

    /// Collects a finished index task: what it published.
    pub fn poll(&mut self) -> Option<IndexPublished> {
        let task = self.task.as_mut()?;
        let out = bevy::tasks::futures::check_ready(task)?;
        self.task = None;
        match out {
            Ok(out) => Some(self.take_output(out)),
            // A bug in the index: its writer is gone with the task, so the index stops
            // updating (what it published stays readable); the app goes on.
            Err(panic) => {
                error!("strata: the index update panicked, the index no longer updates: {panic}");
                None
            }
        }
    }

    fn take_output(&mut self, out: IndexTaskOutput) -> IndexPublished {
        self.writer = Some(out.writer);
        self.memory = out.memory;
        let mut scanned = Vec::with_capacity(out.scans.len());
        for (root, result) in out.scans {
            self.scanning.remove(&root);
            match result {
                Ok(load) => {
                    self.scans += 1;
                    if root.level > ROOT_LEVEL { &mut self.cells_scanned } else { &mut self.scanned }.insert(root);
                    for (key, why) in &load.skipped {
                        if self.skipped.insert(*key) {
                            warn!("strata: stored chunk {key:?} does not decode and was skipped: {why}");
                        }
                    }
                }
                Err(e) => warn!("strata: reading the stored chunks of {root:?} failed, retried when needed: {e}"),
            }
            scanned.push(root);
        }
        IndexPublished { changed: out.changed, cells_changed: out.cells_changed, scanned }
    }

    /// Waits for the running index task (used on exit only).
    pub fn finish(&mut self) {
        if let Some(task) = self.task.take() {
            match bevy::tasks::block_on(task) {
                Ok(out) => {
                    self.take_output(out);
                }
                Err(panic) => error!("strata: the index update panicked: {panic}"),
            }
        }
    }
}

/// The nodes whose stored chunks the index knows, kept small: when all eight children of a node
/// are in the set they are replaced by the node (up to level `top`).
struct ScannedNodes {
    nodes: HashSet<NodeId>,
    top: u32,
}

impl ScannedNodes {
    /// An empty set of nodes up to level `top`.
    fn up_to(top: u32) -> Self {
        Self { nodes: HashSet::new(), top }
    }

    /// Whether `node` or an ancestor (up to `top`) is in the set. O(`top` − level).
    fn covers(&self, node: NodeId) -> bool {
        let mut n = node;
        loop {
            if self.nodes.contains(&n) {
                return true;
            }
            if n.level >= self.top {
                return false;
            }
            n = n.parent();
        }
    }

    /// Adds `node`, merging complete sibling sets into their parent.
    fn insert(&mut self, node: NodeId) {
        let mut n = node;
        self.nodes.insert(n);
        while n.level < self.top {
            let parent = n.parent();
            if !(0..8).all(|i| self.nodes.contains(&parent.child(i))) {
                break;
            }
            for i in 0..8 {
                self.nodes.remove(&parent.child(i));
            }
            self.nodes.insert(parent);
            n = parent;
        }
    }

    /// Entries (after merging).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::ScannedNodes;
    use strata_core::ChunkKey;
    use strata_index::NodeId;

    #[test]
    fn scanned_nodes_cover_descendants_and_merge_complete_siblings() {
        let mut s = ScannedNodes::up_to(strata_index::ROOT_LEVEL);
        let parent = NodeId::new(2, ChunkKey::new(-1, 0, 3));
        for i in 0..7 {
            s.insert(parent.child(i));
            assert!(s.covers(parent.child(i)) && s.covers(parent.child(i).child(5)));
            assert!(!s.covers(parent), "not all children yet");
        }
        assert!(!s.covers(parent.child(7)));
        s.insert(parent.child(7));
        assert!(s.covers(parent) && s.covers(parent.child(7).child(0)));
        assert!(!s.covers(parent.parent()) && !s.covers(NodeId::new(2, ChunkKey::new(0, 0, 3))));
        assert_eq!(s.len(), 1, "eight children merged into their parent");
    }
}
