//! [`IndexDriver`]: keeps a world's index up to date from what streaming hands it, one batch of
//! updates at a time, on whatever thread the engine runs the batch.
//!
//! Streaming queues updates as they happen ([`IndexDriver::queue_loaded`],
//! [`IndexDriver::queue_change`], [`IndexDriver::queue_release`]) and asks for the stored
//! chunks under a node before it shows the node ([`IndexDriver::ensure_scanned`]). When the
//! writer is idle, [`IndexDriver::take_batch`] hands out the writer with every queued update;
//! [`IndexBatch::run`] folds them in, in the order queued (a chunk's load, changes and release
//! never overtake each other), publishes one snapshot and measures what the index holds; the
//! engine runs it on a worker and gives the result back to [`IndexDriver::finish_batch`], which
//! returns the writer and says what was published. Readers ([`IndexDriver::reader`]) keep
//! reading the previous snapshot meanwhile and never wait.
//!
//! The Bevy plugin runs batches on the async compute pool; a test or a server may run them on a
//! thread of its own or inline.
//!
//! # Scans
//! The index knows stored chunks only once a scan read them. A node counts as scanned when it or
//! an ancestor was (up to [`ROOT_LEVEL`] for the stored chunks' summaries, up to the top level
//! for their chunk cells); eight scanned siblings merge into their parent, so the bookkeeping
//! stays small. A failed scan is forgotten, so the next [`IndexDriver::ensure_scanned`] of the
//! node queues it again.

use rustc_hash::FxHashSet;
use std::sync::Arc;
use strata_core::{Chunk, ChunkChange, ChunkKey, ChunkOrigin, ChunkStore, DecodeError, ProcessHistory, StoreError};
use strata_index::{IndexMemory, IndexReader, IndexWriter, NodeId, ROOT_LEVEL, StoreLoad};

/// One update for the index, in the order the world saw it.
#[derive(Debug)]
enum IndexOp {
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

/// Keeps an index up to date from streaming's updates (see the [module docs](self)).
pub struct IndexDriver {
    /// The writer, while no batch has it.
    writer: Option<IndexWriter>,
    /// Whether a batch is out (its writer comes back with [`IndexDriver::finish_batch`]).
    batch_out: bool,
    reader: IndexReader,
    ops: Vec<IndexOp>,
    updates: u64,
    memory: IndexMemory,
    store: Arc<dyn ChunkStore>,
    /// Nodes (levels 1 to [`ROOT_LEVEL`]) whose stored chunks the published index knows.
    scanned: ScannedNodes,
    /// Nodes (above [`ROOT_LEVEL`]) whose stored chunks' chunk cells the published index knows.
    cells_scanned: ScannedNodes,
    /// Nodes queued for a scan or being scanned.
    scanning: FxHashSet<NodeId>,
    scans: u64,
    /// Stored records scans skipped because they do not decode.
    skipped: FxHashSet<ChunkKey>,
}

impl std::fmt::Debug for IndexDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexDriver")
            .field("queued", &self.ops.len())
            .field("batch_out", &self.batch_out)
            .field("updates", &self.updates)
            .field("scans", &self.scans)
            .finish_non_exhaustive()
    }
}

impl IndexDriver {
    /// Drives `writer`, whose scans read `store`; chunk cells are scanned for nodes up to level
    /// `top_level` (the highest LOD level streaming shows).
    pub fn new(writer: IndexWriter, store: Arc<dyn ChunkStore>, top_level: u32) -> Self {
        let reader = writer.reader();
        let memory = writer.memory();
        Self {
            writer: Some(writer),
            batch_out: false,
            reader,
            ops: Vec::new(),
            updates: 0,
            memory,
            store,
            scanned: ScannedNodes::up_to(ROOT_LEVEL),
            cells_scanned: ScannedNodes::up_to(top_level),
            scanning: FxHashSet::default(),
            scans: 0,
            skipped: FxHashSet::default(),
        }
    }

    /// A reader of the published snapshots (never blocks).
    pub fn reader(&self) -> &IndexReader {
        &self.reader
    }

    /// Whether every stored chunk under `node` is known to the published index as far as its
    /// grid needs (levels 1 to [`ROOT_LEVEL`]: summaries; above: chunk cells): `node` or one of
    /// its ancestors was scanned. If not, queues a scan of `node`'s key range (once; again after
    /// a failed scan) and returns `false`: ask again after the next finished batch.
    ///
    /// O(levels above `node`) hash lookups.
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

    /// Queues a chunk the world loaded (or holds), with where it came from and its history.
    pub fn queue_loaded(&mut self, key: ChunkKey, chunk: Arc<Chunk>, origin: ChunkOrigin, history: ProcessHistory) {
        self.ops.push(IndexOp::Loaded(key, chunk, origin, history));
    }

    /// Queues a change from the world's change feed.
    pub fn queue_change(&mut self, change: ChunkChange) {
        self.ops.push(IndexOp::Change(change));
    }

    /// Queues the release of chunks the world evicted (the index drops their voxels, keeps
    /// their summaries).
    pub fn queue_release(&mut self, keys: impl IntoIterator<Item = ChunkKey>) {
        self.ops.extend(keys.into_iter().map(IndexOp::Release));
    }

    /// Updates waiting for the next batch.
    pub fn queue_depth(&self) -> usize {
        self.ops.len()
    }

