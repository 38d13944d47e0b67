//! The single writer of the index and the readers' handle.
//!
//! [`IndexWriter`] owns the mutable state: it folds chunk updates in (octree path copy + R-tree
//! insert/remove) and [`IndexWriter::publish`]es immutable [`IndexSnapshot`]s through an atomic
//! pointer swap. [`IndexReader`]s load the current snapshot without locks. The writer is a
//! plain struct with `&mut self` methods, so it can run on any thread or in any executor's task
//! (`strata_stream`'s index driver hands it to a Bevy task pool, a batch at a time).

use crate::above_roots::ChunkCells;
use crate::error::LoadError;
use crate::octree::{BuildEntry, CellBox, Known, Node, NodeData, NodeId, Octree, ROOT_LEVEL, diff_box};
use crate::rtree::{ChunkEntry, ChunkTree, RTreeWriter};
use crate::snapshot::{IndexConfig, IndexSnapshot};
use crate::summary::Histogram;
use arc_swap::ArcSwap;
use rustc_hash::FxHashSet;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use strata_core::downsample::chunk_cell_of;
use strata_core::store::full_range;
use strata_core::{
    CHUNK_VOLUME, Chunk, ChunkChange, ChunkKey, ChunkOrigin, ChunkStore, ChunkSummary, DecodeError, MaterialId,
    MortonKey, ProcessHistory, StoreError, StoredSummary, Up, WorldGenerator, codec,
};

/// A chunk update ready to fold in. [`PreparedChunk::new`] leaves the histogram to the
/// writer, which updates it incrementally from the changed voxels when it knows the old
/// content; [`PreparedChunk::with_histogram`] computes it in full (O(32³)) on the calling
/// thread, for chunks the writer has not seen.
#[derive(Clone, Debug)]
pub struct PreparedChunk {
    /// The chunk.
    pub key: ChunkKey,
    /// Its new content.
    pub chunk: Arc<Chunk>,
    /// World version of the content (0 for generated or freshly loaded data).
    pub version: u64,
    /// The processes that changed it.
    pub history: ProcessHistory,
    /// It may differ from the generator's chunk (edited, or read from a store). Only chunks
    /// known to be the generator's (`false`) are forgotten when released; the others keep
    /// their summaries. [`PreparedChunk::new`] says `true`.
    pub edited: bool,
    pub(crate) hist: Option<Histogram>,
    /// The chunk is the generator's own (`WorldGenerator::generate`), so a generated stub at
    /// its place holds the same cells: nothing to diff (see [`IndexWriter::insert_loaded_from`]).
    pub(crate) generator_made: bool,
}

impl PreparedChunk {
    /// An update whose histogram the writer computes.
    pub fn new(key: ChunkKey, chunk: Arc<Chunk>, version: u64) -> Self {
        Self { key, chunk, version, history: ProcessHistory::EMPTY, edited: true, hist: None, generator_made: false }
    }

    /// The same update, recording `history` as the chunk's process history.
    pub fn with_process_history(mut self, history: ProcessHistory) -> Self {
        self.history = history;
        self
    }

    /// An update with its histogram computed now.
    pub fn with_histogram(key: ChunkKey, chunk: Arc<Chunk>, version: u64) -> Self {
        let hist = Some(Histogram::of_chunk(&chunk, 1));
        Self { key, chunk, version, history: ProcessHistory::EMPTY, edited: true, hist, generator_made: false }
    }
}

/// Reads the latest published snapshot. Cheap to clone; never blocks.
#[derive(Clone)]
pub struct IndexReader {
    shared: Arc<ArcSwap<IndexSnapshot>>,
}

impl IndexReader {
    /// The current snapshot. Holding it keeps that version alive; load again for newer data.
    pub fn snapshot(&self) -> Arc<IndexSnapshot> {
        self.shared.load_full()
    }
}

impl std::fmt::Debug for IndexReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexReader").field("snapshot", &self.shared.load().version).finish()
    }
}

/// The one writer of an index. See the module docs.
pub struct IndexWriter {
    generator: Arc<dyn WorldGenerator>,
    config: IndexConfig,
    octree: Octree,
    rtree: RTreeWriter,
    version: u64,
    world_version: u64,
    dirty: bool,
    /// Released chunks whose subtrees may now collapse (done at [`IndexWriter::publish`]).
    collapse: Vec<ChunkKey>,
    /// Chunk cells of edited chunks and of chunks known from cell scans (grids above the
    /// roots, see [`crate::above_roots`]); shared with snapshots until changed.
    chunk_cells: Arc<ChunkCells>,
    /// Edited leaves whose chunk cell is computed at the next publish.
    cells_due: FxHashSet<ChunkKey>,
    /// Chunks whose chunk cell changed since [`IndexWriter::take_changed_cells`].
    cells_changed: Vec<ChunkKey>,
    shared: Arc<ArcSwap<IndexSnapshot>>,
}

