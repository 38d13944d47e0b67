//! The single writer of the index and the readers' handle.
//!
//! [`IndexWriter`] owns the mutable state: it folds chunk updates in (octree path copy + R-tree
//! insert/remove) and [`IndexWriter::publish`]es immutable [`IndexSnapshot`]s through an atomic
//! pointer swap. [`IndexReader`]s load the current snapshot without locks. The writer is a
//! plain struct with `&mut self` methods, so it can run on the [`RebuildManager`](crate::RebuildManager)'s
//! threads or in any executor's task (a Bevy task pool, say).

use crate::error::LoadError;
use crate::octree::{BuildEntry, CellBox, Node, NodeData, Octree, diff_box};
use crate::rtree::{ChunkEntry, ChunkTree, RTreeWriter};
use crate::snapshot::{IndexConfig, IndexSnapshot};
use crate::summary::Histogram;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use strata_core::store::full_range;
use strata_core::{
    CHUNK_VOLUME, Chunk, ChunkChange, ChunkKey, ChunkStore, MortonKey, ProcessHistory, WorldGenerator, codec,
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
    pub(crate) hist: Option<Histogram>,
}

impl PreparedChunk {
    /// An update whose histogram the writer computes.
    pub fn new(key: ChunkKey, chunk: Arc<Chunk>, version: u64) -> Self {
        Self { key, chunk, version, history: ProcessHistory::EMPTY, hist: None }
    }

    /// The same update, recording `history` as the chunk's process history.
    pub fn with_process_history(mut self, history: ProcessHistory) -> Self {
        self.history = history;
        self
    }

    /// An update with its histogram computed now.
    pub fn with_histogram(key: ChunkKey, chunk: Arc<Chunk>, version: u64) -> Self {
        let hist = Some(Histogram::of_chunk(&chunk, 1));
        Self { key, chunk, version, history: ProcessHistory::EMPTY, hist }
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
            .map(|(key, chunk, version)| BuildEntry { key, chunk, version, history: ProcessHistory::EMPTY })
            .collect();
        self.bulk_load_entries(entries, workers);
    }

    fn bulk_load_entries(&mut self, entries: Vec<BuildEntry>, workers: usize) {
        self.world_version = self.world_version.max(entries.iter().map(|e| e.version).max().unwrap_or(0));
        let bulk_load = |entries: Vec<ChunkEntry>| ChunkTree::bulk_load_with_params(entries);
        let (octree, rtree) = Octree::build(entries, self.generator.as_ref(), workers, entry_of, bulk_load);
        self.octree = octree;
        self.rtree.reset(rtree);
        self.dirty = true;
    }

    /// Reads every stored (edited) chunk of `store` (`scan` + `codec::decode_with_history`, so
    /// process histories are indexed) and, with `extra` (chunks already loaded, whose stored
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
        store.scan(full_range(), &mut |key: MortonKey, record: &[u8]| match codec::decode_with_history(record) {
            Ok((c, history)) => {
                chunks.insert(key.to_chunk(), (Arc::new(c), 0, history));
                ControlFlow::Continue(())
            }
            Err(source) => {
                failure = Some(LoadError::Corrupt { key: key.to_chunk(), source });
                ControlFlow::Break(())
            }
        })?;
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
            .map(|(key, (chunk, version, history))| BuildEntry { key, chunk, version, history })
            .collect();
        self.bulk_load_entries(entries, workers);
        Ok(n)
    }

    /// Hands in a chunk the world loaded. Ignored if the index already knows `key` (its copy
    /// is at least as new). Returns whether it was inserted.
    pub fn insert_loaded(&mut self, key: ChunkKey, chunk: Arc<Chunk>) -> bool {
        if self.octree.leaf(key).is_some() {
            return false;
        }
        self.apply(PreparedChunk::new(key, chunk, 0));
        true
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
            && (o.summary.version > p.version || Arc::ptr_eq(cells_of(o), &p.chunk))
        {
            return false;
        }
        let level0 = self.octree.level0(p.key).cloned();
        let dirty = match &level0 {
            Some(o) => diff_box(cells_of(o), &p.chunk),
            None => Some(CellBox::FULL),
        };
        let hist = match (p.hist, &level0, dirty) {
            (Some(h), _, _) => h,
            (None, Some(o), None) => o.hist.clone(),
            (None, Some(o), Some(b)) if b.volume() <= CHUNK_VOLUME / 8 => {
                let mut h = o.hist.clone();
                let old = cells_of(o);
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
        let leaf = Arc::new(Node::leaf(p.chunk, hist, p.version, p.history));
        let old_entry = known.as_ref().and_then(|o| entry_of(p.key, o));
        let new_entry = entry_of(p.key, &leaf);
        self.octree.set_leaf(p.key, leaf, dirty, self.generator.as_ref());
        if old_entry != new_entry {
            self.rtree.update(old_entry, new_entry);
        }
        self.world_version = self.world_version.max(p.version);
        self.dirty = true;
        true
    }

    /// Publishes the current state as a new snapshot (an atomic pointer swap) and returns it.
    /// Does nothing but return the current snapshot if nothing changed.
    pub fn publish(&mut self) -> Arc<IndexSnapshot> {
        if !self.dirty {
            return self.shared.load_full();
        }
        self.version += 1;
        let snap = Arc::new(IndexSnapshot {
            version: self.version,
            world_version: self.world_version,
            octree: self.octree.clone(),
            rtree: self.rtree.publish(),
            generator: self.generator.clone(),
            config: self.config,
        });
        self.shared.store(snap.clone());
        self.dirty = false;
        snap
    }
}

fn cells_of(n: &Node) -> &Arc<Chunk> {
    match &n.data {
        NodeData::Cells(c) => c,
        // Invariant: leaves (level 0) always hold cells.
        NodeData::Inner { .. } => unreachable!("a leaf holds cells"),
    }
}

fn entry_of(key: ChunkKey, leaf: &Node) -> Option<ChunkEntry> {
    (leaf.summary.non_air_count > 0).then(|| ChunkEntry {
        key,
        summary: leaf.summary.to_chunk_summary(),
        chunk: cells_of(leaf).clone(),
    })
}