    /// Updates handed to batches so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// What the index held after the last finished batch (bytes by kind).
    pub fn memory(&self) -> IndexMemory {
        self.memory
    }

    /// Range scans finished successfully so far.
    pub fn scans(&self) -> u64 {
        self.scans
    }

    /// Distinct stored records scans skipped because they do not decode.
    pub fn skipped_records(&self) -> usize {
        self.skipped.len()
    }

    /// Whether a batch is out (taken, not yet finished).
    pub fn is_busy(&self) -> bool {
        self.batch_out
    }

    /// The writer and every queued update, if the writer is idle and something is queued;
    /// `None` otherwise (and for good once a batch was lost: see [`IndexDriver::lose_batch`]).
    /// Run it ([`IndexBatch::run`]) anywhere, then hand the result to
    /// [`IndexDriver::finish_batch`].
    pub fn take_batch(&mut self) -> Option<IndexBatch> {
        if self.batch_out || self.ops.is_empty() {
            return None;
        }
        let writer = self.writer.take()?;
        let ops = std::mem::take(&mut self.ops);
        self.updates += ops.len() as u64;
        self.batch_out = true;
        Some(IndexBatch { writer, ops, store: self.store.clone() })
    }

    /// Takes back the writer of a finished batch: what it published. Scans that failed are
    /// forgotten (queued again when asked for); records they skipped are reported once each.
    pub fn finish_batch(&mut self, done: IndexBatchDone) -> IndexPublished {
        self.writer = Some(done.writer);
        self.batch_out = false;
        self.memory = done.memory;
        let mut published = IndexPublished {
            changed: done.changed,
            cells_changed: done.cells_changed,
            scanned: Vec::with_capacity(done.scans.len()),
            newly_skipped: Vec::new(),
            failed_scans: Vec::new(),
        };
        for (node, result) in done.scans {
            self.scanning.remove(&node);
            match result {
                Ok(load) => {
                    self.scans += 1;
                    if node.level > ROOT_LEVEL { &mut self.cells_scanned } else { &mut self.scanned }.insert(node);
                    for (key, why) in load.skipped {
                        if self.skipped.insert(key) {
                            published.newly_skipped.push((key, why));
                        }
                    }
                }
                Err(e) => published.failed_scans.push((node, e)),
            }
            published.scanned.push(node);
        }
        published
    }

    /// The batch out will never come back (it panicked: a bug in the index): the writer is
    /// gone, so the index stops updating; what it published stays readable and queued updates
    /// are dropped from now on.
    pub fn lose_batch(&mut self) {
        self.batch_out = false;
        self.writer = None;
        self.ops = Vec::new();
    }

    /// Whether the writer is gone ([`IndexDriver::lose_batch`]).
    pub fn is_lost(&self) -> bool {
        self.writer.is_none() && !self.batch_out
    }
}

/// The writer with a batch of updates, to run anywhere ([`IndexDriver::take_batch`]).
pub struct IndexBatch {
    writer: IndexWriter,
    ops: Vec<IndexOp>,
    store: Arc<dyn ChunkStore>,
}

impl std::fmt::Debug for IndexBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexBatch").field("updates", &self.ops.len()).finish_non_exhaustive()
    }
}

impl IndexBatch {
    /// Updates in the batch.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch holds no update (never, from [`IndexDriver::take_batch`]).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Folds the updates in, in order (scans read the store here), publishes one snapshot and
    /// measures the index. O(updates + chunks scanned) plus what publishing costs
    /// ([`IndexWriter::publish`]).
    pub fn run(self) -> IndexBatchDone {
        let Self { mut writer, ops, store } = self;
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
        IndexBatchDone { writer, changed, cells_changed, memory, scans }
    }
}

/// A batch that ran: the writer and what it did, for [`IndexDriver::finish_batch`].
pub struct IndexBatchDone {
    writer: IndexWriter,
    changed: Vec<ChunkKey>,
    cells_changed: Vec<ChunkKey>,
    memory: IndexMemory,
    scans: Vec<(NodeId, Result<StoreLoad, StoreError>)>,
}

impl std::fmt::Debug for IndexBatchDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexBatchDone")
            .field("changed", &self.changed.len())
            .field("scans", &self.scans.len())
            .finish_non_exhaustive()
    }
}

/// What a finished batch published ([`IndexDriver::finish_batch`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct IndexPublished {
    /// Chunks whose changes it published.
    pub changed: Vec<ChunkKey>,
    /// Chunks whose chunk cell (what grids above the roots show of them) changed.
    pub cells_changed: Vec<ChunkKey>,
    /// Nodes whose scan finished, successfully or not (a failed one is queued again when
    /// asked for).
    pub scanned: Vec<NodeId>,
    /// Stored records a scan skipped because they do not decode, each reported once.
    pub newly_skipped: Vec<(ChunkKey, DecodeError)>,
    /// Scans the store failed, with why.
    pub failed_scans: Vec<(NodeId, StoreError)>,
}

/// The nodes whose stored chunks the index knows, kept small: when all eight children of a node
/// are in the set they are replaced by the node (up to level `top`).
#[derive(Debug)]
struct ScannedNodes {
    nodes: FxHashSet<NodeId>,
    top: u32,
}

impl ScannedNodes {
    /// An empty set of nodes up to level `top`.
    fn up_to(top: u32) -> Self {
        Self { nodes: FxHashSet::default(), top }
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
mod tests;