impl IndexWriter {
    /// An empty index over a world made by `generator`.
    pub fn new(generator: Arc<dyn WorldGenerator>, config: IndexConfig) -> Self {
        let octree = Octree::default();
        let rtree = RTreeWriter::default();
        let snap = IndexSnapshot {
            version: 0,
            world_version: 0,
            octree: octree.clone(),
            rtree: Arc::default(),
            chunk_cells: Arc::default(),
            generator: generator.clone(),
            config,
        };
        Self {
            generator,
            config,
            octree,
            rtree,
            version: 0,
            world_version: 0,
            dirty: false,
            collapse: Vec::new(),
            chunk_cells: Arc::default(),
            cells_due: FxHashSet::default(),
            cells_changed: Vec::new(),
            shared: Arc::new(ArcSwap::from_pointee(snap)),
        }
    }

    /// A handle for readers.
    pub fn reader(&self) -> IndexReader {
        IndexReader { shared: self.shared.clone() }
    }

    /// The generator.
    pub fn generator(&self) -> &Arc<dyn WorldGenerator> {
        &self.generator
    }

    /// Whether something changed since the last publish.
    pub fn has_unpublished(&self) -> bool {
        self.dirty
    }

    /// Times a publish copied the whole R-tree because a reader held an old snapshot.
    pub fn rtree_copies(&self) -> u64 {
        self.rtree.copies
    }

    /// Full rebuild from `chunks` (replacing everything) with up to `workers` threads (the
    /// calling thread is one): a first pass makes the leaves (histograms) and their R-tree
    /// entries, a second bulk-loads the R-tree while the other threads build the inner nodes.
    /// Duplicate keys keep the first occurrence. Equal uniform chunks (same material and
    /// version) share one leaf, so the index may keep one of their `Arc`s for all of them.
    /// Publish to make it visible. LOD grids are left to the readers, which compute each on
    /// first use ([`IndexSnapshot::lod_chunk`](crate::IndexSnapshot::lod_chunk)).
    ///
    /// # Runtime
    /// O(dense chunks × 32³ + nodes) / workers for the octree, plus O(n) to sort the chunks and
    /// O(n log n) for the R-tree.
    pub fn bulk_load(&mut self, chunks: Vec<(ChunkKey, Arc<Chunk>, u64)>, workers: usize) {
        let entries = chunks
            .into_iter()
            .map(|(key, chunk, version)| BuildEntry {
                key,
                chunk,
                version,
                history: ProcessHistory::EMPTY,
                edited: true,
            })
            .collect();
        self.bulk_load_entries(entries, workers);
    }

    fn bulk_load_entries(&mut self, entries: Vec<BuildEntry>, workers: usize) {
        self.world_version = self.world_version.max(entries.iter().map(|e| e.version).max().unwrap_or(0));
        // The R-tree's shape depends only on the keys of the chunks that are not all air, known
        // before their leaves: bulk-loaded from stand-ins beside the leaves (first pass), whose
        // entries (summary, shared chunk) `finish` fills in (second pass). Per leaf: its R-tree
        // entry and, if edited, its chunk cell (made with its histogram).
        let beside = |known: &[Known]| {
            let stand_ins = known.iter().enumerate().filter(|(_, (_, m))| *m != Some(MaterialId::AIR));
            ChunkTree::bulk_load_with_params(stand_ins.map(|(i, (key, _))| stand_in(*key, i)).collect())
        };
        let visit = |key: ChunkKey, leaf: &Node, cell: Option<MaterialId>| {
            (entry_of(key, leaf), cell.map(|c| (key.morton(), c)))
        };
        let finish = |mut tree: ChunkTree, mut outs: Vec<LeafOutput>| {
            let mut all_air = Vec::new();
            for e in tree.iter_mut() {
                match outs[stand_in_index(e)].0.take() {
                    Some(entry) => {
                        debug_assert_eq!(entry.key, e.key, "an entry keeps its stand-in's place");
                        *e = entry;
                    }
                    // A dense chunk of air only (not normalized): no entry.
                    None => all_air.push(e.clone()),
                }
            }
            for stand_in in all_air {
                tree.remove(&stand_in);
            }
            let mut cells: Vec<_> = outs.into_iter().filter_map(|(_, c)| c).collect();
            cells.sort_unstable_by_key(|(k, _)| *k);
            (tree, ChunkCells::from_sorted(cells))
        };
        let (octree, (rtree, cells)) = Octree::build(entries, self.generator.as_ref(), workers, beside, visit, finish);
        self.chunk_cells = Arc::new(cells);
        self.cells_due.clear();
        self.octree = octree;
        self.rtree.reset(rtree);
        self.dirty = true;
    }

    /// Reads every stored (edited) chunk of `store` (`scan` + `codec::decode_at`, so process
    /// histories are indexed and a record stored under the wrong key is refused) and, with `extra` (chunks already loaded, whose stored
    /// copy and history they replace), performs a full rebuild. A corrupt record is
    /// [`LoadError::Corrupt`] naming the key; nothing is changed then.
    pub fn bulk_load_store(
        &mut self,
        store: &dyn ChunkStore,
        extra: Vec<(ChunkKey, Arc<Chunk>, u64)>,
        workers: usize,
    ) -> Result<usize, LoadError> {
        let mut chunks: HashMap<ChunkKey, (Arc<Chunk>, u64, ProcessHistory)> = HashMap::new();
        let mut failure = None;
        store.scan(
            full_range(),
            &mut |key: MortonKey, record: &[u8]| match codec::decode_at(record, store.home(key)) {
                Ok((c, history)) => {
                    chunks.insert(key.to_chunk(), (Arc::new(c), 0, history));
                    ControlFlow::Continue(())
                }
                Err(source) => {
                    failure = Some(LoadError::Corrupt { key: key.to_chunk(), source });
                    ControlFlow::Break(())
                }
            },
        )?;
        if let Some(e) = failure {
            return Err(e);
        }
        for (k, c, v) in extra {
            let history = chunks.get(&k).map(|e| e.2).unwrap_or_default();
            chunks.insert(k, (c, v, history));
        }
        let n = chunks.len();
        let entries = chunks
            .into_iter()
            .map(|(key, (chunk, version, history))| BuildEntry { key, chunk, version, history, edited: true })
            .collect();
        self.bulk_load_entries(entries, workers);
        Ok(n)
    }

    /// Reads the **summaries** of the stored chunks under `node` (one Morton range scan of
    /// [`ChunkStore::scan_summaries`], `node` is aligned so its chunks are one key range) into
    /// the index as **released edited chunks**: each keeps its summary, histogram and process
    /// history and its contribution to every coarser grid, no voxels — the same state as a
    /// chunk the world loaded and evicted, made without decoding a chunk (the store keeps each
    /// chunk's summary beside its record). A chunk the index already knows (with or without
    /// voxels) is left alone: its copy came from the world and is at least as new as the
    /// store's (the world evicts only committed chunks). A chunk that cannot be summarised (its
    /// summary and its record are both damaged) is skipped and reported. Only a failing store
    /// is an error; what was inserted before it stays.
    ///
    /// This is how a reader that starts without a full [`IndexWriter::bulk_load_store`] makes
    /// the coarse grids of a region exact before showing them: once every root-level node
    /// around a viewer is scanned, [`IndexSnapshot::lod_chunk`] there equals that of a full
    /// load.
    ///
    /// # Runtime
    /// One range scan of summaries; per stored chunk under `node`: one summary decoded (an
    /// lz4 block of 8 KiB at most) and inserted (its contribution, O(16³) copies, and
    /// O(`ROOT_LEVEL`) node copies). No chunk's voxels are decoded or held.
    pub fn scan_stored(&mut self, store: &dyn ChunkStore, node: NodeId) -> Result<StoreLoad, StoreError> {
        let (lo, _) = node.chunk_range();
        let min = ChunkKey::new(lo[0] as i32, lo[1] as i32, lo[2] as i32);
        let mut load = StoreLoad::default();
        let world_up = self.generator.world_up();
        let mut other_up = Vec::new();
        store.scan_summaries(MortonKey::region_range(min, node.level), &mut |key, summary| {
            let key = key.to_chunk();
            match summary {
                Ok(s) if s.up() != world_up.of_chunk(key) => other_up.push(key),
                Ok(s) => load.chunks += usize::from(self.insert_stored(key, &s)),
                Err(_) if self.knows(key) => {}
                Err(source) => load.skipped.push((key, source)),
            }
            ControlFlow::Continue(())
        })?;
        // Summaries made with another up than this world's: summarise the chunks here.
        for key in other_up {
            if self.knows(key) {
                continue;
            }
            match store.get_stored(key) {
                Ok(Some(c)) => {
                    let s = StoredSummary::of(&c.chunk, c.history, world_up.of_chunk(key));
                    load.chunks += usize::from(self.insert_stored(key, &s));
                }
                Ok(None) => {}
                Err(StoreError::Corrupt { source, .. }) => load.skipped.push((key, source)),
                Err(e) => return Err(e),
            }
        }
        Ok(load)
    }

    /// Hands in a stored chunk known by its summary alone (see
    /// [`ChunkStore::scan_summaries`]): a released edited chunk, exactly as if its voxels had
    /// been loaded from the store and released. Ignored if the index knows `key` already (its
    /// copy is at least as new), or if the summary was made with another up than this world's
    /// at `key` ([`StoredSummary::up`]: its cells would follow another rule; summarise the
    /// chunk with [`WorldUp::of_chunk`](strata_core::WorldUp::of_chunk) instead, as
    /// [`IndexWriter::scan_stored`] does). Returns whether it was inserted.
    ///
    /// # Runtime
    /// O(16³) for the contribution, plus O(`ROOT_LEVEL`) node copies (grids computed above
    /// are patched from the contribution).
    pub fn insert_stored(&mut self, key: ChunkKey, summary: &StoredSummary) -> bool {
        if self.knows(key) || summary.up() != self.generator.world_up().of_chunk(key) {
            return false;
        }
        self.put_leaf(key, None, Arc::new(Node::stored(summary)), Some(CellBox::FULL));
        // The summary carries the chunk cell: nothing to compute at publish.
        self.cells_due.remove(&key);
        let cell = summary.chunk_cell();
        if self.chunk_cells.get(key) != Some(cell) {
            Arc::make_mut(&mut self.chunk_cells).set(key, cell);
            self.cells_changed.push(key);
        }
        true
    }

    /// Reads the [chunk cells](strata_core::ChunkStore::scan_chunk_cells) of the stored chunks
    /// under `node` (one Morton range scan; `node` at any level, typically above
    /// [`ROOT_LEVEL`]) for the grids above the roots ([`crate::above_roots`]): each chunk the
    /// index does not know gets the cell the store gives (chunks it knows keep the cell of
    /// their own, at least as new, content). Nothing else is read or kept: no leaf, no summary.
    /// A chunk whose summary and record are both damaged is skipped and reported.
    ///
    /// # Runtime
    /// One range scan; per stored chunk one summary checksum (no decompression) and
    /// O(log roots + chunks of its root) to keep the cell.
    pub fn scan_chunk_cells(&mut self, store: &dyn ChunkStore, node: NodeId) -> Result<StoreLoad, StoreError> {
        let (lo, _) = node.chunk_range();
        let min = ChunkKey::new(lo[0] as i32, lo[1] as i32, lo[2] as i32);
        let mut load = StoreLoad::default();
        let mut found = Vec::new();
        let world_up = self.generator.world_up();
        let mut other_up = Vec::new();
        store.scan_chunk_cells(MortonKey::region_range(min, node.level), &mut |key, cell| {
            let key = key.to_chunk();
            match cell {
                Ok(_) if self.octree.leaf(key).is_some_and(|n| n.edited) => {}
                Ok(c) if c.up != world_up.of_chunk(key) => other_up.push(key),
                Ok(c) => found.push((key, c.cell)),
                Err(_) if self.knows(key) => {}
                Err(source) => load.skipped.push((key, source)),
            }
            ControlFlow::Continue(())
        })?;
        // Cells made with another up than this world's: downsample the chunks here.
        for key in other_up {
            match store.get(key) {
                Ok(Some(chunk)) => found.push((key, chunk_cell_of(&chunk, world_up.of_chunk(key)))),
                Ok(None) => {}
                Err(StoreError::Corrupt { source, .. }) => load.skipped.push((key, source)),
                Err(e) => return Err(e),
            }
        }
        if !found.is_empty() {
            let cells = Arc::make_mut(&mut self.chunk_cells);
            for (key, c) in found {
                if cells.get(key) != Some(c) {
                    cells.set(key, c);
                    load.chunks += 1;
                    self.cells_changed.push(key);
                    self.dirty = true;
                }
            }
        }
        Ok(load)
    }

    /// The chunk cell the index holds for `key` (see [`crate::above_roots`]); edited leaves
    /// changed since the last publish are not computed yet.
    pub fn chunk_cell(&self, key: ChunkKey) -> Option<MaterialId> {
        self.chunk_cells.get(key)
    }

    /// Hands in a chunk the world loaded, not saying where from: it counts as edited (kept as
    /// a summary when released). Ignored if the index already holds `key`'s voxels (its copy
    /// is at least as new). Returns whether it was inserted.
    pub fn insert_loaded(&mut self, key: ChunkKey, chunk: Arc<Chunk>) -> bool {
        self.insert_loaded_from(key, chunk, ChunkOrigin::Store, ProcessHistory::EMPTY)
    }

    /// Hands in a chunk the world loaded from `origin` with its process `history`. A chunk
    /// from the generator is forgotten when released; one from the store keeps its summary.
    /// Ignored if the index already holds `key`'s voxels. A released chunk gets its voxels
    /// back (its summary, version and history stay: the world releases only committed
    /// chunks, so what it loads again is what was released). Returns whether it was inserted.
    ///
    /// A chunk from [`ChunkOrigin::Generator`] with an empty `history` must be
    /// `WorldGenerator::generate(key)` of the index's generator (what [`ChunkOrigin`] promises):
    /// where the tree holds a generated stub for it, its cells are taken as the stub's, with no
    /// diff and no grid above touched.
    ///
    /// # Runtime
    /// As [`IndexWriter::apply`]; O(1) plus O(`ROOT_LEVEL`) node copies for a generator chunk
    /// replacing its stub.
    pub fn insert_loaded_from(
        &mut self,
        key: ChunkKey,
        chunk: Arc<Chunk>,
        origin: ChunkOrigin,
        history: ProcessHistory,
    ) -> bool {
        match self.octree.leaf(key).cloned() {
            Some(known) if known.is_released() => {
                let leaf =
                    Node::leaf(chunk, known.hist.clone(), known.summary.version, known.summary.history, known.edited);
                self.put_leaf(key, Some(&known), Arc::new(leaf), None);
                true
            }
            Some(_) => false,
            None => {
                let mut p = PreparedChunk::new(key, chunk, 0).with_process_history(history);
                p.edited = origin == ChunkOrigin::Store || !history.is_empty();
                p.generator_made = !p.edited;
                self.apply(p)
            }
        }
    }

    /// Releases the voxels of the known chunk at `key` (the world evicted it): the leaf keeps
    /// its summary and histogram (an edited chunk) or is forgotten once nothing around it is
    /// held (a generator chunk, see below). The leaf keeps its contribution to the level-1
    /// grid above (its 16³ downsampled cells, ≤ 8 KiB, 0 when uniform), so every coarser grid
    /// can still be computed without the voxels. Returns whether anything was released.
    ///
    /// **Collapse** (at [`IndexWriter::publish`]): the highest node above a released chunk
    /// whose subtree holds no voxels and no edited chunk becomes a generated stub again (as if
    /// never loaded), and a root that becomes such is dropped, so flying over unedited land
    /// leaves nothing behind. A released edited chunk costs its leaf (summary, histogram,
    /// contribution), its R-tree entry and the nodes on its path (generated stubs beside it
    /// keep no samples); rays that reach it answer [`RayError::NotResident`](crate::RayError::NotResident).
    ///
    /// # Runtime
    /// O(16³) for the contribution, plus O(`ROOT_LEVEL`) node copies; a collapse samples the
    /// generator once for the stub and visits the collapsed subtree.
    pub fn release(&mut self, key: ChunkKey) -> bool {
        let Some(known) = self.octree.leaf(key).cloned() else { return false };
        // `None`: released already.
        let Some(released) = known.released(self.generator.world_up().of_chunk(key)) else { return false };
        self.put_leaf(key, Some(&known), Arc::new(released), None);
        self.collapse.push(key);
        true
    }

    /// Replaces the leaf at `key` (was `old`) and its R-tree entry.
    fn put_leaf(&mut self, key: ChunkKey, old: Option<&Arc<Node>>, leaf: Arc<Node>, dirty: Option<CellBox>) {
        let old_entry = old.and_then(|o| entry_of(key, o));
        let new_entry = entry_of(key, &leaf);
        self.world_version = self.world_version.max(leaf.summary.version);
        // The chunk cell follows the content of edited chunks (computed at publish, once per
        // key however often it changes before).
        if leaf.edited && (dirty.is_some() || !old.is_some_and(|o| o.edited)) {
            self.cells_due.insert(key);
        }
        self.octree.set_leaf(key, leaf, dirty, self.generator.as_ref());
        if old_entry != new_entry {
            self.rtree.update(old_entry, new_entry);
        }
        self.dirty = true;
    }

    /// Collapses what the releases since the last call allow (see [`IndexWriter::release`]).
    fn collapse_released(&mut self) {
        let mut keys = std::mem::take(&mut self.collapse);
        keys.sort_unstable_by_key(|k| (k.x >> ROOT_LEVEL, k.y >> ROOT_LEVEL, k.z >> ROOT_LEVEL));
        for key in keys {
            // The highest node on the path that pins nothing (at level 0: a released unedited
            // chunk beside a pinned one; a stub costs its node, no voxels).
            let Some((id, node)) =
                self.octree.path(key).into_iter().find(|(_, n)| !n.pinned).map(|(id, n)| (id, n.clone()))
            else {
                continue;
            };
            // Collapsed already (by an earlier key of this batch): nothing to do.
            if node.is_generated() {
                continue;
            }
            let mut gone = Vec::new();
            released_leaves(id, &node, &mut gone);
            for (k, leaf) in gone {
                if let Some(e) = entry_of(k, &leaf) {
                    self.rtree.update(Some(e), None);
                }
            }
            if id.level == ROOT_LEVEL {
                self.octree.remove_root(key);
            } else {
                let stub = Arc::new(Node::generated(id, self.generator.as_ref()));
                self.octree.set_node(id, stub, Some(CellBox::FULL), self.generator.as_ref());
            }
            self.dirty = true;
        }
    }

    /// Computes the chunk cells of the edited leaves changed since the last publish.
    ///
    /// # Runtime
    /// Per changed leaf, [`Node::chunk_cell`]: O(32³) with voxels, O(16³) released, O(1)
    /// uniform.
    fn update_chunk_cells(&mut self) {
        if self.cells_due.is_empty() {
            return;
        }
        let cells = Arc::make_mut(&mut self.chunk_cells);
        for key in self.cells_due.drain() {
            // Invariant: only edited leaves are due, and edited leaves never collapse.
            if let Some(c) = chunk_cell_in(&self.octree, key, self.generator.world_up().of_chunk(key))
                && cells.get(key) != Some(c)
            {
                cells.set(key, c);
                self.cells_changed.push(key);
                self.dirty = true;
            }
        }
    }

    /// The chunks whose chunk cell changed (and so the grids above [`ROOT_LEVEL`] over them)
    /// since the last call, as of the last publish: most edits change voxels, not the cell.
    pub fn take_changed_cells(&mut self) -> Vec<ChunkKey> {
        std::mem::take(&mut self.cells_changed)
    }

    /// What the index holds, in bytes (see [`IndexMemory`]), counting changes not published
    /// yet; [`IndexSnapshot::memory`](crate::IndexSnapshot::memory) measures a snapshot.
    ///
    /// # Runtime
    /// O(nodes): a walk over the whole tree.
    pub fn memory(&self) -> IndexMemory {
        IndexMemory::of(&self.octree, self.rtree.len(), &self.chunk_cells)
    }

    /// Folds in one change from the world's change feed.
    pub fn apply_change(&mut self, change: &ChunkChange) {
        self.apply(
            PreparedChunk::new(change.key, change.chunk.clone(), change.version).with_process_history(change.history),
        );
    }

    /// Whether the index holds a known chunk at `key`.
    pub fn knows(&self, key: ChunkKey) -> bool {
        self.octree.leaf(key).is_some()
    }

    /// Folds in a prepared update: the chunk's histogram (incrementally over the changed
    /// voxels when possible), its octree path (summaries, and grids already computed,
    /// downsampling only what changed; grids not computed yet stay lazy) and its R-tree entry.
    /// Updates older than the known content are ignored.
    /// Returns whether anything changed.
    ///
    /// # Runtime
    /// One chunk diff (O(32³) compares, O(1) for uniform chunks) + O(changed voxels) +
    /// O(`ROOT_LEVEL`) node copies + O(log n) R-tree work at publish.
    pub fn apply(&mut self, p: PreparedChunk) -> bool {
        let known = self.octree.leaf(p.key).cloned();
        if let Some(o) = &known
            && (o.summary.version > p.version || cells_of(o).is_some_and(|c| Arc::ptr_eq(c, &p.chunk)))
        {
            return false;
        }
        // The level-0 node now and its voxels (none if released or a stub whose sample is not
        // kept: then everything counts as changed).
        let level0 = self.octree.level0(p.key).cloned();
        // The generator's chunk where the tree holds the generator's stub: the same cells.
        let stub = level0.as_ref().filter(|o| p.generator_made && o.is_stub());
        let old = level0.as_ref().and_then(|o| held_cells(o).map(|c| (o, c)));
        let dirty = match (&old, stub) {
            (_, Some(_)) => None,
            (Some((_, c)), None) => diff_box(c, &p.chunk),
            (None, None) => Some(CellBox::FULL),
        };
        let hist = match (p.hist, &old, dirty) {
            (Some(h), _, _) => h,
            (None, _, _) if let Some(s) = stub => s.hist.clone(),
            (None, Some((o, _)), None) => o.hist.clone(),
            (None, Some((o, old)), Some(b)) if b.volume() <= CHUNK_VOLUME / 8 => {
                let mut h = o.hist.clone();
                b.for_each(|l| {
                    let (a, n) = (old.get(l), p.chunk.get(l));
                    if a != n {
                        h.sub(a, 1);
                        h.add(n, 1);
                    }
                });
                h
            }
            (None, _, _) => Histogram::of_chunk(&p.chunk, 1),
        };
        // A chunk once edited stays edited (its stored copy differs from the generator's).
        let edited = p.edited || known.as_ref().is_some_and(|o| o.edited);
        let leaf = Arc::new(Node::leaf(p.chunk, hist, p.version, p.history, edited));
        self.put_leaf(p.key, known.as_ref(), leaf, dirty);
        true
    }

    /// Publishes the current state as a new snapshot (an atomic pointer swap) and returns it.
    /// Does nothing but return the current snapshot if nothing changed.
    pub fn publish(&mut self) -> Arc<IndexSnapshot> {
        self.collapse_released();
        self.update_chunk_cells();
        if !self.dirty {
            return self.shared.load_full();
        }
        self.version += 1;
        let snap = Arc::new(IndexSnapshot {
            version: self.version,
            world_version: self.world_version,
            octree: self.octree.clone(),
            rtree: self.rtree.publish(),
            chunk_cells: self.chunk_cells.clone(),
            generator: self.generator.clone(),
            config: self.config,
        });
        self.shared.store(snap.clone());
        self.dirty = false;
        snap
    }
}

/// What a full rebuild's first pass makes of a leaf: its R-tree entry and, for an edited chunk,
/// its chunk cell.
type LeafOutput = (Option<ChunkEntry>, Option<(MortonKey, MaterialId)>);

/// The chunk cell of the known chunk at `key`: from the highest LOD grid already computed on
/// its path (a computed grid is kept current with its chunks: at the root it *is* the chunk
/// cell; at level `l` the chunk is (32 >> `l`)³ of its cells), else from the leaf itself.
///
/// # Runtime
/// O(1) with the root's grid computed; O((32 >> `l`)³) with a level-`l` grid; else
/// [`Node::chunk_cell`]. `up` is the chunk's.
fn chunk_cell_in(octree: &Octree, key: ChunkKey, up: Up) -> Option<MaterialId> {
    let path = octree.path(key);
    let (leaf_id, leaf) = path.last()?;
    if leaf_id.level != 0 {
        return None;
    }
    for (id, node) in &path {
        let Some(mip) = node.computed_mip() else { continue };
        let n = 32usize >> id.level;
        let off = [key.x, key.y, key.z].map(|v| (v - (v >> id.level << id.level)) as usize * n);
        let cells = (0..n * n * n).map(|i| mip.get(off[0] + i % n, off[1] + i / n % n, off[2] + i / (n * n)).0);
        return Some(MaterialId(strata_core::downsample::reduce_cube(cells.collect(), n, up)));
    }
    leaf.chunk_cell(up)
}

/// The voxels of a known level-0 node (`None` once released, and for stubs).
fn cells_of(n: &Node) -> Option<&Arc<Chunk>> {
    match &n.data {
        NodeData::Cells(c) => Some(c),
        NodeData::Released(_) | NodeData::Generated(_) => None,
        // Invariant: level-0 nodes hold cells, are released or are stubs.
        NodeData::Inner { .. } => unreachable!("a leaf holds cells"),
    }
}

/// The voxels a level-0 node holds to diff against: a known chunk's, or a uniform stub's
/// sample. `None` for a released chunk and for a stub whose sample is not kept (sampling it
/// again would cost more than treating every voxel as changed).
fn held_cells(n: &Node) -> Option<Arc<Chunk>> {
    match &n.data {
        NodeData::Generated(Some(m)) => Some(Arc::new(Chunk::Uniform(*m))),
        _ => cells_of(n).cloned(),
    }
}

/// The R-tree entry standing in for the `index`-th chunk of a full rebuild until its leaf is
/// made: its key (all the tree's shape depends on) and the index, kept in the summary's
/// `dominant_count` (a rebuild holds fewer than 2³² chunks: it holds them all in memory).
fn stand_in(key: ChunkKey, index: usize) -> ChunkEntry {
    let summary =
        ChunkSummary { dominant: MaterialId::AIR, dominant_count: index as u32, distinct: 0, non_air_count: 0 };
    ChunkEntry { key, summary, chunk: None }
}

/// The index [`stand_in`] keeps.
fn stand_in_index(e: &ChunkEntry) -> usize {
    e.summary.dominant_count as usize
}

fn entry_of(key: ChunkKey, leaf: &Node) -> Option<ChunkEntry> {
    (leaf.summary.non_air_count > 0).then(|| ChunkEntry {
        key,
        summary: leaf.summary.to_chunk_summary(),
        chunk: cells_of(leaf).cloned(),
    })
}

/// Every released leaf below `node` (at `id`), with its key.
fn released_leaves(id: NodeId, node: &Arc<Node>, out: &mut Vec<(ChunkKey, Arc<Node>)>) {
    if node.is_released() {
        out.push((id.key, node.clone()));
    }
    if let Some(children) = node.children() {
        for (i, c) in children.iter().enumerate() {
            released_leaves(id.child(i), c, out);
        }
    }
}

/// Bytes an R-tree entry costs beyond its own size: its share of the inner nodes (a pointer
/// and an envelope per child at up to 6 children per node, amortised).
const RTREE_NODE_SHARE: usize = 16;

/// What an index holds, in bytes (from [`IndexWriter::memory`]). Heap estimates: each Rust
/// allocation's payload, without the allocator's own overhead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexMemory {
    /// Voxels of known chunks the index holds (shared with the world cache while it holds them
    /// too).
    pub chunk_bytes: usize,
    /// Computed LOD grids of inner nodes.
    pub grid_bytes: usize,
    /// What released chunks keep of their voxels: each one's 16³ share of its parent's grid.
    pub contribution_bytes: usize,
    /// Nodes themselves (summaries, histograms, child pointers).
    pub node_bytes: usize,
    /// Nodes in the tree.
    pub nodes: usize,
    /// Known chunks whose voxels were released (summary-only leaves).
    pub released_chunks: usize,
    /// Known chunks with voxels.
    pub resident_chunks: usize,
    /// R-tree entries.
    pub rtree_entries: usize,
    /// The R-tree (entries and an estimate of its inner nodes).
    pub rtree_bytes: usize,
    /// Chunk cells kept for the grids above the roots (4 bytes per edited or scanned chunk).
    pub chunk_cell_bytes: usize,
}

impl IndexMemory {
    /// Measures `octree` and an R-tree of `rtree_entries` entries.
    pub(crate) fn of(octree: &Octree, rtree_entries: usize, cells: &ChunkCells) -> Self {
        let mut m = IndexMemory::default();
        let mut nodes = std::collections::HashSet::new();
        let mut chunks = std::collections::HashSet::new();
        for (_, root) in octree.root_nodes() {
            measure(root, &mut nodes, &mut chunks, &mut m);
        }
        m.rtree_entries = rtree_entries;
        m.rtree_bytes = rtree_entries * (size_of::<ChunkEntry>() + RTREE_NODE_SHARE);
        m.chunk_cell_bytes = cells.heap_bytes();
        m
    }

    /// Everything.
    pub fn total(&self) -> usize {
        self.chunk_bytes
            + self.grid_bytes
            + self.contribution_bytes
            + self.node_bytes
            + self.rtree_bytes
            + self.chunk_cell_bytes
    }

    /// Voxel data the index holds that the world cache does not share: its grids and released
    /// chunks' contributions to them (generated stubs hold no voxels).
    pub fn own_voxel_bytes(&self) -> usize {
        self.grid_bytes + self.contribution_bytes
    }
}

fn measure(
    node: &Arc<Node>,
    nodes: &mut std::collections::HashSet<*const Node>,
    chunks: &mut std::collections::HashSet<*const Chunk>,
    m: &mut IndexMemory,
) {
    if !nodes.insert(Arc::as_ptr(node)) {
        return;
    }
    m.nodes += 1;
    // The node in its `Arc` (two counters) and its histogram's list.
    m.node_bytes += size_of::<Node>() + 2 * size_of::<usize>() + node.hist.heap_bytes();
    match &node.data {
        NodeData::Cells(c) => {
            if chunks.insert(Arc::as_ptr(c)) {
                m.chunk_bytes += size_of::<Chunk>() + 2 * size_of::<usize>() + c.heap_bytes();
                m.resident_chunks += 1;
            }
        }
        NodeData::Generated(_) => {}
        NodeData::Released(c) => {
            m.released_chunks += 1;
            m.contribution_bytes += c.heap_bytes();
        }
        NodeData::Inner { mip, children } => {
            if let Some(g) = mip.get() {
                m.grid_bytes += g.heap_bytes();
            }
            for c in children {
                measure(c, nodes, chunks, m);
            }
        }
    }
}

/// What [`IndexWriter::scan_stored`] read.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct StoreLoad {
    /// Chunks added to the index.
    pub chunks: usize,
    /// Records that did not decode, with why (skipped: the index knows nothing of them).
    pub skipped: Vec<(ChunkKey, DecodeError)>,
}
